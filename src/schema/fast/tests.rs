use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use proptest::prelude::*;
use serde_json::json;

use super::super::{Schema, SchemaRegistry};
use super::*;
use crate::view::Doc;

fn compile_with(doc: Value, others: &[(&str, Value)]) -> Schema {
    let others: BTreeMap<String, Arc<Value>> = others
        .iter()
        .map(|(n, d)| ((*n).to_string(), Arc::new(d.clone())))
        .collect();
    Schema::compile(
        "t/main.json",
        Path::new("/schemas/t/main.json"),
        doc,
        &others,
    )
    .unwrap()
}

fn compile(doc: Value) -> Schema {
    compile_with(doc, &[])
}

/// A `Doc` standing for `v`: containers as member lists and item lists, strings as
/// text, except where `keep(depth)` says to hold a subtree or string as a plain value.
fn doc_of(v: &Value, keep: &mut dyn FnMut() -> bool) -> Doc<'static> {
    match v {
        Value::Array(items) if !keep() => {
            Doc::List(items.iter().map(|i| doc_of(i, keep)).collect())
        }
        Value::Object(map) if !keep() => Doc::Members(
            map.iter()
                .map(|(k, v)| (Cow::Owned(k.clone()), doc_of(v, keep)))
                .collect(),
        ),
        Value::String(s) if !keep() => Doc::Text(Cow::Owned(s.clone())),
        other => Doc::Json(other.clone()),
    }
}

/// The fast verdict on `v`, after checking that it agrees with `jsonschema` (when
/// given) and that a `Doc` of the same value gets the same one.
fn verdict(schema: &Schema, v: Value) -> Option<bool> {
    let fast = schema.fast_valid(View::Value(&v));
    let doc = doc_of(&v, &mut || false);
    assert_eq!(schema.fast_valid(doc.view()), fast, "Doc view of {v}");
    if let Some(valid) = fast {
        assert_eq!(valid, schema.validator.is_valid(&v), "jsonschema on {v}");
        assert_eq!(schema.validate(&v).is_ok(), valid, "validate on {v}");
    }
    fast
}

#[test]
fn type_sets_and_integral_numbers() {
    let s = compile(json!({"properties": {
        "i": {"type": "integer"},
        "n": {"type": "number"},
        "u": {"type": ["string", "null"]},
        "b": {"type": "boolean"},
        "o": {"type": "object"},
        "a": {"type": "array"}
    }}));
    for (v, want) in [
        (json!({"i": 1}), true),
        (json!({"i": 1.0}), true),
        (json!({"i": -3e2}), true),
        (json!({"i": 1.5}), false),
        (json!({"i": "1"}), false),
        (json!({"n": 1}), true),
        (json!({"n": 1.5}), true),
        (json!({"n": true}), false),
        (json!({"u": null}), true),
        (json!({"u": "x"}), true),
        (json!({"u": 0}), false),
        (json!({"b": false}), true),
        (json!({"b": 0}), false),
        (json!({"o": {}}), true),
        (json!({"o": []}), false),
        (json!({"a": []}), true),
        (json!({"a": {}}), false),
    ] {
        assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
    }
}

#[test]
fn object_keywords_apply_to_objects_only() {
    let s = compile(json!({
        "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
        "required": ["a", "c"],
        "additionalProperties": false
    }));
    assert_eq!(verdict(&s, json!(5)), Some(true));
    assert_eq!(verdict(&s, json!([1])), Some(true));
    assert_eq!(verdict(&s, json!({"a": "x", "c": 1})), Some(false));
    assert_eq!(verdict(&s, json!({"a": "x"})), Some(false));
    assert_eq!(verdict(&s, json!({"a": "x", "b": 2})), Some(false));
    assert_eq!(verdict(&s, json!({"a": 1, "c": 1})), Some(false));

    let s = compile(json!({
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "required": ["a", "c"],
        "additionalProperties": {"type": "integer"}
    }));
    assert_eq!(verdict(&s, json!(5)), Some(false));
    assert_eq!(verdict(&s, json!({"a": "x", "c": 1, "d": 2})), Some(true));
    assert_eq!(verdict(&s, json!({"a": "x", "c": "1"})), Some(false));
    assert_eq!(verdict(&s, json!({"a": "x", "d": 2})), Some(false));

    let s = compile(json!({"properties": {"a": {}}, "additionalProperties": true}));
    assert_eq!(verdict(&s, json!({"a": [1], "z": {}})), Some(true));
}

