//! The JSON Schema of an XML route's document to XSD, so a partner can validate its own
//! documents before sending them.
//!
//! One XSD file is written per namespace the view uses (an XSD file has one target
//! namespace); files import each other by file name. Named `$defs` become named types in
//! the namespace of their child elements, elements of another namespace become references
//! to global elements of that namespace's file. What XSD cannot say the way the JSON
//! Schema does (open objects, `oneOf` among members) is reported as a warning, and the XSD
//! is then the stricter or the looser of the two as the warning says.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};

use serde_json::Value;

use super::{Warning, XsdError, pattern};

/// One written XSD file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct XsdFile {
    /// Its target namespace (empty for none).
    pub namespace: String,
    pub file_name: String,
    pub text: String,
}

/// The files of an export (the root element's first) and what they could not say.
#[derive(Debug)]
pub struct ExportedXsd {
    pub files: Vec<XsdFile>,
    pub warnings: Vec<Warning>,
    /// The root element's name and namespace.
    pub root: super::QName,
}

/// Whether imports between the files name their files (`schemaLocation`): yes for files
/// on disk, no for schemas embedded side by side in a WSDL document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locations {
    Files,
    Embedded,
}

/// Schemas nest; a JSON Schema deeper than this is refused rather than recursed into.
const MAX_DEPTH: usize = 256;

/// Exports `schema` (a partner schema of an XML route) whose default namespace is
/// `namespace` (the route's).
pub fn export(schema: &Value, namespace: Option<&str>) -> Result<ExportedXsd, XsdError> {
    export_with(schema, namespace, Locations::Files)
}

/// [`export`] with the files named after `stem` (`STEM.xsd`, `STEM-1.xsd`, ...) rather
/// than after the root element, so that the files of several documents can sit side by
/// side (the admin listener serves each route's files under the route's name).
pub fn export_named(
    schema: &Value,
    namespace: Option<&str>,
    stem: &str,
) -> Result<ExportedXsd, XsdError> {
    export_inner(schema, namespace, Locations::Files, Some(stem))
}

pub fn export_with(
    schema: &Value,
    namespace: Option<&str>,
    locations: Locations,
) -> Result<ExportedXsd, XsdError> {
    export_inner(schema, namespace, locations, None)
}

fn export_inner(
    schema: &Value,
    namespace: Option<&str>,
    locations: Locations,
    stem: Option<&str>,
) -> Result<ExportedXsd, XsdError> {
    let mut ex = Exporter {
        root_doc: schema,
        docs: BTreeMap::new(),
        order: Vec::new(),
        types: HashMap::new(),
        queue: VecDeque::new(),
        globals: HashMap::new(),
        used: HashSet::new(),
        warnings: Vec::new(),
    };
    let props = schema
        .get("properties")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            fail(
                "",
                "the schema has no `properties`: its one member is the root element",
            )
        })?;
    let (key, member) = match props.len() {
        1 => props.iter().next().map(|(k, v)| (k.clone(), v)),
        _ => None,
    }
    .ok_or_else(|| {
        fail(
            "/properties",
            "the schema must have exactly one member, the root element",
        )
    })?;
    let default_ns = namespace.unwrap_or_default().to_string();
    let pointer = format!("/properties/{}", crate::schema::escape_pointer(&key));
    let (name, ns) = ex.element_name(&key, member, &default_ns);
    ex.doc(&ns);
    let (ty, nillable) = ex.type_of(member, &ns, &ns, &pointer, 0)?;
    let decl = element_decl(&name, None, None, nillable, &ty);
    ex.global(&ns, &name, decl);
    while let Some((def, tns, qname)) = ex.queue.pop_front() {
        let ptr = format!("/$defs/{def}");
        let target = ex
            .def(&def)
            .ok_or_else(|| fail(&ptr, "no such definition"))?;
        let body = ex.complex_body(target, &tns, &tns, &ptr, 0)?;
        let text = match body {
            Body::Complex(inner) => {
                format!("<xs:complexType name=\"{qname}\">{inner}</xs:complexType>")
            }
            Body::Mixed(inner) => {
                format!("<xs:complexType name=\"{qname}\" mixed=\"true\">{inner}</xs:complexType>")
            }
            Body::Simple(inner) => {
                format!("<xs:simpleType name=\"{qname}\">{inner}</xs:simpleType>")
            }
        };
        ex.doc(&tns).items.push(text);
    }
    let files = ex.write(stem.unwrap_or(key.as_str()), locations);
    Ok(ExportedXsd {
        files,
        warnings: ex.warnings,
        root: super::QName::new(ns, name),
    })
}

