//! Retries of failed upstream calls, bounded three ways: only requests safe to repeat
//! (idempotent methods, or a route declared idempotent), at most `max_attempts` calls,
//! and a retry budget shared by all requests to one upstream, so that when the upstream
//! is down retries add at most `budget_ratio` calls per request instead of multiplying
//! the load (the Finagle/linkerd retry budget). Waits between attempts grow exponentially
//! with full jitter, so retrying clients do not march in step.

use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::Method;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{UpstreamError, UpstreamResponse};
use crate::edge::config_key::{InvalidKey, Problems};

/// One first try and one retry: most transient failures (a reset pooled connection, one
/// bad instance) clear on the second attempt.
pub const DEFAULT_MAX_ATTEMPTS: u64 = 2;
pub const DEFAULT_BACKOFF_BASE_MS: u64 = 25;
pub const DEFAULT_BACKOFF_MAX_MS: u64 = 250;
/// Retries may add 20 % to an upstream's load, as in linkerd's default budget.
pub const DEFAULT_BUDGET_PERCENT: u64 = 20;
/// Retries allowed per second regardless of traffic, so a quiet upstream still gets its
/// transient failures retried.
pub const DEFAULT_BUDGET_MIN_PER_SEC: u64 = 10;

/// `[retries]`, `[routes.<name>.retries]` (keys optional there, defaulting to the global).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct RetryConfig {
    pub max_attempts: u64,
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
    pub budget_percent: u64,
    pub budget_min_per_sec: u64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            backoff_base_ms: DEFAULT_BACKOFF_BASE_MS,
            backoff_max_ms: DEFAULT_BACKOFF_MAX_MS,
            budget_percent: DEFAULT_BUDGET_PERCENT,
            budget_min_per_sec: DEFAULT_BUDGET_MIN_PER_SEC,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryOverride {
    pub max_attempts: Option<u64>,
    pub backoff_base_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    /// The route's requests may be repeated whatever their method (a POST with an
    /// idempotency key, say).
    pub idempotent: Option<bool>,
}

/// Compiled policy of one route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub max_attempts: u64,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    pub idempotent: bool,
}

impl RetryConfig {
    pub fn compile(
        &self,
        over: Option<&RetryOverride>,
        prefix: &str,
    ) -> Result<RetryPolicy, Vec<InvalidKey>> {
        let o = over.cloned().unwrap_or_default();
        let at = |set: bool| if set { prefix } else { "retries" };
        let mut p = Problems::default();
        let attempts = o.max_attempts.unwrap_or(self.max_attempts);
        p.positive(at(o.max_attempts.is_some()), "max_attempts", attempts);
        let base = o.backoff_base_ms.unwrap_or(self.backoff_base_ms);
        let max = o.backoff_max_ms.unwrap_or(self.backoff_max_ms);
        if max < base {
            p.push(
                at(o.backoff_max_ms.is_some()),
                "backoff_max_ms",
                "must not be below backoff_base_ms",
            );
        }
        p.finish(RetryPolicy {
            max_attempts: attempts,
            backoff_base: Duration::from_millis(base),
            backoff_max: Duration::from_millis(max),
            idempotent: o.idempotent.unwrap_or(false),
        })
    }

    /// The budget of one upstream (budgets are per upstream, not per route).
    pub fn budget(&self) -> Result<RetryBudget, Vec<InvalidKey>> {
        let mut p = Problems::default();
        if self.budget_percent > 1000 {
            p.push("retries", "budget_percent", "must be at most 1000");
        }
        p.finish(RetryBudget::new(
            self.budget_percent,
            self.budget_min_per_sec,
        ))
    }
}

/// Thousandths of a token, so 20 % is exact.
const MILLI: u64 = 1000;

/// Retries earned by requests: each request deposits `percent`/100 of a token, each
/// retry withdraws one; `min_per_sec` tokens trickle in per second on top. The balance is
/// capped at what ten seconds of the minimum (or ten requests' deposits, if more) give, so
/// a long healthy spell does not bank a flood of retries for the next outage.
#[derive(Debug)]
pub struct RetryBudget {
    per_request: u64,
    per_sec: u64,
    cap: u64,
    state: Mutex<(u64, Instant)>,
}

