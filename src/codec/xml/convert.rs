//! Element text and attribute values to the JSON scalars the schema asks for.

use super::*;

/// The scalar types text may be converted to.
pub(super) const CONVERTIBLE: TypeSet =
    TypeSet(TypeSet::INTEGER.0 | TypeSet::NUMBER.0 | TypeSet::BOOLEAN.0);

/// Converts element text or an attribute value as the schema's types say (None: the
/// schema does not describe it, so it stays text). Text stays borrowed from the body
/// wherever it was found whole.
///
/// Where the schema admits a string beside integer, number or boolean, text becomes the
/// other type only when it is that type's canonical spelling (see [`convert_canonical`]);
/// any other text is the string it is.
pub(super) fn convert(types: Option<TypeSet>, text: Cow<'_, str>) -> Doc<'_> {
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
pub(super) fn convert_canonical(types: TypeSet, text: &str) -> Option<Value> {
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
pub(super) fn parse_integer(s: &str) -> Option<Number> {
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
pub(super) fn parse_decimal(s: &str) -> Option<Number> {
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
