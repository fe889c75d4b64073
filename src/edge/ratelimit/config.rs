//! What an operator writes under `[rate_limit]`, `[redis]` and
//! `[routes.<name>.rate_limit]`, and its compilation into the rules the hot path reads.
//! Every key has a default (the `DEFAULT_*` constants); compiling reports every bad key by
//! its dotted name.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::gcra::{Gcra, Quota, QuotaPeriod};
use super::{FailureMode, RedisSettings};
use crate::edge::config_key::{InvalidKey, Problems};

pub const DEFAULT_RATE: u64 = 100;
pub const DEFAULT_PERIOD_SECS: u64 = 1;
/// Enough distinct consumers or addresses for a large partner base, at about 100 bytes
/// each: about 10 MB at most.
pub const DEFAULT_MAX_KEYS: u64 = 100_000;
/// How long Redis is left alone after a failure before it is asked again: short enough
/// to notice its return quickly, long enough that an outage costs requests no latency.
pub const DEFAULT_RETRY_INTERVAL_MS: u64 = 1_000;
pub const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6379";
pub const DEFAULT_REDIS_PREFIX: &str = "schemagate";
/// A loopback or same-zone Redis connects in well under this.
pub const DEFAULT_REDIS_CONNECT_TIMEOUT_MS: u64 = 200;
/// A decision is one round trip; past this, the request is better served failing open or
/// closed than waiting.
pub const DEFAULT_REDIS_RESPONSE_TIMEOUT_MS: u64 = 100;

/// Which backend keeps the counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    #[default]
    Local,
    Redis,
    /// `redis` when `[redis] url` is set (non-empty), `local` otherwise: one file serves a
    /// single instance and a fleet, with `url = "${REDIS_URL:-}"`.
    Auto,
}

/// Whose requests share one allowance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum KeyBy {
    /// The authenticated consumer; anonymous requests fall back to their client address.
    #[default]
    Consumer,
    /// The route as a whole.
    Route,
    /// The client's IP address.
    ClientAddress,
}

/// `[redis]`: the shared store of rate limits, quotas and (optionally) the response cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    pub url: String,
    /// Start of every key the gateway writes, so several gateways can share one Redis.
    pub prefix: String,
    pub connect_timeout_ms: u64,
    pub response_timeout_ms: u64,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig {
            url: DEFAULT_REDIS_URL.to_owned(),
            prefix: DEFAULT_REDIS_PREFIX.to_owned(),
            connect_timeout_ms: DEFAULT_REDIS_CONNECT_TIMEOUT_MS,
            response_timeout_ms: DEFAULT_REDIS_RESPONSE_TIMEOUT_MS,
        }
    }
}

impl RedisConfig {
    pub fn compile(&self, prefix: &str) -> Result<RedisSettings, Vec<InvalidKey>> {
        let mut p = Problems::default();
        if let Err(e) = redis::Client::open(self.url.as_str()) {
            p.push(prefix, "url", format!("not a Redis URL: {e}"));
        }
        if self.prefix.is_empty()
            || self
                .prefix
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            p.push(
                prefix,
                "prefix",
                "must be non-empty, without spaces or control characters",
            );
        }
        p.positive(prefix, "connect_timeout_ms", self.connect_timeout_ms);
        p.positive(prefix, "response_timeout_ms", self.response_timeout_ms);
        p.finish(RedisSettings {
            url: self.url.clone(),
            prefix: self.prefix.clone(),
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            response_timeout: Duration::from_millis(self.response_timeout_ms),
        })
    }
}

/// `quota = { limit = 10000, period = "day" }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct QuotaConfig {
    pub limit: u64,
    pub period: QuotaPeriod,
}

/// `[rate_limit]`: the defaults of every route, and the backend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Off unless turned on, globally or per route.
    pub enabled: bool,
    pub backend: BackendKind,
    pub on_store_error: FailureMode,
    pub retry_interval_ms: u64,
    pub key: KeyBy,
    /// Requests per `period_secs`.
    pub rate: u64,
    pub period_secs: u64,
    /// Requests admitted at once; defaults to `rate`.
    pub burst: Option<u64>,
    /// Most keys the in-process backend holds.
    pub max_keys: u64,
    pub quota: Option<QuotaConfig>,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig {
            enabled: false,
            backend: BackendKind::Local,
            on_store_error: FailureMode::Open,
            retry_interval_ms: DEFAULT_RETRY_INTERVAL_MS,
            key: KeyBy::Consumer,
            rate: DEFAULT_RATE,
            period_secs: DEFAULT_PERIOD_SECS,
            burst: None,
            max_keys: DEFAULT_MAX_KEYS,
            quota: None,
        }
    }
}

