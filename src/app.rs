//! The running gateway: the HTTP phases of a partner request, the admin endpoints, hot
//! reload and the process lifecycle.
//!
//! A request reads one immutable [`Runtime`] snapshot (configuration, compiled routes,
//! upstream clients) through an `ArcSwap`: no lock on the hot path, and a reload swaps the
//! snapshot atomically while requests in flight finish on the one they started with.

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, Result};
use arc_swap::ArcSwap;
use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use http::header::{self, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::BodyExt as _;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::codec::{Format, Limits};
use crate::config::file::ProblemFormat;
use crate::config::{self, Gateway, LoadOptions, Route, RouteMatch};
use crate::diagnostic::Diagnostic;
use crate::edge::correlation::correlation_id;
use crate::edge::headers::{
    HeaderPolicy, check_body_codings, check_host, client_response_headers, retry_after_seconds,
    transform_request_headers, transform_response_headers,
};
use crate::mapping::EvalContext;
use crate::pipeline;
use crate::problem::{Problem, ProblemKind};
use crate::proxy::{HttpClient, Upstream};
use crate::telemetry::traces::{self, Phase};
use crate::telemetry::{Metrics, OUTCOME_5XX, OUTCOME_OK, RouteMetrics, ServiceMetrics};
use tracing::Instrument as _;

/// Everything one request reads: built from a [`Gateway`] at load and at each reload.
pub struct Runtime {
    pub gateway: Arc<Gateway>,
    /// What each route uses per request, resolved once: index `i` belongs to
    /// `gateway.routes[i]`.
    routes: Vec<RouteRuntime>,
    pub headers: HeaderPolicy,
    pub correlation_header: HeaderName,
    pub limits: Limits,
    pub max_body_bytes: usize,
    pub body_read_timeout: Duration,
    pub request_timeout: Duration,
    pub problem_format: ProblemFormat,
    pub access_log: bool,
    pub generation: u64,
    pub loaded_at: SystemTime,
    /// The OpenAPI document of the partner routes, rendered once per snapshot.
    pub openapi: Bytes,
}

/// A route's upstream client and metric handles, so a request looks nothing up by name.
struct RouteRuntime {
    upstream: Option<(Upstream, Arc<ServiceMetrics>)>,
    metrics: RouteMetrics,
}

impl Runtime {
    /// Builds the runtime of a loaded configuration.
    pub fn new(
        gateway: Gateway,
        client: &HttpClient,
        metrics: &Metrics,
        generation: u64,
    ) -> Result<Runtime, Vec<Diagnostic>> {
        let cfg = &gateway.config;
        let file = gateway
            .config_file
            .clone()
            .unwrap_or_else(|| config::DEFAULT_CONFIG_FILE.into());
        let mut diags = Vec::new();
        // Each service's client and metric handles, shared by the routes that use it.
        let mut upstreams: HashMap<&str, (Upstream, Arc<ServiceMetrics>)> = HashMap::new();
        for (name, up) in &cfg.upstreams {
            match Upstream::new(name, up, &cfg.limits, client) {
                Ok(u) => {
                    upstreams.insert(name, (u, Arc::new(metrics.service(name))));
                }
                Err(e) => diags.push(
                    Diagnostic::error(&file, e.to_string()).location(format!("upstreams.{name}")),
                ),
            }
        }
        let correlation_header = match HeaderName::try_from(cfg.headers.correlation_header.as_str())
        {
            Ok(h) => h,
            Err(_) => {
                diags.push(
                    Diagnostic::error(
                        &file,
                        format!(
                            "`{}` is not a valid header name",
                            cfg.headers.correlation_header
                        ),
                    )
                    .location("headers.correlation_header"),
                );
                HeaderName::from_static("x-correlation-id")
            }
        };
        let headers = match HeaderPolicy::new(&cfg.headers) {
            Ok(h) => Some(h),
            Err(e) => {
                diags.push(Diagnostic::error(&file, e.to_string()).location("headers"));
                None
            }
        };
        let (Some(headers), true) = (headers, diags.is_empty()) else {
            return Err(diags);
        };
        let openapi = Bytes::from(
            serde_json::to_vec_pretty(&crate::openapi::document(&gateway)).unwrap_or_default(),
        );
        let routes = gateway
            .routes
            .iter()
            .map(|r| RouteRuntime {
                upstream: upstreams
                    .get(r.upstream.as_str())
                    .map(|(u, m)| (u.clone(), Arc::clone(m))),
                metrics: metrics.route(&r.name, r.method.as_str()),
            })
            .collect();
        Ok(Runtime {
            routes,
            headers,
            correlation_header,
            limits: cfg.limits.codec(),
            max_body_bytes: cfg.limits.max_body_bytes,
            body_read_timeout: Duration::from_millis(cfg.server.body_read_timeout_ms),
            request_timeout: Duration::from_millis(cfg.server.request_timeout_ms),
            problem_format: cfg.errors.format,
            access_log: cfg.logging.access_log,
            generation,
            loaded_at: SystemTime::now(),
            openapi,
            gateway: Arc::new(gateway),
        })
    }
}

/// The outcome of the last reload, for `/admin/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    pub outcome: String,
    pub at_unix: u64,
    pub errors: Vec<String>,
}