#[test]
fn many_properties_and_many_required_names() {
    let names: Vec<String> = (0..70).map(|i| format!("p{i}")).collect();
    let properties: Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), json!({"type": "integer"})))
        .collect();
    let s = compile(json!({"properties": properties, "required": names}));
    let full: Map<String, Value> = names.iter().map(|n| (n.clone(), json!(1))).collect();
    assert_eq!(verdict(&s, Value::Object(full.clone())), Some(true));
    for drop in ["p0", "p63", "p64", "p69"] {
        let mut less = full.clone();
        less.remove(drop);
        assert_eq!(verdict(&s, Value::Object(less)), Some(false), "{drop}");
    }
    let mut wrong = full;
    wrong.insert("p40".to_string(), json!("x"));
    assert_eq!(verdict(&s, Value::Object(wrong)), Some(false));

    let few: Vec<String> = names.iter().take(20).cloned().collect();
    let s =
        compile(json!({"properties": properties, "required": few, "additionalProperties": false}));
    let some: Map<String, Value> = names
        .iter()
        .take(25)
        .map(|n| (n.clone(), json!(2)))
        .collect();
    assert_eq!(verdict(&s, Value::Object(some.clone())), Some(true));
    let mut extra = some;
    extra.insert("q".to_string(), json!(2));
    assert_eq!(verdict(&s, Value::Object(extra)), Some(false));
}

#[test]
fn array_keywords_apply_to_arrays_only() {
    let s = compile(json!({"items": {"type": "integer"}, "minItems": 1, "maxItems": 2}));
    assert_eq!(verdict(&s, json!("x")), Some(true));
    assert_eq!(verdict(&s, json!({})), Some(true));
    assert_eq!(verdict(&s, json!([])), Some(false));
    assert_eq!(verdict(&s, json!([1])), Some(true));
    assert_eq!(verdict(&s, json!([1, 2.0])), Some(true));
    assert_eq!(verdict(&s, json!([1, 2, 3])), Some(false));
    assert_eq!(verdict(&s, json!([1, "2"])), Some(false));
    let s = compile(json!({"type": "array", "items": false}));
    assert_eq!(verdict(&s, json!([])), Some(true));
    assert_eq!(verdict(&s, json!([null])), Some(false));
}

#[test]
fn boolean_schemas() {
    assert_eq!(verdict(&compile(json!(true)), json!({"a": 1})), Some(true));
    assert_eq!(verdict(&compile(json!(false)), json!(null)), Some(false));
    let s = compile(json!({"properties": {"a": false, "b": true}}));
    assert_eq!(verdict(&s, json!({"b": [1]})), Some(true));
    assert_eq!(verdict(&s, json!({"a": 1})), Some(false));
}

#[test]
fn leaves_keep_jsonschema_semantics() {
    let s = compile(json!({"properties": {
        "e": {"type": "string", "format": "email", "maxLength": 12},
        "d": {"format": "date"},
        "p": {"type": "string", "pattern": "^[A-Z]{2}$"},
        "k": {"enum": ["a", 1, [1, 2], {"x": 1}]},
        "m": {"type": "number", "exclusiveMaximum": 3, "multipleOf": 0.5},
        "u": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["x"]}]}
    }}));
    for (v, want) in [
        (json!({"e": "a@b.example"}), true),
        (json!({"e": "nope"}), false),
        (json!({"e": "aaaaa@b.example"}), false),
        (json!({"d": "2026-02-28"}), true),
        (json!({"d": "2026-02-30"}), false),
        (json!({"d": 5}), true),
        (json!({"p": "DE"}), true),
        (json!({"p": "de"}), false),
        (json!({"k": 1.0}), true),
        (json!({"k": [1, 2]}), true),
        (json!({"k": {"x": 1}}), true),
        (json!({"k": {"x": 2}}), false),
        (json!({"m": 2.5}), true),
        (json!({"m": 3}), false),
        (json!({"m": 0.3}), false),
        (json!({"u": {"x": 1}}), true),
        (json!({"u": {"y": 1}}), false),
    ] {
        assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
    }
}

