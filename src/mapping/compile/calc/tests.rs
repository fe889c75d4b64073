use serde_json::{Value, json};

use crate::mapping::MapError;
use crate::mapping::test_support::{compile_map, run};

fn errors(map: &str) -> Vec<String> {
    match compile_map(map) {
        Ok(_) => panic!("expected compile errors for {map:?}"),
        Err(d) => d
            .iter()
            .map(|d| {
                format!(
                    "{}:{}: {} @ {}",
                    d.line.unwrap_or(0),
                    d.column.unwrap_or(0),
                    d.message,
                    d.location.as_deref().unwrap_or("")
                )
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

const EMPTY: &str = "omitted: { from: /n, on_empty: omit }\n\
                     nulled: { from: /n, on_empty: null }\n\
                     defaulted: { from: /n, on_empty: default, default: none }\n\
                     kept: /n\n\
                     absent: { from: /gone, on_empty: null }";

#[test]
fn an_empty_value_becomes_what_the_rule_says() {
    assert_eq!(
        ok(EMPTY, json!({"n": ""})),
        json!({"nulled": null, "defaulted": "none", "kept": ""})
    );
    // An element with nothing in it is an object without members.
    assert_eq!(
        ok(EMPTY, json!({"n": {}})),
        json!({"nulled": null, "defaulted": "none", "kept": {}})
    );
    assert_eq!(
        ok(EMPTY, json!({"n": "x"})),
        json!({"omitted": "x", "nulled": "x", "defaulted": "x", "kept": "x"})
    );
    // Null and absence keep their own handling: null is written (`on_null: keep`), an
    // absent source is left out (`on_missing: omit`).
    assert_eq!(
        ok(EMPTY, json!({"n": null})),
        json!({"omitted": null, "nulled": null, "defaulted": null, "kept": null})
    );
    assert_eq!(ok(EMPTY, json!({})), json!({"defaulted": "none"}));
}

#[test]
fn emptiness_is_judged_after_apply_and_before_conversion() {
    let map = "note: { from: /n, apply: [trim], on_empty: omit }\n\
               qty: { from: /q, as: integer, on_empty: omit }\n\
               code: { from: /c, lookup: { A: 1 }, on_empty: null }";
    assert_eq!(
        ok(map, json!({"n": "  ", "q": "", "c": ""})),
        json!({"code": null})
    );
    assert_eq!(
        ok(map, json!({"n": " a ", "q": "5", "c": "A"})),
        json!({"note": "a", "qty": 5, "code": 1})
    );
}

#[test]
fn on_empty_error_names_the_source() {
    assert_eq!(
        run(
            "ref: { from: /Item/Ref, on_empty: error }",
            &json!({"Item": {"Ref": ""}})
        ),
        Err(MapError {
            target: "/ref".to_owned(),
            input: Some("/Item/Ref".to_owned()),
            message: "required source is empty".to_owned(),
        })
    );
}

#[test]
fn on_empty_and_calc_mistakes_are_refused_at_load() {
    assert_eq!(
        errors(
            "a: { template: \"{/x}\", on_empty: omit }\nb: { from: /x, on_empty: default }\n\
             c: { const: 1, on_empty: omit }\nd: { each: /l, item: ., on_empty: omit }\n\
             e: { each: /l, item: ., calc: [{ add: 1 }] }"
        ),
        vec![
            "7:5: `on_empty` is only valid with `from` @ /a",
            "8:5: `on_empty: default` needs a `default` value @ /b",
            "9:5: `const` takes no other keys than `when` @ /c",
            "10:5: `on_empty` is only valid with `from` @ /d",
            "11:5: `each` produces an array; value steps (`apply`, `lookup`, `date`, `calc`, `as`) belong in its `item` or `map` rules @ /e",
        ]
    );
    assert_eq!(
        errors(
            "a: { from: /x, calc: [{ divide: 0 }] }\nb: { from: /x, calc: [{ round: 29 }] }\n\
             c: { from: /x, calc: [{ add: 1 }], as: boolean }\nd: { from: /x, calc: [{ add: true }] }\n\
             e: { from: /x, calc: [{ multiply: Qty }] }\nf: { from: /x, calc: [{ divide: \"0.00\" }] }\n\
             g: { from: /x, calc: [{ subtract: { from: /y, calc: [{ divide: 0 }] } }] }"
        ),
        vec![
            "7:5: `divide` by the constant 0: a division by zero @ /a",
            "8:5: `round` keeps at most 28 decimals @ /b",
            "9:5: `calc` produces a number, which `as: boolean` does not convert @ /c",
            "10:5: `add` takes a number, decimal text or a source path, not true @ /d",
            "11:5: `Qty` is relative to an item, but this rule is not inside `each` @ /e",
            "12:5: `divide` by the constant 0: a division by zero @ /f",
            "13:5: `divide` by the constant 0: a division by zero @ /g",
        ]
    );
}
