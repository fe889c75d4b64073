//! Schema-guided XML <-> JSON view (see the design's "XML and JSON" section).
//!
//! Decoding streams the document once (no intermediate tree) and builds the JSON view while
//! walking the external schema's [`Shape`] beside it: the schema says which child is an
//! array, what text converts to and which namespace an element must be in. The view is built
//! as a [`Doc`], whose member keys are borrowed from the schema, so no key is allocated or
//! hashed; [`decode`] turns it into a `Value` for callers that want one. Positions are
//! byte offsets until an error needs a line and column. The tokenizer (`scan`) is this
//! module's own: the text is checked to be UTF-8 once and every name, text and attribute
//! value is a slice of it, borrowed until the view needs an owned string.
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
//! - Line ends are normalised (`\r\n` to `\n`) as XML requires of every parser; a `\r`
//!   written as `&#13;` survives.
//! - Attributes are keyed by local name (`@name`, or the property's `xml.name`); one in a
//!   namespace is written with a prefix. `xsi:nil` is the one namespaced attribute with a
//!   meaning of its own: it makes the element `null`.
//! - Encoding never writes an attribute whose value is `null` (an attribute cannot be nil).
//! - Mixed content (`#text` beside child elements) is written text first, then children.

mod scan;

use std::borrow::Cow;
use std::collections::HashMap;

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::{Namespace, ResolveResult};
use serde_json::{Map, Number, Value};

use super::doc::{Doc, Kind, View};
use super::{CodecError, EncodeError, Limits, line_col, push_number};
use crate::schema::{Additional, NodeId, Shape, TypeSet, XmlAttribute, XmlChild, escape_pointer};
use scan::{Attr, ScanError, Scanner, Token};

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
pub fn decode_doc<'a>(
    input: &'a [u8],
    shape: &'a Shape,
    namespace: Option<&'a str>,
    limits: &'a Limits,
) -> Result<Doc<'a>, CodecError> {
    let (text, bom) = utf8_body(input)?;
    Decoder {
        input,
        text,
        bom,
        shape,
        route_ns: namespace,
        limits,
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

/// The text since the last tag. Usually one text token, borrowed from the input, so the
/// indentation between tags is looked at and dropped without being copied.
#[derive(Default)]
struct Segment<'a> {
    text: Cow<'a, str>,
    /// Whether `text` is known to be only whitespace: one [`Token::Space`], which the
    /// scanner classified while finding its end, so dropping it needs no second look.
    blank: bool,
}

impl<'a> Segment<'a> {
    /// The segment of one [`Token::Space`].
    fn space(text: &'a str) -> Self {
        Segment {
            text: Cow::Borrowed(text),
            blank: true,
        }
    }

    fn push(&mut self, more: Cow<'a, str>) {
        if self.text.is_empty() {
            self.text = more;
        } else {
            self.text.to_mut().push_str(&more);
        }
        self.blank = false;
    }

    fn len(&self) -> usize {
        self.text.len()
    }

    fn take(&mut self) -> Cow<'a, str> {
        self.blank = false;
        std::mem::take(&mut self.text)
    }
}

/// One member of an object being decoded: its key (borrowed from the schema when the
/// schema names it) and its value.
type Member<'a> = (Cow<'a, str>, Doc<'a>);

/// Members an element keeps in the decoder's member list, where a repeated key is found
/// by scanning back from the last member (a repeated element nearly always repeats the
/// last one). Past this many, the element's members move to an object, whose hash index
/// keeps an element with thousands of distinct children linear to decode; real elements
/// have a few dozen members at most.
const MAX_LISTED_MEMBERS: usize = 32;

/// One open element while decoding.
struct Frame<'a> {
    /// The schema node of this element's value (the item node for array members); None
    /// for an element the schema does not describe.
    node: Option<NodeId>,
    /// Key of this element in its parent's object: borrowed from the schema when it
    /// describes the element, so it is copied once, into the finished object.
    key: Cow<'a, str>,
    /// Whether the parent's schema says this member is an array.
    array: bool,
    /// The start tag's qualified name, which the closing tag must repeat.
    qname: &'a str,
    /// How many namespace declarations were in scope before this element's own.
    ns_mark: usize,
    /// Where this element's attributes and children decoded so far start in the member
    /// list: an element's members are the list's tail while it is the innermost open one,
    /// so the object is built once, when it closes, with its final size.
    members: usize,
    /// The members once there are more than [`MAX_LISTED_MEMBERS`].
    spilled: Option<Box<Map<String, Value>>>,
    /// Non-blank text segments already closed by a child element (mixed content).
    text: String,
    /// The text since the last tag.
    segment: Segment<'a>,
    /// Where among this element's [`Shape::xml_elements`] its next child is looked for
    /// first: just after the last one matched, since children mostly come in the
    /// schema's order.
    hint: usize,
    has_children: bool,
    has_attributes: bool,
    nil: bool,
}

/// The same key: schema keys are compared by address first, since a repeated element
/// carries the very key of its previous occurrence.
fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || same_str(a, b))
}

/// The members of the open elements, and how objects are built from them.
struct Objects<'a> {
    /// Each open element's members, innermost last: an element's members are the tail
    /// from its [`Frame::members`] while it is the innermost open one, so its object is
    /// built once, when it closes, with its final size.
    members: Vec<Member<'a>>,
}

impl<'a> Objects<'a> {
    fn new() -> Self {
        Objects {
            // Room for the members of a few open elements, the usual peak.
            members: Vec::with_capacity(16),
        }
    }

    /// Where the members of an element opened now start.
    fn mark(&self) -> usize {
        self.members.len()
    }

    /// Adds a child element's value to `frame`: a repeated key becomes an array of the
    /// occurrences, in document order; a member the schema says is an array is one from
    /// its first occurrence.
    #[inline(always)]
    fn add(&mut self, frame: &mut Frame<'a>, key: Cow<'a, str>, value: Doc<'a>, array: bool) {
        if let Some(map) = frame.spilled.as_deref_mut() {
            add_to_map(map, key.into_owned(), value.into_value(), array);
            return;
        }
        let own = self.members.get_mut(frame.members..).unwrap_or_default();
        if let Some((_, seen)) = own.iter_mut().rev().find(|(k, _)| same_key(k, &key)) {
            repeat(seen, value);
            return;
        }
        let value = if array { Doc::List(vec![value]) } else { value };
        self.push(frame, key, value);
    }

    /// Sets an attribute (or `#text`) of `frame`: a second attribute with the same local
    /// name replaces the first's value, in the first's place.
    fn set(&mut self, frame: &mut Frame<'a>, key: Cow<'a, str>, value: Doc<'a>) {
        if let Some(map) = frame.spilled.as_deref_mut() {
            map.insert(key.into_owned(), value.into_value());
            return;
        }
        let own = self.members.get_mut(frame.members..).unwrap_or_default();
        if let Some((_, seen)) = own.iter_mut().rev().find(|(k, _)| same_key(k, &key)) {
            *seen = value;
            return;
        }
        self.push(frame, key, value);
    }

    /// Adds a member whose key `frame` does not hold yet.
    #[inline]
    fn push(&mut self, frame: &mut Frame<'a>, key: Cow<'a, str>, value: Doc<'a>) {
        let from = frame.members.min(self.members.len());
        if self.members.len() - from < MAX_LISTED_MEMBERS {
            self.members.push((key, value));
        } else {
            self.spill(frame, from, key, value);
        }
    }

    /// Moves `frame`'s members, and one more, to an object: the rare wide element.
    #[cold]
    fn spill(&mut self, frame: &mut Frame<'a>, from: usize, key: Cow<'a, str>, value: Doc<'a>) {
        let listed = self.members.len() - from;
        let mut map = Map::with_capacity(listed * 2);
        for (k, v) in self.members.drain(from..) {
            map.insert(k.into_owned(), v.into_value());
        }
        map.insert(key.into_owned(), value.into_value());
        frame.spilled = Some(Box::new(map));
    }

    /// Drops `frame`'s members (a nil element's).
    fn discard(&mut self, frame: &Frame<'a>) {
        self.members.truncate(frame.members);
    }

    /// The object of `frame`'s members, taken off the member list.
    fn take(&mut self, frame: &mut Frame<'a>) -> Doc<'a> {
        if let Some(map) = frame.spilled.take() {
            return Doc::Json(Value::Object(*map));
        }
        let from = frame.members.min(self.members.len());
        // One copy of the tail into a vector of its size, rather than a move per member.
        Doc::Members(self.members.split_off(from))
    }
}

/// One more occurrence of a member already present.
fn repeat<'a>(seen: &mut Doc<'a>, value: Doc<'a>) {
    match seen {
        // Element values are never arrays themselves, so a list here is this member's
        // own list of occurrences.
        Doc::List(items) => items.push(value),
        existing => {
            let first = std::mem::replace(existing, Doc::Json(Value::Null));
            *existing = Doc::List(vec![first, value]);
        }
    }
}

/// One namespace declaration in scope: `xmlns:prefix="uri"`, prefix "" for `xmlns="uri"`.
struct Binding<'a> {
    prefix: &'a str,
    uri: &'a str,
    /// Whether `uri` is the route's namespace, worked out once for all the elements in
    /// it, since schemas name that namespace by leaving it unsaid.
    route: bool,
}

/// The namespace bound to `prefix` ("" for the default namespace) by the innermost
/// declaration; None when unbound or un-declared with `xmlns=""`.
fn lookup<'a>(bindings: &[Binding<'a>], prefix: &str) -> Option<&'a str> {
    match prefix {
        "xml" => Some(XML_NS),
        "xmlns" => Some(XMLNS_NS),
        _ => bindings
            .iter()
            .rev()
            .find(|b| b.prefix == prefix)
            .map(|b| b.uri)
            .filter(|uri| !uri.is_empty()),
    }
}

struct Decoder<'a> {
    input: &'a [u8],
    /// `input` as text, without its byte-order mark: what every offset counts in.
    text: &'a str,
    bom: usize,
    shape: &'a Shape,
    route_ns: Option<&'a str>,
    limits: &'a Limits,
}

/// Where the element being matched sits: its namespace URI and local name.
struct ElementName<'n> {
    ns: Option<&'n str>,
    local: &'n str,
    /// Whether `ns` is the route's namespace.
    route: bool,
}

/// `a == b`, telling most unequal names apart by length and first byte without a call
/// to compare memory.
fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// What the schema says about one child element.
struct ChildMatch<'s> {
    key: Cow<'s, str>,
    /// Schema node of one element's value.
    element: Option<NodeId>,
    array: bool,
    /// Whether the schema names the element (a property), rather than taking it as
    /// any element (`additionalProperties`) or not describing it.
    named: bool,
}

/// A child element that is not the element the schema names with its local name or key:
/// the decoder reports it rather than taking one for the other.
struct Conflict;

impl<'a> Decoder<'a> {
    fn pos(&self, offset: usize) -> (u32, u32) {
        line_col(self.input, offset.saturating_add(self.bom))
    }

    fn malformed(&self, offset: usize, message: impl Into<String>) -> CodecError {
        let (line, column) = self.pos(offset);
        CodecError::Malformed {
            format: FORMAT,
            line,
            column,
            message: message.into(),
        }
    }

    fn forbidden(&self, offset: usize, message: impl Into<String>) -> CodecError {
        let (line, column) = self.pos(offset);
        CodecError::Forbidden {
            line,
            column,
            message: message.into(),
        }
    }

    fn limit(&self, offset: usize, limit: &'static str, max: usize) -> CodecError {
        let (line, column) = self.pos(offset);
        CodecError::Limit {
            limit,
            max,
            line,
            column,
        }
    }

    fn scan_error(&self, e: ScanError) -> CodecError {
        match e {
            ScanError::Malformed { at, message } => self.malformed(at, message),
            ScanError::TooManyAttributes { at } => {
                self.limit(at, "attributes", self.limits.max_attributes)
            }
            ScanError::Char { at, c } => self.malformed(
                at,
                format!("character U+{:04X} is not allowed in XML", u32::from(c)),
            ),
        }
    }

    /// The offset of `part`, a slice of the document, in it: where an attribute's name
    /// starts, for the errors about that attribute. Error path only.
    #[cold]
    fn offset_of(&self, part: &str) -> usize {
        (part.as_ptr() as usize)
            .checked_sub(self.text.as_ptr() as usize)
            .filter(|&at| at <= self.text.len())
            .unwrap_or(0)
    }

