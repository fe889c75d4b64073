//! The process's memory budget for bodies in flight (`limits.max_memory_bytes`).
//!
//! Each limit of `[limits]` bounds one request; the budget bounds their sum. A request that
//! holds body bytes takes a [`Charge`] against the one [`MemoryBudget`] of the process
//! before it holds them, grows it as it holds more, and gives the bytes back when the charge
//! is dropped: with the answer's body ([`Charge::hold`]), or on the way out of an error. A
//! request that would take the budget past its limit is not admitted: it is answered 503
//! `memory-budget-exhausted` with `Retry-After`, counted and logged (at most one line per
//! [`REFUSAL_LOG_INTERVAL`]), and the process does not grow.
//!
//! What is counted is an estimate fixed by the documented bounds (`docs/operations.md`),
//! not the allocator's figure: a `transform` request counts [`DECODE_MULTIPLE`] times its
//! declared body bytes from admission (the body, its decoding, the mapped document), its
//! upstream answer [`ANSWER_MULTIPLE`] times the answer's bytes once read; a streamed
//! `proxy` exchange counts only the buffers it holds in flight ([`STREAM_IN_FLIGHT_BYTES`]).
//! The hot path pays one atomic add when a charge is taken or grown and one atomic sub when
//! it is dropped.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};

use crate::problem::{Problem, ProblemKind};

/// A partner document's bytes times this covers what decoding and mapping it holds: the
/// measured peak is under 14.5 times the body (`tests/memory_bounds.rs`, whose bound for a
/// partner body is 16 times its bytes), so the estimate never undercounts a request.
pub const DECODE_MULTIPLE: usize = 16;

/// An upstream answer's bytes times this covers its decoding and mapping: the measured peak
/// is under 2.8 times the answer, and `tests/memory_bounds.rs` fails past 8 times.
pub const ANSWER_MULTIPLE: usize = 8;

/// What a streamed `proxy` exchange holds at once: a frame in each direction between the
/// two connections' buffers (hyper reads in chunks of at most 64 KiB and writes one frame
/// before it asks for the next). The bodies themselves are never held whole.
pub const STREAM_IN_FLIGHT_BYTES: usize = 128 * 1024;

/// How many of the largest partner requests the default budget admits at once: enough that
/// a small deployment never meets the budget before its connection cap, few enough that a
/// burst of the largest hostile bodies cannot take more than about a gigabyte (defaults).
pub const DEFAULT_LARGEST_REQUESTS: usize = 64;

/// A refused request's `Retry-After`: bodies in flight are released within a request's
/// time, so the budget has room again in about a second.
pub const RETRY_AFTER_SECS: u64 = 1;

/// At most one log line per this long while requests are refused, with the count refused
/// since the last line: a refusal storm must not become a log storm.
pub const REFUSAL_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The budget a configuration gets when it sets none: [`DEFAULT_LARGEST_REQUESTS`] partner
/// bodies at `max_body_bytes`, each counted [`DECODE_MULTIPLE`] times (1 GiB with the
/// default 1 MiB body limit).
pub fn default_limit(max_body_bytes: usize) -> usize {
    max_body_bytes
        .saturating_mul(DECODE_MULTIPLE)
        .saturating_mul(DEFAULT_LARGEST_REQUESTS)
}

/// What a `transform` request with `declared` body bytes counts from admission.
pub fn request_charge(declared: usize) -> usize {
    declared.saturating_mul(DECODE_MULTIPLE)
}

/// The body bytes a request says it will send: its `Content-Length` (at most
/// `max_body_bytes`, beyond which it is refused 413 anyway), `max_body_bytes` for a body of
/// unknown length (chunked), none without a body.
pub fn declared_body(headers: &http::HeaderMap, max_body_bytes: usize) -> usize {
    match headers.get(http::header::CONTENT_LENGTH) {
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<usize>().ok())
            .map_or(max_body_bytes, |n| n.min(max_body_bytes)),
        None if headers.contains_key(http::header::TRANSFER_ENCODING) => max_body_bytes,
        None => 0,
    }
}

/// The process's bytes in flight, shared by every snapshot (the limit is each snapshot's).
#[derive(Debug)]
pub struct MemoryBudget {
    in_use: AtomicUsize,
    /// The limit of the snapshot built last, for the metric.
    limit: AtomicUsize,
    refused: AtomicU64,
    /// Refusals not yet logged, and when the last line was written (ms since `epoch`, +1 so
    /// that 0 means never).
    unlogged: AtomicU64,
    logged_at: AtomicU64,
    epoch: Instant,
}

