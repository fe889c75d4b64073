//! The byte tunnel behind an upgraded (WebSocket) connection: the client's connection and
//! the service's, copied both ways until one side closes, both stay silent for the idle
//! timeout, or a direction passes its byte limit. No frame is parsed: the limit is on
//! bytes, which bounds what a connection can move whatever its frames.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// How a tunnel ended.
#[derive(Debug, PartialEq, Eq)]
pub enum TunnelEnd {
    /// One side closed; the bytes copied each way (client to service, service to client).
    Closed(u64, u64),
    Idle,
    TooLarge,
    /// An upgrade did not complete or the copy failed.
    Failed(String),
}

/// Waits for both upgrades, then copies until the tunnel ends.
pub async fn run(
    client: OnUpgrade,
    service: OnUpgrade,
    idle: Duration,
    max_bytes: Option<u64>,
) -> TunnelEnd {
    let (client, service) = match tokio::try_join!(client, service) {
        Ok(both) => both,
        Err(e) => return TunnelEnd::Failed(e.to_string()),
    };
    let started = Instant::now();
    let last = Arc::new(AtomicU64::new(0));
    let limit = max_bytes.unwrap_or(u64::MAX);
    let mut a = Counted::new(TokioIo::new(client), Arc::clone(&last), started, limit);
    let mut b = Counted::new(TokioIo::new(service), Arc::clone(&last), started, limit);
    let copy = tokio::io::copy_bidirectional(&mut a, &mut b);
    tokio::pin!(copy);
    loop {
        let seen = last.load(Ordering::Relaxed);
        let deadline = started + Duration::from_millis(seen) + idle;
        tokio::select! {
            result = &mut copy => {
                return match result {
                    Ok((up, down)) => TunnelEnd::Closed(up, down),
                    Err(e) if e.kind() == std::io::ErrorKind::FileTooLarge => TunnelEnd::TooLarge,
                    Err(e) => TunnelEnd::Failed(e.to_string()),
                };
            }
            () = tokio::time::sleep_until(deadline) => {
                if last.load(Ordering::Relaxed) == seen {
                    return TunnelEnd::Idle;
                }
            }
        }
    }
}

/// A stream that records when it last read anything and refuses to read past `limit`.
struct Counted<S> {
    inner: S,
    last: Arc<AtomicU64>,
    started: Instant,
    read: u64,
    limit: u64,
}

impl<S> Counted<S> {
    fn new(inner: S, last: Arc<AtomicU64>, started: Instant, limit: u64) -> Self {
        Counted {
            inner,
            last,
            started,
            read: 0,
            limit,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Counted<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        let n = (buf.filled().len() - before) as u64;
        if n > 0 {
            this.read += n;
            this.last
                .store(this.started.elapsed().as_millis() as u64, Ordering::Relaxed);
            if this.read > this.limit {
                return Poll::Ready(Err(std::io::Error::new(
                    std::io::ErrorKind::FileTooLarge,
                    "the tunnel's byte limit is reached",
                )));
            }
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Counted<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
