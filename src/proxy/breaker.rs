//! A circuit breaker per upstream: closed, open, half-open. Closed counts outcomes over a
//! sliding window (a ring of one-second-or-finer buckets); once at least
//! `minimum_requests` were seen and the failure rate reaches the threshold it opens, and
//! calls fail at once with 503 `circuit-open` and `Retry-After` instead of reaching the
//! upstream. After `open_for` it lets `half_open_probes` calls through: all succeeding
//! closes it, any failing opens it again.
//!
//! State lives in [`Breakers`], keyed by upstream name and held outside the configuration
//! snapshot, so a reload keeps each upstream's state (and adopts its new settings).
//! Every state change is logged and counted for the metrics.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{UpstreamError, UpstreamResponse};
use crate::edge::config_key::{InvalidKey, Problems};
use crate::edge::ratelimit::ceil_secs;
use crate::problem::{Problem, ProblemKind};

pub const DEFAULT_FAILURE_RATE_PERCENT: u64 = 50;
pub const DEFAULT_WINDOW_SECS: u64 = 10;
/// Below this many calls in the window a few failures say little about the upstream.
pub const DEFAULT_MINIMUM_REQUESTS: u64 = 20;
pub const DEFAULT_OPEN_SECS: u64 = 30;
pub const DEFAULT_HALF_OPEN_PROBES: u64 = 3;
/// Buckets of the sliding window: the window forgets old outcomes in steps of a tenth.
const BUCKETS: usize = 10;

/// `[circuit_breaker]` and `[upstreams.<name>.circuit_breaker]` (where every key is
/// optional and defaults to the global one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    pub enabled: bool,
    pub failure_rate_percent: u64,
    pub window_secs: u64,
    pub minimum_requests: u64,
    pub open_secs: u64,
    pub half_open_probes: u64,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            enabled: true,
            failure_rate_percent: DEFAULT_FAILURE_RATE_PERCENT,
            window_secs: DEFAULT_WINDOW_SECS,
            minimum_requests: DEFAULT_MINIMUM_REQUESTS,
            open_secs: DEFAULT_OPEN_SECS,
            half_open_probes: DEFAULT_HALF_OPEN_PROBES,
        }
    }
}

/// Per-upstream override: keys left out come from `[circuit_breaker]`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct BreakerOverride {
    pub enabled: Option<bool>,
    pub failure_rate_percent: Option<u64>,
    pub window_secs: Option<u64>,
    pub minimum_requests: Option<u64>,
    pub open_secs: Option<u64>,
    pub half_open_probes: Option<u64>,
}

/// Compiled settings of one upstream's breaker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BreakerSettings {
    pub failure_rate_percent: u64,
    pub window: Duration,
    pub minimum_requests: u64,
    pub open_for: Duration,
    pub half_open_probes: u64,
}

impl BreakerConfig {
    /// The settings for one upstream, or None when its breaker is off. `prefix` names the
    /// override (`upstreams.orders.circuit_breaker`).
    pub fn compile(
        &self,
        over: Option<&BreakerOverride>,
        prefix: &str,
    ) -> Result<Option<BreakerSettings>, Vec<InvalidKey>> {
        let o = over.cloned().unwrap_or_default();
        let at = |set: bool| if set { prefix } else { "circuit_breaker" };
        let mut p = Problems::default();
        let rate = o.failure_rate_percent.unwrap_or(self.failure_rate_percent);
        if !(1..=100).contains(&rate) {
            p.push(
                at(o.failure_rate_percent.is_some()),
                "failure_rate_percent",
                "must be between 1 and 100",
            );
        }
        let window = o.window_secs.unwrap_or(self.window_secs);
        p.positive(at(o.window_secs.is_some()), "window_secs", window);
        let minimum = o.minimum_requests.unwrap_or(self.minimum_requests);
        p.positive(
            at(o.minimum_requests.is_some()),
            "minimum_requests",
            minimum,
        );
        let open = o.open_secs.unwrap_or(self.open_secs);
        p.positive(at(o.open_secs.is_some()), "open_secs", open);
        let probes = o.half_open_probes.unwrap_or(self.half_open_probes);
        p.positive(at(o.half_open_probes.is_some()), "half_open_probes", probes);
        let settings = BreakerSettings {
            failure_rate_percent: rate,
            window: Duration::from_secs(window),
            minimum_requests: minimum,
            open_for: Duration::from_secs(open),
            half_open_probes: probes,
        };
        p.finish(o.enabled.unwrap_or(self.enabled).then_some(settings))
    }
}