    /// [`lookup`] of `prefix`, and whether that namespace is the route's.
    fn resolve(&self, bindings: &[Binding<'a>], prefix: &str) -> (Option<&'a str>, bool) {
        match prefix {
            "xml" | "xmlns" => {
                let ns = lookup(bindings, prefix);
                (ns, ns == self.route_ns)
            }
            _ => match bindings.iter().rev().find(|b| b.prefix == prefix) {
                Some(b) if !b.uri.is_empty() => (Some(b.uri), b.route),
                _ => (None, self.route_ns.is_none()),
            },
        }
    }

    /// The types the schema gives node `id`; None when the schema does not describe it.
    fn types(&self, id: Option<NodeId>) -> Option<TypeSet> {
        id.map(|id| self.shape.xml_types(id))
    }

    fn run(&self, text: &'a str) -> Result<Doc<'a>, CodecError> {
        let mut scanner = Scanner::new(text, self.limits.max_attributes);
        let mut bindings: Vec<Binding<'a>> = Vec::new();
        // What unprefixed names resolve to, looked up once each time the declarations in
        // scope change rather than once per element.
        let mut default_ns: Option<(Option<&'a str>, bool)> = None;
        // Room for the usual depth, so the stack of open elements rarely grows.
        let mut stack: Vec<Frame<'a>> = Vec::with_capacity(8);
        let mut objects = Objects::new();
        let mut root: Option<Doc<'a>> = None;
        let mut elements = 0usize;

        loop {
            let at = scanner.position();
            let token = scanner.next().map_err(|e| self.scan_error(e))?;
            match token {
                Token::Decl => {
                    // Only the byte-order mark, already set aside, may come before it.
                    if at != 0 {
                        return Err(self.malformed(
                            at,
                            "the XML declaration must be at the very start of the document",
                        ));
                    }
                    self.declaration(scanner.attributes(), at)?;
                }
                Token::DocType => {
                    return Err(self.forbidden(
                        at,
                        "a document type declaration (<!DOCTYPE>) is not allowed",
                    ));
                }
                Token::Start { .. } if root.is_some() => {
                    return Err(self.malformed(at, "content after the root element"));
                }
                Token::Start { name: qname, empty } => {
                    let attrs = scanner.attributes();
                    let ns_mark = bindings.len();
                    self.bind(attrs, &mut bindings, at)?;
                    if bindings.len() != ns_mark {
                        default_ns = None;
                    }
                    elements += 1;
                    if elements > self.limits.max_elements {
                        return Err(self.limit(at, "elements", self.limits.max_elements));
                    }
                    if stack.len() >= self.limits.max_depth {
                        return Err(self.limit(at, "depth", self.limits.max_depth));
                    }
                    let split = if scanner.prefixed() {
                        split_qname(qname)
                    } else {
                        None
                    };
                    let name = match split {
                        None => {
                            let (ns, route) =
                                *default_ns.get_or_insert_with(|| self.resolve(&bindings, ""));
                            ElementName {
                                ns,
                                local: qname,
                                route,
                            }
                        }
                        Some((prefix, local)) => match self.resolve(&bindings, prefix) {
                            (Some(ns), route) if !prefix.is_empty() => ElementName {
                                ns: Some(ns),
                                local,
                                route,
                            },
                            _ => {
                                return Err(self.malformed(
                                    at,
                                    format!("unknown namespace prefix \"{prefix}\""),
                                ));
                            }
                        },
                    };
                    let matched = match stack.last_mut() {
                        Some(parent) => {
                            flush_segment(parent);
                            parent.has_children = true;
                            self.match_child(parent.node, &mut parent.hint, &name)
                        }
                        None => Ok(self.match_root(&name, at)?),
                    };
                    let Ok(matched) = matched else {
                        return Err(self.element_conflict(&stack, &objects, &name, at));
                    };
                    // A leaf without attributes, the most common element, is read in one
                    // step and never opened. (One whose attributes all declare namespaces
                    // is opened and closed instead, to the same value.)
                    let has_attrs = !attrs.is_empty();
                    if !has_attrs
                        && !empty
                        && let Some(parent) = stack.last_mut()
                    {
                        let text_at = scanner.position();
                        if let Some((text, cr)) = scanner.leaf_text(qname) {
                            self.leaf(matched, parent, &mut objects, text, cr, text_at)?;
                            continue;
                        }
                    }
                    let mut frame = Frame {
                        node: matched.element,
                        key: matched.key,
                        array: matched.array,
                        qname,
                        ns_mark,
                        members: objects.mark(),
                        spilled: None,
                        text: String::new(),
                        segment: Segment::default(),
                        hint: 0,
                        has_children: false,
                        has_attributes: false,
                        nil: false,
                    };
                    if has_attrs {
                        let attrs = scanner.attributes();
                        self.attributes(attrs, &bindings, &mut frame, &mut objects, &stack)?;
                    }
                    if empty {
                        if bindings.len() != ns_mark {
                            bindings.truncate(ns_mark);
                            default_ns = None;
                        }
                        if let Some(v) = self.close(frame, &mut stack, &mut objects) {
                            root = Some(v);
                        }
                    } else {
                        stack.push(frame);
                    }
                }
                Token::End { name } => {
                    let Some(frame) = stack.pop() else {
                        return Err(self.malformed(at, "closing tag without an opening tag"));
                    };
                    if frame.qname != name {
                        return Err(self.malformed(
                            at,
                            format!(
                                "closing tag </{name}> does not match the open element <{}>",
                                frame.qname
                            ),
                        ));
                    }
                    if bindings.len() != frame.ns_mark {
                        bindings.truncate(frame.ns_mark);
                        default_ns = None;
                    }
                    if let Some(v) = self.close(frame, &mut stack, &mut objects) {
                        root = Some(v);
                    }
                }
                Token::Space(text) => {
                    // The indentation before a tag, kept aside as it is.
                    if let Some(frame) = stack.last_mut()
                        && frame.segment.text.is_empty()
                        && text.len() <= self.limits.max_text_bytes
                    {
                        frame.segment = Segment::space(text);
                        continue;
                    }
                    self.text(&mut stack, Cow::Borrowed(text), at)?;
                }
                Token::Text { text, cr } => {
                    // The usual case, the indentation before a tag, borrowed as it is.
                    if !cr
                        && let Some(frame) = stack.last_mut()
                        && frame.segment.text.is_empty()
                        && text.len() <= self.limits.max_text_bytes
                    {
                        frame.segment.text = Cow::Borrowed(text);
                        continue;
                    }
                    let text = if cr {
                        normalize_eols(text)
                    } else {
                        Cow::Borrowed(text)
                    };
                    self.text(&mut stack, text, at)?;
                }
                Token::CData(t) => {
                    self.text(&mut stack, normalize_eols(t), at)?;
                }
                Token::Ref(name) => {
                    let resolved = self.reference(name, at)?;
                    if stack.is_empty() {
                        return Err(self.malformed(at, "text outside the root element"));
                    }
                    self.text(&mut stack, resolved, at)?;
                }
                Token::Comment | Token::Pi => {}
                Token::Eof => {
                    if !stack.is_empty() {
                        return Err(self.malformed(at, "the document ends inside an element"));
                    }
                    return match root {
                        Some(v) => Ok(v),
                        None => Err(self.malformed(at, "the document has no root element")),
                    };
                }
            }
        }
    }

    /// Refuses a declared encoding other than UTF-8 (the bytes were read as UTF-8).
    fn declaration(&self, attrs: &[Attr<'_>], at: usize) -> Result<(), CodecError> {
        if let Some(enc) = attrs.iter().find(|a| a.name == "encoding") {
            let enc = enc.raw;
            if !enc.eq_ignore_ascii_case("UTF-8") && !enc.eq_ignore_ascii_case("UTF8") {
                let (line, column) = self.pos(at);
                return Err(CodecError::Encoding {
                    line,
                    column,
                    message: format!(
                        "the document declares encoding \"{enc}\"; only UTF-8 is accepted"
                    ),
                });
            }
        }
        Ok(())
    }

    /// Adds the namespace declarations among `attrs` to the scope, refusing those the
    /// Namespaces in XML recommendation forbids.
    fn bind(
        &self,
        attrs: &[Attr<'a>],
        bindings: &mut Vec<Binding<'a>>,
        at: usize,
    ) -> Result<(), CodecError> {
        for attr in attrs {
            let prefix = match attr.name.strip_prefix("xmlns") {
                Some("") => "",
                Some(rest) => match rest.strip_prefix(':') {
                    Some(prefix) => prefix,
                    None => continue,
                },
                None => continue,
            };
            let uri = attr.raw;
            let refused = match prefix {
                // A namespace name is compared as written; one spelt with a reference
                // would have to be decoded first, which no real namespace needs.
                _ if uri.contains('&') => Some(
                    "a namespace name written with a character or entity reference is not accepted",
                ),
                "" if attr.name != "xmlns" => Some("a namespace prefix cannot be empty"),
                "" => None,
                "xml" if uri == XML_NS => continue,
                "xml" => Some("the prefix \"xml\" cannot be bound to another namespace"),
                "xmlns" => Some("the prefix \"xmlns\" cannot be declared"),
                _ if uri == XML_NS || uri == XMLNS_NS => {
                    Some("a reserved namespace cannot be bound to another prefix")
                }
                // Namespaces in XML 1.0 cannot undeclare a prefix.
                _ if uri.is_empty() => Some("a namespace prefix cannot be bound to an empty name"),
                _ => None,
            };
            if let Some(message) = refused {
                return Err(self.malformed(at, message));
            }
            if bindings.len() >= MAX_NAMESPACE_BINDINGS {
                return Err(self.malformed(
                    at,
                    format!("more than {MAX_NAMESPACE_BINDINGS} namespace declarations in scope"),
                ));
            }
            bindings.push(Binding {
                prefix,
                uri,
                route: self.route_ns == Some(uri),
            });
        }
        Ok(())
    }

    /// The text a reference stands for: one of the five predefined entities or a
    /// character reference; any other entity is refused (no DTD declares one).
    fn reference(&self, name: &str, at: usize) -> Result<Cow<'a, str>, CodecError> {
        match resolve_reference(name) {
            Some(Resolved::Entity(s)) => Ok(Cow::Borrowed(s)),
            Some(Resolved::Char(c)) => Ok(Cow::Owned(c.to_string())),
            None if name.starts_with('#') => {
                Err(self.malformed(at, format!("invalid character reference &{name};")))
            }
            None => Err(self.forbidden(at, unknown_entity_message(name))),
        }
    }

    /// Appends decoded text to the open element (text outside the root must be blank).
    fn text(
        &self,
        stack: &mut [Frame<'a>],
        content: Cow<'a, str>,
        at: usize,
    ) -> Result<(), CodecError> {
        match stack.last_mut() {
            Some(frame) => {
                if frame.segment.len() + content.len() > self.limits.max_text_bytes {
                    return Err(self.limit(at, "text", self.limits.max_text_bytes));
                }
                frame.segment.push(content);
                Ok(())
            }
            None if is_blank(&content) => Ok(()),
            None => Err(self.malformed(at, "text outside the root element")),
        }
    }

    /// Adds the attributes of the element of `frame` (whose parents are `stack`) to it:
    /// each matched by namespace and local name, an unprefixed one being in no namespace.
    fn attributes(
        &self,
        attrs: &[Attr<'a>],
        bindings: &[Binding<'a>],
        frame: &mut Frame<'a>,
        objects: &mut Objects<'a>,
        stack: &[Frame<'a>],
    ) -> Result<(), CodecError> {
        for (i, attr) in attrs.iter().enumerate() {
            if attr.name == "xmlns" || attr.name.starts_with("xmlns:") {
                continue;
            }
            let value = if attr.plain {
                Cow::Borrowed(attr.raw)
            } else {
                self.attribute_value(attr)?
            };
            if value.len() > self.limits.max_text_bytes {
                let at = self.offset_of(attr.name);
                return Err(self.limit(at, "text", self.limits.max_text_bytes));
            }
            let (ns, local) = match split_qname(attr.name) {
                None => (None, attr.name),
                Some((prefix, local)) => match lookup(bindings, prefix) {
                    Some(ns) if !prefix.is_empty() => (Some(ns), local),
                    _ => {
                        return Err(self.malformed(
                            self.offset_of(attr.name),
                            format!("unknown namespace prefix \"{prefix}\""),
                        ));
                    }
                },
            };
            // Two prefixes bound to one namespace make two spellings of one attribute, which
            // Namespaces in XML forbids (§6.3): which value would count is anyone's guess.
            if let Some(uri) = ns
                && attrs.get(..i).unwrap_or_default().iter().any(|other| {
                    split_qname(other.name).is_some_and(|(p, l)| {
                        l == local && !p.is_empty() && lookup(bindings, p) == Some(uri)
                    })
                })
            {
                return Err(self.malformed(
                    self.offset_of(attr.name),
                    format!(
                        "attribute \"{local}\" in namespace \"{uri}\" appears twice in one tag"
                    ),
                ));
            }
            if local == "nil" && ns == Some(XSI) {
                frame.nil = matches!(trim_xml_ws(&value), "true" | "1");
                continue;
            }
            let shape: &'a Shape = self.shape;
            let (key, node) = match frame.node {
                Some(n) => match shape.xml_attribute(n, ns, local) {
                    Some((k, p)) => (Cow::Borrowed(k), Some(p)),
                    None => {
                        if let Some(known) = conflicting_attribute(shape, n, local) {
                            return Err(
                                self.attribute_conflict(stack, frame, objects, known, attr, ns)
                            );
                        }
                        (Cow::Owned(format!("@{local}")), None)
                    }
                },
                None => (Cow::Owned(format!("@{local}")), None),
            };
            let v = convert(self.types(node), value);
            objects.set(frame, key, v);
            frame.has_attributes = true;
        }
        Ok(())
    }

    /// The JSON Pointer of member `member` of the element of `frames`' last entry, whose
    /// ancestors are the entries before it: each element's key, and its index where it is,
    /// or is about to become, an array. Error path only.
    #[cold]
    fn pointer(&self, frames: &[&Frame<'a>], objects: &Objects<'a>, member: &str) -> String {
        let mut out = String::new();
        let mut parent: Option<&Frame<'a>> = None;
        for &frame in frames {
            out.push('/');
            out.push_str(&escape_pointer(&frame.key));
            let index = match parent {
                None => frame.array.then_some(0),
                Some(parent) => {
                    let own = objects
                        .members
                        .get(parent.members..frame.members)
                        .unwrap_or_default();
                    occurrence(parent, own, &frame.key, frame.array)
                }
            };
            if let Some(i) = index {
                out.push('/');
                out.push_str(&i.to_string());
            }
            parent = Some(frame);
        }
        out.push('/');
        out.push_str(&escape_pointer(member));
        out
    }

    /// The violation of a child element `name` of the innermost open element that is
    /// not the schema's element of the same local name or key (see
    /// [`conflicting_elements`]). Error path only.
    #[cold]
    fn element_conflict(
        &self,
        stack: &[Frame<'a>],
        objects: &Objects<'a>,
        name: &ElementName<'_>,
        at: usize,
    ) -> CodecError {
        let parent = stack.last().and_then(|f| f.node);
        let known: Vec<&XmlChild> = parent
            .map(|p| conflicting_elements(self.shape, p, name).collect())
            .unwrap_or_default();
        let mut expected: Vec<String> = Vec::new();
        for child in &known {
            let local = child.name.as_deref().unwrap_or(name.local);
            let text = describe(local, child.namespace.as_deref().or(self.route_ns));
            if !expected.contains(&text) {
                expected.push(text);
            }
        }
        let key = known
            .first()
            .and_then(|c| c.key.as_deref())
            .unwrap_or(name.local);
        let frames: Vec<&Frame<'a>> = stack.iter().collect();
        let (line, column) = self.pos(at);
        CodecError::Unexpected {
            pointer: self.pointer(&frames, objects, key),
            line,
            column,
            message: format!(
                "expected {}, found {}",
                expected.join(" or "),
                describe(name.local, name.ns)
            ),
        }
    }

    /// The violation of attribute `attr` (in namespace `ns`) of the element of `frame`
    /// that is not the schema's attribute `known` of the same local name or key. Error
    /// path only.
    #[cold]
    fn attribute_conflict(
        &self,
        stack: &[Frame<'a>],
        frame: &Frame<'a>,
        objects: &Objects<'a>,
        known: &XmlAttribute,
        attr: &Attr<'a>,
        ns: Option<&str>,
    ) -> CodecError {
        let local = split_qname(attr.name).map_or(attr.name, |(_, local)| local);
        let frames: Vec<&Frame<'a>> = stack.iter().chain(std::iter::once(frame)).collect();
        let (line, column) = self.pos(self.offset_of(attr.name));
        CodecError::Unexpected {
            pointer: self.pointer(&frames, objects, &known.key),
            line,
            column,
            message: format!(
                "expected {}, found {}",
                describe_attribute(&known.name, known.namespace.as_deref()),
                describe_attribute(local, ns)
            ),
        }
    }

    /// An attribute value as XML normalises it: references resolved, each line end, tab
    /// and newline a space. Borrowed when there is nothing to change, as is usual.
    /// Errors are reported where the attribute's name starts.
    fn attribute_value(&self, attr: &Attr<'a>) -> Result<Cow<'a, str>, CodecError> {
        let raw = attr.raw;
        if attr.plain {
            return Ok(Cow::Borrowed(raw));
        }
        let at = self.offset_of(attr.name);
        let mut out = String::with_capacity(raw.len());
        let mut rest = raw;
        while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
            let (before, from) = rest.split_at_checked(i).unwrap_or((rest, ""));
            out.push_str(before);
            let mut chars = from.chars();
            match chars.next() {
                Some('&') => {
                    let after = chars.as_str();
                    let (name, tail) = after.split_once(';').unwrap_or((after, ""));
                    if name.is_empty() || name.len() == after.len() || !scan::is_reference(name) {
                        return Err(self.malformed(at, "a reference must be &name; or &#number;"));
                    }
                    match self.reference(name, at)? {
                        Cow::Borrowed(s) => out.push_str(s),
                        Cow::Owned(s) => out.push_str(&s),
                    }
                    rest = tail;
                }
                Some('\r') => {
                    out.push(' ');
                    let after = chars.as_str();
                    rest = after.strip_prefix('\n').unwrap_or(after);
                }
                _ => {
                    out.push(' ');
                    rest = chars.as_str();
                }
            }
        }
        out.push_str(rest);
        Ok(Cow::Owned(out))
    }

    fn match_root(&self, name: &ElementName<'_>, at: usize) -> Result<ChildMatch<'a>, CodecError> {
        let root = self.shape.root();
        if let Some(m) = find_element(self.shape, root, name) {
            return Ok(m);
        }
        let describes_elements = self
            .shape
            .property_list(root)
            .iter()
            .any(|(k, _)| !k.starts_with('@') && *k != "#text");
        if !describes_elements && self.shape.node(root).additional == Additional::Any {
            return Ok(generic(name.local));
        }
        let expected = self
            .shape
            .property_list(root)
            .iter()
            .filter(|(k, _)| !k.starts_with('@') && *k != "#text")
            .map(|(k, p)| {
                let n = self.shape.node(*p);
                let local = n.xml.name.as_deref().unwrap_or(k);
                describe(local, n.xml.namespace.as_deref().or(self.route_ns))
            })
            .collect::<Vec<_>>()
            .join(" or ");
        let (line, column) = self.pos(at);
        Err(CodecError::Unexpected {
            pointer: String::new(),
            line,
            column,
            message: format!(
                "expected root element {expected}, found {}",
                describe(name.local, name.ns)
            ),
        })
    }

    /// What the schema of element `parent` says of its child `name`; [`Conflict`] when
    /// the child is not, but would be taken for, one the schema names (see
    /// [`conflicting_elements`]).
    fn match_child(
        &self,
        parent: Option<NodeId>,
        hint: &mut usize,
        name: &ElementName<'_>,
    ) -> Result<ChildMatch<'a>, Conflict> {
        let Some(p) = parent else {
            return Ok(generic(name.local));
        };
        match find_child(self.shape, p, name, hint) {
            Some(m) if m.named => Ok(m),
            found => match conflicting_elements(self.shape, p, name).next() {
                Some(_) => Err(Conflict),
                None => Ok(found.unwrap_or_else(|| generic(name.local))),
            },
        }
    }

    /// Adds a leaf element read in one step (text, then its closing tag) to its parent:
    /// what [`Decoder::close`] would make of it, without keeping it open. `cr` says
    /// whether the text holds a `\r`.
    fn leaf(
        &self,
        element: ChildMatch<'a>,
        parent: &mut Frame<'a>,
        objects: &mut Objects<'a>,
        text: &'a str,
        cr: bool,
        at: usize,
    ) -> Result<(), CodecError> {
        let text = if cr {
            normalize_eols(text)
        } else {
            Cow::Borrowed(text)
        };
        if text.len() > self.limits.max_text_bytes {
            return Err(self.limit(at, "text", self.limits.max_text_bytes));
        }
        let value = convert(self.types(element.element), text);
        objects.add(parent, element.key, value, element.array);
        Ok(())
    }

    /// Turns a closed element into its value and adds it to its parent; returns the whole
    /// view when the root closes.
    fn close(
        &self,
        mut frame: Frame<'a>,
        stack: &mut [Frame<'a>],
        objects: &mut Objects<'a>,
    ) -> Option<Doc<'a>> {
        let value = if frame.nil {
            // Whatever the element held is dropped: it is nil.
            objects.discard(&frame);
            Doc::Json(Value::Null)
        } else if !frame.has_attributes && !frame.has_children {
            convert(self.types(frame.node), frame.segment.take())
        } else {
            let text = if frame.has_children {
                flush_segment(&mut frame);
                Cow::Owned(std::mem::take(&mut frame.text))
            } else {
                frame.segment.take()
            };
            if !text.is_empty() {
                let node = frame.node.and_then(|n| self.shape.xml_text(n));
                let text = convert(self.types(node), text);
                objects.set(&mut frame, Cow::Borrowed("#text"), text);
            }
            objects.take(&mut frame)
        };
        match stack.last_mut() {
            Some(parent) => {
                objects.add(parent, frame.key, value, frame.array);
                None
            }
            None => {
                let value = if frame.array {
                    Doc::List(vec![value])
                } else {
                    value
                };
                Some(Doc::Members(vec![(frame.key, value)]))
            }
        }
    }
}

fn split_qname(qname: &str) -> Option<(&str, &str)> {
    // Names are short: a plain loop beats a vectorised search's set-up.
    let colon = qname.bytes().position(|b| b == b':')?;
    let (prefix, rest) = qname.split_at_checked(colon)?;
    Some((prefix, rest.get(1..).unwrap_or_default()))
}

/// What a reference stands for.
enum Resolved {
    Entity(&'static str),
    Char(char),
}

/// Resolves `&name;` given `name`: a predefined entity, or a character reference
/// (`#65`, `#x41`) to a character XML allows. None when it is neither.
fn resolve_reference(name: &str) -> Option<Resolved> {
    let Some(number) = name.strip_prefix('#') else {
        return Some(Resolved::Entity(match name {
            "lt" => "<",
            "gt" => ">",
            "amp" => "&",
            "apos" => "'",
            "quot" => "\"",
            _ => return None,
        }));
    };
    let (digits, radix) = match number.strip_prefix('x') {
        Some(hex) => (hex, 16),
        None => (number, 10),
    };
    // `from_str_radix` would accept a sign; a reference is digits only.
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let code = u32::from_str_radix(digits, radix).ok()?;
    char::from_u32(code)
        .filter(|&c| is_xml_char(c))
        .map(Resolved::Char)
}

/// Text with its line ends normalised (`\r\n` and lone `\r` to `\n`), as XML requires of
/// every parser; borrowed when there is no `\r`, as in nearly every document.
fn normalize_eols(text: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\r', text.as_bytes()).is_none() {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((before, after)) = rest.split_once('\r') {
        out.push_str(before);
        out.push('\n');
        rest = after.strip_prefix('\n').unwrap_or(after);
    }
    out.push_str(rest);
    Cow::Owned(out)
}

fn unknown_entity_message(name: &str) -> String {
    format!(
        "entity &{name}; is not allowed: only the five predefined entities and character references are"
    )
}

/// `<Name> in namespace "urn"` or `<Name> in no namespace` for messages.
fn describe(local: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("<{local}> in namespace \"{ns}\""),
        None => format!("<{local}> in no namespace"),
    }
}

/// `attribute "name" in namespace "urn"` or `... in no namespace` for messages.
fn describe_attribute(local: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("attribute \"{local}\" in namespace \"{ns}\""),
        None => format!("attribute \"{local}\" in no namespace"),
    }
}

/// Characters XML 1.0 allows in a document.
fn is_xml_char(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..)
}

/// Moves the current text segment into the element's text unless it is only the
/// whitespace between two tags.
fn flush_segment(frame: &mut Frame<'_>) {
    if frame.segment.text.is_empty() {
        return;
    }
    if !frame.segment.blank && !is_blank(&frame.segment.text) {
        frame.text.push_str(&frame.segment.text);
    }
    frame.segment = Segment::default();
}

/// [`Objects::add`] for an element whose members have moved to an object.
fn add_to_map(map: &mut Map<String, Value>, key: String, value: Value, array: bool) {
    match map.entry(key) {
        serde_json::map::Entry::Occupied(mut seen) => match seen.get_mut() {
            // As in [`repeat`]: an array here is the member's list of occurrences.
            Value::Array(items) => items.push(value),
            existing => {
                let first = std::mem::take(existing);
                *existing = Value::Array(vec![first, value]);
            }
        },
        serde_json::map::Entry::Vacant(slot) => {
            slot.insert(if array {
                Value::Array(vec![value])
            } else {
                value
            });
        }
    }
}

fn generic<'s>(local: &str) -> ChildMatch<'s> {
    ChildMatch {
        key: Cow::Owned(local.to_string()),
        element: None,
        array: false,
        named: false,
    }
}

/// The elements node `id` names that a child `name` matching none of them would be
/// taken for: those with its local name (in another namespace), and those whose key is
/// its local name, the key it would be given. None when an entry the node names matches
/// `name` (after an `additionalProperties` entry that took it first).
fn conflicting_elements<'s, 'n>(
    shape: &'s Shape,
    id: NodeId,
    name: &'n ElementName<'n>,
) -> impl Iterator<Item = &'s XmlChild> + use<'s, 'n> {
    let elements = shape.xml_elements(id);
    let matched = elements.iter().any(|child| {
        child.name.is_some()
            && child_matches(child.name.as_deref(), child.namespace.as_deref(), name)
    });
    elements.iter().filter(move |child| {
        !matched
            && (child.name.as_deref() == Some(name.local)
                || child.key.as_deref() == Some(name.local))
    })
}

/// The attribute node `id` describes that an attribute with local name `local` matching
/// none of them would be taken for: one with that local name (in another namespace), or
/// whose key is `@local`, the key it would be given.
fn conflicting_attribute<'s>(
    shape: &'s Shape,
    id: NodeId,
    local: &str,
) -> Option<&'s XmlAttribute> {
    shape
        .xml_attributes(id)
        .iter()
        .find(|a| *a.name == *local || a.key.strip_prefix('@') == Some(local))
}

/// Where the next occurrence of child `key` of `parent` (whose listed members are `own`)
/// goes in its array: past the occurrences so far, when the member is or becomes an
/// array. Error path only.
fn occurrence(parent: &Frame<'_>, own: &[Member<'_>], key: &str, array: bool) -> Option<usize> {
    if let Some(map) = parent.spilled.as_deref() {
        return match map.get(key) {
            Some(Value::Array(items)) => Some(items.len()),
            Some(_) => Some(1),
            None => array.then_some(0),
        };
    }
    match own.iter().rev().find(|(k, _)| k == key) {
        Some((_, Doc::List(items))) => Some(items.len()),
        Some(_) => Some(1),
        None => array.then_some(0),
    }
}

/// The XML element name and namespace of member `key` whose schema is `member`: the
/// member's `xml.name` (or, for an array, its items'), else the key.
fn element_name<'s: 'k, 'k>(
    shape: &'s Shape,
    key: &'k str,
    member: NodeId,
) -> (&'k str, Option<&'s str>) {
    let node = shape.node(member);
    let mut name = node.xml.name.as_deref();
    let mut ns = node.xml.namespace.as_deref();
    if shape.is_array(member)
        && let Some(items) = shape.items(member)
    {
        let item = shape.node(items);
        name = name.or(item.xml.name.as_deref());
        if item.xml.namespace.is_some() {
            ns = item.xml.namespace.as_deref();
        }
    }
    (name.unwrap_or(key), ns)
}

/// What node `id` says of child element `name`: the first of the elements it describes
/// (see [`Shape::xml_elements`]) with its local name (any, for `additionalProperties`)
/// and namespace (the route's where the schema names none).
fn find_element<'s>(
    shape: &'s Shape,
    id: NodeId,
    name: &ElementName<'_>,
) -> Option<ChildMatch<'s>> {
    let at = shape
        .xml_elements(id)
        .iter()
        .position(|child| child_matches(child.name.as_deref(), child.namespace.as_deref(), name))?;
    child_match(shape, id, at, name)
}

/// [`find_element`] for the next child of an element, given `hint`, the position after
/// that element's last matched child: the entry there (children in the schema's order),
/// then the one before it (a repeated element), are tried alone when no earlier entry
/// could match the same element; otherwise, or when neither matches, all are scanned.
/// `hint` moves past the entry found, so a wide element in order costs one comparison a
/// child.
fn find_child<'s>(
    shape: &'s Shape,
    id: NodeId,
    name: &ElementName<'_>,
    hint: &mut usize,
) -> Option<ChildMatch<'s>> {
    let elements = shape.xml_elements(id);
    let at = [*hint, hint.wrapping_sub(1)]
        .into_iter()
        .find(|&i| {
            elements.get(i).is_some_and(|child| {
                child.unshadowed
                    && child_matches(child.name.as_deref(), child.namespace.as_deref(), name)
            })
        })
        .or_else(|| {
            elements.iter().position(|child| {
                child_matches(child.name.as_deref(), child.namespace.as_deref(), name)
            })
        })?;
    *hint = at + 1;
    child_match(shape, id, at, name)
}

