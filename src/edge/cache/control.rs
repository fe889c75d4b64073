//! `Cache-Control` in both directions: what the upstream's answer permits a shared cache
//! to do with it (RFC 9111 §5.2.2, read as a shared cache since one answer may serve
//! several requests), and the per-route policy for the `Cache-Control` the gateway puts
//! on every answer it gives, errors included.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{AGE, CACHE_CONTROL, SET_COOKIE, VARY};
use http::{HeaderMap, HeaderValue, Response, StatusCode};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use tower::{Layer, Service};

/// The directives of a response's `Cache-Control` that decide whether and how long it is
/// stored. Unknown directives are ignored (RFC 9111 §5.2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Directives {
    pub no_store: bool,
    pub no_cache: bool,
    pub private: bool,
    pub max_age: Option<u64>,
    pub s_maxage: Option<u64>,
}

impl Directives {
    /// Reads every `Cache-Control` field. A malformed `max-age` counts as stale (§4.2.1:
    /// "invalid ... SHOULD be considered stale"), i.e. `max-age=0`.
    pub fn parse(headers: &HeaderMap) -> Self {
        let mut d = Directives::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(text) = value.to_str() else {
                d.no_store = true;
                continue;
            };
            for part in text.split(',') {
                let (name, arg) = match part.split_once('=') {
                    Some((n, a)) => (n.trim(), Some(a.trim().trim_matches('"'))),
                    None => (part.trim(), None),
                };
                let secs = || arg.and_then(|a| a.parse::<u64>().ok()).or(Some(0));
                match name.to_ascii_lowercase().as_str() {
                    "no-store" => d.no_store = true,
                    "no-cache" => d.no_cache = true,
                    "private" => d.private = true,
                    "max-age" => d.max_age = secs(),
                    "s-maxage" => d.s_maxage = secs(),
                    _ => {}
                }
            }
        }
        d
    }
}

/// How long an upstream answer may be served from the cache, or None when it must not be
/// stored: not a 200; `no-store`, `private` or `no-cache` (the gateway does not
/// revalidate); `Vary: *`; a `Set-Cookie`; or no lifetime stated and no default.
/// The lifetime is `s-maxage`, else `max-age`, else `default_ttl`, less the `Age` it
/// already has, capped at `max_ttl`.
pub fn storable_for(
    status: StatusCode,
    headers: &HeaderMap,
    default_ttl: Duration,
    max_ttl: Duration,
) -> Option<Duration> {
    if status != StatusCode::OK || headers.contains_key(SET_COOKIE) {
        return None;
    }
    if headers.get_all(VARY).iter().any(|v| {
        v.to_str()
            .map_or(true, |s| s.split(',').any(|p| p.trim() == "*"))
    }) {
        return None;
    }
    let d = Directives::parse(headers);
    if d.no_store || d.private || d.no_cache {
        return None;
    }
    let lifetime = match d.s_maxage.or(d.max_age) {
        Some(secs) => Duration::from_secs(secs),
        None => default_ttl,
    };
    let ttl = lifetime
        .saturating_sub(Duration::from_secs(upstream_age(headers)))
        .min(max_ttl);
    (!ttl.is_zero()).then_some(ttl)
}

/// The `Age` the upstream reported (0 when absent or malformed).
pub fn upstream_age(headers: &HeaderMap) -> u64 {
    headers
        .get(AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// What the route's `cache_control` says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Whatever the upstream sent (or nothing).
    #[default]
    Keep,
    /// Always `value`, replacing the upstream's.
    Override,
    /// The upstream's when it sent one, `value` otherwise.
    Default,
}

/// `cache_control = { mode = "override", value = "no-store" }`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct CacheControlConfig {
    #[serde(default)]
    pub mode: Mode,
    pub value: Option<String>,
}

/// The compiled policy.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum CacheControlPolicy {
    #[default]
    Keep,
    Override(HeaderValue),
    Default(HeaderValue),
}

impl CacheControlConfig {
    pub fn compile(
        &self,
        prefix: &str,
    ) -> Result<CacheControlPolicy, crate::edge::config_key::InvalidKey> {
        use crate::edge::config_key::InvalidKey;
        let value = || {
            let text = self.value.as_deref().ok_or_else(|| {
                InvalidKey::new(format!("{prefix}.value"), "required by this mode")
            })?;
            HeaderValue::from_str(text)
                .ok()
                .filter(|_| !text.trim().is_empty())
                .ok_or_else(|| {
                    InvalidKey::new(format!("{prefix}.value"), "not a valid header value")
                })
        };
        match self.mode {
            Mode::Keep if self.value.is_some() => Err(InvalidKey::new(
                format!("{prefix}.value"),
                "has no effect with mode \"keep\"",
            )),
            Mode::Keep => Ok(CacheControlPolicy::Keep),
            Mode::Override => Ok(CacheControlPolicy::Override(value()?)),
            Mode::Default => Ok(CacheControlPolicy::Default(value()?)),
        }
    }
}

