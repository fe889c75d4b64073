//! A schema as a resolved type tree: `$ref`s followed (across files), `allOf` merged,
//! `anyOf`/`oneOf` kept as unions. An arena of nodes so recursive schemas are finite.
//!
//! The XML codec asks it which elements are arrays, what element text converts to and which
//! namespace an element lives in; the mapping checker asks it what a path may hold. Neither
//! wants to know how the schema was spelled (`$ref`, `allOf`, `const`, draft-07 or 2020-12),
//! so those spellings are resolved here, once, at load.
//!
//! CONTRACT NOTE: shared by the XML codec and the mapping checker.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;
use serde_json::{Map, Value};

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

/// A memo key: the same subschema reached with a different inherited namespace is a
/// different node (its elements live elsewhere).
type MemoKey = (String, String, Option<String>);

struct Builder<'r> {
    resolve: &'r dyn Fn(&str) -> Option<Arc<Value>>,
    nodes: Vec<ShapeNode>,
    memo: HashMap<MemoKey, NodeId>,
    docs: HashMap<String, Arc<Value>>,
    /// Pure-`$ref` chains being followed, to report `A -> B -> A` instead of looping.
    aliasing: Vec<MemoKey>,
    /// Nodes whose fields are still being filled (reached again only through recursion).
    building: Vec<NodeId>,
}

/// Keywords that change nothing about the shape of a value: a `$ref` with only these beside
/// it is an alias of its target.
fn is_annotation(keyword: &str) -> bool {
    matches!(
        keyword,
        "$ref"
            | "$schema"
            | "$id"
            | "$anchor"
            | "$comment"
            | "$defs"
            | "definitions"
            | "title"
            | "description"
            | "examples"
            | "default"
            | "deprecated"
            | "readOnly"
            | "writeOnly"
            | "$vocabulary"
            | "$dynamicAnchor"
    )
}

/// Whether `$ref` in `doc` replaces its siblings (drafts 4, 6 and 7) rather than applying
/// beside them (2019-09 and later). The draft is the document's own `$schema`, else
/// 2020-12: the validator's registry reads every document that way.
fn ref_ignores_siblings(doc: &Value) -> bool {
    matches!(
        jsonschema::Draft::default().detect(doc),
        jsonschema::Draft::Draft4 | jsonschema::Draft::Draft6 | jsonschema::Draft::Draft7
    )
}

