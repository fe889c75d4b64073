//! Accept errors that are about the process rather than one connection: out of file
//! descriptors (`EMFILE` for the process, `ENFILE` for the system) and the like.
//!
//! The accept loop pauses [`super::ACCEPT_ERROR_BACKOFF`] after each, so it cannot spin a
//! core while nothing can be accepted; connections wait in the listen backlog meanwhile.
//! Every failed attempt is counted by kind for `schemagate_accept_errors_total`; a burst of
//! them (failures less than [`BURST_GAP`] apart) is logged twice: a warning at its first
//! failure and a line at the first connection accepted [`BURST_GAP`] after its last
//! failure, with how many attempts failed and for how long. The counters are the process's: one process has one set of
//! descriptors, whatever listeners it runs.

use std::io;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The kinds of process-wide accept failure, as the metric's `kind` label writes them.
pub const KINDS: [&str; 3] = ["emfile", "enfile", "other"];

static FAILURES: [AtomicU64; 3] = [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)];

/// Failed accept attempts since the start, by kind (in the order of [`KINDS`]).
pub fn failures() -> [(&'static str, u64); 3] {
    std::array::from_fn(|i| (KINDS[i], FAILURES[i].load(Ordering::Relaxed)))
}

/// The index in [`KINDS`] of an accept error.
fn kind(e: &io::Error) -> usize {
    match e.raw_os_error() {
        Some(libc::EMFILE) => 0,
        Some(libc::ENFILE) => 1,
        _ => 2,
    }
}

/// Failures less than this far apart are one burst: descriptors freed one at a time let
/// an accept through now and then, which must not start a new burst (and log lines) each
/// time.
pub const BURST_GAP: Duration = Duration::from_secs(1);

/// One accept loop's current burst of failures.
#[derive(Debug, Default)]
pub(super) struct Burst {
    /// When the burst's first and last failures happened; None between bursts.
    span: Option<(Instant, Instant)>,
    failures: u64,
}

impl Burst {
    /// An accept attempt failed for the process: counted, and logged when it starts a burst.
    pub(super) fn failed(&mut self, e: &io::Error) {
        FAILURES[kind(e)].fetch_add(1, Ordering::Relaxed);
        let now = Instant::now();
        match &mut self.span {
            Some((_, last)) if now.duration_since(*last) < BURST_GAP => *last = now,
            _ => {
                self.end(now);
                self.span = Some((now, now));
                tracing::warn!(
                    error = %e,
                    kind = KINDS[kind(e)],
                    backoff_ms = super::ACCEPT_ERROR_BACKOFF.as_millis() as u64,
                    "accepting connections failed; pausing between attempts until one succeeds \
                     (the attempts are counted in schemagate_accept_errors_total, not logged)"
                );
            }
        }
        self.failures += 1;
    }

    /// A connection was accepted: ends the burst, with its summary, once its last failure is
    /// [`BURST_GAP`] old.
    #[inline]
    pub(super) fn accepted(&mut self) {
        if self.span.is_some() {
            self.end(Instant::now());
        }
    }

    fn end(&mut self, now: Instant) {
        if let Some((first, last)) = self.span
            && now.duration_since(last) >= BURST_GAP
        {
            tracing::warn!(
                failed_attempts = self.failures,
                lasted_ms = last.duration_since(first).as_millis() as u64,
                "accepting connections again"
            );
            self.span = None;
            self.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_counts_every_attempt_by_kind() {
        let before = failures();
        let mut burst = Burst::default();
        burst.failed(&io::Error::from_raw_os_error(libc::EMFILE));
        burst.failed(&io::Error::from_raw_os_error(libc::EMFILE));
        burst.failed(&io::Error::from_raw_os_error(libc::ENFILE));
        burst.failed(&io::Error::from_raw_os_error(libc::ENOBUFS));
        assert_eq!(burst.failures, 4);
        // Accepted within the gap: the burst goes on.
        burst.accepted();
        assert_eq!(burst.failures, 4);
        let (first, last) = burst.span.unwrap();
        // Accepted a gap after the last failure: the burst ends.
        burst.end(last + BURST_GAP);
        assert_eq!((burst.failures, burst.span), (0, None));
        assert!(first <= last);
        let after = failures();
        // Other tests of this binary may count too: at least ours are there.
        assert!(after[0].1 >= before[0].1 + 2);
        assert!(after[1].1 > before[1].1);
        assert!(after[2].1 > before[2].1);
        assert_eq!(after.map(|(k, _)| k), KINDS);
    }
}
