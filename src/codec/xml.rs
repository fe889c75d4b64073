//! Schema-guided XML <-> JSON view (see the design's "XML and JSON" section).
//!
//! Decoding streams the document once (no intermediate tree) and builds the JSON view while
//! walking the external schema's [`Shape`] beside it: the schema says which child is an
//! array, what text converts to and which namespace an element must be in. The view is built
//! as a [`Doc`], whose member keys are borrowed from the schema, so no key is allocated or
//! hashed; [`decode`] turns it into a `Value` for callers that want one. Positions are
//! byte offsets until an error needs a line and column. The tokenizer (`scan`) is this
//! module's own and its only one: the text is checked to be UTF-8 once and every name,
//! text and attribute value is a slice of it, borrowed until the view needs an owned
//! string; [`locate`] reads a document again with it to place validation errors.
//!
//! Choices the design leaves open, made here:
//! - An element the schema does not describe is kept with generic rules (text stays a
//!   string, a repeated name becomes an array), keyed by its local name, so
//!   `additionalProperties` decides whether it is welcome. An element that would be taken
//!   for one the schema names (the same local name in another namespace, or a local name
//!   that is the key of a member written under another name) is a violation at that
//!   member's pointer: it never stands in for the member, nor is it merged with it.
//! - Attributes follow the Namespaces in XML rules: an unprefixed attribute is in no
//!   namespace, whatever its element's; a schema attribute is in the namespace its own
//!   `xml.namespace` gives (not an inherited one), else in none. An attribute that would
//!   be taken for a schema attribute it is not is a violation, as for elements.
//! - Text of numeric and boolean elements is converted after trimming XML whitespace, as
//!   XML Schema's `collapse` rule for those types does; text kept as a string is verbatim.
//!   Where a string is also admitted, only the canonical spelling of the other type
//!   converts, untrimmed (see [`convert_canonical`]).
//! - Errors about an attribute are reported where its name starts; a character XML does
//!   not allow is reported where it stands.
//! - An empty element whose schema admits `null` but not `string` decodes to `null`.
//! - A document is read as UTF-8 unless its first bytes say UTF-16 (a byte order mark, or
//!   a `<` written in two bytes): that is transcoded to UTF-8 before scanning. A declared
//!   encoding must agree; one other than UTF-8, US-ASCII or UTF-16 is refused, named.
//! - Line ends are normalised (`\r\n` to `\n`) as XML requires of every parser; a `\r`
//!   written as `&#13;` survives.
//! - Attributes are keyed by local name (`@name`, or the property's `xml.name`); one in a
//!   namespace is written with a prefix. `xsi:nil` is the one namespaced attribute with a
//!   meaning of its own: it makes the element `null`.
//! - Encoding never writes an attribute whose value is `null` (an attribute cannot be nil).
//! - Mixed content (`#text` beside child elements) is written text first, then children.

pub mod canonical;
mod convert;
mod decode;
mod encode;
mod envelope;
mod frame;
mod locate;
mod names;
mod scan;

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Number, Value};

use super::{CodecError, EncodeError, Limits, line_col, push_number};
pub use crate::schema::EncodePlan;
use crate::schema::xml_plan::{Written, is_xml_name};
use crate::schema::{Additional, NodeId, Shape, TypeSet, XmlAttribute, XmlChild, escape_pointer};
use crate::view::{Doc, Kind, View};
use convert::*;
use decode::*;
pub use encode::{encode, encode_view};
pub use envelope::{Envelope, EnvelopeError, HeaderEntry, envelope};
use frame::*;
pub use locate::{locate, locate_fragment};
use names::*;
use scan::{Attr, ScanError, Scanner, Token};

// The parts of the codec, each in its own file: `canonical` reads a document for
// comparison by meaning (golden fixtures), `scan` tokenizes, `decode` walks the
// tokens with `frame` (the view being built), `names` (elements and attributes against the
// schema) and `convert` (text to scalars); `locate` finds positions for errors; `encode`
// writes documents back.

/// The namespace of `xsi:nil`.
const XSI: &str = "http://www.w3.org/2001/XMLSchema-instance";
/// The namespace the `xml` prefix is bound to in every document.
const XML_NS: &str = "http://www.w3.org/XML/1998/namespace";
/// The namespace of `xmlns` declarations, which no prefix may be bound to.
const XMLNS_NS: &str = "http://www.w3.org/2000/xmlns/";

/// Namespace declarations in scope at once. Real dialects (SOAP, UBL) declare a handful,
/// nearly always on the root; each resolution scans the declarations in scope, so this
/// bounds that cost on a document that declares one per element.
const MAX_NAMESPACE_BINDINGS: usize = 128;

