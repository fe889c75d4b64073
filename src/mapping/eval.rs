//! Evaluation of a compiled map on one document. The walk borrows the source and
//! allocates only the output values; pointers for error messages are built only when an
//! error happens.

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::format::Parsed;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Number, Value};

use super::compile::{
    Absence, Cond, Convert, DateConv, DateFormat, EachBody, EachRule, Field, Lookup, Node, Source,
    TemplatePart, ValueRule,
};
use super::path::{Root, SourcePath, push_index, push_pointer, walk};
use super::syntax::{Conversion, OnMissing, OnNull, Rounding, StringFn};
use super::{EvalContext, MapError};

/// The item being mapped inside `each`, with what is needed to name it in errors.
pub(crate) struct Scope<'a> {
    item: &'a Value,
    /// Index in the source array.
    index: usize,
    /// Index in the output array (after `filter`).
    out_index: usize,
    each: &'a EachRule,
    /// Pointer of the `each` field relative to the parent scope's item.
    each_pointer: &'a str,
    parent: Option<&'a Scope<'a>>,
}

/// A resolved source value: borrowed from the document or the context.
#[derive(Debug, Clone, Copy)]
enum Got<'a> {
    Json(&'a Value),
    Text(&'a str),
    Int(usize),
}

impl Got<'_> {
    fn to_value(self) -> Value {
        match self {
            Got::Json(v) => v.clone(),
            Got::Text(s) => Value::String(s.to_owned()),
            Got::Int(i) => Value::from(i),
        }
    }
    fn is_null(self) -> bool {
        matches!(self, Got::Json(Value::Null))
    }
    fn equals(self, other: &Value) -> bool {
        match self {
            Got::Json(v) => v == other,
            Got::Text(s) => other.as_str() == Some(s),
            Got::Int(i) => other.as_u64() == u64::try_from(i).ok() && other.is_u64(),
        }
    }
}

pub(crate) struct Eval<'a, 'c> {
    pub(crate) source: &'a Value,
    pub(crate) ctx: &'a EvalContext<'c>,
}

/// A step failed: message and whether the rule's input pointer names the culprit.
struct StepError(String);

