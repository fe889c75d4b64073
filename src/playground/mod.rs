//! The mapping playground: `GET /playground` serves one page (HTML, script and style built
//! into the binary) where a mapping author picks a route, pastes a document and sees the
//! decoded view, the mapped output, every error with its line, and the golden cases; the
//! page talks to a small JSON API under `/playground/api/` that runs the same code as
//! `transform` and `check`. Served beside the admin endpoints when `[admin] playground`
//! is true, and reads the gateway snapshot current at each call.

pub mod api;
mod locate;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http::StatusCode;
use http::header::{self, HeaderValue};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Gateway;

/// The page, its script and its style, embedded so the binary serves them with no build
/// step and no network.
const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("app.js");
const STYLE: &str = include_str!("style.css");

/// Largest API request body: a document at the largest body limit a gateway is likely to
/// set, its original request and a route file, with JSON escaping.
pub const MAX_API_BODY_BYTES: usize = 8 * 1024 * 1024;

/// The page may load only its own script and style and call only its own API.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Where the playground gets the gateway snapshot to run against.
pub type Snapshot = Arc<dyn Fn() -> Arc<Gateway> + Send + Sync>;

/// Whether `path` belongs to the playground.
pub fn is_playground_path(path: &str) -> bool {
    path == "/playground" || path.starts_with("/playground/")
}

/// The playground's router.
pub fn router(snapshot: Snapshot) -> Router {
    Router::new()
        .route(
            "/playground",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/playground/app.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/playground/style.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route("/playground/api/routes", get(routes))
        .route("/playground/api/transform", post(transform))
        .route("/playground/api/check", post(check))
        .fallback(|| async { api_error(StatusCode::NOT_FOUND, "no such playground path".into()) })
        .layer(DefaultBodyLimit::max(MAX_API_BODY_BYTES))
        .with_state(snapshot)
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn json<T: Serialize>(status: StatusCode, value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

fn api_error(status: StatusCode, message: String) -> Response {
    let body = serde_json::json!({ "error": message });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn refused(e: &api::ApiError) -> Response {
    let status = match e {
        api::ApiError::UnknownRoute(_) => StatusCode::NOT_FOUND,
        api::ApiError::NoMapping { .. } | api::ApiError::NoRequestBody(_) => {
            StatusCode::BAD_REQUEST
        }
    };
    api_error(status, e.to_string())
}

async fn routes(State(snapshot): State<Snapshot>) -> Response {
    let gw = snapshot();
    json(
        StatusCode::OK,
        &serde_json::json!({ "routes": api::routes(&gw) }),
    )
}

/// Parses the request and runs `work` on the current snapshot. Mapping work is bounded by
/// the body limit but CPU-bound, so it runs off the reactor threads.
async fn run<I, O>(
    snapshot: Snapshot,
    body: Bytes,
    work: fn(&Gateway, &I) -> Result<O, api::ApiError>,
) -> Response
where
    I: DeserializeOwned + Send + 'static,
    O: Serialize + Send + 'static,
{
    let input: I = match serde_json::from_slice(&body) {
        Ok(i) => i,
        Err(e) => return api_error(StatusCode::BAD_REQUEST, format!("invalid request: {e}")),
    };
    let gw = snapshot();
    match tokio::task::spawn_blocking(move || work(&gw, &input)).await {
        Ok(Ok(out)) => json(StatusCode::OK, &out),
        Ok(Err(e)) => refused(&e),
        Err(e) => api_error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
    }
}

async fn transform(State(snapshot): State<Snapshot>, body: Bytes) -> Response {
    run(snapshot, body, api::transform).await
}

async fn check(State(snapshot): State<Snapshot>, body: Bytes) -> Response {
    run(snapshot, body, api::check).await
}