/// Shared state of the running gateway.
pub struct AppState {
    current: ArcSwap<Runtime>,
    pub metrics: Metrics,
    client: HttpClient,
    opts: LoadOptions,
    generation: AtomicU64,
    ready: AtomicBool,
    last_reload: Mutex<ReloadStatus>,
    /// Serialises reloads so two file events never race to swap.
    reloading: Mutex<()>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl AppState {
    /// Loads the configuration and builds the first runtime.
    pub fn new(opts: LoadOptions) -> Result<Arc<AppState>, Vec<Diagnostic>> {
        let gateway = config::load(&opts)?;
        Self::with_gateway(opts, gateway)
    }

    /// Builds the state from an already loaded configuration; `opts` is what reloads use.
    pub fn with_gateway(
        opts: LoadOptions,
        gateway: Gateway,
    ) -> Result<Arc<AppState>, Vec<Diagnostic>> {
        for w in &gateway.warnings {
            tracing::warn!("{w}");
        }
        let client = HttpClient::new();
        let metrics = Metrics::new();
        let runtime = Runtime::new(gateway, &client, &metrics, 1)?;
        metrics.set_config_generation(1);
        Ok(Arc::new(AppState {
            current: ArcSwap::from_pointee(runtime),
            metrics,
            client,
            opts,
            generation: AtomicU64::new(1),
            ready: AtomicBool::new(true),
            last_reload: Mutex::new(ReloadStatus {
                outcome: "initial".into(),
                at_unix: unix_now(),
                errors: vec![],
            }),
            reloading: Mutex::new(()),
        }))
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// The listener options of the configuration served now: what a newly accepted
    /// connection uses, so a reload applies to connections accepted after it.
    pub fn server_options(&self) -> crate::server::ServerOptions {
        let cfg = &self.current.load().gateway.config;
        crate::server::ServerOptions::from_config(&cfg.server, &cfg.limits)
    }

    /// Loads everything again, as `check` does; swaps it in when it is good, keeps the old
    /// configuration serving when it is not. Blocking: call from a blocking thread.
    pub fn reload(&self) -> bool {
        let _guard = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let result = config::load(&self.opts).and_then(|gw| {
            let generation = self.generation.load(Ordering::SeqCst) + 1;
            let warnings = gw.warnings.clone();
            Runtime::new(gw, &self.client, &self.metrics, generation).map(|rt| (rt, warnings))
        });
        let mut status = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok((runtime, warnings)) => {
                for w in &warnings {
                    tracing::warn!("{w}");
                }
                let generation = runtime.generation;
                let routes = runtime.gateway.routes.len();
                let old = self.current.load();
                for key in crate::server::read_at_start_changes(
                    &old.gateway.config,
                    &runtime.gateway.config,
                ) {
                    tracing::warn!(
                        key,
                        "`{key}` changed but is read at start only; restart the gateway to apply it"
                    );
                }
                self.current.store(Arc::new(runtime));
                self.generation.store(generation, Ordering::SeqCst);
                self.metrics.reload("success");
                self.metrics.set_config_generation(generation);
                tracing::info!(generation, routes, "configuration reloaded");
                *status = ReloadStatus {
                    outcome: "success".into(),
                    at_unix: unix_now(),
                    errors: vec![],
                };
                true
            }
            Err(diags) => {
                let errors: Vec<String> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .map(ToString::to_string)
                    .collect();
                for e in &errors {
                    tracing::error!("reload refused: {e}");
                }
                tracing::error!(
                    errors = errors.len(),
                    generation = self.generation.load(Ordering::SeqCst),
                    "configuration reload refused; the previous configuration keeps serving"
                );
                self.metrics.reload("failure");
                *status = ReloadStatus {
                    outcome: "failure".into(),
                    at_unix: unix_now(),
                    errors,
                };
                false
            }
        }
    }

    /// Paths a reload depends on: the configuration file and the partner directories.
    pub fn watched_paths(&self) -> Vec<std::path::PathBuf> {
        let rt = self.runtime();
        let gw = &rt.gateway;
        let mut paths = vec![gw.schemas_dir.clone(), gw.mappings_dir.clone()];
        if let Some(f) = &gw.config_file {
            paths.push(f.clone());
        }
        paths.into_iter().filter(|p| p.exists()).collect()
    }
}

/// The paths of the admin endpoints; every other path is a partner request.
const ADMIN_PATHS: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/admin/status",
    "/openapi.json",
];

