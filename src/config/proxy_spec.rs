//! The `proxy:` section of a `proxy` route file: how much a pass-through route lets
//! through and for how long, since its bodies stream rather than being read whole.
//!
//! A transforming route holds a body in memory, so `[limits] max_body_bytes` and
//! `max_response_bytes` bound its memory. A proxy route holds one frame at a time, so its
//! limits are about what the service should receive, not about memory: they default to the
//! global ones and a route moving large files raises them here.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// WebSocket tunnels with no byte in either direction for this long are closed: a
/// forgotten tab must not hold a connection slot forever.
pub const DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS: u64 = 60_000;

/// `proxy:` in a route file of `route.kind: proxy`. Every key is optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProxySpec {
    /// Largest request body passed to the service; beyond it the request is refused with
    /// 413 (a declared `Content-Length`) or cut off mid-stream. Default:
    /// `[limits] max_body_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_request_bytes: Option<u64>,
    /// Largest response body passed back; a longer one is cut off mid-stream (the client
    /// sees the connection end before the body does). Default: `[limits] max_response_bytes`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_response_bytes: Option<u64>,
    /// Whether `Upgrade: websocket` requests are tunnelled to the service (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket: Option<bool>,
    /// A WebSocket tunnel silent in both directions for this long is closed (default
    /// 60000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_idle_timeout_ms: Option<u64>,
    /// Most bytes a WebSocket tunnel carries in each direction over its life; no limit by
    /// default. The tunnel copies bytes and parses no frames, so this, not a frame size,
    /// bounds what one connection moves.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websocket_max_bytes: Option<u64>,
}

/// The method table entry of a proxy route that serves every method.
pub const ANY_METHOD: &str = "*";

/// Checks what only a `proxy` route must satisfy, pushing a diagnostic per problem, and
/// returns the route's method: the one named, or `*` (every method).
pub(super) fn check_proxy_route(
    spec: &crate::mapping::RouteFile,
    file: &std::path::Path,
    diags: &mut Vec<crate::diagnostic::Diagnostic>,
) -> Option<http::Method> {
    use crate::diagnostic::Diagnostic;
    let err = |msg: String, loc: &str| Diagnostic::error(file, msg).location(loc.to_string());
    for (section, present) in [
        ("request", spec.request.is_some()),
        ("response", spec.response.is_some()),
        ("errors", spec.errors.is_some()),
    ] {
        if present {
            diags.push(
                err(
                    format!("a proxy route passes bodies through: `{section}:` cannot apply"),
                    section,
                )
                .hint("remove it, or make the route a `transform` route"),
            );
        }
    }
    if spec.upstream.as_ref().is_some_and(|u| u.method.is_some()) {
        diags.push(
            err(
                "a proxy route sends the client's method: `upstream.method` cannot apply".into(),
                "upstream.method",
            )
            .hint("remove `upstream.method`"),
        );
    }
    if spec.upstream.as_ref().is_some_and(|u| !u.query.is_none()) {
        diags.push(
            err(
                "a proxy route passes the query string as sent: `upstream.query` cannot apply"
                    .into(),
                "upstream.query",
            )
            .hint("remove `upstream.query`"),
        );
    }
    if !spec.route.headers.is_empty() || !spec.route.query.is_empty() {
        diags.push(err(
            "`route.headers` and `route.query` declare what mappings read; a proxy route has no mappings".into(),
            "route",
        ));
    }
    let path = &spec.route.path;
    if let Some(at) = path.find("{*") {
        let tail = &path[at..];
        if !tail.ends_with('}') || tail[1..].contains('{') || !path[..at].ends_with('/') {
            diags.push(
                err(
                    format!("`{path}`: a `{{*name}}` parameter must be the whole last segment"),
                    "route.path",
                )
                .hint("write the prefix as `/api/{*rest}`"),
            );
        }
    }
    if let Some(p) = &spec.proxy {
        for (key, value) in [
            ("proxy.max_request_bytes", p.max_request_bytes),
            ("proxy.max_response_bytes", p.max_response_bytes),
            (
                "proxy.websocket_idle_timeout_ms",
                p.websocket_idle_timeout_ms,
            ),
            ("proxy.websocket_max_bytes", p.websocket_max_bytes),
        ] {
            if value == Some(0) {
                diags.push(err(format!("{key} must be greater than 0"), key));
            }
        }
    }
    let m = spec.route.method.trim();
    if m.is_empty() || m == ANY_METHOD {
        return http::Method::from_bytes(ANY_METHOD.as_bytes()).ok();
    }
    match http::Method::from_bytes(m.to_ascii_uppercase().as_bytes()) {
        Ok(method) => Some(method),
        Err(_) => {
            diags.push(err(
                format!("method `{m}` is not an HTTP method"),
                "route.method",
            ));
            None
        }
    }
}
