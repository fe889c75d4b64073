//! An `aggregate` route file compiled into an [`AggregatePlan`]: the calls in dependency
//! order with their request templates, the merged document's schema and the answer
//! mappings, each proven by the mapping checker as any other route's mappings are.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use http::{HeaderName, Method};
use serde_json::{Value, json};

use super::spec::{AggregateSpec, AnswerSpec, CallSpec};
use crate::config::{GatewayConfig, Route, RouteKind, Stage, parse_method, parse_template};
use crate::diagnostic::Diagnostic;
use crate::mapping::direct::DirectPlan;
use crate::mapping::syntax::{DirectionSpec, Entry, MapEntry, MapSpec, Rule, Section};
use crate::mapping::{self, CompiledMap, ContextDecl, Reads, RouteFile};
use crate::schema::{Schema, SchemaRegistry};

/// The member of the merged document listing the optional calls left out.
pub const MISSING_MEMBER: &str = "_missing";

/// An `aggregate` route, compiled.
#[derive(Debug)]
pub struct AggregatePlan {
    pub deadline: Duration,
    /// The calls in the order the file writes them; `depends_on` indexes into it.
    pub calls: Vec<CallPlan>,
    /// The answer for clients naming no profile.
    pub answer: Stage,
    pub selector: Option<Selector>,
    pub profiles: Vec<(String, Stage)>,
}

/// Where the client's profile name is read.
#[derive(Debug, Clone)]
pub enum Selector {
    Header(HeaderName),
    Query(String),
}

/// One upstream call, compiled.
#[derive(Debug)]
pub struct CallPlan {
    pub name: String,
    pub service: String,
    pub method: Method,
    /// The path template's pieces: literals, and indexes of the `p{i}` fields of
    /// `template` whose values are sent as one percent-encoded segment each.
    pub path: Vec<PathPiece>,
    /// The source path of each path placeholder, as written.
    pub path_sources: Vec<String>,
    /// Fields `p{i}` (path placeholders), `q{i}` (query values) and `h{i}` (header
    /// values), evaluated over the document of the dependencies' answers.
    pub template: CompiledMap,
    pub query: Vec<String>,
    pub headers: Vec<HeaderName>,
    pub depends_on: Vec<usize>,
    pub schema: Option<Arc<Schema>>,
    pub timeout: Duration,
    pub required: bool,
}

/// A piece of a call's path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPiece {
    Literal(String),
    /// The value of field `p{n}`.
    Value(usize),
}

