//! A schema as a resolved type tree: `$ref`s followed (across files), `allOf` merged,
//! `anyOf`/`oneOf` kept as unions. An arena of nodes so recursive schemas are finite.
//!
//! The XML codec asks it which elements are arrays, what element text converts to and which
//! namespace an element lives in; the mapping checker asks it what a path may hold. Neither
//! wants to know how the schema was spelled (`$ref`, `allOf`, `const`, draft-07 or 2020-12),
//! so those spellings are resolved here, once, at load.
//!
//! CONTRACT NOTE: shared by the XML codec and the mapping checker.

mod build;

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

use build::*;

/// Index of a node in its [`Shape`]'s arena.
pub type NodeId = u32;

/// The JSON types a node admits. Empty means "any type" (no `type` keyword).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeSet(pub u8);

impl TypeSet {
    pub const NULL: TypeSet = TypeSet(1);
    pub const BOOLEAN: TypeSet = TypeSet(2);
    pub const INTEGER: TypeSet = TypeSet(4);
    pub const NUMBER: TypeSet = TypeSet(8);
    pub const STRING: TypeSet = TypeSet(16);
    pub const ARRAY: TypeSet = TypeSet(32);
    pub const OBJECT: TypeSet = TypeSet(64);
    pub const ANY: TypeSet = TypeSet(0);

    pub fn is_any(self) -> bool {
        self.0 == 0
    }
    /// True when `other`'s types are all admitted (`number` admits `integer`).
    pub fn contains(self, other: TypeSet) -> bool {
        if self.is_any() {
            return true;
        }
        let mut mine = self.0;
        if mine & Self::NUMBER.0 != 0 {
            mine |= Self::INTEGER.0;
        }
        other.0 & !mine == 0 && !other.is_any()
    }
    pub fn union(self, other: TypeSet) -> TypeSet {
        if self.is_any() || other.is_any() {
            return TypeSet::ANY;
        }
        TypeSet(self.0 | other.0)
    }

    /// True when this set explicitly names `one` (a single-type constant). Unlike
    /// [`TypeSet::contains`], "any" does not count: the codec only converts text when the
    /// schema says so.
    pub fn names(self, one: TypeSet) -> bool {
        self.0 & one.0 != 0
    }

    /// The types both sets admit, or None when no type is admitted by both. `number` and
    /// `integer` meet at `integer`.
    pub fn intersect(self, other: TypeSet) -> Option<TypeSet> {
        if self.is_any() {
            return Some(other);
        }
        if other.is_any() {
            return Some(self);
        }
        let widen = |t: TypeSet| {
            if t.0 & Self::NUMBER.0 != 0 {
                t.0 | Self::INTEGER.0
            } else {
                t.0
            }
        };
        let mut both = widen(self) & widen(other);
        // `number` survives only when both sides admit fractions.
        if self.0 & Self::NUMBER.0 == 0 || other.0 & Self::NUMBER.0 == 0 {
            both &= !Self::NUMBER.0;
        }
        (both != 0).then_some(TypeSet(both))
    }

    /// The type of one JSON value (`integer` for numbers without fraction).
    pub fn of(value: &Value) -> TypeSet {
        match value {
            Value::Null => Self::NULL,
            Value::Bool(_) => Self::BOOLEAN,
            Value::Number(n) if n.is_i64() || n.is_u64() => Self::INTEGER,
            Value::Number(_) => Self::NUMBER,
            Value::String(_) => Self::STRING,
            Value::Array(_) => Self::ARRAY,
            Value::Object(_) => Self::OBJECT,
        }
    }

    fn from_name(name: &str) -> Option<TypeSet> {
        Some(match name {
            "null" => Self::NULL,
            "boolean" => Self::BOOLEAN,
            "integer" => Self::INTEGER,
            "number" => Self::NUMBER,
            "string" => Self::STRING,
            "array" => Self::ARRAY,
            "object" => Self::OBJECT,
            _ => return None,
        })
    }
}

