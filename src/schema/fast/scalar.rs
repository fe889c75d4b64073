//! The assertions on one scalar: types, bounds, lengths, formats and `multipleOf`, read
//! from a compiled [`Check`] without building anything.

use super::*;

/// The rules of `c` on a string, number, boolean or null. Inlined into the walk: the
/// common rules (type, length, integer bounds) take a few comparisons, and what is left
/// to `jsonschema` or needs more work is out of line.
#[inline(always)]
pub(super) fn scalar_valid(c: &Check, v: &Value) -> bool {
    let native = match v {
        Value::String(s) => return string_valid(c, s, Some(v)),
        Value::Number(n) => {
            if !number_type(c.admits, n) {
                return false;
            }
            if c.strings.is_some() {
                // Numbers meet `enum` values by mathematical equality: `jsonschema`'s own.
                return c.whole.as_ref().is_none_or(|whole| whole.is_valid(v));
            }
            match int_of(n) {
                Some(x) => c.int_min <= x && x <= c.int_max,
                None if !c.bounded => true,
                None => match (c.float_bounds, n.as_f64()) {
                    (Some([min, above, max, below]), Some(x)) => {
                        x >= min && x > above && x <= max && x < below
                    }
                    _ => return fraction_rules(c, n, v),
                },
            }
        }
        _ => {
            let bit = if v.is_null() { NULL } else { BOOLEAN };
            if c.admits & bit == 0 {
                return false;
            }
            if c.strings.is_some() {
                return c.whole.as_ref().is_none_or(|whole| whole.is_valid(v));
            }
            true
        }
    };
    native && c.rest.as_ref().is_none_or(|rest| rest.is_valid(v))
}

/// The rules of `c` on a string `s`. `v` is the same string as a value when the document
/// holds it as one; the rules left to `jsonschema` get one made from `s` otherwise (text
/// borrowed from a body is not a value until such a rule asks for it).
pub(super) fn string_valid(c: &Check, s: &str, v: Option<&Value>) -> bool {
    if c.admits & STRING == 0 || !length_within(s, c.min_length, c.max_length) {
        return false;
    }
    (!c.string_rules || string_rules(c, s, v))
        && c.rest
            .as_ref()
            .is_none_or(|rest| rest.is_valid(&string_value(s, v)))
}

/// `s` as a value: `v` itself when there is one.
pub(super) fn string_value<'v>(s: &str, v: Option<&'v Value>) -> Cow<'v, Value> {
    match v {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(Value::String(s.to_owned())),
    }
}

/// `enum`, a plain `pattern` and `format: email` on a string `s` (see [`string_valid`]
/// for `v`); not `rest`.
#[inline(never)]
pub(super) fn string_rules(c: &Check, s: &str, v: Option<&Value>) -> bool {
    c.strings
        .as_ref()
        .is_none_or(|strings| strings.iter().any(|e| **e == *s))
        && c.pattern.as_ref().is_none_or(|p| p.matches(s))
        && c.email
            .as_ref()
            .is_none_or(|email| plain_email(s) || email.is_valid(&string_value(s, v)))
}

/// The bounds and `rest` on a number `n` (the value `v`) that is not an integer.
#[inline(never)]
pub(super) fn fraction_rules(c: &Check, n: &Number, v: &Value) -> bool {
    match within_bounds(&c.bounds, n) {
        Some(within) => within && c.rest.as_ref().is_none_or(|rest| rest.is_valid(v)),
        // A fraction near a large bound needs exact arithmetic: `jsonschema`'s own.
        None => c.whole.as_ref().is_none_or(|whole| whole.is_valid(v)),
    }
}

