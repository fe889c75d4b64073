//! Static checking of a compiled map against its source and target shapes.
//!
//! The checker walks the target shape beside the map (the map mirrors the target) and
//! resolves every source path in the source shape, carrying an abstract value (types,
//! enum values, whether it may be missing or null) through the rule's steps. What it
//! cannot prove it reports as a warning; it never passes an unproven rule silently.

mod choice;
mod omission;
mod steps;
mod structure;
mod value;

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::compile::{
    Absence, Cond, EachBody, EachRule, Field, Node, ObjectRule, Source, TemplatePart, ValueRule,
};
use super::path::{Root, SourcePath, push_pointer};
use super::syntax::{Conversion, OnEmpty, OnMissing, OnNull, Pos, RouteFile, Section, StringFn};
use super::{CompiledMap, ContextDecl};
use crate::diagnostic::Diagnostic;
use crate::schema::{Additional, NodeId, Shape, TypeSet};

use steps::*;
use structure::*;
use value::*;

/// Deepest source-schema nesting walked when listing unread properties; recursive
/// schemas are cut there (a mapping cannot read deeper than it is written anyway).
const MAX_UNREAD_DEPTH: usize = 16;

/// What the checker knows about a value flowing into a target.
#[derive(Debug, Clone)]
struct Flow<'s> {
    /// The source schema node the value is read from, when it is read as it is: a whole
    /// object or array copied to the target is then compared member by member.
    origin: Option<(&'s Shape, NodeId)>,
    /// Types the value may have (null excluded; see `nullable`).
    types: TypeSet,
    /// The values it can take, when known.
    enum_values: Option<Vec<Value>>,
    /// The value may be null.
    nullable: bool,
    /// The source may be absent.
    maybe_missing: bool,
    /// The type is unknown (schema says nothing, or a claim).
    unknown: bool,
}

impl Flow<'_> {
    fn of_value(v: &Value) -> Self {
        Flow {
            origin: None,
            types: TypeSet::of(v),
            enum_values: Some(vec![v.clone()]),
            nullable: v.is_null(),
            maybe_missing: false,
            unknown: false,
        }
    }
    fn string() -> Self {
        Flow {
            origin: None,
            types: TypeSet::STRING,
            enum_values: None,
            nullable: false,
            maybe_missing: false,
            unknown: false,
        }
    }
    fn unknown() -> Self {
        Flow {
            origin: None,
            types: TypeSet::ANY,
            enum_values: None,
            nullable: false,
            maybe_missing: false,
            unknown: true,
        }
    }
}

/// Where relative paths resolve: the item node of each enclosing `each`.
#[derive(Clone)]
struct ItemScope<'s> {
    shape: &'s Shape,
    node: NodeId,
    /// Source path of the item, with `*` for the index (`/Order/Items/Item/*`).
    pointer: String,
}

struct Checker<'a> {
    route: &'a RouteFile,
    section: Section,
    /// Where the section's `map:` key is written: the position of diagnostics about the
    /// mapping as a whole.
    map_pos: Pos,
    file: &'a Path,
    source: &'a Shape,
    target: &'a Shape,
    ctx: &'a ContextDecl,
    diags: Vec<Diagnostic>,
    /// Source pointers read by some rule (`*` for array items).
    read: BTreeSet<String>,
}

pub(crate) fn check_compiled(
    route: &RouteFile,
    section: Section,
    file: &Path,
    map: &CompiledMap,
    source: &Shape,
    target: &Shape,
    ctx: &ContextDecl,
) -> Vec<Diagnostic> {
    let spec = route.section(section);
    let mut c = Checker {
        route,
        section,
        map_pos: spec.and_then(|s| s.pos),
        file,
        source,
        target,
        ctx,
        diags: Vec::new(),
        read: BTreeSet::new(),
    };
    c.object(map.fields(), target.root(), "", &[], None, false);
    if let Some(spec) = spec {
        c.ignored(&spec.ignore);
    }
    c.unread();
    if section != Section::Request && route.route.format == crate::codec::Format::Xml {
        c.xml_forms();
    }
    c.diags
}