#[test]
fn native_scalar_rules_match_jsonschema() {
    let s = compile(json!({"properties": {
        "len": {"type": "string", "minLength": 2, "maxLength": 3},
        "min": {"type": "number", "minimum": 1, "exclusiveMaximum": 9007199254740993_u64},
        "exc": {"exclusiveMinimum": -2, "maximum": 18446744073709551615_u64},
        "fmin": {"minimum": 0.5},
        "e": {"enum": ["a", 1, null, true]},
        "es": {"type": "string", "enum": ["x", "y"], "pattern": "^x"}
    }}));
    for (v, want) in [
        (json!({"len": "ab"}), true),
        (json!({"len": "a"}), false),
        (json!({"len": "abcd"}), false),
        (json!({"len": "éé"}), true),
        (json!({"len": "é"}), false),
        (json!({"len": "🦀🦀🦀"}), true),
        (json!({"len": "🦀🦀🦀🦀"}), false),
        (json!({"len": 5}), false),
        (json!({"min": 1}), true),
        (json!({"min": 1.0}), true),
        (json!({"min": 0.99}), false),
        (json!({"min": 0}), false),
        (json!({"min": 9007199254740992_u64}), true),
        (json!({"min": 9007199254740993_u64}), false),
        (json!({"min": 9.007199254740992e15}), true),
        (json!({"min": 1e300}), false),
        (json!({"min": "1"}), false),
        (json!({"exc": -2}), false),
        (json!({"exc": -1.5}), true),
        (json!({"exc": u64::MAX}), true),
        (json!({"exc": 1.9e19}), false),
        (json!({"exc": "x"}), true),
        (json!({"fmin": 0.5}), true),
        (json!({"fmin": 0}), false),
        (json!({"fmin": 1}), true),
        (json!({"e": "a"}), true),
        (json!({"e": "b"}), false),
        (json!({"e": 1.0}), true),
        (json!({"e": 2}), false),
        (json!({"e": null}), true),
        (json!({"e": false}), false),
        (json!({"e": []}), false),
        (json!({"es": "x"}), true),
        (json!({"es": "y"}), false),
        (json!({"es": "z"}), false),
    ] {
        assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
    }
}

#[test]
fn integer_bounds_as_a_range() {
    let s = compile(json!({"properties": {
        "x": {"exclusiveMinimum": 1, "exclusiveMaximum": 4},
        "y": {"type": "integer", "minimum": -3, "maximum": -3},
        "z": {"minimum": 2, "exclusiveMinimum": 0, "maximum": 9, "exclusiveMaximum": 5}
    }}));
    for (v, want) in [
        (json!({"x": 1}), false),
        (json!({"x": 2}), true),
        (json!({"x": 3}), true),
        (json!({"x": 4}), false),
        (json!({"x": 1.5}), true),
        (json!({"x": 4.0}), false),
        (json!({"x": 1.0}), false),
        (json!({"y": -3}), true),
        (json!({"y": -2}), false),
        (json!({"y": -3.0}), true),
        (json!({"z": 1}), false),
        (json!({"z": 2}), true),
        (json!({"z": 4}), true),
        (json!({"z": 5}), false),
        (json!({"z": u64::MAX}), false),
        (json!({"z": i64::MIN}), false),
    ] {
        assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
    }
}

/// Addresses of every shape near the plain one `plain_email` accepts: the verdict is
/// `jsonschema`'s for all of them, and no address the shortcut accepts is one
/// `jsonschema` rejects.
#[test]
fn email_shortcut_never_accepts_what_jsonschema_rejects() {
    let s = compile(json!({"properties": {
        "e": {"type": "string", "format": "email"},
        "f": {"format": "email", "maxLength": 70, "pattern": "^[^A-Z]*$"}
    }}));
    let alone = compile(json!({"format": "email"}));
    let label63 = "a".repeat(63);
    let mut cases: Vec<String> = [
        "a@b.example",
        "a@b",
        "a.b@c.d",
        ".a@b.c",
        "a.@b.c",
        "a..b@c.d",
        "a@b..c",
        "a@.b.c",
        "a@-b.c",
        "a@b-.c",
        "a@b-c.d",
        "a@ab--cd.e",
        "a@abc--d.e",
        "a@xn--bcher-kva.example",
        "a@xn--zz.example",
        "a@xn-b.c",
        "a b@c.d",
        "\"\"@c.d",
        "\"a\"@c.d",
        "\"a b\"@c.d",
        "a@[127.0.0.1]",
        "a@[IPv6:::1]",
        "a@b.c.",
        "@b.c",
        "a@",
        "a",
        "",
        "Name <a@b.c>",
        "<a@b.c>",
        "é@b.c",
        "a@é.c",
        "a@b@c.d",
        "a+tag@sub.example.com",
        "!#$%&'*+-/=?^_`{|}~@x.y",
        "a@1.2.3.4",
        "a@b_c.d",
        "a@B.C",
        "A@b.c",
        "a\t@b.c",
        "a@b.c\n",
        "a(b)@c.d",
        "a,b@c.d",
        "a@b.-c",
        "a@9.9",
        "a@-",
        "a@b.c-",
        "\\@b.c",
    ]
    .iter()
    .map(ToString::to_string)
    .collect();
    cases.push(format!("{}@b.c", "a".repeat(64)));
    cases.push(format!("{}@b.c", "a".repeat(65)));
    cases.push(format!("a@{label63}.c"));
    cases.push(format!("a@{label63}a.c"));
    let long = [label63.as_str(); 4].join(".");
    cases.push(format!("a@{}", &long[..253]));
    cases.push(format!("a@{}", &long[..254.min(long.len())]));
    cases.push(format!("a@{long}"));
    for case in &cases {
        let expected = alone.validator.is_valid(&json!(case));
        if plain_email(case) {
            assert!(expected, "shortcut accepts {case:?}");
        }
        assert_eq!(verdict(&s, json!({"e": case})), Some(expected), "{case:?}");
        let f = verdict(&s, json!({"f": case}));
        assert_eq!(
            f,
            Some(s.validator.is_valid(&json!({"f": case}))),
            "{case:?}"
        );
    }
    assert_eq!(verdict(&s, json!({"e": 5})), Some(false));
    assert_eq!(verdict(&s, json!({"f": 5})), Some(true));
    assert_eq!(verdict(&s, json!({"f": [1]})), Some(true));
    assert!(plain_email("a@b.example"));
    assert!(!plain_email("a@ab--cd.e"));
}

