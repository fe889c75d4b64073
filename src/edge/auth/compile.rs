//! Compiles the `[auth]` section and the routes' `auth` overrides into one [`RoutePolicy`]
//! per route, reading key files once. Every problem is collected, each naming its key, so
//! an operator fixes them all in one pass.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use http::HeaderName;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde_json::Value;

use super::api_key::{ApiKeys, parse_hash};
use super::cache::TokenCache;
use super::client_ip::IpList;
use super::config::*;
use super::jwks::{Jwks, JwksSettings};
use super::jwt::{Provider, VerifyKey};
use super::mtls::{CertName, MtlsConsumers};

/// Shortest HMAC secret accepted, in bytes: RFC 7518 §3.2 asks for a key at least as long
/// as the hash output, and a shorter secret can be brute-forced from one token.
pub const MIN_HMAC_SECRET_LEN: usize = 32;

/// One problem in the authentication configuration.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {message}")]
pub struct AuthConfigError {
    /// Dotted path of the key, e.g. `auth.jwt.partners.keys[0].pem_file`.
    pub key: String,
    pub message: String,
}

/// Headers that carry the verified identity upstream.
#[derive(Debug, Clone)]
pub struct IdentityHeaders {
    pub consumer: HeaderName,
    pub user_id: HeaderName,
}

/// What one route requires, compiled.
#[derive(Debug, Clone)]
pub struct RoutePolicy {
    pub(crate) methods: Vec<MethodName>,
    pub(crate) providers: Vec<Arc<Provider>>,
    pub(crate) api_keys: Option<Arc<ApiKeys>>,
    pub(crate) mtls: Option<Arc<MtlsConsumers>>,
    pub(crate) scopes: Vec<String>,
    pub(crate) claims: Vec<(String, Vec<Value>)>,
    pub(crate) allowed_consumers: Option<HashSet<String>>,
    pub(crate) ip_allow: Option<IpList>,
    pub(crate) consumer_ips: Arc<HashMap<String, IpList>>,
    pub(crate) trusted_proxies: Arc<IpList>,
    pub(crate) headers: Arc<IdentityHeaders>,
    pub(crate) realm: Arc<str>,
    pub(crate) token_cache: Option<Arc<TokenCache>>,
}

impl RoutePolicy {
    /// Whether the route demands a credential.
    pub fn requires_auth(&self) -> bool {
        !self.methods.is_empty()
    }

    /// Whether the route accepts JWTs (so `$claims` can be read in its mappings).
    pub fn accepts_jwt(&self) -> bool {
        self.methods.contains(&MethodName::Jwt)
    }

    pub fn identity_headers(&self) -> &IdentityHeaders {
        &self.headers
    }
}

/// The compiled configuration: a policy per route and the JWKS sources to keep fresh.
#[derive(Debug, Clone, Default)]
pub struct Compiled {
    pub routes: HashMap<String, Arc<RoutePolicy>>,
    pub jwks: Vec<Arc<Jwks>>,
}

impl Compiled {
    pub fn policy(&self, route: &str) -> Option<&Arc<RoutePolicy>> {
        self.routes.get(route)
    }

    /// Starts the background refresh of every JWKS (first fetch at once). Tasks end when
    /// this snapshot is dropped.
    pub fn start(&self) -> Vec<tokio::task::JoinHandle<()>> {
        self.jwks.iter().map(Jwks::spawn_refresher).collect()
    }
}

struct Errors(Vec<AuthConfigError>);

impl Errors {
    fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.0.push(AuthConfigError {
            key: key.into(),
            message: message.into(),
        });
    }
}