/// `[routes.<name>.rate_limit]`: any key left out comes from `[rate_limit]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RateLimitOverride {
    pub enabled: Option<bool>,
    pub key: Option<KeyBy>,
    pub rate: Option<u64>,
    pub period_secs: Option<u64>,
    pub burst: Option<u64>,
    pub quota: Option<QuotaConfig>,
}

/// One route's rules, as the hot path reads them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledRateLimit {
    pub key: KeyBy,
    pub rate: Option<Gcra>,
    pub quota: Option<Quota>,
}

/// The backend choice, compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompiledBackend {
    pub redis: Option<RedisSettings>,
    pub on_error: FailureMode,
    pub retry_interval: Duration,
    pub max_keys: u64,
}

impl RateLimitConfig {
    /// Compiles the backend; `redis` is the `[redis]` section when present.
    pub fn compile_backend(
        &self,
        redis: Option<&RedisConfig>,
    ) -> Result<CompiledBackend, Vec<InvalidKey>> {
        let mut p = Problems::default();
        p.positive("rate_limit", "retry_interval_ms", self.retry_interval_ms);
        p.positive("rate_limit", "max_keys", self.max_keys);
        let backend = match (self.backend, redis) {
            (BackendKind::Auto, Some(r)) if !r.url.trim().is_empty() => BackendKind::Redis,
            (BackendKind::Auto, _) => BackendKind::Local,
            (kind, _) => kind,
        };
        let settings = match (backend, redis) {
            (BackendKind::Local | BackendKind::Auto, _) => None,
            (BackendKind::Redis, None) => {
                p.push(
                    "rate_limit",
                    "backend",
                    "\"redis\" needs a [redis] section with its url",
                );
                None
            }
            (BackendKind::Redis, Some(r)) => match r.compile("redis") {
                Ok(s) => Some(s),
                Err(found) => {
                    p.found.extend(found);
                    None
                }
            },
        };
        p.finish(CompiledBackend {
            redis: settings,
            on_error: self.on_store_error,
            retry_interval: Duration::from_millis(self.retry_interval_ms),
            max_keys: self.max_keys,
        })
    }

