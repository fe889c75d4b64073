//! The generic cell rate algorithm, as pure arithmetic on one stored number (the
//! theoretical arrival time, TAT), and the calendar windows of quotas. Both backends run
//! exactly this: the in-process one in Rust, the Redis one in a Lua transcription of it
//! (see `redis.rs`), in the same unit (microseconds), so they decide alike.

use std::time::Duration;

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// A compiled rate: `burst` requests at once, refilled at one per `interval_us`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gcra {
    /// Time one request "costs" (period / rate).
    pub interval_us: u64,
    /// How far ahead of now the TAT may run: `interval_us * burst`.
    pub tolerance_us: u64,
    /// The burst size, reported as `RateLimit-Limit`.
    pub limit: u64,
}

/// What one decision tells the client, whatever the backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u64,
    pub remaining: u64,
    /// Until the bucket is full again (all of `limit` available).
    pub reset: Duration,
    /// Until the next request would be admitted (zero when admitted).
    pub retry_after: Duration,
}

/// One step of the algorithm: the decision and, when admitted, the TAT to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub decision: Decision,
    pub new_tat: Option<u64>,
}

impl Gcra {
    /// `rate` requests per `period`, with bursts of up to `burst` requests. The interval
    /// is at least 1 µs, so a rate beyond a million per second saturates rather than
    /// dividing by zero.
    pub fn new(rate: u64, period: Duration, burst: u64) -> Self {
        let period_us = u64::try_from(period.as_micros()).unwrap_or(u64::MAX);
        let interval_us = (period_us / rate.max(1)).max(1);
        let burst = burst.max(1);
        Gcra {
            interval_us,
            tolerance_us: interval_us.saturating_mul(burst),
            limit: burst,
        }
    }

    /// Decides one request costing `cost` at `now_us`, given the stored TAT (None when the
    /// key is new or expired).
    pub fn decide(&self, tat: Option<u64>, now_us: u64, cost: u64) -> Step {
        let tat = tat.map_or(now_us, |t| t.max(now_us));
        let new_tat = tat.saturating_add(self.interval_us.saturating_mul(cost));
        let allow_at = new_tat.saturating_sub(self.tolerance_us);
        if now_us < allow_at {
            Step {
                decision: self.denied(tat - now_us, allow_at - now_us),
                new_tat: None,
            }
        } else {
            Step {
                decision: self.admitted(new_tat - now_us),
                new_tat: Some(new_tat),
            }
        }
    }

    /// The decision for an admitted request whose new TAT lies `ahead_us` past now.
    pub fn admitted(&self, ahead_us: u64) -> Decision {
        Decision {
            allowed: true,
            limit: self.limit,
            remaining: self.tolerance_us.saturating_sub(ahead_us) / self.interval_us,
            reset: Duration::from_micros(ahead_us),
            retry_after: Duration::ZERO,
        }
    }

    /// The decision for a refused request: the stored TAT is `ahead_us` past now, and the
    /// request would be admitted in `retry_us`.
    pub fn denied(&self, ahead_us: u64, retry_us: u64) -> Decision {
        Decision {
            allowed: false,
            limit: self.limit,
            remaining: 0,
            reset: Duration::from_micros(ahead_us),
            retry_after: Duration::from_micros(retry_us),
        }
    }

    /// How long a key must stay idle before its state equals a fresh one: after that its
    /// entry can be dropped without changing any decision.
    pub fn idle_horizon(&self) -> Duration {
        Duration::from_micros(self.tolerance_us.saturating_add(self.interval_us))
    }
}

/// The calendar period of a quota, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum QuotaPeriod {
    Day,
    Month,
}

/// The window a quota counts in at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Names the window in keys: `2026-12-07` or `2026-12`.
    pub label: String,
    /// Days (or months) since 1970, for packing into the in-process counter.
    pub index: u64,
    pub ends_at: DateTime<Utc>,
}

