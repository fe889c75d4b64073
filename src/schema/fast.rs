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

use std::borrow::Cow;
use std::collections::HashMap;

use jsonschema::Draft;
use regex_automata::dfa::{Automaton as _, dense};
use regex_automata::{Anchored, Input};
use serde_json::{Map, Number, Value};

use super::{Documents, shape};
use crate::view::{Doc, View};

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

/// The rules of `c` on a string, number, boolean or null. Inlined into the walk: the
/// common rules (type, length, integer bounds) take a few comparisons, and what is left
/// to `jsonschema` or needs more work is out of line.
#[inline(always)]
fn scalar_valid(c: &Check, v: &Value) -> bool {
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
fn string_valid(c: &Check, s: &str, v: Option<&Value>) -> bool {
    if c.admits & STRING == 0 || !length_within(s, c.min_length, c.max_length) {
        return false;
    }
    (!c.string_rules || string_rules(c, s, v))
        && c.rest
            .as_ref()
            .is_none_or(|rest| rest.is_valid(&string_value(s, v)))
}

/// `s` as a value: `v` itself when there is one.
fn string_value<'v>(s: &str, v: Option<&'v Value>) -> Cow<'v, Value> {
    match v {
        Some(v) => Cow::Borrowed(v),
        None => Cow::Owned(Value::String(s.to_owned())),
    }
}

