use serde_json::{Value, json};

use crate::mapping::MapError;
use crate::mapping::test_support::run;

/// The mapped document as the bytes forwarded upstream.
fn out(map: &str, source: Value) -> String {
    match run(map, &source) {
        Ok(v) => serde_json::to_string(&v).unwrap_or_default(),
        Err(e) => panic!("mapping failed: {e}"),
    }
}

fn err(map: &str, source: Value) -> MapError {
    match run(map, &source) {
        Ok(v) => panic!("expected an error, got {v}"),
        Err(e) => e,
    }
}

fn error(target: &str, input: &str, message: &str) -> MapError {
    MapError {
        target: target.to_owned(),
        input: Some(input.to_owned()),
        message: message.to_owned(),
    }
}

#[test]
fn unit_conversions_are_exact() {
    let map = "kg: { from: /g, calc: [{ divide: 1000 }], as: string }\n\
               units: { from: /cents, calc: [{ divide: 100 }] }\n\
               exact: { from: /cents, calc: [{ divide: 100 }], as: decimal, scale: 2 }";
    assert_eq!(
        out(map, json!({"g": 1234, "cents": 1999})),
        r#"{"kg":"1.234","units":19.99,"exact":19.99}"#
    );
    // Decimal text in, the same result; a whole kilogram keeps no decimals it did not get.
    assert_eq!(
        out(map, json!({"g": "1500", "cents": "5"})),
        r#"{"kg":"1.5","units":0.05,"exact":0.05}"#
    );
    assert_eq!(
        out(map, json!({"g": 2000, "cents": 0})),
        r#"{"kg":"2","units":0.0,"exact":0.0}"#
    );
}

#[test]
fn sums_are_exact_where_floats_are_not() {
    let map = "text: { from: /a, calc: [{ add: \"0.2\" }], as: string }\n\
               number: { from: /n, calc: [{ add: 0.2 }] }\n\
               difference: { from: /gross, calc: [{ subtract: /discount }], as: string }";
    assert_eq!(
        out(
            map,
            json!({"a": "0.1", "n": 0.1, "gross": "10.00", "discount": "0.01"})
        ),
        r#"{"text":"0.3","number":0.3,"difference":"9.99"}"#
    );
}

#[test]
fn products_keep_the_decimals_of_their_operands() {
    let map = "total: { from: /qty, calc: [{ multiply: /price }], as: string }\n\
               double: { from: /price, calc: [{ multiply: 2 }], as: string }";
    assert_eq!(
        out(map, json!({"qty": 3, "price": "12.50"})),
        r#"{"total":"37.50","double":"25.00"}"#
    );
}