const FORMAT: &str = "XML";

/// Decodes `input` into the JSON view guided by `shape` (the external schema's shape).
/// `namespace` is the route's default namespace: element names are matched by
/// (namespace URI, local name), with the schema's `xml.namespace` overriding it.
pub fn decode(
    input: &[u8],
    shape: &Shape,
    namespace: Option<&str>,
    limits: &Limits,
) -> Result<Value, CodecError> {
    decode_doc(input, shape, namespace, limits).map(Doc::into_value)
}

/// [`decode`] into a [`Doc`], which borrows its keys from `shape` and `input` instead of
/// owning and hashing each: what the request direction reads when it never needs the
/// document as a `Value`.
///
/// A UTF-16 document (see [`Encoding::detect`]) is transcoded to UTF-8 first; its view
/// cannot borrow from text made here, so it is returned owned (a [`Doc::Json`]).
pub fn decode_doc<'a>(
    input: &'a [u8],
    shape: &'a Shape,
    namespace: Option<&'a str>,
    limits: &'a Limits,
) -> Result<Doc<'a>, CodecError> {
    let encoding = Encoding::detect(input);
    if encoding != Encoding::Utf8 {
        let text = utf16_text(input, encoding)?;
        return Decoder {
            input: text.as_bytes(),
            text: &text,
            bom: 0,
            encoding,
            shape,
            route_ns: namespace,
            limits,
            scope: &[],
        }
        .run(&text)
        .map(|doc| Doc::Json(doc.into_value()));
    }
    let (text, bom) = utf8_body(input)?;
    Decoder {
        input,
        text,
        bom,
        encoding,
        shape,
        route_ns: namespace,
        limits,
        scope: &[],
    }
    .run(text)
}

/// The encoding a document's bytes are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Encoding {
    Utf8,
    Utf16Le,
    Utf16Be,
}

impl Encoding {
    /// UTF-16 when the document starts with its byte order mark (`FF FE` little-endian,
    /// `FE FF` big-endian), or, without one, with a `<` written in two bytes (XML 1.0
    /// Appendix F: no UTF-8 document starts with a NUL byte); UTF-8 otherwise.
    pub(super) fn detect(input: &[u8]) -> Encoding {
        match input {
            [0xFF, 0xFE, ..] | [b'<', 0, ..] => Encoding::Utf16Le,
            [0xFE, 0xFF, ..] | [0, b'<', ..] => Encoding::Utf16Be,
            _ => Encoding::Utf8,
        }
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Encoding::Utf8 => "UTF-8",
            Encoding::Utf16Le => "UTF-16LE",
            Encoding::Utf16Be => "UTF-16BE",
        }
    }
}

/// The shape of the empty schema: every element decoded by the generic rules (text stays
/// a string, a repeated name becomes an array), keyed by local name. Header entries of an
/// envelope, which no partner schema describes, are read with it.
pub fn any_shape() -> &'static Shape {
    static ANY: std::sync::OnceLock<Shape> = std::sync::OnceLock::new();
    ANY.get_or_init(|| {
        Shape::build("any.schema.json", &Value::Object(Map::new()), &|_| None)
            .expect("the empty schema always has a shape")
    })
}

/// One element of a document read as a document of its own: its byte range in the
/// [`Source`] and the namespace declarations of the elements around it. A SOAP Body's child
/// is decoded this way, in place, with positions still counted in the whole document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Fragment<'a> {
    /// Byte offsets into the source's text (the byte-order mark included).
    pub range: std::ops::Range<usize>,
    /// `(prefix, uri)` declarations in scope where the range starts, outermost first
    /// (prefix "" for a default namespace).
    pub scope: Vec<(&'a str, &'a str)>,
}

/// A document's text, read in the encoding its first bytes say ([`Encoding::detect`]): the
/// input itself when it is UTF-8 (a byte-order mark is a UTF-8 character too), or a UTF-16
/// input transcoded. A SOAP envelope and the elements inside it are all read from one
/// `Source`, so each goes through the same detection and declaration check as a plain
/// document; [`Fragment`] ranges and positions count in its text, and line and column count
/// characters, so they are the document's own whatever its encoding.
#[derive(Debug)]
pub struct Source<'a> {
    text: Cow<'a, str>,
    /// Length of the byte-order mark `text` starts with (0 once transcoded).
    bom: usize,
    encoding: Encoding,
}

