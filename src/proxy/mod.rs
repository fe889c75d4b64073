//! The pooled upstream client.
//!
//! [`HttpClient`] owns the connection pools and outlives configuration reloads, so a reload
//! does not drop warm connections. Each configured upstream becomes an [`Upstream`]: its
//! base URL parsed once, its deadline and response-size limit, and a handle on the pool
//! whose settings (connect timeout, idle pool size and timeout) match its configuration.
//! Upstreams with the same settings share one pool.
//!
//! [`Upstream::send`] does one buffered exchange: the whole response body is read, within
//! the size limit and the request deadline, before the pipeline sees it. Failures are
//! typed ([`UpstreamError`]) and become a partner-facing [`Problem`] in
//! [`UpstreamError::to_problem`], which never names internal hosts.
//!
//! Upstreams are `http://` or `https://` ([`tls`]: rustls, verification always on, HTTP/2
//! where the upstream's ALPN offers it). Redirects are never followed (hyper does not).
//!
//! A request hyper hands back unsent, because the pooled connection it was given turned out
//! closed before any byte was written, goes once more on a new connection ([`unsent`]).

pub mod tls;

pub mod balance;
pub mod breaker;
pub mod discovery;
pub mod guard;
pub mod pool_alias;
pub mod retry;
pub mod stream;
pub mod tunnel;
pub mod unsent;

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use http::header::{CONTENT_LENGTH, HOST, TRANSFER_ENCODING};
use http::uri::{Authority, PathAndQuery, Scheme};
use http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt as _, Either, Full};
use hyper::body::Incoming;
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use crate::config::file::{LimitsConfig, UpstreamConfig};
use crate::problem::{Problem, ProblemKind};
use balance::{Balancer, Pick};
use tls::{TlsConfigError, TlsFailure, TlsMaterial};

/// A request body streamed to an upstream (a `proxy` route's, read as it arrives).
pub type StreamBody = UnsyncBoxBody<Bytes, axum::BoxError>;

/// What the pooled client sends: a whole body (transform) or a stream (proxy), over the
/// same pools.
pub type UpstreamBody = Either<Full<Bytes>, StreamBody>;

/// TCP keepalive probes on pooled connections: an idle connection whose peer vanished
/// (host rebooted, NAT entry expired) is found and dropped instead of failing the next
/// request sent on it.
pub const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// Most memory reserved up front for a response body from its `Content-Length`: the common
/// small body gets one allocation, and a lying header cannot make the gateway reserve more
/// than this before any byte arrives.
pub const MAX_INITIAL_BODY_CAPACITY: usize = 64 * 1024;

/// The pool settings that require a separate hyper client (they are per client, not per
/// request).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct PoolKey {
    connect_timeout: Duration,
    pool_max_idle: usize,
    pool_idle_timeout: Duration,
    /// The TLS material of `https://` upstreams; `None` for `http://` ones.
    tls: Option<TlsMaterial>,
    /// The server name (SNI) of an `https://` upstream whose targets are not the URL's
    /// own host: the URL's host, whatever address the connection goes to.
    server_name: Option<String>,
}

type HyperClient = Client<HttpsConnector<unsent::WatchingConnector>, UpstreamBody>;

/// The clients of one [`PoolKey`]: the pooled one every request uses, and one without a
/// pool for sending again a request the pooled one handed back unsent ([`unsent`]): a new
/// connection each time.
#[derive(Clone)]
struct Clients {
    pooled: HyperClient,
    fresh: HyperClient,
}

/// The shared upstream connection pools and target state. Cheap to clone; create one per
/// process and pass it to every configuration load so pools and what is known about each
/// target survive reloads.
#[derive(Clone, Default)]
pub struct HttpClient {
    pools: Arc<Mutex<HashMap<PoolKey, Clients>>>,
    /// Held weakly: the snapshots hold the balancers, so an upstream no snapshot uses any
    /// more is dropped, and its discovery and health-check tasks end.
    balancers: Arc<Mutex<HashMap<String, Weak<Balancer>>>>,
    discovery: discovery::Discoverer,
}

impl std::fmt::Debug for HttpClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let pools = self.pools.lock().map(|p| p.len()).unwrap_or(0);
        f.debug_struct("HttpClient").field("pools", &pools).finish()
    }
}

impl HttpClient {
    pub fn new() -> Self {
        HttpClient::default()
    }

    /// Resolves the names of `[upstreams.NAME.discovery]` with `resolver` instead of the
    /// system's.
    pub fn resolving_with(self, resolver: Arc<dyn discovery::Resolver>) -> Self {
        HttpClient {
            discovery: self.discovery.with_resolver(resolver),
            ..self
        }
    }

    /// Counts failed discovery refreshes into `failures` (the metric family).
    pub fn counting_dns_failures(
        self,
        failures: prometheus_client::metrics::family::Family<
            discovery::FailureLabels,
            prometheus_client::metrics::counter::Counter,
        >,
    ) -> Self {
        HttpClient {
            discovery: self.discovery.with_failures(failures),
            ..self
        }
    }

    /// The clients for these settings, created on first use. Called at configuration load,
    /// never on the request path.
    fn pool(&self, key: PoolKey) -> Clients {
        let mut pools = match self.pools.lock() {
            Ok(p) => p,
            // A panic while holding this lock cannot leave the map half-updated.
            Err(poisoned) => poisoned.into_inner(),
        };
        pools
            .entry(key.clone())
            .or_insert_with(|| {
                let mut connector = HttpConnector::new();
                connector.set_nodelay(true);
                connector.set_connect_timeout(Some(key.connect_timeout));
                connector.set_keepalive(Some(TCP_KEEPALIVE));
                connector.enforce_http(false);
                // The material was checked when the upstream was compiled; the fallback
                // (Mozilla roots) is never used for an upstream whose material failed.
                let tls = key
                    .tls
                    .as_ref()
                    .and_then(|m| m.client_config().ok())
                    .unwrap_or_else(|| {
                        TlsMaterial::default()
                            .client_config()
                            .expect("the built-in roots make a client configuration")
                    });
                let connector = HttpsConnectorBuilder::new()
                    .with_tls_config(tls)
                    .https_or_http()
                    .with_server_name_resolver(tls::ServerNameOf::new(key.server_name.as_deref()))
                    .enable_all_versions()
                    .wrap_connector(unsent::WatchingConnector(connector));
                let mut builder = Client::builder(TokioExecutor::new());
                builder
                    .pool_timer(TokioTimer::new())
                    .timer(TokioTimer::new())
                    .pool_idle_timeout(key.pool_idle_timeout)
                    // A request handed back unsent is sent again here, once, on a new
                    // connection and counted (see `unsent`), not on the next pooled one.
                    .retry_canceled_requests(false);
                let pooled = builder
                    .clone()
                    .pool_max_idle_per_host(key.pool_max_idle)
                    .build(connector.clone());
                // No idle connections kept: every request opens its own.
                let fresh = builder.pool_max_idle_per_host(0).build(connector);
                Clients { pooled, fresh }
            })
            .clone()
    }