fn fail(pointer: &str, message: &str) -> XsdError {
    XsdError::Export {
        pointer: pointer.to_string(),
        message: message.to_string(),
    }
}

#[derive(Default)]
struct Doc {
    prefix: String,
    items: Vec<String>,
    imports: BTreeSet<String>,
}

enum Body {
    Complex(String),
    /// Text beside child elements.
    Mixed(String),
    Simple(String),
}

/// A type as an element or attribute declaration uses it.
enum TypeUse {
    Named(String),
    Inline(String),
}

struct Exporter<'a> {
    root_doc: &'a Value,
    docs: BTreeMap<String, Doc>,
    order: Vec<String>,
    /// `$defs` name -> (namespace, prefixed type name).
    types: HashMap<String, (String, String)>,
    queue: VecDeque<(String, String, String)>,
    /// Global elements and attributes declared: (kind, ns, name) -> declaration.
    globals: HashMap<(char, String, String), String>,
    used: HashSet<(String, String)>,
    warnings: Vec<Warning>,
}

impl<'a> Exporter<'a> {
    fn warn(&mut self, pointer: &str, message: String) {
        if self
            .warnings
            .iter()
            .any(|w| w.pointer.as_deref() == Some(pointer) && w.message == message)
        {
            return;
        }
        self.warnings.push(Warning {
            location: None,
            pointer: Some(pointer.to_string()),
            message,
        });
    }

    fn doc(&mut self, ns: &str) -> &mut Doc {
        if !self.docs.contains_key(ns) {
            let prefix = format!("n{}", self.order.len());
            self.order.push(ns.to_string());
            self.docs.insert(
                ns.to_string(),
                Doc {
                    prefix,
                    ..Doc::default()
                },
            );
        }
        self.docs.get_mut(ns).expect("inserted above")
    }

    fn prefixed(&mut self, from_ns: &str, ns: &str, local: &str) -> String {
        let prefix = self.doc(ns).prefix.clone();
        if from_ns != ns {
            self.doc(from_ns).imports.insert(ns.to_string());
        }
        format!("{prefix}:{local}")
    }

