//! Evaluation of a compiled map on one document. The walk borrows the source and
//! allocates only the output values; pointers for error messages are built only when an
//! error happens.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::str::FromStr;

use chrono::format::Parsed;
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, SecondsFormat};
use rust_decimal::{Decimal, RoundingStrategy};
use serde_json::{Map, Number, Value};

use super::compile::{
    Absence, ChoiceRule, Cond, Convert, DateConv, DateFormat, EachBody, EachRule, Field, Finish,
    Lookup, Node, ObjectRule, Source, TemplatePart, ValueRule,
};
use super::path::{Root, SourcePath, push_index, push_pointer};
use super::syntax::{Conversion, OnEmpty, OnMissing, OnNull, Rounding, StringFn};
use super::{EvalContext, MapError};
use crate::codec::{number_text, push_number};
use crate::view::{Doc, View};
use arith::*;
use number::*;

mod arith;
mod number;

/// A constant of a route file as an exact decimal, read as `as: decimal` reads a value:
/// what `calc` operands are compiled with.
pub(super) fn decimal_constant(value: &Value) -> Result<Decimal, String> {
    to_decimal(value).map_err(|StepError(message)| message)
}

/// True for decimal text (`-12.5`, `1e3`): a `calc` operand written so is a constant,
/// anything else a source path.
pub(super) fn is_decimal(s: &str) -> bool {
    is_decimal_text(s)
}

/// The item being mapped inside `each`, with what is needed to name it in errors.
pub(super) struct Scope<'a> {
    item: View<'a>,
    /// Index in the source array.
    index: usize,
    /// Index in the output array (after `filter`).
    out_index: usize,
    each: &'a EachRule,
    /// Pointer of the `each` field relative to the parent scope's item.
    each_pointer: &'a str,
    parent: Option<&'a Scope<'a>>,
}

impl<'a> Scope<'a> {
    pub(super) fn new(
        item: View<'a>,
        index: usize,
        out_index: usize,
        each: &'a EachRule,
        each_pointer: &'a str,
        parent: Option<&'a Scope<'a>>,
    ) -> Scope<'a> {
        Scope {
            item,
            index,
            out_index,
            each,
            each_pointer,
            parent,
        }
    }
}

