//! The one error type a client ever sees, and its RFC 9457 rendering.
//!
//! Every failure on the request path becomes a [`Problem`]: it knows who caused it (the
//! client, the upstream, or the gateway itself), which decides the status, and it renders
//! itself as `application/problem+json` or `application/problem+xml` in one place, so no
//! handler formats an error body of its own and no internal detail can slip into one.

use std::fmt::Write as _;

use http::StatusCode;
use serde::Serialize;

use crate::codec::Format;

/// Who is responsible for a failure: decides the status family and what is logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Cause {
    /// The partner sent something wrong (4xx).
    Client,
    /// The upstream service failed or answered badly (502/503/504).
    Upstream,
    /// The gateway's own configuration or mapping is wrong (500): a bug to fix, logged loudly.
    Gateway,
    /// The gateway is at a capacity limit it was configured with (503): nobody is wrong,
    /// so requests are not logged one by one; the limit logs its own summary.
    Capacity,
}

/// One precise complaint about the body: where it is and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// JSON Pointer of the offending value in the document the client sent (its JSON view
    /// for XML input).
    pub pointer: String,
    pub message: String,
    /// Position in the XML input, when the body was XML.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
}

/// Longest message a field error carries. Validation messages quote the offending value,
/// and a hostile body can make that value megabytes long: the partner needs its start to
/// recognise it, not an echo of its whole body.
pub const MAX_MESSAGE_CHARS: usize = 300;

/// Longest pointer a field error carries (a pointer holds the body's own member names).
pub const MAX_POINTER_CHARS: usize = 600;

impl FieldError {
    pub fn new(pointer: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            pointer: pointer.into(),
            message: message.into(),
            line: None,
            column: None,
        }
    }

    /// The error with its message and pointer cut to their limits, saying how much was cut.
    fn bounded(mut self) -> Self {
        cut(&mut self.message, MAX_MESSAGE_CHARS);
        cut(&mut self.pointer, MAX_POINTER_CHARS);
        self
    }
}

/// Cuts `s` to `max` characters, ending it with how many were left out.
fn cut(s: &mut String, max: usize) {
    if let Some((at, _)) = s.char_indices().nth(max) {
        let left_out = s[at..].chars().count();
        s.truncate(at);
        let _ = write!(s, "… ({left_out} more characters)");
    }
}

/// Appends `text` as XML character data: markup characters escaped, `\r` as a reference
/// so it survives line-end normalisation, and the characters XML 1.0 cannot carry at all
/// (controls other than tab and line ends, U+FFFE, U+FFFF), which messages may quote from
/// a partner's body, written as visible `\uXXXX` escapes so the document stays
/// well-formed.
pub(crate) fn push_xml_text(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if c < ' ' || c == '\u{FFFE}' || c == '\u{FFFF}' => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// Kinds of problem: each has a stable `type` URI, a title and a status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProblemKind {
    /// The request itself, not its body, breaks HTTP (its `Host`, for one).
    MalformedRequest,
    MalformedBody,
    InvalidPath,
    PayloadTooLarge,
    /// A document within the byte limit that is past a structural one (depth, elements,
    /// attributes, name or text length): 400, since sending fewer bytes would not help.
    LimitExceeded,
    UnsupportedMediaType,
    NotAcceptable,
    Unauthorized,
    Forbidden,
    NotFound,
    MethodNotAllowed,
    SchemaViolation,
    HeadersTooLarge,
    RequestTimeout,
    RateLimited,
    /// A SOAP request's envelope is of another SOAP version than the route's.
    SoapVersionMismatch,
    /// A SOAP request names an action no route of its endpoint serves.
    UnknownSoapAction,
    UpstreamError,
    UpstreamClientError,
    InvalidUpstreamResponse,
    CircuitOpen,
    UpstreamTimeout,
    Unavailable,
    /// The process's memory budget for bodies in flight is used up (503, `Retry-After`).
    MemoryBudgetExhausted,
    Internal,
}

