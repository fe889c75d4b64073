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
//! The target set sits behind an `ArcSwap`: a pick reads it without a lock, and DNS
//! discovery ([`super::discovery`]) replaces it whole, each address found again keeping
//! its [`Target`] (and so its state).
//!
//! When every target is ejected the balancer does not refuse: it picks among all of them,
//! since a guess is better than a certain 502 (Envoy's "panic threshold" at 100 %).

use std::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use http::uri::Authority;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::discovery::Discovery;

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

/// One address of an upstream and what is known about it. Shared between the target sets
/// of a discovered upstream, so an address found again by a refresh keeps its state.
#[derive(Debug)]
pub struct Target {
    pub authority: Authority,
    /// The target's name in the connection pool's key over plain HTTP (see
    /// [`super::pool_alias`]), made on first use.
    pool_alias: OnceLock<Authority>,
    in_flight: AtomicUsize,
    failures: AtomicU32,
    /// Milliseconds since the balancer's epoch until which the target is left out; 0 when
    /// it is in.
    ejected_until: AtomicU64,
    picked: AtomicU64,
}

impl Target {
    fn new(authority: Authority) -> Target {
        Target {
            authority,
            pool_alias: OnceLock::new(),
            in_flight: AtomicUsize::new(0),
            failures: AtomicU32::new(0),
            ejected_until: AtomicU64::new(0),
            picked: AtomicU64::new(0),
        }
    }

    /// Requests sent to this target so far.
    pub fn picked(&self) -> u64 {
        self.picked.load(Ordering::Relaxed)
    }

    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::Relaxed)
    }
}

/// The targets in use, in order: replaced whole by a discovery refresh.
pub type TargetSet = Arc<Vec<Arc<Target>>>;

/// One target as the admin status shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TargetStatus {
    pub address: String,
    pub ejected: bool,
    pub in_flight: usize,
    pub requests: u64,
}

/// The targets of one upstream and their state.
#[derive(Debug)]
pub struct Balancer {
    /// Read on every pick without a lock; only a discovery refresh writes it.
    targets: ArcSwap<Vec<Arc<Target>>>,
    config: BalanceConfig,
    /// The name whose addresses are the targets, for a discovered upstream.
    discovery: Option<Discovery>,
    next: AtomicUsize,
    epoch: Instant,
}

impl Balancer {
    /// A balancer over a fixed list of targets.
    pub fn new(authorities: Vec<Authority>, config: BalanceConfig) -> Self {
        Balancer {
            targets: ArcSwap::from_pointee(
                authorities
                    .into_iter()
                    .map(|a| Arc::new(Target::new(a)))
                    .collect(),
            ),
            config,
            discovery: None,
            next: AtomicUsize::new(0),
            epoch: Instant::now(),
        }
    }

    /// A balancer whose targets `discovery` finds ([`super::discovery`]), starting with
    /// `known` (the addresses a previous balancer of the same name had found; empty at
    /// first, when nothing can be picked until the first answer).
    pub fn discovered(discovery: Discovery, known: Vec<Authority>, config: BalanceConfig) -> Self {
        Balancer {
            discovery: Some(discovery),
            ..Balancer::new(known, config)
        }
    }

    /// The targets in use now.
    pub fn targets(&self) -> TargetSet {
        self.targets.load_full()
    }

    pub fn config(&self) -> &BalanceConfig {
        &self.config
    }

    pub fn discovery(&self) -> Option<&Discovery> {
        self.discovery.as_ref()
    }

    /// Whether this balancer serves exactly these targets (or is discovered by the same
    /// name) with these settings (a reload then keeps it).
    pub fn same(
        &self,
        authorities: &[Authority],
        config: &BalanceConfig,
        discovery: Option<&Discovery>,
    ) -> bool {
        if self.config != *config || self.discovery.as_ref() != discovery {
            return false;
        }
        if discovery.is_some() {
            return true;
        }
        let targets = self.targets.load();
        targets.len() == authorities.len()
            && targets
                .iter()
                .zip(authorities)
                .all(|(t, a)| t.authority == *a)
    }

    /// Makes `authorities` the targets: an address already there keeps its state, a new
    /// one starts clean, one left out is dropped (a request still on it finishes there).
    /// Returns whether the set changed.
    pub fn replace(&self, authorities: Vec<Authority>) -> bool {
        let old = self.targets.load_full();
        if old.len() == authorities.len()
            && old.iter().zip(&authorities).all(|(t, a)| t.authority == *a)
        {
            return false;
        }
        let new: Vec<Arc<Target>> = authorities
            .into_iter()
            .map(|a| {
                old.iter()
                    .find(|t| t.authority == a)
                    .cloned()
                    .unwrap_or_else(|| Arc::new(Target::new(a)))
            })
            .collect();
        self.targets.store(Arc::new(new));
        true
    }