/// Compiles an `aggregate` route (`route.kind: aggregate`), every finding into `diags`;
/// the route loader gives the findings about `aggregate.…` keys their line, as it does for
/// every route kind.
pub fn compile_route(
    name: String,
    partner: String,
    file: PathBuf,
    spec: RouteFile,
    config: &GatewayConfig,
    schemas: &SchemaRegistry,
    diags: &mut Vec<Diagnostic>,
) -> Option<Route> {
    let before = diags.iter().filter(|d| d.is_error()).count();
    let err = |msg: String, loc: &str| Diagnostic::error(&file, msg).location(loc.to_string());
    for (present, key) in [
        (spec.upstream.is_some(), "upstream"),
        (spec.request.is_some(), "request"),
        (spec.response.is_some(), "response"),
        (spec.errors.is_some(), "errors"),
    ] {
        if present {
            diags.push(
                err(
                    format!("`{key}:` does not apply to aggregate routes"),
                    key,
                )
                .hint("name each call's service under `aggregate.calls`, and map the answer in `aggregate.answer`"),
            );
        }
    }
    let method = parse_method(&spec.route.method)
        .map_err(|m| diags.push(err(m, "route.method")))
        .ok();
    if method.as_ref().is_some_and(|m| m != Method::GET) {
        diags.push(
            err(
                format!(
                    "aggregate routes answer GET requests, not {}",
                    spec.route.method
                ),
                "route.method",
            )
            .hint("set `method: GET` (HEAD is served by GET)"),
        );
    }
    let parts = parse_template(&spec.route.path)
        .map_err(|m| diags.push(err(m, "route.path")))
        .ok();
    let path_params: Vec<String> = parts
        .iter()
        .flatten()
        .filter_map(|p| match p {
            crate::config::PathPart::Param(n) => Some(n.clone()),
            crate::config::PathPart::Literal(_) => None,
        })
        .collect();
    let Some(agg) = spec.aggregate.clone() else {
        diags.push(
            err(
                "an aggregate route needs an `aggregate:` section with its calls and answer".into(),
                "route.kind",
            )
            .hint("see \"Aggregate routes\" in docs/mapping.md"),
        );
        return None;
    };
    let plan = compile_plan(&spec, &agg, &file, &path_params, config, schemas, diags);
    let response_media_type = crate::config::compile_answer_media_type(&spec, &file, None, diags);
    if diags.iter().filter(|d| d.is_error()).count() > before {
        return None;
    }
    let plan = plan?;
    let mut services: Vec<&str> = Vec::new();
    for c in &plan.calls {
        if !services.contains(&c.service.as_str()) {
            services.push(&c.service);
        }
    }
    Some(Route {
        upstream: services.join(","),
        name,
        partner,
        kind: RouteKind::Aggregate,
        method: method?,
        path: spec.route.path.clone(),
        path_params,
        format: spec.route.format,
        namespace: spec.route.namespace.clone(),
        upstream_method: Method::GET,
        upstream_path: Vec::new(),
        request: None,
        response: None,
        errors: None,
        request_reads: Reads::default(),
        aggregate: Some(Arc::new(plan)),
        response_media_type,
        soap: None,
        file,
        spec,
    })
}