impl ProblemKind {
    pub fn slug(self) -> &'static str {
        use ProblemKind::*;
        match self {
            MalformedRequest => "malformed-request",
            MalformedBody => "malformed-body",
            InvalidPath => "invalid-path",
            PayloadTooLarge => "payload-too-large",
            LimitExceeded => "limit-exceeded",
            UnsupportedMediaType => "unsupported-media-type",
            NotAcceptable => "not-acceptable",
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not-found",
            MethodNotAllowed => "method-not-allowed",
            SchemaViolation => "schema-violation",
            HeadersTooLarge => "headers-too-large",
            RequestTimeout => "request-timeout",
            RateLimited => "rate-limited",
            SoapVersionMismatch => "soap-version-mismatch",
            UnknownSoapAction => "unknown-soap-action",
            UpstreamError => "upstream-error",
            UpstreamClientError => "upstream-rejected",
            InvalidUpstreamResponse => "invalid-upstream-response",
            CircuitOpen => "circuit-open",
            UpstreamTimeout => "upstream-timeout",
            Unavailable => "unavailable",
            MemoryBudgetExhausted => "memory-budget-exhausted",
            Internal => "internal-error",
        }
    }

    pub fn title(self) -> &'static str {
        use ProblemKind::*;
        match self {
            MalformedRequest => "Malformed request",
            MalformedBody => "Malformed request body",
            InvalidPath => "Invalid request path",
            PayloadTooLarge => "Request body too large",
            LimitExceeded => "Document exceeds a structural limit",
            UnsupportedMediaType => "Unsupported media type",
            NotAcceptable => "Not acceptable",
            Unauthorized => "Authentication required",
            Forbidden => "Forbidden",
            NotFound => "Not found",
            MethodNotAllowed => "Method not allowed",
            SchemaViolation => "Request does not match the schema",
            HeadersTooLarge => "Request headers too large",
            RequestTimeout => "Request timed out",
            RateLimited => "Too many requests",
            SoapVersionMismatch => "SOAP version mismatch",
            UnknownSoapAction => "Unknown SOAP action",
            UpstreamError => "Upstream service failed",
            UpstreamClientError => "Upstream service rejected the request",
            InvalidUpstreamResponse => "Invalid upstream response",
            CircuitOpen => "Upstream service unavailable",
            UpstreamTimeout => "Upstream service timed out",
            Unavailable => "Service unavailable",
            MemoryBudgetExhausted => "Gateway memory budget exhausted",
            Internal => "Internal gateway error",
        }
    }

    pub fn status(self) -> StatusCode {
        use ProblemKind::*;
        match self {
            MalformedRequest | MalformedBody | InvalidPath | LimitExceeded
            | SoapVersionMismatch | UnknownSoapAction => StatusCode::BAD_REQUEST,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Unauthorized => StatusCode::UNAUTHORIZED,
            Forbidden => StatusCode::FORBIDDEN,
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            SchemaViolation => StatusCode::UNPROCESSABLE_ENTITY,
            HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            UpstreamError | InvalidUpstreamResponse => StatusCode::BAD_GATEWAY,
            // The real status is carried in `Problem::status`; this is only the fallback.
            UpstreamClientError => StatusCode::BAD_GATEWAY,
            CircuitOpen | Unavailable | MemoryBudgetExhausted => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamTimeout => StatusCode::GATEWAY_TIMEOUT,
            Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn cause(self) -> Cause {
        use ProblemKind::*;
        match self {
            UpstreamError
            | UpstreamClientError
            | InvalidUpstreamResponse
            | CircuitOpen
            | UpstreamTimeout => Cause::Upstream,
            Internal | Unavailable => Cause::Gateway,
            MemoryBudgetExhausted => Cause::Capacity,
            _ => Cause::Client,
        }
    }
}

/// An RFC 9457 problem. `detail` is written for the partner: it never names internal hosts,
/// files or stack frames. What the operator needs goes in `log_detail`, which is logged and
/// never rendered.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub kind: ProblemKind,
    pub status: StatusCode,
    pub detail: String,
    pub errors: Vec<FieldError>,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
    /// Logged with the request, never sent to the client.
    pub log_detail: Option<String>,
}

