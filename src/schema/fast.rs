//! A compiled structural validator: answers "valid" for the common shape of a schema
//! (objects, arrays, `$ref`s, simple scalar rules) without the `jsonschema` crate's
//! per-keyword machinery, and reads a [`View`], so a decoded [`crate::view::Doc`] is
//! validated without first being turned into a `Value`.
//!
//! Soundness comes first. Structural keywords are checked here, and so are the scalar rules
//! whose meaning is plain arithmetic (`type`, `minLength`/`maxLength` in code points,
//! integer bounds, an `enum` met by a string). Everything else in a subschema that holds no
//! structural keyword (a "leaf": `pattern`, `format`, `anyOf`, ...) is checked by a
//! `jsonschema` validator compiled from those keywords alone with the options the full
//! validator uses, so their semantics stay the crate's own; where a native rule cannot
//! decide (a fractional number against a bound, an `enum` met by a number) the subschema's
//! own `jsonschema` validator answers. Two leaf rules are also checked natively where the
//! answer is provably the crate's: a `pattern` of the plainest form (see [`Pattern`]) and
//! `format: email` on the plainest addresses (see [`plain_email`]); any other pattern or
//! address still goes to `jsonschema`. A schema using anything else at a structural node
//! (`anyOf`, `if`, `patternProperties`, `enum`, an unknown keyword, an embedded `$id`, a
//! `$ref` this module cannot resolve exactly as the registry does) gets no fast validator at
//! all, and its callers use `jsonschema` alone.

mod build;
mod pattern;
mod scalar;

use std::borrow::Cow;
use std::collections::HashMap;

use jsonschema::Draft;
use regex_automata::dfa::{Automaton as _, dense};
use regex_automata::{Anchored, Input};
use serde_json::{Map, Number, Value};

use super::{Documents, shape};
use crate::view::{Doc, View};

use build::*;
use pattern::*;
use scalar::*;

/// Index of a node in [`FastValidator::nodes`].
pub(crate) type Id = u32;

/// Instance nesting the validator follows before it gives the question back to
/// `jsonschema`: far deeper than any document the codecs accept (64 levels by default), and
/// shallow enough that the recursion cannot exhaust a thread's stack.
const MAX_DEPTH: u32 = 256;

/// Longest chain of `$ref`s to `$ref`s followed; people write one or two.
const MAX_ALIAS_CHAIN: usize = 64;

/// Below this many names a member's entry is found by comparing names in turn, which beats
/// hashing the key; above it a hash map does.
const LINEAR_LOOKUP_MAX: usize = 8;

/// Required names tracked as bits of one word while the members are walked; an object
/// schema requiring more looks each one up after the walk instead.
const REQUIRED_BITS: usize = 64;

/// Keywords that assert nothing (or nothing beyond their own node, like `$defs`).
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$comment",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "xml",
    "$defs",
    "definitions",
];

/// Keywords checked natively at a structural node.
const STRUCTURAL: &[&str] = &[
    "properties",
    "required",
    "additionalProperties",
    "items",
    "minItems",
    "maxItems",
    "$ref",
];

/// Assertions that constrain strings or numbers only (JSON Schema Validation, sections 6.2
/// and 6.3; `format` only applies to strings): beside structural keywords they are checked
/// by a leaf validator of their own, and need no check at all on arrays and objects.
const SCALAR_ASSERTIONS: &[&str] = &[
    "minLength",
    "maxLength",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
];

/// Keywords that make a subschema depend on where it sits (base URI, dynamic scope,
/// references): a subschema holding one anywhere inside cannot be validated on its own.
const CONTEXTUAL: &[&str] = &[
    "$ref",
    "$dynamicRef",
    "$recursiveRef",
    "$id",
    "$anchor",
    "$dynamicAnchor",
    "$recursiveAnchor",
    "$schema",
];

const NULL: u8 = 1;
const BOOLEAN: u8 = 2;
const INTEGER: u8 = 4;
const NUMBER: u8 = 8;
const STRING: u8 = 16;
const ARRAY: u8 = 32;
const OBJECT: u8 = 64;
/// Every type: what a subschema without `type` admits.
const ANY_TYPE: u8 = NULL | BOOLEAN | INTEGER | NUMBER | STRING | ARRAY | OBJECT;

/// A schema compiled for the fast check; see the module documentation.
pub(crate) struct FastValidator {
    nodes: Vec<Node>,
    root: Id,
}

impl std::fmt::Debug for FastValidator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FastValidator")
            .field("nodes", &self.nodes.len())
            .finish_non_exhaustive()
    }
}