    fn def(&self, name: &str) -> Option<&'a Value> {
        self.root_doc
            .get("$defs")
            .or_else(|| self.root_doc.get("definitions"))
            .and_then(|d| d.get(name))
    }

    /// Follows local `$ref`s (with nothing but annotations beside them).
    fn deref(
        &self,
        schema: &'a Value,
        pointer: &str,
    ) -> Result<(&'a Value, Option<String>), XsdError> {
        let mut s = schema;
        let mut name = None;
        for _ in 0..MAX_DEPTH {
            let Some(r) = s.get("$ref").and_then(Value::as_str) else {
                return Ok((s, name));
            };
            let def = r
                .strip_prefix("#/$defs/")
                .or_else(|| r.strip_prefix("#/definitions/"))
                .ok_or_else(|| {
                    fail(
                        pointer,
                        &format!("only local references (#/$defs/...) can be exported, not {r}"),
                    )
                })?;
            name = Some(def.to_string());
            s = self
                .def(def)
                .ok_or_else(|| fail(pointer, &format!("{r} does not resolve")))?;
        }
        Err(fail(pointer, "references never reach a schema"))
    }

    /// The element name and namespace of member `key` whose schema is `member`: the
    /// first `xml.name` and `xml.namespace` found on the member, its `$ref` target, its
    /// items or their target (an array element takes its items' name).
    fn element_name(&self, key: &str, member: &'a Value, inherited: &str) -> (String, String) {
        let xml_of = |v: &Value, k: &str| {
            v.get("xml")
                .and_then(|x| x.get(k))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        let target = self.deref(member, "").map_or(member, |(t, _)| t);
        let mut chain = vec![member, target];
        if let Some(items) = member.get("items").or_else(|| target.get("items")) {
            chain.push(items);
            chain.push(self.deref(items, "").map_or(items, |(t, _)| t));
        }
        let name = chain
            .iter()
            .find_map(|v| xml_of(v, "name"))
            .unwrap_or_else(|| key.to_string());
        let ns = chain
            .iter()
            .find_map(|v| xml_of(v, "namespace"))
            .unwrap_or_else(|| inherited.to_string());
        (name, ns)
    }

    fn global(&mut self, ns: &str, name: &str, decl: String) {
        self.global_of('e', ns, name, decl);
    }

    fn global_of(&mut self, kind: char, ns: &str, name: &str, decl: String) {
        let key = (kind, ns.to_string(), name.to_string());
        match self.globals.get(&key) {
            Some(old) if *old != decl => {
                self.warn("", format!("{{{ns}}}{name} is declared globally with two different types: the first is kept"));
            }
            Some(_) => {}
            None => {
                self.globals.insert(key, decl.clone());
                self.doc(ns).items.push(decl);
            }
        }
    }

    /// The type of an element whose schema is `schema`, declared in file `doc_ns`, whose
    /// own namespace (inherited by its children) is `elem_ns`; and whether it is nillable.
    fn type_of(
        &mut self,
        schema: &'a Value,
        doc_ns: &str,
        elem_ns: &str,
        pointer: &str,
        depth: usize,
    ) -> Result<(TypeUse, bool), XsdError> {
        if depth > MAX_DEPTH {
            return Err(fail(pointer, "the schema nests too deep"));
        }
        if let Some(alts) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            let (null, rest): (Vec<&Value>, Vec<&Value>) = alts
                .iter()
                .partition(|a| a.get("type").and_then(Value::as_str) == Some("null"));
            if !null.is_empty() && rest.len() == 1 {
                let (t, _) = self.type_of(rest[0], doc_ns, elem_ns, pointer, depth + 1)?;
                return Ok((t, true));
            }
        }
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            let (target, name) = self.deref(schema, pointer)?;
            let name = name.unwrap_or_else(|| r.to_string());
            if let Some((tns, q)) = self.types.get(&name).cloned() {
                return Ok((TypeUse::Named(self.prefixed(doc_ns, &tns, &q)), false));
            }
            let tns = self.type_namespace(target, elem_ns);
            let mut local = xml_ncname(&name);
            let mut n = 2;
            while !self.used.insert((tns.clone(), local.clone())) {
                local = format!("{}_{n}", xml_ncname(&name));
                n += 1;
            }
            self.types
                .insert(name.clone(), (tns.clone(), local.clone()));
            self.queue.push_back((name, tns.clone(), local.clone()));
            let nillable = target
                .get("type")
                .and_then(Value::as_array)
                .is_some_and(|t| t.iter().any(|x| x == "null"));
            return Ok((
                TypeUse::Named(self.prefixed(doc_ns, &tns, &local)),
                nillable,
            ));
        }
        let nillable = schema
            .get("type")
            .and_then(Value::as_array)
            .is_some_and(|t| t.iter().any(|x| x == "null"));
        if let Some(builtin) = plain_builtin(schema) {
            return Ok((TypeUse::Named(builtin.to_string()), nillable));
        }
        Ok((
            match self.complex_body(schema, doc_ns, elem_ns, pointer, depth + 1)? {
                Body::Complex(b) => {
                    TypeUse::Inline(format!("<xs:complexType>{b}</xs:complexType>"))
                }
                Body::Mixed(b) => TypeUse::Inline(format!(
                    "<xs:complexType mixed=\"true\">{b}</xs:complexType>"
                )),
                Body::Simple(b) => TypeUse::Inline(format!("<xs:simpleType>{b}</xs:simpleType>")),
            },
            nillable,
        ))
    }

    /// The namespace a named type goes to: that of its child elements, else its element's.
    fn type_namespace(&self, target: &'a Value, elem_ns: &str) -> String {
        let Some(props) = target.get("properties").and_then(Value::as_object) else {
            return elem_ns.to_string();
        };
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for (k, v) in props {
            if k.starts_with('@') || k == "#text" {
                continue;
            }
            let (_, ns) = self.element_name(k, v, elem_ns);
            *counts.entry(ns).or_default() += 1;
        }
        counts
            .into_iter()
            .max_by_key(|(_, c)| *c)
            .map(|(ns, _)| ns)
            .unwrap_or_else(|| elem_ns.to_string())
    }

    /// The content of a (complex or simple) type for schema `schema`.
    fn complex_body(
        &mut self,
        schema: &'a Value,
        doc_ns: &str,
        elem_ns: &str,
        pointer: &str,
        depth: usize,
    ) -> Result<Body, XsdError> {
        if depth > MAX_DEPTH {
            return Err(fail(pointer, "the schema nests too deep"));
        }
        let (schema, _) = self.deref(schema, pointer)?;
        // Text with optional attributes is `anyOf: [text, {#text, @...}]` in the view; the
        // object form describes both in XSD.
        if let Some(object) = schema
            .get("anyOf")
            .and_then(Value::as_array)
            .and_then(|alts| {
                alts.iter().find(|a| {
                    a.get("properties")
                        .is_some_and(|p| p.get("#text").is_some())
                })
            })
        {
            return self.complex_body(
                object,
                doc_ns,
                elem_ns,
                &format!("{pointer}/anyOf/1"),
                depth + 1,
            );
        }
        let is_object = schema.get("properties").is_some() || type_is(schema, "object");
        if !is_object {
            return Ok(Body::Simple(
                self.simple_body(schema, doc_ns, pointer, depth)?,
            ));
        }
        let props: Vec<(&'a String, &'a Value)> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|m| m.iter().collect())
            .unwrap_or_default();
        let required: HashSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        if schema.get("additionalProperties") != Some(&Value::Bool(false)) {
            self.warn(pointer, "an open object (no `additionalProperties: false`) is exported closed: XSD cannot add unknown elements after optional ones unambiguously".into());
        }
        let mut elements = String::new();
        let mut attributes = String::new();
        let mut text = None;
        for (k, v) in props {
            let ptr = format!("{pointer}/properties/{}", crate::schema::escape_pointer(k));
            if k == "#text" {
                text = Some((v, ptr));
                continue;
            }
            if let Some(bare) = k.strip_prefix('@') {
                let (target, _) = self.deref(v, &ptr)?;
                let name = v
                    .get("xml")
                    .and_then(|x| x.get("name"))
                    .and_then(Value::as_str)
                    .unwrap_or(bare)
                    .to_string();
                let ans = v
                    .get("xml")
                    .or_else(|| target.get("xml"))
                    .and_then(|x| x.get("namespace"))
                    .and_then(Value::as_str);
                let ty = match plain_builtin(target) {
                    Some(b) => TypeUse::Named(b.into()),
                    None => TypeUse::Inline(format!(
                        "<xs:simpleType>{}</xs:simpleType>",
                        self.simple_body(target, ans.unwrap_or(doc_ns), &ptr, depth + 1)?
                    )),
                };
                if ans == Some(super::XSI) {
                    // Validators admit `xsi:` attributes everywhere; no schema declares them.
                    continue;
                }
                let use_ = if required.contains(k.as_str()) {
                    " use=\"required\""
                } else {
                    ""
                };
                match ans.filter(|a| !a.is_empty()) {
                    Some(a) => {
                        let decl = attribute_decl(&name, &ty);
                        self.global_of('a', a, &name, decl);
                        let r = self.prefixed(doc_ns, a, &name);
                        attributes.push_str(&format!("<xs:attribute ref=\"{r}\"{use_}/>"));
                    }
                    None => {
                        let decl = attribute_decl(&name, &ty);
                        attributes.push_str(&decl.replacen(
                            "<xs:attribute ",
                            &format!("<xs:attribute{use_} "),
                            1,
                        ));
                    }
                }
                continue;
            }
            let (name, ns) = self.element_name(k, v, elem_ns);
            let (mut item, array) = match v.get("type").and_then(Value::as_str) {
                Some("array") => (v.get("items").unwrap_or(&Value::Bool(true)), Some(v)),
                _ => (v, None),
            };
            if let Some(r) = v.get("$ref").filter(|_| array.is_none()) {
                let _ = r;
                let (t, _) = self.deref(v, &ptr)?;
                if type_is(t, "array") {
                    item = t.get("items").unwrap_or(&Value::Bool(true));
                }
            }
            let is_required = required.contains(k.as_str());
            let min = match (
                is_required,
                array
                    .and_then(|a| a.get("minItems"))
                    .and_then(Value::as_u64),
            ) {
                (false, _) => 0,
                (true, Some(m)) => m.max(1),
                (true, None) => 1,
            };
            let max = match array {
                Some(a) => a
                    .get("maxItems")
                    .and_then(Value::as_u64)
                    .map_or("unbounded".to_string(), |m| m.to_string()),
                None => "1".into(),
            };
            let occurs = format!(
                "{}{}",
                if min == 1 {
                    String::new()
                } else {
                    format!(" minOccurs=\"{min}\"")
                },
                if max == "1" {
                    String::new()
                } else {
                    format!(" maxOccurs=\"{max}\"")
                }
            );
            if ns == doc_ns || ns.is_empty() {
                let (ty, nillable) = self.type_of(item, doc_ns, &ns, &ptr, depth + 1)?;
                let form = if ns.is_empty() && !doc_ns.is_empty() {
                    Some("unqualified")
                } else {
                    None
                };
                elements.push_str(&element_decl(&name, Some(&occurs), form, nillable, &ty));
            } else {
                let (ty, nillable) = self.type_of(item, &ns, &ns, &ptr, depth + 1)?;
                let decl = element_decl(&name, None, None, nillable, &ty);
                self.global(&ns, &name, decl);
                let r = self.prefixed(doc_ns, &ns, &name);
                elements.push_str(&format!("<xs:element ref=\"{r}\"{occurs}/>"));
            }
        }
        if schema.get("oneOf").is_some() || schema.get("allOf").is_some() {
            self.warn(pointer, "`oneOf`/`allOf` among members is not exported: the alternatives are optional elements of one sequence".into());
        }
        if let Some((t, ptr)) = text {
            if !elements.is_empty() {
                let body = format!("<xs:sequence>{elements}</xs:sequence>{attributes}");
                self.warn(
                    &ptr,
                    "`#text` beside child elements is exported as mixed content".into(),
                );
                return Ok(Body::Mixed(body));
            }
            let base = match plain_builtin(t) {
                Some(b) => b.to_string(),
                None => {
                    let (target, _) = self.deref(t, &ptr)?;
                    let body = self.simple_body(target, doc_ns, &ptr, depth + 1)?;
                    let mut local = format!(
                        "{}Text",
                        pointer
                            .rsplit('/')
                            .next()
                            .map(xml_ncname)
                            .unwrap_or_default()
                    );
                    let mut n = 2;
                    while !self.used.insert((doc_ns.to_string(), local.clone())) {
                        local = format!(
                            "{}Text_{n}",
                            pointer
                                .rsplit('/')
                                .next()
                                .map(xml_ncname)
                                .unwrap_or_default()
                        );
                        n += 1;
                    }
                    self.doc(doc_ns).items.push(format!(
                        "<xs:simpleType name=\"{local}\">{body}</xs:simpleType>"
                    ));
                    self.prefixed(doc_ns, doc_ns, &local)
                }
            };
            return Ok(Body::Complex(format!(
                "<xs:simpleContent><xs:extension base=\"{base}\">{attributes}</xs:extension></xs:simpleContent>"
            )));
        }
        let all =
            schema.get("x-xsd-all") == Some(&Value::Bool(true)) && !elements.contains("maxOccurs=");
        let seq = if all && !elements.is_empty() {
            format!("<xs:all>{elements}</xs:all>")
        } else if elements.is_empty() {
            String::new()
        } else {
            format!("<xs:sequence>{elements}</xs:sequence>")
        };
        Ok(Body::Complex(format!("{seq}{attributes}")))
    }

    /// `xs:restriction` (or `xs:union`) of a scalar schema.
    fn simple_body(
        &mut self,
        schema: &'a Value,
        doc_ns: &str,
        pointer: &str,
        depth: usize,
    ) -> Result<String, XsdError> {
        if depth > MAX_DEPTH {
            return Err(fail(pointer, "the schema nests too deep"));
        }
        let (schema, _) = self.deref(schema, pointer)?;
        if let Some(alts) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
            && schema.get("type").is_none()
        {
            let mut members = String::new();
            for (i, a) in alts.iter().enumerate() {
                if a.get("type").and_then(Value::as_str) == Some("null") {
                    continue;
                }
                let body =
                    self.simple_body(a, doc_ns, &format!("{pointer}/anyOf/{i}"), depth + 1)?;
                members.push_str(&format!("<xs:simpleType>{body}</xs:simpleType>"));
            }
            return Ok(format!("<xs:union>{members}</xs:union>"));
        }
        let base = base_builtin(schema);
        let mut facets = String::new();
        if let Some(e) = schema.get("enum").and_then(Value::as_array) {
            for v in e {
                facets.push_str(&format!(
                    "<xs:enumeration value=\"{}\"/>",
                    attr_escape(&value_text(v))
                ));
            }
        }
        if let Some(c) = schema.get("const") {
            facets.push_str(&format!(
                "<xs:enumeration value=\"{}\"/>",
                attr_escape(&value_text(c))
            ));
        }
        for (k, f) in [
            ("minLength", "minLength"),
            ("maxLength", "maxLength"),
            ("minimum", "minInclusive"),
            ("maximum", "maxInclusive"),
            ("exclusiveMinimum", "minExclusive"),
            ("exclusiveMaximum", "maxExclusive"),
        ] {
            if let Some(v) = schema.get(k).filter(|v| v.is_number()) {
                facets.push_str(&format!("<xs:{f} value=\"{}\"/>", value_text(v)));
            }
        }
        let mut patterns: Vec<&str> = Vec::new();
        if base == "xs:string" {
            if let Some(p) = schema.get("pattern").and_then(Value::as_str) {
                patterns.push(p);
            }
            if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
                patterns.extend(
                    all.iter()
                        .filter_map(|a| a.get("pattern").and_then(Value::as_str)),
                );
            }
        }
        let mut body = format!("<xs:restriction base=\"{base}\">");
        // Patterns in one restriction are alternatives; each JSON Schema pattern must hold,
        // so every further one restricts the type the previous one made.
        for extra in patterns.iter().skip(1) {
            body = format!(
                "<xs:restriction><xs:simpleType>{body}<xs:pattern value=\"{}\"/></xs:restriction></xs:simpleType>",
                attr_escape(&pattern::to_xsd(extra))
            );
        }
        if let Some(first) = patterns.first() {
            facets.push_str(&format!(
                "<xs:pattern value=\"{}\"/>",
                attr_escape(&pattern::to_xsd(first))
            ));
        }
        if schema.get("multipleOf").is_some()
            || schema
                .get("format")
                .and_then(Value::as_str)
                .is_some_and(|f| !matches!(f, "date" | "date-time"))
        {
            self.warn(
                pointer,
                "`multipleOf` and `format` other than date and date-time are not exported".into(),
            );
        }
        let _ = doc_ns;
        Ok(format!("{body}{facets}</xs:restriction>"))
    }

    fn write(&mut self, root: &str, locations: Locations) -> Vec<XsdFile> {
        let names: HashMap<String, String> = self
            .order
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                let base = xml_ncname(root);
                (
                    ns.clone(),
                    if i == 0 {
                        format!("{base}.xsd")
                    } else {
                        format!("{base}-{i}.xsd")
                    },
                )
            })
            .collect();
        let mut files = Vec::new();
        for ns in &self.order {
            let doc = &self.docs[ns];
            let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
            out.push_str(&schema_start(ns, &self.order, &self.docs));
            for i in &doc.imports {
                let ns_attr = if i.is_empty() {
                    String::new()
                } else {
                    format!(" namespace=\"{}\"", attr_escape(i))
                };
                let loc = match locations {
                    Locations::Files => format!(" schemaLocation=\"{}\"", attr_escape(&names[i])),
                    Locations::Embedded => String::new(),
                };
                out.push_str(&format!("  <xs:import{ns_attr}{loc}/>\n"));
            }
            for item in &doc.items {
                out.push_str("  ");
                out.push_str(item);
                out.push('\n');
            }
            out.push_str("</xs:schema>\n");
            files.push(XsdFile {
                namespace: ns.clone(),
                file_name: names[ns].clone(),
                text: out,
            });
        }
        files
    }
}