/// Every pattern, plain or not, gives `jsonschema`'s verdict on every string; the
/// plain ones are matched natively.
#[test]
fn plain_patterns_match_as_regex_does() {
    let patterns = [
        "^[A-Z]{3}$",
        "^[A-Z]{2}$",
        "^[0-9]+(\\.[0-9]+)?$",
        "^[ab]+$",
        "^a*b?c{2,3}$",
        "^[a-c]{1,}x$",
        "^(ab)?b$",
        "^[a-z]+[a-z]$",
        "^x(y[0-9]*)?z?$",
        "^$",
        "^[a-zA-Z0-9_.]{0,4}@a-b c$",
        "^\\$\\\\$",
        "^[A-Z]{1}[0-9]{0}$",
        // Not plain: left to `jsonschema`.
        "^[^@\\sA-Z]+@[^@\\sA-Z]+\\.[^@\\sA-Z]+$",
        "^\\s*[a-z]+\\s*$",
        "[0-9]+",
        "^a.b$",
        "^(a|b)$",
        "^(ab)+$",
        "^\\d{2}$",
        "^[a-]$",
        "^a+?$",
        "^(?:ab)?$",
        "^((a)?)?$",
        "^a{9999}$",
    ];
    let plain = patterns
        .iter()
        .filter(|p| Pattern::parse(p).is_some())
        .count();
    assert_eq!(plain, 13);
    let strings = [
        "",
        "a",
        "b",
        "ab",
        "abb",
        "ba",
        "bab",
        "AB",
        "ABC",
        "ABCD",
        "abc",
        "12",
        "12.5",
        "12.",
        ".5",
        "1.2.3",
        "12.50",
        "cc",
        "acc",
        "bccc",
        "abcccc",
        "aax",
        "abcx",
        "x",
        "xz",
        "xyz",
        "xy12z",
        "xy12",
        "yz",
        "a@a-b c",
        "_.9@a-b c",
        "$\\",
        "é",
        "Aé",
        "12\n",
        "A",
        "A0",
        "ABc",
        "zz",
        "abcz",
        "aa",
    ];
    for pattern in patterns {
        let s = compile(json!({"properties": {"p": {"type": "string", "pattern": pattern}}}));
        for string in strings {
            let v = json!({"p": string});
            let expected = s.validator.is_valid(&v);
            assert_eq!(verdict(&s, v), Some(expected), "{pattern} on {string:?}");
            if let Some(p) = Pattern::parse(pattern) {
                assert_eq!(p.matches(string), expected, "{pattern} on {string:?}");
            }
        }
    }
}

#[test]
fn names_compare_by_length_and_content() {
    for (a, b) in [
        ("", ""),
        ("a", "a"),
        ("ab", "ab"),
        ("abc", "abd"),
        ("abcd", "abce"),
        ("abcdefg", "abcdefh"),
        ("xbcdefg", "abcdefg"),
        ("abcdefgh", "abcdefgh"),
        ("abcdefgh1", "abcdefgh2"),
        ("0bcdefgh1", "abcdefgh1"),
        ("abcdefghijklmnop", "abcdefghijklmnoq"),
        ("abcdefghxjklmnop", "abcdefghijklmnop"),
        ("long_property_name_x", "long_property_name_y"),
        ("long_property_name_x", "long_property_name_x"),
        ("a", "ab"),
    ] {
        assert_eq!(same_name(a, b), a == b, "{a} {b}");
        assert_eq!(same_name(b, a), a == b, "{b} {a}");
        let owned = String::from(a);
        assert!(same_name(a, owned.as_str()));
    }
}

