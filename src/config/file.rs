//! `gateway.toml` as a user writes it: serde structs with defaults and
//! `deny_unknown_fields`. Compiled into runtime structures by `config::load`; nothing here
//! is read on the request path.
//!
//! CONTRACT NOTE: shared with the server, proxy, edge and telemetry modules.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The whole gateway configuration.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    pub server: ServerConfig,
    pub paths: PathsConfig,
    pub limits: LimitsConfig,
    /// Named upstream services that routes forward to.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    pub headers: HeadersConfig,
    pub errors: ErrorsConfig,
    pub logging: LoggingConfig,
    pub admin: AdminConfig,
    /// The published OpenAPI documents (`[openapi]`): title, version, servers.
    pub openapi: super::openapi::OpenApiConfig,
    /// TLS termination on the partner listener.
    #[serde(skip_serializing_if = "super::listener::TlsConfig::is_default")]
    pub tls: super::listener::TlsConfig,
    /// OpenTelemetry traces over OTLP; off by default.
    pub tracing: super::tracing::TracingConfig,
    /// Partner authentication (`[auth]`).
    pub auth: crate::edge::auth::config::AuthConfig,
    /// CORS for browser callers (`[cors]`); None: no CORS headers, preflights refused.
    pub cors: Option<crate::edge::cors::CorsConfig>,
    /// Traffic control (`config/policies.rs`): the shared store, rate limits, circuit
    /// breakers, retries, the response cache, and per-route overrides by route name.
    pub redis: Option<crate::edge::ratelimit::config::RedisConfig>,
    pub rate_limit: crate::edge::ratelimit::RateLimitConfig,
    pub circuit_breaker: crate::proxy::breaker::BreakerConfig,
    pub retries: crate::proxy::retry::RetryConfig,
    pub cache: crate::edge::cache::CacheConfig,
    /// Per-route overrides (`[routes."PARTNER/ROUTE".SECTION]`).
    pub routes: BTreeMap<String, super::overrides::RouteOverrides>,
}

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to listen on (`--listen` overrides it).
    pub listen: String,
    /// Runtime worker threads; 0 = one per CPU core.
    pub workers: usize,
    /// Connections served at once; further connections wait in the accept queue.
    pub max_connections: usize,
    /// Time a client has to send the complete request head.
    pub header_read_timeout_ms: u64,
    /// Time a client has to send the complete body once the head is read.
    pub body_read_timeout_ms: u64,
    /// Longest a response write may make no progress (the client stopped reading) before
    /// the connection is closed; 0 disables the limit.
    pub response_write_timeout_ms: u64,
    /// Overall deadline for one request, upstream call included.
    pub request_timeout_ms: u64,
    /// How long SIGTERM waits for in-flight requests before exiting.
    pub shutdown_grace_ms: u64,
    /// Idle keep-alive connections are closed after this long.
    pub keep_alive_timeout_ms: u64,
    /// Serve HTTP/2 without TLS (prior knowledge) on a plaintext listener.
    pub h2c: bool,
    pub http2: super::listener::Http2Config,
}

pub const DEFAULT_MAX_CONNECTIONS: usize = 10_000;
/// Slow-loris defence: an honest client sends its head in one round trip.
pub const DEFAULT_HEADER_READ_TIMEOUT_MS: u64 = 10_000;
pub const DEFAULT_BODY_READ_TIMEOUT_MS: u64 = 30_000;
/// A client that takes nothing of a response for this long has stopped reading: its
/// connection slot is worth more to the next client.
pub const DEFAULT_RESPONSE_WRITE_TIMEOUT_MS: u64 = 30_000;
pub const DEFAULT_REQUEST_TIMEOUT_MS: u64 = 60_000;
pub const DEFAULT_SHUTDOWN_GRACE_MS: u64 = 30_000;
pub const DEFAULT_KEEP_ALIVE_TIMEOUT_MS: u64 = 75_000;

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: DEFAULT_LISTEN.to_string(),
            workers: 0,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_read_timeout_ms: DEFAULT_HEADER_READ_TIMEOUT_MS,
            body_read_timeout_ms: DEFAULT_BODY_READ_TIMEOUT_MS,
            response_write_timeout_ms: DEFAULT_RESPONSE_WRITE_TIMEOUT_MS,
            request_timeout_ms: DEFAULT_REQUEST_TIMEOUT_MS,
            shutdown_grace_ms: DEFAULT_SHUTDOWN_GRACE_MS,
            keep_alive_timeout_ms: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
            h2c: false,
            http2: super::listener::Http2Config::default(),
        }
    }
}