impl<'a, 'c: 'a> Eval<'a, 'c> {
    /// Evaluates the fields of one object.
    pub(crate) fn object(
        &self,
        fields: &'a [Field],
        scope: Option<&Scope<'a>>,
    ) -> Result<Map<String, Value>, MapError> {
        let mut out = Map::with_capacity(fields.len());
        for f in fields {
            if let Some(v) = self.node(&f.node, f, scope)? {
                out.insert(f.key.clone(), v);
            }
        }
        Ok(out)
    }

    fn node(
        &self,
        node: &'a Node,
        field: &'a Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Value>, MapError> {
        match node {
            Node::Object(children) => {
                let map = self.object(children, scope)?;
                Ok((!map.is_empty()).then_some(Value::Object(map)))
            }
            Node::Value(rule) => self.value(rule, field, scope),
            Node::Each(rule) => self.each(rule, field, scope),
        }
    }

    fn resolve(&self, path: &'a SourcePath, scope: Option<&Scope<'a>>) -> Option<Got<'a>> {
        let ctx = self.ctx;
        match &path.root {
            Root::Document => walk(self.source, &path.segments).map(Got::Json),
            Root::Item => walk(scope?.item, &path.segments).map(Got::Json),
            Root::Request => walk(ctx.request?, &path.segments).map(Got::Json),
            Root::Claims => walk(ctx.claims?, &path.segments).map(Got::Json),
            Root::PathParam(name) => ctx
                .path_params
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Got::Text(v.as_str())),
            Root::Query(name) => ctx
                .query
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| Got::Text(v.as_str())),
            Root::Header(name) => ctx
                .headers
                .get(name.as_str())
                .and_then(|v| v.to_str().ok())
                .map(Got::Text),
            Root::Partner => Some(Got::Text(ctx.partner)),
            Root::CorrelationId => Some(Got::Text(ctx.correlation_id)),
            Root::Index => scope.map(|s| Got::Int(s.index)),
            Root::Position => scope.map(|s| Got::Int(s.index.saturating_add(1))),
        }
    }

    fn cond(&self, c: &'a Cond, scope: Option<&Scope<'a>>) -> bool {
        match c {
            Cond::Exists(p) => self.resolve(p, scope).is_some(),
            Cond::Missing(p) => self.resolve(p, scope).is_none(),
            Cond::Equals(p, v) => self.resolve(p, scope).is_some_and(|g| g.equals(v)),
            Cond::NotEquals(p, v) => !self.resolve(p, scope).is_some_and(|g| g.equals(v)),
            Cond::In(p, vs) => self
                .resolve(p, scope)
                .is_some_and(|g| vs.iter().any(|v| g.equals(v))),
            Cond::Matches(p, re) => match self.resolve(p, scope) {
                Some(Got::Json(Value::String(s))) => re.is_match(s),
                Some(Got::Text(s)) => re.is_match(s),
                _ => false,
            },
            Cond::Not(c) => !self.cond(c, scope),
            Cond::All(cs) => cs.iter().all(|c| self.cond(c, scope)),
            Cond::Any(cs) => cs.iter().any(|c| self.cond(c, scope)),
        }
    }

    /// Missing or null source: the rule's absence handling.
    fn absent(
        &self,
        absence: &Absence,
        null: bool,
        field: &Field,
        input: impl FnOnce() -> Option<String>,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Value>, MapError> {
        if null {
            return Ok(match absence.on_null {
                OnNull::Keep => Some(Value::Null),
                OnNull::Omit => None,
                OnNull::Default => absence.default.clone(),
            });
        }
        if let Some(d) = &absence.default {
            return Ok(Some(d.clone()));
        }
        match absence.on_missing {
            OnMissing::Omit => Ok(None),
            OnMissing::Null => Ok(Some(Value::Null)),
            OnMissing::Error => Err(MapError {
                target: target_pointer(field, scope),
                input: input(),
                message: "required source is missing".to_owned(),
            }),
        }
    }

    fn value(
        &self,
        rule: &'a ValueRule,
        field: &'a Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Value>, MapError> {
        if let Some(w) = &rule.when
            && !self.cond(w, scope)
        {
            return Ok(None);
        }
        let value = match &rule.source {
            Source::Const(v) => return Ok(Some(v.clone())),
            Source::Path(p) => match self.resolve(p, scope) {
                None => {
                    return self.absent(
                        &rule.absence,
                        false,
                        field,
                        || input_pointer(p, scope),
                        scope,
                    );
                }
                Some(g) if g.is_null() => {
                    return self.absent(
                        &rule.absence,
                        true,
                        field,
                        || input_pointer(p, scope),
                        scope,
                    );
                }
                Some(g) if !rule.has_steps() => return Ok(Some(g.to_value())),
                Some(g) => g.to_value(),
            },
            Source::Template(parts) => match self.template(parts, field, scope)? {
                Ok(s) => Value::String(s),
                Err(p) => {
                    return self.absent(
                        &rule.absence,
                        false,
                        field,
                        || input_pointer(p, scope),
                        scope,
                    );
                }
            },
        };
        let input = || match &rule.source {
            Source::Path(p) => input_pointer(p, scope),
            _ => None,
        };
        steps(rule, value)
            .map(Some)
            .map_err(|StepError(message)| MapError {
                target: target_pointer(field, scope),
                input: input(),
                message,
            })
    }

    /// Builds a template; `Err(path)` names the first placeholder whose source is
    /// missing or null (the whole template is then missing).
    fn template(
        &self,
        parts: &'a [TemplatePart],
        field: &Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Result<String, &'a SourcePath>, MapError> {
        let mut out = String::new();
        for part in parts {
            match part {
                TemplatePart::Literal(s) => out.push_str(s),
                TemplatePart::Path(p) => match self.resolve(p, scope) {
                    None | Some(Got::Json(Value::Null)) => return Ok(Err(p)),
                    Some(Got::Text(s)) => out.push_str(s),
                    Some(Got::Json(Value::String(s))) => out.push_str(s),
                    Some(Got::Int(i)) => {
                        let _ = write!(out, "{i}");
                    }
                    Some(Got::Json(Value::Number(n))) => {
                        let _ = write!(out, "{n}");
                    }
                    Some(Got::Json(Value::Bool(b))) => {
                        let _ = write!(out, "{b}");
                    }
                    Some(Got::Json(_)) => {
                        return Err(MapError {
                            target: target_pointer(field, scope),
                            input: input_pointer(p, scope),
                            message: "a template placeholder must be a string, number or boolean, not an object or array".to_owned(),
                        });
                    }
                },
            }
        }
        Ok(Ok(out))
    }

    fn each(
        &self,
        rule: &'a EachRule,
        field: &'a Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Value>, MapError> {
        if let Some(w) = &rule.when
            && !self.cond(w, scope)
        {
            return Ok(None);
        }
        let input = || input_pointer(&rule.source, scope);
        let items = match self.resolve(&rule.source, scope) {
            None => return self.absent(&rule.absence, false, field, input, scope),
            Some(Got::Json(Value::Null)) => {
                return self.absent(&rule.absence, true, field, input, scope);
            }
            Some(Got::Json(Value::Array(items))) => items,
            Some(_) => {
                return Err(MapError {
                    target: target_pointer(field, scope),
                    input: input(),
                    message: "`each` expects an array".to_owned(),
                });
            }
        };
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.iter().enumerate() {
            let inner = Scope {
                item,
                index,
                out_index: out.len(),
                each: rule,
                each_pointer: &field.pointer,
                parent: scope,
            };
            if let Some(f) = &rule.filter
                && !self.cond(f, Some(&inner))
            {
                continue;
            }
            match &rule.body {
                EachBody::Map(fields) => {
                    out.push(Value::Object(self.object(fields, Some(&inner))?));
                }
                EachBody::Item(node) => {
                    if let Some(v) = self.item_node(node, field, &inner)? {
                        out.push(v);
                    }
                }
            }
        }
        Ok(Some(Value::Array(out)))
    }

    /// The `item` rule of an `each`: its pointer is the item itself.
    fn item_node(
        &self,
        node: &'a Node,
        each_field: &'a Field,
        scope: &Scope<'a>,
    ) -> Result<Option<Value>, MapError> {
        // The item's own field has an empty relative pointer; reuse the each field's key.
        let _ = each_field;
        match node {
            Node::Object(children) => {
                let map = self.object(children, Some(scope))?;
                Ok(Some(Value::Object(map)))
            }
            Node::Value(rule) => self.value(rule, &ITEM_FIELD, Some(scope)),
            Node::Each(rule) => self.each(rule, &ITEM_FIELD, Some(scope)),
        }
    }
}

