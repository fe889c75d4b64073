//! `/openapi.json`: an OpenAPI 3.1 document of every partner route, generated from the
//! partner-facing schemas, so partners have one documented entry point.
//!
//! Only partner-facing schemas are published (a route's request `schema` and response
//! `target`, and what they reference): internal schemas describe internal services and stay
//! private. For XML routes the schema describes the JSON view of the document.
//!
//! The document is self-contained: tools read it alone, without fetching anything and
//! without honouring `$id`s, so every schema is bundled into `components/schemas`. A schema
//! file becomes one component, and each `$defs` (or draft-07 `definitions`) entry that is
//! referenced becomes a component of its own, named `<file>.<entry>`; every `$ref`, whether
//! to another file, to an `$id` or to an `$anchor`, is rewritten to
//! `#/components/schemas/<name>` plus the rest of its pointer. `$id` and `$anchor` are left
//! out of the copies (a copied `$id` would move the base the rewritten references resolve
//! against), and so is a `$schema` naming 2020-12, the dialect OpenAPI 3.1 assumes; another
//! dialect's `$schema` is kept on every component taken from that file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use serde_json::{Map, Value, json};

use crate::codec::Format;
use crate::config::Gateway;
use crate::schema::refs;

/// The dialect OpenAPI 3.1 assumes for its schemas.
const DEFAULT_DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// The name of the problem-details component, which no schema file may take.
const PROBLEM: &str = "Problem";

/// Keywords holding data rather than schemas: a `$ref` inside them is a value.
const DATA_KEYWORDS: [&str; 4] = ["enum", "const", "examples", "default"];

/// Keywords whose value maps names to schemas: a key there is a name, not a keyword.
const SCHEMA_MAPS: [&str; 6] = [
    "properties",
    "patternProperties",
    "$defs",
    "definitions",
    "dependentSchemas",
    "dependencies",
];

/// What a component holds: a schema file's root (`pointer` empty) or one entry of its
/// `$defs` or `definitions` (`pointer` is `/$defs/Money`, escaped as a JSON pointer).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Target {
    file: String,
    pointer: String,
}

impl Target {
    fn root(file: &str) -> Target {
        Target {
            file: file.to_string(),
            pointer: String::new(),
        }
    }
}

/// The schema documents a bundle draws from, by relative name and by `$id`.
struct Documents<'g> {
    by_name: BTreeMap<&'g str, &'g Value>,
    by_id: BTreeMap<&'g str, &'g str>,
}

impl<'g> Documents<'g> {
    fn new(docs: impl IntoIterator<Item = (&'g str, &'g Value)>) -> Documents<'g> {
        let by_name: BTreeMap<&str, &Value> = docs.into_iter().collect();
        let by_id = by_name
            .iter()
            .filter_map(|(name, doc)| {
                let id = doc.get("$id")?.as_str()?.trim_end_matches('#');
                Some((id, *name))
            })
            .collect();
        Documents { by_name, by_id }
    }

    /// The document named `name`, by relative name or by `$id`.
    fn get(&self, name: &str) -> Option<(&'g str, &'g Value)> {
        if let Some((n, d)) = self.by_name.get_key_value(name) {
            return Some((*n, *d));
        }
        let n = self.by_id.get(name)?;
        Some((*n, *self.by_name.get(n)?))
    }

    /// The value a target names.
    fn value(&self, target: &Target) -> Option<&'g Value> {
        self.by_name
            .get(target.file.as_str())?
            .pointer(&target.pointer)
    }

    /// The component a `$ref` written in file `from` lands in, and the JSON pointer from
    /// that component's root to the referenced schema (empty for the component itself).
    /// None when the reference names nothing known.
    fn resolve(&self, from: &str, reference: &str) -> Option<(Target, String)> {
        let (from_name, from_doc) = self.get(from)?;
        let found = |name: &str| self.get(name).map(|(n, d)| (n.to_string(), d));
        let refs::Resolved {
            name: file,
            pointer,
            ..
        } = refs::resolve(from_name, &from_doc, reference, found).ok()?;
        for container in ["$defs", "definitions"] {
            let Some(entry) = pointer
                .strip_prefix('/')
                .and_then(|p| p.strip_prefix(container))
            else {
                continue;
            };
            if entry.is_empty() {
                // The container itself is no schema, and the file's component leaves it out.
                return None;
            }
            let Some(entry) = entry.strip_prefix('/') else {
                continue;
            };
            let (name, rest) = match entry.split_once('/') {
                Some((name, rest)) => (name, format!("/{rest}")),
                None => (entry, String::new()),
            };
            let target = Target {
                file: file.to_string(),
                pointer: format!("/{container}/{name}"),
            };
            return Some((target, rest));
        }
        Some((Target::root(&file), pointer))
    }

    /// The dialect a file declares, when it is not the one OpenAPI assumes.
    fn foreign_dialect(&self, file: &str) -> Option<&'g str> {
        let dialect = self.by_name.get(file)?.get("$schema")?.as_str()?;
        (dialect.trim_end_matches('#') != DEFAULT_DIALECT).then_some(dialect)
    }
}

