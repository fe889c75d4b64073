//! Rate limits and quotas: how many requests a consumer, a route or a client address may
//! make, decided by GCRA ([`gcra`]) in one of two backends with the same semantics: in
//! process ([`local`]) or shared by every gateway instance through Redis ([`redis`]).
//!
//! [`Limiter`] is what the request path calls: it picks the backend, and when Redis cannot
//! answer it fails open or closed as configured, warns once per outage (not once per
//! request), counts every such request in [`StoreStats`], and stops asking Redis for
//! `retry_interval` after a failure so an outage costs requests no latency; the first
//! answer after that logs the recovery. [`layer`] wraps it as a tower layer.

pub mod config;
pub mod gcra;
pub mod layer;
pub mod local;
pub mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderName, HeaderValue};

pub use self::config::{CompiledRateLimit, KeyBy, RateLimitConfig, RateLimitOverride};
pub use self::gcra::{Decision, Gcra, Quota, QuotaPeriod};
pub use self::layer::{RateLimitLayer, RateLimitService};
pub use self::local::LocalStore;
pub use self::redis::{RedisSettings, RedisStore, RedisStoreError};
use crate::problem::{Problem, ProblemKind};

pub const RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("ratelimit-limit");
pub const RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("ratelimit-remaining");
pub const RATELIMIT_RESET: HeaderName = HeaderName::from_static("ratelimit-reset");

/// What to do with a request when the shared store cannot decide.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum FailureMode {
    /// Admit it: an outage of Redis does not become an outage of the gateway.
    Open,
    /// Refuse it with 503: limits are never exceeded, at the price of availability.
    Closed,
}

/// A request the limiter refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateLimitError {
    #[error("rate limit exceeded")]
    Limited(Decision),
    #[error("quota exhausted")]
    QuotaExhausted(Decision),
    /// Redis could not decide and the limiter fails closed.
    #[error("rate limit store unavailable")]
    StoreUnavailable { retry_after: Duration },
}

impl RateLimitError {
    /// The partner-facing problem: 429 `rate-limited`, or 503 `unavailable` when the store
    /// is down and the limiter fails closed. `Retry-After` in whole seconds, at least 1.
    pub fn to_problem(&self) -> Problem {
        match self {
            RateLimitError::Limited(d) => Problem::new(
                ProblemKind::RateLimited,
                format!("at most {} requests at once; try again later", d.limit),
            )
            .retry_after(ceil_secs(d.retry_after).max(1)),
            RateLimitError::QuotaExhausted(d) => Problem::new(
                ProblemKind::RateLimited,
                format!(
                    "the quota of {} requests for this period is used up",
                    d.limit
                ),
            )
            .retry_after(ceil_secs(d.retry_after).max(1)),
            RateLimitError::StoreUnavailable { retry_after } => Problem::new(
                ProblemKind::Unavailable,
                "the request could not be admitted; try again later",
            )
            .retry_after(ceil_secs(*retry_after).max(1))
            .with_log("rate limit store unavailable; failing closed"),
        }
    }

    /// The decision to report in `RateLimit-*` headers, if any.
    pub fn decision(&self) -> Option<&Decision> {
        match self {
            RateLimitError::Limited(d) | RateLimitError::QuotaExhausted(d) => Some(d),
            RateLimitError::StoreUnavailable { .. } => None,
        }
    }
}

/// Whole seconds, rounded up: a client told "0" would retry at once.
pub fn ceil_secs(d: Duration) -> u64 {
    d.as_secs() + u64::from(d.subsec_nanos() > 0)
}

/// Writes `RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the
/// allowance is whole again) and, for a refusal, `Retry-After`.
pub fn write_headers(headers: &mut HeaderMap, d: &Decision) {
    headers.insert(RATELIMIT_LIMIT, HeaderValue::from(d.limit));
    headers.insert(RATELIMIT_REMAINING, HeaderValue::from(d.remaining));
    headers.insert(RATELIMIT_RESET, HeaderValue::from(ceil_secs(d.reset)));
    if !d.allowed {
        headers.insert(
            http::header::RETRY_AFTER,
            HeaderValue::from(ceil_secs(d.retry_after).max(1)),
        );
    }
}

