//! JSON bodies under the same limits as XML, enforced while the body is read.
//!
//! `serde_json` tokenizes; the values are built by the seeds of this module, which count
//! every value, the nesting of every array and object and the length of every string and
//! key as the parser hands them over, and stop the parse at the first one past a [`Limits`]
//! bound. So a hostile body never builds more than `max_elements` values: the memory a
//! document can make the gateway hold is bounded by the limits, not by how many values the
//! body packs (docs/operations.md gives the bound). The parser's error does not say where
//! the limit was met, so a limit error is placed afterwards, on the error path only, by a
//! scan of the body for the first place in document order that exceeds the same limit,
//! counted as the seeds count. Nesting past `serde_json`'s own limit (127 containers) is
//! the depth limit too, not a syntax error.
//!
//! An object that names a member twice is refused ([`CodecError::DuplicateMember`]):
//! RFC 8259 leaves its meaning open and parsers differ (first wins, last wins, error), so a
//! gateway that validated one reading could forward a body its upstream reads the other
//! way. The seeds notice the repeated name as they read it; where it is, and the pointer of
//! the member, are found afterwards, on the error path only, by a scan of the body.
//!
//! Numbers are parsed into eight bytes whatever their length (`serde_json` keeps no digits),
//! so a long number costs time linear in the body, not memory.
//!
//! [`decode`] gives a `Value`; [`decode_doc`] gives the same document as a [`Doc`], whose
//! object keys are borrowed from the body (unless escaped) and never hashed, for a body that
//! is read once and dropped.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use super::{CodecError, Limits, line_col};
use crate::schema::escape_pointer;
use crate::view::Doc;

const FORMAT: &str = "JSON";

/// Parses a JSON body, enforcing depth, element and text limits as it reads, with line/column
/// on errors.
pub fn decode(input: &[u8], limits: &Limits) -> Result<Value, CodecError> {
    let text = check_utf8(input)?;
    let budget = Budget::new(limits);
    let mut de = serde_json::Deserializer::from_str(text);
    ValueSeed {
        budget: &budget,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|value| de.end().map(|()| value))
    .map_err(|e| failed(&e, &budget, text, limits))
}

/// [`decode`] into a [`Doc`]: the same document (`into_value` gives exactly `decode`'s
/// value, member order included) and the same errors.
pub fn decode_doc<'a>(input: &'a [u8], limits: &Limits) -> Result<Doc<'a>, CodecError> {
    let text = check_utf8(input)?;
    let budget = Budget::new(limits);
    // Checked once: the parser reads it as text and does not check its strings again.
    let mut de = serde_json::Deserializer::from_str(text);
    DocSeed {
        budget: &budget,
        depth: 0,
    }
    .deserialize(&mut de)
    .and_then(|doc| de.end().map(|()| doc))
    .map_err(|e| failed(&e, &budget, text, limits))
}

/// The body as text, without the UTF-8 byte order mark some Windows tools write first:
/// RFC 8259 lets a parser ignore it, and the XML decoder does.
fn check_utf8(input: &[u8]) -> Result<&str, CodecError> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    std::str::from_utf8(input).map_err(|e| {
        let (line, column) = line_col(input, e.valid_up_to());
        CodecError::Encoding {
            line,
            column,
            message: "the document is not valid UTF-8".to_string(),
        }
    })
}

/// What one parse may still build: the values counted so far, and the limit or repeated
/// member name that stopped the parse, if one did (the parser's error only carries a
/// message).
struct Budget {
    limits: Limits,
    values: Cell<usize>,
    exceeded: Cell<Option<(&'static str, usize)>>,
    duplicate: Cell<bool>,
}

impl Budget {
    fn new(limits: &Limits) -> Budget {
        Budget {
            limits: *limits,
            values: Cell::new(0),
            exceeded: Cell::new(None),
            duplicate: Cell::new(false),
        }
    }

    /// Stops the parse at a member name already seen in its object.
    fn repeated<E: serde::de::Error>(&self) -> E {
        self.duplicate.set(true);
        E::custom("a member name appears twice in one object")
    }

    fn stop<E: serde::de::Error>(&self, limit: &'static str, max: usize) -> E {
        self.exceeded.set(Some((limit, max)));
        E::custom(format_args!("the {limit} limit of {max}"))
    }