/// Compiles `auth` for the named routes (each with its own override, if any). Relative key
/// files are read from `base_dir`.
pub fn compile(
    auth: &AuthConfig,
    routes: &[(&str, Option<&RouteAuth>)],
    base_dir: &Path,
) -> Result<Compiled, Vec<AuthConfigError>> {
    let mut errs = Errors(Vec::new());
    let header = |errs: &mut Errors, key: &str, v: Option<&str>, default: &str| {
        HeaderName::try_from(v.unwrap_or(default)).unwrap_or_else(|_| {
            errs.push(key, "is not a valid header name");
            HeaderName::from_static("x-invalid")
        })
    };
    let headers = Arc::new(IdentityHeaders {
        consumer: header(
            &mut errs,
            "auth.consumer_header",
            auth.consumer_header.as_deref(),
            DEFAULT_CONSUMER_HEADER,
        ),
        user_id: header(
            &mut errs,
            "auth.user_id_header",
            auth.user_id_header.as_deref(),
            DEFAULT_USER_ID_HEADER,
        ),
    });
    let realm: Arc<str> = auth.realm.as_deref().unwrap_or(DEFAULT_REALM).into();
    let trusted = Arc::new(ip_list(
        &mut errs,
        "auth.trusted_proxies",
        &auth.trusted_proxies,
    ));

    let mut jwks_sources = Vec::new();
    let mut providers = HashMap::new();
    for (name, p) in &auth.jwt {
        let key = format!("auth.jwt.{name}");
        if let Some(provider) = compile_provider(&mut errs, &key, name, p, base_dir) {
            if let Some(j) = &provider.jwks {
                jwks_sources.push(j.clone());
            }
            providers.insert(name.clone(), Arc::new(provider));
        }
    }

    let api_keys = auth.api_key.as_ref().map(|c| {
        let h = header(&mut errs, "auth.api_key.header", Some(&c.header), "");
        let mut seen = HashSet::new();
        let mut entries = Vec::new();
        for (i, e) in c.keys.iter().enumerate() {
            let key = format!("auth.api_key.keys[{i}]");
            match parse_hash(&e.sha256) {
                Ok(h) if !seen.insert(h) => {
                    errs.push(format!("{key}.sha256"), "the same key is listed twice")
                }
                Ok(h) => entries.push((h, e.consumer.clone())),
                Err(m) => errs.push(format!("{key}.sha256"), m),
            }
            if e.consumer.is_empty() {
                errs.push(format!("{key}.consumer"), "must not be empty");
            }
        }
        Arc::new(ApiKeys::new(h, entries).spelled(&c.header))
    });

    let mtls = auth.mtls.as_ref().map(|c| {
        let mut entries = Vec::new();
        for (i, e) in c.consumers.iter().enumerate() {
            let key = format!("auth.mtls.consumers[{i}]");
            let names: Vec<CertName> = [
                e.subject_cn.clone().map(CertName::SubjectCn),
                e.san_dns.clone().map(CertName::SanDns),
                e.san_uri.clone().map(CertName::SanUri),
                e.san_email.clone().map(CertName::SanEmail),
            ]
            .into_iter()
            .flatten()
            .collect();
            match <[CertName; 1]>::try_from(names) {
                Ok([n]) => entries.push((n, e.consumer.clone())),
                Err(_) => errs.push(
                    key,
                    "name exactly one of subject_cn, san_dns, san_uri, san_email",
                ),
            }
        }
        Arc::new(MtlsConsumers::new(entries))
    });

    let mut consumer_ips = HashMap::new();
    for (name, c) in &auth.consumers {
        if let Some(list) = &c.ip_allow {
            let key = format!("auth.consumers.{name}.ip_allow");
            consumer_ips.insert(name.clone(), ip_list(&mut errs, &key, list));
        }
    }
    let consumer_ips = Arc::new(consumer_ips);

    let entries = auth
        .token_cache_entries
        .unwrap_or(DEFAULT_TOKEN_CACHE_ENTRIES);
    let ttl = auth
        .token_cache_ttl_secs
        .unwrap_or(DEFAULT_TOKEN_CACHE_TTL_SECS);
    let token_cache = (entries > 0 && ttl > 0)
        .then(|| Arc::new(TokenCache::new(entries, Duration::from_secs(ttl))));

    let mut compiled = Compiled {
        routes: HashMap::new(),
        jwks: jwks_sources,
    };
    let default = &auth.default;
    let shared = Shared {
        providers: &providers,
        api_keys: &api_keys,
        mtls: &mtls,
        consumer_ips: &consumer_ips,
        trusted: &trusted,
        headers: &headers,
        realm: &realm,
        token_cache: &token_cache,
    };
    for (route, over) in routes {
        let over = over.cloned().unwrap_or_default();
        let key = if over == RouteAuth::default() {
            "auth.default".to_string()
        } else {
            format!("routes.\"{route}\".auth")
        };
        let policy = route_policy(&mut errs, &key, default, &over, &shared);
        compiled.routes.insert(route.to_string(), Arc::new(policy));
    }
    if errs.0.is_empty() {
        Ok(compiled)
    } else {
        Err(errs.0)
    }
}