/// The state reported to logs and metrics (the gauge value is the discriminant).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BreakerState {
    Closed = 0,
    Open = 1,
    HalfOpen = 2,
}

/// A call refused because the circuit is open.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("circuit open")]
pub struct CircuitOpen {
    pub retry_after: Duration,
}

impl CircuitOpen {
    pub fn to_problem(&self) -> Problem {
        Problem::new(
            ProblemKind::CircuitOpen,
            "the upstream service is failing; try again later",
        )
        .retry_after(ceil_secs(self.retry_after).max(1))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    /// Which slice of time (window / BUCKETS) the counts belong to.
    slot: u64,
    ok: u64,
    failed: u64,
}

#[derive(Debug)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u64, succeeded: u64 },
}

#[derive(Debug)]
struct Inner {
    settings: BreakerSettings,
    phase: Phase,
    buckets: [Bucket; BUCKETS],
}

/// One upstream's breaker.
#[derive(Debug)]
pub struct Breaker {
    name: Arc<str>,
    inner: Mutex<Inner>,
    origin: Instant,
    transitions: AtomicU64,
}

/// Permission for one call; report its outcome with [`Permit::record`]. Dropped without a
/// record (the caller gave up), it frees its probe slot and counts as nothing.
#[derive(Debug)]
#[must_use]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    done: bool,
}

impl Permit<'_> {
    pub fn record(mut self, success: bool) {
        self.done = true;
        self.breaker.record(self.probe, success);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.done && self.probe {
            let mut g = self.breaker.lock();
            if let Phase::HalfOpen { in_flight, .. } = &mut g.phase {
                *in_flight = in_flight.saturating_sub(1);
            }
        }
    }
}