    /// One more value, at nesting `depth` (0 for the document itself).
    fn value<E: serde::de::Error>(&self) -> Result<(), E> {
        let n = self.values.get() + 1;
        self.values.set(n);
        if n > self.limits.max_elements {
            return Err(self.stop("elements", self.limits.max_elements));
        }
        Ok(())
    }

    /// An array or object opened at `depth`: a value, and one level of nesting.
    fn container<E: serde::de::Error>(&self, depth: usize) -> Result<(), E> {
        self.value()?;
        if depth >= self.limits.max_depth {
            return Err(self.stop("depth", self.limits.max_depth));
        }
        Ok(())
    }

    /// A string value or an object key.
    fn text<E: serde::de::Error>(&self, s: &str) -> Result<(), E> {
        if s.len() > self.limits.max_text_bytes {
            return Err(self.stop("text", self.limits.max_text_bytes));
        }
        Ok(())
    }
}

/// Containers `serde_json` nests before it refuses a document (its recursion budget of
/// 128 runs out at the 128th).
const PARSER_MAX_DEPTH: usize = 127;

/// The error of a parse that failed: a limit the seeds met, placed where the body first
/// exceeds it, or the parser's own error.
fn failed(e: &serde_json::Error, budget: &Budget, text: &str, limits: &Limits) -> CodecError {
    if budget.duplicate.get()
        && let Some((at, pointer, member)) = duplicate_member(text.as_bytes())
    {
        let (line, column) = line_col(text.as_bytes(), at);
        return CodecError::DuplicateMember {
            pointer,
            member,
            line,
            column,
        };
    }
    if let Some((limit, max)) = budget.exceeded.get() {
        let (line, column) = limit_offset(text.as_bytes(), limit, limits).map_or_else(
            || (u32::try_from(e.line()).unwrap_or(u32::MAX), 1),
            |at| line_col(text.as_bytes(), at),
        );
        return CodecError::Limit {
            limit,
            max,
            line,
            column,
        };
    }
    malformed(e, text, limits)
}

fn malformed(e: &serde_json::Error, text: &str, limits: &Limits) -> CodecError {
    let line = u32::try_from(e.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(e.column()).unwrap_or(u32::MAX);
    // The parser's own nesting limit is the depth limit, met before the seeds could: placed
    // where the seeds would have placed it.
    if e.is_syntax() && e.to_string().starts_with("recursion limit exceeded") {
        let max = limits.max_depth.min(PARSER_MAX_DEPTH);
        let tighter = Limits {
            max_depth: max,
            ..*limits
        };
        let (line, column) = limit_offset(text.as_bytes(), "depth", &tighter)
            .map_or((line, column), |at| line_col(text.as_bytes(), at));
        return CodecError::Limit {
            limit: "depth",
            max,
            line,
            column,
        };
    }
    CodecError::Malformed {
        format: FORMAT,
        line,
        column,
        message: e.to_string(),
    }
}

/// Byte offset of the first value that exceeds `limit` (`depth`, `elements` or `text`,
/// counted as the seeds count them) in a body whose parse the seeds stopped at that limit
/// (the body up to there is well-formed). Error path only.
fn limit_offset(b: &[u8], limit: &str, limits: &Limits) -> Option<usize> {
    let (mut depth, mut count, mut i) = (0usize, 0usize, 0usize);
    while let Some(&c) = b.get(i) {
        let start = i;
        match c {
            b'[' | b'{' => {
                count += 1;
                depth += 1;
                i += 1;
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                i += 1;
                continue;
            }
            b'"' => {
                let (end, len) = string_end(b, i + 1)?;
                i = end;
                let key = b.get(i..)?.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b':');
                if limit == "text" && len > limits.max_text_bytes {
                    return Some(start);
                }
                if key {
                    continue;
                }
                count += 1;
            }
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                count += 1;
                i += b
                    .get(i..)?
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
                    .count();
            }
            _ => {
                i += 1;
                continue;
            }
        }
        let over = match limit {
            "depth" => depth > limits.max_depth,
            "elements" => count > limits.max_elements,
            _ => false,
        };
        if over {
            return Some(start);
        }
    }
    None
}