/// The gateway as one HTTP service: the admin endpoints through an axum router, and every
/// other request straight to the partner-route handler, which does its own routing and so
/// has no use for the router's per-request work on the hot path.
///
/// `[admin] enabled` is read here, once: the admin surface is part of the listener, not of
/// a reloadable snapshot. The peer address comes from the
/// [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension that
/// [`crate::server::serve`] adds.
#[derive(Clone)]
pub struct GatewayService {
    state: Arc<AppState>,
    admin: Option<Router>,
    /// `[admin] playground`: the mapping playground's page and API.
    playground: Option<Router>,
}

/// The gateway's HTTP service (see [`GatewayService`]).
pub fn app(state: Arc<AppState>) -> GatewayService {
    let admin = state.runtime().gateway.config.admin.enabled.then(|| {
        Router::new()
            .route(
                "/healthz",
                get(|| async {
                    (
                        [(header::CONTENT_TYPE, "application/json")],
                        "{\"status\":\"ok\"}",
                    )
                }),
            )
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/admin/status", get(status))
            .route("/openapi.json", get(openapi))
            .with_state(Arc::clone(&state))
    });
    let playground = {
        let admin = &state.runtime().gateway.config.admin;
        (admin.enabled && admin.playground).then(|| {
            let state = Arc::clone(&state);
            crate::playground::router(Arc::new(move || Arc::clone(&state.runtime().gateway)))
        })
    };
    GatewayService {
        state,
        admin,
        playground,
    }
}

/// Where a request's peer address is unknown (a service driven without [`crate::server`]).
const UNKNOWN_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

impl<B> tower::Service<http::Request<B>> for GatewayService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let req = req.map(Body::new);
        if let Some(playground) = &self.playground
            && crate::playground::is_playground_path(req.uri().path())
        {
            let answer = playground.clone().oneshot(req);
            return Box::pin(answer);
        }
        if let Some(admin) = &self.admin
            && ADMIN_PATHS.contains(&req.uri().path())
        {
            let rt = self.state.runtime();
            if req.method() != Method::GET && req.method() != Method::HEAD {
                let resp = admin_method_not_allowed(&rt, &req);
                return Box::pin(std::future::ready(Ok(resp)));
            }
            // Admin answers carry a correlation id like every other answer; they are not
            // access-logged, so probes and scrapes do not flood the log.
            let cid = correlation_id(req.headers(), &rt.correlation_header);
            let header = rt.correlation_header.clone();
            let answer = admin.clone().oneshot(req);
            return Box::pin(async move {
                let mut resp = answer.await?;
                if let Ok(v) = HeaderValue::from_str(&cid) {
                    resp.headers_mut().insert(header, v);
                }
                Ok(resp)
            });
        }
        let peer = req
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(UNKNOWN_PEER, |c| c.0);
        let state = Arc::clone(&self.state);
        if !traces::enabled() {
            return Box::pin(async move { Ok(handle(state, peer, req).await) });
        }
        // The span is named after the route before the request runs: routing once more
        // here costs a table lookup, only while traces are on.
        let span = {
            let rt = state.runtime();
            let template = match rt.gateway.find(req.method(), req.uri().path()) {
                RouteMatch::Found { route, .. } => Some(route.path.as_str()),
                _ => None,
            };
            traces::request_span(req.headers(), req.method(), req.uri().path(), template)
        };
        Box::pin(async move {
            let resp = handle(state, peer, req).instrument(span.clone()).await;
            traces::record_status(&span, resp.status().as_u16());
            Ok(resp)
        })
    }
}

/// The admin endpoints answer GET and HEAD only; any other method gets the same problem
/// document and headers as a partner route's 405.
fn admin_method_not_allowed(rt: &Runtime, req: &Request) -> Response {
    let cid = correlation_id(req.headers(), &rt.correlation_header);
    let p = Problem::new(
        ProblemKind::MethodNotAllowed,
        format!("{} is not allowed here; allowed: GET, HEAD", req.method()),
    );
    let format = problem_format(rt, None, req.headers());
    let mut resp = problem_response(&p, format, &cid, &rt.correlation_header);
    resp.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
    resp
}

async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.ready.load(Ordering::Relaxed) {
        (
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"ready\"}",
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"draining\"}",
        )
            .into_response()
    }
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let format = crate::telemetry::Format::negotiate(accept);
    (
        [(header::CONTENT_TYPE, format.content_type())],
        state.metrics.render_as(format),
    )
        .into_response()
}

