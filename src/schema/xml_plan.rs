//! The XML names a schema gives its members, and the encode plan built from them.
//!
//! The `xml` keyword of a schema (`name`, `namespace`, `prefix`) decides what element or
//! attribute each member is written as. These answers depend only on the schema, so the
//! plan of every node is worked out once when the schema is loaded ([`EncodePlan`]) and
//! the XML encoder in `codec::xml` only looks them up. The plan lives beside the schema
//! so that a compiled [`super::Schema`] can hold it without the schema module knowing the
//! codecs.

use std::collections::HashMap;

use super::{NodeId, Shape};

/// The XML element name and namespace of member `key` whose schema is `member`: the
/// member's `xml.name` (or, for an array, its items'), else the key.
pub(crate) fn element_name<'s: 'k, 'k>(
    shape: &'s Shape,
    key: &'k str,
    member: NodeId,
) -> (&'k str, Option<&'s str>) {
    let node = shape.node(member);
    let mut name = node.xml.name.as_deref();
    let mut ns = node.xml.namespace.as_deref();
    if shape.is_array(member)
        && let Some(items) = shape.items(member)
    {
        let item = shape.node(items);
        name = name.or(item.xml.name.as_deref());
        if item.xml.namespace.is_some() {
            ns = item.xml.namespace.as_deref();
        }
    }
    (name.unwrap_or(key), ns)
}

/// What the XML encoder needs of every node of one schema, worked out once.
///
/// Encoding asks, for every member of every object, which schema node describes it, what
/// its element or attribute is called, in which namespace, and where it goes among its
/// siblings. The answers depend only on the schema, so they are worked out when the schema
/// is loaded, and writing a document only looks them up. Prefixes are not part of the
/// plan: they are handed out per document, in first-use order.
#[derive(Debug, Clone, Default)]
pub struct EncodePlan {
    /// One entry per node of the shape, in the arena's order.
    nodes: Box<[NodePlan]>,
}

/// Below this many declared properties a member's entry is found by comparing keys in
/// turn, which beats hashing the key; above it a hash map does, keeping wide objects linear.
const PLAN_LINEAR_LOOKUP_MAX: usize = 8;

/// The slot of a member the node's plan does not list.
const UNLISTED: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
struct NodePlan {
    /// The properties the node declares ([`Shape::property_list`]), in writing order.
    members: Box<[PlannedMember]>,
    /// Key to index in `members`, for nodes declaring many properties.
    index: Option<HashMap<Box<str>, u32>>,
}

/// [`Written`] of one declared property, owned.
#[derive(Debug, Clone)]
struct PlannedMember {
    key: Box<str>,
    element: Option<NodeId>,
    local: Box<str>,
    namespace: Option<Box<str>>,
    prefix: Option<Box<str>>,
    attribute: Box<str>,
    attribute_namespace: Option<Box<str>>,
    name_ok: bool,
}

impl EncodePlan {
    /// The plan of every node of `shape`.
    pub fn new(shape: &Shape) -> EncodePlan {
        let nodes = (0..shape.nodes.len())
            .filter_map(|id| NodeId::try_from(id).ok())
            .map(|id| {
                let members: Box<[PlannedMember]> = shape
                    .property_list(id)
                    .into_iter()
                    .map(|(key, _)| Written::describe(shape, Some(id), key).to_planned(key))
                    .collect();
                let index = (members.len() > PLAN_LINEAR_LOOKUP_MAX).then(|| {
                    members
                        .iter()
                        .zip(0u32..)
                        .map(|(m, i)| (m.key.clone(), i))
                        .collect()
                });
                NodePlan { members, index }
            })
            .collect();
        EncodePlan { nodes }
    }

