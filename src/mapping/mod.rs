//! The mapping language: route files under `mappings/`, compiled once, evaluated per
//! request, and checked statically against the source and target schemas.
//!
//! The stages, one module each:
//! - [`syntax`]: the route file as written (serde + schemars), keys with line/column;
//! - [`path`]: source paths parsed into segments, resolved over borrowed JSON;
//! - [`mod@compile`]: the map turned into plain structures, every error collected;
//! - `eval`: one document mapped, allocating only the output;
//! - [`exclusive`]: the proof that `when` conditions exclude each other, which lets
//!   several rules write one target;
//! - [`mod@check`]: the compiled map proven against the source and target shapes.
//!
//! The language itself is documented in `docs/mapping.md`.
//!
//! CONTRACT NOTE: `RouteFile` (syntax), `CompiledMap::apply`, `EvalContext`, `MapError`,
//! `load_route_file`, `compile` and `check` are used by config loading and the pipeline.

pub mod check;
pub mod compile;
pub mod direct;
mod eval;
pub mod exclusive;
pub mod path;
pub mod syntax;

use std::path::Path;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::schema::Shape;
use crate::view::{Doc, View};

pub use syntax::RouteFile;

/// Everything a mapping may read besides the source document.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    /// Path parameters of the matched route (`{id}` -> value).
    pub path_params: &'a [(String, String)],
    /// Query parameters, in order; repeated names appear repeatedly.
    pub query: &'a [(String, String)],
    pub headers: &'a http::HeaderMap,
    /// Verified JWT claims, when the route is authenticated by JWT.
    pub claims: Option<&'a Value>,
    /// A SOAP request's header entries by local name (`$soap.header.NAME`), in request
    /// mappings of SOAP routes that read them.
    pub soap_header: Option<&'a Value>,
    /// The partner's name: the directory of the route file.
    pub partner: &'a str,
    pub correlation_id: &'a str,
    /// The original request's decoded body, for response mappings (`$request...`).
    pub request: Option<&'a Value>,
}

/// What a mapping may read from the context, declared by the route, so the checker can
/// prove `$path.id` exists and so on.
#[derive(Debug, Clone, Default)]
pub struct ContextDecl {
    pub path_params: Vec<String>,
    /// Whether the original request body is available (response mappings of body routes).
    pub has_request: bool,
    /// The shape of the original request (for `$request...` paths in response mappings).
    pub request_shape: Option<Shape>,
}

/// A mapping failed on a particular input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{target}: {message}")]
pub struct MapError {
    /// JSON Pointer of the output value being produced.
    pub target: String,
    /// JSON Pointer of the input value that caused it, when there is one.
    pub input: Option<String>,
    pub message: String,
}

/// A mapping compiled into plain structures: no parsing on the request path.
#[derive(Debug, Clone)]
pub struct CompiledMap {
    root: compile::ObjectRule,
    /// What of the partner's request this (response) map reads through `$request`.
    request_reads: Reads,
}

/// The part of a document a map reads: members by key, down to the values read whole.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Reads {
    /// The value is read as a whole (some path ends here).
    whole: bool,
    children: Vec<(String, Reads)>,
}

impl Reads {
    /// What is read below member `key`, added empty when new.
    fn child(&mut self, key: &str) -> &mut Reads {
        let at = match self.children.iter().position(|(k, _)| k == key) {
            Some(at) => at,
            None => {
                self.children.push((key.to_owned(), Reads::default()));
                self.children.len() - 1
            }
        };
        &mut self.children[at].1
    }

    fn add(&mut self, segments: &[String]) {
        match segments.split_first() {
            Some((first, rest)) => self.child(first).add(rest),
            None => self.whole = true,
        }
    }

    /// Adds what `other` reads.
    pub fn merge(&mut self, other: &Reads) {
        self.whole |= other.whole;
        for (key, reads) in &other.children {
            self.child(key).merge(reads);
        }
    }

    /// True when nothing is read.
    pub fn is_empty(&self) -> bool {
        !self.whole && self.children.is_empty()
    }

    /// The value holding what is read of `view` and nothing else: every path read gives the
    /// same result on it as on the whole document. Objects on the way are built with the
    /// members read only; a value read whole, or an array or scalar on the way, is copied.
    pub fn extract(&self, view: View<'_>) -> Value {
        if self.whole || view.kind() != crate::view::Kind::Object {
            return view.to_value();
        }
        let mut out = serde_json::Map::with_capacity(self.children.len());
        for (key, reads) in &self.children {
            if let Some(child) = view.get(key) {
                out.insert(key.clone(), reads.extract(child));
            }
        }
        Value::Object(out)
    }
}