async fn status(State(state): State<Arc<AppState>>) -> Response {
    let rt = state.runtime();
    let last = state
        .last_reload
        .lock()
        .map(|s| s.clone())
        .unwrap_or_default();
    let routes: Vec<Value> = rt
        .gateway
        .routes
        .iter()
        .map(|r| json!({"name": r.name, "method": r.method.as_str(), "path": r.path, "format": r.format, "upstream": r.upstream}))
        .collect();
    let loaded = rt
        .loaded_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    axum::Json(json!({
        "generation": rt.generation,
        "loaded_at_unix": loaded,
        "routes": routes,
        "warnings": rt.gateway.warnings.len(),
        "last_reload": last,
    }))
    .into_response()
}

async fn openapi(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        state.runtime().openapi.clone(),
    )
        .into_response()
}

/// Chooses the format of an error body: configuration first, then the client's `Accept`,
/// then the route's format (JSON where there is no route).
fn problem_format(rt: &Runtime, route: Option<Format>, headers: &HeaderMap) -> Format {
    match rt.problem_format {
        ProblemFormat::Json => return Format::Json,
        ProblemFormat::Xml => return Format::Xml,
        ProblemFormat::Partner => {}
    }
    let accept = headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    crate::problem::negotiate_format(accept).unwrap_or(route.unwrap_or(Format::Json))
}

fn problem_response(p: &Problem, format: Format, cid: &str, cid_header: &HeaderName) -> Response {
    let body = match format {
        Format::Json => p.to_json(cid),
        Format::Xml => p.to_xml(cid),
    };
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = p.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.problem_media_type()),
    );
    if let Ok(v) = HeaderValue::from_str(cid) {
        h.insert(cid_header.clone(), v);
    }
    if let Some(secs) = p.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// Reads the whole body within the size limit and the body-read deadline, refusing at once
