//! Logging and metrics.
//!
//! Submodules: [`process`] reads the process's own resources at scrape time,
//! [`capacity`] the memory budget, failed accepts and the connection cap, and
//! [`exposition`] picks and writes the text format a scraper asked for.
//!
//! Logging is `tracing` with one global subscriber: human-readable text or JSON lines (one
//! object per event) on stderr, so stdout stays free for commands that print results.
//! Metrics are Prometheus counters and histograms kept in a [`Metrics`] value the server
//! shares. A partner request records through [`RouteMetrics`] and [`ServiceMetrics`]
//! handles resolved once per configuration snapshot: atomic adds, no label set built or hashed
//! per request. Rare series (errors, unmatched requests) go through the label families.
//!
//! Every label value comes from the configuration or from a fixed list, never from the
//! request as sent: a client choosing its own method token must not be able to add series
//! (each one is kept for the life of the process and rendered on every scrape). Methods are
//! reduced by [`method_label`], route names outside the configuration become
//! [`UNMATCHED_ROUTE`], and outcomes and failure kinds are `&'static str`, chosen by code.

use std::collections::HashSet;
use std::sync::RwLock;
use std::sync::atomic::AtomicU64;
use std::time::{SystemTime, UNIX_EPOCH};

pub mod capacity;
pub mod exposition;
pub mod process;
pub mod traces;
pub mod traffic;

pub use exposition::Format;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;
use tracing_subscriber::EnvFilter;

use crate::config::file::{LogFormat, LoggingConfig};

/// Latency buckets in seconds, 100 µs to 10 s: a transforming request costs tens of
/// microseconds in the gateway and milliseconds upstream, and upstream deadlines are
/// seconds, so the buckets are dense at the low end and still tell a 5 s stall from a
/// 10 s one.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The filter used when neither `RUST_LOG` nor the configured level parses.
pub const FALLBACK_LOG_LEVEL: &str = "info";

/// The filter for a configured level, e.g. `info` or `schemagate=debug,info`; exposed so
/// `check` can report a bad level before `serve` starts.
pub fn log_filter(level: &str) -> Result<EnvFilter, tracing_subscriber::filter::ParseError> {
    EnvFilter::try_new(level)
}

/// Installs the global subscriber. `RUST_LOG`, when set and valid, overrides
/// `cfg.level`; an invalid level falls back to [`FALLBACK_LOG_LEVEL`] with a warning.
/// Calling it again is a no-op (the first subscriber stays), so tests and the CLI may both
/// call it.
pub fn init_logging(cfg: &LoggingConfig) {
    init_subscriber(cfg, None);
}

