use crate::mapping::test_support::compile_map;

/// Compiles and renders every diagnostic as `file:line:col: error: message`.
fn errors(map: &str) -> Vec<String> {
    match compile_map(map) {
        Ok(_) => panic!("expected compile errors for {map:?}"),
        Err(d) => d
            .iter()
            .map(|d| {
                format!(
                    "{}:{}:{}: {} @ {}",
                    d.file.display(),
                    d.line.unwrap_or(0),
                    d.column.unwrap_or(0),
                    d.message,
                    d.location.as_deref().unwrap_or("")
                )
            })
            .collect(),
    }
}

#[test]
fn every_error_is_collected_with_its_position() {
    assert_eq!(
        errors("a: { from: /x, const: 1 }\nb: { as: integer }\nc: $nope.x\nd: Qty\ne: /a//b"),
        vec![
            "t.yaml:7:5: rule has more than one source @ /a",
            "t.yaml:8:5: rule has no source @ /b",
            "t.yaml:9:5: unknown context source `$nope.x`; known: $path.NAME, $query.NAME, $header.NAME, $claims.NAME, $soap.header.NAME, $partner, $correlation_id, $index, $position, $request/... @ /c",
            "t.yaml:10:5: `Qty` is relative to an item, but this rule is not inside `each` @ /d",
            "t.yaml:11:5: empty step in path `/a//b` (two `/` in a row or a trailing `/`) @ /e",
        ]
    );
}

#[test]
fn misplaced_keys_are_errors() {
    assert_eq!(
        errors(
            "a: { const: 1, apply: [trim] }\nb: { from: /x, map: {} }\nc: { from: /x, fallback: 1 }\n\
             d: { from: /x, scale: 2 }\ne: { from: /x, rounding: half_even, as: string }\n\
             f: { from: /x, default: 1, on_missing: error }\ng: { from: /x, on_null: default }\n\
             h: { each: /x }\ni: { each: /x, item: ., as: string }\n\
             j: { from: /x, apply: [{ replace: { from: \"\", to: \"-\" } }] }"
        ),
        vec![
            "t.yaml:7:5: `const` takes no other keys than `when` @ /a",
            "t.yaml:8:5: `map` is only valid with `each` @ /b",
            "t.yaml:9:5: `fallback` is only valid with `lookup` @ /c",
            "t.yaml:10:5: `scale` needs `as: string` or `as: decimal` @ /d",
            "t.yaml:11:5: `rounding` needs `scale` @ /e",
            "t.yaml:12:5: `on_missing` has no effect when `default` is given @ /f",
            "t.yaml:13:5: `on_null: default` needs a `default` value @ /g",
            "t.yaml:14:5: `each` needs exactly one of `map` (object items) or `item` (one value per item) @ /h",
            "t.yaml:15:5: `each` produces an array; value steps (`apply`, `lookup`, `date`, `calc`, `as`) belong in its `item` or `map` rules @ /i",
            "t.yaml:16:5: `replace` needs a non-empty `from` @ /j",
        ]
    );
}

#[test]
fn regexes_dates_and_templates_are_checked_at_load() {
    assert_eq!(
        errors(
            "a: { const: 1, when: { path: /p, matches: \"(\" } }\nb: { from: /d, date: { from: \"%Q\", to: rfc3339 } }\n\
             c: { template: \"{/a\" }\nd: { template: \"a}b\" }\ne: { const: 1, when: { exists: /a, missing: /b } }\n\
             f: { const: 1, when: { equals: 1 } }"
        ),
        vec![
            "t.yaml:7:5: invalid regular expression `(`: regex parse error:\n    (\n    ^\nerror: unclosed group @ /a",
            "t.yaml:8:5: invalid date format `%Q` @ /b",
            "t.yaml:9:5: unclosed `{` in template `{/a` @ /c",
            "t.yaml:10:5: unmatched `}` in template `a}b` @ /d",
            "t.yaml:11:5: a condition needs exactly one of exists, missing, equals, not_equals, in, matches, not, all, any @ /e",
            "t.yaml:12:5: `equals`, `not_equals`, `in` and `matches` need `path` @ /f",
        ]
    );
}

#[test]
fn conflicting_targets_are_errors() {
    assert_eq!(
        errors("a: /x\na.b: /y\nc.d: /z\nc:\n  d: /w\ne..f: /v"),
        vec![
            "t.yaml:8:5: target `/a` is already produced by a rule, so it cannot also be an object @ /a/b",
            "t.yaml:10:5: target `/c/d` is produced twice @ /c",
            "t.yaml:12:5: target key `e..f` has an empty part @ /e//f",
        ]
    );
}

#[test]
fn a_backslash_makes_the_next_character_part_of_the_name() {
    let map = compile_map(
        "\\from: /a\n\\\\x: /b\nversion\\.major: /c\nleg.\\to: /d\nleg:\n  \\date: /e\n  \\.x: /f",
    )
    .expect("map compiles");
    let names = |fields: &[crate::mapping::compile::Field]| -> Vec<String> {
        fields.iter().map(|f| f.key.clone()).collect()
    };
    assert_eq!(names(map.fields()), ["from", "\\x", "version.major", "leg"]);
    let crate::mapping::compile::Node::Object(leg) = &map.fields()[3].node else {
        panic!("leg is an object")
    };
    assert_eq!(names(leg), ["to", "date", ".x"]);
    assert_eq!(
        leg.iter().map(|f| f.target.as_str()).collect::<Vec<_>>(),
        ["/leg/to", "/leg/date", "/leg/.x"]
    );
    assert_eq!(
        errors("a\\: /x\nb:\n  c.\\: /y"),
        vec![
            "t.yaml:7:5: target key `a\\` ends with a backslash that escapes nothing; write `\\\\` for a backslash in a name @ ",
            "t.yaml:9:7: target key `c.\\` ends with a backslash that escapes nothing; write `\\\\` for a backslash in a name @ /b",
        ]
    );
}

#[test]
fn nested_rules_point_at_their_own_line() {
    assert_eq!(
        errors("lines:\n  each: /items\n  map:\n    qty: { from: Qty, as: integr }"),
        vec![
            "t.yaml:10:31: unknown variant `integr`, expected one of string, integer, number, boolean, decimal @ "
        ]
    );
    assert_eq!(
        errors("lines:\n  each: /items\n  map:\n    a:\n      b: { from: Qty, scale: 2 }"),
        vec!["t.yaml:11:11: `scale` needs `as: string` or `as: decimal` @ /lines/*/a/b"]
    );
}
