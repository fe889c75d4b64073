//! The route-file format as a user writes it (serde + schemars).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::codec::Format;

/// Which way a mapping runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Partner body -> internal body (`request:`).
    Request,
    /// Upstream body -> partner body (`response:`).
    Response,
}

/// One partner route: how it is reached, where it goes, and both mappings.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteFile {
    pub route: RouteSpec,
    pub upstream: UpstreamSpec,
    #[serde(default)]
    pub request: Option<DirectionSpec>,
    #[serde(default)]
    pub response: Option<DirectionSpec>,
}

/// How partners reach the route.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteSpec {
    /// HTTP method (GET, POST, PUT, PATCH, DELETE).
    pub method: String,
    /// Path with `{name}` parameters: `/partners/acme/orders/{id}`.
    pub path: String,
    /// The partner's wire format.
    pub format: Format,
    /// Default XML namespace of the partner's documents (XML routes).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// Where the route forwards to.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct UpstreamSpec {
    /// Name of an upstream service in gateway.toml.
    pub service: String,
    /// Method to call upstream; defaults to the route's method.
    #[serde(default)]
    pub method: Option<String>,
    /// Upstream path, may use the route's `{name}` parameters.
    pub path: String,
}

/// One direction's schemas and mapping.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DirectionSpec {
    /// Schema of the input of this direction, relative to schemas/.
    pub schema: String,
    /// Schema of the output of this direction, relative to schemas/.
    pub target: String,
    /// The mapping: mirrors the shape of the target.
    pub map: serde_json::Value,
}
