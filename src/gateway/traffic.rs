//! Traffic control's process-wide state and its per-snapshot compilation.
//!
//! [`Traffic`] lives as long as the process, beside the HTTP client: the rate limiter
//! (its counters, its Redis connection), the response cache and each upstream's breaker
//! and retry budget. A reload compiles the sections again ([`crate::config::policies`])
//! and keeps each of these when its settings did not change, so counters, cached answers
//! and an open circuit survive it. Each route's compiled policy ([`RouteTraffic`]) sits
//! in the snapshot's route entry, where the layers look it up by route index.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::config::policies::{CacheStore, CompiledPolicies, RoutePolicy};
use crate::edge::cache::config::StorePolicy;
use crate::edge::cache::{CacheControlPolicy, ResponseCache, SharedCache};
use crate::edge::ratelimit::config::{CompiledBackend, CompiledRateLimit};
use crate::edge::ratelimit::{Backend, Limiter, LocalStore, RedisStore};
use crate::proxy::guard::{Guard, Guards};
use crate::proxy::retry::RetryPolicy;
use crate::telemetry::traffic::{CacheSample, StoreSample, TrafficReport, TrafficSample};

/// The shortest time a local rate key is kept idle (see [`LocalStore::new`]).
const MIN_LOCAL_IDLE: Duration = Duration::from_secs(1);

/// The process's traffic-control state (see the module documentation).
#[derive(Default, Debug)]
pub struct Traffic {
    pub guards: Guards,
    /// The memory budget's count of bytes in flight: requests of every snapshot add to it.
    pub memory: Arc<crate::edge::budget::MemoryBudget>,
    limiter: Mutex<Option<(LimiterKey, Arc<Limiter>)>>,
    cache: Mutex<Option<(CacheStore, Arc<ResponseCache>)>>,
    /// False for `check`: stores are never connected (it has no async runtime, and throws
    /// the snapshot away); each is stood in for by an in-process one.
    connect: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct LimiterKey {
    backend: CompiledBackend,
    idle: Duration,
}

/// One route's traffic policy, ready for the layers.
pub struct RouteTraffic {
    pub rate_limit: Option<(Arc<Limiter>, CompiledRateLimit)>,
    pub retry: RetryPolicy,
    pub cache: Option<(Arc<ResponseCache>, StorePolicy)>,
    pub cache_control: CacheControlPolicy,
}

impl Traffic {
    /// The state of a serving gateway: stores connect (lazily) on first use. Build it
    /// inside the async runtime.
    pub fn new() -> Self {
        Traffic {
            connect: true,
            ..Traffic::default()
        }
    }

    /// The state for `check`: compiled the same, never connected.
    pub fn offline() -> Self {
        Traffic::default()
    }

    /// The current limiter, its counters and store-health statistics (for metrics).
    pub fn limiter(&self) -> Option<Arc<Limiter>> {
        lock(&self.limiter).as_ref().map(|(_, l)| Arc::clone(l))
    }

    /// The current response cache (for metrics).
    pub fn cache(&self) -> Option<Arc<ResponseCache>> {
        lock(&self.cache).as_ref().map(|(_, c)| Arc::clone(c))
    }

    /// Builds each route's policy from `compiled`, reusing the process's stores where their
    /// settings are unchanged. Errors name the section whose store could not be made.
    pub fn build(&self, compiled: &CompiledPolicies) -> Result<Vec<RouteTraffic>, String> {
        let limiter = match &compiled.backend {
            Some(backend) => Some(self.limiter_for(backend, compiled)?),
            None => None,
        };
        let cache = match &compiled.cache {
            Some(store) => Some(self.cache_for(store)?),
            None => None,
        };
        Ok(compiled
            .routes
            .iter()
            .map(|p: &RoutePolicy| RouteTraffic {
                rate_limit: match (&limiter, &p.rate_limit) {
                    (Some(l), Some(rules)) => Some((Arc::clone(l), rules.clone())),
                    _ => None,
                },
                retry: p.retry,
                cache: match (&cache, p.cache) {
                    (Some(c), Some(policy)) => Some((Arc::clone(c), policy)),
                    _ => None,
                },
                cache_control: p.cache_control.clone(),
            })
            .collect())
    }