/// Whether a schema entry for element `local` (any, when None) in namespace `ns` (the
/// route's, when None) describes element `name`.
fn child_matches(local: Option<&str>, ns: Option<&str>, name: &ElementName<'_>) -> bool {
    local.is_none_or(|local| same_str(local, name.local))
        && match ns {
            None => name.route,
            Some(ns) => name.ns == Some(ns),
        }
}

/// What entry `at` of node `id`'s [`Shape::xml_elements`] says of element `name`.
fn child_match<'s>(
    shape: &'s Shape,
    id: NodeId,
    at: usize,
    name: &ElementName<'_>,
) -> Option<ChildMatch<'s>> {
    let child = shape.xml_elements(id).get(at)?;
    Some(ChildMatch {
        key: match &child.key {
            Some(key) => Cow::Borrowed(key),
            None => Cow::Owned(name.local.to_string()),
        },
        element: child.element,
        array: child.array,
        named: child.key.is_some(),
    })
}

/// The scalar types text may be converted to.
const CONVERTIBLE: TypeSet = TypeSet(TypeSet::INTEGER.0 | TypeSet::NUMBER.0 | TypeSet::BOOLEAN.0);

/// Converts element text or an attribute value as the schema's types say (None: the
/// schema does not describe it, so it stays text). Text stays borrowed from the body
/// wherever it was found whole.
///
/// Where the schema admits a string beside integer, number or boolean, text becomes the
/// other type only when it is that type's canonical spelling (see [`convert_canonical`]);
/// any other text is the string it is.
fn convert(types: Option<TypeSet>, text: Cow<'_, str>) -> Doc<'_> {
    let Some(types) = types else {
        return Doc::Text(text);
    };
    if types.is_any() {
        return Doc::Text(text);
    }
    if types.names(TypeSet::STRING) {
        if types.names(CONVERTIBLE)
            && let Some(value) = convert_canonical(types, &text)
        {
            return Doc::Json(value);
        }
        return Doc::Text(text);
    }
    let trimmed = trim_xml_ws(&text);
    if (types.names(TypeSet::INTEGER) || types.names(TypeSet::NUMBER))
        && let Some(n) = parse_integer(trimmed)
    {
        return Doc::Json(Value::Number(n));
    }
    if types.names(TypeSet::NUMBER)
        && let Some(n) = parse_decimal(trimmed)
    {
        return Doc::Json(Value::Number(n));
    }
    if types.names(TypeSet::BOOLEAN) {
        match trimmed {
            "true" | "1" => return Doc::Json(Value::Bool(true)),
            "false" | "0" => return Doc::Json(Value::Bool(false)),
            _ => {}
        }
    }
    if trimmed.is_empty() {
        if types.names(TypeSet::OBJECT) {
            return Doc::Json(Value::Object(Map::new()));
        }
        if types.names(TypeSet::NULL) {
            return Doc::Json(Value::Null);
        }
    }
    Doc::Text(text)
}

/// `text` as the integer, number or boolean `types` admits when it is that type's
/// canonical spelling, the one the gateway writes the value back in: an integer is an
/// optional `-` and digits without leading zeros (`5`, `-12`, `0`; not `007`, `+5` or
/// `-0`); a number is written as the shortest text that reads back as the same value
/// (`0.5`, `-2.25`; not `5.0`, `1e3` or `.5`); a boolean is `true` or `false`. Nothing is
/// trimmed: `" 5"` is not `5`.
fn convert_canonical(types: TypeSet, text: &str) -> Option<Value> {
    if types.names(TypeSet::INTEGER) || types.names(TypeSet::NUMBER) {
        let digits = text.strip_prefix('-').unwrap_or(text).as_bytes();
        let canonical = match digits {
            [b'0'] => digits.len() == text.len(),
            [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
            _ => false,
        };
        if canonical && let Some(n) = parse_integer(text) {
            return Some(Value::Number(n));
        }
    }
    if types.names(TypeSet::NUMBER)
        && let Some(n) = parse_decimal(text)
    {
        let mut written = String::with_capacity(text.len());
        push_number(&mut written, &n);
        if written == text {
            return Some(Value::Number(n));
        }
    }
    if types.names(TypeSet::BOOLEAN) {
        match text {
            "true" => return Some(Value::Bool(true)),
            "false" => return Some(Value::Bool(false)),
            _ => {}
        }
    }
    None
}

/// An exponent-free integer literal (`-12`, `+7`, `007`) that fits i64 or u64.
fn parse_integer(s: &str) -> Option<Number> {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if let Ok(i) = s.parse::<i64>() {
        return Some(Number::from(i));
    }
    s.strip_prefix('+')
        .unwrap_or(s)
        .parse::<u64>()
        .ok()
        .map(Number::from)
}

/// A finite decimal or scientific literal; `INF`/`NaN` have no JSON form and stay text.
fn parse_decimal(s: &str) -> Option<Number> {
    if s.is_empty()
        || !s
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E'))
        || !s.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    let f: f64 = s.parse().ok()?;
    Number::from_f64(f)
}

/// Finds the line and column (1-based) of the XML node that produced the value at
/// `pointer` in the decoded view. Error path only: re-reads the document.
pub fn locate(
    input: &[u8],
    shape: &Shape,
    namespace: Option<&str>,
    pointer: &str,
) -> Option<(u32, u32)> {
    let (text, bom) = utf8_body(input).ok()?;
    let tokens: Vec<String> = if pointer.is_empty() {
        Vec::new()
    } else {
        pointer
            .strip_prefix('/')?
            .split('/')
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
            .collect()
    };
    let at = |offset: u64| {
        let offset = usize::try_from(offset).unwrap_or(usize::MAX);
        line_col(input, offset.saturating_add(bom))
    };

    let mut reader = NsReader::from_str(text);
    reader.config_mut().expand_empty_elements = false;
    // The element on the pointer's path that is open, its depth and node, and how many
    // tokens it accounts for; `best` is the deepest match so far.
    let mut depth = 0usize;
    let mut target_depth = 0usize;
    let mut target_node: Option<NodeId> = None;
    let mut next = 0usize;
    let mut best: Option<(u32, u32)> = None;
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::new();

    loop {
        let offset = reader.buffer_position();
        let (resolved, event) = reader.read_resolved_event().ok()?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                let empty = matches!(event, Event::Empty(_));
                let ns = match resolved {
                    ResolveResult::Bound(Namespace(n)) => Some(n),
                    _ => None,
                };
                let name = ElementName {
                    ns,
                    local: e.local_name().into_inner(),
                    route: ns == namespace,
                };
                if depth == target_depth {
                    // A child of the element on the path (or the root).
                    let m = if depth == 0 {
                        find_element(shape, shape.root(), &name)
                            .unwrap_or_else(|| generic(name.local))
                    } else {
                        target_node
                            .and_then(|p| find_element(shape, p, &name))
                            .unwrap_or_else(|| generic(name.local))
                    };
                    let on_path = tokens.get(next).is_some_and(|t| *t == m.key);
                    if depth == 0 && tokens.is_empty() {
                        return Some(at(offset));
                    }
                    if on_path {
                        let count = seen.entry(m.key.to_string()).or_insert(0);
                        let index = *count;
                        *count += 1;
                        let wanted = tokens.get(next + 1).and_then(|t| t.parse::<usize>().ok());
                        let hit = match wanted {
                            Some(n) => n == index,
                            None => index == 0,
                        };
                        if hit {
                            next += if wanted.is_some() { 2 } else { 1 };
                            best = Some(at(offset));
                            let rest = tokens.get(next);
                            if let Some(key) = rest.filter(|t| t.starts_with('@')) {
                                // An attribute is located where its name starts.
                                let found =
                                    attribute_offset(text, &reader, shape, m.element, e, key);
                                return found.map(|o| at(o as u64)).or(best);
                            }
                            if rest.is_none_or(|t| t == "#text") {
                                return best;
                            }
                            if empty {
                                return best;
                            }
                            target_depth = depth + 1;
                            target_node = m.element;
                            seen.clear();
                        }
                    }
                }
                if !empty {
                    depth += 1;
                }
            }
            Event::End(_) => {
                depth = depth.saturating_sub(1);
                if depth < target_depth {
                    // The element on the path closed without the rest of the pointer.
                    return best;
                }
            }
            Event::Eof => return best,
            _ => {}
        }
    }
}

/// The offset in `text` of the name of the attribute of start tag `tag` (just read by
/// `reader`, whose schema node is `node`) that decodes to member `key`, matched as the
/// decoder matches it.
fn attribute_offset(
    text: &str,
    reader: &NsReader<&[u8]>,
    shape: &Shape,
    node: Option<NodeId>,
    tag: &quick_xml::events::BytesStart<'_>,
    key: &str,
) -> Option<usize> {
    for attr in tag.attributes().with_checks(false) {
        let attr = attr.ok()?;
        let qname: &str = attr.key.into_inner();
        if qname == "xmlns" || qname.starts_with("xmlns:") {
            continue;
        }
        let (resolved, local) = reader.resolver().resolve_attribute(attr.key);
        let ns = match resolved {
            ResolveResult::Bound(Namespace(n)) => Some(n),
            _ => None,
        };
        let local = local.into_inner();
        let matched = match node {
            Some(n) => match shape.xml_attribute(n, ns, local) {
                Some((k, _)) => k == key,
                None => {
                    conflicting_attribute(shape, n, local).is_none()
                        && key.strip_prefix('@') == Some(local)
                }
            },
            None => key.strip_prefix('@') == Some(local),
        };
        if matched {
            let offset = (qname.as_ptr() as usize).checked_sub(text.as_ptr() as usize)?;
            return (offset <= text.len()).then_some(offset);
        }
    }
    None
}

/// Encodes a JSON view into an XML document (UTF-8, with declaration), children in the
/// order of the target schema's `properties`, the route's namespace as default namespace.
///
/// Works the schema's [`EncodePlan`] out on every call; the gateway holds one per schema
/// and calls [`encode_view`].
pub fn encode(
    value: &Value,
    shape: &Shape,
    namespace: Option<&str>,
) -> Result<Vec<u8>, EncodeError> {
    encode_view(
        View::Value(value),
        shape,
        &EncodePlan::new(shape),
        namespace,
    )
}

/// [`encode`] reading a [`View`], so a mapped [`Doc`] is written without first becoming a
/// `Value`. `plan` is [`EncodePlan::new`] of `shape`; a plan of another shape gives wrong
/// names but never a panic.
pub fn encode_view(
    view: View<'_>,
    shape: &Shape,
    plan: &EncodePlan,
    namespace: Option<&str>,
) -> Result<Vec<u8>, EncodeError> {
    let top = match view.members() {
        Some(members) if view.len() == 1 => members,
        _ => {
            return Err(EncodeError {
                pointer: String::new(),
                message: "the XML view must be an object with exactly one member, the root element"
                    .to_string(),
                by_value: false,
            });
        }
    };
    let mut enc = Encoder {
        shape,
        plan,
        route_ns: namespace,
        out: String::with_capacity(256),
        prefixes: Vec::new(),
        uses_xsi: false,
        path: Vec::with_capacity(8),
        pending: Vec::with_capacity(16),
    };
    enc.out
        .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let mut declarations_at = 0;
    let root = Some(shape.root());
    for (key, v) in top {
        let member = enc.member(root, plan.slot(root, key, 0), key);
        enc.path.push(Seg::Key(key));
        if v.kind() == Kind::Array {
            return Err(enc.error("the root element cannot be an array"));
        }
        let name = enc.name_of(&member)?;
        declarations_at = enc.write_element(name, v, member.element)?;
        enc.path.pop();
    }
    let decls = declarations(namespace, &enc.prefixes, enc.uses_xsi);
    enc.out.insert_str(declarations_at, &decls);
    Ok(enc.out.into_bytes())
}

/// The root element's namespace declarations: the route's namespace as the default, the
/// foreign ones with their prefixes in first-use order, and `xsi` when a nil was written.
fn declarations(namespace: Option<&str>, prefixes: &[(String, String)], uses_xsi: bool) -> String {
    let mut decls = String::with_capacity(64);
    if let Some(ns) = namespace {
        decls.push_str(" xmlns=\"");
        escape_into(&mut decls, ns, true);
        decls.push('"');
    }
    // The `xml` prefix is bound by definition and may not be declared.
    for (ns, prefix) in prefixes.iter().filter(|(ns, _)| ns != XML_NS) {
        decls.push_str(" xmlns:");
        decls.push_str(prefix);
        decls.push_str("=\"");
        escape_into(&mut decls, ns, true);
        decls.push('"');
    }
    if uses_xsi {
        decls.push_str(" xmlns:xsi=\"");
        decls.push_str(XSI);
        decls.push('"');
    }
    decls
}

/// What the XML encoder needs of every node of one schema, worked out once.
///
/// Encoding asks, for every member of every object, which schema node describes it, what
/// its element or attribute is called, in which namespace, and where it goes among its
/// siblings. The answers depend only on the schema, so they are worked out when the schema
/// is loaded, and writing a document only looks them up. Prefixes are not part of the
/// plan: they are handed out per document, in first-use order.
#[derive(Debug, Clone, Default)]
pub struct EncodePlan {
    /// One entry per node of the shape, in the arena's order.
    nodes: Box<[NodePlan]>,
}

/// Below this many declared properties a member's entry is found by comparing keys in
/// turn, which beats hashing the key; above it a hash map does, keeping wide objects linear.
const PLAN_LINEAR_LOOKUP_MAX: usize = 8;

/// The slot of a member the node's plan does not list.
const UNLISTED: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
struct NodePlan {
    /// The properties the node declares ([`Shape::property_list`]), in writing order.
    members: Box<[PlannedMember]>,
    /// Key to index in `members`, for nodes declaring many properties.
    index: Option<HashMap<Box<str>, u32>>,
}

/// [`Written`] of one declared property, owned.
#[derive(Debug, Clone)]
struct PlannedMember {
    key: Box<str>,
    element: Option<NodeId>,
    local: Box<str>,
    namespace: Option<Box<str>>,
    prefix: Option<Box<str>>,
    attribute: Box<str>,
    attribute_namespace: Option<Box<str>>,
    name_ok: bool,
}

impl EncodePlan {
    /// The plan of every node of `shape`.
    pub fn new(shape: &Shape) -> EncodePlan {
        let nodes = (0..shape.nodes.len())
            .filter_map(|id| NodeId::try_from(id).ok())
            .map(|id| {
                let members: Box<[PlannedMember]> = shape
                    .property_list(id)
                    .into_iter()
                    .map(|(key, _)| Written::describe(shape, Some(id), key).to_planned(key))
                    .collect();
                let index = (members.len() > PLAN_LINEAR_LOOKUP_MAX).then(|| {
                    members
                        .iter()
                        .zip(0u32..)
                        .map(|(m, i)| (m.key.clone(), i))
                        .collect()
                });
                NodePlan { members, index }
            })
            .collect();
        EncodePlan { nodes }
    }

    /// The position of member `key` among the properties `node` declares, [`UNLISTED`]
    /// when it declares no such property. `guess` is tried first: members mostly come in
    /// the schema's order, each in the slot after the previous one's.
    fn slot(&self, node: Option<NodeId>, key: &str, guess: u32) -> u32 {
        let Some(plan) = node.and_then(|n| self.nodes.get(n as usize)) else {
            return UNLISTED;
        };
        if let Some(m) = plan.members.get(guess as usize)
            && *m.key == *key
        {
            return guess;
        }
        match &plan.index {
            Some(index) => index.get(key).copied().unwrap_or(UNLISTED),
            None => plan
                .members
                .iter()
                .zip(0u32..)
                .find(|(m, _)| *m.key == *key)
                .map_or(UNLISTED, |(_, i)| i),
        }
    }
}