/// The pseudo-field of an `item` rule: relative pointer "" (the item itself).
static ITEM_FIELD: Field = Field {
    key: String::new(),
    pos: None,
    target: String::new(),
    pointer: String::new(),
    node: Node::Object(Vec::new()),
};

/// Full JSON Pointer of the output value of `field` in `scope`.
fn target_pointer(field: &Field, scope: Option<&Scope<'_>>) -> String {
    let mut out = String::new();
    scope_target(&mut out, scope);
    out.push_str(&field.pointer);
    out
}

fn scope_target(out: &mut String, scope: Option<&Scope<'_>>) {
    if let Some(s) = scope {
        scope_target(out, s.parent);
        out.push_str(s.each_pointer);
        push_index(out, s.out_index);
    }
}

/// Full JSON Pointer of the input a path reads, when it reads a document.
fn input_pointer(path: &SourcePath, scope: Option<&Scope<'_>>) -> Option<String> {
    let mut out = String::new();
    match &path.root {
        Root::Document => {}
        Root::Item => scope_source(&mut out, scope),
        Root::Request => out.push_str("$request"),
        _ => return Some(path.text.clone()),
    }
    for seg in &path.segments {
        push_pointer(&mut out, seg);
    }
    Some(out)
}

fn scope_source(out: &mut String, scope: Option<&Scope<'_>>) {
    if let Some(s) = scope {
        let each = &s.each.source;
        match each.root {
            Root::Item => scope_source(out, s.parent),
            Root::Request => out.push_str("$request"),
            _ => {}
        }
        for seg in &each.segments {
            push_pointer(out, seg);
        }
        push_index(out, s.index);
    }
}

