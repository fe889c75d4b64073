//! The upstream call with its protections: the upstream's circuit breaker and the retries
//! of the route, drawing on the upstream's retry budget. [`Upstream::call`] is what the
//! transform and aggregate route kinds use, so each gets them the same way;
//! [`Upstream::call_stream`] is the `proxy` kind's, through the breaker only (its request
//! body is sent as it arrives, so there is nothing left to repeat it with);
//! [`Upstream::send`] and [`Upstream::send_stream`] stay the bare exchanges.
//!
//! Each attempt passes the breaker, so every try counts towards the upstream's health and
//! an open circuit stops retries at once. A circuit found open answers
//! [`UpstreamError::CircuitOpen`] without calling the upstream. The breakers and budgets
//! are held by the process ([`Guards`]), not by a configuration snapshot, so a reload
//! keeps an open circuit open and a spent budget spent.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};

use super::breaker::{self, Breaker, BreakerSettings, Breakers};
use super::retry::{self, RetryBudget, RetryPolicy};
use super::{Upstream, UpstreamError, UpstreamResponse};

/// What protects one upstream: its breaker (when enabled) and its retry budget.
#[derive(Debug)]
pub struct Guard {
    pub breaker: Option<Arc<Breaker>>,
    pub budget: Arc<RetryBudget>,
    /// Retries made (second and later attempts), for the metrics.
    pub retries: Arc<AtomicU64>,
    /// Requests sent again on a new connection after a pooled one was found closed before
    /// any byte of them was written ([`super::unsent`]), for the metrics.
    pub resent: Arc<AtomicU64>,
}

/// A retry policy that never repeats a call: for upstreams without a route policy.
pub const NO_RETRIES: RetryPolicy = RetryPolicy {
    max_attempts: 1,
    backoff_base: std::time::Duration::ZERO,
    backoff_max: std::time::Duration::ZERO,
    idempotent: false,
};

/// The process's breakers and retry budgets, by upstream name: they outlive snapshots.
#[derive(Debug, Default, Clone)]
pub struct Guards {
    pub breakers: Breakers,
    budgets: Arc<Mutex<HashMap<String, BudgetEntry>>>,
}

#[derive(Debug)]
struct BudgetEntry {
    settings: (u64, u64),
    budget: Arc<RetryBudget>,
    retries: Arc<AtomicU64>,
    resent: Arc<AtomicU64>,
}

impl Guards {
    /// The guard of `upstream` under these settings: its existing breaker state and budget
    /// (a reload), fresh ones otherwise. A budget whose settings changed starts again.
    pub fn guard(
        &self,
        upstream: &str,
        breaker: Option<BreakerSettings>,
        budget_percent: u64,
        budget_min_per_sec: u64,
    ) -> Guard {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let settings = (budget_percent, budget_min_per_sec);
        let entry = budgets
            .entry(upstream.to_owned())
            .or_insert_with(|| BudgetEntry {
                settings,
                budget: Arc::new(RetryBudget::new(settings.0, settings.1)),
                retries: Arc::default(),
                resent: Arc::default(),
            });
        if entry.settings != settings {
            entry.settings = settings;
            entry.budget = Arc::new(RetryBudget::new(settings.0, settings.1));
        }
        Guard {
            breaker: breaker.map(|s| self.breakers.get(upstream, s)),
            budget: Arc::clone(&entry.budget),
            retries: Arc::clone(&entry.retries),
            resent: Arc::clone(&entry.resent),
        }
    }

    /// Forgets the upstreams a new configuration no longer has, and the breakers of those
    /// whose breaker is now off.
    pub fn retain(&self, with_breaker: impl Fn(&str) -> bool, configured: impl Fn(&str) -> bool) {
        self.breakers.retain(&with_breaker);
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        budgets.retain(|name, _| configured(name));
    }

    /// (upstream, retries made) of each upstream, sorted by name, for the metrics.
    pub fn retries(&self) -> Vec<(String, u64)> {
        self.counts(|e| &e.retries)
    }

    /// (upstream, requests sent again on a new connection) of each upstream, sorted by
    /// name, for the metrics.
    pub fn resent(&self) -> Vec<(String, u64)> {
        self.counts(|e| &e.resent)
    }