impl RetryBudget {
    pub fn new(percent: u64, min_per_sec: u64) -> Self {
        let per_request = percent * MILLI / 100;
        let cap = (min_per_sec * 10 * MILLI).max(per_request * 10).max(MILLI);
        RetryBudget {
            per_request,
            per_sec: min_per_sec * MILLI,
            cap,
            state: Mutex::new((0, Instant::now())),
        }
    }

    fn with<T>(&self, f: impl FnOnce(&mut u64) -> T) -> T {
        let mut g = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let (balance, last) = &mut *g;
        let now = Instant::now();
        let earned = u64::try_from(now.duration_since(*last).as_micros()).unwrap_or(u64::MAX)
            * self.per_sec
            / 1_000_000;
        if earned > 0 {
            *balance = (*balance + earned).min(self.cap);
            *last = now;
        } else if self.per_sec == 0 {
            *last = now;
        }
        f(balance)
    }

    /// Counts one original request.
    pub fn deposit(&self) {
        self.with(|b| *b = (*b + self.per_request).min(self.cap));
    }

    /// Takes the token for one retry, if there is one.
    pub fn withdraw(&self) -> bool {
        self.with(|b| {
            if *b >= MILLI {
                *b -= MILLI;
                true
            } else {
                false
            }
        })
    }
}

/// Is an upstream exchange's outcome worth another attempt? A connection that never
/// formed, broke, or timed out, and the statuses that say "not now" (502, 503, 504).
/// A body over the limit or a request the gateway could not build would fail alike again.
pub fn should_retry(outcome: &Result<UpstreamResponse, UpstreamError>) -> bool {
    match outcome {
        Ok(r) => matches!(r.status.as_u16(), 502..=504),
        Err(
            UpstreamError::Connect { .. }
            | UpstreamError::Timeout { .. }
            | UpstreamError::Io { .. },
        ) => true,
        // A certificate the gateway refused is refused again on the next attempt.
        Err(
            UpstreamError::Tls { .. }
            | UpstreamError::TooLarge { .. }
            | UpstreamError::InvalidRequest { .. }
            | UpstreamError::CircuitOpen { .. }
            | UpstreamError::NoAddress { .. },
        ) => false,
    }
}

/// May a request with `method` be repeated under `policy`? (RFC 9110 §9.2.2.)
pub fn may_retry(method: &Method, policy: &RetryPolicy) -> bool {
    policy.idempotent
        || matches!(
            *method,
            Method::GET
                | Method::HEAD
                | Method::OPTIONS
                | Method::PUT
                | Method::DELETE
                | Method::TRACE
        )
}

/// The wait before retry number `retry` (1 for the first): uniformly random up to
/// `base * 2^(retry-1)`, capped at `max`.
pub fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .backoff_base
        .saturating_mul(
            1u32.checked_shl(retry.saturating_sub(1))
                .unwrap_or(u32::MAX),
        )
        .min(policy.backoff_max);
    let micros = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    Duration::from_micros(fastrand::u64(0..=micros))
}

