//! XSD to the JSON Schema of an element's XML view.
//!
//! The view is the one the XML decoder builds (see the design's "XML and JSON"): the root's
//! local name as the one top-level key, attributes as `@name`, the text beside attributes as
//! `#text`, a repeating element as an array even when it occurs once. Every element schema
//! carries its namespace in `xml.namespace`, so the result decodes the same whatever the
//! route's default namespace. Named types become `$defs` (which is also how recursion
//! closes); anonymous ones are written in place. Decimals stay strings with a pattern, as
//! the design wants for money; integers become integers with their type's bounds.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::{Map, Value, json};

use super::model::{Global, Node, SchemaSet, Space};
use super::simple::{Simple, apply_facets, builtin, convert, finish_simple, string};
use super::{QName, Warning, XS, XsdError, parse};

/// What an import produced.
#[derive(Debug)]
pub struct Imported {
    /// The JSON Schema document (2020-12).
    pub schema: Value,
    /// Constructs read but not carried in full, each with its file and position.
    pub warnings: Vec<Warning>,
    /// The element the schema describes.
    pub root: QName,
    /// How many XSD files the set spans.
    pub files: usize,
}

/// Derivations deeper than this are taken for a loop (a type restricting itself).
const MAX_DERIVATION: usize = 64;

/// Imports `file` (and the files it includes and imports): the JSON Schema of the XML view
/// of global element `element` (its local name, or `{namespace}name`), or of the file's
/// only global element.
pub fn import(file: &Path, element: Option<&str>) -> Result<Imported, XsdError> {
    let (set, warnings) = parse::load(file)?;
    let candidates: Vec<(QName, Global)> = match element {
        Some(_) => (0..set.docs.len())
            .flat_map(|d| set.elements_of(d))
            .collect(),
        None => set.elements_of(0),
    };
    let chosen: Vec<&(QName, Global)> = match element {
        Some(name) => candidates
            .iter()
            .filter(|(q, _)| q.local == name || q.to_string() == name)
            .collect(),
        None => candidates.iter().collect(),
    };
    let (root, global) = match chosen.as_slice() {
        [one] => (*one).clone(),
        _ => {
            let names = candidates.iter().map(|(q, _)| q.to_string()).collect();
            return Err(match element {
                Some(name) => XsdError::NoSuchElement {
                    name: name.to_string(),
                    candidates: names,
                },
                None => XsdError::ChooseElement {
                    file: file.to_path_buf(),
                    candidates: names,
                },
            });
        }
    };
    let mut importer = Importer {
        set: &set,
        defs: Map::new(),
        names: HashMap::new(),
        used: HashSet::new(),
        warnings,
        warned: HashSet::new(),
        heads: substitution_heads(&set),
    };
    let (key, mut item, _, _) = importer.element(global.doc, set.node(global), true)?;
    importer.admit_schema_location(&mut item);
    let file_name = file
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut schema = Map::new();
    schema.insert(
        "$schema".into(),
        json!("https://json-schema.org/draft/2020-12/schema"),
    );
    schema.insert("title".into(), json!(format!("XML view of {root}")));
    schema.insert(
        "description".into(),
        json!(format!(
            "Imported from {file_name} by `schemagate import xsd`: the JSON view the gateway decodes <{}> documents into.",
            root.local
        )),
    );
    schema.insert("type".into(), json!("object"));
    schema.insert("required".into(), json!([key]));
    schema.insert("properties".into(), json!({ key: item }));
    schema.insert("additionalProperties".into(), json!(false));
    if !importer.defs.is_empty() {
        schema.insert("$defs".into(), Value::Object(importer.defs));
    }
    Ok(Imported {
        schema: Value::Object(schema),
        warnings: importer.warnings,
        root,
        files: set.docs.len(),
    })
}

struct Importer<'s> {
    set: &'s SchemaSet,
    defs: Map<String, Value>,
    /// `$defs` name of each named type (and of each global element's anonymous type).
    /// A complex type's entry is per namespace of the elements using it: the entry carries
    /// that namespace itself, so the elements' schemas stay bare `$ref`s (a `$ref` with a
    /// sibling keyword is a schema node of its own, which a recursive type cannot close
    /// its loop through).
    names: HashMap<(Global, bool, String), String>,
    used: HashSet<String>,
    warnings: Vec<Warning>,
    warned: HashSet<(usize, usize, String)>,
    /// The heads of substitution groups, with their members' names.
    heads: HashMap<QName, Vec<String>>,
}