fn compile_plan(
    spec: &RouteFile,
    agg: &AggregateSpec,
    file: &Path,
    path_params: &[String],
    config: &GatewayConfig,
    schemas: &SchemaRegistry,
    diags: &mut Vec<Diagnostic>,
) -> Option<AggregatePlan> {
    let err = |msg: String, loc: String| Diagnostic::error(file, msg).location(loc);
    let before = diags.iter().filter(|d| d.is_error()).count();
    if agg.calls.is_empty() {
        diags.push(err(
            "an aggregate needs at least one call".into(),
            "aggregate.calls".into(),
        ));
    }
    if agg.deadline_ms == 0 {
        diags.push(err(
            "`deadline_ms` must be above 0".into(),
            "aggregate.deadline_ms".into(),
        ));
    }
    let names: Vec<&str> = agg.calls.keys().map(String::as_str).collect();
    for (name, call) in &agg.calls {
        let at = |key: &str| format!("aggregate.calls.{name}.{key}");
        if name.is_empty()
            || name == MISSING_MEMBER
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            diags.push(err(
                format!("call name `{name}` must be letters, digits, `_` or `-`, and not `{MISSING_MEMBER}`"),
                format!("aggregate.calls.{name}"),
            ));
        }
        if !config.upstreams.contains_key(&call.service) {
            let known: Vec<&str> = config.upstreams.keys().map(String::as_str).collect();
            diags.push(
                err(
                    format!(
                        "call `{name}`: upstream service `{}` is not defined in gateway.toml",
                        call.service
                    ),
                    at("service"),
                )
                .hint(if known.is_empty() {
                    "add an [upstreams.NAME] table with its url to gateway.toml".to_string()
                } else {
                    format!("defined services: {}", known.join(", "))
                }),
            );
        }
        if call.timeout_ms == 0 {
            diags.push(err(
                format!("call `{name}`: `timeout_ms` must be above 0"),
                at("timeout_ms"),
            ));
        }
        for dep in &call.depends_on {
            if !agg.calls.contains_key(dep) {
                diags.push(
                    err(
                        format!(
                            "call `{name}` depends on `{dep}`, which is not a call of this route"
                        ),
                        at("depends_on"),
                    )
                    .hint(format!("calls of this route: {}", names.join(", "))),
                );
            }
        }
        if let Some(s) = &call.schema
            && schemas.get(s).is_none()
        {
            diags.push(
                err(format!("schema `{s}` does not exist"), at("schema")).hint(
                    "schema names are paths relative to the schemas directory, e.g. acme/order.schema.json",
                ),
            );
        }
        for h in call.headers.keys() {
            if HeaderName::from_bytes(h.as_bytes()).is_err() {
                diags.push(err(
                    format!("call `{name}`: `{h}` is not a valid header name"),
                    at("headers"),
                ));
            }
        }
    }
    if let Some(cycle) = find_cycle(agg) {
        let first = cycle.first().cloned().unwrap_or_default();
        diags.push(
            err(
                format!(
                    "calls depend on each other in a cycle: {}",
                    cycle.join(" -> ")
                ),
                format!("aggregate.calls.{first}.depends_on"),
            )
            .hint("a call can only wait for calls that do not wait for it"),
        );
    }
    let selector = match &agg.profile {
        None => {
            if !agg.profiles.is_empty() {
                diags.push(
                    err(
                        "`profiles` needs `profile` to say where the client names its profile"
                            .into(),
                        "aggregate.profiles".into(),
                    )
                    .hint("add `profile: { header: X-Client }` or `profile: { query: client }`"),
                );
            }
            None
        }
        Some(sel) => match (&sel.header, &sel.query) {
            (Some(h), None) => match HeaderName::from_bytes(h.as_bytes()) {
                Ok(h) => Some(Selector::Header(h)),
                Err(_) => {
                    diags.push(err(
                        format!("`{h}` is not a valid header name"),
                        "aggregate.profile.header".into(),
                    ));
                    None
                }
            },
            (None, Some(q)) if !q.is_empty() => Some(Selector::Query(q.clone())),
            _ => {
                diags.push(err(
                    "`profile` names exactly one of `header` or `query`".into(),
                    "aggregate.profile".into(),
                ));
                None
            }
        },
    };
    if agg.profile.is_some() && agg.profiles.is_empty() {
        diags.push(err(
            "`profile` is set but `profiles` names none".into(),
            "aggregate.profiles".into(),
        ));
    }
    if diags.iter().filter(|d| d.is_error()).count() > before {
        return None;
    }

    let index = |n: &str| agg.calls.get_index_of(n).unwrap_or_default();
    let ctx = ContextDecl {
        path_params: path_params.to_vec(),
        has_request: false,
        request_shape: None,
    };
    let others: BTreeMap<String, Arc<Value>> = schemas
        .iter()
        .map(|s| (s.name.clone(), s.document.clone()))
        .collect();
    let mut calls = Vec::with_capacity(agg.calls.len());
    for (name, call) in &agg.calls {
        let deps: Vec<(&str, Option<&str>, bool)> = call
            .depends_on
            .iter()
            .map(|d| (d.as_str(), agg.calls[d].schema.as_deref(), true))
            .collect();
        let deps_schema = merged_document(&deps, false);
        let Some(deps_schema) = synthetic_schema(
            &format!("answers-for-call-{name}"),
            file,
            deps_schema,
            &others,
            diags,
        ) else {
            continue;
        };
        if let Some(plan) = compile_call(spec, name, call, file, &deps_schema, &ctx, diags) {
            calls.push(CallPlan {
                depends_on: call.depends_on.iter().map(|d| index(d)).collect(),
                schema: call.schema.as_ref().and_then(|s| schemas.get(s).cloned()),
                ..plan
            });
        }
    }

    let members: Vec<(&str, Option<&str>, bool)> = agg
        .calls
        .iter()
        .map(|(n, c)| (n.as_str(), c.schema.as_deref(), c.required))
        .collect();
    let merged = synthetic_schema(
        "merged-call-answers",
        file,
        merged_document(&members, true),
        &others,
        diags,
    )?;
    let answer = compile_answer(
        spec,
        &agg.answer,
        "aggregate.answer",
        file,
        &merged,
        schemas,
        &ctx,
        diags,
    );
    let mut profiles = Vec::new();
    for (pname, p) in &agg.profiles {
        let at = format!("aggregate.profiles.{pname}");
        if let Some(stage) = compile_answer(spec, p, &at, file, &merged, schemas, &ctx, diags) {
            profiles.push((pname.clone(), stage));
        }
    }
    if diags.iter().filter(|d| d.is_error()).count() > before {
        return None;
    }
    Some(AggregatePlan {
        deadline: Duration::from_millis(agg.deadline_ms),
        calls,
        answer: answer?,
        selector,
        profiles,
    })
}