enum Node {
    /// `true` or `false`.
    Bool(bool),
    Check(Box<Check>),
}

/// One compiled subschema. Fields left at their default check nothing.
///
/// Laid out by hand, in the order a check reads its fields: a document's nodes are checked
/// against schema nodes spread over the heap, so what a string or integer leaf reads (the
/// flags, the lengths, `also`, `rest`, the integer range) sits in the first cache line or
/// two, the object and array rules after them, and the bounds only compilation and the
/// rare fractional number read at the end.
#[repr(C)]
struct Check {
    /// Admitted types as bits; [`ANY_TYPE`] when there is no `type` keyword, so one mask
    /// test decides the type without first asking whether there is a `type` at all.
    admits: u8,
    /// Whether a string has `strings`, `email` or `pattern` to meet: one test on the path
    /// of the strings that have none.
    string_rules: bool,
    /// Whether any of `bounds` is set.
    bounded: bool,
    /// Whether `rest` constrains strings and numbers only, so containers skip it.
    rest_scalar_only: bool,
    /// Whether an array or object needs a `jsonschema` validator beside the type test (an
    /// `enum`, or `rest` holding more than string and number rules); see
    /// [`FastValidator::container`].
    container_rest: bool,
    /// Whether any object keyword is present (otherwise members are not walked).
    object: bool,
    /// Whether any array keyword is present.
    array: bool,
    /// The target of a `$ref` with siblings (2020-12 applies both).
    also: Option<Id>,
    /// `minLength` / `maxLength`, in code points as `jsonschema` counts them; 0 and
    /// `u64::MAX` when absent, which every length meets.
    min_length: u64,
    max_length: u64,
    /// The other assertions (`pattern`, `format`, ...), compiled by `jsonschema`.
    rest: Option<Box<jsonschema::Validator>>,
    /// The string values of `enum`, when there is one (leaves only).
    strings: Option<Box<[Box<str>]>>,
    /// `bounds` as the inclusive range of integers they admit (every limit is an integer,
    /// so `x > m` is `x >= m + 1`): an integer instance is decided by two comparisons.
    int_min: i128,
    int_max: i128,
    /// `bounds` for a fractional instance: `minimum`, `exclusiveMinimum`, `maximum`,
    /// `exclusiveMaximum` as floats, infinite when absent, so four comparisons decide;
    /// None when a limit has no exact float, which leaves the question to `whole`.
    float_bounds: Option<[f64; 4]>,
    /// A `pattern` of the plain form [`Pattern`] matches natively (others stay in `rest`).
    pattern: Option<Pattern>,
    /// `format: email`, checked natively for the plainest addresses (see [`plain_email`])
    /// and by this validator of the keyword alone for every other string.
    email: Option<Box<jsonschema::Validator>>,
    /// Every assertion of the subschema but the structural ones, for the values the native
    /// rules cannot decide.
    whole: Option<Box<jsonschema::Validator>>,
    table: Table,
    /// Bits of every required name, when there are at most [`REQUIRED_BITS`].
    required_mask: u64,
    /// Every required name, looked up one by one when there are too many for the mask.
    required_overflow: Box<[Box<str>]>,
    additional: Additional,
    items: Option<Id>,
    min_items: Option<u64>,
    max_items: Option<u64>,
    /// `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum` with integer limits.
    bounds: [Option<Limit>; 4],
}

const MINIMUM: usize = 0;
const MAXIMUM: usize = 1;
const EXCLUSIVE_MINIMUM: usize = 2;
const EXCLUSIVE_MAXIMUM: usize = 3;
const BOUNDS: [&str; 4] = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

/// An integer bound, compared exactly with integers and, when the float is exact, with
/// fractional numbers too.
#[derive(Clone, Copy)]
struct Limit {
    int: i128,
    /// The limit as an `f64` when that conversion is exact (|limit| <= 2^53).
    float: Option<f64>,
}

impl Limit {
    fn of(value: &Value) -> Option<Limit> {
        let Value::Number(n) = value else {
            return None;
        };
        let int = n
            .as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))?;
        const EXACT: i128 = 1 << 53;
        #[allow(clippy::cast_precision_loss)]
        let float = (-EXACT..=EXACT).contains(&int).then_some(int as f64);
        Some(Limit { int, float })
    }
}

enum Additional {
    Any,
    Forbidden,
    Schema(Id),
}

/// One name an object schema knows: a property, a required name, or both.
struct Entry {
    name: Box<str>,
    /// The property's schema; None for a required name that `properties` does not list,
    /// whose value `additionalProperties` governs.
    node: Option<Id>,
    /// The name's bit in [`Structural::required_mask`], 0 when not tracked.
    bit: u64,
}

