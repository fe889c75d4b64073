//! SOAP 1.1 and 1.2 routes: the envelope around the partner's document, the action that
//! chooses among the routes of one endpoint, and the faults every error becomes.
//!
//! A SOAP route is a `transform` route whose partner schema describes the Body's element
//! alone. The envelope is read by [`crate::codec::xml::envelope`] (the codec's scanner) and
//! the Body's element decoded in place, so the pipeline after it is the one every XML route
//! runs. Answers go back inside an Envelope; errors as [`fault`]s.

pub mod describe;
pub mod fault;

use http::HeaderMap;
use http::header::{self, HeaderName};
use serde_json::{Map, Value};

use crate::codec::Limits;
use crate::codec::xml::{self, EnvelopeError, Fragment};
use crate::problem::{Problem, ProblemKind};

pub use fault::{Code, FaultStatus};

/// The envelope namespace of SOAP 1.1.
pub const SOAP11_NS: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// The envelope namespace of SOAP 1.2.
pub const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";

/// The `SOAPAction` request header of SOAP 1.1's HTTP binding.
pub const SOAP_ACTION: HeaderName = HeaderName::from_static("soapaction");

/// A version of the protocol, as a route file names it (`route.soap`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Version {
    V11,
    V12,
}

impl Version {
    /// The versions, as written in route files.
    pub const NAMES: [&str; 2] = ["1.1", "1.2"];

    pub fn parse(text: &str) -> Option<Version> {
        match text.trim() {
            "1.1" => Some(Version::V11),
            "1.2" => Some(Version::V12),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Version::V11 => "1.1",
            Version::V12 => "1.2",
        }
    }

    /// The envelope's namespace, by which its elements are matched whatever their prefix.
    pub fn namespace(self) -> &'static str {
        match self {
            Version::V11 => SOAP11_NS,
            Version::V12 => SOAP12_NS,
        }
    }

    /// The prefix the gateway writes envelopes with.
    pub fn prefix(self) -> &'static str {
        match self {
            Version::V11 => "soap",
            Version::V12 => "env",
        }
    }

    /// The media type of the version's messages, answers and faults alike.
    pub fn media_type(self) -> &'static str {
        match self {
            Version::V11 => "text/xml; charset=utf-8",
            Version::V12 => "application/soap+xml; charset=utf-8",
        }
    }

    /// The media type's essence, which a request must carry.
    fn essence(self) -> &'static str {
        match self {
            Version::V11 => "text/xml",
            Version::V12 => "application/soap+xml",
        }
    }
}

/// A route's SOAP binding, compiled from `route.soap`, `route.soap_action` and
/// `route.soap_fault_status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub version: Version,
    /// The actions the route serves; empty serves any (a route alone on its endpoint).
    pub actions: Vec<String>,
    pub fault_status: FaultStatus,
    /// Whether the request mapping reads `$soap.header`: the header entries are decoded
    /// only then.
    pub reads_headers: bool,
}

impl Binding {
    /// Whether the route serves `action`.
    pub fn serves(&self, action: Option<&str>) -> bool {
        self.actions.is_empty() || action.is_some_and(|a| self.actions.iter().any(|x| x == a))
    }
}

/// The action a request names: the `SOAPAction` header without its quotes (1.1) or the
/// `action` parameter of its `Content-Type` (1.2). An empty one names none.
pub fn request_action(version: Version, headers: &HeaderMap) -> Option<String> {
    let value = match version {
        Version::V11 => headers.get(SOAP_ACTION)?.to_str().ok()?.trim().to_string(),
        Version::V12 => {
            let ct = headers.get(header::CONTENT_TYPE)?.to_str().ok()?;
            ct.split(';').skip(1).find_map(|param| {
                let (k, v) = param.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("action")
                    .then(|| v.trim().to_string())
            })?
        }
    };
    let unquoted = value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .unwrap_or(&value);
    (!unquoted.is_empty()).then(|| unquoted.to_string())
}

/// The refusal of a request whose action no route of the endpoint serves.
pub fn unknown_action(action: Option<&str>, expected: &[&str]) -> Problem {
    let expected = expected
        .iter()
        .map(|a| format!("`{a}`"))
        .collect::<Vec<_>>()
        .join(", ");
    let detail = match action {
        Some(a) => format!(
            "the SOAP action `{}` is not served here; expected one of: {expected}",
            crate::problem::echoed(a)
        ),
        None => format!("the request names no SOAP action; expected one of: {expected}"),
    };
    Problem::new(ProblemKind::UnknownSoapAction, detail)
}

/// Checks a request's media type against the version's: `text/xml` (1.1) or
/// `application/soap+xml` (1.2), in an encoding an XML document may be in.
pub fn check_media_type(version: Version, content_type: Option<&str>) -> Result<(), Problem> {
    let expected = version.essence();
    let Some(ct) = content_type else {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!(
                "missing Content-Type; this SOAP {} route accepts {expected}",
                version.as_str()
            ),
        ));
    };
    let mut parts = ct.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if essence != expected {
        return Err(Problem::new(
            ProblemKind::UnsupportedMediaType,
            format!(
                "Content-Type `{essence}` is not accepted; this SOAP {} route accepts {expected}",
                version.as_str()
            ),
        ));
    }
    crate::pipeline::check_charset(crate::codec::Format::Xml, parts)
}