/// The number as an integer, when it is held as one (not as a float, even an integral one).
#[inline(always)]
pub(super) fn int_of(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

/// True when `s` is an address of the plainest form, `local@label.label...`: an ASCII
/// dot-atom local part of at most 64 bytes, and a host name of at most 253 bytes whose
/// labels are 1 to 63 letters, digits and inner hyphens, with no `--` in third and fourth
/// place (which would make it an IDNA label). Every such string is one `jsonschema`'s
/// `format: email` accepts: the `email_address` parse (no display name, quoting or domain
/// literal to read; its length limits are 64 and 254) and the host name rules it applies
/// after. False says nothing: the string goes to `jsonschema`.
pub(super) fn plain_email(s: &str) -> bool {
    /// The `atext` of RFC 5322 beside letters and digits, as bits of the ASCII bytes.
    const SPECIALS: u128 = {
        let mut set = 0u128;
        let mut at = 0;
        let specials = b"!#$%&'*+-/=?^_`{|}~";
        while at < specials.len() {
            set |= 1 << specials[at];
            at += 1;
        }
        set
    };
    let special = |b: u8| SPECIALS & 1u128.checked_shl(u32::from(b)).unwrap_or(0) != 0;
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let (local, domain) = (local.as_bytes(), domain.as_bytes());
    if local.is_empty() || local.len() > 64 || domain.len() > 253 {
        return false;
    }
    let atoms_ok = local.split(|&b| b == b'.').all(|atom| {
        !atom.is_empty()
            && atom
                .iter()
                .all(|&b| b.is_ascii_alphanumeric() || special(b))
    });
    atoms_ok
        && domain.split(|&b| b == b'.').all(|label| {
            let (Some(first), Some(last)) = (label.first(), label.last()) else {
                return false;
            };
            label.len() <= 63
                && first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && label.get(2..4) != Some(b"--".as_slice())
                && label
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        })
}

/// `minLength`/`maxLength` in code points. The byte length bounds the count from above, so
/// most strings are decided without counting.
#[inline]
pub(super) fn length_within(s: &str, min: u64, max: u64) -> bool {
    let bytes = u64::try_from(s.len()).unwrap_or(u64::MAX);
    if bytes < min {
        return false;
    }
    if bytes <= max && min <= bytes.div_ceil(4) {
        return true;
    }
    let chars = u64::try_from(s.chars().count()).unwrap_or(u64::MAX);
    chars >= min && chars <= max
}

/// [`Check::float_bounds`] of `bounds`.
pub(super) fn float_bounds(bounds: &[Option<Limit>; 4]) -> Option<[f64; 4]> {
    let limit = |i: usize, absent: f64| match bounds.get(i) {
        Some(Some(limit)) => limit.float,
        _ => Some(absent),
    };
    Some([
        limit(MINIMUM, f64::NEG_INFINITY)?,
        limit(EXCLUSIVE_MINIMUM, f64::NEG_INFINITY)?,
        limit(MAXIMUM, f64::INFINITY)?,
        limit(EXCLUSIVE_MAXIMUM, f64::INFINITY)?,
    ])
}

/// Some(verdict) of the integer bounds on `n`, None when only exact arithmetic can tell.
#[inline]
pub(super) fn within_bounds(bounds: &[Option<Limit>; 4], n: &Number) -> Option<bool> {
    use std::cmp::Ordering::{Greater, Less};
    let mut ok = true;
    for (i, limit) in bounds.iter().enumerate() {
        let Some(limit) = limit else {
            continue;
        };
        // How the instance compares with the limit.
        let order = match n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
        {
            Some(x) => x.cmp(&limit.int),
            None => n.as_f64()?.partial_cmp(&limit.float?)?,
        };
        ok &= match i {
            MINIMUM => order != Less,
            MAXIMUM => order != Greater,
            EXCLUSIVE_MINIMUM => order == Greater,
            EXCLUSIVE_MAXIMUM => order == Less,
            _ => true,
        };
    }
    Some(ok)
}

/// `type` as JSON Schema (draft 6 and later) means it: a number with an integral value,
/// `1.0` included, is an integer. `admits` is [`Check::admits`].
#[inline]
pub(super) fn number_type(admits: u8, n: &Number) -> bool {
    admits & NUMBER != 0 || (admits & INTEGER != 0 && is_integer(n))
}

/// The `jsonschema` crate's test (without arbitrary precision): an `i64`/`u64`, or a float
/// without fractional part.
pub(super) fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

pub(super) fn type_bits(value: &Value) -> Option<u8> {
    let one = |name: &Value| {
        Some(match name.as_str()? {
            "null" => NULL,
            "boolean" => BOOLEAN,
            "integer" => INTEGER,
            "number" => NUMBER,
            "string" => STRING,
            "array" => ARRAY,
            "object" => OBJECT,
            _ => return None,
        })
    };
    match value {
        Value::Array(names) if !names.is_empty() => {
            names.iter().try_fold(0u8, |acc, n| Some(acc | one(n)?))
        }
        Value::Array(_) => None,
        other => one(other),
    }
}