impl Breaker {
    pub fn new(name: impl Into<Arc<str>>, settings: BreakerSettings) -> Self {
        Breaker {
            name: name.into(),
            inner: Mutex::new(Inner {
                settings,
                phase: Phase::Closed,
                buckets: [Bucket::default(); BUCKETS],
            }),
            origin: Instant::now(),
            transitions: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding the lock leaves counts, not broken invariants.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn state(&self) -> BreakerState {
        match self.lock().phase {
            Phase::Closed => BreakerState::Closed,
            Phase::Open { .. } => BreakerState::Open,
            Phase::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// State changes since creation, for a counter metric.
    pub fn transitions(&self) -> u64 {
        self.transitions.load(Ordering::Relaxed)
    }

    fn set_settings(&self, settings: BreakerSettings) {
        let mut g = self.lock();
        if g.settings.window != settings.window {
            g.buckets = [Bucket::default(); BUCKETS];
        }
        g.settings = settings;
    }

    fn slot(&self, window: Duration, now: Instant) -> u64 {
        let slice = (window.as_micros() / BUCKETS as u128).max(1);
        u64::try_from(now.duration_since(self.origin).as_micros() / slice).unwrap_or(u64::MAX)
    }

    fn change(&self, g: &mut Inner, to: Phase) {
        let from = format!("{:?}", g.phase);
        g.phase = to;
        self.transitions.fetch_add(1, Ordering::Relaxed);
        let state = match g.phase {
            Phase::Closed => "closed",
            Phase::Open { .. } => "open",
            Phase::HalfOpen { .. } => "half-open",
        };
        tracing::warn!(upstream = %self.name, from = %from, "circuit breaker now {state}");
    }

    /// Asks to make one call.
    pub fn acquire(&self) -> Result<Permit<'_>, CircuitOpen> {
        let now = Instant::now();
        let mut g = self.lock();
        let probes = g.settings.half_open_probes;
        match g.phase {
            Phase::Closed => Ok(Permit {
                breaker: self,
                probe: false,
                done: false,
            }),
            Phase::Open { until } if now < until => Err(CircuitOpen {
                retry_after: until - now,
            }),
            Phase::Open { .. } => {
                self.change(
                    &mut g,
                    Phase::HalfOpen {
                        in_flight: 1,
                        succeeded: 0,
                    },
                );
                Ok(Permit {
                    breaker: self,
                    probe: true,
                    done: false,
                })
            }
            Phase::HalfOpen {
                ref mut in_flight,
                succeeded,
            } => {
                if *in_flight + succeeded < probes {
                    *in_flight += 1;
                    Ok(Permit {
                        breaker: self,
                        probe: true,
                        done: false,
                    })
                } else {
                    // Probes are out; whoever comes next waits for their verdict.
                    Err(CircuitOpen {
                        retry_after: Duration::from_secs(1),
                    })
                }
            }
        }
    }

    fn record(&self, probe: bool, success: bool) {
        let now = Instant::now();
        let mut g = self.lock();
        let settings = g.settings;
        match g.phase {
            Phase::HalfOpen {
                ref mut in_flight,
                ref mut succeeded,
            } if probe => {
                *in_flight = in_flight.saturating_sub(1);
                if !success {
                    self.change(
                        &mut g,
                        Phase::Open {
                            until: now + settings.open_for,
                        },
                    );
                } else {
                    *succeeded += 1;
                    if *succeeded >= settings.half_open_probes {
                        g.buckets = [Bucket::default(); BUCKETS];
                        self.change(&mut g, Phase::Closed);
                    }
                }
            }
            Phase::Closed => {
                let slot = self.slot(settings.window, now);
                let b = &mut g.buckets[(slot % BUCKETS as u64) as usize];
                if b.slot != slot {
                    *b = Bucket {
                        slot,
                        ok: 0,
                        failed: 0,
                    };
                }
                if success {
                    b.ok += 1;
                } else {
                    b.failed += 1;
                }
                if success {
                    return;
                }
                let oldest = slot.saturating_sub(BUCKETS as u64 - 1);
                let (ok, failed) = g
                    .buckets
                    .iter()
                    .filter(|b| b.slot >= oldest && b.slot <= slot)
                    .fold((0, 0), |(o, f), b| (o + b.ok, f + b.failed));
                let total = ok + failed;
                if total >= settings.minimum_requests
                    && failed * 100 >= settings.failure_rate_percent * total
                {
                    self.change(
                        &mut g,
                        Phase::Open {
                            until: now + settings.open_for,
                        },
                    );
                }
            }
            // Outcomes of calls let through before the circuit opened say nothing new.
            _ => {}
        }
    }
}

/// Does an upstream exchange count against the upstream's health? A 5xx, and a
/// connection that failed, broke, timed out or failed its TLS handshake do; a body over the gateway's limit or a
/// request the gateway could not build say nothing about the upstream.
pub fn is_failure(outcome: &Result<UpstreamResponse, UpstreamError>) -> bool {
    match outcome {
        Ok(r) => r.status.is_server_error(),
        Err(e) => is_failed_exchange(e),
    }
}

/// The error half of [`is_failure`], for exchanges whose answer is not read whole.
pub fn is_failed_exchange(error: &UpstreamError) -> bool {
    match error {
        UpstreamError::Connect { .. }
        | UpstreamError::Tls { .. }
        | UpstreamError::Timeout { .. }
        | UpstreamError::Io { .. } => true,
        UpstreamError::TooLarge { .. }
        | UpstreamError::InvalidRequest { .. }
        | UpstreamError::CircuitOpen { .. }
        | UpstreamError::NoAddress { .. } => false,
    }
}

/// Every upstream's breaker, by name; lives as long as the process.
#[derive(Debug, Default, Clone)]
pub struct Breakers {
    by_name: Arc<Mutex<HashMap<String, Arc<Breaker>>>>,
}

impl Breakers {
    /// The breaker of `upstream` with `settings`: its existing state when it has one (a
    /// reload), a closed one otherwise.
    pub fn get(&self, upstream: &str, settings: BreakerSettings) -> Arc<Breaker> {
        let mut map = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        let b = map
            .entry(upstream.to_owned())
            .or_insert_with(|| Arc::new(Breaker::new(upstream, settings)));
        b.set_settings(settings);
        Arc::clone(b)
    }

    /// Drops breakers of upstreams no longer configured (after a reload).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        let mut map = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        map.retain(|name, _| keep(name));
    }

    /// (upstream, state, transitions) of each breaker, sorted by name, for metrics.
    pub fn snapshot(&self) -> Vec<(String, BreakerState, u64)> {
        let map = self.by_name.lock().unwrap_or_else(|e| e.into_inner());
        let mut out: Vec<_> = map
            .iter()
            .map(|(n, b)| (n.clone(), b.state(), b.transitions()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> BreakerSettings {
        BreakerSettings {
            failure_rate_percent: 50,
            window: Duration::from_secs(60),
            minimum_requests: 4,
            open_for: Duration::from_millis(30),
            half_open_probes: 2,
        }
    }

    #[test]
    fn opens_only_at_the_minimum_count_and_rate() {
        let b = Breaker::new("orders", settings());
        for ok in [false, false, true] {
            b.acquire().unwrap().record(ok);
        }
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "3 calls are below the minimum of 4"
        );
        b.acquire().unwrap().record(true);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "2 of 4 failed: the rate is checked on failures"
        );
        b.acquire().unwrap().record(false);
        assert_eq!(b.state(), BreakerState::Open, "3 of 5 failed");
        let refused = b.acquire().unwrap_err();
        assert!(refused.retry_after <= Duration::from_millis(30));
        let p = refused.to_problem();
        assert_eq!(
            (p.status.as_u16(), p.kind.slug(), p.retry_after),
            (503, "circuit-open", Some(1))
        );
    }

    #[test]
    fn half_open_admits_the_probes_only_and_a_failed_probe_reopens() {
        let b = Breaker::new("orders", settings());
        for _ in 0..4 {
            b.acquire().unwrap().record(false);
        }
        std::thread::sleep(Duration::from_millis(40));
        let p1 = b.acquire().unwrap();
        let p2 = b.acquire().unwrap();
        assert_eq!(b.state(), BreakerState::HalfOpen);
        assert!(
            b.acquire().is_err(),
            "a third call while two probes are out"
        );
        drop(p2);
        let p3 = b.acquire().expect("a dropped probe frees its slot");
        p1.record(true);
        p3.record(false);
        assert_eq!(b.state(), BreakerState::Open);
        assert_eq!(b.transitions(), 3);
    }

    #[test]
    fn failures_older_than_the_window_are_forgotten() {
        let b = Breaker::new(
            "orders",
            BreakerSettings {
                window: Duration::from_millis(100),
                ..settings()
            },
        );
        for _ in 0..3 {
            b.acquire().unwrap().record(false);
        }
        std::thread::sleep(Duration::from_millis(150));
        b.acquire().unwrap().record(false);
        assert_eq!(
            b.state(),
            BreakerState::Closed,
            "only 1 call is in the window"
        );
        for _ in 0..3 {
            b.acquire().unwrap().record(false);
        }
        assert_eq!(b.state(), BreakerState::Open);
    }

    #[test]
    fn only_upstream_faults_count_as_failures() {
        let status = |s: u16| {
            Ok(UpstreamResponse {
                status: http::StatusCode::from_u16(s).unwrap(),
                headers: http::HeaderMap::new(),
                body: bytes::Bytes::new(),
            })
        };
        let got: Vec<bool> = [
            status(200),
            status(404),
            status(500),
            status(503),
            Err(UpstreamError::Timeout {
                upstream: "o".into(),
                timeout: Duration::from_secs(1),
            }),
            Err(UpstreamError::TooLarge {
                upstream: "o".into(),
                limit: 1,
            }),
        ]
        .iter()
        .map(is_failure)
        .collect();
        assert_eq!(got, [false, false, true, true, true, false]);
    }

    #[test]
    fn reloads_keep_state_and_adopt_new_settings() {
        let all = Breakers::default();
        let b = all.get("orders", settings());
        for _ in 0..4 {
            b.acquire().unwrap().record(false);
        }
        let again = all.get(
            "orders",
            BreakerSettings {
                half_open_probes: 1,
                ..settings()
            },
        );
        assert!(Arc::ptr_eq(&b, &again));
        assert_eq!(
            all.snapshot(),
            [("orders".to_owned(), BreakerState::Open, 1)]
        );
        all.retain(|n| n != "orders");
        assert!(all.snapshot().is_empty());
    }

    #[test]
    fn config_overrides_and_bad_keys() {
        #[derive(Deserialize)]
        struct F {
            circuit_breaker: BreakerConfig,
            upstreams: HashMap<String, U>,
        }
        #[derive(Deserialize)]
        struct U {
            circuit_breaker: Option<BreakerOverride>,
        }
        let f: F = toml::from_str(
            "[circuit_breaker]\nminimum_requests = 0\n[upstreams.orders.circuit_breaker]\nfailure_rate_percent = 101\nopen_secs = 5\n",
        )
        .unwrap();
        let errs = f
            .circuit_breaker
            .compile(
                f.upstreams["orders"].circuit_breaker.as_ref(),
                "upstreams.orders.circuit_breaker",
            )
            .unwrap_err();
        let keys: Vec<_> = errs.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "upstreams.orders.circuit_breaker.failure_rate_percent",
                "circuit_breaker.minimum_requests"
            ]
        );
        let ok = BreakerConfig::default()
            .compile(
                Some(&BreakerOverride {
                    open_secs: Some(5),
                    ..Default::default()
                }),
                "u",
            )
            .unwrap()
            .unwrap();
        assert_eq!(
            ok,
            BreakerSettings {
                open_for: Duration::from_secs(5),
                ..BreakerConfig::default()
                    .compile(None, "u")
                    .unwrap()
                    .unwrap()
            }
        );
        assert!(toml::from_str::<BreakerConfig>("open = 1").is_err());
    }
}
