//! Route files under `mappings/` compiled into [`Route`]s: method and path, upstream call,
//! and each direction's schemas and compiled mapping, all proven before use.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::{HeaderValue, Method};

use super::GatewayConfig;
use crate::codec::Format;
use crate::codec::doc::View;
use crate::diagnostic::Diagnostic;
use crate::mapping::direct::DirectPlan;
use crate::mapping::syntax::{DirectionSpec, Section};
use crate::mapping::{self, CompiledMap, ContextDecl, EvalContext, Reads, RouteFile};
use crate::schema::{Schema, SchemaRegistry};

/// One direction of a route: input schema, output schema, compiled mapping.
#[derive(Debug)]
pub struct Stage {
    pub source: Arc<Schema>,
    pub target: Arc<Schema>,
    pub map: CompiledMap,
    /// The map joined to the target schema's compiled validator, when it has one: writes
    /// JSON output directly (see [`DirectPlan`]).
    pub direct: Option<DirectPlan>,
}

impl Stage {
    /// The stage's map applied to `source` and written as JSON by its [`DirectPlan`], or
    /// None when the stage has no plan or the plan leaves the document to the general path
    /// (which reports whatever made it stop). `capacity` sizes the output buffer.
    pub fn write_direct(
        &self,
        source: View<'_>,
        ctx: &EvalContext<'_>,
        capacity: usize,
    ) -> Option<Vec<u8>> {
        let direct = self.direct.as_ref()?;
        let mut out = Vec::with_capacity(capacity);
        direct
            .write(&self.map, source, ctx, &mut out)
            .then_some(out)
    }
}

/// A piece of an upstream path template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathPart {
    Literal(String),
    Param(String),
}

/// What the gateway does with a route's requests (`route.kind` in the route file). The
/// runtime builds one service per route from it
/// ([`crate::gateway`]'s `RouteService`), so a new kind is a new variant here and there.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RouteKind {
    /// Decode, validate, map, forward, map back: the route's mapping sections do the work.
    #[default]
    Transform,
    /// Pass-through: method, path rest, query, headers and streamed bodies go to the
    /// upstream as they are (see `gateway/proxy.rs`).
    Proxy,
    /// Several upstream calls, concurrent where they can be, merged and mapped into one
    /// answer (`aggregate:` in the route file).
    Aggregate,
}

impl RouteKind {
    /// Every kind, as written in route files.
    pub const NAMES: [&str; 3] = ["transform", "proxy", "aggregate"];

    pub fn parse(name: &str) -> Option<RouteKind> {
        match name {
            "transform" => Some(RouteKind::Transform),
            "proxy" => Some(RouteKind::Proxy),
            "aggregate" => Some(RouteKind::Aggregate),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RouteKind::Transform => "transform",
            RouteKind::Proxy => "proxy",
            RouteKind::Aggregate => "aggregate",
        }
    }
}

/// One partner route, compiled.
#[derive(Debug)]
pub struct Route {
    /// `partner/route`: the route file's path under mappings/ without extension.
    pub name: String,
    pub partner: String,
    pub file: PathBuf,
    pub kind: RouteKind,
    pub method: Method,
    pub path: String,
    pub path_params: Vec<String>,
    pub format: Format,
    pub namespace: Option<String>,
    pub upstream: String,
    pub upstream_method: Method,
    pub upstream_path: Vec<PathPart>,
    pub request: Option<Stage>,
    pub response: Option<Stage>,
    /// The mapping of the upstream's 4xx bodies to the partner's error document.
    pub errors: Option<Stage>,
    /// What the response and error maps read of the partner's request (`$request`): the
    /// request direction keeps that much of the decoded document for them.
    pub request_reads: Reads,
    /// The compiled calls and answers of an `aggregate` route.
    pub aggregate: Option<Arc<crate::aggregate::AggregatePlan>>,
    /// `Content-Type` of the answers the gateway writes on success
    /// (`route.response_media_type`, else the format's own).
    pub response_media_type: HeaderValue,
    /// The SOAP binding of a SOAP route (`route.soap`).
    pub soap: Option<crate::soap::Binding>,
    pub spec: RouteFile,
}