/// What a schema says about properties not listed in `properties`.
#[derive(Debug, Clone, PartialEq)]
pub enum Additional {
    /// No `additionalProperties` keyword, or `true`.
    Any,
    /// `additionalProperties: false`.
    Forbidden,
    /// `additionalProperties: {schema}`.
    Schema(NodeId),
}

/// The OpenAPI `xml` keyword, with `namespace` already inherited from ancestors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct XmlMeta {
    /// Element name override (`xml.name`); None = the property name.
    pub name: Option<String>,
    /// Effective namespace URI (own `xml.namespace` or inherited); None = the route's.
    pub namespace: Option<String>,
    /// Prefix to use when encoding (`xml.prefix`).
    pub prefix: Option<String>,
    /// Whether the schema gives `xml.namespace` itself (or through a `$ref` or `allOf`
    /// part) rather than inheriting it. Only then is an attribute in a namespace: an
    /// unprefixed attribute is in none, whatever its element's namespace.
    pub namespace_given: bool,
}

/// One node of the resolved type tree.
#[derive(Debug, Clone)]
pub struct ShapeNode {
    pub types: TypeSet,
    /// `properties`, in the order the schema lists them (encoding follows this order).
    pub properties: IndexMap<String, NodeId>,
    pub required: Vec<String>,
    pub additional: Additional,
    /// `items` (2020-12) / `items` object form (draft 7).
    pub items: Option<NodeId>,
    /// `enum`, with `const` folded in as a one-value enum.
    pub enum_values: Option<Vec<Value>>,
    /// `anyOf` / `oneOf` alternatives; a value must fit one of them.
    pub union: Vec<NodeId>,
    /// Refinements carried along for the checker's messages.
    pub format: Option<String>,
    pub pattern: Option<String>,
    pub minimum: Option<f64>,
    pub maximum: Option<f64>,
    pub xml: XmlMeta,
    /// Where this node was written: `file#/json/pointer`, for diagnostics.
    pub location: String,
    /// Keywords at this node the checker cannot reason about (`if`, `not`,
    /// `patternProperties`, ...): each becomes a warning, never a silent pass.
    pub unsupported: Vec<String>,
    /// Keys of this schema object that are no keyword of JSON Schema or OpenAPI (nor an
    /// `x-` extension): validation ignores them, so a misspelt `propertes` silently
    /// allows anything.
    pub unknown: Vec<String>,
}

impl ShapeNode {
    fn new(location: String) -> ShapeNode {
        ShapeNode {
            types: TypeSet::ANY,
            properties: IndexMap::new(),
            required: Vec::new(),
            additional: Additional::Any,
            items: None,
            enum_values: None,
            union: Vec::new(),
            format: None,
            pattern: None,
            minimum: None,
            maximum: None,
            xml: XmlMeta::default(),
            location,
            unsupported: Vec::new(),
            unknown: Vec::new(),
        }
    }

    /// True when the schema admits no value at all (`false`, or contradictory `allOf`).
    pub fn is_never(&self) -> bool {
        matches!(&self.enum_values, Some(v) if v.is_empty())
    }
}

/// A resolved schema: an arena of nodes and the root.
#[derive(Debug, Clone)]
pub struct Shape {
    pub nodes: Vec<ShapeNode>,
    pub root: NodeId,
    /// What the XML decoder asks of each node, worked out when the shape is built: one
    /// entry per node, in the arena's order.
    xml: Vec<XmlView>,
}