enum Table {
    Few(Box<[Entry]>),
    Many {
        entries: Box<[Entry]>,
        index: HashMap<Box<str>, u32>,
    },
}

impl Table {
    fn new(entries: Vec<Entry>) -> Table {
        if entries.len() <= LINEAR_LOOKUP_MAX {
            return Table::Few(entries.into_boxed_slice());
        }
        let index = entries
            .iter()
            .enumerate()
            .filter_map(|(i, e)| Some((e.name.clone(), u32::try_from(i).ok()?)))
            .collect();
        Table::Many {
            entries: entries.into_boxed_slice(),
            index,
        }
    }

    /// The entry of `name` and its index. `hint` is tried first: members usually come in
    /// the order the schema lists them, so the entry after the last one found is most
    /// often the next one wanted, and one comparison finds it.
    #[inline(always)]
    fn find(&self, name: &str, hint: usize) -> Option<(usize, &Entry)> {
        let entries = match self {
            Table::Few(entries) | Table::Many { entries, .. } => entries,
        };
        if let Some(e) = entries.get(hint)
            && same_name(&e.name, name)
        {
            return Some((hint, e));
        }
        self.search(name)
    }

    /// [`Table::find`] when the hint missed: kept out of line, being the rare case.
    #[inline(never)]
    fn search(&self, name: &str) -> Option<(usize, &Entry)> {
        match self {
            Table::Few(entries) => entries
                .iter()
                .enumerate()
                .find(|(_, e)| same_name(&e.name, name)),
            Table::Many { entries, index } => {
                let i = *index.get(name)? as usize;
                Some((i, entries.get(i)?))
            }
        }
    }
}

/// Whether two member names are equal. Names are short, so the lengths are compared first
/// and a name of up to 16 bytes is compared as two overlapping words, which costs less than
/// a call to `memcmp`; a key borrowed from the schema itself is the same pointer.
#[inline(always)]
fn same_name(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let len = a.len();
    if len != b.len() {
        return false;
    }
    if std::ptr::eq(a.as_ptr(), b.as_ptr()) {
        return true;
    }
    match len {
        8..=16 => {
            let tail = len - 8;
            word(a, 0) == word(b, 0) && word(a, tail) == word(b, tail)
        }
        4..=7 => {
            let tail = len - 4;
            half(a, 0) == half(b, 0) && half(a, tail) == half(b, tail)
        }
        0..=3 => a.iter().zip(b).all(|(x, y)| x == y),
        _ => a == b,
    }
}

/// The 8 bytes of `s` from `at` as a word (0 past the end, which [`same_name`] never asks).
#[inline(always)]
fn word(s: &[u8], at: usize) -> u64 {
    s.get(at..at + 8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_ne_bytes)
}