/// Where the partner files live, relative to the configuration file's directory.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    pub schemas: String,
    pub mappings: String,
    /// Golden fixtures that `check` runs.
    pub fixtures: String,
}

impl Default for PathsConfig {
    fn default() -> Self {
        PathsConfig {
            schemas: "schemas".into(),
            mappings: "mappings".into(),
            fixtures: "tests/fixtures".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Largest request body accepted (413 beyond, without reading further).
    pub max_body_bytes: usize,
    /// Largest upstream response body read (502 beyond).
    pub max_response_bytes: usize,
    /// Deepest element/array nesting in a body.
    pub max_depth: usize,
    /// Most elements (XML) or values (JSON) in a body.
    pub max_elements: usize,
    /// Most attributes on one XML element.
    pub max_attributes: usize,
    /// Longest text node or attribute value.
    pub max_text_bytes: usize,
    /// Longest XML element or attribute name, prefix included.
    pub max_name_bytes: usize,
    /// Most request headers (431 beyond).
    pub max_headers: usize,
    /// Largest request head in bytes: request line and headers (431 beyond).
    pub max_header_bytes: usize,
    /// Bytes the bodies of all requests in flight may hold together, as counted in
    /// `docs/operations.md` (503 with `Retry-After` beyond). Unset: 64 partner bodies at
    /// `max_body_bytes`, each counted 16 times (1 GiB with the defaults).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_memory_bytes: Option<usize>,
}

/// 1 MiB: an order with thousands of lines; larger documents belong on a batch channel.
pub const DEFAULT_MAX_BODY_BYTES: usize = 1024 * 1024;
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 8 * 1024 * 1024;
pub const DEFAULT_MAX_HEADERS: usize = 100;
pub const DEFAULT_MAX_HEADER_BYTES: usize = 16 * 1024;

impl Default for LimitsConfig {
    fn default() -> Self {
        let codec = crate::codec::Limits::default();
        LimitsConfig {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            max_depth: codec.max_depth,
            max_elements: codec.max_elements,
            max_attributes: codec.max_attributes,
            max_text_bytes: codec.max_text_bytes,
            max_name_bytes: codec.max_name_bytes,
            max_headers: DEFAULT_MAX_HEADERS,
            max_header_bytes: DEFAULT_MAX_HEADER_BYTES,
            max_memory_bytes: None,
        }
    }
}

impl LimitsConfig {
    /// The memory budget in bytes: `max_memory_bytes`, or the default derived from
    /// `max_body_bytes` ([`crate::edge::budget::default_limit`]).
    pub fn memory_budget(&self) -> usize {
        self.max_memory_bytes
            .unwrap_or_else(|| crate::edge::budget::default_limit(self.max_body_bytes))
    }

    pub fn codec(&self) -> crate::codec::Limits {
        crate::codec::Limits {
            max_depth: self.max_depth,
            max_elements: self.max_elements,
            max_attributes: self.max_attributes,
            max_text_bytes: self.max_text_bytes,
            max_name_bytes: self.max_name_bytes,
        }
    }
}

/// One named upstream service.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamConfig {
    /// Base URL (`http://orders.internal:8080`); route paths are appended to its path.
    pub url: String,
    #[serde(default = "default_connect_timeout_ms")]
    pub connect_timeout_ms: u64,
    /// Deadline for the whole upstream exchange, response body included.
    #[serde(default = "default_upstream_timeout_ms")]
    pub request_timeout_ms: u64,
    /// Idle keep-alive connections kept per upstream host.
    #[serde(default = "default_pool_max_idle")]
    pub pool_max_idle: usize,
    /// Idle connections are closed after this long: keep it below the upstream's own
    /// keep-alive timeout.
    #[serde(default = "default_pool_idle_timeout_ms")]
    pub pool_idle_timeout_ms: u64,
    /// TLS to an `https://` upstream (`[upstreams.NAME.tls]`).
    #[serde(default, skip_serializing_if = "UpstreamTlsConfig::is_default")]
    pub tls: UpstreamTlsConfig,
    /// The addresses (`host:port`) that serve this upstream; `url` still gives the scheme,
    /// the `Host` header and the base path. Empty: `url`'s own host and port.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<String>,
    /// The targets are the addresses a DNS name resolves to, resolved again every
    /// `refresh_ms` (`[upstreams.NAME.discovery]`); not with `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery: Option<crate::proxy::discovery::DiscoveryConfig>,
    /// How requests are spread over `targets` and when one is left out
    /// (`[upstreams.NAME.balance]`).
    #[serde(
        default,
        skip_serializing_if = "crate::proxy::balance::BalanceConfig::is_default"
    )]
    pub balance: crate::proxy::balance::BalanceConfig,
    /// This upstream's breaker settings over `[circuit_breaker]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<crate::proxy::breaker::BreakerOverride>,
}

