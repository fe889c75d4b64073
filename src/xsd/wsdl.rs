//! WSDL 1.1 documents for SOAP operations, with SOAP 1.1 and 1.2 bindings.
//!
//! A SOAP route describes itself to its partner with a WSDL: the operations (their
//! `SOAPAction`/`action`), the body element of each request and answer, and the XSD of
//! those elements embedded in `wsdl:types`. This module takes a plain description (no
//! route type), so whatever builds the description (a command, an HTTP endpoint) stays
//! outside it. The style is document/literal: one `parameters` part per message, the
//! element itself.

use std::collections::BTreeMap;

use super::export::attr_escape;
use super::{QName, XsdError, XsdFile};

const WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
const SOAP11: &str = "http://schemas.xmlsoap.org/wsdl/soap/";
const SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
const HTTP_TRANSPORT: &str = "http://schemas.xmlsoap.org/soap/http";

/// A SOAP version to bind the operations to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum SoapVersion {
    V11,
    V12,
}

/// One operation: its name, its action, and the body elements of request and answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SoapOperation {
    pub name: String,
    /// `SOAPAction` (1.1) and the `action` parameter (1.2).
    pub action: String,
    pub input: QName,
    /// None for a one-way operation.
    pub output: Option<QName>,
}

/// What a WSDL document describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceDescription {
    /// The service's name (an NCName), also the stem of the port type and bindings.
    pub name: String,
    /// The WSDL's own target namespace.
    pub target_namespace: String,
    /// The endpoint URL the partner posts to.
    pub address: String,
    pub versions: Vec<SoapVersion>,
    pub operations: Vec<SoapOperation>,
    /// The XSD files declaring the body elements, embedded in `wsdl:types` (export them
    /// with [`super::export::Locations::Embedded`] so their imports name no files).
    pub schemas: Vec<XsdFile>,
}

/// Writes the WSDL 1.1 document of `desc`.
pub fn wsdl(desc: &ServiceDescription) -> Result<String, XsdError> {
    let invalid = |message: String| XsdError::Export {
        pointer: String::new(),
        message,
    };
    if !is_ncname(&desc.name) {
        return Err(invalid(format!(
            "the service name {:?} is not an XML name",
            desc.name
        )));
    }
    if desc.operations.is_empty() {
        return Err(invalid("a WSDL needs at least one operation".into()));
    }
    if desc.versions.is_empty() {
        return Err(invalid("a WSDL needs at least one SOAP version".into()));
    }
    let mut names = std::collections::HashSet::new();
    for op in &desc.operations {
        if !is_ncname(&op.name) || !names.insert(op.name.as_str()) {
            return Err(invalid(format!(
                "operation name {:?} is not an XML name or is used twice",
                op.name
            )));
        }
    }
    // One prefix per namespace of a body element.
    let mut prefixes: BTreeMap<&str, String> = BTreeMap::new();
    for op in &desc.operations {
        for q in std::iter::once(&op.input).chain(op.output.as_ref()) {
            let n = prefixes.len();
            prefixes
                .entry(q.ns.as_str())
                .or_insert_with(|| format!("b{n}"));
        }
    }
    let qname = |q: &QName| format!("{}:{}", prefixes[q.ns.as_str()], q.local);
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str(&format!(
        "<wsdl:definitions xmlns:wsdl=\"{WSDL}\" xmlns:soap=\"{SOAP11}\" xmlns:soap12=\"{SOAP12}\" xmlns:tns=\"{}\"",
        attr_escape(&desc.target_namespace)
    ));
    for (ns, p) in &prefixes {
        if ns.is_empty() {
            return Err(invalid(
                "a body element in no namespace cannot be named in a WSDL message".into(),
            ));
        }
        out.push_str(&format!(" xmlns:{p}=\"{}\"", attr_escape(ns)));
    }
    out.push_str(&format!(
        " name=\"{}\" targetNamespace=\"{}\">\n",
        desc.name,
        attr_escape(&desc.target_namespace)
    ));
    out.push_str("  <wsdl:types>\n");
    for s in &desc.schemas {
        let body = s
            .text
            .strip_prefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n")
            .unwrap_or(&s.text);
        for line in body.lines() {
            out.push_str("    ");
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("  </wsdl:types>\n");
    for op in &desc.operations {
        out.push_str(&format!(
            "  <wsdl:message name=\"{}Request\"><wsdl:part name=\"parameters\" element=\"{}\"/></wsdl:message>\n",
            op.name,
            qname(&op.input)
        ));
        if let Some(o) = &op.output {
            out.push_str(&format!(
                "  <wsdl:message name=\"{}Response\"><wsdl:part name=\"parameters\" element=\"{}\"/></wsdl:message>\n",
                op.name,
                qname(o)
            ));
        }
    }
    out.push_str(&format!(
        "  <wsdl:portType name=\"{}PortType\">\n",
        desc.name
    ));
    for op in &desc.operations {
        out.push_str(&format!(
            "    <wsdl:operation name=\"{0}\"><wsdl:input message=\"tns:{0}Request\"/>",
            op.name
        ));
        if op.output.is_some() {
            out.push_str(&format!(
                "<wsdl:output message=\"tns:{}Response\"/>",
                op.name
            ));
        }
        out.push_str("</wsdl:operation>\n");
    }
    out.push_str("  </wsdl:portType>\n");
    let mut versions = desc.versions.clone();
    versions.sort();
    versions.dedup();
    for v in &versions {
        let (p, suffix) = binding_names(*v);
        out.push_str(&format!(
            "  <wsdl:binding name=\"{}{suffix}\" type=\"tns:{}PortType\">\n    <{p}:binding style=\"document\" transport=\"{HTTP_TRANSPORT}\"/>\n",
            desc.name, desc.name
        ));
        for op in &desc.operations {
            out.push_str(&format!(
                "    <wsdl:operation name=\"{}\"><{p}:operation soapAction=\"{}\" style=\"document\"/><wsdl:input><{p}:body use=\"literal\"/></wsdl:input>",
                op.name,
                attr_escape(&op.action)
            ));
            if op.output.is_some() {
                out.push_str(&format!(
                    "<wsdl:output><{p}:body use=\"literal\"/></wsdl:output>"
                ));
            }
            out.push_str("</wsdl:operation>\n");
        }
        out.push_str("  </wsdl:binding>\n");
    }
    out.push_str(&format!("  <wsdl:service name=\"{}\">\n", desc.name));
    for v in &versions {
        let (p, suffix) = binding_names(*v);
        out.push_str(&format!(
            "    <wsdl:port name=\"{0}{suffix}Port\" binding=\"tns:{0}{suffix}\"><{p}:address location=\"{1}\"/></wsdl:port>\n",
            desc.name,
            attr_escape(&desc.address)
        ));
    }
    out.push_str("  </wsdl:service>\n</wsdl:definitions>\n");
    Ok(out)
}

fn binding_names(v: SoapVersion) -> (&'static str, &'static str) {
    match v {
        SoapVersion::V11 => ("soap", "Soap11"),
        SoapVersion::V12 => ("soap12", "Soap12"),
    }
}

fn is_ncname(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_alphabetic() || c == '_')
        && chars.all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
}
