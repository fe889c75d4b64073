//! The compile step: files in, one immutable [`Runtime`] snapshot out, or every diagnostic
//! with its file and line.
//!
//! [`compile`] is the only way a snapshot comes to be: `check` calls it and throws the
//! snapshot away, `serve` starts on it, a reload swaps to it. So whatever `serve` or a
//! reload would refuse, `check` refuses first, with the same diagnostic.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderName;

use super::route_service::RouteService;
use super::traffic::{RouteTraffic, Traffic};
use crate::codec::Limits;
use crate::config::file::ProblemFormat;
use crate::config::{self, Gateway, LoadOptions};
use crate::diagnostic::Diagnostic;
use crate::edge::auth::RoutePolicy;
use crate::edge::cors::CorsPolicy;
use crate::edge::headers::HeaderPolicy;
use crate::proxy::{HttpClient, Upstream};
use crate::telemetry::{Metrics, RouteMetrics, ServiceMetrics};

/// Everything one request reads: compiled from the files at start and at each reload.
pub struct Runtime {
    pub gateway: Arc<Gateway>,
    /// Each route's service and metric handles: index `i` belongs to `gateway.routes[i]`.
    pub(super) routes: Vec<RouteRuntime>,
    pub headers: HeaderPolicy,
    pub correlation_header: HeaderName,
    pub limits: Limits,
    pub max_body_bytes: usize,
    /// The memory budget with this configuration's limit (`limits.max_memory_bytes`).
    pub memory: crate::edge::budget::Budget,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
    pub problem_format: ProblemFormat,
    pub access_log: bool,
    pub generation: u64,
    pub loaded_at: SystemTime,
    /// The upstreams, by name (for the admin status: their targets of the moment).
    pub(super) upstreams: Vec<Upstream>,
    /// The OpenAPI documents and XSDs the admin listener serves, rendered once per snapshot.
    pub(super) published: super::published::Published,
    /// The JWKS refreshers of this snapshot's providers: stopped when it is dropped.
    pub(super) _jwks: super::policies::Refreshers,
}

/// A route's built service, policies and metric handles, so a request looks nothing up by
/// name.
pub(super) struct RouteRuntime {
    pub service: RouteService,
    pub metrics: RouteMetrics,
    /// Authentication (every route has one: an open route still drops identity headers).
    pub auth: Arc<RoutePolicy>,
    /// CORS, when it is on for the route.
    pub cors: Option<Arc<CorsPolicy>>,
    /// Rate limit, retries, cache and `Cache-Control` policy (`traffic.rs`).
    pub traffic: RouteTraffic,
}

/// Loads and compiles everything `opts` names into a snapshot. `client` holds the
/// connection pools (they outlive snapshots), `traffic` the limiter, cache and breakers
/// (likewise), `metrics` the process's registry.
pub fn compile(
    opts: &LoadOptions,
    client: &HttpClient,
    traffic: &Traffic,
    metrics: &Metrics,
    generation: u64,
) -> Result<Runtime, Vec<Diagnostic>> {
    let gateway = config::load(opts)?;
    build(gateway, client, traffic, metrics, generation)
}

