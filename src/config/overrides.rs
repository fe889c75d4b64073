//! `[routes."PARTNER/ROUTE".<section>]`: per-route policy overrides written in
//! `gateway.toml`, keyed by the route's name as `/admin/status` shows it, so features can be
//! turned on for existing partner files without editing them. Each section is its
//! component's own struct; every key left out falls back to the global section.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edge::auth::config::RouteAuth;
use crate::edge::cache::CacheOverride;
use crate::edge::cors::CorsConfig;
use crate::edge::ratelimit::RateLimitOverride;
use crate::proxy::retry::RetryOverride;

/// The overrides of one route.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RouteOverrides {
    /// Authentication requirements (keys of `[auth.default]`).
    pub auth: Option<RouteAuth>,
    /// CORS policy (keys of `[cors]`).
    pub cors: Option<CorsConfig>,
    /// Rate limit (keys of `[rate_limit]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimitOverride>,
    /// Retries (keys of `[retries]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<RetryOverride>,
    /// Response cache (keys of `[cache]`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cache: Option<CacheOverride>,
}