/// Every substitution group head of the set, with the names of its members.
fn substitution_heads(set: &SchemaSet) -> HashMap<QName, Vec<String>> {
    let mut heads: HashMap<QName, Vec<String>> = HashMap::new();
    for d in &set.docs {
        for e in d.root.children_of("element") {
            if let (Some(head), Some(name)) = (e.qref("substitutionGroup"), e.attr("name")) {
                let head = if head.ns.is_empty() {
                    QName::new(d.target_ns.clone(), head.local.clone())
                } else {
                    head.clone()
                };
                heads.entry(head).or_default().push(name.to_string());
            }
        }
    }
    heads
}

/// The object a complex type describes, being assembled.
#[derive(Default, Clone)]
struct Obj {
    props: Map<String, Value>,
    required: Vec<String>,
    text: Option<Value>,
    /// `oneOf` constraints of choices, each a list of `required` sets.
    choices: Vec<Value>,
    open: bool,
    /// The content is an `xs:all` group: children in any order.
    any_order: bool,
}

/// How a particle's ancestors constrain it: whether all are required and whether one
/// repeats.
#[derive(Clone, Copy)]
struct Occurs {
    required: bool,
    many: bool,
}

fn occurs(node: &Node) -> (u64, Option<u64>) {
    let min = node
        .attr("minOccurs")
        .and_then(|m| m.trim().parse().ok())
        .unwrap_or(1);
    let max = match node.attr("maxOccurs").map(str::trim) {
        Some("unbounded") => None,
        Some(m) => Some(m.parse().unwrap_or(1)),
        None => Some(1),
    };
    (min, max)
}

impl<'s> Importer<'s> {
    fn warn(&mut self, doc: usize, node: &Node, message: String) {
        if !self.warned.insert((doc, node.offset, message.clone())) {
            return;
        }
        self.warnings.push(Warning {
            location: Some(self.set.docs[doc].location(node.offset)),
            pointer: None,
            message,
        });
    }

    fn resolve(
        &self,
        doc: usize,
        node: &Node,
        space: Space,
        name: &QName,
    ) -> Result<Global, XsdError> {
        self.set
            .lookup(space, name, doc)
            .ok_or_else(|| XsdError::Unresolved {
                location: self.set.docs[doc].location(node.offset),
                kind: space.noun(),
                name: name.to_string(),
            })
    }

    fn invalid(&self, doc: usize, node: &Node, message: impl Into<String>) -> XsdError {
        XsdError::Invalid {
            location: self.set.docs[doc].location(node.offset),
            message: message.into(),
        }
    }

    /// A `$defs` name for `local` not taken yet.
    fn fresh_name(&mut self, local: &str) -> String {
        let mut name = local.to_string();
        let mut n = 2;
        while self.used.contains(&name) {
            name = format!("{local}_{n}");
            n += 1;
        }
        self.used.insert(name.clone());
        name
    }

