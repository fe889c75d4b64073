//! What an operator writes about authentication: the global `[auth]` section of
//! `gateway.toml` and the `auth` override a route may carry. Plain serde structures; the
//! sibling `compile` module turns them into the policies the request path reads.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Realm named in `WWW-Authenticate` challenges.
pub const DEFAULT_REALM: &str = "schemagate";
/// Header the verified consumer name goes upstream in (a partner's own copy is removed).
pub const DEFAULT_CONSUMER_HEADER: &str = "X-Consumer-Id";
/// Header the verified user id goes upstream in (a partner's own copy is removed).
pub const DEFAULT_USER_ID_HEADER: &str = "X-User-Id";
/// Header a partner presents its API key in.
pub const DEFAULT_API_KEY_HEADER: &str = "X-Api-Key";
/// Clock skew tolerated on `exp` and `nbf`: enough for hosts kept in sync by NTP, short
/// enough that an expired token is not usable for long.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;
/// Claim naming the consumer in a JWT.
pub const DEFAULT_CONSUMER_CLAIM: &str = "sub";
/// Claim carrying the scopes of a JWT: a space-separated string (RFC 8693) or an array.
pub const DEFAULT_SCOPES_CLAIM: &str = "scope";
/// How often JWKS keys are fetched again in the background: identity providers rotate on
/// the scale of days and publish new keys ahead of use, so minutes are ample.
pub const DEFAULT_JWKS_REFRESH_SECS: u64 = 300;
/// Shortest time between two fetches of a JWKS, whatever asks for them: tokens with
/// unknown key ids cannot make the gateway hammer the identity provider.
pub const DEFAULT_JWKS_MIN_REFRESH_SECS: u64 = 30;
/// Longest wait for a JWKS answer.
pub const DEFAULT_JWKS_TIMEOUT_SECS: u64 = 5;
/// Largest JWKS document accepted, in bytes: a few dozen keys fit easily.
pub const DEFAULT_JWKS_MAX_BYTES: usize = 256 * 1024;

/// Verified tokens remembered at once (0: no cache): at a few hundred bytes each, the
/// default costs a few megabytes and covers far more partners than a gateway serves.
pub const DEFAULT_TOKEN_CACHE_ENTRIES: u64 = 10_000;
/// Longest a verified token is remembered, whatever its `exp`: bounds how long a token
/// keeps passing after its signing key was withdrawn from a JWKS or a key file.
pub const DEFAULT_TOKEN_CACHE_TTL_SECS: u64 = 60;

/// The global `[auth]` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Realm named in `WWW-Authenticate` challenges.
    pub realm: Option<String>,
    /// Header carrying the verified consumer upstream (default `X-Consumer-Id`).
    pub consumer_header: Option<String>,
    /// Header carrying the verified user id upstream (default `X-User-Id`).
    pub user_id_header: Option<String>,
    /// Proxies (CIDRs) whose `X-Forwarded-For` is believed. Empty: the client address is
    /// always the connection's peer.
    pub trusted_proxies: Vec<String>,
    /// Verified tokens remembered (default 10000; 0 turns the cache off).
    pub token_cache_entries: Option<u64>,
    /// Longest a verified token is remembered, in seconds (default 60).
    pub token_cache_ttl_secs: Option<u64>,
    /// Named JWT providers (`[auth.jwt.NAME]`).
    pub jwt: IndexMap<String, JwtProviderConfig>,
    /// API keys (`[auth.api_key]`).
    pub api_key: Option<ApiKeyConfig>,
    /// Client-certificate consumers (`[auth.mtls]`).
    pub mtls: Option<MtlsConfig>,
    /// Per-consumer settings (`[auth.consumers.NAME]`).
    pub consumers: IndexMap<String, ConsumerConfig>,
    /// What every route requires unless its own `auth` says otherwise.
    pub default: RouteAuth,
}

/// Authentication methods a route may accept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum MethodName {
    Mtls,
    Jwt,
    ApiKey,
}

/// A route's requirements. Every key is optional: a key left out keeps the value of
/// `[auth.default]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RouteAuth {
    /// Methods accepted, any one sufficing; tried in this order when a request presents
    /// several credentials. Empty: the route is open.
    pub methods: Option<Vec<MethodName>>,
    /// JWT providers accepted (default: every configured provider).
    pub jwt_providers: Option<Vec<String>>,
    /// Scopes a JWT must all carry.
    pub required_scopes: Option<Vec<String>>,
    /// Claims a JWT must carry, each equal to one of the listed values (or, when the
    /// claim is an array, containing one of them).
    pub required_claims: Option<BTreeMap<String, Vec<serde_json::Value>>>,
    /// Consumers allowed on the route (default: any authenticated consumer).
    pub allowed_consumers: Option<Vec<String>>,
    /// Client addresses (CIDRs or single addresses) allowed on the route.
    pub ip_allow: Option<Vec<String>>,
}

