//! `pattern` compiled once: a plain pattern (literals and simple classes) is matched by
//! hand, anything else by a bounded DFA, and what neither covers is left to `jsonschema`.

use super::*;

/// Most bytes of a [`Pattern`]'s automaton: a pattern whose automaton would be larger (a
/// long counted repetition) is left to `jsonschema`, so no schema can make loading build
/// an outsized table.
pub(super) const PATTERN_DFA_BYTES: usize = 64 * 1024;

/// A `pattern` of the plainest form, matched natively: anchored at both ends (`^...$`),
/// made of ASCII literals and bracket classes of ASCII letters, digits, ranges of them,
/// `.` and `_`, each repeated by `?`, `*`, `+`, `{n}`, `{n,}` or `{n,m}`, with optional
/// groups `(...)?` that do not nest. `jsonschema` reads such a pattern as the `regex` crate
/// does, unchanged: no escape class, no `.`, no flag, nothing that differs between ECMA 262
/// and the crate. So the crate's own deterministic automaton, built once when the schema is
/// compiled, gives exactly `jsonschema`'s answer at one table lookup a byte, without the
/// validator call around it.
pub(super) struct Pattern {
    pub(super) dfa: dense::DFA<Vec<u32>>,
}

impl Pattern {
    /// The pattern, or None when it is not of the plain form (see [`Pattern`]) or its
    /// automaton would exceed [`PATTERN_DFA_BYTES`].
    pub(super) fn parse(pattern: &str) -> Option<Pattern> {
        if !is_plain_pattern(pattern) {
            return None;
        }
        let dfa = dense::Builder::new()
            .configure(
                dense::Config::new()
                    .dfa_size_limit(Some(PATTERN_DFA_BYTES))
                    .determinize_size_limit(Some(PATTERN_DFA_BYTES)),
            )
            .build(pattern)
            .ok()?;
        Some(Pattern { dfa })
    }

    /// Whether the whole of `s` matches (the pattern is anchored at both ends, so any match
    /// is the whole string).
    #[inline]
    pub(super) fn matches(&self, s: &str) -> bool {
        let input = Input::new(s).anchored(Anchored::Yes);
        matches!(self.dfa.try_search_fwd(&input), Ok(Some(_)))
    }
}

/// Whether `pattern` has the plain form of [`Pattern`].
pub(super) fn is_plain_pattern(pattern: &str) -> bool {
    let Some(body) = pattern
        .strip_prefix('^')
        .and_then(|p| p.strip_suffix('$'))
        .map(str::as_bytes)
    else {
        return false;
    };
    let mut group_open = false;
    let mut group_empty = false;
    let mut at = 0;
    while let Some(&b) = body.get(at) {
        at += 1;
        match b {
            b'(' => {
                if group_open || body.get(at) == Some(&b'?') {
                    return false;
                }
                group_open = true;
                group_empty = true;
                continue;
            }
            b')' => {
                if !group_open || group_empty || body.get(at) != Some(&b'?') {
                    return false;
                }
                group_open = false;
                at += 1;
                continue;
            }
            b'[' => {
                let Some(close) = position_from(body, at, b']') else {
                    return false;
                };
                if body.get(at..close).and_then(class).is_none() {
                    return false;
                }
                at = close + 1;
            }
            b'\\' => {
                let Some(&escaped) = body.get(at) else {
                    return false;
                };
                at += 1;
                if !b".-+*?()[]{}^$|\\".contains(&escaped) {
                    return false;
                }
            }
            _ if b.is_ascii_alphanumeric() || b"_@:/,-=!%# ".contains(&b) => {}
            _ => return false,
        }
        group_empty = false;
        // At most one quantifier, of a plain form.
        match body.get(at) {
            Some(b'?' | b'*' | b'+') => at += 1,
            Some(b'{') => {
                let Some(close) = position_from(body, at, b'}') else {
                    return false;
                };
                let Some(inner) = body
                    .get(at + 1..close)
                    .and_then(|b| std::str::from_utf8(b).ok())
                else {
                    return false;
                };
                let number = |s: &str| {
                    (!s.is_empty() && s.len() <= 3 && s.bytes().all(|d| d.is_ascii_digit()))
                        .then(|| s.parse::<u32>().ok())
                        .flatten()
                };
                let counted = match inner.split_once(',') {
                    None => number(inner).is_some(),
                    Some((lo, "")) => number(lo).is_some(),
                    Some((lo, hi)) => {
                        matches!((number(lo), number(hi)), (Some(lo), Some(hi)) if lo <= hi)
                    }
                };
                if !counted {
                    return false;
                }
                at = close + 1;
            }
            _ => {}
        }
        if matches!(body.get(at), Some(b'?' | b'*' | b'+' | b'{')) {
            return false;
        }
    }
    !group_open
}

/// Offset of the first `byte` in `body` at or after `at`.
pub(super) fn position_from(body: &[u8], at: usize, byte: u8) -> Option<usize> {
    body.get(at..)?
        .iter()
        .position(|&c| c == byte)
        .map(|i| at + i)
}

/// The bytes a bracket class of the plain form (see [`Pattern`]) admits: ASCII letters and
/// digits, ranges between two of the same kind, `.` and `_`.
pub(super) fn class(items: &[u8]) -> Option<u128> {
    let kind = |b: u8| {
        if b.is_ascii_digit() {
            Some(0)
        } else if b.is_ascii_lowercase() {
            Some(1)
        } else if b.is_ascii_uppercase() {
            Some(2)
        } else {
            None
        }
    };
    let mut set = 0u128;
    let mut at = 0;
    while let Some(&b) = items.get(at) {
        match (items.get(at + 1), items.get(at + 2)) {
            (Some(b'-'), Some(&hi)) if kind(b).is_some() && kind(b) == kind(hi) && b <= hi => {
                for c in b..=hi {
                    set |= 1u128 << c;
                }
                at += 3;
            }
            _ if kind(b).is_some() || b == b'.' || b == b'_' => {
                set |= 1u128 << b;
                at += 1;
            }
            _ => return None,
        }
    }
    (set != 0).then_some(set)
}
