//! Compiles the `map` of a route file into plain structures: parsed paths, compiled
//! regexes, lookup tables, parsed date formats. Every problem is collected (not only the
//! first) with the file, line and column of the rule's key.

use std::collections::HashMap;
use std::path::Path;

use chrono::format::{Item, StrftimeItems};
use regex::Regex;
use serde_json::Value;

use super::path::{Root, SourcePath, push_pointer};
use super::syntax::{
    Conversion, DateSpec, Entry, MapSpec, OnEmpty, OnMissing, OnNull, Pos, Rounding, Rule, StringFn,
};
use crate::diagnostic::Diagnostic;

mod calc;
mod choice;
mod cond;

pub use calc::{CalcOp, Operand};
pub use choice::{Branch, ChoiceRule};

/// Largest `scale` a rule may ask for: the precision limit of `rust_decimal`.
pub const MAX_SCALE: u32 = 28;

/// Compiled size limit of one `matches` regex. Patterns come from route files (trusted
/// authors), but a typo such as `.{1000}{1000}` should fail at load, not eat memory.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Deepest nesting of `each` and nested maps accepted; deeper maps are almost certainly
/// a mistake, and the bound keeps evaluation recursion small.
pub const MAX_NESTING: usize = 32;

/// One target property and how it is produced.
#[derive(Debug, Clone)]
pub struct Field {
    /// Property name in the output object.
    pub key: String,
    /// Where the rule is written.
    pub pos: Pos,
    /// Target path for messages (`/lines/*/quantity`: `*` stands for any item).
    pub target: String,
    /// JSON Pointer relative to the innermost item (`/quantity`), completed at runtime.
    pub pointer: String,
    pub node: Node,
}

/// The fields of one target object.
#[derive(Debug, Clone, Default)]
pub struct ObjectRule {
    pub fields: Vec<Field>,
    /// Whether every field has its own key, decided by [`ObjectRule::seal`]: only then can
    /// the object be built as a member list, field by field.
    unique: bool,
}

impl ObjectRule {
    /// An object with no fields, usable in statics.
    pub const EMPTY: ObjectRule = ObjectRule {
        fields: Vec::new(),
        unique: false,
    };

    pub fn new(fields: Vec<Field>) -> Self {
        ObjectRule {
            fields,
            unique: false,
        }
    }

    /// Decides how this object and every object below it are built; done once the map is
    /// complete (dotted keys merge objects while compiling).
    pub fn seal(&mut self) {
        for f in &mut self.fields {
            f.node.seal();
        }
        let mut keys: Vec<&str> = self.fields.iter().map(|f| f.key.as_str()).collect();
        keys.sort_unstable();
        keys.dedup();
        self.unique = keys.len() == self.fields.len();
    }

    /// True when sealed and no two fields share a key.
    pub(crate) fn keys_unique(&self) -> bool {
        self.unique
    }
}

impl std::ops::Deref for ObjectRule {
    type Target = [Field];

    fn deref(&self) -> &[Field] {
        &self.fields
    }
}

impl Node {
    fn seal(&mut self) {
        match self {
            Node::Object(o) => o.seal(),
            Node::Value(rule) => rule.finish = rule.plan(),
            Node::Each(e) => match &mut e.body {
                EachBody::Map(o) => o.seal(),
                EachBody::Item(n) => n.seal(),
            },
            Node::Choice(c) => c.branches.iter_mut().for_each(|b| b.node.seal()),
        }
    }
}

impl ObjectRule {
    /// Every source path the fields read, conditions and templates included.
    pub fn source_paths<'a>(&'a self, out: &mut Vec<&'a SourcePath>) {
        for f in &self.fields {
            f.node.source_paths(out);
        }
    }
}