    /// The targets and their state, for the admin status.
    pub fn status(&self) -> Vec<TargetStatus> {
        let now = self.now_ms();
        self.targets
            .load()
            .iter()
            .map(|t| TargetStatus {
                address: t.authority.to_string(),
                ejected: t.ejected_until.load(Ordering::Relaxed) > now,
                in_flight: t.in_flight(),
                requests: t.picked(),
            })
            .collect()
    }

    fn now_ms(&self) -> u64 {
        // At least 1, so 0 keeps meaning "not ejected".
        (self.epoch.elapsed().as_millis() as u64).max(1)
    }

    /// Whether target `i` of the current set is ejected right now.
    pub fn is_ejected(&self, i: usize) -> bool {
        self.targets
            .load()
            .get(i)
            .is_some_and(|t| t.ejected_until.load(Ordering::Relaxed) > self.now_ms())
    }

    /// The target for the next request; its in-flight count is held until the [`Pick`] is
    /// dropped. `None` when there is no target (a discovered upstream before its first
    /// answer).
    pub fn pick(self: &Arc<Self>) -> Option<Pick> {
        let targets = self.targets.load();
        let n = targets.len();
        let index = if n <= 1 {
            0
        } else {
            let now = self.now_ms();
            let available = |i: usize| targets[i].ejected_until.load(Ordering::Relaxed) <= now;
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
                    least_of_two(&targets, pool)
                }
            }
        };
        let target = Arc::clone(targets.get(index)?);
        target.in_flight.fetch_add(1, Ordering::Relaxed);
        target.picked.fetch_add(1, Ordering::Relaxed);
        Some(Pick {
            balancer: Arc::clone(self),
            target,
            index,
        })
    }

    /// Records the outcome of an exchange with target `i` of the current set.
    pub fn record(&self, i: usize, success: bool) {
        if let Some(t) = self.targets.load().get(i) {
            self.record_on(t, success);
        }
    }

    /// Records the outcome of an exchange with `t` (passive health).
    fn record_on(&self, t: &Target, success: bool) {
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
            self.eject(t);
        }
    }

    fn eject(&self, t: &Target) {
        let until = self.now_ms() + self.config.eject_ms;
        t.ejected_until.store(until, Ordering::Relaxed);
    }

    /// Applies an active health check's verdict on target `i` of the current set.
    pub fn checked(&self, i: usize, healthy: bool) {
        if let Some(t) = self.targets.load().get(i) {
            self.checked_on(t, healthy);
        }
    }

    fn checked_on(&self, t: &Target, healthy: bool) {
        if healthy {
            t.failures.store(0, Ordering::Relaxed);
            t.ejected_until.store(0, Ordering::Relaxed);
        } else {
            self.eject(t);
        }
    }
}

fn least_of_two(targets: &[Arc<Target>], pool: &[usize]) -> usize {
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
            if targets[b].in_flight() < targets[a].in_flight() {
                b
            } else {
                a
            }
        }
    }
}

/// A target chosen for one exchange; dropping it ends the exchange's in-flight count. It
/// holds its target, so a refresh that drops the address meanwhile changes nothing here.
#[derive(Debug)]
pub struct Pick {
    balancer: Arc<Balancer>,
    target: Arc<Target>,
    index: usize,
}

impl Pick {
    pub fn authority(&self) -> &Authority {
        &self.target.authority
    }

    /// The authority to put in the request's URI: the target's own for `https://`, its
    /// pool alias for `http://` (see [`super::pool_alias`]).
    pub fn request_authority(&self, https: bool) -> &Authority {
        if https {
            return &self.target.authority;
        }
        self.target
            .pool_alias
            .get_or_init(|| super::pool_alias::alias(&self.target.authority))
    }

    /// The target's place in the set it was picked from.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Records the exchange's outcome for passive health.
    pub fn record(&self, success: bool) {
        self.balancer.record_on(&self.target, success);
    }
}