/// when the declared length is already too large.
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    limit: usize,
    deadline: Duration,
) -> Result<Bytes, Problem> {
    let too_large = || {
        Problem::new(
            ProblemKind::PayloadTooLarge,
            format!("the body exceeds the limit of {limit} bytes"),
        )
    };
    if let Some(len) = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && len > limit as u64
    {
        return Err(too_large());
    }
    let limited = http_body_util::Limited::new(body, limit);
    match tokio::time::timeout(deadline, limited.collect()).await {
        Err(_) => Err(Problem::new(
            ProblemKind::RequestTimeout,
            "the body was not received in time",
        )),
        Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => Err(too_large()),
        Ok(Err(e)) => Err(
            Problem::new(ProblemKind::MalformedBody, "the body could not be read")
                .with_log(e.to_string()),
        ),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The partner-route handler: everything that is not an admin endpoint.
///
/// No tracing span is opened per request: a span costs an allocation and field formatting on
/// every request, and the few events a request logs carry its correlation id themselves.
async fn handle(state: Arc<AppState>, peer: SocketAddr, mut req: Request) -> Response {
    let started = Instant::now();
    let rt = state.runtime();
    // Internal-prefix headers belong to the gateway and its services: a partner's copies go
    // before anything, a mapping's `$header.NAME` included, can read them.
    strip_internal_headers(req.headers_mut(), &rt.headers);
    let cid = correlation_id(req.headers(), &rt.correlation_header);
    let (parts, body) = req.into_parts();

    // Route first, outside the deadline, so even a timed-out request is answered in its
    // partner's format and counted under its route.
    let path = parts.uri.path();
    let mut matched = rt.gateway.find(&parts.method, path);
    // HEAD is served wherever GET is (RFC 9110 §9.3.2): the GET route runs, its upstream
    // call included, and the server writes the head of its answer without the body.
    if parts.method == Method::HEAD
        && !matches!(matched, RouteMatch::Found { .. })
        && let get @ RouteMatch::Found { .. } = rt.gateway.find(&Method::GET, path)
    {
        matched = get;
    }
    // The format of a 405, which has no route of its own: that of the route at the path.
    let mut error_format = None;
    let mut allow = None;
    let (found, outcome) = match matched {
        RouteMatch::Found {
            index,
            route,
            params,
        } => {
            let route = Arc::clone(route);
            let fut = forward(
                &state, &rt, index, &route, &params, &cid, peer, &parts, body,
            );
            let outcome = match tokio::time::timeout(rt.request_timeout, fut).await {
                Ok(result) => result,
                Err(_) => Err(Problem::new(
                    ProblemKind::UpstreamTimeout,
                    "the request did not complete in time",
                )),
            };
            (Some((index, route)), outcome)
        }
        RouteMatch::MethodNotAllowed(mut allowed) => {
            error_format = allowed
                .first()
                .and_then(|m| match rt.gateway.find(m, path) {
                    RouteMatch::Found { route, .. } => Some(route.format),
                    _ => None,
                });
            if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
                allowed.push(Method::HEAD);
                allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            }
            let list = allowed
                .iter()
                .map(Method::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let detail = format!("{} is not allowed here; allowed: {list}", parts.method);
            allow = HeaderValue::from_str(&list).ok();
            (
                None,
                Err(Problem::new(ProblemKind::MethodNotAllowed, detail)),
            )
        }
        RouteMatch::NotFound => {
            let detail = format!("no route for {} {}", parts.method, parts.uri.path());
            (None, Err(Problem::new(ProblemKind::NotFound, detail)))
        }
    };
    let route = found.as_ref().map(|(_, r)| r);

    let (response, problem) = match outcome {
        Ok(resp) => (resp, None),
        Err(p) => {
            let f = problem_format(
                &rt,
                route.map(|r| r.format).or(error_format),
                &parts.headers,
            );
            let mut resp = problem_response(&p, f, &cid, &rt.correlation_header);
            if let Some(allow) = allow {
                resp.headers_mut().insert(header::ALLOW, allow);
            }
            // A body refused as too large or too slow is left unread, so the connection
            // cannot carry another request: say so rather than let the client find out.
            if matches!(
                p.kind,
                ProblemKind::PayloadTooLarge | ProblemKind::RequestTimeout
            ) {
                resp.headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
            }
            (resp, Some(p))
        }
    };
    let status = response.status().as_u16();
    let elapsed = started.elapsed();
    let route_label = route.map_or("unmatched", |r| r.name.as_str());
    // A HEAD answered by a GET route counts under HEAD, through the labelled family: the
    // route's series at hand are its own method's.
    match found.as_ref().and_then(|(i, _)| rt.routes.get(*i)) {
        Some(r) if parts.method != Method::HEAD => r.metrics.request(status, elapsed.as_secs_f64()),
        _ => state.metrics.request(
            route_label,
            parts.method.as_str(),
            status,
            elapsed.as_secs_f64(),
        ),
    }
    if let Some(p) = &problem {
        let log = p.log_detail.as_deref().unwrap_or("");
        match p.cause() {
            crate::problem::Cause::Gateway => {
                tracing::error!(correlation_id = %cid, route = route_label, status, log, "{}", p.detail)
            }
            crate::problem::Cause::Upstream => {
                tracing::warn!(correlation_id = %cid, route = route_label, status, log, "{}", p.detail)
            }
            crate::problem::Cause::Client => {}
        }
    }
    if rt.access_log {
        tracing::info!(
            target: "access",
            correlation_id = %cid,
            method = parts.method.as_str(),
            path = parts.uri.path(),
            route = route_label,
            status,
            duration_us = elapsed.as_micros() as u64,
            peer = %peer.ip(),
            "request"
        );
    }
    response
}

#[allow(clippy::too_many_arguments)]
async fn forward(
    state: &AppState,
    rt: &Runtime,
    index: usize,
    route: &Route,
    params: &[(String, String)],
    cid: &str,
    peer: SocketAddr,
    parts: &http::request::Parts,
    body: Body,
) -> Result<Response, Problem> {
    let params = Route::decode_path_params(params)
        .map_err(|e| Problem::new(ProblemKind::InvalidPath, e.to_string()))?;
    let params = params.as_slice();
    let query = parse_query(parts.uri.query());
    let ctx = EvalContext {
        path_params: params,
        query: &query,
        headers: &parts.headers,
        claims: None,
        partner: &route.partner,
        correlation_id: cid,
        request: None,
    };

    // RFC 9112 §3.2: a request without exactly one valid Host is refused, not forwarded.
    check_host(parts.version, &parts.headers)
        .map_err(|e| Problem::new(ProblemKind::MalformedRequest, e.to_string()))?;

    // Request direction.
    let (decoded, upstream_body) = match &route.request {
        Some(stage) => {
            let content_type = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            pipeline::check_media_type(route.format, content_type)?;
            check_body_codings(&parts.headers)
                .map_err(|e| Problem::new(ProblemKind::UnsupportedMediaType, e.to_string()))?;
            let raw = read_body(
                body,
                &parts.headers,
                rt.max_body_bytes,
                rt.body_read_timeout,
            )
            .await?;
            match pipeline::transform_request(route, stage, &raw, &ctx, &rt.limits) {
                Ok(m) => (Some(m.decoded), Bytes::from(m.body)),
                Err(p) => {
                    state
                        .metrics
                        .validation_failure(&route.name, failure_kind(&p));
                    return Err(p);
                }
            }
        }
        None => (None, Bytes::new()),
    };

    // Forward.
    let Some((upstream, service_metrics)) = rt.routes.get(index).and_then(|r| r.upstream.as_ref())
    else {
        return Err(Problem::new(
            ProblemKind::Internal,
            "the route's service is not configured",
        )
        .with_log(format!(
            "route {}: no upstream `{}`",
            route.name, route.upstream
        )));
    };
    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok());
    let mut headers =
        transform_request_headers(&parts.headers, &rt.headers, peer.ip(), "http", host, cid);
    if route.request.is_some() {
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
    let path = route.upstream_target(params, parts.uri.query());
    let up_started = Instant::now();
    let call = traces::phase(Phase::UpstreamCall);
    traces::inject(&call, &mut headers);
    let result = upstream
        .send(route.upstream_method.clone(), &path, headers, upstream_body)
        .instrument(call)
        .await;
    let up_secs = up_started.elapsed().as_secs_f64();
    let resp = match result {
        Ok(r) => {
            let outcome = if r.status.is_server_error() {
                OUTCOME_5XX
            } else {
                OUTCOME_OK
            };
            service_metrics.exchange(outcome, up_secs);
            r
        }
        Err(e) => {
            service_metrics.exchange(e.outcome(), up_secs);
            return Err(e.to_problem());
        }
    };

    if resp.status.is_client_error() {
        if let Some(stage) = &route.errors {
            // The upstream's own words, in the partner's error document; anything that
            // does not fit falls through to the summary below.
            let ctx = EvalContext {
                request: decoded.as_ref(),
                ..ctx
            };
            match pipeline::transform_response(route, stage, &resp.body, &ctx, &rt.limits) {
                Ok(bytes) => {
                    return Ok(partner_response(
                        rt,
                        cid,
                        resp.status,
                        &resp.headers,
                        Bytes::from(bytes),
                        HeaderValue::from_static(route.format.media_type()),
                        true,
                    ));
                }
                Err(p) => tracing::warn!(
                    correlation_id = %cid,
                    route = %route.name,
                    status = resp.status.as_u16(),
                    "upstream error body not mapped, answering with a summary: {}",
                    p.log_detail.as_deref().unwrap_or(&p.detail)
                ),
            }
        }
        let problem = Problem::new(
            ProblemKind::UpstreamClientError,
            format!(
                "the service rejected the request (HTTP {})",
                resp.status.as_u16()
            ),
        )
        .with_status(resp.status)
        .with_log(format!(
            "route {}: upstream answered {}: {}",
            route.name,
            resp.status,
            String::from_utf8_lossy(&resp.body[..resp.body.len().min(512)])
        ));
        return Err(with_upstream_retry_after(problem, &resp.headers));
    }
    if resp.status == StatusCode::SERVICE_UNAVAILABLE {
        // Unavailable for now rather than broken: the partner gets the 503, and the
        // service's `Retry-After`, to know when to come back.
        let problem = Problem::new(
            ProblemKind::UpstreamError,
            "the service is unavailable for now",
        )
        .with_status(resp.status)
        .with_log(format!(
            "route {}: upstream answered {}",
            route.name, resp.status
        ));
        return Err(with_upstream_retry_after(problem, &resp.headers));
    }
    if !resp.status.is_success() {
        return Err(
            Problem::new(ProblemKind::UpstreamError, "the service failed to answer").with_log(
                format!("route {}: upstream answered {}", route.name, resp.status),
            ),
        );
    }

    // Response direction.
    let mapped = route.response.is_some();
    let (body, content_type) = match &route.response {
        Some(stage) => {
            let ctx = EvalContext {
                request: decoded.as_ref(),
                ..ctx
            };
            let bytes = pipeline::transform_response(route, stage, &resp.body, &ctx, &rt.limits)
                .inspect_err(|p| {
                    state
                        .metrics
                        .validation_failure(&route.name, failure_kind(p));
                })?;
            (
                Bytes::from(bytes),
                HeaderValue::from_static(route.format.media_type()),
            )
        }
        None => {
            let ct = resp
                .headers
                .get(header::CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("application/json"));
            (resp.body.clone(), ct)
        }
    };
    Ok(partner_response(
        rt,
        cid,
        resp.status,
        &resp.headers,
        body,
        content_type,
        mapped,
    ))
}

/// `problem` with the upstream's `Retry-After` (RFC 9110 §10.2.3), as seconds from now: a
/// summarised answer keeps the one thing the partner needs to retry well. A value that is
/// neither delta-seconds nor an HTTP-date is dropped.
fn with_upstream_retry_after(problem: Problem, upstream: &HeaderMap) -> Problem {
    match upstream
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after_seconds)
    {
        Some(s) => problem.retry_after(s),
        None => problem,
    }
}

/// Removes every header with an internal prefix from a partner's request.
fn strip_internal_headers(headers: &mut HeaderMap, policy: &HeaderPolicy) {
    if !headers.keys().any(|n| policy.is_internal(n)) {
        return;
    }
    let internal: Vec<HeaderName> = headers
        .keys()
        .filter(|n| policy.is_internal(n))
        .cloned()
        .collect();
    for name in internal {
        headers.remove(&name);
    }
}

/// The partner's answer: the upstream's status, its headers filtered (a mapped body keeps
/// none of the upstream's representation headers), the body and its media type.
fn partner_response(
    rt: &Runtime,
    cid: &str,
    status: http::StatusCode,
    upstream_headers: &http::HeaderMap,
    body: Bytes,
    content_type: HeaderValue,
    mapped: bool,
) -> Response {
    let mut out = Response::new(Body::from(body));
    *out.status_mut() = status;
    let h = out.headers_mut();
    *h = if mapped {
        transform_response_headers(upstream_headers, &rt.headers)
    } else {
        client_response_headers(upstream_headers, &rt.headers)
    };
    h.remove(header::CONTENT_LENGTH);
    h.insert(header::CONTENT_TYPE, content_type);
    if let Ok(v) = HeaderValue::from_str(cid) {
        h.insert(rt.correlation_header.clone(), v);
    }
    out
}

fn failure_kind(p: &Problem) -> &'static str {
    match p.kind {
        ProblemKind::SchemaViolation => "external",
        ProblemKind::Internal => "internal",
        ProblemKind::InvalidUpstreamResponse => "upstream",
        _ => "decode",
    }
}