/// JWT signing algorithms accepted. `none` is not among them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    EdDSA,
}

/// One JWT issuer and how its tokens are verified.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtProviderConfig {
    /// Expected `iss`; also picks this provider for a token.
    pub issuer: String,
    /// Accepted `aud` values; a token must name at least one.
    pub audiences: Vec<String>,
    /// Clock skew tolerated on `exp` and `nbf`.
    #[serde(default = "default_leeway")]
    pub leeway_secs: u64,
    /// Claim naming the consumer.
    #[serde(default = "default_consumer_claim")]
    pub consumer_claim: String,
    /// Claim naming the end user, sent upstream in the user id header.
    #[serde(default)]
    pub user_id_claim: Option<String>,
    /// Claim carrying scopes.
    #[serde(default = "default_scopes_claim")]
    pub scopes_claim: String,
    /// Keys held in files or in the configuration.
    #[serde(default)]
    pub keys: Vec<JwtKeyConfig>,
    /// Keys fetched from a JWKS endpoint.
    #[serde(default)]
    pub jwks: Option<JwksConfig>,
}

fn default_leeway() -> u64 {
    DEFAULT_LEEWAY_SECS
}
fn default_consumer_claim() -> String {
    DEFAULT_CONSUMER_CLAIM.into()
}
fn default_scopes_claim() -> String {
    DEFAULT_SCOPES_CLAIM.into()
}

/// One verification key, its algorithm pinned. Exactly one of `secret`, `secret_file`,
/// `pem_file`, `jwk_file` gives the material.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwtKeyConfig {
    /// Key id matched against the token's `kid`. Without it, the key serves tokens that
    /// carry no `kid`.
    #[serde(default)]
    pub kid: Option<String>,
    /// The only algorithm this key verifies.
    pub algorithm: Alg,
    /// HMAC secret, usually `${JWT_SECRET}`.
    #[serde(default)]
    pub secret: Option<String>,
    /// File holding the HMAC secret (trailing line end ignored).
    #[serde(default)]
    pub secret_file: Option<String>,
    /// PEM public key (RSA, EC or Ed25519) or certificate.
    #[serde(default)]
    pub pem_file: Option<String>,
    /// One JWK (a JSON object).
    #[serde(default)]
    pub jwk_file: Option<String>,
}

/// A JWKS endpoint.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct JwksConfig {
    /// `https://` URL (`http://` only to a loopback address).
    pub url: String,
    /// Algorithms accepted from this set. A key that names its `alg` must name one of
    /// these; a key without `alg` gets the one of these that fits its type.
    pub algorithms: Vec<Alg>,
    #[serde(default = "default_refresh")]
    pub refresh_secs: u64,
    #[serde(default = "default_min_refresh")]
    pub min_refresh_secs: u64,
    #[serde(default = "default_jwks_timeout")]
    pub timeout_secs: u64,
}

fn default_refresh() -> u64 {
    DEFAULT_JWKS_REFRESH_SECS
}
fn default_min_refresh() -> u64 {
    DEFAULT_JWKS_MIN_REFRESH_SECS
}
fn default_jwks_timeout() -> u64 {
    DEFAULT_JWKS_TIMEOUT_SECS
}

/// API keys.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyConfig {
    /// Header the key is presented in.
    #[serde(default = "default_api_key_header")]
    pub header: String,
    /// The keys, stored as hashes only.
    pub keys: Vec<ApiKeyEntry>,
}

fn default_api_key_header() -> String {
    DEFAULT_API_KEY_HEADER.into()
}

/// One API key.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyEntry {
    pub consumer: String,
    /// Hex SHA-256 of the key (`printf %s "$KEY" | sha256sum`).
    pub sha256: String,
}

/// Client-certificate consumers. Certificates are verified by the TLS listener against
/// its client CA; this only names the consumer of a verified certificate.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MtlsConfig {
    pub consumers: Vec<MtlsConsumer>,
}

/// A consumer recognised by exactly one of its certificate's names.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct MtlsConsumer {
    pub consumer: String,
    #[serde(default)]
    pub subject_cn: Option<String>,
    #[serde(default)]
    pub san_dns: Option<String>,
    #[serde(default)]
    pub san_uri: Option<String>,
    #[serde(default)]
    pub san_email: Option<String>,
}

/// Settings of one consumer.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ConsumerConfig {
    /// Client addresses (CIDRs or single addresses) this consumer may call from.
    pub ip_allow: Option<Vec<String>>,
}
