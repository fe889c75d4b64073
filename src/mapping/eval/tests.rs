use serde_json::{Value, json};

use crate::mapping::MapError;
use crate::mapping::test_support::run;

fn ok(map: &str, source: Value) -> Value {
    match run(map, &source) {
        Ok(v) => v,
        Err(e) => panic!("mapping failed: {e}"),
    }
}

fn err(map: &str, source: Value) -> MapError {
    match run(map, &source) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn paths_attributes_text_and_array_indexes() {
    let src = json!({"Order": {"@id": "A-1", "Total": {"@currency": "EUR", "#text": "9.50"},
        "Items": {"Item": [{"Sku": "X"}, {"Sku": "Y"}]}}});
    assert_eq!(
        ok(
            "id: /Order/@id\ntotal: /Order/Total/#text\nsecond: /Order/Items/Item/1/Sku\ngone: /Order/Nope",
            src
        ),
        json!({"id": "A-1", "total": "9.50", "second": "Y"})
    );
}

#[test]
fn dotted_keys_nest_and_merge_in_written_order() {
    assert_eq!(
        ok(
            "shipping.speed: /s\nshipping:\n  address.city: /c\nz: /s",
            json!({"s": "X", "c": "Berlin"})
        ),
        json!({"shipping": {"speed": "X", "address": {"city": "Berlin"}}, "z": "X"})
    );
}

#[test]
fn empty_nested_objects_are_omitted() {
    assert_eq!(
        ok("a:\n  b: /missing\nc: { const: 1 }", json!({})),
        json!({"c": 1})
    );
}

#[test]
fn const_and_context_sources() {
    assert_eq!(
        ok(
            "k: { const: {x: [1, true]} }\nid: $path.id\npage: $query.page\nt: $header.x-tenant\n\
             org: $claims.org.id\np: $partner\nc: $correlation_id\ncur: $request/Order/@currency\n\
             h: $header.x-absent",
            json!({})
        ),
        json!({"k": {"x": [1, true]}, "id": "A-1", "page": "2", "t": "t-9", "org": 42,
            "p": "acme", "c": "c-1", "cur": "EUR"})
    );
}

#[test]
fn missing_and_null_handling() {
    let map = "a: { from: /m, default: d }\nb: { from: /m, on_missing: null }\nc: { from: /m }\n\
               d: { from: /n }\ne: { from: /n, on_null: omit }\nf: { from: /n, on_null: default, default: 0 }\n\
               g: { from: /n, default: 0 }";
    assert_eq!(
        ok(map, json!({"n": null})),
        json!({"a": "d", "b": null, "d": null, "f": 0, "g": null})
    );
    assert_eq!(
        err(
            "a: { from: /Order/Id, on_missing: error }",
            json!({"Order": {}})
        ),
        MapError {
            target: "/a".into(),
            input: Some("/Order/Id".into()),
            message: "required source is missing".into()
        }
    );
}

#[test]
fn string_functions_and_templates() {
    let map = "e: { from: /e, apply: [trim, lowercase] }\nu: { from: /e, apply: [trim_start, uppercase] }\n\
               r: { from: /p, apply: [{ replace: { from: \" \", to: \"-\" } }, { truncate: 5 }] }\n\
               full: { template: \"{/first} {/last} ({{x}})\" }\nmiss: { template: \"{/first} {/none}\" }\n\
               num: { template: \"#{/n}/{/b}\" }";
    assert_eq!(
        ok(
            map,
            json!({"e": "  Ann@X.COM ", "p": "a b c d", "first": "Jane", "last": "Doe", "n": 1.5, "b": true})
        ),
        json!({"e": "ann@x.com", "u": "ANN@X.COM ", "r": "a-b-c", "full": "Jane Doe ({x})", "num": "#1.5/true"})
    );
}

#[test]
fn integral_doubles_are_written_as_integers_everywhere_text_is_made() {
    // 1e3 decoded as a number is the double 1000.0: its text is "1000", as the XML
    // encoder writes it, in `as: string`, templates, string functions and lookups.
    let map = "s: { from: /n, as: string }\nt: { template: \"qty={/n}\" }\n\
               u: { from: /n, apply: [uppercase] }\n\
               l: { from: /c, lookup: { \"1\": OPEN }, fallback: UNKNOWN }\n\
               z: { from: /z, as: string }\nf: { from: /f, as: string }";
    assert_eq!(
        ok(map, json!({"n": 1e3, "c": 1.0, "z": -0.0, "f": 0.1})),
        json!({"s": "1000", "t": "qty=1000", "u": "1000", "l": "OPEN", "z": "0", "f": "0.1"})
    );
}

#[test]
fn lookup_with_fallback_and_miss() {
    let map = "s: { from: /p, apply: [lowercase], lookup: { standard: STANDARD, express: EXPRESS } }\n\
               f: { from: /q, lookup: { a: 1 }, fallback: 0 }";
    assert_eq!(
        ok(map, json!({"p": "Express", "q": "zz"})),
        json!({"s": "EXPRESS", "f": 0})
    );
    assert_eq!(
        err(map, json!({"p": "overnight"})),
        MapError {
            target: "/s".into(),
            input: Some("/p".into()),
            message: "no lookup entry for \"overnight\"; known: standard, express".into()
        }
    );
}

#[test]
fn conversions() {
    let map = "i: { from: /i, as: integer }\nn: { from: /n, as: number }\nd: { from: /d, as: decimal }\n\
               b: { from: /b, as: boolean }\ns: { from: /s, as: string }\nf: { from: /f, as: string, scale: 2 }\n\
               ff: { from: /ff, as: string, scale: 2 }\nhe: { from: /he, as: string, scale: 2, rounding: half_even }\n\
               hu: { from: /he, as: string, scale: 2 }\ndn: { from: /he, as: decimal, scale: 1, rounding: down }\n\
               fi: { from: /fi, as: integer }";
    let src = json!({"i": "250", "n": "0.1", "d": "42.00", "b": "1", "s": 5, "f": 1343.6,
        "ff": "7", "he": "0.125", "fi": 3.0});
    assert_eq!(
        ok(map, src),
        json!({"i": 250, "n": 0.1, "d": 42.0, "b": true, "s": "5", "f": "1343.60", "ff": "7.00",
            "he": "0.12", "hu": "0.13", "dn": 0.1, "fi": 3})
    );
}

#[test]
fn money_that_a_double_cannot_hold_is_an_error() {
    assert_eq!(
        err(
            "d: { from: /d, as: decimal }",
            json!({"d": "0.12345678901234567891"})
        ),
        MapError {
            target: "/d".into(),
            input: Some("/d".into()),
            message: "0.12345678901234567891 cannot be written as a JSON number without rounding; \
                      map it to a string target (`as: string` with `scale`)"
                .into()
        }
    );
    assert_eq!(
        ok(
            "s: { from: /d, as: string, scale: 20 }",
            json!({"d": "0.12345678901234567891"})
        ),
        json!({"s": "0.12345678901234567891"})
    );
    assert_eq!(
        err(
            "s: { from: /d, as: string, scale: 5 }",
            json!({"d": "12345678901234567890123456"})
        )
        .message,
        "12345678901234567890123456 is too large to write with 5 decimals"
    );
    assert_eq!(
        err(
            "s: { from: /d, as: string, scale: 2 }",
            json!({"d": "1_000"})
        )
        .message,
        "\"1_000\" is not a decimal number"
    );
}

#[test]
fn json_numbers_with_more_digits_than_a_double_holds_are_not_taken_as_money() {
    let map = "a: { from: /a, as: string, scale: 2 }\nb: { from: /b, as: string, scale: 2 }";
    // 15 significant digits or fewer: exact; integers are exact as they are.
    assert_eq!(
        ok(
            map,
            json!({"a": 1234567890123.45, "b": 9007199254740993_u64})
        ),
        json!({"a": "1234567890123.45", "b": "9007199254740993.00"})
    );
    // 90071992547409.93 is held as the double nearest to it, which reads back as
    // ...409.94: refused, not rounded.
    assert_eq!(
        err(map, json!({"a": 90071992547409.93, "b": 1})),
        MapError {
            target: "/a".into(),
            input: Some("/a".into()),
            message: "90071992547409.94 has more significant digits than a JSON number carries exactly (15); it may already be rounded: send it as a string".into()
        }
    );
    assert_eq!(
        err(map, json!({"a": "1", "b": 1.2345678901234568e20})).message,
        "1.2345678901234568e+20 has more significant digits than a JSON number carries exactly (15); it may already be rounded: send it as a string"
    );
}

#[test]
fn conversion_failures_name_both_pointers() {
    let map = "lines:\n  each: /Order/Items/Item\n  map:\n    qty: { from: Qty, as: integer }";
    let src = json!({"Order": {"Items": {"Item": [{"Qty": "1"}, {"Qty": "ten"}]}}});
    assert_eq!(
        err(map, src),
        MapError {
            target: "/lines/1/qty".into(),
            input: Some("/Order/Items/Item/1/Qty".into()),
            message: "\"ten\" is not an integer".into()
        }
    );
    assert_eq!(
        err("b: { from: /b, as: boolean }", json!({"b": "yes"})).message,
        "\"yes\" is not a boolean"
    );
    assert_eq!(
        err("n: { from: /n, as: number }", json!({"n": "1,5"})).message,
        "\"1,5\" is not a number"
    );
}

#[test]
fn dates() {
    let map = "a: { from: /a, date: { from: \"%d.%m.%Y\", to: \"%Y-%m-%d\" } }\n\
               b: { from: /b, date: { from: rfc3339, to: \"%d/%m/%Y %H:%M\" } }\n\
               c: { from: /c, date: { from: \"%Y-%m-%d %H:%M:%S %z\", to: rfc3339 } }";
    assert_eq!(
        ok(
            map,
            json!({"a": "24.11.2026", "b": "2026-11-24T09:15:30+01:00", "c": "2026-11-24 09:15:30 +0000"})
        ),
        json!({"a": "2026-11-24", "b": "24/11/2026 09:15", "c": "2026-11-24T09:15:30Z"})
    );
    assert_eq!(
        err(
            "a: { from: /a, date: { from: \"%d.%m.%Y\", to: rfc3339 } }",
            json!({"a": "24.11.2026"})
        )
        .message,
        "`24.11.2026` lacks fields the output format `rfc3339` needs (a time or a time zone)"
    );
    assert_eq!(
        err(
            "a: { from: /a, date: { from: rfc3339, to: \"%Y\" } }",
            json!({"a": "yesterday"})
        )
        .message,
        "`yesterday` does not match the date format"
    );
}

#[test]
fn each_with_filter_index_and_scalar_items() {
    let map = "lines:\n  each: /items\n  filter: { path: qty, not_equals: 0 }\n  map:\n    n: $index\n    pos: $position\n    sku: sku\n\
               skus:\n  each: /items\n  item: { from: sku, apply: [lowercase] }\n\
               tags:\n  each: /tags\n  item: .\n\
               grid:\n  each: /grid\n  item:\n    each: .\n    item: { from: ., as: string }";
    let src = json!({"items": [{"sku": "A", "qty": 1}, {"sku": "B", "qty": 0}, {"sku": "C", "qty": 2}],
        "tags": ["x", "y"], "grid": [[1, 2], [3]]});
    assert_eq!(
        ok(map, src),
        json!({"lines": [{"n": 0, "pos": 1, "sku": "A"}, {"n": 2, "pos": 3, "sku": "C"}],
            "skus": ["a", "b", "c"], "tags": ["x", "y"], "grid": [["1", "2"], ["3"]]})
    );
}

#[test]
fn each_absence_and_wrong_type() {
    assert_eq!(
        ok(
            "l: { each: /none, item: . }\nm: { each: /none, item: ., default: [] }",
            json!({})
        ),
        json!({"m": []})
    );
    assert_eq!(
        err("l: { each: /o, item: . }", json!({"o": {"a": 1}})),
        MapError {
            target: "/l".into(),
            input: Some("/o".into()),
            message: "`each` expects an array".into()
        }
    );
}

#[test]
fn conditions() {
    let map = "a: { const: 1, when: { exists: /x } }\nb: { const: 2, when: { missing: /x } }\n\
               c: { const: 3, when: { path: /p, equals: express } }\nd: { const: 4, when: { path: /p, in: [a, express] } }\n\
               e: { const: 5, when: { path: /p, matches: \"^ex\" } }\nf: { const: 6, when: { not: { exists: /p } } }\n\
               g: { const: 7, when: { all: [{ exists: /p }, { path: /n, equals: 3 }] } }\n\
               h: { const: 8, when: { any: [{ exists: /zz }, { path: /n, not_equals: 3 }] } }\n\
               i: { from: /p, when: { exists: /x } }";
    assert_eq!(
        ok(map, json!({"x": null, "p": "express", "n": 3})),
        json!({"a": 1, "c": 3, "d": 4, "e": 5, "g": 7, "i": "express"})
    );
    // Numbers compare by value, as JSON means them: 3.0 is 3.
    assert_eq!(
        ok(map, json!({"p": "x", "n": 3.0})),
        json!({"b": 2, "g": 7})
    );
    let list = "k: { const: 1, when: { path: /n, in: [1.0, 2] } }\n\
                l: { const: 2, when: { path: /v, equals: [1, {\"a\": 2.0}] } }";
    assert_eq!(
        ok(list, json!({"n": 1, "v": [1.0, {"a": 2}]})),
        json!({"k": 1, "l": 2})
    );
}

mod robustness {
    use proptest::prelude::*;
    use serde_json::{Map, Value};

    use crate::mapping::test_support::run;

    /// Every construct at once, so arbitrary input reaches every step.
    const ALL: &str = "a: { from: /a, apply: [trim, uppercase, { truncate: 3 }] }\n\
        b: { from: /b, lookup: { x: 1 }, fallback: 0 }\n\
        c: { from: /c, as: decimal, scale: 2 }\n\
        d: { from: /d, as: string, scale: 3, rounding: half_even }\n\
        e: { from: /e, as: integer }\n\
        f: { from: /f, as: boolean }\n\
        g: { from: /g, date: { from: rfc3339, to: \"%d.%m.%Y\" } }\n\
        h: { template: \"{/a}-{/b}\" }\n\
        i:\n  each: /i\n  filter: { path: k, matches: \"^[a-z]\" }\n  map:\n    k: { from: k, as: number }\n    n: $index\n\
        j: { from: /j/0/x, when: { any: [{ exists: /a }, { path: /b, in: [1, x] }] } }";

    fn json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            "[ -~]{0,12}".prop_map(Value::String),
            "-?[0-9]{1,30}(\\.[0-9]{0,30})?".prop_map(Value::String),
            Just(Value::String("2026-11-24T09:15:30Z".into())),
        ];
        leaf.prop_recursive(4, 32, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec(("[a-k]", inner), 0..6)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map<_, _>>())),
            ]
        })
    }

    proptest! {
        /// The short decimal parser agrees with the general one, digit for digit.
        #[test]
        fn short_decimals_parse_like_the_general_parser(s in "-?[0-9]{1,20}(\\.[0-9]{0,20})?") {
            if let Some(short) = super::super::number::parse_short_decimal(&s) {
                let general = super::super::number::parse_any_decimal(&s);
                prop_assert_eq!(Some((short.mantissa(), short.scale(), short.is_sign_negative())),
                    general.map(|g| (g.mantissa(), g.scale(), g.is_sign_negative())));
            }
        }

        /// The fast number conversion gives the same number as the text round trip.
        #[test]
        fn short_numbers_convert_like_the_text_round_trip(m in -999_999_999_999_999i64..=999_999_999_999_999, scale in 0u32..=22) {
            let d = rust_decimal::Decimal::new(m, scale);
            let fast = super::super::number::short_number(d).map(Value::Number);
            let slow = super::super::number::exact_number_by_text(d).ok();
            prop_assert!(fast.is_some());
            prop_assert_eq!(fast, slow);
        }

        /// The inline conversions give the general conversion's value, to the byte.
        #[test]
        fn fast_conversions_convert_like_the_general_ones(
            v in prop_oneof![
                "-?[0-9]{0,20}(\\.[0-9]{0,20})?".prop_map(Value::String),
                "[ -~]{0,8}".prop_map(Value::String),
                any::<i64>().prop_map(Value::from),
                any::<u64>().prop_map(Value::from),
                any::<f64>().prop_map(Value::from),
            ]
        ) {
            use crate::mapping::compile::Convert;
            use crate::mapping::syntax::{Conversion, Rounding};
            let cases = [
                (Conversion::Integer, super::super::number::fast_integer(&v)),
                (Conversion::Decimal, super::super::number::fast_decimal(&v)),
            ];
            for (to, fast) in cases {
                if let Some(f) = fast {
                    let c = Convert { to, scale: None, rounding: Rounding::HalfUp };
                    let general = super::super::number::convert(&c, &v).map_err(|e| e.0);
                    prop_assert_eq!(Ok(f.to_string()), general.map(|g| g.to_string()));
                }
            }
        }

        /// Hostile or odd input maps or fails with an error; it never panics.
        #[test]
        fn arbitrary_documents_never_panic(doc in json()) {
            let _ = run(ALL, &doc);
        }
    }
}
