//! `[routes."PARTNER/ROUTE".<section>]`: per-route policy overrides written in
//! `gateway.toml`, keyed by the route's name as `/admin/status` shows it, so features can be
//! turned on for existing partner files without editing them. Each section is its
//! component's own struct; every key left out falls back to the global section.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::edge::auth::config::RouteAuth;
use crate::edge::cors::CorsConfig;

/// The overrides of one route.
#[derive(Debug, Clone, Default, Serialize, Deserialize, JsonSchema, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct RouteOverrides {
    /// Authentication requirements (keys of `[auth.default]`).
    pub auth: Option<RouteAuth>,
    /// CORS policy (keys of `[cors]`).
    pub cors: Option<CorsConfig>,
}
