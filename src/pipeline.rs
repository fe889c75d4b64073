//! One partner request, phase by phase.
//!
//! ```text
//!  partner ──► route ──► read body ──► decode ──► validate ──► map ──► validate ──► forward
//!              (404/405)  (413/408)    (400/415)  external     (422)   internal      (502/504)
//!                                                  (422)               (500)            │
//!  partner ◄── encode ◄── validate ◄── map back ◄── validate ◄── decode upstream ◄──────┘
//!              (partner   target       (502)        internal      (502)
//!               format)   (500)                     response
//! ```
//!
//! The transformation phases are plain functions over bytes and values
//! ([`transform_request`], [`transform_response`]) shared by `serve`, `check`'s golden
//! fixtures and `transform`, so all three run exactly the same code. The HTTP phases
//! (reading the body, forwarding) live in [`crate::gateway`]. On a SOAP route the partner's
//! document is the Envelope's Body element ([`crate::soap`]): decoded where it stands, so
//! positions in errors are those in the whole message, and answers are wrapped again.

use serde_json::Value;

use crate::codec::doc::View;
use crate::codec::xml::{Fragment, Source};
use crate::codec::{self, CodecError, Format, Limits};
use crate::config::{Route, Stage};
use crate::mapping::{EvalContext, MapError};
use crate::problem::{FieldError, Problem, ProblemKind};
use crate::schema::Violation;
use crate::soap;
use crate::telemetry::traces::{self, Phase};

/// The result of the request direction.
#[derive(Debug)]
pub struct MappedRequest {
    /// The partner's body in its JSON view, as far as the route's response and error maps
    /// read it through `$request` ([`Route::request_reads`]): every path they read gives
    /// the same value here as on the whole document.
    pub decoded: Value,
    /// The internal body, serialised, ready to forward.
    pub body: Vec<u8>,
}

/// Checks a request's media type against the route's format. `None` with a body is refused:
/// a partner that does not say what it sends is not guessed at.
pub fn check_media_type(format: Format, content_type: Option<&str>) -> Result<(), Problem> {
    let expected = match format {
        Format::Xml => "application/xml or text/xml",
        Format::Json => "application/json",
    };
    let Some(ct) = content_type else {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!("missing Content-Type; this route accepts {expected}"),
        ));
    };
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let ok = match format {
        Format::Xml => {
            essence == "application/xml"
                || essence == "text/xml"
                || (essence.starts_with("application/") && essence.ends_with("+xml"))
        }
        Format::Json => {
            essence == "application/json"
                || (essence.starts_with("application/") && essence.ends_with("+json"))
        }
    };
    if !ok {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!("Content-Type `{essence}` is not accepted; this route accepts {expected}"),
        ));
    }
    check_charset(format, parts)
}

/// Checks the `charset` among a Content-Type's parameters. JSON is UTF-8 (RFC 8259 §8.1).
/// An XML document (a SOAP envelope too) says its own encoding by its first bytes and its
/// declaration, which the decoder checks; the parameter only has to name one the decoder
/// reads.
pub fn check_charset<'p>(
    format: Format,
    parts: impl Iterator<Item = &'p str>,
) -> Result<(), Problem> {
    let (charsets, send): (&[&str], &str) = match format {
        Format::Xml => (
            &[
                "utf-8", "utf8", "utf-16", "utf-16le", "utf-16be", "us-ascii",
            ],
            "send UTF-8 or UTF-16",
        ),
        Format::Json => (&["utf-8", "utf8"], "send UTF-8"),
    };
    for param in parts {
        if let Some((k, v)) = param.split_once('=')
            && k.trim().eq_ignore_ascii_case("charset")
        {
            let v = v.trim().trim_matches('"');
            if !charsets.iter().any(|c| v.eq_ignore_ascii_case(c)) {
                return Err(Problem::new(
                    ProblemKind::UnsupportedMediaType,
                    format!("charset `{v}` is not accepted; {send}"),
                ));
            }
        }
    }
    Ok(())
}