impl Node {
    /// Every source path this node reads.
    pub fn source_paths<'a>(&'a self, out: &mut Vec<&'a SourcePath>) {
        match self {
            Node::Object(o) => o.source_paths(out),
            Node::Value(rule) => {
                if let Some(c) = &rule.when {
                    c.paths(out);
                }
                match &rule.source {
                    Source::Path(p) => out.push(p),
                    Source::Const(_) => {}
                    Source::Template(parts) => {
                        out.extend(parts.iter().filter_map(|part| match part {
                            TemplatePart::Path(p) => Some(p),
                            TemplatePart::Literal(_) => None,
                        }));
                    }
                }
                rule.calc.iter().for_each(|op| op.paths(out));
            }
            Node::Choice(c) => {
                for cond in std::iter::once(&c.when)
                    .chain(c.branches.iter().map(|b| &b.when))
                    .flatten()
                {
                    cond.paths(out);
                }
                c.branches.iter().for_each(|b| b.node.source_paths(out));
            }
            Node::Each(e) => {
                out.push(&e.source);
                for c in [&e.when, &e.filter].into_iter().flatten() {
                    c.paths(out);
                }
                match &e.body {
                    EachBody::Map(o) => o.source_paths(out),
                    EachBody::Item(n) => n.source_paths(out),
                }
            }
        }
    }
}

/// How a target value is produced.
#[derive(Debug, Clone)]
pub enum Node {
    /// A nested target object. Omitted when none of its fields produce a value.
    Object(ObjectRule),
    Value(Box<ValueRule>),
    Each(Box<EachRule>),
    /// Rules writing one target under conditions: `cases:`, or rules whose `when`
    /// conditions exclude each other.
    Choice(Box<ChoiceRule>),
}

/// Where a value rule reads.
#[derive(Debug, Clone)]
pub enum Source {
    Path(SourcePath),
    Const(Value),
    Template(Vec<TemplatePart>),
}

#[derive(Debug, Clone)]
pub enum TemplatePart {
    Literal(String),
    Path(SourcePath),
}

/// Handling of missing and null sources.
#[derive(Debug, Clone)]
pub struct Absence {
    pub default: Option<Value>,
    pub on_missing: OnMissing,
    pub on_null: OnNull,
    /// What an empty value (`""`, `{}`) becomes; `Keep` on every rule but `from` ones.
    pub on_empty: OnEmpty,
}

/// A scalar rule: source, absence handling and value steps.
#[derive(Debug, Clone)]
pub struct ValueRule {
    pub source: Source,
    pub when: Option<Cond>,
    pub absence: Absence,
    pub apply: Vec<StringFn>,
    pub lookup: Option<Lookup>,
    pub date: Option<DateConv>,
    /// Exact decimal arithmetic, after `date` and before `as`.
    pub calc: Vec<CalcOp>,
    pub convert: Option<Convert>,
    /// What evaluation does with the resolved value, decided when the map is sealed.
    pub finish: Finish,
    /// The rule keywords it is written with (none for a bare path), for the checker's
    /// hint when the target object has properties spelled like them.
    pub keys: Vec<&'static str>,
}

/// The steps of a value rule reduced to what a request needs to know: most rules copy
/// their source or make one plain conversion, and deciding that once spares each value
/// the test of every step and the general step runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// No steps: the value is copied as it is.
    Copy,
    /// Only `as: integer`.
    Integer,
    /// Only `as: decimal`, without `scale`.
    Decimal,
    /// Anything else (and every rule before sealing): the general step runner.
    Steps,
}

impl ValueRule {
    /// True when the value passes through unchanged.
    pub fn has_steps(&self) -> bool {
        !self.apply.is_empty()
            || self.lookup.is_some()
            || self.date.is_some()
            || !self.calc.is_empty()
            || self.convert.is_some()
    }