/// Runs `serve` until SIGTERM/SIGINT: builds the runtime, starts the demo upstream when
/// asked, the file watcher and SIGHUP handler, then serves.
pub fn run_server(mut opts: LoadOptions, demo: bool) -> Result<()> {
    // Load once, before the runtime exists: logging and the worker count come from it.
    let mut gateway = match config::load(&opts) {
        Ok(gw) => gw,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}\n");
            }
            anyhow::bail!(
                "the configuration does not load ({} errors); run `schemagate check`",
                diags.iter().filter(|d| d.is_error()).count()
            );
        }
    };
    // Traces are the process's: started once, before the runtime, from the first load.
    let tracer = if gateway.config.tracing.enabled {
        let tracer = traces::Tracer::start(&gateway.config.tracing)?;
        crate::telemetry::init_subscriber(&gateway.config.logging, Some(&tracer));
        tracer.activate();
        Some(tracer)
    } else {
        crate::telemetry::init_logging(&gateway.config.logging);
        None
    };
    let workers = gateway.config.server.workers;
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if workers > 1 {
            b.worker_threads(workers);
        }
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let served = runtime.block_on(async move {
        let mut demo_addr = None;
        if demo {
            let (addr, _task) = crate::demo::start("127.0.0.1:0".parse()?)
                .await
                .context("starting the demo upstream")?;
            // Reloads load again with the override; the loaded configuration gets it now.
            opts.upstream_override = Some(format!("http://{addr}"));
            opts.apply(&mut gateway.config);
            demo_addr = Some(addr);
        }
        let state = match AppState::with_gateway(opts, gateway) {
            Ok(s) => s,
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}\n");
                }
                anyhow::bail!("the configuration does not load; run `schemagate check`");
            }
        };
        let rt = state.runtime();
        let cfg = &rt.gateway.config;
        let listen: SocketAddr = cfg.server.listen.parse().context("server.listen")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let local = listener.local_addr()?;
        tracing::info!(%local, routes = rt.gateway.routes.len(), "schemagate listening");
        if let Some(addr) = demo_addr {
            print_demo(local, addr, &rt.gateway);
        }

        let _watch = if cfg.admin.watch {
            let s = Arc::clone(&state);
            let handle = tokio::runtime::Handle::current();
            match crate::reload::watch(
                state.watched_paths(),
                Duration::from_millis(cfg.admin.watch_debounce_ms),
                move || {
                    let s = Arc::clone(&s);
                    handle.spawn_blocking(move || s.reload());
                },
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "file watching unavailable; reload with SIGHUP");
                    None
                }
            }
        } else {
            None
        };
        {
            let s = Arc::clone(&state);
            let handle = tokio::runtime::Handle::current();
            if let Err(e) = crate::reload::on_sighup(move || {
                let s = Arc::clone(&s);
                handle.spawn_blocking(move || s.reload());
            }) {
                tracing::warn!(error = %e, "SIGHUP reload unavailable");
            }
        }
        drop(rt);
        let shutdown_state = Arc::clone(&state);
        let shutdown = async move {
            shutdown_signal().await;
            shutdown_state.ready.store(false, Ordering::Relaxed);
            tracing::info!("shutdown requested; draining in-flight requests");
        };
        // Each new connection takes the options of the configuration served at that moment.
        let options_state = Arc::clone(&state);
        let options = move || options_state.server_options();
        crate::server::serve(listener, app(state), options, shutdown).await?;
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    });
    // The batch's last spans go out after the last request, before the process ends.
    if let Some(tracer) = tracer {
        tracer.shutdown();
    }
    served
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}

