//! SOAP Faults: the one rendering of every error on a SOAP route, whether the gateway's own
//! problem (its RFC 9457 document in the fault's detail) or an upstream error body mapped
//! by the route's `errors:` section.
//!
//! Statuses follow the HTTP bindings by default: SOAP 1.1 answers every fault with 500;
//! SOAP 1.2 answers a Sender fault with 400 and any other with 500. A route that says
//! `soap_fault_status: problem` keeps the status the problem has (422, 413, 502...).

use http::StatusCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{Binding, DECLARATION, Version};
use crate::problem::{Cause, Problem, ProblemKind, push_xml_text};

/// Which status a fault is answered with (`route.soap_fault_status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum FaultStatus {
    /// The SOAP HTTP binding's: 500 for SOAP 1.1; 400 for a 1.2 Sender fault, else 500.
    #[default]
    Binding,
    /// The status of the problem the fault carries (422, 413, 502...).
    Problem,
}

/// Whose fault it is: the fault code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// The envelope is of another SOAP version.
    VersionMismatch,
    /// The partner's message is wrong: `Client` (1.1), `Sender` (1.2).
    Client,
    /// The gateway or the service failed: `Server` (1.1), `Receiver` (1.2).
    Server,
}

impl Code {
    /// The code of a problem: the partner's for what it caused (an upstream's refusal of
    /// the request included), the server's for the rest.
    pub fn of(problem: &Problem) -> Code {
        match (problem.kind, problem.cause()) {
            (ProblemKind::SoapVersionMismatch, _) => Code::VersionMismatch,
            (ProblemKind::UpstreamClientError, _) | (_, Cause::Client) => Code::Client,
            _ => Code::Server,
        }
    }

    fn local(self, version: Version) -> &'static str {
        match (self, version) {
            (Code::VersionMismatch, _) => "VersionMismatch",
            (Code::Client, Version::V11) => "Client",
            (Code::Server, Version::V11) => "Server",
            (Code::Client, Version::V12) => "Sender",
            (Code::Server, Version::V12) => "Receiver",
        }
    }
}

/// The status of a fault with `code` under the binding, `own` being the problem's.
pub fn status(binding: &Binding, code: Code, own: StatusCode) -> StatusCode {
    match (binding.fault_status, binding.version, code) {
        (FaultStatus::Problem, _, _) => own,
        (FaultStatus::Binding, Version::V12, Code::Client) => StatusCode::BAD_REQUEST,
        (FaultStatus::Binding, _, _) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// A fault carrying `problem` (as `application/problem+xml`'s element) in its detail; the
/// reason is the problem's detail. Returns the status and the body.
pub fn of_problem(binding: &Binding, problem: &Problem, instance: &str) -> (StatusCode, Vec<u8>) {
    let code = Code::of(problem);
    let mut detail = String::with_capacity(256);
    problem.push_xml(&mut detail, instance);
    let body = render(binding.version, code, &problem.detail, &detail);
    (status(binding, code, problem.status), body)
}

/// The reason of a fault carrying an upstream error body mapped by the route.
pub const REJECTED: &str = "the service rejected the request";

/// A fault carrying `document`, the partner's error document mapped from an upstream 4xx
/// body (an XML document with its declaration), in its detail. `upstream` is the status
/// the upstream answered with.
pub fn of_mapped_error(
    binding: &Binding,
    document: &[u8],
    upstream: StatusCode,
) -> (StatusCode, Vec<u8>) {
    let detail = String::from_utf8_lossy(super::strip_declaration(document));
    let body = render(binding.version, Code::Client, REJECTED, &detail);
    (status(binding, Code::Client, upstream), body)
}

/// Writes a fault envelope: `reason` as text, `detail` as XML written as it is.
pub fn render(version: Version, code: Code, reason: &str, detail: &str) -> Vec<u8> {
    let p = version.prefix();
    let ns = version.namespace();
    let local = code.local(version);
    let mut out = String::with_capacity(detail.len() + reason.len() + 320);
    out.push_str(DECLARATION);
    out.push_str(&format!(
        "<{p}:Envelope xmlns:{p}=\"{ns}\"><{p}:Body><{p}:Fault>"
    ));
    match version {
        Version::V11 => {
            // Fault's children are unqualified in SOAP 1.1; the code is a QName whose
            // prefix is the envelope's, declared above.
            out.push_str(&format!("<faultcode>{p}:{local}</faultcode><faultstring>"));
            push_xml_text(&mut out, reason);
            out.push_str("</faultstring><detail>");
            out.push_str(detail);
            out.push_str("</detail>");
        }
        Version::V12 => {
            out.push_str(&format!(
                "<{p}:Code><{p}:Value>{p}:{local}</{p}:Value></{p}:Code><{p}:Reason><{p}:Text xml:lang=\"en\">"
            ));
            push_xml_text(&mut out, reason);
            out.push_str(&format!("</{p}:Text></{p}:Reason><{p}:Detail>"));
            out.push_str(detail);
            out.push_str(&format!("</{p}:Detail>"));
        }
    }
    out.push_str(&format!("</{p}:Fault></{p}:Body></{p}:Envelope>\n"));
    out.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn binding(version: Version, fault_status: FaultStatus) -> Binding {
        Binding {
            version,
            actions: Vec::new(),
            fault_status,
            reads_headers: false,
        }
    }

    #[test]
    fn soap11_faults_declare_their_prefix_and_carry_the_problem() {
        let p = Problem::new(
            ProblemKind::PayloadTooLarge,
            "the body exceeds the limit of 10 bytes",
        );
        let (status, body) = of_problem(&binding(Version::V11, FaultStatus::Binding), &p, "c-1");
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            String::from_utf8(body).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>the body exceeds the limit of 10 bytes</faultstring><detail><problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:payload-too-large</type><title>Request body too large</title><status>413</status><detail>the body exceeds the limit of 10 bytes</detail><instance>c-1</instance></problem></detail></soap:Fault></soap:Body></soap:Envelope>\n"
        );
        let (status, _) = of_problem(&binding(Version::V11, FaultStatus::Problem), &p, "c-1");
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    }

    #[test]
    fn soap12_statuses_follow_the_code() {
        let b = binding(Version::V12, FaultStatus::Binding);
        let client = Problem::new(ProblemKind::MalformedBody, "x");
        let server = Problem::new(ProblemKind::UpstreamTimeout, "y");
        let version = Problem::new(ProblemKind::SoapVersionMismatch, "z");
        assert_eq!(of_problem(&b, &client, "c").0, StatusCode::BAD_REQUEST);
        assert_eq!(
            of_problem(&b, &server, "c").0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            of_problem(&b, &version, "c").0,
            StatusCode::INTERNAL_SERVER_ERROR
        );
        let body = String::from_utf8(of_problem(&b, &server, "c").1).unwrap();
        assert!(
            body.contains("<env:Fault><env:Code><env:Value>env:Receiver</env:Value></env:Code><env:Reason><env:Text xml:lang=\"en\">y</env:Text></env:Reason><env:Detail><problem xmlns=\"urn:ietf:rfc:7807\">"),
            "{body}"
        );
    }
}
