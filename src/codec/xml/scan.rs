//! The XML tokenizer behind the decoder: one pass over text already checked to be UTF-8,
//! every token a slice of that text.
//!
//! A general-purpose reader re-checks UTF-8 for each piece, keeps a namespace resolver
//! even for documents that declare one namespace, and copies attribute lists; the decoder
//! needs none of that, and on a request it is most of the cost of decoding. Names,
//! attribute syntax, duplicate attributes, references, the characters XML allows and the
//! closing of comments, CDATA sections and processing instructions are checked here; matching end tags, namespaces
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
    /// Whether `raw` holds no reference and no tab or line end, so it is the value as
    /// it is, found by the same pass that checks its characters.
    pub plain: bool,
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
    /// An element or attribute name longer than allowed, at the name.
    NameTooLong {
        at: usize,
    },
    /// A character XML does not allow (a control other than tab and line ends, U+FFFE,
    /// U+FFFF), at the character.
    Char {
        at: usize,
        c: char,
    },
}

/// What [`Scanner::text_end`] finds out about a run of character data.
struct TextEnd {
    end: usize,
    cr: bool,
    blank: bool,
    suspect: bool,
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
    /// Longest element or attribute name, in bytes.
    max_name: usize,
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
/// [`TEXT_BYTES`] and [`VALUE_BYTES`] flag of the bytes that may belong to a character
/// XML does not allow: the controls other than tab and line ends, and the lead byte of
/// U+F000 to U+FFFF (among them U+FFFE and U+FFFF). Text holding one is checked
/// character by character; other text never is.
const SUSPECT: u8 = 4;

/// Whether byte `b` gets [`SUSPECT`].
const fn is_suspect(b: u8) -> bool {
    (b < 0x20 && b != b'\t' && b != b'\n' && b != b'\r') || b == 0xEF
}

/// The class of every byte of character data, looked up once per byte while searching
/// for the end of the text.
const TEXT_BYTES: [u8; 256] = {
    let mut table = [NOT_SPACE; 256];
    let mut b = 0usize;
    while b < 256 {
        if is_suspect(b as u8) {
            table[b] = NOT_SPACE | SUSPECT;
        }
        b += 1;
    }
    table[b'<' as usize] = ENDS_TEXT;
    table[b'&' as usize] = ENDS_TEXT;
    table[b'\r' as usize] = ENDS_TEXT;
    table[b' ' as usize] = 0;
    table[b'\t' as usize] = 0;
    table[b'\n' as usize] = 0;
    table
};

/// [`VALUE_BYTES`] flag of the bytes an attribute value is normalised at: references,
/// tabs and line ends.
const NORMALISE: u8 = 1;
/// [`VALUE_BYTES`] flag of `<`, which an attribute value cannot hold.
const LT: u8 = 2;

/// The class of every byte of an attribute value, looked up once per byte.
const VALUE_BYTES: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0usize;
    while b < 256 {
        if is_suspect(b as u8) {
            table[b] = SUSPECT;
        }
        b += 1;
    }
    table[b'&' as usize] = NORMALISE;
    table[b'\t' as usize] = NORMALISE;
    table[b'\n' as usize] = NORMALISE;
    table[b'\r' as usize] = NORMALISE;
    table[b'<' as usize] = LT;
    table
};

/// Whether `bytes` may hold a character XML does not allow (a [`SUSPECT`] byte): for
/// long runs of text, which a vectorised search skips over. Eight bytes are tested at
/// once for a control or 0xEF, in a few word operations; only a word holding one (a tab
/// or line end, mostly) is looked at byte by byte.
fn may_hold_forbidden(bytes: &[u8]) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES * 0x80;
    const LOW7: u64 = ONES * 0x7F;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = <[u8; 8]>::try_from(word).map_or(0, u64::from_le_bytes);
        // The high bit of each byte below 0x20: neither its low seven bits plus 0x60 nor
        // the byte itself reach 0x80 (no sum carries into the next byte).
        let control = !(((w & LOW7) + ONES * 0x60) | w) & HIGH;
        // The high bit of each byte equal to 0xEF: the byte XOR 0xEF is zero.
        let x = w ^ (ONES * 0xEF);
        let lead = !(((x & LOW7) + LOW7) | x) & HIGH;
        if control | lead != 0 && word.iter().any(|&b| is_suspect(b)) {
            return true;
        }
    }
    words.remainder().iter().any(|&b| is_suspect(b))
}

