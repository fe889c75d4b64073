use std::path::Path;

use super::*;
use crate::mapping::parse_route_yaml;
use crate::mapping::test_support::route_text;

fn yaml_error(map: &str) -> String {
    match parse_route_yaml(&route_text(map), Path::new("t.yaml")) {
        Ok(_) => panic!("expected an error for {map:?}"),
        Err(d) => d
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n"),
    }
}

#[test]
fn unknown_rule_key_is_reported_at_its_position() {
    assert_eq!(
        yaml_error("a: { from: /x, frm: 1 }"),
        "t.yaml:7:25: error: `frm` is not a rule keyword, but this object is a rule because \
         its first key `from` is one; to write a target property named `from`, write \
         `\\from`; rule keywords: from, const, template, each, cases, map, item, filter, \
         default, on_missing, on_null, on_empty, as, scale, rounding, apply, lookup, fallback, \
         date, calc, when\n  \
         = hint: did you mean `from`?"
    );
    assert_eq!(
        yaml_error("leg: { from: /Leg/Origin, \\to: /Leg/Dest }"),
        "t.yaml:7:36: error: `\\to` is not a rule keyword, but this object is a rule \
         because its first key `from` is one; to write a target property named `from`, \
         write `\\from`; rule keywords: from, const, template, each, cases, map, item, \
         filter, default, on_missing, on_null, on_empty, as, scale, rounding, apply, lookup, \
         fallback, date, calc, when"
    );
}

#[test]
fn rule_keyword_among_target_properties_names_the_escape() {
    assert_eq!(
        yaml_error("to: /Leg/Dest\n\"from\": /Leg/Origin"),
        "t.yaml:8:13: error: `from` is a rule keyword, but the keys of a `map:` are target \
         properties; to write a target property named `from`, write `\\from`"
    );
    // Alone at the top of a map, a keyword is no more a rule than after other keys.
    assert_eq!(
        yaml_error("date: /Leg/Day"),
        "t.yaml:7:11: error: `date` is a rule keyword, but the keys of a `map:` are target \
         properties; to write a target property named `date`, write `\\date`"
    );
    assert_eq!(
        yaml_error("lines:\n  each: /items\n  map:\n    sku: Sku\n    item: Item"),
        "t.yaml:11:15: error: `item` is a rule keyword, but the keys of a `map:` are target \
         properties; to write a target property named `item`, write `\\item`"
    );
}

#[test]
fn escaped_keys_are_always_target_properties() {
    let r = parse_route_yaml(
        &route_text(
            "\\from: /Leg/Origin\nto: /Leg/Dest\nleg:\n  \\date: /Leg/Day\n  \\when: /Leg/Time\n\\map: { \\from: /a }",
        ),
        Path::new("t.yaml"),
    )
    .unwrap();
    let map = r.request.unwrap().map;
    let keys: Vec<&str> = map.entries.iter().map(|e| e.key.as_str()).collect();
    assert_eq!(keys, ["\\from", "to", "leg", "\\map"]);
    let Entry::Nested(leg) = &map.entries[2].value else {
        panic!("leg is a nested map: {:?}", map.entries[2].value)
    };
    assert_eq!(
        leg.entries
            .iter()
            .map(|e| (e.key.as_str(), e.value.clone()))
            .collect::<Vec<_>>(),
        [
            ("\\date", Entry::Path("/Leg/Day".into())),
            ("\\when", Entry::Path("/Leg/Time".into()))
        ]
    );
    let Entry::Nested(inner) = &map.entries[3].value else {
        panic!("`\\map` is a nested map")
    };
    assert_eq!(inner.entries[0].key, "\\from");
}

#[test]
fn plain_scalars_follow_the_yaml_1_2_core_schema() {
    let r = parse_route_yaml(
        &route_text(
            "code: { from: /land, lookup: { norway: NO, sweden: SE, yes: y, off: Off, t: true, f: FALSE, zip: 01234, n: 1_000, hex: 0x1F, bin: 0b101, time: 1:20, d: 12.50, z: ~ } }\n\
             x: X\ny: N\nneg: { const: true, when: { path: /answer, equals: no } }",
        ),
        Path::new("t.yaml"),
    )
    .unwrap();
    let map = r.request.unwrap().map;
    let Entry::Rule(code) = &map.entries[0].value else {
        panic!("code is a rule")
    };
    assert_eq!(
        serde_json::to_value(&code.lookup).unwrap(),
        serde_json::json!({"norway": "NO", "sweden": "SE", "yes": "y", "off": "Off",
            "t": true, "f": false, "zip": "01234", "n": "1_000", "hex": 31, "bin": 5, "time": "1:20", "d": 12.5,
            "z": null})
    );
    assert_eq!(map.entries[1].value, Entry::Path("X".into()));
    assert_eq!(map.entries[2].value, Entry::Path("N".into()));
    let Entry::Rule(neg) = &map.entries[3].value else {
        panic!("neg is a rule")
    };
    assert_eq!(
        neg.when.as_ref().and_then(|c| c.equals.clone()),
        Some(Value::String("no".into()))
    );
}

