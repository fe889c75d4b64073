//! Body codecs: the partner's bytes to a JSON value and back.
//!
//! `xml` decodes XML into the schema-guided JSON view of the design (and encodes it back);
//! `json` decodes JSON under the same limits. Both report errors with line and column.
//!
//! CONTRACT NOTE: `Limits`, `Format` and `CodecError` are shared with the pipeline.

/// The document view moved to [`crate::view`]; kept here so older paths still name it.
pub use crate::view as doc;
pub mod json;
pub mod xml;

use serde::{Deserialize, Serialize};
use serde_json::Number;

/// The wire format a partner route speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Xml,
    Json,
}

impl Format {
    pub fn media_type(self) -> &'static str {
        match self {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        }
    }
    pub fn problem_media_type(self) -> &'static str {
        match self {
            Format::Xml => "application/problem+xml",
            Format::Json => "application/problem+json",
        }
    }
}

/// Limits a decoder enforces while reading, so a hostile document costs bounded memory
/// and time. Body size itself is enforced before decoding, by the body reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Maximum nesting depth of elements (XML) or arrays/objects (JSON).
    pub max_depth: usize,
    /// Maximum number of elements (XML) or values (JSON) in one document.
    pub max_elements: usize,
    /// Maximum attributes on one XML element.
    pub max_attributes: usize,
    /// Maximum length in bytes of one text node or attribute value (after decoding).
    pub max_text_bytes: usize,
    /// Maximum length in bytes of one XML element or attribute name (qualified, prefix
    /// included). JSON member names are held to `max_text_bytes`.
    pub max_name_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_depth: DEFAULT_MAX_DEPTH,
            max_elements: DEFAULT_MAX_ELEMENTS,
            max_attributes: DEFAULT_MAX_ATTRIBUTES,
            max_text_bytes: DEFAULT_MAX_TEXT_BYTES,
            max_name_bytes: DEFAULT_MAX_NAME_BYTES,
        }
    }
}

/// Real partner documents nest a dozen levels (a SOAP envelope adds three); 64 leaves room
/// while keeping recursion far from any stack limit.
pub const DEFAULT_MAX_DEPTH: usize = 64;
/// A 1 MiB body of minimal elements (`<a/>`) holds about 250 000; 100 000 bounds the value
/// tree built from one request to a few MiB.
pub const DEFAULT_MAX_ELEMENTS: usize = 100_000;
/// No real schema has hundreds of attributes on an element; many is an attack on hashing.
pub const DEFAULT_MAX_ATTRIBUTES: usize = 256;
/// One text node of 1 MiB is already the whole default body.
pub const DEFAULT_MAX_TEXT_BYTES: usize = 1024 * 1024;
/// The longest names of published XML vocabularies (UBL, ISO 20022, UN/CEFACT) are under
/// 100 characters; 1 KiB leaves room for any of them while an element name can no longer
/// become a megabyte member key, pointer or error message.
pub const DEFAULT_MAX_NAME_BYTES: usize = 1024;

/// Why a body could not be decoded. Every variant carries a position when there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    /// Not well-formed (XML) or not valid JSON: 400.
    #[error("malformed {format} at line {line}, column {column}: {message}")]
    Malformed {
        format: &'static str,
        line: u32,
        column: u32,
        message: String,
    },
    /// Bytes that are not in the encoding the document is read in (UTF-8, or UTF-16 by its
    /// byte order mark), or a declaration that contradicts it: 400.
    #[error("invalid encoding at line {line}, column {column}: {message}")]
    Encoding {
        line: u32,
        column: u32,
        message: String,
    },
    /// An XML declaration naming an encoding the gateway does not read (anything but
    /// UTF-8, UTF-16 and US-ASCII): 415, since the representation is what is unsupported.
    #[error(
        "the document declares encoding \"{encoding}\" at line {line}, column {column}; send UTF-8 or UTF-16"
    )]
    UnsupportedEncoding {
        encoding: String,
        line: u32,
        column: u32,
    },
    /// A JSON object that names a member twice: 400. Parsers disagree on which value counts
    /// (the first, the last, an error), so the gateway and the upstream could act on two
    /// different documents.
    #[error(
        "member \"{member}\" appears twice in one object ({pointer}) at line {line}, column {column}"
    )]
    DuplicateMember {
        /// Pointer of the repeated member.
        pointer: String,
        member: String,
        line: u32,
        column: u32,
    },
    /// A DTD, or an entity other than the five predefined ones: refused, 400.
    #[error("refused at line {line}, column {column}: {message}")]
    Forbidden {
        line: u32,
        column: u32,
        message: String,
    },
    /// A limit of [`Limits`] was exceeded: 400 (413 is for a body over the byte limit,
    /// which is enforced before decoding).
    #[error("document exceeds the {limit} limit of {max} at line {line}, column {column}")]
    Limit {
        limit: &'static str,
        max: usize,
        line: u32,
        column: u32,
    },
    /// Well-formed but the wrong document: wrong root element or namespace: 422.
    #[error("{message} at line {line}, column {column}")]
    Unexpected {
        pointer: String,
        line: u32,
        column: u32,
        message: String,
    },
}