/// The dependency cycle among the calls, as the names along it (the first repeated at
/// the end), when there is one.
fn find_cycle(agg: &AggregateSpec) -> Option<Vec<String>> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    fn visit(
        agg: &AggregateSpec,
        at: usize,
        state: &mut [u8],
        path: &mut Vec<usize>,
    ) -> Option<Vec<String>> {
        state[at] = 1;
        path.push(at);
        let (_, call) = agg.calls.get_index(at)?;
        for dep in &call.depends_on {
            let Some(d) = agg.calls.get_index_of(dep) else {
                continue;
            };
            match state[d] {
                1 => {
                    let from = path.iter().position(|&p| p == d).unwrap_or_default();
                    let mut names: Vec<String> = path[from..]
                        .iter()
                        .filter_map(|&i| agg.calls.get_index(i).map(|(n, _)| n.clone()))
                        .collect();
                    names.push(dep.clone());
                    return Some(names);
                }
                0 => {
                    if let Some(c) = visit(agg, d, state, path) {
                        return Some(c);
                    }
                }
                _ => {}
            }
        }
        path.pop();
        state[at] = 2;
        None
    }
    let mut state = vec![0u8; agg.calls.len()];
    for i in 0..agg.calls.len() {
        if state[i] == 0 {
            let mut path = Vec::new();
            if let Some(c) = visit(agg, i, &mut state, &mut path) {
                return Some(c);
            }
        }
    }
    None
}

/// The JSON Schema of a document with one member per named call, each its call's schema
/// (any document when the call has none), and `_missing` when `missing` is set. Members
/// marked `always` (required calls, and dependencies, which a call waits for) are
/// required: the checker then knows the answer mapping's paths into them resolve.
fn merged_document(members: &[(&str, Option<&str>, bool)], missing: bool) -> Value {
    let mut props = serde_json::Map::new();
    let mut required = Vec::new();
    for (name, schema, always) in members {
        if *always {
            required.push(Value::String((*name).to_owned()));
        }
        let s = match schema {
            Some(s) => json!({ "$ref": s }),
            None => any_document(ANY_DEPTH),
        };
        props.insert((*name).to_owned(), s);
    }
    if missing {
        props.insert(
            MISSING_MEMBER.to_owned(),
            json!({ "type": "array", "items": { "type": "string" } }),
        );
    }
    if missing {
        required.push(Value::String(MISSING_MEMBER.to_owned()));
    }
    json!({
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": false
    })
}

/// How deep the checker follows paths into the answer of a call without a schema.
const ANY_DEPTH: usize = 8;

/// A schema taking any document, written out `depth` levels deep, so
/// the checker resolves every path of up to that many steps into it.
fn any_document(depth: usize) -> Value {
    if depth == 0 {
        return json!({});
    }
    // No `items`: the checker would then read every step as an array index. A numeric
    // step is taken as a member name here, which resolves all the same.
    json!({ "additionalProperties": any_document(depth - 1) })
}