impl Route {
    /// The upstream path with the route's parameters (decoded, see
    /// [`Route::decode_path_params`]) filled in, each percent-encoded as one segment: a `/`
    /// in a value is sent as `%2F`.
    pub fn upstream_path(&self, params: &[(String, String)]) -> String {
        let mut out = String::new();
        for part in &self.upstream_path {
            match part {
                PathPart::Literal(s) => out.push_str(s),
                PathPart::Param(name) => {
                    if let Some((_, v)) = params.iter().find(|(k, _)| k == name) {
                        encode_segment(v, &mut out);
                    }
                }
            }
        }
        out
    }

    /// The path parameters as the router matched them (still percent-encoded, as they are on
    /// the wire), decoded once: what mappings read as `$path.NAME` and what
    /// [`Route::upstream_path`] encodes again, so a value is neither read encoded nor encoded
    /// twice.
    pub fn decode_path_params(
        raw: &[(String, String)],
    ) -> Result<Vec<(String, String)>, PathParamError> {
        raw.iter()
            .map(|(name, value)| {
                if !value.contains('%') {
                    return Ok((name.clone(), value.clone()));
                }
                let bytes = percent_decode(value)
                    .ok_or_else(|| PathParamError::BadEscape { name: name.clone() })?;
                let text = String::from_utf8(bytes)
                    .map_err(|_| PathParamError::NotUtf8 { name: name.clone() })?;
                Ok((name.clone(), text))
            })
            .collect()
    }

    /// The upstream path and, per `upstream.query`, the partner's query string.
    pub fn upstream_target(&self, params: &[(String, String)], raw_query: Option<&str>) -> String {
        let mut out = self.upstream_path(params);
        let forward = self.spec.upstream.as_ref().map(|u| &u.query);
        if let Some(q) = forward.and_then(|f| f.select(raw_query)) {
            out.push('?');
            out.push_str(&q);
        }
        out
    }
}