/// A decoding failure as the partner sees it.
pub fn codec_problem(err: &CodecError) -> Problem {
    match err {
        // The body fit the byte limit (a larger one is refused with 413 before it is
        // read): what is past a limit is the document's structure, which sending fewer
        // bytes of the same kind would not fix.
        CodecError::Limit { .. } => Problem::new(ProblemKind::LimitExceeded, err.to_string()),
        CodecError::UnsupportedEncoding { .. } => {
            Problem::new(ProblemKind::UnsupportedMediaType, err.to_string())
        }
        CodecError::DuplicateMember {
            pointer,
            member,
            line,
            column,
        } => Problem::new(
            ProblemKind::MalformedBody,
            "a JSON object names a member more than once",
        )
        .with_errors(vec![FieldError {
            pointer: pointer.clone(),
            message: format!("member \"{member}\" appears more than once in this object"),
            line: Some(*line),
            column: Some(*column),
        }]),
        CodecError::Unexpected {
            pointer,
            line,
            column,
            message,
        } => Problem::new(
            ProblemKind::SchemaViolation,
            "the document is not the one this route expects",
        )
        .with_errors(vec![FieldError {
            pointer: pointer.clone(),
            message: message.clone(),
            line: Some(*line),
            column: Some(*column),
        }]),
        CodecError::Malformed { .. }
        | CodecError::Encoding { .. }
        | CodecError::Forbidden { .. } => Problem::new(ProblemKind::MalformedBody, err.to_string()),
    }
}

/// Most violations listed in one problem. A hostile document can break its schema once per
/// element; each listed XML violation costs a pass over the body to find its line, so the
/// list is capped to keep that work linear in the body's size. `detail` still counts all.
pub const MAX_REPORTED_VIOLATIONS: usize = 100;

/// The partner's body and the part of it that is its document: all of it, or a SOAP
/// Body's element. Positions in errors are counted in the whole body.
struct Input<'a> {
    /// The body's text when it is XML.
    xml: Option<&'a Source<'a>>,
    fragment: &'a Fragment<'a>,
}

impl Input<'_> {
    /// Line and column of the node behind `pointer`, for XML documents.
    fn locate(&self, stage: &Stage, ns: Option<&str>, pointer: &str) -> Option<(u32, u32)> {
        let source = self.xml?;
        codec::xml::locate_fragment(source, self.fragment, &stage.source.shape, ns, pointer)
    }
}

