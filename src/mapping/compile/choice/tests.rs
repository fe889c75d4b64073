use serde_json::{Value, json};

use crate::mapping::test_support::{compile_map, run};

fn errors(map: &str) -> Vec<String> {
    match compile_map(map) {
        Ok(_) => panic!("expected compile errors for {map:?}"),
        Err(d) => d
            .iter()
            .map(|d| {
                let mut s = format!(
                    "{}:{}: {} @ {}",
                    d.line.unwrap_or(0),
                    d.column.unwrap_or(0),
                    d.message,
                    d.location.as_deref().unwrap_or("")
                );
                if let Some(h) = &d.hint {
                    s.push_str(&format!(" (hint: {h})"));
                }
                s
            })
            .collect(),
    }
}

fn ok(map: &str, source: Value) -> Value {
    match run(map, &source) {
        Ok(v) => v,
        Err(e) => panic!("mapping failed: {e}"),
    }
}

const SPEED: &str = "speed:\n  cases:\n    - { when: { path: /p, equals: express }, const: EXPRESS }\n    \
                     - { when: { path: /p, in: [overnight, same_day] }, from: /p, apply: [uppercase] }\n  \
                     default: STANDARD\nafter: /p";

#[test]
fn cases_take_the_first_branch_that_holds_else_the_default() {
    assert_eq!(
        ok(SPEED, json!({"p": "express"})),
        json!({"speed": "EXPRESS", "after": "express"})
    );
    assert_eq!(
        ok(SPEED, json!({"p": "same_day"})),
        json!({"speed": "SAME_DAY", "after": "same_day"})
    );
    assert_eq!(
        ok(SPEED, json!({"p": "economy"})),
        json!({"speed": "STANDARD", "after": "economy"})
    );
    assert_eq!(ok(SPEED, json!({})), json!({"speed": "STANDARD"}));
}

#[test]
fn overlapping_branches_are_taken_in_order() {
    let map = "v:\n  cases:\n    - { when: { exists: /a }, const: 1 }\n    - { when: { exists: /b }, const: 2 }\n    - { from: /c }";
    assert_eq!(ok(map, json!({"a": 0, "b": 0, "c": 3})), json!({"v": 1}));
    assert_eq!(ok(map, json!({"b": 0, "c": 3})), json!({"v": 2}));
    // The last branch may go without `when`: it holds when no other does.
    assert_eq!(ok(map, json!({"c": 3})), json!({"v": 3}));
    // A branch that holds writes what its rule writes, nothing when its source is absent.
    assert_eq!(ok(map, json!({})), json!({}));
    // A `when` of the whole rule, and no default: nothing written when no branch holds.
    let guarded = "v:\n  when: { exists: /on }\n  cases:\n    - { when: { exists: /a }, from: /a }";
    assert_eq!(ok(guarded, json!({"a": 1})), json!({}));
    assert_eq!(ok(guarded, json!({"on": true, "a": 1})), json!({"v": 1}));
    assert_eq!(ok(guarded, json!({"on": true})), json!({}));
}

#[test]
fn cases_work_as_each_items() {
    let map = "codes:\n  each: /items\n  item:\n    cases:\n      - { when: { path: ./k, equals: B }, const: bulk }\n      - { when: { exists: ./n }, from: ./n }\n    default: unknown";
    assert_eq!(
        ok(map, json!({"items": [{"k": "B"}, {"n": "x"}, {}]})),
        json!({"codes": ["bulk", "x", "unknown"]})
    );
}

