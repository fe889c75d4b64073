//! Static checking of a compiled map against its source and target shapes.
//!
//! The checker walks the target shape beside the map (the map mirrors the target) and
//! resolves every source path in the source shape, carrying an abstract value (types,
//! enum values, whether it may be missing or null) through the rule's steps. What it
//! cannot prove it reports as a warning; it never passes an unproven rule silently.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::compile::{
    Cond, Convert, EachBody, EachRule, Field, Node, ObjectRule, Source, TemplatePart, ValueRule,
};
use super::path::{Root, SourcePath, push_pointer};
use super::syntax::{Conversion, OnMissing, OnNull, Pos, RouteFile, Section, StringFn};
use super::{CompiledMap, ContextDecl};
use crate::diagnostic::Diagnostic;
use crate::schema::{Additional, NodeId, Shape, TypeSet};

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
    c.object(map.fields(), target.root(), "", &[], None);
    if let Some(spec) = spec {
        c.ignored(&spec.ignore);
    }
    c.unread();
    if section != Section::Request && route.route.format == crate::codec::Format::Xml {
        c.xml_forms();
    }
    c.diags
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

    /// Checks the fields of a target object node.
    fn object(
        &mut self,
        fields: &[Field],
        node: NodeId,
        target_path: &str,
        items: &[ItemScope<'a>],
        owner: Option<(&Field, Pos)>,
    ) {
        let target = self.target;
        let types = target.scalar_types(node);
        if !types.is_any() && !types.names(TypeSet::OBJECT) {
            let (pos, loc) = owner.map_or((None, target_path.to_owned()), |(f, p)| {
                (p, f.target.clone())
            });
            self.error(
                pos,
                &loc,
                format!(
                    "`{loc}` is a nested map, but the target schema says {}",
                    type_names(types)
                ),
                "map a value here instead of a nested object",
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
                    let hint = if known.is_empty() {
                        "the target schema names no properties here".to_owned()
                    } else {
                        format!("known properties: {}", known.join(", "))
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
                Some(f) => {
                    if let Some(why) = self.may_omit(&f.node, items) {
                        self.warn(
                            f.pos,
                            &f.target,
                            format!("required target property `{}` may be omitted: {why}", f.target),
                            "give the rule a `default`, or `on_missing: error` to reject such input",
                        );
                    }
                }
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
                self.object(children, node, &f.target, items, Some((f, f.pos)))
            }
            Node::Value(rule) => self.value(f, rule, node, items),
            Node::Each(rule) => self.each(f, rule, node, items),
        }
    }

    /// Why a produced field may still be left out (None = always written).
    fn may_omit(&self, node: &Node, items: &[ItemScope<'a>]) -> Option<String> {
        match node {
            Node::Object(children) => {
                if children
                    .iter()
                    .any(|c| self.may_omit(&c.node, items).is_none())
                {
                    None
                } else {
                    Some("every member of this object may be omitted".to_owned())
                }
            }
            Node::Value(rule) => {
                if rule.when.is_some() {
                    return Some("the rule has a `when` condition".to_owned());
                }
                match &rule.source {
                    Source::Const(_) => None,
                    Source::Path(p) => self.omission(p, &rule.absence, items),
                    Source::Template(parts) => parts.iter().find_map(|part| match part {
                        TemplatePart::Path(p) => self.omission(p, &rule.absence, items),
                        TemplatePart::Literal(_) => None,
                    }),
                }
            }
            Node::Each(rule) => {
                if rule.when.is_some() {
                    return Some("the rule has a `when` condition".to_owned());
                }
                self.omission(&rule.source, &rule.absence, items)
            }
        }
    }

    fn omission(
        &self,
        p: &SourcePath,
        absence: &super::compile::Absence,
        items: &[ItemScope<'a>],
    ) -> Option<String> {
        let flow = self.peek(p, items)?;
        if flow.maybe_missing && absence.default.is_none() && absence.on_missing == OnMissing::Omit
        {
            return Some(format!(
                "its source `{}` is optional and `on_missing` is omit",
                p.text
            ));
        }
        if flow.nullable && absence.on_null == OnNull::Omit {
            return Some(format!(
                "its source `{}` may be null and `on_null` is omit",
                p.text
            ));
        }
        None
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
            Root::Claims => {
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
                        &format!(
                            "path parameters of this route: {}",
                            if known.is_empty() {
                                "none".to_owned()
                            } else {
                                known
                            }
                        ),
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
                        &format!("add `{name}` to `route.query`"),
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
                        &format!("add `{name}` to `route.headers`"),
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
                        &if known.is_empty() { "the schema declares no properties here".to_owned() } else { format!("known here: {}", known.join(", ")) },
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

    fn value(&mut self, f: &Field, rule: &ValueRule, node: NodeId, items: &[ItemScope<'a>]) {
        if let Some(w) = &rule.when {
            self.cond_paths(w, f, items);
            self.comparisons(w, "when", f, items);
        }
        let mut flow = match &rule.source {
            Source::Const(v) => Flow::of_value(v),
            Source::Path(p) => match self.resolve(p, f, items) {
                Some(flow) => flow,
                None => return,
            },
            Source::Template(parts) => {
                let mut ok = true;
                for part in parts {
                    if let TemplatePart::Path(p) = part {
                        match self.resolve(p, f, items) {
                            Some(fl)
                                if !fl.unknown
                                    && (fl.types.names(TypeSet::OBJECT)
                                        || fl.types.names(TypeSet::ARRAY)) =>
                            {
                                self.error(
                                    f.pos,
                                    &f.target,
                                    format!(
                                        "template placeholder `{}` may be an object or array",
                                        p.text
                                    ),
                                    "placeholders must be strings, numbers or booleans",
                                );
                            }
                            Some(_) => {}
                            None => ok = false,
                        }
                    }
                }
                if !ok {
                    return;
                }
                Flow::string()
            }
        };
        if let Some(d) = &rule.absence.default {
            self.fits_value(f, d, node, "default");
        }
        // A rule that only ever writes null is judged by `fits`, as an error.
        if flow.nullable && flow.types != TypeSet::NULL {
            match rule.absence.on_null {
                OnNull::Keep => {
                    if !self.target.allows_null(node) {
                        self.warn(
                            f.pos,
                            &f.target,
                            format!(
                                "the source may be null and `{}` does not allow null",
                                f.target
                            ),
                            "add `on_null: omit` or `on_null: default`",
                        );
                    }
                }
                OnNull::Omit | OnNull::Default => {}
            }
            flow.nullable = false;
        }
        if rule.absence.on_missing == OnMissing::Null
            && rule.absence.default.is_none()
            && flow.maybe_missing
            && !self.target.allows_null(node)
        {
            self.error(
                f.pos,
                &f.target,
                format!(
                    "`on_missing: null` writes null, which `{}` does not allow",
                    f.target
                ),
                "use `default` or `on_missing: omit`",
            );
        }
        let Some(flow) = self.steps(f, rule, flow) else {
            return;
        };
        self.fits(f, &flow, node, rule.convert.as_ref(), &rule.keys);
        if let Some((shape, from)) = flow.origin
            && !rule.has_steps()
        {
            let mut problems = Vec::new();
            let mut seen = BTreeSet::new();
            structure(shape, from, self.target, node, "", &mut problems, &mut seen);
            if !problems.is_empty() {
                let loc = self.target.node(node).location.clone();
                let list: Vec<String> = problems
                    .into_iter()
                    .map(|(at, p)| {
                        if at.is_empty() {
                            p
                        } else {
                            format!("at `{at}`: {p}")
                        }
                    })
                    .collect();
                self.error(
                    f.pos,
                    &loc,
                    format!("`{}` copies a whole {} whose shape does not fit the target: {}", f.target, type_names(flow.types), list.join("; ")),
                    "map its members one by one (a nested map), renaming and converting as the target needs",
                );
            }
        }
    }

    /// Carries the flow through apply, lookup, date and as.
    fn steps(&mut self, f: &Field, rule: &ValueRule, mut flow: Flow<'a>) -> Option<Flow<'a>> {
        let scalar = |flow: &Flow| {
            flow.unknown
                || !(flow.types.names(TypeSet::OBJECT) || flow.types.names(TypeSet::ARRAY))
                || flow.types.is_any()
        };
        if !rule.apply.is_empty() {
            if !scalar(&flow) {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`apply` needs text, but the source is {}",
                        type_names(flow.types)
                    ),
                    "",
                );
                return None;
            }
            flow.enum_values = flow.enum_values.map(|vs| {
                vs.into_iter()
                    .map(|v| match v {
                        Value::String(s) => Value::String(
                            rule.apply.iter().fold(s, |s, func| apply_static(func, s)),
                        ),
                        other => Value::String(other.to_string()),
                    })
                    .collect()
            });
            flow.types = TypeSet::STRING;
            flow.unknown = false;
        }
        if let Some(l) = &rule.lookup {
            if l.fallback.is_none() {
                match &flow.enum_values {
                    Some(vs) => {
                        let missing: Vec<String> = vs
                            .iter()
                            .filter(|v| !lookup_has(&l.table, v))
                            .map(Value::to_string)
                            .collect();
                        if !missing.is_empty() {
                            self.error(
                                f.pos,
                                &f.target,
                                format!("lookup has no entry for source value{} {}", if missing.len() == 1 { "" } else { "s" }, missing.join(", ")),
                                "add the entries or a `fallback`",
                            );
                        }
                    }
                    None => self.warn(
                        f.pos,
                        &f.target,
                        "the source has no enum, so the lookup may miss at runtime (422 with the source pointer)".to_owned(),
                        "add a `fallback` if unknown values should pass",
                    ),
                }
            }
            let mut outputs: Vec<Value> = l.entries.iter().map(|(_, v)| v.clone()).collect();
            if let Some(fb) = &l.fallback {
                outputs.push(fb.clone());
            }
            let types = outputs
                .iter()
                .fold(TypeSet(0), |acc, v| TypeSet(acc.0 | TypeSet::of(v).0));
            flow.nullable = outputs.iter().any(Value::is_null);
            flow.types = without_null(types);
            flow.enum_values = Some(outputs);
            flow.unknown = false;
        }
        if rule.date.is_some() {
            if !flow.unknown && !flow.types.is_any() && !flow.types.names(TypeSet::STRING) {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`date` needs a string, but the source is {}",
                        type_names(flow.types)
                    ),
                    "",
                );
                return None;
            }
            flow = Flow {
                maybe_missing: flow.maybe_missing,
                ..Flow::string()
            };
        }
        if let Some(c) = &rule.convert {
            let t = flow.types;
            let bad = !flow.unknown
                && !t.is_any()
                && (t.names(TypeSet::OBJECT)
                    || t.names(TypeSet::ARRAY)
                    || (matches!(
                        c.to,
                        Conversion::Integer | Conversion::Number | Conversion::Decimal
                    ) && t.names(TypeSet::BOOLEAN))
                    || (c.scale.is_some() && t.names(TypeSet::BOOLEAN)));
            if bad {
                self.error(
                    f.pos,
                    &f.target,
                    format!(
                        "`as: {}` cannot convert a {} source",
                        conversion_name(c.to),
                        type_names(t)
                    ),
                    "",
                );
                return None;
            }
            if let Some(vs) = &flow.enum_values {
                let bad: Vec<String> = vs
                    .iter()
                    .filter(|v| !converts(c.to, v))
                    .map(Value::to_string)
                    .collect();
                if !bad.is_empty() {
                    self.error(
                        f.pos,
                        &f.target,
                        format!(
                            "`as: {}` fails on source value{} {}",
                            conversion_name(c.to),
                            if bad.len() == 1 { "" } else { "s" },
                            bad.join(", ")
                        ),
                        "map those values with `lookup` first",
                    );
                    return None;
                }
            }
            let out = match c.to {
                Conversion::String => TypeSet::STRING,
                Conversion::Integer => TypeSet::INTEGER,
                Conversion::Number | Conversion::Decimal => TypeSet::NUMBER,
                Conversion::Boolean => TypeSet::BOOLEAN,
            };
            flow.enum_values = None;
            flow.types = out;
            flow.unknown = false;
        }
        Some(flow)
    }

    /// Checks that a flow fits the target node.
    fn fits(
        &mut self,
        f: &Field,
        flow: &Flow<'a>,
        node: NodeId,
        convert: Option<&Convert>,
        keys: &[&'static str],
    ) {
        let target = self.target;
        let want = without_null(target.scalar_types(node));
        let loc = target.node(node).location.clone();
        if flow.unknown {
            if !want.is_any() {
                self.warn(
                    f.pos,
                    &loc,
                    format!(
                        "the type of the source of `{}` is not known, so it is not proven to be {}",
                        f.target,
                        type_names(want)
                    ),
                    "add `as:` to convert it explicitly",
                );
            }
            return;
        }
        let got = flow.types;
        // Only null (`const: null`, a null default): fine wherever the target allows null.
        if got == TypeSet::NULL {
            let all = target.scalar_types(node);
            if !all.is_any() && !all.names(TypeSet::NULL) {
                self.error(
                    f.pos,
                    &loc,
                    format!(
                        "`{}` expects {}, but the rule produces null",
                        f.target,
                        type_names(all)
                    ),
                    "allow null in the target schema (`type: [..., \"null\"]`), or write a value",
                );
            }
            return;
        }
        if !got.is_any() && !want.is_any() && !want.contains(got) {
            let hint = if want.names(TypeSet::INTEGER) && got.names(TypeSet::STRING) {
                "convert with `as: integer`".to_owned()
            } else if want.names(TypeSet::NUMBER) && got.names(TypeSet::STRING) {
                "convert with `as: decimal` (exact) or `as: number`".to_owned()
            } else if want.names(TypeSet::STRING)
                && (got.names(TypeSet::NUMBER) || got.names(TypeSet::INTEGER))
            {
                "convert with `as: string` (add `scale` for fixed decimals)".to_owned()
            } else {
                self.keyword_hint(node, keys).unwrap_or_default()
            };
            self.error(
                f.pos,
                &loc,
                format!(
                    "`{}` expects {}, but the rule produces {}",
                    f.target,
                    type_names(want),
                    type_names(got)
                ),
                &hint,
            );
            return;
        }
        if got.is_any() && !want.is_any() && convert.is_none() {
            self.warn(
                f.pos,
                &loc,
                format!(
                    "the source of `{}` has no declared type, so it is not proven to be {}",
                    f.target,
                    type_names(want)
                ),
                "add `as:` to convert it explicitly",
            );
        }
        if let Some(allowed) = target.node(node).enum_values.clone() {
            match &flow.enum_values {
                Some(vs) => {
                    let bad: Vec<String> = vs
                        .iter()
                        .filter(|v| !allowed.contains(v))
                        .map(Value::to_string)
                        .collect();
                    if !bad.is_empty() {
                        self.error(
                            f.pos,
                            &loc,
                            format!(
                                "`{}` allows only {}; the rule can produce {}",
                                f.target,
                                list(&allowed),
                                bad.join(", ")
                            ),
                            "map the values with `lookup`",
                        );
                    }
                }
                None => self.warn(
                    f.pos,
                    &loc,
                    format!(
                        "`{}` allows only {}; the rule's values are not known to be among them",
                        f.target,
                        list(&allowed)
                    ),
                    "use a `lookup` (or a source with the same enum) to prove it",
                ),
            }
        }
    }

    fn fits_value(&mut self, f: &Field, v: &Value, node: NodeId, what: &str) {
        let target = self.target;
        let want = target.scalar_types(node);
        let loc = target.node(node).location.clone();
        if !want.contains(TypeSet::of(v)) {
            self.error(
                f.pos,
                &loc,
                format!(
                    "the {what} {v} of `{}` is not {}",
                    f.target,
                    type_names(want)
                ),
                "",
            );
        } else if let Some(allowed) = &target.node(node).enum_values
            && !allowed.contains(v)
        {
            self.error(
                f.pos,
                &loc,
                format!(
                    "the {what} {v} of `{}` is not one of {}",
                    f.target,
                    list(allowed)
                ),
                "",
            );
        }
    }

    fn each(&mut self, f: &Field, rule: &EachRule, node: NodeId, items: &[ItemScope<'a>]) {
        if let Some(w) = &rule.when {
            self.cond_paths(w, f, items);
            self.comparisons(w, "when", f, items);
        }
        let target = self.target;
        if !target.is_array(node) && !target.scalar_types(node).is_any() {
            let loc = target.node(node).location.clone();
            self.error(
                f.pos,
                &loc,
                format!(
                    "`each` produces an array, but `{}` is {}",
                    f.target,
                    type_names(target.scalar_types(node))
                ),
                &self.keyword_hint(node, &rule.keys).unwrap_or_default(),
            );
            return;
        }
        let (target_item, described) = match target.items(node) {
            Some(item) => (item, true),
            None => {
                let loc = target.node(node).location.clone();
                self.warn(f.pos, &loc, format!("the target schema does not describe the items of `{}`, so they are not checked", f.target), "");
                (node, false)
            }
        };
        let Some(scope) = self.each_scope(&rule.source, f, items) else {
            return;
        };
        let mut inner: Vec<ItemScope<'a>> = items.to_vec();
        inner.push(scope);
        if let Some(c) = &rule.filter {
            self.cond_paths(c, f, &inner);
            self.comparisons(c, "filter", f, &inner);
        }
        // Items the target does not describe: the body is checked against a schema that
        // admits anything, so its sources are still checked and counted.
        let described_target = self.target;
        let target_item = match UNDESCRIBED.as_ref() {
            Some(any) if !described => {
                self.target = any;
                any.root()
            }
            _ => target_item,
        };
        match &rule.body {
            EachBody::Map(fields) => self.object(
                fields,
                target_item,
                &format!("{}/*", f.target),
                &inner,
                Some((f, f.pos)),
            ),
            EachBody::Item(node) => {
                let item_field = Field {
                    key: String::new(),
                    pos: f.pos,
                    target: format!("{}/*", f.target),
                    pointer: String::new(),
                    node: Node::Object(ObjectRule::EMPTY),
                };
                match node.as_ref() {
                    Node::Object(children) => self.object(
                        children,
                        target_item,
                        &item_field.target,
                        &inner,
                        Some((&item_field, f.pos)),
                    ),
                    Node::Value(r) => self.value(&item_field, r, target_item, &inner),
                    Node::Each(r) => self.each(&item_field, r, target_item, &inner),
                }
            }
        }
        self.target = described_target;
    }

    /// Walks a field whose target the schema does not describe against [`UNDESCRIBED`]:
    /// nothing is said about what it writes, but what it reads is checked (paths,
    /// context sources, `each` over arrays) and counted as read.
    fn walk_undescribed(&mut self, f: &Field, items: &[ItemScope<'a>]) {
        let Some(any) = UNDESCRIBED.as_ref() else {
            return;
        };
        let described = std::mem::replace(&mut self.target, any);
        self.field(f, any.root(), items);
        self.target = described;
    }

    /// The item scope of an `each` source: the array's item node.
    fn each_scope(
        &mut self,
        p: &SourcePath,
        f: &Field,
        items: &[ItemScope<'a>],
    ) -> Option<ItemScope<'a>> {
        let (shape, start, base): (&'a Shape, NodeId, String) = match &p.root {
            Root::Document => (self.source, self.source.root(), String::new()),
            Root::Item => {
                let s = items.last()?;
                (s.shape, s.node, s.pointer.clone())
            }
            Root::Request => {
                self.resolve_mark(p, f, items, false)?;
                let shape = self.ctx.request_shape.as_ref()?;
                (shape, shape.root(), "$request".to_owned())
            }
            _ => {
                self.error(
                    f.pos,
                    &f.target,
                    format!("`each: {}` must name an array in the document", p.text),
                    "",
                );
                return None;
            }
        };
        if !matches!(p.root, Root::Request) {
            self.resolve_mark(p, f, items, false)?;
        }
        let (id, _) = walk_shape(shape, start, &p.segments).ok()?;
        if !shape.is_array(id) {
            let loc = shape.node(id).location.clone();
            self.error(
                f.pos,
                &loc,
                format!(
                    "`each: {}` is not an array in the source schema ({})",
                    p.text,
                    type_names(shape.scalar_types(id))
                ),
                "",
            );
            return None;
        }
        let item = shape.items(id)?;
        let mut pointer = base;
        let mut cur = start;
        for seg in &p.segments {
            if shape.is_array(cur) {
                pointer.push_str("/*");
            } else {
                push_pointer(&mut pointer, seg);
            }
            cur = step(shape, cur, seg).map(|(n, _)| n).unwrap_or(cur);
        }
        pointer.push_str("/*");
        Some(ItemScope {
            shape,
            node: item,
            pointer,
        })
    }

    /// Warns about leaf properties of the source schema that no rule reads.
    /// Marks the `ignore:` paths as read, so dropping them on purpose is not warned
    /// about; a path that is not in the source schema is an error (a typo would
    /// otherwise silence nothing).
    fn ignored(&mut self, paths: &[String]) {
        let shape = self.source;
        for text in paths {
            let resolved = match SourcePath::parse(text) {
                Ok(p) if p.root == Root::Document => {
                    let mut pointer = String::new();
                    let mut cur = shape.root();
                    let mut failed = None;
                    for seg in &p.segments {
                        if shape.is_array(cur) && seg == "*" {
                            pointer.push_str("/*");
                            match shape.items(cur) {
                                Some(item) => cur = item,
                                None => {
                                    failed =
                                        Some(format!("`{seg}` at `{pointer}` has no item schema"));
                                    break;
                                }
                            }
                            continue;
                        }
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
                                failed = Some(format!(
                                    "no `{seg}` at `{}`",
                                    if pointer.is_empty() {
                                        "/"
                                    } else {
                                        pointer.as_str()
                                    }
                                ));
                                break;
                            }
                        }
                    }
                    match failed {
                        None => Ok(pointer),
                        Some(why) => Err(why),
                    }
                }
                Ok(_) => {
                    Err("only source document paths (starting with `/`) can be ignored".to_owned())
                }
                Err(e) => Err(e.to_string()),
            };
            match resolved {
                // An empty pointer (the whole document) covers every leaf.
                Ok(pointer) => {
                    self.read.insert(pointer);
                }
                Err(why) => {
                    let location = format!("{}.ignore", self.section.name());
                    self.error(
                        self.map_pos,
                        &location,
                        format!("ignored path `{text}` does not exist in the source schema: {why}"),
                        "list source document paths such as `/Order/Notes`",
                    );
                }
            }
        }
    }

    fn unread(&mut self) {
        let mut unread = Vec::new();
        collect_leaves(
            self.source,
            self.source.root(),
            String::new(),
            0,
            &mut Vec::new(),
            &mut unread,
        );
        let unread: Vec<String> = unread
            .into_iter()
            .filter(|leaf| {
                !self
                    .read
                    .iter()
                    .any(|r| leaf == r || leaf.starts_with(&format!("{r}/")))
            })
            .collect();
        if !unread.is_empty() {
            let d = Diagnostic::warning(
                self.file,
                format!(
                    "no rule of the {} mapping reads source propert{} {}",
                    self.section.name(),
                    if unread.len() == 1 { "y" } else { "ies" },
                    unread
                        .iter()
                        .map(|u| format!("`{u}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            )
            .at_opt(self.map_pos)
            .location(self.source.node(self.source.root()).location.clone())
            .hint("map them, or list them under `ignore:` if dropping them is intended");
            self.diags.push(d);
        }
    }
}

fn conversion_name(c: Conversion) -> &'static str {
    match c {
        Conversion::String => "string",
        Conversion::Integer => "integer",
        Conversion::Number => "number",
        Conversion::Decimal => "decimal",
        Conversion::Boolean => "boolean",
    }
}

/// Whether a known source value survives a conversion (for enums and constants).
fn converts(to: Conversion, v: &Value) -> bool {
    match (to, v) {
        (Conversion::String, Value::Array(_) | Value::Object(_)) => false,
        (Conversion::String, _) => true,
        (Conversion::Integer, Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (Conversion::Integer, Value::String(s)) => {
            s.parse::<i64>().is_ok() || s.parse::<u64>().is_ok()
        }
        (Conversion::Number | Conversion::Decimal, Value::Number(_)) => true,
        (Conversion::Number | Conversion::Decimal, Value::String(s)) => {
            s.parse::<f64>().is_ok_and(f64::is_finite) && !s.contains(char::is_alphabetic)
        }
        (Conversion::Boolean, Value::Bool(_)) => true,
        (Conversion::Boolean, Value::String(s)) => {
            matches!(s.as_str(), "true" | "false" | "1" | "0")
        }
        (Conversion::Boolean, Value::Number(n)) => matches!(n.as_u64(), Some(0 | 1)),
        _ => false,
    }
}

/// A scalar as it reads in a route file: strings without quotes.
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn list(values: &[Value]) -> String {
    values
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

fn lookup_has(table: &std::collections::HashMap<String, Value>, v: &Value) -> bool {
    match v {
        Value::String(s) => table.contains_key(s),
        other => table.contains_key(&other.to_string()),
    }
}

/// The string functions on a known value (for carrying enums through `apply`).
fn apply_static(f: &StringFn, s: String) -> String {
    match f {
        StringFn::Trim => s.trim().to_owned(),
        StringFn::TrimStart => s.trim_start().to_owned(),
        StringFn::TrimEnd => s.trim_end().to_owned(),
        StringFn::Lowercase => s.to_lowercase(),
        StringFn::Uppercase => s.to_uppercase(),
        StringFn::Replace { from, to } if !from.is_empty() => s.replace(from.as_str(), to),
        StringFn::Replace { .. } => s,
        StringFn::Truncate(n) => s.chars().take(*n).collect(),
    }
}

/// One step down the shape: array index through `items`, else a property. The bool is
/// true when the step may find nothing (optional property, array index).
fn step(shape: &Shape, cur: NodeId, seg: &str) -> Option<(NodeId, bool)> {
    if shape.is_array(cur) {
        seg.parse::<usize>().ok()?;
        return shape.items(cur).map(|i| (i, true));
    }
    let next = shape.property(cur, seg)?;
    let required = shape
        .nodes
        .get(cur as usize)
        .is_some_and(|n| n.required.iter().any(|r| r == seg));
    Some((next, !required))
}

/// Resolves segments; returns the node and whether any step is optional.
fn walk_shape(shape: &Shape, start: NodeId, segments: &[String]) -> Result<(NodeId, bool), ()> {
    let mut cur = start;
    let mut missing = false;
    for seg in segments {
        let (next, optional) = step(shape, cur, seg).ok_or(())?;
        missing |= optional;
        cur = next;
    }
    Ok((cur, missing))
}

fn flow_of(shape: &Shape, id: NodeId, maybe_missing: bool) -> Flow<'_> {
    let types = shape.scalar_types(id);
    Flow {
        origin: Some((shape, id)),
        types: without_null(types),
        enum_values: shape
            .nodes
            .get(id as usize)
            .and_then(|n| n.enum_values.clone()),
        nullable: !types.is_any() && types.names(TypeSet::NULL),
        maybe_missing,
        unknown: false,
    }
}

/// Compares a copied source value's shape with the target's, member by member: every
/// required target member must exist (and be required) in the source, no source member may
/// land where the target forbids additional properties, and member types must fit.
/// `seen` stops recursive schemas; problems come back as (relative pointer, message).
fn structure(
    src: &Shape,
    s: NodeId,
    tgt: &Shape,
    t: NodeId,
    at: &str,
    out: &mut Vec<(String, String)>,
    seen: &mut BTreeSet<(NodeId, NodeId)>,
) {
    if !seen.insert((s, t)) || out.len() >= 20 {
        return;
    }
    let (st, tt) = (
        without_null(src.scalar_types(s)),
        without_null(tgt.scalar_types(t)),
    );
    if st.is_any() || tt.is_any() {
        return;
    }
    if !tt.contains(st) {
        if !at.is_empty() {
            out.push((
                at.to_owned(),
                format!(
                    "expects {}, the source has {}",
                    type_names(tt),
                    type_names(st)
                ),
            ));
        }
        return;
    }
    if let Some(allowed) = &tgt.node(t).enum_values
        && !at.is_empty()
    {
        match &src.node(s).enum_values {
            Some(values) => {
                let bad: Vec<String> = values
                    .iter()
                    .filter(|v| !allowed.contains(v))
                    .map(Value::to_string)
                    .collect();
                if !bad.is_empty() {
                    out.push((
                        at.to_owned(),
                        format!(
                            "allows only {}; the source can be {}",
                            list(allowed),
                            bad.join(", ")
                        ),
                    ));
                }
            }
            None => out.push((
                at.to_owned(),
                format!(
                    "allows only {}; the source is not restricted to them",
                    list(allowed)
                ),
            )),
        }
    }
    if st.names(TypeSet::OBJECT) && tt.names(TypeSet::OBJECT) {
        let src_props = src.property_list(s);
        for name in &tgt.node(t).required {
            match src_props.iter().find(|(k, _)| k == name) {
                None => {
                    let like = src_props
                        .iter()
                        .find(|(k, _)| k.eq_ignore_ascii_case(name))
                        .map(|(k, _)| format!(" (the source has `{k}`)"))
                        .unwrap_or_default();
                    out.push((
                        at.to_owned(),
                        format!("required member `{name}` is not in the source{like}"),
                    ));
                }
                Some(_) if !src.node(s).required.contains(name) => {
                    out.push((
                        at.to_owned(),
                        format!("required member `{name}` may be missing in the source"),
                    ));
                }
                Some(_) => {}
            }
        }
        for (name, sn) in src_props {
            let child = format!("{at}/{name}");
            match tgt.property(t, name) {
                Some(tn) => structure(src, sn, tgt, tn, &child, out, seen),
                None if tgt.node(t).additional == Additional::Forbidden => {
                    out.push((
                        at.to_owned(),
                        format!("member `{name}` is not allowed by the target"),
                    ));
                }
                None => {}
            }
        }
    }
    if st.names(TypeSet::ARRAY)
        && tt.names(TypeSet::ARRAY)
        && let (Some(si), Some(ti)) = (src.items(s), tgt.items(t))
    {
        structure(src, si, tgt, ti, &format!("{at}/*"), out, seen);
    }
}

/// Leaf (non-object, non-array) properties under `id`, as pointers with `*` for items.
fn collect_leaves(
    shape: &Shape,
    id: NodeId,
    pointer: String,
    depth: usize,
    stack: &mut Vec<NodeId>,
    out: &mut Vec<String>,
) {
    if depth > MAX_UNREAD_DEPTH || stack.contains(&id) {
        return;
    }
    stack.push(id);
    if shape.is_array(id) {
        if let Some(item) = shape.items(id) {
            collect_leaves(shape, item, format!("{pointer}/*"), depth + 1, stack, out);
        }
    } else {
        let props = shape.property_list(id);
        if props.is_empty() {
            if !pointer.is_empty() {
                out.push(pointer);
            }
        } else {
            for (name, child) in props {
                let mut p = pointer.clone();
                push_pointer(&mut p, name);
                collect_leaves(shape, child, p, depth + 1, stack, out);
            }
        }
    }
    stack.pop();
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::sync::Arc;

    use serde_json::{Value, json};

    use crate::diagnostic::Diagnostic;
    use crate::mapping::syntax::Direction;
    use crate::mapping::test_support::route_text;
    use crate::mapping::{ContextDecl, check, load_route_file, parse_route_yaml};
    use crate::schema::Shape;

    fn repo(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    fn schema_shape(name: &str) -> Shape {
        let read = |n: &str| -> Option<Arc<Value>> {
            let text = std::fs::read_to_string(repo("schemas").join(n)).ok()?;
            serde_json::from_str(&text).ok().map(Arc::new)
        };
        let doc = read(name).unwrap();
        Shape::build(name, &doc, &read).unwrap()
    }

    fn shape(doc: Value) -> Shape {
        Shape::build("t.schema.json", &doc, &|_| None).unwrap()
    }

    fn render(diags: &[Diagnostic]) -> Vec<String> {
        diags.iter().map(ToString::to_string).collect()
    }

    /// Checks the route file `yaml` (its one section of `direction`) against the two
    /// shapes, rendered.
    fn check_yaml(yaml: &str, direction: Direction, source: &Shape, target: &Shape) -> Vec<String> {
        let file = std::path::Path::new("t.yaml");
        let route = crate::mapping::parse_route_yaml(yaml, file).unwrap();
        render(&crate::mapping::check(
            &route,
            direction,
            file,
            source,
            target,
            &ContextDecl::default(),
        ))
    }

    fn shipped(route: &str, direction: Direction, params: &[&str]) -> Vec<String> {
        let file = repo(route);
        let r = load_route_file(&file).unwrap();
        let spec = r.direction(direction).unwrap();
        let source = schema_shape(&spec.schema);
        let target = schema_shape(&spec.target);
        let ctx = ContextDecl {
            path_params: params.iter().map(|p| (*p).to_owned()).collect(),
            has_request: direction == Direction::Response && r.request.is_some(),
            request_shape: r.request.as_ref().map(|d| schema_shape(&d.schema)),
        };
        render(&check(
            &r,
            direction,
            Path::new(route),
            &source,
            &target,
            &ctx,
        ))
    }

    #[test]
    fn shipped_route_files_check_clean() {
        for (route, direction, params) in [
            ("mappings/acme/orders.yaml", Direction::Request, &[][..]),
            ("mappings/acme/orders.yaml", Direction::Response, &[]),
            ("mappings/globex/orders.yaml", Direction::Request, &[]),
            ("mappings/globex/orders.yaml", Direction::Response, &[]),
            (
                "mappings/globex/order-status.yaml",
                Direction::Response,
                &["orderId"],
            ),
        ] {
            assert_eq!(
                shipped(route, direction, params),
                Vec::<String>::new(),
                "{route} {direction:?}"
            );
        }
    }

    fn source_schema() -> Shape {
        shape(json!({
            "type": "object",
            "required": ["Order"],
            "properties": {"Order": {
                "type": "object",
                "required": ["@id", "Priority", "Items"],
                "properties": {
                    "@id": {"type": "string"},
                    "Priority": {"enum": ["standard", "express", "overnight"]},
                    "Note": {"type": "string"},
                    "Customer": {"type": "object", "properties": {"Email": {"type": "string"}}},
                    "Odd": {"type": "string", "not": {"const": ""}},
                    "Items": {"type": "array", "items": {
                        "type": "object", "required": ["Qty"],
                        "properties": {"Qty": {"type": "string", "pattern": "^[0-9]+$"}}
                    }}
                }
            }}
        }))
    }

    fn target_schema() -> Shape {
        shape(json!({
            "type": "object",
            "additionalProperties": false,
            "required": ["id", "speed"],
            "properties": {
                "id": {"type": "string"},
                "speed": {"enum": ["STANDARD", "EXPRESS"]},
                "count": {"type": "integer"},
                "note": {"type": "string"},
                "lines": {"type": "array", "items": {
                    "type": "object", "properties": {"qty": {"type": "integer"}}
                }},
                "open": {"type": "object", "properties": {"x": {"type": "string"}}}
            }
        }))
    }

    /// Checks the request direction of a whole route file against the two small schemas
    /// above, every finding rendered.
    fn check_text(text: &str, ctx: &ContextDecl) -> Vec<String> {
        let route = parse_route_yaml(text, Path::new("t.yaml")).unwrap();
        render(&check(
            &route,
            Direction::Request,
            Path::new("t.yaml"),
            &source_schema(),
            &target_schema(),
            ctx,
        ))
    }

    /// Checks a request map against the two small schemas above, without the unread-source
    /// warning.
    fn diags(map: &str) -> Vec<String> {
        let ctx = ContextDecl {
            path_params: vec!["id".to_owned()],
            has_request: false,
            request_shape: None,
        };
        check_text(&route_text(map), &ctx)
            .into_iter()
            .filter(|d| !d.contains(": no rule of the"))
            .collect()
    }

    const OK_BASE: &str = "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD, express: EXPRESS, overnight: EXPRESS } }\n";

    #[test]
    fn a_correct_map_has_no_findings() {
        assert_eq!(
            diags(&format!(
                "{OK_BASE}lines:\n  each: /Order/Items\n  map:\n    qty: {{ from: Qty, as: integer }}"
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn source_paths_must_exist() {
        assert_eq!(
            diags(&format!("{OK_BASE}note: /Order/Nope")),
            vec![
                "t.yaml:9:5: error: source path `/Order/Nope` does not exist in the source schema: no `Nope` at `/Order`\n  --> at t.schema.json#/properties/Order\n  = hint: known here: @id, Priority, Note, Customer, Odd, Items"
            ]
        );
    }

    #[test]
    fn target_properties_must_exist_when_additional_properties_are_forbidden() {
        assert_eq!(
            diags(&format!(
                "{OK_BASE}colour: /Order/Note\nopen:\n  y: /Order/Note"
            )),
            vec![
                "t.yaml:9:5: error: target `/colour` is not a property of the target schema (additionalProperties: false)\n  --> at t.schema.json#\n  = hint: known properties: id, speed, count, note, lines, open",
                "t.yaml:11:7: warning: target `/open/y` is not a property of the target schema; it passes only as an additional property\n  --> at t.schema.json#/properties/open\n  = hint: known properties: x",
            ]
        );
    }

    #[test]
    fn types_must_flow() {
        assert_eq!(
            diags(&format!(
                "{OK_BASE}count: /Order/Customer\nnote: {{ from: /Order/@id, as: integer }}\nlines:\n  each: /Order/Items\n  map:\n    qty: Qty"
            )),
            vec![
                "t.yaml:9:5: error: `/count` expects integer, but the rule produces object\n  --> at t.schema.json#/properties/count",
                "t.yaml:10:5: error: `/note` expects string, but the rule produces integer\n  --> at t.schema.json#/properties/note\n  = hint: convert with `as: string` (add `scale` for fixed decimals)",
                "t.yaml:14:9: error: `/lines/*/qty` expects integer, but the rule produces string\n  --> at t.schema.json#/properties/lines/items/properties/qty\n  = hint: convert with `as: integer`",
            ]
        );
    }

    #[test]
    fn null_constants_fit_targets_that_allow_null() {
        let source = shape(json!({"type": "object", "properties": {"a": {"type": "string"}}}));
        let target = shape(json!({"type": "object", "properties": {
            "n1": {"type": ["string", "null"]}, "n2": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "s": {"type": "string"}}}));
        let yaml = "route: { method: POST, path: /t, format: json }\nupstream: { service: s, path: /t }\nrequest:\n  schema: s.json\n  target: t.json\n  ignore: [/a]\n  map:\n    n1: { const: null }\n    n2: { const: null }\n    s: { const: null }\n";
        assert_eq!(
            check_yaml(yaml, Direction::Request, &source, &target),
            vec!["t.yaml:10:5: error: `/s` expects string, but the rule produces null\n  --> at t.schema.json#/properties/s\n  = hint: allow null in the target schema (`type: [..., \"null\"]`), or write a value".to_string()]
        );
    }

    #[test]
    fn constants_and_lookups_must_fit_the_target_enum() {
        assert_eq!(
            diags("id: /Order/@id\nspeed: { const: FAST }"),
            vec![
                "t.yaml:8:5: error: `/speed` allows only \"STANDARD\", \"EXPRESS\"; the rule can produce \"FAST\"\n  --> at t.schema.json#/properties/speed\n  = hint: map the values with `lookup`"
            ]
        );
        assert_eq!(
            diags(
                "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD, express: EXPRESS } }"
            ),
            vec![
                "t.yaml:8:5: error: lookup has no entry for source value \"overnight\"\n  --> at /speed\n  = hint: add the entries or a `fallback`"
            ]
        );
        assert_eq!(
            diags(
                "id: /Order/@id\nspeed: { from: /Order/Priority, lookup: { standard: STANDARD }, fallback: EXPRESS }"
            ),
            Vec::<String>::new()
        );
        assert_eq!(
            diags("id: /Order/@id\nspeed: { from: /Order/Priority, apply: [uppercase] }"),
            vec![
                "t.yaml:8:5: error: `/speed` allows only \"STANDARD\", \"EXPRESS\"; the rule can produce \"OVERNIGHT\"\n  --> at t.schema.json#/properties/speed\n  = hint: map the values with `lookup`"
            ]
        );
    }

    #[test]
    fn required_targets_must_be_produced_unconditionally() {
        assert_eq!(
            diags("speed: { const: EXPRESS, when: { exists: /Order/Note } }"),
            vec![
                "t.yaml:6:3: error: required target property `/id` is not produced\n  --> at t.schema.json#\n  = hint: add a rule for it, or a `default`",
                "t.yaml:7:5: warning: required target property `/speed` may be omitted: the rule has a `when` condition\n  --> at /speed\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input",
            ]
        );
        assert_eq!(
            diags("id: /Order/Note\nspeed: { const: EXPRESS }"),
            vec![
                "t.yaml:7:5: warning: required target property `/id` may be omitted: its source `/Order/Note` is optional and `on_missing` is omit\n  --> at /id\n  = hint: give the rule a `default`, or `on_missing: error` to reject such input"
            ]
        );
        assert_eq!(
            diags("id: { from: /Order/Note, default: none }\nspeed: { const: EXPRESS }"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn context_sources_must_be_declared() {
        assert_eq!(
            diags(&format!(
                "{OK_BASE}note: $path.orderId\ncount: {{ from: $request/Order/n, as: integer }}\nopen:\n  x: $query.sort"
            )),
            vec![
                "t.yaml:9:5: error: `$path.orderId`: the route path `/p/{id}` has no parameter `{orderId}`\n  --> at /note\n  = hint: path parameters of this route: id",
                "t.yaml:10:5: error: `$request/Order/n` reads the original request, which only response and error mappings of routes with a request body have\n  --> at /count\n  = hint: read the value from the upstream answer or from $path/$query/$header instead",
                "t.yaml:12:7: error: `$query.sort` is not declared by the route\n  --> at /open/x\n  = hint: add `sort` to `route.query`",
            ]
        );
        assert_eq!(
            diags(&format!(
                "{OK_BASE}note: $path.id\nopen:\n  x: $header.x-tenant"
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn conversions_of_known_values_are_proven() {
        assert_eq!(
            diags(&format!(
                "{OK_BASE}count: {{ from: /Order/Priority, as: integer }}"
            )),
            vec![
                "t.yaml:9:5: error: `as: integer` fails on source values \"standard\", \"express\", \"overnight\"\n  --> at /count\n  = hint: map those values with `lookup` first"
            ]
        );
        assert_eq!(
            diags(&format!(
                "{OK_BASE}count: {{ from: /Order/Priority, lookup: {{ standard: \"1\", express: \"2\", overnight: \"3\" }}, as: integer }}"
            )),
            Vec::<String>::new()
        );
    }

    #[test]
    fn an_xml_answer_cannot_hold_arrays_of_arrays() {
        let source = shape(json!({"type": "object", "properties": {
            "rows": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}}));
        let target = shape(
            json!({"type": "object", "properties": {"R": {"type": "object", "properties": {
            "Row": {"type": "array", "items": {"type": "array", "items": {"type": "string"}}}}}}}),
        );
        let run = |format: &str| {
            let yaml = format!(
                "route: {{ method: GET, path: /t, format: {format} }}\nupstream: {{ service: s, path: /t }}\nresponse:\n  schema: s.json\n  target: t.json\n  map:\n    R.Row: /rows\n"
            );
            check_yaml(&yaml, Direction::Response, &source, &target)
        };
        assert_eq!(
            run("xml"),
            vec!["t.yaml: error: an array whose items are arrays has no XML form; the partner's answer cannot be written\n  --> at t.schema.json#/properties/R/properties/Row/items\n  = hint: wrap each inner array in an object: `items: {type: object, properties: {Entry: {type: array, ...}}}`".to_string()]
        );
        assert_eq!(run("json"), Vec::<String>::new());
    }

    #[test]
    fn sources_read_into_undescribed_targets_count_as_read() {
        let source = shape(json!({"type": "object", "properties": {
            "arr": {"type": ["array", "null"], "items": {"type": "string"}},
            "p": {"type": "string"}, "q": {"type": "string"}}}));
        let target = shape(json!({"type": "object", "properties": {
            "list": {}, "free": {},
            "typed": {"type": "object", "properties": {"y": {"type": "string"}}}}}));
        let yaml = "route: { method: POST, path: /t, format: json }\nupstream: { service: s, path: /t }\nrequest:\n  schema: s.json\n  target: t.json\n  map:\n    list: { each: /arr, item: . }\n    free:\n      y: /p\n    typed:\n      y: /q\n";
        assert_eq!(
            check_yaml(yaml, Direction::Request, &source, &target),
            vec![
                "t.yaml:7:5: warning: the target schema does not describe the items of `/list`, so they are not checked\n  --> at t.schema.json#/properties/list".to_string(),
                "t.yaml:9:7: warning: target `/free/y` is not a property of the target schema; it passes only as an additional property\n  --> at t.schema.json#/properties/free\n  = hint: the target schema names no properties here".to_string(),
            ]
        );
        // What such rules read is still checked: a path the source does not have, `each`
        // over a string.
        let wrong = yaml
            .replace("y: /p\n", "y: /typo\n")
            .replace("each: /arr", "each: /q");
        assert_eq!(
            check_yaml(&wrong, Direction::Request, &source, &target),
            vec![
                "t.yaml:7:5: warning: the target schema does not describe the items of `/list`, so they are not checked\n  --> at t.schema.json#/properties/list",
                "t.yaml:7:5: error: `each: /q` is not an array in the source schema (string)\n  --> at t.schema.json#/properties/q",
                "t.yaml:9:7: error: source path `/typo` does not exist in the source schema: no `typo` at `/`\n  --> at t.schema.json#\n  = hint: known here: arr, p, q",
                "t.yaml:9:7: warning: target `/free/y` is not a property of the target schema; it passes only as an additional property\n  --> at t.schema.json#/properties/free\n  = hint: the target schema names no properties here",
                "t.yaml:6:3: warning: no rule of the request mapping reads source properties `/arr/*`, `/p`\n  --> at t.schema.json#\n  = hint: map them, or list them under `ignore:` if dropping them is intended",
            ]
        );
    }

    #[test]
    fn a_nested_map_must_fit_one_alternative_of_a_union_target() {
        let source = shape(json!({
            "type": "object",
            "properties": {"Doc": {"type": "object", "required": ["@id", "Qty"], "properties": {
                "@id": {"type": "string"}, "Qty": {"type": "integer"}}}}
        }));
        let target = shape(json!({
            "type": "object",
            "properties": {"v": {"oneOf": [
                {"type": "object", "required": ["kind", "x"], "additionalProperties": false,
                 "properties": {"kind": {"const": "X"}, "x": {"type": "string"}}},
                {"type": "object", "required": ["kind", "y"], "additionalProperties": false,
                 "properties": {"kind": {"const": "Y"}, "y": {"type": "integer"}}}]}}
        }));
        let run = |map: &str| {
            let yaml = format!(
                "route: {{ method: POST, path: /t, format: json }}\nupstream: {{ service: s, path: /t }}\nrequest:\n  schema: s.json\n  target: t.json\n  map:\n{map}"
            );
            check_yaml(&yaml, Direction::Request, &source, &target)
        };
        let union_error = |alt1: &str, alt2: &str| {
            format!(
                "t.yaml:7:5: error: the nested map `/v` fits none of the alternatives (`anyOf`/`oneOf`) of its target: alternative 1 (t.schema.json#/properties/v/oneOf/0): {alt1}; alternative 2 (t.schema.json#/properties/v/oneOf/1): {alt2}\n  --> at t.schema.json#/properties/v\n  = hint: produce exactly the properties one alternative allows and requires"
            )
        };
        assert_eq!(
            run("    v:\n      kind: { const: X }\n      y: /Doc/Qty\n      x: /Doc/@id\n"),
            vec![union_error(
                "`y` is not one of its properties",
                "`x` is not one of its properties"
            )]
        );
        // A constant outside an alternative's enum rules it out.
        assert_eq!(
            run("    v:\n      kind: { const: \"Y\" }\n      x: /Doc/@id\n")
                .into_iter()
                .take(1)
                .collect::<Vec<_>>(),
            vec![union_error(
                "`kind` must be one of \"X\", not \"Y\"",
                "`x` is not one of its properties"
            )]
        );
        // Fitting one alternative is enough, and its rules are the ones checked: `kind`
        // may be "Y" in the second alternative, whatever the first one says.
        let errors = |map: &str| -> Vec<String> {
            run(map)
                .into_iter()
                .filter(|d| d.contains(": error:"))
                .collect()
        };
        assert_eq!(
            errors("    v:\n      kind: { const: X }\n      x: /Doc/@id\n"),
            Vec::<String>::new()
        );
        assert_eq!(
            errors("    v:\n      kind: { const: \"Y\" }\n      y: /Doc/Qty\n"),
            Vec::<String>::new()
        );
    }

    #[test]
    fn whole_objects_copied_must_fit_member_by_member() {
        let source = shape(json!({
            "type": "object",
            "properties": {"Customer": {"type": "object", "required": ["Name"], "properties": {
                "Name": {"type": "string"}, "Tier": {"type": "string"}, "Age": {"type": "integer"}}}}
        }));
        let target = shape(json!({
            "type": "object",
            "properties": {"customer": {"type": "object", "additionalProperties": false, "required": ["name", "Age"],
                "properties": {"name": {"type": "string"}, "Age": {"type": "string"}}}}
        }));
        let same = shape(json!({
            "type": "object",
            "properties": {"customer": {"type": "object", "properties": {
                "Name": {"type": "string"}, "Tier": {"type": "string"}, "Age": {"type": "number"}}}}
        }));
        let yaml = "route: { method: POST, path: /t, format: json }\nupstream: { service: s, path: /t }\nrequest:\n  schema: s.json\n  target: t.json\n  map:\n    customer: /Customer\n";
        assert_eq!(
            check_yaml(yaml, Direction::Request, &source, &target),
            vec!["t.yaml:7:5: error: `/customer` copies a whole object whose shape does not fit the target: required member `name` is not in the source (the source has `Name`); required member `Age` may be missing in the source; member `Name` is not allowed by the target; member `Tier` is not allowed by the target; at `/Age`: expects string, the source has integer\n  --> at t.schema.json#/properties/customer\n  = hint: map its members one by one (a nested map), renaming and converting as the target needs".to_string()]
        );
        let fine = check_yaml(yaml, Direction::Request, &source, &same);
        assert_eq!(fine, Vec::<String>::new());
    }

    #[test]
    fn each_needs_arrays_on_both_sides() {
        assert_eq!(
            diags(&format!(
                "{OK_BASE}lines:\n  each: /Order/Customer\n  map: {{}}\nnote:\n  each: /Order/Items\n  item: Qty"
            )),
            vec![
                "t.yaml:9:5: error: `each: /Order/Customer` is not an array in the source schema (object)\n  --> at t.schema.json#/properties/Order/properties/Customer",
                "t.yaml:12:5: error: `each` produces an array, but `/note` is string\n  --> at t.schema.json#/properties/note",
            ]
        );
    }

    #[test]
    fn unread_source_properties_are_warnings() {
        let text = route_text(&format!("{OK_BASE}note: /Order/Odd"));
        assert_eq!(
            check_text(&text, &ContextDecl::default()),
            vec![
                "t.yaml:6:3: warning: no rule of the request mapping reads source properties `/Order/Note`, `/Order/Customer/Email`, `/Order/Items/*/Qty`\n  --> at t.schema.json#\n  = hint: map them, or list them under `ignore:` if dropping them is intended",
            ]
        );
    }

    #[test]
    fn ignored_paths_silence_the_unread_warning_and_must_exist() {
        let text = route_text(&format!("{OK_BASE}note: /Order/Odd")).replace(
            "  map:\n",
            "  ignore: [/Order/Note, /Order/Items/*/Qty, /Order/Customer, /Order/Nope, $path.id]\n  map:\n",
        );
        assert_eq!(
            check_text(&text, &ContextDecl::default()),
            vec![
                "t.yaml:7:3: error: ignored path `/Order/Nope` does not exist in the source schema: no `Nope` at `/Order`\n  --> at request.ignore\n  = hint: list source document paths such as `/Order/Notes`",
                "t.yaml:7:3: error: ignored path `$path.id` does not exist in the source schema: only source document paths (starting with `/`) can be ignored\n  --> at request.ignore\n  = hint: list source document paths such as `/Order/Notes`",
            ]
        );
    }

    /// Checks a request map between two given schemas, without the unread-source warning.
    fn diags_between(source: Value, target: Value, map: &str) -> Vec<String> {
        let route = parse_route_yaml(&route_text(map), Path::new("t.yaml")).unwrap();
        let ctx = ContextDecl {
            path_params: vec!["id".to_owned()],
            has_request: false,
            request_shape: None,
        };
        render(&check(
            &route,
            Direction::Request,
            Path::new("t.yaml"),
            &shape(source),
            &shape(target),
            &ctx,
        ))
        .into_iter()
        .filter(|d| !d.contains(": no rule of the"))
        .collect()
    }

    #[test]
    fn comparisons_the_source_type_can_never_meet_are_warnings() {
        let source = json!({"type": "object", "properties": {
            "answer": {"type": "string"},
            "flag": {"type": "boolean"},
            "n": {"type": ["integer", "null"]}
        }});
        let target = json!({"type": "object", "properties": {
            "a": {"type": "boolean"}, "b": {"type": "boolean"}, "c": {"type": "boolean"},
            "d": {"type": "boolean"}
        }});
        assert_eq!(
            diags_between(
                source,
                target,
                "a: { const: true, when: { path: /answer, equals: false } }\n\
                 b: { const: true, when: { any: [{ path: /flag, in: [true, \"yes\"] }, { not: { path: /answer, not_equals: null } }] } }\n\
                 c: { const: true, when: { all: [{ path: /n, equals: null }, { path: /n, not_equals: 1 }, { path: /answer, in: [\"no\", \"off\"] }] } }"
            ),
            [
                "t.yaml:7:5: warning: `when` of `/a`: `/answer` is string by the source schema, so `equals` with false (boolean) never holds\n  --> at /a\n  = hint: to compare with the text, quote it: `equals: \"false\"`",
                "t.yaml:8:5: warning: `when.any[0]` of `/b`: `/flag` is boolean by the source schema, so `in` with \"yes\" (string) never holds\n  --> at /b",
                "t.yaml:8:5: warning: `when.any[1].not` of `/b`: `/answer` is string by the source schema, so `not_equals` with null (null) always holds\n  --> at /b\n  = hint: to compare with the text, quote it: `not_equals: \"null\"`",
            ]
        );
        assert_eq!(
            diags_between(
                json!({"type": "object", "properties": {"items": {"type": "array", "items": {"type": "object", "properties": {"q": {"type": "integer"}}}}}}),
                json!({"type": "object", "properties": {"e": {"type": "array", "items": {"type": "integer"}}}}),
                "e: { each: /items, filter: { any: [{ path: $position, equals: 1 }, { path: q, equals: \"1\" }] }, item: { from: q } }"
            ),
            [
                "t.yaml:7:5: warning: `filter.any[1]` of `/e`: `q` is integer by the source schema, so `equals` with \"1\" (string) never holds\n  --> at /e",
            ]
        );
    }

    #[test]
    fn a_rule_where_the_target_has_properties_named_like_its_keywords_gets_a_hint() {
        let source = json!({"type": "object", "properties": {"Leg": {"type": "object", "properties": {
            "Origin": {"type": "string"}, "Days": {"type": "array", "items": {"type": "string"}}
        }}}});
        let target = json!({"type": "object", "properties": {
            "leg": {"type": "object", "properties": {"from": {"type": "string"}, "to": {"type": "string"}}},
            "plan": {"type": "object", "properties": {"each": {"type": "string"}, "item": {"type": "string"}}},
            "other": {"type": "object", "properties": {"x": {"type": "string"}}}
        }});
        assert_eq!(
            diags_between(
                source,
                target,
                "leg: { from: /Leg/Origin }\nplan: { each: /Leg/Days, item: . }\nother: { from: /Leg/Origin }"
            ),
            [
                "t.yaml:7:5: error: `/leg` expects object, but the rule produces string\n  --> at t.schema.json#/properties/leg\n  = hint: the target object has properties spelled like this rule's keywords; an object whose first key is a rule keyword is a rule: to write the target properties, write `\\from`",
                "t.yaml:8:5: error: `each` produces an array, but `/plan` is object\n  --> at t.schema.json#/properties/plan\n  = hint: the target object has properties spelled like this rule's keywords; an object whose first key is a rule keyword is a rule: to write the target properties, write `\\each`, `\\item`",
                "t.yaml:9:5: error: `/other` expects object, but the rule produces string\n  --> at t.schema.json#/properties/other",
            ]
        );
    }
}
