//! Target selection for an upstream with several addresses: round-robin or least-requests
//! (the power of two random choices), passive health (a target failing
//! `eject_after_failures` times in a row is left out for `eject_ms`, then readmitted on
//! probation: one more failure ejects it again) and optional active health checks.
//!
//! The state (counters, ejections) lives in a [`Balancer`] kept by the process-wide
//! [`super::HttpClient`] under the upstream's name, so a reload that leaves an upstream's
//! targets and settings alone keeps what it learnt about them; a changed upstream starts
//! afresh.
//!
//! When every target is ejected the balancer does not refuse: it picks among all of them,
//! since a guess is better than a certain 502 (Envoy's "panic threshold" at 100 %).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use http::uri::Authority;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Five consecutive failures: one reset connection or slow answer is noise, five are a
/// target in trouble.
pub const DEFAULT_EJECT_AFTER_FAILURES: u32 = 5;
pub const DEFAULT_EJECT_MS: u64 = 30_000;
pub const DEFAULT_HEALTH_CHECK_INTERVAL_MS: u64 = 10_000;
pub const DEFAULT_HEALTH_CHECK_TIMEOUT_MS: u64 = 2_000;

/// How requests are spread over the targets.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Strategy {
    /// Each target in turn.
    #[default]
    RoundRobin,
    /// Of two targets drawn at random, the one with fewer requests in flight.
    LeastRequests,
}

/// `[upstreams.NAME.balance]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BalanceConfig {
    pub strategy: Strategy,
    /// Consecutive failed exchanges (no connection, broken exchange, timeout, 502/503/504)
    /// that eject a target; 0 never ejects.
    pub eject_after_failures: u32,
    /// How long an ejected target is left out.
    pub eject_ms: u64,
    /// Path (below the upstream URL's base path) probed on every target with GET; any 2xx
    /// is healthy, anything else ejects the target. No active checks without it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_path: Option<String>,
    pub health_check_interval_ms: u64,
    pub health_check_timeout_ms: u64,
}

impl Default for BalanceConfig {
    fn default() -> Self {
        BalanceConfig {
            strategy: Strategy::default(),
            eject_after_failures: DEFAULT_EJECT_AFTER_FAILURES,
            eject_ms: DEFAULT_EJECT_MS,
            health_check_path: None,
            health_check_interval_ms: DEFAULT_HEALTH_CHECK_INTERVAL_MS,
            health_check_timeout_ms: DEFAULT_HEALTH_CHECK_TIMEOUT_MS,
        }
    }
}

impl BalanceConfig {
    pub fn is_default(&self) -> bool {
        *self == BalanceConfig::default()
    }

    /// Every setting that cannot be applied, as (key below `balance`, message).
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if let Some(p) = &self.health_check_path
            && (!p.starts_with('/') || p.parse::<http::uri::PathAndQuery>().is_err())
        {
            out.push((
                "health_check_path",
                format!("`{p}` is not a path starting with `/`"),
            ));
        }
        for (key, v) in [
            ("eject_ms", self.eject_ms),
            ("health_check_interval_ms", self.health_check_interval_ms),
            ("health_check_timeout_ms", self.health_check_timeout_ms),
        ] {
            if v == 0 {
                out.push((key, "must be greater than 0".to_string()));
            }
        }
        out
    }
}

/// One address of an upstream and what is known about it.
#[derive(Debug)]
pub struct Target {
    pub authority: Authority,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    /// Milliseconds since the balancer's epoch until which the target is left out; 0 when
    /// it is in.
    ejected_until: AtomicU64,
    picked: AtomicU64,
}