impl Builder<'_> {
    fn location(doc: &str, pointer: &str) -> String {
        format!("{doc}#{pointer}")
    }

    fn build(
        &mut self,
        doc_name: &str,
        doc: &Arc<Value>,
        pointer: String,
        ns: Option<String>,
    ) -> Result<NodeId, String> {
        let key: MemoKey = (doc_name.to_string(), pointer, ns);
        if let Some(&id) = self.memo.get(&key) {
            return Ok(id);
        }
        let (doc_name, pointer, ns) = (&key.0, &key.1, &key.2);
        let location = Self::location(doc_name, pointer);
        let schema = doc
            .pointer(pointer)
            .ok_or_else(|| format!("{location}: no schema at this JSON pointer"))?;

        let obj = match schema {
            Value::Bool(b) => {
                let mut node = ShapeNode::new(location);
                node.xml.namespace = ns.clone();
                if !b {
                    node.enum_values = Some(Vec::new());
                }
                let id = self.push(node)?;
                self.memo.insert(key, id);
                return Ok(id);
            }
            Value::Object(obj) => obj,
            _ => {
                return Err(format!(
                    "{location}: a schema must be an object or a boolean"
                ));
            }
        };

        // A `$ref` with nothing but annotations beside it is its target: no node of its own,
        // which is also what lets a recursive schema close its loop. Before 2019-09 a `$ref`
        // is its target whatever stands beside it: the validator ignores the siblings, so
        // the shape must too, or the decoder and the checker would rely on rules nobody
        // enforces.
        if let Some(Value::String(r)) = obj.get("$ref")
            && (ref_ignores_siblings(doc) || obj.keys().all(|k| is_annotation(k)))
        {
            if self.aliasing.contains(&key) {
                return Err(format!(
                    "{location}: circular $ref \"{r}\" never reaches a schema"
                ));
            }
            let (tdoc_name, tdoc, tptr) = self.resolve_ref(doc_name, doc, r, &location)?;
            self.aliasing.push(key.clone());
            let target = self.build(&tdoc_name, &tdoc, tptr, ns.clone());
            self.aliasing.pop();
            let target = target?;
            self.memo.insert(key, target);
            return Ok(target);
        }

        let mut node = ShapeNode::new(location.clone());
        let own_ns = obj
            .get("xml")
            .and_then(|x| x.get("namespace"))
            .and_then(Value::as_str)
            .map(str::to_string);
        node.xml.namespace_given = own_ns.is_some();
        let ns_here = own_ns.or_else(|| ns.clone());
        node.xml.namespace = ns_here.clone();
        if let Some(xml) = obj.get("xml").and_then(Value::as_object) {
            node.xml.name = xml.get("name").and_then(Value::as_str).map(str::to_string);
            node.xml.prefix = xml
                .get("prefix")
                .and_then(Value::as_str)
                .map(str::to_string);
        }
        let id = self.push(node)?;
        self.memo.insert(key.clone(), id);
        self.building.push(id);
        let filled = self.fill(id, doc_name, doc, pointer, obj, &ns_here, &location);
        self.building.retain(|&b| b != id);
        filled?;
        Ok(id)
    }

    fn push(&mut self, node: ShapeNode) -> Result<NodeId, String> {
        let id = NodeId::try_from(self.nodes.len())
            .map_err(|_| format!("{}: schema has too many nodes", node.location))?;
        self.nodes.push(node);
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    fn fill(
        &mut self,
        id: NodeId,
        doc_name: &str,
        doc: &Arc<Value>,
        pointer: &str,
        obj: &Map<String, Value>,
        ns: &Option<String>,
        location: &str,
    ) -> Result<(), String> {
        let child = |k: &str| format!("{pointer}/{}", escape_pointer(k));
        let mut node = ShapeNode::new(location.to_string());
        node.xml = self.nodes[id as usize].xml.clone();

        for kw in UNSUPPORTED_KEYWORDS {
            if obj.contains_key(*kw) {
                node.unsupported.push((*kw).to_string());
            }
        }
        node.unknown = obj
            .keys()
            .filter(|k| !k.starts_with("x-") && !KNOWN_KEYWORDS.contains(&k.as_str()))
            .cloned()
            .collect();

        match obj.get("type") {
            Some(Value::String(t)) => {
                node.types = TypeSet::from_name(t)
                    .ok_or_else(|| format!("{location}: unknown type \"{t}\""))?;
            }
            Some(Value::Array(ts)) => {
                let mut set = 0u8;
                for t in ts {
                    let one = t
                        .as_str()
                        .and_then(TypeSet::from_name)
                        .ok_or_else(|| format!("{location}: unknown type {t}"))?;
                    set |= one.0;
                }
                node.types = TypeSet(set);
            }
            Some(other) => {
                return Err(format!(
                    "{location}: \"type\" must be a string or array, found {other}"
                ));
            }
            None => {}
        }

        if let Some(Value::Object(props)) = obj.get("properties") {
            let base = child("properties");
            for k in props.keys() {
                let p = self.build(
                    doc_name,
                    doc,
                    format!("{base}/{}", escape_pointer(k)),
                    ns.clone(),
                )?;
                node.properties.insert(k.clone(), p);
            }
        }
        if let Some(Value::Array(req)) = obj.get("required") {
            node.required = req
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
        }
        match obj.get("additionalProperties") {
            Some(Value::Bool(false)) => node.additional = Additional::Forbidden,
            Some(Value::Object(_)) => {
                let a = self.build(doc_name, doc, child("additionalProperties"), ns.clone())?;
                node.additional = Additional::Schema(a);
            }
            _ => {}
        }
        match obj.get("items") {
            Some(Value::Object(_)) | Some(Value::Bool(_)) => {
                node.items = Some(self.build(doc_name, doc, child("items"), ns.clone())?);
            }
            Some(Value::Array(_)) => node.unsupported.push("items".to_string()),
            _ => {}
        }
        if let Some(Value::Array(values)) = obj.get("enum") {
            node.enum_values = Some(values.clone());
        }
        if let Some(c) = obj.get("const") {
            node.enum_values = Some(match node.enum_values.take() {
                Some(vs) => vs.into_iter().filter(|v| v == c).collect(),
                None => vec![c.clone()],
            });
        }
        node.format = obj
            .get("format")
            .and_then(Value::as_str)
            .map(str::to_string);
        node.pattern = obj
            .get("pattern")
            .and_then(Value::as_str)
            .map(str::to_string);
        node.minimum = obj.get("minimum").and_then(Value::as_f64);
        node.maximum = obj.get("maximum").and_then(Value::as_f64);

        for kw in ["anyOf", "oneOf"] {
            if let Some(Value::Array(alts)) = obj.get(kw) {
                let base = child(kw);
                let mut ids = Vec::with_capacity(alts.len());
                for i in 0..alts.len() {
                    ids.push(self.build(doc_name, doc, format!("{base}/{i}"), ns.clone())?);
                }
                if node.union.is_empty() {
                    node.union = ids;
                } else {
                    // Both anyOf and oneOf at one node: an intersection of two unions,
                    // which a single union list cannot say.
                    node.unsupported.push(kw.to_string());
                }
            }
        }

        let mut parts: Vec<NodeId> = Vec::new();
        if let Some(Value::String(r)) = obj.get("$ref") {
            let (tdoc_name, tdoc, tptr) = self.resolve_ref(doc_name, doc, r, location)?;
            parts.push(self.build(&tdoc_name, &tdoc, tptr, ns.clone())?);
        }
        if let Some(Value::Array(all)) = obj.get("allOf") {
            let base = child("allOf");
            for i in 0..all.len() {
                parts.push(self.build(doc_name, doc, format!("{base}/{i}"), ns.clone())?);
            }
        }
        for part in parts {
            self.merge_into(&mut node, part, 0)?;
        }

        self.nodes[id as usize] = node;
        Ok(())
    }

    /// Merges the node `part` into `node` as `allOf` means it: both must hold.
    fn merge_into(
        &mut self,
        node: &mut ShapeNode,
        part: NodeId,
        depth: usize,
    ) -> Result<(), String> {
        if self.building.contains(&part) {
            // The part is an ancestor still being built (a schema that `allOf`s itself
            // through recursion): its fields are not known yet, so say so.
            node.unsupported.push("allOf".to_string());
            return Ok(());
        }
        if depth > MAX_UNION_DEPTH {
            return Err(format!("{}: allOf nests too deep to merge", node.location));
        }
        let other = self.nodes[part as usize].clone();
        match node.types.intersect(other.types) {
            Some(t) => node.types = t,
            None => node.enum_values = Some(Vec::new()),
        }
        for (k, v) in other.properties {
            match node.properties.get(&k).copied() {
                Some(mine) if mine != v => {
                    let mut both = self.nodes[mine as usize].clone();
                    self.merge_into(&mut both, v, depth + 1)?;
                    let merged = self.push(both)?;
                    node.properties.insert(k, merged);
                }
                Some(_) => {}
                None => {
                    node.properties.insert(k, v);
                }
            }
        }
        for r in other.required {
            if !node.required.contains(&r) {
                node.required.push(r);
            }
        }
        node.additional = match (&node.additional, other.additional) {
            (Additional::Forbidden, _) | (_, Additional::Forbidden) => Additional::Forbidden,
            (Additional::Schema(a), _) => Additional::Schema(*a),
            (Additional::Any, b) => b,
        };
        node.items = match (node.items, other.items) {
            (Some(a), Some(b)) if a != b => {
                let mut both = self.nodes[a as usize].clone();
                self.merge_into(&mut both, b, depth + 1)?;
                Some(self.push(both)?)
            }
            (a, b) => a.or(b),
        };
        node.enum_values = match (node.enum_values.take(), other.enum_values) {
            (Some(a), Some(b)) => Some(a.into_iter().filter(|v| b.contains(v)).collect()),
            (a, b) => a.or(b),
        };
        if !other.union.is_empty() {
            if node.union.is_empty() {
                node.union = other.union;
            } else {
                node.unsupported.push("anyOf".to_string());
            }
        }
        node.format = node.format.take().or(other.format);
        node.pattern = node.pattern.take().or(other.pattern);
        node.minimum = match (node.minimum, other.minimum) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        node.maximum = match (node.maximum, other.maximum) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        if node.xml.name.is_none() {
            node.xml.name = other.xml.name;
        }
        if node.xml.prefix.is_none() {
            node.xml.prefix = other.xml.prefix;
        }
        if other.xml.namespace.is_some() {
            node.xml.namespace = other.xml.namespace;
        }
        node.xml.namespace_given |= other.xml.namespace_given;
        for u in other.unsupported {
            if !node.unsupported.contains(&u) {
                node.unsupported.push(u);
            }
        }
        Ok(())
    }

    /// Resolves a `$ref` written in `doc_name` to (document name, document, JSON pointer).
    fn resolve_ref(
        &mut self,
        doc_name: &str,
        doc: &Arc<Value>,
        reference: &str,
        location: &str,
    ) -> Result<(String, Arc<Value>, String), String> {
        let (base, fragment) = match reference.split_once('#') {
            Some((b, f)) => (b, f),
            None => (reference, ""),
        };
        let fragment = percent_decode(fragment).ok_or_else(|| {
            format!("{location}: $ref \"{reference}\" has invalid percent-encoding")
        })?;

        let (tname, tdoc) = if base.is_empty() {
            (doc_name.to_string(), doc.clone())
        } else {
            self.load_doc(doc_name, doc, base).ok_or_else(|| {
                format!("{location}: $ref \"{reference}\" does not resolve to a known schema")
            })?
        };

        let pointer = if fragment.is_empty() || fragment.starts_with('/') {
            fragment
        } else {
            find_anchor(&tdoc, &fragment, "").ok_or_else(|| {
                format!("{location}: $ref \"{reference}\": no $anchor \"{fragment}\"")
            })?
        };
        if tdoc.pointer(&pointer).is_none() {
            return Err(format!(
                "{location}: $ref \"{reference}\" points at nothing (no {pointer} in {tname})"
            ));
        }
        Ok((tname, tdoc, pointer))
    }

    fn load_doc(
        &mut self,
        doc_name: &str,
        doc: &Arc<Value>,
        base: &str,
    ) -> Option<(String, Arc<Value>)> {
        let own_id = doc
            .get("$id")
            .and_then(Value::as_str)
            .map(|s| s.trim_end_matches('#'));
        if own_id == Some(base) {
            return Some((doc_name.to_string(), doc.clone()));
        }
        // A document with an `$id` resolves relative refs against it, as the validator
        // does; its file name comes second, so a document without one still finds its
        // neighbours.
        let mut candidates: Vec<String> = Vec::new();
        if !base.contains(':') {
            if let Some(id) = own_id
                && let Some(n) = join_relative(id, base)
            {
                candidates.push(n);
            }
            if let Some(n) = join_relative(doc_name, base) {
                candidates.push(n);
            }
        }
        candidates.push(base.to_string());
        for name in candidates {
            if let Some(d) = self.docs.get(&name) {
                return Some((name, d.clone()));
            }
            if let Some(d) = (self.resolve)(&name) {
                self.docs.insert(name.clone(), d.clone());
                return Some((name, d));
            }
        }
        None
    }
}