impl Problem {
    pub fn new(kind: ProblemKind, detail: impl Into<String>) -> Self {
        Problem {
            kind,
            status: kind.status(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
            log_detail: None,
        }
    }

    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors.into_iter().map(FieldError::bounded).collect();
        self
    }

    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    pub fn with_log(mut self, detail: impl Into<String>) -> Self {
        self.log_detail = Some(detail.into());
        self
    }

    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after = Some(secs);
        self
    }

    pub fn cause(&self) -> Cause {
        self.kind.cause()
    }

    pub fn type_uri(&self) -> String {
        format!("urn:schemagate:problem:{}", self.kind.slug())
    }

    /// Renders `application/problem+json`.
    ///
    /// ```
    /// use schemagate::problem::{Problem, ProblemKind};
    ///
    /// let p = Problem::new(ProblemKind::UpstreamTimeout, "the service did not answer in time");
    /// assert_eq!(
    ///     String::from_utf8(p.to_json("c-1")).unwrap(),
    ///     r#"{"type":"urn:schemagate:problem:upstream-timeout","title":"Upstream service timed out","status":504,"detail":"the service did not answer in time","instance":"c-1"}"#
    /// );
    /// ```
    pub fn to_json(&self, instance: &str) -> Vec<u8> {
        #[derive(Serialize)]
        struct Body<'a> {
            #[serde(rename = "type")]
            type_: String,
            title: &'a str,
            status: u16,
            detail: &'a str,
            instance: &'a str,
            #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
            errors: &'a [FieldError],
        }
        let body = Body {
            type_: self.type_uri(),
            title: self.kind.title(),
            status: self.status.as_u16(),
            detail: &self.detail,
            instance,
            errors: &self.errors,
        };
        serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec())
    }

    /// Renders `application/problem+xml` as RFC 9457 Appendix B writes it: the members as
    /// elements in the `urn:ietf:rfc:7807` namespace, and each member of an array (the
    /// validation errors) as an `<i>` element, so a generic problem+xml reader finds them.
    pub fn to_xml(&self, instance: &str) -> Vec<u8> {
        let mut s = String::with_capacity(256 + self.errors.len() * 128);
        s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        self.push_xml(&mut s, instance);
        s.push('\n');
        s.into_bytes()
    }

    /// Appends the `problem` element of [`Problem::to_xml`], without the declaration: the
    /// document alone, or inside a SOAP Fault's detail.
    pub fn push_xml(&self, s: &mut String, instance: &str) {
        s.push_str("<problem xmlns=\"urn:ietf:rfc:7807\">");
        let element = |s: &mut String, name: &str, text: &str| {
            let _ = write!(s, "<{name}>");
            push_xml_text(s, text);
            let _ = write!(s, "</{name}>");
        };
        element(s, "type", &self.type_uri());
        element(s, "title", self.kind.title());
        let _ = write!(s, "<status>{}</status>", self.status.as_u16());
        element(s, "detail", &self.detail);
        element(s, "instance", instance);
        if !self.errors.is_empty() {
            s.push_str("<errors>");
            for e in &self.errors {
                s.push_str("<i>");
                element(s, "pointer", &e.pointer);
                element(s, "message", &e.message);
                if let Some(l) = e.line {
                    let _ = write!(s, "<line>{l}</line>");
                }
                if let Some(c) = e.column {
                    let _ = write!(s, "<column>{c}</column>");
                }
                s.push_str("</i>");
            }
            s.push_str("</errors>");
        }
        s.push_str("</problem>");
    }
}