    /// The balancer of upstream `name`: the one of the previous configuration when its
    /// targets (or discovered name) and settings are unchanged (keeping their health), a
    /// new one otherwise. `fresh` is true for a new one.
    fn balancer(
        &self,
        name: &str,
        targets: Vec<Authority>,
        cfg: &balance::BalanceConfig,
        discovery: Option<discovery::Discovery>,
    ) -> (Arc<Balancer>, bool) {
        let mut map = match self.balancers.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        map.retain(|_, b| b.strong_count() > 0);
        let old = map.get(name).and_then(Weak::upgrade);
        if let Some(b) = &old
            && b.same(&targets, cfg, discovery.as_ref())
        {
            return (Arc::clone(b), false);
        }
        let b = Arc::new(match discovery {
            None => Balancer::new(targets, cfg.clone()),
            Some(d) => {
                // Other settings, same name: the addresses already found serve until the
                // new balancer's first answer.
                let known = old
                    .filter(|o| o.discovery().is_some_and(|od| od.name == d.name))
                    .map(|o| o.targets().iter().map(|t| t.authority.clone()).collect())
                    .unwrap_or_default();
                Balancer::discovered(d, known, cfg.clone())
            }
        });
        map.insert(name.to_string(), Arc::downgrade(&b));
        (b, true)
    }
}

/// The targets of upstream `name`: `targets` parsed as `host:port`, or `base`'s own
/// authority when there are none, or none yet when they are discovered.
pub fn upstream_targets(
    name: &str,
    base: &BaseUrl,
    cfg: &UpstreamConfig,
) -> Result<Vec<Authority>, UpstreamConfigError> {
    if cfg.targets.is_empty() {
        if cfg.discovery.is_some() {
            return Ok(Vec::new());
        }
        return Ok(vec![base.authority.clone()]);
    }
    cfg.targets
        .iter()
        .map(|t| {
            let bad = |reason: &str| UpstreamConfigError::InvalidTarget {
                upstream: name.to_string(),
                target: t.clone(),
                reason: reason.to_string(),
            };
            let a: Authority = t.parse().map_err(|_| bad("it is not host:port"))?;
            if a.as_str().contains('@') || a.host().is_empty() {
                return Err(bad("it is not host:port"));
            }
            match a.port_u16() {
                Some(1..) => Ok(a),
                _ => Err(bad("it needs a port number (1 to 65535)")),
            }
        })
        .collect()
}

/// A configured upstream URL that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamConfigError {
    #[error("upstream `{upstream}`: `{url}` is not a valid URL: {reason}")]
    InvalidUrl {
        upstream: String,
        url: String,
        reason: String,
    },
    #[error(
        "upstream `{upstream}`: scheme of `{url}` is not supported (only http:// and https:// upstreams are)"
    )]
    UnsupportedScheme { upstream: String, url: String },
    #[error("upstream `{upstream}`: {error}")]
    Tls {
        upstream: String,
        error: TlsConfigError,
    },
    #[error("upstream `{upstream}`: `{url}` must not carry a query or fragment")]
    QueryInBase { upstream: String, url: String },
    #[error("upstream `{upstream}`: target `{target}` cannot be used: {reason}")]
    InvalidTarget {
        upstream: String,
        target: String,
        reason: String,
    },
    /// `key` is below `[upstreams.NAME]`: `discovery` or `discovery.dns`, say.
    #[error("upstream `{upstream}`: {key}: {reason}")]
    InvalidDiscovery {
        upstream: String,
        key: &'static str,
        reason: String,
    },
}

/// One upstream service, ready to send to.
#[derive(Clone)]
pub struct Upstream {
    name: Arc<str>,
    base: Uri,
    scheme: Scheme,
    authority: Authority,
    host: HeaderValue,
    /// Base path without its trailing slash (`""` for the root).
    base_path: Arc<str>,
    request_timeout: Duration,
    max_response_bytes: usize,
    client: HyperClient,
    /// The pool-less client of the same settings (see [`Clients`]).
    fresh: HyperClient,
    balancer: Arc<Balancer>,
    /// Breaker and retry budget ([`guard`]), attached by the compile step.
    guard: Option<Arc<guard::Guard>>,
}

impl std::fmt::Debug for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upstream")
            .field("name", &self.name)
            .field("base", &self.base)
            .field("request_timeout", &self.request_timeout)
            .field("max_response_bytes", &self.max_response_bytes)
            .finish_non_exhaustive()
    }
}

/// A buffered upstream response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamResponse {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// Why an upstream exchange failed. Each variant names the upstream (for the operator's
/// log); [`UpstreamError::to_problem`] turns it into what the partner sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UpstreamError {
    /// No connection: refused, DNS failure, connect timeout.
    #[error("upstream `{upstream}`: cannot connect to {authority}: {reason}")]
    Connect {
        upstream: String,
        authority: String,
        reason: String,
    },
    /// The TLS handshake failed: the upstream's certificate or the handshake itself.
    #[error("upstream `{upstream}`: TLS handshake with {authority} failed: {reason}")]
    Tls {
        upstream: String,
        authority: String,
        failure: TlsFailure,
        reason: String,
    },
    /// No complete response (head and body) within the request deadline.
    #[error("upstream `{upstream}`: no complete response within {} ms", timeout.as_millis())]
    Timeout { upstream: String, timeout: Duration },
    /// The connection broke mid-exchange: reset, closed before the message was complete,
    /// or an unparsable response.
    #[error("upstream `{upstream}`: exchange failed: {reason}")]
    Io { upstream: String, reason: String },
    /// The response body exceeds the configured limit.
    #[error("upstream `{upstream}`: response body exceeds {limit} bytes")]
    TooLarge { upstream: String, limit: usize },
    /// The gateway built a request it cannot send (a path or header that is not valid HTTP):
    /// a gateway bug, not the upstream's fault.
    #[error("upstream `{upstream}`: cannot build the request: {reason}")]
    InvalidRequest { upstream: String, reason: String },
    /// The upstream's circuit breaker is open: the upstream was not called.
    #[error("upstream `{upstream}`: circuit open, not called")]
    CircuitOpen {
        upstream: String,
        retry_after: Duration,
    },
    /// A discovered upstream whose name has not resolved yet: no target to send to.
    #[error("upstream `{upstream}`: no address of `{name}` is known yet")]
    NoAddress { upstream: String, name: String },
}