struct Shared<'a> {
    providers: &'a HashMap<String, Arc<Provider>>,
    api_keys: &'a Option<Arc<ApiKeys>>,
    mtls: &'a Option<Arc<MtlsConsumers>>,
    consumer_ips: &'a Arc<HashMap<String, IpList>>,
    trusted: &'a Arc<IpList>,
    headers: &'a Arc<IdentityHeaders>,
    realm: &'a Arc<str>,
    token_cache: &'a Option<Arc<TokenCache>>,
}

fn route_policy(
    errs: &mut Errors,
    key: &str,
    default: &RouteAuth,
    over: &RouteAuth,
    s: &Shared<'_>,
) -> RoutePolicy {
    let methods: Vec<MethodName> = pick(&over.methods, &default.methods).unwrap_or_default();
    let mut providers = Vec::new();
    if methods.contains(&MethodName::Jwt) {
        match pick(&over.jwt_providers, &default.jwt_providers) {
            Some(names) => {
                for n in names {
                    match s.providers.get(&n) {
                        Some(p) => providers.push(p.clone()),
                        None => errs.push(
                            format!("{key}.jwt_providers"),
                            format!("no provider [auth.jwt.{n}] is configured"),
                        ),
                    }
                }
            }
            None => {
                let mut all: Vec<_> = s.providers.values().cloned().collect();
                all.sort_by(|a, b| a.name.cmp(&b.name));
                providers = all;
            }
        }
        if providers.is_empty() {
            errs.push(
                format!("{key}.methods"),
                "jwt needs a provider in [auth.jwt]",
            );
        }
    }
    if methods.contains(&MethodName::ApiKey) && s.api_keys.is_none() {
        errs.push(format!("{key}.methods"), "api_key needs [auth.api_key]");
    }
    if methods.contains(&MethodName::Mtls) && s.mtls.is_none() {
        errs.push(format!("{key}.methods"), "mtls needs [auth.mtls]");
    }
    let scopes = pick(&over.required_scopes, &default.required_scopes).unwrap_or_default();
    let claims: Vec<(String, Vec<Value>)> = pick(&over.required_claims, &default.required_claims)
        .unwrap_or_default()
        .into_iter()
        .collect();
    if (!scopes.is_empty() || !claims.is_empty()) && !methods.contains(&MethodName::Jwt) {
        errs.push(
            format!("{key}.methods"),
            "required_scopes and required_claims need jwt among the methods",
        );
    }
    for (name, values) in &claims {
        if values.is_empty() || values.iter().any(|v| v.is_array() || v.is_object()) {
            errs.push(
                format!("{key}.required_claims.{name}"),
                "list one or more strings, numbers or booleans",
            );
        }
    }
    let allowed_consumers = pick(&over.allowed_consumers, &default.allowed_consumers)
        .map(|v| v.into_iter().collect::<HashSet<_>>());
    if allowed_consumers.is_some() && methods.is_empty() {
        errs.push(
            format!("{key}.allowed_consumers"),
            "an open route has no consumer to allow: list methods too",
        );
    }
    let ip_allow = pick(&over.ip_allow, &default.ip_allow)
        .map(|l| ip_list(errs, &format!("{key}.ip_allow"), &l));
    RoutePolicy {
        methods,
        providers,
        api_keys: s.api_keys.clone(),
        mtls: s.mtls.clone(),
        scopes,
        claims,
        allowed_consumers,
        ip_allow,
        consumer_ips: s.consumer_ips.clone(),
        trusted_proxies: s.trusted.clone(),
        headers: s.headers.clone(),
        realm: s.realm.clone(),
        token_cache: s.token_cache.clone(),
    }
}

/// A route's own value for a key, else the default's.
fn pick<T: Clone>(own: &Option<T>, default: &Option<T>) -> Option<T> {
    own.clone().or_else(|| default.clone())
}

fn ip_list(errs: &mut Errors, key: &str, items: &[String]) -> IpList {
    IpList::parse(items).unwrap_or_else(|m| {
        errs.push(key, m);
        IpList::default()
    })
}

