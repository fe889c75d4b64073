//! The schema registry: every JSON Schema under `schemas/`, compiled once.
//!
//! Two products per schema file: a validator (the `jsonschema` crate, no network or disk
//! access, `$ref`s only to the documents under `schemas/`, linear-time patterns, `format`
//! asserted in every draft) used on the request path, and a [`Shape`], a resolved
//! type tree used by the XML codec (which elements are arrays, which text converts to what,
//! which namespace an element lives in, the order of properties) and by the mapping checker.
//!
//! CONTRACT NOTE: the public types and signatures in this file are shared by the codec,
//! mapping and pipeline modules. Extend them; do not change their meaning.

pub(crate) mod fast;
pub(crate) mod refs;
mod shape;
pub(crate) mod xml_plan;

pub use xml_plan::EncodePlan;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::view::{Doc, View};

pub use shape::{
    Additional, NodeId, Shape, ShapeNode, TypeSet, XmlAttribute, XmlChild, XmlMeta, escape_pointer,
};

/// One violation found by validation: where in the instance and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// JSON Pointer into the validated instance ("" for the root).
    pub pointer: String,
    /// A readable message naming the expectation ("expected integer, found \"ten\"").
    pub message: String,
    /// The schema keyword that failed (`required`, `type`, `pattern`, ...).
    pub keyword: String,
}

/// One compiled schema file.
pub struct Schema {
    /// Path relative to the schemas directory, with `/` separators: `acme/order.schema.json`.
    pub name: String,
    /// Absolute path of the file, for diagnostics.
    pub file: PathBuf,
    /// The schema document as written.
    pub document: Arc<Value>,
    /// The resolved type tree of the whole document (root = `shape.root()`).
    pub shape: Shape,
    validator: jsonschema::Validator,
    /// The structural validator, when the schema stays within what it covers.
    fast: Option<fast::FastValidator>,
    /// How the XML encoder writes documents of this schema, worked out once here rather
    /// than for every response.
    xml_plan: EncodePlan,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// The base URI every schema file is registered under: `file:///schemas/acme/order.json`.
/// A fixed virtual root (not the real directory) so relative `$ref`s resolve between
/// registered documents only, whatever the working directory, and nothing outside
/// `schemas/` can be named.
const BASE_URI: &str = "file:///schemas/";

impl Schema {
    /// Validates an instance, returning every violation (not just the first), each with
    /// the instance pointer. Hot path: no allocation when the instance is valid.
    pub fn validate(&self, instance: &Value) -> Result<(), Vec<Violation>> {
        // The pipeline asks `fast_valid` first, on the decoded `Doc`, and comes here with
        // a `Value` only when it had no answer or said no: `jsonschema` then decides and
        // finds every violation.
        if self.validator.is_valid(instance) {
            return Ok(());
        }
        let mut out: Vec<Violation> = self
            .validator
            .iter_errors(instance)
            .map(|e| violation(&e))
            .collect();
        if out.is_empty() {
            // `is_valid` and `iter_errors` disagreeing would be a validator bug; an
            // invalid instance must never pass as valid, so report it at the root.
            out.push(Violation {
                pointer: String::new(),
                message: "value does not match the schema".to_string(),
                keyword: "schema".to_string(),
            });
        }
        out.sort_by(|a, b| a.pointer.cmp(&b.pointer));
        Err(out)
    }

    /// The compiled validator, for plans that check a document while writing it.
    pub(crate) fn fast(&self) -> Option<&fast::FastValidator> {
        self.fast.as_ref()
    }

    /// Some(true): valid for sure (`jsonschema` would accept `view.to_value()`).
    /// Some(false): `jsonschema` would reject it. None: the schema is not covered by the
    /// fast validator (see `fast.rs`), so only `jsonschema` can tell.
    ///
    /// Reads a [`View`], so a decoded `Doc` is checked without being turned into a `Value`.
    pub fn fast_valid(&self, view: View<'_>) -> Option<bool> {
        self.fast.as_ref()?.check(view)
    }

