//! XML read for its meaning, so two documents can be compared as XML rather than as
//! bytes: what golden fixtures need, where a partner's own sample is the expected answer.
//!
//! Names are namespace URI and local name (the prefix a document chose is no part of
//! them); attributes are a set; the namespace declarations, the XML declaration,
//! comments and processing instructions are dropped; text is read with its references
//! resolved and line ends normalised, and whitespace-only text beside child elements (the
//! indentation between them) is dropped. Text with content, and the order of elements,
//! stay as written: both are meaning. The tokens come from this codec's scanner, so a
//! fixture is read by the same rules as a request.

use std::fmt;

use super::*;

/// Deepest element nesting read; deeper documents are refused rather than walked.
const MAX_DEPTH: usize = 256;
/// Most attributes of one element.
const MAX_ATTRIBUTES: usize = 1024;

/// A name in its namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct QualifiedName {
    /// The namespace URI, None for no namespace.
    pub namespace: Option<String>,
    pub local: String,
}

/// `{urn:x}Name`, or `Name` in no namespace.
impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{{{ns}}}{}", self.local),
            None => f.write_str(&self.local),
        }
    }
}

/// One piece of an element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Element(Element),
    Text(String),
}

/// An element as it means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Element {
    pub name: QualifiedName,
    /// Sorted by name: their order in the tag means nothing.
    pub attributes: Vec<(QualifiedName, String)>,
    pub content: Vec<Content>,
}

/// An element being read: its name as written (for the end tag), how many namespace
/// declarations it added, and the text read since its last child.
struct Open<'a> {
    written: &'a str,
    bindings: usize,
    element: Element,
    text: String,
}

impl Open<'_> {
    fn flush(&mut self) {
        if !self.text.is_empty() {
            let text = std::mem::take(&mut self.text);
            self.element.content.push(Content::Text(text));
        }
    }

    /// The element, whitespace-only text dropped when it has child elements.
    fn finish(mut self) -> Element {
        self.flush();
        let mut element = self.element;
        if element
            .content
            .iter()
            .any(|c| matches!(c, Content::Element(_)))
        {
            element
                .content
                .retain(|c| !matches!(c, Content::Text(t) if is_blank(t)));
        }
        element
    }
}

/// Reads `input` (UTF-8, with or without its byte-order mark) into its root element.
/// Errors name the line and column.
pub fn canonical(input: &[u8]) -> Result<Element, String> {
    let (text, bom) = utf8_body(input).map_err(|e| e.to_string())?;
    let at = |offset: usize, message: &str| {
        let (line, column) = line_col(input, offset.saturating_add(bom));
        format!("line {line}, column {column}: {message}")
    };
    let mut scanner = Scanner::new(text, MAX_ATTRIBUTES);
    let mut bindings: Vec<(&str, &str)> = Vec::new();
    let mut stack: Vec<Open<'_>> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let start = scanner.position();
        let token = scanner.next().map_err(|e| match e {
            ScanError::Malformed { at: o, message } => at(o, message),
            ScanError::TooManyAttributes { at: o } => {
                at(o, &format!("more than {MAX_ATTRIBUTES} attributes"))
            }
            ScanError::NameTooLong { at: o } => at(o, "a name longer than the scanner allows"),
            ScanError::Char { at: o, c } => at(
                o,
                &format!("character U+{:04X} is not allowed in XML", u32::from(c)),
            ),
        })?;
        let piece: Cow<'_, str> = match token {
            Token::Decl | Token::Comment | Token::Pi => continue,
            Token::Eof => break,
            Token::DocType => return Err(at(start, "a DOCTYPE is not accepted")),
            Token::Start { name, empty } => {
                if root.is_some() {
                    return Err(at(start, "a second root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(at(start, &format!("elements nest deeper than {MAX_DEPTH}")));
                }
                let before = bindings.len();
                let attrs = scanner.attributes().to_vec();
                for a in &attrs {
                    if a.name == "xmlns" {
                        bindings.push(("", a.raw));
                    } else if let Some(prefix) = a.name.strip_prefix("xmlns:") {
                        bindings.push((prefix, a.raw));
                    }
                }
                let resolve = |prefix: &str| -> Result<Option<String>, String> {
                    match prefix {
                        "xml" => Ok(Some(XML_NS.to_owned())),
                        _ => match bindings.iter().rev().find(|(p, _)| *p == prefix) {
                            Some((_, uri)) if !uri.is_empty() => Ok(Some((*uri).to_owned())),
                            _ if prefix.is_empty() => Ok(None),
                            _ => Err(at(start, &format!("the prefix `{prefix}` is not declared"))),
                        },
                    }
                };
                let (prefix, local) = split_qname(name).unwrap_or(("", name));
                let element_name = QualifiedName {
                    namespace: resolve(prefix)?,
                    local: local.to_owned(),
                };
                let mut attributes = Vec::with_capacity(attrs.len());
                for a in &attrs {
                    if a.name == "xmlns" || a.name.starts_with("xmlns:") {
                        continue;
                    }
                    let name = match split_qname(a.name) {
                        Some((prefix, local)) => QualifiedName {
                            namespace: resolve(prefix)?,
                            local: local.to_owned(),
                        },
                        None => QualifiedName {
                            namespace: None,
                            local: a.name.to_owned(),
                        },
                    };
                    let value = attribute_value(a.raw).map_err(|m| at(start, &m))?;
                    attributes.push((name, value));
                }
                attributes.sort();
                if let Some(parent) = stack.last_mut() {
                    parent.flush();
                }
                let open = Open {
                    written: name,
                    bindings: before,
                    element: Element {
                        name: element_name,
                        attributes,
                        content: Vec::new(),
                    },
                    text: String::new(),
                };
                if empty {
                    bindings.truncate(before);
                    close(open.finish(), &mut stack, &mut root);
                } else {
                    stack.push(open);
                }
                continue;
            }
            Token::End { name } => {
                let Some(open) = stack.pop() else {
                    return Err(at(start, &format!("`</{name}>` closes no open element")));
                };
                if open.written != name {
                    return Err(at(
                        start,
                        &format!("`</{name}>` does not close `<{}>`", open.written),
                    ));
                }
                bindings.truncate(open.bindings);
                close(open.finish(), &mut stack, &mut root);
                continue;
            }
            Token::Text { text: piece, .. } => normalize_eols(piece),
            Token::Space(space) => normalize_eols(space),
            Token::CData(data) => normalize_eols(data),
            Token::Ref(name) => match resolve_reference(name) {
                Some(Resolved::Entity(s)) => Cow::Borrowed(s),
                Some(Resolved::Char(c)) => Cow::Owned(c.to_string()),
                None => return Err(at(start, &format!("unknown reference `&{name};`"))),
            },
        };
        match stack.last_mut() {
            Some(open) => open.text.push_str(&piece),
            None if is_blank(&piece) => {}
            None => return Err(at(start, "text outside the root element")),
        }
    }
    if let Some(open) = stack.last() {
        return Err(format!("the document ends inside `<{}>`", open.written));
    }
    root.ok_or_else(|| "the document has no root element".to_owned())
}

