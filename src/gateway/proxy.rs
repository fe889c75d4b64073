//! The `proxy` route kind: a path prefix passed through to an upstream service. The
//! method, the rest of the path (under the upstream path the route file gives: a strip or
//! a rewrite), the query string as sent and the headers (minus the hygiene rules of
//! [`crate::edge::headers`]) go upstream; both bodies stream frame by frame
//! ([`crate::proxy::stream`]) with hyper's backpressure, so memory stays flat whatever
//! their size.
//!
//! Paths are exact: each segment of what the prefix matched is checked percent-decoded,
//! and a dot-segment (`..`, `%2e%2e`, `.`), an encoded slash or backslash (`%2f`, `%5c`)
//! or a NUL is refused with 400 rather than normalised, so no spelling lets a request
//! climb out of its prefix on the upstream. Segments that pass are sent as the client
//! wrote them.

use std::time::Instant;

use axum::body::Body;
use axum::response::Response;
use http::header::{self, HeaderValue};
use http::{HeaderMap, HeaderName, StatusCode};
use http_body_util::{BodyExt as _, Either};

use super::route_service::RouteCall;
use crate::config::{PathPart, Route};
use crate::edge::context::RequestContext;
use crate::edge::headers::{
    check_host, client_response_headers, request_host, upstream_request_headers,
};
use crate::problem::{Problem, ProblemKind};
use crate::proxy::stream::{Metered, Outcome};
use crate::proxy::{StreamBody, Upstream};
use crate::telemetry::{OUTCOME_5XX, OUTCOME_OK, OUTCOME_UNEXPECTED_STATUS, ServiceMetrics};
use std::sync::Arc;

/// This gateway's name in `Via` (RFC 9110 §7.6.3).
const VIA: &str = "1.1 schemagate";

/// A `proxy` route's service.
pub struct ProxyService {
    upstream: Upstream,
    metrics: Arc<ServiceMetrics>,
    max_request_bytes: u64,
    max_response_bytes: u64,
    websocket: bool,
    websocket_idle: std::time::Duration,
    websocket_max_bytes: Option<u64>,
}

impl ProxyService {
    /// `route.spec.proxy` limits, or the global ones (`[limits]`) where it has none.
    pub fn new(
        route: &Route,
        upstream: Upstream,
        metrics: Arc<ServiceMetrics>,
        limits: &crate::config::file::LimitsConfig,
    ) -> Self {
        let spec = route.spec.proxy.clone().unwrap_or_default();
        ProxyService {
            max_request_bytes: spec
                .max_request_bytes
                .unwrap_or(limits.max_body_bytes as u64),
            max_response_bytes: spec
                .max_response_bytes
                .unwrap_or(upstream.max_response_bytes() as u64),
            websocket: spec.websocket.unwrap_or(true),
            websocket_idle: std::time::Duration::from_millis(
                spec.websocket_idle_timeout_ms
                    .unwrap_or(crate::config::proxy_spec::DEFAULT_WEBSOCKET_IDLE_TIMEOUT_MS),
            ),
            websocket_max_bytes: spec.websocket_max_bytes,
            upstream,
            metrics,
        }
    }

    pub async fn call(&self, call: RouteCall<'_>) -> Result<Response, Problem> {
        let RouteCall {
            rt,
            ctx,
            route,
            params,
            parts,
            body,
            ..
        } = call;
        let RequestContext {
            correlation_id,
            peer,
            timings,
            ..
        } = ctx;
        let cid = correlation_id.as_str();
        check_host(parts.version, &parts.headers)
            .map_err(|e| Problem::new(ProblemKind::MalformedRequest, e.to_string()))?;
        let mut target = proxy_path(route, params)
            .map_err(|e| Problem::new(ProblemKind::InvalidPath, e.to_string()))?;
        if let Some(q) = parts.uri.query() {
            target.push('?');
            target.push_str(q);
        }
        let too_large = || {
            Problem::new(
                ProblemKind::PayloadTooLarge,
                format!(
                    "the body exceeds the limit of {} bytes",
                    self.max_request_bytes
                ),
            )
        };
        if parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > self.max_request_bytes)
        {
            return Err(too_large());
        }

        let host = request_host(&parts.uri, &parts.headers);
        let mut headers =
            upstream_request_headers(&parts.headers, &rt.headers, peer.ip(), "http", host, cid);
        pass_end_to_end(&parts.headers, &mut headers);
        // The gateway answers `Expect: 100-continue` itself (hyper sends the 100 when the
        // body is first read, that is once the upstream takes it).
        headers.remove(header::EXPECT);
        if wants_trailers(&parts.headers) {
            headers.insert(header::TE, HeaderValue::from_static("trailers"));
        }
        append_via(&parts.headers, &mut headers);
        let upgrade = self.websocket && websocket_upgrade(&parts.headers);
        if upgrade {
            // The hop-by-hop pair the rules above dropped: this hop asks for it again.
            headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        }

