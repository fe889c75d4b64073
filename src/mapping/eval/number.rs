//! Numbers in conversions: decimal text and JSON numbers to exact decimals, rounding,
//! and back to the shortest JSON number, with fast paths for the short numbers most
//! documents hold.

use super::*;

/// True for `-?digits(.digits)?` with an optional exponent: the decimal syntax of JSON.
pub(super) fn is_decimal_text(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = usize::from(b.first() == Some(&b'-'));
    let digits = |i: &mut usize| {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        *i > start
    };
    if !digits(&mut i) {
        return false;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        if !digits(&mut i) {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        if !digits(&mut i) {
            return false;
        }
    }
    i == b.len()
}

/// Parses decimal text exactly (too many digits is an error, never a rounding).
pub(super) fn parse_decimal(s: &str) -> Option<Decimal> {
    parse_short_decimal(s).or_else(|| parse_any_decimal(s))
}

/// The general decimal parser: exponents and up to 28 significant digits.
pub(super) fn parse_any_decimal(s: &str) -> Option<Decimal> {
    if !is_decimal_text(s) {
        return None;
    }
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str_exact(s).ok()
    }
}

/// Most significant digits read by the short decimal parser: any such mantissa fits an
/// `i64`, so no overflow check is needed per digit.
pub(super) const SHORT_DECIMAL_DIGITS: usize = 18;

/// The common case of [`parse_decimal`] without its general machinery: `-?digits(.digits)?`
/// with at most [`SHORT_DECIMAL_DIGITS`] digits in all (prices, quantities). Anything
/// else is `None` and left to the general parser, which gives the same result for these.
pub(super) fn parse_short_decimal(s: &str) -> Option<Decimal> {
    let short = short_decimal_parts(s)?;
    let mut d = Decimal::try_new(short.mantissa, short.scale).ok()?;
    d.set_sign_negative(short.negative);
    Some(d)
}

/// A decimal read by [`short_decimal_parts`]: `mantissa / 10^scale`, negated when
/// `negative`.
pub(super) struct ShortDecimal {
    pub(super) mantissa: i64,
    pub(super) scale: u32,
    /// Never set for zero: like the general parser, zero has no sign.
    pub(super) negative: bool,
}

/// The digits of a short decimal (see [`parse_short_decimal`]), without building a
/// `Decimal`: `as: decimal` of a price needs only the mantissa and the scale.
#[inline]
pub(super) fn short_decimal_parts(s: &str) -> Option<ShortDecimal> {
    let (negative, body) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    let (int, frac) = match body.iter().position(|&b| b == b'.') {
        Some(i) => (body.get(..i)?, body.get(i + 1..)?),
        None => (body, &[][..]),
    };
    // A point needs digits on both sides.
    let has_point = int.len() < body.len();
    if int.is_empty()
        || (has_point && frac.is_empty())
        || int.len() + frac.len() > SHORT_DECIMAL_DIGITS
    {
        return None;
    }
    let mut mantissa: i64 = 0;
    for part in [int, frac] {
        for &b in part {
            let digit = b.wrapping_sub(b'0');
            if digit > 9 {
                return None;
            }
            mantissa = mantissa * 10 + i64::from(digit);
        }
    }
    Some(ShortDecimal {
        mantissa,
        scale: u32::try_from(frac.len()).ok()?,
        negative: negative && mantissa != 0,
    })
}

/// Most significant digits a JSON number with a fraction can be taken at exactly: any
/// decimal of at most 15 digits survives the round trip through the double a JSON parser
/// holds it in, and no longer one is sure to.
pub(super) const EXACT_FLOAT_DIGITS: u32 = 15;

