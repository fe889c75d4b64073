//! Rules that write one target under conditions: a `cases:` rule (ordered branches, the
//! first whose `when` holds writes, else its `default`), and several rules whose `when`
//! conditions are proven to exclude each other (a list of rules under one key, or one
//! target reached by a dotted key and a nested map). Both compile to one [`ChoiceRule`], so
//! evaluation and the checker see a single field.

use super::*;
use crate::mapping::exclusive::exclusive;

/// One branch of a [`ChoiceRule`].
#[derive(Debug, Clone)]
pub struct Branch {
    /// When the branch writes; `None` always holds (a last `cases` branch without `when`).
    pub when: Option<Cond>,
    /// Where the branch's rule is written.
    pub pos: Pos,
    /// The branch's rule, its `when` taken out into [`Branch::when`].
    pub node: Node,
}

/// Rules sharing one target.
#[derive(Debug, Clone)]
pub struct ChoiceRule {
    /// The `when` of a whole `cases` rule.
    pub when: Option<Cond>,
    pub branches: Vec<Branch>,
    /// Written when no branch holds (`cases` only).
    pub default: Option<Value>,
    /// A `cases:` rule (the first branch that holds wins) rather than rules proven to
    /// exclude each other (at most one holds).
    pub ordered: bool,
    /// The rule keywords of a `cases` rule, as [`ValueRule::keys`].
    pub keys: Vec<&'static str>,
}

/// Why two rules cannot share a target.
pub(super) enum Conflict {
    /// Not two conditional rules: the plain "produced twice".
    Plain,
    /// One of them has no `when`.
    NoWhen,
    /// Their conditions are not proven to exclude each other.
    Overlap,
}

const SHARED_TARGET_HINT: &str = "several rules may write one target when their `when` \
    conditions exclude each other (`equals` with different values of one path, `exists` \
    and `missing` of one path, a condition and its `not`); for an order of precedence, \
    write one `cases:` rule";

/// The rule's `when` taken out, for a branch.
fn take_when(mut node: Node) -> (Option<Cond>, Node) {
    let when = match &mut node {
        Node::Value(v) => v.when.take(),
        Node::Each(e) => e.when.take(),
        Node::Object(_) | Node::Choice(_) => None,
    };
    (when, node)
}

fn when_of(node: &Node) -> Option<&Cond> {
    match node {
        Node::Value(v) => v.when.as_ref(),
        Node::Each(e) => e.when.as_ref(),
        Node::Object(_) | Node::Choice(_) => None,
    }
}

/// Adds `new` to what already writes the target, when their conditions exclude each other.
pub(super) fn merge(
    existing: &mut Node,
    new: Node,
    old_pos: Pos,
    new_pos: Pos,
) -> Result<(), Conflict> {
    if !matches!(new, Node::Value(_) | Node::Each(_)) {
        return Err(Conflict::Plain);
    }
    let new_when = when_of(&new);
    match existing {
        Node::Choice(c) if !c.ordered => {
            let Some(w) = new_when else {
                return Err(Conflict::NoWhen);
            };
            if !c
                .branches
                .iter()
                .all(|b| b.when.as_ref().is_some_and(|bw| exclusive(bw, w)))
            {
                return Err(Conflict::Overlap);
            }
            let (when, node) = take_when(new);
            c.branches.push(Branch {
                when,
                pos: new_pos,
                node,
            });
            Ok(())
        }
        Node::Value(_) | Node::Each(_) => {
            match (when_of(existing), new_when) {
                (None, None) => return Err(Conflict::Plain),
                (None, Some(_)) | (Some(_), None) => return Err(Conflict::NoWhen),
                (Some(a), Some(b)) if !exclusive(a, b) => return Err(Conflict::Overlap),
                _ => {}
            }
            let old = std::mem::replace(existing, Node::Object(ObjectRule::EMPTY));
            let (w1, n1) = take_when(old);
            let (w2, n2) = take_when(new);
            *existing = Node::Choice(Box::new(ChoiceRule {
                when: None,
                branches: vec![
                    Branch {
                        when: w1,
                        pos: old_pos,
                        node: n1,
                    },
                    Branch {
                        when: w2,
                        pos: new_pos,
                        node: n2,
                    },
                ],
                default: None,
                ordered: false,
                keys: Vec::new(),
            }));
            Ok(())
        }
        Node::Object(_) | Node::Choice(_) => Err(Conflict::Plain),
    }
}