impl CacheControlPolicy {
    pub fn apply(&self, headers: &mut HeaderMap) {
        match self {
            CacheControlPolicy::Keep => {}
            CacheControlPolicy::Override(v) => {
                headers.insert(CACHE_CONTROL, v.clone());
            }
            CacheControlPolicy::Default(v) => {
                if !headers.contains_key(CACHE_CONTROL) {
                    headers.insert(CACHE_CONTROL, v.clone());
                }
            }
        }
    }
}

/// Applies a route's [`CacheControlPolicy`] to every answer of the service it wraps, so
/// errors made inside (problems, 429s, 503s) follow it too.
#[derive(Debug, Clone)]
pub struct CacheControlLayer {
    policy: CacheControlPolicy,
}

impl CacheControlLayer {
    pub fn new(policy: CacheControlPolicy) -> Self {
        CacheControlLayer { policy }
    }
}

impl<S> Layer<S> for CacheControlLayer {
    type Service = CacheControlService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CacheControlService {
            inner,
            policy: self.policy.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct CacheControlService<S> {
    inner: S,
    policy: CacheControlPolicy,
}

impl<S, Req, B> Service<Req> for CacheControlService<S>
where
    S: Service<Req, Response = Response<B>>,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Response<B>, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let fut = self.inner.call(req);
        let policy = self.policy.clone();
        Box::pin(async move {
            let mut resp = fut.await?;
            policy.apply(resp.headers_mut());
            Ok(resp)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn lifetimes_follow_the_shared_cache_rules() {
        let day = Duration::from_secs(86400);
        let ttl = |pairs: &[(&str, &str)]| {
            storable_for(StatusCode::OK, &headers(pairs), Duration::ZERO, day)
        };
        assert_eq!(
            ttl(&[("cache-control", "max-age=60")]),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=60, s-maxage=10")]),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            ttl(&[
                ("cache-control", "public"),
                ("cache-control", "MAX-AGE=\"30\"")
            ]),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=60"), ("age", "45")]),
            Some(Duration::from_secs(15))
        );
        assert_eq!(ttl(&[("cache-control", "max-age=60"), ("age", "90")]), None);
        assert_eq!(ttl(&[("cache-control", "max-age=ten")]), None);
        assert_eq!(ttl(&[("cache-control", "max-age=60, private")]), None);
        assert_eq!(ttl(&[("cache-control", "no-cache, max-age=60")]), None);
        assert_eq!(ttl(&[("cache-control", "max-age=60, no-store")]), None);
        assert_eq!(
            ttl(&[("cache-control", "max-age=60"), ("vary", "accept, *")]),
            None
        );
        assert_eq!(
            ttl(&[("cache-control", "max-age=60"), ("set-cookie", "a=b")]),
            None
        );
        assert_eq!(ttl(&[]), None, "no lifetime and no default");
        assert_eq!(
            storable_for(StatusCode::OK, &headers(&[]), Duration::from_secs(5), day),
            Some(Duration::from_secs(5))
        );
        assert_eq!(
            storable_for(
                StatusCode::OK,
                &headers(&[("cache-control", "max-age=999999")]),
                Duration::ZERO,
                day
            ),
            Some(day)
        );
        assert_eq!(
            storable_for(
                StatusCode::NOT_FOUND,
                &headers(&[("cache-control", "max-age=60")]),
                Duration::ZERO,
                day
            ),
            None
        );
    }

    #[test]
    fn the_route_policy_keeps_overrides_or_defaults() {
        let parse = |t: &str| {
            toml::from_str::<CacheControlConfig>(t)
                .unwrap()
                .compile("routes.o.cache.cache_control")
        };
        let over = parse("mode = \"override\"\nvalue = \"no-store\"").unwrap();
        let default = parse("mode = \"default\"\nvalue = \"max-age=5\"").unwrap();
        let mut h = headers(&[("cache-control", "max-age=60")]);
        default.apply(&mut h);
        assert_eq!(h["cache-control"], "max-age=60");
        over.apply(&mut h);
        assert_eq!(h["cache-control"], "no-store");
        let mut empty = HeaderMap::new();
        default.apply(&mut empty);
        assert_eq!(empty["cache-control"], "max-age=5");
        assert_eq!(parse("mode = \"keep\"").unwrap(), CacheControlPolicy::Keep);
        assert_eq!(
            parse("mode = \"override\"").unwrap_err().to_string(),
            "routes.o.cache.cache_control.value: required by this mode"
        );
        assert_eq!(
            parse("mode = \"default\"\nvalue = \"a\\nb\"")
                .unwrap_err()
                .to_string(),
            "routes.o.cache.cache_control.value: not a valid header value"
        );
        assert_eq!(
            parse("value = \"x\"").unwrap_err().to_string(),
            "routes.o.cache.cache_control.value: has no effect with mode \"keep\""
        );
    }
}