/// Compiles a schema the route file implies (never written to disk): named at the root
/// of the schemas directory, so its `$ref`s name schemas as route files do.
fn synthetic_schema(
    what: &str,
    file: &Path,
    document: Value,
    others: &BTreeMap<String, Arc<Value>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<Arc<Schema>> {
    let name = format!("{what}.json");
    match Schema::compile(&name, file, document, others) {
        Ok(s) => Some(Arc::new(s)),
        Err(errs) => {
            diags.extend(errs);
            None
        }
    }
}

/// A copy of `spec` with `map` as its `section`: what the mapping compiler and checker
/// take.
fn with_section(spec: &RouteFile, section: Section, d: DirectionSpec) -> RouteFile {
    let mut out = spec.clone();
    out.aggregate = None;
    match section {
        Section::Request => out.request = Some(d),
        Section::Response => out.response = Some(d),
        Section::Errors => out.errors = Some(d),
    }
    out
}

fn rule_entry(key: String, rule: Rule) -> MapEntry {
    MapEntry {
        key,
        pos: None,
        value: Entry::Rule(Box::new(rule)),
    }
}

/// Splits a call's path template into literals and placeholder source paths. `{{` and
/// `}}` are literal braces.
fn split_path(text: &str) -> Result<(Vec<PathPiece>, Vec<String>), String> {
    let mut pieces = Vec::new();
    let mut sources = Vec::new();
    let mut lit = String::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("{{") {
            lit.push('{');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("}}") {
            lit.push('}');
            rest = r;
        } else if c == '{' {
            let Some(end) = rest.find('}') else {
                return Err(format!("unclosed `{{` in `{text}`"));
            };
            if !lit.is_empty() {
                pieces.push(PathPiece::Literal(std::mem::take(&mut lit)));
            }
            pieces.push(PathPiece::Value(sources.len()));
            sources.push(rest[1..end].to_owned());
            rest = &rest[end + 1..];
        } else if c == '}' {
            return Err(format!("unmatched `}}` in `{text}`"));
        } else {
            lit.push(c);
            rest = &rest[c.len_utf8()..];
        }
    }
    if !lit.is_empty() {
        pieces.push(PathPiece::Literal(lit));
    }
    if !text.starts_with('/') {
        return Err(format!("`{text}` must start with `/`"));
    }
    Ok((pieces, sources))
}

fn compile_call(
    spec: &RouteFile,
    name: &str,
    call: &CallSpec,
    file: &Path,
    deps: &Schema,
    ctx: &ContextDecl,
    diags: &mut Vec<Diagnostic>,
) -> Option<CallPlan> {
    let at = |key: &str| format!("aggregate.calls.{name}.{key}");
    let method = match call
        .method
        .as_deref()
        .unwrap_or("GET")
        .to_ascii_uppercase()
        .as_str()
    {
        "GET" => Method::GET,
        "HEAD" => Method::HEAD,
        "DELETE" => Method::DELETE,
        m => {
            diags.push(
                Diagnostic::error(
                    file,
                    format!("call `{name}`: method `{m}` is not one of GET, HEAD, DELETE"),
                )
                .location(at("method")),
            );
            return None;
        }
    };
    let (path, sources) = match split_path(&call.path) {
        Ok(p) => p,
        Err(m) => {
            diags.push(Diagnostic::error(file, format!("call `{name}`: {m}")).location(at("path")));
            return None;
        }
    };
    // Where each template field came from, for the diagnostics about it.
    let mut origin = Vec::new();
    let mut entries = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        entries.push(rule_entry(
            format!("p{i}"),
            Rule {
                from: Some(src.clone()),
                ..Rule::default()
            },
        ));
        origin.push((format!("p{i}"), at("path")));
    }
    for (i, (q, t)) in call.query.iter().enumerate() {
        entries.push(rule_entry(
            format!("q{i}"),
            Rule {
                template: Some(t.clone()),
                ..Rule::default()
            },
        ));
        origin.push((format!("q{i}"), format!("aggregate.calls.{name}.query.{q}")));
    }
    for (i, (h, t)) in call.headers.iter().enumerate() {
        entries.push(rule_entry(
            format!("h{i}"),
            Rule {
                template: Some(t.clone()),
                ..Rule::default()
            },
        ));
        origin.push((
            format!("h{i}"),
            format!("aggregate.calls.{name}.headers.{h}"),
        ));
    }
    let d = DirectionSpec {
        schema: deps.name.clone(),
        target: "call-request-values.json".into(),
        map: MapSpec { entries },
        ignore: Vec::new(),
        pos: None,
    };
    let synthetic = with_section(spec, Section::Request, d);
    let relocate = |mut d: Diagnostic| {
        let loc = d.location.as_deref().unwrap_or("").trim_start_matches('/');
        let field = loc.split(['/', '.']).next().unwrap_or("");
        d.location = Some(
            origin
                .iter()
                .find(|(f, _)| f == field)
                .map_or_else(|| at("path"), |(_, o)| o.clone()),
        );
        d.message = format!("call `{name}`: {}", d.message);
        d.line = None;
        d.column = None;
        d
    };
    let template = match mapping::compile_section(&synthetic, Section::Request, file) {
        Ok(m) => m,
        Err(errs) => {
            diags.extend(errs.into_iter().map(relocate));
            return None;
        }
    };
    let values = json!({ "type": "object", "additionalProperties": { "type": ["string", "number", "integer", "boolean"] } });
    let values = match Schema::compile("call-request-values.json", file, values, &BTreeMap::new()) {
        Ok(v) => v,
        Err(errs) => {
            diags.extend(errs);
            return None;
        }
    };
    let found = mapping::check_section(
        &synthetic,
        Section::Request,
        file,
        &deps.shape,
        &values.shape,
        ctx,
    );
    // Unread members of the dependencies' answers are no finding: the answer mapping
    // reads them.
    let errors: Vec<Diagnostic> = found
        .into_iter()
        .filter(Diagnostic::is_error)
        .map(relocate)
        .collect();
    if !errors.is_empty() {
        diags.extend(errors);
        return None;
    }
    let timeout = Duration::from_millis(call.timeout_ms);
    Some(CallPlan {
        name: name.to_owned(),
        service: call.service.clone(),
        method,
        path,
        path_sources: sources,
        template,
        query: call.query.keys().cloned().collect(),
        headers: call
            .headers
            .keys()
            .filter_map(|h| HeaderName::from_bytes(h.as_bytes()).ok())
            .collect(),
        depends_on: Vec::new(),
        schema: None,
        timeout,
        required: call.required,
    })
}