/// What the XML decoder needs of one node, worked out once when the shape is built.
///
/// Decoding asks these questions for every element and attribute of every request; the
/// answers come from walking properties, unions, `items` and `xml` names, which costs far
/// more than the scan of a short list that replaces it here.
#[derive(Debug, Clone)]
pub struct XmlView {
    /// [`Shape::scalar_types`] of the node.
    pub types: TypeSet,
    /// The child elements the node describes, in the order they are tried: its own
    /// properties, those of its union alternatives, then `additionalProperties`. The first
    /// entry that matches an element wins.
    pub elements: Box<[XmlChild]>,
    /// The attributes (`@name` properties) the node describes, in the same order.
    pub attributes: Box<[XmlAttribute]>,
    /// [`Shape::property`] of `#text`: the node of an element's text beside attributes or
    /// children.
    pub text: Option<NodeId>,
}

/// One child element a node describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlChild {
    /// The element's local name; None for `additionalProperties`, which takes any name.
    pub name: Option<Box<str>>,
    /// The element's namespace; None means the route's.
    pub namespace: Option<Box<str>>,
    /// The member's key in the JSON view; None for `additionalProperties`, whose members
    /// are keyed by the element's local name.
    pub key: Option<Box<str>>,
    /// The node of one element's value (the item node when the member is an array).
    pub element: Option<NodeId>,
    /// Whether the member is an array of such elements.
    pub array: bool,
    /// Whether no earlier entry of the node can match an element this one matches (every
    /// earlier entry names a different element), so the decoder may try this entry alone
    /// when the document's order suggests it, without losing "the first entry wins".
    pub unshadowed: bool,
}

/// One attribute a node describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XmlAttribute {
    /// The attribute's local name (`xml.name`, else the key without its `@`).
    pub name: Box<str>,
    /// The attribute's namespace: the `xml.namespace` its own schema gives; None (no
    /// namespace, an unprefixed attribute) when it gives none, since attributes do not
    /// take their element's namespace.
    pub namespace: Option<Box<str>>,
    /// The member's key in the JSON view (`@...`).
    pub key: Box<str>,
    pub node: NodeId,
}

/// How deep queries look through nested unions. Unions of unions are written by people a
/// level or two deep; the bound only guards against a union that reaches itself.
const MAX_UNION_DEPTH: usize = 16;

/// Keywords whose meaning the checker does not model; a node using one is reported.
const UNSUPPORTED_KEYWORDS: &[&str] = &[
    "if",
    "then",
    "else",
    "not",
    "patternProperties",
    "propertyNames",
    "dependentSchemas",
    "dependentRequired",
    "dependencies",
    "unevaluatedProperties",
    "unevaluatedItems",
    "prefixItems",
    "contains",
    "$dynamicRef",
    "$recursiveRef",
];

/// Every keyword of JSON Schema (2020-12, 2019-09, draft 7) and of OpenAPI's Schema
/// Object: a key outside this list (and outside `x-` extensions) is warned about.
const KNOWN_KEYWORDS: &[&str] = &[
    "$schema",
    "$id",
    "$ref",
    "$anchor",
    "$dynamicAnchor",
    "$dynamicRef",
    "$recursiveRef",
    "$recursiveAnchor",
    "$vocabulary",
    "$comment",
    "$defs",
    "definitions",
    "type",
    "enum",
    "const",
    "properties",
    "required",
    "additionalProperties",
    "patternProperties",
    "propertyNames",
    "minProperties",
    "maxProperties",
    "dependentRequired",
    "dependentSchemas",
    "dependencies",
    "items",
    "prefixItems",
    "additionalItems",
    "contains",
    "minContains",
    "maxContains",
    "minItems",
    "maxItems",
    "uniqueItems",
    "unevaluatedItems",
    "unevaluatedProperties",
    "allOf",
    "anyOf",
    "oneOf",
    "not",
    "if",
    "then",
    "else",
    "format",
    "pattern",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "title",
    "description",
    "default",
    "examples",
    "example",
    "deprecated",
    "readOnly",
    "writeOnly",
    "contentEncoding",
    "contentMediaType",
    "contentSchema",
    "xml",
    "nullable",
    "discriminator",
    "externalDocs",
];

