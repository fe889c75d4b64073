//! Requests that never left: knowing that a request on a pooled connection was not written
//! before the connection turned out closed, and keeping what is needed to send it again.
//!
//! An upstream that closes an idle keep-alive connection (its own idle timeout, a restart)
//! races the gateway picking that connection for the next request. hyper settles the race
//! in the gateway's favour when it sees the close before writing: it hands the request
//! back unsent, as a canceled error ([`was_unsent`]), and the upstream cannot have seen a
//! byte of it, so it may go again whatever its method. A request written before the close
//! arrived is another matter: the upstream may have read it, and only the route's retry
//! policy may repeat it.
//!
//! Two things widen the first case to every close the kernel already knows of:
//!
//! - [`WatchingConnector`]'s streams check the socket itself when tokio has no readiness
//!   news: hyper looks for a close (a read) before writing a request on an idle
//!   connection, and tokio answers that read from readiness the reactor may not have
//!   collected yet on a busy process. A non-blocking peek tells the truth at once. It is
//!   made only where it can matter: not while a request is being written or answered, and
//!   only on a connection that has been quiet for [`PEEK_AFTER_QUIET`] (see there).
//! - hyper-util's own retry of canceled requests is off (see [`super::HttpClient`]): it
//!   would try again, uncounted, on whatever connection the pool gives next, stale or not.
//!   The gateway sends such a request once more on a new connection and counts it.
//!
//! [`keep`] keeps the body for that second send: a whole body is a cheap `Bytes` handle;
//! a streamed one is handed to hyper through a [`Handoff`] and stays here until hyper first
//! reads from it, so it is available again exactly when nothing of it was sent.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Uri;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt as _, Either, Full};
use hyper::rt::ReadBufCursor;
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::{StreamBody, UpstreamBody};

/// Whether `error` (a pooled client's) says the request was handed back unsent: hyper
/// reports that, and only that, as a canceled request.
pub fn was_unsent(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(h) = e.downcast_ref::<hyper::Error>() {
            return h.is_canceled();
        }
        next = e.source();
    }
    false
}

/// [`HttpConnector`] whose streams are [`Watched`].
#[derive(Debug, Clone)]
pub struct WatchingConnector(pub HttpConnector);

type ConnectError = <HttpConnector as tower::Service<Uri>>::Error;

impl tower::Service<Uri> for WatchingConnector {
    type Response = Watched;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<Watched, ConnectError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        tower::Service::poll_ready(&mut self.0, cx)
    }

    fn call(&mut self, dst: Uri) -> Self::Future {
        // A plain-HTTP target comes as its pool alias (see `pool_alias`).
        let dst = super::pool_alias::resolve(&dst).unwrap_or(dst);
        let connecting = tower::Service::call(&mut self.0, dst);
        Box::pin(async move {
            connecting.await.map(|io| Watched {
                io,
                written: false,
                open_at: None,
            })
        })
    }
}

/// An upstream TCP stream whose reads report the peer's close as soon as the kernel has it
/// (see the module documentation).
#[derive(Debug)]
pub struct Watched {
    io: TokioIo<TcpStream>,
    /// Bytes were written since the last read returned data: a request is under way, so a
    /// close found now cannot make it unsent, and readiness reports it in good time.
    written: bool,
    /// When the connection was last known open and in use: the first byte of an answer
    /// after a request, or a peek that found it open. Until [`PEEK_AFTER_QUIET`] has
    /// passed since, a read that finds nothing is not checked with a peek.
    open_at: Option<Instant>,
}

/// How long a connection must have been quiet before a read that finds nothing is checked
/// with a peek. The close a peek can catch before readiness reports it is one that arrived
/// just before the connection is used again, and the close of an idle connection arrives
/// a whole idle timeout after its last answer: a connection quiet for less than this has
/// not met the idle timeout of any server configured with one of 100 ms or more (common
/// defaults are seconds: gunicorn 2 s, Node.js and uvicorn 5 s, nginx 75 s). A close
/// right after an answer, without the `Connection: close` that announces it (RFC 9112
/// §9.6), reaches readiness as soon as the runtime next polls its reactor. Under load a
/// connection is used again well within this, so its exchanges make no peek at all:
/// otherwise each peek that found nothing was a system call, two to three per exchange
/// at 32 connections (docs/performance.md).
const PEEK_AFTER_QUIET: Duration = Duration::from_millis(100);

impl hyper::rt::Read for Watched {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.io).poll_read(cx, buf) {
            // The waker is registered: if the peek finds nothing, readiness wakes us later.
            Poll::Pending if !this.written => {
                if this.open_at.is_some_and(|t| t.elapsed() < PEEK_AFTER_QUIET) {
                    return Poll::Pending;
                }
                match peer_closed(this.io.inner()) {
                    Some(closed) => Poll::Ready(closed),
                    None => {
                        this.open_at = Some(Instant::now());
                        Poll::Pending
                    }
                }
            }
            Poll::Pending => Poll::Pending,
            ready => {
                if this.written {
                    // The answer has begun: the connection was open and in use now.
                    this.written = false;
                    this.open_at = Some(Instant::now());
                }
                ready
            }
        }
    }
}