    /// The [`Finish`] of this rule's steps.
    fn plan(&self) -> Finish {
        if self.absence.on_empty != OnEmpty::Keep {
            return Finish::Steps;
        }
        if !self.has_steps() {
            return Finish::Copy;
        }
        let only_convert = self.apply.is_empty()
            && self.lookup.is_none()
            && self.date.is_none()
            && self.calc.is_empty();
        match self.convert {
            Some(Convert {
                to: Conversion::Integer,
                scale: None,
                ..
            }) if only_convert => Finish::Integer,
            Some(Convert {
                to: Conversion::Decimal,
                scale: None,
                ..
            }) if only_convert => Finish::Decimal,
            _ => Finish::Steps,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Lookup {
    pub table: HashMap<String, Value>,
    /// The table in the order written, for the checker's messages.
    pub entries: Vec<(String, Value)>,
    pub fallback: Option<Value>,
}

#[derive(Debug, Clone)]
pub enum DateFormat {
    Rfc3339,
    Pattern(Vec<Item<'static>>),
}

#[derive(Debug, Clone)]
pub struct DateConv {
    pub from: DateFormat,
    pub to: DateFormat,
    /// The output format as written, for messages.
    pub to_text: String,
}

#[derive(Debug, Clone, Copy)]
pub struct Convert {
    pub to: Conversion,
    pub scale: Option<u32>,
    pub rounding: Rounding,
}

/// An `each` rule: one output item per source item.
#[derive(Debug, Clone)]
pub struct EachRule {
    pub source: SourcePath,
    pub when: Option<Cond>,
    pub filter: Option<Cond>,
    pub absence: Absence,
    pub body: EachBody,
    /// The rule keywords it is written with, as [`ValueRule::keys`].
    pub keys: Vec<&'static str>,
}

#[derive(Debug, Clone)]
pub enum EachBody {
    /// Object items.
    Map(ObjectRule),
    /// Scalar (or nested array) items.
    Item(Box<Node>),
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub enum Cond {
    Exists(SourcePath),
    Missing(SourcePath),
    Equals(SourcePath, Value),
    NotEquals(SourcePath, Value),
    In(SourcePath, Vec<Value>),
    Matches(SourcePath, Regex),
    Not(Box<Cond>),
    All(Vec<Cond>),
    Any(Vec<Cond>),
}

impl Cond {
    /// Every path the condition reads.
    pub fn paths<'a>(&'a self, out: &mut Vec<&'a SourcePath>) {
        match self {
            Cond::Exists(p)
            | Cond::Missing(p)
            | Cond::Equals(p, _)
            | Cond::NotEquals(p, _)
            | Cond::In(p, _)
            | Cond::Matches(p, _) => out.push(p),
            Cond::Not(c) => c.paths(out),
            Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| c.paths(out)),
        }
    }
}

/// Compiler state: the file for diagnostics and the errors found so far.
pub(crate) struct Compiler<'f> {
    file: &'f Path,
    pub(crate) errors: Vec<Diagnostic>,
}

/// Where a rule sits while compiling it.
#[derive(Clone, Copy)]
struct At<'a> {
    pos: Pos,
    target: &'a str,
    /// JSON Pointer relative to the innermost item.
    pointer: &'a str,
    /// Number of enclosing `each`.
    depth: usize,
}

impl<'f> Compiler<'f> {
    pub(crate) fn new(file: &'f Path) -> Self {
        Compiler {
            file,
            errors: Vec::new(),
        }
    }

    fn err(&mut self, at: At<'_>, message: impl Into<String>, hint: Option<&str>) {
        let mut d = Diagnostic::error(self.file, message)
            .at_opt(at.pos)
            .location(at.target);
        if let Some(h) = hint {
            d = d.hint(h);
        }
        self.errors.push(d);
    }