/// How one member of an object is written.
#[derive(Debug, Clone, Copy)]
struct Written<'x> {
    /// The node of one element's value (the item node when the member is an array).
    element: Option<NodeId>,
    /// Element local name (`xml.name`, also of an array's items, else the key).
    local: &'x str,
    /// The element's namespace; None means the route's.
    namespace: Option<&'x str>,
    /// The prefix the schema prefers for a namespace other than the route's.
    prefix: Option<&'x str>,
    /// Attribute name, for `@` keys (`xml.name`, else the key without its `@`).
    attribute: &'x str,
    /// The attribute's namespace, for `@` keys: the `xml.namespace` its own schema gives,
    /// else none (an unprefixed attribute is in no namespace).
    attribute_namespace: Option<&'x str>,
    /// Whether the name this member is written under (attribute or element) is an XML name.
    name_ok: bool,
}

impl<'x> Written<'x> {
    /// Written `key` of an object whose schema is `parent`, as the schema describes it.
    fn describe(shape: &'x Shape, parent: Option<NodeId>, key: &'x str) -> Written<'x> {
        let node = parent.and_then(|n| shape.property(n, key));
        let bare = key.strip_prefix('@');
        let mut member = Written {
            element: node.map(|m| member_element(shape, m)),
            local: key,
            namespace: None,
            prefix: None,
            attribute: bare.unwrap_or(key),
            attribute_namespace: None,
            name_ok: false,
        };
        if let Some(m) = node {
            let (local, ns) = element_name(shape, key, m);
            let meta = &shape.node(m).xml;
            member.local = local;
            member.namespace = ns;
            member.prefix = meta.prefix.as_deref();
            if let Some(name) = meta.name.as_deref() {
                member.attribute = name;
            }
            if meta.namespace_given {
                member.attribute_namespace = meta.namespace.as_deref();
            }
        }
        member.name_ok = is_xml_name(if bare.is_some() {
            member.attribute
        } else {
            member.local
        });
        member
    }

    fn to_planned(self, key: &str) -> PlannedMember {
        PlannedMember {
            key: key.into(),
            element: self.element,
            local: self.local.into(),
            namespace: self.namespace.map(Into::into),
            prefix: self.prefix.map(Into::into),
            attribute: self.attribute.into(),
            attribute_namespace: self.attribute_namespace.map(Into::into),
            name_ok: self.name_ok,
        }
    }
}

impl PlannedMember {
    fn as_member(&self) -> Written<'_> {
        Written {
            element: self.element,
            local: &self.local,
            namespace: self.namespace.as_deref(),
            prefix: self.prefix.as_deref(),
            attribute: &self.attribute,
            attribute_namespace: self.attribute_namespace.as_deref(),
            name_ok: self.name_ok,
        }
    }
}

/// The node of one element's value for member schema `member` (items for arrays).
fn member_element(shape: &Shape, member: NodeId) -> NodeId {
    if shape.is_array(member) {
        shape.items(member).unwrap_or(member)
    } else {
        member
    }
}

enum Seg<'v> {
    Key(&'v str),
    Index(usize),
}

/// An element name: its prefix (an index into [`Encoder::prefixes`]), if any, and local part.
#[derive(Clone, Copy)]
struct QName<'x> {
    prefix: Option<usize>,
    local: &'x str,
}

/// One member of an object being written, with its slot in the object's plan.
#[derive(Clone, Copy)]
struct Entry<'v> {
    key: &'v str,
    value: View<'v>,
    slot: u32,
}

struct Encoder<'s, 'v> {
    shape: &'s Shape,
    plan: &'s EncodePlan,
    route_ns: Option<&'s str>,
    out: String,
    /// Namespaces other than the route's, with their prefixes, in first-use order.
    prefixes: Vec<(String, String)>,
    uses_xsi: bool,
    path: Vec<Seg<'v>>,
    /// The members of the objects being written, outermost first, each object's in writing
    /// order: one buffer for the whole document instead of a list per object.
    pending: Vec<Entry<'v>>,
}

impl<'s, 'v> Encoder<'s, 'v> {
    fn error(&self, message: impl Into<String>) -> EncodeError {
        self.error_of(message, false)
    }

    /// An error caused by the document's own content (see [`EncodeError::by_value`]).
    fn value_error(&self, message: impl Into<String>) -> EncodeError {
        self.error_of(message, true)
    }

    fn error_of(&self, message: impl Into<String>, by_value: bool) -> EncodeError {
        let mut pointer = String::new();
        for seg in &self.path {
            pointer.push('/');
            match seg {
                Seg::Key(k) => pointer.push_str(&crate::schema::escape_pointer(k)),
                Seg::Index(i) => pointer.push_str(&i.to_string()),
            }
        }
        EncodeError {
            pointer,
            message: message.into(),
            by_value,
        }
    }