/// `Some` when the peer has closed (end of stream: `Ok`; reset: the error) and nothing is
/// left to read; `None` while the connection is open or data waits for the reactor.
fn peer_closed(tcp: &TcpStream) -> Option<io::Result<()>> {
    let mut probe = [MaybeUninit::<u8>::uninit()];
    // The socket is non-blocking (tokio's): the peek never waits.
    match socket2::SockRef::from(tcp).peek(&mut probe) {
        Ok(0) => Some(Ok(())),
        Ok(_) => None,
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ) =>
        {
            None
        }
        Err(e) => Some(Err(e)),
    }
}

impl hyper::rt::Write for Watched {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let wrote = Pin::new(&mut this.io).poll_write(cx, buf);
        this.written |= matches!(wrote, Poll::Ready(Ok(n)) if n > 0);
        wrote
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let wrote = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.written |= matches!(wrote, Poll::Ready(Ok(n)) if n > 0);
        wrote
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

impl Connection for Watched {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}

/// What is kept of a request's body to send it again (see [`keep`]).
pub enum Spare {
    Whole(Full<Bytes>),
    Stream(Arc<Mutex<Option<StreamBody>>>),
}

/// The body to send now, and the [`Spare`] to send again if hyper hands the request back.
pub fn keep(body: UpstreamBody) -> (UpstreamBody, Spare) {
    match body {
        Either::Left(whole) => (Either::Left(whole.clone()), Spare::Whole(whole)),
        Either::Right(stream) => {
            let slot = Arc::new(Mutex::new(Some(stream)));
            let handoff = Handoff {
                slot: Arc::clone(&slot),
                body: None,
            };
            (Either::Right(handoff.boxed_unsync()), Spare::Stream(slot))
        }
    }
}

impl Spare {
    /// The body again; `None` for a streamed body hyper started reading, which cannot be
    /// sent twice.
    pub fn take(self) -> Option<UpstreamBody> {
        match self {
            Spare::Whole(whole) => Some(Either::Left(whole)),
            Spare::Stream(slot) => lock(&slot).take().map(Either::Right),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The slot is taken whole: a panic elsewhere cannot leave it torn.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A streamed body that hyper takes out of the shared slot on its first read.
pub struct Handoff {
    slot: Arc<Mutex<Option<StreamBody>>>,
    body: Option<StreamBody>,
}

impl Body for Handoff {
    type Data = Bytes;
    type Error = axum::BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::BoxError>>> {
        let this = self.get_mut();
        if this.body.is_none() {
            match lock(&this.slot).take() {
                Some(b) => this.body = Some(b),
                // Only a body already given to a second send leaves the slot empty; this
                // handle's request was handed back, so this read does not happen.
                None => return Poll::Ready(Some(Err("the request body was already sent".into()))),
            }
        }
        match this.body.as_mut() {
            Some(b) => Pin::new(b).poll_frame(cx),
            None => Poll::Ready(None),
        }
    }

    fn is_end_stream(&self) -> bool {
        match &self.body {
            Some(b) => b.is_end_stream(),
            None => lock(&self.slot).as_ref().is_none_or(Body::is_end_stream),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.body {
            Some(b) => b.size_hint(),
            None => lock(&self.slot)
                .as_ref()
                .map(Body::size_hint)
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stream(data: &'static [u8]) -> StreamBody {
        Full::new(Bytes::from_static(data))
            .map_err(|never| match never {})
            .boxed_unsync()
    }

    #[tokio::test]
    async fn a_streamed_body_is_spare_until_first_read() {
        let (body, spare) = keep(Either::Right(stream(b"abc")));
        assert_eq!(body.size_hint().exact(), Some(3));
        drop(body);
        let again = spare.take().expect("an unread body is kept");
        assert_eq!(again.collect().await.unwrap().to_bytes(), "abc");

        let (body, spare) = keep(Either::Right(stream(b"abc")));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "abc");
        assert!(spare.take().is_none(), "a read body is not sent twice");
    }

    #[tokio::test]
    async fn a_whole_body_is_always_spare() {
        let (body, spare) = keep(Either::Left(Full::new(Bytes::from_static(b"xyz"))));
        assert_eq!(body.collect().await.unwrap().to_bytes(), "xyz");
        let again = spare.take().unwrap();
        assert_eq!(again.collect().await.unwrap().to_bytes(), "xyz");
    }

    #[tokio::test]
    async fn a_closed_peer_is_seen_without_readiness() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        assert!(peer_closed(&client).is_none(), "open and quiet");
        drop(server);
        // The close reaches the socket on loopback within moments.
        let mut seen = None;
        for _ in 0..100 {
            seen = peer_closed(&client);
            if seen.is_some() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert!(matches!(seen, Some(Ok(()))), "{seen:?}");
    }
}