impl CompiledMap {
    /// Runs the mapping on one source document. The output is always an object whose
    /// members follow the order of the map.
    pub fn apply(&self, source: &Value, ctx: &EvalContext<'_>) -> Result<Value, MapError> {
        self.apply_doc(View::Value(source), ctx)
            .map(Doc::into_value)
    }

    /// [`CompiledMap::apply`] on a document read through a [`View`] (a decoded [`Doc`]
    /// included), with the output as a [`Doc`] whose keys are borrowed from the map: what
    /// the request direction validates and serialises without hashing every output key
    /// into a `Value`. The same result as `apply` on the view's value.
    pub fn apply_doc<'m: 'v, 'v>(
        &'m self,
        source: View<'v>,
        ctx: &'v EvalContext<'_>,
    ) -> Result<Doc<'m>, MapError> {
        let eval = eval::Eval { source, ctx };
        eval.object(&self.root, None)
    }

    /// What this map reads of the partner's request through `$request` (a response map).
    pub fn request_reads(&self) -> &Reads {
        &self.request_reads
    }

    /// The compiled target fields, in output order (for the checker and tools).
    pub fn fields(&self) -> &[compile::Field] {
        &self.root.fields
    }

    /// Each rule reading a context source under `root` (a rule of an `each` or a nested
    /// map is reported itself), with the first such path it reads: what a check that
    /// depends on the route's configuration (`$claims` needs JWT) points at.
    pub fn rules_reading(&self, root: &path::Root) -> Vec<(&compile::Field, &path::SourcePath)> {
        fn walk<'a>(
            fields: &'a [compile::Field],
            root: &path::Root,
            out: &mut Vec<(&'a compile::Field, &'a path::SourcePath)>,
        ) {
            for f in fields {
                let mut own = Vec::new();
                match &f.node {
                    compile::Node::Object(o) => walk(o, root, out),
                    compile::Node::Value(_) | compile::Node::Choice(_) => {
                        f.node.source_paths(&mut own)
                    }
                    compile::Node::Each(e) => {
                        own.push(&e.source);
                        for c in [&e.when, &e.filter].into_iter().flatten() {
                            c.paths(&mut own);
                        }
                        match &e.body {
                            compile::EachBody::Map(o) => walk(o, root, out),
                            compile::EachBody::Item(n) => n.source_paths(&mut own),
                        }
                    }
                }
                if let Some(p) = own.into_iter().find(|p| &p.root == root) {
                    out.push((f, p));
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root.fields, root, &mut out);
        out
    }
}

/// Largest route file read. Route files are hand-written; a bigger one is a mistake
/// (or not a route file) and is refused before parsing.
pub const MAX_ROUTE_FILE_BYTES: u64 = 1 << 20;

/// Reads and parses one route file (YAML or JSON by extension), reporting syntax errors
/// and unknown keys with line and column.
pub fn load_route_file(path: &Path) -> Result<RouteFile, Vec<Diagnostic>> {
    let io_err = |e: std::io::Error| {
        vec![Diagnostic::error(
            path,
            format!("cannot read route file: {e}"),
        )]
    };
    let len = std::fs::metadata(path).map_err(io_err)?.len();
    if len > MAX_ROUTE_FILE_BYTES {
        return Err(vec![Diagnostic::error(
            path,
            format!("route file is {len} bytes; the limit is {MAX_ROUTE_FILE_BYTES}"),
        )]);
    }
    let text = std::fs::read_to_string(path).map_err(io_err)?;
    let is_json = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    if is_json {
        parse_route_json(&text, path)
    } else {
        parse_route_yaml(&text, path)
    }
}

/// How route files are read: YAML 1.2 core-schema scalars, so a plain `no`, `N`, `off` or
/// `y` (a country code, an answer, a relative path) stays the string it looks like and only
/// `true`/`false` are booleans. Numbers the core schema does not know (`007`, `0777`,
/// `1_000`) stay strings too, so codes with leading zeros are never shortened.
fn route_yaml_options() -> serde_saphyr::Options {
    serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    }
}