/// Counters of the shared store's health, read by telemetry.
#[derive(Debug, Default)]
pub struct StoreStats {
    /// Calls to Redis that failed (error or deadline).
    pub errors: AtomicU64,
    /// Requests admitted without a decision because the store was down (fail open).
    pub failed_open: AtomicU64,
    /// Requests refused because the store was down (fail closed).
    pub failed_closed: AtomicU64,
    /// Times the store went from answering to failing.
    pub outages: AtomicU64,
    down: AtomicBool,
    /// Microseconds since the limiter's origin before which Redis is not asked again.
    retry_at_us: AtomicU64,
}

/// A point-in-time copy of [`StoreStats`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StoreStatsSnapshot {
    pub errors: u64,
    pub failed_open: u64,
    pub failed_closed: u64,
    pub outages: u64,
    pub down: bool,
}

impl StoreStats {
    pub fn snapshot(&self) -> StoreStatsSnapshot {
        StoreStatsSnapshot {
            errors: self.errors.load(Ordering::Relaxed),
            failed_open: self.failed_open.load(Ordering::Relaxed),
            failed_closed: self.failed_closed.load(Ordering::Relaxed),
            outages: self.outages.load(Ordering::Relaxed),
            down: self.down.load(Ordering::Relaxed),
        }
    }
}

/// Where decisions are made.
#[derive(Debug, Clone)]
pub enum Backend {
    Local(LocalStore),
    Redis(RedisStore),
}

/// The rate limiter of one gateway: a backend and what to do when it fails. Lives as long
/// as the process (the backend's state must survive configuration reloads); routes hold
/// their compiled rules and an `Arc` of it.
#[derive(Debug)]
pub struct Limiter {
    backend: Backend,
    on_error: FailureMode,
    retry_interval: Duration,
    stats: Arc<StoreStats>,
    origin: Instant,
}

impl Limiter {
    pub fn new(backend: Backend, on_error: FailureMode, retry_interval: Duration) -> Self {
        Limiter {
            backend,
            on_error,
            retry_interval,
            stats: Arc::default(),
            origin: Instant::now(),
        }
    }

    /// Whether decisions are shared through Redis.
    pub fn is_shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    pub fn stats(&self) -> Arc<StoreStats> {
        Arc::clone(&self.stats)
    }

    /// Decides a request of `key` on `route` against the route's rate and quota. Ok(None)
    /// means no decision was possible and the limiter fails open; Ok(Some) is the decision
    /// to report in headers (the rate's, or the quota's when it is the tighter one).
    pub async fn check(
        &self,
        route: &str,
        key: &str,
        rate: Option<&Gcra>,
        quota: Option<&Quota>,
    ) -> Result<Option<Decision>, RateLimitError> {
        let scoped = format!("{route}:{key}");
        let mut report: Option<Decision> = None;
        if let Some(rule) = rate {
            match self.decide_rate(&scoped, rule).await {
                Some(d) if !d.allowed => return Err(RateLimitError::Limited(d)),
                Some(d) => report = Some(d),
                None => return self.undecided(),
            }
        }
        if let Some(q) = quota {
            match self.decide_quota(&scoped, q).await {
                Some(d) if !d.allowed => return Err(RateLimitError::QuotaExhausted(d)),
                Some(d) => {
                    if report.is_none_or(|r| d.remaining < r.remaining) {
                        report = Some(d);
                    }
                }
                None => return self.undecided(),
            }
        }
        Ok(report)
    }

    async fn decide_rate(&self, scoped: &str, rule: &Gcra) -> Option<Decision> {
        match &self.backend {
            Backend::Local(store) => Some(store.check_rate(scoped, rule)),
            Backend::Redis(store) => {
                if self.resting() {
                    return None;
                }
                let answer = store.check_rate(scoped, rule).await;
                self.observe(answer)
            }
        }
    }