impl UpstreamError {
    /// The name of the upstream involved.
    pub fn upstream(&self) -> &str {
        match self {
            UpstreamError::Connect { upstream, .. }
            | UpstreamError::Tls { upstream, .. }
            | UpstreamError::Timeout { upstream, .. }
            | UpstreamError::Io { upstream, .. }
            | UpstreamError::TooLarge { upstream, .. }
            | UpstreamError::InvalidRequest { upstream, .. }
            | UpstreamError::CircuitOpen { upstream, .. }
            | UpstreamError::NoAddress { upstream, .. } => upstream,
        }
    }

    /// Whether the target, not the request, is to blame (for passive health): no
    /// connection, a broken exchange, no answer in time.
    pub fn is_target_failure(&self) -> bool {
        matches!(
            self,
            UpstreamError::Connect { .. }
                | UpstreamError::Tls { .. }
                | UpstreamError::Timeout { .. }
                | UpstreamError::Io { .. }
        )
    }

    /// A short label for metrics (`upstream(service, outcome, ..)`).
    pub fn outcome(&self) -> &'static str {
        match self {
            UpstreamError::Connect { .. } => "connect_error",
            UpstreamError::Tls { .. } => "tls_error",
            UpstreamError::Timeout { .. } => "timeout",
            UpstreamError::Io { .. } => "io_error",
            UpstreamError::TooLarge { .. } => "too_large",
            UpstreamError::InvalidRequest { .. } => "invalid_request",
            UpstreamError::CircuitOpen { .. } => "circuit_open",
            UpstreamError::NoAddress { .. } => "no_address",
        }
    }

    /// The problem the partner gets: 504 for a timeout, 500 for a request the gateway could
    /// not build, 502 otherwise. The detail names no host or URL; the full error is in the
    /// problem's log detail.
    pub fn to_problem(&self) -> Problem {
        if let UpstreamError::CircuitOpen { retry_after, .. } = self {
            return breaker::CircuitOpen {
                retry_after: *retry_after,
            }
            .to_problem()
            .with_log(self.to_string());
        }
        if let UpstreamError::NoAddress { upstream, .. } = self {
            return Problem::new(
                ProblemKind::Unavailable,
                format!("No address of the service `{upstream}` is known yet; try again shortly."),
            )
            .with_log(self.to_string());
        }
        let (kind, detail) = match self {
            UpstreamError::Timeout { .. } => (
                ProblemKind::UpstreamTimeout,
                "The service behind this API did not answer in time.",
            ),
            UpstreamError::Connect { .. } => (
                ProblemKind::UpstreamError,
                "The service behind this API is not reachable.",
            ),
            UpstreamError::Tls { failure, .. } => (ProblemKind::UpstreamError, failure.detail()),
            UpstreamError::Io { .. } => (
                ProblemKind::UpstreamError,
                "The connection to the service behind this API failed.",
            ),
            UpstreamError::TooLarge { .. } => (
                ProblemKind::UpstreamError,
                "The service behind this API sent a response that is too large.",
            ),
            UpstreamError::InvalidRequest { .. }
            | UpstreamError::CircuitOpen { .. }
            | UpstreamError::NoAddress { .. } => (
                ProblemKind::Internal,
                "The gateway could not build the request for the service behind this API.",
            ),
        };
        Problem::new(kind, detail).with_log(self.to_string())
    }
}

/// An upstream's base URL, checked: the one set of URL rules `check`, `serve` and reload
/// apply (through [`crate::config::load`] and [`Upstream::new`]).
#[derive(Debug, Clone)]
pub struct BaseUrl {
    pub uri: Uri,
    pub scheme: Scheme,
    pub authority: Authority,
    /// The `Host` header upstream requests carry.
    pub host: HeaderValue,
    /// The base path without its trailing slash (`""` for the root).
    pub path: String,
}

impl BaseUrl {
    /// Checks `url`, the base URL of upstream `name`: http or https, a host, a port that
    /// fits 16 bits, no credentials, no query or fragment.
    pub fn parse(name: &str, url: &str) -> Result<BaseUrl, UpstreamConfigError> {
        // Errors show the URL without its credentials: they go to logs and terminals.
        let shown = without_userinfo(url);
        let invalid = |reason: &str| UpstreamConfigError::InvalidUrl {
            upstream: name.to_string(),
            url: shown.clone(),
            reason: reason.to_string(),
        };
        let uri: Uri = url
            .parse()
            .map_err(|e: http::uri::InvalidUri| invalid(&e.to_string()))?;
        let scheme = uri
            .scheme()
            .cloned()
            .ok_or_else(|| invalid("it has no scheme (write http://host:port)"))?;
        if scheme != Scheme::HTTP && scheme != Scheme::HTTPS {
            return Err(UpstreamConfigError::UnsupportedScheme {
                upstream: name.to_string(),
                url: shown.clone(),
            });
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| invalid("it has no host"))?;
        if authority.as_str().contains('@') {
            return Err(invalid(
                "credentials in the URL are not supported (send them as a header)",
            ));
        }
        if authority.host().is_empty() {
            return Err(invalid("it has no host"));
        }
        // `http` keeps a port it cannot read as 16 bits in the text only; the connector
        // would then fail on every request.
        let port = &authority.as_str()[authority.host().len()..];
        if let Some(port) = port.strip_prefix(':')
            && !port.is_empty()
            && !matches!(port.parse::<u16>(), Ok(1..))
        {
            return Err(invalid(&format!(
                "port `{port}` is not a port number (1 to 65535)"
            )));
        }
        if uri.query().is_some() || url.contains('#') {
            return Err(UpstreamConfigError::QueryInBase {
                upstream: name.to_string(),
                url: shown.clone(),
            });
        }
        let host =
            HeaderValue::from_str(authority.as_str()).map_err(|e| invalid(&e.to_string()))?;
        let path = uri.path().trim_end_matches('/').to_string();
        Ok(BaseUrl {
            uri,
            scheme,
            authority,
            host,
            path,
        })
    }
}

/// The TLS material of an upstream: read for `https://`, refused for `http://` (where it
/// would silently not apply).
pub fn upstream_tls(
    name: &str,
    base: &BaseUrl,
    cfg: &UpstreamConfig,
) -> Result<Option<TlsMaterial>, UpstreamConfigError> {
    let tls_error = |error| UpstreamConfigError::Tls {
        upstream: name.to_string(),
        error,
    };
    if base.scheme == Scheme::HTTPS {
        TlsMaterial::load(&cfg.tls).map(Some).map_err(tls_error)
    } else if cfg.tls.is_default() {
        Ok(None)
    } else {
        Err(tls_error(TlsConfigError::NotHttps))
    }
}

/// `url` with the user information of its authority (`user:password@`) written `…@`.
fn without_userinfo(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}://…{}", &rest[at..]),
        None => url.to_string(),
    }
}

