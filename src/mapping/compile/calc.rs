//! Compiles the steps that read a value as partners really send it: `on_empty` (what an
//! empty value becomes) and `calc` (exact decimal arithmetic with constants and other
//! source values as operands).

use rust_decimal::Decimal;

use super::*;
use crate::mapping::eval::{decimal_constant, is_decimal};
use crate::mapping::syntax::{CalcStep, Operand as OperandSpec};

/// One compiled `calc` step.
#[derive(Debug, Clone)]
pub enum CalcOp {
    Add(Operand),
    Subtract(Operand),
    Multiply(Operand),
    /// `rounded`: a `round` step or the rule's `scale` follows, so a quotient with no
    /// exact decimal form is carried at full precision (28 digits) and rounded there;
    /// without one, such a quotient is an error rather than a silent rounding.
    Divide {
        by: Operand,
        rounded: bool,
    },
    Round {
        scale: u32,
        rounding: Rounding,
    },
}

/// The other value of an arithmetic step.
#[derive(Debug, Clone)]
pub enum Operand {
    Const(Decimal),
    Path(SourcePath),
    /// A source value with its own steps.
    Computed(SourcePath, Vec<CalcOp>),
}

impl CalcOp {
    /// Every source path the step reads.
    pub fn paths<'a>(&'a self, out: &mut Vec<&'a SourcePath>) {
        if let Some(o) = self.operand() {
            o.paths(out);
        }
    }

    /// The step's operand (none for `round`).
    pub fn operand(&self) -> Option<&Operand> {
        match self {
            CalcOp::Add(o) | CalcOp::Subtract(o) | CalcOp::Multiply(o) => Some(o),
            CalcOp::Divide { by, .. } => Some(by),
            CalcOp::Round { .. } => None,
        }
    }
}

impl Operand {
    /// Every source path the operand reads.
    pub fn paths<'a>(&'a self, out: &mut Vec<&'a SourcePath>) {
        match self {
            Operand::Const(_) => {}
            Operand::Path(p) => out.push(p),
            Operand::Computed(p, ops) => {
                out.push(p);
                ops.iter().for_each(|op| op.paths(out));
            }
        }
    }
}

impl Compiler<'_> {
    /// The rule's `on_empty`, checked against the rest of the rule.
    pub(super) fn on_empty(&mut self, r: &Rule, at: At<'_>) -> OnEmpty {
        let Some(on_empty) = r.on_empty else {
            return OnEmpty::Keep;
        };
        // `const` reports its own extra keys.
        if r.from.is_none() && r.constant.is_none() {
            self.err(
                at,
                "`on_empty` is only valid with `from`",
                Some("an empty value is one the source document holds"),
            );
        }
        if on_empty == OnEmpty::Default && r.default.is_none() {
            self.err(at, "`on_empty: default` needs a `default` value", None);
        }
        on_empty
    }

    /// The rule's `calc` steps.
    pub(super) fn calc(&mut self, r: &Rule, at: At<'_>) -> Vec<CalcOp> {
        if r.calc.is_empty() {
            return Vec::new();
        }
        if r.convert == Some(Conversion::Boolean) {
            self.err(
                at,
                "`calc` produces a number, which `as: boolean` does not convert",
                None,
            );
        }
        self.calc_steps(&r.calc, r.scale.is_some(), at)
    }

    /// Steps of one list; `rounded_after`: the value is rounded after the list.
    fn calc_steps(&mut self, steps: &[CalcStep], rounded_after: bool, at: At<'_>) -> Vec<CalcOp> {
        let mut out = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let rounded = rounded_after
                || steps
                    .get(i + 1..)
                    .is_some_and(|rest| rest.iter().any(|s| matches!(s, CalcStep::Round(_))));
            let op = match step {
                CalcStep::Add(o) => self.operand(o, "add", rounded, at).map(CalcOp::Add),
                CalcStep::Subtract(o) => self
                    .operand(o, "subtract", rounded, at)
                    .map(CalcOp::Subtract),
                CalcStep::Multiply(o) => self
                    .operand(o, "multiply", rounded, at)
                    .map(CalcOp::Multiply),
                CalcStep::Divide(o) => match self.operand(o, "divide", rounded, at) {
                    Some(Operand::Const(d)) if d.is_zero() => {
                        self.err(
                            at,
                            "`divide` by the constant 0: a division by zero",
                            Some("divide by a number other than 0"),
                        );
                        None
                    }
                    by => by.map(|by| CalcOp::Divide { by, rounded }),
                },
                CalcStep::Round(spec) => {
                    let (scale, rounding) = spec.parts();
                    if scale > MAX_SCALE {
                        self.err(
                            at,
                            format!("`round` keeps at most {MAX_SCALE} decimals"),
                            None,
                        );
                        None
                    } else {
                        Some(CalcOp::Round { scale, rounding })
                    }
                }
            };
            out.extend(op);
        }
        out
    }

    fn operand(
        &mut self,
        o: &OperandSpec,
        step: &str,
        rounded: bool,
        at: At<'_>,
    ) -> Option<Operand> {
        match o {
            OperandSpec::Scalar(Value::String(s)) if !is_decimal(s) => {
                self.path(s, at).map(Operand::Path)
            }
            OperandSpec::Scalar(v @ (Value::String(_) | Value::Number(_))) => {
                match decimal_constant(v) {
                    Ok(d) => Some(Operand::Const(d)),
                    Err(message) => {
                        self.err(
                            at,
                            format!("`{step}`: {message}"),
                            Some("write the number as decimal text, e.g. \"0.19\""),
                        );
                        None
                    }
                }
            }
            OperandSpec::Scalar(other) => {
                self.err(
                    at,
                    format!("`{step}` takes a number, decimal text or a source path, not {other}"),
                    None,
                );
                None
            }
            OperandSpec::Computed(c) => {
                let from = self.path(&c.from, at);
                let ops = self.calc_steps(&c.calc, rounded, at);
                Some(Operand::Computed(from?, ops))
            }
        }
    }
}

#[cfg(test)]
mod tests;