impl Default for MemoryBudget {
    fn default() -> Self {
        MemoryBudget {
            in_use: AtomicUsize::new(0),
            limit: AtomicUsize::new(usize::MAX),
            refused: AtomicU64::new(0),
            unlogged: AtomicU64::new(0),
            logged_at: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }
}

impl MemoryBudget {
    /// Bytes counted against the budget now.
    pub fn in_use(&self) -> usize {
        self.in_use.load(Ordering::Relaxed)
    }

    /// The limit of the configuration built last.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Requests refused since the start.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// The handle a snapshot admits its requests through, with that snapshot's limit.
    pub fn with_limit(self: &Arc<Self>, limit: usize) -> Budget {
        self.limit.store(limit, Ordering::Relaxed);
        Budget {
            shared: Arc::clone(self),
            limit,
        }
    }

    /// Counts a refusal and logs it, once per [`REFUSAL_LOG_INTERVAL`].
    fn refuse(&self, wanted: usize, limit: usize) -> Problem {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.unlogged.fetch_add(1, Ordering::Relaxed);
        let now = self.epoch.elapsed().as_millis() as u64 + 1;
        let last = self.logged_at.load(Ordering::Relaxed);
        let due = last == 0 || now.saturating_sub(last) >= REFUSAL_LOG_INTERVAL.as_millis() as u64;
        if due
            && self
                .logged_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            let refused = self.unlogged.swap(0, Ordering::Relaxed);
            tracing::warn!(
                in_use = self.in_use(),
                wanted,
                limit,
                refused,
                "memory budget exhausted (limits.max_memory_bytes): refusing requests with 503"
            );
        }
        Problem::new(
            ProblemKind::MemoryBudgetExhausted,
            "the gateway's memory budget for requests in flight (limits.max_memory_bytes) is \
             used up; retry shortly",
        )
        .retry_after(RETRY_AFTER_SECS)
        .with_log(format!(
            "memory budget: {wanted} more bytes wanted, {} of {limit} in use",
            self.in_use()
        ))
    }
}

/// One snapshot's view of the budget: the shared count and this configuration's limit.
#[derive(Debug, Clone)]
pub struct Budget {
    shared: Arc<MemoryBudget>,
    limit: usize,
}

impl Budget {
    /// The configured limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Admits a request that holds `bytes` from now: refused when the budget is already
    /// used up or the bytes do not fit in what is left.
    pub fn admit(&self, bytes: usize) -> Result<Charge, Problem> {
        let before = self.shared.in_use.fetch_add(bytes, Ordering::Relaxed);
        if before >= self.limit || before.saturating_add(bytes) > self.limit {
            self.shared.in_use.fetch_sub(bytes, Ordering::Relaxed);
            return Err(self.shared.refuse(bytes, self.limit));
        }
        Ok(Charge {
            shared: Arc::clone(&self.shared),
            limit: self.limit,
            bytes,
        })
    }
}

/// Bytes a request holds against the budget, given back when dropped.
#[derive(Debug)]
pub struct Charge {
    shared: Arc<MemoryBudget>,
    limit: usize,
    bytes: usize,
}

impl Charge {
    /// Bytes this charge holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `more` bytes too, unless they do not fit: then the request is refused (what it
    /// held so far stays counted until the charge is dropped).
    pub fn grow(&mut self, more: usize) -> Result<(), Problem> {
        if more == 0 {
            return Ok(());
        }
        let before = self.shared.in_use.fetch_add(more, Ordering::Relaxed);
        if before.saturating_add(more) > self.limit {
            self.shared.in_use.fetch_sub(more, Ordering::Relaxed);
            return Err(self.shared.refuse(more, self.limit));
        }
        self.bytes += more;
        Ok(())
    }

    /// Gives back what this charge holds beyond `bytes` (an estimate made before the body's
    /// size was known, corrected once it is).
    pub fn shrink_to(&mut self, bytes: usize) {
        if bytes < self.bytes {
            self.shared
                .in_use
                .fetch_sub(self.bytes - bytes, Ordering::Relaxed);
            self.bytes = bytes;
        }
    }