    /// An element declaration (`name` or `ref`): its key in the view, the schema of one
    /// occurrence, and its occurrence bounds.
    fn element(
        &mut self,
        doc: usize,
        node: &Node,
        global: bool,
    ) -> Result<(String, Value, u64, Option<u64>), XsdError> {
        let (min, max) = occurs(node);
        if let Some(r) = node.qref("ref") {
            let g = self.resolve(doc, node, Space::Element, r)?;
            let target = self.set.node(g);
            let (key, schema, _, _) = self.element(g.doc, target, true)?;
            return Ok((key, schema, min, max));
        }
        let Some(name) = node.attr("name") else {
            return Err(self.invalid(doc, node, "an element without name or ref"));
        };
        let d = &self.set.docs[doc];
        let qualified = match node.attr("form") {
            Some(f) => f == "qualified",
            None => global || d.element_qualified,
        };
        let ns = if qualified {
            d.target_ns.clone()
        } else {
            String::new()
        };
        if ns.is_empty() && !d.target_ns.is_empty() {
            self.warn(
                doc,
                node,
                format!(
                    "unqualified local element {name} is in no namespace, which the view cannot say under a namespaced parent (xml.namespace is inherited): documents with it do not decode"
                ),
            );
        }
        if global && let Some(members) = self.heads.get(&QName::new(d.target_ns.clone(), name)) {
            let members = members.join(", ");
            self.warn(
                doc,
                node,
                format!("{name} heads a substitution group ({members}): substitution groups are not supported, so only {name} itself is described"),
            );
        }
        if node.attr("abstract") == Some("true") {
            self.warn(doc, node, format!("abstract element {name}: substitution groups are not supported, so it is described as itself"));
        }
        if let Some(head) = node.qref("substitutionGroup") {
            self.warn(doc, node, format!("substitution group {}: element {name} does not stand in for its head in the view", head.local));
        }
        for ic in ["key", "keyref", "unique"] {
            if let Some(c) = node.child(ic) {
                self.warn(
                    doc,
                    c,
                    format!("identity constraint xs:{ic} on {name} is not checked"),
                );
            }
        }
        let mut carries_ns = false;
        let mut schema = if let Some(t) = node.qref("type") {
            let (schema, carries) = self.type_ref(doc, node, t, &ns)?;
            carries_ns = carries;
            schema
        } else if let Some(ct) = node.child("complexType") {
            if global {
                let g = self.global_of(doc, node);
                carries_ns = true;
                self.named(g, true, doc, ct, name, &ns)?
            } else {
                let obj = self.complex(doc, ct, 0)?;
                self.finish(obj)
            }
        } else if let Some(st) = node.child("simpleType") {
            let s = self.simple_type(doc, st, 0)?;
            finish_simple(s)
        } else {
            self.warn(
                doc,
                node,
                format!("element {name} has no type (xs:anyType): any content is accepted"),
            );
            json!({})
        };
        if let Some(v) = node.attr("fixed").or(node.attr("default")) {
            let key = if node.attr("fixed").is_some() {
                "const"
            } else {
                "default"
            };
            let converted = convert(&schema_type(&schema), v);
            if let (Value::Object(m), Some(c)) = (&mut schema, converted) {
                m.insert(key.into(), c);
            }
        }
        if node.attr("nillable") == Some("true") {
            schema = json!({ "anyOf": [schema, { "type": "null" }] });
            carries_ns = false;
        }
        if !ns.is_empty() && !carries_ns {
            annotate_ns(&mut schema, &ns);
        }
        Ok((name.to_string(), schema, min, max))
    }

    /// Lets the root element carry `xsi:schemaLocation` and `xsi:noNamespaceSchemaLocation`,
    /// which documents validated against the XSD often do and which a closed object would
    /// refuse. The root's type gets an entry of its own for this, so other elements of the
    /// type stay as the XSD says.
    fn admit_schema_location(&mut self, root: &mut Value) {
        let target = match root.get("$ref").and_then(Value::as_str) {
            Some(r) => {
                let name = r.trim_start_matches("#/$defs/").to_string();
                let Some(def) = self.defs.get(&name).cloned() else {
                    return;
                };
                let own = self.fresh_name(&format!("{name}Root"));
                self.defs.insert(own.clone(), def);
                *root = json!({ "$ref": format!("#/$defs/{own}") });
                self.defs.get_mut(&own)
            }
            None => Some(root),
        };
        let Some(target) = target else { return };
        let object = match target.get("anyOf").and_then(Value::as_array).map(Vec::len) {
            Some(_) => target
                .get_mut("anyOf")
                .and_then(Value::as_array_mut)
                .and_then(|alts| alts.iter_mut().find(|a| a.get("properties").is_some())),
            None => Some(target),
        };
        let Some(props) = object
            .and_then(|o| o.get_mut("properties"))
            .and_then(Value::as_object_mut)
        else {
            return;
        };
        for name in ["schemaLocation", "noNamespaceSchemaLocation"] {
            props
                .entry(format!("@{name}"))
                .or_insert_with(|| json!({ "type": "string", "xml": { "namespace": super::XSI } }));
        }
    }

    /// The global component `node` is (a top-level child of file `doc`).
    fn global_of(&self, doc: usize, node: &Node) -> Global {
        let index = self.set.docs[doc]
            .root
            .children
            .iter()
            .position(|c| std::ptr::eq(c, node))
            .unwrap_or(0);
        Global { doc, index }
    }