impl Drop for Pick {
    fn drop(&mut self) {
        self.target.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs the active health checks of `balancer` until it is dropped: every interval, each
/// target of the set of the moment gets `probe(authority)`, whose answer (healthy or not)
/// is applied.
pub async fn health_checks<F, Fut>(balancer: Weak<Balancer>, interval: Duration, probe: F)
where
    F: Fn(Authority) -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    loop {
        let Some(b) = balancer.upgrade() else {
            return;
        };
        let targets = b.targets();
        drop(b);
        for t in targets.iter() {
            let healthy = probe(t.authority.clone()).await;
            let Some(b) = balancer.upgrade() else {
                return;
            };
            b.checked_on(t, healthy);
        }
        drop(targets);
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
        let order: Vec<usize> = (0..6).map(|_| b.pick().unwrap().index()).collect();
        assert_eq!(order, [0, 1, 2, 0, 1, 2]);
        b.record(1, false);
        assert!(!b.is_ejected(1));
        b.record(1, false);
        assert!(b.is_ejected(1));
        let order: Vec<usize> = (0..4).map(|_| b.pick().unwrap().index()).collect();
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
        let order: Vec<usize> = (0..4).map(|_| b.pick().unwrap().index()).collect();
        assert_eq!(order, [0, 1, 0, 1]);
    }

    #[test]
    fn least_requests_prefers_the_idle_target() {
        let b = balancer(2, Strategy::LeastRequests, 0);
        let held: Vec<Pick> = (0..3).map(|_| b.pick().unwrap()).collect();
        let busy = |i: usize| b.targets()[i].in_flight();
        assert_eq!(busy(0) + busy(1), 3);
        // With two targets both are always drawn: the next goes to the less busy one.
        let less = if busy(0) < busy(1) { 0 } else { 1 };
        assert_eq!(b.pick().unwrap().index(), less);
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

    fn addresses(list: &[&str]) -> Vec<Authority> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn shown(b: &Balancer) -> Vec<String> {
        b.targets()
            .iter()
            .map(|t| t.authority.to_string())
            .collect()
    }

    #[test]
    fn a_refresh_keeps_the_state_of_addresses_found_again() {
        let b = balancer(2, Strategy::RoundRobin, 1);
        // 10.0.0.0 is ejected and busy, 10.0.0.1 served two requests.
        let held = b.pick().unwrap();
        assert_eq!(held.authority().as_str(), "10.0.0.0:80");
        held.record(false);
        let second = b.pick().unwrap();
        assert_eq!(second.authority().as_str(), "10.0.0.1:80");
        drop(second);
        assert_eq!(b.pick().unwrap().index(), 1);
        let before: Vec<Arc<Target>> = b.targets().iter().cloned().collect();

        // The same set again is no change at all.
        assert!(!b.replace(addresses(&["10.0.0.0:80", "10.0.0.1:80"])));
        assert!(Arc::ptr_eq(&b.targets()[0], &before[0]));

        // 10.0.0.1 vanishes, 10.0.0.2 comes: 10.0.0.0 keeps its ejection and in-flight
        // count, the newcomer starts clean.
        assert!(b.replace(addresses(&["10.0.0.0:80", "10.0.0.2:80"])));
        assert_eq!(shown(&b), ["10.0.0.0:80", "10.0.0.2:80"]);
        assert!(Arc::ptr_eq(&b.targets()[0], &before[0]));
        assert!(b.is_ejected(0));
        assert!(!b.is_ejected(1));
        assert_eq!(
            b.status(),
            [
                TargetStatus {
                    address: "10.0.0.0:80".into(),
                    ejected: true,
                    in_flight: 1,
                    requests: 1,
                },
                TargetStatus {
                    address: "10.0.0.2:80".into(),
                    ejected: false,
                    in_flight: 0,
                    requests: 0,
                },
            ]
        );
        // The ejected one is skipped; the vanished one is no longer picked.
        let order: Vec<String> = (0..3)
            .map(|_| b.pick().unwrap().authority().to_string())
            .collect();
        assert_eq!(order, ["10.0.0.2:80", "10.0.0.2:80", "10.0.0.2:80"]);
        // The request held across the refresh ends on its own target.
        drop(held);
        assert_eq!(b.targets()[0].in_flight(), 0);
        assert_eq!(before[1].in_flight(), 0);
        assert_eq!(before[1].picked(), 2);
    }

    #[test]
    fn an_empty_set_has_nothing_to_pick() {
        let b = Arc::new(Balancer::new(Vec::new(), BalanceConfig::default()));
        assert!(b.pick().is_none());
        assert!(b.replace(addresses(&["10.0.0.7:80"])));
        assert_eq!(b.pick().unwrap().authority().as_str(), "10.0.0.7:80");
    }
}
