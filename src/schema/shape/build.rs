//! Builds the [`Shape`] arena from the schema documents: resolves `$ref`s, merges
//! `allOf`, flattens unions and records the XML names of every member.

use super::*;
use crate::schema::refs::{self, RefError};

/// A memo key: the same subschema reached with a different inherited namespace is a
/// different node (its elements live elsewhere).
pub(super) type MemoKey = (String, String, Option<String>);

pub(super) struct Builder<'r> {
    pub(super) resolve: &'r dyn Fn(&str) -> Option<Arc<Value>>,
    pub(super) nodes: Vec<ShapeNode>,
    pub(super) memo: HashMap<MemoKey, NodeId>,
    pub(super) docs: HashMap<String, Arc<Value>>,
    /// Pure-`$ref` chains being followed, to report `A -> B -> A` instead of looping.
    pub(super) aliasing: Vec<MemoKey>,
    /// Nodes whose fields are still being filled (reached again only through recursion).
    pub(super) building: Vec<NodeId>,
}

/// Keywords that change nothing about the shape of a value: a `$ref` with only these beside
/// it is an alias of its target.
pub(super) fn is_annotation(keyword: &str) -> bool {
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
pub(super) fn ref_ignores_siblings(doc: &Value) -> bool {
    matches!(
        jsonschema::Draft::default().detect(doc),
        jsonschema::Draft::Draft4 | jsonschema::Draft::Draft6 | jsonschema::Draft::Draft7
    )
}

impl Builder<'_> {
    pub(super) fn location(doc: &str, pointer: &str) -> String {
        format!("{doc}#{pointer}")
    }

    pub(super) fn build(
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

    pub(super) fn push(&mut self, node: ShapeNode) -> Result<NodeId, String> {
        let id = NodeId::try_from(self.nodes.len())
            .map_err(|_| format!("{}: schema has too many nodes", node.location))?;
        self.nodes.push(node);
        Ok(id)
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn fill(
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
    pub(super) fn merge_into(
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
    pub(super) fn resolve_ref(
        &mut self,
        doc_name: &str,
        doc: &Arc<Value>,
        reference: &str,
        location: &str,
    ) -> Result<(String, Arc<Value>, String), String> {
        let find = |name: &str| {
            if let Some(d) = self.docs.get(name) {
                return Some((name.to_string(), d.clone()));
            }
            let d = (self.resolve)(name)?;
            self.docs.insert(name.to_string(), d.clone());
            Some((name.to_string(), d))
        };
        match refs::resolve(doc_name, doc, reference, find) {
            Ok(r) => Ok((r.name, r.doc, r.pointer)),
            Err(RefError::Escape) => Err(format!(
                "{location}: $ref \"{reference}\" has invalid percent-encoding"
            )),
            Err(RefError::UnknownDocument) => Err(format!(
                "{location}: $ref \"{reference}\" does not resolve to a known schema"
            )),
            Err(RefError::NoAnchor(fragment)) => Err(format!(
                "{location}: $ref \"{reference}\": no $anchor \"{fragment}\""
            )),
            Err(RefError::NothingAt { pointer, document }) => Err(format!(
                "{location}: $ref \"{reference}\" points at nothing (no {pointer} in {document})"
            )),
        }
    }
}
