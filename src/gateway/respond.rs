//! How answers are written: problem documents in the format the partner reads (SOAP
//! Faults on SOAP routes), mapped and passed-through answers with the headers that may
//! cross, and the bounded body read every body-carrying route starts with.

use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::HeaderMap;
use http::header::{self, HeaderName, HeaderValue};
use http_body_util::BodyExt as _;

use super::observe::Refusal;
use super::snapshot::Runtime;
use crate::codec::Format;
use crate::config::file::ProblemFormat;
use crate::edge::context::RequestContext;
use crate::edge::headers::{client_response_headers, transform_response_headers};
use crate::problem::{Problem, ProblemKind};
use crate::soap;

/// Chooses the format of an error body: configuration first, then the client's `Accept`,
/// then the route's format (JSON where there is no route).
pub(super) fn problem_format(rt: &Runtime, route: Option<Format>, headers: &HeaderMap) -> Format {
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

/// A refusal by any layer under routing: the problem in the format the partner reads
/// (`format` stands in for the route's where there is none, as for a 405), with the
/// context and the problem riding in the answer's extensions for the observing layer.
pub(super) fn refuse(
    rt: &Runtime,
    ctx: RequestContext,
    headers: &HeaderMap,
    format: Option<Format>,
    problem: Problem,
) -> Response {
    let soap = ctx.route.as_ref().and_then(|m| m.route.soap.as_ref());
    let mut resp = match soap {
        // A SOAP partner reads faults whatever it accepts.
        Some(binding) => fault_response(
            binding,
            &problem,
            &ctx.correlation_id,
            &rt.correlation_header,
        ),
        None => {
            let route_format = ctx.route.as_ref().map(|m| m.route.format).or(format);
            let f = problem_format(rt, route_format, headers);
            problem_response(&problem, f, &ctx.correlation_id, &rt.correlation_header)
        }
    };
    // A body refused as too large or too slow is left unread, so the connection cannot
    // carry another request: say so rather than let the client find out.
    if matches!(
        problem.kind,
        ProblemKind::PayloadTooLarge | ProblemKind::RequestTimeout
    ) {
        resp.headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    let ext = resp.extensions_mut();
    ext.insert(ctx);
    ext.insert(Refusal(problem));
    resp
}

pub(super) fn problem_response(
    p: &Problem,
    format: Format,
    cid: &str,
    cid_header: &HeaderName,
) -> Response {
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

/// A problem on a SOAP route: the fault carrying it, with the status the route's binding
/// gives faults and the version's media type.
pub(super) fn fault_response(
    binding: &soap::Binding,
    p: &Problem,
    cid: &str,
    cid_header: &HeaderName,
) -> Response {
    let (status, body) = soap::fault::of_problem(binding, p, cid);
    let mut resp = soap_response(binding.version, status, Bytes::from(body), cid, cid_header);
    if let Some(secs) = p.retry_after {
        resp.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// A SOAP message (an answer or a fault) with the version's media type.
pub(super) fn soap_response(
    version: soap::Version,
    status: http::StatusCode,
    body: Bytes,
    cid: &str,
    cid_header: &HeaderName,
) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(version.media_type()),
    );
    if let Ok(v) = HeaderValue::from_str(cid) {
        h.insert(cid_header.clone(), v);
    }
    resp
}

/// Reads the whole body within the size limit and the body-read deadline, refusing at once
/// when the declared length is already too large.
pub(super) async fn read_body(
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
        // Nobody reads this answer: it is for the access log and the metrics (499).
        Ok(Err(e)) if client_went_away(&*e) => Err(Problem::new(
            ProblemKind::MalformedBody,
            "the client closed the connection before its body was complete",
        )
        .with_status(CLIENT_CLOSED)),
        Ok(Err(e)) => Err(
            Problem::new(ProblemKind::MalformedBody, "the body could not be read")
                .with_log(e.to_string()),
        ),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}

/// nginx's status for a client that closed its connection before the answer.
pub(super) const CLIENT_CLOSED: http::StatusCode = match http::StatusCode::from_u16(499) {
    Ok(s) => s,
    Err(_) => http::StatusCode::BAD_REQUEST,
};

/// Whether a body error is the client's connection ending before the body did (hyper
/// reports it as an incomplete message, or as a body error caused by an early end of file).
fn client_went_away(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(e);
    while let Some(err) = next {
        if err
            .downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_incomplete_message)
            || err
                .downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::UnexpectedEof)
        {
            return true;
        }
        next = err.source();
    }
    false
}

pub(super) fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The partner's answer: the upstream's status, its headers filtered (a mapped body keeps
/// none of the upstream's representation headers), the body and its media type.
pub(super) fn partner_response(
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

/// The `kind` label of a validation failure's metric.
pub(super) fn failure_kind(p: &Problem) -> &'static str {
    match p.kind {
        ProblemKind::SchemaViolation => "external",
        ProblemKind::Internal => "internal",
        ProblemKind::InvalidUpstreamResponse => "upstream",
        _ => "decode",
    }
}
