//! Upstream connections that know when the upstream closed them first.
//!
//! A pooled keep-alive connection can be closed by the upstream at any moment (its own
//! idle timeout, a load balancer recycling connections, a restart), and the gateway only
//! notices when it next reads from it. A request written onto such a connection fails
//! with a reset or an early end of stream, and nothing then tells whether the upstream
//! read it, so it cannot be sent again safely, least of all a POST. [`GuardedConnector`]
//! closes most of that window: before the first write after a read (the start of every
//! request on a reused connection) it looks, without blocking or consuming anything,
//! whether the upstream already ended or reset the connection; if so the write fails with
//! [`NotSent`] and no byte of the request has left the gateway. Such a request provably
//! never reached the upstream, and [`super::Upstream::send`] sends it once more on a fresh
//! connection, whatever its method. The look is one `recv(MSG_PEEK | MSG_DONTWAIT)` per
//! request.

use std::future::Future;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// The upstream had closed the connection before the gateway wrote any byte of the
/// request: the request never reached it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the upstream closed the connection before the request was written")]
pub struct NotSent;

impl NotSent {
    /// Whether `e`, or an error it was caused by, is [`NotSent`].
    pub fn caused(e: &(dyn std::error::Error + 'static)) -> bool {
        let mut next = Some(e);
        while let Some(e) = next {
            if e.is::<NotSent>()
                || e.downcast_ref::<io::Error>()
                    .and_then(io::Error::get_ref)
                    .is_some_and(|inner| inner.is::<NotSent>())
            {
                return true;
            }
            next = e.source();
        }
        false
    }
}

/// [`HttpConnector`] whose connections are [`GuardedStream`]s.
#[derive(Clone)]
pub struct GuardedConnector(pub HttpConnector);

type ConnectError = <HttpConnector as tower::Service<Uri>>::Error;

impl tower::Service<Uri> for GuardedConnector {
    type Response = GuardedStream;
    type Error = ConnectError;
    type Future = Pin<Box<dyn Future<Output = Result<GuardedStream, ConnectError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ConnectError>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connecting = self.0.call(uri);
        Box::pin(async move {
            let io = connecting.await?;
            Ok(GuardedStream { io, look: false })
        })
    }
}

/// A TCP connection that refuses the first write after a read when the upstream has
/// already closed it (see the module documentation).
pub struct GuardedStream {
    io: TokioIo<TcpStream>,
    /// A read happened since the last write: the next write starts a new message.
    look: bool,
}

impl GuardedStream {
    /// Whether the upstream has ended or reset the connection, without waiting or taking
    /// any byte it sent.
    fn closed_by_peer(&self) -> bool {
        let mut byte = [MaybeUninit::<u8>::uninit()];
        match socket2::SockRef::from(self.io.inner()).peek(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => matches!(
                e.kind(),
                io::ErrorKind::ConnectionReset
                    | io::ErrorKind::ConnectionAborted
                    | io::ErrorKind::BrokenPipe
            ),
        }
    }

    fn guard(&mut self) -> io::Result<()> {
        if std::mem::take(&mut self.look) && self.closed_by_peer() {
            return Err(io::Error::new(io::ErrorKind::ConnectionAborted, NotSent));
        }
        Ok(())
    }
}

impl Read for GuardedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let ready = Pin::new(&mut self.io).poll_read(cx, buf);
        if ready.is_ready() {
            self.look = true;
        }
        ready
    }
}

impl Write for GuardedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.guard()?;
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.guard()?;
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

impl Connection for GuardedStream {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}