fn schema_start(ns: &str, order: &[String], docs: &BTreeMap<String, Doc>) -> String {
    let mut s = String::from("<xs:schema xmlns:xs=\"http://www.w3.org/2001/XMLSchema\"");
    for o in order {
        if !o.is_empty() {
            s.push_str(&format!(" xmlns:{}=\"{}\"", docs[o].prefix, attr_escape(o)));
        }
    }
    if !ns.is_empty() {
        s.push_str(&format!(" targetNamespace=\"{}\"", attr_escape(ns)));
    }
    s.push_str(" elementFormDefault=\"qualified\" attributeFormDefault=\"unqualified\">\n");
    s
}

fn element_decl(
    name: &str,
    occurs: Option<&str>,
    form: Option<&str>,
    nillable: bool,
    ty: &TypeUse,
) -> String {
    let mut s = format!("<xs:element name=\"{}\"", attr_escape(name));
    if let Some(f) = form {
        s.push_str(&format!(" form=\"{f}\""));
    }
    s.push_str(occurs.unwrap_or_default());
    if nillable {
        s.push_str(" nillable=\"true\"");
    }
    match ty {
        TypeUse::Named(t) => s.push_str(&format!(" type=\"{t}\"/>")),
        TypeUse::Inline(body) => s.push_str(&format!(">{body}</xs:element>")),
    }
    s
}

