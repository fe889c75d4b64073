//! Simple types: the built-in types of XML Schema in the view, and restriction facets.
//!
//! A simple type becomes a scalar schema: integers with their type's bounds, decimals as
//! strings with a pattern written from their digit facets (money stays exact), dates and
//! times as strings with their lexical pattern. Facets the view cannot check (bounds on a
//! decimal kept as a string, patterns with no ECMA form) come back to the caller to report.

use serde_json::{Map, Value, json};

use super::model::Node;
use super::pattern;

/// A simple type being derived: its schema, plus the facets of a decimal, whose pattern is
/// written once all of them are known.
#[derive(Clone)]
pub(super) struct Simple {
    pub(super) schema: Map<String, Value>,
    pub(super) decimal: Option<Decimal>,
}

/// The facets of an `xs:decimal` that its pattern is written from.
#[derive(Clone, Default)]
pub(super) struct Decimal {
    pub(super) total: Option<u32>,
    pub(super) fraction: Option<u32>,
    pub(super) unsigned: bool,
}

/// Applies the facets of restriction `r` to `s`; returns what cannot be checked, each with
/// the facet it is about.
pub(super) fn apply_facets<'n>(r: &'n Node, s: &mut Simple) -> Vec<(&'n Node, String)> {
    let mut warnings = Vec::new();
    let ty = s
        .schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
        .to_string();
    let enums: Vec<Value> = r
        .children_of("enumeration")
        .filter_map(|e| convert(&ty, e.attr("value").unwrap_or_default()))
        .collect();
    if !enums.is_empty() {
        s.schema.insert("enum".into(), Value::Array(enums));
    }
    let patterns: Vec<&str> = r
        .children_of("pattern")
        .filter_map(|p| p.attr("value"))
        .collect();
    if !patterns.is_empty() {
        let xsd = if patterns.len() == 1 {
            patterns[0].to_string()
        } else {
            patterns
                .iter()
                .map(|p| format!("({p})"))
                .collect::<Vec<_>>()
                .join("|")
        };
        match pattern::to_json(&xsd) {
            Ok(p) => match s.schema.get("pattern") {
                Some(old) => {
                    let old = old.clone();
                    let all = s.schema.entry("allOf").or_insert_with(|| json!([]));
                    if let Value::Array(a) = all {
                        a.push(json!({ "pattern": old }));
                    }
                    s.schema.insert("pattern".into(), json!(p));
                }
                None => {
                    s.schema.insert("pattern".into(), json!(p));
                }
            },
            Err(why) => {
                let p = r.child("pattern").unwrap_or(r);
                warnings.push((p, format!("pattern {xsd:?} is not checked: {why}")));
            }
        }
    }
    for facet in &r.children {
        let v = facet.attr("value").unwrap_or_default().trim();
        let n: Option<u64> = v.parse().ok();
        match facet.kind.as_str() {
            "length" => {
                s.schema.insert("minLength".into(), json!(n));
                s.schema.insert("maxLength".into(), json!(n));
            }
            "minLength" => {
                s.schema.insert("minLength".into(), json!(n));
            }
            "maxLength" => {
                s.schema.insert("maxLength".into(), json!(n));
            }
            "totalDigits" | "fractionDigits" => {
                let digits = v.parse::<u32>().ok();
                if let Some(d) = &mut s.decimal {
                    if facet.kind == "totalDigits" {
                        d.total = digits;
                    } else {
                        d.fraction = digits;
                    }
                } else if facet.kind == "totalDigits"
                    && ty == "integer"
                    && let Some(limit) = digits.filter(|&t| t <= 18).map(|t| 10i64.pow(t) - 1)
                {
                    {
                        tighten(&mut s.schema, "maximum", json!(limit), true);
                        tighten(&mut s.schema, "minimum", json!(-limit), false);
                    }
                }
            }
            "minInclusive" | "maxInclusive" | "minExclusive" | "maxExclusive" => {
                let key = match facet.kind.as_str() {
                    "minInclusive" => "minimum",
                    "maxInclusive" => "maximum",
                    "minExclusive" => "exclusiveMinimum",
                    _ => "exclusiveMaximum",
                };
                if let Some(d) = &mut s.decimal {
                    let zero = v
                        .trim_start_matches('+')
                        .trim_start_matches('0')
                        .trim_start_matches('.')
                        .trim_start_matches('0')
                        .is_empty();
                    if facet.kind == "minInclusive" && zero {
                        d.unsigned = true;
                    } else {
                        let message = format!(
                            "{}={v} is not checked: decimals stay strings in the view, so the mapping must check the bound",
                            facet.kind
                        );
                        warnings.push((facet, message));
                        if facet.kind.starts_with("min") && !v.starts_with('-') {
                            d.unsigned = true;
                        }
                    }
                } else if let Some(c) = convert(&ty, v).filter(|c| c.is_number()) {
                    tighten(&mut s.schema, key, c, key.contains("max"));
                } else {
                    let message = format!(
                        "{}={v} is not checked: the value is a string in the view",
                        facet.kind
                    );
                    warnings.push((facet, message));
                }
            }
            "assertion" | "assert" | "explicitTimezone" => {
                warnings.push((facet, format!("xs:{} is not supported", facet.kind)));
            }
            _ => {}
        }
    }
    warnings
}