/// The hint for a key of a nested map spelled like a rule keyword: the object was read
/// as target properties because its first key is no keyword (`form:` for `from:`).
fn keyword_typo(key: &str) -> Option<String> {
    let keyword = crate::suggest::closest(key, super::syntax::RULE_KEYS.iter().copied())?;
    Some(format!(
        "`{key}` is not a rule keyword, so this object is read as target properties: did you mean `{keyword}`?"
    ))
}

/// The hint for a `$query.X` or `$header.X` the route does not declare: a declared name
/// spelled like it, else where to declare it.
fn declared_hint(name: &str, declared: &[String], prefix: &str, key: &str) -> String {
    match crate::suggest::closest(name, declared.iter().map(String::as_str)) {
        Some(near) => format!("did you mean `{prefix}.{near}`? or add `{name}` to `{key}`"),
        None => format!("add `{name}` to `{key}`"),
    }
}

fn type_names(t: TypeSet) -> String {
    if t.is_any() {
        return "any".to_owned();
    }
    let names = [
        (TypeSet::NULL, "null"),
        (TypeSet::BOOLEAN, "boolean"),
        (TypeSet::INTEGER, "integer"),
        (TypeSet::NUMBER, "number"),
        (TypeSet::STRING, "string"),
        (TypeSet::ARRAY, "array"),
        (TypeSet::OBJECT, "object"),
    ];
    names
        .iter()
        .filter(|(bit, _)| t.0 & bit.0 != 0)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(" or ")
}

/// A schema that admits anything: what a rule is checked against where the target schema
/// does not describe the place it writes (a property an open object does not name, the
/// items of an array without `items`).
static UNDESCRIBED: std::sync::LazyLock<Option<Shape>> = std::sync::LazyLock::new(|| {
    Shape::build(
        "(undescribed)",
        &Value::Object(serde_json::Map::new()),
        &|_| None,
    )
    .ok()
});

/// How a nested map fits a union target object (see `Checker::union_fit`).
enum UnionFit {
    /// The target is no union the checker judges.
    NotUnion,
    /// Exactly this alternative.
    One(NodeId),
    /// More than one alternative.
    Several,
    /// None: why, alternative by alternative.
    None(Vec<String>),
}

fn without_null(t: TypeSet) -> TypeSet {
    if t.is_any() {
        t
    } else {
        TypeSet(t.0 & !TypeSet::NULL.0)
    }
}

impl<'a> Checker<'a> {
    fn error(&mut self, pos: Pos, location: &str, message: String, hint: &str) {
        let mut d = Diagnostic::error(self.file, message)
            .at_opt(pos)
            .location(location);
        if !hint.is_empty() {
            d = d.hint(hint);
        }
        self.diags.push(d);
    }

    fn warn(&mut self, pos: Pos, location: &str, message: String, hint: &str) {
        let mut d = Diagnostic::warning(self.file, message)
            .at_opt(pos)
            .location(location);
        if !hint.is_empty() {
            d = d.hint(hint);
        }
        self.diags.push(d);
    }