/// Members are found whatever their order, in small and large tables, and a name
/// listed in `required` only is still required.
#[test]
fn members_in_any_order() {
    let names = ["a", "abcd", "abcdefgh1", "long_property_name_x"];
    let small: Map<String, Value> = names
        .iter()
        .map(|n| ((*n).to_string(), json!({"type": "integer"})))
        .collect();
    let mut large = small.clone();
    for i in 0..12 {
        large.insert(format!("p{i}"), json!({"type": "string"}));
    }
    for properties in [small, large] {
        let s = compile(json!({
            "properties": properties,
            "required": ["long_property_name_x", "a", "only_required"],
            "additionalProperties": false
        }));
        let ordered = json!({"a": 1, "abcd": 2, "abcdefgh1": 3, "long_property_name_x": 4});
        assert_eq!(
            verdict(&s, ordered),
            Some(false),
            "only_required is missing"
        );
        let s = compile(json!({
            "properties": properties,
            "required": ["long_property_name_x", "a"],
            "additionalProperties": false
        }));
        let reversed = json!({"long_property_name_x": 4, "abcdefgh1": 3, "abcd": 2, "a": 1});
        assert_eq!(verdict(&s, reversed), Some(true));
        let wrong = json!({"long_property_name_x": 4, "abcdefgh1": "3", "a": 1});
        assert_eq!(verdict(&s, wrong), Some(false));
        let unknown = json!({"a": 1, "abcdefgh2": 3, "long_property_name_x": 4});
        assert_eq!(verdict(&s, unknown), Some(false));
        let missing = json!({"abcd": 2, "long_property_name_x": 4});
        assert_eq!(verdict(&s, missing), Some(false));
    }
}

/// The decoder never repeats a key, but a `Doc` member list could: every occurrence
/// is checked against the property's schema, and any one of them meets `required`.
#[test]
fn repeated_members_are_each_checked() {
    let s = compile(json!({
        "properties": {"a": {"type": "integer"}, "b": {}},
        "required": ["a", "b"]
    }));
    let members = |items: Vec<(&'static str, Value)>| {
        Doc::Members(
            items
                .into_iter()
                .map(|(k, v)| (Cow::Borrowed(k), Doc::Json(v)))
                .collect(),
        )
    };
    let twice = members(vec![("a", json!(1)), ("b", json!(0)), ("a", json!(2))]);
    assert_eq!(s.fast_valid(twice.view()), Some(true));
    let bad = members(vec![("a", json!(1)), ("b", json!(0)), ("a", json!("x"))]);
    assert_eq!(s.fast_valid(bad.view()), Some(false));
    let short = members(vec![("a", json!(1)), ("a", json!(2))]);
    assert_eq!(s.fast_valid(short.view()), Some(false));
}

#[test]
fn refs_recurse_and_apply_siblings_in_2020_12() {
    let s = compile(json!({
        "$defs": {
            "node": {
                "type": "object",
                "required": ["v"],
                "properties": {
                    "v": {"type": "integer"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                    "short": {"$ref": "#/$defs/text", "maxLength": 3}
                }
            },
            "text": {"type": "string", "minLength": 1}
        },
        "$ref": "#/$defs/node"
    }));
    assert_eq!(
        verdict(
            &s,
            json!({"v": 1, "children": [{"v": 2, "children": [{"v": 3}]}]})
        ),
        Some(true)
    );
    assert_eq!(
        verdict(
            &s,
            json!({"v": 1, "children": [{"v": 2, "children": [{"w": 3}]}]})
        ),
        Some(false)
    );
    assert_eq!(verdict(&s, json!({"v": 1, "short": "abc"})), Some(true));
    assert_eq!(verdict(&s, json!({"v": 1, "short": "abcd"})), Some(false));
    assert_eq!(verdict(&s, json!({"v": 1, "short": ""})), Some(false));
    assert_eq!(verdict(&s, json!({"v": 1, "short": 7})), Some(false));
}

#[test]
fn draft7_ignores_ref_siblings() {
    let s = compile(json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"S": {"type": "string"}},
        "properties": {
            "a": {"$ref": "#/definitions/S", "maxLength": 2, "type": "integer", "anyOf": [false]}
        }
    }));
    assert_eq!(verdict(&s, json!({"a": "abcdef"})), Some(true));
    assert_eq!(verdict(&s, json!({"a": 5})), Some(false));
}