/// The problem format a client's `Accept` header values prefer, or None when they state no
/// preference between JSON and XML (no header, only other types, or both equally).
///
/// Each media range counts for the format it names: `application/problem+json` and
/// `application/problem+xml` most specifically, then any other `json`/`xml` type
/// (`application/json`, `text/xml`, `…+xml`), then `application/*`, then `*/*`; the most
/// specific range present gives the format's quality (RFC 9110 §12.5.1). A format with a
/// positive quality beats one the client does not mention, which beats one it refuses with
/// `q=0`; between two positive qualities the higher wins.
///
/// ```
/// use schemagate::codec::Format;
/// use schemagate::problem::negotiate_format;
///
/// assert_eq!(negotiate_format(["application/json;q=0, application/xml"]), Some(Format::Xml));
/// assert_eq!(negotiate_format(["*/*"]), None);
/// ```
pub fn negotiate_format<'a>(accept: impl IntoIterator<Item = &'a str>) -> Option<Format> {
    // Per format: (specificity, quality in thousandths) of the most specific range seen.
    let mut json: Option<(u8, u16)> = None;
    let mut xml: Option<(u8, u16)> = None;
    let keep = |slot: &mut Option<(u8, u16)>, level: u8, q: u16| match slot {
        Some((l, _)) if *l > level => {}
        Some((l, old)) if *l == level => *old = (*old).max(q),
        _ => *slot = Some((level, q)),
    };
    for value in accept {
        for range in value.split(',') {
            let mut pieces = range.split(';');
            let media = pieces.next().unwrap_or_default().trim();
            let Some(q) = pieces
                .map(str::trim)
                .find_map(|p| {
                    p.split_once('=')
                        .filter(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
                        .map(|(_, v)| parse_qvalue(v.trim()))
                })
                .unwrap_or(Some(1000))
            else {
                continue;
            };
            let Some((ty, sub)) = media.split_once('/') else {
                continue;
            };
            let (ty, sub) = (ty.to_ascii_lowercase(), sub.to_ascii_lowercase());
            match (ty.as_str(), sub.as_str()) {
                ("*", "*") => {
                    keep(&mut json, 0, q);
                    keep(&mut xml, 0, q);
                }
                ("application", "*") => {
                    keep(&mut json, 1, q);
                    keep(&mut xml, 1, q);
                }
                ("application", "problem+json") => keep(&mut json, 3, q),
                ("application", "problem+xml") => keep(&mut xml, 3, q),
                (_, s) if s == "json" || s.ends_with("+json") => keep(&mut json, 2, q),
                (_, s) if s == "xml" || s.ends_with("+xml") => keep(&mut xml, 2, q),
                _ => {}
            }
        }
    }
    // Refused (0) < not mentioned (1) < acceptable (1 + q).
    let rank = |slot: Option<(u8, u16)>| match slot {
        None => 1,
        Some((_, 0)) => 0,
        Some((_, q)) => 1 + u32::from(q),
    };
    match rank(json).cmp(&rank(xml)) {
        std::cmp::Ordering::Greater => Some(Format::Json),
        std::cmp::Ordering::Less => Some(Format::Xml),
        std::cmp::Ordering::Equal => None,
    }
}

/// An RFC 9110 §12.4.2 qvalue in thousandths (`1`, `0.5`, `0.125`); None when malformed.
fn parse_qvalue(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = frac
        .bytes()
        .chain(std::iter::repeat(b'0'))
        .take(3)
        .fold(0u16, |acc, b| acc * 10 + u16::from(b - b'0'));
    match int {
        "0" => Some(thousandths),
        "1" if thousandths == 0 => Some(1000),
        _ => None,
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: {}",
            self.status.as_u16(),
            self.kind.title(),
            self.detail
        )?;
        for e in &self.errors {
            write!(
                f,
                "\n  {} {}",
                if e.pointer.is_empty() {
                    "/"
                } else {
                    &e.pointer
                },
                e.message
            )?;
            if let (Some(l), Some(c)) = (e.line, e.column) {
                write!(f, " (line {l}, column {c})")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for Problem {}

/// Bytes of a request's own text (its path) a problem's `detail` repeats: enough to
/// recognise the request, not a way to make the gateway echo kilobytes of an attacker's
/// choosing into answers and logs.
pub const MAX_ECHOED_BYTES: usize = 128;

/// `text` cut to [`MAX_ECHOED_BYTES`] on a character boundary, `…` marking the cut.
pub fn echoed(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= MAX_ECHOED_BYTES {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut end = MAX_ECHOED_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}…", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_rendering_is_exact() {
        let p =
            Problem::new(ProblemKind::SchemaViolation, "1 error").with_errors(vec![FieldError {
                line: Some(4),
                column: Some(5),
                ..FieldError::new("/Order/Qty", "not an integer")
            }]);
        assert_eq!(
            String::from_utf8(p.to_json("abc")).unwrap(),
            r#"{"type":"urn:schemagate:problem:schema-violation","title":"Request does not match the schema","status":422,"detail":"1 error","instance":"abc","errors":[{"pointer":"/Order/Qty","message":"not an integer","line":4,"column":5}]}"#
        );
    }

    #[test]
    fn xml_rendering_keeps_the_document_well_formed_whatever_the_messages_quote() {
        let p = Problem::new(ProblemKind::SchemaViolation, "1 error\r").with_errors(vec![
            FieldError::new("/a\u{1b}b", "\"x\u{1}y\u{FFFE}\" is 'bad'\tok"),
        ]);
        assert_eq!(
            String::from_utf8(p.to_xml("c")).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:schema-violation</type><title>Request does not match the schema</title><status>422</status><detail>1 error&#13;</detail><instance>c</instance><errors><i><pointer>/a\\u001Bb</pointer><message>&quot;x\\u0001y\\uFFFE&quot; is &apos;bad&apos;\tok</message></i></errors></problem>\n"
        );
    }

    #[test]
    fn xml_rendering_writes_array_members_as_i_elements() {
        let p = Problem::new(ProblemKind::SchemaViolation, "2 violations").with_errors(vec![
            FieldError {
                line: Some(4),
                column: Some(3),
                ..FieldError::new("/Order/Customer", "\"Customer\" is a required property")
            },
            FieldError::new("/Order/@id", "not a string"),
        ]);
        assert_eq!(
            String::from_utf8(p.to_xml("c-9")).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:schema-violation</type><title>Request does not match the schema</title><status>422</status><detail>2 violations</detail><instance>c-9</instance><errors><i><pointer>/Order/Customer</pointer><message>&quot;Customer&quot; is a required property</message><line>4</line><column>3</column></i><i><pointer>/Order/@id</pointer><message>not a string</message></i></errors></problem>\n"
        );
    }

    #[test]
    fn field_errors_quote_at_most_the_start_of_a_huge_value() {
        let huge = format!("\"{}\" is not of type \"integer\"", "é".repeat(10_000));
        let p = Problem::new(ProblemKind::SchemaViolation, "1 error").with_errors(vec![
            FieldError::new(format!("/{}", "k".repeat(1000)), huge),
        ]);
        let e = &p.errors[0];
        assert_eq!(
            e.message,
            format!("\"{}… (9727 more characters)", "é".repeat(299))
        );
        assert_eq!(
            e.pointer,
            format!("/{}… (401 more characters)", "k".repeat(599))
        );
        let short = Problem::new(ProblemKind::SchemaViolation, "1 error").with_errors(vec![
            FieldError::new("/a", "\"x\" is not of type \"integer\""),
        ]);
        assert_eq!(short.errors[0].message, "\"x\" is not of type \"integer\"");
    }

    #[test]
    fn accept_qualities_choose_the_problem_format() {
        let cases: [(&[&str], Option<Format>); 20] = [
            (&[], None),
            (&["application/xml"], Some(Format::Xml)),
            (&["application/json"], Some(Format::Json)),
            (&["text/xml"], Some(Format::Xml)),
            (&["application/problem+xml"], Some(Format::Xml)),
            (
                &["application/json;q=0, application/xml"],
                Some(Format::Xml),
            ),
            (
                &["application/json;q=0.1, application/xml"],
                Some(Format::Xml),
            ),
            (
                &["application/json; Q=0.9 , application/xml;q=0.8"],
                Some(Format::Json),
            ),
            (&["application/json;q=0"], Some(Format::Xml)),
            (&["application/xml;q=0"], Some(Format::Json)),
            (&["application/json;q=0, application/xml;q=0"], None),
            (&["*/*"], None),
            (&["text/html"], None),
            (&["application/json, */*;q=0.1"], Some(Format::Json)),
            (&["*/*;q=0.5, application/xml;q=0"], Some(Format::Json)),
            // The most specific range decides: problem+json refused despite application/json.
            (
                &["application/problem+json;q=0, application/json"],
                Some(Format::Xml),
            ),
            (
                &["application/json;q=0.5", "application/xml;q=0.6"],
                Some(Format::Xml),
            ),
            (
                &["application/json;charset=utf-8;q=1.000, application/xml;q=0.999"],
                Some(Format::Json),
            ),
            // A malformed quality drops its range.
            (&["application/json;q=2, application/xml;q=0.0001"], None),
            (
                &["application/json;q=, application/xml;q=0.01"],
                Some(Format::Xml),
            ),
        ];
        for (accept, want) in cases {
            assert_eq!(negotiate_format(accept.iter().copied()), want, "{accept:?}");
        }
    }

    #[test]
    fn qvalues_parse_per_the_grammar() {
        assert_eq!(parse_qvalue("1"), Some(1000));
        assert_eq!(parse_qvalue("1.000"), Some(1000));
        assert_eq!(parse_qvalue("0"), Some(0));
        assert_eq!(parse_qvalue("0.5"), Some(500));
        assert_eq!(parse_qvalue("0.125"), Some(125));
        assert_eq!(parse_qvalue("0.05"), Some(50));
        for bad in ["", "1.5", "1.001", "0.1234", "2", "-0", "0.a", ".5", "00.5"] {
            assert_eq!(parse_qvalue(bad), None, "{bad}");
        }
    }

    #[test]
    fn xml_rendering_escapes() {
        let p = Problem::new(ProblemKind::MalformedBody, "bad <tag> & more");
        assert_eq!(
            String::from_utf8(p.to_xml("id-1")).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:malformed-body</type><title>Malformed request body</title><status>400</status><detail>bad &lt;tag&gt; &amp; more</detail><instance>id-1</instance></problem>\n"
        );
    }
}