/// A path parameter the gateway cannot use: what the partner sent is not a percent-encoded
/// UTF-8 text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathParamError {
    #[error("path parameter `{name}` has a `%` that is not followed by two hexadecimal digits")]
    BadEscape { name: String },
    #[error("path parameter `{name}` is not UTF-8 text once percent-decoded")]
    NotUtf8 { name: String },
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); None when a `%` is not followed by two hex digits.
/// `+` is a plain character in a path, not a space.
fn percent_decode(s: &str) -> Option<Vec<u8>> {
    let hex = |b: u8| (b as char).to_digit(16);
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%' {
            let hi = hex(*bytes.get(i + 1)?)?;
            let lo = hex(*bytes.get(i + 2)?)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Percent-encodes one path segment (RFC 3986 unreserved characters pass through), so a
/// parameter can never add segments or a query to the upstream path. A value that is a
/// dot-segment (`.` or `..`) has its dots encoded too: left as it is, any server or proxy
/// that normalises paths (RFC 3986 §5.2.4) would climb out of the route's upstream path.
pub(crate) fn encode_segment(value: &str, out: &mut String) {
    if value == "." || value == ".." {
        for _ in 0..value.len() {
            out.push_str("%2E");
        }
        return;
    }
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

/// The path with parameter names erased, so `/a/{x}` and `/a/{y}` are seen to collide.
pub(super) fn path_shape(path: &str) -> String {
    let mut out = String::new();
    let mut in_param = false;
    for c in path.chars() {
        match c {
            '{' => {
                in_param = true;
                out.push('{');
            }
            '}' => {
                in_param = false;
                out.push('}');
            }
            _ if in_param => {}
            c => out.push(c),
        }
    }
    out
}

/// Splits a path template into parts, checking the parameter syntax.
pub(crate) fn parse_template(path: &str) -> Result<Vec<PathPart>, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` must start with `/`"));
    }
    let mut parts = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            parts.push(PathPart::Literal(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("`{path}` has an unclosed `{{`"));
        };
        let name = &rest[open + 1..open + close];
        let name = name.strip_prefix('*').unwrap_or(name);
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(format!(
                "`{path}`: parameter `{{{name}}}` must be letters, digits or `_`"
            ));
        }
        parts.push(PathPart::Param(name.to_string()));
        rest = &rest[open + close + 1..];
    }
    if rest.contains('}') {
        return Err(format!("`{path}` has a `}}` without `{{`"));
    }
    if !rest.is_empty() {
        parts.push(PathPart::Literal(rest.to_string()));
    }
    Ok(parts)
}

fn route_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        if path.is_dir() {
            route_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|x| x.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            out.push(path);
        }
    }
    Ok(())
}

pub(super) fn load_routes(
    dir: &Path,
    config: &GatewayConfig,
    schemas: &SchemaRegistry,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Arc<Route>> {
    let mut files = Vec::new();
    if !dir.is_dir() {
        return Vec::new();
    }
    if let Err(e) = route_files(dir, &mut files) {
        diags.push(Diagnostic::error(
            dir,
            format!("cannot read mappings directory: {e}"),
        ));
        return Vec::new();
    }
    let mut routes = Vec::new();
    for file in files {
        let rel = file.strip_prefix(dir).unwrap_or(&file).with_extension("");
        let name = rel
            .components()
            .map(|c| c.as_os_str().to_string_lossy())
            .collect::<Vec<_>>()
            .join("/");
        let partner = name.split('/').next().unwrap_or_default().to_string();
        if !name.contains('/') {
            diags.push(
                Diagnostic::error(&file, "route file is not inside a partner directory").hint(
                    "put it at mappings/<partner>/<route>.yaml: the directory names the partner",
                ),
            );
            continue;
        }
        let spec = match mapping::load_route_file(&file) {
            Ok(spec) => spec,
            Err(errs) => {
                diags.extend(errs);
                continue;
            }
        };
        let first_new = diags.len();
        if let Some(route) =
            compile_route(name, partner, file.clone(), spec, config, schemas, diags)
        {
            routes.push(Arc::new(route));
        }
        place_route_keys(&file, &mut diags[first_new..]);
    }
    routes
}

/// Compiles one route from the text of its file against a loaded gateway's configuration
/// and schemas, as [`load_routes`] compiles the file `file` (whose name gives the route's
/// name and partner), without installing it anywhere. The diagnostics come with the route
/// when it compiles (warnings) and instead of it when it does not.
pub fn compile_route_text(
    gw: &super::Gateway,
    name: &str,
    file: &Path,
    text: &str,
) -> Result<(Route, Vec<Diagnostic>), Vec<Diagnostic>> {
    if text.len() as u64 > mapping::MAX_ROUTE_FILE_BYTES {
        return Err(vec![Diagnostic::error(
            file,
            format!(
                "route file is {} bytes; the limit is {}",
                text.len(),
                mapping::MAX_ROUTE_FILE_BYTES
            ),
        )]);
    }
    let Some((partner, _)) = name.split_once('/') else {
        return Err(vec![Diagnostic::error(
            file,
            format!("route name `{name}` is not <partner>/<route>"),
        )]);
    };
    let is_json = file
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("json"));
    let spec = if is_json {
        mapping::parse_route_json(text, file)
    } else {
        mapping::parse_route_yaml(text, file)
    }?;
    let mut diags = Vec::new();
    let route = compile_route(
        name.to_string(),
        partner.to_string(),
        file.to_path_buf(),
        spec,
        &gw.config,
        &gw.schemas,
        &mut diags,
    );
    place_keys_in_text(text, file, &mut diags);
    match route {
        Some(route) if !diags.iter().any(Diagnostic::is_error) => Ok((route, diags)),
        _ => Err(diags),
    }
}

/// Gives diagnostics about route-level keys (`location` = `upstream.service`) the line of
/// that key in the file.
fn place_route_keys(file: &Path, diags: &mut [Diagnostic]) {
    if diags
        .iter()
        .all(|d| d.line.is_some() || d.location.is_none())
    {
        return;
    }
    let Ok(text) = std::fs::read_to_string(file) else {
        return;
    };
    place_keys_in_text(&text, file, diags);
}

/// [`place_route_keys`] on the file's text.
fn place_keys_in_text(text: &str, file: &Path, diags: &mut [Diagnostic]) {
    for d in diags
        .iter_mut()
        .filter(|d| d.line.is_none() && d.file == file)
    {
        if let Some(loc) = &d.location {
            let path: Vec<&str> = loc.split('.').collect();
            if let Some((line, column)) = super::locate::key_position(text, &path) {
                d.line = Some(line);
                d.column = Some(column);
            }
        }
    }
}

fn compile_route(
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

    let kind = match spec.route.kind.as_deref() {
        None => Some(RouteKind::default()),
        Some(k) => RouteKind::parse(k).or_else(|| {
            diags.push(
                err(format!("route kind `{k}` is not known"), "route.kind")
                    .hint(format!("known kinds: {}", RouteKind::NAMES.join(", "))),
            );
            None
        }),
    };
    if kind != Some(RouteKind::Transform) && spec.route.soap.is_some() {
        diags.push(err(
            "SOAP applies to `transform` routes only".into(),
            "route.soap",
        ));
    }
    if kind == Some(RouteKind::Aggregate) {
        return crate::aggregate::compile_route(name, partner, file, spec, config, schemas, diags);
    }
    if spec.aggregate.is_some() {
        diags.push(
            err(
                "`aggregate:` applies to `route.kind: aggregate` routes only".into(),
                "aggregate",
            )
            .hint("set `kind: aggregate` under `route:`, or remove `aggregate:`"),
        );
    }
    let method = if kind == Some(RouteKind::Proxy) {
        super::proxy_spec::check_proxy_route(&spec, &file, diags)
    } else if spec.route.method.is_empty() {
        diags.push(err(
            "route.method is required (GET, POST, PUT, PATCH, DELETE or HEAD)".into(),
            "route.method",
        ));
        None
    } else {
        parse_method(&spec.route.method)
            .map_err(|m| diags.push(err(m, "route.method")))
            .ok()
    };
    if kind != Some(RouteKind::Proxy) && spec.proxy.is_some() {
        diags.push(
            err(
                "`proxy:` applies to `route.kind: proxy` routes only".into(),
                "proxy",
            )
            .hint("remove `proxy:`, or set `route.kind: proxy`"),
        );
    }
    let Some(upstream_spec) = spec.upstream.clone() else {
        diags.push(
            err(
                "a transform route needs an `upstream:` section".into(),
                "route",
            )
            .hint("add `upstream: { service: NAME, path: /... }`"),
        );
        return None;
    };
    let parts = parse_template(&spec.route.path)
        .map_err(|m| diags.push(err(m, "route.path")))
        .ok();
    let path_params: Vec<String> = parts
        .iter()
        .flatten()
        .filter_map(|p| match p {
            PathPart::Param(n) => Some(n.clone()),
            PathPart::Literal(_) => None,
        })
        .collect();
    let upstream_method = match &upstream_spec.method {
        Some(m) => parse_method(m)
            .map_err(|m| diags.push(err(m, "upstream.method")))
            .ok(),
        None => method.clone(),
    };
    let upstream_path = parse_template(&upstream_spec.path)
        .map_err(|m| diags.push(err(m, "upstream.path")))
        .ok();
    if let Some(up) = &upstream_path {
        for p in up {
            if let PathPart::Param(n) = p
                && !path_params.contains(n)
            {
                diags.push(
                    err(
                        format!(
                            "upstream path uses `{{{n}}}`, which the route path does not declare"
                        ),
                        "upstream.path",
                    )
                    .hint(format!(
                        "declare it in route.path, e.g. `{}/{{{n}}}`",
                        spec.route.path.trim_end_matches('/')
                    )),
                );
            }
        }
    }
    if !config.upstreams.contains_key(&upstream_spec.service) {
        let known: Vec<&str> = config.upstreams.keys().map(String::as_str).collect();
        diags.push(
            err(
                format!(
                    "upstream service `{}` is not defined in gateway.toml",
                    upstream_spec.service
                ),
                "upstream.service",
            )
            .hint(if known.is_empty() {
                "add an [upstreams.NAME] table with its url to gateway.toml".to_string()
            } else {
                format!("defined services: {}", known.join(", "))
            }),
        );
    }
    for h in &spec.route.headers {
        if let Some(prefix) = internal_prefix(h, &config.headers.internal_prefixes) {
            diags.push(
                err(
                    format!(
                        "header `{h}` starts with the internal prefix `{prefix}`: the gateway removes such headers from every partner request, so a mapping can never read it"
                    ),
                    "route.headers",
                )
                .hint(format!(
                    "remove `{h}` from route.headers, or change headers.internal_prefixes in gateway.toml"
                )),
            );
        }
    }
    if spec.route.format == Format::Xml
        && kind != Some(RouteKind::Proxy)
        && spec.request.is_none()
        && spec.response.is_none()
    {
        diags.push(err(
            "an XML route needs a request or response mapping".into(),
            "route",
        ));
    }
    if method
        .as_ref()
        .is_some_and(|m| m == Method::GET || m == Method::HEAD)
        && spec.request.is_some()
    {
        diags.push(
            err(
                format!(
                    "{} routes have no request body, so `request:` cannot apply",
                    spec.route.method
                ),
                "request",
            )
            .hint("remove `request:`; the response mapping can read $path, $query and $header"),
        );
    }

    let passes_through = if kind == Some(RouteKind::Proxy) {
        Some("a proxy route passes the upstream's own `Content-Type` through")
    } else if spec.route.soap.is_some() {
        Some(
            "a SOAP route answers in its SOAP version's media type (`text/xml; charset=utf-8` for 1.1, `application/soap+xml; charset=utf-8` for 1.2)",
        )
    } else if spec.response.is_none() {
        Some(
            "without a `response:` mapping the upstream's answer and its `Content-Type` pass through",
        )
    } else {
        None
    };
    let response_media_type = compile_answer_media_type(&spec, &file, passes_through, diags);

    let request_shape = spec
        .request
        .as_ref()
        .and_then(|d| schemas.get(&d.schema))
        .map(|s| s.shape.clone());
    let request = spec.request.as_ref().and_then(|d| {
        let ctx = ContextDecl {
            path_params: path_params.clone(),
            has_request: false,
            request_shape: None,
        };
        compile_stage(&spec, Section::Request, d, &file, schemas, &ctx, diags)
    });
    let response = spec.response.as_ref().and_then(|d| {
        let ctx = ContextDecl {
            path_params: path_params.clone(),
            has_request: spec.request.is_some(),
            request_shape: request_shape.clone(),
        };
        compile_stage(&spec, Section::Response, d, &file, schemas, &ctx, diags)
    });
    let errors = spec.errors.as_ref().and_then(|d| {
        let ctx = ContextDecl {
            path_params: path_params.clone(),
            has_request: spec.request.is_some(),
            request_shape: request_shape.clone(),
        };
        compile_stage(&spec, Section::Errors, d, &file, schemas, &ctx, diags)
    });

    let soap = soap_binding(&spec, kind, request.as_ref(), &err, diags);

    if diags.iter().filter(|d| d.is_error()).count() > before {
        return None;
    }
    let mut request_reads = Reads::default();
    for stage in [&response, &errors].into_iter().flatten() {
        request_reads.merge(stage.map.request_reads());
    }
    Some(Route {
        name,
        request_reads,
        partner,
        kind: kind?,
        method: method?,
        path: spec.route.path.clone(),
        path_params,
        format: spec.route.format,
        namespace: spec.route.namespace.clone(),
        upstream: upstream_spec.service.clone(),
        aggregate: None,
        response_media_type,
        soap,
        upstream_method: upstream_method?,
        upstream_path: upstream_path?,
        request,
        response,
        errors,
        file,
        spec,
    })
}

/// `route.response_media_type` checked against the route's format, or the format's own
/// media type. `passes_through` says why the route never labels an answer with it (a proxy
/// or a route without `response:` passes the upstream's through, a SOAP route uses its
/// version's): then the key is an error, as it could not apply.
pub fn compile_answer_media_type(
    spec: &RouteFile,
    file: &Path,
    passes_through: Option<&str>,
    diags: &mut Vec<Diagnostic>,
) -> HeaderValue {
    let format = spec.route.format;
    let written = spec.route.response_media_type.as_deref();
    let checked = match (written, passes_through) {
        (Some(_), Some(why)) => {
            diags.push(
                Diagnostic::error(file, format!("`response_media_type` cannot apply: {why}"))
                    .location("route.response_media_type".to_string())
                    .hint("remove `response_media_type`"),
            );
            None
        }
        _ => super::media_type::answer_media_type(format, written)
            .map_err(|e| {
                diags.push(
                    Diagnostic::error(file, e.to_string())
                        .location("route.response_media_type".to_string())
                        .hint(format!(
                            "e.g. `{}`, or remove the key for that default",
                            format.media_type()
                        )),
                );
            })
            .ok(),
    };
    checked.unwrap_or_else(|| HeaderValue::from_static(format.media_type()))
}

/// The SOAP binding of a route that declares `route.soap`; the SOAP keys on any other
/// route are refused, as are SOAP keys that cannot apply.
fn soap_binding(
    spec: &RouteFile,
    kind: Option<RouteKind>,
    request: Option<&Stage>,
    err: &dyn Fn(String, &str) -> Diagnostic,
    diags: &mut Vec<Diagnostic>,
) -> Option<crate::soap::Binding> {
    use crate::soap::{Binding, Version};
    let r = &spec.route;
    let Some(version) = &r.soap else {
        for (set, key) in [
            (r.soap_action.is_some(), "route.soap_action"),
            (r.soap_fault_status.is_some(), "route.soap_fault_status"),
        ] {
            if set {
                diags.push(
                    err(format!("`{key}` applies to SOAP routes only"), key)
                        .hint("set `route.soap: \"1.1\"` or `\"1.2\"`, or remove the key"),
                );
            }
        }
        return None;
    };
    let Some(version) = Version::parse(version) else {
        diags.push(
            err(
                format!("SOAP version `{version}` is not known"),
                "route.soap",
            )
            .hint("write `soap: \"1.1\"` or `soap: \"1.2\"` (quoted)"),
        );
        return None;
    };
    if r.format != Format::Xml {
        diags.push(
            err("a SOAP route needs `format: xml`".into(), "route.format")
                .hint("set `route.format: xml`"),
        );
    }
    if kind != Some(RouteKind::Transform) {
        return None;
    }
    if spec.request.is_none() || spec.response.is_none() {
        diags.push(
            err(
                "a SOAP route needs a `request:` and a `response:` mapping".into(),
                "route.soap",
            )
            .hint("the partner's Body element maps to the service's request, its answer back into the reply's Body"),
        );
    }
    let actions = r
        .soap_action
        .as_ref()
        .map(|a| a.to_vec())
        .unwrap_or_default();
    for (i, a) in actions.iter().enumerate() {
        if a.trim().is_empty() || a.contains('"') || actions[..i].contains(a) {
            diags.push(
                err(
                    format!("SOAP action `{a}` is empty, quoted or listed twice"),
                    "route.soap_action",
                )
                .hint("write each action URI once, without quotes"),
            );
        }
    }
    let reads_headers = request.is_some_and(|stage| {
        !stage
            .map
            .rules_reading(&crate::mapping::path::Root::SoapHeader)
            .is_empty()
    });
    Some(Binding {
        version,
        actions,
        fault_status: r.soap_fault_status.unwrap_or_default(),
        reads_headers,
    })
}