    /// Checks a decoded or mapped document: the fast check first, on the `Doc` as it is;
    /// when it has no answer or says no, the document becomes a `Value` and `jsonschema`
    /// gives the verdict and every violation. The document comes back as checked.
    pub fn check_doc<'d>(&self, doc: Doc<'d>) -> Result<Doc<'d>, Vec<Violation>> {
        if self.fast_valid(doc.view()) == Some(true) {
            return Ok(doc);
        }
        let value = doc.into_value();
        self.validate(&value)?;
        Ok(Doc::Json(value))
    }

    /// Checks a value held as a `Value` (an aggregate call's answer): the fast check first,
    /// `jsonschema` only when it has no answer or says no.
    pub fn check_value(&self, value: &Value) -> Result<(), Vec<Violation>> {
        if self.fast_valid(View::Value(value)) == Some(true) {
            return Ok(());
        }
        self.validate(value)
    }

    /// The plan the XML encoder follows to write this schema's documents.
    pub fn xml_plan(&self) -> &EncodePlan {
        &self.xml_plan
    }

    /// Compiles one schema document (used by tests and by `load_dir`). `name` is its path
    /// relative to the schemas directory; `others` are the documents it may `$ref`, keyed
    /// by that same relative name.
    pub fn compile(
        name: &str,
        file: &Path,
        document: Value,
        others: &BTreeMap<String, Arc<Value>>,
    ) -> Result<Schema, Vec<Diagnostic>> {
        let document = Arc::new(document);
        let mut all = others.clone();
        all.insert(name.to_string(), document.clone());
        let docs = Documents::new(all);
        let shape = Shape::build(name, &document, &|n: &str| docs.get(n))
            .map_err(|message| vec![Diagnostic::error(file, message)])?;
        let reached = Documents::new(docs.closure(name));
        let registry = reached
            .registry()
            .map_err(|message| vec![Diagnostic::error(file, message)])?;
        compile_validator(name, file, document, shape, &reached, &registry).map_err(|d| vec![d])
    }
}

/// Every document of one schemas directory, by relative name and by `$id`.
struct Documents {
    by_name: BTreeMap<String, Arc<Value>>,
    /// `$id` -> relative name.
    by_id: BTreeMap<String, String>,
}

impl Documents {
    fn new(by_name: BTreeMap<String, Arc<Value>>) -> Documents {
        let by_id = by_name
            .iter()
            .filter_map(|(name, doc)| {
                let id = doc.get("$id")?.as_str()?.trim_end_matches('#');
                Some((id.to_string(), name.clone()))
            })
            .collect();
        Documents { by_name, by_id }
    }

    fn get(&self, name: &str) -> Option<Arc<Value>> {
        self.by_name
            .get(name)
            .or_else(|| self.by_id.get(name).and_then(|n| self.by_name.get(n)))
            .cloned()
    }

    /// The document named `name`, by relative name or by `$id`, with its relative name.
    fn find(&self, name: &str) -> Option<(String, Arc<Value>)> {
        let (name, doc) = self.by_name.get_key_value(name).or_else(|| {
            let name = self.by_id.get(name)?;
            self.by_name.get_key_value(name)
        })?;
        Some((name.clone(), doc.clone()))
    }

    /// The relative name of the document a `$ref` base written in `from` names.
    fn name_of_ref(&self, from: &str, base: &str) -> Option<&str> {
        let from_doc = self.by_name.get(from)?;
        let (name, _) = refs::document(from, from_doc, base, |n| self.find(n))?;
        self.by_name
            .get_key_value(&name)
            .map(|(name, _)| name.as_str())
    }

    /// `name` and every document its `$ref`s reach, transitively: what the validator
    /// registry of `name` must hold. Every `$ref` string counts, used or not, because the
    /// registry resolves them all up front.
    fn closure(&self, name: &str) -> BTreeMap<String, Arc<Value>> {
        let mut out: BTreeMap<String, Arc<Value>> = BTreeMap::new();
        let mut todo = vec![name.to_string()];
        while let Some(current) = todo.pop() {
            let Some(doc) = self.by_name.get(&current) else {
                continue;
            };
            if out.contains_key(&current) {
                continue;
            }
            out.insert(current.clone(), doc.clone());
            let mut values = vec![doc.as_ref()];
            while let Some(v) = values.pop() {
                match v {
                    Value::Object(map) => {
                        if let Some(Value::String(r)) = map.get("$ref") {
                            let base = r.split('#').next().unwrap_or_default();
                            if !base.is_empty()
                                && let Some(target) = self.name_of_ref(&current, base)
                                && !out.contains_key(target)
                            {
                                todo.push(target.to_string());
                            }
                        }
                        values.extend(map.values());
                    }
                    Value::Array(items) => values.extend(items),
                    _ => {}
                }
            }
        }
        out
    }