fn attribute_decl(name: &str, ty: &TypeUse) -> String {
    match ty {
        TypeUse::Named(t) => format!(
            "<xs:attribute name=\"{}\" type=\"{t}\"/>",
            attr_escape(name)
        ),
        TypeUse::Inline(body) => format!(
            "<xs:attribute name=\"{}\">{body}</xs:attribute>",
            attr_escape(name)
        ),
    }
}

fn type_is(schema: &Value, ty: &str) -> bool {
    match schema.get("type") {
        Some(Value::String(t)) => t == ty,
        Some(Value::Array(ts)) => ts.iter().any(|t| t == ty),
        _ => false,
    }
}

/// The built-in XSD type of a scalar schema's JSON type and format.
fn base_builtin(schema: &Value) -> &'static str {
    if type_is(schema, "integer") {
        "xs:integer"
    } else if type_is(schema, "number") {
        "xs:double"
    } else if type_is(schema, "boolean") {
        "xs:boolean"
    } else if schema.get("contentEncoding").and_then(Value::as_str) == Some("base64") {
        "xs:base64Binary"
    } else {
        match schema.get("format").and_then(Value::as_str) {
            Some("date-time") => "xs:dateTime",
            Some("date") => "xs:date",
            _ => "xs:string",
        }
    }
}

/// The built-in type of a scalar schema with no facets, which needs no type of its own.
fn plain_builtin(schema: &Value) -> Option<&'static str> {
    const FACETS: &[&str] = &[
        "enum",
        "const",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "allOf",
        "anyOf",
        "oneOf",
        "$ref",
        "properties",
    ];
    if type_is(schema, "object")
        || type_is(schema, "array")
        || FACETS.iter().any(|f| schema.get(f).is_some())
    {
        return None;
    }
    if schema.get("type").is_none()
        && schema.get("format").is_none()
        && schema.get("contentEncoding").is_none()
    {
        return Some("xs:anyType");
    }
    Some(base_builtin(schema))
}

fn value_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => crate::codec::number_text(n),
        other => other.to_string(),
    }
}

/// `s` made an NCName: other characters become `_`, and one that cannot start a name is
/// preceded by `_` (type and file names built from `$defs` keys, WSDL names).
pub(crate) fn xml_ncname(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_alphabetic() || c == '_') {
        out.insert(0, '_');
    }
    out
}

pub(crate) fn attr_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}
