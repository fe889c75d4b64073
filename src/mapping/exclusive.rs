//! Conditions that exclude each other, and conditions that together always hold.
//!
//! Several rules may write one target only when no input can make two of their `when`
//! conditions hold at once: then at most one writes, and the order they are written in
//! does not matter. This module is that proof, made on the conditions alone (no schema):
//! `equals` of different values of one path, `exists` against `missing`, a condition
//! against its `not`, and what follows from `all`, `any` and `not` around those. What it
//! cannot prove is refused, never guessed. The checker also asks the opposite question
//! (do the conditions cover every input?) to know whether such a target may be left out.

use serde_json::Value;

use super::compile::Cond;
use super::path::SourcePath;

/// True when `a` and `b` can never both hold.
pub fn exclusive(a: &Cond, b: &Cond) -> bool {
    implies_not(a, b) || implies_not(b, a)
}

/// True when, for every input, `a` or `b` holds.
pub fn complementary(a: &Cond, b: &Cond) -> bool {
    match (a, b) {
        (Cond::Not(x), y) | (y, Cond::Not(x)) => implies(x, y),
        (Cond::Exists(p), Cond::Missing(q)) | (Cond::Missing(q), Cond::Exists(p)) => same(p, q),
        (Cond::Equals(p, v), Cond::NotEquals(q, w))
        | (Cond::NotEquals(q, w), Cond::Equals(p, v)) => same(p, q) && v == w,
        _ => false,
    }
}

/// The path a condition compares, when it is one comparison with constants (`equals`
/// or `in`), with the constants: what the checker matches against a source enum.
pub fn compared(c: &Cond) -> Option<(&SourcePath, &[Value])> {
    match c {
        Cond::Equals(p, v) => Some((p, std::slice::from_ref(v))),
        Cond::In(p, vs) => Some((p, vs.as_slice())),
        _ => None,
    }
}

/// Whether two paths read the same value: the same root and steps, however written.
pub fn same(p: &SourcePath, q: &SourcePath) -> bool {
    p.root == q.root && p.segments == q.segments
}

/// `a` implies not `b`.
fn implies_not(a: &Cond, b: &Cond) -> bool {
    match (a, b) {
        (Cond::All(cs), _) => cs.iter().any(|c| exclusive(c, b)),
        (Cond::Any(cs), _) => !cs.is_empty() && cs.iter().all(|c| exclusive(c, b)),
        (Cond::Not(x), _) => implies(b, x),
        (_, Cond::Not(y)) => implies(a, y),
        _ => atoms_exclusive(a, b) || atoms_exclusive(b, a),
    }
}

/// `a` implies `b`.
fn implies(a: &Cond, b: &Cond) -> bool {
    match (a, b) {
        (_, Cond::All(cs)) => cs.iter().all(|c| implies(a, c)),
        (_, Cond::Any(cs)) => cs.iter().any(|c| implies(a, c)),
        (Cond::All(cs), _) => cs.iter().any(|c| implies(c, b)),
        (Cond::Any(cs), _) => !cs.is_empty() && cs.iter().all(|c| implies(c, b)),
        (_, Cond::Not(y)) => implies_not(a, y),
        (Cond::Not(x), _) => match negated(x) {
            Some(n) => implies(&n, b),
            None => false,
        },
        _ => implies_atom(a, b),
    }
}

/// The negation of a one-path condition written as another one, where there is one.
fn negated(c: &Cond) -> Option<Cond> {
    match c {
        Cond::Exists(p) => Some(Cond::Missing(p.clone())),
        Cond::Missing(p) => Some(Cond::Exists(p.clone())),
        Cond::Equals(p, v) => Some(Cond::NotEquals(p.clone(), v.clone())),
        Cond::NotEquals(p, v) => Some(Cond::Equals(p.clone(), v.clone())),
        _ => None,
    }
}

/// The path of a one-path condition, and whether it holding means the path is present.
fn atom(c: &Cond) -> Option<(&SourcePath, bool)> {
    match c {
        Cond::Exists(p) | Cond::Equals(p, _) | Cond::In(p, _) | Cond::Matches(p, _) => {
            Some((p, true))
        }
        Cond::Missing(p) | Cond::NotEquals(p, _) => Some((p, false)),
        _ => None,
    }
}

/// One-path `a` implies one-path `b`.
fn implies_atom(a: &Cond, b: &Cond) -> bool {
    let (Some((p, present)), Some((q, _))) = (atom(a), atom(b)) else {
        return false;
    };
    if !same(p, q) {
        return false;
    }
    // The values `a` lets through, when it names them all.
    let values: Option<&[Value]> = match a {
        Cond::Equals(_, v) => Some(std::slice::from_ref(v)),
        Cond::In(_, vs) if !vs.is_empty() => Some(vs.as_slice()),
        _ => None,
    };
    match (a, b) {
        (_, Cond::Exists(_)) => present,
        (Cond::Missing(_), Cond::Missing(_) | Cond::NotEquals(..)) => true,
        (Cond::NotEquals(_, v), Cond::NotEquals(_, w)) => v == w,
        (Cond::Matches(_, r), Cond::Matches(_, s)) => r.as_str() == s.as_str(),
        (_, Cond::Equals(_, w)) => values.is_some_and(|vs| vs.iter().all(|v| v == w)),
        (_, Cond::In(_, ws)) => values.is_some_and(|vs| vs.iter().all(|v| ws.contains(v))),
        (_, Cond::NotEquals(_, w)) => values.is_some_and(|vs| vs.iter().all(|v| different(v, w))),
        (_, Cond::Matches(_, r)) => {
            values.is_some_and(|vs| vs.iter().all(|v| v.as_str().is_some_and(|s| r.is_match(s))))
        }
        _ => false,
    }
}