fn compile_provider(
    errs: &mut Errors,
    key: &str,
    name: &str,
    p: &JwtProviderConfig,
    base_dir: &Path,
) -> Option<Provider> {
    let before = errs.0.len();
    if p.issuer.is_empty() {
        errs.push(format!("{key}.issuer"), "must not be empty");
    }
    if p.audiences.is_empty() || p.audiences.iter().any(String::is_empty) {
        errs.push(
            format!("{key}.audiences"),
            "list at least one audience: without it a token minted for another service would pass",
        );
    }
    if p.keys.is_empty() && p.jwks.is_none() {
        errs.push(key, "give keys or jwks");
    }
    let mut keys = Vec::new();
    for (i, k) in p.keys.iter().enumerate() {
        if let Some(vk) = load_key(errs, &format!("{key}.keys[{i}]"), k, base_dir) {
            keys.push(Arc::new(vk));
        }
    }
    let jwks = p.jwks.as_ref().and_then(|j| {
        let key = format!("{key}.jwks");
        check_jwks_url(errs, &format!("{key}.url"), &j.url);
        if j.algorithms.is_empty() {
            errs.push(format!("{key}.algorithms"), "pin at least one algorithm");
        }
        if j.refresh_secs == 0 || j.timeout_secs == 0 {
            errs.push(
                key.clone(),
                "refresh_secs and timeout_secs must be positive",
            );
        }
        let settings = JwksSettings {
            url: j.url.clone(),
            algorithms: j.algorithms.iter().map(|&a| a.into()).collect(),
            refresh: Duration::from_secs(j.refresh_secs.max(1)),
            min_refresh: Duration::from_secs(j.min_refresh_secs),
            timeout: Duration::from_secs(j.timeout_secs.max(1)),
            max_bytes: DEFAULT_JWKS_MAX_BYTES,
        };
        Jwks::new(settings)
            .map_err(|m| errs.push(key, m))
            .ok()
            .map(Arc::new)
    });
    if errs.0.len() != before {
        return None;
    }
    Some(Provider::new(
        name.to_string(),
        p.issuer.clone(),
        &p.audiences,
        p.leeway_secs,
        (
            p.consumer_claim.clone(),
            p.user_id_claim.clone(),
            p.scopes_claim.clone(),
        ),
        keys,
        jwks,
    ))
}

/// A JWKS must come over TLS, except from the machine itself (a sidecar, a test).
fn check_jwks_url(errs: &mut Errors, key: &str, url: &str) {
    let Ok(u) = reqwest::Url::parse(url) else {
        errs.push(key, "is not a URL");
        return;
    };
    let loopback = u.host_str().is_some_and(|h| {
        h.trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .map(|ip| ip.is_loopback())
            .unwrap_or_else(|_| h.eq_ignore_ascii_case("localhost"))
    });
    match u.scheme() {
        "https" => {}
        "http" if loopback => {}
        _ => errs.push(
            key,
            "must be an https:// URL (http:// only to a loopback address)",
        ),
    }
}

fn load_key(errs: &mut Errors, key: &str, k: &JwtKeyConfig, base_dir: &Path) -> Option<VerifyKey> {
    let alg: Algorithm = k.algorithm.into();
    let given = [
        k.secret.is_some(),
        k.secret_file.is_some(),
        k.pem_file.is_some(),
        k.jwk_file.is_some(),
    ];
    if given.iter().filter(|&&g| g).count() != 1 {
        errs.push(
            key,
            "give exactly one of secret, secret_file, pem_file, jwk_file",
        );
        return None;
    }
    let read = |errs: &mut Errors, field: &str, file: &str| -> Option<Vec<u8>> {
        std::fs::read(base_dir.join(file))
            .map_err(|e| errs.push(format!("{key}.{field}"), format!("cannot read {file}: {e}")))
            .ok()
    };
    let hmac = alg.family() == AlgorithmFamily::Hmac;
    let decoded = if let Some(secret) = &k.secret {
        secret_key(errs, &format!("{key}.secret"), hmac, secret.as_bytes())
    } else if let Some(file) = &k.secret_file {
        let bytes = read(errs, "secret_file", file)?;
        let trimmed = bytes
            .strip_suffix(b"\r\n")
            .or_else(|| bytes.strip_suffix(b"\n"))
            .unwrap_or(&bytes);
        secret_key(errs, &format!("{key}.secret_file"), hmac, trimmed)
    } else if let Some(file) = &k.pem_file {
        let pem = read(errs, "pem_file", file)?;
        let field = format!("{key}.pem_file");
        let res = match alg.family() {
            AlgorithmFamily::Hmac => {
                errs.push(field, "an HMAC algorithm takes secret or secret_file");
                return None;
            }
            AlgorithmFamily::Rsa => DecodingKey::from_rsa_pem(&pem),
            AlgorithmFamily::Ec => DecodingKey::from_ec_pem(&pem),
            AlgorithmFamily::Ed => DecodingKey::from_ed_pem(&pem),
        };
        res.map_err(|e| {
            errs.push(field, format!("{file} holds no {alg:?} public key: {e}"));
        })
        .ok()
    } else {
        let file = k.jwk_file.as_deref().unwrap_or_default();
        let text = read(errs, "jwk_file", file)?;
        let field = format!("{key}.jwk_file");
        match serde_json::from_slice::<Jwk>(&text) {
            Err(e) => {
                errs.push(field, format!("{file} is not a JWK: {e}"));
                None
            }
            Ok(jwk) => match super::jwks::to_verify_key(&jwk, &[alg]) {
                Some(vk) => {
                    return Some(VerifyKey {
                        kid: k.kid.clone().or(vk.kid),
                        ..vk
                    });
                }
                None => {
                    errs.push(field, format!("{file} holds no {alg:?} signing key"));
                    None
                }
            },
        }
    }?;
    if decoded.family() != alg.family() {
        errs.push(key, format!("the key does not fit {alg:?}"));
        return None;
    }
    Some(VerifyKey {
        kid: k.kid.clone(),
        alg,
        key: decoded,
    })
}