/// The first member name repeated within one object, in document order: the offset of
/// its opening quote, the member's pointer and its name (escapes decoded, as the seeds
/// compare names). Error path only, on a body whose parse the seeds stopped there (the
/// body up to it is well-formed).
fn duplicate_member(b: &[u8]) -> Option<(usize, String, String)> {
    /// An open container: an object's names so far and its current member, or how many
    /// items an array has begun.
    enum Open {
        Object { seen: HashSet<String>, key: String },
        Array { items: usize },
    }
    let mut open: Vec<Open> = Vec::new();
    let mut expect_key = false;
    let mut i = 0usize;
    while let Some(&c) = b.get(i) {
        let starts_value = match c {
            b'"' => !expect_key,
            b'{' | b'[' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => true,
            _ => false,
        };
        if starts_value && let Some(Open::Array { items }) = open.last_mut() {
            *items += 1;
        }
        match c {
            b'"' => {
                let (end, _) = string_end(b, i + 1)?;
                if expect_key {
                    expect_key = false;
                    let name: String = serde_json::from_slice(b.get(i..end)?).ok()?;
                    if matches!(open.last(), Some(Open::Object { seen, .. }) if seen.contains(&name))
                    {
                        let mut pointer = String::new();
                        for o in open.iter().take(open.len() - 1) {
                            pointer.push('/');
                            match o {
                                Open::Object { key, .. } => pointer.push_str(&escape_pointer(key)),
                                Open::Array { items } => {
                                    pointer.push_str(&items.saturating_sub(1).to_string());
                                }
                            }
                        }
                        pointer.push('/');
                        pointer.push_str(&escape_pointer(&name));
                        return Some((i, pointer, name));
                    }
                    if let Some(Open::Object { seen, key }) = open.last_mut() {
                        seen.insert(name.clone());
                        *key = name;
                    }
                }
                i = end;
                continue;
            }
            b'{' => {
                open.push(Open::Object {
                    seen: HashSet::new(),
                    key: String::new(),
                });
                expect_key = true;
            }
            b'[' => open.push(Open::Array { items: 0 }),
            b'}' | b']' => {
                open.pop();
            }
            b',' => expect_key = matches!(open.last(), Some(Open::Object { .. })),
            b'-' | b'0'..=b'9' | b't' | b'f' | b'n' => {
                i += b
                    .get(i..)?
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric() || b"+-.".contains(b))
                    .count();
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The offset after the closing quote of the string whose content starts at `i`, and the
/// length of its decoded UTF-8.
fn string_end(b: &[u8], mut i: usize) -> Option<(usize, usize)> {
    let mut len = 0usize;
    loop {
        match *b.get(i)? {
            b'"' => return Some((i + 1, len)),
            b'\\' if b.get(i + 1) == Some(&b'u') => {
                let hex = std::str::from_utf8(b.get(i + 2..i + 6)?).ok()?;
                let unit = u32::from_str_radix(hex, 16).ok()?;
                // A surrogate pair is four bytes, counted at its high half.
                len += match unit {
                    0..=0x7F => 1,
                    0x80..=0x7FF => 2,
                    0xD800..=0xDBFF => 4,
                    0xDC00..=0xDFFF => 0,
                    _ => 3,
                };
                i += 6;
            }
            b'\\' => {
                len += 1;
                i += 2;
            }
            _ => {
                len += 1;
                i += 1;
            }
        }
    }
}

/// Members an object keeps as a member list, where a repeated name is found by scanning.
/// Past this many the object becomes a map, whose hash index keeps an object with
/// thousands of members linear to decode; real answers have a few dozen at most.
const MAX_LISTED_MEMBERS: usize = 32;

/// Builds a [`Doc`] as `serde_json` builds a `Value`: the same scalars and the same member
/// order, within the [`Budget`], refusing a repeated member name.
#[derive(Clone, Copy)]
struct DocSeed<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for DocSeed<'_> {
    type Value = Doc<'de>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Doc<'de>, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for DocSeed<'_> {
    type Value = Doc<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        Ok(Doc::Json(Value::Bool(v)))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        Ok(Doc::Json(Value::Number(v.into())))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        Ok(Doc::Json(Value::Number(v.into())))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        Ok(Doc::Json(
            Number::from_f64(v).map_or(Value::Null, Value::Number),
        ))
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        self.budget.text(v)?;
        Ok(Doc::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        self.budget.text(v)?;
        Ok(Doc::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        self.budget.text(&v)?;
        Ok(Doc::Text(Cow::Owned(v)))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        Ok(Doc::Json(Value::Null))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Doc<'de>, E> {
        self.budget.value()?;
        Ok(Doc::Json(Value::Null))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Doc<'de>, A::Error> {
        self.budget.container(self.depth)?;
        let item = DocSeed {
            budget: self.budget,
            depth: self.depth + 1,
        };
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(item)? {
            items.push(v);
        }
        // The parser gives no count, so the list grew by doubling: its slack is given back,
        // or a body of many short arrays would hold several slots for every value it has.
        items.shrink_to_fit();
        Ok(Doc::List(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Doc<'de>, A::Error> {
        self.budget.container(self.depth)?;
        let key_seed = KeySeed(self.budget);
        let member = DocSeed {
            budget: self.budget,
            depth: self.depth + 1,
        };
        let mut members: Vec<(Cow<'de, str>, Doc<'de>)> = Vec::new();
        while let Some(key) = map.next_key_seed(key_seed)? {
            if members.len() >= MAX_LISTED_MEMBERS {
                // Too wide to scan for repeated keys: the rest goes to a map, as `Value`.
                let mut object = Map::with_capacity(members.len() + 1);
                for (k, v) in members {
                    object.insert(k.into_owned(), v.into_value());
                }
                let member = ValueSeed {
                    budget: self.budget,
                    depth: self.depth + 1,
                };
                insert_member(&mut object, key.into_owned(), &mut map, self.budget, member)?;
                fill_object(&mut object, &mut map, self.budget, member)?;
                return Ok(Doc::Json(Value::Object(object)));
            }
            // Refused before the value is read, so the first repeated name in document
            // order is the one reported, whatever its value holds.
            if members.iter().any(|(k, _)| *k == key) {
                return Err(self.budget.repeated());
            }
            let value = map.next_value_seed(member)?;
            members.push((key, value));
        }
        members.shrink_to_fit();
        Ok(Doc::Members(members))
    }
}

/// The rest of an object's members, into `object`.
fn fill_object<'de, A: MapAccess<'de>>(
    object: &mut Map<String, Value>,
    map: &mut A,
    budget: &Budget,
    member: ValueSeed<'_>,
) -> Result<(), A::Error> {
    while let Some(key) = map.next_key_seed(KeySeed(budget))? {
        insert_member(object, key.into_owned(), map, budget, member)?;
    }
    Ok(())
}

/// One member into `object`, refused when its name is already there (before its value is
/// read, as [`DocSeed`] refuses it).
fn insert_member<'de, A: MapAccess<'de>>(
    object: &mut Map<String, Value>,
    key: String,
    map: &mut A,
    budget: &Budget,
    member: ValueSeed<'_>,
) -> Result<(), A::Error> {
    match object.entry(key) {
        serde_json::map::Entry::Vacant(slot) => {
            slot.insert(map.next_value_seed(member)?);
            Ok(())
        }
        serde_json::map::Entry::Occupied(_) => Err(budget.repeated()),
    }
}

/// Builds a `Value` as `serde_json` does, within the [`Budget`], refusing a repeated member
/// name.
#[derive(Clone, Copy)]
struct ValueSeed<'b> {
    budget: &'b Budget,
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Value, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any valid JSON value")
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Number(v.into()))
    }

    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Value, E> {
        self.budget.value()?;
        self.budget.text(v)?;
        Ok(Value::String(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Value, E> {
        self.budget.value()?;
        self.budget.text(&v)?;
        Ok(Value::String(v))
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Null)
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<Value, E> {
        self.budget.value()?;
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.budget.container(self.depth)?;
        let item = ValueSeed {
            budget: self.budget,
            depth: self.depth + 1,
        };
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(item)? {
            items.push(v);
        }
        items.shrink_to_fit();
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.budget.container(self.depth)?;
        let member = ValueSeed {
            budget: self.budget,
            depth: self.depth + 1,
        };
        let mut object = Map::new();
        fill_object(&mut object, &mut map, self.budget, member)?;
        Ok(Value::Object(object))
    }
}

/// An object key, borrowed from the body when it holds no escape, and held to the text
/// limit before it is kept.
#[derive(Clone, Copy)]
struct KeySeed<'b>(&'b Budget);

impl<'de> DeserializeSeed<'de> for KeySeed<'_> {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<Cow<'de, str>, D::Error> {
        de.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for KeySeed<'_> {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        self.0.text(v)?;
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        self.0.text(v)?;
        Ok(Cow::Owned(v.to_owned()))
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        self.0.text(&v)?;
        Ok(Cow::Owned(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_valid_json() {
        assert_eq!(
            decode(
                br#"{"a": [1, 2.5, "x", null, true], "b": {}}"#,
                &Limits::default()
            )
            .unwrap(),
            json!({"a": [1, 2.5, "x", null, true], "b": {}})
        );
    }

    #[test]
    fn malformed_has_line_and_column() {
        assert_eq!(
            decode(b"{\n  \"a\": 1,\n  \"b\": }", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                format: "JSON",
                line: 3,
                column: 8,
                message: "expected value at line 3 column 8".into()
            }
        );
        assert!(matches!(
            decode(b"", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                line: 1,
                column: 0,
                ..
            }
        ));
        assert!(matches!(
            decode(b"{} {}", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                line: 1,
                column: 4,
                ..
            }
        ));
    }

    #[test]
    fn the_parsers_own_nesting_limit_is_reported_as_it_is() {
        let loose = Limits {
            max_depth: 1000,
            ..Limits::default()
        };
        let nested = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        assert!(decode(nested(PARSER_MAX_DEPTH).as_bytes(), &loose).is_ok());
        assert_eq!(
            decode(nested(PARSER_MAX_DEPTH + 1).as_bytes(), &loose).unwrap_err(),
            CodecError::Limit {
                limit: "depth",
                max: PARSER_MAX_DEPTH,
                line: 1,
                column: u32::try_from(PARSER_MAX_DEPTH + 1).unwrap()
            }
        );
    }

    #[test]
    fn a_byte_order_mark_is_ignored() {
        assert_eq!(
            decode(b"\xEF\xBB\xBF{\"a\": 1}", &Limits::default()).unwrap(),
            json!({"a": 1})
        );
        assert_eq!(
            decode_doc(b"\xEF\xBB\xBF[\"x\"]", &Limits::default())
                .unwrap()
                .into_value(),
            json!(["x"])
        );
        // Positions count from after the mark, as an editor shows the text.
        assert!(matches!(
            decode(b"\xEF\xBB\xBF{,}", &Limits::default()).unwrap_err(),
            CodecError::Malformed {
                line: 1,
                column: 2,
                ..
            }
        ));
    }

    #[test]
    fn invalid_utf8_is_an_encoding_error() {
        assert_eq!(
            decode(b"{\"a\":\n \"\xff\"}", &Limits::default()).unwrap_err(),
            CodecError::Encoding {
                line: 2,
                column: 3,
                message: "the document is not valid UTF-8".into()
            }
        );
    }

    #[test]
    fn limits_are_enforced() {
        let limits = Limits {
            max_depth: 2,
            max_elements: 4,
            max_attributes: 1,
            max_text_bytes: 3,
            max_name_bytes: 3,
        };
        assert_eq!(
            decode(br#"{"a": [1]}"#, &limits).unwrap(),
            json!({"a": [1]})
        );
        let at = |limit, max, line, column| CodecError::Limit {
            limit,
            max,
            line,
            column,
        };
        assert_eq!(
            decode(b"{\"a\":\n [[1]]}", &limits).unwrap_err(),
            at("depth", 2, 2, 3)
        );
        assert_eq!(
            decode(b"[1, 2,\n 3, 4]", &limits).unwrap_err(),
            at("elements", 4, 2, 5)
        );
        assert_eq!(
            decode(br#"["abc", "ab\u00e9"]"#, &limits).unwrap_err(),
            at("text", 3, 1, 9)
        );
        assert_eq!(
            decode(br#"{"ab": 1, "abcd": 1}"#, &limits).unwrap_err(),
            at("text", 3, 1, 11)
        );
        // Escapes count as what they decode to: four bytes here, one character each.
        assert_eq!(
            decode(br#"["\n\t\"", "\ud83d\ude00"]"#, &limits).unwrap_err(),
            at("text", 3, 1, 12)
        );
    }

    #[test]
    fn deep_nesting_is_refused_without_overflowing() {
        // Past the parser's own nesting limit: the depth limit, where the parser stopped.
        let deep = "[".repeat(100_000);
        assert_eq!(
            decode(deep.as_bytes(), &Limits::default()).unwrap_err(),
            CodecError::Limit {
                limit: "depth",
                max: 64,
                line: 1,
                column: 65
            }
        );
        let nested = format!("{{\"a\":\n{}{}}}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            decode(nested.as_bytes(), &Limits::default()).unwrap_err(),
            CodecError::Limit {
                limit: "depth",
                max: 64,
                line: 2,
                column: 64
            }
        );
    }

    /// `decode_doc` against `decode`: the same value, member order included, or the same
    /// error.
    fn same_as_decode(input: &[u8], limits: &Limits) -> Result<Value, CodecError> {
        let expected = decode(input, limits);
        let doc = decode_doc(input, limits).map(Doc::into_value);
        match (&expected, &doc) {
            (Ok(a), Ok(b)) => assert_eq!(
                serde_json::to_string(a).unwrap(),
                serde_json::to_string(b).unwrap(),
                "{}",
                String::from_utf8_lossy(input)
            ),
            _ => assert_eq!(expected, doc, "{}", String::from_utf8_lossy(input)),
        }
        expected
    }

    #[test]
    fn decode_doc_gives_decodes_value() {
        let limits = Limits::default();
        for input in [
            r#"{"a": [1, 2.5, "x", null, true], "b": {}}"#,
            r#"{"esc\u0061ped": "v\n", "plain": "\u00e9", "a\"b": 1}"#,
            r#"[-0, -1, 18446744073709551615, -9223372036854775808, 1e3, 1.5e-7, 0.1]"#,
            r#"{"n": 123456789012345678901234567890}"#,
            r#""just a string""#,
            "  null ",
            "[[], {}, [{}], {\"\": \"\"}]",
        ] {
            assert!(same_as_decode(input.as_bytes(), &limits).is_ok(), "{input}");
        }
        let v = decode_doc(br#"{"plain": 1, "esc\u0061ped": 2}"#, &limits).unwrap();
        let Doc::Members(members) = &v else {
            panic!("an object is a member list: {v:?}")
        };
        assert!(matches!(members[0].0, Cow::Borrowed("plain")));
        assert!(matches!(&members[1].0, Cow::Owned(k) if k == "escaped"));
    }

    #[test]
    fn decode_doc_keeps_wide_objects_as_decode_does() {
        let limits = Limits::default();
        for n in [31, 32, 33, 5000] {
            let mut body = String::from("{");
            for i in 0..n {
                body.push_str(&format!("\"k{i}\": {i}, "));
            }
            body.push_str("\"last\": \"x\", \"deep\": {\"x\": [1, {\"y\": 2}]}}");
            let v = same_as_decode(body.as_bytes(), &limits).unwrap();
            assert_eq!(v["k0"], json!(0));
            assert_eq!(v["last"], json!("x"));
        }
    }

    // Deliberately changed: a repeated member name used to keep its first place and its
    // last value; it is now refused, since the upstream's parser may take another value.
    #[test]
    fn a_repeated_member_name_is_refused_at_the_repeat_narrow_or_wide() {
        let limits = Limits::default();
        for n in [2, 31, 32, 33, 5000] {
            let mut body = String::from("{\"order\": [0, {\"x\": {");
            for i in 0..n {
                body.push_str(&format!("\n\"k{}\": {i},", i % (n - 1)));
            }
            body.push_str("\"end\": 1}}]}");
            let second = body.match_indices("\"k0\"").nth(1).unwrap().0;
            let line = u32::try_from(body[..second].matches('\n').count() + 1).unwrap();
            assert_eq!(
                same_as_decode(body.as_bytes(), &limits).unwrap_err(),
                CodecError::DuplicateMember {
                    pointer: "/order/1/x/k0".into(),
                    member: "k0".into(),
                    line,
                    column: 1
                },
                "{n}"
            );
        }
        // Names are compared as they decode: an escape does not make a name another.
        assert_eq!(
            same_as_decode(
                br#"[{"a/b": 1}, {"a/b": 1, "a\u002fb": {"x": [[]]}}]"#,
                &limits
            )
            .unwrap_err(),
            CodecError::DuplicateMember {
                pointer: "/1/a~1b".into(),
                member: "a/b".into(),
                line: 1,
                column: 25
            }
        );
        // The first repeat in document order is reported, even when a later value would
        // break a limit.
        let tight = Limits {
            max_depth: 2,
            ..Limits::default()
        };
        assert_eq!(
            same_as_decode(br#"{"a": 1, "a": [[[1]]]}"#, &tight).unwrap_err(),
            CodecError::DuplicateMember {
                pointer: "/a".into(),
                member: "a".into(),
                line: 1,
                column: 10
            }
        );
        // The same name in two objects is no repeat.
        assert_eq!(
            same_as_decode(
                br#"{"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]}"#,
                &limits
            )
            .unwrap(),
            json!({"a": {"a": {"a": 1}}, "b": [{"a": 1}, {"a": 2}]})
        );
    }

    #[test]
    fn decode_doc_errors_as_decode_does() {
        let tight = Limits {
            max_depth: 2,
            max_elements: 4,
            max_attributes: 1,
            max_text_bytes: 3,
            max_name_bytes: 3,
        };
        for input in [
            &b"{\n  \"a\": 1,\n  \"b\": }"[..],
            b"",
            b"{} {}",
            b"{\"a\":\n \"\xff\"}",
            br#"{"a": [[1]]}"#,
            b"[1, 2, 3, 4]",
            br#"["abcd"]"#,
            br#"{"abcd": 1}"#,
            br#"{"a\u0062cd": 1}"#,
            br#"{"a": "x", "b": [[1, 2, 3, "long"]]}"#,
            br#"[1e400]"#,
            br#"{"a" 1}"#,
            br#"{1: 2}"#,
        ] {
            let _ = same_as_decode(input, &tight);
            let _ = same_as_decode(input, &Limits::default());
        }
        let deep = "[".repeat(100_000);
        assert!(matches!(
            same_as_decode(deep.as_bytes(), &Limits::default()).unwrap_err(),
            CodecError::Limit { limit: "depth", .. }
        ));
        let nested = format!("{}{}", "[".repeat(100), "]".repeat(100));
        assert_eq!(
            same_as_decode(nested.as_bytes(), &Limits::default()).unwrap_err(),
            CodecError::Limit {
                limit: "depth",
                max: 64,
                line: 1,
                column: 65
            }
        );
    }

    /// The limits checked on a parsed value, in document order, as the seeds meet them:
    /// the name of the first limit exceeded.
    fn first_limit(
        v: &Value,
        depth: usize,
        limits: &Limits,
        count: &mut usize,
    ) -> Option<&'static str> {
        *count += 1;
        if *count > limits.max_elements {
            return Some("elements");
        }
        match v {
            Value::String(s) if s.len() > limits.max_text_bytes => Some("text"),
            Value::Array(_) | Value::Object(_) if depth >= limits.max_depth => Some("depth"),
            Value::Array(items) => items
                .iter()
                .find_map(|item| first_limit(item, depth + 1, limits, count)),
            Value::Object(map) => map.iter().find_map(|(k, item)| {
                if k.len() > limits.max_text_bytes {
                    return Some("text");
                }
                first_limit(item, depth + 1, limits, count)
            }),
            _ => None,
        }
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        fn any_json() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::Bool),
                any::<i64>().prop_map(|i| json!(i)),
                any::<f64>().prop_map(|f| json!(f)),
                "[a-c\"\\\\\n]{0,6}".prop_map(Value::String),
            ];
            leaf.prop_recursive(5, 60, 8, |inner| {
                prop_oneof![
                    proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                    proptest::collection::vec(("[a-c\"]{0,2}", inner), 0..8)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        proptest! {
            #[test]
            fn decode_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
                let _ = decode(&bytes, &Limits::default());
            }

            #[test]
            fn decode_never_panics_on_jsonish_text(text in "[\\[\\]{}\",:0-9a-z .eE+-]{0,200}") {
                let _ = decode(text.as_bytes(), &Limits::default());
            }

            #[test]
            fn decode_doc_is_decode(text in "[\\[\\]{}\",:0-3a-c\\\\u .eE+-]{0,120}") {
                let tight = Limits { max_depth: 3, max_elements: 12, max_attributes: 1, max_text_bytes: 4, max_name_bytes: 4 };
                let _ = same_as_decode(text.as_bytes(), &tight);
                let _ = same_as_decode(text.as_bytes(), &Limits::default());
            }

            #[test]
            fn decode_doc_is_decode_on_values(v in any_json()) {
                let text = serde_json::to_string(&v).unwrap();
                let tight = Limits { max_depth: 3, max_elements: 12, max_attributes: 1, max_text_bytes: 4, max_name_bytes: 4 };
                let met = match same_as_decode(text.as_bytes(), &tight) {
                    Err(CodecError::Limit { limit, .. }) => Some(limit),
                    Err(e) => panic!("{e}"),
                    Ok(_) => None,
                };
                prop_assert_eq!(met, first_limit(&v, 0, &tight, &mut 0));
                prop_assert!(same_as_decode(text.as_bytes(), &Limits::default()).is_ok());
            }
        }
    }
}