/// One-path `a` and `b` never both hold (checked one way round; callers try both).
fn atoms_exclusive(a: &Cond, b: &Cond) -> bool {
    let (Some((p, a_present)), Some((q, b_present))) = (atom(a), atom(b)) else {
        return false;
    };
    if !same(p, q) {
        return false;
    }
    match (a, b) {
        (Cond::Missing(_), _) => b_present,
        (_, Cond::Missing(_)) => a_present,
        (Cond::Equals(_, v), Cond::NotEquals(_, w)) => v == w,
        (Cond::In(_, vs), Cond::NotEquals(_, w)) => vs.iter().all(|v| v == w),
        (Cond::Equals(_, v), Cond::Equals(_, w)) => different(v, w),
        (Cond::Equals(_, v), Cond::In(_, ws)) | (Cond::In(_, ws), Cond::Equals(_, v)) => {
            ws.iter().all(|w| different(v, w))
        }
        (Cond::In(_, vs), Cond::In(_, ws)) => vs.iter().all(|v| ws.iter().all(|w| different(v, w))),
        (Cond::Equals(_, v), Cond::Matches(_, r)) => !v.as_str().is_some_and(|s| r.is_match(s)),
        (Cond::In(_, vs), Cond::Matches(_, r)) => vs
            .iter()
            .all(|v| !v.as_str().is_some_and(|s| r.is_match(s))),
        _ => false,
    }
}

/// True when no value equals both `v` and `w` as `equals` compares (numbers by value).
/// Numbers are apart only when their nearest doubles are, which every value equal to one of
/// them shares; arrays and objects only when their kinds differ.
fn different(v: &Value, w: &Value) -> bool {
    match (v, w) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() != y.as_f64(),
        (Value::String(x), Value::String(y)) => x != y,
        (Value::Bool(x), Value::Bool(y)) => x != y,
        (Value::Null, Value::Null) => false,
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => false,
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::test_support::compile_map;

    /// The compiled `when` of each rule of a map written `name: { const: 1, when: ... }`.
    fn conds(map: &str) -> Vec<Cond> {
        let map = compile_map(map).expect("map compiles");
        map.fields()
            .iter()
            .map(|f| match &f.node {
                crate::mapping::compile::Node::Value(v) => v.when.clone().expect("a when"),
                _ => panic!("value rules only"),
            })
            .collect()
    }

    fn pair(a: &str, b: &str) -> (bool, bool) {
        let c = conds(&format!(
            "a: {{ const: 1, when: {a} }}\nb: {{ const: 1, when: {b} }}"
        ));
        (exclusive(&c[0], &c[1]), complementary(&c[0], &c[1]))
    }

    #[test]
    fn exclusive_conditions_are_proven_and_overlapping_ones_are_not() {
        let p = "path: /Order/Priority";
        // Different constants of one path.
        assert_eq!(
            pair(
                &format!("{{ {p}, equals: express }}"),
                &format!("{{ {p}, equals: standard }}")
            ),
            (true, false)
        );
        assert_eq!(
            pair(
                &format!("{{ {p}, equals: express }}"),
                &format!("{{ {p}, equals: express }}")
            ),
            (false, false)
        );
        // A string and a number never equal the same value; 1 and 1.0 do.
        assert_eq!(
            pair("{ path: /n, equals: \"1\" }", "{ path: /n, equals: 1 }"),
            (true, false)
        );
        assert_eq!(
            pair("{ path: /n, equals: 1 }", "{ path: /n, equals: 1.0 }"),
            (false, false)
        );
        // Different paths prove nothing.
        assert_eq!(
            pair("{ path: /a, equals: x }", "{ path: /b, equals: y }"),
            (false, false)
        );
        // exists / missing, a condition and its negation: exclusive and covering.
        assert_eq!(pair("{ exists: /a }", "{ missing: /a }"), (true, true));
        assert_eq!(
            pair("{ exists: /a }", "{ not: { exists: /a } }"),
            (true, true)
        );
        assert_eq!(
            pair("{ path: /a, equals: x }", "{ path: /a, not_equals: x }"),
            (true, true)
        );
        assert_eq!(
            pair("{ path: /a, equals: x }", "{ missing: /a }"),
            (true, false)
        );
        // not_equals holds on a missing path.
        assert_eq!(
            pair("{ path: /a, not_equals: x }", "{ missing: /a }"),
            (false, false)
        );
        // in-lists, matches.
        assert_eq!(
            pair("{ path: /a, in: [x, y] }", "{ path: /a, in: [z] }"),
            (true, false)
        );
        assert_eq!(
            pair("{ path: /a, in: [x, y] }", "{ path: /a, equals: y }"),
            (false, false)
        );
        assert_eq!(
            pair("{ path: /a, equals: DE }", "{ path: /a, matches: \"^F\" }"),
            (true, false)
        );
        assert_eq!(
            pair("{ path: /a, equals: FR }", "{ path: /a, matches: \"^F\" }"),
            (false, false)
        );
        // Through all / any / not.
        assert_eq!(
            pair(
                "{ all: [{ exists: /b }, { path: /a, equals: x }] }",
                "{ path: /a, equals: y }"
            ),
            (true, false)
        );
        assert_eq!(
            pair(
                "{ any: [{ path: /a, equals: x }, { path: /a, equals: y }] }",
                "{ path: /a, in: [z] }"
            ),
            (true, false)
        );
        assert_eq!(
            pair(
                "{ any: [{ path: /a, equals: x }, { exists: /b }] }",
                "{ path: /a, equals: y }"
            ),
            (false, false)
        );
        assert_eq!(
            pair(
                "{ not: { path: /a, in: [x, y] } }",
                "{ path: /a, equals: x }"
            ),
            (true, false)
        );
    }
}
