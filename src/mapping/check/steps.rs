//! The checks of `on_empty` and `calc`: what an empty source becomes must fit the target,
//! and arithmetic needs numbers, from the rule's source and from every operand.

use super::*;
use crate::mapping::compile::{CalcOp, Operand};

/// Whether a value of this flow can be empty (the empty string, or an object).
pub(super) fn may_be_empty(flow: &Flow<'_>) -> bool {
    flow.unknown
        || flow.types.is_any()
        || flow.types.names(TypeSet::STRING)
        || flow.types.names(TypeSet::OBJECT)
}

/// The types of a flow that arithmetic cannot take, named; None when it can.
fn not_decimal(flow: &Flow<'_>) -> Option<String> {
    if flow.unknown || flow.types.is_any() {
        return None;
    }
    let bad = flow.types.names(TypeSet::BOOLEAN)
        || flow.types.names(TypeSet::OBJECT)
        || flow.types.names(TypeSet::ARRAY);
    bad.then(|| type_names(flow.types))
}

impl<'a> Checker<'a> {
    /// `on_empty`: it must be able to apply, and what it writes must fit the target. An
    /// empty value no longer reaches the steps, so it leaves the source's enum.
    pub(super) fn on_empty(
        &mut self,
        f: &Field,
        rule: &ValueRule,
        flow: &mut Flow<'a>,
        node: NodeId,
    ) {
        let on_empty = rule.absence.on_empty;
        if on_empty == OnEmpty::Keep {
            return;
        }
        if rule.apply.is_empty() && !may_be_empty(flow) {
            self.warn(
                f.pos,
                &f.target,
                format!(
                    "`on_empty` never applies: the source of `{}` is {} by the source schema, never empty text or an empty object",
                    f.target,
                    type_names(flow.types)
                ),
                "remove `on_empty`",
            );
            return;
        }
        if on_empty == OnEmpty::Null && !self.target.allows_null(node) {
            self.error(
                f.pos,
                &f.target,
                format!(
                    "`on_empty: null` writes null, which `{}` does not allow",
                    f.target
                ),
                "use `on_empty: omit`, or `on_empty: default` with a `default`",
            );
        }
        if rule.apply.is_empty()
            && let Some(values) = &mut flow.enum_values
        {
            values.retain(|v| !matches!(v, Value::String(s) if s.is_empty()));
        }
    }

    /// What `calc` reads besides the rule's source: every operand path must exist and
    /// hold a number; an operand that may be absent fails the mapping when it is.
    pub(super) fn calc_operands(&mut self, f: &Field, ops: &[CalcOp], items: &[ItemScope<'a>]) {
        for op in ops {
            let (p, inner) = match op.operand() {
                None | Some(Operand::Const(_)) => continue,
                Some(Operand::Path(p)) => (p, None),
                Some(Operand::Computed(p, ops)) => (p, Some(ops)),
            };
            if let Some(flow) = self.resolve(p, f, items) {
                if let Some(types) = not_decimal(&flow) {
                    self.error(
                        f.pos,
                        &f.target,
                        format!(
                            "the `calc` operand `{}` is {types} by the source schema, not a number",
                            p.text
                        ),
                        "",
                    );
                } else if flow.maybe_missing || flow.nullable {
                    self.warn(
                        f.pos,
                        &f.target,
                        format!(
                            "the `calc` operand `{}` may be {}, and the mapping then fails (422 on a request)",
                            p.text,
                            if flow.maybe_missing { "missing" } else { "null" }
                        ),
                        "make it required in the source schema, or give the rule a `when: { exists: ... }`",
                    );
                }
            }
            if let Some(ops) = inner {
                self.calc_operands(f, ops, items);
            }
        }
    }

    /// The flow through `calc`: a number or decimal text in, a number out.
    pub(super) fn calc_flow(&mut self, f: &Field, flow: Flow<'a>) -> Option<Flow<'a>> {
        if let Some(types) = not_decimal(&flow) {
            self.error(
                f.pos,
                &f.target,
                format!("`calc` needs a number or decimal text, but the source is {types}"),
                "",
            );
            return None;
        }
        if let Some(values) = &flow.enum_values {
            let bad: Vec<String> = values
                .iter()
                .filter(|v| !converts(Conversion::Decimal, v))
                .map(Value::to_string)
                .collect();
            if !bad.is_empty() {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`calc` fails on source value{} {}",
                        if bad.len() == 1 { "" } else { "s" },
                        bad.join(", ")
                    ),
                    "map those values with `lookup` first",
                );
                return None;
            }
        }
        Some(Flow {
            origin: None,
            types: TypeSet::NUMBER,
            enum_values: None,
            nullable: false,
            maybe_missing: flow.maybe_missing,
            unknown: false,
        })
    }
}

#[cfg(test)]
mod tests;
