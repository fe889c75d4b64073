//! The partner stack: every request that is not an admin endpoint, phase by phase (see
//! the order in [`crate::gateway`]): header hygiene and the correlation id, routing (404,
//! 405, HEAD served by GET), the request deadline around the route's service, then the
//! answer: problems rendered in the partner's format, metrics and the access log.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::Method;
use http::header::{self, HeaderValue};

use super::respond::{problem_format, problem_response};
use super::route_service::RouteCall;
use super::state::AppState;
use crate::config::RouteMatch;
use crate::edge::context::{MatchedRoute, RequestContext};
use crate::edge::correlation::correlation_id;
use crate::edge::headers::strip_internal;
use crate::problem::{Problem, ProblemKind};

/// The partner-route handler: everything that is not an admin endpoint.
///
/// No tracing span is opened per request: a span costs an allocation and field formatting on
/// every request, and the few events a request logs carry its correlation id themselves.
pub(super) async fn handle(state: Arc<AppState>, peer: SocketAddr, mut req: Request) -> Response {
    let rt = state.runtime();
    // Internal-prefix headers belong to the gateway and its services: a partner's copies go
    // before anything, a mapping's `$header.NAME` included, can read them.
    strip_internal(req.headers_mut(), &rt.headers);
    let cid = correlation_id(req.headers(), &rt.correlation_header);
    let mut ctx = RequestContext::new(cid, peer);
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
            let outcome = match rt.routes.get(index) {
                Some(r) => {
                    let fut = r.service.call(RouteCall {
                        rt: &rt,
                        metrics: &state.metrics,
                        ctx: &mut ctx,
                        route: &route,
                        params: &params,
                        parts: &parts,
                        body,
                    });
                    match tokio::time::timeout(rt.request_timeout, fut).await {
                        Ok(result) => result,
                        Err(_) => Err(Problem::new(
                            ProblemKind::UpstreamTimeout,
                            "the request did not complete in time",
                        )),
                    }
                }
                None => Err(Problem::new(
                    ProblemKind::Internal,
                    "the route's service is not built",
                )),
            };
            ctx.route = Some(MatchedRoute {
                index,
                route: Arc::clone(&route),
                params,
            });
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
            let detail = format!(
                "no route for {} {}",
                parts.method,
                crate::problem::echoed(parts.uri.path())
            );
            (None, Err(Problem::new(ProblemKind::NotFound, detail)))
        }
    };
    let route = found.as_ref().map(|(_, r)| r);
    let cid = ctx.correlation_id.as_str();

    let (response, problem) = match outcome {
        Ok(resp) => (resp, None),
        Err(p) => {
            let f = problem_format(
                &rt,
                route.map(|r| r.format).or(error_format),
                &parts.headers,
            );
            let mut resp = problem_response(&p, f, cid, &rt.correlation_header);
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
    let elapsed = ctx.started.elapsed();
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
            peer = %ctx.peer.ip(),
            "request"
        );
    }
    response
}