    /// `$ref` to the `$defs` entry of a complex type, built on first use.
    fn named(
        &mut self,
        g: Global,
        anonymous: bool,
        doc: usize,
        ct: &Node,
        local: &str,
        ns: &str,
    ) -> Result<Value, XsdError> {
        let key = (g, anonymous, ns.to_string());
        if let Some(name) = self.names.get(&key) {
            return Ok(json!({ "$ref": format!("#/$defs/{name}") }));
        }
        let name = self.fresh_name(local);
        self.names.insert(key, name.clone());
        let obj = self.complex(doc, ct, 0)?;
        let mut schema = self.finish(obj);
        if !ns.is_empty() {
            annotate_ns(&mut schema, ns);
        }
        self.defs.insert(name.clone(), schema);
        Ok(json!({ "$ref": format!("#/$defs/{name}") }))
    }

    /// The schema of the type named `t` where `node` (an element in namespace `ns`, or an
    /// attribute) refers to it, and whether that schema carries the namespace itself.
    fn type_ref(
        &mut self,
        doc: usize,
        node: &Node,
        t: &QName,
        ns: &str,
    ) -> Result<(Value, bool), XsdError> {
        if t.ns == XS {
            return match builtin(&t.local) {
                Some(s) => Ok((finish_simple(s), false)),
                None => {
                    self.warn(
                        doc,
                        node,
                        format!(
                            "xs:{} accepts any content: it is described as any value",
                            t.local
                        ),
                    );
                    Ok((json!({}), false))
                }
            };
        }
        let g = self.resolve(doc, node, Space::Type, t)?;
        let target = self.set.node(g);
        if target.kind == "simpleType" {
            let key = (g, false, String::new());
            if let Some(name) = self.names.get(&key) {
                return Ok((json!({ "$ref": format!("#/$defs/{name}") }), false));
            }
            let name = self.fresh_name(&t.local);
            self.names.insert(key, name.clone());
            let s = self.simple_type(g.doc, target, 0)?;
            self.defs.insert(name.clone(), finish_simple(s));
            return Ok((json!({ "$ref": format!("#/$defs/{name}") }), false));
        }
        let schema = self.named(g, false, g.doc, target, &t.local, ns)?;
        Ok((schema, !ns.is_empty()))
    }

    /// The derivation of simple type `t`, as a base to restrict further.
    fn simple_base(
        &mut self,
        doc: usize,
        node: &Node,
        t: &QName,
        depth: usize,
    ) -> Result<Simple, XsdError> {
        if depth > MAX_DERIVATION {
            return Err(self.invalid(doc, node, format!("the derivation of {t} does not end")));
        }
        if t.ns == XS {
            return Ok(builtin(&t.local).unwrap_or_else(|| {
                self.warn(
                    doc,
                    node,
                    format!("xs:{} as a base: described as a string", t.local),
                );
                string()
            }));
        }
        let g = self.resolve(doc, node, Space::Type, t)?;
        let target = self.set.node(g);
        if target.kind == "complexType" {
            let obj = self.complex(g.doc, target, depth + 1)?;
            return Ok(Simple {
                schema: match obj.text {
                    Some(Value::Object(m)) => m,
                    _ => string().schema,
                },
                decimal: None,
            });
        }
        self.simple_type(g.doc, target, depth + 1)
    }

    fn simple_type(&mut self, doc: usize, node: &Node, depth: usize) -> Result<Simple, XsdError> {
        if let Some(r) = node.child("restriction") {
            return self.restriction(doc, r, depth);
        }
        if let Some(u) = node.child("union") {
            let mut alts = Vec::new();
            for m in u.qrefs("memberTypes") {
                alts.push(finish_simple(self.simple_base(doc, u, m, depth + 1)?));
            }
            for st in u.children_of("simpleType") {
                alts.push(finish_simple(self.simple_type(doc, st, depth + 1)?));
            }
            let mut schema = Map::new();
            schema.insert("anyOf".into(), Value::Array(alts));
            return Ok(Simple {
                schema,
                decimal: None,
            });
        }
        if node.child("list").is_some() {
            self.warn(
                doc,
                node,
                "xs:list: the list is one string; its items are not checked one by one".into(),
            );
            return Ok(string());
        }
        Err(self.invalid(
            doc,
            node,
            "a simple type without restriction, union or list",
        ))
    }

    fn restriction(&mut self, doc: usize, r: &Node, depth: usize) -> Result<Simple, XsdError> {
        let mut s = match (r.qref("base"), r.child("simpleType")) {
            (Some(b), _) => self.simple_base(doc, r, b, depth + 1)?,
            (None, Some(st)) => self.simple_type(doc, st, depth + 1)?,
            (None, None) => string(),
        };
        self.facets(doc, r, &mut s);
        Ok(s)
    }