/// A request's envelope taken apart: the Body's element, and the header entries when the
/// route reads them.
#[derive(Debug)]
pub struct Unwrapped<'a> {
    pub body: Fragment<'a>,
    /// `$soap.header`: each entry by its local name (an array when repeated), in the JSON
    /// view of schema-less XML. None when the route does not read it.
    pub headers: Option<Value>,
}

/// Takes the envelope of `source` apart.
pub fn unwrap<'a>(
    binding: &Binding,
    source: &'a xml::Source<'a>,
    limits: &'a Limits,
) -> Result<Unwrapped<'a>, Problem> {
    let envelope =
        xml::envelope(source, binding.version.namespace(), limits).map_err(|e| match e {
            EnvelopeError::Codec(c) => crate::pipeline::codec_problem(&c),
            EnvelopeError::Version { .. } => {
                Problem::new(ProblemKind::SoapVersionMismatch, e.to_string())
            }
            EnvelopeError::Structure { .. } => {
                Problem::new(ProblemKind::MalformedBody, e.to_string())
            }
        })?;
    let headers = if binding.reads_headers {
        let mut entries = Map::new();
        for entry in &envelope.headers {
            let doc = xml::decode_fragment(source, &entry.fragment, xml::any_shape(), None, limits)
                .map_err(|e| crate::pipeline::codec_problem(&e))?;
            let Value::Object(one) = doc.into_value() else {
                continue;
            };
            for (name, value) in one {
                match entries.get_mut(&name) {
                    None => {
                        entries.insert(name, value);
                    }
                    Some(Value::Array(seen)) => seen.push(value),
                    Some(first) => {
                        let first = first.take();
                        entries.insert(name, Value::Array(vec![first, value]));
                    }
                }
            }
        }
        Some(Value::Object(entries))
    } else {
        None
    };
    Ok(Unwrapped {
        body: envelope.body,
        headers,
    })
}

/// `document` (an XML document with its declaration, as the encoder writes it) as the
/// element of an Envelope's Body.
pub fn wrap(version: Version, document: &[u8]) -> Vec<u8> {
    let element = strip_declaration(document);
    let p = version.prefix();
    let mut out = Vec::with_capacity(element.len() + 160);
    out.extend_from_slice(DECLARATION.as_bytes());
    out.extend_from_slice(
        format!(
            "<{p}:Envelope xmlns:{p}=\"{}\"><{p}:Body>",
            version.namespace()
        )
        .as_bytes(),
    );
    out.extend_from_slice(element);
    out.extend_from_slice(format!("</{p}:Body></{p}:Envelope>\n").as_bytes());
    out
}

/// The declaration every document the gateway writes starts with.
const DECLARATION: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

/// `document` without its XML declaration and the line ends around its element.
fn strip_declaration(document: &[u8]) -> &[u8] {
    let mut rest = document;
    if rest.starts_with(b"<?xml")
        && let Some(end) = rest.windows(2).position(|w| w == b"?>")
    {
        rest = rest.get(end + 2..).unwrap_or_default();
    }
    let start = rest
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(rest.len());
    let end = rest
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(start, |i| i + 1);
    rest.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[test]
    fn actions_come_from_the_header_or_the_media_type() {
        let mut h = HeaderMap::new();
        h.insert(SOAP_ACTION, HeaderValue::from_static("\"urn:a/Book\""));
        assert_eq!(
            request_action(Version::V11, &h).as_deref(),
            Some("urn:a/Book")
        );
        h.insert(SOAP_ACTION, HeaderValue::from_static("\"\""));
        assert_eq!(request_action(Version::V11, &h), None);
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(
                "application/soap+xml; charset=utf-8; action=\"urn:a/Cancel\"",
            ),
        );
        assert_eq!(
            request_action(Version::V12, &h).as_deref(),
            Some("urn:a/Cancel")
        );
        assert_eq!(request_action(Version::V12, &HeaderMap::new()), None);
    }

    #[test]
    fn media_types_follow_the_version() {
        assert!(check_media_type(Version::V11, Some("text/xml; charset=UTF-8")).is_ok());
        assert!(check_media_type(Version::V12, Some("application/soap+xml;action=x")).is_ok());
        let p = check_media_type(Version::V11, Some("application/soap+xml")).unwrap_err();
        assert_eq!(
            p.detail,
            "Content-Type `application/soap+xml` is not accepted; this SOAP 1.1 route accepts text/xml"
        );
        assert_eq!(p.status.as_u16(), 415);
    }

    #[test]
    fn answers_are_wrapped_without_their_declaration() {
        let doc = b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<A xmlns=\"urn:a\">1</A>";
        assert_eq!(
            String::from_utf8(wrap(Version::V12, doc)).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<env:Envelope xmlns:env=\"http://www.w3.org/2003/05/soap-envelope\"><env:Body><A xmlns=\"urn:a\">1</A></env:Body></env:Envelope>\n"
        );
    }
}