    /// One `jsonschema` registry holding these documents, so cross-file and `$id` refs
    /// resolve without any retrieval. Its retriever is the default one, which fetches
    /// nothing.
    fn registry(&self) -> Result<jsonschema::Registry<'_>, String> {
        let mut builder = jsonschema::Registry::new().retrieve_known_draft_meta_schemas(false);
        for (name, doc) in &self.by_name {
            builder = builder
                .add(format!("{BASE_URI}{name}"), doc.as_ref())
                .map_err(|e| format!("cannot register {name}: {e}"))?;
        }
        builder
            .prepare()
            .map_err(|e| format!("cannot resolve schema references: {e}"))
    }
}

fn compile_validator(
    name: &str,
    file: &Path,
    document: Arc<Value>,
    shape: Shape,
    reached: &Documents,
    registry: &jsonschema::Registry<'_>,
) -> Result<Schema, Diagnostic> {
    let validator = jsonschema::options()
        .offline()
        .with_registry(registry)
        .with_base_uri(format!("{BASE_URI}{name}"))
        .should_validate_formats(true)
        .with_pattern_options(jsonschema::PatternOptions::regex())
        .build(&document)
        .map_err(|e| {
            let at = e.schema_path().as_str();
            let d = Diagnostic::error(file, format!("invalid schema: {e}"));
            if at.is_empty() {
                d
            } else {
                d.location(format!("{name}#{at}"))
            }
        })?;
    // After `jsonschema` accepted the schema: the fast validator assumes a valid one.
    let fast = fast::FastValidator::compile(name, reached);
    let xml_plan = EncodePlan::new(&shape);
    Ok(Schema {
        name: name.to_string(),
        file: file.to_path_buf(),
        document,
        shape,
        validator,
        fast,
        xml_plan,
    })
}

/// Turns one `jsonschema` error into a [`Violation`]: `required` points at the object and
/// names the property; every other message is the crate's, which names value and
/// expectation.
fn violation(e: &jsonschema::ValidationError<'_>) -> Violation {
    let kind = e.kind();
    let message = match kind {
        jsonschema::error::ValidationErrorKind::Required { property } => match property {
            Value::String(p) => format!("missing required property {}", Value::String(p.clone())),
            other => format!("missing required property {other}"),
        },
        _ => e.to_string(),
    };
    Violation {
        pointer: e.instance_path().as_str().to_string(),
        message,
        keyword: kind.keyword().to_string(),
    }
}

/// A JSON syntax error as a diagnostic at its line and column.
fn json_error(file: &Path, e: &serde_json::Error) -> Diagnostic {
    let line = u32::try_from(e.line()).unwrap_or(u32::MAX);
    let column = u32::try_from(e.column()).unwrap_or(u32::MAX);
    Diagnostic::error(file, format!("invalid JSON: {e}")).at(line, column)
}

