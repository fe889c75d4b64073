//! The XML tokenizer behind the decoder: one pass over text already checked to be UTF-8,
//! every token a slice of that text.
//!
//! A general-purpose reader re-checks UTF-8 for each piece, keeps a namespace resolver
//! even for documents that declare one namespace, and copies attribute lists; the decoder
//! needs none of that, and on a request it is most of the cost of decoding. Names,
//! attribute syntax, duplicate attributes, references and the closing of comments, CDATA
//! sections and processing instructions are checked here; matching end tags, namespaces
//! and what text may appear where are checked by the decoder, which knows the open
//! elements.
//!
//! Every scan looks for a terminator from the current position forward and the position
//! only moves forward, so the cost is linear in the document whatever its content.

use memchr::{memchr, memchr2, memchr3, memmem};

/// One attribute of a start tag: its qualified name and its value as written (between
/// the quotes, references not yet resolved).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Attr<'a> {
    pub name: &'a str,
    pub raw: &'a str,
}

/// One piece of the document. Positions are known to the caller: a token starts where
/// [`Scanner::position`] was before [`Scanner::next`] returned it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Token<'a> {
    /// `<?xml ...?>`: the pseudo-attributes are in [`Scanner::attributes`].
    Decl,
    /// `<!DOCTYPE`: only the keyword is read, since the decoder refuses it.
    DocType,
    /// A start tag (`empty` for `<a/>`); its attributes are in [`Scanner::attributes`].
    Start {
        name: &'a str,
        empty: bool,
    },
    End {
        name: &'a str,
    },
    /// Character data up to the next `<` or `&`, line ends not yet normalised; `cr` says
    /// whether it holds a `\r` (found by the same search as its end, so text without one,
    /// nearly all text, is never looked at again).
    Text {
        text: &'a str,
        cr: bool,
    },
    /// Character data that is only XML whitespace without a `\r`: mostly the indentation
    /// between tags, told apart by the same search as its end, so the decoder can drop it
    /// beside child elements without looking at it again.
    Space(&'a str),
    /// The content of a CDATA section, line ends not yet normalised.
    CData(&'a str),
    /// A reference `&name;` or `&#...;`: the part between `&` and `;`.
    Ref(&'a str),
    Comment,
    Pi,
    Eof,
}

/// Why scanning stopped: at the start of the offending token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum ScanError {
    Malformed {
        at: usize,
        message: &'static str,
    },
    /// A start tag with more attributes than allowed; `at` is the tag's start.
    TooManyAttributes {
        at: usize,
    },
}

/// A cursor over the document.
pub(super) struct Scanner<'a> {
    text: &'a str,
    pos: usize,
    /// The attributes of the last start tag or declaration, reused so that reading
    /// a tag does not allocate once the list has grown to the document's widest tag.
    attrs: Vec<Attr<'a>>,
    /// Whether the last start tag's name holds a `:`, found while reading it, so that
    /// unprefixed names, the usual kind, are not searched for one again.
    prefixed: bool,
    max_attributes: usize,
}

/// Bytes that may start an XML name. Every byte of a multi-byte character counts, so a
/// name never ends inside a character (the decoder does not need XML's exact Unicode
/// ranges: a document that uses others is still read consistently).
fn is_name_start(b: u8) -> bool {
    NAME_BYTES[usize::from(b)] & NAME_START != 0
}

fn is_name_byte(b: u8) -> bool {
    NAME_BYTES[usize::from(b)] != 0
}

/// Bytes of text looked at one by one before a vectorised search takes over.
const SHORT_TEXT: usize = 24;

/// [`TEXT_BYTES`] flag of the bytes that end a run of character data (`<`, `&`) or need
/// line-end normalisation (`\r`).
const ENDS_TEXT: u8 = 1;
/// [`TEXT_BYTES`] flag of the bytes that are not XML whitespace (other than those ending
/// text, which are not part of it).
const NOT_SPACE: u8 = 2;