    fn counts(&self, counter: impl Fn(&BudgetEntry) -> &AtomicU64) -> Vec<(String, u64)> {
        let budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = budgets
            .iter()
            .map(|(n, e)| (n.clone(), counter(e).load(Ordering::Relaxed)))
            .collect();
        out.sort();
        out
    }
}

impl Upstream {
    /// This upstream protected by `guard` (see the module documentation).
    pub fn with_guard(mut self, guard: Guard) -> Upstream {
        self.guard = Some(Arc::new(guard));
        self
    }

    /// One exchange as [`Upstream::send`], through the upstream's breaker, repeated under
    /// `policy` while the answer is worth repeating (a connection failure, a timeout, 502,
    /// 503, 504), the method allows it and the budget has a retry to spend. Returns the
    /// last answer.
    pub fn call<'s>(
        &'s self,
        method: Method,
        path_and_query: &'s str,
        headers: HeaderMap,
        body: Bytes,
        policy: &'s RetryPolicy,
    ) -> impl Future<Output = Result<UpstreamResponse, UpstreamError>> + Send + 's {
        let timeout = self.request_timeout();
        self.call_within(method, path_and_query, headers, body, policy, timeout)
    }

    /// [`Upstream::call`] with each attempt bounded by `timeout` (see
    /// [`Upstream::send_within`]).
    pub async fn call_within(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        policy: &RetryPolicy,
        timeout: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let Some(guard) = self.guard.as_deref() else {
            return self
                .send_within(method, path_and_query, headers, body, timeout)
                .await;
        };
        if policy.max_attempts <= 1 || !retry::may_retry(&method, policy) {
            // One attempt whatever happens (what `retry::run` would make of it, its deposit
            // included): the head and body go as they are, with no copy kept for a retry.
            guard.budget.deposit();
            return self
                .guarded(guard, method, path_and_query, headers, body, timeout)
                .await;
        }
        let mut attempts = 0u64;
        let attempt = || {
            attempts += 1;
            if attempts > 1 {
                guard.retries.fetch_add(1, Ordering::Relaxed);
            }
            let (method, headers, body) = (method.clone(), headers.clone(), body.clone());
            self.guarded(guard, method, path_and_query, headers, body, timeout)
        };
        retry::run(&method, policy, &guard.budget, attempt, retry::should_retry).await
    }

    /// One exchange through the breaker, when the upstream has one.
    async fn guarded(
        &self,
        guard: &Guard,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: Bytes,
        timeout: Duration,
    ) -> Result<UpstreamResponse, UpstreamError> {
        let permit = self.permit(guard.breaker.as_deref())?;
        let outcome = self
            .send_within(method, path_and_query, headers, body, timeout)
            .await;
        if let Some(p) = permit {
            p.record(!breaker::is_failure(&outcome));
        }
        outcome
    }

    /// Leave from `breaker` (when there is one) for one exchange, or the refusal of an open
    /// circuit. The exchange is awaited by the caller itself rather than handed to the
    /// breaker: a future passed down is held twice in the caller's state (the argument,
    /// then the awaited value), and the exchange's future is the largest on the path.
    fn permit<'b>(
        &self,
        breaker: Option<&'b Breaker>,
    ) -> Result<Option<breaker::Permit<'b>>, UpstreamError> {
        breaker
            .map(Breaker::acquire)
            .transpose()
            .map_err(|open| UpstreamError::CircuitOpen {
                upstream: self.name().to_owned(),
                retry_after: open.retry_after,
            })
    }

    /// One streamed exchange as [`Upstream::send_stream`], through the upstream's breaker:
    /// a circuit found open answers [`UpstreamError::CircuitOpen`] without calling the
    /// upstream, and the answer's status (its head) counts towards the upstream's health.
    pub async fn call_stream(
        &self,
        method: Method,
        path_and_query: &str,
        headers: HeaderMap,
        body: super::UpstreamBody,
    ) -> Result<(http::Response<hyper::body::Incoming>, super::balance::Pick), UpstreamError> {
        let breaker = self.guard.as_deref().and_then(|g| g.breaker.as_deref());
        let permit = self.permit(breaker)?;
        let outcome = self
            .send_stream(method, path_and_query, headers, body)
            .await;
        if let Some(p) = permit {
            p.record(!match &outcome {
                Ok((resp, _)) => resp.status().is_server_error(),
                Err(e) => breaker::is_failed_exchange(e),
            });
        }
        outcome
    }
}