    /// Compiles a target object: dotted keys become nested objects.
    pub(crate) fn map(
        &mut self,
        spec: &MapSpec,
        target: &str,
        pointer: &str,
        depth: usize,
    ) -> Vec<Field> {
        let mut fields: Vec<Field> = Vec::with_capacity(spec.entries.len());
        for entry in &spec.entries {
            let owned = match split_key(&entry.key) {
                Ok(parts) => parts,
                Err(message) => {
                    let at = At {
                        pos: entry.pos,
                        target,
                        pointer,
                        depth,
                    };
                    self.err(at, message, None);
                    continue;
                }
            };
            let parts: Vec<&str> = owned.iter().map(String::as_str).collect();
            let full_target = format!("{target}{}", pointer_of(&parts));
            let full_pointer = format!("{pointer}{}", pointer_of(&parts));
            let at = At {
                pos: entry.pos,
                target: &full_target,
                pointer: &full_pointer,
                depth,
            };
            if parts.iter().any(|p| p.is_empty()) {
                self.err(
                    at,
                    format!("target key `{}` has an empty part", entry.key),
                    None,
                );
                continue;
            }
            if depth + parts.len() > MAX_NESTING {
                self.err(
                    at,
                    format!("map nested deeper than {MAX_NESTING} levels"),
                    None,
                );
                continue;
            }
            if let Entry::Rules(rules) = &entry.value {
                for node in self.rules_of_list(rules, at) {
                    insert(self, &mut fields, &parts, node, at, target, pointer);
                }
                continue;
            }
            let Some(node) = self.entry(&entry.value, at) else {
                continue;
            };
            insert(self, &mut fields, &parts, node, at, target, pointer);
        }
        fields
    }

    fn entry(&mut self, entry: &Entry, at: At<'_>) -> Option<Node> {
        match entry {
            Entry::Path(p) => {
                let source = self.path(p, at)?;
                Some(Node::Value(Box::new(ValueRule {
                    source: Source::Path(source),
                    when: None,
                    absence: Absence {
                        default: None,
                        on_missing: OnMissing::Omit,
                        on_null: OnNull::Keep,
                        on_empty: OnEmpty::Keep,
                    },
                    apply: Vec::new(),
                    lookup: None,
                    date: None,
                    calc: Vec::new(),
                    convert: None,
                    finish: Finish::Steps,
                    keys: Vec::new(),
                })))
            }
            // Only reached for a list in an `item:`; lists under target keys are compiled
            // rule by rule in `map`, so their rules merge like any others.
            Entry::Rules(rules) => self.rule_list(rules, at),
            Entry::Nested(m) => Some(Node::Object(ObjectRule::new(self.map(
                m,
                at.target,
                at.pointer,
                at.depth + 1,
            )))),
            Entry::Rule(r) => self.rule(r, at),
        }
    }

    fn path(&mut self, text: &str, at: At<'_>) -> Option<SourcePath> {
        match SourcePath::parse(text) {
            Ok(p) => {
                if at.depth == 0 && matches!(p.root, Root::Item | Root::Index | Root::Position) {
                    self.err(
                        at,
                        format!(
                            "`{text}` is relative to an item, but this rule is not inside `each`"
                        ),
                        Some("absolute source paths start with `/`, e.g. `/Order/@id`"),
                    );
                    return None;
                }
                Some(p)
            }
            Err(e) => {
                self.err(at, e.to_string(), None);
                None
            }
        }
    }

