//! A schema as a resolved type tree: `$ref`s followed (across files), `allOf` merged,
//! `anyOf`/`oneOf` kept as unions. An arena of nodes so recursive schemas are finite.
//!
//! CONTRACT NOTE: shared by the XML codec and the mapping checker.

use indexmap::IndexMap;
use serde_json::Value;

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
}

/// A resolved schema: an arena of nodes and the root.
#[derive(Debug, Clone)]
pub struct Shape {
    pub nodes: Vec<ShapeNode>,
    pub root: NodeId,
}

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
        let _ = (id, name);
        todo!("Shape::property")
    }

    /// The item node of an array node (looking through unions).
    pub fn items(&self, id: NodeId) -> Option<NodeId> {
        let _ = id;
        todo!("Shape::items")
    }

    /// Builds the shape of one schema document. `resolve` returns other documents by the
    /// name a `$ref` uses (a path relative to the schemas directory, or an `$id`).
    pub fn build(
        name: &str,
        document: &Value,
        resolve: &dyn Fn(&str) -> Option<std::sync::Arc<Value>>,
    ) -> Result<Shape, String> {
        let _ = (name, document, resolve);
        todo!("Shape::build")
    }
}