impl Upstream {
    /// Compiles one `[upstreams.NAME]` entry. The response-size limit comes from `limits`.
    pub fn new(
        name: &str,
        cfg: &UpstreamConfig,
        limits: &LimitsConfig,
        client: &HttpClient,
    ) -> Result<Upstream, UpstreamConfigError> {
        let base = BaseUrl::parse(name, &cfg.url)?;
        let tls = upstream_tls(name, &base, cfg)?;
        let targets = upstream_targets(name, &base, cfg)?;
        let discovery = discovery::compile(name, cfg)?;
        let own_host = targets.len() == 1 && targets[0] == base.authority;
        let key = PoolKey {
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms),
            pool_max_idle: cfg.pool_max_idle,
            pool_idle_timeout: Duration::from_millis(cfg.pool_idle_timeout_ms),
            server_name: (tls.is_some() && !own_host).then(|| base.authority.host().to_string()),
            tls,
        };
        let (balancer, fresh) = client.balancer(name, targets, &cfg.balance, discovery);
        let clients = client.pool(key);
        let upstream = Upstream {
            name: Arc::from(name),
            base_path: Arc::from(base.path.as_str()),
            base: base.uri,
            scheme: base.scheme,
            authority: base.authority,
            host: base.host,
            request_timeout: Duration::from_millis(cfg.request_timeout_ms),
            max_response_bytes: limits.max_response_bytes,
            client: clients.pooled,
            fresh: clients.fresh,
            balancer,
            guard: None,
        };
        if fresh {
            upstream.start_health_checks();
            client.discovery.start(name, &upstream.balancer);
        }
        Ok(upstream)
    }

    /// Starts the active health checks of a new balancer, when configured and when there
    /// is a runtime to run them (`check` has none and needs none). They stop when the
    /// balancer is dropped.
    fn start_health_checks(&self) {
        let cfg = self.balancer.config();
        let (Some(path), Ok(handle)) = (
            cfg.health_check_path.clone(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        let interval = Duration::from_millis(cfg.health_check_interval_ms);
        let timeout = Duration::from_millis(cfg.health_check_timeout_ms);
        let weak = Arc::downgrade(&self.balancer);
        // The probe never picks a target: its copy holds an empty balancer, so the task
        // holds the real one only weakly and ends with it.
        let mut this = self.clone();
        this.balancer = Arc::new(Balancer::new(Vec::new(), cfg.clone()));
        handle.spawn(async move {
            let probe = |authority: Authority| {
                let this = this.clone();
                let path = path.clone();
                async move { this.probe(&authority, &path, timeout).await }
            };
            balance::health_checks(weak, interval, probe).await;
        });
    }

    /// One active health check: GET `path` on `authority`, healthy on any 2xx in time.
    async fn probe(&self, authority: &Authority, path: &str, timeout: Duration) -> bool {
        let Ok(uri) = self.uri_at(authority, path) else {
            return false;
        };
        let mut req = http::Request::new(Either::Left(Full::new(Bytes::new())));
        *req.uri_mut() = uri;
        req.headers_mut().insert(HOST, self.host.clone());
        match tokio::time::timeout(timeout, self.dispatch(req)).await {
            Ok(Ok(resp)) => {
                let ok = resp.status().is_success();
                // Read the (small) body so the connection goes back to the pool.
                let _ = tokio::time::timeout(timeout, resp.into_body().collect()).await;
                ok
            }
            _ => false,
        }
    }

    /// The upstream's targets and their state (for tests and the admin status).
    pub fn balancer(&self) -> &Arc<Balancer> {
        &self.balancer
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The configured base URL (for the operator: logs, admin status; never for partners).
    pub fn base(&self) -> &Uri {
        &self.base
    }

    pub fn request_timeout(&self) -> Duration {
        self.request_timeout
    }

    pub fn max_response_bytes(&self) -> usize {
        self.max_response_bytes
    }

    /// The URI a request for `path_and_query` goes to on the URL's own host: the base path
    /// joined with it.
    pub fn uri_for(&self, path_and_query: &str) -> Result<Uri, UpstreamError> {
        self.uri_at(&self.authority, path_and_query)
    }

    /// [`Upstream::uri_for`] on target `authority`.
    fn uri_at(&self, authority: &Authority, path_and_query: &str) -> Result<Uri, UpstreamError> {
        let rel = path_and_query.strip_prefix('/').unwrap_or(path_and_query);
        // Joined by hand: `format!` goes through the formatting machinery, on every call.
        let mut joined = String::with_capacity(self.base_path.len() + 1 + rel.len());
        joined.push_str(&self.base_path);
        joined.push('/');
        joined.push_str(rel);
        let pq = PathAndQuery::try_from(joined).map_err(|e| self.invalid_request(e.to_string()))?;
        let mut parts = http::uri::Parts::default();
        parts.scheme = Some(self.scheme.clone());
        parts.authority = Some(authority.clone());
        parts.path_and_query = Some(pq);
        Uri::from_parts(parts).map_err(|e| self.invalid_request(e.to_string()))
    }

    /// Sends one request and reads the whole response. `headers` should already be cleaned
    /// (see [`crate::edge::headers`]); `Host`, `Content-Length` and `Transfer-Encoding` are
    /// set here from the upstream and the body. The request deadline covers connecting,
    /// the response head and the whole body.
    pub fn send<'s>(
        &'s self,
        method: Method,
        path_and_query: &'s str,
        headers: HeaderMap,
        body: Bytes,
    ) -> impl Future<Output = Result<UpstreamResponse, UpstreamError>> + Send + 's {
        self.send_within(method, path_and_query, headers, body, self.request_timeout)
    }

    /// [`Upstream::send`] bounded by `timeout` instead of the upstream's own request
    /// timeout: a caller with a shorter bound of its own (an aggregate's call) needs no
    /// second timer around this one.
    pub async fn send_within(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let pick = self.pick()?;
        let uri = self.uri_at(
            pick.request_authority(self.scheme == Scheme::HTTPS),
            path_and_query,
        )?;
        headers.remove(CONTENT_LENGTH);
        headers.remove(TRANSFER_ENCODING);
        headers.insert(HOST, self.host.clone());
        // A HEAD response announces the length of a body it does not carry.
        let expects_body = method != Method::HEAD;
        let mut req = http::Request::new(Either::Left(Full::new(body)));
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;

        let result = match tokio::time::timeout(timeout, self.exchange(req, expects_body)).await {
            Ok(result) => result,
            Err(_) => Err(UpstreamError::Timeout {
                upstream: self.name.to_string(),
                timeout,
            }),
        };
        pick.record(match &result {
            Ok(r) => !target_failed(r.status),
            Err(e) => !e.is_target_failure(),
        });
        result
    }

    /// Sends one request whose body streams, and returns the response as soon as its head
    /// arrives, its body unread, with the target it came from (held until the body is done,
    /// for least-requests). The deadline covers connecting and the response head; the
    /// caller bounds the body. `headers` should already be cleaned; `Host` is set here,
    /// `Content-Length` and `Transfer-Encoding` follow from the body.
    pub async fn send_stream(
        &self,
        method: Method,
        path_and_query: &str,
        mut headers: HeaderMap,
        body: UpstreamBody,
    ) -> Result<(http::Response<Incoming>, Pick), UpstreamError> {
        let pick = self.pick()?;
        let uri = self.uri_at(
            pick.request_authority(self.scheme == Scheme::HTTPS),
            path_and_query,
        )?;
        headers.remove(CONTENT_LENGTH);
        headers.remove(TRANSFER_ENCODING);
        headers.insert(HOST, self.host.clone());
        let mut req = http::Request::new(body);
        *req.method_mut() = method;
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        let result = match tokio::time::timeout(self.request_timeout, self.dispatch(req)).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => Err(self.classify(&e)),
            Err(_) => Err(self.timeout()),
        };
        pick.record(match &result {
            Ok(r) => !target_failed(r.status()),
            Err(e) => !e.is_target_failure(),
        });
        result.map(|r| (r, pick))
    }

    /// The target of the next exchange, or the 503 of a discovered upstream that has none
    /// yet.
    fn pick(&self) -> Result<Pick, UpstreamError> {
        self.balancer
            .pick()
            .ok_or_else(|| UpstreamError::NoAddress {
                upstream: self.name.to_string(),
                name: self
                    .balancer
                    .discovery()
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
            })
    }

    fn timeout(&self) -> UpstreamError {
        UpstreamError::Timeout {
            upstream: self.name.to_string(),
            timeout: self.request_timeout,
        }
    }

    async fn exchange(
        &self,
        req: http::Request<UpstreamBody>,
        expects_body: bool,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let resp = self.dispatch(req).await.map_err(|e| self.classify(&e))?;
        let (parts, mut body) = resp.into_parts();

        let declared = parts
            .headers
            .get(CONTENT_LENGTH)
            .filter(|_| expects_body)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        if declared.is_some_and(|n| n > self.max_response_bytes as u64) {
            return Err(self.too_large());
        }
        let initial = declared.map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX));
        let mut buf = BytesMut::with_capacity(initial.min(MAX_INITIAL_BODY_CAPACITY));
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| UpstreamError::Io {
                upstream: self.name.to_string(),
                reason: error_chain(&e),
            })?;
            if let Ok(data) = frame.into_data() {
                if buf.len().saturating_add(data.len()) > self.max_response_bytes {
                    return Err(self.too_large());
                }
                buf.extend_from_slice(&data);
            }
        }
        Ok(UpstreamResponse {
            status: parts.status,
            headers: parts.headers,
            body: buf.freeze(),
        })
    }

    /// One request through the pool; when hyper hands it back unsent ([`unsent`]), once
    /// more on a new connection, whatever its method: the upstream cannot have seen it.
    /// Every other failure is the caller's to judge.
    async fn dispatch(
        &self,
        req: http::Request<UpstreamBody>,
    ) -> Result<http::Response<Incoming>, hyper_util::client::legacy::Error> {
        let (parts, body) = req.into_parts();
        let (body, spare) = unsent::keep(body);
        // hyper drops a request it hands back: its head is kept here for the second send.
        let head = (
            parts.method.clone(),
            parts.uri.clone(),
            parts.headers.clone(),
        );
        let first = self
            .client
            .request(http::Request::from_parts(parts, body))
            .await;
        let error = match first {
            Err(e) if unsent::was_unsent(&e) => e,
            other => return other,
        };
        let Some(body) = spare.take() else {
            return Err(error);
        };
        if let Some(guard) = &self.guard {
            guard.resent.fetch_add(1, Ordering::Relaxed);
        }
        tracing::debug!(
            upstream = %self.name,
            "a pooled connection was closed before the request was written; sending it on a new connection"
        );
        let (method, uri, headers) = head;
        let mut again = http::Request::new(body);
        *again.method_mut() = method;
        *again.uri_mut() = uri;
        *again.headers_mut() = headers;
        self.fresh.request(again).await
    }

    fn classify(&self, e: &hyper_util::client::legacy::Error) -> UpstreamError {
        if let Some(failure) = TlsFailure::of(e) {
            UpstreamError::Tls {
                upstream: self.name.to_string(),
                authority: self.authority.to_string(),
                failure,
                reason: error_chain(e),
            }
        } else if e.is_connect() {
            UpstreamError::Connect {
                upstream: self.name.to_string(),
                authority: self.authority.to_string(),
                reason: error_chain(e),
            }
        } else {
            UpstreamError::Io {
                upstream: self.name.to_string(),
                reason: error_chain(e),
            }
        }
    }

    fn too_large(&self) -> UpstreamError {
        UpstreamError::TooLarge {
            upstream: self.name.to_string(),
            limit: self.max_response_bytes,
        }
    }

    fn invalid_request(&self, reason: String) -> UpstreamError {
        UpstreamError::InvalidRequest {
            upstream: self.name.to_string(),
            reason,
        }
    }
}