/// [`init_logging`] plus, when given, the layer exporting [`traces`]' spans. The log
/// layer never sees those spans, so log lines are the same with traces on or off.
/// Returns whether this call installed the subscriber.
pub fn init_subscriber(cfg: &LoggingConfig, tracer: Option<&traces::Tracer>) -> bool {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;

    let from_env = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty())
        .and_then(|s| log_filter(&s).ok());
    let (filter, bad_level) = match from_env {
        Some(f) => (f, false),
        None => match log_filter(&cfg.level) {
            Ok(f) => (f, false),
            Err(_) => (EnvFilter::new(FALLBACK_LOG_LEVEL), true),
        },
    };
    // Colour only for a person at a terminal: escape codes in files break log shippers.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let fmt = tracing_subscriber::fmt::layer()
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let fmt = match cfg.format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .boxed(),
    };
    let not_traces = tracing_subscriber::filter::filter_fn(|m| m.target() != traces::TARGET);
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(not_traces).with_filter(filter))
        .with(tracer.map(|t| t.layer()))
        .try_init()
        .is_ok();
    if installed && bad_level {
        tracing::warn!(
            level = %cfg.level,
            fallback = FALLBACK_LOG_LEVEL,
            "logging.level is not a valid filter"
        );
    }
    installed
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteMethodLabels {
    route: String,
    method: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct UpstreamLabels {
    service: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct AuthFailureLabels {
    route: String,
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ValidationLabels {
    route: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    os: String,
    arch: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

/// Route label of a request no configured route takes.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Method label of every method outside the standard ones.
pub const OTHER_METHOD: &str = "other";

/// The method label of a request: the nine methods of RFC 9110 and RFC 5789 as themselves,
/// anything else (extension methods, lower-case spellings, garbage a client sends) as
/// [`OTHER_METHOD`], so the method label has at most ten values whatever clients send.
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "DELETE" => "DELETE",
        "CONNECT" => "CONNECT",
        "OPTIONS" => "OPTIONS",
        "TRACE" => "TRACE",
        "PATCH" => "PATCH",
        _ => OTHER_METHOD,
    }
}

/// Upstream outcome label of an exchange whose answer the partner got (or a mapping of
/// it): a 2xx, or a 4xx passed on as the partner's error.
pub const OUTCOME_OK: &str = "ok";
/// Upstream outcome label of an exchange answered with a 5xx.
pub const OUTCOME_5XX: &str = "5xx";
/// Upstream outcome label of an answer the route cannot pass on and turns into a 502: a
/// redirect, `304`, or a `101` nobody asked for.
pub const OUTCOME_UNEXPECTED_STATUS: &str = "unexpected_status";
/// Upstream outcome label of an exchange left unfinished because the partner's request
/// ended first: the client went away, the request deadline passed, or shutdown cut it.
pub const OUTCOME_ABANDONED: &str = "abandoned";

/// Reload outcome label of a configuration swapped in.
pub const RELOAD_SUCCESS: &str = "success";
/// Reload outcome label of a configuration refused (the previous one keeps serving).
pub const RELOAD_FAILURE: &str = "failure";

/// Status counters a route keeps at hand. A route answers with a handful of statuses; past
/// this many distinct ones (an upstream passing through every code it has) the rest are
/// counted through the family, so the list stays a short scan.
const MAX_CACHED_STATUSES: usize = 16;

/// One route's series, resolved when a configuration snapshot is built. The series are the
/// same ones the families hold, so they survive reloads and render as before.
#[derive(Debug)]
pub struct RouteMetrics {
    duration: Histogram,
    /// Counters by status, filled on first sight of each status.
    statuses: RwLock<Vec<(u16, Counter)>>,
    requests: Family<RequestLabels, Counter>,
    durations: HistogramFamily<RouteMethodLabels>,
    /// The series of the other methods the route answered (a proxy route serving every
    /// method, HEAD served by GET), resolved on first sight: at most one per method label.
    others: RwLock<Vec<MethodSeries>>,
    route: String,
    method: &'static str,
}

/// One method's series of a route, beside the route's own method.
#[derive(Debug)]
struct MethodSeries {
    method: &'static str,
    duration: Histogram,
    statuses: Vec<(u16, Counter)>,
}

impl RouteMetrics {
    /// One answered request of this route under `method`, the request's own: the series
    /// [`Metrics::request`] counts it in, kept at hand per method and status so that a
    /// route serving every method pays no label hashing per request.
    pub fn request_as(&self, method: &str, status: u16, seconds: f64) {
        let method = method_label(method);
        if method == self.method {
            return self.request(status, seconds);
        }
        if let Ok(others) = self.others.read()
            && let Some(series) = others.iter().find(|m| m.method == method)
            && let Some((_, counter)) = series.statuses.iter().find(|(s, _)| *s == status)
        {
            series.duration.observe(seconds);
            counter.inc();
            return;
        }
        let duration = self
            .durations
            .get_or_create(&RouteMethodLabels {
                route: self.route.clone(),
                method: method.to_string(),
            })
            .clone();
        duration.observe(seconds);
        let counter = self
            .requests
            .get_or_create(&RequestLabels {
                route: self.route.clone(),
                method: method.to_string(),
                status,
            })
            .clone();
        counter.inc();
        if let Ok(mut others) = self.others.write() {
            let at = match others.iter().position(|m| m.method == method) {
                Some(at) => at,
                None => {
                    others.push(MethodSeries {
                        method,
                        duration,
                        statuses: Vec::new(),
                    });
                    others.len() - 1
                }
            };
            let statuses = &mut others[at].statuses;
            if statuses.len() < MAX_CACHED_STATUSES && !statuses.iter().any(|(s, _)| *s == status) {
                statuses.push((status, counter));
            }
        }
    }

    /// One answered request of this route.
    pub fn request(&self, status: u16, seconds: f64) {
        self.duration.observe(seconds);
        if let Ok(known) = self.statuses.read()
            && let Some((_, counter)) = known.iter().find(|(s, _)| *s == status)
        {
            counter.inc();
            return;
        }
        let counter = self
            .requests
            .get_or_create(&RequestLabels {
                route: self.route.clone(),
                method: self.method.to_string(),
                status,
            })
            .clone();
        counter.inc();
        if let Ok(mut known) = self.statuses.write()
            && known.len() < MAX_CACHED_STATUSES
            && !known.iter().any(|(s, _)| *s == status)
        {
            known.push((status, counter));
        }
    }
}

/// One upstream service's series, resolved when a configuration snapshot is built.
#[derive(Debug)]
pub struct ServiceMetrics {
    duration: Histogram,
    ok: Counter,
    server_error: Counter,
    requests: Family<UpstreamLabels, Counter>,
    service: String,
}

impl ServiceMetrics {
    /// An exchange starting now: it is counted once, by [`InFlight::finish`], or as
    /// [`OUTCOME_ABANDONED`] when dropped unfinished (the request's future was dropped).
    pub fn start(&self) -> InFlight<'_> {
        InFlight {
            metrics: self,
            started: std::time::Instant::now(),
            finished: false,
        }
    }

    /// One upstream exchange; `outcome` is [`OUTCOME_OK`], [`OUTCOME_5XX`],
    /// [`OUTCOME_UNEXPECTED_STATUS`], [`OUTCOME_ABANDONED`] or an error's
    /// [`crate::proxy::UpstreamError::outcome`]: a fixed word, never text from the exchange.
    pub fn exchange(&self, outcome: &'static str, seconds: f64) {
        self.duration.observe(seconds);
        match outcome {
            OUTCOME_OK => {
                self.ok.inc();
            }
            OUTCOME_5XX => {
                self.server_error.inc();
            }
            other => {
                self.requests
                    .get_or_create(&UpstreamLabels {
                        service: self.service.clone(),
                        outcome: other.to_string(),
                    })
                    .inc();
            }
        }
    }
}

/// An upstream exchange in flight (see [`ServiceMetrics::start`]).
#[derive(Debug)]
pub struct InFlight<'a> {
    metrics: &'a ServiceMetrics,
    started: std::time::Instant,
    finished: bool,
}