/// A value as an exact decimal. A JSON float is read via its shortest representation
/// (0.1 is "0.1", not 0.1000000000000000055...), and only when that has at most
/// [`EXACT_FLOAT_DIGITS`] significant digits: a longer one (90071992547409.93 reads back as
/// ...409.94) may already have lost digits, and money is refused rather than rounded.
pub(super) fn to_decimal(value: &Value) -> Result<Decimal, StepError> {
    let parsed = match value {
        Value::String(s) => parse_decimal(s),
        Value::Number(n) if n.is_i64() || n.is_u64() => parse_decimal(&n.to_string()),
        Value::Number(n) => match parse_decimal(&n.to_string()) {
            Some(d) if significant_digits(d) > EXACT_FLOAT_DIGITS => {
                return Err(StepError(format!(
                    "{n} has more significant digits than a JSON number carries exactly ({EXACT_FLOAT_DIGITS}); it may already be rounded: send it as a string"
                )));
            }
            parsed => parsed,
        },
        _ => None,
    };
    parsed.ok_or_else(|| StepError(format!("{value} is not a decimal number")))
}

/// Digits of `d` without its trailing zeros.
pub(super) fn significant_digits(d: Decimal) -> u32 {
    let mut m = d.mantissa().unsigned_abs();
    while m != 0 && m.is_multiple_of(10) {
        m /= 10;
    }
    m.checked_ilog10().map_or(0, |l| l + 1)
}

/// Rounds to exactly `scale` decimals; a number too large to carry that many decimals
/// (28 significant digits in all) is an error rather than fewer decimals.
pub(super) fn round(d: Decimal, scale: u32, rounding: Rounding) -> Result<Decimal, StepError> {
    let strategy = match rounding {
        Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        Rounding::Down => RoundingStrategy::ToZero,
    };
    let mut r = d.round_dp_with_strategy(scale, strategy);
    r.rescale(scale);
    if r.scale() == scale {
        Ok(r)
    } else {
        Err(StepError(format!(
            "{d} is too large to write with {scale} decimals"
        )))
    }
}

/// The JSON number equal to `d`, only when a double holds it exactly: its shortest
/// representation must read back as the same decimal.
pub(super) fn exact_number(d: Decimal) -> Result<Value, StepError> {
    match short_number(d) {
        Some(n) => Ok(Value::Number(n)),
        None => exact_number_by_text(d),
    }
}

/// The general [`exact_number`]: through the decimal's text and back.
pub(super) fn exact_number_by_text(d: Decimal) -> Result<Value, StepError> {
    let not_exact = || {
        StepError(format!(
            "{d} cannot be written as a JSON number without rounding; map it to a string target (`as: string` with `scale`)"
        ))
    };
    let f = f64::from_str(&d.to_string()).map_err(|_| not_exact())?;
    let n = Number::from_f64(f).ok_or_else(not_exact)?;
    match parse_decimal(&n.to_string()) {
        Some(back) if back == d => Ok(Value::Number(n)),
        _ => Err(not_exact()),
    }
}

/// Largest mantissa taken by [`short_number`]: a decimal of at most 15 significant digits
/// always reads back from the nearest double (the guarantee of IEEE 754 binary64), and
/// is below 2^53, so it converts to a double exactly.
pub(super) const SHORT_NUMBER_MANTISSA: u64 = 999_999_999_999_999;

/// Powers of ten that a double holds exactly (up to 10^22).
pub(super) const EXACT_POWERS_OF_TEN: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
];

/// The fast path of [`exact_number`]: a short mantissa divided by an exact power of ten
/// is the correctly rounded double (one IEEE division), and with at most 15 significant
/// digits that double's shortest form is the decimal itself, so no text round trip is
/// needed to prove it.
pub(super) fn short_number(d: Decimal) -> Option<Number> {
    let mantissa = u64::try_from(d.mantissa().unsigned_abs()).ok()?;
    short_float(mantissa, d.scale(), d.is_sign_negative())
}

