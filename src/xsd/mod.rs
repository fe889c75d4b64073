//! XML Schema (XSD) in and out of the gateway's JSON view.
//!
//! Partners that start from an XSD get their partner schema written for them: [`import`]
//! reads an XSD set (following `xs:import` and `xs:include` across files) and writes the
//! JSON Schema of one element's XML view, the view the XML decoder builds, with `xml`
//! namespace annotations. [`export`] goes the other way, from the JSON Schema of an XML
//! route to XSD documents a partner can validate its own documents with, and [`wsdl`]
//! describes SOAP operations over those documents. Constructs the JSON view cannot carry
//! are reported as [`Warning`]s with their file and position, never dropped in silence.

pub mod export;
pub mod import;
pub mod model;
pub mod parse;
pub mod pattern;
mod simple;
pub mod wsdl;

use std::fmt;
use std::path::PathBuf;

pub use export::{ExportedXsd, XsdFile, export};
pub use import::{Imported, import};
pub use wsdl::{ServiceDescription, SoapOperation, SoapVersion, wsdl};

/// The XML Schema namespace.
pub const XS: &str = "http://www.w3.org/2001/XMLSchema";
/// The XML Schema instance namespace (`xsi:nil`, `xsi:schemaLocation`).
pub const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Where something stands in an XSD file: for warnings and errors a person acts on.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Location {
    pub file: PathBuf,
    pub line: u32,
    pub column: u32,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file.display(), self.line, self.column)
    }
}

/// A construct that was read but that the result does not carry in full.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Warning {
    /// None for warnings about a JSON Schema (export), which has pointers, not lines.
    pub location: Option<Location>,
    /// The JSON pointer of the schema node, for export warnings.
    pub pointer: Option<String>,
    pub message: String,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.location, &self.pointer) {
            (Some(l), _) => write!(f, "warning: {l}: {}", self.message),
            (None, Some(p)) => write!(f, "warning: #{p}: {}", self.message),
            (None, None) => write!(f, "warning: {}", self.message),
        }
    }
}

/// Why an XSD could not be read or a JSON Schema could not be exported.
#[derive(Debug, thiserror::Error)]
pub enum XsdError {
    #[error("cannot read {file}: {error}")]
    Io {
        file: PathBuf,
        error: std::io::Error,
    },
    #[error("{location}: malformed XML: {message}")]
    Malformed { location: Location, message: String },
    #[error("{file}: not an XML Schema (the root element is {found}, not xs:schema)")]
    NotSchema { file: PathBuf, found: String },
    #[error("{location}: {message}")]
    Invalid { location: Location, message: String },
    #[error("{location}: {kind} `{name}` is not declared in any file of the schema set")]
    Unresolved {
        location: Location,
        kind: &'static str,
        name: String,
    },
    #[error("the schema set is larger than the limit of {max} {what}")]
    Limit { what: &'static str, max: usize },
    #[error("no global element `{name}`; global elements: {}", candidates.join(", "))]
    NoSuchElement {
        name: String,
        candidates: Vec<String>,
    },
    #[error("{file} declares {} global elements; choose one with --element: {}", candidates.len(), candidates.join(", "))]
    ChooseElement {
        file: PathBuf,
        candidates: Vec<String>,
    },
    #[error("#{pointer}: {message}")]
    Export { pointer: String, message: String },
}

/// A name in a namespace (`ns` empty for no namespace).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QName {
    pub ns: String,
    pub local: String,
}

impl QName {
    pub fn new(ns: impl Into<String>, local: impl Into<String>) -> QName {
        QName {
            ns: ns.into(),
            local: local.into(),
        }
    }
}

impl fmt::Display for QName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ns.is_empty() {
            f.write_str(&self.local)
        } else {
            write!(f, "{{{}}}{}", self.ns, self.local)
        }
    }
}