    /// [`Charge::hold`], first giving back all but the answer's own bytes when its body's
    /// length is known: the request's body and documents are dropped by then.
    pub fn hold_answer(mut self, resp: Response) -> Response {
        if let Some(n) = http_body::Body::size_hint(resp.body()).exact() {
            self.shrink_to(usize::try_from(n).unwrap_or(usize::MAX));
        }
        self.hold(resp)
    }

    /// `resp` with this charge riding in its body: released when the body is dropped, that
    /// is once the answer is written or the connection is gone.
    pub fn hold(self, resp: Response) -> Response {
        resp.map(|inner| {
            Body::new(Held {
                inner,
                _charge: self,
            })
        })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.shared.in_use.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// A response body holding its request's [`Charge`].
struct Held {
    inner: Body,
    _charge: Charge,
}

impl http_body::Body for Held {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt as _;

    fn budget(limit: usize) -> (Arc<MemoryBudget>, Budget) {
        let shared = Arc::new(MemoryBudget::default());
        let b = shared.with_limit(limit);
        (shared, b)
    }

    #[test]
    fn admits_while_the_bytes_fit_and_releases_on_drop() {
        let (shared, b) = budget(1000);
        let first = b.admit(600).unwrap();
        assert_eq!(shared.in_use(), 600);
        let refused = b.admit(401).unwrap_err();
        assert_eq!(refused.kind, ProblemKind::MemoryBudgetExhausted);
        assert_eq!(refused.status, http::StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(refused.retry_after, Some(RETRY_AFTER_SECS));
        assert_eq!(shared.in_use(), 600, "a refusal takes nothing");
        let second = b.admit(400).unwrap();
        assert_eq!(shared.in_use(), 1000);
        // Used up: even a request that holds nothing yet is not admitted.
        assert!(b.admit(0).is_err());
        assert_eq!(shared.refused(), 2);
        drop(first);
        assert_eq!(shared.in_use(), 400);
        drop(second);
        assert_eq!(shared.in_use(), 0);
        assert!(b.admit(0).is_ok());
    }

    #[test]
    fn grows_within_the_limit_and_shrinks_to_what_is_held() {
        let (shared, b) = budget(1000);
        let mut c = b.admit(100).unwrap();
        c.grow(800).unwrap();
        assert_eq!((c.bytes(), shared.in_use()), (900, 900));
        assert!(c.grow(101).is_err());
        assert_eq!((c.bytes(), shared.in_use()), (900, 900));
        c.shrink_to(250);
        assert_eq!((c.bytes(), shared.in_use()), (250, 250));
        c.shrink_to(900);
        assert_eq!(c.bytes(), 250, "shrinking never grows");
        drop(c);
        assert_eq!(shared.in_use(), 0);
    }

    #[tokio::test]
    async fn a_held_charge_is_released_when_the_body_is_dropped() {
        let (shared, b) = budget(1000);
        let resp = b
            .admit(300)
            .unwrap()
            .hold(Response::new(Body::from("answer")));
        assert_eq!(shared.in_use(), 300);
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"answer");
        assert_eq!(shared.in_use(), 0);
    }

    #[tokio::test]
    async fn an_answer_keeps_only_its_own_bytes() {
        let (shared, b) = budget(1000);
        let resp = b
            .admit(800)
            .unwrap()
            .hold_answer(Response::new(Body::from("twelve bytes")));
        assert_eq!(shared.in_use(), 12);
        drop(resp);
        assert_eq!(shared.in_use(), 0);
    }

    #[test]
    fn declared_bodies() {
        let h = |pairs: &[(&str, &str)]| {
            let mut m = http::HeaderMap::new();
            for (k, v) in pairs {
                m.insert(
                    http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    v.parse().unwrap(),
                );
            }
            m
        };
        assert_eq!(declared_body(&h(&[]), 100), 0);
        assert_eq!(declared_body(&h(&[("content-length", "42")]), 100), 42);
        assert_eq!(declared_body(&h(&[("content-length", "4200")]), 100), 100);
        assert_eq!(declared_body(&h(&[("content-length", "x")]), 100), 100);
        assert_eq!(
            declared_body(&h(&[("transfer-encoding", "chunked")]), 100),
            100
        );
    }

    #[test]
    fn the_default_admits_sixty_four_of_the_largest_requests() {
        assert_eq!(default_limit(1024 * 1024), 1024 * 1024 * 1024);
        assert_eq!(default_limit(usize::MAX), usize::MAX);
        assert_eq!(request_charge(1000), 16_000);
    }
}