/// The offset and value of the first character of `text` XML does not allow. Only text
/// holding a [`SUSPECT`] byte is looked at this way.
#[cold]
pub(super) fn forbidden_char(text: &str) -> Option<(usize, char)> {
    text.char_indices().find(|&(_, c)| !super::is_xml_char(c))
}

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
            max_name: usize::MAX,
        }
    }

    /// The scanner, refusing element and attribute names longer than `max` bytes. (End
    /// tags must match their start tag, so they are bounded too.)
    pub fn max_name_bytes(mut self, max: usize) -> Self {
        self.max_name = max;
        self
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
    /// the document), whether it holds a `\r`, whether it is only whitespace (told for
    /// text without a `\r` only: false with one), and whether it may hold a character
    /// XML does not allow (see [`SUSPECT`]).
    #[inline(always)]
    fn text_end(&self, from: usize) -> TextEnd {
        let bytes = self.bytes();
        let rest = bytes.get(from..).unwrap_or_default();
        // Most text is short (indentation, a value): a plain loop finds its end before a
        // vectorised search would have set up. It goes on through whitespace, so that
        // deep indentation is still known to be blank.
        let head = rest.get(..SHORT_TEXT).unwrap_or(rest);
        let mut marks = 0u8;
        // Whether the part a vectorised search went over, which no table looked at, may
        // hold a forbidden character.
        let mut skipped_suspect = false;
        let found = match text_stop(head, &mut marks) {
            Some(i) => Some(i),
            None => {
                let tail = rest.get(head.len()..).unwrap_or_default();
                if marks & NOT_SPACE == 0 {
                    text_stop(tail, &mut marks)
                } else {
                    let found = memchr3(b'<', b'&', b'\r', tail);
                    let skipped = tail.get(..found.unwrap_or(tail.len())).unwrap_or_default();
                    skipped_suspect = may_hold_forbidden(skipped);
                    found
                }
                .map(|i| head.len() + i)
            }
        };
        let blank = marks & NOT_SPACE == 0;
        let suspect = marks & SUSPECT != 0 || skipped_suspect;
        let Some(i) = found else {
            return TextEnd {
                end: bytes.len(),
                cr: false,
                blank,
                suspect,
            };
        };
        let at = from + i;
        if bytes.get(at) != Some(&b'\r') {
            return TextEnd {
                end: at,
                cr: false,
                blank,
                suspect,
            };
        }
        let after = bytes.get(at + 1..).unwrap_or_default();
        let len = memchr2(b'<', b'&', after).unwrap_or(after.len());
        let suspect = suspect || may_hold_forbidden(after.get(..len).unwrap_or_default());
        TextEnd {
            end: at + 1 + len,
            cr: true,
            blank: false,
            suspect,
        }
    }

    /// The first character XML does not allow in `text[from..to]`, as the error to stop
    /// at; called for text holding a [`SUSPECT`] byte, which is nearly always a
    /// character XML allows.
    #[cold]
    fn check_chars(&self, from: usize, to: usize) -> Result<(), ScanError> {
        match forbidden_char(self.slice(from, to)) {
            Some((i, c)) => Err(ScanError::Char { at: from + i, c }),
            None => Ok(()),
        }
    }

    /// [`Scanner::check_chars`] of `text[from..to]` when a [`SUSPECT`] byte is in it: for
    /// markup whose content no table has looked at (comments, CDATA sections,
    /// processing instructions).
    fn check_content(&self, from: usize, to: usize) -> Result<(), ScanError> {
        let content = self.bytes().get(from..to).unwrap_or_default();
        if may_hold_forbidden(content) {
            return self.check_chars(from, to);
        }
        Ok(())
    }

    /// When the document continues with text free of references and markup and then
    /// exactly `</name>`, consumes both and returns the text and whether it holds a `\r`:
    /// a leaf element, the most common kind, read in one step. Otherwise consumes nothing.
    pub fn leaf_text(&mut self, name: &str) -> Option<(&'a str, bool)> {
        let start = self.pos;
        let TextEnd {
            end, cr, suspect, ..
        } = self.text_end(start);
        let closing = self.bytes().get(end..)?.strip_prefix(b"</")?;
        if closing.strip_prefix(name.as_bytes())?.first() != Some(&b'>') {
            return None;
        }
        if suspect && self.check_chars(start, end).is_err() {
            // Left for [`Scanner::next`] to report.
            return None;
        }
        self.pos = end + 2 + name.len() + 1;
        Some((self.slice(start, end), cr))
    }

    // Inlined into the decoder's loop (with `markup`, `start_tag` and `reference`), as
    // when the decoder was the scanner's only caller: `locate` reads with it too, and a
    // call per token costs the decode path about 5 % more instructions.
    #[inline(always)]
    pub fn next(&mut self) -> Result<Token<'a>, ScanError> {
        let start = self.pos;
        match self.byte(start) {
            None => Ok(Token::Eof),
            Some(b'<') => self.markup(start),
            Some(b'&') => self.reference(start),
            Some(_) => {
                let TextEnd {
                    end,
                    cr,
                    blank,
                    suspect,
                } = self.text_end(start);
                if suspect {
                    self.check_chars(start, end)?;
                }
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

    #[inline(always)]
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

    #[inline(always)]
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
        self.check_content(target_end, close)?;
        self.pos = close + 2;
        let target = self.slice(target_start, target_end);
        if target != "xml" {
            if target.eq_ignore_ascii_case("xml") {
                return Self::malformed(
                    start,
                    "the processing instruction target \"xml\" is reserved in any case",
                );
            }
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
            self.check_content(start + 4, close)?;
            self.pos = close + 3;
            return Ok(Token::Comment);
        }
        if rest.starts_with(b"<![CDATA[") {
            let content = start + 9;
            let Some(close) = self.find(content, b"]]>") else {
                return Self::malformed(start, "the CDATA section is not closed by ']]>'");
            };
            self.check_content(content, close)?;
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

    #[inline(always)]
    fn start_tag(&mut self, start: usize) -> Result<Token<'a>, ScanError> {
        let name_start = start + 1;
        let (name_end, prefixed) = self.qname_end(name_start);
        self.prefixed = prefixed;
        if name_end == name_start {
            return Self::malformed(start, "'<' must start a tag with a name");
        }
        if name_end - name_start > self.max_name {
            return Err(ScanError::NameTooLong { at: name_start });
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

    /// The error of an attribute value `text[from..to]` holding a `<` or a character XML
    /// does not allow, at that character.
    #[cold]
    fn check_value(&self, from: usize, to: usize) -> Result<(), ScanError> {
        let value = self.slice(from, to);
        let lt = value.find('<');
        match forbidden_char(value) {
            Some((i, c)) if lt.is_none_or(|lt| i < lt) => Err(ScanError::Char { at: from + i, c }),
            _ => match lt {
                Some(i) => Self::malformed(from + i, "an attribute value cannot hold '<'"),
                None => Ok(()),
            },
        }
    }

    /// Reads `name="value"` pairs from `from` into `attrs` until a byte that cannot start
    /// one, or `limit`; returns that byte's offset (after any whitespace). Syntax errors
    /// are reported at `tag`, the start of the tag; a value holding `<` or a character
    /// XML does not allow, at that character.
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
            if name_end - next > self.max_name {
                return Err(ScanError::NameTooLong { at: next });
            }
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
            let value = rest.get(..len).unwrap_or_default();
            let marks = value
                .iter()
                .fold(0u8, |marks, &b| marks | VALUE_BYTES[usize::from(b)]);
            if marks & (LT | SUSPECT) != 0 {
                self.check_value(open + 1, close)?;
            }
            let attr = Attr {
                name: self.slice(next, name_end),
                raw: self.slice(open + 1, close),
                plain: marks & NORMALISE == 0,
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
                    raw: "1",
                    plain: true
                },
                Attr {
                    name: "xmlns:p",
                    raw: "u&amp;",
                    plain: false
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
    fn name_length_is_bounded_while_reading() {
        let mut s = Scanner::new("<abcd/>", 8).max_name_bytes(4);
        assert!(matches!(s.next(), Ok(Token::Start { name: "abcd", .. })));
        let mut s = Scanner::new("<p:abc/>", 8).max_name_bytes(4);
        assert_eq!(s.next(), Err(ScanError::NameTooLong { at: 1 }));
        let mut s = Scanner::new("<a xy='1' abcde='2'/>", 8).max_name_bytes(4);
        assert_eq!(s.next(), Err(ScanError::NameTooLong { at: 10 }));
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
    fn characters_xml_does_not_allow_are_refused_where_they_stand() {
        let long = "x".repeat(40);
        let cases = [
            ("<a>a\u{1}b</a>".to_string(), 4, '\u{1}'),
            (format!("<a>{long}\u{1f}</a>"), 43, '\u{1f}'),
            (format!("<a>{long}\r\n\u{0}</a>"), 45, '\u{0}'),
            ("<a>\u{fffe}</a>".to_string(), 3, '\u{fffe}'),
            (format!("<a>{long}\u{ffff}</a>"), 43, '\u{ffff}'),
            ("<a>x\r\u{8}</a>".to_string(), 5, '\u{8}'),
            ("<a b='1\u{b}'/>".to_string(), 7, '\u{b}'),
            (format!("<a b='{long}\u{fffe}'/>"), 46, '\u{fffe}'),
            ("<a><![CDATA[\u{1}]]></a>".to_string(), 12, '\u{1}'),
            ("<a><!-- \u{2} --></a>".to_string(), 8, '\u{2}'),
            ("<a><?p \u{3}?></a>".to_string(), 7, '\u{3}'),
            ("<?xml version='1.0\u{c}'?><a/>".to_string(), 18, '\u{c}'),
        ];
        for (doc, at, c) in cases {
            assert_eq!(tokens(&doc), Err(ScanError::Char { at, c }), "{doc:?}");
        }
        // Read in one step or not, a leaf's text is checked.
        let mut s = Scanner::new("a\u{7f}\u{1}</a>", 8);
        assert_eq!(s.leaf_text("a"), None);
        assert_eq!(s.next(), Err(ScanError::Char { at: 2, c: '\u{1}' }));
        // Tabs, line ends, DEL and other characters whose UTF-8 starts like U+FFFE's do.
        let fine =
            format!("<a b='\t\u{ff01}'>\t\u{7f}\u{ff01}\u{fffd}\u{feff}{long}\u{ff01}\r\n</a>");
        assert!(tokens(&fine).is_ok());
        let mut s = Scanner::new("\u{ff01}\u{efff}</a>", 8);
        assert_eq!(s.leaf_text("a"), Some(("\u{ff01}\u{efff}", false)));
    }

    #[test]
    fn an_attribute_value_cannot_hold_a_less_than_sign() {
        let err = |doc: &str| match tokens(doc) {
            Err(ScanError::Malformed { at, message }) => (at, message),
            other => panic!("{doc:?}: {other:?}"),
        };
        let lt = "an attribute value cannot hold '<'";
        assert_eq!(err("<Doc a=\"x<y\"/>"), (9, lt));
        assert_eq!(err("<Doc a='ok' b='&lt;<'/>"), (19, lt));
        assert_eq!(
            tokens("<Doc a='<\u{1}'/>"),
            Err(ScanError::Malformed { at: 8, message: lt })
        );
        assert_eq!(
            tokens("<Doc a='\u{1}<'/>"),
            Err(ScanError::Char { at: 8, c: '\u{1}' })
        );
        assert!(tokens("<Doc a='&lt;>'/>").is_ok());
    }

    #[test]
    fn processing_instruction_targets_spelling_xml_are_reserved() {
        assert_eq!(
            tokens("<a><?XML x?></a>"),
            Err(ScanError::Malformed {
                at: 3,
                message: "the processing instruction target \"xml\" is reserved in any case"
            })
        );
        assert!(tokens("<a><?xml-stylesheet x?></a>").is_ok());
    }

    #[test]
    fn doctype_is_recognised_in_any_case() {
        let mut s = Scanner::new("<!doctype a>", 8);
        assert_eq!(s.next(), Ok(Token::DocType));
    }
}