#[test]
fn a_written_null_is_a_value_not_an_absent_key() {
    let yaml = "a: { const: null, when: { path: /x, equals: null } }\n\
                b: { from: /y, default: null, when: { path: /x, not_equals: null } }\n\
                c: { from: /y, lookup: { k: v }, fallback: null }";
    let json = r#"{"route": {"method": "POST", "path": "/x", "format": "json"},
        "upstream": {"service": "s", "path": "/u"},
        "request": {"schema": "a", "target": "b", "map": {
            "a": {"const": null, "when": {"path": "/x", "equals": null}},
            "b": {"from": "/y", "default": null, "when": {"path": "/x", "not_equals": null}},
            "c": {"from": "/y", "lookup": {"k": "v"}, "fallback": null}}}}"#;
    for map in [
        parse_route_yaml(&route_text(yaml), Path::new("t.yaml"))
            .unwrap()
            .request
            .unwrap()
            .map,
        crate::mapping::parse_route_json(json, Path::new("t.json"))
            .unwrap()
            .request
            .unwrap()
            .map,
    ] {
        let rules: Vec<&Rule> = map
            .entries
            .iter()
            .map(|e| match &e.value {
                Entry::Rule(r) => r.as_ref(),
                other => panic!("a rule: {other:?}"),
            })
            .collect();
        assert_eq!(rules[0].constant, Some(Value::Null));
        assert_eq!(
            rules[0].when.as_ref().map(|c| c.equals.clone()),
            Some(Some(Value::Null))
        );
        assert_eq!(rules[1].default, Some(Value::Null));
        assert_eq!(
            rules[1]
                .when
                .as_ref()
                .map(|c| (c.equals.clone(), c.not_equals.clone())),
            Some((None, Some(Value::Null)))
        );
        assert_eq!(rules[2].fallback, Some(Value::Null));
        assert_eq!(rules[2].constant, None);
    }
}

#[test]
fn rule_key_after_target_key_is_an_error() {
    assert_eq!(
        yaml_error("a:\n  b: /x\n  from: /y"),
        "t.yaml:9:13: error: `from` is a rule keyword, but this object's first key `b` is a \
         target property; to write a target property named `from`, write `\\from`; to make \
         the object a rule, write its rule keys first"
    );
    assert_eq!(
        yaml_error("leg:\n  \\from: /Leg/Origin\n  to: /Leg/Dest\n  date: /Leg/Day"),
        "t.yaml:10:13: error: `date` is a rule keyword, but this object's first key `\\from` \
         is a target property; to write a target property named `date`, write `\\date`; to \
         make the object a rule, write its rule keys first"
    );
}

#[test]
fn wrong_value_kinds_and_variants_have_positions() {
    assert_eq!(
        yaml_error("a: [1]"),
        "t.yaml:7:9: error: invalid type: integer `1`, expected a rule (an object whose first \
         key is a rule keyword)"
    );
    assert_eq!(
        yaml_error("a:\n  - { b: /x }"),
        "t.yaml:8:14: error: `b` is not a rule keyword, but the items of a list under a target \
         key are rules; rule keywords: from, const, template, each, cases, map, item, filter, \
         default, on_missing, on_null, on_empty, as, scale, rounding, apply, lookup, fallback, \
         date, calc, when"
    );
    assert_eq!(
        yaml_error("a: { from: /x, as: float }"),
        "t.yaml:7:24: error: unknown variant `float`, expected one of string, integer, \
         number, boolean, decimal"
    );
    assert_eq!(
        yaml_error("a: { from: /x\n"),
        "t.yaml:7:8: error: unclosed bracket '{'"
    );
}

#[test]
fn unknown_route_key_is_an_error() {
    let text = "route: { method: GET, path: /x, format: json, verb: GET }\nupstream: { service: s, path: /u }\n";
    let err = parse_route_yaml(text, Path::new("r.yaml")).unwrap_err();
    assert_eq!(err.len(), 1);
    assert_eq!((err[0].line, err[0].column), (Some(1), Some(47)));
    assert_eq!(
        err[0].message,
        "unknown field `verb`, expected one of kind, method, path, format, namespace, response_media_type, headers, query, soap, soap_action, soap_fault_status"
    );
}