#[test]
fn exclusive_rules_share_a_target() {
    let list = "kind:\n  - { const: bulk, when: { path: /k, equals: B } }\n  - { from: /name, when: { path: /k, equals: N } }\n  - { const: none, when: { missing: /k } }\nz: /k";
    assert_eq!(
        ok(list, json!({"k": "B", "name": "n"})),
        json!({"kind": "bulk", "z": "B"})
    );
    assert_eq!(
        ok(list, json!({"k": "N", "name": "n"})),
        json!({"kind": "n", "z": "N"})
    );
    assert_eq!(ok(list, json!({})), json!({"kind": "none"}));
    assert_eq!(ok(list, json!({"k": "X"})), json!({"z": "X"}));
    // A dotted key and a nested map reaching one target, under exclusive conditions.
    let merged = "a.b: { const: 1, when: { exists: /x } }\na:\n  b: { const: 2, when: { missing: /x } }\n  c: { const: 3 }";
    assert_eq!(ok(merged, json!({"x": 0})), json!({"a": {"b": 1, "c": 3}}));
    assert_eq!(ok(merged, json!({})), json!({"a": {"b": 2, "c": 3}}));
    // `each` rules too.
    let each = "l:\n  - { each: /a, item: ., when: { exists: /a } }\n  - { const: [], when: { missing: /a } }";
    assert_eq!(ok(each, json!({"a": [1, 2]})), json!({"l": [1, 2]}));
    assert_eq!(ok(each, json!({})), json!({"l": []}));
}

#[test]
fn rules_sharing_a_target_must_exclude_each_other() {
    let hint = "several rules may write one target when their `when` conditions exclude each \
                other (`equals` with different values of one path, `exists` and `missing` of one \
                path, a condition and its `not`); for an order of precedence, write one `cases:` rule";
    assert_eq!(
        errors(
            "k:\n  - { const: 1, when: { path: /k, equals: B } }\n  - { const: 2, when: { exists: /k } }"
        ),
        vec![format!(
            "7:5: target `/k` is produced twice: the `when` conditions of its rules are not proven to exclude each other @ /k (hint: {hint})"
        )]
    );
    assert_eq!(
        errors("k:\n  - { const: 1, when: { exists: /k } }\n  - { const: 2 }"),
        vec![format!(
            "7:5: target `/k` is produced twice, and one of its rules has no `when` @ /k (hint: {hint})"
        )]
    );
    assert_eq!(
        errors(
            "a.b: { const: 1, when: { exists: /x } }\na:\n  b: { const: 2, when: { exists: /y } }"
        ),
        vec![format!(
            "8:5: target `/a/b` is produced twice: the `when` conditions of its rules are not proven to exclude each other @ /a (hint: {hint})"
        )]
    );
    // A third rule must exclude both others.
    assert_eq!(
        errors(
            "k:\n  - { const: 1, when: { path: /k, equals: A } }\n  - { const: 2, when: { path: /k, equals: B } }\n  - { const: 3, when: { path: /k, in: [B, C] } }"
        ),
        vec![format!(
            "7:5: target `/k` is produced twice: the `when` conditions of its rules are not proven to exclude each other @ /k (hint: {hint})"
        )]
    );
    assert_eq!(
        errors("k: []"),
        vec![
            "7:5: an empty list of rules writes nothing @ /k (hint: write a rule, or remove the key)"
        ]
    );
}

#[test]
fn cases_mistakes_are_refused_at_load() {
    assert_eq!(
        errors(
            "a: { cases: [{ when: { exists: /x }, from: /x }], as: string }\n\
             b: { cases: [] }\n\
             c: { cases: [{ from: /x }, { when: { exists: /y }, from: /y }] }\n\
             d: { cases: [{ when: { exists: /x }, from: /x, scale: 2 }] }\n\
             e: { cases: [{ when: { exists: /x }, cases: [] }] }\n\
             f: { cases: [{ from: /x }], default: 1 }\n\
             g: { cases: [{ when: { exists: /x }, from: /x }], from: /y }"
        ),
        vec![
            "7:5: `cases` takes no other keys than `when` and `default`; `as` belong in its branches @ /a",
            "8:5: `cases` needs at least one branch @ /b",
            "9:5: `cases` branch 1: only the last branch may go without `when`: the branches after this one could never be written @ /c",
            "10:5: `cases` branch 1: `scale` needs `as: string` or `as: decimal` @ /d",
            "11:5: `cases` branch 1: a branch cannot itself be a `cases` rule; write its branches in this list @ /e",
            "12:5: `cases` branch 1: the last branch has no `when`, so the rule's `default` is never written @ /f (hint: give the branch a `when`, or remove `default`)",
            "13:5: rule has more than one source @ /g (hint: give exactly one of `from`, `const`, `template`, `each`, `cases`)",
        ]
    );
}
