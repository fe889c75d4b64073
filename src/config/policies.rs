//! The traffic-control sections of `gateway.toml`: `[redis]`, `[rate_limit]`,
//! `[circuit_breaker]`, `[retries]`, `[cache]` and the per-route overrides under
//! `[routes."PARTNER/ROUTE"]` (`overrides.rs`). The structs are the components' own (each compiles itself,
//! see `src/edge/` and `src/proxy/`); this file only says where they sit in the file.
//! They are compiled into per-route policies by the gateway's compile step.

use std::collections::BTreeMap;

use super::file::GatewayConfig;
use crate::edge::cache::CacheControlPolicy;
use crate::edge::cache::config::StorePolicy;
use crate::edge::config_key::InvalidKey;
use crate::edge::ratelimit::RedisSettings;
use crate::edge::ratelimit::config::{CompiledBackend, CompiledRateLimit};
use crate::proxy::breaker::BreakerSettings;
use crate::proxy::retry::RetryPolicy;

/// Every traffic-control section compiled: what the compile step builds the process's
/// limiter, cache and breakers from, and each route's policy.
#[derive(Debug, Clone, PartialEq)]
pub struct CompiledPolicies {
    /// The rate limit backend, when at least one route is limited.
    pub backend: Option<CompiledBackend>,
    /// Each route's policy, by route index.
    pub routes: Vec<RoutePolicy>,
    /// Each upstream's breaker settings (None: its breaker is off).
    pub breakers: BTreeMap<String, Option<BreakerSettings>>,
    /// `[retries] budget_percent` and `budget_min_per_sec`.
    pub budget: (u64, u64),
    /// The cache's size and shared store, when at least one route is cached.
    pub cache: Option<CacheStore>,
}

/// The response cache's process-wide settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheStore {
    pub max_bytes: u64,
    pub shared: Option<RedisSettings>,
}

/// One route's compiled traffic policy.
#[derive(Debug, Clone, PartialEq)]
pub struct RoutePolicy {
    pub rate_limit: Option<CompiledRateLimit>,
    pub retry: RetryPolicy,
    /// None when the route's answers are not cached.
    pub cache: Option<StorePolicy>,
    pub cache_control: CacheControlPolicy,
}

/// The dotted name of a route's override section, quoted as it is written in the file.
pub fn route_prefix(route: &str, section: &str) -> String {
    format!("routes.\"{route}\".{section}")
}

/// Compiles the traffic sections for `routes` (each route's name and whether it answers
/// GET, in route index order). Every bad key is reported, by its dotted name.
pub fn compile(
    cfg: &GatewayConfig,
    routes: &[(&str, bool)],
) -> Result<CompiledPolicies, Vec<InvalidKey>> {
    // A `[routes."X"]` naming no route is reported by the gateway's policy compile step.
    let mut found = Vec::new();
    let mut policies = Vec::with_capacity(routes.len());
    let mut any_limited = false;
    let mut any_cached = false;
    for (name, get) in routes {
        let over = cfg.routes.get(*name);
        let rate_limit = cfg
            .rate_limit
            .compile_route(
                over.and_then(|o| o.rate_limit.as_ref()),
                &route_prefix(name, "rate_limit"),
            )
            .unwrap_or_else(|e| {
                found.extend(e);
                None
            });
        let retry = cfg
            .retries
            .compile(
                over.and_then(|o| o.retries.as_ref()),
                &route_prefix(name, "retries"),
            )
            .unwrap_or_else(|e| {
                found.extend(e);
                crate::proxy::guard::NO_RETRIES
            });
        let cache = cfg
            .cache
            .compile_route(
                over.and_then(|o| o.cache.as_ref()),
                &route_prefix(name, "cache"),
                *get,
            )
            .unwrap_or_else(|e| {
                found.extend(e);
                crate::edge::cache::CompiledCache {
                    store: None,
                    cache_control: CacheControlPolicy::Keep,
                }
            });
        any_limited |= rate_limit.is_some();
        any_cached |= cache.store.is_some();
        policies.push(RoutePolicy {
            rate_limit,
            retry,
            cache: cache.store,
            cache_control: cache.cache_control,
        });
    }
    // The global sections are checked whether or not a route uses them: a mistake in a
    // section turned off is still a mistake.
    let backend = match cfg.rate_limit.compile_backend(cfg.redis.as_ref()) {
        Ok(b) => any_limited.then_some(b),
        Err(e) => {
            found.extend(e);
            None
        }
    };
    if let Err(e) = cfg.cache.check(cfg.redis.is_some()) {
        found.extend(e);
    }
    let mut shared = None;
    if cfg.cache.shared
        && let Some(r) = &cfg.redis
    {
        match r.compile("redis") {
            Ok(s) => shared = Some(s),
            Err(e) => found.extend(e),
        }
    }
    if let Err(e) = cfg.retries.budget() {
        found.extend(e);
    }
    let mut breakers = BTreeMap::new();
    for (name, up) in &cfg.upstreams {
        match cfg.circuit_breaker.compile(
            up.circuit_breaker.as_ref(),
            &format!("upstreams.{name}.circuit_breaker"),
        ) {
            Ok(s) => {
                breakers.insert(name.clone(), s);
            }
            Err(e) => found.extend(e),
        }
    }
    if !found.is_empty() {
        // A global key at fault is found once per route or upstream that uses it.
        let mut seen = std::collections::HashSet::new();
        found.retain(|k| seen.insert((k.key.clone(), k.message.clone())));
        return Err(found);
    }
    Ok(CompiledPolicies {
        backend,
        routes: policies,
        breakers,
        budget: (cfg.retries.budget_percent, cfg.retries.budget_min_per_sec),
        cache: any_cached.then_some(CacheStore {
            max_bytes: cfg.cache.max_bytes,
            shared,
        }),
    })
}

/// Where a bad key is written, for placing its diagnostic: the dotted path without the
/// quotes around a route name.
pub fn key_location(key: &str) -> String {
    key.replace('"', "")
}
