//! The `transform` route kind: read the partner's body, decode, validate, map, forward,
//! then map the upstream's answer (or its 4xx error body) back into the partner's format.
//! The transformation phases themselves are [`crate::pipeline`]'s; this is their HTTP side.

use std::sync::Arc;
use std::time::Instant;
use tracing::Instrument as _;

use axum::response::Response;
use bytes::Bytes;
use http::header::{self, HeaderValue};
use http::{HeaderMap, StatusCode};

use super::respond::{failure_kind, parse_query, partner_response, read_body};
use super::route_service::RouteCall;
use crate::config::Route;
use crate::edge::budget;
use crate::edge::context::RequestContext;
use crate::edge::headers::{
    check_body_codings, check_host, request_host, retry_after_seconds, transform_request_headers,
};
use crate::mapping::EvalContext;
use crate::pipeline;
use crate::problem::{Problem, ProblemKind};
use crate::proxy::Upstream;
use crate::proxy::guard::NO_RETRIES;
use crate::proxy::retry;
use crate::soap;
use crate::telemetry::traces::{self, Phase};
use crate::telemetry::{OUTCOME_5XX, OUTCOME_OK, OUTCOME_UNEXPECTED_STATUS, ServiceMetrics};

/// A `transform` route's service: its upstream and that upstream's metric handles.
pub struct TransformService {
    upstream: Upstream,
    metrics: Arc<ServiceMetrics>,
}

impl TransformService {
    pub fn new(upstream: Upstream, metrics: Arc<ServiceMetrics>) -> Self {
        TransformService { upstream, metrics }
    }
}