    /// Compiles the rules of one route: the global ones with the route's override laid
    /// over them. `prefix` names the override in diagnostics
    /// (`routes.orders.rate_limit`). None when limits are off for the route.
    pub fn compile_route(
        &self,
        over: Option<&RateLimitOverride>,
        prefix: &str,
    ) -> Result<Option<CompiledRateLimit>, Vec<InvalidKey>> {
        let o = over.cloned().unwrap_or_default();
        // A bad key is reported where it was written: the override or the global section.
        let at = |set: bool| if set { prefix } else { "rate_limit" };
        let mut p = Problems::default();
        let rate = o.rate.unwrap_or(self.rate);
        let period = o.period_secs.unwrap_or(self.period_secs);
        let burst = o.burst.or(self.burst).unwrap_or(rate);
        p.positive(at(o.rate.is_some()), "rate", rate);
        p.positive(at(o.period_secs.is_some()), "period_secs", period);
        p.positive(
            at(o.burst.is_some() || self.burst.is_none() && o.rate.is_some()),
            "burst",
            burst,
        );
        let quota = o.quota.or(self.quota);
        if let Some(q) = &quota {
            p.positive(at(o.quota.is_some()), "quota.limit", q.limit);
        }
        let enabled = o.enabled.unwrap_or(self.enabled);
        let compiled = CompiledRateLimit {
            key: o.key.unwrap_or(self.key),
            rate: Some(Gcra::new(rate, Duration::from_secs(period), burst)),
            quota: quota.map(|q| Quota {
                limit: q.limit,
                period: q.period,
            }),
        };
        p.finish(enabled.then_some(compiled))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        #[serde(default)]
        rate_limit: RateLimitConfig,
        redis: Option<RedisConfig>,
        #[serde(default)]
        routes: indexmap::IndexMap<String, Route>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Route {
        rate_limit: Option<RateLimitOverride>,
    }

    fn parse(text: &str) -> File {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_documented_example_compiles_with_overrides_laid_over_defaults() {
        let f = parse(
            r#"
            [redis]
            url = "redis://127.0.0.1:6390"
            prefix = "gw"

            [rate_limit]
            enabled = true
            backend = "redis"
            on_store_error = "closed"
            rate = 50
            quota = { limit = 10000, period = "day" }

            [routes.orders.rate_limit]
            rate = 5
            burst = 10
            key = "client_address"

            [routes.health.rate_limit]
            enabled = false
            "#,
        );
        let backend = f.rate_limit.compile_backend(f.redis.as_ref()).unwrap();
        assert_eq!(backend.on_error, FailureMode::Closed);
        assert_eq!(
            backend
                .redis
                .as_ref()
                .map(|r| (r.url.as_str(), r.prefix.as_str())),
            Some(("redis://127.0.0.1:6390", "gw"))
        );
        let orders = f
            .rate_limit
            .compile_route(
                f.routes["orders"].rate_limit.as_ref(),
                "routes.orders.rate_limit",
            )
            .unwrap();
        assert_eq!(
            orders,
            Some(CompiledRateLimit {
                key: KeyBy::ClientAddress,
                rate: Some(Gcra {
                    interval_us: 200_000,
                    tolerance_us: 2_000_000,
                    limit: 10
                }),
                quota: Some(Quota {
                    limit: 10000,
                    period: QuotaPeriod::Day
                }),
            })
        );
        assert_eq!(
            f.rate_limit
                .compile_route(f.routes["health"].rate_limit.as_ref(), "x")
                .unwrap(),
            None
        );
        let other = f
            .rate_limit
            .compile_route(None, "routes.other.rate_limit")
            .unwrap()
            .unwrap();
        assert_eq!(
            (other.key, other.rate.unwrap().limit),
            (KeyBy::Consumer, 50)
        );
    }

    #[test]
    fn every_bad_key_is_reported_by_its_name() {
        let f = parse(
            r#"
            [redis]
            url = "http://not-redis"
            prefix = "a b"
            response_timeout_ms = 0

            [rate_limit]
            enabled = true
            backend = "redis"
            max_keys = 0
            quota = { limit = 0, period = "month" }

            [routes.orders.rate_limit]
            rate = 0
            period_secs = 0
            "#,
        );
        let keys = |e: Vec<InvalidKey>| e.into_iter().map(|k| k.key).collect::<Vec<_>>();
        assert_eq!(
            keys(f.rate_limit.compile_backend(f.redis.as_ref()).unwrap_err()),
            [
                "rate_limit.max_keys",
                "redis.url",
                "redis.prefix",
                "redis.response_timeout_ms"
            ]
        );
        assert_eq!(
            keys(
                f.rate_limit
                    .compile_route(
                        f.routes["orders"].rate_limit.as_ref(),
                        "routes.orders.rate_limit"
                    )
                    .unwrap_err()
            ),
            [
                "routes.orders.rate_limit.rate",
                "routes.orders.rate_limit.period_secs",
                "routes.orders.rate_limit.burst",
                "rate_limit.quota.limit"
            ]
        );
        let missing = parse("[rate_limit]\nbackend = \"redis\"\n");
        assert_eq!(
            missing.rate_limit.compile_backend(None).unwrap_err(),
            [InvalidKey::new(
                "rate_limit.backend",
                "\"redis\" needs a [redis] section with its url"
            )]
        );
    }

    #[test]
    fn auto_uses_redis_only_when_its_url_is_set() {
        let f = parse("[redis]\nurl = \"\"\n[rate_limit]\nbackend = \"auto\"\n");
        assert_eq!(
            f.rate_limit
                .compile_backend(f.redis.as_ref())
                .unwrap()
                .redis,
            None
        );
        assert_eq!(f.rate_limit.compile_backend(None).unwrap().redis, None);
        let f =
            parse("[redis]\nurl = \"redis://10.0.0.5:6379\"\n[rate_limit]\nbackend = \"auto\"\n");
        let redis = f
            .rate_limit
            .compile_backend(f.redis.as_ref())
            .unwrap()
            .redis
            .unwrap();
        assert_eq!(redis.url, "redis://10.0.0.5:6379");
    }

    #[test]
    fn unknown_keys_and_values_are_refused_at_parse() {
        let e = toml::from_str::<File>("[rate_limit]\nburts = 3\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `burts`"), "{e}");
        let e = toml::from_str::<File>("[rate_limit]\nkey = \"ip\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown variant `ip`"), "{e}");
    }
}