    async fn decide_quota(&self, scoped: &str, quota: &Quota) -> Option<Decision> {
        let now = local::utc_now();
        match &self.backend {
            Backend::Local(store) => Some(store.check_quota(scoped, quota, now)),
            Backend::Redis(store) => {
                if self.resting() {
                    return None;
                }
                let answer = store.check_quota(scoped, quota, now).await;
                self.observe(answer)
            }
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX)
    }

    /// True while Redis failed recently: it is not asked again before `retry_interval`.
    fn resting(&self) -> bool {
        self.stats.down.load(Ordering::Relaxed)
            && self.now_us() < self.stats.retry_at_us.load(Ordering::Relaxed)
    }

    fn observe(&self, answer: Result<Decision, RedisStoreError>) -> Option<Decision> {
        match answer {
            Ok(d) => {
                if self.stats.down.swap(false, Ordering::Relaxed) {
                    tracing::info!("rate limit store reachable again; limits are shared again");
                }
                Some(d)
            }
            Err(e) => {
                self.stats.errors.fetch_add(1, Ordering::Relaxed);
                let retry_at = self.now_us()
                    + u64::try_from(self.retry_interval.as_micros()).unwrap_or(u64::MAX / 2);
                self.stats.retry_at_us.store(retry_at, Ordering::Relaxed);
                if !self.stats.down.swap(true, Ordering::Relaxed) {
                    self.stats.outages.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(
                        error = %e,
                        mode = ?self.on_error,
                        "rate limit store unreachable; failing {} until it answers",
                        match self.on_error { FailureMode::Open => "open", FailureMode::Closed => "closed" },
                    );
                }
                None
            }
        }
    }

    fn undecided(&self) -> Result<Option<Decision>, RateLimitError> {
        match self.on_error {
            FailureMode::Open => {
                self.stats.failed_open.fetch_add(1, Ordering::Relaxed);
                Ok(None)
            }
            FailureMode::Closed => {
                self.stats.failed_closed.fetch_add(1, Ordering::Relaxed);
                Err(RateLimitError::StoreUnavailable {
                    retry_after: self.retry_interval,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_render_as_problems_with_whole_seconds() {
        let d = Decision {
            allowed: false,
            limit: 5,
            remaining: 0,
            reset: Duration::from_millis(1000),
            retry_after: Duration::from_millis(200),
        };
        let p = RateLimitError::Limited(d).to_problem();
        assert_eq!(
            (p.status.as_u16(), p.kind.slug(), p.retry_after),
            (429, "rate-limited", Some(1))
        );
        assert_eq!(p.detail, "at most 5 requests at once; try again later");
        let mut h = HeaderMap::new();
        write_headers(&mut h, &d);
        let got: Vec<_> = h
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap()))
            .collect();
        assert_eq!(
            got,
            [
                "ratelimit-limit: 5",
                "ratelimit-remaining: 0",
                "ratelimit-reset: 1",
                "retry-after: 1"
            ]
        );
        let closed = RateLimitError::StoreUnavailable {
            retry_after: Duration::from_millis(1500),
        }
        .to_problem();
        assert_eq!(
            (
                closed.status.as_u16(),
                closed.kind.slug(),
                closed.retry_after
            ),
            (503, "unavailable", Some(2))
        );
    }

    #[tokio::test]
    async fn the_tighter_of_rate_and_quota_is_reported() {
        let rule = Gcra::new(100, Duration::from_secs(1), 100);
        let quota = Quota {
            limit: 3,
            period: QuotaPeriod::Month,
        };
        let limiter = Limiter::new(
            Backend::Local(LocalStore::new(100, rule.idle_horizon())),
            FailureMode::Open,
            Duration::from_secs(1),
        );
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let d = limiter
                .check("orders", "acme", Some(&rule), Some(&quota))
                .await
                .unwrap()
                .unwrap();
            remaining.push((d.limit, d.remaining));
        }
        assert_eq!(remaining, [(3, 2), (3, 1), (3, 0)]);
        let err = limiter
            .check("orders", "acme", Some(&rule), Some(&quota))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RateLimitError::QuotaExhausted(d) if d.limit == 3 && d.remaining == 0)
        );
    }
}
