//! The mapping language: route files under `mappings/`, compiled once, evaluated per
//! request, and checked statically against the source and target schemas.
//!
//! CONTRACT NOTE: `RouteFile` (syntax), `CompiledMap::apply`, `EvalContext`, `MapError`,
//! `load_route_file`, `compile` and `check` are used by config loading and the pipeline.

pub mod check;
pub mod compile;
mod eval;
pub mod path;
pub mod syntax;

use std::path::Path;

use serde_json::Value;

use crate::diagnostic::Diagnostic;
use crate::schema::Shape;

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
    fields: Vec<compile::Field>,
}

impl CompiledMap {
    /// Runs the mapping on one source document. The output is always an object whose
    /// members follow the order of the map.
    pub fn apply(&self, source: &Value, ctx: &EvalContext<'_>) -> Result<Value, MapError> {
        let eval = eval::Eval { source, ctx };
        eval.object(&self.fields, None).map(Value::Object)
    }

    /// The compiled target fields, in output order (for the checker and tools).
    pub fn fields(&self) -> &[compile::Field] {
        &self.fields
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

/// Parses route-file YAML text; `file` names it in diagnostics.
pub fn parse_route_yaml(text: &str, file: &Path) -> Result<RouteFile, Vec<Diagnostic>> {
    serde_saphyr::from_str::<RouteFile>(text).map_err(|e| {
        let pos = e.location().and_then(|l| {
            let line = u32::try_from(l.line()).ok()?;
            let col = u32::try_from(l.column()).ok()?;
            (line > 0).then_some((line, col))
        });
        let message = e.without_snippet().to_string();
        vec![Diagnostic::error(file, message).at_opt(pos)]
    })
}

/// Parses route-file JSON text; `file` names it in diagnostics. JSON parse errors have
/// positions; rule positions are not recorded for JSON files.
pub fn parse_route_json(text: &str, file: &Path) -> Result<RouteFile, Vec<Diagnostic>> {
    serde_json::from_str::<RouteFile>(text).map_err(|e| {
        let pos = u32::try_from(e.line())
            .ok()
            .zip(u32::try_from(e.column()).ok())
            .filter(|(l, _)| *l > 0);
        vec![Diagnostic::error(file, e.to_string()).at_opt(pos)]
    })
}

/// Compiles the `map` of one direction. `file` is used in diagnostics.
pub fn compile(
    route: &RouteFile,
    direction: syntax::Direction,
    file: &Path,
) -> Result<CompiledMap, Vec<Diagnostic>> {
    let Some(spec) = route.direction(direction) else {
        return Err(vec![Diagnostic::error(
            file,
            format!("the route file has no `{}:` section", direction.section()),
        )]);
    };
    let mut compiler = compile::Compiler::new(file);
    let fields = compiler.map(&spec.map, "", "", 0);
    if compiler.errors.is_empty() {
        Ok(CompiledMap { fields })
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
    let compiled = match compile(route, direction, file) {
        Ok(c) => c,
        Err(diags) => return diags,
    };
    check::check_compiled(route, direction, file, &compiled, source, target, ctx)
}

/// The JSON Schema of the route-file format, for `schemagate schema mapping`.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RouteFile)).unwrap_or(Value::Null)
}
