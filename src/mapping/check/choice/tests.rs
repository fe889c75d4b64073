use std::path::Path;

use serde_json::{Value, json};

use crate::mapping::syntax::Direction;
use crate::mapping::test_support::route_text;
use crate::mapping::{ContextDecl, check, parse_route_yaml};
use crate::schema::Shape;

/// The diagnostics of the request map `map` from `source` to `target`, rendered.
fn check_map(map: &str, source: &Value, target: &Value) -> Vec<String> {
    let file = Path::new("t.yaml");
    let route = parse_route_yaml(&route_text(map), file).unwrap();
    let source = Shape::build("s.schema.json", source, &|_| None).unwrap();
    let target = Shape::build("t.schema.json", target, &|_| None).unwrap();
    let ctx = ContextDecl {
        path_params: vec!["id".to_owned()],
        ..ContextDecl::default()
    };
    check(&route, Direction::Request, file, &source, &target, &ctx)
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// A source with a priority (an enum, required or not) and a flag.
fn source(priority_required: bool) -> Value {
    json!({
        "type": "object",
        "required": if priority_required { json!(["Priority", "Express"]) } else { json!(["Express"]) },
        "properties": {
            "Priority": { "type": "string", "enum": ["standard", "express"] },
            "Express": { "type": "boolean" },
            "Qty": { "type": "integer" },
            "Note": { "type": "string" }
        }
    })
}

fn target() -> Value {
    json!({
        "type": "object",
        "required": ["speed"],
        "properties": {
            "speed": { "type": "string", "enum": ["STANDARD", "EXPRESS"] },
            "n": { "type": "integer" }
        }
    })
}

const READ_ALL: &str = "n: { from: /Qty, when: { exists: /Note } }\n";

#[test]
fn exclusive_rules_over_every_enum_value_are_a_required_target_always_written() {
    let map = format!(
        "{READ_ALL}speed:\n  - {{ const: EXPRESS, when: {{ path: /Priority, equals: express }} }}\n  \
         - {{ const: STANDARD, when: {{ path: /Priority, equals: standard }} }}\n\
         flag: {{ const: 1, when: {{ path: /Express, equals: true }} }}"
    );
    let mut with_flag = target();
    with_flag["properties"]["flag"] = json!({ "type": "integer" });
    assert_eq!(
        check_map(&map, &source(true), &with_flag),
        Vec::<String>::new()
    );
    // The source may be absent: then no rule writes the target.
    assert_eq!(
        check_map(&map, &source(false), &with_flag),
        vec![
            "t.yaml:8:5: warning: required target property `/speed` may be omitted: none of the `when` conditions of its rules may hold\n  --> at /speed\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input"
        ]
    );
}

#[test]
fn complementary_conditions_and_booleans_cover_every_input() {
    let map = format!(
        "{READ_ALL}speed:\n  - {{ const: EXPRESS, when: {{ path: /Express, equals: true }} }}\n  \
         - {{ const: STANDARD, when: {{ path: /Express, equals: false }} }}\n\
         other: {{ from: /Priority, when: {{ exists: /Priority }} }}"
    );
    let mut open = target();
    open["properties"]["other"] = json!({ "type": "string" });
    assert_eq!(check_map(&map, &source(false), &open), Vec::<String>::new());
    let map = format!(
        "{READ_ALL}speed:\n  - {{ const: EXPRESS, when: {{ exists: /Priority }} }}\n  \
         - {{ const: STANDARD, when: {{ missing: /Priority }} }}\n\
         other: {{ from: /Express, as: string }}"
    );
    assert_eq!(check_map(&map, &source(false), &open), Vec::<String>::new());
}

#[test]
fn overlapping_conditions_are_refused_with_the_target_named() {
    let map = format!(
        "{READ_ALL}speed:\n  - {{ const: EXPRESS, when: {{ path: /Priority, equals: express }} }}\n  \
         - {{ const: STANDARD, when: {{ path: /Priority, not_equals: standard }} }}"
    );
    assert_eq!(
        check_map(&map, &source(true), &target()),
        vec![
            "t.yaml:8:5: error: target `/speed` is produced twice: the `when` conditions of its rules are not proven to exclude each other\n  --> at /speed\n  = hint: several rules may write one target when their `when` conditions exclude each other (`equals` with different values of one path, `exists` and `missing` of one path, a condition and its `not`); for an order of precedence, write one `cases:` rule"
        ]
    );
}

#[test]
fn every_branch_is_checked_against_the_target() {
    let map = "speed:\n  cases:\n    - { when: { path: /Express, equals: true }, from: /Priority, lookup: { standard: STANDARD, express: EXPRESS } }\n    \
               - { when: { exists: /Qty }, from: /Express }\n  \
               default: SLOW\nn: { from: /Note }";
    assert_eq!(
        check_map(map, &source(true), &target()),
        vec![
            "t.yaml:7:5: error: `cases` branch 2: `/speed` expects string, but the rule produces boolean (source `/Express` at s.schema.json#/properties/Express)\n  --> at t.schema.json#/properties/speed",
            "t.yaml:7:5: error: the default \"SLOW\" of `/speed` is not one of \"STANDARD\", \"EXPRESS\"\n  --> at t.schema.json#/properties/speed",
            "t.yaml:12:5: error: `/n` expects integer, but the rule produces string (source `/Note` at s.schema.json#/properties/Note)\n  --> at t.schema.json#/properties/n\n  = hint: convert with `as: integer`",
        ]
    );
    // The fixed map checks clean: a default makes the required target always written.
    let fixed = "speed:\n  cases:\n    - { when: { path: /Express, equals: true }, from: /Priority, lookup: { standard: STANDARD, express: EXPRESS } }\n    \
                 - { when: { exists: /Qty }, const: EXPRESS }\n  \
                 default: STANDARD\nn: { from: /Note, as: integer, when: { exists: /Qty } }";
    assert_eq!(
        check_map(fixed, &source(true), &target()),
        Vec::<String>::new()
    );
    // Without a default, a `cases` rule may write nothing.
    let bare = "speed:\n  cases:\n    - { when: { exists: /Qty }, const: EXPRESS }\nn: { from: /Note, as: integer, when: { exists: /Priority } }\nx: { const: 1, when: { path: /Express, equals: true } }";
    let mut open = target();
    open["properties"]["x"] = json!({ "type": "integer" });
    assert_eq!(
        check_map(bare, &source(true), &open),
        vec![
            "t.yaml:7:5: warning: required target property `/speed` may be omitted: no branch of `cases` may hold, and it has no `default`\n  --> at /speed\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input"
        ]
    );
}