        // A request without a body (most GETs) needs no stream.
        let (request_body, sent) = if http_body::Body::is_end_stream(&body) {
            let empty = http_body_util::Full::new(bytes::Bytes::new());
            (Either::Left(empty), Outcome::default())
        } else {
            let metered = Metered::new(body, self.max_request_bytes, rt.body_read_timeout, None);
            let sent = metered.outcome();
            let stream: StreamBody = metered.map_err(axum::BoxError::from).boxed_unsync();
            (Either::Right(stream), sent)
        };

        let started = Instant::now();
        let in_flight = self.metrics.start();
        let result = self
            .upstream
            .call_stream(parts.method.clone(), &target, headers, request_body)
            .await;
        let elapsed = started.elapsed();
        timings.upstream = Some(elapsed);
        let (mut resp, pick) = match result {
            Ok(r) => r,
            Err(e) => {
                in_flight.finish(e.outcome(), elapsed.as_secs_f64());
                if sent.too_large() {
                    return Err(too_large());
                }
                if sent.idle() {
                    return Err(Problem::new(
                        ProblemKind::RequestTimeout,
                        "the body was not received in time",
                    ));
                }
                return Err(e.to_problem());
            }
        };
        let switched = resp.status() == StatusCode::SWITCHING_PROTOCOLS;
        // Labelled by what the partner gets: everything is passed on as it came, but a
        // switch of protocols nobody asked for, which becomes a 502.
        let outcome = if resp.status().is_server_error() {
            OUTCOME_5XX
        } else if switched && !upgrade {
            OUTCOME_UNEXPECTED_STATUS
        } else {
            OUTCOME_OK
        };
        in_flight.finish(outcome, elapsed.as_secs_f64());

        let service_upgrade = (upgrade && switched).then(|| hyper::upgrade::on(&mut resp));
        let (up_parts, up_body) = resp.into_parts();
        if up_parts
            .headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|n| n > self.max_response_bytes && parts.method != http::Method::HEAD)
        {
            return Err(crate::proxy::UpstreamError::TooLarge {
                upstream: self.upstream.name().to_string(),
                limit: usize::try_from(self.max_response_bytes).unwrap_or(usize::MAX),
            }
            .to_problem());
        }
        let mut out_headers = client_response_headers(&up_parts.headers, &rt.headers);
        pass_end_to_end(&up_parts.headers, &mut out_headers);
        if let Ok(v) = HeaderValue::from_str(cid) {
            out_headers.insert(rt.correlation_header.clone(), v);
        }
        if up_parts.status == StatusCode::SWITCHING_PROTOCOLS {
            drop(pick);
            let (Some(service), Some(client)) = (
                service_upgrade,
                parts.extensions.get::<hyper::upgrade::OnUpgrade>().cloned(),
            ) else {
                // A 101 to a request that asked for no upgrade is the service misbehaving.
                return Err(Problem::new(
                    ProblemKind::UpstreamError,
                    "the service switched protocols, which this route does not pass through",
                ));
            };
            out_headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
            out_headers.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
            let (idle, max) = (self.websocket_idle, self.websocket_max_bytes);
            let (cid, route) = (cid.to_string(), route.name.clone());
            tokio::spawn(async move {
                let end = crate::proxy::tunnel::run(client, service, idle, max).await;
                tracing::debug!(correlation_id = %cid, route = %route, ?end, "tunnel ended");
            });
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            *response.headers_mut() = out_headers;
            return Ok(response);
        }
        let body = Metered::new(
            up_body,
            self.max_response_bytes,
            self.upstream.request_timeout(),
            Some(pick),
        );
        let mut response = Response::new(Body::new(body));
        *response.status_mut() = up_parts.status;
        *response.headers_mut() = out_headers;
        Ok(response)
    }
}

/// Whether the request asks to become a WebSocket (RFC 6455 §4.1: `Connection: upgrade`
/// and `Upgrade: websocket`, in any letter case).
fn websocket_upgrade(headers: &HeaderMap) -> bool {
    let has = |name: header::HeaderName, token: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    has(header::CONNECTION, "upgrade") && has(header::UPGRADE, "websocket")
}

/// `Trailer` names end-to-end fields (RFC 9110 §6.6.2) that the header rules drop with
/// the hop-by-hop ones; a pass-through keeps it so the trailers it names can follow.
fn pass_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    for v in from.get_all(header::TRAILER) {
        to.append(header::TRAILER, v.clone());
    }
}