/// Calls `attempt` until it gives an answer `retryable` does not want repeated, the
/// attempts are spent, or the budget refuses; returns the last answer. The first attempt
/// is always made and always deposits into the budget.
///
/// `Upstream::call` (`guard.rs`) runs it around one exchange through the upstream's
/// breaker, so each attempt counts towards the circuit.
pub async fn run<T, F, Fut>(
    method: &Method,
    policy: &RetryPolicy,
    budget: &RetryBudget,
    mut attempt: F,
    retryable: impl Fn(&T) -> bool,
) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = T>,
{
    budget.deposit();
    let mut out = attempt().await;
    if !may_retry(method, policy) {
        return out;
    }
    let mut made = 1;
    while made < policy.max_attempts && retryable(&out) && budget.withdraw() {
        tokio::time::sleep(backoff(policy, u32::try_from(made).unwrap_or(u32::MAX))).await;
        out = attempt().await;
        made += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(idempotent: bool) -> RetryPolicy {
        RetryPolicy {
            max_attempts: 3,
            backoff_base: Duration::from_millis(1),
            backoff_max: Duration::from_millis(2),
            idempotent,
        }
    }

    #[tokio::test]
    async fn posts_are_not_retried_unless_the_route_says_so() {
        let budget = RetryBudget::new(100, 100);
        std::thread::sleep(Duration::from_millis(50));
        let mut calls = 0;
        let out = run(
            &Method::POST,
            &policy(false),
            &budget,
            || {
                calls += 1;
                async { Err::<(), ()>(()) }
            },
            Result::is_err,
        )
        .await;
        assert_eq!((out, calls), (Err(()), 1));
        let mut calls = 0;
        let _ = run(
            &Method::POST,
            &policy(true),
            &budget,
            || {
                calls += 1;
                async { Err::<(), ()>(()) }
            },
            Result::is_err,
        )
        .await;
        assert_eq!(calls, 3);
        let mut calls = 0;
        let out = run(
            &Method::GET,
            &policy(false),
            &budget,
            || {
                calls += 1;
                let c = calls;
                async move { if c == 2 { Ok(c) } else { Err(c) } }
            },
            Result::is_err,
        )
        .await;
        assert_eq!(out, Ok(2));
    }

    #[test]
    fn transient_failures_are_retried_and_lasting_ones_are_not() {
        let status = |s: u16| {
            Ok(UpstreamResponse {
                status: http::StatusCode::from_u16(s).unwrap(),
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::new(),
            })
        };
        let up = || "orders".to_owned();
        let got: Vec<bool> = [
            status(200),
            status(500),
            status(502),
            status(503),
            status(504),
            status(429),
            Err(UpstreamError::Connect {
                upstream: up(),
                authority: "a".into(),
                reason: "refused".into(),
            }),
            Err(UpstreamError::Timeout {
                upstream: up(),
                timeout: Duration::from_secs(1),
            }),
            Err(UpstreamError::Io {
                upstream: up(),
                reason: "reset".into(),
            }),
            Err(UpstreamError::TooLarge {
                upstream: up(),
                limit: 1,
            }),
            Err(UpstreamError::InvalidRequest {
                upstream: up(),
                reason: "bad".into(),
            }),
        ]
        .iter()
        .map(should_retry)
        .collect();
        assert_eq!(
            got,
            [
                false, false, true, true, true, false, true, true, true, false, false
            ]
        );
    }

    #[test]
    fn backoff_stays_under_its_exponential_ceiling() {
        let p = RetryPolicy {
            max_attempts: 9,
            backoff_base: Duration::from_millis(10),
            backoff_max: Duration::from_millis(35),
            idempotent: false,
        };
        for _ in 0..200 {
            assert!(backoff(&p, 1) <= Duration::from_millis(10));
            assert!(backoff(&p, 2) <= Duration::from_millis(20));
            assert!(backoff(&p, 40) <= Duration::from_millis(35));
        }
    }

    #[test]
    fn the_budget_grants_its_ratio_of_requests() {
        let b = RetryBudget::new(20, 0);
        let granted = (0..100)
            .filter(|_| {
                b.deposit();
                b.withdraw()
            })
            .count();
        assert_eq!(granted, 20);
    }

    #[test]
    fn config_reports_bad_keys() {
        let c: RetryConfig = toml::from_str("max_attempts = 0\nbudget_percent = 5000\n").unwrap();
        let keys: Vec<_> = c
            .compile(
                Some(&RetryOverride {
                    backoff_base_ms: Some(500),
                    ..Default::default()
                }),
                "routes.o.retries",
            )
            .unwrap_err()
            .into_iter()
            .map(|e| e.key)
            .collect();
        assert_eq!(keys, ["retries.max_attempts", "retries.backoff_max_ms"]);
        assert_eq!(c.budget().unwrap_err()[0].key, "retries.budget_percent");
    }
}