fn compile_stage(
    spec: &RouteFile,
    which: Section,
    d: &DirectionSpec,
    file: &Path,
    schemas: &SchemaRegistry,
    ctx: &ContextDecl,
    diags: &mut Vec<Diagnostic>,
) -> Option<Stage> {
    let section = which.name();
    let lookup = |name: &str, key: &str, diags: &mut Vec<Diagnostic>| {
        let s = schemas.get(name).cloned();
        if s.is_none() {
            diags.push(
                Diagnostic::error(file, format!("schema `{name}` does not exist"))
                    .location(format!("{section}.{key}"))
                    .hint("schema names are paths relative to the schemas directory, e.g. acme/order.schema.json"),
            );
        }
        s
    };
    let source = lookup(&d.schema, "schema", diags);
    let target = lookup(&d.target, "target", diags);
    let map = match mapping::compile_section(spec, which, file) {
        Ok(m) => Some(m),
        Err(errs) => {
            diags.extend(errs);
            None
        }
    };
    let (source, target, map) = (source?, target?, map?);
    diags.extend(mapping::check_section(
        spec,
        which,
        file,
        &source.shape,
        &target.shape,
        ctx,
    ));
    let direct = DirectPlan::new(&map, &target);
    Some(Stage {
        source,
        target,
        map,
        direct,
    })
}

