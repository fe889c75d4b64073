//! The admin endpoints: liveness, readiness, metrics, status, and what is published about
//! the partners (the OpenAPI documents, the XSDs of XML routes). They sit beside the
//! partner stack, not in it: no routing, no access log, only the correlation id every
//! answer carries.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::UNIX_EPOCH;

use axum::Router;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode, Uri};
use serde_json::{Value, json};

use super::respond::{problem_format, problem_response};
use super::snapshot::Runtime;
use super::state::AppState;
use crate::edge::correlation::correlation_id;
use crate::problem::{Problem, ProblemKind};

/// The paths of the admin endpoints besides those under [`PREFIXES`]; every other path is
/// a partner request.
pub(super) const PATHS: [&str; 5] = [
    "/healthz",
    "/readyz",
    "/metrics",
    "/admin/status",
    "/openapi.json",
];

/// The path prefixes under which the admin endpoints serve one file per partner or route.
const PREFIXES: [&str; 2] = ["/openapi/", "/schemas/"];

/// Whether `path` is an admin endpoint's rather than a partner request's.
pub(super) fn serves(path: &str) -> bool {
    PATHS.contains(&path) || PREFIXES.iter().any(|p| path.starts_with(p))
}

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
        .route("/openapi/{file}", get(partner_openapi))
        .route("/schemas/{*file}", get(xsd))
        .fallback(unknown)
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
    let detail = format!("no admin endpoint at {}", req.uri().path());
    not_found_because(rt, req.headers(), detail)
}

/// A 404 problem document saying what is not there.
fn not_found_because(rt: &Runtime, headers: &HeaderMap, detail: String) -> Response {
    let cid = correlation_id(headers, &rt.correlation_header);
    let p = Problem::new(ProblemKind::NotFound, detail);
    let format = problem_format(rt, None, headers);
    problem_response(&p, format, &cid, &rt.correlation_header)
}

async fn unknown(State(state): State<Arc<AppState>>, req: Request) -> Response {
    not_found(&state.runtime(), &req)
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
        state.runtime().published.openapi.clone(),
    )
        .into_response()
}

/// `/openapi/PARTNER.json`: one partner's routes alone.
async fn partner_openapi(
    State(state): State<Arc<AppState>>,
    uri: Uri,
    headers: HeaderMap,
) -> Response {
    let rt = state.runtime();
    let partners = &rt.published.partners;
    let name = uri
        .path()
        .strip_prefix("/openapi/")
        .and_then(|f| f.strip_suffix(".json"));
    match name.and_then(|n| partners.get(n)) {
        Some(doc) => ([(header::CONTENT_TYPE, "application/json")], doc.clone()).into_response(),
        None => {
            let known: Vec<String> = partners
                .keys()
                .map(|p| format!("/openapi/{p}.json"))
                .collect();
            let detail = format!(
                "no partner document at {}; documents: {}",
                uri.path(),
                known.join(", ")
            );
            not_found_because(&rt, &headers, detail)
        }
    }
}

/// `/schemas/PARTNER/ROUTE.xsd` (and `.response.xsd`): an XML route's partner document as
/// XSD, exported from its JSON Schema.
async fn xsd(State(state): State<Arc<AppState>>, uri: Uri, headers: HeaderMap) -> Response {
    let rt = state.runtime();
    let files = &rt.published.xsd;
    let found = uri
        .path()
        .strip_prefix("/schemas/")
        .and_then(|f| files.get(f));
    match found {
        Some(Ok(text)) => {
            ([(header::CONTENT_TYPE, "application/xml")], text.clone()).into_response()
        }
        Some(Err(why)) => not_found_because(&rt, &headers, why.clone()),
        None => {
            let known: Vec<String> = files
                .iter()
                .filter(|(_, f)| f.is_ok())
                .map(|(p, _)| format!("/schemas/{p}"))
                .collect();
            let detail = format!(
                "no XSD at {}; XSDs of the XML routes: {}",
                uri.path(),
                known.join(", ")
            );
            not_found_because(&rt, &headers, detail)
        }
    }
}