fn violation_errors(
    violations: Vec<Violation>,
    xml: Option<(&Input<'_>, &Stage, Option<&str>)>,
) -> Vec<FieldError> {
    violations
        .into_iter()
        .take(MAX_REPORTED_VIOLATIONS)
        .map(|v| {
            let pos = xml.and_then(|(input, stage, ns)| input.locate(stage, ns, &v.pointer));
            FieldError {
                pointer: v.pointer,
                message: v.message,
                line: pos.map(|p| p.0),
                column: pos.map(|p| p.1),
            }
        })
        .collect()
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

/// Request direction: decode, validate against the external schema, map, validate against
/// the internal schema, serialise. Routes without a `request:` section never call this.
///
/// The body is decoded into a [`Doc`](crate::codec::doc::Doc); when the external schema's
/// fast check finds it valid, it is mapped as it is, and only what `$request` reads is kept
/// as a value. Any other outcome takes the general path on the document's value, which
/// finds and reports every violation.
pub fn transform_request(
    route: &Route,
    stage: &Stage,
    body: &[u8],
    ctx: &EvalContext<'_>,
    limits: &Limits,
) -> Result<MappedRequest, Problem> {
    let ns = route.namespace.as_deref();
    // One decode phase: the text read in the encoding its first bytes say (UTF-16 is
    // transcoded, for a SOAP envelope as for a plain document), the envelope taken apart,
    // the partner's document decoded.
    let decoding = traces::phase(Phase::Decode).entered();
    let source = match route.format {
        Format::Xml => Some(Source::read(body).map_err(|e| codec_problem(&e))?),
        Format::Json => None,
    };
    let whole = match &source {
        Some(source) => source.whole(),
        None => Fragment {
            range: 0..body.len(),
            scope: Vec::new(),
        },
    };
    let (unwrapped, soap_ctx);
    let (fragment, ctx) = match (&route.soap, &source) {
        // The partner's document is the Body's element, decoded where it stands.
        (Some(binding), Some(source)) => {
            unwrapped = soap::unwrap(binding, source, limits)?;
            soap_ctx = EvalContext {
                soap_header: unwrapped.headers.as_ref(),
                ..*ctx
            };
            (&unwrapped.body, &soap_ctx)
        }
        _ => (&whole, ctx),
    };
    let doc = match &source {
        Some(source) => {
            codec::xml::decode_fragment(source, fragment, &stage.source.shape, ns, limits)
        }
        None => codec::json::decode_doc(body, limits),
    }
    .map_err(|e| codec_problem(&e))?;
    drop(decoding);
    let input = Input {
        xml: source.as_ref(),
        fragment,
    };
    let validate = traces::phase(Phase::Validate);
    if validate.in_scope(|| stage.source.fast_valid(doc.view())) == Some(true) {
        drop(validate);
        let _span = traces::phase(Phase::Map).entered();
        let out = map_request(route, stage, &input, doc.view(), ctx)?;
        let decoded = route.request_reads.extract(doc.view());
        return Ok(MappedRequest { decoded, body: out });
    }
    let validating = validate.entered();
    let decoded = doc.into_value();
    let validated = stage.source.validate(&decoded);
    drop(validating);
    if let Err(violations) = validated {
        let n = violations.len();
        let xml = (route.format == Format::Xml).then_some((&input, stage, ns));
        return Err(Problem::new(
            ProblemKind::SchemaViolation,
            if n > MAX_REPORTED_VIOLATIONS {
                format!(
                    "{} against the route's schema; the first {MAX_REPORTED_VIOLATIONS} are listed",
                    plural(n, "violation")
                )
            } else {
                format!("{} against the route's schema", plural(n, "violation"))
            },
        )
        .with_errors(violation_errors(violations, xml)));
    }
    let _span = traces::phase(Phase::Map).entered();
    let out = map_request(route, stage, &input, View::Value(&decoded), ctx)?;
    Ok(MappedRequest { decoded, body: out })
}

/// A mapping failure on the partner's document: 422 naming the input, with its line and
/// column for XML.
fn map_problem(route: &Route, stage: &Stage, input: &Input<'_>, e: &MapError) -> Problem {
    let pointer = e.input.clone().unwrap_or_default();
    let pos = (route.format == Format::Xml)
        .then(|| input.locate(stage, route.namespace.as_deref(), &pointer))
        .flatten();
    Problem::new(
        ProblemKind::SchemaViolation,
        "the document cannot be converted",
    )
    .with_errors(vec![FieldError {
        pointer,
        message: e.message.clone(),
        line: pos.map(|p| p.0),
        column: pos.map(|p| p.1),
    }])
}

/// Maps a valid partner document, checks the result against the internal schema and
/// serialises it: written directly when the route has a plan and the plan writes it,
/// otherwise built, checked and serialised, which also finds and reports any failure.
fn map_request(
    route: &Route,
    stage: &Stage,
    input: &Input<'_>,
    source: View<'_>,
    ctx: &EvalContext<'_>,
) -> Result<Vec<u8>, Problem> {
    // Sized from the partner's document, usually the larger of the two, so the buffer
    // rarely regrows (bounded by the body limit either way).
    let size = input.fragment.range.len();
    if let Some(out) = stage.write_direct(source, ctx, size) {
        return Ok(out);
    }
    let mapped = stage
        .map
        .apply_doc(source, ctx)
        .map_err(|e| map_problem(route, stage, input, &e))?;
    let mapped = stage
        .target
        .check_doc(mapped)
        .map_err(|v| internal_violation(route, "request", &v))?;
    let mut out = Vec::with_capacity(size);
    serde_json::to_writer(&mut out, &mapped).map_err(|e| {
        Problem::new(ProblemKind::Internal, "the request could not be forwarded")
            .with_log(e.to_string())
    })?;
    Ok(out)
}

/// A mapped result that breaks the internal schema is the gateway's own bug: 500, with the
/// route and pointers in the log only.
fn internal_violation(route: &Route, direction: &str, violations: &[Violation]) -> Problem {
    Problem::new(
        ProblemKind::Internal,
        "the gateway produced an invalid document; the operators have been told",
    )
    .with_log(format!(
        "route {} {direction} mapping produced an invalid document: {}",
        route.name,
        violation_list(violations)
    ))
}

/// Response direction: decode the upstream's JSON, validate it against the internal response
/// schema, map it back, validate against the partner's schema, encode in the partner's format.
pub fn transform_response(
    route: &Route,
    stage: &Stage,
    body: &[u8],
    ctx: &EvalContext<'_>,
    limits: &Limits,
) -> Result<Vec<u8>, Problem> {
    let map_back = traces::phase(Phase::MapBack).entered();
    let upstream = codec::json::decode_doc(body, limits).map_err(|e| {
        Problem::new(
            ProblemKind::InvalidUpstreamResponse,
            "the service answered with an unreadable body",
        )
        .with_log(format!("route {}: upstream body: {e}", route.name))
    })?;
    let upstream = stage
        .source
        .check_doc(upstream)
        .map_err(|v| upstream_violation(route, stage, &v))?;
    if route.format == Format::Json
        && let Some(out) = stage.write_direct(upstream.view(), ctx, body.len())
    {
        return Ok(out);
    }
    let mapped = stage
        .map
        .apply_doc(upstream.view(), ctx)
        .map_err(|e: MapError| {
            Problem::new(
                ProblemKind::InvalidUpstreamResponse,
                "the service's answer cannot be converted",
            )
            .with_log(format!(
                "route {}: response mapping: {e} (input {})",
                route.name,
                e.input.as_deref().unwrap_or("-")
            ))
        })?;
    let mapped = stage
        .target
        .check_doc(mapped)
        .map_err(|v| internal_violation(route, "response", &v))?;
    drop(map_back);
    let _span = traces::phase(Phase::Encode).entered();
    encode_view(route, stage, mapped.view())
}

/// The partner's answer as it is sent: a SOAP route's inside an Envelope.
pub fn partner_answer(route: &Route, document: Vec<u8>) -> Vec<u8> {
    match &route.soap {
        Some(binding) => soap::wrap(binding.version, &document),
        None => document,
    }
}

/// The partner's error document mapped from an upstream 4xx answer (`upstream` its
/// status), as it is sent: a SOAP route's in a Fault's detail, with the status of that
/// fault. Otherwise the document and the upstream's status.
pub fn partner_error(
    route: &Route,
    document: Vec<u8>,
    upstream: http::StatusCode,
) -> (http::StatusCode, Vec<u8>) {
    match &route.soap {
        Some(binding) => soap::fault::of_mapped_error(binding, &document, upstream),
        None => (upstream, document),
    }
}

/// Violations on one line for the operator's log: `pointer message; ...`.
fn violation_list(violations: &[Violation]) -> String {
    violations
        .iter()
        .map(|v| format!("{} {}", v.pointer, v.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// An upstream answer that breaks the internal response schema: 502, with every violation
/// in the log.
fn upstream_violation(route: &Route, stage: &Stage, violations: &[Violation]) -> Problem {
    Problem::new(
        ProblemKind::InvalidUpstreamResponse,
        "the service answered with an invalid document",
    )
    .with_log(format!(
        "route {}: upstream response breaks {}: {}",
        route.name,
        stage.source.name,
        violation_list(violations)
    ))
}

/// Serialises a partner-side value in the route's format.
pub fn encode(route: &Route, stage: &Stage, value: &Value) -> Result<Vec<u8>, Problem> {
    encode_view(route, stage, View::Value(value))
}

/// [`encode`] of a value or a mapped [`Doc`]: both are written to the same bytes. A value
/// the format cannot carry (a control character in an XML answer) came from the upstream's
/// answer: 502, as any answer that cannot be mapped back. A shape the format has no form
/// for is the route's own fault: 500.
fn encode_view(route: &Route, stage: &Stage, view: View<'_>) -> Result<Vec<u8>, Problem> {
    match route.format {
        Format::Json => serde_json::to_vec(&view).map_err(|e| (e.to_string(), false)),
        Format::Xml => codec::xml::encode_view(
            view,
            &stage.target.shape,
            stage.target.xml_plan(),
            route.namespace.as_deref(),
        )
        .map_err(|e| (e.to_string(), e.by_value)),
    }
    .map_err(|(e, by_value)| {
        let log = format!("route {}: encoding the response: {e}", route.name);
        if by_value {
            Problem::new(
                ProblemKind::InvalidUpstreamResponse,
                "the service's answer cannot be converted",
            )
            .with_log(log)
        } else {
            Problem::new(ProblemKind::Internal, "the answer could not be encoded").with_log(log)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert!(check_media_type(Format::Xml, Some("application/xml")).is_ok());
        assert!(check_media_type(Format::Xml, Some("text/xml; charset=UTF-8")).is_ok());
        assert!(check_media_type(Format::Xml, Some("application/soap+xml")).is_ok());
        assert!(check_media_type(Format::Json, Some("application/json;charset=\"utf-8\"")).is_ok());
        let p = check_media_type(Format::Xml, Some("application/json")).unwrap_err();
        assert_eq!(p.status.as_u16(), 415);
        assert_eq!(
            p.detail,
            "Content-Type `application/json` is not accepted; this route accepts application/xml or text/xml"
        );
        let p = check_media_type(Format::Json, None).unwrap_err();
        assert_eq!(
            p.detail,
            "missing Content-Type; this route accepts application/json"
        );
        let p = check_media_type(Format::Xml, Some("text/xml; charset=ISO-8859-1")).unwrap_err();
        assert_eq!(
            p.detail,
            "charset `ISO-8859-1` is not accepted; send UTF-8 or UTF-16"
        );
        assert!(check_media_type(Format::Xml, Some("application/xml; charset=UTF-16")).is_ok());
        let p =
            check_media_type(Format::Json, Some("application/json; charset=utf-16")).unwrap_err();
        assert_eq!(p.detail, "charset `utf-16` is not accepted; send UTF-8");
    }
}