impl Shape {
    pub fn root(&self) -> NodeId {
        self.root
    }

    pub fn node(&self, id: NodeId) -> &ShapeNode {
        &self.nodes[id as usize]
    }

    /// The node for property `name` of `id` (looking through unions and additional
    /// properties), or None when the schema does not describe it.
    pub fn property(&self, id: NodeId, name: &str) -> Option<NodeId> {
        self.property_at(id, name, 0)
    }

    fn property_at(&self, id: NodeId, name: &str, depth: usize) -> Option<NodeId> {
        let node = self.nodes.get(id as usize)?;
        if let Some(&p) = node.properties.get(name) {
            return Some(p);
        }
        if depth < MAX_UNION_DEPTH {
            for &alt in &node.union {
                if let Some(p) = self.property_at(alt, name, depth + 1) {
                    return Some(p);
                }
            }
        }
        match node.additional {
            Additional::Schema(a) => Some(a),
            _ => None,
        }
    }

    /// The item node of an array node (looking through unions).
    pub fn items(&self, id: NodeId) -> Option<NodeId> {
        self.items_at(id, 0)
    }

    fn items_at(&self, id: NodeId, depth: usize) -> Option<NodeId> {
        let node = self.nodes.get(id as usize)?;
        if node.items.is_some() {
            return node.items;
        }
        if depth < MAX_UNION_DEPTH {
            for &alt in &node.union {
                if let Some(i) = self.items_at(alt, depth + 1) {
                    return Some(i);
                }
            }
        }
        None
    }

    /// The types a value at `id` may have, with union alternatives merged in and the types
    /// of `enum` values when no `type` is written. `ANY` when nothing constrains the type.
    pub fn scalar_types(&self, id: NodeId) -> TypeSet {
        self.types_at(id, 0)
    }

    fn types_at(&self, id: NodeId, depth: usize) -> TypeSet {
        let Some(node) = self.nodes.get(id as usize) else {
            return TypeSet::ANY;
        };
        let mut own = node.types;
        if own.is_any()
            && let Some(values) = &node.enum_values
            && !values.is_empty()
        {
            own = values
                .iter()
                .fold(TypeSet(0x80), |acc, v| TypeSet(acc.0 | TypeSet::of(v).0));
            own.0 &= 0x7f;
        }
        if node.union.is_empty() || depth >= MAX_UNION_DEPTH {
            return own;
        }
        let mut alts = TypeSet(0x80);
        for &alt in &node.union {
            let t = self.types_at(alt, depth + 1);
            if t.is_any() {
                return own;
            }
            alts.0 |= t.0;
        }
        alts.0 &= 0x7f;
        own.intersect(alts).unwrap_or(own)
    }

    /// True when the schema at `id` says array (explicitly, or by `items` with no `type`).
    pub fn is_array(&self, id: NodeId) -> bool {
        let t = self.scalar_types(id);
        if t.is_any() {
            self.items(id).is_some()
        } else {
            t.names(TypeSet::ARRAY)
        }
    }

    /// True when `null` is an acceptable value at `id`.
    pub fn allows_null(&self, id: NodeId) -> bool {
        let t = self.scalar_types(id);
        t.is_any() || t.names(TypeSet::NULL)
    }

    /// Every property `id` declares, its own first and then those of its union alternatives,
    /// each once, in schema order (the order the XML encoder writes children in).
    pub fn property_list(&self, id: NodeId) -> Vec<(&str, NodeId)> {
        let mut out: Vec<(&str, NodeId)> = Vec::new();
        self.collect_properties(id, 0, &mut out);
        out
    }

    fn collect_properties<'s>(
        &'s self,
        id: NodeId,
        depth: usize,
        out: &mut Vec<(&'s str, NodeId)>,
    ) {
        let Some(node) = self.nodes.get(id as usize) else {
            return;
        };
        for (k, &v) in &node.properties {
            if !out.iter().any(|(seen, _)| *seen == k.as_str()) {
                out.push((k.as_str(), v));
            }
        }
        if depth < MAX_UNION_DEPTH {
            for &alt in &node.union {
                self.collect_properties(alt, depth + 1, out);
            }
        }
    }

