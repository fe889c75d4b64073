use std::path::Path;

use serde_json::{Value, json};

use crate::mapping::syntax::Direction;
use crate::mapping::test_support::route_text;
use crate::mapping::{ContextDecl, check, parse_route_yaml};
use crate::schema::Shape;

fn check_map(map: &str, source: &Value, target: &Value) -> Vec<String> {
    let file = Path::new("t.yaml");
    let route = parse_route_yaml(&route_text(map), file).unwrap();
    let source = Shape::build("s.schema.json", source, &|_| None).unwrap();
    let target = Shape::build("t.schema.json", target, &|_| None).unwrap();
    check(
        &route,
        Direction::Request,
        file,
        &source,
        &target,
        &ContextDecl::default(),
    )
    .iter()
    .map(ToString::to_string)
    .collect()
}

/// An inventory item as an XML feed sends it.
fn item() -> Value {
    json!({
        "type": "object",
        "required": ["Grams", "Note", "Code", "Active"],
        "properties": {
            "Grams": { "type": "integer" },
            "PriceCents": { "type": "string" },
            "Rate": { "type": "string" },
            "Note": { "type": "string" },
            "Code": { "type": "string", "enum": ["", "A", "B"] },
            "Active": { "type": "boolean" }
        }
    })
}

fn internal() -> Value {
    json!({
        "type": "object",
        "required": ["note"],
        "properties": {
            "note": { "type": "string" },
            "kg": { "type": "string" },
            "price": { "type": "number" },
            "code": { "type": "integer" },
            "active": { "type": "boolean" }
        }
    })
}

#[test]
fn a_clean_map_with_on_empty_and_calc_checks_clean() {
    let map = "note: { from: /Note, on_empty: default, default: \"-\" }\n\
               kg: { from: /Grams, calc: [{ divide: 1000 }], as: string }\n\
               price: { from: /PriceCents, calc: [{ divide: 100 }, { multiply: { from: /Rate, calc: [{ add: 1 }] } }, { round: 2 }] }\n\
               code: { from: /Code, on_empty: omit, lookup: { A: 1, B: 2 } }\n\
               active: /Active";
    assert_eq!(
        check_map(map, &item(), &internal()),
        vec![
            "t.yaml:9:5: warning: the `calc` operand `/Rate` may be missing, and the mapping then fails (422 on a request)\n  --> at /price\n  = hint: make it required in the source schema, or give the rule a `when: { exists: ... }`"
        ]
    );
}

#[test]
fn what_on_empty_writes_must_fit_the_target() {
    let map = "note: { from: /Note, on_empty: omit }\n\
               kg: { from: /Grams, on_empty: null, as: string }\n\
               code: { from: /Code, on_empty: null, lookup: { A: 1, B: 2 } }\n\
               active: /Active\n\
               price: { from: /PriceCents, as: decimal, when: { exists: /Rate } }";
    assert_eq!(
        check_map(map, &item(), &internal()),
        vec![
            "t.yaml:8:5: warning: `on_empty` never applies: the source of `/kg` is integer by the source schema, never empty text or an empty object\n  --> at /kg\n  = hint: remove `on_empty`",
            "t.yaml:9:5: error: `on_empty: null` writes null, which `/code` does not allow\n  --> at /code\n  = hint: use `on_empty: omit`, or `on_empty: default` with a `default`",
            "t.yaml:7:5: warning: required target property `/note` may be omitted: its source `/Note` may be empty and `on_empty` is omit\n  --> at /note\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input",
        ]
    );
}

#[test]
fn arithmetic_needs_numbers_and_gives_a_number() {
    let map = "note: /Note\n\
               kg: { from: /Grams, calc: [{ divide: 1000 }] }\n\
               price: { from: /Active, calc: [{ multiply: 2 }] }\n\
               code: { from: /Code, calc: [{ add: /Active }], as: integer }\n\
               active: { from: /Grams, calc: [{ add: { from: /PriceCents, calc: [{ add: /Rate }] } }], as: string }";
    assert_eq!(
        check_map(map, &item(), &internal()),
        vec![
            "t.yaml:8:5: error: `/kg` expects string, but the rule produces number\n  --> at t.schema.json#/properties/kg\n  = hint: convert with `as: string` (add `scale` for fixed decimals)",
            "t.yaml:9:5: error: `calc` needs a number or decimal text, but the source is boolean\n  --> at /price",
            "t.yaml:10:5: error: the `calc` operand `/Active` is boolean by the source schema, not a number\n  --> at /code",
            "t.yaml:10:5: error: `calc` fails on source values \"\", \"A\", \"B\"\n  --> at /code\n  = hint: map those values with `lookup` first",
            "t.yaml:11:5: warning: the `calc` operand `/PriceCents` may be missing, and the mapping then fails (422 on a request)\n  --> at /active\n  = hint: make it required in the source schema, or give the rule a `when: { exists: ... }`",
            "t.yaml:11:5: warning: the `calc` operand `/Rate` may be missing, and the mapping then fails (422 on a request)\n  --> at /active\n  = hint: make it required in the source schema, or give the rule a `when: { exists: ... }`",
            "t.yaml:11:5: error: `/active` expects boolean, but the rule produces string\n  --> at t.schema.json#/properties/active",
        ]
    );
}