/// A resolved source value: borrowed from the document or the context.
#[derive(Debug, Clone, Copy)]
pub(super) enum Got<'a> {
    Json(&'a Value),
    /// An object or array of a [`Doc`](crate::view::Doc) source, held as a member
    /// list (never a scalar: those are `Json`).
    Doc(View<'a>),
    Text(&'a str),
    Int(usize),
}

impl<'a> Got<'a> {
    #[inline(always)]
    fn of(view: View<'a>) -> Got<'a> {
        match view.norm() {
            View::Value(v) => Got::Json(v),
            View::Text(s) => Got::Text(s),
            container => Got::Doc(container),
        }
    }
    fn to_value(self) -> Value {
        match self {
            Got::Json(v) => v.clone(),
            Got::Doc(v) => v.to_value(),
            Got::Text(s) => Value::String(s.to_owned()),
            Got::Int(i) => Value::from(i),
        }
    }
    pub(super) fn is_null(self) -> bool {
        matches!(self, Got::Json(Value::Null))
    }
    /// The empty string, or an object without members (`<Note/>`): what `on_empty` judges.
    fn is_empty(self) -> bool {
        match self {
            Got::Json(v) => is_empty_value(v),
            Got::Doc(v) => v.kind() == crate::view::Kind::Object && v.is_empty(),
            Got::Text(s) => s.is_empty(),
            Got::Int(_) => false,
        }
    }
    /// The source value as a [`View`], to be read or written as it is; None for an index,
    /// which is only ever a number made on demand.
    #[inline(always)]
    pub(super) fn view(self) -> Option<View<'a>> {
        match self {
            Got::Json(v) => Some(View::Value(v)),
            Got::Doc(v) => Some(v),
            Got::Text(s) => Some(View::Text(s)),
            Got::Int(_) => None,
        }
    }
    /// JSON equality: numbers by value (`1` equals `1.0`), the rest as written.
    fn equals(self, other: &Value) -> bool {
        match self {
            Got::Json(v) => json_eq(v, other),
            Got::Doc(v) => json_eq(&v.to_value(), other),
            Got::Text(s) => other.as_str() == Some(s),
            Got::Int(i) => u64::try_from(i).is_ok_and(|i| json_eq(&Value::from(i), other)),
        }
    }
}

/// Whether two JSON values are equal as JSON means it: numbers by value, whatever their
/// spelling (`1`, `1.0`), recursively in arrays and objects.
fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            match (x.as_i64(), y.as_i64(), x.as_u64(), y.as_u64()) {
                (Some(x), Some(y), _, _) => x == y,
                (_, _, Some(x), Some(y)) => x == y,
                _ => x.as_f64() == y.as_f64(),
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| json_eq(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

pub(crate) struct Eval<'a, 'c> {
    pub(crate) source: View<'a>,
    pub(crate) ctx: &'a EvalContext<'c>,
}

/// A step failed: message and whether the rule's input pointer names the culprit.
struct StepError(String);

impl<'a, 'c: 'a> Eval<'a, 'c> {
    /// Evaluates the fields of one object into a member list whose keys are borrowed from
    /// the map, leaving out the members that produced nothing. An object whose fields
    /// repeat a key is built as a map instead, where the last value of a key wins.
    pub(crate) fn object<'r: 'a>(
        &self,
        rule: &'r ObjectRule,
        scope: Option<&Scope<'a>>,
    ) -> Result<Doc<'r>, MapError> {
        if !rule.keys_unique() {
            return self.object_by_insert(&rule.fields, scope);
        }
        let mut out = Vec::with_capacity(rule.fields.len());
        for f in &rule.fields {
            if let Some(d) = self.node(&f.node, f, scope)? {
                out.push((Cow::Borrowed(f.key.as_str()), d));
            }
        }
        Ok(Doc::Members(out))
    }

    /// Evaluates the fields of an object whose keys repeat, inserting key by key.
    fn object_by_insert<'r: 'a>(
        &self,
        fields: &'r [Field],
        scope: Option<&Scope<'a>>,
    ) -> Result<Doc<'r>, MapError> {
        let mut out = Map::with_capacity(fields.len());
        for f in fields {
            if let Some(d) = self.node(&f.node, f, scope)? {
                out.insert(f.key.clone(), d.into_value());
            }
        }
        Ok(Doc::Json(Value::Object(out)))
    }

    pub(super) fn node<'r: 'a>(
        &self,
        node: &'r Node,
        field: &'r Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Doc<'r>>, MapError> {
        match node {
            Node::Value(rule) => Ok(self.value(rule, field, scope)?.map(Doc::Json)),
            Node::Object(children) => {
                let object = self.object(children, scope)?;
                Ok((!object.view().is_empty()).then_some(object))
            }
            Node::Each(rule) => self.each(rule, field, scope),
            Node::Choice(choice) => match self.pick(choice, scope) {
                Picked::Node(node) => self.node(node, field, scope),
                Picked::Default(v) => Ok(Some(Doc::Json(v.clone()))),
                Picked::Nothing => Ok(None),
            },
        }
    }

    /// The branch of a choice that writes, or its default.
    fn pick<'r: 'a>(&self, c: &'r ChoiceRule, scope: Option<&Scope<'a>>) -> Picked<'r> {
        if let Some(w) = &c.when
            && !self.cond(w, scope)
        {
            return Picked::Nothing;
        }
        for b in &c.branches {
            if b.when.as_ref().is_none_or(|w| self.cond(w, scope)) {
                return Picked::Node(&b.node);
            }
        }
        c.default.as_ref().map_or(Picked::Nothing, Picked::Default)
    }

    #[inline(always)]
    pub(super) fn resolve(
        &self,
        path: &'a SourcePath,
        scope: Option<&Scope<'a>>,
    ) -> Option<Got<'a>> {
        let ctx = self.ctx;
        match &path.root {
            Root::Document => path.walk_view(self.source).map(Got::of),
            Root::Item => path.walk_view(scope?.item).map(Got::of),
            Root::Request => path.walk_from(ctx.request?).map(Got::Json),
            Root::Claims => path.walk_from(ctx.claims?).map(Got::Json),
            Root::SoapHeader => path.walk_from(ctx.soap_header?).map(Got::Json),
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

    pub(super) fn cond(&self, c: &'a Cond, scope: Option<&Scope<'a>>) -> bool {
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
    pub(super) fn absent(
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

    /// A value rule. The common rule, a path read without condition, is evaluated here
    /// inline; the others go through [`Eval::value_general`].
    #[inline(always)]
    pub(super) fn value(
        &self,
        rule: &'a ValueRule,
        field: &'a Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Value>, MapError> {
        if let (None, Source::Path(p)) = (&rule.when, &rule.source) {
            let got = match self.resolve(p, scope) {
                Some(g) if !g.is_null() => g,
                missing => {
                    return self.absent(
                        &rule.absence,
                        missing.is_some(),
                        field,
                        || input_pointer(p, scope),
                        scope,
                    );
                }
            };
            return self.finish(rule, field, scope, got);
        }
        self.value_general(rule, field, scope)
    }

    /// Any value rule: conditions, constants and templates included.
    #[inline(never)]
    fn value_general(
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
                Some(g) => g,
            },
            Source::Template(parts) => match self.template(parts, field, scope)? {
                Ok(s) => {
                    let v = Value::String(s);
                    return self.finish(rule, field, scope, Got::Json(&v));
                }
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
        self.finish(rule, field, scope, value)
    }

    /// Runs the steps of a rule on its resolved source: the plain copy and conversions
    /// inline, the rest through [`Eval::run_steps`].
    #[inline(always)]
    fn finish(
        &self,
        rule: &'a ValueRule,
        field: &Field,
        scope: Option<&Scope<'a>>,
        value: Got<'_>,
    ) -> Result<Option<Value>, MapError> {
        let fast = match (rule.finish, value) {
            (Finish::Copy, v) => return Ok(Some(v.to_value())),
            (Finish::Integer, Got::Json(v)) => fast_integer(v),
            (Finish::Integer, Got::Text(s)) => fast_integer_text(s),
            (Finish::Decimal, Got::Json(v)) => fast_decimal(v),
            (Finish::Decimal, Got::Text(s)) => fast_decimal_text(s),
            _ => None,
        };
        match fast {
            Some(v) => Ok(Some(v)),
            None => self.run_steps(rule, field, scope, value),
        }
    }

    /// The general step runner, with the error naming both pointers.
    #[inline(never)]
    fn run_steps(
        &self,
        rule: &'a ValueRule,
        field: &Field,
        scope: Option<&Scope<'a>>,
        value: Got<'_>,
    ) -> Result<Option<Value>, MapError> {
        let input = || match &rule.source {
            Source::Path(p) => input_pointer(p, scope),
            _ => None,
        };
        let fail = |StepError(message)| MapError {
            target: target_pointer(field, scope),
            input: input(),
            message,
        };
        let value = match steps(rule, value).map_err(fail)? {
            Stepped::Value(v) => v,
            Stepped::Empty(v) => return self.empty(rule, field, scope, v, input),
        };
        if rule.calc.is_empty() {
            return Ok(Some(value));
        }
        let d = to_decimal(&value).map_err(fail)?;
        let d = self.calc(&rule.calc, d, field, scope, &input)?;
        convert_decimal(rule.convert.as_ref(), d)
            .map(Some)
            .map_err(fail)
    }

    /// An empty source (after `apply`): the rule's `on_empty`.
    fn empty(
        &self,
        rule: &ValueRule,
        field: &Field,
        scope: Option<&Scope<'a>>,
        value: Value,
        input: impl FnOnce() -> Option<String>,
    ) -> Result<Option<Value>, MapError> {
        match rule.absence.on_empty {
            OnEmpty::Keep => Ok(Some(value)),
            OnEmpty::Omit => Ok(None),
            OnEmpty::Null => Ok(Some(Value::Null)),
            OnEmpty::Default => Ok(rule.absence.default.clone()),
            OnEmpty::Error => Err(MapError {
                target: target_pointer(field, scope),
                input: input(),
                message: "required source is empty".to_owned(),
            }),
        }
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
                    Some(Got::Json(Value::Number(n))) => push_number(&mut out, n),
                    Some(Got::Json(Value::Bool(b))) => {
                        let _ = write!(out, "{b}");
                    }
                    Some(Got::Json(_) | Got::Doc(_)) => {
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

    fn each<'r: 'a>(
        &self,
        rule: &'r EachRule,
        field: &'r Field,
        scope: Option<&Scope<'a>>,
    ) -> Result<Option<Doc<'r>>, MapError> {
        if let Some(w) = &rule.when
            && !self.cond(w, scope)
        {
            return Ok(None);
        }
        let input = || input_pointer(&rule.source, scope);
        let items = match self.resolve(&rule.source, scope) {
            None => {
                return Ok(self
                    .absent(&rule.absence, false, field, input, scope)?
                    .map(Doc::Json));
            }
            Some(Got::Json(Value::Null)) => {
                return Ok(self
                    .absent(&rule.absence, true, field, input, scope)?
                    .map(Doc::Json));
            }
            Some(g) => g.view().and_then(View::items),
        };
        let Some(items) = items else {
            return Err(MapError {
                target: target_pointer(field, scope),
                input: input(),
                message: "`each` expects an array".to_owned(),
            });
        };
        let mut out = Vec::with_capacity(items.len());
        for (index, item) in items.enumerate() {
            let inner = Scope::new(item, index, out.len(), rule, &field.pointer, scope);
            if let Some(f) = &rule.filter
                && !self.cond(f, Some(&inner))
            {
                continue;
            }
            match &rule.body {
                EachBody::Map(fields) => {
                    out.push(self.object(fields, Some(&inner))?);
                }
                EachBody::Item(node) => {
                    if let Some(v) = self.item_node(node, &inner)? {
                        out.push(v);
                    }
                }
            }
        }
        Ok(Some(Doc::List(out)))
    }

    /// The `item` rule of an `each`: its pointer is the item itself.
    pub(super) fn item_node<'r: 'a>(
        &self,
        node: &'r Node,
        scope: &Scope<'a>,
    ) -> Result<Option<Doc<'r>>, MapError> {
        match node {
            Node::Object(children) => Ok(Some(self.object(children, Some(scope))?)),
            Node::Value(rule) => Ok(self.value(rule, &ITEM_FIELD, Some(scope))?.map(Doc::Json)),
            Node::Each(rule) => self.each(rule, &ITEM_FIELD, Some(scope)),
            Node::Choice(choice) => match self.pick(choice, Some(scope)) {
                Picked::Node(node) => self.item_node(node, scope),
                Picked::Default(v) => Ok(Some(Doc::Json(v.clone()))),
                Picked::Nothing => Ok(None),
            },
        }
    }
}

/// What a choice writes.
enum Picked<'r> {
    Node(&'r Node),
    Default(&'r Value),
    Nothing,
}

/// The pseudo-field of an `item` rule: relative pointer "" (the item itself).
pub(super) static ITEM_FIELD: Field = Field {
    key: String::new(),
    pos: None,
    target: String::new(),
    pointer: String::new(),
    node: Node::Object(ObjectRule::EMPTY),
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

/// What the value steps made of a source.
enum Stepped {
    Value(Value),
    /// The value is empty and the rule says what that becomes (`on_empty`).
    Empty(Value),
}

/// Runs the value steps in their fixed order: apply, the empty test, lookup, date, as
/// (`calc`, and then `as`, are left to the caller). The source is borrowed until a step
/// produces a new value, so `trim` of a document string or a lookup costs no copy of the
/// input.
fn steps(rule: &ValueRule, got: Got<'_>) -> Result<Stepped, StepError> {
    let mut owned: Option<Value> = None;
    if !rule.apply.is_empty() {
        let mut text: Cow<'_, str> = match got {
            Got::Json(Value::String(s)) => Cow::Borrowed(s.as_str()),
            Got::Text(s) => Cow::Borrowed(s),
            other => Cow::Owned(scalar_text(other.to_value())?),
        };
        for f in &rule.apply {
            text = apply_fn(f, text);
        }
        owned = Some(Value::String(text.into_owned()));
    }
    if rule.absence.on_empty != OnEmpty::Keep
        && owned.as_ref().map_or(got.is_empty(), is_empty_value)
    {
        return Ok(Stepped::Empty(owned.unwrap_or_else(|| got.to_value())));
    }
    if let Some(l) = &rule.lookup {
        owned = Some(lookup(l, &current(&owned, got))?);
    }
    if let Some(d) = &rule.date {
        owned = Some(Value::String(reformat_date(d, &current(&owned, got))?));
    }
    if let Some(c) = &rule.convert
        && rule.calc.is_empty()
    {
        owned = Some(convert(c, &current(&owned, got))?);
    }
    Ok(Stepped::Value(owned.unwrap_or_else(|| got.to_value())))
}

/// The empty string or an object without members.
fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::String(s) => s.is_empty(),
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

/// The value the next step reads: the last step's output, else the borrowed source.
fn current<'v>(owned: &'v Option<Value>, got: Got<'v>) -> Cow<'v, Value> {
    match (owned, got) {
        (Some(v), _) => Cow::Borrowed(v),
        (None, Got::Json(v)) => Cow::Borrowed(v),
        (None, other) => Cow::Owned(other.to_value()),
    }
}

/// The text of a scalar: strings as is, numbers in shortest form, booleans as words.
fn scalar_text(value: Value) -> Result<String, StepError> {
    match value {
        Value::String(s) => Ok(s),
        Value::Number(n) => Ok(number_text(&n)),
        Value::Bool(b) => Ok(b.to_string()),
        Value::Null => Ok(String::new()),
        Value::Array(_) | Value::Object(_) => Err(StepError(
            "expected a string, number or boolean, found an object or array".to_owned(),
        )),
    }
}

/// One string function; trimming a borrowed string stays borrowed.
fn apply_fn<'s>(f: &StringFn, s: Cow<'s, str>) -> Cow<'s, str> {
    let trimmed = |s: Cow<'s, str>, t: fn(&str) -> &str| match s {
        Cow::Borrowed(b) => Cow::Borrowed(t(b)),
        Cow::Owned(o) => Cow::Owned(t(&o).to_owned()),
    };
    match f {
        StringFn::Trim => trimmed(s, str::trim),
        StringFn::TrimStart => trimmed(s, str::trim_start),
        StringFn::TrimEnd => trimmed(s, str::trim_end),
        StringFn::Lowercase => Cow::Owned(s.to_lowercase()),
        StringFn::Uppercase => Cow::Owned(s.to_uppercase()),
        StringFn::Replace { from, to } if !from.is_empty() && s.contains(from.as_str()) => {
            Cow::Owned(s.replace(from.as_str(), to))
        }
        StringFn::Replace { .. } => s,
        StringFn::Truncate(n) => match s.char_indices().nth(*n) {
            Some((i, _)) => match s {
                Cow::Borrowed(b) => Cow::Borrowed(b.get(..i).unwrap_or(b)),
                Cow::Owned(o) => Cow::Owned(o.get(..i).unwrap_or(&o).to_owned()),
            },
            None => s,
        },
    }
}

fn lookup(l: &Lookup, value: &Value) -> Result<Value, StepError> {
    let hit = match value {
        Value::String(s) => l.table.get(s.as_str()),
        Value::Number(n) => l.table.get(number_text(n).as_str()),
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

#[cfg(test)]
mod tests;
