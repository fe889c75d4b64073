//! A body passed through a `proxy` route frame by frame: never held whole, cut off when
//! it exceeds its route's size limit or stays silent too long, so a stalled or endless
//! peer costs one frame of memory and a bounded time.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::balance::Pick;

/// Why a streamed body was cut off.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StreamError {
    #[error("the body exceeds the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("no part of the body arrived for {} ms", idle.as_millis())]
    Idle { idle: Duration },
    #[error("the body could not be read: {0}")]
    Broken(String),
}

/// What happened to a streamed body, readable after the exchange failed (the error itself
/// went to the other side's connection).
#[derive(Debug, Default, Clone)]
pub struct Outcome(Arc<AtomicU8>);

const TOO_LARGE: u8 = 1;
const IDLE: u8 = 2;

impl Outcome {
    pub fn too_large(&self) -> bool {
        self.0.load(Ordering::Relaxed) == TOO_LARGE
    }

    pub fn idle(&self) -> bool {
        self.0.load(Ordering::Relaxed) == IDLE
    }
}

pin_project_lite::pin_project! {
    /// `inner`, passed on frame by frame within `limit` bytes and with at most `idle`
    /// between two frames.
    pub struct Metered<B> {
        #[pin]
        inner: B,
        limit: u64,
        seen: u64,
        idle: Duration,
        #[pin]
        timer: Sleep,
        outcome: Outcome,
        // The target the body comes from, in flight until the body is done.
        pick: Option<Pick>,
    }
}

impl<B> Metered<B> {
    pub fn new(inner: B, limit: u64, idle: Duration, pick: Option<Pick>) -> Self {
        Metered {
            inner,
            limit,
            seen: 0,
            idle,
            timer: tokio::time::sleep(idle),
            outcome: Outcome::default(),
            pick,
        }
    }

    /// A handle on what happens to the body.
    pub fn outcome(&self) -> Outcome {
        self.outcome.clone()
    }
}

impl<B> Body for Metered<B>
where
    B: Body<Data = Bytes>,
    B::Error: std::fmt::Display,
{
    type Data = Bytes;
    type Error = StreamError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, StreamError>>> {
        let mut this = self.project();
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Pending => {
                ready!(this.timer.as_mut().poll(cx));
                this.outcome.0.store(IDLE, Ordering::Relaxed);
                Poll::Ready(Some(Err(StreamError::Idle { idle: *this.idle })))
            }
            Poll::Ready(None) => {
                this.pick.take();
                Poll::Ready(None)
            }
            Poll::Ready(Some(Err(e))) => {
                this.pick.take();
                Poll::Ready(Some(Err(StreamError::Broken(e.to_string()))))
            }
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    *this.seen += data.len() as u64;
                    if *this.seen > *this.limit {
                        this.outcome.0.store(TOO_LARGE, Ordering::Relaxed);
                        this.pick.take();
                        return Poll::Ready(Some(Err(StreamError::TooLarge {
                            limit: *this.limit,
                        })));
                    }
                }
                this.timer.as_mut().reset(Instant::now() + *this.idle);
                Poll::Ready(Some(Ok(frame)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