    fn rule(&mut self, r: &Rule, at: At<'_>) -> Option<Node> {
        let sources = [
            r.from.is_some(),
            r.constant.is_some(),
            r.template.is_some(),
            r.each.is_some(),
            r.cases.is_some(),
        ];
        match sources.iter().filter(|s| **s).count() {
            1 => {}
            0 => {
                self.err(
                    at,
                    "rule has no source",
                    Some("give exactly one of `from`, `const`, `template`, `each`, `cases`"),
                );
                return None;
            }
            _ => {
                self.err(
                    at,
                    "rule has more than one source",
                    Some("give exactly one of `from`, `const`, `template`, `each`, `cases`"),
                );
                return None;
            }
        }
        let errors_before = self.errors.len();
        let when = r.when.as_ref().and_then(|c| self.cond(c, at));
        if let Some(cases) = &r.cases {
            return self.cases(r, cases, when, at, errors_before);
        }
        if r.each.is_none() {
            for (set, key) in [
                (r.map.is_some(), "map"),
                (r.item.is_some(), "item"),
                (r.filter.is_some(), "filter"),
            ] {
                if set {
                    self.err(at, format!("`{key}` is only valid with `each`"), None);
                }
            }
        }
        if r.fallback.is_some() && r.lookup.is_none() {
            self.err(at, "`fallback` is only valid with `lookup`", None);
        }
        if r.default.is_some() && r.on_missing.is_some() {
            self.err(
                at,
                "`on_missing` has no effect when `default` is given",
                Some("a missing source writes the default; remove one of the two"),
            );
        }
        if r.on_null == Some(OnNull::Default) && r.default.is_none() {
            self.err(at, "`on_null: default` needs a `default` value", None);
        }
        let on_empty = self.on_empty(r, at);
        let absence = Absence {
            default: r.default.clone(),
            on_missing: r.on_missing.unwrap_or(OnMissing::Omit),
            on_null: r.on_null.unwrap_or(OnNull::Keep),
            on_empty,
        };
        let has_steps = !r.apply.is_empty()
            || r.lookup.is_some()
            || r.date.is_some()
            || !r.calc.is_empty()
            || r.convert.is_some()
            || r.scale.is_some()
            || r.rounding.is_some();

        if let Some(value) = &r.constant {
            if has_steps
                || r.default.is_some()
                || r.on_missing.is_some()
                || r.on_null.is_some()
                || r.on_empty.is_some()
            {
                self.err(
                    at,
                    "`const` takes no other keys than `when`",
                    Some("write the constant exactly as the output should be"),
                );
            }
            return (self.errors.len() == errors_before).then(|| {
                Node::Value(Box::new(ValueRule {
                    source: Source::Const(value.clone()),
                    when,
                    absence,
                    apply: Vec::new(),
                    lookup: None,
                    date: None,
                    calc: Vec::new(),
                    convert: None,
                    finish: Finish::Steps,
                    keys: r.keywords(),
                }))
            });
        }

        if let Some(each) = &r.each {
            if has_steps {
                self.err(
                    at,
                    "`each` produces an array; value steps (`apply`, `lookup`, `date`, `calc`, `as`) belong in its `item` or `map` rules",
                    None,
                );
            }
            let source = self.path(each, at);
            let inner = At {
                depth: at.depth + 1,
                ..at
            };
            let filter = r.filter.as_ref().and_then(|c| self.cond(c, inner));
            let item_target = format!("{}/*", at.target);
            let body = match (&r.map, &r.item) {
                (Some(m), None) => Some(EachBody::Map(ObjectRule::new(self.map(
                    m,
                    &item_target,
                    "",
                    at.depth + 1,
                )))),
                (None, Some(item)) => {
                    let item_at = At {
                        pos: at.pos,
                        target: &item_target,
                        pointer: "",
                        depth: at.depth + 1,
                    };
                    self.entry(item, item_at)
                        .map(|n| EachBody::Item(Box::new(n)))
                }
                _ => {
                    self.err(
                        at,
                        "`each` needs exactly one of `map` (object items) or `item` (one value per item)",
                        None,
                    );
                    None
                }
            };
            let (source, body) = (source?, body?);
            return (self.errors.len() == errors_before).then(|| {
                Node::Each(Box::new(EachRule {
                    source,
                    when,
                    filter,
                    absence,
                    body,
                    keys: r.keywords(),
                }))
            });
        }

        let source = if let Some(from) = &r.from {
            self.path(from, at).map(Source::Path)
        } else if let Some(t) = &r.template {
            self.template(t, at).map(Source::Template)
        } else {
            None
        };
        let lookup = r.lookup.as_ref().map(|table| Lookup {
            table: table.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            entries: table.iter().map(|(k, v)| (k.clone(), v.clone())).collect(),
            fallback: r.fallback.clone(),
        });
        let date = r.date.as_ref().and_then(|d| self.date(d, at));
        let calc = self.calc(r, at);
        let convert = self.convert(r, at);
        if r.apply
            .iter()
            .any(|f| matches!(f, StringFn::Replace { from, .. } if from.is_empty()))
        {
            // An empty pattern matches everywhere or nowhere, depending on whom you ask:
            // refused rather than silently doing nothing.
            self.err(at, "`replace` needs a non-empty `from`", None);
        }
        let source = source?;
        (self.errors.len() == errors_before).then(|| {
            Node::Value(Box::new(ValueRule {
                source,
                when,
                absence,
                apply: r.apply.clone(),
                lookup,
                date,
                calc,
                convert,
                finish: Finish::Steps,
                keys: r.keywords(),
            }))
        })
    }