impl InFlight<'_> {
    /// Counts the exchange under `outcome`, taking `seconds`.
    pub fn finish(mut self, outcome: &'static str, seconds: f64) {
        self.finished = true;
        self.metrics.exchange(outcome, seconds);
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if !self.finished {
            self.metrics
                .exchange(OUTCOME_ABANDONED, self.started.elapsed().as_secs_f64());
        }
    }
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The gateway's Prometheus metrics, all under the `schemagate_` prefix. Share it behind an
/// `Arc`; every method takes `&self`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    /// The `process_*` series, unprefixed as every client library writes them.
    process: Registry,
    requests: Family<RequestLabels, Counter>,
    request_duration: HistogramFamily<RouteMethodLabels>,
    upstream_requests: Family<UpstreamLabels, Counter>,
    upstream_duration: HistogramFamily<ServiceLabels>,
    validation_failures: Family<ValidationLabels, Counter>,
    auth_failures: Family<AuthFailureLabels, Counter>,
    reloads: Family<OutcomeLabels, Counter>,
    tls_reloads: Family<OutcomeLabels, Counter>,
    upstream_dns_failures: Family<crate::proxy::discovery::FailureLabels, Counter>,
    last_reload_success: Gauge<f64, AtomicU64>,
    config_generation: Gauge,
    /// Rate limits, breakers, retries and the response cache.
    pub traffic: traffic::TrafficMetrics,
    /// The memory budget, failed accepts and the connection cap in force.
    pub capacity: capacity::CapacityMetrics,
    /// Route names handed out through [`Metrics::route`]: the only route labels
    /// [`Metrics::request`] writes besides [`UNMATCHED_ROUTE`].
    routes: RwLock<HashSet<String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("schemagate");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_duration: HistogramFamily<RouteMethodLabels> =
            Family::new_with_constructor(latency_histogram);
        let upstream_requests = Family::<UpstreamLabels, Counter>::default();
        let upstream_duration: HistogramFamily<ServiceLabels> =
            Family::new_with_constructor(latency_histogram);
        let validation_failures = Family::<ValidationLabels, Counter>::default();
        let auth_failures = Family::<AuthFailureLabels, Counter>::default();
        let reloads = Family::<OutcomeLabels, Counter>::default();
        let tls_reloads = Family::<OutcomeLabels, Counter>::default();
        // Both outcomes exist from the start, at zero: an alert on failures has a series
        // to watch before the first reload.
        for outcome in [RELOAD_SUCCESS, RELOAD_FAILURE] {
            for family in [&reloads, &tls_reloads] {
                drop(family.get_or_create(&OutcomeLabels {
                    outcome: outcome.to_string(),
                }));
            }
        }
        let last_reload_success = Gauge::<f64, AtomicU64>::default();
        let config_generation = Gauge::default();
        let upstream_dns_failures = Family::default();

        registry.register(
            "requests",
            "Requests answered, by route, method and status",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from request head to response, by route and method",
            request_duration.clone(),
        );
        registry.register(
            "upstream_requests",
            "Upstream exchanges, by service and outcome",
            upstream_requests.clone(),
        );
        registry.register(
            "upstream_duration_seconds",
            "Duration of upstream exchanges, body included, by service",
            upstream_duration.clone(),
        );
        registry.register(
            "validation_failures",
            "Bodies refused, by route and kind (external, internal, upstream, decode)",
            validation_failures.clone(),
        );
        registry.register(
            "auth_failures",
            "Requests refused by authentication, by route and reason (a fixed set: expired, \
             bad_signature, missing_credentials, ip_not_allowed, ...)",
            auth_failures.clone(),
        );
        registry.register(
            "reloads",
            "Configuration reloads after the start-up load, by outcome",
            reloads.clone(),
        );
        registry.register(
            "tls_certificate_reloads",
            "Reloads of the partner listener's certificate and key ([tls]), by outcome; a \
             failed one keeps the previous pair serving",
            tls_reloads.clone(),
        );
        registry.register(
            "upstream_dns_refresh_failures",
            "Resolutions of a discovered upstream's name that failed, timed out or found no \
             address (the last known targets were kept), by upstream",
            upstream_dns_failures.clone(),
        );
        registry.register(
            "last_reload_success_timestamp_seconds",
            "Unix time of the last successful configuration load, the start-up load included",
            last_reload_success.clone(),
        );
        registry.register(
            "config_generation",
            "Generation of the configuration being served (1 = the first load)",
            config_generation.clone(),
        );
        registry.register(
            "build",
            "The running build: version and target; the value is always 1",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION").to_string(),
                os: std::env::consts::OS.to_string(),
                arch: std::env::consts::ARCH.to_string(),
            }),
        );
        let traffic = traffic::TrafficMetrics::register(&mut registry);
        let capacity = capacity::CapacityMetrics::register(&mut registry);
        let mut process = Registry::default();
        process.register_collector(Box::new(process::ProcessCollector));
        Metrics {
            registry,
            process,
            requests,
            request_duration,
            upstream_requests,
            upstream_duration,
            validation_failures,
            auth_failures,
            reloads,
            tls_reloads,
            upstream_dns_failures,
            last_reload_success,
            config_generation,
            traffic,
            capacity,
            routes: RwLock::new(HashSet::new()),
        }
    }

    /// The handles of one route's series (see [`RouteMetrics`]). `route` is a configured
    /// route's name and `method` its configured method.
    pub fn route(&self, route: &str, method: &str) -> RouteMetrics {
        if let Ok(mut known) = self.routes.write()
            && !known.contains(route)
        {
            known.insert(route.to_string());
        }
        let method = method_label(method);
        RouteMetrics {
            duration: self
                .request_duration
                .get_or_create(&RouteMethodLabels {
                    route: route.to_string(),
                    method: method.to_string(),
                })
                .clone(),
            statuses: RwLock::new(Vec::new()),
            requests: self.requests.clone(),
            durations: self.request_duration.clone(),
            others: RwLock::new(Vec::new()),
            route: route.to_string(),
            method,
        }
    }

    /// The handles of one upstream service's series (see [`ServiceMetrics`]).
    pub fn service(&self, service: &str) -> ServiceMetrics {
        let outcome = |outcome: &str| {
            self.upstream_requests
                .get_or_create(&UpstreamLabels {
                    service: service.to_string(),
                    outcome: outcome.to_string(),
                })
                .clone()
        };
        ServiceMetrics {
            duration: self
                .upstream_duration
                .get_or_create(&ServiceLabels {
                    service: service.to_string(),
                })
                .clone(),
            ok: outcome(OUTCOME_OK),
            server_error: outcome(OUTCOME_5XX),
            requests: self.upstream_requests.clone(),
            service: service.to_string(),
        }
    }

    /// One answered request, outside any route's handles (an unmatched request, mostly).
    /// `route` is [`UNMATCHED_ROUTE`] or a route name handed to [`Metrics::route`]; any
    /// other name is counted as unmatched. `method` is the request's method as sent and is
    /// labelled through [`method_label`]. Raw paths never become labels: they would make
    /// one series per order id.
    pub fn request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        let configured =
            route != UNMATCHED_ROUTE && self.routes.read().is_ok_and(|known| known.contains(route));
        let route = if configured { route } else { UNMATCHED_ROUTE };
        let method = method_label(method);
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_string(),
                method: method.to_string(),
                status,
            })
            .inc();
        self.request_duration
            .get_or_create(&RouteMethodLabels {
                route: route.to_string(),
                method: method.to_string(),
            })
            .observe(seconds);
    }

    /// One refused body; `kind` is `external`, `internal`, `upstream` or `decode`, a fixed
    /// word chosen by code.
    pub fn validation_failure(&self, route: &str, kind: &'static str) {
        self.validation_failures
            .get_or_create(&ValidationLabels {
                route: route.to_string(),
                kind: kind.to_string(),
            })
            .inc();
    }

    /// One request refused by authentication; `reason` is a fixed word chosen by code
    /// ([`crate::edge::auth::AuthError::reason`]), so the series stay bounded.
    pub fn auth_failure(&self, route: &str, reason: &'static str) {
        self.auth_failures
            .get_or_create(&AuthFailureLabels {
                route: route.to_string(),
                reason: reason.to_string(),
            })
            .inc();
    }

    /// The family discovery tasks count their failed refreshes into (see
    /// [`crate::proxy::HttpClient::counting_dns_failures`]).
    pub fn upstream_dns_failures(&self) -> Family<crate::proxy::discovery::FailureLabels, Counter> {
        self.upstream_dns_failures.clone()
    }

    /// One reload attempt; `outcome` is [`RELOAD_SUCCESS`] or [`RELOAD_FAILURE`]. The time
    /// of a good load is recorded by [`Metrics::set_config_generation`], which every good
    /// load (the start-up one too) calls.
    pub fn reload(&self, outcome: &'static str) {
        self.reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// One reload of the listener's certificate and key, good or not.
    pub fn tls_reload(&self, ok: bool) {
        let outcome = if ok { RELOAD_SUCCESS } else { RELOAD_FAILURE };
        self.tls_reloads
            .get_or_create(&OutcomeLabels {
                outcome: outcome.to_string(),
            })
            .inc();
    }

    /// A configuration generation is now served, the first one at start-up or a reloaded
    /// one: records its number and the current time as the last successful load.
    pub fn set_config_generation(&self, generation: u64) {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.last_reload_success.set(now);
        self.config_generation
            .set(i64::try_from(generation).unwrap_or(i64::MAX));
    }

    /// The OpenMetrics text exposition (serve it as
    /// [`exposition::OPENMETRICS_CONTENT_TYPE`]).
    pub fn render(&self) -> String {
        use prometheus_client::encoding::text::{encode_eof, encode_registry};
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail; an encoder error would only mean a bug in a
        // label encoder, and an incomplete page is better than none.
        if encode_registry(&mut out, &self.registry)
            .and_then(|()| encode_registry(&mut out, &self.process))
            .and_then(|()| encode_eof(&mut out))
            .is_err()
        {
            tracing::error!("metrics encoding failed");
        }
        out
    }

    /// The page in `format`; serve it with [`Format::content_type`].
    pub fn render_as(&self, format: Format) -> String {
        match format {
            Format::OpenMetrics => self.render(),
            Format::Text004 => exposition::to_text_004(&self.render()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(s: &str) -> Vec<&str> {
        s.lines().collect()
    }

    #[test]
    fn recorded_request_renders_exact_lines() {
        let m = Metrics::new();
        let _handles = m.route("acme-orders", "POST");
        m.request("acme-orders", "POST", 200, 0.0003);
        m.request("acme-orders", "POST", 200, 0.002);
        let out = m.render();
        let l = lines(&out);
        for expected in [
            "# HELP schemagate_requests Requests answered, by route, method and status.",
            "# TYPE schemagate_requests counter",
            r#"schemagate_requests_total{route="acme-orders",method="POST",status="200"} 2"#,
            "# TYPE schemagate_request_duration_seconds histogram",
            r#"schemagate_request_duration_seconds_sum{route="acme-orders",method="POST"} 0.0023"#,
            r#"schemagate_request_duration_seconds_count{route="acme-orders",method="POST"} 2"#,
            r#"schemagate_request_duration_seconds_bucket{le="0.0001",route="acme-orders",method="POST"} 0"#,
            r#"schemagate_request_duration_seconds_bucket{le="0.0005",route="acme-orders",method="POST"} 1"#,
            r#"schemagate_request_duration_seconds_bucket{le="0.0025",route="acme-orders",method="POST"} 2"#,
            r#"schemagate_request_duration_seconds_bucket{le="10.0",route="acme-orders",method="POST"} 2"#,
            r#"schemagate_request_duration_seconds_bucket{le="+Inf",route="acme-orders",method="POST"} 2"#,
            "# EOF",
        ] {
            assert!(l.contains(&expected), "missing `{expected}` in\n{out}");
        }
    }

    #[test]
    fn upstream_validation_and_reload_metrics_render() {
        let m = Metrics::new();
        let orders = m.service("orders");
        orders.exchange(OUTCOME_OK, 0.01);
        orders.exchange("timeout", 15.0);
        m.validation_failure("acme-orders", "external");
        m.reload(RELOAD_SUCCESS);
        m.reload(RELOAD_FAILURE);
        m.set_config_generation(3);
        let out = m.render();
        let l = lines(&out);
        for expected in [
            r#"schemagate_upstream_requests_total{service="orders",outcome="ok"} 1"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="timeout"} 1"#,
            r#"schemagate_upstream_duration_seconds_count{service="orders"} 2"#,
            r#"schemagate_upstream_duration_seconds_bucket{le="10.0",service="orders"} 1"#,
            r#"schemagate_upstream_duration_seconds_bucket{le="+Inf",service="orders"} 2"#,
            r#"schemagate_validation_failures_total{route="acme-orders",kind="external"} 1"#,
            r#"schemagate_reloads_total{outcome="success"} 1"#,
            r#"schemagate_reloads_total{outcome="failure"} 1"#,
            "schemagate_config_generation 3",
        ] {
            assert!(l.contains(&expected), "missing `{expected}` in\n{out}");
        }
    }

    /// The value of an unlabelled gauge line.
    fn gauge(out: &str, name: &str) -> f64 {
        out.lines()
            .find_map(|x| x.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{out}"))
    }

    #[test]
    fn the_start_up_load_is_a_successful_load() {
        let m = Metrics::new();
        let before = m.render();
        assert_eq!(
            gauge(&before, "schemagate_last_reload_success_timestamp_seconds"),
            0.0
        );
        let start = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        // What the gateway does once the first configuration is built.
        m.set_config_generation(1);
        let out = m.render();
        let stamped = gauge(&out, "schemagate_last_reload_success_timestamp_seconds");
        assert!(
            stamped >= start && stamped < start + 60.0,
            "{stamped} vs {start}"
        );
        let l = lines(&out);
        for expected in [
            "schemagate_config_generation 1",
            r#"schemagate_reloads_total{outcome="success"} 0"#,
            r#"schemagate_reloads_total{outcome="failure"} 0"#,
        ] {
            assert!(l.contains(&expected), "missing `{expected}` in\n{out}");
        }
        // A refused reload leaves the time of the last good load alone.
        m.reload(RELOAD_FAILURE);
        let after = m.render();
        assert_eq!(
            gauge(&after, "schemagate_last_reload_success_timestamp_seconds"),
            stamped
        );
        assert!(lines(&after).contains(&r#"schemagate_reloads_total{outcome="failure"} 1"#));
    }

    #[test]
    fn method_labels_are_the_standard_methods_or_other() {
        for m in [
            "GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
        ] {
            assert_eq!(method_label(m), m);
        }
        let long = "M".repeat(15_000);
        for m in ["get", "Post", "M17X", "PROPFIND", "", long.as_str()] {
            assert_eq!(method_label(m), "other", "{m:.20}");
        }
    }

    #[test]
    fn a_route_counts_other_methods_in_the_series_the_family_would() {
        let series = |m: &Metrics| {
            let out = m.render();
            let mut lines: Vec<String> = out
                .lines()
                .filter(|l| {
                    l.starts_with("schemagate_requests_total")
                        || l.starts_with("schemagate_request_duration_seconds_count")
                })
                .map(str::to_owned)
                .collect();
            lines.sort_unstable();
            lines
        };
        let requests = [
            ("GET", 200),
            ("GET", 200),
            ("POST", 201),
            ("GET", 404),
            ("PROPFIND", 405),
            ("*", 200),
        ];
        let (by_handle, by_family) = (Metrics::new(), Metrics::new());
        let handles = by_handle.route("bench/api", "*");
        let _same = by_family.route("bench/api", "*");
        for (method, status) in requests {
            handles.request_as(method, status, 0.001);
            by_family.request("bench/api", method, status, 0.001);
        }
        assert_eq!(series(&by_handle), series(&by_family));
        assert_eq!(
            series(&by_handle),
            [
                r#"schemagate_request_duration_seconds_count{route="bench/api",method="GET"} 3"#,
                r#"schemagate_request_duration_seconds_count{route="bench/api",method="POST"} 1"#,
                r#"schemagate_request_duration_seconds_count{route="bench/api",method="other"} 2"#,
                r#"schemagate_requests_total{route="bench/api",method="GET",status="200"} 2"#,
                r#"schemagate_requests_total{route="bench/api",method="GET",status="404"} 1"#,
                r#"schemagate_requests_total{route="bench/api",method="POST",status="201"} 1"#,
                r#"schemagate_requests_total{route="bench/api",method="other",status="200"} 1"#,
                r#"schemagate_requests_total{route="bench/api",method="other",status="405"} 1"#,
            ]
        );
    }

    #[test]
    fn client_chosen_methods_and_unknown_routes_add_no_series() {
        let m = Metrics::new();
        let _handles = m.route("acme/orders", "POST");
        for i in 0..500 {
            m.request(UNMATCHED_ROUTE, &format!("M{i}X"), 404, 0.0001);
        }
        m.request(UNMATCHED_ROUTE, &"M".repeat(15_000), 404, 0.0001);
        m.request(UNMATCHED_ROUTE, "get", 404, 0.0001);
        m.request(UNMATCHED_ROUTE, "DELETE", 405, 0.0001);
        // A name no configuration has is not a label either.
        m.request("/partners/acme/orders/42", "GET", 404, 0.0001);
        m.request("acme/orders", "M1X", 405, 0.0001);
        let out = m.render();
        // Families render in hash order: compare sorted.
        let mut series: Vec<&str> = out
            .lines()
            .filter(|l| {
                l.starts_with("schemagate_requests_total")
                    || l.starts_with("schemagate_request_duration_seconds_count")
            })
            .collect();
        series.sort_unstable();
        assert_eq!(
            series,
            [
                r#"schemagate_request_duration_seconds_count{route="acme/orders",method="POST"} 0"#,
                r#"schemagate_request_duration_seconds_count{route="acme/orders",method="other"} 1"#,
                r#"schemagate_request_duration_seconds_count{route="unmatched",method="DELETE"} 1"#,
                r#"schemagate_request_duration_seconds_count{route="unmatched",method="GET"} 1"#,
                r#"schemagate_request_duration_seconds_count{route="unmatched",method="other"} 502"#,
                r#"schemagate_requests_total{route="acme/orders",method="other",status="405"} 1"#,
                r#"schemagate_requests_total{route="unmatched",method="DELETE",status="405"} 1"#,
                r#"schemagate_requests_total{route="unmatched",method="GET",status="404"} 1"#,
                r#"schemagate_requests_total{route="unmatched",method="other",status="404"} 502"#,
            ]
        );
        assert!(out.len() < 16_000, "{} bytes:\n{out}", out.len());
    }

    #[test]
    fn handles_record_into_the_family_series() {
        let m = Metrics::new();
        // Two snapshots of the same route (a reload) share one series.
        let first = m.route("acme/orders", "POST");
        let second = m.route("acme/orders", "POST");
        first.request(200, 0.0003);
        second.request(200, 0.0003);
        first.request(422, 0.0001);
        m.request("acme/orders", "POST", 200, 0.0003);
        // Past the cached statuses, counting goes on through the family.
        for status in 500..520 {
            first.request(status, 0.001);
        }
        first.request(519, 0.001);
        let orders = m.service("orders");
        orders.exchange(OUTCOME_OK, 0.01);
        orders.exchange(OUTCOME_5XX, 0.01);
        orders.exchange("timeout", 15.0);
        let out = m.render();
        let l = lines(&out);
        for expected in [
            r#"schemagate_requests_total{route="acme/orders",method="POST",status="200"} 3"#,
            r#"schemagate_requests_total{route="acme/orders",method="POST",status="422"} 1"#,
            r#"schemagate_requests_total{route="acme/orders",method="POST",status="500"} 1"#,
            r#"schemagate_requests_total{route="acme/orders",method="POST",status="519"} 2"#,
            r#"schemagate_request_duration_seconds_count{route="acme/orders",method="POST"} 25"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="ok"} 1"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="5xx"} 1"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="timeout"} 1"#,
            r#"schemagate_upstream_duration_seconds_count{service="orders"} 3"#,
        ] {
            assert!(l.contains(&expected), "missing `{expected}` in\n{out}");
        }
        assert_eq!(
            first.statuses.read().map(|s| s.len()).unwrap(),
            MAX_CACHED_STATUSES
        );
    }

    #[test]
    fn init_logging_twice_is_harmless() {
        let cfg = LoggingConfig {
            level: "not a [valid filter".into(),
            ..LoggingConfig::default()
        };
        init_logging(&cfg);
        init_logging(&LoggingConfig::default());
        assert!(log_filter("schemagate=debug,info").is_ok());
        assert!(log_filter("schemagate=[").is_err());
    }
}