    /// The guard of upstream `name` under `compiled`.
    pub fn guard(&self, name: &str, compiled: &CompiledPolicies) -> Guard {
        let breaker = compiled.breakers.get(name).copied().flatten();
        self.guards
            .guard(name, breaker, compiled.budget.0, compiled.budget.1)
    }

    /// After a snapshot is built: forgets the breakers and budgets of upstreams it no
    /// longer has (or whose breaker is now off).
    pub fn retain(&self, compiled: &CompiledPolicies) {
        self.guards.retain(
            |n| compiled.breakers.get(n).is_some_and(Option::is_some),
            |n| compiled.breakers.contains_key(n),
        );
    }

    fn limiter_for(
        &self,
        backend: &CompiledBackend,
        compiled: &CompiledPolicies,
    ) -> Result<Arc<Limiter>, String> {
        let idle = compiled
            .routes
            .iter()
            .filter_map(|p| p.rate_limit.as_ref()?.rate.as_ref())
            .map(|g| g.idle_horizon())
            .max()
            .unwrap_or_default()
            .max(MIN_LOCAL_IDLE);
        let key = LimiterKey {
            backend: backend.clone(),
            idle,
        };
        let mut current = lock(&self.limiter);
        if let Some((k, l)) = current.as_ref()
            && *k == key
        {
            return Ok(Arc::clone(l));
        }
        let store = match &backend.redis {
            Some(settings) if self.connect => {
                Backend::Redis(RedisStore::new(settings).map_err(|e| format!("redis.url: {e}"))?)
            }
            _ => Backend::Local(LocalStore::new(backend.max_keys, idle)),
        };
        let limiter = Arc::new(Limiter::new(
            store,
            backend.on_error,
            backend.retry_interval,
        ));
        *current = Some((key, Arc::clone(&limiter)));
        Ok(limiter)
    }

    fn cache_for(&self, store: &CacheStore) -> Result<Arc<ResponseCache>, String> {
        let mut current = lock(&self.cache);
        if let Some((k, c)) = current.as_ref()
            && k == store
        {
            return Ok(Arc::clone(c));
        }
        let shared = match &store.shared {
            Some(settings) if self.connect => {
                Some(SharedCache::new(settings).map_err(|e| format!("redis.url: {e}"))?)
            }
            _ => None,
        };
        let cache = Arc::new(ResponseCache::new(store.max_bytes, shared));
        *current = Some((store.clone(), Arc::clone(&cache)));
        Ok(cache)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // The guarded values are replaced whole: a panic elsewhere cannot leave them torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl TrafficReport for Traffic {
    fn sample(&self) -> TrafficSample {
        let store = self.limiter().and_then(|l| {
            l.is_shared().then(|| {
                let s = l.stats().snapshot();
                StoreSample {
                    up: !s.down,
                    errors: s.errors,
                    failed_open: s.failed_open,
                    failed_closed: s.failed_closed,
                }
            })
        });
        let cache = self.cache().map(|c| {
            let n = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
            CacheSample {
                hits: n(&c.stats.hits),
                misses: n(&c.stats.misses),
                coalesced: n(&c.stats.coalesced),
                stores: n(&c.stats.stores),
                bytes: c.weighted_size(),
                shared_errors: c.shared_errors(),
            }
        });
        TrafficSample {
            store,
            breakers: self
                .guards
                .breakers
                .snapshot()
                .into_iter()
                .map(|(n, state, t)| (n, state as i64, t))
                .collect(),
            retries: self.guards.retries(),
            resent: self.guards.resent(),
            cache,
        }
    }
}