#[test]
fn cross_file_and_id_refs() {
    let common = json!({"$defs": {"Money": {
        "type": "object",
        "required": ["amount"],
        "properties": {"amount": {"type": "string", "pattern": "^[0-9]+$"}}
    }}});
    let code = json!({"$id": "urn:example:code", "type": "string", "maxLength": 3});
    let s = compile_with(
        json!({"properties": {
            "total": {"$ref": "common.json#/$defs/Money"},
            "code": {"$ref": "urn:example:code"},
            "other": {"$ref": "../shared/code.json"}
        }}),
        &[("t/common.json", common), ("shared/code.json", code)],
    );
    assert_eq!(
        verdict(
            &s,
            json!({"total": {"amount": "12"}, "code": "EUR", "other": "X"})
        ),
        Some(true)
    );
    assert_eq!(verdict(&s, json!({"total": {"amount": "1x"}})), Some(false));
    assert_eq!(verdict(&s, json!({"total": {}})), Some(false));
    assert_eq!(verdict(&s, json!({"code": "EURO"})), Some(false));
    assert_eq!(verdict(&s, json!({"other": "ABCD"})), Some(false));
}

#[test]
fn refs_are_followed_only_where_the_registry_certainly_agrees() {
    // A document naming itself by its own `$id` is covered.
    let s = compile(json!({
        "$id": "urn:t:main",
        "properties": {"a": {"$ref": "urn:t:main#/$defs/S"}},
        "$defs": {"S": {"type": "string"}}
    }));
    assert_eq!(verdict(&s, json!({"a": "x"})), Some(true));
    assert_eq!(verdict(&s, json!({"a": 1})), Some(false));
    // A relative reference in a document with an `$id` resolves against that `$id`: the
    // shared resolution finds it, but the compiled validator leaves it to `jsonschema`.
    let other = json!({"$id": "https://example.com/t/other.json", "type": "string"});
    let s = compile_with(
        json!({"$id": "https://example.com/t/main.json", "properties": {"a": {"$ref": "other.json"}}}),
        &[("t/other.json", other)],
    );
    assert_eq!(s.fast_valid(View::Value(&json!({"a": "x"}))), None);
    assert!(s.validate(&json!({"a": "x"})).is_ok());
    assert!(s.validate(&json!({"a": 1})).is_err());
}

#[test]
fn uncovered_schemas_get_no_verdict() {
    for doc in [
        json!({"properties": {"a": {}}, "anyOf": [{"required": ["a"]}]}),
        json!({"properties": {"a": {}}, "patternProperties": {"^x": {}}}),
        json!({"properties": {"a": {}}, "x-vendor": 1}),
        json!({"properties": {"a": {"properties": {}, "enum": [{}]}}}),
        json!({"items": {}, "uniqueItems": true}),
        json!({"properties": {"a": {"$id": "inner.json", "type": "string"}}}),
        json!({"properties": {"a": {"$ref": "#t"}}, "$defs": {"t": {"$anchor": "t"}}}),
        json!({"$schema": "http://json-schema.org/draft-04/schema#", "properties": {}}),
        json!({"$defs": {"A": {"type": "object", "$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}),
    ] {
        let s = compile(doc.clone());
        assert_eq!(s.fast_valid(View::Value(&json!({"a": 1}))), None, "{doc}");
        // Validation is unchanged: `jsonschema` decides alone.
        assert_eq!(
            s.validate(&json!({"a": 1})).is_ok(),
            s.validator.is_valid(&json!({"a": 1}))
        );
    }
}

#[test]
fn a_leaf_reads_a_container_held_as_members() {
    let s = compile(json!({"properties": {"k": {"enum": [{"x": [1]}]}}}));
    let doc = Doc::Members(vec![(
        Cow::Borrowed("k"),
        Doc::Members(vec![(
            Cow::Borrowed("x"),
            Doc::List(vec![Doc::Json(json!(1))]),
        )]),
    )]);
    assert_eq!(s.fast_valid(doc.view()), Some(true));
    assert_eq!(verdict(&s, json!({"k": {"x": [2]}})), Some(false));
}

#[test]
fn too_deep_an_instance_is_left_to_jsonschema() {
    let s = compile(json!({"items": {"$ref": "#"}}));
    let mut v = json!(1);
    for _ in 0..(MAX_DEPTH + 10) {
        v = Value::Array(vec![v]);
    }
    assert_eq!(s.fast_valid(View::Value(&v)), None);
    assert_eq!(verdict(&s, json!([[[1]]])), Some(true));
}

/// The decoded partner side of this fixture is checked in the XML codec's tests, which
/// decode it; here the mapped internal document.
#[test]
fn shipped_acme_order_passes_the_internal_schema() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (registry, _) = SchemaRegistry::load_dir(&root.join("schemas")).unwrap();
    let fixture = root.join("tests/fixtures/acme/orders/valid");

    let internal = registry.get("internal/order.schema.json").unwrap();
    let mapped: Value =
        serde_json::from_slice(&std::fs::read(fixture.join("expected.json")).unwrap()).unwrap();
    assert_eq!(internal.fast_valid(View::Value(&mapped)), Some(true));
    let mut broken = mapped.clone();
    broken["lines"][0]["quantity"] = json!(0);
    assert_eq!(internal.fast_valid(View::Value(&broken)), Some(false));
}

/// The shipped schemas all stay within what the compiled validator covers, so the
/// example routes take the fast path; a schema that falls out of it would silently
/// send its routes down the general path.
#[test]
fn every_shipped_schema_gets_a_compiled_validator() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (registry, _) = SchemaRegistry::load_dir(&root.join("schemas")).unwrap();
    let mut without: Vec<&str> = registry
        .iter()
        .filter(|s| s.fast.is_none())
        .map(|s| s.name.as_str())
        .collect();
    without.sort_unstable();
    assert_eq!(without, Vec::<&str>::new());
    assert!(registry.iter().count() >= 11);
}

/// A small deterministic generator for instances (xorshift), seeded by proptest.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn one_in(&mut self, n: u64) -> bool {
        self.below(n) == 0
    }
}