    /// Builds the shape of one schema document. `resolve` returns other documents by the
    /// name a `$ref` uses (a path relative to the schemas directory, or an `$id`).
    pub fn build(
        name: &str,
        document: &Value,
        resolve: &dyn Fn(&str) -> Option<std::sync::Arc<Value>>,
    ) -> Result<Shape, String> {
        let root_doc = Arc::new(document.clone());
        let mut builder = Builder {
            resolve,
            nodes: Vec::new(),
            memo: HashMap::new(),
            docs: HashMap::new(),
            aliasing: Vec::new(),
            building: Vec::new(),
        };
        builder.docs.insert(name.to_string(), root_doc.clone());
        let root = builder.build(name, &root_doc, String::new(), None)?;
        let mut shape = Shape {
            nodes: builder.nodes,
            root,
            xml: Vec::new(),
        };
        shape.xml = (0..shape.nodes.len())
            .filter_map(|id| NodeId::try_from(id).ok())
            .map(|id| shape.build_xml_view(id))
            .collect();
        Ok(shape)
    }

    /// [`Shape::scalar_types`] of `id`, as worked out when the shape was built.
    pub fn xml_types(&self, id: NodeId) -> TypeSet {
        self.xml.get(id as usize).map_or(TypeSet::ANY, |v| v.types)
    }

    /// The child elements `id` describes, in the order the XML decoder tries them (see
    /// the `elements` of the node's `XmlView`).
    pub fn xml_elements(&self, id: NodeId) -> &[XmlChild] {
        self.xml.get(id as usize).map_or(&[], |v| &v.elements)
    }

    /// The attributes `id` describes, in the order the XML decoder tries them (see the
    /// `attributes` of the node's `XmlView`).
    pub fn xml_attributes(&self, id: NodeId) -> &[XmlAttribute] {
        self.xml.get(id as usize).map_or(&[], |v| &v.attributes)
    }

    /// The key and node of the attribute of `id` whose namespace is `ns` (None: no
    /// namespace) and local name is `local`.
    pub fn xml_attribute(
        &self,
        id: NodeId,
        ns: Option<&str>,
        local: &str,
    ) -> Option<(&str, NodeId)> {
        let a = self
            .xml_attributes(id)
            .iter()
            .find(|a| *a.name == *local && a.namespace.as_deref() == ns)?;
        Some((&a.key, a.node))
    }

    /// [`Shape::property`] of `#text` at `id`: the node of an element's text beside its
    /// attributes or children.
    pub fn xml_text(&self, id: NodeId) -> Option<NodeId> {
        self.xml.get(id as usize)?.text
    }

    fn build_xml_view(&self, id: NodeId) -> XmlView {
        let mut elements = Vec::new();
        let mut attributes = Vec::new();
        let mut visited = Vec::new();
        self.collect_xml(id, 0, &mut visited, &mut elements, &mut attributes);
        // A later entry equal to an earlier one can never be the first to match. Only
        // unions repeat entries: a node's own properties differ by key.
        if self
            .nodes
            .get(id as usize)
            .is_some_and(|n| !n.union.is_empty())
        {
            dedup_keep_first(&mut elements);
            dedup_keep_first(&mut attributes);
        }
        for i in 0..elements.len() {
            let (earlier, rest) = elements.split_at_mut(i);
            if let Some(child) = rest.first_mut() {
                child.unshadowed = earlier
                    .iter()
                    .all(|e| e.name.is_some() && child.name.is_some() && e.name != child.name);
            }
        }
        XmlView {
            types: self.scalar_types(id),
            elements: elements.into_boxed_slice(),
            attributes: attributes.into_boxed_slice(),
            text: self.property(id, "#text"),
        }
    }

