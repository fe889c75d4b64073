//! The value steps added for partners' real data: what an empty source becomes
//! (`on_empty`) and exact decimal arithmetic (`calc`), as a route file writes them.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Rounding;

/// What an empty source produces: the empty string, or an object with no members (an
/// XML element with nothing in it, `<Note/>`), judged after `apply`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum OnEmpty {
    /// The empty value is written as it is (the default).
    Keep,
    /// The target field is not written.
    Omit,
    /// The target field is written as null.
    Null,
    /// The rule's `default` is written.
    Default,
    /// The mapping fails with the source pointer (422 on a request).
    Error,
}

/// One step of `calc`, on exact decimals. The running value starts as the rule's source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum CalcStep {
    /// Adds the operand.
    Add(Operand),
    /// Subtracts the operand.
    Subtract(Operand),
    /// Multiplies by the operand.
    Multiply(Operand),
    /// Divides by the operand. A quotient with no exact decimal form (1 / 3) needs a
    /// `round` later in the same list, or `scale`.
    Divide(Operand),
    /// Rounds to a number of decimals: `round: 2`, or `round: { scale: 2, rounding: half_even }`.
    Round(RoundSpec),
}

/// The other value of an arithmetic step: a number (`1000`, `"0.19"`), a source path
/// (`/Order/Rate`, `Qty`), or a source path with its own steps
/// (`{ from: /Order/Rate, calc: [{ add: 1 }] }`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    untagged,
    expecting = "a number, decimal text, a source path, or `{ from: PATH, calc: [...] }`"
)]
pub enum Operand {
    /// A source value with its own arithmetic (tried first: a plain value takes maps too).
    Computed(ComputedOperand),
    /// A number, or text: decimal text is a constant, anything else a source path.
    Scalar(Value),
}

/// `{ from: PATH, calc: [...] }`: an operand computed from another source value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ComputedOperand {
    /// The source path the operand starts from.
    pub from: String,
    /// Its steps.
    #[serde(default)]
    pub calc: Vec<CalcStep>,
}

impl JsonSchema for Operand {
    fn schema_name() -> Cow<'static, str> {
        "Operand".into()
    }
    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let computed = generator.subschema_for::<ComputedOperand>();
        json_schema!({
            "description": "A number (`1000`), decimal text (`\"0.19\"`), a source path (`/Order/Rate`), or `{ from: PATH, calc: [...] }`.",
            "anyOf": [
                { "type": "number" },
                { "type": "string" },
                computed,
            ],
        })
    }
}

/// `round: N` or `round: { scale: N, rounding: MODE }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(
    untagged,
    expecting = "a number of decimals, or `{ scale: N, rounding: half_up | half_even | down }`"
)]
pub enum RoundSpec {
    /// Decimals, rounded half up.
    Scale(u32),
    /// Decimals and the rounding mode.
    With(RoundWith),
}

/// The long form of `round`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RoundWith {
    /// Decimals kept (at most 28).
    pub scale: u32,
    /// How the dropped digits round (default: half_up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rounding: Option<Rounding>,
}

impl RoundSpec {
    /// The decimals and the rounding mode.
    pub fn parts(self) -> (u32, Rounding) {
        match self {
            RoundSpec::Scale(scale) => (scale, Rounding::HalfUp),
            RoundSpec::With(w) => (w.scale, w.rounding.unwrap_or(Rounding::HalfUp)),
        }
    }
}