    fn convert(&mut self, r: &Rule, at: At<'_>) -> Option<Convert> {
        if let Some(scale) = r.scale {
            if !matches!(r.convert, Some(Conversion::String | Conversion::Decimal)) {
                self.err(at, "`scale` needs `as: string` or `as: decimal`", None);
            }
            if scale > MAX_SCALE {
                self.err(at, format!("`scale` is at most {MAX_SCALE}"), None);
            }
        }
        if r.rounding.is_some() && r.scale.is_none() {
            self.err(at, "`rounding` needs `scale`", None);
        }
        r.convert.map(|to| Convert {
            to,
            scale: r.scale,
            rounding: r.rounding.unwrap_or(Rounding::HalfUp),
        })
    }

    fn template(&mut self, text: &str, at: At<'_>) -> Option<Vec<TemplatePart>> {
        let mut parts = Vec::new();
        let mut lit = String::new();
        let mut chars = text.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|p| p.1) == Some('{') => {
                    chars.next();
                    lit.push('{');
                }
                '}' if chars.peek().map(|p| p.1) == Some('}') => {
                    chars.next();
                    lit.push('}');
                }
                '{' => {
                    let rest = text.get(i + 1..).unwrap_or("");
                    let Some(end) = rest.find('}') else {
                        self.err(
                            at,
                            format!("unclosed `{{` in template `{text}`"),
                            Some("write `{{` for a literal brace"),
                        );
                        return None;
                    };
                    let inner = rest.get(..end).unwrap_or("");
                    let path = self.path(inner, at)?;
                    if !lit.is_empty() {
                        parts.push(TemplatePart::Literal(std::mem::take(&mut lit)));
                    }
                    parts.push(TemplatePart::Path(path));
                    for _ in 0..=inner.chars().count() {
                        chars.next();
                    }
                }
                '}' => {
                    self.err(
                        at,
                        format!("unmatched `}}` in template `{text}`"),
                        Some("write `}}` for a literal brace"),
                    );
                    return None;
                }
                c => lit.push(c),
            }
        }
        if !lit.is_empty() {
            parts.push(TemplatePart::Literal(lit));
        }
        Some(parts)
    }

    fn date(&mut self, spec: &DateSpec, at: At<'_>) -> Option<DateConv> {
        let from = self.date_format(&spec.from, at);
        let to = self.date_format(&spec.to, at);
        Some(DateConv {
            from: from?,
            to: to?,
            to_text: spec.to.clone(),
        })
    }

    fn date_format(&mut self, text: &str, at: At<'_>) -> Option<DateFormat> {
        if text.eq_ignore_ascii_case("rfc3339") {
            return Some(DateFormat::Rfc3339);
        }
        match StrftimeItems::new(text).parse_to_owned() {
            Ok(items) => Some(DateFormat::Pattern(items)),
            Err(_) => {
                self.err(
                    at,
                    format!("invalid date format `{text}`"),
                    Some("use `rfc3339` or a strftime pattern such as `%d.%m.%Y %H:%M`"),
                );
                None
            }
        }
    }
}