#[test]
fn keys_keep_positions_and_nesting() {
    let r = parse_route_yaml(
        &route_text("a: /x\nb:\n  c: { from: /y }\n  d.e: /z"),
        Path::new("t.yaml"),
    )
    .unwrap();
    let map = r.request.unwrap().map;
    assert_eq!(map.entries.len(), 2);
    assert_eq!(map.entries[0].pos, Some((7, 5)));
    assert_eq!(map.entries[0].value, Entry::Path("/x".into()));
    let Entry::Nested(inner) = &map.entries[1].value else {
        panic!("b is nested")
    };
    assert_eq!(inner.entries[0].key, "c");
    assert_eq!(inner.entries[0].pos, Some((9, 7)));
    assert_eq!(
        inner.entries[0].value,
        Entry::Rule(Box::new(Rule {
            from: Some("/y".into()),
            ..Rule::default()
        }))
    );
    assert_eq!(inner.entries[1].key, "d.e");
    assert_eq!(inner.entries[1].pos, Some((10, 7)));
}

#[test]
fn json_route_files_parse_without_rule_positions() {
    let text = r#"{"route": {"method": "POST", "path": "/x", "format": "json"},
        "upstream": {"service": "s", "path": "/u"},
        "request": {"schema": "a", "target": "b", "map": {"a": {"from": "/x", "apply": ["trim", {"replace": {"from": "-", "to": ""}}]}}}}"#;
    let r = crate::mapping::parse_route_json(text, Path::new("r.json")).unwrap();
    let map = r.request.unwrap().map;
    assert_eq!(map.entries[0].pos, None);
    assert_eq!(
        map.entries[0].value,
        Entry::Rule(Box::new(Rule {
            from: Some("/x".into()),
            apply: vec![
                StringFn::Trim,
                StringFn::Replace {
                    from: "-".into(),
                    to: String::new()
                }
            ],
            ..Rule::default()
        }))
    );
    let err = crate::mapping::parse_route_json("{\"route\": {\"method\": 1}}", Path::new("r.json"))
        .unwrap_err();
    assert_eq!(
        err[0].to_string(),
        "r.json:1:22: error: invalid type: integer `1`, expected a string at line 1 column 22"
    );
}

#[test]
fn json_schema_describes_rules_and_maps() {
    let schema = crate::mapping::json_schema();
    let defs = &schema["$defs"];
    assert_eq!(defs["Entry"]["anyOf"][0]["type"], "string");
    assert_eq!(
        defs["MapSpec"]["additionalProperties"]["$ref"],
        "#/$defs/Entry"
    );
    assert_eq!(defs["Rule"]["additionalProperties"], false);
    assert!(defs["Rule"]["properties"]["lookup"].is_object());
    assert_eq!(
        schema["properties"]["request"]["anyOf"][0]["$ref"],
        "#/$defs/DirectionSpec"
    );
}

#[test]
fn upstream_query_forwarding_settings() {
    let parse = |q: &str| {
        serde_json::from_str::<UpstreamSpec>(&format!(r#"{{"service": "s", "path": "/p"{q}}}"#))
            .map(|u| u.query)
            .map_err(|e| e.to_string())
    };
    assert_eq!(parse(""), Ok(QueryForwarding::Mode(QueryMode::None)));
    assert_eq!(
        parse(r#", "query": "all""#),
        Ok(QueryForwarding::Mode(QueryMode::All))
    );
    assert_eq!(
        parse(r#", "query": ["a_b", "c"]"#),
        Ok(QueryForwarding::Names(vec!["a_b".into(), "c".into()]))
    );
    assert_eq!(
        parse(r#", "query": "some""#),
        Err("`none`, `all` or a list of query parameter names at line 1 column 47".into())
    );

    let raw = Some("a%5Fb=1&x=2&c&a_b=3%204&=5");
    assert_eq!(QueryForwarding::default().select(raw), None);
    assert_eq!(
        QueryForwarding::Mode(QueryMode::All).select(raw).as_deref(),
        raw
    );
    let names = QueryForwarding::Names(vec!["a_b".into(), "c".into()]);
    assert_eq!(names.select(raw).as_deref(), Some("a%5Fb=1&c&a_b=3%204"));
    assert_eq!(names.select(Some("x=1")), None);
    assert_eq!(names.select(Some("")), None);
    assert_eq!(names.select(None), None);
}