/// Parses route-file YAML text; `file` names it in diagnostics.
pub fn parse_route_yaml(text: &str, file: &Path) -> Result<RouteFile, Vec<Diagnostic>> {
    serde_saphyr::from_str_with_options::<RouteFile>(text, route_yaml_options()).map_err(|e| {
        let pos = e.location().and_then(|l| {
            let line = u32::try_from(l.line()).ok()?;
            let col = u32::try_from(l.column()).ok()?;
            (line > 0).then_some((line, col))
        });
        let message = strip_position_suffix(e.without_snippet().to_string());
        vec![with_suggestion(
            Diagnostic::error(file, message).at_opt(pos),
        )]
    })
}

/// Drops the parser's own ` at line N, column M` suffix: the diagnostic carries the
/// position already.
fn strip_position_suffix(mut message: String) -> String {
    if let Some(i) = message.rfind(" at line ") {
        let tail = message.get(i + 9..).unwrap_or("");
        let is_pos = tail.split_once(", column ").is_some_and(|(l, c)| {
            !l.is_empty() && !c.is_empty() && l.bytes().chain(c.bytes()).all(|b| b.is_ascii_digit())
        });
        if is_pos {
            message.truncate(i);
        }
    }
    message
}

/// Parses route-file JSON text; `file` names it in diagnostics. JSON parse errors have
/// positions; rule positions are not recorded for JSON files.
pub fn parse_route_json(text: &str, file: &Path) -> Result<RouteFile, Vec<Diagnostic>> {
    serde_json::from_str::<RouteFile>(text).map_err(|e| {
        let pos = u32::try_from(e.line())
            .ok()
            .zip(u32::try_from(e.column()).ok())
            .filter(|(l, _)| *l > 0);
        vec![with_suggestion(
            Diagnostic::error(file, e.to_string()).at_opt(pos),
        )]
    })
}

/// A parser's message about an unknown key lists the keys it expected: the closest of
/// them becomes the hint (`form` for `from`).
fn with_suggestion(d: Diagnostic) -> Diagnostic {
    match crate::suggest::for_message(&d.message) {
        Some(hint) => d.hint(hint),
        None => d,
    }
}

/// Compiles the `map` of one direction. `file` is used in diagnostics.
pub fn compile(
    route: &RouteFile,
    direction: syntax::Direction,
    file: &Path,
) -> Result<CompiledMap, Vec<Diagnostic>> {
    compile_section(route, direction.into(), file)
}

/// Compiles the `map` of any mapping section (`errors:` included).
pub fn compile_section(
    route: &RouteFile,
    section: syntax::Section,
    file: &Path,
) -> Result<CompiledMap, Vec<Diagnostic>> {
    let Some(spec) = route.section(section) else {
        return Err(vec![Diagnostic::error(
            file,
            format!("the route file has no `{}:` section", section.name()),
        )]);
    };
    let mut compiler = compile::Compiler::new(file);
    let mut root = compile::ObjectRule::new(compiler.map(&spec.map, "", "", 0));
    if compiler.errors.is_empty() {
        root.seal();
        let mut paths = Vec::new();
        root.source_paths(&mut paths);
        let mut request_reads = Reads::default();
        for p in paths.into_iter().filter(|p| p.root == path::Root::Request) {
            request_reads.add(&p.segments);
        }
        Ok(CompiledMap {
            root,
            request_reads,
        })
    } else {
        Err(compiler.errors)
    }
}

/// Proves one direction's mapping against its source and target shapes.
pub fn check(
    route: &RouteFile,
    direction: syntax::Direction,
    file: &Path,
    source: &Shape,
    target: &Shape,
    ctx: &ContextDecl,
) -> Vec<Diagnostic> {
    check_section(route, direction.into(), file, source, target, ctx)
}

/// Proves any mapping section against its source and target shapes.
pub fn check_section(
    route: &RouteFile,
    section: syntax::Section,
    file: &Path,
    source: &Shape,
    target: &Shape,
    ctx: &ContextDecl,
) -> Vec<Diagnostic> {
    let compiled = match compile_section(route, section, file) {
        Ok(c) => c,
        Err(diags) => return diags,
    };
    check::check_compiled(route, section, file, &compiled, source, target, ctx)
}

/// The JSON Schema of the route-file format, for `schemagate schema mapping`.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RouteFile)).unwrap_or(Value::Null)
}

#[cfg(test)]
pub(crate) mod test_support {
    //! Helpers shared by the mapping tests: compile YAML text, run it with a context.

    use std::path::Path;

    use serde_json::Value;

    use crate::view::{Doc, View};

    use super::syntax::Direction;
    use super::{CompiledMap, EvalContext, MapError, compile, parse_route_yaml};