#[allow(clippy::too_many_arguments)]
fn compile_answer(
    spec: &RouteFile,
    answer: &AnswerSpec,
    at: &str,
    file: &Path,
    merged: &Arc<Schema>,
    schemas: &SchemaRegistry,
    ctx: &ContextDecl,
    diags: &mut Vec<Diagnostic>,
) -> Option<Stage> {
    let Some(target) = schemas.get(&answer.target).cloned() else {
        diags.push(
            Diagnostic::error(file, format!("schema `{}` does not exist", answer.target))
                .location(format!("{at}.target"))
                .hint("schema names are paths relative to the schemas directory, e.g. acme/order.schema.json"),
        );
        return None;
    };
    let mut ignore = answer.ignore.clone();
    ignore.push(format!("/{MISSING_MEMBER}"));
    let d = DirectionSpec {
        schema: merged.name.clone(),
        target: answer.target.clone(),
        map: answer.map.clone(),
        ignore,
        pos: None,
    };
    let synthetic = with_section(spec, Section::Response, d);
    let map = match mapping::compile_section(&synthetic, Section::Response, file) {
        Ok(m) => m,
        Err(errs) => {
            diags.extend(errs);
            return None;
        }
    };
    diags.extend(mapping::check_section(
        &synthetic,
        Section::Response,
        file,
        &merged.shape,
        &target.shape,
        ctx,
    ));
    let direct = DirectPlan::new(&map, &target);
    Some(Stage {
        source: merged.clone(),
        target,
        map,
        direct,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_templates_split_into_literals_and_values() {
        assert_eq!(
            split_path("/users/{$query.user}/orders{{x}}").unwrap(),
            (
                vec![
                    PathPiece::Literal("/users/".into()),
                    PathPiece::Value(0),
                    PathPiece::Literal("/orders{x}".into()),
                ],
                vec!["$query.user".to_string()]
            )
        );
        assert_eq!(
            split_path("/a/{/user/id").unwrap_err(),
            "unclosed `{` in `/a/{/user/id`"
        );
        assert_eq!(split_path("/a}").unwrap_err(), "unmatched `}` in `/a}`");
        assert_eq!(
            split_path("users").unwrap_err(),
            "`users` must start with `/`"
        );
    }
}