/// Whether an answer counts against its target's health: the gateway statuses that say
/// the target could not serve (RFC 9110 §15.6.3-15.6.5).
fn target_failed(status: StatusCode) -> bool {
    matches!(status.as_u16(), 502..=504)
}

/// An error and its causes on one line, for the operator's log.
pub(crate) fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.ends_with(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    fn cfg(url: &str) -> UpstreamConfig {
        UpstreamConfig {
            url: url.to_string(),
            connect_timeout_ms: 2_000,
            request_timeout_ms: 5_000,
            pool_max_idle: 8,
            pool_idle_timeout_ms: 60_000,
            tls: Default::default(),
            targets: Vec::new(),
            discovery: None,
            balance: Default::default(),
            circuit_breaker: None,
        }
    }

    fn upstream(url: &str) -> Upstream {
        Upstream::new(
            "orders",
            &cfg(url),
            &LimitsConfig::default(),
            &HttpClient::new(),
        )
        .unwrap()
    }

    /// Reads one request head (and a body of `Content-Length` bytes) from a raw socket.
    async fn read_request(s: &mut TcpStream) -> Option<String> {
        let mut buf = Vec::new();
        let mut byte = [0u8; 1];
        while !buf.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).await.ok()? == 0 {
                return None;
            }
            buf.push(byte[0]);
        }
        let head = String::from_utf8(buf).ok()?;
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await.ok()?;
        Some(head + &String::from_utf8(body).ok()?)
    }

    /// A raw server: for each connection, `respond` gets the socket after each request.
    async fn raw_server<F, Fut>(respond: F) -> (SocketAddr, Arc<AtomicUsize>)
    where
        F: Fn(TcpStream, String) -> Fut + Send + Sync + Clone + 'static,
        Fut: std::future::Future<Output = Option<TcpStream>> + Send,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let conns = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&conns);
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let respond = respond.clone();
                tokio::spawn(async move {
                    while let Some(req) = read_request(&mut s).await {
                        match respond(s, req).await {
                            Some(next) => s = next,
                            None => return,
                        }
                    }
                });
            }
        });
        (addr, conns)
    }

    #[tokio::test]
    async fn success_returns_status_headers_and_body_and_reuses_the_connection() {
        let seen = Arc::new(Mutex::new(Vec::<String>::new()));
        let log = Arc::clone(&seen);
        let (addr, conns) = raw_server(move |mut s, req| {
            let log = Arc::clone(&log);
            async move {
                log.lock().unwrap().push(req);
                s.write_all(b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}")
                    .await
                    .ok()?;
                Some(s)
            }
        })
        .await;
        let up = upstream(&format!("http://{addr}/api/"));
        for _ in 0..3 {
            let mut h = HeaderMap::new();
            h.insert("x-correlation-id", HeaderValue::from_static("c-1"));
            h.insert(HOST, HeaderValue::from_static("partner.example"));
            let resp = up
                .send(
                    Method::POST,
                    "/orders?x=1",
                    h,
                    Bytes::from_static(b"{\"a\":1}"),
                )
                .await
                .unwrap();
            assert_eq!(resp.status, StatusCode::CREATED);
            assert_eq!(resp.body, Bytes::from_static(b"{\"ok\":true}"));
            assert_eq!(resp.headers["content-type"], "application/json");
        }
        assert_eq!(conns.load(Ordering::SeqCst), 1, "keep-alive reuse");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 3);
        assert_eq!(
            seen[0],
            format!(
                "POST /api/orders?x=1 HTTP/1.1\r\nx-correlation-id: c-1\r\nhost: {addr}\r\ncontent-length: 7\r\n\r\n{{\"a\":1}}"
            )
        );
    }

    #[tokio::test]
    async fn refused_port_is_connect_error() {
        // Bind and drop to get a port nobody listens on.
        let addr = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap();
        let up = upstream(&format!("http://{addr}"));
        let err = up
            .send(Method::GET, "/x", HeaderMap::new(), Bytes::new())
            .await
            .unwrap_err();
        let UpstreamError::Connect {
            upstream,
            authority,
            reason,
        } = &err
        else {
            panic!("expected Connect, got {err:?}");
        };
        assert_eq!(upstream, "orders");
        assert_eq!(authority, &addr.to_string());
        assert!(
            reason.ends_with("Connection refused (os error 111)"),
            "{reason}"
        );
        let p = err.to_problem();
        assert_eq!(p.kind, ProblemKind::UpstreamError);
        assert_eq!(p.status, StatusCode::BAD_GATEWAY);
        assert_eq!(p.detail, "The service behind this API is not reachable.");
        assert!(!p.detail.contains("127.0.0.1"));
        assert!(p.log_detail.unwrap().contains(&addr.to_string()));
    }

    #[tokio::test]
    async fn silent_server_is_timeout() {
        let (addr, _) = raw_server(|s, _req| async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Some(s)
        })
        .await;
        let mut c = cfg(&format!("http://{addr}"));
        c.request_timeout_ms = 200;
        let up = Upstream::new("slow", &c, &LimitsConfig::default(), &HttpClient::new()).unwrap();
        let started = std::time::Instant::now();
        let err = up
            .send(Method::GET, "/", HeaderMap::new(), Bytes::new())
            .await
            .unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(5));
        assert_eq!(
            err,
            UpstreamError::Timeout {
                upstream: "slow".into(),
                timeout: Duration::from_millis(200)
            }
        );
        assert_eq!(
            err.to_string(),
            "upstream `slow`: no complete response within 200 ms"
        );
        let p = err.to_problem();
        assert_eq!(p.status, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(p.kind, ProblemKind::UpstreamTimeout);
    }

    #[tokio::test]
    async fn reset_mid_body_is_io_error() {
        let (addr, _) = raw_server(|mut s, _req| async move {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                .await
                .ok()?;
            // Linger 0 turns the close into a reset.
            s.set_zero_linger().ok()?;
            drop(s);
            None
        })
        .await;
        let err = upstream(&format!("http://{addr}"))
            .send(Method::GET, "/", HeaderMap::new(), Bytes::new())
            .await
            .unwrap_err();
        // Whether the reset arrives while hyper reads the head or the body is up to the
        // scheduler; either way it is an `Io` error that names the reset.
        let UpstreamError::Io { upstream, reason } = &err else {
            panic!("expected Io, got {err:?}");
        };
        assert_eq!(upstream, "orders");
        assert!(
            reason.ends_with("Connection reset by peer (os error 104)"),
            "{reason}"
        );
        assert_eq!(err.to_problem().status, StatusCode::BAD_GATEWAY);
    }

    #[tokio::test]
    async fn close_mid_body_is_io_error() {
        let (addr, _) = raw_server(|mut s, _req| async move {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial")
                .await
                .ok()?;
            None
        })
        .await;
        let err = upstream(&format!("http://{addr}"))
            .send(Method::GET, "/", HeaderMap::new(), Bytes::new())
            .await
            .unwrap_err();
        let UpstreamError::Io { reason, .. } = &err else {
            panic!("expected Io, got {err:?}");
        };
        assert_eq!(
            reason,
            "error reading a body from connection: end of file before message length reached"
        );
    }

    #[tokio::test]
    async fn oversized_body_is_too_large_declared_or_chunked() {
        let (addr, _) = raw_server(|mut s, req| async move {
            if req.starts_with("GET /declared") {
                s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2000\r\n\r\n")
                    .await
                    .ok()?;
                s.write_all(&[b'x'; 2000]).await.ok()?;
            } else {
                s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
                    .await
                    .ok()?;
                for _ in 0..4 {
                    s.write_all(b"200\r\n").await.ok()?;
                    s.write_all(&[b'y'; 0x200]).await.ok()?;
                    s.write_all(b"\r\n").await.ok()?;
                }
                s.write_all(b"0\r\n\r\n").await.ok()?;
            }
            Some(s)
        })
        .await;
        let limits = LimitsConfig {
            max_response_bytes: 1024,
            ..LimitsConfig::default()
        };
        let up = Upstream::new(
            "big",
            &cfg(&format!("http://{addr}")),
            &limits,
            &HttpClient::new(),
        )
        .unwrap();
        for path in ["/declared", "/chunked"] {
            let err = up
                .send(Method::GET, path, HeaderMap::new(), Bytes::new())
                .await
                .unwrap_err();
            assert_eq!(
                err,
                UpstreamError::TooLarge {
                    upstream: "big".into(),
                    limit: 1024
                }
            );
        }
    }

    #[tokio::test]
    async fn head_response_length_is_not_a_body() {
        let (addr, _) = raw_server(|mut s, _req| async move {
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5000\r\n\r\n")
                .await
                .ok()?;
            Some(s)
        })
        .await;
        let limits = LimitsConfig {
            max_response_bytes: 1024,
            ..LimitsConfig::default()
        };
        let up = Upstream::new(
            "h",
            &cfg(&format!("http://{addr}")),
            &limits,
            &HttpClient::new(),
        )
        .unwrap();
        let resp = up
            .send(Method::HEAD, "/", HeaderMap::new(), Bytes::new())
            .await
            .unwrap();
        assert_eq!(resp.status, StatusCode::OK);
        assert_eq!(resp.headers["content-length"], "5000");
        assert_eq!(resp.body, Bytes::new());
    }

    #[test]
    fn base_url_errors_name_the_upstream() {
        let c = HttpClient::new();
        let l = LimitsConfig::default();
        assert_eq!(
            Upstream::new("pay", &cfg("ftp://pay.internal"), &l, &c).unwrap_err(),
            UpstreamConfigError::UnsupportedScheme {
                upstream: "pay".into(),
                url: "ftp://pay.internal".into()
            }
        );
        assert_eq!(
            Upstream::new("pay", &cfg("http://pay.internal/x?y=1"), &l, &c).unwrap_err(),
            UpstreamConfigError::QueryInBase {
                upstream: "pay".into(),
                url: "http://pay.internal/x?y=1".into()
            }
        );
        let err = Upstream::new("pay", &cfg("pay internal"), &l, &c).unwrap_err();
        assert!(
            matches!(&err, UpstreamConfigError::InvalidUrl { upstream, .. } if upstream == "pay")
        );
        let err = Upstream::new("pay", &cfg("/just/a/path"), &l, &c).unwrap_err();
        assert_eq!(
            err.to_string(),
            "upstream `pay`: `/just/a/path` is not a valid URL: it has no scheme (write http://host:port)"
        );
        let refused = |url: &str| BaseUrl::parse("pay", url).unwrap_err().to_string();
        assert_eq!(
            refused("http://127.0.0.1:84837"),
            "upstream `pay`: `http://127.0.0.1:84837` is not a valid URL: port `84837` is not a port number (1 to 65535)"
        );
        assert_eq!(
            refused("http://[::1]:0/x"),
            "upstream `pay`: `http://[::1]:0/x` is not a valid URL: port `0` is not a port number (1 to 65535)"
        );
        assert_eq!(
            refused("http://admin:hunter2@pay:80/v1"),
            "upstream `pay`: `http://…@pay:80/v1` is not a valid URL: credentials in the URL are not supported (send them as a header)"
        );
        assert_eq!(
            refused("http://pay/v1#top"),
            "upstream `pay`: `http://pay/v1#top` must not carry a query or fragment"
        );
        for good in ["http://pay", "http://pay:65535/", "http://[::1]:8080/v1/"] {
            assert!(BaseUrl::parse("pay", good).is_ok(), "{good}");
        }
        assert_eq!(
            BaseUrl::parse("pay", "http://[::1]:8080/v1/").unwrap().path,
            "/v1"
        );
    }

    #[test]
    fn paths_join_onto_the_base_path() {
        let at = |base: &str, p: &str| upstream(base).uri_for(p).unwrap().to_string();
        assert_eq!(at("http://h:1", "/orders"), "http://h:1/orders");
        assert_eq!(at("http://h:1/", "/orders?a=b"), "http://h:1/orders?a=b");
        assert_eq!(
            at("http://h:1/api/v1/", "/orders/7"),
            "http://h:1/api/v1/orders/7"
        );
        assert_eq!(at("http://h:1/api", "orders"), "http://h:1/api/orders");
        assert_eq!(at("http://h:1/api", ""), "http://h:1/api/");
        assert!(matches!(
            upstream("http://h:1").uri_for("/a b"),
            Err(UpstreamError::InvalidRequest { .. })
        ));
    }

    #[test]
    fn upstreams_with_the_same_pool_settings_share_a_pool() {
        let c = HttpClient::new();
        let l = LimitsConfig::default();
        Upstream::new("a", &cfg("http://a:1"), &l, &c).unwrap();
        Upstream::new("b", &cfg("http://b:1"), &l, &c).unwrap();
        let mut other = cfg("http://c:1");
        other.connect_timeout_ms = 100;
        Upstream::new("c", &other, &l, &c).unwrap();
        assert_eq!(c.pools.lock().unwrap().len(), 2);
    }

    #[test]
    fn target_state_survives_a_reload_that_keeps_the_targets() {
        let client = HttpClient::new();
        let limits = LimitsConfig::default();
        let mut c = cfg("http://orders.internal:8080");
        c.targets = vec!["10.0.0.1:8080".into(), "10.0.0.2:8080".into()];
        let first = Upstream::new("orders", &c, &limits, &client).unwrap();
        first.balancer().record(1, false);
        let again = Upstream::new("orders", &c, &limits, &client).unwrap();
        assert!(Arc::ptr_eq(first.balancer(), again.balancer()));
        c.targets.push("10.0.0.3:8080".into());
        let changed = Upstream::new("orders", &c, &limits, &client).unwrap();
        assert!(!Arc::ptr_eq(first.balancer(), changed.balancer()));
        let authorities: Vec<String> = changed
            .balancer()
            .targets()
            .iter()
            .map(|t| t.authority.to_string())
            .collect();
        assert_eq!(
            authorities,
            ["10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080"]
        );
    }

    #[tokio::test]
    async fn dropping_an_upstream_ends_its_background_tasks() {
        let client = HttpClient::new();
        let mut c = cfg("http://orders.internal:8080");
        c.balance.health_check_path = Some("/health".into());
        c.discovery = Some(discovery::DiscoveryConfig {
            dns: "localhost:8080".into(),
            refresh_ms: 10,
            timeout_ms: 1_000,
        });
        let up = Upstream::new("orders", &c, &LimitsConfig::default(), &client).unwrap();
        let weak = Arc::downgrade(up.balancer());
        tokio::time::sleep(Duration::from_millis(30)).await;
        assert!(weak.upgrade().is_some());
        // Neither the health checks nor the discovery hold the balancer.
        drop(up);
        assert!(weak.upgrade().is_none());
    }

    #[test]
    fn targets_must_be_host_and_port() {
        let base = BaseUrl::parse("o", "http://orders.internal").unwrap();
        let mut c = cfg("http://orders.internal");
        assert_eq!(
            upstream_targets("o", &base, &c).unwrap(),
            vec![Authority::from_static("orders.internal")]
        );
        for bad in ["10.0.0.1", "a b:80", "user@h:80", "h:0", "h:99999", ""] {
            c.targets = vec![bad.into()];
            assert!(
                matches!(
                    upstream_targets("o", &base, &c),
                    Err(UpstreamConfigError::InvalidTarget { .. })
                ),
                "{bad}"
            );
        }
    }

    /// A blocking upstream on a thread of its own, outside the test's runtime, so a test
    /// can hold that runtime still while the upstream closes a connection. Each step is
    /// one accepted connection's script; every request it reads is recorded as
    /// (connection number, body).
    struct ThreadUpstream {
        addr: SocketAddr,
        seen: Arc<Mutex<Vec<(usize, String)>>>,
        /// Tells the upstream to go on where a step waits.
        go: std::sync::mpsc::Sender<()>,
        listener: std::net::TcpListener,
    }

    #[derive(Clone, Copy)]
    enum Step {
        /// Answers one request, waits for `go`, then closes the idle connection.
        AnswerThenCloseIdle,
        /// Answers one request, then reads the next and closes without answering.
        AnswerThenDropNext,
        /// Answers one request and closes after the client does.
        Answer,
    }

    fn read_blocking(s: &mut std::net::TcpStream) -> Option<String> {
        use std::io::Read as _;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            if s.read(&mut byte).ok()? == 0 {
                return None;
            }
            head.push(byte[0]);
        }
        let head = String::from_utf8(head).ok()?;
        let len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).ok()?;
        String::from_utf8(body).ok()
    }

    fn thread_upstream(steps: Vec<Step>) -> ThreadUpstream {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let accepting = listener.try_clone().unwrap();
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for (n, step) in steps.into_iter().enumerate() {
                let Ok((mut s, _)) = accepting.accept() else {
                    return;
                };
                let Some(body) = read_blocking(&mut s) else {
                    return;
                };
                log.lock().unwrap().push((n + 1, body));
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nconn {}", n + 1);
                if s.write_all(answer.as_bytes()).is_err() {
                    return;
                }
                match step {
                    Step::AnswerThenCloseIdle => {
                        let _ = wait.recv();
                        drop(s);
                    }
                    Step::AnswerThenDropNext => {
                        if let Some(body) = read_blocking(&mut s) {
                            log.lock().unwrap().push((n + 1, body));
                        }
                        drop(s);
                    }
                    Step::Answer => while read_blocking(&mut s).is_some() {},
                }
            }
        });
        ThreadUpstream {
            addr,
            seen,
            go,
            listener,
        }
    }

    fn guarded(addr: SocketAddr) -> Upstream {
        upstream(&format!("http://{addr}"))
            .with_guard(guard::Guards::default().guard("orders", None, 20, 10))
    }

    fn resent(up: &Upstream) -> u64 {
        up.guard.as_ref().unwrap().resent.load(Ordering::SeqCst)
    }

    fn streamed(text: &'static str) -> UpstreamBody {
        Either::Right(
            Full::new(Bytes::from_static(text.as_bytes()))
                .map_err(|never| match never {})
                .boxed_unsync(),
        )
    }

    /// The upstream closes the idle pooled connection while the runtime is held still, so
    /// the event loop has not reported the close when the next request picks the
    /// connection: the request is handed back unsent and goes again on a new connection,
    /// POST or not, whole or streamed, and is counted.
    #[tokio::test]
    async fn a_request_on_a_connection_closed_while_idle_goes_again_on_a_new_one() {
        for stream in [false, true] {
            let up_srv = thread_upstream(vec![Step::AnswerThenCloseIdle, Step::Answer]);
            let up = guarded(up_srv.addr);
            let first = up
                .send(
                    Method::POST,
                    "/a",
                    HeaderMap::new(),
                    Bytes::from_static(b"first"),
                )
                .await
                .unwrap();
            assert_eq!(first.body, "conn 1");
            // The connection goes back to the pool, idle, its socket read dry.
            tokio::time::sleep(Duration::from_millis(50)).await;
            up_srv.go.send(()).unwrap();
            // Blocks the runtime's only thread: the close reaches the socket, not the
            // event loop.
            std::thread::sleep(Duration::from_millis(200));
            let second = if stream {
                let (resp, _pick) = up
                    .send_stream(Method::POST, "/b", HeaderMap::new(), streamed("second"))
                    .await
                    .unwrap();
                resp.into_body().collect().await.unwrap().to_bytes()
            } else {
                up.send(
                    Method::POST,
                    "/b",
                    HeaderMap::new(),
                    Bytes::from_static(b"second"),
                )
                .await
                .unwrap()
                .body
            };
            assert_eq!(second, "conn 2", "streamed: {stream}");
            assert_eq!(
                *up_srv.seen.lock().unwrap(),
                [(1, "first".to_string()), (2, "second".to_string())],
                "streamed: {stream}"
            );
            assert_eq!(resent(&up), 1, "streamed: {stream}");
        }
    }

    /// A request the upstream read before closing is not sent again: a POST gets the
    /// broken exchange, and no new connection is opened.
    #[tokio::test]
    async fn a_request_the_upstream_read_and_dropped_is_not_sent_again() {
        let up_srv = thread_upstream(vec![Step::AnswerThenDropNext, Step::Answer]);
        let up = guarded(up_srv.addr);
        let first = up
            .send(
                Method::POST,
                "/a",
                HeaderMap::new(),
                Bytes::from_static(b"first"),
            )
            .await
            .unwrap();
        assert_eq!(first.body, "conn 1");
        let err = up
            .send(
                Method::POST,
                "/b",
                HeaderMap::new(),
                Bytes::from_static(b"second"),
            )
            .await
            .unwrap_err();
        assert_eq!(
            err,
            UpstreamError::Io {
                upstream: "orders".into(),
                reason: "client error (SendRequest): connection closed before message completed"
                    .into()
            }
        );
        assert_eq!(
            *up_srv.seen.lock().unwrap(),
            [(1, "first".to_string()), (1, "second".to_string())]
        );
        assert_eq!(resent(&up), 0);
        up_srv.listener.set_nonblocking(true).unwrap();
        assert_eq!(
            up_srv.listener.accept().map(|_| ()).unwrap_err().kind(),
            std::io::ErrorKind::WouldBlock,
            "no second connection"
        );
    }

    #[test]
    fn only_a_canceled_request_was_unsent() {
        // hyper's own errors cannot be built outside hyper; a connect failure is not one.
        let io = std::io::Error::other("connection refused");
        assert!(!unsent::was_unsent(&io));
    }
}