/// Why a value could not be encoded (the value does not fit the target shape: a gateway bug
/// caught by validation first, so this is rare).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot encode {pointer}: {message}")]
pub struct EncodeError {
    pub pointer: String,
    pub message: String,
    /// The document's own content cannot be written (a character XML cannot carry, a key
    /// that is no XML name), as opposed to a shape the format has no form for: on the way
    /// back to a partner, the former is the upstream's answer's fault, the latter the
    /// route's.
    pub by_value: bool,
}

/// 1-based line and column (in characters, not bytes) of byte `offset` of `input`. A line
/// ends at `\n`, `\r\n` or a lone `\r`, as XML's end-of-line handling and editors count
/// them. Error path only: counting is linear in the offset.
pub(crate) fn line_col(input: &[u8], offset: usize) -> (u32, u32) {
    let before = input.get(..offset.min(input.len())).unwrap_or_default();
    let mut line = 1usize;
    let mut start = 0usize;
    for (i, &b) in before.iter().enumerate() {
        let ends = b == b'\n' || (b == b'\r' && input.get(i + 1) != Some(&b'\n'));
        if ends {
            line += 1;
            start = i + 1;
        }
    }
    // Characters are the bytes that do not continue a UTF-8 sequence.
    let column = before
        .get(start..)
        .unwrap_or_default()
        .iter()
        .filter(|&&b| b & 0xC0 != 0x80)
        .count()
        + 1;
    (
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(column).unwrap_or(u32::MAX),
    )
}

/// Writes the shortest text of a JSON number: a double with an integral value is written
/// as the integer it is (`1000`, not `1000.0`; `-0.0` as `0`), everything else as
/// `serde_json` writes it (`0.1`, `1e300`). Every place that turns a number into text (the
/// XML encoder, `as: string`, templates, lookups) writes it this way, so one value always
/// has one spelling.
pub fn push_number(out: &mut String, n: &Number) {
    use std::fmt::Write as _;
    /// 2^53: below it every integral double is an exact `i64`.
    const EXACT_INTEGERS: f64 = 9_007_199_254_740_992.0;
    // Writing into a `String` cannot fail.
    let _ = match n.as_f64() {
        Some(f) if !(n.is_i64() || n.is_u64()) && f.fract() == 0.0 && f.abs() < EXACT_INTEGERS => {
            #[allow(clippy::cast_possible_truncation)]
            let i = f as i64;
            write!(out, "{i}")
        }
        _ => write!(out, "{n}"),
    };
}

/// [`push_number`] into a new string.
pub fn number_text(n: &Number) -> String {
    let mut out = String::new();
    push_number(&mut out, n);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_at_lf_crlf_and_lone_cr() {
        let text = "a\nb\r\nc\rdé\rx".as_bytes();
        let at = |needle: u8| line_col(text, text.iter().position(|&b| b == needle).unwrap());
        assert_eq!(at(b'a'), (1, 1));
        assert_eq!(at(b'b'), (2, 1));
        assert_eq!(at(b'c'), (3, 1));
        assert_eq!(at(b'd'), (4, 1));
        assert_eq!(at(b'x'), (5, 1));
        // A column counts characters: `é` is two bytes, one column.
        assert_eq!(line_col(text, text.len() - 2), (4, 3));
        // The `\r` of a `\r\n` is still on its line.
        assert_eq!(line_col(text, 3), (2, 2));
    }

    #[test]
    fn line_col_counts_characters() {
        assert_eq!(line_col(b"abc", 0), (1, 1));
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
        assert_eq!(line_col("\u{e9}\u{e9}x".as_bytes(), 4), (1, 3));
        assert_eq!(line_col(b"a\n", 99), (2, 1));
    }
}
