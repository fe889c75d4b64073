//! Diagnostics reported by loading and checking: one shape for schemas, mappings, route
//! files, the gateway configuration and golden fixtures, so `check`, hot reload and the
//! test-suite all print the same thing.

use std::fmt;
use std::path::PathBuf;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// The documented kinds of finding (docs/mapping.md, "Diagnostic codes"). One byte, so a
/// diagnostic stays as small as it was.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Code {
    /// An optional source feeds a required target property.
    OptionalIntoRequired,
    /// `check` found no configuration file or no route.
    NothingToCheck,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::OptionalIntoRequired => "optional-into-required",
            Code::NothingToCheck => "nothing-to-check",
        }
    }
}

/// One finding, pointing at the file and place a person has to edit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable name for the kind of finding, for the findings documented by name
    /// (docs/mapping.md lists them), so scripts and people can look them up.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<Code>,
    /// The file the finding is about (relative to the working directory when possible).
    pub file: PathBuf,
    /// 1-based line and column in `file`, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// A place inside a structured document: a JSON Pointer into a schema, a mapping rule's
    /// target path, a fixture case name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    pub message: String,
    /// What to do about it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::new(Severity::Error, file, message)
    }

    pub fn warning(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::new(Severity::Warning, file, message)
    }

    fn new(severity: Severity, file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Diagnostic {
            severity,
            code: None,
            file: file.into(),
            line: None,
            column: None,
            location: None,
            message: message.into(),
            hint: None,
        }
    }

    pub fn at(mut self, line: u32, column: u32) -> Self {
        self.line = Some(line);
        self.column = Some(column);
        self
    }

    pub fn at_opt(mut self, pos: Option<(u32, u32)>) -> Self {
        if let Some((l, c)) = pos {
            self.line = Some(l);
            self.column = Some(c);
        }
        self
    }

    pub fn location(mut self, location: impl Into<String>) -> Self {
        self.location = Some(location.into());
        self
    }

    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn code(mut self, code: Code) -> Self {
        self.code = Some(code);
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// `file:line:col: error: message` followed by indented location and hint lines, in the
/// style of a compiler, so editors and terminals can jump to the place.
impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        let sev = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        match self.code {
            Some(code) => write!(f, ": {sev}[{}]: {}", code.as_str(), self.message)?,
            None => write!(f, ": {sev}: {}", self.message)?,
        }
        if let Some(loc) = &self.location {
            write!(f, "\n  --> at {loc}")?;
        }
        if let Some(hint) = &self.hint {
            write!(f, "\n  = hint: {hint}")?;
        }
        Ok(())
    }
}

/// True when any diagnostic is an error (warnings alone do not fail a check or a reload).
pub fn has_errors(diags: &[Diagnostic]) -> bool {
    diags.iter().any(Diagnostic::is_error)
}
