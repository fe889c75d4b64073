//! `calc`: exact decimal arithmetic on a rule's value, with operands read from the
//! document, and the conversion of its result. Overflow, division by zero and a quotient
//! that would need rounding nobody asked for are errors naming the value that caused them.

use rust_decimal::prelude::ToPrimitive;

use super::super::compile::{CalcOp, Operand};
use super::*;

impl<'a, 'c: 'a> Eval<'a, 'c> {
    /// Runs `ops` on `d`. `input` names the value being computed, for the errors no
    /// operand is to blame for.
    pub(super) fn calc(
        &self,
        ops: &'a [CalcOp],
        mut d: Decimal,
        field: &Field,
        scope: Option<&Scope<'a>>,
        input: &dyn Fn() -> Option<String>,
    ) -> Result<Decimal, MapError> {
        let fail = |message: String, at: Option<String>| MapError {
            target: target_pointer(field, scope),
            input: at,
            message,
        };
        let too_large = |a: Decimal, sign: &str, b: Decimal| {
            fail(
                format!("{a} {sign} {b} is too large for an exact decimal"),
                input(),
            )
        };
        for op in ops {
            d = match op {
                CalcOp::Round { scale, rounding } => round(d, *scale, *rounding)
                    .map_err(|StepError(message)| fail(message, input()))?,
                CalcOp::Add(o) => {
                    let (b, _) = self.operand(o, field, scope)?;
                    d.checked_add(b).ok_or_else(|| too_large(d, "+", b))?
                }
                CalcOp::Subtract(o) => {
                    let (b, _) = self.operand(o, field, scope)?;
                    d.checked_sub(b).ok_or_else(|| too_large(d, "-", b))?
                }
                CalcOp::Multiply(o) => {
                    let (b, _) = self.operand(o, field, scope)?;
                    d.checked_mul(b).ok_or_else(|| too_large(d, "*", b))?
                }
                CalcOp::Divide { by, rounded } => {
                    let (b, at) = self.operand(by, field, scope)?;
                    if b.is_zero() {
                        let at = at.or_else(input);
                        return Err(fail(format!("division by zero: {d} / {b}"), at));
                    }
                    let q = d.checked_div(b).ok_or_else(|| too_large(d, "/", b))?;
                    if !rounded && q.checked_mul(b) != Some(d) {
                        return Err(fail(
                            format!(
                                "{d} / {b} has no exact decimal result; add a `round` step after `divide`"
                            ),
                            input(),
                        ));
                    }
                    // A quotient carries no trailing zeros of its own: 1500 / 1000 is 1.5.
                    q.normalize()
                }
            };
        }
        Ok(d)
    }

    /// An operand's value, with the pointer of the source it is read from.
    fn operand(
        &self,
        o: &'a Operand,
        field: &Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<(Decimal, Option<String>), MapError> {
        let (p, ops) = match o {
            Operand::Const(d) => return Ok((*d, None)),
            Operand::Path(p) => (p, None),
            Operand::Computed(p, ops) => (p, Some(ops)),
        };
        let at = || input_pointer(p, scope);
        let fail = |message: String| MapError {
            target: target_pointer(field, scope),
            input: at(),
            message,
        };
        let value = match self.resolve(p, scope) {
            None => return Err(fail(format!("the `calc` operand `{}` is missing", p.text))),
            Some(g) if g.is_null() => {
                return Err(fail(format!("the `calc` operand `{}` is null", p.text)));
            }
            Some(g) => g.to_value(),
        };
        let d = to_decimal(&value).map_err(|StepError(message)| fail(message))?;
        match ops {
            Some(ops) => Ok((self.calc(ops, d, field, scope, &at)?, at())),
            None => Ok((d, at())),
        }
    }
}

/// The result of `calc` as the rule's `as` writes it; without `as`, as `as: decimal` does.
/// Text keeps the decimals the arithmetic produced (`12.50 * 2` is `"25.00"`) unless
/// `scale` fixes them.
pub(super) fn convert_decimal(c: Option<&Convert>, mut d: Decimal) -> Result<Value, StepError> {
    if d.is_zero() {
        d.set_sign_positive(true);
    }
    if let Some(Convert {
        scale: Some(scale),
        rounding,
        ..
    }) = c
    {
        d = round(d, *scale, *rounding)?;
    }
    match c.map(|c| c.to) {
        None | Some(Conversion::Decimal) => exact_number(d),
        Some(Conversion::String) => Ok(Value::String(d.to_string())),
        Some(Conversion::Integer) => {
            let whole = d.fract().is_zero();
            let n = whole
                .then(|| {
                    d.to_i64()
                        .map(Number::from)
                        .or_else(|| d.to_u64().map(Number::from))
                })
                .flatten();
            n.map(Value::Number).ok_or_else(|| {
                StepError(format!(
                    "{d} is not an integer; add `round: 0` to the `calc` steps to make it one"
                ))
            })
        }
        Some(Conversion::Number) => d
            .to_f64()
            .and_then(Number::from_f64)
            .map(Value::Number)
            .ok_or_else(|| StepError(format!("{d} is not a number"))),
        Some(Conversion::Boolean) => Err(StepError(format!("{d} is not a boolean"))),
    }
}

#[cfg(test)]
mod tests;