/// Whether the client accepts trailers (`TE: trailers`, RFC 9110 §10.1.4): only then
/// does the gateway ask the upstream for them.
fn wants_trailers(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::TE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
}

fn append_via(incoming: &HeaderMap, out: &mut HeaderMap) {
    let mut chain = String::new();
    for v in incoming.get_all(header::VIA) {
        if let Ok(s) = v.to_str() {
            chain.push_str(s.trim());
            chain.push_str(", ");
        }
    }
    chain.push_str(VIA);
    if let Ok(v) = HeaderValue::from_str(&chain) {
        out.insert(HeaderName::from_static("via"), v);
    }
}

/// A request path the proxy refuses to pass on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathEscape {
    #[error("the path has a `.` or `..` segment (also when percent-encoded)")]
    DotSegment,
    #[error("the path has an encoded `/` or `\\` inside a segment")]
    EncodedSeparator,
    #[error("the path has a `%` that is not followed by two hexadecimal digits")]
    BadEscape,
    #[error("the path has an encoded NUL")]
    Nul,
}

/// The upstream path of a proxy request: the route's upstream template with each matched
/// parameter (raw, as the client wrote it) checked segment by segment.
pub fn proxy_path(route: &Route, params: &[(String, String)]) -> Result<String, PathEscape> {
    let mut out = String::new();
    for part in &route.upstream_path {
        match part {
            PathPart::Literal(s) => out.push_str(s),
            PathPart::Param(name) => {
                if let Some((_, v)) = params.iter().find(|(k, _)| k == name) {
                    for seg in v.split('/') {
                        check_segment(seg)?;
                    }
                    out.push_str(v);
                }
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Refuses a raw path segment that, once decoded, could change the path's structure.
fn check_segment(seg: &str) -> Result<(), PathEscape> {
    let bytes = seg.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    let hex = |b: u8| (b as char).to_digit(16);
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let (Some(hi), Some(lo)) = (
                bytes.get(i + 1).and_then(|&b| hex(b)),
                bytes.get(i + 2).and_then(|&b| hex(b)),
            ) else {
                return Err(PathEscape::BadEscape);
            };
            let c = (hi * 16 + lo) as u8;
            match c {
                b'/' | b'\\' => return Err(PathEscape::EncodedSeparator),
                0 => return Err(PathEscape::Nul),
                _ => {}
            }
            decoded.push(c);
            i += 3;
        } else {
            if b == b'\\' {
                return Err(PathEscape::EncodedSeparator);
            }
            decoded.push(b);
            i += 1;
        }
    }
    if decoded == b"." || decoded == b".." {
        return Err(PathEscape::DotSegment);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_escape_shape_is_refused() {
        for (seg, err) in [
            ("..", PathEscape::DotSegment),
            (".", PathEscape::DotSegment),
            ("%2e%2e", PathEscape::DotSegment),
            ("%2E%2E", PathEscape::DotSegment),
            (".%2e", PathEscape::DotSegment),
            ("%2e.", PathEscape::DotSegment),
            ("%2e", PathEscape::DotSegment),
            ("a%2fb", PathEscape::EncodedSeparator),
            ("..%2F..", PathEscape::EncodedSeparator),
            ("%5c", PathEscape::EncodedSeparator),
            ("..\\x", PathEscape::EncodedSeparator),
            ("a%00", PathEscape::Nul),
            ("%", PathEscape::BadEscape),
            ("%2", PathEscape::BadEscape),
            ("%zz", PathEscape::BadEscape),
        ] {
            assert_eq!(check_segment(seg), Err(err), "{seg}");
        }
        for ok in [
            "",
            "a",
            "...",
            "a..b",
            "..a",
            "%252e%252e",
            "M%C3%BCller",
            "a+b",
        ] {
            assert_eq!(check_segment(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn trailers_are_asked_for_only_when_accepted() {
        let mut h = HeaderMap::new();
        assert!(!wants_trailers(&h));
        h.insert(header::TE, HeaderValue::from_static("gzip, Trailers"));
        assert!(wants_trailers(&h));
    }

    #[test]
    fn via_is_appended() {
        let mut incoming = HeaderMap::new();
        incoming.insert(header::VIA, HeaderValue::from_static("1.0 edge"));
        let mut out = HeaderMap::new();
        append_via(&incoming, &mut out);
        assert_eq!(out[header::VIA], "1.0 edge, 1.1 schemagate");
        let mut out = HeaderMap::new();
        append_via(&HeaderMap::new(), &mut out);
        assert_eq!(out[header::VIA], "1.1 schemagate");
    }
}