fn secret_key(errs: &mut Errors, key: &str, hmac: bool, secret: &[u8]) -> Option<DecodingKey> {
    if !hmac {
        errs.push(key, "a secret serves HS256, HS384 or HS512 only");
        return None;
    }
    if secret.len() < MIN_HMAC_SECRET_LEN {
        errs.push(
            key,
            format!("an HMAC secret must be at least {MIN_HMAC_SECRET_LEN} bytes"),
        );
        return None;
    }
    DecodingKey::from_secret(secret)
        .map_err(|e| errs.push(key, e.to_string()))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn parse(toml_text: &str) -> AuthConfig {
        #[derive(serde::Deserialize)]
        struct File {
            auth: AuthConfig,
        }
        toml::from_str::<File>(toml_text).unwrap().auth
    }

    fn errors(toml_text: &str, route: Option<RouteAuth>) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        compile(&parse(toml_text), &[("orders", route.as_ref())], dir.path())
            .unwrap_err()
            .into_iter()
            .map(|e| e.to_string())
            .collect()
    }

    #[test]
    fn the_documented_example_compiles() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("hmac.key"), format!("{SECRET}\n")).unwrap();
        let cfg = parse(&format!(
            r#"
[auth]
trusted_proxies = ["10.0.0.0/8"]

[auth.default]
methods = ["jwt", "api_key"]

[auth.jwt.partners]
issuer = "schemagate-example"
audiences = ["partners"]
leeway_secs = 10
user_id_claim = "uid"
keys = [
  {{ kid = "2026-01", algorithm = "HS256", secret = "{SECRET}" }},
  {{ kid = "2026-02", algorithm = "HS512", secret_file = "hmac.key" }},
]
jwks = {{ url = "https://idp.example/.well-known/jwks.json", algorithms = ["RS256", "ES256"] }}

[auth.api_key]
keys = [{{ consumer = "globex", sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" }}]

[auth.mtls]
consumers = [{{ consumer = "initech", subject_cn = "initech-gateway" }}]

[auth.consumers.globex]
ip_allow = ["203.0.113.0/24"]
"#
        ));
        let route: RouteAuth = toml::from_str(
            r#"
methods = ["mtls", "jwt"]
required_scopes = ["orders:write"]
required_claims = { tenant = ["acme", "globex"] }
allowed_consumers = ["acme", "initech"]
"#,
        )
        .unwrap();
        let c = compile(
            &cfg,
            &[("orders", Some(&route)), ("status", None)],
            dir.path(),
        )
        .unwrap();
        let orders = c.policy("orders").unwrap();
        assert_eq!(orders.methods, vec![MethodName::Mtls, MethodName::Jwt]);
        assert_eq!(orders.scopes, vec!["orders:write".to_string()]);
        assert_eq!(orders.providers.len(), 1);
        assert_eq!(orders.providers[0].keys.len(), 2);
        assert_eq!(orders.headers.consumer.as_str(), "x-consumer-id");
        let status = c.policy("status").unwrap();
        assert_eq!(status.methods, vec![MethodName::Jwt, MethodName::ApiKey]);
        assert!(status.allowed_consumers.is_none());
        assert_eq!(c.jwks.len(), 1);
        assert_eq!(c.jwks[0].url(), "https://idp.example/.well-known/jwks.json");
    }

    #[test]
    fn no_auth_section_leaves_routes_open() {
        let c = compile(&AuthConfig::default(), &[("r", None)], Path::new(".")).unwrap();
        assert!(!c.policy("r").unwrap().requires_auth());
    }

    #[test]
    fn every_problem_is_named_by_its_key() {
        let errs = errors(
            r#"
[auth]
trusted_proxies = ["10.0.0.0/8", "proxy.internal"]
consumer_header = "bad header"
[auth.default]
methods = ["jwt", "api_key", "mtls"]
jwt_providers = ["partners", "nobody"]
[auth.jwt.partners]
issuer = "i"
audiences = []
keys = [
  { algorithm = "HS256", secret = "short" },
  { algorithm = "RS256", secret = "0123456789abcdef0123456789abcdef" },
  { algorithm = "ES256", pem_file = "missing.pem" },
  { algorithm = "HS256" },
]
jwks = { url = "http://idp.example/jwks", algorithms = [] }
[auth.api_key]
keys = [
  { consumer = "a", sha256 = "abc" },
  { consumer = "b", sha256 = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824" },
  { consumer = "c", sha256 = "2CF24DBA5FB0A30E26E83B2AC5B9E29E1B161E5C1FA7425E73043362938B9824" },
]
"#,
            None,
        );
        assert_eq!(
            errs,
            vec![
                "auth.consumer_header: is not a valid header name",
                "auth.trusted_proxies: \"proxy.internal\" is not an IP address or CIDR",
                "auth.jwt.partners.audiences: list at least one audience: without it a token minted for another service would pass",
                "auth.jwt.partners.keys[0].secret: an HMAC secret must be at least 32 bytes",
                "auth.jwt.partners.keys[1].secret: a secret serves HS256, HS384 or HS512 only",
                "auth.jwt.partners.keys[2].pem_file: cannot read missing.pem: No such file or directory (os error 2)",
                "auth.jwt.partners.keys[3]: give exactly one of secret, secret_file, pem_file, jwk_file",
                "auth.jwt.partners.jwks.url: must be an https:// URL (http:// only to a loopback address)",
                "auth.jwt.partners.jwks.algorithms: pin at least one algorithm",
                "auth.api_key.keys[0].sha256: must be 64 hexadecimal digits (a SHA-256 of the key)",
                "auth.api_key.keys[2].sha256: the same key is listed twice",
                "auth.default.jwt_providers: no provider [auth.jwt.partners] is configured",
                "auth.default.jwt_providers: no provider [auth.jwt.nobody] is configured",
                "auth.default.methods: jwt needs a provider in [auth.jwt]",
                "auth.default.methods: mtls needs [auth.mtls]",
            ]
        );
    }

    #[test]
    fn route_overrides_are_checked_under_the_route() {
        let route: RouteAuth = toml::from_str(
            r#"
required_scopes = ["x"]
required_claims = { tenant = [] }
ip_allow = ["300.1.1.1"]
allowed_consumers = ["acme"]
"#,
        )
        .unwrap();
        let errs = errors("[auth]\n", Some(route));
        assert_eq!(
            errs,
            vec![
                "routes.\"orders\".auth.methods: required_scopes and required_claims need jwt among the methods",
                "routes.\"orders\".auth.required_claims.tenant: list one or more strings, numbers or booleans",
                "routes.\"orders\".auth.allowed_consumers: an open route has no consumer to allow: list methods too",
                "routes.\"orders\".auth.ip_allow: \"300.1.1.1\" is not an IP address or CIDR",
            ]
        );
    }

    #[test]
    fn mtls_entries_name_exactly_one_certificate_name() {
        let errs = errors(
            r#"
[auth.mtls]
consumers = [{ consumer = "a", subject_cn = "a", san_dns = "a.example" }, { consumer = "b" }]
"#,
            None,
        );
        assert_eq!(
            errs,
            vec![
                "auth.mtls.consumers[0]: name exactly one of subject_cn, san_dns, san_uri, san_email",
                "auth.mtls.consumers[1]: name exactly one of subject_cn, san_dns, san_uri, san_email",
            ]
        );
    }

    #[test]
    fn unknown_keys_and_alg_none_do_not_parse() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct File {
            auth: AuthConfig,
        }
        let e = toml::from_str::<File>("[auth]\nrelm = \"x\"\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `relm`"), "{e}");
        let e = toml::from_str::<File>(
            "[auth.jwt.p]\nissuer = \"i\"\naudiences = [\"a\"]\nkeys = [{ algorithm = \"none\", secret = \"x\" }]\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("unknown variant `none`"), "{e}");
    }
}
