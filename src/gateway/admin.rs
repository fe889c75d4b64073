//! The admin endpoints: liveness, readiness, metrics, status and the OpenAPI document.
//! They sit beside the partner stack, not in it: no routing, no access log, only the
//! correlation id every answer carries.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::StatusCode;
use http::header::{self, HeaderValue};
use serde_json::{Value, json};

use super::respond::{problem_format, problem_response};
use super::snapshot::Runtime;
use super::state::AppState;
use crate::edge::correlation::correlation_id;
use crate::problem::{Problem, ProblemKind};

/// The paths of the admin endpoints; every other path is a partner request.
pub(super) const PATHS: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/admin/status",
    "/openapi.json",
];

/// The admin endpoints' router, sharing the gateway's state.
pub(super) fn router(state: Arc<AppState>) -> Router {
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
        .with_state(state)
}

/// The mapping playground's page and API (`[admin] playground`), beside the admin
/// endpoints; each call runs on the snapshot of its moment, so a reload shows at once.
pub(super) fn playground(state: &Arc<AppState>) -> Option<Router> {
    let admin = &state.runtime().gateway.config.admin;
    (admin.enabled && admin.playground).then(|| {
        let state = Arc::clone(state);
        crate::playground::router(Arc::new(move || Arc::clone(&state.runtime().gateway)))
    })
}

/// The admin endpoints answer GET and HEAD only; any other method gets the same problem
/// document and headers as a partner route's 405.
pub(super) fn method_not_allowed(rt: &Runtime, req: &Request) -> Response {
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

/// A path the admin listener does not serve: a problem document like any other 404.
pub(super) fn not_found(rt: &Runtime, req: &Request) -> Response {
    let cid = correlation_id(req.headers(), &rt.correlation_header);
    let p = Problem::new(
        ProblemKind::NotFound,
        format!("no admin endpoint at {}", req.uri().path()),
    );
    let format = problem_format(rt, None, req.headers());
    problem_response(&p, format, &cid, &rt.correlation_header)
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

async fn metrics(State(state): State<Arc<AppState>>, headers: http::HeaderMap) -> Response {
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
        .map(|r| json!({"name": r.name, "kind": r.kind.as_str(), "method": r.method.as_str(), "path": r.path, "format": r.format, "upstream": r.upstream}))
        .collect();
    let upstreams: Vec<Value> = rt
        .upstreams
        .iter()
        .map(|u| {
            let b = u.balancer();
            json!({
                "name": u.name(),
                "discovery": b.discovery().map(|d| d.name.as_str()),
                "targets": b.status(),
            })
        })
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
        "upstreams": upstreams,
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