    fn facets(&mut self, doc: usize, r: &Node, s: &mut Simple) {
        for (facet, message) in apply_facets(r, s) {
            self.warn(doc, facet, message);
        }
    }

    /// The object complex type `ct` describes.
    fn complex(&mut self, doc: usize, ct: &Node, depth: usize) -> Result<Obj, XsdError> {
        if depth > MAX_DERIVATION {
            return Err(self.invalid(doc, ct, "the derivation of this type does not end"));
        }
        let mut obj = Obj::default();
        if ct.attr("mixed") == Some("true") {
            self.warn(
                doc,
                ct,
                "mixed content: the text between child elements is one `#text` string".into(),
            );
            obj.text = Some(json!({ "type": "string" }));
        }
        let all = Occurs {
            required: true,
            many: false,
        };
        if let Some(sc) = ct.child("simpleContent") {
            let Some(d) = sc.child("extension").or(sc.child("restriction")) else {
                return Err(self.invalid(
                    doc,
                    sc,
                    "simpleContent without extension or restriction",
                ));
            };
            let Some(base) = d.qref("base") else {
                return Err(self.invalid(doc, d, "a derivation without base"));
            };
            let base_obj = if base.ns != XS {
                let g = self.resolve(doc, d, Space::Type, base)?;
                let target = self.set.node(g);
                (target.kind == "complexType").then_some((g, target))
            } else {
                None
            };
            let mut text = match base_obj {
                Some((g, target)) => {
                    obj = self.complex(g.doc, target, depth + 1)?;
                    Simple {
                        schema: match obj.text.take() {
                            Some(Value::Object(m)) => m,
                            _ => string().schema,
                        },
                        decimal: None,
                    }
                }
                None => self.simple_base(doc, d, base, depth + 1)?,
            };
            if d.kind == "restriction" {
                self.facets(doc, d, &mut text);
            }
            obj.text = Some(finish_simple(text));
            self.attributes(doc, d, &mut obj)?;
            return Ok(obj);
        }
        if let Some(cc) = ct.child("complexContent") {
            if cc.attr("mixed") == Some("true") && obj.text.is_none() {
                self.warn(
                    doc,
                    cc,
                    "mixed content: the text between child elements is one `#text` string".into(),
                );
                obj.text = Some(json!({ "type": "string" }));
            }
            let Some(d) = cc.child("extension").or(cc.child("restriction")) else {
                return Err(self.invalid(
                    doc,
                    cc,
                    "complexContent without extension or restriction",
                ));
            };
            let base = d.qref("base");
            if let Some(b) = base.filter(|b| !(b.ns == XS && b.local == "anyType")) {
                let g = self.resolve(doc, d, Space::Type, b)?;
                let target = self.set.node(g);
                if target.kind != "complexType" {
                    return Err(self.invalid(
                        doc,
                        d,
                        format!("complexContent derives from simple type {b}"),
                    ));
                }
                let base_obj = self.complex(g.doc, target, depth + 1)?;
                if d.kind == "extension" {
                    let text = obj.text.take();
                    obj = base_obj;
                    obj.text = obj.text.or(text);
                } else {
                    // A restriction restates the content model; attributes are inherited.
                    for (k, v) in base_obj.props {
                        if k.starts_with('@') {
                            if base_obj.required.contains(&k) {
                                obj.required.push(k.clone());
                            }
                            obj.props.insert(k, v);
                        }
                    }
                    obj.open |= base_obj.open;
                }
            }
            self.content(doc, d, &mut obj, all)?;
            self.attributes(doc, d, &mut obj)?;
            return Ok(obj);
        }
        self.content(doc, ct, &mut obj, all)?;
        self.attributes(doc, ct, &mut obj)?;
        Ok(obj)
    }

    /// The particles (`sequence`, `choice`, `all`, `group`) among `node`'s children.
    fn content(
        &mut self,
        doc: usize,
        node: &Node,
        obj: &mut Obj,
        occ: Occurs,
    ) -> Result<(), XsdError> {
        for p in &node.children {
            if matches!(
                p.kind.as_str(),
                "sequence" | "choice" | "all" | "group" | "element" | "any"
            ) {
                self.particle(doc, p, obj, occ, 0)?;
            }
        }
        Ok(())
    }