/// Reports a [`Conflict`] on `target`.
fn report(c: &mut Compiler<'_>, at: At<'_>, target: &str, conflict: Conflict) {
    match conflict {
        Conflict::Plain => c.err(at, format!("target `{target}` is produced twice"), None),
        Conflict::NoWhen => c.err(
            at,
            format!("target `{target}` is produced twice, and one of its rules has no `when`"),
            Some(SHARED_TARGET_HINT),
        ),
        Conflict::Overlap => c.err(
            at,
            format!(
                "target `{target}` is produced twice: the `when` conditions of its rules are not proven to exclude each other"
            ),
            Some(SHARED_TARGET_HINT),
        ),
    }
}

/// [`merge`] into a field, reporting a conflict.
pub(super) fn merge_field(
    c: &mut Compiler<'_>,
    field: &mut Field,
    node: Node,
    pos: Pos,
    at: At<'_>,
    target: &str,
) {
    if let Err(conflict) = merge(&mut field.node, node, field.pos, pos) {
        report(c, at, target, conflict);
    }
}

impl Compiler<'_> {
    /// The rules of a list written under one key, each compiled on its own; they then
    /// merge as any rules writing one target do.
    pub(super) fn rules_of_list(&mut self, rules: &[Rule], at: At<'_>) -> Vec<Node> {
        if rules.is_empty() {
            self.err(
                at,
                "an empty list of rules writes nothing",
                Some("write a rule, or remove the key"),
            );
        }
        rules.iter().filter_map(|r| self.rule(r, at)).collect()
    }

    /// A list of rules as one node (an `item:` written as a list).
    pub(super) fn rule_list(&mut self, rules: &[Rule], at: At<'_>) -> Option<Node> {
        let mut nodes = self.rules_of_list(rules, at).into_iter();
        let mut first = nodes.next()?;
        for node in nodes {
            if let Err(conflict) = merge(&mut first, node, at.pos, at.pos) {
                report(self, at, at.target, conflict);
            }
        }
        Some(first)
    }

    /// A `cases:` rule: its branches compiled as rules, each `when` kept beside them.
    pub(super) fn cases(
        &mut self,
        r: &Rule,
        cases: &[Rule],
        when: Option<Cond>,
        at: At<'_>,
        errors_before: usize,
    ) -> Option<Node> {
        let other: Vec<String> = r
            .keywords()
            .into_iter()
            .filter(|k| !matches!(*k, "cases" | "when" | "default"))
            .map(|k| format!("`{k}`"))
            .collect();
        if !other.is_empty() {
            self.err(
                at,
                format!(
                    "`cases` takes no other keys than `when` and `default`; {} belong in its branches",
                    other.join(", ")
                ),
                None,
            );
        }
        if cases.is_empty() {
            self.err(at, "`cases` needs at least one branch", None);
        }
        let mut branches = Vec::with_capacity(cases.len());
        for (i, b) in cases.iter().enumerate() {
            let n = i + 1;
            let before = self.errors.len();
            if b.cases.is_some() {
                self.err(
                    at,
                    "a branch cannot itself be a `cases` rule; write its branches in this list",
                    None,
                );
            } else if b.when.is_none() && n < cases.len() {
                self.err(
                    at,
                    "only the last branch may go without `when`: the branches after this one could never be written",
                    None,
                );
            } else if b.when.is_none() && r.default.is_some() {
                self.err(
                    at,
                    "the last branch has no `when`, so the rule's `default` is never written",
                    Some("give the branch a `when`, or remove `default`"),
                );
            }
            let node = if self.errors.len() == before {
                self.rule(b, at)
            } else {
                None
            };
            for e in self.errors.iter_mut().skip(before) {
                e.message = format!("`cases` branch {n}: {}", e.message);
            }
            if let Some(node) = node {
                let (when, node) = take_when(node);
                branches.push(Branch {
                    when,
                    pos: at.pos,
                    node,
                });
            }
        }
        (self.errors.len() == errors_before).then(|| {
            Node::Choice(Box::new(ChoiceRule {
                when,
                branches,
                default: r.default.clone(),
                ordered: true,
                keys: r.keywords(),
            }))
        })
    }
}

#[cfg(test)]
mod tests;
