//! The in-process backend: one atomic word per key, updated by compare-and-swap, so
//! concurrent requests never take a lock on the hot path. Keys live in a bounded moka
//! cache: at most `max_keys` of them, and a key idle past the point where its state equals
//! a fresh one is evicted. Evicting a busy key early (only when `max_keys` is exceeded)
//! errs on the lenient side: the key starts fresh.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrono::{DateTime, Utc};
use moka::sync::Cache;

use super::gcra::{Decision, Gcra, Quota};

/// Bits of the packed quota word that hold the count; the window index sits above.
const QUOTA_COUNT_BITS: u32 = 40;
const QUOTA_COUNT_MASK: u64 = (1 << QUOTA_COUNT_BITS) - 1;

/// The longest a quota key can matter: a month and a day of slack.
const QUOTA_IDLE: Duration = Duration::from_secs(32 * 24 * 3600);

/// In-process rate and quota state.
#[derive(Clone)]
pub struct LocalStore {
    rates: Cache<String, Arc<AtomicU64>>,
    quotas: Cache<String, Arc<AtomicU64>>,
    /// Microsecond clock origin: TATs are stored relative to it, never 0 (0 means fresh).
    origin: Instant,
}

impl std::fmt::Debug for LocalStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalStore")
            .field("rate_keys", &self.rates.entry_count())
            .field("quota_keys", &self.quotas.entry_count())
            .finish()
    }
}

impl LocalStore {
    /// A store for at most `max_keys` rate keys (and as many quota keys); `idle` is the
    /// longest [`Gcra::idle_horizon`] of the rules it serves.
    pub fn new(max_keys: u64, idle: Duration) -> Self {
        LocalStore {
            rates: Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(idle.max(Duration::from_secs(1)))
                .build(),
            quotas: Cache::builder()
                .max_capacity(max_keys)
                .time_to_idle(QUOTA_IDLE)
                .build(),
            origin: Instant::now(),
        }
    }

    fn now_us(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_micros()).unwrap_or(u64::MAX - 1) + 1
    }

    /// Decides one request of `key` (already scoped by route) under `rule`.
    pub fn check_rate(&self, key: &str, rule: &Gcra) -> Decision {
        let cell = self
            .rates
            .get_with_by_ref(key, || Arc::new(AtomicU64::new(0)));
        let now = self.now_us();
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let step = rule.decide((current != 0).then_some(current), now, 1);
            let Some(new_tat) = step.new_tat else {
                return step.decision;
            };
            match cell.compare_exchange_weak(current, new_tat, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => return step.decision,
                Err(seen) => current = seen,
            }
        }
    }

    /// Counts one request of `key` against `quota` in the window containing `now`,
    /// refusing it (without counting it) once the limit is reached.
    pub fn check_quota(&self, key: &str, quota: &Quota, now: DateTime<Utc>) -> Decision {
        let window = quota.period.window(now);
        let until_end = (window.ends_at - now).to_std().unwrap_or_default();
        let cell = self
            .quotas
            .get_with_by_ref(key, || Arc::new(AtomicU64::new(0)));
        let mut current = cell.load(Ordering::Acquire);
        loop {
            let used = if current >> QUOTA_COUNT_BITS == window.index {
                current & QUOTA_COUNT_MASK
            } else {
                0
            };
            if used >= quota.limit {
                return quota.decision(false, used, until_end);
            }
            let next = (window.index << QUOTA_COUNT_BITS) | (used + 1).min(QUOTA_COUNT_MASK);
            match cell.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => return quota.decision(true, used + 1, until_end),
                Err(seen) => current = seen,
            }
        }
    }

    /// Keys currently held (after pending evictions run), for tests and metrics.
    pub fn key_count(&self) -> u64 {
        self.rates.run_pending_tasks();
        self.rates.entry_count()
    }
}

/// Wall-clock now, for quota windows.
pub fn utc_now() -> DateTime<Utc> {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    DateTime::<Utc>::UNIX_EPOCH + since
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::super::gcra::QuotaPeriod;
    use super::*;

    #[test]
    fn concurrent_requests_on_one_key_admit_exactly_the_burst() {
        // One per hour, bursts of 50: nothing refills while the threads run.
        let rule = Gcra::new(1, Duration::from_secs(3600), 50);
        let store = LocalStore::new(1000, rule.idle_horizon());
        let admitted = AtomicU64::new(0);
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..100 {
                        if store.check_rate("r:k", &rule).allowed {
                            admitted.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        assert_eq!(admitted.load(Ordering::Relaxed), 50);
        let refused = store.check_rate("r:k", &rule);
        assert_eq!(
            (refused.allowed, refused.limit, refused.remaining),
            (false, 50, 0)
        );
        // The next request is one interval (an hour) away, less the test's own run time.
        assert!(refused.retry_after <= Duration::from_secs(3600));
        assert!(refused.retry_after > Duration::from_secs(3500));
        // Another key is untouched.
        assert_eq!(store.check_rate("r:other", &rule).remaining, 49);
    }

    #[test]
    fn idle_keys_are_evicted_and_the_key_count_stays_bounded() {
        let rule = Gcra::new(1000, Duration::from_millis(1), 1);
        let store = LocalStore::new(100, Duration::from_millis(1));
        for i in 0..5000 {
            store.check_rate(&format!("r:{i}"), &rule);
        }
        assert!(store.key_count() <= 100, "{} keys", store.key_count());
    }

    #[test]
    fn quota_counts_per_window_and_starts_over_in_the_next() {
        let q = Quota {
            limit: 2,
            period: QuotaPeriod::Day,
        };
        let store = LocalStore::new(10, Duration::from_secs(1));
        let day1 = Utc.with_ymd_and_hms(2026, 3, 4, 22, 0, 0).unwrap();
        let got: Vec<_> = (0..3)
            .map(|_| {
                let d = store.check_quota("r:k", &q, day1);
                (d.allowed, d.remaining, d.reset.as_secs())
            })
            .collect();
        assert_eq!(got, [(true, 1, 7200), (true, 0, 7200), (false, 0, 7200)]);
        let day2 = Utc.with_ymd_and_hms(2026, 3, 5, 0, 0, 1).unwrap();
        let d = store.check_quota("r:k", &q, day2);
        assert_eq!(
            (d.allowed, d.remaining, d.reset.as_secs()),
            (true, 1, 86399)
        );
    }
}