/// Runs the value steps in their fixed order: apply, lookup, date, as.
fn steps(rule: &ValueRule, mut value: Value) -> Result<Value, StepError> {
    if !rule.apply.is_empty() {
        let mut s = scalar_text(value)?;
        for f in &rule.apply {
            s = apply_fn(f, s);
        }
        value = Value::String(s);
    }
    if let Some(l) = &rule.lookup {
        value = lookup(l, &value)?;
    }
    if let Some(d) = &rule.date {
        value = Value::String(reformat_date(d, &value)?);
    }
    if let Some(c) = &rule.convert {
        value = convert(c, value)?;
    }
    Ok(value)
}

/// The text of a scalar: strings as is, numbers in shortest form, booleans as words.
fn scalar_text(value: Value) -> Result<String, StepError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(StepError(
            "expected a string, number or boolean, found an object or array".to_owned(),
        )),
    }
}

fn apply_fn(f: &StringFn, s: String) -> String {
    match f {
        StringFn::Trim => s.trim().to_owned(),
        StringFn::TrimStart => s.trim_start().to_owned(),
        StringFn::TrimEnd => s.trim_end().to_owned(),
        StringFn::Lowercase => s.to_lowercase(),
        StringFn::Uppercase => s.to_uppercase(),
        StringFn::Replace { from, to } if !from.is_empty() => s.replace(from.as_str(), to),
        StringFn::Replace { .. } => s,
        StringFn::Truncate(n) => match s.char_indices().nth(*n) {
            Some((i, _)) => s.get(..i).unwrap_or(&s).to_owned(),
            None => s,
        },
    }
}