/// Escapes one JSON pointer token (`~` -> `~0`, `/` -> `~1`).
pub fn escape_pointer(token: &str) -> std::borrow::Cow<'_, str> {
    if token.contains(['~', '/']) {
        token.replace('~', "~0").replace('/', "~1").into()
    } else {
        token.into()
    }
}

/// Decodes `%XX` escapes of a URI fragment; None when an escape is broken or not UTF-8.
pub(crate) fn percent_decode(s: &str) -> Option<String> {
    if !s.contains('%') {
        return Some(s.to_string());
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// Resolves `rel` against the directory of `from` (both `/`-separated), normalising `.`
/// and `..`. None when `..` climbs above the root.
pub(crate) fn join_relative(from: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in rel.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            s => parts.push(s),
        }
    }
    Some(parts.join("/"))
}

/// The JSON pointer of the subschema declaring `$anchor: name`, searched depth-first
/// outside the keywords that hold data (`enum`, `const`, `examples`, `default`).
pub(crate) fn find_anchor(value: &Value, name: &str, at: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if map.get("$anchor").and_then(Value::as_str) == Some(name) {
                return Some(at.to_string());
            }
            map.iter().find_map(|(k, v)| {
                if k == "enum" || k == "const" || k == "examples" || k == "default" {
                    return None;
                }
                find_anchor(v, name, &format!("{at}/{}", escape_pointer(k)))
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_anchor(v, name, &format!("{at}/{i}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn no_docs(_: &str) -> Option<Arc<Value>> {
        None
    }

    #[test]
    fn local_refs_defs_definitions_and_escapes() {
        let doc = json!({
            "type": "object",
            "properties": {
                "a": {"$ref": "#/$defs/A"},
                "b": {"$ref": "#/definitions/B"},
                "c": {"$ref": "#/$defs/we~1ird~0name"},
                "d": {"$ref": "#/$defs/sp%20ace"}
            },
            "$defs": {
                "A": {"type": "integer"},
                "we/ird~name": {"type": "boolean"},
                "sp ace": {"type": "null"}
            },
            "definitions": {"B": {"type": ["string", "null"]}}
        });
        let s = Shape::build("t.json", &doc, &no_docs).unwrap();
        let r = s.root();
        let types = |p: &str| s.node(s.property(r, p).unwrap()).types;
        assert_eq!(types("a"), TypeSet::INTEGER);
        assert_eq!(types("b"), TypeSet(TypeSet::STRING.0 | TypeSet::NULL.0));
        assert_eq!(types("c"), TypeSet::BOOLEAN);
        assert_eq!(types("d"), TypeSet::NULL);
        assert_eq!(
            s.node(s.property(r, "a").unwrap()).location,
            "t.json#/$defs/A"
        );
        assert_eq!(s.property(r, "zz"), None);
    }

    #[test]
    fn draft7_ref_ignores_its_siblings_and_2020_12_applies_them() {
        let schema = |dialect: &str| {
            json!({
                "$schema": dialect,
                "type": "object",
                "properties": {"q": {"$ref": "#/definitions/Qty", "type": "string", "maxLength": 3}},
                "definitions": {"Qty": {"type": "integer"}}
            })
        };
        let doc = schema("http://json-schema.org/draft-07/schema#");
        let s = Shape::build("d7.json", &doc, &no_docs).unwrap();
        let q = s.node(s.property(s.root(), "q").unwrap());
        assert_eq!(q.types, TypeSet::INTEGER);
        assert_eq!(q.enum_values, None);
        assert_eq!(q.location, "d7.json#/definitions/Qty");

        let doc = schema("https://json-schema.org/draft/2020-12/schema");
        let s = Shape::build("d20.json", &doc, &no_docs).unwrap();
        let q = s.node(s.property(s.root(), "q").unwrap());
        // integer and string at once: no value has both types, so none is valid.
        assert_eq!(q.enum_values, Some(Vec::new()));
        assert_eq!(q.location, "d20.json#/properties/q");
    }

    #[test]
    fn recursive_schema_terminates() {
        let doc = json!({
            "$ref": "#/$defs/Node",
            "$defs": {"Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}
                }
            }}
        });
        let s = Shape::build("tree.json", &doc, &no_docs).unwrap();
        let r = s.root();
        let kids = s.property(r, "children").unwrap();
        assert!(s.is_array(kids));
        assert_eq!(s.items(kids), Some(r));
        assert_eq!(s.node(r).location, "tree.json#/$defs/Node");
    }

    #[test]
    fn circular_alias_is_an_error() {
        let doc = json!({"$ref": "#/$defs/A", "$defs": {"A": {"$ref": "#/$defs/B"}, "B": {"$ref": "#/$defs/A"}}});
        let err = Shape::build("c.json", &doc, &no_docs).unwrap_err();
        assert_eq!(
            err,
            "c.json#/$defs/A: circular $ref \"#/$defs/B\" never reaches a schema"
        );
    }

    #[test]
    fn unresolvable_refs_are_errors() {
        let doc = json!({"properties": {"x": {"$ref": "#/$defs/Missing"}}});
        let err = Shape::build("m.json", &doc, &no_docs).unwrap_err();
        assert_eq!(
            err,
            "m.json#/properties/x: $ref \"#/$defs/Missing\" points at nothing (no /$defs/Missing in m.json)"
        );
        let doc = json!({"properties": {"x": {"$ref": "other.json#/A"}}});
        let err = Shape::build("dir/m.json", &doc, &no_docs).unwrap_err();
        assert_eq!(
            err,
            "dir/m.json#/properties/x: $ref \"other.json#/A\" does not resolve to a known schema"
        );
    }

    #[test]
    fn cross_file_refs_resolve_relative_to_the_referring_file() {
        let common = Arc::new(
            json!({"$defs": {"Money": {"type": "object", "properties": {"amount": {"type": "string"}}}}}),
        );
        let internal = Arc::new(json!({"$id": "urn:x:internal", "type": "integer"}));
        let seen = std::sync::Mutex::new(Vec::new());
        let resolve = |n: &str| -> Option<Arc<Value>> {
            seen.lock().unwrap().push(n.to_string());
            match n {
                "acme/common.schema.json" => Some(common.clone()),
                "internal/x.json" | "urn:x:internal" => Some(internal.clone()),
                _ => None,
            }
        };
        let doc = json!({
            "properties": {
                "total": {"$ref": "common.schema.json#/$defs/Money"},
                "n": {"$ref": "../internal/x.json"},
                "m": {"$ref": "urn:x:internal"}
            }
        });
        let s = Shape::build("acme/order.json", &doc, &resolve).unwrap();
        let r = s.root();
        let total = s.property(r, "total").unwrap();
        assert_eq!(
            s.node(total).location,
            "acme/common.schema.json#/$defs/Money"
        );
        assert_eq!(
            s.node(s.property(total, "amount").unwrap()).types,
            TypeSet::STRING
        );
        assert_eq!(
            s.node(s.property(r, "n").unwrap()).location,
            "internal/x.json#"
        );
        assert_eq!(
            s.node(s.property(r, "m").unwrap()).location,
            "urn:x:internal#"
        );
    }

    #[test]
    fn all_of_merges_and_unions_are_kept() {
        let doc = json!({
            "allOf": [
                {"type": ["object", "null"], "properties": {"a": {"type": "string"}}, "required": ["a"]},
                {"type": "object", "properties": {"b": {"const": 5}}, "required": ["b"], "additionalProperties": false}
            ],
            "properties": {
                "u": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
                "e": {"enum": ["x", "y"], "const": "y"},
                "n": {"type": "number", "allOf": [{"type": "integer", "minimum": 1}]}
            }
        });
        let s = Shape::build("a.json", &doc, &no_docs).unwrap();
        let r = s.root();
        let root = s.node(r);
        assert_eq!(root.types, TypeSet::OBJECT);
        assert_eq!(root.required, vec!["a".to_string(), "b".to_string()]);
        assert_eq!(root.additional, Additional::Forbidden);
        assert_eq!(
            root.properties.keys().collect::<Vec<_>>(),
            vec!["u", "e", "n", "a", "b"]
        );
        assert_eq!(
            s.node(s.property(r, "b").unwrap()).enum_values,
            Some(vec![json!(5)])
        );
        let u = s.property(r, "u").unwrap();
        assert_eq!(s.node(u).union.len(), 2);
        assert_eq!(
            s.scalar_types(u),
            TypeSet(TypeSet::STRING.0 | TypeSet::INTEGER.0)
        );
        let e = s.property(r, "e").unwrap();
        assert_eq!(s.node(e).enum_values, Some(vec![json!("y")]));
        assert_eq!(s.scalar_types(e), TypeSet::STRING);
        let n = s.node(s.property(r, "n").unwrap());
        assert_eq!((n.types, n.minimum), (TypeSet::INTEGER, Some(1.0)));
    }

    #[test]
    fn property_looks_through_unions_then_additional() {
        let doc = json!({
            "anyOf": [
                {"properties": {"x": {"type": "string"}}},
                {"properties": {"y": {"type": "array", "items": {"type": "integer"}}}}
            ],
            "additionalProperties": {"type": "boolean"}
        });
        let s = Shape::build("u.json", &doc, &no_docs).unwrap();
        let r = s.root();
        assert_eq!(s.node(s.property(r, "x").unwrap()).types, TypeSet::STRING);
        let y = s.property(r, "y").unwrap();
        assert_eq!(s.node(s.items(y).unwrap()).types, TypeSet::INTEGER);
        assert_eq!(
            s.node(s.property(r, "other").unwrap()).types,
            TypeSet::BOOLEAN
        );
        let arr =
            json!({"anyOf": [{"type": "null"}, {"type": "array", "items": {"type": "string"}}]});
        let s = Shape::build("v.json", &arr, &no_docs).unwrap();
        assert!(s.is_array(s.root()));
        assert!(s.allows_null(s.root()));
        assert_eq!(s.node(s.items(s.root()).unwrap()).types, TypeSet::STRING);
    }

    #[test]
    fn xml_namespace_is_inherited_until_overridden() {
        let doc = json!({
            "properties": {"Envelope": {
                "xml": {"namespace": "urn:soap", "prefix": "soap"},
                "properties": {"Body": {
                    "properties": {"Order": {
                        "xml": {"namespace": "urn:acme", "name": "PurchaseOrder"},
                        "properties": {"Lines": {"type": "array", "items": {"$ref": "#/$defs/Line"}}}
                    }}
                }}
            }},
            "$defs": {"Line": {"type": "object"}}
        });
        let s = Shape::build("soap.json", &doc, &no_docs).unwrap();
        let env = s.property(s.root(), "Envelope").unwrap();
        let body = s.property(env, "Body").unwrap();
        let order = s.property(body, "Order").unwrap();
        let line = s.items(s.property(order, "Lines").unwrap()).unwrap();
        assert_eq!(s.node(s.root()).xml, XmlMeta::default());
        assert_eq!(
            s.node(env).xml,
            XmlMeta {
                name: None,
                namespace: Some("urn:soap".into()),
                prefix: Some("soap".into()),
                namespace_given: true
            }
        );
        assert_eq!(s.node(body).xml.namespace.as_deref(), Some("urn:soap"));
        assert_eq!(
            s.node(order).xml,
            XmlMeta {
                name: Some("PurchaseOrder".into()),
                namespace: Some("urn:acme".into()),
                prefix: None,
                namespace_given: true
            }
        );
        assert_eq!(s.node(line).xml.namespace.as_deref(), Some("urn:acme"));
    }

    #[test]
    fn unsupported_keywords_are_recorded_annotations_are_not() {
        let doc = json!({
            "title": "t", "description": "d", "format": "email", "minLength": 1, "$comment": "c",
            "examples": [], "default": "",
            "properties": {
                "a": {"if": {}, "then": {}, "else": {}, "not": {}},
                "b": {"patternProperties": {}, "propertyNames": {}, "unevaluatedProperties": false},
                "c": {"items": [{}], "contains": {}, "prefixItems": [{}]},
                "d": {"$dynamicRef": "#x", "dependentRequired": {}, "dependentSchemas": {}, "unevaluatedItems": false}
            }
        });
        let s = Shape::build("k.json", &doc, &no_docs).unwrap();
        let r = s.root();
        assert!(s.node(r).unsupported.is_empty());
        let un = |p: &str| s.node(s.property(r, p).unwrap()).unsupported.clone();
        assert_eq!(un("a"), vec!["if", "then", "else", "not"]);
        assert_eq!(
            un("b"),
            vec![
                "patternProperties",
                "propertyNames",
                "unevaluatedProperties"
            ]
        );
        assert_eq!(un("c"), vec!["prefixItems", "contains", "items"]);
        assert_eq!(
            un("d"),
            vec![
                "dependentSchemas",
                "dependentRequired",
                "unevaluatedItems",
                "$dynamicRef"
            ]
        );
    }

    #[test]
    fn anchors_and_id_self_refs() {
        let doc = json!({
            "$id": "https://example.com/s/root.json",
            "properties": {
                "a": {"$ref": "#item"},
                "b": {"$ref": "https://example.com/s/root.json#/$defs/B"}
            },
            "$defs": {"I": {"$anchor": "item", "type": "integer"}, "B": {"type": "boolean"}}
        });
        let s = Shape::build("root.json", &doc, &no_docs).unwrap();
        let r = s.root();
        assert_eq!(s.node(s.property(r, "a").unwrap()).types, TypeSet::INTEGER);
        assert_eq!(s.node(s.property(r, "b").unwrap()).types, TypeSet::BOOLEAN);
    }

    #[test]
    fn false_schema_and_contradictions_admit_nothing() {
        let doc = json!({"properties": {"f": false, "c": {"allOf": [{"type": "string"}, {"type": "integer"}]}}});
        let s = Shape::build("f.json", &doc, &no_docs).unwrap();
        assert!(s.node(s.property(s.root(), "f").unwrap()).is_never());
        assert!(s.node(s.property(s.root(), "c").unwrap()).is_never());
    }
}