/// The class of every byte of character data, looked up once per byte while searching
/// for the end of the text.
const TEXT_BYTES: [u8; 256] = {
    let mut table = [NOT_SPACE; 256];
    table[b'<' as usize] = ENDS_TEXT;
    table[b'&' as usize] = ENDS_TEXT;
    table[b'\r' as usize] = ENDS_TEXT;
    table[b' ' as usize] = 0;
    table[b'\t' as usize] = 0;
    table[b'\n' as usize] = 0;
    table
};

/// [`NAME_BYTES`] flag of a byte that may start a name.
const NAME_START: u8 = 1;
/// [`NAME_BYTES`] flag of a byte that may continue a name.
const NAME_REST: u8 = 2;
/// [`NAME_BYTES`] flag of `:`, which splits a qualified name.
const NAME_COLON: u8 = 4;

/// The class of every byte, looked up once per byte of every name: a table reads one
/// byte where the range tests take a handful of comparisons.
const NAME_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        let c = b as u8;
        let start = c.is_ascii_alphabetic() || c == b'_' || c == b':' || c >= 0x80;
        let rest = start || c.is_ascii_digit() || c == b'-' || c == b'.';
        table[b] = if c == b':' {
            NAME_START | NAME_REST | NAME_COLON
        } else if start {
            NAME_START | NAME_REST
        } else if rest {
            NAME_REST
        } else {
            0
        };
        b += 1;
    }
    table
};

/// Whether `name` (between `&` and `;`) has the form of a reference: a name, or `#`
/// and alphanumerics (whose value is checked when it is resolved).
pub(super) fn is_reference(name: &str) -> bool {
    match name.as_bytes() {
        [b'#', digits @ ..] => !digits.is_empty() && digits.iter().all(u8::is_ascii_alphanumeric),
        [first, rest @ ..] => is_name_start(*first) && rest.iter().all(|&b| is_name_byte(b)),
        [] => false,
    }
}

/// Offset of the first byte in `bytes` that ends character data, the [`TEXT_BYTES`]
/// classes of the bytes up to it added to `marks`.
fn text_stop(bytes: &[u8], marks: &mut u8) -> Option<usize> {
    bytes.iter().position(|&b| {
        let class = TEXT_BYTES[usize::from(b)];
        *marks |= class;
        class & ENDS_TEXT != 0
    })
}