#[test]
fn round_half_even_and_half_up_differ_on_midpoints() {
    let map = "even: { from: /v, calc: [{ round: { scale: 2, rounding: half_even } }], as: string }\n\
               up: { from: /v, calc: [{ round: 2 }], as: string }\n\
               down: { from: /v, calc: [{ round: { scale: 2, rounding: down } }], as: string }";
    let rounded = |v: &str| out(map, json!({ "v": v }));
    assert_eq!(
        rounded("0.125"),
        r#"{"even":"0.12","up":"0.13","down":"0.12"}"#
    );
    assert_eq!(
        rounded("0.135"),
        r#"{"even":"0.14","up":"0.14","down":"0.13"}"#
    );
    assert_eq!(
        rounded("-0.125"),
        r#"{"even":"-0.12","up":"-0.13","down":"-0.12"}"#
    );
    assert_eq!(rounded("7"), r#"{"even":"7.00","up":"7.00","down":"7.00"}"#);
}

#[test]
fn net_from_gross_and_a_rate_read_from_the_document() {
    let map = "net:\n  from: /gross\n  calc:\n    - divide: { from: /rate, calc: [{ add: 1 }] }\n    - round: 2\n  as: string";
    assert_eq!(
        out(map, json!({"gross": "119.00", "rate": "0.19"})),
        r#"{"net":"100.00"}"#
    );
    assert_eq!(
        out(map, json!({"gross": "10.00", "rate": 0.07})),
        r#"{"net":"9.35"}"#
    );
}

#[test]
fn operands_inside_each_read_the_item() {
    let map = "lines:\n  each: /items\n  map:\n    total: { from: Price, calc: [{ multiply: Qty }], as: string }";
    assert_eq!(
        out(
            map,
            json!({"items": [{"Price": "0.18", "Qty": 250}, {"Price": "6.40", "Qty": 3}]})
        ),
        r#"{"lines":[{"total":"45.00"},{"total":"19.20"}]}"#
    );
}

#[test]
fn integers_and_numbers_from_arithmetic() {
    let map = "whole: { from: /g, calc: [{ divide: 1000 }, { round: 0 }], as: integer }\n\
               float: { from: /g, calc: [{ divide: 8 }], as: number }";
    assert_eq!(out(map, json!({"g": 1500})), r#"{"whole":2,"float":187.5}"#);
    assert_eq!(
        err(
            "n: { from: /g, calc: [{ divide: 1000 }], as: integer }",
            json!({"g": 1500})
        ),
        error(
            "/n",
            "/g",
            "1.5 is not an integer; add `round: 0` to the `calc` steps to make it one"
        )
    );
}

#[test]
fn division_by_zero_names_the_divisor() {
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ divide: /b }] }",
            json!({"a": 5, "b": 0})
        ),
        error("/r", "/b", "division by zero: 5 / 0")
    );
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ divide: { from: /rate, calc: [{ subtract: 1 }] } }] }",
            json!({"a": "5", "rate": "1.00"})
        ),
        error("/r", "/rate", "division by zero: 5 / 0.00")
    );
}

#[test]
fn a_quotient_needing_rounding_must_be_rounded() {
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ divide: 3 }], as: string }",
            json!({"a": 1})
        ),
        error(
            "/r",
            "/a",
            "1 / 3 has no exact decimal result; add a `round` step after `divide`"
        )
    );
    assert_eq!(
        out(
            "r: { from: /a, calc: [{ divide: 3 }, { round: 4 }], as: string }",
            json!({"a": 1})
        ),
        r#"{"r":"0.3333"}"#
    );
    // `scale` on the rule rounds too.
    assert_eq!(
        out(
            "r: { from: /a, calc: [{ divide: 3 }], as: string, scale: 2, rounding: half_even }",
            json!({"a": 2})
        ),
        r#"{"r":"0.67"}"#
    );
}

#[test]
fn overflow_missing_operands_and_text_are_errors() {
    let max = "79228162514264337593543950335";
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ multiply: /a }] }",
            json!({ "a": max })
        ),
        error(
            "/r",
            "/a",
            &format!("{max} * {max} is too large for an exact decimal")
        )
    );
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ multiply: /rate }] }",
            json!({"a": 1})
        ),
        error("/r", "/rate", "the `calc` operand `/rate` is missing")
    );
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ multiply: /rate }] }",
            json!({"a": 1, "rate": null})
        ),
        error("/r", "/rate", "the `calc` operand `/rate` is null")
    );
    assert_eq!(
        err(
            "r: { from: /a, calc: [{ multiply: /rate }] }",
            json!({"a": 1, "rate": "ten"})
        ),
        error("/r", "/rate", "\"ten\" is not a decimal number")
    );
    assert_eq!(
        err("r: { from: /a, calc: [{ add: 1 }] }", json!({"a": "1,5"})),
        error("/r", "/a", "\"1,5\" is not a decimal number")
    );
    // A missing source follows the rule's absence handling, as without `calc`.
    assert_eq!(out("r: { from: /a, calc: [{ add: 1 }] }", json!({})), "{}");
    assert_eq!(
        out("r: { from: /a, calc: [{ add: 1 }], default: 0 }", json!({})),
        r#"{"r":0}"#
    );
}