/// The second half of [`compile`], for a configuration already loaded (`serve` loads once
/// before its async runtime exists, to read the worker count and logging).
pub fn build(
    gateway: Gateway,
    client: &HttpClient,
    traffic: &Traffic,
    metrics: &Metrics,
    generation: u64,
) -> Result<Runtime, Vec<Diagnostic>> {
    let cfg = &gateway.config;
    let file = gateway
        .config_file
        .clone()
        .unwrap_or_else(|| config::DEFAULT_CONFIG_FILE.into());
    let mut diags = Vec::new();
    // Traffic control, checked at load like the rest; compiled again here to build on.
    let names: Vec<(&str, bool)> = gateway
        .routes
        .iter()
        .map(|r| (r.name.as_str(), r.method == http::Method::GET))
        .collect();
    let traffic_policies = match config::policies::compile(cfg, &names) {
        Ok(p) => Some(p),
        Err(keys) => {
            diags.extend(keys.iter().map(|k| {
                Diagnostic::error(&file, k.to_string())
                    .location(config::policies::key_location(&k.key))
            }));
            None
        }
    };
    // Each service's client and metric handles, shared by the routes that use it. The
    // settings were checked at load; a failure here is reported the same way all the same.
    let mut upstreams: HashMap<&str, (Upstream, Arc<ServiceMetrics>)> = HashMap::new();
    for (name, up) in &cfg.upstreams {
        match Upstream::new(name, up, &cfg.limits, client) {
            Ok(u) => {
                let u = match &traffic_policies {
                    Some(p) => u.with_guard(traffic.guard(name, p)),
                    None => u,
                };
                upstreams.insert(name, (u, Arc::new(metrics.service(name))));
            }
            Err(e) => diags.push(
                Diagnostic::error(&file, crate::config::redact::urls(&e.to_string()))
                    .location(format!("upstreams.{name}.url")),
            ),
        }
    }
    let policies = super::policies::compile(&gateway, &file, &mut diags);
    let headers = match HeaderPolicy::new(&cfg.headers) {
        Ok(h) => Some(h),
        Err(errors) => {
            diags.extend(
                errors
                    .iter()
                    .map(|e| Diagnostic::error(&file, e.to_string()).location(e.key())),
            );
            None
        }
    };
    let mut route_traffic = match traffic_policies.as_ref().map(|p| traffic.build(p)) {
        Some(Ok(t)) => t,
        Some(Err(e)) => {
            diags.push(Diagnostic::error(&file, e));
            Vec::new()
        }
        None => Vec::new(),
    }
    .into_iter();
    let mut routes = Vec::with_capacity(gateway.routes.len());
    for (i, r) in gateway.routes.iter().enumerate() {
        match RouteService::build(r, &cfg.limits, |name| {
            upstreams.get(name).map(|(u, m)| (u.clone(), Arc::clone(m)))
        }) {
            Ok(service) => {
                if let (Some(p), Some(traffic)) = (&policies, route_traffic.next()) {
                    routes.push(RouteRuntime {
                        service,
                        metrics: metrics.route(&r.name, r.method.as_str()),
                        auth: Arc::clone(&p.auth[i]),
                        cors: p.cors[i].clone(),
                        traffic,
                    });
                }
            }
            Err(d) => diags.push(d),
        }
    }
    let (Some(mut headers), Some(policies), Some(traffic_policies), true) =
        (headers, policies, traffic_policies, diags.is_empty())
    else {
        if let Some(file) = &gateway.config_file {
            super::policies::place_keys(file, &mut diags);
        }
        return Err(diags);
    };
    headers.set_trusted_proxies(Arc::clone(&policies.trusted_proxies));
    if let Some(p) = policies.auth.first() {
        let ids = p.identity_headers();
        headers.set_identity_headers(vec![ids.consumer.clone(), ids.user_id.clone()]);
    }
    traffic.retain(&traffic_policies);
    let mut upstreams: Vec<Upstream> = upstreams.into_values().map(|(u, _)| u).collect();
    upstreams.sort_by(|a, b| a.name().cmp(b.name()));
    let published = super::published::Published::render(&gateway);
    Ok(Runtime {
        upstreams,
        routes,
        correlation_header: headers.correlation_header().clone(),
        headers,
        limits: cfg.limits.codec(),
        max_body_bytes: cfg.limits.max_body_bytes,
        memory: traffic.memory.with_limit(cfg.limits.memory_budget()),
        body_read_timeout: Duration::from_millis(cfg.server.body_read_timeout_ms),
        request_timeout: Duration::from_millis(cfg.server.request_timeout_ms),
        problem_format: cfg.errors.format,
        access_log: cfg.logging.access_log,
        generation,
        loaded_at: SystemTime::now(),
        published,
        _jwks: policies.start(),
        gateway: Arc::new(gateway),
    })
}