/// Splits a dotted target key into property names. A backslash makes the next character
/// part of the name, whatever it is: `\.` is a dot inside a name, `\\` a backslash, and
/// `\from` the name `from` (the backslash also kept the key from being read as a rule
/// keyword). A backslash at the very end escapes nothing and is an error.
fn split_key(key: &str) -> Result<Vec<String>, String> {
    let mut parts = vec![String::new()];
    let mut chars = key.chars();
    while let Some(c) = chars.next() {
        let c = match c {
            '\\' => chars.next().ok_or_else(|| {
                format!(
                    "target key `{key}` ends with a backslash that escapes nothing; \
                     write `\\\\` for a backslash in a name"
                )
            })?,
            '.' => {
                parts.push(String::new());
                continue;
            }
            c => c,
        };
        if let Some(last) = parts.last_mut() {
            last.push(c);
        }
    }
    Ok(parts)
}

/// JSON Pointer of dotted key parts.
fn pointer_of(parts: &[&str]) -> String {
    let mut s = String::new();
    for p in parts {
        push_pointer(&mut s, p);
    }
    s
}

/// Inserts `node` under the dotted `parts`, creating or merging nested objects.
fn insert(
    c: &mut Compiler<'_>,
    fields: &mut Vec<Field>,
    parts: &[&str],
    node: Node,
    at: At<'_>,
    target: &str,
    pointer: &str,
) {
    let Some((first, rest)) = parts.split_first() else {
        return;
    };
    let mut here_target = target.to_owned();
    push_pointer(&mut here_target, first);
    let mut here_pointer = pointer.to_owned();
    push_pointer(&mut here_pointer, first);
    let existing = fields.iter_mut().position(|f| f.key == *first);
    if rest.is_empty() {
        match (existing, node) {
            (None, node) => {
                fields.push(Field {
                    key: (*first).to_owned(),
                    pos: at.pos,
                    target: here_target,
                    pointer: here_pointer,
                    node,
                });
            }
            (Some(i), Node::Object(children))
                if matches!(fields.get(i).map(|f| &f.node), Some(Node::Object(_))) =>
            {
                // `a.b: ...` written before `a: {c: ...}`: merge the two.
                let Some(Field {
                    node: Node::Object(existing_children),
                    ..
                }) = fields.get_mut(i)
                else {
                    return;
                };
                for child in children.fields {
                    let same = existing_children
                        .fields
                        .iter()
                        .position(|f| f.key == child.key);
                    match same.and_then(|j| existing_children.fields.get_mut(j)) {
                        Some(existing) => {
                            let target = child.target.clone();
                            choice::merge_field(c, existing, child.node, child.pos, at, &target);
                        }
                        None => existing_children.fields.push(child),
                    }
                }
            }
            (Some(i), node) => {
                if let Some(field) = fields.get_mut(i) {
                    choice::merge_field(c, field, node, at.pos, at, &here_target);
                }
            }
        }
        return;
    }
    let i = match existing {
        Some(i) => i,
        None => {
            fields.push(Field {
                key: (*first).to_owned(),
                pos: at.pos,
                target: here_target.clone(),
                pointer: here_pointer.clone(),
                node: Node::Object(ObjectRule::EMPTY),
            });
            fields.len() - 1
        }
    };
    match fields.get_mut(i).map(|f| &mut f.node) {
        Some(Node::Object(children)) => {
            insert(
                c,
                &mut children.fields,
                rest,
                node,
                at,
                &here_target,
                &here_pointer,
            );
        }
        _ => c.err(
            at,
            format!("target `{here_target}` is already produced by a rule, so it cannot also be an object"),
            None,
        ),
    }
}

#[cfg(test)]
mod tests;