fn noise(r: &mut Rng) -> Value {
    let all = [
        json!(null),
        json!(true),
        json!(0),
        json!(1),
        json!(1.0),
        json!(1.5),
        json!(-1),
        json!(2.5),
        json!(3),
        json!(3.0),
        json!("a"),
        json!("ab"),
        json!("é"),
        json!(""),
        json!("2024-02-03"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"a": 1}),
    ];
    let i = r.below(all.len() as u64) as usize;
    all[i].clone()
}

/// An instance built to fit `s` (and `defs`, the target of every `$ref`), straying
/// now and then so both verdicts come up.
fn sample(s: &Value, defs: &Value, r: &mut Rng, depth: u32) -> Value {
    let Some(m) = s.as_object() else {
        return noise(r);
    };
    if depth > 6 || r.one_in(12) {
        return noise(r);
    }
    if m.contains_key("$ref") && (m.len() == 1 || r.one_in(2)) {
        return sample(defs, defs, r, depth + 1);
    }
    let types: Vec<&str> = match m.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let has = |k: &str| m.contains_key(k);
    if types.contains(&"object") || has("properties") || has("required") {
        let mut out = Map::new();
        let required: Vec<&str> = m
            .get("required")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if let Some(Value::Object(props)) = m.get("properties") {
            for (k, sub) in props {
                if required.contains(&k.as_str()) && !r.one_in(10) || r.one_in(2) {
                    out.insert(k.clone(), sample(sub, defs, r, depth + 1));
                }
            }
        }
        for k in required {
            if !out.contains_key(k) && !r.one_in(10) {
                out.insert(k.to_string(), noise(r));
            }
        }
        if r.one_in(4) {
            let extra = match m.get("additionalProperties") {
                Some(sub @ Value::Object(_)) => sample(sub, defs, r, depth + 1),
                _ => noise(r),
            };
            out.insert("z".to_string(), extra);
        }
        return Value::Object(out);
    }
    if types.contains(&"array") || has("items") || has("minItems") {
        let items = m.get("items").cloned().unwrap_or(json!({}));
        let n = r.below(4);
        return Value::Array((0..n).map(|_| sample(&items, defs, r, depth + 1)).collect());
    }
    if let Some(Value::Array(values)) = m.get("enum") {
        let i = r.below(values.len() as u64) as usize;
        return values.get(i).cloned().unwrap_or(Value::Null);
    }
    let pick = types.get(r.below(types.len() as u64) as usize).copied();
    match pick {
        Some("string") => match m.get("format").and_then(Value::as_str) {
            Some("date") => json!(["2024-02-03", "2024-02-30", "x"][r.below(3) as usize]),
            Some("email") => json!(["a@b.example", "ab", "a@b"][r.below(3) as usize]),
            _ => json!(
                ["", "a", "ab", "abc", "ba", "abcb", "x", "é", "éé", "🦀"][r.below(10) as usize]
            ),
        },
        Some("integer") => json!([0, 1, 2, 3, -1][r.below(5) as usize]),
        Some("number") => {
            [json!(2.5), json!(3), json!(1.0), json!(3.5), json!(4)][r.below(5) as usize].clone()
        }
        Some("boolean") => json!(r.one_in(2)),
        Some("null") => Value::Null,
        _ => noise(r),
    }
}