/// How the gateway verifies an `https://` upstream and proves itself to it. Certificate
/// verification cannot be turned off: a service with a private CA gets `ca_file`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamTlsConfig {
    /// PEM file of the certificate authorities to trust for this upstream, instead of the
    /// built-in Mozilla roots. Relative to the configuration file's directory.
    #[serde(default)]
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM certificate chain the gateway presents (mutual TLS); needs `client_key_file`.
    #[serde(default)]
    pub client_cert_file: Option<std::path::PathBuf>,
    /// PEM private key of `client_cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default)]
    pub client_key_file: Option<std::path::PathBuf>,
}

impl UpstreamTlsConfig {
    pub fn is_default(&self) -> bool {
        *self == UpstreamTlsConfig::default()
    }
}

pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2_000;
pub const DEFAULT_UPSTREAM_TIMEOUT_MS: u64 = 15_000;
pub const DEFAULT_POOL_MAX_IDLE: usize = 256;
/// Below the keep-alive timeout of common servers (Node.js 5 s, nginx
/// 75 s, AWS ALB 60 s), so the gateway closes an idle connection before the upstream
/// does and never writes a request onto one the upstream is closing.
pub const DEFAULT_POOL_IDLE_TIMEOUT_MS: u64 = 4_000;

fn default_connect_timeout_ms() -> u64 {
    DEFAULT_CONNECT_TIMEOUT_MS
}
fn default_upstream_timeout_ms() -> u64 {
    DEFAULT_UPSTREAM_TIMEOUT_MS
}
fn default_pool_max_idle() -> usize {
    DEFAULT_POOL_MAX_IDLE
}
fn default_pool_idle_timeout_ms() -> u64 {
    DEFAULT_POOL_IDLE_TIMEOUT_MS
}

/// Header hygiene.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HeadersConfig {
    /// Headers starting with any of these (case-insensitive) are removed in both directions.
    pub internal_prefixes: Vec<String>,
    /// Request headers a mapping may read as `$header.NAME` and that are forwarded upstream.
    pub forward: Vec<String>,
    /// The correlation-id header, read from clients and sent upstream and back.
    pub correlation_header: String,
    /// Response headers of the service that a mapped answer passes on to the partner beyond
    /// the standard few (`Cache-Control`, `Expires`, `Last-Modified`, `Content-Language`, `Vary`,
    /// `Retry-After`): rate-limit headers, say. Every other header of the service stays
    /// behind, since a mapped answer is the partner's contract, not the service's.
    pub pass_back: Vec<String>,
}

impl Default for HeadersConfig {
    fn default() -> Self {
        HeadersConfig {
            internal_prefixes: vec!["X-Internal-".into()],
            forward: Vec::new(),
            correlation_header: "X-Correlation-Id".into(),
            pass_back: Vec::new(),
        }
    }
}

/// How error bodies are rendered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProblemFormat {
    /// The partner's format (problem+xml for XML routes), unless `Accept` asks for the other.
    #[default]
    Partner,
    /// Always `application/problem+json`.
    Json,
    /// Always `application/problem+xml`.
    Xml,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ErrorsConfig {
    pub format: ProblemFormat,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct LoggingConfig {
    pub format: LogFormat,
    /// A tracing filter: `info`, `schemagate=debug,info`. `RUST_LOG` overrides it.
    pub level: String,
    /// One line per request at info level.
    pub access_log: bool,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            format: LogFormat::Text,
            level: "info".into(),
            access_log: true,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AdminConfig {
    /// Serve `/healthz`, `/readyz`, `/metrics`, `/admin/status`, `/openapi.json`,
    /// `/openapi/PARTNER.json` and `/schemas/PARTNER/ROUTE.xsd`.
    pub enabled: bool,
    /// Address of the admin listener, or `"partner"` to serve the admin endpoints on the
    /// partner listener (a risk: partners then see route and upstream names).
    pub listen: String,
    /// Watch the configuration, schemas and mappings and reload on change.
    pub watch: bool,
    /// Quiet period after a file change before reloading, so an editor's several writes
    /// become one reload.
    pub watch_debounce_ms: u64,
    /// Serve the mapping playground at `/playground`: a page and a JSON API that run any
    /// route's mappings on pasted documents. Off by default: it shows every route's files.
    pub playground: bool,
}

impl Default for AdminConfig {
    fn default() -> Self {
        AdminConfig {
            enabled: true,
            listen: super::listener::DEFAULT_ADMIN_LISTEN.to_string(),
            watch: true,
            watch_debounce_ms: 250,
            playground: false,
        }
    }
}