    /// Compiles the `request:` map of a minimal route file whose map is `map_yaml`
    /// (indented by the caller as a block under `map:`).
    pub(crate) fn compile_map(
        map_yaml: &str,
    ) -> Result<CompiledMap, Vec<crate::diagnostic::Diagnostic>> {
        let text = route_text(map_yaml);
        let route = parse_route_yaml(&text, Path::new("t.yaml"))?;
        compile(&route, Direction::Request, Path::new("t.yaml"))
    }

    pub(crate) fn route_text(map_yaml: &str) -> String {
        let mut text = String::from(
            "route: { method: POST, path: \"/p/{id}\", format: json, headers: [X-Tenant], query: [page] }\n\
             upstream: { service: s, path: /u }\n\
             request:\n  schema: a.json\n  target: b.json\n  map:\n",
        );
        for line in map_yaml.lines() {
            text.push_str("    ");
            text.push_str(line);
            text.push('\n');
        }
        text
    }

    pub(crate) fn run(map_yaml: &str, source: &Value) -> Result<Value, MapError> {
        let map = match compile_map(map_yaml) {
            Ok(m) => m,
            Err(d) => panic!("compile failed: {d:?}"),
        };
        let headers = {
            let mut h = http::HeaderMap::new();
            h.insert("x-tenant", http::HeaderValue::from_static("t-9"));
            h
        };
        let claims = serde_json::json!({"sub": "u1", "org": {"id": 42}});
        let request = serde_json::json!({"Order": {"@currency": "EUR"}});
        let ctx = EvalContext {
            path_params: &[("id".to_owned(), "A-1".to_owned())],
            query: &[
                ("page".to_owned(), "2".to_owned()),
                ("page".to_owned(), "3".to_owned()),
            ],
            headers: &headers,
            claims: Some(&claims),
            soap_header: None,
            partner: "acme",
            correlation_id: "c-1",
            request: Some(&request),
        };
        let on_value = map.apply(source, &ctx);
        // The same map on the document as the XML decoder hands it over (member lists),
        // and with `$request` cut down to what the map reads of it: same result.
        let doc = Doc::deep(source);
        let on_doc = map.apply_doc(doc.view(), &ctx);
        // The output as a Doc is written byte for byte as the output value.
        assert_eq!(
            on_doc.as_ref().map(|d| serde_json::to_string(d).ok()),
            on_value.as_ref().map(|v| serde_json::to_string(v).ok()),
        );
        assert_eq!(
            on_doc.map(Doc::into_value),
            on_value,
            "a Doc source maps as its value"
        );
        // Written directly against a target schema that takes anything: the same bytes,
        // and no write where the map fails.
        let any = std::sync::Arc::new(
            crate::schema::Schema::compile(
                "b.json",
                Path::new("b.json"),
                serde_json::json!({}),
                &std::collections::BTreeMap::new(),
            )
            .expect("the empty schema compiles"),
        );
        if let Some(plan) = super::direct::DirectPlan::new(&map, &any) {
            let mut out = Vec::new();
            let wrote = plan.write(&map, doc.view(), &ctx, &mut out);
            match &on_value {
                Ok(v) => {
                    assert!(wrote, "the plan writes what the map maps");
                    assert_eq!(String::from_utf8(out).ok(), serde_json::to_string(v).ok());
                }
                Err(_) => assert!(!wrote, "the plan writes nothing where the map fails"),
            }
        }
        let kept = map.request_reads().extract(View::Value(&request));
        let cut = EvalContext {
            request: Some(&kept),
            ..ctx
        };
        assert_eq!(
            map.apply(source, &cut),
            on_value,
            "$request cut to its reads"
        );
        on_value
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    use serde_json::{Value, json};

    use super::syntax::Direction;
    use super::*;

    #[test]
    fn request_reads_keep_what_the_map_reads_and_nothing_else() {
        let map = test_support::compile_map(
            "cur: $request/Order/@currency\n\
             first: $request/Order/Item/0/Sku\n\
             who: { template: \"{$request/Order/Customer/Name}\" }\n\
             all: $request/Order/Ship\n\
             deep: $request/Order/Ship/Street\n\
             gone: $request/Nope/x",
        )
        .expect("map compiles");
        let request = json!({"Order": {
            "@id": "A-1", "@currency": "EUR",
            "Customer": {"Name": "Ann", "Email": "a@x"},
            "Item": [{"Sku": "S1", "Qty": 1}, {"Sku": "S2", "Qty": 2}],
            "Ship": {"Street": "Main 1", "City": "Oslo"},
            "Notes": "private"
        }});
        let doc = crate::view::Doc::deep(&request);
        for view in [View::Value(&request), doc.view()] {
            assert_eq!(
                map.request_reads().extract(view),
                json!({"Order": {
                    "@currency": "EUR",
                    "Item": [{"Sku": "S1", "Qty": 1}, {"Sku": "S2", "Qty": 2}],
                    "Customer": {"Name": "Ann"},
                    "Ship": {"Street": "Main 1", "City": "Oslo"}
                }})
            );
        }
        let none = test_support::compile_map("a: /x").expect("map compiles");
        assert!(none.request_reads().is_empty());
        assert_eq!(
            none.request_reads().extract(View::Value(&request)),
            json!({})
        );
    }

    #[test]
    fn properties_named_like_rule_keywords_are_written_with_a_backslash() {
        let source = json!({"Leg": {"Origin": "OSL", "Dest": "ARN", "Day": "2026-12-01"}});
        let out = test_support::run(
            "to: /Leg/Dest\n\\from: /Leg/Origin\n\\date: /Leg/Day\n\
             leg:\n  \\from: /Leg/Origin\n  \\item: { const: 1 }\n  \\\\x: /Leg/Day\n\
             range.\\to: /Leg/Day",
            &source,
        );
        assert_eq!(
            serde_json::to_string(&out.unwrap()).unwrap(),
            r#"{"to":"ARN","from":"OSL","date":"2026-12-01","leg":{"from":"OSL","item":1,"\\x":"2026-12-01"},"range":{"to":"2026-12-01"}}"#
        );
    }

    #[test]
    fn equals_null_means_present_and_null() {
        let map = "is_null: { const: true, when: { path: /a, equals: null } }\n\
                   not_null: { const: true, when: { path: /a, not_equals: null } }\n\
                   in_null: { const: true, when: { path: /a, in: [null, 1] } }\n\
                   written: { const: null }\n\
                   defaulted: { from: /missing, default: null }";
        let run = |source: Value| test_support::run(map, &source).unwrap();
        assert_eq!(
            run(json!({"a": null})),
            json!({"is_null": true, "in_null": true, "written": null, "defaulted": null})
        );
        assert_eq!(
            run(json!({"a": 1})),
            json!({"not_null": true, "in_null": true, "written": null, "defaulted": null})
        );
        assert_eq!(
            run(json!({"a": "null"})),
            json!({"not_null": true, "written": null, "defaulted": null})
        );
        // Missing is not null: `equals: null` does not hold, `not_equals: null` does.
        assert_eq!(
            run(json!({})),
            json!({"not_null": true, "written": null, "defaulted": null})
        );
    }

    fn repo(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
    }

    /// The JSON view the XML codec produces for the bench `order.xml` (schema-guided:
    /// `@line` and `Qty` are integers, `Price` stays text).
    fn acme_order_view() -> Value {
        let items = [
            ("ACME-BOLT-M8-40", 250, "0.18"),
            ("ACME-NUT-M8", 250, "0.06"),
            ("ACME-WASHER-M8", 500, "0.02"),
            ("ACME-BRACKET-L90", 40, "3.75"),
            ("ACME-HINGE-SS-75", 24, "6.40"),
            ("ACME-RAIL-1200", 12, "18.90"),
            ("ACME-GASKET-50", 60, "1.15"),
            ("ACME-CLAMP-HOSE-32", 80, "0.85"),
            ("ACME-SEAL-KIT-A", 6, "24.50"),
            ("ACME-BEARING-6204", 16, "4.95"),
            ("ACME-SPRING-C12", 100, "0.44"),
            ("ACME-PANEL-AL-600", 8, "42.00"),
        ];
        let item: Vec<Value> = items
            .iter()
            .enumerate()
            .map(|(i, (sku, qty, price))| json!({"@line": i + 1, "Sku": sku, "Qty": qty, "Price": price}))
            .collect();
        json!({"Order": {
            "@id": "A-10001", "@currency": "EUR",
            "Placed": "2026-11-24T09:15:30Z",
            "Customer": {"Name": "Jane Doe", "Email": "JANE.DOE@EXAMPLE.COM", "Phone": "+49 30 1234567"},
            "ShipTo": {"Street": "Hauptstrasse 12", "City": "Berlin", "Zip": "10115", "Country": "DE"},
            "Items": {"Item": item},
            "Priority": "express",
            "Notes": "Deliver to loading dock B"
        }})
    }

    fn ctx_run(
        map: &CompiledMap,
        source: &Value,
        request: Option<&Value>,
        params: &[(String, String)],
    ) -> Result<Value, MapError> {
        let headers = http::HeaderMap::new();
        let ctx = EvalContext {
            path_params: params,
            query: &[],
            headers: &headers,
            claims: None,
            soap_header: None,
            partner: "acme",
            correlation_id: "c-1",
            request,
        };
        map.apply(source, &ctx)
    }

    #[test]
    fn acme_request_produces_the_internal_order_fixture() {
        let file = repo("mappings/acme/orders.yaml");
        let route = load_route_file(&file).unwrap();
        let map = compile(&route, Direction::Request, &file).unwrap();
        let out = ctx_run(&map, &acme_order_view(), None, &[]).unwrap();
        let expected: Value =
            serde_json::from_str(include_str!("testdata/order.internal.json")).unwrap();
        assert_eq!(out, expected);
        // Same bytes too: target order and shortest numbers.
        assert_eq!(
            serde_json::to_string_pretty(&out).unwrap(),
            serde_json::to_string_pretty(&expected).unwrap()
        );
    }

    #[test]
    fn acme_response_produces_the_ack() {
        let file = repo("mappings/acme/orders.yaml");
        let route = load_route_file(&file).unwrap();
        let map = compile(&route, Direction::Response, &file).unwrap();
        let ack = json!({"order_id":"A-10001","status":"ACCEPTED","total":1343.6,"estimated_delivery":"2026-11-30"});
        let request = acme_order_view();
        let out = ctx_run(&map, &ack, Some(&request), &[]).unwrap();
        assert_eq!(
            out,
            json!({"OrderAck": {"OrderId": "A-10001", "Status": "accepted",
                "Total": {"@currency": "EUR", "#text": "1343.60"}, "Eta": "2026-11-30"}})
        );
    }

    #[test]
    fn globex_status_maps_nested_arrays_and_path_params() {
        let file = repo("mappings/globex/order-status.yaml");
        let route = load_route_file(&file).unwrap();
        assert!(route.request.is_none());
        let map = compile(&route, Direction::Response, &file).unwrap();
        let upstream = json!({
            "order_id": "GX-77", "status": "SHIPPED", "placed_at": "2026-11-20T08:00:00+01:00",
            "currency": "USD", "total": 25.5,
            "lines": [{"line_no": 1, "sku": "W-1", "quantity": 2, "unit_price": 12.75,
                "shipments": [{"carrier": "DHL", "tracking": "JD1", "shipped_at": "2026-11-21T17:30:00Z"}]}]
        });
        let out = ctx_run(
            &map,
            &upstream,
            None,
            &[("orderId".to_owned(), "GX-77".to_owned())],
        )
        .unwrap();
        assert_eq!(
            out,
            json!({"orderRef": "GX-77", "state": "shipped", "placedOn": "2026-11-20",
                "totalAmount": "25.50", "currencyCode": "USD",
                "lines": [{"lineNumber": 1, "productCode": "W-1", "quantity": 2, "unitPrice": "12.75",
                    "shipments": [{"carrier": "DHL", "trackingNumber": "JD1", "shippedOn": "2026-11-21"}]}]})
        );
    }

    #[test]
    fn globex_order_numbers_lines_from_one() {
        let file = repo("mappings/globex/orders.yaml");
        let route = load_route_file(&file).unwrap();
        let map = compile(&route, Direction::Request, &file).unwrap();
        let order = json!({"orderRef": "GX-1", "placedAt": "2026-11-24T09:15:30Z", "currencyCode": "USD",
            "buyer": {"fullName": "Al", "emailAddress": " Al@X.COM ", "phoneNumber": "1"},
            "delivery": {"address": {"streetLine": "S", "city": "C", "postCode": "P", "countryCode": "US"}, "service": "economy"},
            "items": [{"productCode": "A", "quantity": 1, "unitPrice": "9.99"}, {"productCode": "B", "quantity": 3, "unitPrice": "0.10"}]});
        let out = ctx_run(&map, &order, None, &[]).unwrap();
        assert_eq!(out["shipping"]["speed"], json!("STANDARD"));
        assert_eq!(out["customer"]["email"], json!("al@x.com"));
        assert_eq!(
            out["lines"],
            json!([{"line_no": 1, "sku": "A", "quantity": 1, "unit_price": 9.99},
                   {"line_no": 2, "sku": "B", "quantity": 3, "unit_price": 0.1}])
        );
    }
}