/// Keeps the tighter of an existing bound and a new one.
pub(super) fn tighten(schema: &mut Map<String, Value>, key: &str, value: Value, upper: bool) {
    let new = value.as_f64();
    let keep_old = match (schema.get(key).and_then(Value::as_f64), new) {
        (Some(old), Some(new)) => (upper && old <= new) || (!upper && old >= new),
        _ => false,
    };
    if !keep_old {
        schema.insert(key.into(), value);
    }
}

/// A facet or default value written for a type of JSON type `ty`.
pub(super) fn convert(ty: &str, v: &str) -> Option<Value> {
    let t = v.trim();
    Some(match ty {
        "integer" => {
            if let Ok(i) = t.trim_start_matches('+').parse::<i64>() {
                json!(i)
            } else if let Ok(u) = t.trim_start_matches('+').parse::<u64>() {
                json!(u)
            } else {
                return None;
            }
        }
        "number" => json!(t.parse::<f64>().ok().filter(|f| f.is_finite())?),
        "boolean" => json!(matches!(t, "true" | "1")),
        _ => json!(v),
    })
}

pub(super) fn string() -> Simple {
    let mut schema = Map::new();
    schema.insert("type".into(), json!("string"));
    Simple {
        schema,
        decimal: None,
    }
}

pub(super) fn with(ty: &str, extra: Value) -> Simple {
    let mut schema = Map::new();
    schema.insert("type".into(), json!(ty));
    if let Value::Object(e) = extra {
        schema.extend(e);
    }
    Simple {
        schema,
        decimal: None,
    }
}

pub(super) fn integer(min: Option<i128>, max: Option<i128>) -> Simple {
    let mut s = with("integer", json!({}));
    let num = |v: i128| {
        i64::try_from(v)
            .map(Value::from)
            .or_else(|_| u64::try_from(v).map(Value::from))
            .unwrap_or(Value::Null)
    };
    if let Some(m) = min {
        s.schema.insert("minimum".into(), num(m));
    }
    if let Some(m) = max {
        s.schema.insert("maximum".into(), num(m));
    }
    s
}

/// The view of a built-in type of XML Schema; None for `anyType`.
pub(super) fn builtin(local: &str) -> Option<Simple> {
    const DATE: &str = "-?[0-9]{4,}-[0-9]{2}-[0-9]{2}";
    const TIME: &str = "[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?";
    const ZONE: &str = "(Z|[+-][0-9]{2}:[0-9]{2})?";
    let pattern = |p: String| with("string", json!({ "pattern": format!("^{p}$") }));
    Some(match local {
        "string" | "normalizedString" | "token" | "Name" | "NCName" | "ID" | "IDREF" | "IDREFS"
        | "ENTITY" | "ENTITIES" | "NMTOKEN" | "NMTOKENS" | "anyURI" | "QName" | "NOTATION"
        | "duration" | "gYearMonth" | "gYear" | "gMonthDay" | "gDay" | "gMonth"
        | "anySimpleType" => string(),
        "language" => pattern("[a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*".into()),
        "hexBinary" => pattern("([0-9a-fA-F]{2})*".into()),
        "base64Binary" => with(
            "string",
            json!({ "contentEncoding": "base64", "pattern": "^[A-Za-z0-9+/=\\s]*$" }),
        ),
        "date" => pattern(format!("{DATE}{ZONE}")),
        "dateTime" => pattern(format!("{DATE}T{TIME}{ZONE}")),
        "time" => pattern(format!("{TIME}{ZONE}")),
        "decimal" => Simple {
            schema: string().schema,
            decimal: Some(Decimal::default()),
        },
        "float" | "double" => with("number", json!({})),
        "boolean" => with("boolean", json!({})),
        "integer" => integer(None, None),
        "long" => integer(Some(i64::MIN.into()), Some(i64::MAX.into())),
        "int" => integer(Some(i32::MIN.into()), Some(i32::MAX.into())),
        "short" => integer(Some(i16::MIN.into()), Some(i16::MAX.into())),
        "byte" => integer(Some(i8::MIN.into()), Some(i8::MAX.into())),
        "nonNegativeInteger" => integer(Some(0), None),
        "positiveInteger" => integer(Some(1), None),
        "nonPositiveInteger" => integer(None, Some(0)),
        "negativeInteger" => integer(None, Some(-1)),
        "unsignedLong" => integer(Some(0), Some(u64::MAX.into())),
        "unsignedInt" => integer(Some(0), Some(u32::MAX.into())),
        "unsignedShort" => integer(Some(0), Some(u16::MAX.into())),
        "unsignedByte" => integer(Some(0), Some(u8::MAX.into())),
        _ => return None,
    })
}

