//! The `aggregate:` section of a route file as written: the upstream calls, the answer
//! mapping and the client profiles. Compiled by [`super::compile`].

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::mapping::syntax::MapSpec;

/// Total time an aggregate may take, first call to answer, when the route sets none.
pub const DEFAULT_DEADLINE_MS: u64 = 5_000;
/// Time one call may take, from its request to its whole answer, when the call sets none.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 2_000;

fn default_deadline_ms() -> u64 {
    DEFAULT_DEADLINE_MS
}

fn default_call_timeout_ms() -> u64 {
    DEFAULT_CALL_TIMEOUT_MS
}

fn default_required() -> bool {
    true
}

/// One client request answered by several upstream calls.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// The most the whole aggregate may take; past it the client gets 504.
    #[serde(default = "default_deadline_ms")]
    pub deadline_ms: u64,
    /// The upstream calls by name, the name being the call answer's member in the merged
    /// document the answer mappings read (`/user/name`).
    pub calls: IndexMap<String, CallSpec>,
    /// The answer mapping: merged document -> the route's answer schema.
    pub answer: AnswerSpec,
    /// Where a client names its profile; without it every client gets `answer`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<ProfileSelector>,
    /// Answer mappings by profile name, each used instead of `answer` for the clients
    /// naming that profile.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub profiles: IndexMap<String, AnswerSpec>,
}

/// One upstream call.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CallSpec {
    /// Name of an upstream service in gateway.toml.
    pub service: String,
    /// The call's method: GET (the default), HEAD or DELETE; calls carry no body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The upstream path, a mapping template: `/users/{$query.user}`,
    /// `/accounts/{/user/account_id}/orders`. Placeholder values are sent percent-encoded.
    pub path: String,
    /// Query parameters by name, each value a template; a parameter whose placeholders are
    /// missing is left out.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub query: IndexMap<String, String>,
    /// Request headers by name, each value a template; a header whose placeholders are
    /// missing is left out.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub headers: IndexMap<String, String>,
    /// Calls whose answers this call's templates read (`/user/...`): it starts once
    /// those have answered, and does not wait for any other.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Schema the call's answer is validated against, relative to schemas/; without it
    /// the answer is any JSON document and the answer mapping's paths into it are not
    /// checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    /// The most this call may take.
    #[serde(default = "default_call_timeout_ms")]
    pub timeout_ms: u64,
    /// A required call that fails fails the request (502, or 504 on timeout); an optional
    /// one is left out of the answer, which then names it as missing.
    #[serde(default = "default_required")]
    pub required: bool,
}

/// An answer mapping: the merged document (one member per call, and `_missing`) mapped
/// into `target`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AnswerSpec {
    /// The answer's schema, relative to schemas/.
    pub target: String,
    /// The mapping, as in any route's `response.map`.
    pub map: MapSpec,
    /// Source paths left unread on purpose.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignore: Vec<String>,
}

/// Where the client's profile name is read: one of `header` or `query`.
#[derive(Debug, Clone, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfileSelector {
    /// A request header naming the profile (`X-Client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// A query parameter naming the profile (`client`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}