impl TransformService {
    /// Runs one request through the route: its upstream exchange and both mappings.
    pub async fn call(&self, call: RouteCall<'_>) -> Result<Response, Problem> {
        let RouteCall {
            rt,
            metrics,
            ctx: request,
            route,
            params,
            parts,
            body,
        } = call;
        // Disjoint borrows: the id is read throughout, the timings written once.
        let RequestContext {
            correlation_id,
            peer,
            timings,
            route: matched,
            ..
        } = request;
        // Repeated only when both the partner's request and the upstream's are safe to
        // repeat (or the route says its requests are).
        let retry = matched
            .as_ref()
            .and_then(|m| rt.routes.get(m.index))
            .map(|r| r.traffic.retry)
            .filter(|p| retry::may_retry(&parts.method, p))
            .unwrap_or(NO_RETRIES);
        let (cid, peer) = (correlation_id.as_str(), *peer);
        let params = Route::decode_path_params(params)
            .map_err(|e| Problem::new(ProblemKind::InvalidPath, e.to_string()))?;
        let params = params.as_slice();
        let query = parse_query(parts.uri.query());
        // Verified claims, when authentication accepted a JWT (`$claims.NAME`).
        let claims = parts
            .extensions
            .get::<crate::edge::auth::Identity>()
            .map(|i| Arc::clone(&i.claims));
        let ctx = EvalContext {
            path_params: params,
            query: &query,
            headers: &parts.headers,
            claims: claims.as_deref(),
            soap_header: None,
            partner: &route.partner,
            correlation_id: cid,
            request: None,
        };

        // RFC 9112 §3.2: a request without exactly one valid Host is refused, not forwarded.
        check_host(parts.version, &parts.headers)
            .map_err(|e| Problem::new(ProblemKind::MalformedRequest, e.to_string()))?;

        // Counted against the memory budget from here until the answer's body is dropped:
        // the declared body times the decoding multiple (edge/budget.rs).
        let declared = match route.request {
            Some(_) => budget::declared_body(&parts.headers, rt.max_body_bytes),
            None => 0,
        };
        let mut held = rt.memory.admit(budget::request_charge(declared))?;

        // Request direction.
        let (decoded, upstream_body) = match &route.request {
            Some(stage) => {
                let content_type = parts
                    .headers
                    .get(header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok());
                match &route.soap {
                    Some(binding) => soap::check_media_type(binding.version, content_type)?,
                    None => pipeline::check_media_type(route.format, content_type)?,
                }
                check_body_codings(&parts.headers)
                    .map_err(|e| Problem::new(ProblemKind::UnsupportedMediaType, e.to_string()))?;
                let raw = read_body(
                    body,
                    &parts.headers,
                    rt.max_body_bytes,
                    rt.body_read_timeout,
                )
                .await?;
                held.shrink_to(budget::request_charge(raw.len()));
                match pipeline::transform_request(route, stage, &raw, &ctx, &rt.limits) {
                    Ok(m) => (Some(m.decoded), Bytes::from(m.body)),
                    Err(p) => {
                        metrics.validation_failure(&route.name, failure_kind(&p));
                        return Err(p);
                    }
                }
            }
            None => (None, Bytes::new()),
        };

        // Forward.
        let (upstream, service_metrics) = (&self.upstream, &self.metrics);
        let host = request_host(&parts.uri, &parts.headers);
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
        let in_flight = service_metrics.start();
        let call = traces::phase(Phase::UpstreamCall);
        traces::inject(&call, &parts.extensions, &mut headers);
        let result = upstream
            .call(
                route.upstream_method.clone(),
                &path,
                headers,
                upstream_body,
                &retry,
            )
            .instrument(call)
            .await;
        let up_elapsed = up_started.elapsed();
        timings.upstream = Some(up_elapsed);
        let up_secs = up_elapsed.as_secs_f64();
        let resp = match result {
            Ok(r) => {
                in_flight.finish(exchange_outcome(r.status), up_secs);
                held.grow(r.body.len().saturating_mul(budget::ANSWER_MULTIPLE))?;
                r
            }
            Err(e) => {
                in_flight.finish(e.outcome(), up_secs);
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
                        let (status, bytes) = pipeline::partner_error(route, bytes, resp.status);
                        return Ok(held.hold_answer(partner_response(
                            rt,
                            cid,
                            status,
                            &resp.headers,
                            Bytes::from(bytes),
                            media_type(route),
                            true,
                        )));
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
                let bytes =
                    pipeline::transform_response(route, stage, &resp.body, &ctx, &rt.limits)
                        .inspect_err(|p| {
                            metrics.validation_failure(&route.name, failure_kind(p));
                        })?;
                (
                    Bytes::from(pipeline::partner_answer(route, bytes)),
                    media_type(route),
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
        Ok(held.hold_answer(partner_response(
            rt,
            cid,
            resp.status,
            &resp.headers,
            body,
            content_type,
            mapped,
        )))
    }
}

/// The upstream outcome label of an answer, by what the partner gets of it: a 2xx or a 4xx
/// is passed on (mapped or summarised), a 5xx is the service failing, and anything else
/// (1xx, 3xx) cannot be passed on and becomes a 502.
pub(super) fn exchange_outcome(status: StatusCode) -> &'static str {
    if status.is_success() || status.is_client_error() {
        OUTCOME_OK
    } else if status.is_server_error() {
        OUTCOME_5XX
    } else {
        OUTCOME_UNEXPECTED_STATUS
    }
}

/// The media type of the route's mapped answers: the SOAP version's on a SOAP route.
fn media_type(route: &Route) -> HeaderValue {
    HeaderValue::from_static(match &route.soap {
        Some(binding) => binding.version.media_type(),
        None => return route.response_media_type.clone(),
    })
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

#[cfg(test)]
mod tests {
    use super::*;

    fn retry_after_of(value: &str) -> Option<u64> {
        let mut upstream = HeaderMap::new();
        upstream.insert(header::RETRY_AFTER, HeaderValue::from_str(value).unwrap());
        let p = Problem::new(ProblemKind::UpstreamClientError, "x");
        with_upstream_retry_after(p, &upstream).retry_after
    }

    #[test]
    fn outcomes_follow_what_the_partner_gets() {
        for (status, outcome) in [
            (200, OUTCOME_OK),
            (204, OUTCOME_OK),
            (404, OUTCOME_OK),
            (422, OUTCOME_OK),
            (500, OUTCOME_5XX),
            (503, OUTCOME_5XX),
            (101, OUTCOME_UNEXPECTED_STATUS),
            (301, OUTCOME_UNEXPECTED_STATUS),
            (304, OUTCOME_UNEXPECTED_STATUS),
        ] {
            let status = StatusCode::from_u16(status).unwrap();
            assert_eq!(exchange_outcome(status), outcome, "{status}");
        }
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
}
