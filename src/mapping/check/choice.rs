//! The checks of rules sharing one target (`cases:`, or rules whose `when` conditions
//! exclude each other): every branch is proven against the target as a rule of its own,
//! the `default` must fit it, and the target counts as possibly left out unless the
//! conditions cover every input.

use super::omission::Omission;
use super::*;
use crate::mapping::compile::ChoiceRule;
use crate::mapping::exclusive::{compared, complementary, same};

impl<'a> Checker<'a> {
    pub(super) fn choice(
        &mut self,
        f: &Field,
        c: &ChoiceRule,
        node: NodeId,
        items: &[ItemScope<'a>],
    ) {
        if let Some(w) = &c.when {
            self.cond_paths(w, f, items);
            self.comparisons(w, "when", f, items);
        }
        for (i, b) in c.branches.iter().enumerate() {
            let before = self.diags.len();
            let branch = Field {
                key: f.key.clone(),
                pos: b.pos,
                target: f.target.clone(),
                pointer: f.pointer.clone(),
                node: Node::Object(ObjectRule::EMPTY),
            };
            if let Some(w) = &b.when {
                self.cond_paths(w, &branch, items);
                self.comparisons(w, "when", &branch, items);
            }
            match &b.node {
                Node::Value(r) => self.value(&branch, r, node, items),
                Node::Each(r) => self.each(&branch, r, node, items),
                Node::Object(o) => {
                    self.object(o, node, &f.target, items, Some((&branch, b.pos)), true)
                }
                Node::Choice(inner) => self.choice(&branch, inner, node, items),
            }
            if c.ordered {
                for d in self.diags.iter_mut().skip(before) {
                    d.message = format!("`cases` branch {}: {}", i + 1, d.message);
                }
            }
        }
        if let Some(d) = &c.default {
            self.fits_value(f, d, node, "default");
        }
    }

    /// Why a choice may write nothing (None = always written).
    /// How a `cases` rule (or rules sharing a target) may leave its target out: by its own
    /// `when`, by no branch holding, or as the first branch that may leave it out does.
    pub(super) fn choice_omission(&self, c: &ChoiceRule, items: &[ItemScope<'a>]) -> Omission {
        let other = |why: &str| Omission {
            missing: None,
            other: Some(why.to_owned()),
        };
        if c.when.is_some() {
            return other("the rule has a `when` condition");
        }
        if !self.covers(c, items) {
            return other(if c.ordered {
                "no branch of `cases` may hold, and it has no `default`"
            } else {
                "none of the `when` conditions of its rules may hold"
            });
        }
        c.branches
            .iter()
            .map(|b| self.omission_of(&b.node, items))
            .find(|o| !o.never())
            .unwrap_or_default()
    }

    /// Whether some branch holds (or the default is written) for every input: a branch
    /// without `when`, two complementary conditions (`exists`/`missing`, a condition and
    /// its `not`), or `equals`/`in` of one always-present source naming every value its
    /// schema allows (an enum, or `true` and `false`).
    fn covers(&self, c: &ChoiceRule, items: &[ItemScope<'a>]) -> bool {
        if c.default.is_some() || c.branches.iter().any(|b| b.when.is_none()) {
            return true;
        }
        let conds: Vec<&Cond> = c.branches.iter().filter_map(|b| b.when.as_ref()).collect();
        let pairs = conds.iter().enumerate().any(|(i, a)| {
            conds
                .get(i + 1..)
                .is_some_and(|rest| rest.iter().any(|b| complementary(a, b)))
        });
        if pairs {
            return true;
        }
        let mut path = None;
        let mut constants: Vec<&Value> = Vec::new();
        for cond in &conds {
            let Some((p, values)) = compared(cond) else {
                return false;
            };
            match path {
                None => path = Some(p),
                Some(q) if same(p, q) => {}
                Some(_) => return false,
            }
            constants.extend(values);
        }
        let Some(flow) = path.and_then(|p| self.peek(p, items)) else {
            return false;
        };
        if flow.maybe_missing || flow.nullable || flow.unknown {
            return false;
        }
        let values = match flow.enum_values {
            Some(values) => values,
            None if flow.types == TypeSet::BOOLEAN => vec![Value::Bool(true), Value::Bool(false)],
            None => return false,
        };
        values.iter().all(|v| constants.contains(&v))
    }
}

#[cfg(test)]
mod tests;
