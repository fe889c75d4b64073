//! Element and attribute names against the schema: which schema entry an element or
//! attribute is, and which it would be mistaken for (a conflict).

use super::*;

/// The same key: schema keys are compared by address first, since a repeated element
/// carries the very key of its previous occurrence.
pub(super) fn same_key(a: &str, b: &str) -> bool {
    a.len() == b.len() && (std::ptr::eq(a.as_ptr(), b.as_ptr()) || same_str(a, b))
}

/// Where the element being matched sits: its namespace URI and local name.
pub(super) struct ElementName<'n> {
    pub(super) ns: Option<&'n str>,
    pub(super) local: &'n str,
    /// Whether `ns` is the route's namespace.
    pub(super) route: bool,
}

/// `a == b`, telling most unequal names apart by length and first byte without a call
/// to compare memory.
pub(super) fn same_str(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.as_bytes().first() == b.as_bytes().first() && a == b
}

/// What the schema says about one child element.
pub(super) struct ChildMatch<'s> {
    pub(super) key: Cow<'s, str>,
    /// Schema node of one element's value.
    pub(super) element: Option<NodeId>,
    pub(super) array: bool,
    /// Whether the schema names the element (a property), rather than taking it as
    /// any element (`additionalProperties`) or not describing it.
    pub(super) named: bool,
}

/// A child element that is not the element the schema names with its local name or key:
/// the decoder reports it rather than taking one for the other.
pub(super) struct Conflict;

pub(super) fn split_qname(qname: &str) -> Option<(&str, &str)> {
    // Names are short: a plain loop beats a vectorised search's set-up.
    let colon = qname.bytes().position(|b| b == b':')?;
    let (prefix, rest) = qname.split_at_checked(colon)?;
    Some((prefix, rest.get(1..).unwrap_or_default()))
}

/// `<Name> in namespace "urn"` or `<Name> in no namespace` for messages.
pub(super) fn describe(local: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("<{local}> in namespace \"{ns}\""),
        None => format!("<{local}> in no namespace"),
    }
}

/// `attribute "name" in namespace "urn"` or `... in no namespace` for messages.
pub(super) fn describe_attribute(local: &str, ns: Option<&str>) -> String {
    match ns {
        Some(ns) => format!("attribute \"{local}\" in namespace \"{ns}\""),
        None => format!("attribute \"{local}\" in no namespace"),
    }
}

pub(super) fn generic<'s>(local: &str) -> ChildMatch<'s> {
    ChildMatch {
        key: Cow::Owned(local.to_string()),
        element: None,
        array: false,
        named: false,
    }
}

/// The elements node `id` names that a child `name` matching none of them would be
/// taken for: those with its local name (in another namespace), and those whose key is
/// its local name, the key it would be given. None when an entry the node names matches
/// `name` (after an `additionalProperties` entry that took it first).
pub(super) fn conflicting_elements<'s, 'n>(
    shape: &'s Shape,
    id: NodeId,
    name: &'n ElementName<'n>,
) -> impl Iterator<Item = &'s XmlChild> + use<'s, 'n> {
    let elements = shape.xml_elements(id);
    let matched = elements.iter().any(|child| {
        child.name.is_some()
            && child_matches(child.name.as_deref(), child.namespace.as_deref(), name)
    });
    elements.iter().filter(move |child| {
        !matched
            && (child.name.as_deref() == Some(name.local)
                || child.key.as_deref() == Some(name.local))
    })
}

/// The attribute node `id` describes that an attribute with local name `local` matching
/// none of them would be taken for: one with that local name (in another namespace), or
/// whose key is `@local`, the key it would be given.
pub(super) fn conflicting_attribute<'s>(
    shape: &'s Shape,
    id: NodeId,
    local: &str,
) -> Option<&'s XmlAttribute> {
    shape
        .xml_attributes(id)
        .iter()
        .find(|a| *a.name == *local || a.key.strip_prefix('@') == Some(local))
}

/// What node `id` says of child element `name`: the first of the elements it describes
/// (see [`Shape::xml_elements`]) with its local name (any, for `additionalProperties`)
/// and namespace (the route's where the schema names none).
pub(super) fn find_element<'s>(
    shape: &'s Shape,
    id: NodeId,
    name: &ElementName<'_>,
) -> Option<ChildMatch<'s>> {
    let at = shape
        .xml_elements(id)
        .iter()
        .position(|child| child_matches(child.name.as_deref(), child.namespace.as_deref(), name))?;
    child_match(shape, id, at, name)
}

/// [`find_element`] for the next child of an element, given `hint`, the position after
/// that element's last matched child: the entry there (children in the schema's order),
/// then the one before it (a repeated element), are tried alone when no earlier entry
/// could match the same element; otherwise, or when neither matches, all are scanned.
/// `hint` moves past the entry found, so a wide element in order costs one comparison a
/// child.
pub(super) fn find_child<'s>(
    shape: &'s Shape,
    id: NodeId,
    name: &ElementName<'_>,
    hint: &mut usize,
) -> Option<ChildMatch<'s>> {
    let elements = shape.xml_elements(id);
    let at = [*hint, hint.wrapping_sub(1)]
        .into_iter()
        .find(|&i| {
            elements.get(i).is_some_and(|child| {
                child.unshadowed
                    && child_matches(child.name.as_deref(), child.namespace.as_deref(), name)
            })
        })
        .or_else(|| {
            elements.iter().position(|child| {
                child_matches(child.name.as_deref(), child.namespace.as_deref(), name)
            })
        })?;
    *hint = at + 1;
    child_match(shape, id, at, name)
}

/// Whether a schema entry for element `local` (any, when None) in namespace `ns` (the
/// route's, when None) describes element `name`.
pub(super) fn child_matches(local: Option<&str>, ns: Option<&str>, name: &ElementName<'_>) -> bool {
    local.is_none_or(|local| same_str(local, name.local))
        && match ns {
            None => name.route,
            Some(ns) => name.ns == Some(ns),
        }
}

/// What entry `at` of node `id`'s [`Shape::xml_elements`] says of element `name`.
pub(super) fn child_match<'s>(
    shape: &'s Shape,
    id: NodeId,
    at: usize,
    name: &ElementName<'_>,
) -> Option<ChildMatch<'s>> {
    let child = shape.xml_elements(id).get(at)?;
    Some(ChildMatch {
        key: match &child.key {
            Some(key) => Cow::Borrowed(key),
            None => Cow::Owned(name.local.to_string()),
        },
        element: child.element,
        array: child.array,
        named: child.key.is_some(),
    })
}