/// The 4 bytes of `s` from `at` as a word (0 past the end, which [`same_name`] never asks).
#[inline(always)]
fn half(s: &[u8], at: usize) -> u32 {
    s.get(at..at + 4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}

/// What a check learnt beyond its verdict.
struct Walk {
    /// Set when the check could not decide (too deep): the verdict must not be used.
    undecided: bool,
}

impl FastValidator {
    /// Compiles the fast validator of document `name`, or None when the schema uses
    /// anything the fast validator does not cover. `docs` are the documents its `$ref`s
    /// reach, as registered with `jsonschema`.
    pub(super) fn compile(name: &str, docs: &Documents) -> Option<FastValidator> {
        let (name, root_doc) = docs.by_name.get_key_value(name)?;
        let draft = Draft::default().detect(root_doc);
        if !matches!(draft, Draft::Draft7 | Draft::Draft202012) {
            return None;
        }
        let mut builder = Builder {
            docs,
            draft,
            nodes: Vec::new(),
            memo: HashMap::new(),
            todo: Vec::new(),
            checked: Vec::new(),
        };
        builder.check_doc(name)?;
        let root = builder.node_for(name, String::new())?;
        while let Some((id, doc, pointer)) = builder.todo.pop() {
            let node = builder.build(doc, &pointer)?;
            *builder.nodes.get_mut(id as usize)? = node;
        }
        let validator = FastValidator {
            nodes: builder.nodes,
            root,
        };
        validator.no_also_cycle().then_some(validator)
    }

    /// True when no chain of `$ref`-with-siblings edges returns to where it started: such a
    /// chain would check the same instance forever.
    fn no_also_cycle(&self) -> bool {
        let also = |id: Id| match self.nodes.get(id as usize) {
            Some(Node::Check(c)) => c.also,
            _ => None,
        };
        (0..self.nodes.len()).all(|start| {
            let Ok(mut at) = Id::try_from(start) else {
                return false;
            };
            // A chain without a cycle visits each node at most once.
            for _ in 0..=self.nodes.len() {
                match also(at) {
                    Some(next) => at = next,
                    None => return true,
                }
            }
            false
        })
    }

    /// Some(verdict) as `jsonschema` would give it, or None when undecided.
    pub(crate) fn check(&self, view: View<'_>) -> Option<bool> {
        let mut walk = Walk { undecided: false };
        let valid = self.valid(self.root, view, 0, &mut walk);
        (!walk.undecided).then_some(valid)
    }

    /// The root node, where a plan of the documents this schema checks starts.
    pub(crate) fn root(&self) -> Id {
        self.root
    }

    /// Whether `view`, found `depth` levels into a document, meets node `id`: what
    /// [`FastValidator::check`] says of it there, so a document checked piece by piece
    /// gets the verdict it gets checked whole. None when undecided.
    pub(crate) fn check_at_node(&self, id: Id, view: View<'_>, depth: u32) -> Option<bool> {
        let mut walk = Walk { undecided: false };
        let valid = self.valid(id, view, depth, &mut walk);
        (!walk.undecided).then_some(valid)
    }

    /// The structure node `id` asks of an object when that is all it asks: a document
    /// whose members are each found by [`FastValidator::member`] and checked there, and
    /// whose present required bits add up to `required`, is valid at `id` exactly when
    /// the check of the whole object would say so. None when the node asks more (another
    /// type, `$ref` siblings, more required names than bits, rules on the whole object).
    pub(crate) fn plain_object(&self, id: Id) -> Option<u64> {
        match self.nodes.get(id as usize)? {
            Node::Bool(true) => Some(0),
            Node::Bool(false) => None,
            Node::Check(c) => (c.admits & OBJECT != 0
                && !c.container_rest
                && c.also.is_none()
                && c.required_overflow.is_empty())
            .then_some(if c.object { c.required_mask } else { 0 }),
        }
    }

    /// How a member `name` of an object at the plain object node `id` is checked:
    /// `Some((node, bit))` with the node its value must meet (None: anything) and its bit
    /// among the required names; None when the member is not allowed at all.
    pub(crate) fn member(&self, id: Id, name: &str) -> Option<(Option<Id>, u64)> {
        let c = match self.nodes.get(id as usize)? {
            Node::Check(c) if c.object => c,
            Node::Check(_) | Node::Bool(true) => return Some((None, 0)),
            Node::Bool(false) => return None,
        };
        match c.table.find(name, 0) {
            Some((
                _,
                Entry {
                    node: Some(n), bit, ..
                },
            )) => Some((Some(*n), *bit)),
            found => {
                let bit = found.map_or(0, |(_, e)| e.bit);
                match c.additional {
                    Additional::Any => Some((None, bit)),
                    Additional::Schema(n) => Some((Some(n), bit)),
                    Additional::Forbidden => None,
                }
            }
        }
    }

    /// Like [`FastValidator::plain_object`] for arrays: `(min_items, max_items, items)`
    /// when the node asks nothing of an array but its type, its length and its items.
    pub(crate) fn plain_array(&self, id: Id) -> Option<(u64, u64, Option<Id>)> {
        match self.nodes.get(id as usize)? {
            Node::Bool(true) => Some((0, u64::MAX, None)),
            Node::Bool(false) => None,
            Node::Check(c) => (c.admits & ARRAY != 0 && !c.container_rest && c.also.is_none())
                .then(|| {
                    if c.array {
                        (
                            c.min_items.unwrap_or(0),
                            c.max_items.unwrap_or(u64::MAX),
                            c.items,
                        )
                    } else {
                        (0, u64::MAX, None)
                    }
                }),
        }
    }

    /// Strings, numbers, booleans and null are checked here, in a small frame; containers
    /// in [`FastValidator::check_at`], kept out of line so the scalar path (most of a
    /// document's values) does not pay for the object walk's registers and stack.
    #[inline(always)]
    fn valid(&self, id: Id, view: View<'_>, depth: u32, walk: &mut Walk) -> bool {
        let c = match self.nodes.get(id as usize) {
            Some(Node::Check(c)) => c,
            Some(Node::Bool(b)) => return *b,
            None => {
                walk.undecided = true;
                return false;
            }
        };
        let ok = match view.norm() {
            View::Value(v) if !matches!(v, Value::Object(_) | Value::Array(_)) => {
                scalar_valid(c, v)
            }
            View::Text(s) => string_valid(c, s, None),
            _ => return self.check_at(c, view, depth, walk),
        };
        match c.also {
            Some(also) if ok => self.valid(also, view, depth + 1, walk),
            _ => ok,
        }
    }

    #[inline(never)]
    fn check_at(&self, c: &Check, view: View<'_>, depth: u32, walk: &mut Walk) -> bool {
        if depth > MAX_DEPTH {
            walk.undecided = true;
            return false;
        }
        let ok = match view {
            View::Value(v) | View::Doc(Doc::Json(v)) => match v {
                Value::Object(map) => {
                    self.container(c, OBJECT, view)
                        && (!c.object
                            || self.object(
                                c,
                                map.iter().map(|(k, v)| (k.as_str(), View::Value(v))),
                                view,
                                depth,
                                walk,
                            ))
                }
                Value::Array(items) => {
                    self.container(c, ARRAY, view)
                        && (!c.array
                            || self.array(
                                c,
                                items.len(),
                                items.iter().map(View::Value),
                                depth,
                                walk,
                            ))
                }
                scalar => scalar_valid(c, scalar),
            },
            View::Text(s) => string_valid(c, s, None),
            View::Doc(Doc::Text(s)) => string_valid(c, s, None),
            View::Doc(Doc::Members(members)) => {
                self.container(c, OBJECT, view)
                    && (!c.object
                        || self.object(
                            c,
                            members.iter().map(|(k, d)| (k.as_ref(), View::Doc(d))),
                            view,
                            depth,
                            walk,
                        ))
            }
            View::Doc(Doc::List(items)) => {
                self.container(c, ARRAY, view)
                    && (!c.array
                        || self.array(c, items.len(), items.iter().map(View::Doc), depth, walk))
            }
        };
        match c.also {
            Some(also) if ok => self.valid(also, view, depth + 1, walk),
            _ => ok,
        }
    }

    /// The rules of `c` that are not structural, on an array or object.
    #[inline(always)]
    fn container(&self, c: &Check, bit: u8, view: View<'_>) -> bool {
        if c.admits & bit == 0 {
            return false;
        }
        if c.container_rest {
            return Self::container_rest(c, view);
        }
        true
    }

    /// The `jsonschema` part of [`FastValidator::container`], out of line: few schemas
    /// need it.
    #[inline(never)]
    fn container_rest(c: &Check, view: View<'_>) -> bool {
        // An `enum` (leaves only) is met by a container only through `jsonschema`'s deep
        // equality; `rest` holding more than string and number rules needs the value too.
        let validator = match (&c.whole, &c.rest) {
            (Some(whole), _) if c.strings.is_some() => whole,
            (_, Some(rest)) if !c.rest_scalar_only => rest,
            _ => return true,
        };
        match view.as_value() {
            Some(v) => validator.is_valid(v),
            None => validator.is_valid(&view.to_value()),
        }
    }

    fn object<'v>(
        &self,
        c: &Check,
        members: impl Iterator<Item = (&'v str, View<'v>)>,
        view: View<'v>,
        depth: u32,
        walk: &mut Walk,
    ) -> bool {
        let mut seen = 0u64;
        let mut hint = 0;
        for (key, value) in members {
            let node = match c.table.find(key, hint) {
                Some((at, entry)) => {
                    seen |= entry.bit;
                    hint = at + 1;
                    entry.node
                }
                None => None,
            };
            let valid = match (node, &c.additional) {
                (Some(node), _) | (None, &Additional::Schema(node)) => {
                    self.valid(node, value, depth + 1, walk)
                }
                (None, Additional::Any) => true,
                (None, Additional::Forbidden) => false,
            };
            if !valid {
                return false;
            }
        }
        seen == c.required_mask
            && c.required_overflow
                .iter()
                .all(|name| view.get(name).is_some())
    }

    fn array<'v>(
        &self,
        c: &Check,
        len: usize,
        mut items: impl Iterator<Item = View<'v>>,
        depth: u32,
        walk: &mut Walk,
    ) -> bool {
        let len = u64::try_from(len).unwrap_or(u64::MAX);
        if c.min_items.is_some_and(|min| len < min) || c.max_items.is_some_and(|max| len > max) {
            return false;
        }
        match c.items {
            Some(node) => items.all(|item| self.valid(node, item, depth + 1, walk)),
            None => true,
        }
    }
}

#[cfg(test)]
mod tests;