impl Target {
    /// Requests sent to this target so far.
    pub fn picked(&self) -> u64 {
        self.picked.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The targets of one upstream and their state.
#[derive(Debug)]
pub struct Balancer {
    targets: Vec<Target>,
    config: BalanceConfig,
    next: AtomicUsize,
    epoch: Instant,
}

impl Balancer {
    pub fn new(authorities: Vec<Authority>, config: BalanceConfig) -> Self {
        Balancer {
            targets: authorities
                .into_iter()
                .map(|authority| Target {
                    authority,
                    in_flight: AtomicUsize::new(0),
                    failures: AtomicU32::new(0),
                    ejected_until: AtomicU64::new(0),
                    picked: AtomicU64::new(0),
                })
                .collect(),
            config,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    pub fn targets(&self) -> &[Target] {
        &self.targets
    }

    pub fn config(&self) -> &BalanceConfig {
        &self.config
    }

    /// Whether this balancer serves exactly these targets with these settings (a reload
    /// then keeps it).
    pub fn same(&self, authorities: &[Authority], config: &BalanceConfig) -> bool {
        self.config == *config
            && self.targets.len() == authorities.len()
            && self
                .targets
                .iter()
                .zip(authorities)
                .all(|(t, a)| t.authority == *a)
    }

    fn now_ms(&self) -> u64 {
        // At least 1, so 0 keeps meaning "not ejected".
        (self.epoch.elapsed().as_millis() as u64).max(1)
    }

    /// Whether target `i` is ejected right now.
    pub fn is_ejected(&self, i: usize) -> bool {
        self.targets
            .get(i)
            .is_some_and(|t| t.ejected_until.load(Ordering::Relaxed) > self.now_ms())
    }

    /// The target for the next request; its in-flight count is held until the [`Pick`] is
    /// dropped.
    pub fn pick(self: &Arc<Self>) -> Pick {
        let n = self.targets.len();
        let index = if n <= 1 {
            0
        } else {
            let now = self.now_ms();
            let available = |i: usize| self.targets[i].ejected_until.load(Ordering::Relaxed) <= now;
            match self.config.strategy {
                Strategy::RoundRobin => {
                    let start = self.next.fetch_add(1, Ordering::Relaxed);
                    (0..n)
                        .map(|k| (start + k) % n)
                        .find(|&i| available(i))
                        .unwrap_or(start % n)
                }
                Strategy::LeastRequests => {
                    let healthy: Vec<usize> = (0..n).filter(|&i| available(i)).collect();
                    let pool: &[usize] = if healthy.is_empty() {
                        &(0..n).collect::<Vec<_>>()
                    } else {
                        &healthy
                    };
                    self.least_of_two(pool)
                }
            }
        };
        if let Some(t) = self.targets.get(index) {
            t.in_flight.fetch_add(1, Ordering::Relaxed);
            t.picked.fetch_add(1, Ordering::Relaxed);
        }
        Pick {
            balancer: Arc::clone(self),
            index,
        }
    }

    fn least_of_two(&self, pool: &[usize]) -> usize {
        match pool.len() {
            0 => 0,
            1 => pool[0],
            len => {
                let a = fastrand::usize(..len);
                let mut b = fastrand::usize(..len - 1);
                if b >= a {
                    b += 1;
                }
                let (a, b) = (pool[a], pool[b]);
                if self.targets[b].in_flight() < self.targets[a].in_flight() {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// Records the outcome of an exchange with target `i` (passive health).
    pub fn record(&self, i: usize, success: bool) {
        let Some(t) = self.targets.get(i) else {
            return;
        };
        if success {
            t.failures.store(0, Ordering::Relaxed);
            return;
        }
        let limit = self.config.eject_after_failures;
        if limit == 0 {
            return;
        }
        let failures = t.failures.fetch_add(1, Ordering::Relaxed) + 1;
        // On probation after an ejection the count stays at the limit, so one more
        // failure ejects again.
        if failures >= limit {
            t.failures.store(limit - 1, Ordering::Relaxed);
            self.eject(i);
        }
    }

    fn eject(&self, i: usize) {
        if let Some(t) = self.targets.get(i) {
            let until = self.now_ms() + self.config.eject_ms;
            t.ejected_until.store(until, Ordering::Relaxed);
        }
    }

    /// Applies an active health check's verdict on target `i`.
    pub fn checked(&self, i: usize, healthy: bool) {
        let Some(t) = self.targets.get(i) else {
            return;
        };
        if healthy {
            t.failures.store(0, Ordering::Relaxed);
            t.ejected_until.store(0, Ordering::Relaxed);
        } else {
            self.eject(i);
        }
    }
}

/// A target chosen for one exchange; dropping it ends the exchange's in-flight count.
#[derive(Debug)]
pub struct Pick {
    balancer: Arc<Balancer>,
    index: usize,
}

impl Pick {
    pub fn authority(&self) -> &Authority {
        &self.balancer.targets[self.index].authority
    }

    pub fn index(&self) -> usize {
        self.index
    }

    /// Records the exchange's outcome for passive health.
    pub fn record(&self, success: bool) {
        self.balancer.record(self.index, success);
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        if let Some(t) = self.balancer.targets.get(self.index) {
            t.in_flight.fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Runs the active health checks of `balancer` until it is dropped: every interval, each
/// target gets `probe(authority)`, whose answer (healthy or not) is applied.
pub async fn health_checks<F, Fut>(balancer: Weak<Balancer>, interval: Duration, probe: F)
where
    F: Fn(Authority) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        let Some(b) = balancer.upgrade() else {
            return;
        };
        let authorities: Vec<Authority> = b.targets.iter().map(|t| t.authority.clone()).collect();
        drop(b);
        for (i, authority) in authorities.into_iter().enumerate() {
            let healthy = probe(authority).await;
            let Some(b) = balancer.upgrade() else {
                return;
            };
            b.checked(i, healthy);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn balancer(n: usize, strategy: Strategy, eject_after: u32) -> Arc<Balancer> {
        let authorities = (0..n)
            .map(|i| format!("10.0.0.{i}:80").parse().unwrap())
            .collect();
        Arc::new(Balancer::new(
            authorities,
            BalanceConfig {
                strategy,
                eject_after_failures: eject_after,
                eject_ms: 60_000,
                ..BalanceConfig::default()
            },
        ))
    }

    #[test]
    fn round_robin_takes_each_target_in_turn_and_skips_ejected_ones() {
        let b = balancer(3, Strategy::RoundRobin, 2);
        let order: Vec<usize> = (0..6).map(|_| b.pick().index()).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        b.record(1, false);
        assert!(!b.is_ejected(1));
        b.record(1, false);
        assert!(b.is_ejected(1));
        let order: Vec<usize> = (0..4).map(|_| b.pick().index()).collect();
        assert_eq!(order, [0, 2, 2, 0]);
        // A success in between resets the count.
        b.record(0, false);
        b.record(0, true);
        b.record(0, false);
        assert!(!b.is_ejected(0));
    }

    #[test]
    fn every_target_ejected_still_answers() {
        let b = balancer(2, Strategy::RoundRobin, 1);
        b.record(0, false);
        b.record(1, false);
        let order: Vec<usize> = (0..4).map(|_| b.pick().index()).collect();
        assert_eq!(order, [0, 1, 0, 1]);
    }

    #[test]
    fn least_requests_prefers_the_idle_target() {
        let b = balancer(2, Strategy::LeastRequests, 0);
        let held: Vec<Pick> = (0..3).map(|_| b.pick()).collect();
        let busy = |i: usize| b.targets()[i].in_flight();
        assert_eq!(busy(0) + busy(1), 3);
        // With two targets both are always drawn: the next goes to the less busy one.
        let less = if busy(0) < busy(1) { 0 } else { 1 };
        assert_eq!(b.pick().index(), less);
        drop(held);
        assert_eq!(busy(0) + busy(1), 0);
    }

    #[test]
    fn an_active_check_readmits_and_ejects() {
        let b = balancer(2, Strategy::RoundRobin, 1);
        b.record(0, false);
        assert!(b.is_ejected(0));
        b.checked(0, true);
        assert!(!b.is_ejected(0));
        b.checked(1, false);
        assert!(b.is_ejected(1));
    }

    #[test]
    fn bad_settings_are_named() {
        let cfg = BalanceConfig {
            health_check_path: Some("health".into()),
            eject_ms: 0,
            ..BalanceConfig::default()
        };
        let keys: Vec<&str> = cfg.problems().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["health_check_path", "eject_ms"]);
    }
}
