//! The schema's structure as the checker walks it: a member's node, the flow a path
//! reads, and the leaves of a subtree.

use super::*;

/// One step down the shape: array index through `items`, else a property. The bool is
/// true when the step may find nothing (optional property, array index).
pub(super) fn step(shape: &Shape, cur: NodeId, seg: &str) -> Option<(NodeId, bool)> {
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

/// Whether `seg` is a member `cur` names (among its own properties or an alternative's),
/// as opposed to one only `additionalProperties` admits.
pub(super) fn names_member(shape: &Shape, cur: NodeId, seg: &str) -> bool {
    fn at(shape: &Shape, id: NodeId, seg: &str, depth: usize) -> bool {
        let Some(node) = shape.nodes.get(id as usize) else {
            return false;
        };
        node.properties.contains_key(seg)
            || (depth < MAX_ALTERNATIVES_DEPTH
                && node.union.iter().any(|&alt| at(shape, alt, seg, depth + 1)))
    }
    at(shape, cur, seg, 0)
}

/// How deep [`names_member`] follows alternatives nested in alternatives, as the shape's
/// own property lookup does.
const MAX_ALTERNATIVES_DEPTH: usize = 16;

/// Resolves segments; returns the node and whether any step is optional.
pub(super) fn walk_shape(
    shape: &Shape,
    start: NodeId,
    segments: &[String],
) -> Result<(NodeId, bool), ()> {
    let mut cur = start;
    let mut missing = false;
    for seg in segments {
        let (next, optional) = step(shape, cur, seg).ok_or(())?;
        missing |= optional;
        cur = next;
    }
    Ok((cur, missing))
}

pub(super) fn flow_of(shape: &Shape, id: NodeId, maybe_missing: bool) -> Flow<'_> {
    let types = shape.scalar_types(id);
    Flow {
        origin: Some((shape, id)),
        types: without_null(types),
        enum_values: known_values(shape, id, 0)
            .map(|vs| vs.into_iter().filter(|v| !v.is_null()).collect()),
        nullable: !types.is_any() && types.names(TypeSet::NULL),
        maybe_missing,
        unknown: false,
    }
}

/// Deepest nesting of unions whose constants are gathered by [`known_values`].
const MAX_KNOWN_DEPTH: usize = 8;

/// The values a source node can take, when the schema says: its `enum` or `const`, the
/// constants of a union whose alternatives each list theirs (`oneOf: [{const: a}, ...]`),
/// or `true` and `false` for a boolean. Null is among them where the schema allows it.
pub(super) fn known_values(shape: &Shape, id: NodeId, depth: usize) -> Option<Vec<Value>> {
    let node = shape.nodes.get(id as usize)?;
    if let Some(values) = &node.enum_values {
        return Some(values.clone());
    }
    let types = shape.scalar_types(id);
    if !node.union.is_empty() && depth < MAX_KNOWN_DEPTH {
        let mut out = Vec::new();
        for &alt in &node.union {
            if shape.scalar_types(alt) == TypeSet::NULL {
                out.push(Value::Null);
            } else {
                out.extend(known_values(shape, alt, depth + 1)?);
            }
        }
        return Some(out);
    }
    if types.is_any() || without_null(types) != TypeSet::BOOLEAN {
        return None;
    }
    let mut out = vec![Value::Bool(true), Value::Bool(false)];
    if types.names(TypeSet::NULL) {
        out.push(Value::Null);
    }
    Some(out)
}

/// Compares a copied source value's shape with the target's, member by member: every
/// required target member must exist (and be required) in the source, no source member may
/// land where the target forbids additional properties, and member types must fit.
/// `seen` stops recursive schemas; problems come back as (relative pointer, message).
pub(super) fn structure(
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
pub(super) fn collect_leaves(
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