    /// Appends the elements and attributes `id` describes, looking through unions
    /// `depth` levels down, in the order a walk of the schema would try them.
    ///
    /// A node already walked at this depth or less is skipped: everything it would add
    /// was added then, earlier in the order, so it could never match first. That keeps a
    /// union that reaches itself from multiplying the walk at each level.
    fn collect_xml(
        &self,
        id: NodeId,
        depth: usize,
        visited: &mut Vec<(NodeId, usize)>,
        elements: &mut Vec<XmlChild>,
        attributes: &mut Vec<XmlAttribute>,
    ) {
        let Some(node) = self.nodes.get(id as usize) else {
            return;
        };
        match visited.iter_mut().find(|(seen, _)| *seen == id) {
            Some((_, at)) if *at <= depth => return,
            Some((_, at)) => *at = depth,
            None => visited.push((id, depth)),
        }
        for (k, &p) in &node.properties {
            if let Some(bare) = k.strip_prefix('@') {
                let meta = &self.node(p).xml;
                let name = meta.name.as_deref().unwrap_or(bare);
                let namespace = meta.namespace.as_deref().filter(|_| meta.namespace_given);
                attributes.push(XmlAttribute {
                    name: name.into(),
                    namespace: namespace.map(Into::into),
                    key: k.as_str().into(),
                    node: p,
                });
            } else if k != "#text" {
                let (name, namespace) = self.xml_element_name(k, p);
                elements.push(self.xml_child(Some(name), namespace, Some(k), p));
            }
        }
        if depth < MAX_UNION_DEPTH {
            for &alt in &node.union {
                self.collect_xml(alt, depth + 1, visited, elements, attributes);
            }
        }
        if let Additional::Schema(a) = node.additional {
            let namespace = self.node(a).xml.namespace.as_deref();
            elements.push(self.xml_child(None, namespace, None, a));
        }
    }

    /// The XML element name and namespace of member `key` whose schema is `member`, as
    /// the decoder matches them: the member's `xml.name` and namespace; without a name, an
    /// array takes its items' name (and their namespace when they set one); else the key.
    fn xml_element_name<'s>(&'s self, key: &'s str, member: NodeId) -> (&'s str, Option<&'s str>) {
        let node = self.node(member);
        let mut name = node.xml.name.as_deref();
        let mut ns = node.xml.namespace.as_deref();
        // Only an array whose own `xml.name` is unset may take its items' name.
        if name.is_none()
            && (node.items.is_some() || !node.union.is_empty())
            && self.is_array(member)
            && let Some(items) = self.items(member)
        {
            let item = self.node(items);
            name = item.xml.name.as_deref();
            if item.xml.namespace.is_some() {
                ns = item.xml.namespace.as_deref();
            }
        }
        (name.unwrap_or(key), ns)
    }

    fn xml_child(
        &self,
        name: Option<&str>,
        namespace: Option<&str>,
        key: Option<&str>,
        member: NodeId,
    ) -> XmlChild {
        let array = self.is_array(member);
        XmlChild {
            name: name.map(Into::into),
            namespace: namespace.map(Into::into),
            key: key.map(Into::into),
            element: if array {
                self.items(member)
            } else {
                Some(member)
            },
            array,
            unshadowed: false,
        }
    }
}

/// Removes the entries equal to an earlier one, keeping the order of the rest.
fn dedup_keep_first<T: PartialEq>(entries: &mut Vec<T>) {
    let mut kept: Vec<T> = Vec::with_capacity(entries.len());
    for e in entries.drain(..) {
        if !kept.contains(&e) {
            kept.push(e);
        }
    }
    *entries = kept;
}

/// Escapes one JSON pointer token (`~` -> `~0`, `/` -> `~1`).
pub fn escape_pointer(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

#[cfg(test)]
mod tests;