    /// How member `key` (in `slot` of the plan of `parent`) is written: from the plan, or
    /// worked out here for a member the schema does not list.
    fn member<'x>(&self, parent: Option<NodeId>, slot: u32, key: &'x str) -> Written<'x>
    where
        's: 'x,
    {
        let plan: &'s EncodePlan = self.plan;
        let planned = parent
            .and_then(|n| plan.nodes.get(n as usize))
            .and_then(|p| p.members.get(slot as usize));
        match planned {
            Some(p) => p.as_member(),
            None => Written::describe(self.shape, parent, key),
        }
    }

    /// The qualified element name of `member` (prefixed when its namespace is not the
    /// route's).
    fn name_of<'x>(&mut self, member: &Written<'x>) -> Result<QName<'x>, EncodeError> {
        if !member.name_ok {
            return Err(self.value_error(format!(
                "\"{}\" is not a valid XML element name",
                member.local
            )));
        }
        let prefix = match member.namespace.or(self.route_ns) {
            Some(ns) if Some(ns) != self.route_ns => Some(self.prefix_for(ns, member.prefix)),
            _ => None,
        };
        Ok(QName {
            prefix,
            local: member.local,
        })
    }

    /// The index in `prefixes` of namespace `ns`, declaring it on first use.
    fn prefix_for(&mut self, ns: &str, preferred: Option<&str>) -> usize {
        if let Some(i) = self.prefixes.iter().position(|(n, _)| n == ns) {
            return i;
        }
        // The XML namespace (`xml:lang`, `xml:space`) has its one prefix, never declared.
        if ns == XML_NS {
            self.prefixes.push((ns.to_string(), "xml".to_string()));
            return self.prefixes.len() - 1;
        }
        let taken = |p: &str, list: &[(String, String)]| {
            p == "xsi" || p.starts_with("xml") || list.iter().any(|(_, q)| q == p)
        };
        let prefix = match preferred {
            Some(p) if is_xml_name(p) && !taken(p, &self.prefixes) => p.to_string(),
            _ => {
                let mut n = 1;
                loop {
                    let candidate = format!("ns{n}");
                    if !taken(&candidate, &self.prefixes) {
                        break candidate;
                    }
                    n += 1;
                }
            }
        };
        self.prefixes.push((ns.to_string(), prefix));
        self.prefixes.len() - 1
    }

    fn push_name(&mut self, name: QName<'_>) {
        if let Some((_, prefix)) = name.prefix.and_then(|i| self.prefixes.get(i)) {
            self.out.push_str(prefix);
            self.out.push(':');
        }
        self.out.push_str(name.local);
    }

    fn close(&mut self, name: QName<'_>) {
        self.out.push_str("</");
        self.push_name(name);
        self.out.push('>');
    }

    /// Writes one element; returns the offset just after its start-tag name, where the
    /// root's namespace declarations go.
    fn write_element(
        &mut self,
        name: QName<'_>,
        value: View<'v>,
        node: Option<NodeId>,
    ) -> Result<usize, EncodeError> {
        self.out.push('<');
        self.push_name(name);
        let after_name = self.out.len();
        match value.kind() {
            Kind::Null => {
                self.uses_xsi = true;
                self.out.push_str(" xsi:nil=\"true\"/>");
            }
            Kind::Object => self.write_object(name, value, node)?,
            Kind::Array => return Err(self.error("an array inside an array has no XML form")),
            _ => {
                if value.as_str().is_some_and(str::is_empty) {
                    self.out.push_str("/>");
                } else {
                    self.out.push('>');
                    self.write_text(value, false)?;
                    self.close(name);
                }
            }
        }
        Ok(after_name)
    }

    fn write_object(
        &mut self,
        name: QName<'_>,
        value: View<'v>,
        node: Option<NodeId>,
    ) -> Result<(), EncodeError> {
        let plan: &'s EncodePlan = self.plan;
        let start = self.pending.len();
        let mut in_order = true;
        let mut last = 0u32;
        let mut guess = 0u32;
        for (key, v) in value.members().into_iter().flatten() {
            let slot = plan.slot(node, key, guess);
            in_order &= slot >= last;
            last = slot;
            guess = slot.saturating_add(1);
            self.pending.push(Entry {
                key,
                value: v,
                slot,
            });
        }
        let end = self.pending.len();
        if !in_order && let Some(entries) = self.pending.get_mut(start..end) {
            // The schema's properties in its order, then the others as they come (a
            // stable sort: every listed slot is distinct, the unlisted share the last).
            entries.sort_by_key(|e| e.slot);
        }

        for i in start..end {
            let Some(&e) = self.pending.get(i) else { break };
            if !e.key.starts_with('@') {
                continue;
            }
            self.path.push(Seg::Key(e.key));
            if !e.value.is_null() {
                let member = self.member(node, e.slot, e.key);
                if !member.name_ok {
                    return Err(self.value_error(format!(
                        "\"{}\" is not a valid XML attribute name",
                        member.attribute
                    )));
                }
                self.check_scalar(e.value)?;
                self.out.push(' ');
                if let Some(ns) = member.attribute_namespace {
                    // Even the route's namespace needs a prefix: the default namespace
                    // does not apply to attributes.
                    let prefix = self.prefix_for(ns, member.prefix);
                    self.push_name(QName {
                        prefix: Some(prefix),
                        local: "",
                    });
                }
                self.out.push_str(member.attribute);
                self.out.push_str("=\"");
                self.write_text(e.value, true)?;
                self.out.push('"');
            }
            self.path.pop();
        }

        let mut content = false;
        for i in start..end {
            let Some(&e) = self.pending.get(i) else { break };
            if e.key.starts_with('@') {
                continue;
            }
            if !content {
                self.out.push('>');
                content = true;
            }
            self.path.push(Seg::Key(e.key));
            if e.key == "#text" {
                self.check_scalar(e.value)?;
                self.write_text(e.value, false)?;
            } else {
                let member = self.member(node, e.slot, e.key);
                let child = self.name_of(&member)?;
                match e.value.items() {
                    Some(items) => {
                        for (i, item) in items.enumerate() {
                            self.path.push(Seg::Index(i));
                            self.write_element(child, item, member.element)?;
                            self.path.pop();
                        }
                    }
                    None => {
                        self.write_element(child, e.value, member.element)?;
                    }
                }
            }
            self.path.pop();
        }
        self.pending.truncate(start);
        if content {
            self.close(name);
        } else {
            self.out.push_str("/>");
        }
        Ok(())
    }

    /// Refuses an object or array where an attribute value or text goes.
    fn check_scalar(&self, value: View<'_>) -> Result<(), EncodeError> {
        match value.kind() {
            Kind::Array | Kind::Object => {
                Err(self.error("an attribute or text must be a string, number or boolean"))
            }
            _ => Ok(()),
        }
    }

    /// Writes a scalar's text, escaped (`null` writes nothing).
    fn write_text(&mut self, value: View<'_>, attribute: bool) -> Result<(), EncodeError> {
        if let Some(s) = value.as_str() {
            return self.escape_checked(s, attribute);
        }
        match value.as_value() {
            Some(Value::Bool(b)) => {
                self.out.push_str(if *b { "true" } else { "false" });
                Ok(())
            }
            Some(Value::Number(n)) => {
                push_number(&mut self.out, n);
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// Escapes `text` into the output, refusing a character XML cannot carry.
    fn escape_checked(&mut self, text: &str, attribute: bool) -> Result<(), EncodeError> {
        escape(&mut self.out, text, attribute, true).map_err(|c| self.bad_char(u32::from(c)))
    }

    fn bad_char(&self, c: u32) -> EncodeError {
        self.value_error(format!("character U+{c:04X} cannot appear in XML"))
    }
}

/// Escapes markup characters; in attributes also quotes and the whitespace a parser would
/// otherwise normalise to spaces. `\r` is escaped everywhere so it survives line-end
/// normalisation.
fn escape_into(out: &mut String, text: &str, attribute: bool) {
    // Without the check nothing is refused.
    let _ = escape(out, text, attribute, false);
}

/// The bytes [`escape`] looks at in text: markup, controls and the lead byte of U+FFFx.
static ESCAPE_IN_TEXT: [bool; 256] = escape_table(false);
/// [`ESCAPE_IN_TEXT`] and the quotes and whitespace an attribute value escapes.
static ESCAPE_IN_ATTRIBUTE: [bool; 256] = escape_table(true);

const fn escape_table(attribute: bool) -> [bool; 256] {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b != b'\n' as usize && b != b'\t' as usize;
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[0xef] = true;
    if attribute {
        table[b'"' as usize] = true;
        table[b'\'' as usize] = true;
        table[b'\n' as usize] = true;
        table[b'\t' as usize] = true;
    }
    table
}

/// [`escape_into`] in one pass that copies the runs needing no escape whole; with `check`,
/// it stops at the first character XML cannot carry and returns it.
fn escape(out: &mut String, text: &str, attribute: bool, check: bool) -> Result<(), char> {
    let bytes = text.as_bytes();
    // Start of the text not yet copied; always at a character boundary, since only ASCII
    // bytes are replaced.
    let mut copied = 0;
    let mut i = 0;
    let table = if attribute {
        &ESCAPE_IN_ATTRIBUTE
    } else {
        &ESCAPE_IN_TEXT
    };
    while let Some(&b) = bytes.get(i) {
        i += 1;
        if !table[usize::from(b)] {
            continue;
        }
        let replacement = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            b'"' if attribute => "&quot;",
            b'\'' if attribute => "&apos;",
            b'\n' if attribute => "&#10;",
            b'\t' if attribute => "&#9;",
            b'\n' | b'\t' => continue,
            0..=0x1f if check => return Err(char::from(b)),
            // U+FFFE and U+FFFF (EF BF BE, EF BF BF): the only characters XML refuses that
            // a `str` can hold besides the controls.
            0xef if check && matches!(bytes.get(i..i + 2), Some([0xbf, 0xbe..=0xbf])) => {
                let c = text.get(i - 1..).and_then(|t| t.chars().next());
                return Err(c.unwrap_or('\u{fffe}'));
            }
            _ => continue,
        };
        out.push_str(text.get(copied..i - 1).unwrap_or_default());
        out.push_str(replacement);
        copied = i;
    }
    out.push_str(text.get(copied..).unwrap_or_default());
    Ok(())
}

/// An XML name without a colon (NCName), with the Unicode ranges simplified to "any
/// non-ASCII character" (which admits a few characters XML does not).
fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || !first.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || !c.is_ascii())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The encoder as it was before it followed an [`EncodePlan`] and read a [`View`]: the
    /// oracle the encoder's tests compare bytes and errors with.
    mod reference {
        use std::borrow::Cow;

        use serde_json::{Map, Value};

        use super::super::{
            EncodeError, NodeId, Shape, element_name, is_xml_char, is_xml_name, member_element,
        };

        /// Encodes a JSON view into an XML document (UTF-8, with declaration), children in the
        /// order of the target schema's `properties`, the route's namespace as default namespace.
        pub(super) fn encode(
            value: &Value,
            shape: &Shape,
            namespace: Option<&str>,
        ) -> Result<Vec<u8>, EncodeError> {
            let top = match value {
                Value::Object(map) if map.len() == 1 => map,
                _ => {
                    return Err(EncodeError {
                        pointer: String::new(),
                        message: "the XML view must be an object with exactly one member, the root element"
                            .to_string(),
                        by_value: false,
                    });
                }
            };
            let mut enc = Encoder {
                shape,
                route_ns: namespace,
                out: String::with_capacity(256),
                prefixes: Vec::new(),
                uses_xsi: false,
                path: Vec::new(),
            };
            enc.out
                .push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            let mut declarations_at = 0;
            for (key, v) in top {
                let member = shape.property(shape.root(), key);
                enc.path.push(Seg::Key(key));
                if v.is_array() {
                    return Err(enc.error("the root element cannot be an array"));
                }
                let element = member.map(|m| member_element(shape, m));
                let name = enc.name_of(key, member)?;
                declarations_at = enc.write_element(&name, v, element)?;
                enc.path.pop();
            }
            let decls = super::super::declarations(namespace, &enc.prefixes, enc.uses_xsi);
            enc.out.insert_str(declarations_at, &decls);
            Ok(enc.out.into_bytes())
        }

        enum Seg<'v> {
            Key(&'v str),
            Index(usize),
        }

        struct Encoder<'s, 'v> {
            shape: &'s Shape,
            route_ns: Option<&'s str>,
            out: String,
            /// Namespaces other than the route's, with their prefixes, in first-use order.
            prefixes: Vec<(String, String)>,
            uses_xsi: bool,
            path: Vec<Seg<'v>>,
        }

        impl<'s, 'v> Encoder<'s, 'v> {
            fn error(&self, message: impl Into<String>) -> EncodeError {
                self.error_of(message, false)
            }

            fn value_error(&self, message: impl Into<String>) -> EncodeError {
                self.error_of(message, true)
            }

            fn error_of(&self, message: impl Into<String>, by_value: bool) -> EncodeError {
                let mut pointer = String::new();
                for seg in &self.path {
                    pointer.push('/');
                    match seg {
                        Seg::Key(k) => pointer.push_str(&crate::schema::escape_pointer(k)),
                        Seg::Index(i) => pointer.push_str(&i.to_string()),
                    }
                }
                EncodeError {
                    pointer,
                    message: message.into(),
                    by_value,
                }
            }

            /// The qualified element name of member `key` (prefixed when its namespace is not the
            /// route's).
            fn name_of(
                &mut self,
                key: &str,
                member: Option<NodeId>,
            ) -> Result<String, EncodeError> {
                let shape = self.shape;
                let (local, ns) = match member {
                    Some(m) => {
                        let (l, ns) = element_name(shape, key, m);
                        (l.to_string(), ns.or(self.route_ns))
                    }
                    None => (key.to_string(), self.route_ns),
                };
                if !is_xml_name(&local) {
                    return Err(
                        self.value_error(format!("\"{local}\" is not a valid XML element name"))
                    );
                }
                match ns {
                    Some(ns) if Some(ns) != self.route_ns => {
                        let preferred = member.and_then(|m| shape.node(m).xml.prefix.as_deref());
                        let prefix = self.prefix_for(ns, preferred);
                        Ok(format!("{prefix}:{local}"))
                    }
                    _ => Ok(local),
                }
            }

            fn prefix_for(&mut self, ns: &str, preferred: Option<&str>) -> String {
                if let Some((_, p)) = self.prefixes.iter().find(|(n, _)| n == ns) {
                    return p.clone();
                }
                if ns == super::super::XML_NS {
                    self.prefixes.push((ns.to_string(), "xml".to_string()));
                    return "xml".to_string();
                }
                let taken = |p: &str, list: &[(String, String)]| {
                    p == "xsi" || p.starts_with("xml") || list.iter().any(|(_, q)| q == p)
                };
                let prefix = match preferred {
                    Some(p) if is_xml_name(p) && !taken(p, &self.prefixes) => p.to_string(),
                    _ => {
                        let mut n = 1;
                        loop {
                            let candidate = format!("ns{n}");
                            if !taken(&candidate, &self.prefixes) {
                                break candidate;
                            }
                            n += 1;
                        }
                    }
                };
                self.prefixes.push((ns.to_string(), prefix.clone()));
                prefix
            }

            /// Writes one element; returns the offset just after its start-tag name, where the
            /// root's namespace declarations go.
            fn write_element(
                &mut self,
                qname: &str,
                value: &'v Value,
                node: Option<NodeId>,
            ) -> Result<usize, EncodeError> {
                self.out.push('<');
                self.out.push_str(qname);
                let after_name = self.out.len();
                match value {
                    Value::Null => {
                        self.uses_xsi = true;
                        self.out.push_str(" xsi:nil=\"true\"/>");
                    }
                    Value::Object(map) => self.write_object(qname, map, node)?,
                    Value::Array(_) => {
                        return Err(self.error("an array inside an array has no XML form"));
                    }
                    scalar => {
                        let text = self.scalar_text(scalar)?;
                        if text.is_empty() {
                            self.out.push_str("/>");
                        } else {
                            self.out.push('>');
                            self.escape_checked(&text, false)?;
                            self.out.push_str("</");
                            self.out.push_str(qname);
                            self.out.push('>');
                        }
                    }
                }
                Ok(after_name)
            }

            fn write_object(
                &mut self,
                qname: &str,
                map: &'v Map<String, Value>,
                node: Option<NodeId>,
            ) -> Result<(), EncodeError> {
                let shape = self.shape;
                let order: Vec<&'s str> = match node {
                    Some(n) => shape.property_list(n).into_iter().map(|(k, _)| k).collect(),
                    None => Vec::new(),
                };
                let mut members: Vec<(&'v str, &'v Value)> = Vec::with_capacity(map.len());
                for k in &order {
                    if let Some((key, v)) = map.get_key_value(*k) {
                        members.push((key.as_str(), v));
                    }
                }
                for (k, v) in map {
                    if !order.contains(&k.as_str()) {
                        members.push((k.as_str(), v));
                    }
                }

                for &(key, v) in &members {
                    let Some(bare) = key.strip_prefix('@') else {
                        continue;
                    };
                    self.path.push(Seg::Key(key));
                    if !v.is_null() {
                        let prop = node.and_then(|n| shape.property(n, key));
                        let name = prop
                            .and_then(|p| shape.node(p).xml.name.as_deref())
                            .unwrap_or(bare);
                        if !is_xml_name(name) {
                            return Err(self.value_error(format!(
                                "\"{name}\" is not a valid XML attribute name"
                            )));
                        }
                        let text = self.scalar_text(v)?;
                        self.out.push(' ');
                        let meta = prop.map(|p| &shape.node(p).xml);
                        if let Some(meta) = meta.filter(|m| m.namespace_given)
                            && let Some(ns) = meta.namespace.as_deref()
                        {
                            let prefix = self.prefix_for(ns, meta.prefix.as_deref());
                            self.out.push_str(&prefix);
                            self.out.push(':');
                        }
                        self.out.push_str(name);
                        self.out.push_str("=\"");
                        self.escape_checked(&text, true)?;
                        self.out.push('"');
                    }
                    self.path.pop();
                }

                let mut content = false;
                for &(key, v) in &members {
                    if key.starts_with('@') {
                        continue;
                    }
                    if !content {
                        self.out.push('>');
                        content = true;
                    }
                    self.path.push(Seg::Key(key));
                    if key == "#text" {
                        let text = self.scalar_text(v)?;
                        self.escape_checked(&text, false)?;
                    } else {
                        let member = node.and_then(|n| shape.property(n, key));
                        let element = member.map(|m| member_element(shape, m));
                        let name = self.name_of(key, member)?;
                        match v {
                            Value::Array(items) => {
                                for (i, item) in items.iter().enumerate() {
                                    self.path.push(Seg::Index(i));
                                    self.write_element(&name, item, element)?;
                                    self.path.pop();
                                }
                            }
                            _ => {
                                self.write_element(&name, v, element)?;
                            }
                        }
                    }
                    self.path.pop();
                }
                if content {
                    self.out.push_str("</");
                    self.out.push_str(qname);
                    self.out.push('>');
                } else {
                    self.out.push_str("/>");
                }
                Ok(())
            }

            fn scalar_text<'x>(&self, v: &'x Value) -> Result<Cow<'x, str>, EncodeError> {
                match v {
                    Value::String(s) => Ok(Cow::Borrowed(s)),
                    Value::Bool(b) => Ok(Cow::Borrowed(if *b { "true" } else { "false" })),
                    Value::Number(n) => Ok(Cow::Owned(crate::codec::number_text(n))),
                    Value::Null => Ok(Cow::Borrowed("")),
                    Value::Array(_) | Value::Object(_) => {
                        Err(self.error("an attribute or text must be a string, number or boolean"))
                    }
                }
            }

            fn escape_checked(&mut self, text: &str, attribute: bool) -> Result<(), EncodeError> {
                if let Some(c) = text.chars().find(|&c| !is_xml_char(c)) {
                    return Err(self.value_error(format!(
                        "character U+{:04X} cannot appear in XML",
                        u32::from(c)
                    )));
                }
                escape_into(&mut self.out, text, attribute);
                Ok(())
            }
        }

        fn escape_into(out: &mut String, text: &str, attribute: bool) {
            for c in text.chars() {
                match c {
                    '&' => out.push_str("&amp;"),
                    '<' => out.push_str("&lt;"),
                    '>' => out.push_str("&gt;"),
                    '\r' => out.push_str("&#13;"),
                    '"' if attribute => out.push_str("&quot;"),
                    '\'' if attribute => out.push_str("&apos;"),
                    '\n' if attribute => out.push_str("&#10;"),
                    '\t' if attribute => out.push_str("&#9;"),
                    c => out.push(c),
                }
            }
        }
    }

    const ORDER_XML: &str = include_str!("../../tests/fixtures/xml/order.xml");
    const ORDER_SCHEMA: &str = include_str!("../../tests/fixtures/xml/order.schema.json");
    const ACME: &str = "urn:acme:orders:v2";

    fn shape(schema: Value) -> Shape {
        Shape::build("test.json", &schema, &|_| None).unwrap()
    }

    fn order_shape() -> Shape {
        shape(serde_json::from_str(ORDER_SCHEMA).unwrap())
    }

    fn dec(xml: &str, s: &Shape, ns: Option<&str>) -> Result<Value, CodecError> {
        decode(xml.as_bytes(), s, ns, &Limits::default())
    }

    /// A schema with one root element `R` whose properties are `props`.
    fn root_with(props: Value) -> Shape {
        shape(json!({"properties": {"R": {"type": "object", "properties": props}}}))
    }

    fn malformed(line: u32, column: u32) -> impl Fn(&CodecError) -> bool {
        move |e| matches!(e, CodecError::Malformed { line: l, column: c, .. } if *l == line && *c == column)
    }

    #[test]
    fn order_fixture_decodes_per_schema() {
        let v = dec(ORDER_XML, &order_shape(), Some(ACME)).unwrap();
        let order = &v["Order"];
        assert_eq!(v.as_object().unwrap().len(), 1);
        assert_eq!(order["@id"], json!("A-10001"));
        assert_eq!(order["@currency"], json!("EUR"));
        assert_eq!(order["Placed"], json!("2026-11-24T09:15:30Z"));
        assert_eq!(
            order["Customer"],
            json!({"Name": "Jane Doe", "Email": "JANE.DOE@EXAMPLE.COM", "Phone": "+49 30 1234567"})
        );
        let items = order["Items"]["Item"].as_array().unwrap();
        assert_eq!(items.len(), 12);
        assert_eq!(
            items[0],
            json!({"@line": 1, "Sku": "ACME-BOLT-M8-40", "Qty": 250, "Price": "0.18"})
        );
        assert_eq!(
            items[11],
            json!({"@line": 12, "Sku": "ACME-PANEL-AL-600", "Qty": 8, "Price": "42.00"})
        );
        assert_eq!(order["Priority"], json!("express"));
        assert!(
            order["Notes"]
                .as_str()
                .unwrap()
                .starts_with("Deliver to loading dock B")
        );
        assert_eq!(
            order.as_object().unwrap().keys().collect::<Vec<_>>(),
            vec![
                "@id",
                "@currency",
                "Placed",
                "Customer",
                "ShipTo",
                "Items",
                "Priority",
                "Notes"
            ]
        );
    }

    #[test]
    fn single_element_becomes_array_where_schema_says_array() {
        let xml = r#"<Order xmlns="urn:acme:orders:v2" id="A" currency="EUR"><Items><Item line="7"><Sku>S</Sku><Qty>3</Qty><Price>1.50</Price></Item></Items></Order>"#;
        let v = dec(xml, &order_shape(), Some(ACME)).unwrap();
        assert_eq!(
            v,
            json!({"Order": {"@id": "A", "@currency": "EUR", "Items": {"Item": [
                {"@line": 7, "Sku": "S", "Qty": 3, "Price": "1.50"}
            ]}}})
        );
    }

    #[test]
    fn repeated_child_without_array_schema_is_still_an_array() {
        let s = root_with(json!({"A": {"type": "string"}}));
        let v = dec("<R><A>1</A><B>x</B><A>2</A><B>y</B></R>", &s, None).unwrap();
        assert_eq!(v, json!({"R": {"A": ["1", "2"], "B": ["x", "y"]}}));
    }

    #[test]
    fn conversions_follow_the_schema() {
        let s = root_with(json!({
            "i": {"type": "integer"}, "big": {"type": "integer"}, "neg": {"type": "integer"},
            "n": {"type": "number"}, "ni": {"type": "number"}, "exp": {"type": "integer"},
            "b1": {"type": "boolean"}, "b2": {"type": "boolean"}, "b3": {"type": "boolean"},
            "s": {"type": ["string", "integer"]}, "bad": {"type": "integer"}, "inf": {"type": "number"},
            "u": {"anyOf": [{"type": "integer"}, {"type": "null"}]}, "nul": {"type": ["integer", "null"]},
            "e": {"type": "string"}, "o": {"type": "object"}, "ws": {"type": "integer"},
            "@a": {"type": "number"}
        }));
        let xml = "<R a='2.5'><i>42</i><big>18446744073709551615</big><neg>-7</neg><n>1343.60</n><ni>5</ni>\
                   <exp>1e3</exp><b1>true</b1><b2>0</b2><b3>yes</b3><s>007</s><bad>ten</bad><inf>INF</inf>\
                   <u>3</u><nul></nul><e/><o/><ws> 12 </ws></R>";
        let v = dec(xml, &s, None).unwrap();
        assert_eq!(
            v,
            json!({"R": {
                "@a": 2.5, "i": 42, "big": 18446744073709551615u64, "neg": -7, "n": 1343.6, "ni": 5,
                "exp": "1e3", "b1": true, "b2": false, "b3": "yes", "s": "007", "bad": "ten",
                "inf": "INF", "u": 3, "nul": null, "e": "", "o": {}, "ws": 12
            }})
        );
    }

    #[test]
    fn text_is_verbatim_with_entities_cdata_and_mixed_content() {
        let s = root_with(json!({"t": {"type": "string"}, "p": {"type": "object"}}));
        let xml = "<R>\n  <t>  a &lt;&amp;&gt; &#65;&#x42; <![CDATA[<raw> & ]]>z  </t>\n  \
                   <p>Hello <b>big</b> world<!-- c --><?pi x?></p>\n</R>";
        let v = dec(xml, &s, None).unwrap();
        assert_eq!(
            v,
            json!({"R": {"t": "  a <&> AB <raw> & z  ", "p": {"b": "big", "#text": "Hello  world"}}})
        );
    }

    #[test]
    fn attributes_text_and_nil() {
        let s = root_with(json!({
            "Total": {"type": "object", "properties": {"@currency": {"type": "string"}, "#text": {"type": "number"}}},
            "Gone": {"type": ["string", "null"]},
            "Flag": {"type": "object"}
        }));
        let xml = r#"<R xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:x="urn:x"><Total currency="EUR">12.5</Total><Gone xsi:nil="true"/><Flag x:on="1" off=""/></R>"#;
        let v = dec(xml, &s, None).unwrap();
        assert_eq!(
            v,
            json!({"R": {"Total": {"@currency": "EUR", "#text": 12.5}, "Gone": null, "Flag": {"@on": "1", "@off": ""}}})
        );
    }

    #[test]
    fn refuses_dtds_and_unknown_entities() {
        let s = root_with(json!({}));
        let cases = [
            "<!DOCTYPE x [<!ENTITY a \"b\">]><R>&a;</R>",
            "<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;\">]>\n<R>&lol2;</R>",
            "<!DOCTYPE R [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]><R>&xxe;</R>",
        ];
        for xml in cases {
            let e = dec(xml, &s, None).unwrap_err();
            assert!(
                matches!(&e, CodecError::Forbidden { message, .. } if message == "a document type declaration (<!DOCTYPE>) is not allowed"),
                "{xml}: {e:?}"
            );
        }
        assert_eq!(
            dec("<R>\n  <a>&foo;</a></R>", &s, None).unwrap_err(),
            CodecError::Forbidden {
                line: 2,
                column: 6,
                message: "entity &foo; is not allowed: only the five predefined entities and character references are".into()
            }
        );
        assert!(matches!(
            dec("<R a=\"&foo;\"/>", &s, None).unwrap_err(),
            CodecError::Forbidden {
                line: 1,
                column: 4,
                ..
            }
        ));
    }

    #[test]
    fn encoding_errors() {
        let s = root_with(json!({}));
        let mut bad = b"<R>\n  <a>ok".to_vec();
        bad.extend_from_slice(&[0xC3, 0x28]);
        bad.extend_from_slice(b"</a></R>");
        assert_eq!(
            decode(&bad, &s, None, &Limits::default()).unwrap_err(),
            CodecError::Encoding {
                line: 2,
                column: 8,
                message: "the document is not valid UTF-8".into()
            }
        );
        assert_eq!(
            dec("<?xml version=\"1.0\" encoding=\"UTF-16\"?><R/>", &s, None).unwrap_err(),
            CodecError::Encoding {
                line: 1,
                column: 1,
                message: "the document declares encoding \"UTF-16\"; only UTF-8 is accepted".into()
            }
        );
        let utf16: Vec<u8> = [0xFF, 0xFE]
            .into_iter()
            .chain("<R/>".encode_utf16().flat_map(u16::to_le_bytes))
            .collect();
        assert!(matches!(
            decode(&utf16, &s, None, &Limits::default()),
            Err(CodecError::Encoding {
                line: 1,
                column: 1,
                ..
            })
        ));
        assert_eq!(
            decode(b"\xEF\xBB\xBF<R>x</R>", &s, None, &Limits::default()).unwrap(),
            json!({"R": "x"})
        );
    }

    #[test]
    fn malformed_documents_report_positions() {
        let s = root_with(json!({}));
        let check = |xml: &str, line: u32, column: u32| {
            let e = dec(xml, &s, None).unwrap_err();
            assert!(malformed(line, column)(&e), "{xml:?}: {e:?}");
        };
        check("<R>\n  <a>x</b>\n</R>", 2, 7);
        check("<R><a></R>", 1, 7);
        check("<R/>\n<R/>", 2, 1);
        check("<R/>trailing", 1, 5);
        check("text<R/>", 1, 1);
        check("", 1, 1);
        check("<R>", 1, 4);
        check("<R a='1' a='2'/>", 1, 1);
        check("<R><p:x/></R>", 1, 4);
        check("<R>&#0;</R>", 1, 4);
        assert_eq!(
            dec("<!-- c -->\n<R/>\n<!-- end -->\n", &s, None).unwrap(),
            json!({"R": {}})
        );
    }

    #[test]
    fn limits_are_enforced() {
        let s = root_with(json!({}));
        let limits = Limits {
            max_depth: 3,
            max_elements: 5,
            max_attributes: 2,
            max_text_bytes: 8,
        };
        let run = |xml: &str| decode(xml.as_bytes(), &s, None, &limits);
        assert_eq!(
            run("<R><a><b>x</b></a></R>").unwrap(),
            json!({"R": {"a": {"b": "x"}}})
        );
        assert_eq!(
            run("<R><a><b><c/></b></a></R>").unwrap_err(),
            CodecError::Limit {
                limit: "depth",
                max: 3,
                line: 1,
                column: 10
            }
        );
        assert_eq!(
            run("<R><a/><a/><a/><a/><a/></R>").unwrap_err(),
            CodecError::Limit {
                limit: "elements",
                max: 5,
                line: 1,
                column: 20
            }
        );
        assert_eq!(
            run("<R><a x='1' y='2' z='3'/></R>").unwrap_err(),
            CodecError::Limit {
                limit: "attributes",
                max: 2,
                line: 1,
                column: 4
            }
        );
        assert!(matches!(
            run("<R><a>123456789</a></R>").unwrap_err(),
            CodecError::Limit {
                limit: "text",
                max: 8,
                ..
            }
        ));
        assert!(matches!(
            run("<R><a x='123456789'/></R>").unwrap_err(),
            CodecError::Limit {
                limit: "text",
                max: 8,
                ..
            }
        ));
        assert!(matches!(
            run("<R><a>1234&amp;5678</a></R>").unwrap_err(),
            CodecError::Limit {
                limit: "text",
                max: 8,
                ..
            }
        ));
    }

    #[test]
    fn root_and_namespace_checks() {
        let s = order_shape();
        assert_eq!(
            dec("<?xml version=\"1.0\"?>\n<Invoice xmlns=\"urn:acme:orders:v2\"/>", &s, Some(ACME)).unwrap_err(),
            CodecError::Unexpected {
                pointer: String::new(),
                line: 2,
                column: 1,
                message: "expected root element <Order> in namespace \"urn:acme:orders:v2\", found <Invoice> in namespace \"urn:acme:orders:v2\"".into()
            }
        );
        assert_eq!(
            dec("<Order xmlns=\"urn:other\"/>", &s, Some(ACME)).unwrap_err(),
            CodecError::Unexpected {
                pointer: String::new(),
                line: 1,
                column: 1,
                message: "expected root element <Order> in namespace \"urn:acme:orders:v2\", found <Order> in namespace \"urn:other\"".into()
            }
        );
        assert!(matches!(
            dec("<Order/>", &s, Some(ACME)),
            Err(CodecError::Unexpected { .. })
        ));
        assert!(matches!(
            dec("<Order xmlns=\"urn:acme:orders:v2\"/>", &s, None),
            Err(CodecError::Unexpected { .. })
        ));
    }

    #[test]
    fn prefixes_do_not_matter_only_namespace_uris() {
        let s = order_shape();
        let plain = r#"<Order xmlns="urn:acme:orders:v2" id="A" currency="EUR"><Items><Item line="1"><Qty>2</Qty></Item></Items></Order>"#;
        let prefixed = r#"<o:Order xmlns:o="urn:acme:orders:v2" id="A" currency="EUR"><o:Items><o:Item line="1"><o:Qty>2</o:Qty></o:Item></o:Items></o:Order>"#;
        let a = dec(plain, &s, Some(ACME)).unwrap();
        assert_eq!(a, dec(prefixed, &s, Some(ACME)).unwrap());
        assert_eq!(a["Order"]["Items"]["Item"], json!([{"@line": 1, "Qty": 2}]));
        // A known name in a foreign namespace is not the known element.
        let foreign = r#"<Order xmlns="urn:acme:orders:v2" xmlns:f="urn:f" id="A" currency="EUR"><Items><f:Item line="1"/></Items></Order>"#;
        assert_eq!(
            dec(foreign, &s, Some(ACME)).unwrap_err(),
            CodecError::Unexpected {
                pointer: "/Order/Items/Item".into(),
                line: 1,
                column: 80,
                message: "expected <Item> in namespace \"urn:acme:orders:v2\", found <Item> in namespace \"urn:f\"".into()
            }
        );
    }

    fn soap_shape() -> Shape {
        shape(json!({
            "properties": {"Envelope": {
                "xml": {"namespace": "http://schemas.xmlsoap.org/soap/envelope/", "prefix": "soap"},
                "type": "object",
                "properties": {
                    "Header": {"type": "object"},
                    "Body": {"type": "object", "properties": {"Ping": {
                        "xml": {"namespace": "urn:acme:ping"},
                        "type": "object",
                        "properties": {"Count": {"type": "integer"}, "Tags": {"type": "array", "items": {"type": "string"}}}
                    }}}
                }
            }}
        }))
    }

    #[test]
    fn soap_envelope_with_two_namespaces() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?>