/// Every `*.json` file under `dir`, recursively, sorted by path so loading and its
/// diagnostics are deterministic.
fn collect_files(dir: &Path, out: &mut Vec<PathBuf>, errors: &mut Vec<Diagnostic>) {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) => {
            errors.push(Diagnostic::error(
                dir,
                format!("cannot read directory: {e}"),
            ));
            return;
        }
    };
    let mut paths: Vec<PathBuf> = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => paths.push(entry.path()),
            Err(e) => errors.push(Diagnostic::error(
                dir,
                format!("cannot read directory: {e}"),
            )),
        }
    }
    paths.sort();
    for path in paths {
        if path.is_dir() {
            collect_files(&path, out, errors);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

/// `root`-relative name of `path` with `/` separators.
fn relative_name(root: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(root).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// One warning per node that uses keywords the checker cannot reason about. Only nodes
/// written in this schema's own file: a shared file's nodes are reported once, by it.
/// Keywords as a message lists them: `` `a`, `b` ``.
fn backticked(names: &[String]) -> String {
    names
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn unsupported_warnings(schema: &Schema) -> Vec<Diagnostic> {
    let own = format!("{}#", schema.name);
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for node in &schema.shape.nodes {
        if !node.location.starts_with(&own) || seen.contains(&node.location.as_str()) {
            continue;
        }
        seen.push(&node.location);
        if !node.unknown.is_empty() {
            let names = backticked(&node.unknown);
            out.push(
                Diagnostic::warning(
                    &schema.file,
                    if node.unknown.len() == 1 {
                        format!("{names} is no schema keyword: validation ignores it")
                    } else {
                        format!("{names} are no schema keywords: validation ignores them")
                    },
                )
                .location(node.location.clone())
                .hint(
                    "check the spelling (`properties`, `required`, ...); name an extension `x-...`",
                ),
            );
        }
        if node.unsupported.is_empty() {
            continue;
        }
        let names = backticked(&node.unsupported);
        out.push(
            Diagnostic::warning(
                &schema.file,
                format!("static checking does not understand {names}: rules here are not proven"),
            )
            .location(node.location.clone())
            .hint("validation still applies them at run time; restate them with type, properties, enum or anyOf to have them checked"),
        );
    }
    out
}

/// Every schema under one directory, by relative name.
#[derive(Debug, Default)]
pub struct SchemaRegistry {
    schemas: BTreeMap<String, Arc<Schema>>,
}

impl SchemaRegistry {
    /// Loads and compiles every `*.json` file under `root` (recursively). Returns every
    /// problem found (unreadable file, invalid JSON with line/column, invalid schema,
    /// unresolvable `$ref`), not only the first; warnings (unsupported keywords) come back
    /// in the `Ok` side.
    pub fn load_dir(root: &Path) -> Result<(SchemaRegistry, Vec<Diagnostic>), Vec<Diagnostic>> {
        let mut errors = Vec::new();
        let mut files = Vec::new();
        collect_files(root, &mut files, &mut errors);

        let mut parsed: BTreeMap<String, (PathBuf, Arc<Value>)> = BTreeMap::new();
        for path in files {
            let bytes = match std::fs::read(&path) {
                Ok(b) => b,
                Err(e) => {
                    errors.push(Diagnostic::error(&path, format!("cannot read file: {e}")));
                    continue;
                }
            };
            match serde_json::from_slice::<Value>(&bytes) {
                Ok(doc) => {
                    parsed.insert(relative_name(root, &path), (path, Arc::new(doc)));
                }
                Err(e) => errors.push(json_error(&path, &e)),
            }
        }

        // Shapes first: they report an unresolvable `$ref` with its location, and a document
        // whose refs do not resolve must stay out of the validator registry (which resolves
        // every reference of every document it holds, up front).
        let docs = Documents::new(
            parsed
                .iter()
                .map(|(name, (_, doc))| (name.clone(), doc.clone()))
                .collect(),
        );
        let mut shaped: BTreeMap<String, (PathBuf, Arc<Value>, Shape)> = BTreeMap::new();
        for (name, (path, doc)) in parsed {
            match Shape::build(&name, &doc, &|n: &str| docs.get(n)) {
                Ok(shape) => {
                    shaped.insert(name, (path, doc, shape));
                }
                Err(message) => errors.push(Diagnostic::error(&path, message)),
            }
        }
        // One registry per schema with just the documents it reaches: a broken `$ref`
        // anywhere is then reported against the file that holds it, and only there.
        let mut registry_out = SchemaRegistry::default();
        let mut warnings = Vec::new();
        for (name, (path, doc, shape)) in shaped {
            let reached = Documents::new(docs.closure(&name));
            let registry = match reached.registry() {
                Ok(r) => r,
                Err(message) => {
                    errors.push(Diagnostic::error(&path, message));
                    continue;
                }
            };
            match compile_validator(&name, &path, doc, shape, &reached, &registry) {
                Ok(schema) => {
                    warnings.extend(unsupported_warnings(&schema));
                    registry_out.insert(schema);
                }
                Err(d) => errors.push(d),
            }
        }
        // Files in path order, whichever pass found their problem.
        errors.sort_by(|a, b| a.file.cmp(&b.file));
        if errors.is_empty() {
            Ok((registry_out, warnings))
        } else {
            Err(errors)
        }
    }

    /// Looks a schema up by its name relative to the schemas directory.
    pub fn get(&self, name: &str) -> Option<&Arc<Schema>> {
        self.schemas.get(name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Schema>> {
        self.schemas.values()
    }

    pub fn insert(&mut self, schema: Schema) {
        self.schemas.insert(schema.name.clone(), Arc::new(schema));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diagnostic::Severity;
    use serde_json::json;

    fn write(dir: &Path, name: &str, text: &str) {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    fn violations(schema: &Schema, v: Value) -> Vec<(String, String, String)> {
        match schema.validate(&v) {
            Ok(()) => Vec::new(),
            Err(vs) => vs
                .into_iter()
                .map(|v| (v.pointer, v.message, v.keyword))
                .collect(),
        }
    }

    fn s(a: &str, b: &str, c: &str) -> (String, String, String) {
        (a.to_string(), b.to_string(), c.to_string())
    }

    #[test]
    fn cross_file_and_id_refs_resolve_offline() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "acme/common.schema.json",
            r#"{"$defs": {"Money": {"type": "object", "required": ["amount"], "properties": {"amount": {"type": "string", "pattern": "^[0-9]+$"}}}}}"#,
        );
        write(
            dir.path(),
            "internal/code.json",
            r#"{"$id": "urn:example:code", "type": "string", "maxLength": 3}"#,
        );
        write(
            dir.path(),
            "acme/order.schema.json",
            r#"{
            "type": "object",
            "properties": {
                "total": {"$ref": "common.schema.json#/$defs/Money"},
                "code": {"$ref": "urn:example:code"},
                "other": {"$ref": "../internal/code.json"}
            }
        }"#,
        );
        let (reg, warnings) = SchemaRegistry::load_dir(dir.path()).unwrap();
        assert_eq!(warnings, Vec::new());
        assert_eq!(
            reg.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
            vec![
                "acme/common.schema.json",
                "acme/order.schema.json",
                "internal/code.json"
            ]
        );
        let order = reg.get("acme/order.schema.json").unwrap();
        assert_eq!(
            violations(
                order,
                json!({"total": {"amount": "12"}, "code": "EUR", "other": "X"})
            ),
            vec![]
        );
        assert_eq!(
            violations(
                order,
                json!({"total": {"amount": "1x"}, "code": "EURO", "other": "ABCD"})
            ),
            vec![
                s("/code", "\"EURO\" is longer than 3 characters", "maxLength"),
                s(
                    "/other",
                    "\"ABCD\" is longer than 3 characters",
                    "maxLength"
                ),
                s(
                    "/total/amount",
                    "\"1x\" does not match \"^[0-9]+$\"",
                    "pattern"
                ),
            ]
        );
        assert_eq!(
            violations(order, json!({"total": {}})),
            vec![s(
                "/total",
                "missing required property \"amount\"",
                "required"
            )]
        );
    }

    #[test]
    fn type_errors_and_draft07() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "d7.json",
            r##"{
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "required": ["Email"],
            "properties": {
                "n": {"$ref": "#/definitions/N"},
                "m": {"$ref": "#/definitions/N", "type": "string"},
                "pair": {"items": [{"type": "integer"}, {"type": "string"}]},
                "Email": {"type": "string", "format": "email"}
            },
            "definitions": {"N": {"type": "integer"}}
        }"##,
        );
        let (reg, warnings) = SchemaRegistry::load_dir(dir.path()).unwrap();
        let d7 = reg.get("d7.json").unwrap();
        assert_eq!(
            violations(d7, json!({"n": "ten"})),
            vec![
                s("", "missing required property \"Email\"", "required"),
                s("/n", "\"ten\" is not of type \"integer\"", "type"),
            ]
        );
        // Draft-07 tuple `items` (an error in 2020-12) and format assertion both apply.
        assert_eq!(
            violations(d7, json!({"Email": "nope", "pair": ["x", "y"]})),
            vec![
                s("/Email", "\"nope\" is not a \"email\"", "format"),
                s("/pair/0", "\"x\" is not of type \"integer\"", "type"),
            ]
        );
        // Beside a draft-07 `$ref` a `type` is ignored, by the validator and the shape alike.
        assert_eq!(
            violations(d7, json!({"Email": "a@example.com", "m": 5})),
            vec![]
        );
        let m = d7.shape.property(d7.shape.root(), "m").unwrap();
        assert_eq!(d7.shape.node(m).types, crate::schema::TypeSet::INTEGER);
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            warnings[0].location.as_deref(),
            Some("d7.json#/properties/pair")
        );
    }

    #[test]
    fn formats_are_asserted_in_2020_12() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "f.json",
            r#"{"properties": {"e": {"format": "email"}, "t": {"format": "date-time"}}}"#,
        );
        let (reg, _) = SchemaRegistry::load_dir(dir.path()).unwrap();
        let f = reg.get("f.json").unwrap();
        assert_eq!(
            violations(f, json!({"e": "a@b.example", "t": "2026-11-24T09:15:30Z"})),
            vec![]
        );
        assert_eq!(
            violations(f, json!({"e": "nope", "t": "yesterday"})),
            vec![
                s("/e", "\"nope\" is not a \"email\"", "format"),
                s("/t", "\"yesterday\" is not a \"date-time\"", "format"),
            ]
        );
    }

    #[test]
    fn hostile_pattern_runs_in_linear_time() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "p.json",
            r#"{"type": "string", "pattern": "^(a+)+$"}"#,
        );
        let (reg, _) = SchemaRegistry::load_dir(dir.path()).unwrap();
        let p = reg.get("p.json").unwrap();
        let mut hostile = "a".repeat(100_000);
        hostile.push('!');
        let started = std::time::Instant::now();
        let out = violations(p, Value::String(hostile));
        // A backtracking engine takes longer than the age of the universe here; a linear one
        // takes milliseconds. Five seconds is a margin for a loaded machine, not a benchmark.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].2, "pattern");
    }

    #[test]
    fn errors_are_collected_with_file_and_position() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "a/bad.json",
            "{\n  \"type\": \"object\",\n  \"x\": ]\n}",
        );
        write(
            dir.path(),
            "b/ref.json",
            r#"{"properties": {"m": {"$ref": "missing.json#/$defs/M"}}}"#,
        );
        write(dir.path(), "c/ok.json", r#"{"type": "string"}"#);
        write(
            dir.path(),
            "d/invalid.json",
            r#"{"type": "string", "minLength": "three"}"#,
        );
        write(
            dir.path(),
            "e/unused.json",
            r#"{"$defs": {"X": {"$ref": "https://example.com/x.json"}}}"#,
        );
        write(
            dir.path(),
            "f/c.json",
            r#"{"$defs": {"S": {"type": "string"}}}"#,
        );
        write(
            dir.path(),
            "f/urn.json",
            r#"{"$id": "urn:x:o", "properties": {"s": {"$ref": "c.json#/$defs/S"}}}"#,
        );
        write(dir.path(), "notes.txt", "not a schema");
        let errors = SchemaRegistry::load_dir(dir.path()).unwrap_err();
        assert_eq!(errors.len(), 5, "{errors:#?}");
        assert_eq!(errors[0].file, dir.path().join("a/bad.json"));
        assert_eq!((errors[0].line, errors[0].column), (Some(3), Some(8)));
        assert_eq!(
            errors[0].message,
            "invalid JSON: expected value at line 3 column 8"
        );
        assert_eq!(errors[1].file, dir.path().join("b/ref.json"));
        assert_eq!(
            errors[1].message,
            "b/ref.json#/properties/m: $ref \"missing.json#/$defs/M\" does not resolve to a known schema"
        );
        assert_eq!(errors[2].file, dir.path().join("d/invalid.json"));
        assert!(
            errors[2].message.starts_with("invalid schema: "),
            "{}",
            errors[2].message
        );
        assert_eq!(errors[3].file, dir.path().join("e/unused.json"));
        assert_eq!(
            errors[3].message,
            "cannot resolve schema references: Resource 'https://example.com/x.json' is not present in a registry and retrieving it failed: Default retriever does not fetch resources"
        );
        // A relative `$ref` resolves against the document's `$id`, and a URN has no
        // directory to resolve against.
        assert_eq!(errors[4].file, dir.path().join("f/urn.json"));
        assert!(errors[4].message.starts_with("cannot resolve schema references: Failed to resolve 'c.json#/$defs/S' against 'urn:x:o'"), "{}", errors[4].message);
        assert!(errors.iter().all(|d| d.severity == Severity::Error));
    }

    #[test]
    fn relative_refs_resolve_against_the_id_before_the_file_name() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "g/root.json",
            r#"{"$id": "https://example.com/s/root.json", "properties": {"v": {"$ref": "item.json"}}}"#,
        );
        // What `item.json` names beside the file, and what it names beside the `$id`.
        write(dir.path(), "g/item.json", r#"{"type": "integer"}"#);
        write(
            dir.path(),
            "h/x.json",
            r#"{"$id": "https://example.com/s/item.json", "type": "string"}"#,
        );
        let (reg, _) = SchemaRegistry::load_dir(dir.path()).unwrap();
        let root = reg.get("g/root.json").unwrap();
        assert_eq!(violations(root, json!({"v": "text"})), vec![]);
        assert_eq!(
            violations(root, json!({"v": 5})),
            vec![s("/v", "5 is not of type \"string\"", "type")]
        );
        let v = root.shape.property(root.shape.root(), "v").unwrap();
        assert_eq!(root.shape.node(v).types, crate::schema::TypeSet::STRING);
    }

    #[test]
    fn unsupported_keywords_become_warnings_per_node() {
        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "w.json",
            r#"{
            "type": "object",
            "properties": {"a": {"if": {"type": "string"}, "then": {"minLength": 1}}, "b": {"not": {"type": "null"}},
                "c": {"type": "object", "propertes": {"x": {}}, "x-owner": "team", "example": {}},
                "d": {"type": "string", "minLenght": 1, "requried": true}}
        }"#,
        );
        let (_, warnings) = SchemaRegistry::load_dir(dir.path()).unwrap();
        let got: Vec<_> = warnings
            .iter()
            .map(|w| (w.severity, w.location.clone().unwrap(), w.message.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    Severity::Warning,
                    "w.json#/properties/a".to_string(),
                    "static checking does not understand `if`, `then`: rules here are not proven"
                        .to_string()
                ),
                (
                    Severity::Warning,
                    "w.json#/properties/b".to_string(),
                    "static checking does not understand `not`: rules here are not proven"
                        .to_string()
                ),
                (
                    Severity::Warning,
                    "w.json#/properties/c".to_string(),
                    "`propertes` is no schema keyword: validation ignores it".to_string()
                ),
                (
                    Severity::Warning,
                    "w.json#/properties/d".to_string(),
                    "`minLenght`, `requried` are no schema keywords: validation ignores them"
                        .to_string()
                ),
            ]
        );
        assert_eq!(warnings[0].file, dir.path().join("w.json"));
    }

    #[test]
    fn compile_single_document_against_others() {
        let mut others = BTreeMap::new();
        others.insert(
            "common.json".to_string(),
            Arc::new(json!({"$defs": {"S": {"type": "string"}}})),
        );
        let schema = Schema::compile(
            "main.json",
            Path::new("/schemas/main.json"),
            json!({"properties": {"s": {"$ref": "common.json#/$defs/S"}}}),
            &others,
        )
        .unwrap();
        assert_eq!(
            violations(&schema, json!({"s": 1})),
            vec![s("/s", "1 is not of type \"string\"", "type")]
        );
        let err = Schema::compile(
            "main.json",
            Path::new("/schemas/main.json"),
            json!({"$ref": "https://example.com/x.json"}),
            &others,
        )
        .unwrap_err();
        assert_eq!(
            err[0].message,
            "main.json#: $ref \"https://example.com/x.json\" does not resolve to a known schema"
        );
    }
}