/// The schema of a derived simple type; a decimal gets its pattern from its facets.
pub(super) fn finish_simple(s: Simple) -> Value {
    let mut schema = s.schema;
    if let Some(d) = s.decimal
        && !schema.contains_key("enum")
    {
        schema.insert("pattern".into(), json!(decimal_pattern(&d)));
    }
    Value::Object(schema)
}

/// The pattern of a decimal's lexical space within its digit facets. `totalDigits` is
/// spelt out as one alternative per split of the digits between integer and fraction.
pub(super) fn decimal_pattern(d: &Decimal) -> String {
    let sign = if d.unsigned { "\\+?" } else { "[+-]?" };
    let frac_max = d.fraction;
    let body = match d.total {
        None => match frac_max {
            Some(0) => "[0-9]+".to_string(),
            Some(f) => format!("([0-9]+(\\.[0-9]{{0,{f}}})?|\\.[0-9]{{1,{f}}})"),
            None => "([0-9]+(\\.[0-9]*)?|\\.[0-9]+)".to_string(),
        },
        Some(t) => {
            let f = frac_max.unwrap_or(t).min(t);
            let alts: Vec<String> = (0..=f)
                .map(|k| {
                    let int = t - k;
                    if k == 0 {
                        format!("[0-9]{{1,{int}}}\\.?")
                    } else if int == 0 {
                        format!("0?\\.[0-9]{{{k}}}")
                    } else {
                        format!("[0-9]{{0,{int}}}\\.[0-9]{{{k}}}")
                    }
                })
                .collect();
            format!("0*({})", alts.join("|"))
        }
    };
    format!("^{sign}{body}$")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(d: &Decimal, text: &str) -> bool {
        regex::Regex::new(&decimal_pattern(d))
            .unwrap()
            .is_match(text)
    }

    #[test]
    fn decimal_patterns_follow_the_digit_facets() {
        let money = Decimal {
            total: Some(6),
            fraction: Some(2),
            unsigned: true,
        };
        for ok in [
            "0", "1234.56", "9999.99", "123456", "12345.6", ".5", "007.50", "+1.5",
        ] {
            assert!(matches(&money, ok), "{ok}");
        }
        for bad in ["-1", "1234567", "1.234", "12345.67", "1e3", " 1", "", "."] {
            assert!(!matches(&money, bad), "{bad}");
        }
        let any = Decimal::default();
        for ok in ["-12.5", "+3", "4.", ".25", "0.000001"] {
            assert!(matches(&any, ok), "{ok}");
        }
        for bad in ["1,5", "--1", "1.2.3", "NaN"] {
            assert!(!matches(&any, bad), "{bad}");
        }
    }

    #[test]
    fn built_in_integers_carry_their_bounds() {
        let bounds = |t: &str| {
            let s = finish_simple(builtin(t).unwrap());
            (
                s["type"].clone(),
                s.get("minimum").cloned(),
                s.get("maximum").cloned(),
            )
        };
        assert_eq!(
            bounds("unsignedLong"),
            (json!("integer"), Some(json!(0)), Some(json!(u64::MAX)))
        );
        assert_eq!(
            bounds("byte"),
            (json!("integer"), Some(json!(-128)), Some(json!(127)))
        );
        assert_eq!(
            bounds("positiveInteger"),
            (json!("integer"), Some(json!(1)), None)
        );
        assert_eq!(bounds("integer"), (json!("integer"), None, None));
        assert_eq!(
            finish_simple(builtin("boolean").unwrap()),
            json!({"type": "boolean"})
        );
        assert!(builtin("anyType").is_none());
    }

    #[test]
    fn facet_values_convert_to_the_type() {
        assert_eq!(convert("integer", " +42 "), Some(json!(42)));
        assert_eq!(
            convert("integer", "18446744073709551615"),
            Some(json!(u64::MAX))
        );
        assert_eq!(convert("integer", "4.5"), None);
        assert_eq!(convert("number", "INF"), None);
        assert_eq!(convert("boolean", "1"), Some(json!(true)));
        assert_eq!(convert("string", " a "), Some(json!(" a ")));
    }
}
