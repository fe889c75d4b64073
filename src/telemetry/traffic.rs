//! Traffic-control metrics: requests refused by rate limits (counted as they happen, by
//! route), and, read at scrape time from the process's traffic state, the rate-limit
//! store's health, each upstream's breaker state and transitions, retries made, and the
//! response cache's hits and misses.
//!
//! The state is reached through [`TrafficReport`], set once the gateway's state exists;
//! until then (and in `check`) only the families of the counters are rendered.

use std::sync::{Arc, RwLock};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

/// What the traffic state reports at scrape time.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficSample {
    /// The shared rate-limit store, when rate limits use Redis.
    pub store: Option<StoreSample>,
    /// (upstream, state: 0 closed, 1 open, 2 half-open, transitions) by upstream.
    pub breakers: Vec<(String, i64, u64)>,
    /// (upstream, retries made) by upstream.
    pub retries: Vec<(String, u64)>,
    /// (upstream, requests sent again on a new connection) by upstream.
    pub resent: Vec<(String, u64)>,
    pub cache: Option<CacheSample>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreSample {
    pub up: bool,
    pub errors: u64,
    pub failed_open: u64,
    pub failed_closed: u64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheSample {
    pub hits: u64,
    pub misses: u64,
    pub coalesced: u64,
    pub stores: u64,
    pub bytes: u64,
    pub shared_errors: u64,
}

/// The source of [`TrafficSample`]s (the gateway's traffic state).
pub trait TrafficReport: Send + Sync + std::fmt::Debug {
    fn sample(&self) -> TrafficSample;
}

type Source = Arc<RwLock<Option<Arc<dyn TrafficReport>>>>;

/// The traffic families of one [`super::Metrics`].
#[derive(Debug)]
pub struct TrafficMetrics {
    rate_limited: Family<[(&'static str, String); 1], Counter>,
    source: Source,
}

impl TrafficMetrics {
    pub(super) fn register(registry: &mut Registry) -> TrafficMetrics {
        let rate_limited = Family::default();
        registry.register(
            "rate_limited",
            "Requests refused by a rate limit or quota (429), by route",
            rate_limited.clone(),
        );
        let source: Source = Arc::default();
        registry.register_collector(Box::new(TrafficCollector {
            source: Arc::clone(&source),
        }));
        TrafficMetrics {
            rate_limited,
            source,
        }
    }

    /// One request refused by `route`'s rate limit or quota.
    pub fn rate_limited(&self, route: &str) {
        self.rate_limited
            .get_or_create(&[("route", route.to_owned())])
            .inc();
    }

    /// Where the scrape-time series come from.
    pub fn report_from(&self, source: Arc<dyn TrafficReport>) {
        if let Ok(mut s) = self.source.write() {
            *s = Some(source);
        }
    }
}

#[derive(Debug)]
struct TrafficCollector {
    source: Source,
}

pub(super) fn counter(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(&[(&str, &str)], u64)],
) -> Result<(), std::fmt::Error> {
    let mut family =
        enc.encode_descriptor(name, help, None, ConstCounter::new(0u64).metric_type())?;
    for (labels, v) in series {
        if labels.is_empty() {
            ConstCounter::new(*v).encode(family)?;
            break;
        }
        ConstCounter::new(*v).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

pub(super) fn gauge(
    enc: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    series: &[(&[(&str, &str)], i64)],
) -> Result<(), std::fmt::Error> {
    let mut family =
        enc.encode_descriptor(name, help, None, ConstGauge::new(0i64).metric_type())?;
    for (labels, v) in series {
        if labels.is_empty() {
            ConstGauge::new(*v).encode(family)?;
            break;
        }
        ConstGauge::new(*v).encode(family.encode_family(labels)?)?;
    }
    Ok(())
}

impl Collector for TrafficCollector {
    fn encode(&self, mut enc: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let source = self.source.read().ok().and_then(|s| s.clone());
        let Some(source) = source else {
            return Ok(());
        };
        let s = source.sample();
        if let Some(store) = s.store {
            gauge(
                &mut enc,
                "rate_limit_store_up",
                "Whether the shared rate-limit store (Redis) answered its last call",
                &[(&[], i64::from(store.up))],
            )?;
            counter(
                &mut enc,
                "rate_limit_store_errors",
                "Calls to the shared rate-limit store that failed or timed out",
                &[(&[], store.errors)],
            )?;
            counter(
                &mut enc,
                "rate_limit_store_fallbacks",
                "Requests decided without the store while it was down, by on_store_error mode",
                &[
                    (&[("mode", "open")], store.failed_open),
                    (&[("mode", "closed")], store.failed_closed),
                ],
            )?;
        }
        if !s.breakers.is_empty() {
            let states: Vec<_> = s
                .breakers
                .iter()
                .map(|(u, state, _)| ([("upstream", u.as_str())], *state))
                .collect();
            let states: Vec<(&[(&str, &str)], i64)> =
                states.iter().map(|(l, v)| (&l[..], *v)).collect();
            gauge(
                &mut enc,
                "circuit_breaker_state",
                "Circuit breaker state by upstream: 0 closed, 1 open, 2 half-open",
                &states,
            )?;
            let changes: Vec<_> = s
                .breakers
                .iter()
                .map(|(u, _, t)| ([("upstream", u.as_str())], *t))
                .collect();
            let changes: Vec<(&[(&str, &str)], u64)> =
                changes.iter().map(|(l, v)| (&l[..], *v)).collect();
            counter(
                &mut enc,
                "circuit_breaker_transitions",
                "Circuit breaker state changes by upstream",
                &changes,
            )?;
        }
        if !s.retries.is_empty() {
            let retries: Vec<_> = s
                .retries
                .iter()
                .map(|(u, n)| ([("upstream", u.as_str())], *n))
                .collect();
            let retries: Vec<(&[(&str, &str)], u64)> =
                retries.iter().map(|(l, v)| (&l[..], *v)).collect();
            counter(
                &mut enc,
                "upstream_retries",
                "Upstream calls repeated after a failed attempt, by upstream",
                &retries,
            )?;
        }
        if !s.resent.is_empty() {
            let resent: Vec<_> = s
                .resent
                .iter()
                .map(|(u, n)| ([("upstream", u.as_str())], *n))
                .collect();
            let resent: Vec<(&[(&str, &str)], u64)> =
                resent.iter().map(|(l, v)| (&l[..], *v)).collect();
            counter(
                &mut enc,
                "upstream_resent",
                "Requests sent again on a new connection because the pooled one was found closed before any byte of them was written, by upstream",
                &resent,
            )?;
        }
        if let Some(c) = s.cache {
            counter(
                &mut enc,
                "cache_requests",
                "GET requests to cached routes: hit (from memory or the shared store), miss (went upstream), coalesced (waited for an identical miss)",
                &[
                    (&[("result", "hit")], c.hits),
                    (&[("result", "miss")], c.misses),
                    (&[("result", "coalesced")], c.coalesced),
                ],
            )?;
            counter(
                &mut enc,
                "cache_stores",
                "Answers stored in the response cache",
                &[(&[], c.stores)],
            )?;
            gauge(
                &mut enc,
                "cache_bytes",
                "Bytes held by the response cache (keys, headers and bodies)",
                &[(&[], i64::try_from(c.bytes).unwrap_or(i64::MAX))],
            )?;
            counter(
                &mut enc,
                "cache_shared_errors",
                "Calls to the shared cache store (Redis) that failed",
                &[(&[], c.shared_errors)],
            )?;
        }
        Ok(())
    }
}