fn is_ws(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

impl<'a> Scanner<'a> {
    pub fn new(text: &'a str, max_attributes: usize) -> Self {
        Scanner {
            text,
            pos: 0,
            attrs: Vec::new(),
            prefixed: false,
            max_attributes,
        }
    }

    /// Byte offset of the next token.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// The attributes of the last [`Token::Start`] or [`Token::Decl`].
    pub fn attributes(&self) -> &[Attr<'a>] {
        &self.attrs
    }

    /// Whether the name of the last [`Token::Start`] holds a `:` (has a prefix).
    pub fn prefixed(&self) -> bool {
        self.prefixed
    }

    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    /// `text[from..to]`. Every bound the scanner computes sits before or after an ASCII
    /// byte, so it is a character boundary; the empty fallback is never taken.
    fn slice(&self, from: usize, to: usize) -> &'a str {
        self.text.get(from..to).unwrap_or_default()
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.bytes().get(at).copied()
    }

    /// Offset of the first occurrence of `needle` at or after `from`.
    fn find(&self, from: usize, needle: &[u8]) -> Option<usize> {
        let rest = self.bytes().get(from..)?;
        memmem::find(rest, needle).map(|i| from + i)
    }

    /// End of the name starting at `from` (== `from` when there is none).
    fn name_end(&self, from: usize) -> usize {
        let rest = self.bytes().get(from..).unwrap_or_default();
        match rest.first() {
            Some(&b) if is_name_start(b) => {
                from + rest
                    .iter()
                    .position(|&b| !is_name_byte(b))
                    .unwrap_or(rest.len())
            }
            _ => from,
        }
    }

    /// [`Scanner::name_end`], and whether the name holds a `:`.
    fn qname_end(&self, from: usize) -> (usize, bool) {
        let rest = self.bytes().get(from..).unwrap_or_default();
        match rest.first() {
            Some(&b) if is_name_start(b) => {
                let mut marks = 0u8;
                let len = rest
                    .iter()
                    .position(|&b| {
                        let class = NAME_BYTES[usize::from(b)];
                        marks |= class;
                        class == 0
                    })
                    .unwrap_or(rest.len());
                (from + len, marks & NAME_COLON != 0)
            }
            _ => (from, false),
        }
    }

    fn skip_ws(&self, mut at: usize) -> usize {
        while self.byte(at).is_some_and(is_ws) {
            at += 1;
        }
        at
    }

    /// End of the character data starting at `from` (the next `<` or `&`, or the end of
    /// the document), whether it holds a `\r`, and whether it is only whitespace (told
    /// for text without a `\r` only: false with one).
    #[inline(always)]
    fn text_end(&self, from: usize) -> (usize, bool, bool) {
        let bytes = self.bytes();
        let rest = bytes.get(from..).unwrap_or_default();
        // Most text is short (indentation, a value): a plain loop finds its end before a
        // vectorised search would have set up. It goes on through whitespace, so that
        // deep indentation is still known to be blank.
        let head = rest.get(..SHORT_TEXT).unwrap_or(rest);
        let mut marks = 0u8;
        let found = match text_stop(head, &mut marks) {
            Some(i) => Some(i),
            None => {
                let tail = rest.get(head.len()..).unwrap_or_default();
                if marks & NOT_SPACE == 0 {
                    text_stop(tail, &mut marks)
                } else {
                    memchr3(b'<', b'&', b'\r', tail)
                }
                .map(|i| head.len() + i)
            }
        };
        let blank = marks & NOT_SPACE == 0;
        let Some(i) = found else {
            return (bytes.len(), false, blank);
        };
        let at = from + i;
        if bytes.get(at) != Some(&b'\r') {
            return (at, false, blank);
        }
        let after = bytes.get(at + 1..).unwrap_or_default();
        let end = memchr2(b'<', b'&', after).map_or(bytes.len(), |j| at + 1 + j);
        (end, true, false)
    }

    /// When the document continues with text free of references and markup and then
    /// exactly `</name>`, consumes both and returns the text and whether it holds a `\r`:
    /// a leaf element, the most common kind, read in one step. Otherwise consumes nothing.
    pub fn leaf_text(&mut self, name: &str) -> Option<(&'a str, bool)> {
        let start = self.pos;
        let (end, cr, _) = self.text_end(start);
        let closing = self.bytes().get(end..)?.strip_prefix(b"</")?;
        if closing.strip_prefix(name.as_bytes())?.first() != Some(&b'>') {
            return None;
        }
        self.pos = end + 2 + name.len() + 1;
        Some((self.slice(start, end), cr))
    }

    pub fn next(&mut self) -> Result<Token<'a>, ScanError> {
        let start = self.pos;
        match self.byte(start) {
            None => Ok(Token::Eof),
            Some(b'<') => self.markup(start),
            Some(b'&') => self.reference(start),
            Some(_) => {
                let (end, cr, blank) = self.text_end(start);
                self.pos = end;
                let text = self.slice(start, end);
                Ok(if blank {
                    Token::Space(text)
                } else {
                    Token::Text { text, cr }
                })
            }
        }
    }

    fn malformed<T>(at: usize, message: &'static str) -> Result<T, ScanError> {
        Err(ScanError::Malformed { at, message })
    }

    fn reference(&mut self, start: usize) -> Result<Token<'a>, ScanError> {
        // `#` starts a character reference; the rest is checked when it is resolved.
        let body = start + 1;
        let end = if self.byte(body) == Some(b'#') {
            let rest = self.bytes().get(body + 1..).unwrap_or_default();
            body + 1
                + rest
                    .iter()
                    .position(|b| !b.is_ascii_alphanumeric())
                    .unwrap_or(rest.len())
        } else {
            self.name_end(body)
        };
        if end == body || self.byte(end) != Some(b';') {
            return Self::malformed(start, "a reference must be &name; or &#number;");
        }
        self.pos = end + 1;
        Ok(Token::Ref(self.slice(body, end)))
    }

    fn markup(&mut self, start: usize) -> Result<Token<'a>, ScanError> {
        match self.byte(start + 1) {
            Some(b'/') => {
                let name_start = start + 2;
                let name_end = self.name_end(name_start);
                if name_end == name_start {
                    return Self::malformed(start, "a closing tag must start with a name");
                }
                let close = self.skip_ws(name_end);
                if self.byte(close) != Some(b'>') {
                    return Self::malformed(
                        start,
                        "a closing tag must end with '>' after its name",
                    );
                }
                self.pos = close + 1;
                Ok(Token::End {
                    name: self.slice(name_start, name_end),
                })
            }
            Some(b'?') => self.processing_instruction(start),
            Some(b'!') => self.bang(start),
            _ => self.start_tag(start),
        }
    }

    fn processing_instruction(&mut self, start: usize) -> Result<Token<'a>, ScanError> {
        let target_start = start + 2;
        let target_end = self.name_end(target_start);
        if target_end == target_start {
            return Self::malformed(start, "a processing instruction must start with a name");
        }
        let Some(close) = self.find(target_end, b"?>") else {
            return Self::malformed(start, "the processing instruction is not closed by '?>'");
        };
        self.pos = close + 2;
        if self.slice(target_start, target_end) != "xml" {
            return Ok(Token::Pi);
        }
        // The declaration's pseudo-attributes have the syntax of attributes.
        let end = self.attribute_list(start, target_end, close)?;
        if end != close {
            return Self::malformed(start, "the XML declaration must end with '?>'");
        }
        Ok(Token::Decl)
    }

    fn bang(&mut self, start: usize) -> Result<Token<'a>, ScanError> {
        let rest = self.bytes().get(start..).unwrap_or_default();
        if rest.starts_with(b"<!--") {
            let Some(close) = self.find(start + 4, b"-->") else {
                return Self::malformed(start, "the comment is not closed by '-->'");
            };
            self.pos = close + 3;
            return Ok(Token::Comment);
        }
        if rest.starts_with(b"<![CDATA[") {
            let content = start + 9;
            let Some(close) = self.find(content, b"]]>") else {
                return Self::malformed(start, "the CDATA section is not closed by ']]>'");
            };
            self.pos = close + 3;
            return Ok(Token::CData(self.slice(content, close)));
        }
        if rest
            .get(..9)
            .is_some_and(|k| k.eq_ignore_ascii_case(b"<!DOCTYPE"))
        {
            self.pos = start + 9;
            return Ok(Token::DocType);
        }
        Self::malformed(start, "'<!' must start a comment or a CDATA section")
    }

    fn start_tag(&mut self, start: usize) -> Result<Token<'a>, ScanError> {
        let name_start = start + 1;
        let (name_end, prefixed) = self.qname_end(name_start);
        self.prefixed = prefixed;
        if name_end == name_start {
            return Self::malformed(start, "'<' must start a tag with a name");
        }
        // Most tags have no attributes: their name ends at the `>`.
        let end = if self.byte(name_end) == Some(b'>') {
            self.attrs.clear();
            name_end
        } else {
            self.attribute_list(start, name_end, self.text.len())?
        };
        let (empty, after) = match self.byte(end) {
            Some(b'>') => (false, end + 1),
            Some(b'/') if self.byte(end + 1) == Some(b'>') => (true, end + 2),
            None => return Self::malformed(start, "the start tag is not closed by '>'"),
            Some(_) => return Self::malformed(start, "an attribute must be name=\"value\""),
        };
        self.pos = after;
        Ok(Token::Start {
            name: self.slice(name_start, name_end),
            empty,
        })
    }

    /// Reads `name="value"` pairs from `from` into `attrs` until a byte that cannot start
    /// one, or `limit`; returns that byte's offset (after any whitespace). Errors are
    /// reported at `tag`, the start of the tag.
    fn attribute_list(
        &mut self,
        tag: usize,
        from: usize,
        limit: usize,
    ) -> Result<usize, ScanError> {
        self.attrs.clear();
        let mut at = from;
        loop {
            let next = self.skip_ws(at);
            if next >= limit || !self.byte(next).is_some_and(is_name_start) {
                return Ok(next.min(limit));
            }
            if next == at {
                return Self::malformed(tag, "attributes must be separated by whitespace");
            }
            let name_end = self.name_end(next);
            let eq = self.skip_ws(name_end);
            if self.byte(eq) != Some(b'=') {
                return Self::malformed(tag, "an attribute must be name=\"value\"");
            }
            let open = self.skip_ws(eq + 1);
            let quote = match self.byte(open) {
                Some(q @ (b'"' | b'\'')) => q,
                _ => return Self::malformed(tag, "an attribute value must be quoted"),
            };
            let rest = self.bytes().get(open + 1..limit).unwrap_or_default();
            let Some(len) = memchr(quote, rest) else {
                return Self::malformed(tag, "an attribute value is not closed by its quote");
            };
            let close = open + 1 + len;
            let attr = Attr {
                name: self.slice(next, name_end),
                raw: self.slice(open + 1, close),
            };
            if self.attrs.iter().any(|a| a.name == attr.name) {
                return Self::malformed(tag, "an attribute appears twice in one tag");
            }
            if self.attrs.len() >= self.max_attributes {
                return Err(ScanError::TooManyAttributes { at: tag });
            }
            self.attrs.push(attr);
            at = close + 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(text: &str) -> Result<Vec<(usize, Token<'_>)>, ScanError> {
        let mut s = Scanner::new(text, 8);
        let mut out = Vec::new();
        loop {
            let at = s.position();
            let t = s.next()?;
            out.push((at, t));
            if t == Token::Eof {
                return Ok(out);
            }
        }
    }

    #[test]
    fn tokens_and_their_offsets() {
        let text =
            "<?xml version='1.0'?><a x=\"1\" y = '2'>t&amp;<![CDATA[c]]><!--k--><?p q?><b/></a >";
        assert_eq!(
            tokens(text).unwrap(),
            vec![
                (0, Token::Decl),
                (
                    21,
                    Token::Start {
                        name: "a",
                        empty: false
                    }
                ),
                (
                    38,
                    Token::Text {
                        text: "t",
                        cr: false
                    }
                ),
                (39, Token::Ref("amp")),
                (44, Token::CData("c")),
                (57, Token::Comment),
                (65, Token::Pi),
                (
                    72,
                    Token::Start {
                        name: "b",
                        empty: true
                    }
                ),
                (76, Token::End { name: "a" }),
                (81, Token::Eof),
            ]
        );
    }

    #[test]
    fn attributes_are_slices_of_the_tag() {
        let mut s = Scanner::new("<p:e a='1' xmlns:p=\"u&amp;\"/>", 8);
        assert_eq!(
            s.next().unwrap(),
            Token::Start {
                name: "p:e",
                empty: true
            }
        );
        assert_eq!(
            s.attributes(),
            [
                Attr {
                    name: "a",
                    raw: "1"
                },
                Attr {
                    name: "xmlns:p",
                    raw: "u&amp;"
                }
            ]
        );
    }

    #[test]
    fn a_prefix_is_noticed_in_the_element_name_only() {
        let mut s = Scanner::new("<p:e><e a:b='1'><_:><x.y-z:/>", 8);
        for (name, prefixed) in [("p:e", true), ("e", false), ("_:", true), ("x.y-z:", true)] {
            assert!(matches!(s.next(), Ok(Token::Start { name: n, .. }) if n == name));
            assert_eq!(s.prefixed(), prefixed, "{name}");
        }
    }

    #[test]
    fn malformed_markup_is_reported_at_its_start() {
        let err = |text: &str| match tokens(text) {
            Err(ScanError::Malformed { at, .. }) => at,
            other => panic!("{text:?}: {other:?}"),
        };
        assert_eq!(err("<a x='1' x='2'>"), 0);
        assert_eq!(err("<a x='1'y='2'>"), 0);
        assert_eq!(err("<a x=1>"), 0);
        assert_eq!(err("<a x='1>"), 0);
        assert_eq!(err("<a"), 0);
        assert_eq!(err("<a><1/>"), 3);
        assert_eq!(err("<a></ a>"), 3);
        assert_eq!(err("<a>&amp</a>"), 3);
        assert_eq!(err("<a>& b;</a>"), 3);
        assert_eq!(err("<a><!-- x -></a>"), 3);
        assert_eq!(err("<a><![CDATA[x]></a>"), 3);
        assert_eq!(err("<a><!ELEMENT a></a>"), 3);
        assert_eq!(err("<a><?pi x></a>"), 3);
    }

    #[test]
    fn leaf_text_reads_text_and_its_closing_tag_or_nothing() {
        let mut s = Scanner::new("<a>x y</a><b>z</bb><c>&amp;</c>", 8);
        assert_eq!(
            s.next(),
            Ok(Token::Start {
                name: "a",
                empty: false
            })
        );
        assert_eq!(s.leaf_text("a"), Some(("x y", false)));
        assert_eq!(s.position(), 10);
        assert_eq!(
            s.next(),
            Ok(Token::Start {
                name: "b",
                empty: false
            })
        );
        assert_eq!(s.leaf_text("b"), None);
        assert_eq!(
            s.next(),
            Ok(Token::Text {
                text: "z",
                cr: false
            })
        );
        assert_eq!(s.next(), Ok(Token::End { name: "bb" }));
        assert_eq!(
            s.next(),
            Ok(Token::Start {
                name: "c",
                empty: false
            })
        );
        assert_eq!(s.leaf_text("c"), None);
        assert_eq!(s.next(), Ok(Token::Ref("amp")));
    }

    #[test]
    fn attribute_count_is_bounded_while_reading() {
        let mut s = Scanner::new("<a a='' b='' c=''/>", 2);
        assert_eq!(s.next(), Err(ScanError::TooManyAttributes { at: 0 }));
    }

    #[test]
    fn text_ends_and_carriage_returns_are_found_short_or_long() {
        let long = "x".repeat(40);
        for (text, cr) in [
            ("ab".to_string(), false),
            ("a\rb".to_string(), true),
            (long.clone(), false),
            (format!("{long}\r\n{long}"), true),
            (format!("\r{long}"), true),
        ] {
            for end in ["<a/>", "&amp;", ""] {
                let doc = format!("{text}{end}");
                let mut s = Scanner::new(&doc, 8);
                assert_eq!(s.next(), Ok(Token::Text { text: &text, cr }), "{doc:?}");
                assert_eq!(s.position(), text.len());
                let leaf = format!("{text}</a>");
                let mut s = Scanner::new(&leaf, 8);
                assert_eq!(s.leaf_text("a"), Some((text.as_str(), cr)));
            }
        }
    }

    #[test]
    fn whitespace_is_told_apart_from_other_text_short_or_long() {
        let deep = format!("\n{}", " ".repeat(40));
        for text in ["\n  ", " ", "\t\n", deep.as_str()] {
            for end in ["<a/>", "&amp;", ""] {
                let doc = format!("{text}{end}");
                let mut s = Scanner::new(&doc, 8);
                assert_eq!(s.next(), Ok(Token::Space(text)), "{doc:?}");
                assert_eq!(s.position(), text.len());
            }
        }
        let long_x = format!("{deep}x{deep}");
        for text in [" x", "x ", "\u{a0}", long_x.as_str(), "\n\r"] {
            let doc = format!("{text}<a/>");
            let mut s = Scanner::new(&doc, 8);
            assert!(
                matches!(s.next(), Ok(Token::Text { text: t, .. }) if t == text),
                "{doc:?}"
            );
        }
    }

    #[test]
    fn name_byte_classes() {
        for b in 0..=255u8 {
            let start = b.is_ascii_alphabetic() || b == b'_' || b == b':' || b >= 0x80;
            let rest = start || b.is_ascii_digit() || b == b'-' || b == b'.';
            assert_eq!(is_name_start(b), start, "{b}");
            assert_eq!(is_name_byte(b), rest, "{b}");
        }
    }

    #[test]
    fn doctype_is_recognised_in_any_case() {
        let mut s = Scanner::new("<!doctype a>", 8);
        assert_eq!(s.next(), Ok(Token::DocType));
    }
}
