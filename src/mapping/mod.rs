//! The mapping language: route files under `mappings/`, compiled once, evaluated per
//! request, and checked statically against the source and target schemas.
//!
//! CONTRACT NOTE: `RouteFile` (syntax), `CompiledMap::apply`, `EvalContext`, `MapError`,
//! `load_route_file`, `compile` and `check` are used by config loading and the pipeline.

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
    _private: (),
}

impl CompiledMap {
    /// Runs the mapping on one source document.
    pub fn apply(&self, source: &Value, ctx: &EvalContext<'_>) -> Result<Value, MapError> {
        let _ = (source, ctx);
        todo!("CompiledMap::apply")
    }
}

/// Reads and parses one route file (YAML or JSON by extension), reporting syntax errors
/// and unknown keys with line and column.
pub fn load_route_file(path: &Path) -> Result<RouteFile, Vec<Diagnostic>> {
    let _ = path;
    todo!("mapping::load_route_file")
}

/// Compiles the `map` of one direction. `file` is used in diagnostics.
pub fn compile(
    route: &RouteFile,
    direction: syntax::Direction,
    file: &Path,
) -> Result<CompiledMap, Vec<Diagnostic>> {
    let _ = (route, direction, file);
    todo!("mapping::compile")
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
    let _ = (route, direction, file, source, target, ctx);
    todo!("mapping::check")
}

/// The JSON Schema of the route-file format, for `schemagate schema mapping`.
pub fn json_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RouteFile)).unwrap_or(Value::Null)
}