    /// The position of member `key` among the properties `node` declares, [`UNLISTED`]
    /// when it declares no such property. `guess` is tried first: members mostly come in
    /// the schema's order, each in the slot after the previous one's.
    /// The planned description of the member in `slot` of `node`, when the plan lists one.
    pub(crate) fn planned(&self, node: Option<NodeId>, slot: u32) -> Option<Written<'_>> {
        node.and_then(|n| self.nodes.get(n as usize))
            .and_then(|p| p.members.get(slot as usize))
            .map(PlannedMember::as_member)
    }

    pub(crate) fn slot(&self, node: Option<NodeId>, key: &str, guess: u32) -> u32 {
        let Some(plan) = node.and_then(|n| self.nodes.get(n as usize)) else {
            return UNLISTED;
        };
        if let Some(m) = plan.members.get(guess as usize)
            && *m.key == *key
        {
            return guess;
        }
        match &plan.index {
            Some(index) => index.get(key).copied().unwrap_or(UNLISTED),
            None => plan
                .members
                .iter()
                .zip(0u32..)
                .find(|(m, _)| *m.key == *key)
                .map_or(UNLISTED, |(_, i)| i),
        }
    }
}

/// How one member of an object is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Written<'x> {
    /// The node of one element's value (the item node when the member is an array).
    pub(crate) element: Option<NodeId>,
    /// Element local name (`xml.name`, also of an array's items, else the key).
    pub(crate) local: &'x str,
    /// The element's namespace; None means the route's.
    pub(crate) namespace: Option<&'x str>,
    /// The prefix the schema prefers for a namespace other than the route's.
    pub(crate) prefix: Option<&'x str>,
    /// Attribute name, for `@` keys (`xml.name`, else the key without its `@`).
    pub(crate) attribute: &'x str,
    /// The attribute's namespace, for `@` keys: the `xml.namespace` its own schema gives,
    /// else none (an unprefixed attribute is in no namespace).
    pub(crate) attribute_namespace: Option<&'x str>,
    /// Whether the name this member is written under (attribute or element) is an XML name.
    pub(crate) name_ok: bool,
}

impl<'x> Written<'x> {
    /// Written `key` of an object whose schema is `parent`, as the schema describes it.
    pub(crate) fn describe(shape: &'x Shape, parent: Option<NodeId>, key: &'x str) -> Written<'x> {
        let node = parent.and_then(|n| shape.property(n, key));
        let bare = key.strip_prefix('@');
        let mut member = Written {
            element: node.map(|m| member_element(shape, m)),
            local: key,
            namespace: None,
            prefix: None,
            attribute: bare.unwrap_or(key),
            attribute_namespace: None,
            name_ok: false,
        };
        if let Some(m) = node {
            let (local, ns) = element_name(shape, key, m);
            let meta = &shape.node(m).xml;
            member.local = local;
            member.namespace = ns;
            member.prefix = meta.prefix.as_deref();
            if let Some(name) = meta.name.as_deref() {
                member.attribute = name;
            }
            if meta.namespace_given {
                member.attribute_namespace = meta.namespace.as_deref();
            }
        }
        member.name_ok = is_xml_name(if bare.is_some() {
            member.attribute
        } else {
            member.local
        });
        member
    }

    fn to_planned(self, key: &str) -> PlannedMember {
        PlannedMember {
            key: key.into(),
            element: self.element,
            local: self.local.into(),
            namespace: self.namespace.map(Into::into),
            prefix: self.prefix.map(Into::into),
            attribute: self.attribute.into(),
            attribute_namespace: self.attribute_namespace.map(Into::into),
            name_ok: self.name_ok,
        }
    }
}

impl PlannedMember {
    fn as_member(&self) -> Written<'_> {
        Written {
            element: self.element,
            local: &self.local,
            namespace: self.namespace.as_deref(),
            prefix: self.prefix.as_deref(),
            attribute: &self.attribute,
            attribute_namespace: self.attribute_namespace.as_deref(),
            name_ok: self.name_ok,
        }
    }
}

/// The node of one element's value for member schema `member` (items for arrays).
pub(crate) fn member_element(shape: &Shape, member: NodeId) -> NodeId {
    if shape.is_array(member) {
        shape.items(member).unwrap_or(member)
    } else {
        member
    }
}

/// An XML name without a colon (NCName), with the Unicode ranges simplified to "any
/// non-ASCII character" (which admits a few characters XML does not).
pub(crate) fn is_xml_name(s: &str) -> bool {
    let mut chars = s.chars();
    let Some(first) = chars.next() else {
        return false;
    };
    (first.is_ascii_alphabetic() || first == '_' || !first.is_ascii())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') || !c.is_ascii())
}