impl<'a> Source<'a> {
    /// Reads `input`: checks UTF-8 once, or transcodes UTF-16.
    pub fn read(input: &'a [u8]) -> Result<Source<'a>, CodecError> {
        let encoding = Encoding::detect(input);
        if encoding != Encoding::Utf8 {
            return Ok(Source {
                text: Cow::Owned(utf16_text(input, encoding)?),
                bom: 0,
                encoding,
            });
        }
        let text = std::str::from_utf8(input).map_err(|e| {
            let (line, column) = line_col(input, e.valid_up_to());
            CodecError::Encoding {
                line,
                column,
                message: "the document is not valid UTF-8".to_string(),
            }
        })?;
        Ok(Source {
            text: Cow::Borrowed(text),
            bom: if text.starts_with('\u{FEFF}') { 3 } else { 0 },
            encoding,
        })
    }

    /// The whole document, with nothing declared around it.
    pub fn whole(&self) -> Fragment<'static> {
        Fragment {
            range: self.bom..self.text.len(),
            scope: Vec::new(),
        }
    }

    /// The text of `fragment`; an error for a range that is not one of this text's.
    fn part(&self, fragment: &Fragment<'_>) -> Result<&str, CodecError> {
        self.text
            .get(fragment.range.clone())
            .ok_or_else(|| CodecError::Malformed {
                format: FORMAT,
                line: 1,
                column: 1,
                message: "the fragment is not a part of the document".to_string(),
            })
    }
}

/// A UTF-16 document as UTF-8 text, without its byte order mark. The body was already
/// held to the byte limit as received; the text is at most half as long again (a
/// two-byte unit becomes at most three bytes). Line and column count characters, so a
/// position in the text is the position in the document as its author's editor shows it.
fn utf16_text(input: &[u8], encoding: Encoding) -> Result<String, CodecError> {
    let body = match input {
        [0xFF, 0xFE, rest @ ..] | [0xFE, 0xFF, rest @ ..] => rest,
        _ => input,
    };
    let big_endian = encoding == Encoding::Utf16Be;
    let units = body.chunks_exact(2).map(|pair| {
        let pair = <[u8; 2]>::try_from(pair).unwrap_or_default();
        if big_endian {
            u16::from_be_bytes(pair)
        } else {
            u16::from_le_bytes(pair)
        }
    });
    let mut text = String::with_capacity(body.len());
    let at_end_of = |text: &str, message: &str| {
        let (line, column) = line_col(text.as_bytes(), text.len());
        CodecError::Encoding {
            line,
            column,
            message: message.to_string(),
        }
    };
    for c in char::decode_utf16(units) {
        match c {
            Ok(c) => text.push(c),
            Err(_) => {
                return Err(at_end_of(
                    &text,
                    &format!(
                        "the document is not valid {}: a surrogate code unit without its pair",
                        encoding.name()
                    ),
                ));
            }
        }
    }
    if body.len() % 2 != 0 {
        return Err(at_end_of(
            &text,
            &format!(
                "the document is not valid {}: it ends in the middle of a code unit",
                encoding.name()
            ),
        ));
    }
    Ok(text)
}

/// [`decode_doc`] of the [`Fragment`] `fragment` of `source`.
pub fn decode_fragment<'a>(
    source: &'a Source<'a>,
    fragment: &'a Fragment<'a>,
    shape: &'a Shape,
    namespace: Option<&'a str>,
    limits: &'a Limits,
) -> Result<Doc<'a>, CodecError> {
    let text = source.part(fragment)?;
    Decoder {
        input: source.text.as_bytes(),
        text,
        bom: fragment.range.start,
        encoding: source.encoding,
        shape,
        route_ns: namespace,
        limits,
        scope: &fragment.scope,
    }
    .run(text)
}

/// The document as UTF-8 text without its byte-order mark, and the mark's length (positions
/// reported by the parser are relative to the text after it).
fn utf8_body(input: &[u8]) -> Result<(&str, usize), CodecError> {
    let bom = if input.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    let body = input.get(bom..).unwrap_or_default();
    match std::str::from_utf8(body) {
        Ok(text) => Ok((text, bom)),
        Err(e) => {
            let (line, column) = line_col(input, bom + e.valid_up_to());
            Err(CodecError::Encoding {
                line,
                column,
                message: "the document is not valid UTF-8".to_string(),
            })
        }
    }
}

fn is_xml_ws_byte(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn is_blank(s: &str) -> bool {
    s.bytes().all(is_xml_ws_byte)
}

/// `s` without leading and trailing XML whitespace (ASCII bytes, so every cut is a
/// character boundary).
fn trim_xml_ws(s: &str) -> &str {
    let bytes = s.as_bytes();
    let start = bytes
        .iter()
        .position(|&b| !is_xml_ws_byte(b))
        .unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !is_xml_ws_byte(b))
        .map_or(start, |i| i + 1);
    s.get(start..end).unwrap_or_default()
}

#[cfg(test)]
mod tests;