/// [`short_number`] of `mantissa / 10^scale`, negated when `negative`.
#[inline]
pub(super) fn short_float(mantissa: u64, scale: u32, negative: bool) -> Option<Number> {
    if mantissa > SHORT_NUMBER_MANTISSA {
        return None;
    }
    let power = EXACT_POWERS_OF_TEN.get(usize::try_from(scale).ok()?)?;
    // Both operands are exact doubles (mantissa < 2^53), so the quotient is correctly
    // rounded.
    #[allow(clippy::cast_precision_loss)]
    let magnitude = mantissa as f64 / power;
    Number::from_f64(if negative { -magnitude } else { magnitude })
}

/// `as: integer` of the values that need no general machinery: an integer number, or a
/// string of at most [`SHORT_DECIMAL_DIGITS`] digits with an optional `-`. `None` leaves
/// the value to [`convert`], which gives the same result for these and reports the rest.
#[inline]
pub(super) fn fast_integer(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(Value::Number(n.clone())),
        Value::String(s) => fast_integer_text(s),
        _ => None,
    }
}

/// [`fast_integer`] of a string.
pub(super) fn fast_integer_text(s: &str) -> Option<Value> {
    short_integer(s).map(|i| Value::Number(Number::from(i)))
}

/// `-?digits` with at most [`SHORT_DECIMAL_DIGITS`] digits: always an `i64`, read as
/// `str::parse` would.
#[inline]
pub(super) fn short_integer(s: &str) -> Option<i64> {
    let (negative, digits) = match s.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        rest => (false, rest),
    };
    if digits.is_empty() || digits.len() > SHORT_DECIMAL_DIGITS {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n * 10 + i64::from(b - b'0');
    }
    Some(if negative { -n } else { n })
}

/// `as: decimal` (without `scale`) of the values that need no `Decimal`: a short decimal
/// string (see [`parse_short_decimal`]) or a small integer, both exact as a double. `None`
/// leaves the value to [`convert`], which gives the same result for these.
#[inline]
pub(super) fn fast_decimal(value: &Value) -> Option<Value> {
    let number = match value {
        Value::String(s) => return fast_decimal_text(s),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => short_float(u, 0, false)?,
            (None, Some(i)) => short_float(i.unsigned_abs(), 0, i < 0)?,
            (None, None) => return None,
        },
        _ => return None,
    };
    Some(Value::Number(number))
}

/// [`fast_decimal`] of a string.
pub(super) fn fast_decimal_text(s: &str) -> Option<Value> {
    let d = short_decimal_parts(s)?;
    short_float(d.mantissa.unsigned_abs(), d.scale, d.negative).map(Value::Number)
}

pub(super) fn convert(c: &Convert, value: &Value) -> Result<Value, StepError> {
    match c.to {
        Conversion::String => {
            if let Some(scale) = c.scale {
                let d = to_decimal(value)?;
                return Ok(Value::String(round(d, scale, c.rounding)?.to_string()));
            }
            scalar_text(value.clone()).map(Value::String)
        }
        Conversion::Decimal => {
            let mut d = to_decimal(value)?;
            if let Some(scale) = c.scale {
                d = round(d, scale, c.rounding)?;
            }
            exact_number(d)
        }
        Conversion::Integer => {
            let n = match value {
                Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.clone()),
                Value::Number(n) => n
                    .as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| Number::from(f as i64)),
                Value::String(s) => s
                    .parse::<i64>()
                    .map(Number::from)
                    .or_else(|_| s.parse::<u64>().map(Number::from))
                    .ok(),
                _ => None,
            };
            n.map(Value::Number)
                .ok_or_else(|| StepError(format!("{value} is not an integer")))
        }
        Conversion::Number => {
            let f = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if is_decimal_text(s) => s.parse::<f64>().ok(),
                _ => None,
            };
            f.and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| StepError(format!("{value} is not a number")))
        }
        Conversion::Boolean => match value {
            Value::Bool(b) => Ok(Value::Bool(*b)),
            Value::String(s) if s == "true" || s == "1" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" || s == "0" => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(Value::Bool(false)),
            _ => Err(StepError(format!("{value} is not a boolean"))),
        },
    }
}