    /// Checks the fields of a target object node. `dropped_when_empty`: the object is not
    /// written when none of its fields is (a nested map, unlike the document or an item).
    fn object(
        &mut self,
        fields: &[Field],
        node: NodeId,
        target_path: &str,
        items: &[ItemScope<'a>],
        owner: Option<(&Field, Pos)>,
        dropped_when_empty: bool,
    ) {
        let target = self.target;
        let types = target.scalar_types(node);
        if !types.is_any() && !types.names(TypeSet::OBJECT) {
            let (pos, loc) = owner.map_or((None, target_path.to_owned()), |(f, p)| {
                (p, f.target.clone())
            });
            let hint = fields
                .iter()
                .find_map(|f| keyword_typo(&f.key))
                .unwrap_or_else(|| "map a value here instead of a nested object".to_owned());
            self.error(
                pos,
                &loc,
                format!(
                    "`{loc}` is a nested map, but the target schema says {}",
                    type_names(types)
                ),
                &hint,
            );
            return;
        }
        // A union target: the fields are checked against the one alternative they fit,
        // so another alternative's rules do not count against them. When they fit none,
        // that one error stands for the object: its fields are still walked, so their
        // sources count as read, but what the walk would say against the merged
        // alternatives is noise until the map picks one.
        let mut quiet_from = None;
        let node = match self.union_fit(fields, node) {
            UnionFit::One(alt) => alt,
            UnionFit::Several | UnionFit::NotUnion => node,
            UnionFit::None(misfits) => {
                let (pos, loc) = owner.map_or((self.map_pos, target_path.to_owned()), |(f, p)| {
                    (p, f.target.clone())
                });
                let location = target.node(node).location.clone();
                self.error(
                    pos,
                    &location,
                    format!(
                        "the nested map `{loc}` fits none of the alternatives (`anyOf`/`oneOf`) of its target: {}",
                        misfits.join("; ")
                    ),
                    "produce exactly the properties one alternative allows and requires",
                );
                quiet_from = Some(self.diags.len());
                node
            }
        };
        for f in fields {
            match target.property(node, &f.key) {
                Some(child) => {
                    self.field(f, child, items);
                }
                None => {
                    let known: Vec<&str> = target
                        .property_list(node)
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    let forbidden = target
                        .nodes
                        .get(node as usize)
                        .is_some_and(|n| n.additional == Additional::Forbidden);
                    let location = target.node(node).location.clone();
                    let message = format!(
                        "target `{}` is not a property of the target schema",
                        f.target
                    );
                    let hint = match (
                        crate::suggest::closest(&f.key, known.iter().copied()),
                        keyword_typo(&f.key),
                    ) {
                        (Some(near), _) => format!(
                            "did you mean `{near}`? known properties: {}",
                            known.join(", ")
                        ),
                        (None, Some(keyword)) => keyword,
                        (None, None) if known.is_empty() => {
                            "the target schema names no properties here".to_owned()
                        }
                        (None, None) => format!("known properties: {}", known.join(", ")),
                    };
                    self.walk_undescribed(f, items);
                    if forbidden {
                        self.error(
                            f.pos,
                            &location,
                            message + " (additionalProperties: false)",
                            &hint,
                        );
                    } else {
                        self.warn(
                            f.pos,
                            &location,
                            message + "; it passes only as an additional property",
                            &hint,
                        );
                    }
                }
            }
        }
        // Every required property must be produced.
        let required = target
            .nodes
            .get(node as usize)
            .map(|n| n.required.clone())
            .unwrap_or_default();
        for name in required {
            let mut path = target_path.to_owned();
            push_pointer(&mut path, &name);
            match fields.iter().find(|f| f.key == name) {
                None => {
                    let pos = owner.map_or(self.map_pos, |(_, p)| p);
                    let loc = target.node(node).location.clone();
                    self.error(
                        pos,
                        &loc,
                        format!("required target property `{path}` is not produced"),
                        "add a rule for it, or a `default`",
                    );
                }
                Some(f) => self.required_member(f, dropped_when_empty.then_some(fields), items),
            }
        }
        if let Some(len) = quiet_from {
            self.diags.truncate(len);
        }
    }

    /// For a target written as XML: every array whose items can only be arrays, which XML
    /// has no form for (an element repeats; a repetition of repetitions has no name). The
    /// encoder would refuse every such answer at run time.
    fn xml_forms(&mut self) {
        let target = self.target;
        for node in &target.nodes {
            let Some(item) = node.items else { continue };
            let types = target.scalar_types(item);
            if types == TypeSet::ARRAY {
                let d = Diagnostic::error(
                    self.file,
                    "an array whose items are arrays has no XML form; the partner's answer cannot be written"
                        .to_owned(),
                )
                .location(target.node(item).location.clone())
                .hint("wrap each inner array in an object: `items: {type: object, properties: {Entry: {type: array, ...}}}`");
                self.diags.push(d);
            }
        }
    }

    /// Which alternatives of a union target object the map's fields fit. Only what is
    /// certain counts against an alternative: a type other than object, a property it
    /// forbids, a required one never produced, a constant outside its enum. A node whose
    /// alternatives are themselves unions, or that has properties of its own beside them,
    /// is not judged at all.
    fn union_fit(&self, fields: &[Field], node: NodeId) -> UnionFit {
        let target = self.target;
        let Some(n) = target.nodes.get(node as usize) else {
            return UnionFit::NotUnion;
        };
        if n.union.is_empty() || !n.properties.is_empty() {
            return UnionFit::NotUnion;
        }
        let (mut fit, mut misfits) = (Vec::new(), Vec::new());
        for (i, &alt) in n.union.iter().enumerate() {
            let Some(a) = target.nodes.get(alt as usize) else {
                return UnionFit::NotUnion;
            };
            if !a.union.is_empty() {
                return UnionFit::NotUnion;
            }
            let why = if !a.types.is_any() && !a.types.names(TypeSet::OBJECT) {
                Some(format!("it says {}", type_names(a.types)))
            } else if let Some(f) = fields.iter().find(|f| {
                !a.properties.contains_key(&f.key) && a.additional == Additional::Forbidden
            }) {
                Some(format!("`{}` is not one of its properties", f.key))
            } else if let Some(name) = a
                .required
                .iter()
                .find(|name| !fields.iter().any(|f| &f.key == *name))
            {
                Some(format!("it requires `{name}`"))
            } else {
                fields.iter().find_map(|f| {
                    let Node::Value(rule) = &f.node else {
                        return None;
                    };
                    let Source::Const(v) = &rule.source else {
                        return None;
                    };
                    let allowed = target
                        .nodes
                        .get(*a.properties.get(&f.key)? as usize)?
                        .enum_values
                        .as_ref()?;
                    (!allowed.contains(v)
                        && rule.convert.is_none()
                        && rule.apply.is_empty()
                        && rule.lookup.is_none()
                        && rule.date.is_none())
                    .then(|| format!("`{}` must be one of {}, not {v}", f.key, list(allowed)))
                })
            };
            match why {
                Some(why) => misfits.push(format!("alternative {} ({}): {why}", i + 1, a.location)),
                None => fit.push(alt),
            }
        }
        match fit.as_slice() {
            [] => UnionFit::None(misfits),
            [one] => UnionFit::One(*one),
            _ => UnionFit::Several,
        }
    }

    fn field(&mut self, f: &Field, node: NodeId, items: &[ItemScope<'a>]) {
        match &f.node {
            Node::Object(children) => {
                self.object(children, node, &f.target, items, Some((f, f.pos)), true)
            }
            Node::Value(rule) => self.value(f, rule, node, items),
            Node::Each(rule) => self.each(f, rule, node, items),
            Node::Choice(choice) => self.choice(f, choice, node, items),
        }
    }

    /// Resolves a path without reporting (for omission analysis).
    fn peek(&self, p: &SourcePath, items: &[ItemScope<'a>]) -> Option<Flow<'a>> {
        let (shape, start) = match &p.root {
            Root::Document => (self.source, self.source.root()),
            Root::Item => {
                let s = items.last()?;
                (s.shape, s.node)
            }
            Root::Request => {
                let shape = self.ctx.request_shape.as_ref()?;
                (shape, shape.root())
            }
            Root::Claims | Root::SoapHeader => {
                return Some(Flow {
                    maybe_missing: true,
                    ..Flow::unknown()
                });
            }
            Root::Query(_) | Root::Header(_) => {
                return Some(Flow {
                    maybe_missing: true,
                    ..Flow::string()
                });
            }
            _ => return Some(Flow::string()),
        };
        walk_shape(shape, start, &p.segments)
            .ok()
            .map(|(id, missing)| flow_of(shape, id, missing))
    }

    /// Resolves a source path, reporting what does not exist; records what is read.
    fn resolve(&mut self, p: &SourcePath, f: &Field, items: &[ItemScope<'a>]) -> Option<Flow<'a>> {
        self.resolve_mark(p, f, items, true)
    }

    /// `mark` records the path as read; `each` sources are not (their items are what
    /// the nested rules read).
    fn resolve_mark(
        &mut self,
        p: &SourcePath,
        f: &Field,
        items: &[ItemScope<'a>],
        mark: bool,
    ) -> Option<Flow<'a>> {
        let (shape, start, base) = match &p.root {
            Root::Document => (self.source, self.source.root(), String::new()),
            Root::Item => {
                let s = items.last()?;
                (s.shape, s.node, s.pointer.clone())
            }
            Root::Request => {
                if !self.section.runs_after_request() || !self.ctx.has_request {
                    self.error(
                        f.pos,
                        &f.target,
                        format!("`{}` reads the original request, which only response and error mappings of routes with a request body have", p.text),
                        "read the value from the upstream answer or from $path/$query/$header instead",
                    );
                    return None;
                }
                match &self.ctx.request_shape {
                    Some(shape) => (shape, shape.root(), "$request".to_owned()),
                    None => {
                        self.warn(
                            f.pos,
                            &f.target,
                            format!(
                                "`{}`: the request schema is unknown, so this path is not checked",
                                p.text
                            ),
                            "",
                        );
                        return Some(Flow::unknown());
                    }
                }
            }
            Root::PathParam(name) => {
                if !self.ctx.path_params.iter().any(|n| n == name) {
                    let known = self.ctx.path_params.join(", ");
                    self.error(
                        f.pos,
                        &f.target,
                        format!(
                            "`{}`: the route path `{}` has no parameter `{{{name}}}`",
                            p.text, self.route.route.path
                        ),
                        &match crate::suggest::closest(
                            name,
                            self.ctx.path_params.iter().map(String::as_str),
                        ) {
                            Some(near) => format!(
                                "did you mean `$path.{near}`? path parameters of this route: {known}"
                            ),
                            None if known.is_empty() => {
                                "path parameters of this route: none".to_owned()
                            }
                            None => format!("path parameters of this route: {known}"),
                        },
                    );
                    return None;
                }
                return Some(Flow::string());
            }
            Root::Query(name) => {
                if !self.route.route.query.iter().any(|n| n == name) {
                    self.error(
                        f.pos,
                        &f.target,
                        format!("`{}` is not declared by the route", p.text),
                        &declared_hint(name, &self.route.route.query, "$query", "route.query"),
                    );
                    return None;
                }
                return Some(Flow {
                    maybe_missing: true,
                    ..Flow::string()
                });
            }
            Root::Header(name) => {
                if !self
                    .route
                    .route
                    .headers
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(name))
                {
                    self.error(
                        f.pos,
                        &f.target,
                        format!("`{}` is not declared by the route", p.text),
                        &declared_hint(name, &self.route.route.headers, "$header", "route.headers"),
                    );
                    return None;
                }
                return Some(Flow {
                    maybe_missing: true,
                    ..Flow::string()
                });
            }
            Root::Claims => {
                return Some(Flow {
                    maybe_missing: true,
                    ..Flow::unknown()
                });
            }
            Root::SoapHeader => {
                if self.route.route.soap.is_none() {
                    self.error(
                        f.pos,
                        &f.target,
                        format!(
                            "`{}` reads a SOAP header, but the route is not a SOAP route",
                            p.text
                        ),
                        "set `route.soap: \"1.1\"` or `\"1.2\"`",
                    );
                    return None;
                }
                if self.section != Section::Request {
                    self.error(
                        f.pos,
                        &f.target,
                        format!("`{}` reads the request's SOAP header, which only the request mapping can read", p.text),
                        "map the header into the internal request in the request mapping",
                    );
                    return None;
                }
                // Header entries are schema-less XML: text, or objects of their children.
                return Some(Flow {
                    maybe_missing: true,
                    ..Flow::unknown()
                });
            }
            Root::Partner | Root::CorrelationId => return Some(Flow::string()),
            Root::Index | Root::Position => {
                return Some(Flow {
                    types: TypeSet::INTEGER,
                    ..Flow::string()
                });
            }
        };
        let mut pointer = base;
        let mut cur = start;
        for seg in &p.segments {
            match step(shape, cur, seg) {
                Some((next, _)) => {
                    if shape.is_array(cur) {
                        pointer.push_str("/*");
                    } else {
                        push_pointer(&mut pointer, seg);
                    }
                    cur = next;
                }
                None => {
                    let known: Vec<&str> = shape
                        .property_list(cur)
                        .into_iter()
                        .map(|(k, _)| k)
                        .collect();
                    let loc = shape.node(cur).location.clone();
                    self.error(
                        f.pos,
                        &loc,
                        format!("source path `{}` does not exist in the source schema: no `{seg}` at `{}`", p.text, if pointer.is_empty() { "/" } else { pointer.as_str() }),
                        &match crate::suggest::closest(seg, known.iter().copied()) {
                            Some(near) => format!("did you mean `{near}`? known here: {}", known.join(", ")),
                            None if known.is_empty() => "the schema declares no properties here".to_owned(),
                            None => format!("known here: {}", known.join(", ")),
                        },
                    );
                    return None;
                }
            }
        }
        if mark {
            self.read.insert(pointer);
        }
        walk_shape(shape, start, &p.segments)
            .ok()
            .map(|(id, missing)| flow_of(shape, id, missing))
    }

    fn cond_paths(&mut self, c: &Cond, f: &Field, items: &[ItemScope<'a>]) {
        let mut paths = Vec::new();
        c.paths(&mut paths);
        for p in paths {
            self.resolve(p, f, items);
        }
    }

    /// Warns about `equals`, `not_equals` and `in` values whose JSON type the source can
    /// never have (by the source schema): such a comparison is decided before any input
    /// arrives, typically because YAML read a plain `false`, `null` or `12` where text was
    /// meant. `at` names the condition inside the rule (`when`, `filter`, `when.all[1]`).
    fn comparisons(&mut self, c: &Cond, at: &str, f: &Field, items: &[ItemScope<'a>]) {
        let (p, values, form): (&SourcePath, &[Value], &str) = match c {
            Cond::Equals(p, v) => (p, std::slice::from_ref(v), "equals"),
            Cond::NotEquals(p, v) => (p, std::slice::from_ref(v), "not_equals"),
            Cond::In(p, vs) => (p, vs.as_slice(), "in"),
            Cond::Not(inner) => return self.comparisons(inner, &format!("{at}.not"), f, items),
            Cond::All(cs) | Cond::Any(cs) => {
                let list = if matches!(c, Cond::All(_)) {
                    "all"
                } else {
                    "any"
                };
                for (i, inner) in cs.iter().enumerate() {
                    self.comparisons(inner, &format!("{at}.{list}[{i}]"), f, items);
                }
                return;
            }
            Cond::Exists(_) | Cond::Missing(_) | Cond::Matches(..) => return,
        };
        let flow = match p.root {
            Root::Index | Root::Position => Flow {
                types: TypeSet::INTEGER,
                ..Flow::string()
            },
            _ => match self.peek(p, items) {
                Some(flow) => flow,
                None => return,
            },
        };
        if flow.unknown || flow.types.is_any() {
            return;
        }
        for v in values {
            let fits = if v.is_null() {
                flow.nullable
            } else {
                flow.types.intersect(TypeSet::of(v)).is_some()
            };
            if fits {
                continue;
            }
            let outcome = if form == "not_equals" {
                "always holds"
            } else {
                "never holds"
            };
            let source = format!(
                "{}{}",
                type_names(flow.types),
                if flow.nullable { " or null" } else { "" }
            );
            let hint = if flow.types.names(TypeSet::STRING) && !v.is_string() {
                format!(
                    "to compare with the text, quote it: `{form}: \"{}\"`",
                    text_of(v)
                )
            } else {
                String::new()
            };
            self.warn(
                f.pos,
                &f.target,
                format!(
                    "`{at}` of `{}`: `{}` is {source} by the source schema, so `{form}` with {} ({}) {outcome}",
                    f.target,
                    p.text,
                    v,
                    type_names(TypeSet::of(v)),
                ),
                &hint,
            );
        }
    }

    /// A hint for a rule written where the target is an object with properties spelled
    /// like the rule's keywords: the object was read as a rule because its first key is a
    /// keyword, and the escaped spelling writes the properties instead.
    fn keyword_hint(&self, node: NodeId, keys: &[&'static str]) -> Option<String> {
        let target = self.target;
        if !target.scalar_types(node).names(TypeSet::OBJECT) {
            return None;
        }
        let clash: Vec<String> = target
            .property_list(node)
            .into_iter()
            .filter(|(k, _)| keys.contains(k))
            .map(|(k, _)| format!("`\\{k}`"))
            .collect();
        (!clash.is_empty()).then(|| {
            format!(
                "the target object has properties spelled like this rule's keywords; an \
                 object whose first key is a rule keyword is a rule: to write the target \
                 properties, write {}",
                clash.join(", ")
            )
        })
    }
}

#[cfg(test)]
mod tests;