/// `enum`, a plain `pattern` and `format: email` on a string `s` (see [`string_valid`]
/// for `v`); not `rest`.
#[inline(never)]
fn string_rules(c: &Check, s: &str, v: Option<&Value>) -> bool {
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
fn fraction_rules(c: &Check, n: &Number, v: &Value) -> bool {
    match within_bounds(&c.bounds, n) {
        Some(within) => within && c.rest.as_ref().is_none_or(|rest| rest.is_valid(v)),
        // A fraction near a large bound needs exact arithmetic: `jsonschema`'s own.
        None => c.whole.as_ref().is_none_or(|whole| whole.is_valid(v)),
    }
}

/// Most bytes of a [`Pattern`]'s automaton: a pattern whose automaton would be larger (a
/// long counted repetition) is left to `jsonschema`, so no schema can make loading build
/// an outsized table.
const PATTERN_DFA_BYTES: usize = 64 * 1024;

/// A `pattern` of the plainest form, matched natively: anchored at both ends (`^...$`),
/// made of ASCII literals and bracket classes of ASCII letters, digits, ranges of them,
/// `.` and `_`, each repeated by `?`, `*`, `+`, `{n}`, `{n,}` or `{n,m}`, with optional
/// groups `(...)?` that do not nest. `jsonschema` reads such a pattern as the `regex` crate
/// does, unchanged: no escape class, no `.`, no flag, nothing that differs between ECMA 262
/// and the crate. So the crate's own deterministic automaton, built once when the schema is
/// compiled, gives exactly `jsonschema`'s answer at one table lookup a byte, without the
/// validator call around it.
struct Pattern {
    dfa: dense::DFA<Vec<u32>>,
}

impl Pattern {
    /// The pattern, or None when it is not of the plain form (see [`Pattern`]) or its
    /// automaton would exceed [`PATTERN_DFA_BYTES`].
    fn parse(pattern: &str) -> Option<Pattern> {
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
    fn matches(&self, s: &str) -> bool {
        let input = Input::new(s).anchored(Anchored::Yes);
        matches!(self.dfa.try_search_fwd(&input), Ok(Some(_)))
    }
}

/// Whether `pattern` has the plain form of [`Pattern`].
fn is_plain_pattern(pattern: &str) -> bool {
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
fn position_from(body: &[u8], at: usize, byte: u8) -> Option<usize> {
    body.get(at..)?
        .iter()
        .position(|&c| c == byte)
        .map(|i| at + i)
}

/// The bytes a bracket class of the plain form (see [`Pattern`]) admits: ASCII letters and
/// digits, ranges between two of the same kind, `.` and `_`.
fn class(items: &[u8]) -> Option<u128> {
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

/// The number as an integer, when it is held as one (not as a float, even an integral one).
#[inline(always)]
fn int_of(n: &Number) -> Option<i128> {
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
fn plain_email(s: &str) -> bool {
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
fn length_within(s: &str, min: u64, max: u64) -> bool {
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
fn float_bounds(bounds: &[Option<Limit>; 4]) -> Option<[f64; 4]> {
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
fn within_bounds(bounds: &[Option<Limit>; 4], n: &Number) -> Option<bool> {
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
fn number_type(admits: u8, n: &Number) -> bool {
    admits & NUMBER != 0 || (admits & INTEGER != 0 && is_integer(n))
}

/// The `jsonschema` crate's test (without arbitrary precision): an `i64`/`u64`, or a float
/// without fractional part.
fn is_integer(n: &Number) -> bool {
    n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
}

fn type_bits(value: &Value) -> Option<u8> {
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

struct Builder<'d> {
    docs: &'d Documents,
    draft: Draft,
    nodes: Vec<Node>,
    /// (document, JSON pointer) of a compiled subschema -> its node.
    memo: HashMap<(&'d str, String), Id>,
    /// Nodes allocated whose subschema is still to compile.
    todo: Vec<(Id, &'d str, String)>,
    /// Documents found fit (same draft, no embedded resources).
    checked: Vec<&'d str>,
}

impl<'d> Builder<'d> {
    fn doc(&self, name: &str) -> Option<&'d Value> {
        self.docs.by_name.get(name).map(|d| d.as_ref())
    }

    /// The node of the subschema at `pointer` in `doc`, allocated (and queued) on first
    /// sight. A pure `$ref` is its target, so aliases cost nothing when validating.
    fn node_for(&mut self, doc: &'d str, pointer: String) -> Option<Id> {
        let (doc, pointer) = self.follow_aliases(doc, pointer)?;
        if let Some(&id) = self.memo.get(&(doc, pointer.clone())) {
            return Some(id);
        }
        let id = Id::try_from(self.nodes.len()).ok()?;
        self.nodes.push(Node::Bool(true));
        self.memo.insert((doc, pointer.clone()), id);
        self.todo.push((id, doc, pointer));
        Some(id)
    }

    /// Follows `$ref`s that stand for their target (draft 7: any `$ref`, its siblings being
    /// ignored; 2020-12: a `$ref` beside annotations only) to the subschema they name.
    fn follow_aliases(&mut self, doc: &'d str, pointer: String) -> Option<(&'d str, String)> {
        let mut at = (doc, pointer);
        let mut seen: Vec<(&'d str, String)> = Vec::new();
        loop {
            let Value::Object(map) = self.doc(at.0)?.pointer(&at.1)? else {
                return Some(at);
            };
            let Some(reference) = map.get("$ref") else {
                return Some(at);
            };
            let alias = self.draft == Draft::Draft7
                || map
                    .keys()
                    .all(|k| k == "$ref" || ANNOTATIONS.contains(&k.as_str()));
            if !alias {
                return Some(at);
            }
            let next = self.resolve(at.0, reference.as_str()?)?;
            // A chain of aliases that returns to itself names no schema (`jsonschema`
            // accepts anything there, a rule not worth copying).
            if seen.contains(&next) || seen.len() > MAX_ALIAS_CHAIN {
                return None;
            }
            seen.push(std::mem::replace(&mut at, next));
        }
    }

    /// Resolves `reference`, written in document `from`, to (document, JSON pointer), the
    /// way the `jsonschema` registry resolves it; None for every form where that is not
    /// certain (anchors, percent-encoding, relative references in a document with an
    /// `$id`, names outside plain path characters).
    fn resolve(&mut self, from: &'d str, reference: &str) -> Option<(&'d str, String)> {
        if reference.is_empty() {
            return None;
        }
        let (base, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        if !(fragment.is_empty() || fragment.starts_with('/')) || fragment.contains('%') {
            return None;
        }
        let target = if base.is_empty() {
            from
        } else {
            self.doc_of(from, base)?
        };
        self.check_doc(target)?;
        self.doc(target)?.pointer(fragment)?;
        Some((target, fragment.to_string()))
    }

    /// The document a non-empty `$ref` base written in `from` names.
    fn doc_of(&self, from: &'d str, base: &str) -> Option<&'d str> {
        let own_id = self
            .doc(from)?
            .get("$id")
            .and_then(Value::as_str)
            .map(|id| id.trim_end_matches('#'));
        if base.contains(':') {
            if own_id == Some(base) {
                return Some(from);
            }
            if self.docs.by_name.contains_key(base) {
                return None;
            }
            let name = self.docs.by_id.get(base)?;
            return self
                .docs
                .by_name
                .get_key_value(name)
                .map(|(n, _)| n.as_str());
        }
        // Relative to the document's own URI: `file:///schemas/<name>`, unless an `$id`
        // replaces it. Only plain paths, where joining names is what RFC 3986 does.
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/'))
        };
        if own_id.is_some()
            || !plain(base)
            || !plain(from)
            || base.starts_with('/')
            || base.contains("//")
            || matches!(base.rsplit('/').next(), Some("." | ".." | ""))
        {
            return None;
        }
        let joined = shape::join_relative(from, base)?;
        self.docs
            .by_name
            .get_key_value(&joined)
            .map(|(n, _)| n.as_str())
    }

    /// Admits a document once: it must be read in the root's draft, and hold no embedded
    /// resource (`$id` or `$schema` below its root), which would move the base URI or the
    /// draft under the subschemas it holds.
    fn check_doc(&mut self, name: &'d str) -> Option<()> {
        if self.checked.contains(&name) {
            return Some(());
        }
        let doc = self.doc(name)?;
        let same_draft = match doc.get("$schema") {
            Some(_) => Draft::default().detect(doc) == self.draft,
            // What the registry assumes of a document without `$schema` is the default
            // draft or the referrer's; only when they agree is it certain.
            None => self.draft == Draft::Draft202012,
        };
        if !same_draft || !matches!(doc.get("$id"), None | Some(Value::String(_))) {
            return None;
        }
        let mut stack: Vec<&Value> = match doc {
            Value::Object(map) => map.values().collect(),
            _ => Vec::new(),
        };
        while let Some(v) = stack.pop() {
            match v {
                Value::Object(map) => {
                    if ["$id", "$schema"]
                        .iter()
                        .any(|k| matches!(map.get(*k), Some(Value::String(_))))
                    {
                        return None;
                    }
                    stack.extend(map.values());
                }
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
        self.checked.push(name);
        Some(())
    }

    fn build(&mut self, doc: &'d str, pointer: &str) -> Option<Node> {
        let map = match self.doc(doc)?.pointer(pointer)? {
            Value::Bool(b) => return Some(Node::Bool(*b)),
            Value::Object(map) => map,
            _ => return None,
        };
        let leaf = is_leaf(map);
        let child = |k: &str| format!("{pointer}/{}", shape::escape_pointer(k));
        let mut c = Check {
            admits: ANY_TYPE,
            min_length: 0,
            max_length: u64::MAX,
            bounds: [None; 4],
            bounded: false,
            int_min: i128::MIN,
            int_max: i128::MAX,
            float_bounds: None,
            email: None,
            pattern: None,
            string_rules: false,
            strings: None,
            rest: None,
            rest_scalar_only: true,
            container_rest: false,
            whole: None,
            object: false,
            table: Table::Few(Box::new([])),
            required_mask: 0,
            required_overflow: Box::new([]),
            additional: Additional::Any,
            array: false,
            items: None,
            min_items: None,
            max_items: None,
            also: None,
        };
        let mut entries: Vec<Entry> = Vec::new();
        // Assertions left to `jsonschema`, and every non-structural one.
        let mut rest = Map::new();
        let mut whole = Map::new();
        for (keyword, value) in map {
            let k = keyword.as_str();
            let structural = STRUCTURAL.contains(&k);
            if !structural && !ANNOTATIONS.contains(&k) && k != "$id" && k != "$schema" {
                whole.insert(keyword.clone(), value.clone());
            }
            match k {
                "type" => c.admits = type_bits(value)?,
                "properties" => {
                    let base = child("properties");
                    for (name, _) in value.as_object()? {
                        let node =
                            self.node_for(doc, format!("{base}/{}", shape::escape_pointer(name)))?;
                        entries.push(Entry {
                            name: name.as_str().into(),
                            node: Some(node),
                            bit: 0,
                        });
                    }
                }
                "required" => {}
                "additionalProperties" => {
                    c.additional = match value {
                        Value::Bool(true) => Additional::Any,
                        Value::Bool(false) => Additional::Forbidden,
                        Value::Object(_) => Additional::Schema(self.node_for(doc, child(k))?),
                        _ => return None,
                    };
                }
                "items" => match value {
                    Value::Bool(_) | Value::Object(_) => {
                        c.items = Some(self.node_for(doc, child(k))?);
                    }
                    _ => return None,
                },
                "minItems" => c.min_items = Some(value.as_u64()?),
                "maxItems" => c.max_items = Some(value.as_u64()?),
                "$ref" => {
                    let (tdoc, tptr) = self.resolve(doc, value.as_str()?)?;
                    c.also = Some(self.node_for(tdoc, tptr)?);
                }
                "minLength" if value.is_u64() => c.min_length = value.as_u64()?,
                "maxLength" if value.is_u64() => c.max_length = value.as_u64()?,
                _ if BOUNDS.contains(&k) && Limit::of(value).is_some() => {
                    let i = BOUNDS.iter().position(|b| *b == k)?;
                    *c.bounds.get_mut(i)? = Limit::of(value);
                }
                "enum" if leaf => {
                    c.strings = Some(
                        value
                            .as_array()?
                            .iter()
                            .filter_map(Value::as_str)
                            .map(Into::into)
                            .collect(),
                    );
                }
                // Natively for the plainest addresses (see `plain_email`); a format only
                // asserts on strings, and apart from the other keywords.
                "format" if value.as_str() == Some("email") => {
                    let mut alone = Map::new();
                    alone.insert(keyword.clone(), value.clone());
                    c.email = Some(Box::new(self.jsonschema(alone)?));
                }
                "pattern" if value.as_str().and_then(Pattern::parse).is_some() => {
                    c.pattern = value.as_str().and_then(Pattern::parse);
                }
                // A document's own identity and draft, already accounted for.
                "$id" | "$schema" if pointer.is_empty() => {}
                _ if ANNOTATIONS.contains(&k) => {}
                _ if leaf || SCALAR_ASSERTIONS.contains(&k) => {
                    c.rest_scalar_only &= SCALAR_ASSERTIONS.contains(&k);
                    rest.insert(keyword.clone(), value.clone());
                }
                _ => return None,
            }
        }
        if let Some(required) = map.get("required") {
            let names = required.as_array()?;
            let mut unique: Vec<&str> = Vec::with_capacity(names.len());
            for name in names {
                let name = name.as_str()?;
                if !unique.contains(&name) {
                    unique.push(name);
                }
            }
            if unique.len() <= REQUIRED_BITS {
                for (i, name) in unique.iter().enumerate() {
                    let bit = 1u64 << i;
                    c.required_mask |= bit;
                    match entries.iter_mut().find(|e| *e.name == **name) {
                        Some(entry) => entry.bit = bit,
                        None => entries.push(Entry {
                            name: (*name).into(),
                            node: None,
                            bit,
                        }),
                    }
                }
            } else {
                c.required_overflow = unique.into_iter().map(Into::into).collect();
            }
        }
        c.object = !entries.is_empty()
            || !c.required_overflow.is_empty()
            || !matches!(c.additional, Additional::Any);
        c.table = Table::new(entries);
        c.array = c.items.is_some() || c.min_items.is_some() || c.max_items.is_some();
        if !rest.is_empty() {
            c.rest = Some(Box::new(self.jsonschema(rest)?));
        }
        c.string_rules = c.strings.is_some() || c.email.is_some() || c.pattern.is_some();
        c.bounded = c.bounds.iter().any(Option::is_some);
        c.float_bounds = float_bounds(&c.bounds);
        for (i, limit) in c.bounds.iter().enumerate() {
            let Some(limit) = limit else {
                continue;
            };
            match i {
                MINIMUM => c.int_min = c.int_min.max(limit.int),
                MAXIMUM => c.int_max = c.int_max.min(limit.int),
                EXCLUSIVE_MINIMUM => c.int_min = c.int_min.max(limit.int + 1),
                EXCLUSIVE_MAXIMUM => c.int_max = c.int_max.min(limit.int - 1),
                _ => {}
            }
        }
        if c.strings.is_some() || c.bounded {
            c.whole = Some(Box::new(self.jsonschema(whole)?));
        }
        // As `container_rest` reads them.
        c.container_rest =
            (c.whole.is_some() && c.strings.is_some()) || (c.rest.is_some() && !c.rest_scalar_only);
        Some(Node::Check(Box::new(c)))
    }

    /// A `jsonschema` validator of one self-contained subschema, with the options of the
    /// schema's full validator (see `compile_validator`).
    fn jsonschema(&self, schema: Map<String, Value>) -> Option<jsonschema::Validator> {
        jsonschema::options()
            .with_draft(self.draft)
            .offline()
            .should_validate_formats(true)
            .with_pattern_options(jsonschema::PatternOptions::regex())
            .build(&Value::Object(schema))
            .ok()
    }
}

/// A subschema checked by `jsonschema` alone: no structural keyword, not made only of what
/// is checked natively (`{}`, `{"type": "object"}`), and nothing inside that depends on
/// where it sits.
fn is_leaf(map: &Map<String, Value>) -> bool {
    if map.keys().any(|k| STRUCTURAL.contains(&k.as_str()))
        || map
            .keys()
            .all(|k| k == "type" || ANNOTATIONS.contains(&k.as_str()))
    {
        return false;
    }
    let mut stack: Vec<&Map<String, Value>> = vec![map];
    let mut values: Vec<&Value> = Vec::new();
    while let Some(m) = stack.pop() {
        if m.keys().any(|k| CONTEXTUAL.contains(&k.as_str())) {
            return false;
        }
        values.extend(m.values());
        while let Some(v) = values.pop() {
            match v {
                Value::Object(inner) => stack.push(inner),
                Value::Array(items) => values.extend(items),
                _ => {}
            }
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;
    use std::collections::BTreeMap;
    use std::path::Path;
    use std::sync::Arc;

    use proptest::prelude::*;
    use serde_json::json;

    use super::super::{Schema, SchemaRegistry};
    use super::*;
    use crate::view::Doc;

    fn compile_with(doc: Value, others: &[(&str, Value)]) -> Schema {
        let others: BTreeMap<String, Arc<Value>> = others
            .iter()
            .map(|(n, d)| ((*n).to_string(), Arc::new(d.clone())))
            .collect();
        Schema::compile(
            "t/main.json",
            Path::new("/schemas/t/main.json"),
            doc,
            &others,
        )
        .unwrap()
    }

    fn compile(doc: Value) -> Schema {
        compile_with(doc, &[])
    }

    /// A `Doc` standing for `v`: containers as member lists and item lists, strings as
    /// text, except where `keep(depth)` says to hold a subtree or string as a plain value.
    fn doc_of(v: &Value, keep: &mut dyn FnMut() -> bool) -> Doc<'static> {
        match v {
            Value::Array(items) if !keep() => {
                Doc::List(items.iter().map(|i| doc_of(i, keep)).collect())
            }
            Value::Object(map) if !keep() => Doc::Members(
                map.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), doc_of(v, keep)))
                    .collect(),
            ),
            Value::String(s) if !keep() => Doc::Text(Cow::Owned(s.clone())),
            other => Doc::Json(other.clone()),
        }
    }

    /// The fast verdict on `v`, after checking that it agrees with `jsonschema` (when
    /// given) and that a `Doc` of the same value gets the same one.
    fn verdict(schema: &Schema, v: Value) -> Option<bool> {
        let fast = schema.fast_valid(View::Value(&v));
        let doc = doc_of(&v, &mut || false);
        assert_eq!(schema.fast_valid(doc.view()), fast, "Doc view of {v}");
        if let Some(valid) = fast {
            assert_eq!(valid, schema.validator.is_valid(&v), "jsonschema on {v}");
            assert_eq!(schema.validate(&v).is_ok(), valid, "validate on {v}");
        }
        fast
    }

    #[test]
    fn type_sets_and_integral_numbers() {
        let s = compile(json!({"properties": {
            "i": {"type": "integer"},
            "n": {"type": "number"},
            "u": {"type": ["string", "null"]},
            "b": {"type": "boolean"},
            "o": {"type": "object"},
            "a": {"type": "array"}
        }}));
        for (v, want) in [
            (json!({"i": 1}), true),
            (json!({"i": 1.0}), true),
            (json!({"i": -3e2}), true),
            (json!({"i": 1.5}), false),
            (json!({"i": "1"}), false),
            (json!({"n": 1}), true),
            (json!({"n": 1.5}), true),
            (json!({"n": true}), false),
            (json!({"u": null}), true),
            (json!({"u": "x"}), true),
            (json!({"u": 0}), false),
            (json!({"b": false}), true),
            (json!({"b": 0}), false),
            (json!({"o": {}}), true),
            (json!({"o": []}), false),
            (json!({"a": []}), true),
            (json!({"a": {}}), false),
        ] {
            assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
        }
    }

    #[test]
    fn object_keywords_apply_to_objects_only() {
        let s = compile(json!({
            "properties": {"a": {"type": "string"}, "b": {"type": "integer"}},
            "required": ["a", "c"],
            "additionalProperties": false
        }));
        assert_eq!(verdict(&s, json!(5)), Some(true));
        assert_eq!(verdict(&s, json!([1])), Some(true));
        assert_eq!(verdict(&s, json!({"a": "x", "c": 1})), Some(false));
        assert_eq!(verdict(&s, json!({"a": "x"})), Some(false));
        assert_eq!(verdict(&s, json!({"a": "x", "b": 2})), Some(false));
        assert_eq!(verdict(&s, json!({"a": 1, "c": 1})), Some(false));

        let s = compile(json!({
            "type": "object",
            "properties": {"a": {"type": "string"}},
            "required": ["a", "c"],
            "additionalProperties": {"type": "integer"}
        }));
        assert_eq!(verdict(&s, json!(5)), Some(false));
        assert_eq!(verdict(&s, json!({"a": "x", "c": 1, "d": 2})), Some(true));
        assert_eq!(verdict(&s, json!({"a": "x", "c": "1"})), Some(false));
        assert_eq!(verdict(&s, json!({"a": "x", "d": 2})), Some(false));

        let s = compile(json!({"properties": {"a": {}}, "additionalProperties": true}));
        assert_eq!(verdict(&s, json!({"a": [1], "z": {}})), Some(true));
    }

    #[test]
    fn many_properties_and_many_required_names() {
        let names: Vec<String> = (0..70).map(|i| format!("p{i}")).collect();
        let properties: Map<String, Value> = names
            .iter()
            .map(|n| (n.clone(), json!({"type": "integer"})))
            .collect();
        let s = compile(json!({"properties": properties, "required": names}));
        let full: Map<String, Value> = names.iter().map(|n| (n.clone(), json!(1))).collect();
        assert_eq!(verdict(&s, Value::Object(full.clone())), Some(true));
        for drop in ["p0", "p63", "p64", "p69"] {
            let mut less = full.clone();
            less.remove(drop);
            assert_eq!(verdict(&s, Value::Object(less)), Some(false), "{drop}");
        }
        let mut wrong = full;
        wrong.insert("p40".to_string(), json!("x"));
        assert_eq!(verdict(&s, Value::Object(wrong)), Some(false));

        let few: Vec<String> = names.iter().take(20).cloned().collect();
        let s = compile(
            json!({"properties": properties, "required": few, "additionalProperties": false}),
        );
        let some: Map<String, Value> = names
            .iter()
            .take(25)
            .map(|n| (n.clone(), json!(2)))
            .collect();
        assert_eq!(verdict(&s, Value::Object(some.clone())), Some(true));
        let mut extra = some;
        extra.insert("q".to_string(), json!(2));
        assert_eq!(verdict(&s, Value::Object(extra)), Some(false));
    }

    #[test]
    fn array_keywords_apply_to_arrays_only() {
        let s = compile(json!({"items": {"type": "integer"}, "minItems": 1, "maxItems": 2}));
        assert_eq!(verdict(&s, json!("x")), Some(true));
        assert_eq!(verdict(&s, json!({})), Some(true));
        assert_eq!(verdict(&s, json!([])), Some(false));
        assert_eq!(verdict(&s, json!([1])), Some(true));
        assert_eq!(verdict(&s, json!([1, 2.0])), Some(true));
        assert_eq!(verdict(&s, json!([1, 2, 3])), Some(false));
        assert_eq!(verdict(&s, json!([1, "2"])), Some(false));
        let s = compile(json!({"type": "array", "items": false}));
        assert_eq!(verdict(&s, json!([])), Some(true));
        assert_eq!(verdict(&s, json!([null])), Some(false));
    }

    #[test]
    fn boolean_schemas() {
        assert_eq!(verdict(&compile(json!(true)), json!({"a": 1})), Some(true));
        assert_eq!(verdict(&compile(json!(false)), json!(null)), Some(false));
        let s = compile(json!({"properties": {"a": false, "b": true}}));
        assert_eq!(verdict(&s, json!({"b": [1]})), Some(true));
        assert_eq!(verdict(&s, json!({"a": 1})), Some(false));
    }

    #[test]
    fn leaves_keep_jsonschema_semantics() {
        let s = compile(json!({"properties": {
            "e": {"type": "string", "format": "email", "maxLength": 12},
            "d": {"format": "date"},
            "p": {"type": "string", "pattern": "^[A-Z]{2}$"},
            "k": {"enum": ["a", 1, [1, 2], {"x": 1}]},
            "m": {"type": "number", "exclusiveMaximum": 3, "multipleOf": 0.5},
            "u": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["x"]}]}
        }}));
        for (v, want) in [
            (json!({"e": "a@b.example"}), true),
            (json!({"e": "nope"}), false),
            (json!({"e": "aaaaa@b.example"}), false),
            (json!({"d": "2026-02-28"}), true),
            (json!({"d": "2026-02-30"}), false),
            (json!({"d": 5}), true),
            (json!({"p": "DE"}), true),
            (json!({"p": "de"}), false),
            (json!({"k": 1.0}), true),
            (json!({"k": [1, 2]}), true),
            (json!({"k": {"x": 1}}), true),
            (json!({"k": {"x": 2}}), false),
            (json!({"m": 2.5}), true),
            (json!({"m": 3}), false),
            (json!({"m": 0.3}), false),
            (json!({"u": {"x": 1}}), true),
            (json!({"u": {"y": 1}}), false),
        ] {
            assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
        }
    }

    #[test]
    fn native_scalar_rules_match_jsonschema() {
        let s = compile(json!({"properties": {
            "len": {"type": "string", "minLength": 2, "maxLength": 3},
            "min": {"type": "number", "minimum": 1, "exclusiveMaximum": 9007199254740993_u64},
            "exc": {"exclusiveMinimum": -2, "maximum": 18446744073709551615_u64},
            "fmin": {"minimum": 0.5},
            "e": {"enum": ["a", 1, null, true]},
            "es": {"type": "string", "enum": ["x", "y"], "pattern": "^x"}
        }}));
        for (v, want) in [
            (json!({"len": "ab"}), true),
            (json!({"len": "a"}), false),
            (json!({"len": "abcd"}), false),
            (json!({"len": "éé"}), true),
            (json!({"len": "é"}), false),
            (json!({"len": "🦀🦀🦀"}), true),
            (json!({"len": "🦀🦀🦀🦀"}), false),
            (json!({"len": 5}), false),
            (json!({"min": 1}), true),
            (json!({"min": 1.0}), true),
            (json!({"min": 0.99}), false),
            (json!({"min": 0}), false),
            (json!({"min": 9007199254740992_u64}), true),
            (json!({"min": 9007199254740993_u64}), false),
            (json!({"min": 9.007199254740992e15}), true),
            (json!({"min": 1e300}), false),
            (json!({"min": "1"}), false),
            (json!({"exc": -2}), false),
            (json!({"exc": -1.5}), true),
            (json!({"exc": u64::MAX}), true),
            (json!({"exc": 1.9e19}), false),
            (json!({"exc": "x"}), true),
            (json!({"fmin": 0.5}), true),
            (json!({"fmin": 0}), false),
            (json!({"fmin": 1}), true),
            (json!({"e": "a"}), true),
            (json!({"e": "b"}), false),
            (json!({"e": 1.0}), true),
            (json!({"e": 2}), false),
            (json!({"e": null}), true),
            (json!({"e": false}), false),
            (json!({"e": []}), false),
            (json!({"es": "x"}), true),
            (json!({"es": "y"}), false),
            (json!({"es": "z"}), false),
        ] {
            assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
        }
    }

    #[test]
    fn integer_bounds_as_a_range() {
        let s = compile(json!({"properties": {
            "x": {"exclusiveMinimum": 1, "exclusiveMaximum": 4},
            "y": {"type": "integer", "minimum": -3, "maximum": -3},
            "z": {"minimum": 2, "exclusiveMinimum": 0, "maximum": 9, "exclusiveMaximum": 5}
        }}));
        for (v, want) in [
            (json!({"x": 1}), false),
            (json!({"x": 2}), true),
            (json!({"x": 3}), true),
            (json!({"x": 4}), false),
            (json!({"x": 1.5}), true),
            (json!({"x": 4.0}), false),
            (json!({"x": 1.0}), false),
            (json!({"y": -3}), true),
            (json!({"y": -2}), false),
            (json!({"y": -3.0}), true),
            (json!({"z": 1}), false),
            (json!({"z": 2}), true),
            (json!({"z": 4}), true),
            (json!({"z": 5}), false),
            (json!({"z": u64::MAX}), false),
            (json!({"z": i64::MIN}), false),
        ] {
            assert_eq!(verdict(&s, v.clone()), Some(want), "{v}");
        }
    }

    /// Addresses of every shape near the plain one `plain_email` accepts: the verdict is
    /// `jsonschema`'s for all of them, and no address the shortcut accepts is one
    /// `jsonschema` rejects.
    #[test]
    fn email_shortcut_never_accepts_what_jsonschema_rejects() {
        let s = compile(json!({"properties": {
            "e": {"type": "string", "format": "email"},
            "f": {"format": "email", "maxLength": 70, "pattern": "^[^A-Z]*$"}
        }}));
        let alone = compile(json!({"format": "email"}));
        let label63 = "a".repeat(63);
        let mut cases: Vec<String> = [
            "a@b.example",
            "a@b",
            "a.b@c.d",
            ".a@b.c",
            "a.@b.c",
            "a..b@c.d",
            "a@b..c",
            "a@.b.c",
            "a@-b.c",
            "a@b-.c",
            "a@b-c.d",
            "a@ab--cd.e",
            "a@abc--d.e",
            "a@xn--bcher-kva.example",
            "a@xn--zz.example",
            "a@xn-b.c",
            "a b@c.d",
            "\"\"@c.d",
            "\"a\"@c.d",
            "\"a b\"@c.d",
            "a@[127.0.0.1]",
            "a@[IPv6:::1]",
            "a@b.c.",
            "@b.c",
            "a@",
            "a",
            "",
            "Name <a@b.c>",
            "<a@b.c>",
            "é@b.c",
            "a@é.c",
            "a@b@c.d",
            "a+tag@sub.example.com",
            "!#$%&'*+-/=?^_`{|}~@x.y",
            "a@1.2.3.4",
            "a@b_c.d",
            "a@B.C",
            "A@b.c",
            "a\t@b.c",
            "a@b.c\n",
            "a(b)@c.d",
            "a,b@c.d",
            "a@b.-c",
            "a@9.9",
            "a@-",
            "a@b.c-",
            "\\@b.c",
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        cases.push(format!("{}@b.c", "a".repeat(64)));
        cases.push(format!("{}@b.c", "a".repeat(65)));
        cases.push(format!("a@{label63}.c"));
        cases.push(format!("a@{label63}a.c"));
        let long = [label63.as_str(); 4].join(".");
        cases.push(format!("a@{}", &long[..253]));
        cases.push(format!("a@{}", &long[..254.min(long.len())]));
        cases.push(format!("a@{long}"));
        for case in &cases {
            let expected = alone.validator.is_valid(&json!(case));
            if plain_email(case) {
                assert!(expected, "shortcut accepts {case:?}");
            }
            assert_eq!(verdict(&s, json!({"e": case})), Some(expected), "{case:?}");
            let f = verdict(&s, json!({"f": case}));
            assert_eq!(
                f,
                Some(s.validator.is_valid(&json!({"f": case}))),
                "{case:?}"
            );
        }
        assert_eq!(verdict(&s, json!({"e": 5})), Some(false));
        assert_eq!(verdict(&s, json!({"f": 5})), Some(true));
        assert_eq!(verdict(&s, json!({"f": [1]})), Some(true));
        assert!(plain_email("a@b.example"));
        assert!(!plain_email("a@ab--cd.e"));
    }

    /// Every pattern, plain or not, gives `jsonschema`'s verdict on every string; the
    /// plain ones are matched natively.
    #[test]
    fn plain_patterns_match_as_regex_does() {
        let patterns = [
            "^[A-Z]{3}$",
            "^[A-Z]{2}$",
            "^[0-9]+(\\.[0-9]+)?$",
            "^[ab]+$",
            "^a*b?c{2,3}$",
            "^[a-c]{1,}x$",
            "^(ab)?b$",
            "^[a-z]+[a-z]$",
            "^x(y[0-9]*)?z?$",
            "^$",
            "^[a-zA-Z0-9_.]{0,4}@a-b c$",
            "^\\$\\\\$",
            "^[A-Z]{1}[0-9]{0}$",
            // Not plain: left to `jsonschema`.
            "^[^@\\sA-Z]+@[^@\\sA-Z]+\\.[^@\\sA-Z]+$",
            "^\\s*[a-z]+\\s*$",
            "[0-9]+",
            "^a.b$",
            "^(a|b)$",
            "^(ab)+$",
            "^\\d{2}$",
            "^[a-]$",
            "^a+?$",
            "^(?:ab)?$",
            "^((a)?)?$",
            "^a{9999}$",
        ];
        let plain = patterns
            .iter()
            .filter(|p| Pattern::parse(p).is_some())
            .count();
        assert_eq!(plain, 13);
        let strings = [
            "",
            "a",
            "b",
            "ab",
            "abb",
            "ba",
            "bab",
            "AB",
            "ABC",
            "ABCD",
            "abc",
            "12",
            "12.5",
            "12.",
            ".5",
            "1.2.3",
            "12.50",
            "cc",
            "acc",
            "bccc",
            "abcccc",
            "aax",
            "abcx",
            "x",
            "xz",
            "xyz",
            "xy12z",
            "xy12",
            "yz",
            "a@a-b c",
            "_.9@a-b c",
            "$\\",
            "é",
            "Aé",
            "12\n",
            "A",
            "A0",
            "ABc",
            "zz",
            "abcz",
            "aa",
        ];
        for pattern in patterns {
            let s = compile(json!({"properties": {"p": {"type": "string", "pattern": pattern}}}));
            for string in strings {
                let v = json!({"p": string});
                let expected = s.validator.is_valid(&v);
                assert_eq!(verdict(&s, v), Some(expected), "{pattern} on {string:?}");
                if let Some(p) = Pattern::parse(pattern) {
                    assert_eq!(p.matches(string), expected, "{pattern} on {string:?}");
                }
            }
        }
    }

    #[test]
    fn names_compare_by_length_and_content() {
        for (a, b) in [
            ("", ""),
            ("a", "a"),
            ("ab", "ab"),
            ("abc", "abd"),
            ("abcd", "abce"),
            ("abcdefg", "abcdefh"),
            ("xbcdefg", "abcdefg"),
            ("abcdefgh", "abcdefgh"),
            ("abcdefgh1", "abcdefgh2"),
            ("0bcdefgh1", "abcdefgh1"),
            ("abcdefghijklmnop", "abcdefghijklmnoq"),
            ("abcdefghxjklmnop", "abcdefghijklmnop"),
            ("long_property_name_x", "long_property_name_y"),
            ("long_property_name_x", "long_property_name_x"),
            ("a", "ab"),
        ] {
            assert_eq!(same_name(a, b), a == b, "{a} {b}");
            assert_eq!(same_name(b, a), a == b, "{b} {a}");
            let owned = String::from(a);
            assert!(same_name(a, owned.as_str()));
        }
    }

    /// Members are found whatever their order, in small and large tables, and a name
    /// listed in `required` only is still required.
    #[test]
    fn members_in_any_order() {
        let names = ["a", "abcd", "abcdefgh1", "long_property_name_x"];
        let small: Map<String, Value> = names
            .iter()
            .map(|n| ((*n).to_string(), json!({"type": "integer"})))
            .collect();
        let mut large = small.clone();
        for i in 0..12 {
            large.insert(format!("p{i}"), json!({"type": "string"}));
        }
        for properties in [small, large] {
            let s = compile(json!({
                "properties": properties,
                "required": ["long_property_name_x", "a", "only_required"],
                "additionalProperties": false
            }));
            let ordered = json!({"a": 1, "abcd": 2, "abcdefgh1": 3, "long_property_name_x": 4});
            assert_eq!(
                verdict(&s, ordered),
                Some(false),
                "only_required is missing"
            );
            let s = compile(json!({
                "properties": properties,
                "required": ["long_property_name_x", "a"],
                "additionalProperties": false
            }));
            let reversed = json!({"long_property_name_x": 4, "abcdefgh1": 3, "abcd": 2, "a": 1});
            assert_eq!(verdict(&s, reversed), Some(true));
            let wrong = json!({"long_property_name_x": 4, "abcdefgh1": "3", "a": 1});
            assert_eq!(verdict(&s, wrong), Some(false));
            let unknown = json!({"a": 1, "abcdefgh2": 3, "long_property_name_x": 4});
            assert_eq!(verdict(&s, unknown), Some(false));
            let missing = json!({"abcd": 2, "long_property_name_x": 4});
            assert_eq!(verdict(&s, missing), Some(false));
        }
    }

    /// The decoder never repeats a key, but a `Doc` member list could: every occurrence
    /// is checked against the property's schema, and any one of them meets `required`.
    #[test]
    fn repeated_members_are_each_checked() {
        let s = compile(json!({
            "properties": {"a": {"type": "integer"}, "b": {}},
            "required": ["a", "b"]
        }));
        let members = |items: Vec<(&'static str, Value)>| {
            Doc::Members(
                items
                    .into_iter()
                    .map(|(k, v)| (Cow::Borrowed(k), Doc::Json(v)))
                    .collect(),
            )
        };
        let twice = members(vec![("a", json!(1)), ("b", json!(0)), ("a", json!(2))]);
        assert_eq!(s.fast_valid(twice.view()), Some(true));
        let bad = members(vec![("a", json!(1)), ("b", json!(0)), ("a", json!("x"))]);
        assert_eq!(s.fast_valid(bad.view()), Some(false));
        let short = members(vec![("a", json!(1)), ("a", json!(2))]);
        assert_eq!(s.fast_valid(short.view()), Some(false));
    }

    #[test]
    fn refs_recurse_and_apply_siblings_in_2020_12() {
        let s = compile(json!({
            "$defs": {
                "node": {
                    "type": "object",
                    "required": ["v"],
                    "properties": {
                        "v": {"type": "integer"},
                        "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
                        "short": {"$ref": "#/$defs/text", "maxLength": 3}
                    }
                },
                "text": {"type": "string", "minLength": 1}
            },
            "$ref": "#/$defs/node"
        }));
        assert_eq!(
            verdict(
                &s,
                json!({"v": 1, "children": [{"v": 2, "children": [{"v": 3}]}]})
            ),
            Some(true)
        );
        assert_eq!(
            verdict(
                &s,
                json!({"v": 1, "children": [{"v": 2, "children": [{"w": 3}]}]})
            ),
            Some(false)
        );
        assert_eq!(verdict(&s, json!({"v": 1, "short": "abc"})), Some(true));
        assert_eq!(verdict(&s, json!({"v": 1, "short": "abcd"})), Some(false));
        assert_eq!(verdict(&s, json!({"v": 1, "short": ""})), Some(false));
        assert_eq!(verdict(&s, json!({"v": 1, "short": 7})), Some(false));
    }

    #[test]
    fn draft7_ignores_ref_siblings() {
        let s = compile(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "definitions": {"S": {"type": "string"}},
            "properties": {
                "a": {"$ref": "#/definitions/S", "maxLength": 2, "type": "integer", "anyOf": [false]}
            }
        }));
        assert_eq!(verdict(&s, json!({"a": "abcdef"})), Some(true));
        assert_eq!(verdict(&s, json!({"a": 5})), Some(false));
    }

    #[test]
    fn cross_file_and_id_refs() {
        let common = json!({"$defs": {"Money": {
            "type": "object",
            "required": ["amount"],
            "properties": {"amount": {"type": "string", "pattern": "^[0-9]+$"}}
        }}});
        let code = json!({"$id": "urn:example:code", "type": "string", "maxLength": 3});
        let s = compile_with(
            json!({"properties": {
                "total": {"$ref": "common.json#/$defs/Money"},
                "code": {"$ref": "urn:example:code"},
                "other": {"$ref": "../shared/code.json"}
            }}),
            &[("t/common.json", common), ("shared/code.json", code)],
        );
        assert_eq!(
            verdict(
                &s,
                json!({"total": {"amount": "12"}, "code": "EUR", "other": "X"})
            ),
            Some(true)
        );
        assert_eq!(verdict(&s, json!({"total": {"amount": "1x"}})), Some(false));
        assert_eq!(verdict(&s, json!({"total": {}})), Some(false));
        assert_eq!(verdict(&s, json!({"code": "EURO"})), Some(false));
        assert_eq!(verdict(&s, json!({"other": "ABCD"})), Some(false));
    }

    #[test]
    fn uncovered_schemas_get_no_verdict() {
        for doc in [
            json!({"properties": {"a": {}}, "anyOf": [{"required": ["a"]}]}),
            json!({"properties": {"a": {}}, "patternProperties": {"^x": {}}}),
            json!({"properties": {"a": {}}, "x-vendor": 1}),
            json!({"properties": {"a": {"properties": {}, "enum": [{}]}}}),
            json!({"items": {}, "uniqueItems": true}),
            json!({"properties": {"a": {"$id": "inner.json", "type": "string"}}}),
            json!({"properties": {"a": {"$ref": "#t"}}, "$defs": {"t": {"$anchor": "t"}}}),
            json!({"$schema": "http://json-schema.org/draft-04/schema#", "properties": {}}),
            json!({"$defs": {"A": {"type": "object", "$ref": "#/$defs/A"}}, "$ref": "#/$defs/A"}),
        ] {
            let s = compile(doc.clone());
            assert_eq!(s.fast_valid(View::Value(&json!({"a": 1}))), None, "{doc}");
            // Validation is unchanged: `jsonschema` decides alone.
            assert_eq!(
                s.validate(&json!({"a": 1})).is_ok(),
                s.validator.is_valid(&json!({"a": 1}))
            );
        }
    }

    #[test]
    fn a_leaf_reads_a_container_held_as_members() {
        let s = compile(json!({"properties": {"k": {"enum": [{"x": [1]}]}}}));
        let doc = Doc::Members(vec![(
            Cow::Borrowed("k"),
            Doc::Members(vec![(
                Cow::Borrowed("x"),
                Doc::List(vec![Doc::Json(json!(1))]),
            )]),
        )]);
        assert_eq!(s.fast_valid(doc.view()), Some(true));
        assert_eq!(verdict(&s, json!({"k": {"x": [2]}})), Some(false));
    }

    #[test]
    fn too_deep_an_instance_is_left_to_jsonschema() {
        let s = compile(json!({"items": {"$ref": "#"}}));
        let mut v = json!(1);
        for _ in 0..(MAX_DEPTH + 10) {
            v = Value::Array(vec![v]);
        }
        assert_eq!(s.fast_valid(View::Value(&v)), None);
        assert_eq!(verdict(&s, json!([[[1]]])), Some(true));
    }

    #[test]
    fn shipped_acme_order_passes_both_schemas() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (registry, _) = SchemaRegistry::load_dir(&root.join("schemas")).unwrap();
        let fixture = root.join("tests/fixtures/acme/orders/valid");

        let external = registry.get("acme/order.schema.json").unwrap();
        let body = std::fs::read(fixture.join("input.xml")).unwrap();
        let decoded = crate::codec::xml::decode(
            &body,
            &external.shape,
            Some("urn:acme:orders:v2"),
            &crate::codec::Limits::default(),
        )
        .unwrap();
        assert_eq!(external.fast_valid(View::Value(&decoded)), Some(true));
        let doc = doc_of(&decoded, &mut || false);
        assert_eq!(external.fast_valid(doc.view()), Some(true));

        let internal = registry.get("internal/order.schema.json").unwrap();
        let mapped: Value =
            serde_json::from_slice(&std::fs::read(fixture.join("expected.json")).unwrap()).unwrap();
        assert_eq!(internal.fast_valid(View::Value(&mapped)), Some(true));
        let mut broken = mapped.clone();
        broken["lines"][0]["quantity"] = json!(0);
        assert_eq!(internal.fast_valid(View::Value(&broken)), Some(false));
    }

    /// The shipped schemas all stay within what the compiled validator covers, so the
    /// example routes take the fast path; a schema that falls out of it would silently
    /// send its routes down the general path.
    #[test]
    fn every_shipped_schema_gets_a_compiled_validator() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let (registry, _) = SchemaRegistry::load_dir(&root.join("schemas")).unwrap();
        let mut without: Vec<&str> = registry
            .iter()
            .filter(|s| s.fast.is_none())
            .map(|s| s.name.as_str())
            .collect();
        without.sort_unstable();
        assert_eq!(without, Vec::<&str>::new());
        assert!(registry.iter().count() >= 11);
    }

    /// A small deterministic generator for instances (xorshift), seeded by proptest.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n.max(1)
        }
        fn one_in(&mut self, n: u64) -> bool {
            self.below(n) == 0
        }
    }

    fn noise(r: &mut Rng) -> Value {
        let all = [
            json!(null),
            json!(true),
            json!(0),
            json!(1),
            json!(1.0),
            json!(1.5),
            json!(-1),
            json!(2.5),
            json!(3),
            json!(3.0),
            json!("a"),
            json!("ab"),
            json!("é"),
            json!(""),
            json!("2024-02-03"),
            json!([]),
            json!([1]),
            json!({}),
            json!({"a": 1}),
        ];
        let i = r.below(all.len() as u64) as usize;
        all[i].clone()
    }

    /// An instance built to fit `s` (and `defs`, the target of every `$ref`), straying
    /// now and then so both verdicts come up.
    fn sample(s: &Value, defs: &Value, r: &mut Rng, depth: u32) -> Value {
        let Some(m) = s.as_object() else {
            return noise(r);
        };
        if depth > 6 || r.one_in(12) {
            return noise(r);
        }
        if m.contains_key("$ref") && (m.len() == 1 || r.one_in(2)) {
            return sample(defs, defs, r, depth + 1);
        }
        let types: Vec<&str> = match m.get("type") {
            Some(Value::String(t)) => vec![t.as_str()],
            Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let has = |k: &str| m.contains_key(k);
        if types.contains(&"object") || has("properties") || has("required") {
            let mut out = Map::new();
            let required: Vec<&str> = m
                .get("required")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(Value::Object(props)) = m.get("properties") {
                for (k, sub) in props {
                    if required.contains(&k.as_str()) && !r.one_in(10) || r.one_in(2) {
                        out.insert(k.clone(), sample(sub, defs, r, depth + 1));
                    }
                }
            }
            for k in required {
                if !out.contains_key(k) && !r.one_in(10) {
                    out.insert(k.to_string(), noise(r));
                }
            }
            if r.one_in(4) {
                let extra = match m.get("additionalProperties") {
                    Some(sub @ Value::Object(_)) => sample(sub, defs, r, depth + 1),
                    _ => noise(r),
                };
                out.insert("z".to_string(), extra);
            }
            return Value::Object(out);
        }
        if types.contains(&"array") || has("items") || has("minItems") {
            let items = m.get("items").cloned().unwrap_or(json!({}));
            let n = r.below(4);
            return Value::Array((0..n).map(|_| sample(&items, defs, r, depth + 1)).collect());
        }
        if let Some(Value::Array(values)) = m.get("enum") {
            let i = r.below(values.len() as u64) as usize;
            return values.get(i).cloned().unwrap_or(Value::Null);
        }
        let pick = types.get(r.below(types.len() as u64) as usize).copied();
        match pick {
            Some("string") => match m.get("format").and_then(Value::as_str) {
                Some("date") => json!(["2024-02-03", "2024-02-30", "x"][r.below(3) as usize]),
                Some("email") => json!(["a@b.example", "ab", "a@b"][r.below(3) as usize]),
                _ => json!(
                    ["", "a", "ab", "abc", "ba", "abcb", "x", "é", "éé", "🦀"]
                        [r.below(10) as usize]
                ),
            },
            Some("integer") => json!([0, 1, 2, 3, -1][r.below(5) as usize]),
            Some("number") => [json!(2.5), json!(3), json!(1.0), json!(3.5), json!(4)]
                [r.below(5) as usize]
                .clone(),
            Some("boolean") => json!(r.one_in(2)),
            Some("null") => Value::Null,
            _ => noise(r),
        }
    }

    const REF: &str = "#/$defs/D";

    fn leaf() -> impl Strategy<Value = Value> {
        prop_oneof![
            Just(json!({"type": "string"})),
            Just(json!({"type": "integer"})),
            Just(json!({"type": "integer", "maximum": 2})),
            Just(json!({"type": "number", "maximum": 3})),
            Just(json!({"type": ["string", "null"]})),
            Just(json!({"type": "boolean"})),
            (0u64..3).prop_map(|n| json!({"type": "string", "minLength": n})),
            Just(json!({"type": "string", "pattern": "^[ab]+$"})),
            Just(json!({"enum": ["a", "b", 1, null]})),
            Just(json!({"type": "string", "format": "date"})),
            Just(json!({"type": "string", "format": "email"})),
            Just(json!({"type": "object"})),
            Just(json!({})),
            Just(json!(true)),
            Just(json!(false)),
            Just(json!({"$ref": REF})),
            Just(json!({"$ref": REF, "required": ["a"]})),
            Just(json!({"$ref": REF, "type": ["object", "array"]})),
            Just(json!({"$ref": REF, "maxLength": 1})),
            Just(json!({"type": "string", "maxLength": 2})),
            Just(json!({"exclusiveMinimum": 1, "maximum": 3})),
            Just(json!({"type": "integer", "exclusiveMaximum": 3})),
            Just(json!({"minimum": 1.5})),
            Just(json!({"enum": [1, 2.5, "a"]})),
            Just(json!({"enum": ["ab", "é"], "minLength": 2})),
        ]
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![Just("a"), Just("b"), Just("c")].prop_map(str::to_string)
    }

    /// An object or array schema whose children come from `inner`.
    fn container(inner: BoxedStrategy<Value>) -> impl Strategy<Value = Value> {
        prop_oneof![
            (
                proptest::collection::btree_map(key(), inner.clone(), 0..4),
                proptest::collection::vec(key(), 0..3),
                prop_oneof![
                    Just(None),
                    Just(Some(json!(false))),
                    Just(Some(json!(true))),
                    inner.clone().prop_map(Some),
                ],
                any::<bool>(),
            )
                .prop_map(|(props, required, additional, typed)| {
                    let mut m = Map::new();
                    if typed {
                        m.insert("type".into(), json!("object"));
                    }
                    m.insert("properties".into(), json!(props));
                    if !required.is_empty() {
                        let mut unique = required;
                        unique.dedup();
                        m.insert("required".into(), json!(unique));
                    }
                    if let Some(a) = additional {
                        m.insert("additionalProperties".into(), a);
                    }
                    Value::Object(m)
                }),
            (
                inner,
                proptest::option::of(0u64..3),
                proptest::option::of(1u64..4),
                any::<bool>()
            )
                .prop_map(|(items, min, max, typed)| {
                    let mut m = Map::new();
                    if typed {
                        m.insert("type".into(), json!("array"));
                    }
                    m.insert("items".into(), items);
                    if let Some(min) = min {
                        m.insert("minItems".into(), json!(min));
                    }
                    if let Some(max) = max {
                        m.insert("maxItems".into(), json!(max));
                    }
                    Value::Object(m)
                }),
        ]
    }

    fn schema() -> BoxedStrategy<Value> {
        leaf()
            .prop_recursive(4, 24, 4, |inner| container(inner.boxed()))
            .boxed()
    }

    /// Every `$ref` written `#/$defs/D` rewritten to `#/definitions/D`.
    fn to_draft7(v: &mut Value) {
        match v {
            Value::Object(m) => {
                if let Some(r) = m.get_mut("$ref") {
                    *r = json!("#/definitions/D");
                }
                m.values_mut().for_each(to_draft7);
            }
            Value::Array(items) => items.iter_mut().for_each(to_draft7),
            _ => {}
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn agrees_with_jsonschema(
            main in container(schema()),
            defs in container(schema()),
            draft7 in any::<bool>(),
            seed in any::<u64>(),
        ) {
            let mut doc = main.clone();
            let mut d = defs.clone();
            if draft7 {
                to_draft7(&mut doc);
                to_draft7(&mut d);
            }
            if let Value::Object(m) = &mut doc {
                if draft7 {
                    m.insert("$schema".into(), json!("http://json-schema.org/draft-07/schema#"));
                    m.insert("definitions".into(), json!({"D": d}));
                } else {
                    m.insert("$defs".into(), json!({"D": d}));
                }
            }
            let s = compile(doc.clone());
            let mut r = Rng(seed | 1);
            for _ in 0..16 {
                let v = sample(&main, &defs, &mut r, 0);
                let expected = s.validator.is_valid(&v);
                prop_assert_eq!(s.fast_valid(View::Value(&v)), Some(expected), "{} on {}", doc, v);
                let mut keep = || r.one_in(5);
                let as_doc = doc_of(&v, &mut keep);
                prop_assert_eq!(s.fast_valid(as_doc.view()), Some(expected), "{} on {:?}", doc, as_doc);
            }
        }
    }
}