impl QuotaPeriod {
    pub fn window(self, now: DateTime<Utc>) -> Window {
        let date = now.date_naive();
        let (label, index, end) = match self {
            QuotaPeriod::Day => {
                let end = date.succ_opt().unwrap_or(NaiveDate::MAX);
                let index = date.signed_duration_since(NaiveDate::default()).num_days();
                (date.format("%Y-%m-%d").to_string(), index, end)
            }
            QuotaPeriod::Month => {
                let (y, m) = (date.year(), date.month());
                let end = if m == 12 {
                    NaiveDate::from_ymd_opt(y + 1, 1, 1)
                } else {
                    NaiveDate::from_ymd_opt(y, m + 1, 1)
                }
                .unwrap_or(NaiveDate::MAX);
                let index = i64::from(y - 1970) * 12 + i64::from(m) - 1;
                (format!("{y:04}-{m:02}"), index, end)
            }
        };
        let ends_at = Utc.from_utc_datetime(&end.and_hms_opt(0, 0, 0).unwrap_or_default());
        Window {
            label,
            index: u64::try_from(index).unwrap_or(0),
            ends_at,
        }
    }
}

/// A compiled quota: `limit` requests per calendar `period`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u64,
    pub period: QuotaPeriod,
}

impl Quota {
    /// The decision once `used` requests (this one included when admitted) are counted.
    pub fn decision(&self, allowed: bool, used: u64, until_end: Duration) -> Decision {
        Decision {
            allowed,
            limit: self.limit,
            remaining: self.limit.saturating_sub(used),
            reset: until_end,
            retry_after: if allowed { Duration::ZERO } else { until_end },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: u64 = 1_000_000;

    #[test]
    fn a_fresh_key_admits_the_burst_then_refuses_until_one_interval_passes() {
        // 10 per second, bursts of 3: one request per 100 ms.
        let g = Gcra::new(10, Duration::from_secs(1), 3);
        assert_eq!(
            (g.interval_us, g.tolerance_us, g.limit),
            (100_000, 300_000, 3)
        );
        let now = 50 * SEC;
        let mut tat = None;
        let mut remaining = Vec::new();
        for _ in 0..3 {
            let step = g.decide(tat, now, 1);
            assert!(step.decision.allowed);
            remaining.push(step.decision.remaining);
            tat = step.new_tat;
        }
        assert_eq!(remaining, [2, 1, 0]);
        assert_eq!(tat, Some(now + 300_000));
        let refused = g.decide(tat, now, 1);
        assert_eq!(
            refused,
            Step {
                decision: Decision {
                    allowed: false,
                    limit: 3,
                    remaining: 0,
                    reset: Duration::from_millis(300),
                    retry_after: Duration::from_millis(100),
                },
                new_tat: None,
            }
        );
        // One interval later exactly one more is admitted.
        let later = g.decide(tat, now + 100_000, 1);
        assert!(later.decision.allowed);
        assert_eq!(later.decision.remaining, 0);
        assert!(!g.decide(later.new_tat, now + 100_000, 1).decision.allowed);
    }

    #[test]
    fn a_key_idle_past_its_horizon_is_as_good_as_new() {
        let g = Gcra::new(5, Duration::from_secs(1), 5);
        let now = 7 * SEC;
        let tat = g.decide(None, now, 1).new_tat;
        let idle = now + g.idle_horizon().as_micros() as u64;
        assert_eq!(g.decide(tat, idle, 1), g.decide(None, idle, 1));
    }

    #[test]
    fn extreme_rates_saturate_instead_of_overflowing() {
        let g = Gcra::new(u64::MAX, Duration::from_secs(1), u64::MAX);
        assert_eq!(g.interval_us, 1);
        assert!(
            g.decide(Some(u64::MAX - 1), u64::MAX - 1, u64::MAX)
                .decision
                .allowed
        );
        let slow = Gcra::new(1, Duration::from_secs(u64::MAX), 1);
        assert!(slow.decide(None, 0, 1).decision.allowed);
    }

    #[test]
    fn quota_windows_follow_the_utc_calendar() {
        let at = Utc.with_ymd_and_hms(2026, 12, 31, 23, 59, 59).unwrap();
        let day = QuotaPeriod::Day.window(at);
        assert_eq!(day.label, "2026-12-31");
        assert_eq!(
            day.ends_at,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        let month = QuotaPeriod::Month.window(at);
        assert_eq!(month.label, "2026-12");
        assert_eq!(month.index, 56 * 12 + 11);
        assert_eq!(
            month.ends_at,
            Utc.with_ymd_and_hms(2027, 1, 1, 0, 0, 0).unwrap()
        );
        let feb = QuotaPeriod::Month.window(Utc.with_ymd_and_hms(2028, 2, 29, 1, 0, 0).unwrap());
        assert_eq!(
            feb.ends_at,
            Utc.with_ymd_and_hms(2028, 3, 1, 0, 0, 0).unwrap()
        );
    }
}
