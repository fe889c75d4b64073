//! Compiles the schema documents into the validator's node table: follows `$ref`s,
//! admits the keywords the validator covers and refuses the rest, so a schema it cannot
//! judge exactly is left to `jsonschema` whole.

use super::*;
use crate::schema::refs;

pub(super) struct Builder<'d> {
    pub(super) docs: &'d Documents,
    pub(super) draft: Draft,
    pub(super) nodes: Vec<Node>,
    /// (document, JSON pointer) of a compiled subschema -> its node.
    pub(super) memo: HashMap<(&'d str, String), Id>,
    /// Nodes allocated whose subschema is still to compile.
    pub(super) todo: Vec<(Id, &'d str, String)>,
    /// Documents found fit (same draft, no embedded resources).
    pub(super) checked: Vec<&'d str>,
}

impl<'d> Builder<'d> {
    pub(super) fn doc(&self, name: &str) -> Option<&'d Value> {
        self.docs.by_name.get(name).map(|d| d.as_ref())
    }

    /// The node of the subschema at `pointer` in `doc`, allocated (and queued) on first
    /// sight. A pure `$ref` is its target, so aliases cost nothing when validating.
    pub(super) fn node_for(&mut self, doc: &'d str, pointer: String) -> Option<Id> {
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
    pub(super) fn follow_aliases(
        &mut self,
        doc: &'d str,
        pointer: String,
    ) -> Option<(&'d str, String)> {
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
    pub(super) fn resolve(&mut self, from: &'d str, reference: &str) -> Option<(&'d str, String)> {
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
    pub(super) fn doc_of(&self, from: &'d str, base: &str) -> Option<&'d str> {
        let from_doc = self.docs.by_name.get(from)?;
        let own_id = from_doc.get("$id").and_then(Value::as_str);
        let absolute = base.contains(':');
        if absolute {
            // A base that is a relative name too is read as a URI by the registry and
            // as the name by a lookup: left to `jsonschema`.
            if own_id.map(|id| id.trim_end_matches('#')) != Some(base)
                && self.docs.by_name.contains_key(base)
            {
                return None;
            }
        } else {
            // Relative to the document's own URI: `file:///schemas/<name>`, unless an
            // `$id` replaces it. Only plain paths, where joining names is what RFC 3986
            // does.
            let plain = |s: &str| {
                !s.is_empty()
                    && s.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'/')
                    })
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
        }
        // Of the documents the shared resolution would try, only those the registry is
        // certain to agree on: an absolute base by `$id`, a relative one joined to the
        // document's name (never looked up as written).
        let joined = if absolute {
            None
        } else {
            refs::join_relative(from, base)
        };
        let certain = |name: &str| {
            let name = if absolute {
                self.docs.by_id.get(name)?.as_str()
            } else if joined.as_deref() == Some(name) {
                name
            } else {
                return None;
            };
            let (name, doc) = self.docs.by_name.get_key_value(name)?;
            Some((name.clone(), doc.clone()))
        };
        let (name, _) = refs::document(from, from_doc, base, certain)?;
        self.docs
            .by_name
            .get_key_value(&name)
            .map(|(n, _)| n.as_str())
    }

    /// Admits a document once: it must be read in the root's draft, and hold no embedded
    /// resource (`$id` or `$schema` below its root), which would move the base URI or the
    /// draft under the subschemas it holds.
    pub(super) fn check_doc(&mut self, name: &'d str) -> Option<()> {
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

    pub(super) fn build(&mut self, doc: &'d str, pointer: &str) -> Option<Node> {
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
    pub(super) fn jsonschema(&self, schema: Map<String, Value>) -> Option<jsonschema::Validator> {
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
pub(super) fn is_leaf(map: &Map<String, Value>) -> bool {
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