/// The first of `prefixes` that `header` starts with, compared case-insensitively as the
/// request path compares them.
fn internal_prefix<'p>(header: &str, prefixes: &'p [String]) -> Option<&'p str> {
    prefixes
        .iter()
        .find(|p| {
            !p.is_empty()
                && header
                    .get(..p.len())
                    .is_some_and(|start| start.eq_ignore_ascii_case(p))
        })
        .map(String::as_str)
}

pub(crate) fn parse_method(m: &str) -> Result<Method, String> {
    match m.to_ascii_uppercase().as_str() {
        "GET" => Ok(Method::GET),
        "POST" => Ok(Method::POST),
        "PUT" => Ok(Method::PUT),
        "PATCH" => Ok(Method::PATCH),
        "DELETE" => Ok(Method::DELETE),
        "HEAD" => Ok(Method::HEAD),
        _ => Err(format!(
            "method `{m}` is not one of GET, POST, PUT, PATCH, DELETE, HEAD"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_and_encode() {
        assert_eq!(
            parse_template("/orders/{id}/lines").unwrap(),
            vec![
                PathPart::Literal("/orders/".into()),
                PathPart::Param("id".into()),
                PathPart::Literal("/lines".into())
            ]
        );
        assert!(parse_template("orders").is_err());
        assert!(parse_template("/orders/{id").is_err());
        assert!(parse_template("/orders/{i-d}").is_err());
        let mut s = String::new();
        encode_segment("a/b?c d", &mut s);
        assert_eq!(s, "a%2Fb%3Fc%20d");
        // Dot-segments cannot climb out of the upstream path; dots elsewhere stay.
        for (value, encoded) in [
            ("..", "%2E%2E"),
            (".", "%2E"),
            ("...", "..."),
            ("a..b", "a..b"),
            ("..a", "..a"),
        ] {
            let mut s = String::new();
            encode_segment(value, &mut s);
            assert_eq!(s, encoded, "{value}");
        }
        assert_eq!(path_shape("/a/{x}/b/{y}"), "/a/{}/b/{}");
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn path_parameters_are_decoded_once_and_encoded_once() {
        let decoded = Route::decode_path_params(&params(&[
            ("a", "GX%205501"),
            ("b", "M%C3%BCller"),
            ("c", "a%2Fb"),
            ("d", "50%25"),
            ("e", "a+b"),
            ("f", "plain-1"),
            ("g", "%e2%82%ac"),
        ]))
        .unwrap();
        assert_eq!(
            decoded,
            params(&[
                ("a", "GX 5501"),
                ("b", "Müller"),
                ("c", "a/b"),
                ("d", "50%"),
                ("e", "a+b"),
                ("f", "plain-1"),
                ("g", "€"),
            ])
        );
        let encoded: Vec<String> = decoded
            .iter()
            .map(|(_, v)| {
                let mut s = String::new();
                encode_segment(v, &mut s);
                s
            })
            .collect();
        assert_eq!(
            encoded,
            [
                "GX%205501",
                "M%C3%BCller",
                "a%2Fb",
                "50%25",
                "a%2Bb",
                "plain-1",
                "%E2%82%AC"
            ]
        );
    }

    #[test]
    fn undecodable_path_parameters_are_named() {
        let err = |v: &str| {
            Route::decode_path_params(&params(&[("ok", "x"), ("orderId", v)]))
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err("%FF"),
            "path parameter `orderId` is not UTF-8 text once percent-decoded"
        );
        assert_eq!(
            err("M%C3"),
            "path parameter `orderId` is not UTF-8 text once percent-decoded"
        );
        for bad in ["%", "a%4", "%G1", "%%41", "%\u{e9}1"] {
            assert_eq!(
                err(bad),
                "path parameter `orderId` has a `%` that is not followed by two hexadecimal digits",
                "{bad}"
            );
        }
    }

    #[test]
    fn internal_prefixes_match_case_insensitively() {
        let prefixes = vec!["X-Internal-".to_string(), "X-Secret".to_string()];
        assert_eq!(
            internal_prefix("x-internal-role", &prefixes),
            Some("X-Internal-")
        );
        assert_eq!(internal_prefix("X-SECRETS", &prefixes), Some("X-Secret"));
        assert_eq!(internal_prefix("X-Internal", &prefixes), None);
        assert_eq!(internal_prefix("X-Partner-Ref", &prefixes), None);
        // A multi-byte character where the prefix would end is no match, not a panic.
        assert_eq!(internal_prefix("X-Secre\u{e9}t", &prefixes), None);
    }
}