<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/">
  <s:Header/>
  <s:Body>
    <Ping xmlns="urn:acme:ping"><Count>3</Count><Tags>a</Tags></Ping>
  </s:Body>
</s:Envelope>"#;
        let v = dec(xml, &soap_shape(), Some("urn:route")).unwrap();
        assert_eq!(
            v,
            json!({"Envelope": {"Header": {}, "Body": {"Ping": {"Count": 3, "Tags": ["a"]}}}})
        );
        let encoded = encode(&v, &soap_shape(), Some("urn:route")).unwrap();
        assert_eq!(
            String::from_utf8(encoded.clone()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns=\"urn:route\" xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:ns1=\"urn:acme:ping\"><soap:Header/><soap:Body><ns1:Ping><ns1:Count>3</ns1:Count><ns1:Tags>a</ns1:Tags></ns1:Ping></soap:Body></soap:Envelope>"
        );
        assert_eq!(
            decode(
                &encoded,
                &soap_shape(),
                Some("urn:route"),
                &Limits::default()
            )
            .unwrap(),
            v
        );
    }

    fn ack_shape() -> Shape {
        shape(json!({
            "properties": {"OrderAck": {
                "type": "object",
                "properties": {
                    "OrderId": {"type": "string"},
                    "Status": {"enum": ["accepted", "rejected"]},
                    "Total": {"type": "object", "properties": {"@currency": {"type": "string"}, "#text": {"type": "string"}}},
                    "Eta": {"type": "string", "format": "date"}
                }
            }}
        }))
    }

    #[test]
    fn encode_ack_exactly() {
        let v = json!({"OrderAck": {
            "Eta": "2026-11-30", "Total": {"#text": "1343.60", "@currency": "EUR"},
            "Status": "accepted", "OrderId": "A-10001"
        }});
        let out = encode(&v, &ack_shape(), Some(ACME)).unwrap();
        assert_eq!(
            String::from_utf8(out.clone()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OrderAck xmlns=\"urn:acme:orders:v2\"><OrderId>A-10001</OrderId><Status>accepted</Status><Total currency=\"EUR\">1343.60</Total><Eta>2026-11-30</Eta></OrderAck>"
        );
        assert_eq!(
            out,
            include_bytes!("../../tests/fixtures/xml/ack.xml").trim_ascii_end()
        );
    }

    #[test]
    fn encode_values_nil_escaping_and_unknown_members() {
        let s = root_with(json!({
            "n": {"type": "number"}, "i": {"type": "integer"}, "b": {"type": "boolean"},
            "z": {"type": ["string", "null"]}, "@k": {"type": "string"},
            "list": {"type": "array", "items": {"type": "integer", "xml": {"name": "entry"}}},
            "renamed": {"type": "string", "xml": {"name": "Other", "namespace": "urn:o", "prefix": "o"}}
        }));
        let v = json!({"R": {
            "extra": "e", "z": null, "b": false, "i": 5, "n": 5.0, "@k": "a\"b'c<&>\n",
            "list": [1, 2], "renamed": "r", "t": "x < y & z > w \r"
        }});
        let out = String::from_utf8(encode(&v, &s, None).unwrap()).unwrap();
        assert_eq!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns:o=\"urn:o\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" k=\"a&quot;b&apos;c&lt;&amp;&gt;&#10;\"><n>5</n><i>5</i><b>false</b><z xsi:nil=\"true\"/><entry>1</entry><entry>2</entry><o:Other>r</o:Other><extra>e</extra><t>x &lt; y &amp; z &gt; w &#13;</t></R>"
        );
        let back = decode(out.as_bytes(), &s, None, &Limits::default()).unwrap();
        assert_eq!(back["R"]["@k"], json!("a\"b'c<&>\n"));
        assert_eq!(back["R"]["t"], json!("x < y & z > w \r"));
        assert_eq!(back["R"]["z"], json!(null));
        assert_eq!(back["R"]["list"], json!([1, 2]));
        assert_eq!(back["R"]["renamed"], json!("r"));
    }

    #[test]
    fn encode_errors_name_the_pointer() {
        let s = root_with(json!({}));
        assert_eq!(
            encode(&json!({"R": {"a": [{"bad name": 1}]}}), &s, None).unwrap_err(),
            EncodeError {
                pointer: "/R/a/0/bad name".into(),
                message: "\"bad name\" is not a valid XML element name".into(),
                by_value: true
            }
        );
        assert_eq!(
            encode(&json!({"R": {"a": "\u{1}"}}), &s, None).unwrap_err(),
            EncodeError {
                pointer: "/R/a".into(),
                message: "character U+0001 cannot appear in XML".into(),
                by_value: true
            }
        );
        assert_eq!(
            encode(&json!({"R": {"a": [[1]]}}), &s, None).unwrap_err(),
            EncodeError {
                pointer: "/R/a/0".into(),
                message: "an array inside an array has no XML form".into(),
                by_value: false
            }
        );
        assert_eq!(
            encode(&json!({"R": 1, "S": 2}), &s, None)
                .unwrap_err()
                .pointer,
            ""
        );
        assert_eq!(
            encode(&json!({"R": {"@a": {"x": 1}}}), &s, None).unwrap_err(),
            EncodeError {
                pointer: "/R/@a".into(),
                message: "an attribute or text must be a string, number or boolean".into(),
                by_value: false
            }
        );
    }

    /// Encodes `v` by the `&Value` entry point, by [`encode_view`] on `v` read as a `Doc`
    /// built as the mapping builds one, and by the reference encoder: all three must give
    /// the same bytes (or the same error).
    fn enc_all(v: &Value, s: &Shape, ns: Option<&str>) -> Result<String, EncodeError> {
        let expected = reference::encode(v, s, ns);
        let by_value = encode(v, s, ns);
        assert_eq!(by_value, expected, "the Value path");
        let doc = Doc::deep(v);
        let by_doc = encode_view(doc.view(), s, &EncodePlan::new(s), ns);
        assert_eq!(by_doc, expected, "the Doc path");
        by_value.map(|b| String::from_utf8(b).unwrap())
    }

    const DECL: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";

    #[test]
    fn encode_view_writes_namespaces_in_first_use_order() {
        let s = shape(json!({"properties": {"R": {
            "type": "object",
            "properties": {
                "local": {"type": "string"},
                "b": {"type": "string", "xml": {"namespace": "urn:b"}},
                "a": {"type": "string", "xml": {"namespace": "urn:a", "prefix": "pa"}},
                "a2": {"type": "string", "xml": {"namespace": "urn:a", "prefix": "other"}},
                "same": {"type": "string", "xml": {"namespace": "urn:route", "prefix": "r"}},
                "clash": {"type": "string", "xml": {"namespace": "urn:c", "prefix": "pa"}},
                "xmlish": {"type": "string", "xml": {"namespace": "urn:d", "prefix": "xmlfoo"}}
            }
        }}}));
        let v = json!({"R": {
            "xmlish": "6", "clash": "5", "same": "4", "a2": "3", "a": "2", "b": "1", "local": "0"
        }});
        assert_eq!(
            enc_all(&v, &s, Some("urn:route")).unwrap(),
            format!(
                "{DECL}<R xmlns=\"urn:route\" xmlns:ns1=\"urn:b\" xmlns:pa=\"urn:a\" xmlns:ns2=\"urn:c\" xmlns:ns3=\"urn:d\"><local>0</local><ns1:b>1</ns1:b><pa:a>2</pa:a><pa:a2>3</pa:a2><same>4</same><ns2:clash>5</ns2:clash><ns3:xmlish>6</ns3:xmlish></R>"
            )
        );
        // Namespace URIs are escaped as attribute values, unchecked, as before.
        let odd = enc_all(&v, &s, Some("urn:\"&<>'\t\n\r\u{1}é")).unwrap();
        assert!(odd.contains("xmlns=\"urn:&quot;&amp;&lt;&gt;&apos;&#9;&#10;&#13;\u{1}é\""));
        // Without a route namespace every named namespace is foreign, the root's included.
        let s = shape(json!({"properties": {"R": {
            "type": "object",
            "xml": {"namespace": "urn:r", "prefix": "r"},
            "properties": {"x": {"type": "integer"}, "y": {"type": "integer", "xml": {"namespace": "urn:y"}}}
        }}}));
        assert_eq!(
            enc_all(&json!({"R": {"y": 2, "x": 1}}), &s, None).unwrap(),
            format!(
                "{DECL}<r:R xmlns:r=\"urn:r\" xmlns:ns1=\"urn:y\"><r:x>1</r:x><ns1:y>2</ns1:y></r:R>"
            )
        );
        // A namespace used only by an empty array is still declared, where it was first used.
        let s = shape(json!({"properties": {"R": {
            "type": "object",
            "properties": {
                "e": {"type": "array", "items": {"type": "string", "xml": {"namespace": "urn:e"}}},
                "f": {"type": "string", "xml": {"namespace": "urn:f"}}
            }
        }}}));
        assert_eq!(
            enc_all(&json!({"R": {"f": "x", "e": []}}), &s, None).unwrap(),
            format!("{DECL}<R xmlns:ns1=\"urn:e\" xmlns:ns2=\"urn:f\"><ns2:f>x</ns2:f></R>")
        );
    }

    #[test]
    fn encode_view_attributes_text_nil_arrays_and_unknown_members() {
        let s = shape(json!({"properties": {"R": {
            "type": "object",
            "properties": {
                "@id": {"type": "string"},
                "@kind": {"type": "string", "xml": {"name": "type"}},
                "money": {"type": "object", "properties": {
                    "@cur": {"type": "string"}, "#text": {"type": "string"}
                }},
                "items": {"type": "array", "xml": {"name": "Item"}, "items": {
                    "type": "object", "properties": {"@no": {"type": "integer"}, "q": {"type": "number"}}
                }},
                "gone": {"type": ["string", "null"]}
            },
            "additionalProperties": {"type": "string", "xml": {"name": "Extra"}}
        }}}));
        let v = json!({"R": {
            "zz": "last?", "gone": null, "@skip": null,
            "items": [{"q": 1.5, "@no": 1, "note": "n"}, {"@no": 2, "q": 2.0}, {}],
            "money": {"#text": "1.00", "@cur": "EUR"},
            "@kind": "k&\"'<>\t\n\r", "@id": "A", "aa": "é中😀 <x> \"'"
        }});
        assert_eq!(
            enc_all(&v, &s, Some("urn:x")).unwrap(),
            format!(
                "{DECL}<R xmlns=\"urn:x\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" id=\"A\" type=\"k&amp;&quot;&apos;&lt;&gt;&#9;&#10;&#13;\"><money cur=\"EUR\">1.00</money><Item no=\"1\"><q>1.5</q><note>n</note></Item><Item no=\"2\"><q>2</q></Item><Item/><gone xsi:nil=\"true\"/><Extra>last?</Extra><Extra>é中😀 &lt;x&gt; \"'</Extra></R>"
            )
        );
        // `#text` alone, empty text, booleans and numbers as text.
        let v = json!({"R": {"money": {"#text": ""}, "zz": "", "b": true, "n": -0.5, "big": 18446744073709551615u64}});
        assert_eq!(
            enc_all(&v, &s, None).unwrap(),
            format!(
                "{DECL}<R><money></money><Extra/><Extra>true</Extra><Extra>-0.5</Extra><Extra>18446744073709551615</Extra></R>"
            )
        );
    }

    #[test]
    fn encode_view_errors_match() {
        let s = root_with(json!({"@bad": {"type": "string", "xml": {"name": "no good"}}}));
        let cases = [
            json!({"R": {"a": [{"bad name": 1}]}}),
            json!({"R": {"a": "\u{1}"}}),
            json!({"R": {"a": "ok\u{FFFE}"}}),
            json!({"R": {"a": "\u{FFFF}"}}),
            json!({"R": {"@a": "\u{FFFD}\u{1F}"}}),
            json!({"R": {"#text": "\u{0}"}}),
            json!({"R": {"a": [[1]]}}),
            json!({"R": 1, "S": 2}),
            json!({"R": [1]}),
            json!([1]),
            json!({"R": {"@a": {"x": 1}}}),
            json!({"R": {"#text": [1]}}),
            json!({"R": {"@bad": "x"}}),
            json!({"R": {"@bad": null, "k": {"ok": {"a/b~c": 1}}}}),
        ];
        for v in cases {
            assert!(enc_all(&v, &s, None).is_err(), "{v}");
        }
        assert_eq!(
            enc_all(&json!({"R": {"a": "ok\u{FFFE}"}}), &s, None).unwrap_err(),
            EncodeError {
                pointer: "/R/a".into(),
                message: "character U+FFFE cannot appear in XML".into(),
                by_value: true
            }
        );
        assert_eq!(
            enc_all(&json!({"R": {"k": {"a/b~c": {"1x": 1}}}}), &s, None)
                .unwrap_err()
                .pointer,
            "/R/k/a~1b~0c"
        );
    }

    #[test]
    fn encode_view_keeps_wide_objects_linear_and_identical() {
        // 1,500 declared properties (found through the plan's index), a document of 5,000
        // members: the declared ones in reverse order, the others interleaved.
        let props: Map<String, Value> = (0..1500)
            .map(|i| (format!("p{i}"), json!({"type": "integer"})))
            .collect();
        let s = root_with(Value::Object(props));
        let mut members = Map::new();
        for i in (0..5000).rev() {
            if i < 1500 {
                members.insert(format!("p{i}"), json!(i));
            } else {
                members.insert(format!("x{i}"), json!(i));
            }
        }
        let v = json!({ "R": members });
        let out = enc_all(&v, &s, None).unwrap();
        assert!(out.starts_with(&format!("{DECL}<R><p0>0</p0><p1>1</p1>")));
        assert!(out.ends_with("<x1501>1501</x1501><x1500>1500</x1500></R>"));
    }

    #[test]
    fn encode_view_reads_a_mapped_doc_with_json_subtrees() {
        // A `Doc` mixing member lists with subtrees held as values, as a mapping builds.
        let s = ack_shape();
        let doc = Doc::Members(vec![(
            Cow::Borrowed("OrderAck"),
            Doc::Members(vec![
                (Cow::Borrowed("Eta"), Doc::Json(json!("2026-11-30"))),
                (
                    Cow::Borrowed("Total"),
                    Doc::Json(json!({"#text": "1343.60", "@currency": "EUR"})),
                ),
                (Cow::Owned("OrderId".into()), Doc::Json(json!("A-10001"))),
                (Cow::Borrowed("Status"), Doc::Json(json!("accepted"))),
            ]),
        )]);
        let out = encode_view(doc.view(), &s, &EncodePlan::new(&s), Some(ACME)).unwrap();
        assert_eq!(
            out,
            include_bytes!("../../tests/fixtures/xml/ack.xml").trim_ascii_end()
        );
        assert_eq!(encode(&doc.into_value(), &s, Some(ACME)).unwrap(), out);
    }

    fn shop_shape() -> Shape {
        shape(
            json!({"type": "object", "required": ["Order"], "properties": {"Order": {
                "type": "object", "required": ["@id", "Amount"],
                "properties": {"@id": {"type": "string"}, "Amount": {"type": "string"}}
            }}}),
        )
    }

    const SHOP: &str = "urn:shop:v1";

    fn unexpected(pointer: &str, line: u32, column: u32, message: &str) -> CodecError {
        CodecError::Unexpected {
            pointer: pointer.into(),
            line,
            column,
            message: message.into(),
        }
    }

    #[test]
    fn elements_below_the_root_are_matched_by_namespace_and_local_name() {
        let s = shop_shape();
        let ok = r#"<s:Order xmlns:s="urn:shop:v1" id="1"><s:Amount>5.00</s:Amount></s:Order>"#;
        assert_eq!(
            dec(ok, &s, Some(SHOP)).unwrap(),
            json!({"Order": {"@id": "1", "Amount": "5.00"}})
        );
        let foreign = r#"<Order xmlns="urn:shop:v1" xmlns:evil="urn:evil" id="1"><evil:Amount>999.00</evil:Amount></Order>"#;
        assert_eq!(
            dec(foreign, &s, Some(SHOP)).unwrap_err(),
            unexpected(
                "/Order/Amount",
                1,
                57,
                "expected <Amount> in namespace \"urn:shop:v1\", found <Amount> in namespace \"urn:evil\""
            )
        );
        let no_namespace =
            "<s:Order xmlns:s=\"urn:shop:v1\" id=\"1\">\n  <Amount>5.00</Amount></s:Order>";
        assert_eq!(
            dec(no_namespace, &s, Some(SHOP)).unwrap_err(),
            unexpected(
                "/Order/Amount",
                2,
                3,
                "expected <Amount> in namespace \"urn:shop:v1\", found <Amount> in no namespace"
            )
        );
        // An element the schema does not name is kept as any unknown element is.
        let unknown = r#"<Order xmlns="urn:shop:v1" xmlns:x="urn:x" id="1"><Amount>5</Amount><x:Note>n</x:Note></Order>"#;
        assert_eq!(
            dec(unknown, &s, Some(SHOP)).unwrap(),
            json!({"Order": {"@id": "1", "Amount": "5", "Note": "n"}})
        );
    }

    #[test]
    fn a_payload_in_the_wrong_namespace_inside_an_envelope_is_refused() {
        let xml = "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\">\n  <s:Body>\n    <Ping xmlns=\"urn:other\"><Count>3</Count></Ping>\n  </s:Body>\n</s:Envelope>";
        assert_eq!(
            dec(xml, &soap_shape(), Some("urn:route")).unwrap_err(),
            unexpected(
                "/Envelope/Body/Ping",
                3,
                5,
                "expected <Ping> in namespace \"urn:acme:ping\", found <Ping> in namespace \"urn:other\""
            )
        );
    }

    #[test]
    fn the_pointer_of_an_element_conflict_counts_the_items_before_it() {
        let xml = r#"<Order xmlns="urn:acme:orders:v2" xmlns:f="urn:f" id="A" currency="EUR"><Items><Item line="1"><Qty>1</Qty></Item><Item line="2"><f:Qty>2</f:Qty></Item></Items></Order>"#;
        assert_eq!(
            dec(xml, &order_shape(), Some(ACME)).unwrap_err(),
            unexpected(
                "/Order/Items/Item/1/Qty",
                1,
                129,
                "expected <Qty> in namespace \"urn:acme:orders:v2\", found <Qty> in namespace \"urn:f\""
            )
        );
    }

    #[test]
    fn an_element_never_stands_in_for_a_member_written_under_another_name() {
        let s = root_with(json!({
            "amount": {"type": "integer", "xml": {"name": "Amount"}},
            "lines": {"type": "array", "items": {"type": "string", "xml": {"name": "Line"}}}
        }));
        assert_eq!(
            dec(
                "<R><Amount>1</Amount><Line>a</Line><Line>b</Line></R>",
                &s,
                None
            )
            .unwrap(),
            json!({"R": {"amount": 1, "lines": ["a", "b"]}})
        );
        assert_eq!(
            dec("<R><Amount>1</Amount><amount>2</amount></R>", &s, None).unwrap_err(),
            unexpected(
                "/R/amount",
                1,
                22,
                "expected <Amount> in no namespace, found <amount> in no namespace"
            )
        );
        assert_eq!(
            dec("<R><lines>x</lines></R>", &s, None).unwrap_err(),
            unexpected(
                "/R/lines",
                1,
                4,
                "expected <Line> in no namespace, found <lines> in no namespace"
            )
        );
    }

    #[test]
    fn attributes_are_matched_by_namespace_an_unprefixed_one_being_in_none() {
        let s = shop_shape();
        let foreign = r#"<Order xmlns="urn:shop:v1" xmlns:evil="urn:evil" id="1" evil:id="2"><Amount>5.00</Amount></Order>"#;
        let expected = unexpected(
            "/Order/@id",
            1,
            57,
            "expected attribute \"id\" in no namespace, found attribute \"id\" in namespace \"urn:evil\"",
        );
        assert_eq!(dec(foreign, &s, Some(SHOP)).unwrap_err(), expected);
        let first = r#"<Order xmlns="urn:shop:v1" xmlns:evil="urn:evil" evil:id="2" id="1"><Amount>5.00</Amount></Order>"#;
        let CodecError::Unexpected {
            pointer, message, ..
        } = expected
        else {
            unreachable!()
        };
        assert_eq!(
            dec(first, &s, Some(SHOP)).unwrap_err(),
            unexpected(&pointer, 1, 50, &message)
        );
        // The element's namespace is not the attribute's, even with the same prefix.
        let prefixed =
            r#"<s:Order xmlns:s="urn:shop:v1" s:id="1"><s:Amount>5</s:Amount></s:Order>"#;
        assert_eq!(
            dec(prefixed, &s, Some(SHOP)).unwrap_err(),
            unexpected(
                "/Order/@id",
                1,
                32,
                "expected attribute \"id\" in no namespace, found attribute \"id\" in namespace \"urn:shop:v1\""
            )
        );
        // A foreign attribute the schema does not name is kept as any unknown one is.
        let other = r#"<Order xmlns="urn:shop:v1" xmlns:x="urn:x" id="1" x:note="n"><Amount>5</Amount></Order>"#;
        assert_eq!(
            dec(other, &s, Some(SHOP)).unwrap(),
            json!({"Order": {"@id": "1", "@note": "n", "Amount": "5"}})
        );
        assert_eq!(
            dec("<Order xmlns='urn:shop:v1' p:id='1'/>", &s, Some(SHOP)).unwrap_err(),
            CodecError::Malformed {
                format: "XML",
                line: 1,
                column: 28,
                message: "unknown namespace prefix \"p\"".into()
            }
        );
    }

    #[test]
    fn an_attribute_in_a_namespace_is_one_its_own_schema_names() {
        let s = shape(json!({"properties": {"R": {
            "type": "object", "xml": {"namespace": "urn:r"},
            "properties": {
                "@lang": {"type": "string", "xml": {"namespace": "urn:l", "prefix": "l"}},
                "@id": {"type": "integer", "xml": {"name": "ident"}},
                "@mode": {"$ref": "#/$defs/Mode"}
            }
        }}, "$defs": {"Mode": {"type": "string", "xml": {"namespace": "urn:r"}}}}));
        let ns = Some("urn:r");
        assert_eq!(
            dec("<R xmlns='urn:r' xmlns:a='urn:l' xmlns:b='urn:r' a:lang='de' ident='7' b:mode='m'/>", &s, ns).unwrap(),
            json!({"R": {"@lang": "de", "@id": 7, "@mode": "m"}})
        );
        assert_eq!(
            dec("<R xmlns='urn:r' lang='de'/>", &s, ns).unwrap_err(),
            unexpected(
                "/R/@lang",
                1,
                18,
                "expected attribute \"lang\" in namespace \"urn:l\", found attribute \"lang\" in no namespace"
            )
        );
        assert_eq!(
            dec("<R xmlns='urn:r' mode='m'/>", &s, ns).unwrap_err(),
            unexpected(
                "/R/@mode",
                1,
                18,
                "expected attribute \"mode\" in namespace \"urn:r\", found attribute \"mode\" in no namespace"
            )
        );
        // `id` is not `ident`, the attribute of member `@id`, and does not pass for it.
        assert_eq!(
            dec("<R xmlns='urn:r' id='7'/>", &s, ns).unwrap_err(),
            unexpected(
                "/R/@id",
                1,
                18,
                "expected attribute \"ident\" in no namespace, found attribute \"id\" in no namespace"
            )
        );
    }

    #[test]
    fn attributes_in_a_namespace_are_written_with_a_prefix_and_read_back() {
        let s = shape(json!({"properties": {"R": {
            "type": "object",
            "properties": {
                "@id": {"type": "string"},
                "@lang": {"type": "string", "xml": {"namespace": "urn:l", "prefix": "l"}},
                "@mode": {"type": "string", "xml": {"namespace": "urn:r"}},
                "C": {"type": "string"}
            }
        }}}));
        let v = json!({"R": {"@id": "1", "@lang": "de", "@mode": "m", "C": "c"}});
        let xml = encode(&v, &s, Some("urn:r")).unwrap();
        assert_eq!(
            String::from_utf8(xml.clone()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"urn:r\" xmlns:l=\"urn:l\" xmlns:ns1=\"urn:r\" id=\"1\" l:lang=\"de\" ns1:mode=\"m\"><C>c</C></R>"
        );
        assert_eq!(reference::encode(&v, &s, Some("urn:r")).unwrap(), xml);
        assert_eq!(
            decode(&xml, &s, Some("urn:r"), &Limits::default()).unwrap(),
            v
        );
    }

    #[test]
    fn namespace_declarations_are_taken_as_written_or_refused() {
        let s = shape(json!({"properties": {"Doc": {"type": "object"}}}));
        for (xml, column, message) in [
            (
                r#"<Doc xmlns="urn&#58;a"/>"#,
                1,
                "a namespace name written with a character or entity reference is not accepted",
            ),
            (
                r#"<Doc xmlns:e="urn:&#1;"/>"#,
                1,
                "a namespace name written with a character or entity reference is not accepted",
            ),
            (
                r#"<Doc xmlns:e="a&amp;b"/>"#,
                1,
                "a namespace name written with a character or entity reference is not accepted",
            ),
            (
                r#"<Doc xmlns:p=""/>"#,
                1,
                "a namespace prefix cannot be bound to an empty name",
            ),
        ] {
            assert_eq!(
                dec(xml, &s, None).unwrap_err(),
                CodecError::Malformed {
                    format: "XML",
                    line: 1,
                    column,
                    message: message.into()
                },
                "{xml}"
            );
        }
        assert!(dec(r#"<Doc xmlns=""/>"#, &s, None).is_ok());
    }

    #[test]
    fn one_attribute_spelt_twice_through_two_prefixes_is_refused() {
        let s = shape(
            json!({"properties": {"Doc": {"type": "object", "properties": {
                "@amt": {"type": "string", "xml": {"namespace": "urn:q"}}
            }}}}),
        );
        assert_eq!(
            dec(
                r#"<Doc xmlns:p="urn:q" xmlns:q="urn:q" p:amt="1.00" q:amt="999.00"/>"#,
                &s,
                None
            )
            .unwrap_err(),
            CodecError::Malformed {
                format: "XML",
                line: 1,
                column: 51,
                message: "attribute \"amt\" in namespace \"urn:q\" appears twice in one tag".into()
            }
        );
        // One spelling is the attribute.
        assert_eq!(
            dec(r#"<Doc xmlns:p="urn:q" p:amt="1.00"/>"#, &s, None).unwrap(),
            json!({"Doc": {"@amt": "1.00"}})
        );
    }

    #[test]
    fn attributes_of_the_xml_namespace_keep_their_reserved_prefix() {
        let s = shape(json!({"properties": {"R": {
            "type": "object",
            "properties": {
                "@lang": {"type": "string", "xml": {"namespace": XML_NS, "prefix": "lang"}},
                "C": {"type": "string"}
            }
        }}}));
        let v = json!({"R": {"@lang": "en", "C": "c"}});
        let xml = encode(&v, &s, Some("urn:r")).unwrap();
        assert_eq!(
            String::from_utf8(xml.clone()).unwrap(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<R xmlns=\"urn:r\" xml:lang=\"en\"><C>c</C></R>"
        );
        assert_eq!(reference::encode(&v, &s, Some("urn:r")).unwrap(), xml);
        assert_eq!(
            decode(&xml, &s, Some("urn:r"), &Limits::default()).unwrap(),
            v
        );
    }

    #[test]
    fn characters_and_declarations_that_are_not_well_formed_are_refused() {
        let s = shape(
            json!({"properties": {"Doc": {"type": "object", "properties": {
                "@a": {"type": "string"}, "Val": {"type": "string"}
            }}}}),
        );
        let check = |xml: &str, line: u32, column: u32, message: &str| {
            assert_eq!(
                dec(xml, &s, None).unwrap_err(),
                CodecError::Malformed {
                    format: "XML",
                    line,
                    column,
                    message: message.into()
                },
                "{xml:?}"
            );
        };
        check(
            "<Doc><Val>a\u{1}b</Val></Doc>",
            1,
            12,
            "character U+0001 is not allowed in XML",
        );
        check(
            "<Doc>\n  <Val>\u{ffff}</Val></Doc>",
            2,
            8,
            "character U+FFFF is not allowed in XML",
        );
        check(
            "<Doc a='\u{1b}'/>",
            1,
            9,
            "character U+001B is not allowed in XML",
        );
        check(
            "<Doc a=\"x<y\"/>",
            1,
            10,
            "an attribute value cannot hold '<'",
        );
        let misplaced = "the XML declaration must be at the very start of the document";
        check("  <?xml version=\"1.0\"?><Doc/>", 1, 3, misplaced);
        check("\n<?xml version=\"1.0\"?><Doc/>", 2, 1, misplaced);
        check(
            "<?xml version=\"1.0\"?><?xml version=\"1.0\"?><Doc/>",
            1,
            22,
            misplaced,
        );
        check("<Doc/><?xml version=\"1.0\"?>", 1, 7, misplaced);
        check(
            "<Doc><Val>&#1;</Val></Doc>",
            1,
            11,
            "invalid character reference &#1;",
        );
        check(
            "<Doc><Val>&#xFFFE;</Val></Doc>",
            1,
            11,
            "invalid character reference &#xFFFE;",
        );
        check(
            "<Doc><Val>&#xD800;</Val></Doc>",
            1,
            11,
            "invalid character reference &#xD800;",
        );
        check(
            "<Doc\n  a='&#x1;'/>",
            2,
            3,
            "invalid character reference &#x1;",
        );
        assert_eq!(
            decode(
                b"\xEF\xBB\xBF<?xml version=\"1.0\"?><Doc a='\t\xEF\xBC\x81'/>",
                &s,
                None,
                &Limits::default()
            )
            .unwrap(),
            json!({"Doc": {"@a": " \u{ff01}"}})
        );
    }

    #[test]
    fn errors_about_an_attribute_are_located_at_its_name() {
        let s = shape(
            json!({"properties": {"Doc": {"type": "object", "properties": {
                "@qty": {"type": "integer"}, "@id": {"type": "string"},
                "@lang": {"type": "string", "xml": {"namespace": "urn:l"}}
            }}}}),
        );
        let xml =
            b"<Doc\n  id=\"a\"\n  qty=\"two\"\n  xmlns:l=\"urn:l\" lang=\"x\" l:lang=\"de\"/>";
        assert_eq!(locate(xml, &s, None, "/Doc/@qty"), Some((3, 3)));
        assert_eq!(locate(xml, &s, None, "/Doc/@id"), Some((2, 3)));
        assert_eq!(locate(xml, &s, None, "/Doc/@lang"), Some((4, 28)));
        assert_eq!(locate(xml, &s, None, "/Doc/@missing"), Some((1, 1)));
        let limits = Limits {
            max_text_bytes: 4,
            ..Limits::default()
        };
        assert_eq!(
            decode(b"<Doc\n  id='a'\n  qty='12345'/>", &s, None, &limits).unwrap_err(),
            CodecError::Limit {
                limit: "text",
                max: 4,
                line: 3,
                column: 3
            }
        );
    }

    #[test]
    fn text_converts_beside_a_string_only_when_spelled_canonically() {
        let s = root_with(json!({
            "limit": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string", "enum": ["unlimited"]}]},
            "n": {"type": ["number", "string"]},
            "b": {"oneOf": [{"type": "boolean"}, {"type": "string", "pattern": "^[a-z]+$"}]},
            "e": {"enum": ["none", 5, true]},
            "@q": {"type": ["integer", "string"]}
        }));
        let read = |field: &str, text: &str| {
            let xml = format!("<R><{field}>{text}</{field}></R>");
            dec(&xml, &s, None).unwrap()["R"][field].clone()
        };
        for (text, value) in [
            ("5", json!(5)),
            ("0", json!(0)),
            ("-12", json!(-12)),
            ("18446744073709551615", json!(18446744073709551615u64)),
            ("unlimited", json!("unlimited")),
            ("007", json!("007")),
            ("+5", json!("+5")),
            ("-0", json!("-0")),
            (" 5", json!(" 5")),
            ("5.0", json!("5.0")),
            ("1e3", json!("1e3")),
            ("99999999999999999999", json!("99999999999999999999")),
        ] {
            assert_eq!(read("limit", text), value, "limit {text:?}");
        }
        for (text, value) in [
            ("5", json!(5)),
            ("0.5", json!(0.5)),
            ("-2.25", json!(-2.25)),
            ("0.001", json!(0.001)),
            ("1e21", json!("1e21")),
            ("5.0", json!("5.0")),
            ("1e3", json!("1e3")),
            ("0.50", json!("0.50")),
            (".5", json!(".5")),
            ("1E21", json!("1E21")),
            ("NaN", json!("NaN")),
        ] {
            assert_eq!(read("n", text), value, "n {text:?}");
        }
        for (text, value) in [
            ("true", json!(true)),
            ("false", json!(false)),
            ("1", json!("1")),
            ("True", json!("True")),
            (" true", json!(" true")),
        ] {
            assert_eq!(read("b", text), value, "b {text:?}");
        }
        assert_eq!(read("e", "5"), json!(5));
        assert_eq!(read("e", "true"), json!(true));
        assert_eq!(read("e", "none"), json!("none"));
        assert_eq!(read("e", ""), json!(""));
        assert_eq!(
            dec("<R q='42'/>", &s, None).unwrap(),
            json!({"R": {"@q": 42}})
        );
    }

    #[test]
    fn locate_finds_start_tags() {
        let s = order_shape();
        let xml = ORDER_XML.as_bytes();
        assert_eq!(locate(xml, &s, Some(ACME), ""), Some((2, 1)));
        assert_eq!(locate(xml, &s, Some(ACME), "/Order"), Some((2, 1)));
        assert_eq!(
            locate(xml, &s, Some(ACME), "/Order/@currency"),
            Some((2, 48))
        );
        assert_eq!(
            locate(xml, &s, Some(ACME), "/Order/Customer/Email"),
            Some((6, 5))
        );
        assert_eq!(
            locate(xml, &s, Some(ACME), "/Order/Items/Item/0"),
            Some((16, 5))
        );
        assert_eq!(
            locate(xml, &s, Some(ACME), "/Order/Items/Item/1/Qty"),
            Some((23, 7))
        );
        assert_eq!(
            locate(xml, &s, Some(ACME), "/Order/Items/Item/2/@line"),
            Some((26, 11))
        );
        assert_eq!(
            locate(xml, &s, Some(ACME), "/Order/Customer/Missing"),
            Some((4, 3))
        );
        let repeated = root_with(json!({"A": {"type": "string"}}));
        assert_eq!(
            locate(b"<R>\n<A>1</A>\n<A>2</A></R>", &repeated, None, "/R/A/1"),
            Some((3, 1))
        );
        assert_eq!(locate(b"not xml", &repeated, None, "/R"), None);
    }

    #[test]
    fn a_long_item_list_decodes_in_document_order() {
        // The item list of the order fixture repeated 200 times: every occurrence is
        // kept, in order, with its conversions.
        let start = ORDER_XML.find("<Item ").unwrap();
        let end = ORDER_XML.rfind("</Item>").unwrap() + "</Item>".len();
        let mut xml = ORDER_XML[..start].to_string();
        for n in 1..=200 {
            xml.push_str(&format!(
                "<Item line=\"{n}\"><Sku>S-{n}</Sku><Qty>{n}</Qty><Price>1.00</Price></Item>\n"
            ));
        }
        xml.push_str(&ORDER_XML[end..]);
        let v = dec(&xml, &order_shape(), Some(ACME)).unwrap();
        let items = v["Order"]["Items"]["Item"].as_array().unwrap();
        assert_eq!(items.len(), 200);
        assert_eq!(
            items[199],
            json!({"@line": 200, "Sku": "S-200", "Qty": 200, "Price": "1.00"})
        );
    }

    #[test]
    fn members_keep_document_order_however_many_and_however_repeated() {
        let s = root_with(json!({"list": {"type": "array", "items": {"type": "integer"}}}));
        // More distinct children than are looked up by scanning, repeats of early and
        // late ones after that, and an array member first met late.
        let mut xml = String::from("<R a='1'>");
        let mut expected = serde_json::Map::new();
        expected.insert("@a".into(), json!("1"));
        for i in 0..40 {
            xml.push_str(&format!("<c{i}>{i}</c{i}>"));
            expected.insert(format!("c{i}"), json!(format!("{i}")));
        }
        xml.push_str("<c0>again</c0><c39><x/></c39><list>1</list><c0>3</c0><list>2</list></R>");
        expected.insert("c0".into(), json!(["0", "again", "3"]));
        expected.insert("c39".into(), json!(["39", {"x": ""}]));
        expected.insert("list".into(), json!([1, 2]));
        assert_eq!(
            dec(&xml, &s, None).unwrap(),
            json!({"R": Value::Object(expected)})
        );
        // The same on both sides of the switch: repeats adjacent and apart.
        let small = "<R><a>1</a><b>2</b><a>3</a><a>4</a><b>5</b></R>";
        assert_eq!(
            dec(small, &s, None).unwrap(),
            json!({"R": {"a": ["1", "3", "4"], "b": ["2", "5"]}})
        );
    }

    #[test]
    fn list_items_with_varying_members_each_keep_their_own() {
        let s = root_with(json!({
            "item": {"type": "array", "items": {"type": "object", "properties": {
                "@n": {"type": "integer"}, "a": {"type": "integer"}, "b": {"type": "string"}, "c": {}
            }}},
            "one": {"type": "object", "properties": {"a": {"type": "integer"}}}
        }));
        let shapes: [&[&str]; 14] = [
            &["a", "b"],
            &["a", "b"],
            &["b", "a"],
            &["a"],
            &["a", "b", "c"],
            &["a", "b"],
            &[],
            &["c"],
            &["a", "x"],
            &["a", "b"],
            &["b"],
            &["c", "b", "a"],
            &["a", "b"],
            &["a", "b"],
        ];
        let mut xml = String::from("<R>");
        let mut items = Vec::new();
        for (i, keys) in shapes.iter().enumerate() {
            xml.push_str(&format!("<item n='{i}'>"));
            let mut item = serde_json::Map::new();
            item.insert("@n".into(), json!(i));
            for k in *keys {
                xml.push_str(&format!("<{k}>{i}</{k}>"));
                let v = if *k == "a" {
                    json!(i)
                } else {
                    json!(i.to_string())
                };
                item.insert((*k).into(), v);
            }
            xml.push_str("</item>");
            items.push(Value::Object(item));
            xml.push_str(&format!("<one><a>{i}</a></one>"));
        }
        xml.push_str("</R>");
        let ones: Vec<Value> = (0..shapes.len()).map(|i| json!({"a": i})).collect();
        assert_eq!(
            dec(&xml, &s, None).unwrap(),
            json!({"R": {"item": items, "one": ones}})
        );
    }

    #[test]
    fn children_out_of_schema_order_and_unknown_between_known() {
        let s = root_with(json!({
            "a": {"type": "integer"}, "b": {"type": "string"}, "c": {"type": "integer"},
            "d": {"type": "array", "items": {"type": "integer"}}
        }));
        let xml = "<R><c>3</c><x>u</x><a>1</a><y><a>2</a></y><d>4</d><b>t</b><z/><d>5</d></R>";
        assert_eq!(
            dec(xml, &s, None).unwrap(),
            json!({"R": {"c": 3, "x": "u", "a": 1, "y": {"a": "2"}, "d": [4, 5], "b": "t", "z": ""}})
        );
        // In order, out of order, then in order again, element after element.
        let xml = "<R><a>1</a><b>x</b><c>2</c><R><b>y</b><a>3</a></R><a>4</a><c>5</c></R>";
        assert_eq!(
            dec(xml, &s, None).unwrap(),
            json!({"R": {"a": [1, 4], "b": "x", "c": [2, 5], "R": {"b": "y", "a": "3"}}})
        );
    }

    #[test]
    fn a_repeated_element_after_others_becomes_an_array_in_its_first_place() {
        let s = root_with(json!({"a": {"type": "integer"}, "b": {"type": "integer"}}));
        assert_eq!(
            dec("<R><a/><b/><a/></R>", &s, None).unwrap(),
            json!({"R": {"a": ["", ""], "b": ""}})
        );
        assert_eq!(
            dec("<R><a>1</a><b>2</b><a>3</a><b>4</b><a>5</a></R>", &s, None).unwrap(),
            json!({"R": {"a": [1, 3, 5], "b": [2, 4]}})
        );
    }

    #[test]
    fn an_attribute_and_a_child_element_with_one_local_name_stay_apart() {
        let s = root_with(json!({
            "@id": {"type": "integer"}, "id": {"type": "string"}, "n": {"type": "integer"}
        }));
        assert_eq!(
            dec("<R id='1'><id>2</id><n>3</n><id>4</id></R>", &s, None).unwrap(),
            json!({"R": {"@id": 1, "id": ["2", "4"], "n": 3}})
        );
        // Unknown to the schema, on an element it does not describe.
        assert_eq!(
            dec("<R><e k='1'><k>2</k><k>3</k></e></R>", &s, None).unwrap(),
            json!({"R": {"e": {"@k": "1", "k": ["2", "3"]}}})
        );
    }

    #[test]
    fn elements_repeated_past_the_member_list_keep_their_place() {
        let s = root_with(json!({"a": {"type": "integer"}, "b": {"type": "integer"}}));
        let mut xml = String::from("<R><a>0</a><b>0</b>");
        let mut expected = serde_json::Map::new();
        expected.insert("a".into(), json!([0]));
        expected.insert("b".into(), json!([0]));
        for i in 0..MAX_LISTED_MEMBERS + 8 {
            xml.push_str(&format!("<u{i}>{i}</u{i}>"));
            expected.insert(format!("u{i}"), json!(i.to_string()));
        }
        for i in 1..4 {
            xml.push_str(&format!("<a>{i}</a><b>{i}</b>"));
            for k in ["a", "b"] {
                if let Some(Value::Array(seen)) = expected.get_mut(k) {
                    seen.push(json!(i));
                }
            }
        }
        xml.push_str("<u3>again</u3></R>");
        expected.insert("u3".into(), json!(["3", "again"]));
        assert_eq!(
            dec(&xml, &s, None).unwrap(),
            json!({"R": Value::Object(expected)})
        );
    }

    #[test]
    fn the_first_entry_of_a_union_wins_whatever_came_before() {
        // Both alternatives describe `b`; the first says it is a string.
        let s = shape(json!({"properties": {"R": {"anyOf": [
            {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}},
            {"type": "object", "properties": {"b": {"type": "integer"}, "c": {"type": "integer"}}}
        ]}}}));
        assert_eq!(
            dec("<R><a>1</a><b>2</b><b>3</b><c>4</c><b>5</b></R>", &s, None).unwrap(),
            json!({"R": {"a": 1, "b": ["2", "3", "5"], "c": 4}})
        );
        // `additionalProperties` takes any name, but only the schema's own ones first.
        let s = root_with(json!({"a": {"type": "integer"}}));
        let open = shape(json!({"properties": {"R": {"type": "object",
            "properties": {"a": {"type": "integer"}},
            "additionalProperties": {"type": "integer"}}}}));
        let xml = "<R><x>1</x><a>2</a><a>3</a><y>4</y></R>";
        assert_eq!(
            dec(xml, &open, None).unwrap(),
            json!({"R": {"x": 1, "a": [2, 3], "y": 4}})
        );
        assert_eq!(
            dec(xml, &s, None).unwrap(),
            json!({"R": {"x": "1", "a": [2, 3], "y": "4"}})
        );
    }

    #[test]
    fn whitespace_between_tags_is_dropped_and_kept_where_it_is_the_value() {
        let s = root_with(json!({"a": {"type": "string"}, "b": {"type": "integer"}}));
        let deep = format!("\n{}", " ".repeat(40));
        let xml = format!(
            "<R>{deep}<a>  </a>{deep}<b> 7 </b>{deep}<c>{deep}</c>{deep}<d>\t<e/>x \n<e/>{deep}</d>{deep}</R>"
        );
        assert_eq!(
            dec(&xml, &s, None).unwrap(),
            json!({"R": {"a": "  ", "b": 7, "c": deep, "d": {"e": ["", ""], "#text": "x \n"}}})
        );
        // Whitespace split by a reference or a comment is one text.
        let xml = "<R><a> &#32; </a><c> <!-- k --> </c></R>";
        assert_eq!(
            dec(xml, &s, None).unwrap(),
            json!({"R": {"a": "   ", "c": "  "}})
        );
        // Line ends normalised in whitespace too.
        assert_eq!(
            dec("<R>\r\n <a>\r\n</a>\r\n</R>", &s, None).unwrap(),
            json!({"R": {"a": "\n"}})
        );
    }

    #[test]
    fn default_namespace_changes_apply_to_their_scope_only() {
        let s = shape(
            json!({"properties": {"R": {"type": "object", "properties": {
                "a": {"type": "integer"},
                "b": {"type": "object", "xml": {"namespace": "urn:b"},
                      "properties": {"c": {"type": "integer"}}}
            }}}}),
        );
        let xml = "<R xmlns='urn:r'><a>1</a><b xmlns='urn:b'><c>2</c></b><a>3</a><p:a xmlns:p='urn:r'>4</p:a><d xmlns=''>5</d></R>";
        assert_eq!(
            dec(xml, &s, Some("urn:r")).unwrap(),
            json!({"R": {"a": [1, 3, 4], "b": {"c": 2}, "d": "5"}})
        );
        let undeclared = "<R xmlns='urn:r'><a>1</a><a xmlns=''>5</a></R>";
        assert_eq!(
            dec(undeclared, &s, Some("urn:r")).unwrap_err(),
            CodecError::Unexpected {
                pointer: "/R/a".into(),
                line: 1,
                column: 26,
                message: "expected <a> in namespace \"urn:r\", found <a> in no namespace".into()
            }
        );
    }

    #[test]
    fn attributes_sharing_a_local_name_keep_the_first_place_and_last_value() {
        let s = root_with(json!({}));
        let xml = r#"<R xmlns:p="urn:p" xmlns:q="urn:q"><e p:x="1" y="2" q:x="3">t</e><n xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:nil="true" a="1"><c>1</c></n><f/></R>"#;
        assert_eq!(
            dec(xml, &s, None).unwrap(),
            json!({"R": {"e": {"@x": "3", "@y": "2", "#text": "t"}, "n": null, "f": ""}})
        );
        let many: String = (0..40).map(|i| format!(" a{i}='{i}'")).collect();
        let xml = format!("<R><e{many} p:a3='x' xmlns:p='urn:p'><c/></e></R>");
        let v = dec(&xml, &s, None).unwrap();
        let e = v["R"]["e"].as_object().unwrap();
        assert_eq!(e.len(), 41);
        assert_eq!(e.keys().nth(3).map(String::as_str), Some("@a3"));
        assert_eq!(e["@a3"], json!("x"));
        assert_eq!(e.keys().next_back().map(String::as_str), Some("c"));
    }

    /// The schema walk the decoder once did for every element and attribute, kept as the
    /// definition the shape's precomputed lists must agree with.
    mod walk {
        use super::*;

        const DEPTH: usize = 16;

        fn member(shape: &Shape, key: String, member: NodeId) -> (String, Option<NodeId>, bool) {
            let array = shape.is_array(member);
            let element = if array {
                shape.items(member)
            } else {
                Some(member)
            };
            (key, element, array)
        }

        pub fn element(
            shape: &Shape,
            id: NodeId,
            local: &str,
            ns: Option<&str>,
            route_ns: Option<&str>,
            depth: usize,
        ) -> Option<(String, Option<NodeId>, bool)> {
            let node = shape.nodes.get(id as usize)?;
            for (k, &p) in &node.properties {
                if k.starts_with('@') || k == "#text" {
                    continue;
                }
                let n = shape.node(p);
                let (l, n_ns) = if n.xml.name.is_some() || (n.items.is_none() && n.union.is_empty())
                {
                    (
                        n.xml.name.as_deref().unwrap_or(k),
                        n.xml.namespace.as_deref(),
                    )
                } else {
                    element_name(shape, k, p)
                };
                if l == local && n_ns.or(route_ns) == ns {
                    return Some(member(shape, k.clone(), p));
                }
            }
            if depth < DEPTH {
                for &alt in &node.union {
                    if let Some(m) = element(shape, alt, local, ns, route_ns, depth + 1) {
                        return Some(m);
                    }
                }
            }
            if let Additional::Schema(a) = node.additional
                && shape.node(a).xml.namespace.as_deref().or(route_ns) == ns
            {
                return Some(member(shape, local.to_string(), a));
            }
            None
        }

        pub fn attribute(
            shape: &Shape,
            id: NodeId,
            ns: Option<&str>,
            local: &str,
            depth: usize,
        ) -> Option<(String, NodeId)> {
            let node = shape.nodes.get(id as usize)?;
            for (k, &p) in &node.properties {
                if let Some(bare) = k.strip_prefix('@') {
                    let meta = &shape.node(p).xml;
                    let name = meta.name.as_deref().unwrap_or(bare);
                    let own = if meta.namespace_given {
                        meta.namespace.as_deref()
                    } else {
                        None
                    };
                    if name == local && own == ns {
                        return Some((k.clone(), p));
                    }
                }
            }
            if depth < DEPTH {
                for &alt in &node.union {
                    if let Some(found) = attribute(shape, alt, ns, local, depth + 1) {
                        return Some(found);
                    }
                }
            }
            None
        }
    }

    #[test]
    fn precomputed_lookups_agree_with_the_schema_walk() {
        let schemas = [
            serde_json::from_str(ORDER_SCHEMA).unwrap(),
            json!({
                "$defs": {
                    "Node": {"anyOf": [
                        {"$ref": "#/$defs/Node"},
                        {"$ref": "#/$defs/Node"},
                        {"properties": {"a": {"type": "string"}, "@x": {"type": "integer"}}},
                        {"properties": {"a": {"type": "integer", "xml": {"name": "A2"}}}},
                        {"additionalProperties": {"type": "integer", "xml": {"namespace": "urn:add"}}}
                    ]}
                },
                "properties": {"Root": {"$ref": "#/$defs/Node"}}
            }),
            json!({
                "properties": {"R": {
                    "xml": {"namespace": "urn:r"},
                    "properties": {
                        "list": {"type": "array", "items": {"type": "integer", "xml": {"name": "entry", "namespace": "urn:i"}}},
                        "named": {"type": "array", "xml": {"name": "Named"}, "items": {"xml": {"name": "ignored", "namespace": "urn:i"}}},
                        "u": {"anyOf": [{"type": "null"}, {"type": "array", "items": {"xml": {"name": "uitem"}}}]},
                        "plain": {"items": {"type": "string"}},
                        "other": {"type": "string", "xml": {"namespace": "urn:o", "name": "Other"}},
                        "@k": {"type": "boolean", "xml": {"name": "kk"}},
                        "@k2": {"type": "string", "xml": {"name": "kk"}},
                        "@k3": {"type": "string", "xml": {"name": "kk", "namespace": "urn:i"}},
                        "@k4": {"type": "string", "xml": {"namespace": "urn:r"}},
                        "#text": {"type": "number"}
                    },
                    "anyOf": [
                        {"properties": {"list": {"type": "string"}, "extra": {"type": "number"}, "@z": {}}},
                        {"additionalProperties": {"type": "boolean"}}
                    ],
                    "additionalProperties": {"type": "string", "xml": {"namespace": "urn:late"}}
                }}
            }),
        ];
        for schema in schemas {
            let s = shape(schema);
            let mut locals: Vec<String> = vec!["zzz".into(), "Item".into()];
            let mut namespaces: Vec<Option<String>> = vec![None, Some("urn:route".into())];
            for node in &s.nodes {
                for k in node.properties.keys() {
                    locals.push(k.trim_start_matches('@').to_string());
                }
                locals.extend(node.xml.name.clone());
                namespaces.push(node.xml.namespace.clone());
            }
            for id in 0..s.nodes.len() as NodeId {
                for local in &locals {
                    for ns in &namespaces {
                        assert_eq!(
                            s.xml_attribute(id, ns.as_deref(), local)
                                .map(|(k, p)| (k.to_string(), p)),
                            walk::attribute(&s, id, ns.as_deref(), local, 0),
                            "attribute {local} in {ns:?} of node {id}"
                        );
                        for route in &namespaces {
                            let name = ElementName {
                                ns: ns.as_deref(),
                                local,
                                route: ns == route,
                            };
                            let found = find_element(&s, id, &name)
                                .map(|m| (m.key.into_owned(), m.element, m.array));
                            assert_eq!(
                                found,
                                walk::element(&s, id, local, ns.as_deref(), route.as_deref(), 0),
                                "element {local} in {ns:?} (route {route:?}) of node {id}"
                            );
                        }
                    }
                }
                assert_eq!(s.xml_types(id), s.scalar_types(id));
                assert_eq!(s.xml_text(id), s.property(id, "#text"));
            }
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn roundtrip_shape() -> Shape {
            shape(json!({"properties": {"Doc": {
                "type": "object",
                "properties": {
                    "@id": {"type": "string"},
                    "@n": {"type": "integer"},
                    "name": {"type": "string"},
                    "count": {"type": "integer"},
                    "ratio": {"type": "number"},
                    "ok": {"type": "boolean"},
                    "maybe": {"type": ["integer", "null"]},
                    "lines": {"type": "array", "items": {
                        "type": "object",
                        "properties": {"@no": {"type": "integer"}, "sku": {"type": "string"}, "qty": {"type": "integer"}}
                    }},
                    "money": {"type": "object", "properties": {"@cur": {"type": "string"}, "#text": {"type": "string"}}}
                }
            }}}))
        }

        /// Unions, additional properties, foreign namespaces and renamed items: what the
        /// encoder looks up besides plain properties.
        fn union_shape() -> Shape {
            shape(json!({"properties": {"Doc": {
                "type": "object",
                "properties": {"@a": {"type": "string", "xml": {"name": "aa"}}, "b": {"type": "integer"}},
                "anyOf": [
                    {"properties": {"c": {"type": "array", "items": {"type": "string", "xml": {"name": "C", "namespace": "urn:c"}}}}},
                    {"properties": {"b": {"type": "string"}, "d": {"type": "object", "xml": {"namespace": "urn:d", "prefix": "d"}, "properties": {"e": {"type": "string"}}}},
                     "additionalProperties": {"type": "object", "xml": {"prefix": "ns1", "namespace": "urn:x"}}}
                ],
                "additionalProperties": {"type": "string", "xml": {"name": "Other"}}
            }}}))
        }

        fn any_value() -> impl Strategy<Value = Value> {
            let key = proptest::sample::select(vec![
                "@a",
                "@z",
                "b",
                "c",
                "d",
                "e",
                "#text",
                "x",
                "bad name",
                "@bad name",
                "1",
                "",
            ]);
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|i| json!(i)),
                (-1.0e3f64..1.0e3).prop_map(|f| json!(f)),
                "[ -~\u{1}\u{fffe}\u{e9}]{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(4, 40, 6, move |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                    proptest::collection::vec((key.clone(), inner), 0..6).prop_map(|m| {
                        Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
                    }),
                ]
            })
        }

        fn text() -> impl Strategy<Value = String> {
            "[ -~\t\n\r\u{e9}\u{4e2d}\u{1F600}]{0,12}"
        }

        fn line() -> impl Strategy<Value = Value> {
            (any::<u32>(), text(), any::<i64>())
                .prop_map(|(no, sku, qty)| json!({"@no": no, "sku": sku, "qty": qty}))
        }

        fn doc() -> impl Strategy<Value = Value> {
            (
                text(),
                any::<i32>(),
                text(),
                any::<i64>(),
                (-1.0e12f64..1.0e12).prop_filter("fraction", |f| f.fract() != 0.0),
                any::<bool>(),
                proptest::option::of(any::<i16>()),
                proptest::collection::vec(line(), 0..4),
                ("[A-Z]{3}", "[0-9]{1,6}\\.[0-9]{2}"),
            )
                .prop_map(|(id, n, name, count, ratio, ok, maybe, lines, (cur, amount))| {
                    let mut doc = json!({
                        "@id": id, "@n": n, "name": name, "count": count, "ratio": ratio, "ok": ok,
                        "maybe": maybe, "money": {"@cur": cur, "#text": amount}
                    });
                    if !lines.is_empty() {
                        doc["lines"] = Value::Array(lines);
                    }
                    json!({"Doc": doc})
                })
        }

        proptest! {
            #[test]
            fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let s = roundtrip_shape();
                let _ = decode(&bytes, &s, None, &Limits::default());
                let _ = locate(&bytes, &s, None, "/Doc/lines/0/sku");
            }

            #[test]
            fn decode_never_panics_on_xmlish_text(text in "[<>/a-c=\"' &;#x0-9!\\[\\]CDATA?-]{0,200}") {
                let s = roundtrip_shape();
                let _ = decode(text.as_bytes(), &s, None, &Limits::default());
            }

            #[test]
            fn encode_view_matches_the_reference(v in doc(), ns in proptest::option::of("urn:[a-c]")) {
                let s = roundtrip_shape();
                enc_all(&v, &s, ns.as_deref()).unwrap();
            }

            #[test]
            fn encode_view_matches_the_reference_on_any_value(v in any_value()) {
                let s = union_shape();
                let _ = enc_all(&json!({"Doc": v}), &s, Some("urn:p"));
            }

            #[test]
            fn decode_inverts_encode(v in doc()) {
                let s = roundtrip_shape();
                let bytes = encode(&v, &s, Some("urn:p")).unwrap();
                let back = decode(&bytes, &s, Some("urn:p"), &Limits::default()).unwrap();
                prop_assert_eq!(back, v);
            }
        }
    }
}