const REF: &str = "#/$defs/D";

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(json!({"type": "string"})),
        Just(json!({"type": "integer"})),
        Just(json!({"type": "integer", "maximum": 2})),
        Just(json!({"type": "number", "maximum": 3})),
        Just(json!({"type": ["string", "null"]})),
        Just(json!({"type": "boolean"})),
        (0u64..3).prop_map(|n| json!({"type": "string", "minLength": n})),
        Just(json!({"type": "string", "pattern": "^[ab]+$"})),
        Just(json!({"enum": ["a", "b", 1, null]})),
        Just(json!({"type": "string", "format": "date"})),
        Just(json!({"type": "string", "format": "email"})),
        Just(json!({"type": "object"})),
        Just(json!({})),
        Just(json!(true)),
        Just(json!(false)),
        Just(json!({"$ref": REF})),
        Just(json!({"$ref": REF, "required": ["a"]})),
        Just(json!({"$ref": REF, "type": ["object", "array"]})),
        Just(json!({"$ref": REF, "maxLength": 1})),
        Just(json!({"type": "string", "maxLength": 2})),
        Just(json!({"exclusiveMinimum": 1, "maximum": 3})),
        Just(json!({"type": "integer", "exclusiveMaximum": 3})),
        Just(json!({"minimum": 1.5})),
        Just(json!({"enum": [1, 2.5, "a"]})),
        Just(json!({"enum": ["ab", "é"], "minLength": 2})),
    ]
}

fn key() -> impl Strategy<Value = String> {
    prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(str::to_string)
}

/// An object or array schema whose children come from `inner`.
fn container(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
    prop_oneof![
        (
            proptest::collection::btree_map(key(), inner.clone(), 0..4),
            proptest::collection::vec(key(), 0..3),
            prop_oneof![
                Just(None),
                Just(Some(json!(false))),
                Just(Some(json!(true))),
                inner.clone().prop_map(Some),
            ],
            any::<bool>(),
        )
            .prop_map(|(props, required, additional, typed)| {
                let mut m = Map::new();
                if typed {
                    m.insert("type".into(), json!("object"));
                }
                m.insert("properties".into(), json!(props));
                if !required.is_empty() {
                    let mut unique = required;
                    unique.dedup();
                    m.insert("required".into(), json!(unique));
                }
                if let Some(a) = additional {
                    m.insert("additionalProperties".into(), a);
                }
                Value::Object(m)
            }),
        (
            inner,
            proptest::option::of(0u64..3),
            proptest::option::of(1u64..4),
            any::<bool>()
        )
            .prop_map(|(items, min, max, typed)| {
                let mut m = Map::new();
                if typed {
                    m.insert("type".into(), json!("array"));
                }
                m.insert("items".into(), items);
                if let Some(min) = min {
                    m.insert("minItems".into(), json!(min));
                }
                if let Some(max) = max {
                    m.insert("maxItems".into(), json!(max));
                }
                Value::Object(m)
            }),
    ]
}

fn schema() -> BoxedStrategy<Value> {
    leaf()
        .prop_recursive(4, 24, 4, |inner| container(inner.boxed()))
        .boxed()
}

/// Every `$ref` written `#/$defs/D` rewritten to `#/definitions/D`.
fn to_draft7(v: &mut Value) {
    match v {
        Value::Object(m) => {
            if let Some(r) = m.get_mut("$ref") {
                *r = json!("#/definitions/D");
            }
            m.values_mut().for_each(to_draft7);
        }
        Value::Array(items) => items.iter_mut().for_each(to_draft7),
        _ => {}
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn agrees_with_jsonschema(
        main in container(schema()),
        defs in container(schema()),
        draft7 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let mut doc = main.clone();
        let mut d = defs.clone();
        if draft7 {
            to_draft7(&mut doc);
            to_draft7(&mut d);
        }
        if let Value::Object(m) = &mut doc {
            if draft7 {
                m.insert("$schema".into(), json!("http://json-schema.org/draft-07/schema#"));
                m.insert("definitions".into(), json!({"D": d}));
            } else {
                m.insert("$defs".into(), json!({"D": d}));
            }
        }
        let s = compile(doc.clone());
        let mut r = Rng(seed | 1);
        for _ in 0..16 {
            let v = sample(&main, &defs, &mut r, 0);
            let expected = s.validator.is_valid(&v);
            prop_assert_eq!(s.fast_valid(View::Value(&v)), Some(expected), "{} on {}", doc, v);
            let mut keep = || r.one_in(5);
            let as_doc = doc_of(&v, &mut keep);
            prop_assert_eq!(s.fast_valid(as_doc.view()), Some(expected), "{} on {:?}", doc, as_doc);
        }
    }
}