    fn particle(
        &mut self,
        doc: usize,
        p: &Node,
        obj: &mut Obj,
        occ: Occurs,
        depth: usize,
    ) -> Result<(), XsdError> {
        if depth > MAX_DERIVATION {
            return Err(self.invalid(doc, p, "model groups nest without end"));
        }
        let (min, max) = occurs(p);
        let here = Occurs {
            required: occ.required && min >= 1,
            many: occ.many || max != Some(1),
        };
        match p.kind.as_str() {
            "element" => {
                let (key, item, _, _) = self.element(doc, p, false)?;
                let schema = if here.many {
                    let mut a = Map::new();
                    a.insert("type".into(), json!("array"));
                    a.insert("items".into(), item);
                    let floor = if occ.many { 1 } else { min.max(1) };
                    a.insert("minItems".into(), json!(floor));
                    if let (false, Some(m)) = (occ.many, max) {
                        a.insert("maxItems".into(), json!(m));
                    }
                    Value::Object(a)
                } else {
                    item
                };
                if let Some(old) = obj.props.get(&key) {
                    if *old != schema {
                        self.warn(doc, p, format!("element {key} appears twice in this content model with different types: the first is kept"));
                    } else {
                        self.warn(doc, p, format!("element {key} appears twice in this content model: the view cannot tell the occurrences apart"));
                    }
                    return Ok(());
                }
                if here.required {
                    obj.required.push(key.clone());
                }
                obj.props.insert(key, schema);
            }
            "sequence" | "all" => {
                if p.kind == "all" {
                    obj.any_order = true;
                }
                for c in &p.children {
                    self.particle(doc, c, obj, here, depth + 1)?;
                }
            }
            "choice" => {
                let branch_occ = Occurs {
                    required: !here.many,
                    many: here.many,
                };
                let mut sets = Vec::new();
                for c in &p.children {
                    let mut branch = Obj::default();
                    self.particle(doc, c, &mut branch, branch_occ, depth + 1)?;
                    for (k, v) in branch.props {
                        if obj.props.contains_key(&k) {
                            self.warn(doc, c, format!("element {k} appears twice in this content model: the view cannot tell the occurrences apart"));
                        } else {
                            obj.props.insert(k, v);
                        }
                    }
                    obj.choices.extend(branch.choices);
                    obj.open |= branch.open;
                    sets.push(branch.required);
                }
                let disjoint = {
                    let mut seen = HashSet::new();
                    sets.iter()
                        .all(|s| !s.is_empty() && s.iter().all(|k| seen.insert(k.clone())))
                };
                if here.required && !here.many && disjoint && sets.len() > 1 {
                    obj.choices.push(Value::Array(
                        sets.into_iter().map(|s| json!({ "required": s })).collect(),
                    ));
                }
            }
            "group" => {
                let Some(r) = p.qref("ref") else {
                    return Err(self.invalid(doc, p, "a group without ref"));
                };
                let g = self.resolve(doc, p, Space::Group, r)?;
                let target = self.set.node(g);
                for c in &target.children {
                    self.particle(g.doc, c, obj, here, depth + 1)?;
                }
            }
            "any" => {
                self.warn(
                    doc,
                    p,
                    "xs:any: elements it admits are kept under their local name, unchecked".into(),
                );
                obj.open = true;
            }
            _ => {}
        }
        Ok(())
    }

    /// The attributes among `node`'s children (through attribute groups).
    fn attributes(&mut self, doc: usize, node: &Node, obj: &mut Obj) -> Result<(), XsdError> {
        self.attributes_at(doc, node, obj, 0)
    }