/// The first golden input of a route, as an example body a person can send.
fn example_body(gw: &Gateway, route: &Route) -> Option<std::path::PathBuf> {
    let dir = gw.fixtures_dir.join(&route.name);
    let mut cases: Vec<_> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    cases.sort();
    // Prefer a case named `valid`, then any case whose input maps without error.
    cases.sort_by_key(|c| c.file_name().is_none_or(|n| n != "valid"));
    let file = match route.format {
        Format::Xml => "input.xml",
        Format::Json => "input.json",
    };
    cases.into_iter().map(|c| c.join(file)).find(|f| {
        f.is_file()
            && f.parent()
                .is_some_and(|d| d.join("expected.json").is_file())
    })
}

/// `word` as one shell word: as it is when it holds nothing a shell would read, otherwise
/// in single quotes (a quote inside written `'\''`), so a printed command works pasted.
fn shell_word(word: &str) -> String {
    if word
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"@%+=:,./_-".contains(&b))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', "'\\''"))
    }
}

/// What `serve --demo` prints: a `curl` command per route that works as printed (paths are
/// relative to the working directory, where the fixtures are).
fn print_demo(local: SocketAddr, demo: SocketAddr, gw: &Gateway) {
    use std::fmt::Write as _;
    let mut text = format!(
        "schemagate is serving the example partners on http://{local} (demo upstream on http://{demo})\n\nTry:\n"
    );
    for r in &gw.routes {
        let mut path = r.path.clone();
        for p in &r.path_params {
            path = path.replace(&format!("{{{p}}}"), "A-10001");
        }
        let url = format!("http://{local}{path}");
        match (r.spec.request.is_some(), example_body(gw, r)) {
            (true, Some(body)) => {
                let _ = writeln!(
                    text,
                    "  curl -s -X {} -H 'Content-Type: {}' --data-binary {} {url}",
                    r.method,
                    r.format.media_type(),
                    shell_word(&format!("@{}", body.display()))
                );
            }
            (true, None) => {
                let _ = writeln!(
                    text,
                    "  curl -s -X {} -H 'Content-Type: {}' --data-binary @BODY {url}",
                    r.method,
                    r.format.media_type()
                );
            }
            (false, _) => {
                let _ = writeln!(text, "  curl -s {url}");
            }
        }
    }
    let _ = writeln!(
        text,
        "  curl -s http://{local}/openapi.json\n  curl -s http://{local}/metrics\n"
    );
    use std::io::Write as _;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::HeadersConfig;

    fn retry_after_of(value: &str) -> Option<u64> {
        let mut upstream = HeaderMap::new();
        upstream.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        let p = Problem::new(ProblemKind::UpstreamClientError, "x");
        with_upstream_retry_after(p, &upstream).retry_after
    }

    #[test]
    fn printed_paths_are_one_shell_word() {
        assert_eq!(shell_word("@./tests/a.xml"), "@./tests/a.xml");
        assert_eq!(
            shell_word("@/tmp/my demo's/a.xml"),
            "'@/tmp/my demo'\\''s/a.xml'"
        );
    }

    #[test]
    fn upstream_retry_after_is_kept_as_seconds() {
        assert_eq!(retry_after_of("30"), Some(30));
        assert_eq!(retry_after_of(" 0 "), Some(0));
        // A date in the past means "now".
        assert_eq!(retry_after_of("Sun, 06 Nov 1994 08:49:37 GMT"), Some(0));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(120))
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let secs = retry_after_of(&later).unwrap();
        assert!((118..=120).contains(&secs), "{secs}");
        for junk in ["soon", "-5", "1.5", "", "99999999999999999999999"] {
            assert_eq!(retry_after_of(junk), None, "{junk}");
        }
        let p = Problem::new(ProblemKind::UpstreamClientError, "x");
        assert_eq!(
            with_upstream_retry_after(p, &HeaderMap::new()).retry_after,
            None
        );
    }

    #[test]
    fn internal_headers_are_stripped_from_the_partner_request() {
        let policy = HeaderPolicy::new(&HeadersConfig {
            internal_prefixes: vec!["X-Internal-".into(), "X-Secret".into()],
            ..HeadersConfig::default()
        })
        .unwrap();
        let mut headers = HeaderMap::new();
        for (k, v) in [
            ("x-internal-role", "admin"),
            ("x-partner-ref", "p-1"),
            ("x-secret-token", "t"),
            ("x-internal-role", "root"),
            ("accept", "application/json"),
        ] {
            headers.append(HeaderName::from_static(k), HeaderValue::from_static(v));
        }
        strip_internal_headers(&mut headers, &policy);
        let mut left: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_str().unwrap()))
            .collect();
        left.sort();
        assert_eq!(
            left,
            [("accept", "application/json"), ("x-partner-ref", "p-1")]
        );
    }
}
