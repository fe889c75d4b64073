//! `[cache]` and `[routes.<name>.cache]`: the response cache's size, lifetimes and
//! sharing, and each route's `Cache-Control` policy.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::control::{CacheControlConfig, CacheControlPolicy};
use crate::edge::config_key::{InvalidKey, Problems};

/// 64 MiB: thousands of typical JSON answers, small beside the gateway's other memory.
pub const DEFAULT_MAX_BYTES: u64 = 64 * 1024 * 1024;
/// Larger answers are passed on but not stored: one would crowd out hundreds of others.
pub const DEFAULT_MAX_ENTRY_BYTES: u64 = 1024 * 1024;
/// Answers without `max-age`/`s-maxage` are not stored unless a route says otherwise.
pub const DEFAULT_TTL_SECS: u64 = 0;
/// Even an upstream asking for a day is kept at most five minutes: the gateway cannot be
/// told to purge.
pub const DEFAULT_MAX_TTL_SECS: u64 = 300;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct CacheConfig {
    /// Off unless turned on, globally or per route; only GET routes are cached.
    pub enabled: bool,
    pub max_bytes: u64,
    pub max_entry_bytes: u64,
    pub default_ttl_secs: u64,
    pub max_ttl_secs: u64,
    /// Share entries with other instances through `[redis]`.
    pub shared: bool,
    /// The `Cache-Control` the gateway puts on its answers.
    pub cache_control: CacheControlConfig,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            enabled: false,
            max_bytes: DEFAULT_MAX_BYTES,
            max_entry_bytes: DEFAULT_MAX_ENTRY_BYTES,
            default_ttl_secs: DEFAULT_TTL_SECS,
            max_ttl_secs: DEFAULT_MAX_TTL_SECS,
            shared: false,
            cache_control: CacheControlConfig::default(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheOverride {
    pub enabled: Option<bool>,
    pub default_ttl_secs: Option<u64>,
    pub max_ttl_secs: Option<u64>,
    pub cache_control: Option<CacheControlConfig>,
}

/// One route's cache settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledCache {
    /// None when the route's answers are not cached.
    pub store: Option<StorePolicy>,
    pub cache_control: CacheControlPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorePolicy {
    pub default_ttl: Duration,
    pub max_ttl: Duration,
    pub max_entry_bytes: u64,
}

impl CacheConfig {
    /// Checks the global keys (`has_redis`: whether a `[redis]` section exists).
    pub fn check(&self, has_redis: bool) -> Result<(), Vec<InvalidKey>> {
        let mut p = Problems::default();
        p.positive("cache", "max_bytes", self.max_bytes);
        p.positive("cache", "max_entry_bytes", self.max_entry_bytes);
        if self.max_entry_bytes > self.max_bytes {
            p.push("cache", "max_entry_bytes", "must not exceed max_bytes");
        }
        if self.shared && !has_redis {
            p.push("cache", "shared", "needs a [redis] section");
        }
        p.finish(())
    }

    /// One route's settings; `get` says whether the route answers GET (others are never
    /// cached, and asking for it is an error).
    pub fn compile_route(
        &self,
        over: Option<&CacheOverride>,
        prefix: &str,
        get: bool,
    ) -> Result<CompiledCache, Vec<InvalidKey>> {
        let o = over.cloned().unwrap_or_default();
        let mut p = Problems::default();
        if o.enabled == Some(true) && !get {
            p.push(prefix, "enabled", "only GET routes can be cached");
        }
        let default_ttl = o.default_ttl_secs.unwrap_or(self.default_ttl_secs);
        let max_ttl = o.max_ttl_secs.unwrap_or(self.max_ttl_secs);
        if max_ttl < default_ttl {
            let at = if o.max_ttl_secs.is_some() || o.default_ttl_secs.is_some() {
                prefix
            } else {
                "cache"
            };
            p.push(at, "max_ttl_secs", "must not be below default_ttl_secs");
        }
        let (cc, cc_at) = match &o.cache_control {
            Some(c) => (c, format!("{prefix}.cache_control")),
            None => (&self.cache_control, "cache.cache_control".to_owned()),
        };
        let cache_control = match cc.compile(&cc_at) {
            Ok(c) => c,
            Err(e) => {
                p.found.push(e);
                CacheControlPolicy::Keep
            }
        };
        let store = (o.enabled.unwrap_or(self.enabled) && get).then_some(StorePolicy {
            default_ttl: Duration::from_secs(default_ttl),
            max_ttl: Duration::from_secs(max_ttl),
            max_entry_bytes: self.max_entry_bytes,
        });
        p.finish(CompiledCache {
            store,
            cache_control,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_override_the_global_section_and_bad_keys_are_named() {
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct F {
            cache: CacheConfig,
            routes: indexmap::IndexMap<String, R>,
        }
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct R {
            cache: CacheOverride,
        }
        let f: F = toml::from_str(
            r#"
            [cache]
            enabled = true
            max_bytes = 1000
            max_entry_bytes = 2000
            shared = true
            cache_control = { mode = "default", value = "no-store" }

            [routes.catalog.cache]
            default_ttl_secs = 30
            cache_control = { mode = "override", value = "public, max-age=30" }

            [routes.submit.cache]
            enabled = true
            max_ttl_secs = 0
            default_ttl_secs = 5
            "#,
        )
        .unwrap();
        let keys = |e: Vec<InvalidKey>| e.into_iter().map(|k| k.key).collect::<Vec<_>>();
        assert_eq!(
            keys(f.cache.check(false).unwrap_err()),
            ["cache.max_entry_bytes", "cache.shared"]
        );
        let catalog = f
            .cache
            .compile_route(
                Some(&f.routes["catalog"].cache),
                "routes.catalog.cache",
                true,
            )
            .unwrap();
        assert_eq!(
            catalog,
            CompiledCache {
                store: Some(StorePolicy {
                    default_ttl: Duration::from_secs(30),
                    max_ttl: Duration::from_secs(300),
                    max_entry_bytes: 2000
                }),
                cache_control: CacheControlPolicy::Override(http::HeaderValue::from_static(
                    "public, max-age=30"
                )),
            }
        );
        assert_eq!(
            keys(
                f.cache
                    .compile_route(
                        Some(&f.routes["submit"].cache),
                        "routes.submit.cache",
                        false
                    )
                    .unwrap_err()
            ),
            [
                "routes.submit.cache.enabled",
                "routes.submit.cache.max_ttl_secs"
            ]
        );
        let post = f
            .cache
            .compile_route(None, "routes.p.cache", false)
            .unwrap();
        assert_eq!(
            (post.store, post.cache_control),
            (
                None,
                CacheControlPolicy::Default(http::HeaderValue::from_static("no-store"))
            )
        );
    }
}