    fn attributes_at(
        &mut self,
        doc: usize,
        node: &Node,
        obj: &mut Obj,
        depth: usize,
    ) -> Result<(), XsdError> {
        if depth > MAX_DERIVATION {
            return Err(self.invalid(doc, node, "attribute groups nest without end"));
        }
        for a in &node.children {
            match a.kind.as_str() {
                "attribute" => self.attribute(doc, a, obj)?,
                "attributeGroup" => {
                    let Some(r) = a.qref("ref") else { continue };
                    let g = self.resolve(doc, a, Space::AttributeGroup, r)?;
                    let target = self.set.node(g);
                    self.attributes_at(g.doc, target, obj, depth + 1)?;
                }
                "anyAttribute" => {
                    self.warn(doc, a, "xs:anyAttribute: attributes it admits are kept under their local name, unchecked".into());
                    obj.open = true;
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn attribute(&mut self, doc: usize, a: &Node, obj: &mut Obj) -> Result<(), XsdError> {
        let (decl_doc, decl, ns) = match a.qref("ref") {
            Some(r) => {
                let g = self.resolve(doc, a, Space::Attribute, r)?;
                (
                    g.doc,
                    self.set.node(g),
                    self.set.docs[g.doc].target_ns.clone(),
                )
            }
            None => {
                let d = &self.set.docs[doc];
                let qualified = match a.attr("form") {
                    Some(f) => f == "qualified",
                    None => d.attribute_qualified,
                };
                (
                    doc,
                    a,
                    if qualified {
                        d.target_ns.clone()
                    } else {
                        String::new()
                    },
                )
            }
        };
        let Some(name) = decl.attr("name") else {
            return Err(self.invalid(doc, a, "an attribute without name or ref"));
        };
        let key = format!("@{name}");
        if a.attr("use") == Some("prohibited") {
            obj.props.remove(&key);
            obj.required.retain(|k| *k != key);
            return Ok(());
        }
        let mut schema = if let Some(t) = decl.qref("type") {
            self.type_ref(decl_doc, decl, t, "")?.0
        } else if let Some(st) = decl.child("simpleType") {
            finish_simple(self.simple_type(decl_doc, st, 0)?)
        } else {
            json!({ "type": "string" })
        };
        let fixed = a.attr("fixed").or(decl.attr("fixed"));
        let default = a.attr("default").or(decl.attr("default"));
        if let Value::Object(m) = &mut schema {
            let ty = m
                .get("type")
                .and_then(Value::as_str)
                .unwrap_or("string")
                .to_string();
            if let Some(c) = fixed.and_then(|f| convert(&ty, f)) {
                m.insert("const".into(), c);
            } else if let Some(c) = default.and_then(|f| convert(&ty, f)) {
                m.insert("default".into(), c);
            }
        }
        if !ns.is_empty() {
            annotate_ns(&mut schema, &ns);
        }
        if a.attr("use") == Some("required") && !obj.required.contains(&key) {
            obj.required.push(key.clone());
        }
        obj.props.insert(key, schema);
        Ok(())
    }

    /// The schema of an object under construction.
    fn finish(&mut self, obj: Obj) -> Value {
        if obj.props.is_empty()
            && !obj.open
            && obj.choices.is_empty()
            && let Some(text) = obj.text
        {
            return text;
        }
        // Text with optional attributes: without them the element decodes to its text alone.
        let bare_text = obj
            .text
            .clone()
            .filter(|_| obj.required.is_empty() && obj.props.keys().all(|k| k.starts_with('@')));
        let mut m = Map::new();
        m.insert("type".into(), json!("object"));
        let mut props = obj.props;
        if let Some(text) = obj.text {
            props.insert("#text".into(), text);
        }
        if !obj.required.is_empty() {
            m.insert("required".into(), json!(obj.required));
        }
        m.insert("properties".into(), Value::Object(props));
        if !obj.open {
            m.insert("additionalProperties".into(), json!(false));
        }
        if obj.any_order {
            // For `export xsd`, which writes `xs:all` again instead of a sequence.
            m.insert("x-xsd-all".into(), json!(true));
        }
        match obj.choices.len() {
            0 => {}
            1 => {
                m.insert(
                    "oneOf".into(),
                    obj.choices.into_iter().next().unwrap_or_default(),
                );
            }
            _ => {
                m.insert(
                    "allOf".into(),
                    Value::Array(
                        obj.choices
                            .into_iter()
                            .map(|c| json!({ "oneOf": c }))
                            .collect(),
                    ),
                );
            }
        }
        match bare_text {
            Some(text) => json!({ "anyOf": [text, Value::Object(m)] }),
            None => Value::Object(m),
        }
    }
}

/// Puts `xml.namespace` on an element's or attribute's schema (on the outer schema of a
/// nillable one).
fn annotate_ns(schema: &mut Value, ns: &str) {
    if let Value::Object(m) = schema {
        m.insert("xml".into(), json!({ "namespace": ns }));
    }
}

fn schema_type(schema: &Value) -> String {
    schema
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("string")
        .to_string()
}