fn lookup(l: &Lookup, value: &Value) -> Result<Value, StepError> {
    let hit = match value {
        Value::String(s) => l.table.get(s.as_str()),
        Value::Number(n) => l.table.get(n.to_string().as_str()),
        Value::Bool(b) => l.table.get(if *b { "true" } else { "false" }),
        _ => None,
    };
    match (hit, &l.fallback) {
        (Some(v), _) => Ok(v.clone()),
        (None, Some(f)) => Ok(f.clone()),
        (None, None) => Err(StepError(format!(
            "no lookup entry for {value}; known: {}",
            l.entries
                .iter()
                .map(|(k, _)| k.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// A parsed date/time, as precise as its format allowed.
enum Moment {
    Zoned(DateTime<FixedOffset>),
    Local(NaiveDateTime),
    Date(NaiveDate),
}

fn reformat_date(d: &DateConv, value: &Value) -> Result<String, StepError> {
    let Some(text) = value.as_str() else {
        return Err(StepError(format!(
            "expected a date/time string, found {value}"
        )));
    };
    let bad = || StepError(format!("`{text}` does not match the date format"));
    let moment = match &d.from {
        DateFormat::Rfc3339 => {
            Moment::Zoned(DateTime::parse_from_rfc3339(text).map_err(|_| bad())?)
        }
        DateFormat::Pattern(items) => {
            let mut parsed = Parsed::new();
            chrono::format::parse(&mut parsed, text, items.iter()).map_err(|_| bad())?;
            if let Ok(dt) = parsed.to_datetime() {
                Moment::Zoned(dt)
            } else if let Ok(dt) = parsed.to_naive_datetime_with_offset(0) {
                Moment::Local(dt)
            } else {
                Moment::Date(parsed.to_naive_date().map_err(|_| bad())?)
            }
        }
    };
    let lacks = || {
        StepError(format!(
            "`{text}` lacks fields the output format `{}` needs (a time or a time zone)",
            d.to_text
        ))
    };
    match (&d.to, moment) {
        (DateFormat::Rfc3339, Moment::Zoned(dt)) => {
            Ok(dt.to_rfc3339_opts(SecondsFormat::AutoSi, true))
        }
        (DateFormat::Rfc3339, _) => Err(lacks()),
        (DateFormat::Pattern(items), m) => {
            let mut out = String::new();
            let res = match m {
                Moment::Zoned(dt) => write!(out, "{}", dt.format_with_items(items.iter())),
                Moment::Local(dt) => write!(out, "{}", dt.format_with_items(items.iter())),
                Moment::Date(dt) => write!(out, "{}", dt.format_with_items(items.iter())),
            };
            res.map_err(|_| lacks())?;
            Ok(out)
        }
    }
}

/// True for `-?digits(.digits)?` with an optional exponent: the decimal syntax of JSON.
fn is_decimal_text(s: &str) -> bool {
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
fn parse_decimal(s: &str) -> Option<Decimal> {
    if !is_decimal_text(s) {
        return None;
    }
    if s.contains(['e', 'E']) {
        Decimal::from_scientific(s).ok()
    } else {
        Decimal::from_str_exact(s).ok()
    }
}

/// A value as an exact decimal. A JSON float is read via its shortest representation
/// (0.1 is "0.1", not 0.1000000000000000055...).
fn to_decimal(value: &Value) -> Result<Decimal, StepError> {
    let parsed = match value {
        Value::String(s) => parse_decimal(s),
        Value::Number(n) => parse_decimal(&n.to_string()),
        _ => None,
    };
    parsed.ok_or_else(|| StepError(format!("{value} is not a decimal number")))
}

fn round(d: Decimal, scale: u32, rounding: Rounding) -> Decimal {
    let strategy = match rounding {
        Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
        Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
        Rounding::Down => RoundingStrategy::ToZero,
    };
    let mut r = d.round_dp_with_strategy(scale, strategy);
    r.rescale(scale);
    r
}

/// The JSON number equal to `d`, only when a double holds it exactly: its shortest
/// representation must read back as the same decimal.
fn exact_number(d: Decimal) -> Result<Value, StepError> {
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

fn convert(c: &Convert, value: Value) -> Result<Value, StepError> {
    match c.to {
        Conversion::String => {
            if let Some(scale) = c.scale {
                let d = to_decimal(&value)?;
                return Ok(Value::String(round(d, scale, c.rounding).to_string()));
            }
            scalar_text(value).map(Value::String)
        }
        Conversion::Decimal => {
            let mut d = to_decimal(&value)?;
            if let Some(scale) = c.scale {
                d = round(d, scale, c.rounding);
            }
            exact_number(d)
        }
        Conversion::Integer => {
            let n = match &value {
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
            let f = match &value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) if is_decimal_text(s) => s.parse::<f64>().ok(),
                _ => None,
            };
            f.and_then(Number::from_f64)
                .map(Value::Number)
                .ok_or_else(|| StepError(format!("{value} is not a number")))
        }
        Conversion::Boolean => match &value {
            Value::Bool(_) => Ok(value),
            Value::String(s) if s == "true" || s == "1" => Ok(Value::Bool(true)),
            Value::String(s) if s == "false" || s == "0" => Ok(Value::Bool(false)),
            Value::Number(n) if n.as_u64() == Some(1) => Ok(Value::Bool(true)),
            Value::Number(n) if n.as_u64() == Some(0) => Ok(Value::Bool(false)),
            _ => Err(StepError(format!("{value} is not a boolean"))),
        },
    }
}