/// Puts a finished element into its parent, or makes it the root.
fn close(element: Element, stack: &mut [Open<'_>], root: &mut Option<Element>) {
    match stack.last_mut() {
        Some(parent) => parent.element.content.push(Content::Element(element)),
        None => *root = Some(element),
    }
}

/// An attribute value as XML reads it: references resolved, tabs and line ends spaces.
fn attribute_value(raw: &str) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(i) = rest.find(['&', '\t', '\n', '\r']) {
        let (before, from) = rest.split_at_checked(i).unwrap_or((rest, ""));
        out.push_str(before);
        let mut chars = from.chars();
        match chars.next() {
            Some('&') => {
                let (name, tail) = chars.as_str().split_once(';').unwrap_or(("", ""));
                match resolve_reference(name) {
                    Some(Resolved::Entity(s)) => out.push_str(s),
                    Some(Resolved::Char(c)) => out.push(c),
                    None => return Err(format!("unknown reference `&{name};` in an attribute")),
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
    Ok(out)
}

/// The first difference between two documents, as `at `PATH`: what`, where PATH names
/// elements by local name (`/OrderAck/Line[2]/@sku`, an index where a name repeats); None
/// when they mean the same.
pub fn first_difference(expected: &Element, got: &Element) -> Option<String> {
    if expected.name != got.name {
        return Some(format!(
            "at `/`: expected root element `{}`, got `{}`",
            expected.name, got.name
        ));
    }
    element_difference(expected, got, &format!("/{}", expected.name.local))
}

fn element_difference(expected: &Element, got: &Element, path: &str) -> Option<String> {
    for (name, value) in &expected.attributes {
        match got.attributes.iter().find(|(n, _)| n == name) {
            None => {
                return Some(format!(
                    "at `{path}/@{}`: expected attribute `{name}` = \"{value}\", it is missing",
                    name.local
                ));
            }
            Some((_, v)) if v != value => {
                return Some(format!(
                    "at `{path}/@{}`: expected \"{value}\", got \"{v}\"",
                    name.local
                ));
            }
            Some(_) => {}
        }
    }
    if let Some((name, value)) = got
        .attributes
        .iter()
        .find(|(n, _)| !expected.attributes.iter().any(|(e, _)| e == n))
    {
        return Some(format!(
            "at `{path}/@{}`: unexpected attribute `{name}` = \"{value}\"",
            name.local
        ));
    }
    for (i, (e, g)) in expected.content.iter().zip(&got.content).enumerate() {
        match (e, g) {
            (Content::Text(a), Content::Text(b)) if a != b => {
                return Some(format!("at `{path}/text()`: expected {a:?}, got {b:?}"));
            }
            (Content::Text(_), Content::Text(_)) => {}
            (Content::Element(a), Content::Element(b)) => {
                let child = child_path(path, &expected.content, i);
                if a.name != b.name {
                    return Some(format!(
                        "at `{child}`: expected element `{}`, got `{}`",
                        a.name, b.name
                    ));
                }
                if let Some(d) = element_difference(a, b, &child) {
                    return Some(d);
                }
            }
            (e, g) => {
                return Some(format!(
                    "at `{path}`: expected {}, got {}",
                    describe(e),
                    describe(g)
                ));
            }
        }
    }
    let (e, g) = (expected.content.len(), got.content.len());
    if let Some(extra) = got.content.get(e) {
        return Some(format!("at `{path}`: unexpected {}", describe(extra)));
    }
    if let Some(missing) = expected.content.get(g) {
        return Some(format!(
            "at `{path}`: expected {}, it is missing",
            describe(missing)
        ));
    }
    None
}

/// The path of the `i`th content piece (an element) of the element at `path`.
fn child_path(path: &str, siblings: &[Content], i: usize) -> String {
    let Some(Content::Element(child)) = siblings.get(i) else {
        return path.to_owned();
    };
    let same = |c: &Content| matches!(c, Content::Element(e) if e.name == child.name);
    let count = siblings.iter().filter(|c| same(c)).count();
    if count > 1 {
        let nth = siblings.iter().take(i + 1).filter(|c| same(c)).count();
        format!("{path}/{}[{nth}]", child.name.local)
    } else {
        format!("{path}/{}", child.name.local)
    }
}

fn describe(c: &Content) -> String {
    match c {
        Content::Element(e) => format!("element `{}`", e.name),
        Content::Text(t) => format!("text {t:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Element {
        canonical(text.as_bytes()).unwrap()
    }

    #[test]
    fn prefixes_attribute_order_and_indentation_mean_nothing() {
        let a = read(
            "<?xml version=\"1.0\"?>\n<a:Ack xmlns:a=\"urn:x\" id=\"1\" kind=\"k\"><a:Total currency=\"EUR\">1.50</a:Total><!-- c --></a:Ack>",
        );
        let b = read(
            "<Ack xmlns=\"urn:x\" kind=\"k\"\n     id=\"1\">\n  <Total currency=\"EUR\">1.50</Total>\n</Ack>\n",
        );
        assert_eq!(first_difference(&a, &b), None);
        assert_eq!(a, b);
    }

    #[test]
    fn the_first_difference_is_named_with_its_path() {
        let a = read("<r><l n=\"1\">x</l><l n=\"2\">y</l></r>");
        let cases = [
            (
                "<r><l n=\"1\">x</l><l n=\"3\">y</l></r>",
                "at `/r/l[2]/@n`: expected \"2\", got \"3\"",
            ),
            (
                "<r><l n=\"1\">x</l><l n=\"2\">z</l></r>",
                "at `/r/l[2]/text()`: expected \"y\", got \"z\"",
            ),
            (
                "<r><l n=\"1\">x</l></r>",
                "at `/r`: expected element `l`, it is missing",
            ),
            (
                "<r><l n=\"1\" m=\"0\">x</l><l n=\"2\">y</l></r>",
                "at `/r/l[1]/@m`: unexpected attribute `m` = \"0\"",
            ),
            (
                "<r xmlns=\"urn:y\"><l n=\"1\">x</l></r>",
                "at `/`: expected root element `r`, got `{urn:y}r`",
            ),
            (
                "<r><l n=\"1\">x</l><k n=\"2\">y</k></r>",
                "at `/r/l[2]`: expected element `l`, got `k`",
            ),
        ];
        for (other, want) in cases {
            assert_eq!(
                first_difference(&a, &read(other)).as_deref(),
                Some(want),
                "{other}"
            );
        }
    }

    #[test]
    fn references_and_cdata_are_text() {
        assert_eq!(
            read("<r a=\"&lt;&#65;\">x &amp; <![CDATA[y]]></r>"),
            read("<r a='&lt;A'>x &amp; y</r>")
        );
    }

    #[test]
    fn documents_that_are_not_xml_are_refused_with_their_place() {
        for (text, want) in [
            (
                "<a><b></a>",
                "line 1, column 7: `</a>` does not close `<b>`",
            ),
            ("<a>", "the document ends inside `<a>`"),
            ("<p:a/>", "line 1, column 1: the prefix `p` is not declared"),
            ("<a/><b/>", "line 1, column 5: a second root element"),
            ("", "the document has no root element"),
        ] {
            assert_eq!(canonical(text.as_bytes()).unwrap_err(), want, "{text}");
        }
        let deep = "<a>".repeat(MAX_DEPTH + 1);
        assert!(
            canonical(deep.as_bytes())
                .unwrap_err()
                .contains("nest deeper")
        );
    }
}