/// The schemas a set of routes publishes, gathered from their roots, named, and copied
/// with every reference rewritten.
struct Bundle<'g> {
    docs: Documents<'g>,
    targets: BTreeSet<Target>,
}

impl<'g> Bundle<'g> {
    fn new(docs: Documents<'g>) -> Bundle<'g> {
        Bundle {
            docs,
            targets: BTreeSet::new(),
        }
    }

    /// Adds the root of schema file `name` and everything it references, transitively.
    /// False when there is no such file.
    fn add(&mut self, name: &str) -> bool {
        if !self.docs.by_name.contains_key(name) {
            return false;
        }
        let mut todo = vec![Target::root(name)];
        while let Some(target) = todo.pop() {
            if self.targets.contains(&target) {
                continue;
            }
            let Some(value) = self.docs.value(&target) else {
                continue;
            };
            let mut found = Vec::new();
            copy(value, target.pointer.is_empty(), &mut |r, _| {
                if let Some((t, _)) = self.docs.resolve(&target.file, r) {
                    found.push(t);
                }
            });
            self.targets.insert(target);
            todo.extend(found);
        }
        true
    }

    /// The components: every gathered target under its name, with every reference
    /// rewritten to a component; then the names, so routes can point at their roots.
    fn components(&self) -> (Map<String, Value>, BTreeMap<Target, String>) {
        let keys = assign_keys(&self.targets);
        let mut out = Map::new();
        let mut named: Vec<(&String, &Target)> = self
            .targets
            .iter()
            .filter_map(|t| Some((keys.get(t)?, t)))
            .collect();
        named.sort();
        for (key, target) in named {
            let Some(value) = self.docs.value(target) else {
                continue;
            };
            let mut schema = copy(value, target.pointer.is_empty(), &mut |r, into| {
                match self
                    .docs
                    .resolve(&target.file, r)
                    .and_then(|(t, rest)| Some((keys.get(&t)?, rest)))
                {
                    Some((key, rest)) => {
                        into.insert(
                            "$ref".into(),
                            Value::String(format!("#/components/schemas/{key}{}", fragment(&rest))),
                        );
                    }
                    None => {
                        // The loader refuses references it cannot follow, so this is a
                        // reference the bundle does not understand: say so rather than
                        // publish a dangling one.
                        into.entry("$comment")
                            .or_insert_with(|| Value::String(format!("not published: $ref {r}")));
                    }
                }
            });
            if let (Some(dialect), Value::Object(map)) =
                (self.docs.foreign_dialect(&target.file), &mut schema)
            {
                map.shift_insert(0, "$schema".into(), Value::String(dialect.to_string()));
            }
            out.insert(key.clone(), schema);
        }
        (out, keys)
    }
}

/// A copy of `schema` for the document: `$id`, `$anchor` and `$schema` left out, the data
/// keywords copied as they are, and each `$ref` handed to `on_ref` with the object being
/// built, to write what replaces it. `file_root`: the root of a schema file, whose `$defs`
/// and `definitions` are components of their own and are left out.
fn copy(
    schema: &Value,
    file_root: bool,
    on_ref: &mut dyn FnMut(&str, &mut Map<String, Value>),
) -> Value {
    match schema {
        Value::Object(map) => {
            let mut out = Map::new();
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$defs" | "definitions", Value::Object(_)) if file_root => {}
                    ("$id" | "$anchor" | "$schema", Value::String(_)) => {}
                    ("$ref", Value::String(r)) => on_ref(r, &mut out),
                    (k, v) if DATA_KEYWORDS.contains(&k) => {
                        out.insert(k.to_string(), v.clone());
                    }
                    (k, Value::Object(named)) if SCHEMA_MAPS.contains(&k) => {
                        let named = named
                            .iter()
                            .map(|(name, s)| (name.clone(), copy(s, false, on_ref)))
                            .collect();
                        out.insert(k.to_string(), Value::Object(named));
                    }
                    (k, v) => {
                        out.insert(k.to_string(), copy(v, false, on_ref));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(|v| copy(v, false, on_ref)).collect()),
        other => other.clone(),
    }
}

/// Component names for every target: `<file>` for a file's root, `<file>.<entry>` for a
/// `$defs` entry, where `<file>` is its path without `.schema.json` and with `/` and `.`
/// as `_` (`globex/common.schema.json#/$defs/Money` is `globex_common.Money`). Names that
/// two targets (or a target and [`PROBLEM`]) would share each get a suffix derived from
/// the target itself, so a name never depends on the order of files.
fn assign_keys(targets: &BTreeSet<Target>) -> BTreeMap<Target, String> {
    let mut claims: BTreeMap<String, Vec<&Target>> = BTreeMap::new();
    for t in targets {
        claims.entry(readable_key(t)).or_default().push(t);
    }
    let mut taken: BTreeSet<String> = BTreeSet::from([PROBLEM.to_string()]);
    let mut out = BTreeMap::new();
    for (key, claimants) in &claims {
        if let [only] = claimants.as_slice()
            && key != PROBLEM
        {
            taken.insert(key.clone());
            out.insert((*only).clone(), key.clone());
        }
    }
    for (key, claimants) in &claims {
        if claimants.len() == 1 && key != PROBLEM {
            continue;
        }
        for t in claimants {
            let base = format!("{key}-{:08x}", fnv1a(&format!("{}#{}", t.file, t.pointer)));
            let mut name = base.clone();
            let mut n = 2;
            while taken.contains(&name) {
                name = format!("{base}-{n}");
                n += 1;
            }
            taken.insert(name.clone());
            out.insert((*t).clone(), name);
        }
    }
    out
}

/// The name a target would have if no other one wanted it.
fn readable_key(t: &Target) -> String {
    let file = component_key(&t.file);
    match t.pointer.rsplit_once('/') {
        Some((_, entry)) if !t.pointer.is_empty() => {
            let entry = entry.replace("~1", "/").replace("~0", "~");
            format!("{file}.{}", sanitize(&entry))
        }
        _ => file,
    }
}

fn component_key(name: &str) -> String {
    let stem = name.strip_suffix(".json").unwrap_or(name);
    let stem = stem.strip_suffix(".schema").unwrap_or(stem);
    sanitize(&stem.replace(['/', '.'], "_"))
}

/// `name` in the characters OpenAPI allows in a component name (`[A-Za-z0-9._-]`), any
/// other as `_`.
fn sanitize(name: &str) -> String {
    if name.is_empty() {
        return "_".to_string();
    }
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// 32-bit FNV-1a: a short, stable tag for a name that would otherwise be shared.
fn fnv1a(s: &str) -> u32 {
    s.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(0x0100_0193)
    })
}

/// A JSON pointer as a URI fragment: characters a fragment may not hold percent-encoded.
fn fragment(pointer: &str) -> String {
    let mut out = String::with_capacity(pointer.len());
    for b in pointer.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?".contains(&b) {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// The OpenAPI document of the gateway's partner routes.
pub fn document(gw: &Gateway) -> Value {
    let mut bundle = Bundle::new(Documents::new(
        gw.schemas
            .iter()
            .map(|s| (s.name.as_str(), s.document.as_ref())),
    ));
    for r in gw.routes.iter().filter(|r| r.soap.is_none()) {
        if let Some(req) = &r.spec.request {
            bundle.add(&req.schema);
        }
        if let Some(resp) = &r.spec.response {
            bundle.add(&resp.target);
        }
    }
    let (mut schemas, keys) = bundle.components();
    // A route's schema as its component; `{}` (anything) only if the file were missing,
    // which the loader does not let happen.
    let schema_of = |name: &str| match keys.get(&Target::root(name)) {
        Some(key) => json!({"$ref": format!("#/components/schemas/{key}")}),
        None => json!({}),
    };

    let mut paths: Map<String, Value> = Map::new();
    // A proxy route's contract is its service's, not the gateway's to publish; a SOAP
    // route's is its endpoint's WSDL (`export wsdl`), which OpenAPI has no form for.
    for r in gw
        .routes
        .iter()
        .filter(|r| r.kind != crate::config::RouteKind::Proxy && r.soap.is_none())
    {
        let media = match r.format {
            Format::Xml => "application/xml",
            Format::Json => "application/json",
        };
        let problem = match r.format {
            Format::Xml => "application/problem+xml",
            Format::Json => "application/problem+json",
        };
        let mut op = Map::new();
        op.insert(
            "operationId".into(),
            Value::String(r.name.replace('/', "_")),
        );
        op.insert("tags".into(), json!([r.partner]));
        let params: Vec<Value> = r
            .path_params
            .iter()
            .map(|p| json!({"name": p, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op.insert("parameters".into(), Value::Array(params));
        }
        if let Some(req) = &r.spec.request {
            op.insert(
                "requestBody".into(),
                json!({"required": true, "content": {media: {"schema": schema_of(&req.schema)}}}),
            );
        }
        let ok = match &r.spec.response {
            Some(resp) => {
                json!({"description": "Success", "content": {media: {"schema": schema_of(&resp.target)}}})
            }
            None => json!({"description": "The service's answer, passed through"}),
        };
        let err = |d: &str| json!({"description": d, "content": {problem: {"schema": {"$ref": format!("#/components/schemas/{PROBLEM}")}}}});
        let mut responses = Map::new();
        responses.insert("200".into(), ok);
        if r.spec.request.is_some() {
            responses.insert("400".into(), err("Malformed body"));
            responses.insert("413".into(), err("Body too large"));
            responses.insert("415".into(), err("Wrong media type"));
            responses.insert("422".into(), err("The body does not match the schema"));
        }
        responses.insert("502".into(), err("The service failed"));
        responses.insert("504".into(), err("The service timed out"));
        op.insert("responses".into(), Value::Object(responses));
        let entry = paths
            .entry(r.path.clone())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = entry {
            m.insert(r.method.as_str().to_ascii_lowercase(), Value::Object(op));
        }
    }
    schemas.insert(
        PROBLEM.into(),
        json!({
            "type": "object",
            "description": "RFC 9457 problem details",
            "xml": {"name": "problem", "namespace": "urn:ietf:rfc:7807"},
            "properties": {
                "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
                "detail": {"type": "string"}, "instance": {"type": "string", "description": "the correlation id"},
                "errors": {"type": "array", "items": {"type": "object", "properties": {
                    "pointer": {"type": "string"}, "message": {"type": "string"},
                    "line": {"type": "integer"}, "column": {"type": "integer"}}}}
            }
        }),
    );
    json!({
        "openapi": "3.1.0",
        "info": {"title": "Partner API", "version": "1", "description": "Partner routes served by schemagate."},
        "paths": paths,
        "components": {"schemas": schemas},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::refs::{join_relative, percent_decode};

    /// The components bundled from `docs` for routes using `roots`.
    fn bundle(docs: &[(&str, Value)], roots: &[&str]) -> Value {
        let mut b = Bundle::new(Documents::new(docs.iter().map(|(n, d)| (*n, d))));
        for root in roots {
            assert!(b.add(root), "{root}");
        }
        Value::Object(b.components().0)
    }

    /// Every `$ref` of `doc`, outside data keywords.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        (k, _) if DATA_KEYWORDS.contains(&k) => {}
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    /// What a tool reading the document alone sees: every reference a pointer into it.
    fn assert_self_contained(doc: &Value) {
        let mut found = Vec::new();
        refs(doc, &mut found);
        assert!(!found.is_empty());
        for r in found {
            let pointer = r
                .strip_prefix('#')
                .and_then(percent_decode)
                .unwrap_or_else(|| panic!("{r} leaves the document"));
            assert!(doc.pointer(&pointer).is_some(), "{r} resolves to nothing");
        }
    }

    #[test]
    fn names() {
        assert_eq!(component_key("acme/order.schema.json"), "acme_order");
        assert_eq!(component_key("acme/order-ack.json"), "acme_order-ack");
        assert_eq!(component_key("x/n\u{e4}me v2.json"), "x_n_me_v2");
        assert_eq!(
            join_relative("globex/order.json", "../internal/./x.json").as_deref(),
            Some("internal/x.json")
        );
        assert_eq!(join_relative("order.json", "../x.json"), None);
        assert_eq!(fragment("/properties/a b/%"), "/properties/a%20b/%25");
        assert_eq!(fnv1a(""), 0x811c_9dc5);
        assert_eq!(fnv1a("a"), 0xe40c_292c);
    }

    #[test]
    fn references_of_every_kind_become_component_references() {
        let docs = [
            (
                "shop/common.schema.json",
                json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema",
                    "$id": "urn:shop:common",
                    "title": "shared",
                    "$defs": {
                        "Money": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
                        "Unused": {"$ref": "nowhere.json"},
                        "weird/name": {"$anchor": "weird", "type": "integer"}
                    }
                }),
            ),
            (
                "shop/order.schema.json",
                json!({
                    "$schema": "https://json-schema.org/draft/2020-12/schema#",
                    "type": "object",
                    "properties": {
                        "total": {"$ref": "common.schema.json#/$defs/Money"},
                        "code": {"$ref": "urn:shop:common#/$defs/weird~1name"},
                        "anchored": {"$ref": "urn:shop:common#weird"},
                        "line": {"$ref": "#/$defs/Line", "description": "one line"},
                        "sku": {"$ref": "#/$defs/Line/properties/sku"},
                        "enum": {"$ref": "../legacy/item.json"},
                        "parent": {"$ref": "#"},
                        "lost": {"$ref": "missing.json#/$defs/X"}
                    },
                    "examples": [{"$ref": "an example, not a reference"}],
                    "$defs": {
                        "Line": {
                            "$id": "line",
                            "type": "object",
                            "properties": {"sku": {"type": "string"}}
                        }
                    }
                }),
            ),
            (
                "legacy/item.json",
                json!({
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "properties": {"sku": {"$ref": "#/definitions/Sku"}},
                    "definitions": {"Sku": {"type": "string"}}
                }),
            ),
        ];
        let components = bundle(&docs, &["shop/order.schema.json"]);
        assert_eq!(
            components,
            json!({
                "legacy_item": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "properties": {"sku": {"$ref": "#/components/schemas/legacy_item.Sku"}}
                },
                "legacy_item.Sku": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "string"
                },
                "shop_common.Money": {"type": "string", "pattern": "^[0-9]+\\.[0-9]{2}$"},
                "shop_common.weird_name": {"type": "integer"},
                "shop_order": {
                    "type": "object",
                    "properties": {
                        "total": {"$ref": "#/components/schemas/shop_common.Money"},
                        "code": {"$ref": "#/components/schemas/shop_common.weird_name"},
                        "anchored": {"$ref": "#/components/schemas/shop_common.weird_name"},
                        "line": {"$ref": "#/components/schemas/shop_order.Line", "description": "one line"},
                        "sku": {"$ref": "#/components/schemas/shop_order.Line/properties/sku"},
                        "enum": {"$ref": "#/components/schemas/legacy_item"},
                        "parent": {"$ref": "#/components/schemas/shop_order"},
                        "lost": {"$comment": "not published: $ref missing.json#/$defs/X"}
                    },
                    "examples": [{"$ref": "an example, not a reference"}]
                },
                "shop_order.Line": {
                    "type": "object",
                    "properties": {"sku": {"type": "string"}}
                }
            })
        );
        let doc = json!({"components": {"schemas": components}});
        assert_self_contained(&doc);
    }

    #[test]
    fn names_two_schemas_would_share_get_a_tag_of_their_own() {
        let docs = [
            ("a/b.json", json!({"$ref": "../a_b.schema.json"})),
            ("a_b.schema.json", json!({"$ref": "Problem.json"})),
            ("Problem.json", json!({"type": "object"})),
        ];
        let components = bundle(&docs, &["a/b.json"]);
        let tag = |s: &str| format!("{:08x}", fnv1a(s));
        assert_eq!(tag("a/b.json#"), "453dc2d8");
        assert_eq!(tag("a_b.schema.json#"), "08e90f33");
        assert_eq!(tag("Problem.json#"), "4038b389");
        assert_eq!(
            components,
            json!({
                "Problem-4038b389": {"type": "object"},
                "a_b-08e90f33": {"$ref": "#/components/schemas/Problem-4038b389"},
                "a_b-453dc2d8": {"$ref": "#/components/schemas/a_b-08e90f33"}
            })
        );
    }

    #[test]
    fn the_example_routes_publish_a_self_contained_document() {
        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let gw = crate::config::load(&crate::config::LoadOptions {
            config_path: Some(root.join("gateway.toml")),
            ..Default::default()
        })
        .unwrap();
        let doc = document(&gw);
        assert_self_contained(&doc);
        let schemas = &doc["components"]["schemas"];
        let names: Vec<&str> = schemas
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            names,
            [
                "acme_order",
                "acme_order-ack",
                "acme_order.Customer",
                "acme_order.Item",
                "acme_order.Order",
                "acme_order.ShipTo",
                "acme_order.text",
                "globex_common.Country",
                "globex_common.Currency",
                "globex_common.Money",
                "globex_order",
                "globex_order-ack",
                "globex_order-status",
                "Problem"
            ]
        );
        assert_eq!(
            schemas["acme_order"],
            json!({
                "title": "ACME purchase order",
                "description": schemas["acme_order"]["description"],
                "type": "object",
                "required": ["Order"],
                "properties": {"Order": {"$ref": "#/components/schemas/acme_order.Order"}}
            })
        );
        assert_eq!(
            schemas["acme_order.Customer"],
            json!({
                "type": "object",
                "required": ["Name", "Email", "Phone"],
                "properties": {
                    "Name": {"$ref": "#/components/schemas/acme_order.text"},
                    "Email": {"type": "string", "pattern": "^\\s*[^@\\s]+@[^@\\s]+\\.[^@\\s]+\\s*$"},
                    "Phone": {"$ref": "#/components/schemas/acme_order.text"}
                }
            })
        );
        assert_eq!(
            schemas["globex_common.Money"],
            json!({"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$", "description": "amount with exactly two decimals, as text"})
        );
        assert_eq!(
            schemas["globex_order"]["properties"]["items"]["items"]["properties"]["unitPrice"],
            json!({"$ref": "#/components/schemas/globex_common.Money"})
        );
        assert_eq!(
            doc["paths"]["/partners/globex/orders"]["post"]["requestBody"],
            json!({"required": true, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/globex_order"}}}})
        );
    }
}
