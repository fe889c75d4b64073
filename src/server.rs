//! The HTTP listener: accepts TCP connections and serves HTTP/1.1 on them with hyper.
//!
//! `axum::serve` has no header-read timer and no connection cap, so the gateway runs its own
//! accept loop. What a client sees at each limit, as hyper 1.x behaves:
//!
//! - **Slow head** (slow-loris): a client that has not sent a complete request head within
//!   [`ServerOptions::header_read_timeout`] has its connection closed without a response. The
//!   same timer runs while a keep-alive connection waits for its next request, so an idle
//!   keep-alive connection lives at most `header_read_timeout` (hyper starts the head timer
//!   as soon as it waits for a head).
//! - **Head too large**: more than [`ServerOptions::max_header_bytes`] bytes of request line
//!   and headers gets `431 Request Header Fields Too Large` (empty body) and the connection
//!   is closed.
//! - **Too many headers**: more than [`ServerOptions::max_headers`] header lines gets the same
//!   `431` and close.
//! - **Client that does not read** the response: a write that makes no progress for
//!   [`ServerOptions::response_write_timeout`] (the client's receive window and the socket's
//!   send buffer are full) fails, and the connection is closed, freeing its slot. A slow
//!   reader that keeps taking bytes is not cut; one that stops is.
//! - **Connection cap**: at [`ServerOptions::max_connections`] open connections the accept
//!   loop stops accepting until one closes; new clients wait in the kernel's listen backlog
//!   (and connect, but are not read from) rather than being refused, so a burst is absorbed
//!   instead of turned into errors.
//! - **Out of descriptors**: an accept failing with `EMFILE` or `ENFILE` pauses the loop for
//!   [`ACCEPT_ERROR_BACKOFF`] instead of spinning; clients wait in the backlog, each failed
//!   attempt is counted and each burst logged once (`accept.rs`). `serve` shares the
//!   descriptors out at start so that this stays rare (`fds.rs`).
//! - **Shutdown**: when the `shutdown` future completes the listener is closed, idle
//!   connections are closed, in-flight requests run to completion (their connections are
//!   closed after the response) for up to [`ServerOptions::shutdown_grace`], then whatever is
//!   left is aborted and [`serve`] returns. Each request carries a [`DrainCut`] that says,
//!   when its handler is dropped, whether this was why.
//! - **Rejected by hyper**: a head hyper cannot parse gets `400`, one too large `431` (a
//!   request target too long `414`), and the connection is closed; the service never sees
//!   the request. [`serve_observed`] reports each to a [`RejectionHook`], so those requests
//!   are counted and logged too.
//!
//! Options are read from an [`OptionsSource`]: a fixed [`ServerOptions`], or a function
//! returning the options of the configuration snapshot of the moment. Each accepted
//! connection reads them once, so a reload applies to the connections accepted after it
//! (a connection keeps the options it was accepted with); `max_connections` is read when
//! [`serve`] starts and `shutdown_grace` when the shutdown begins.
//!
//! Handlers see the peer address as a
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension.

mod accept;
pub mod fds;

pub use accept::{KINDS as ACCEPT_ERROR_KINDS, failures as accept_failures};

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use axum::extract::ConnectInfo;
use http::{Request, Response};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::ServiceExt as _;

use crate::config::file::{GatewayConfig, LimitsConfig, ServerConfig};
use crate::config::listener::Http2Config;
use crate::edge::auth::PeerCertificates;

/// Pause after an accept error that is not about one connection (EMFILE, ENFILE, ENOBUFS):
/// retrying at once would spin a core while the process is out of descriptors; a short
/// pause lets in-flight connections finish and free some without making clients wait long.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// hyper's default read-buffer cap (8 KiB + 100 × 4 KiB). A head must fit in the buffer,
/// so a head limit above it raises the cap; below it `max_header_size` alone enforces it.
const HYPER_DEFAULT_MAX_BUF: usize = 8192 + 4096 * 100;

/// How the listener treats its connections. Build it from the configuration with
/// [`ServerOptions::from_config`]; tests set the fields directly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Time a client has to send a complete request head (also the idle limit of a
    /// keep-alive connection, see the module documentation). Zero disables the timer, which
    /// leaves the gateway open to slow-loris clients.
    pub header_read_timeout: Duration,
    /// Serve several requests per connection.
    pub keep_alive: bool,
    /// Connections served at once; further clients wait in the listen backlog.
    pub max_connections: usize,
    /// Most header lines in a request head (431 beyond).
    pub max_headers: usize,
    /// Largest request head in bytes, request line included (431 beyond).
    pub max_header_bytes: usize,
    /// Longest a response write may make no progress before the connection is closed (a
    /// client that stopped reading). Zero disables the timer, which lets such clients hold
    /// their connection slots for ever.
    pub response_write_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
    /// An HTTP/2 connection with no stream open for this long is closed with GOAWAY
    /// (`server.keep_alive_timeout_ms`); zero keeps it open.
    pub idle_timeout: Duration,
    /// HTTP/2 without TLS on a plaintext listener (`server.h2c`).
    pub h2c: bool,
    /// The HTTP/2 limits (`[server.http2]`).
    pub http2: Http2Config,
}

impl ServerOptions {
    /// The options `gateway.toml` describes. `keep_alive_timeout_ms` of zero turns
    /// keep-alive off; any other value keeps connections open, idle at most
    /// `header_read_timeout` (hyper has no separate idle timer).
    pub fn from_config(server: &ServerConfig, limits: &LimitsConfig) -> Self {
        ServerOptions {
            header_read_timeout: Duration::from_millis(server.header_read_timeout_ms),
            keep_alive: server.keep_alive_timeout_ms > 0,
            max_connections: server.max_connections,
            max_headers: limits.max_headers,
            max_header_bytes: limits.max_header_bytes,
            response_write_timeout: Duration::from_millis(server.response_write_timeout_ms),
            shutdown_grace: Duration::from_millis(server.shutdown_grace_ms),
            idle_timeout: Duration::from_millis(server.keep_alive_timeout_ms),
            h2c: server.h2c,
            http2: server.http2.clone(),
        }
    }

    fn http1(&self) -> http1::Builder {
        let mut b = http1::Builder::new();
        b.timer(TokioTimer::new())
            .header_read_timeout(
                (!self.header_read_timeout.is_zero()).then_some(self.header_read_timeout),
            )
            .keep_alive(self.keep_alive)
            .max_headers(self.max_headers.max(1))
            .max_header_size(self.max_header_bytes.max(1));
        if self.max_header_bytes > HYPER_DEFAULT_MAX_BUF {
            b.max_buf_size(self.max_header_bytes);
        }
        b
    }

    /// HTTP/2 with the head limit of HTTP/1.1 as its header list size, and the stream limits.
    fn http2(&self) -> http2::Builder<TokioExecutor> {
        let mut b = http2::Builder::new(TokioExecutor::new());
        let h2 = &self.http2;
        b.timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.max_header_bytes.max(1)).unwrap_or(u32::MAX))
            .max_concurrent_streams(h2.max_concurrent_streams)
            .max_pending_accept_reset_streams(h2.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(h2.max_local_error_reset_streams)
            .keep_alive_interval(
                (h2.keep_alive_interval_ms > 0)
                    .then(|| Duration::from_millis(h2.keep_alive_interval_ms)),
            )
            .keep_alive_timeout(Duration::from_millis(h2.keep_alive_timeout_ms.max(1)));
        b
    }

    /// HTTP/1.1 or HTTP/2 by the client's preface (`server.h2c`). hyper-util's HTTP/1.1
    /// side has no head-size setting: its read buffer bounds the head instead (at least
    /// 8 KiB, hyper's smallest).
    fn auto(&self) -> auto::Builder<TokioExecutor> {
        let mut b = auto::Builder::new(TokioExecutor::new());
        b.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(
                (!self.header_read_timeout.is_zero()).then_some(self.header_read_timeout),
            )
            .keep_alive(self.keep_alive)
            .max_headers(self.max_headers.max(1))
            .max_buf_size(self.max_header_bytes.max(8192));
        let h2 = &self.http2;
        b.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(self.max_header_bytes.max(1)).unwrap_or(u32::MAX))
            .max_concurrent_streams(h2.max_concurrent_streams)
            .max_pending_accept_reset_streams(h2.max_pending_accept_reset_streams)
            .max_local_error_reset_streams(h2.max_local_error_reset_streams)
            .keep_alive_interval(
                (h2.keep_alive_interval_ms > 0)
                    .then(|| Duration::from_millis(h2.keep_alive_interval_ms)),
            )
            .keep_alive_timeout(Duration::from_millis(h2.keep_alive_timeout_ms.max(1)));
        b
    }
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions::from_config(&ServerConfig::default(), &LimitsConfig::default())
    }
}

/// Where [`serve`] reads its options (see the module documentation): a fixed
/// [`ServerOptions`], or a function returning the current ones.
pub trait OptionsSource: Send {
    fn current(&self) -> ServerOptions;
}

impl OptionsSource for ServerOptions {
    fn current(&self) -> ServerOptions {
        self.clone()
    }
}

impl<F: Fn() -> ServerOptions + Send> OptionsSource for F {
    fn current(&self) -> ServerOptions {
        self()
    }
}

/// The configuration keys the process reads once, at start: the listener (`server.listen`,
/// `server.max_connections`, `server.h2c`, `[tls]`; the certificate files' contents are
/// reloaded on their own), the runtime (`server.workers`), the admin surface and file
/// watcher (`admin.*`) and the log subscriber (`logging.format`, `logging.level`). Returns
/// those whose value differs between `old` and `new`, so a reload can say that they wait for
/// a restart instead of silently keeping the old values.
pub fn read_at_start_changes(old: &GatewayConfig, new: &GatewayConfig) -> Vec<&'static str> {
    let checks = [
        ("server.listen", old.server.listen != new.server.listen),
        ("server.workers", old.server.workers != new.server.workers),
        (
            "server.max_connections",
            old.server.max_connections != new.server.max_connections,
        ),
        ("server.h2c", old.server.h2c != new.server.h2c),
        ("admin.enabled", old.admin.enabled != new.admin.enabled),
        ("admin.listen", old.admin.listen != new.admin.listen),
        ("tls", old.tls != new.tls),
        ("admin.watch", old.admin.watch != new.admin.watch),
        (
            "admin.watch_debounce_ms",
            old.admin.watch_debounce_ms != new.admin.watch_debounce_ms,
        ),
        ("logging.format", old.logging.format != new.logging.format),
        ("logging.level", old.logging.level != new.logging.level),
    ];
    checks
        .into_iter()
        .filter_map(|(key, changed)| changed.then_some(key))
        .collect()
}

/// In every request's extensions: set when the drain deadline passed and the connections
/// still open are being aborted, so a handler dropped unfinished can tell shutdown from a
/// client that went away.
#[derive(Debug, Clone, Default)]
pub struct DrainCut(Arc<std::sync::atomic::AtomicBool>);

impl DrainCut {
    pub fn is_cut(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// A request hyper answered itself without calling the service (see the module
/// documentation): the status it sent and the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rejected {
    pub status: u16,
    pub peer: SocketAddr,
}

/// Where [`serve_observed`] reports each [`Rejected`] request.
pub type RejectionHook = Arc<dyn Fn(Rejected) + Send + Sync>;

/// The status hyper answered a connection's failed request with, when it answered one: a
/// head it could not parse (400), too large (431) or with a request target too long (414).
/// The HTTP/2 preface on an HTTP/1.1 connection is not a request and gets no answer.
fn rejection_status(e: &hyper::Error) -> Option<u16> {
    if e.is_parse_version_h2() {
        None
    } else if e.is_parse_too_large() {
        // hyper tells the two apart only in its message.
        Some(if e.to_string().contains("URI too long") {
            414
        } else {
            431
        })
    } else if e.is_parse() {
        Some(400)
    } else {
        None
    }
}

/// A response write made no progress within the response write timeout: the client stopped
/// reading. Carried in the [`io::Error`] that ends the connection.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the client read nothing of the response for {} ms", .0.as_millis())]
pub struct WriteStalled(pub Duration);

/// An accepted connection whose writes must make progress: while a write is pending (the
/// socket's send buffer is full because the client does not read) a timer runs, and when it
/// expires the write fails with [`io::ErrorKind::TimedOut`], which ends the connection.
/// Any progress disarms the timer, so a client that reads slowly but steadily is served.
///
/// It wraps the socket rather than the response body so that it covers every byte written
/// on the connection: heads, bodies, error responses and admin endpoints alike.
pub struct WriteDeadline<S> {
    inner: S,
    limit: Option<Duration>,
    /// Allocated at the first stall and reused after, so a connection that never stalls
    /// costs no timer.
    timer: Option<Pin<Box<Sleep>>>,
    /// Whether `timer` measures the current stall (false: it is left over from an earlier
    /// one and must be reset before use).
    armed: bool,
}

impl<S> WriteDeadline<S> {
    /// `limit` of zero disables the timer.
    pub fn new(inner: S, limit: Duration) -> Self {
        WriteDeadline {
            inner,
            limit: (!limit.is_zero()).then_some(limit),
            timer: None,
            armed: false,
        }
    }

    /// Passes a finished operation through (a finished write is progress and disarms the
    /// timer; a finished flush or shutdown says nothing about the client); on a pending one,
    /// runs the timer and turns its expiry into the error.
    fn check<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
        is_write: bool,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            if is_write {
                self.armed = false;
            }
            return poll;
        }
        let Some(limit) = self.limit else {
            return Poll::Pending;
        };
        let deadline = tokio::time::Instant::now() + limit;
        let timer = match &mut self.timer {
            Some(t) => {
                if !self.armed {
                    t.as_mut().reset(deadline);
                }
                t
            }
            None => self
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        self.armed = true;
        match timer.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                WriteStalled(limit),
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for WriteDeadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for WriteDeadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.check(cx, poll, true)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.check(cx, poll, true)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_flush(cx);
        this.check(cx, poll, false)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.inner).poll_shutdown(cx);
        this.check(cx, poll, false)
    }
}

/// What a listener serves: the gateway's service, or any other (the tests' and the fuzz
/// target's), named once for every function that drives connections.
pub trait ConnectionService<B>:
    tower::Service<
        Request<Incoming>,
        Response = Response<B>,
        Error = Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static
{
}

impl<S, B> ConnectionService<B> for S where
    S: tower::Service<
            Request<Incoming>,
            Response = Response<B>,
            Error = Infallible,
            Future: Send + 'static,
        > + Clone
        + Send
        + 'static
{
}

/// A response body hyper can write on any connection of the listener.
pub trait ResponseBody:
    hyper::body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
    + Send
    + 'static
{
}

impl<B> ResponseBody for B where
    B: hyper::body::Body<Data: Send, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static
{
}

/// Serves HTTP/1.1 on `listener` with `service` (an [`axum::Router`] or any tower service
/// that never fails) until `shutdown` completes, then drains as described in the module
/// documentation. Returns `Ok` after a shutdown; accept errors are logged and retried, never
/// returned, so one bad moment (out of descriptors) cannot stop the gateway.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    opts: impl OptionsSource,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: ConnectionService<B>,
    B: ResponseBody,
{
    serve_observed(listener, service, opts, None, None, shutdown).await
}

/// [`serve`], with TLS termination when `tls` is given: each connection's handshake (bounded
/// by the header read timeout) comes first, ALPN picks HTTP/2 or HTTP/1.1, and the client
/// certificate chain the handshake verified goes into every request's extensions as
/// [`PeerCertificates`].
pub async fn serve_with<S, B>(
    listener: TcpListener,
    service: S,
    opts: impl OptionsSource,
    tls: Option<crate::tls::Terminator>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: ConnectionService<B>,
    B: ResponseBody,
{
    serve_observed(listener, service, opts, tls, None, shutdown).await
}

/// [`serve_with`], reporting the requests hyper rejects before the service sees them to
/// `rejected`.
pub async fn serve_observed<S, B>(
    listener: TcpListener,
    service: S,
    opts: impl OptionsSource,
    tls: Option<crate::tls::Terminator>,
    rejected: Option<RejectionHook>,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: ConnectionService<B>,
    B: ResponseBody,
{
    let cut = DrainCut::default();
    let permits = Arc::new(Semaphore::new(opts.current().max_connections.max(1)));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut connections = JoinSet::new();
    let mut burst = accept::Burst::default();
    tokio::pin!(shutdown);

    loop {
        // Reap finished connection tasks so the set stays as small as the open connections.
        while connections.try_join_next().is_some() {}

        let permit = tokio::select! {
            () = &mut shutdown => break,
            permit = Arc::clone(&permits).acquire_owned() => match permit {
                Ok(p) => p,
                // The semaphore is never closed; stop serving rather than spin if it were.
                Err(_) => break,
            },
        };
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) if is_per_connection_error(&e) => {
                    tracing::debug!(error = %e, "accept failed for one connection");
                    continue;
                }
                Err(e) => {
                    burst.failed(&e);
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                    }
                }
            },
        };
        burst.accepted();
        // Responses are small and latency matters more than packet count.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "cannot set TCP_NODELAY");
        }

        // This connection's options: those of the configuration served right now.
        let conn_opts = opts.current();
        let io = WriteDeadline::new(stream, conn_opts.response_write_timeout);
        let svc = service.clone();
        let stop = stop_rx.clone();
        let tls = tls.clone();
        let observe = Observe {
            rejected: rejected.clone(),
            cut: cut.clone(),
        };
        connections.spawn(async move {
            let _permit = permit;
            let Some(tls) = tls else {
                let protocol = Protocol::plain(&conn_opts);
                let peer = PeerInfo {
                    addr: peer,
                    certs: None,
                    half_close: false,
                };
                return drive(io, svc, &conn_opts, protocol, peer, observe, stop).await;
            };
            let handshake = tls.acceptor().accept(io);
            let stream = match conn_opts.header_read_timeout {
                d if d.is_zero() => handshake.await,
                d => match tokio::time::timeout(d, handshake).await {
                    Ok(r) => r,
                    Err(_) => {
                        tracing::debug!(%peer, "TLS handshake not completed in time");
                        return;
                    }
                },
            };
            let stream = match stream {
                Ok(s) => s,
                Err(e) => {
                    // A refused client certificate, a client speaking plain HTTP: routine.
                    tracing::debug!(error = %e, %peer, "TLS handshake failed");
                    return;
                }
            };
            let (_, session) = stream.get_ref();
            let protocol = if session.alpn_protocol() == Some(b"h2") {
                Protocol::Http2
            } else {
                Protocol::Http1
            };
            let certs = session
                .peer_certificates()
                .filter(|c| !c.is_empty())
                .map(|c| PeerCertificates(c.iter().map(|d| d.to_vec()).collect()));
            let peer = PeerInfo {
                addr: peer,
                certs,
                half_close: false,
            };
            drive(stream, svc, &conn_opts, protocol, peer, observe, stop).await;
        });
    }

    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        in_flight = connections.len(),
        "shutting down: no longer accepting connections"
    );
    let _ = stop_tx.send(true);
    let grace = opts.current().shutdown_grace;
    let drained = tokio::time::timeout(grace, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "shutdown grace period over; aborting the remaining connections"
        );
        cut.0.store(true, Ordering::SeqCst);
    }
    connections.shutdown().await;
    Ok(())
}

/// Serves one plain (non-TLS) connection over any transport until it ends, exactly as
/// [`serve`] serves an accepted TCP connection: the same hyper settings, timers, request
/// extensions (with `peer` as the client's address) and rejection reports, except that the
/// client may close its sending side after the last request and still get every answer
/// (the connection closes once they are written). For in-memory transports: the HTTP
/// request-path fuzz target drives the gateway's service through it.
pub async fn serve_connection<I, S, B>(
    io: I,
    service: S,
    opts: &ServerOptions,
    peer: SocketAddr,
    rejected: Option<RejectionHook>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: ConnectionService<B>,
    B: ResponseBody,
{
    // Nothing drains a lone connection; the sender lives as long as it does.
    let (_stop_tx, stop_rx) = watch::channel(false);
    let io = WriteDeadline::new(io, opts.response_write_timeout);
    let protocol = Protocol::plain(opts);
    let peer = PeerInfo {
        addr: peer,
        certs: None,
        half_close: true,
    };
    let observe = Observe {
        rejected,
        cut: DrainCut::default(),
    };
    drive(io, service, opts, protocol, peer, observe, stop_rx).await;
}

/// Which HTTP versions a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Http1,
    Http2,
    /// Either, told apart by the HTTP/2 preface (`server.h2c`).
    Auto,
}

impl Protocol {
    /// The protocol of a connection without TLS (no ALPN to say): HTTP/1.1, or either when
    /// `server.h2c` lets a client open with the HTTP/2 preface.
    fn plain(opts: &ServerOptions) -> Protocol {
        if opts.h2c {
            Protocol::Auto
        } else {
            Protocol::Http1
        }
    }
}

/// What a connection reports beyond its answers: hyper's own rejections, and the drain cut
/// each request carries.
#[derive(Clone)]
struct Observe {
    rejected: Option<RejectionHook>,
    cut: DrainCut,
}

impl Observe {
    fn rejected(&self, status: u16, peer: SocketAddr) {
        if let Some(hook) = &self.rejected {
            hook(Rejected { status, peer });
        }
    }
}

/// What the listener knows of a connection's client, put into each request's extensions.
#[derive(Clone)]
struct PeerInfo {
    addr: SocketAddr,
    certs: Option<PeerCertificates>,
    /// The client closes its sending side once it has sent everything and still wants the
    /// answers (an in-memory client). A network client that does so is taken to be gone.
    half_close: bool,
}

/// When a connection last had no request in flight, for the HTTP/2 idle timeout (hyper
/// keeps an HTTP/2 connection open as long as the client does).
#[derive(Default)]
struct Activity {
    in_flight: AtomicUsize,
    /// Milliseconds since the connection started, at the last request's end.
    last_ms: AtomicU64,
}

/// Serves one connection until it ends; on shutdown (and on HTTP/2 idleness) it is closed
/// gracefully: HTTP/1.1 after the response in flight, HTTP/2 with GOAWAY after the open
/// streams.
async fn drive<I, S, B>(
    io: I,
    service: S,
    opts: &ServerOptions,
    protocol: Protocol,
    peer: PeerInfo,
    observe: Observe,
    stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: ConnectionService<B>,
    B: ResponseBody,
{
    let started = tokio::time::Instant::now();
    let activity = Arc::new(Activity::default());
    let track = Arc::clone(&activity);
    let max_headers = opts.max_headers;
    let addr = peer.addr;
    let half_close = peer.half_close;
    let per_request = observe.clone();
    let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let ext = req.extensions_mut();
        // The peer once, as axum's `ConnectInfo`, which every layer reads: each extension
        // is an allocation per request.
        ext.insert(ConnectInfo(peer.addr));
        ext.insert(per_request.cut.clone());
        if let Some(certs) = &peer.certs {
            ext.insert(certs.clone());
        }
        let over_limit =
            req.version() == http::Version::HTTP_2 && req.headers().len() > max_headers;
        if over_limit {
            per_request.rejected(431, peer.addr);
        }
        let answer = (!over_limit).then(|| service.clone().oneshot(req));
        let track = Arc::clone(&track);
        track.in_flight.fetch_add(1, Ordering::Relaxed);
        async move {
            let resp = match answer {
                Some(answer) => answer.await.map(|r| r.map(Either::Left)),
                // HTTP/1.1's answer to too many headers (hyper gives it there), with an empty body.
                None => {
                    let mut resp = Response::new(Either::Right(Empty::new()));
                    *resp.status_mut() = http::StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE;
                    Ok(resp)
                }
            };
            track
                .last_ms
                .store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
            track.in_flight.fetch_sub(1, Ordering::Relaxed);
            resp
        }
    });
    // Only HTTP/2 needs the idle timer: HTTP/1.1's head timer already closes idle connections.
    let idle = (protocol != Protocol::Http1)
        .then_some(opts.idle_timeout)
        .filter(|d| !d.is_zero());
    let watch = Watch {
        stop,
        idle,
        activity,
        started,
        addr,
        observe,
    };
    let io = TokioIo::new(io);
    match protocol {
        Protocol::Http1 => {
            let mut builder = opts.http1();
            builder.half_close(half_close);
            watch
                // Upgrades (WebSocket on proxy routes) hand the connection to a tunnel
                // once the 101 is written.
                .run(builder.serve_connection(io, hyper_svc).with_upgrades())
                .await
        }
        Protocol::Http2 => {
            watch
                .run(opts.http2().serve_connection(io, hyper_svc))
                .await
        }
        Protocol::Auto => {
            let mut builder = opts.auto();
            builder.http1().half_close(half_close);
            watch
                .run(builder.serve_connection_with_upgrades(io, hyper_svc))
                .await;
        }
    }
}

/// A hyper connection that can be closed gracefully.
trait Graceful: Future<Output = Result<(), Self::Error>> {
    type Error: std::fmt::Display;
    fn graceful_shutdown(self: Pin<&mut Self>);
    /// The hyper error the connection ended with, to tell a rejected request.
    fn hyper_error(e: &Self::Error) -> Option<&hyper::Error>;
}

impl<I, S, B> Graceful for http1::Connection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Error = hyper::Error;
    fn hyper_error(e: &hyper::Error) -> Option<&hyper::Error> {
        Some(e)
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::Connection::graceful_shutdown(self);
    }
}

impl<I, S, B> Graceful for http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    type Error = hyper::Error;
    fn hyper_error(e: &hyper::Error) -> Option<&hyper::Error> {
        Some(e)
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http1::UpgradeableConnection::graceful_shutdown(self);
    }
}

impl<I, S, B> Graceful for auto::UpgradeableConnection<'_, I, S, TokioExecutor>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    type Error = Box<dyn std::error::Error + Send + Sync>;
    fn hyper_error(e: &Self::Error) -> Option<&hyper::Error> {
        e.downcast_ref()
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        auto::UpgradeableConnection::graceful_shutdown(self);
    }
}

impl<I, S, B> Graceful for http2::Connection<I, S, TokioExecutor>
where
    S: hyper::service::HttpService<Incoming, ResBody = B>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    type Error = hyper::Error;
    fn hyper_error(e: &hyper::Error) -> Option<&hyper::Error> {
        Some(e)
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        http2::Connection::graceful_shutdown(self);
    }
}

impl<I, S, B> Graceful for auto::Connection<'_, I, S, TokioExecutor>
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    S::Future: 'static,
    B: hyper::body::Body + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + 'static,
    TokioExecutor: hyper::rt::bounds::Http2ServerConnExec<S::Future, B>,
{
    type Error = Box<dyn std::error::Error + Send + Sync>;
    fn hyper_error(e: &Self::Error) -> Option<&hyper::Error> {
        e.downcast_ref()
    }
    fn graceful_shutdown(self: Pin<&mut Self>) {
        auto::Connection::graceful_shutdown(self);
    }
}

/// What ends a connection besides the client: shutdown, and HTTP/2 idleness.
struct Watch {
    stop: watch::Receiver<bool>,
    idle: Option<Duration>,
    activity: Arc<Activity>,
    started: tokio::time::Instant,
    addr: SocketAddr,
    observe: Observe,
}

impl Watch {
    async fn run<C: Graceful>(self, conn: C) {
        let Watch {
            mut stop,
            idle,
            activity,
            started,
            addr,
            observe,
        } = self;
        let is_idle = || {
            let Some(limit) = idle else {
                return false;
            };
            let last = Duration::from_millis(activity.last_ms.load(Ordering::Relaxed));
            activity.in_flight.load(Ordering::Relaxed) == 0
                && started.elapsed().saturating_sub(last) >= limit
        };
        tokio::pin!(conn);
        let mut closing = false;
        // The idle check runs a few times per idle period, so a connection closes at most
        // a quarter period late.
        let tick = idle.map(|d| (d / 4).max(Duration::from_millis(10)));
        loop {
            let idle_check = async {
                match tick {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                // The connection first: it is what wakes this task on every request, and
                // polling in a fixed order draws no random number per wake-up.
                biased;
                res = conn.as_mut() => {
                    if let Err(e) = res {
                        if let Some(status) = C::hyper_error(&e).and_then(rejection_status) {
                            observe.rejected(status, addr);
                        }
                        // Timeouts and clients going away are routine at an edge: debug.
                        tracing::debug!(error = %e, peer = %addr, "connection ended with an error");
                    }
                    return;
                }
                _ = stop.wait_for(|&v| v), if !closing => {
                    conn.as_mut().graceful_shutdown();
                    closing = true;
                }
                () = idle_check, if !closing => {
                    if is_idle() {
                        conn.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    }
}

/// Errors that concern only the connection being accepted: the next accept can proceed.
fn is_per_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::*;
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionReset | ConnectionRefused | Interrupted | WouldBlock
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::Router;
    use axum::routing::get;
    use std::net::SocketAddr;
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpSocket, TcpStream};
    use tokio::sync::oneshot;

    fn opts() -> ServerOptions {
        ServerOptions {
            header_read_timeout: Duration::from_millis(200),
            keep_alive: true,
            max_connections: 100,
            max_headers: 10,
            max_header_bytes: 1024,
            response_write_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            ..ServerOptions::default()
        }
    }

    /// `started` is notified when `/slow` begins, so tests act on an in-flight request
    /// without guessing how long the request takes to arrive.
    fn app(started: Arc<tokio::sync::Notify>) -> Router {
        Router::new()
            .route("/", get(|| async { "hello" }))
            .route(
                "/peer",
                get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move {
                    peer.ip().to_string()
                }),
            )
            .route(
                "/slow",
                get(move || async move {
                    started.notify_one();
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    "slow done"
                }),
            )
    }

    struct Running {
        addr: SocketAddr,
        stop: oneshot::Sender<()>,
        slow_started: Arc<tokio::sync::Notify>,
        task: tokio::task::JoinHandle<std::io::Result<()>>,
    }

    async fn start(opts: ServerOptions) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, rx) = oneshot::channel::<()>();
        let slow_started = Arc::new(tokio::sync::Notify::new());
        let app = app(Arc::clone(&slow_started));
        let task = tokio::spawn(serve(listener, app, opts, async move {
            let _ = rx.await;
        }));
        Running {
            addr,
            stop,
            slow_started,
            task,
        }
    }

    /// Reads until the server closes the connection (or 5 s pass, which fails the test).
    async fn read_to_close(stream: &mut TcpStream) -> String {
        let mut out = Vec::new();
        let res = tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut out)).await;
        assert!(
            res.is_ok(),
            "server did not close the connection within 5 s"
        );
        String::from_utf8(out).unwrap()
    }

    fn status_line(resp: &str) -> &str {
        resp.lines().next().unwrap_or("")
    }

    #[tokio::test]
    async fn serves_requests_with_peer_address() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let resp = read_to_close(&mut s).await;
        assert_eq!(status_line(&resp), "HTTP/1.1 200 OK");
        assert!(resp.ends_with("\r\n\r\n127.0.0.1"), "{resp}");
        let _ = srv.stop.send(());
        srv.task.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn half_sent_head_is_disconnected_after_header_read_timeout() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let started = Instant::now();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        let resp = read_to_close(&mut s).await;
        // hyper closes without writing a response.
        assert_eq!(resp, "");
        assert!(started.elapsed() >= Duration::from_millis(150));
    }

    #[tokio::test]
    async fn idle_keep_alive_connection_is_closed_after_header_read_timeout() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let resp = read_to_close(&mut s).await;
        assert_eq!(status_line(&resp), "HTTP/1.1 200 OK");
        assert!(resp.ends_with("\r\n\r\nhello"), "{resp}");
    }

    #[tokio::test]
    async fn oversized_head_gets_431_and_close() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let big = "a".repeat(2000);
        s.write_all(format!("GET / HTTP/1.1\r\nHost: x\r\nX-Big: {big}\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let resp = read_to_close(&mut s).await;
        assert_eq!(
            status_line(&resp),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
        assert!(resp.contains("\r\ncontent-length: 0\r\n"), "{resp}");
    }

    #[tokio::test]
    async fn too_many_headers_gets_431_and_close() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let mut head = String::from("GET / HTTP/1.1\r\nHost: x\r\n");
        for i in 0..11 {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        let resp = read_to_close(&mut s).await;
        assert_eq!(
            status_line(&resp),
            "HTTP/1.1 431 Request Header Fields Too Large"
        );
    }

    #[tokio::test]
    async fn exactly_max_headers_is_served() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        let mut head = String::from("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
        for i in 0..8 {
            head.push_str(&format!("X-H{i}: v\r\n"));
        }
        head.push_str("\r\n");
        s.write_all(head.as_bytes()).await.unwrap();
        let resp = read_to_close(&mut s).await;
        assert_eq!(status_line(&resp), "HTTP/1.1 200 OK");
    }

    #[tokio::test]
    async fn graceful_shutdown_lets_in_flight_request_finish() {
        let srv = start(opts()).await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), srv.slow_started.notified())
            .await
            .expect("request reached the handler");
        let _ = srv.stop.send(());
        let resp = read_to_close(&mut s).await;
        assert_eq!(status_line(&resp), "HTTP/1.1 200 OK");
        assert!(resp.ends_with("\r\n\r\nslow done"), "{resp}");
        // The in-flight response carries `connection: close` since the server is draining.
        assert!(resp.contains("\r\nconnection: close\r\n"), "{resp}");
        tokio::time::timeout(Duration::from_secs(5), srv.task)
            .await
            .expect("serve returned")
            .unwrap()
            .unwrap();
        // The listener is closed: new connections are refused.
        assert!(TcpStream::connect(srv.addr).await.is_err());
    }

    #[tokio::test]
    async fn shutdown_grace_bounds_the_drain() {
        let srv = start(ServerOptions {
            shutdown_grace: Duration::from_millis(50),
            ..opts()
        })
        .await;
        let mut s = TcpStream::connect(srv.addr).await.unwrap();
        s.write_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), srv.slow_started.notified())
            .await
            .expect("request reached the handler");
        let _ = srv.stop.send(());
        tokio::time::timeout(Duration::from_secs(5), srv.task)
            .await
            .expect("serve returned")
            .unwrap()
            .unwrap();
        // The slow request was aborted: the connection closes with no response.
        assert_eq!(read_to_close(&mut s).await, "");
    }

    #[tokio::test]
    async fn connection_cap_holds_new_connections_until_one_closes() {
        let srv = start(ServerOptions {
            max_connections: 1,
            header_read_timeout: Duration::from_secs(30),
            ..opts()
        })
        .await;
        // The first connection holds the only slot (keep-alive, idle).
        let mut first = TcpStream::connect(srv.addr).await.unwrap();
        first
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let n = first.read(&mut buf).await.unwrap();
        assert!(buf[..n].starts_with(b"HTTP/1.1 200 OK"));

        // The second connects (backlog) but is not served while the first is open.
        let mut second = TcpStream::connect(srv.addr).await.unwrap();
        second
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let waited = tokio::time::timeout(Duration::from_millis(300), second.read(&mut buf)).await;
        assert!(waited.is_err(), "second connection served above the cap");

        drop(first);
        let resp = read_to_close(&mut second).await;
        assert_eq!(status_line(&resp), "HTTP/1.1 200 OK");
    }

    #[tokio::test]
    async fn a_write_that_makes_no_progress_fails_after_the_limit() {
        let (client, _server) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(client, Duration::from_millis(100));
        let started = Instant::now();
        let res = tokio::time::timeout(Duration::from_secs(5), w.write_all(&[0; 128]))
            .await
            .expect("the write fails within 5 s");
        let err = res.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::TimedOut);
        assert_eq!(
            err.to_string(),
            "the client read nothing of the response for 100 ms"
        );
        assert!(started.elapsed() >= Duration::from_millis(90));
    }

    #[tokio::test]
    async fn a_slow_but_steady_reader_is_served() {
        let (client, mut server) = tokio::io::duplex(64);
        let reader = tokio::spawn(async move {
            let mut got = 0;
            let mut buf = [0u8; 64];
            loop {
                tokio::time::sleep(Duration::from_millis(40)).await;
                match server.read(&mut buf).await {
                    Ok(0) | Err(_) => return got,
                    Ok(n) => got += n,
                }
            }
        });
        let mut w = WriteDeadline::new(client, Duration::from_millis(300));
        let started = Instant::now();
        // 16 buffers' worth: the whole write takes longer than the limit, no stall does.
        w.write_all(&[7; 1024]).await.unwrap();
        w.shutdown().await.unwrap();
        drop(w);
        assert!(started.elapsed() > Duration::from_millis(300));
        assert_eq!(reader.await.unwrap(), 1024);
    }

    #[tokio::test]
    async fn zero_disables_the_limit() {
        let (client, _server) = tokio::io::duplex(64);
        let mut w = WriteDeadline::new(client, Duration::ZERO);
        let res = tokio::time::timeout(Duration::from_millis(300), w.write_all(&[0; 128])).await;
        assert!(res.is_err(), "the write still waits: {res:?}");
    }

    /// A client that asks for a large answer and never reads it is disconnected once the
    /// writes stall for `response_write_timeout`, and the next client gets its slot.
    #[tokio::test]
    async fn a_client_that_never_reads_loses_its_slot() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/", get(|| async { "hello" }))
            // Larger than a loopback socket's largest send buffer (4 MiB) and the client's
            // small receive buffer together, so a client that does not read stalls the writes.
            .route("/big", get(|| async { vec![b'x'; 8 * 1024 * 1024] }));
        let opts = ServerOptions {
            header_read_timeout: Duration::from_secs(30),
            keep_alive: true,
            max_connections: 1,
            max_headers: 10,
            max_header_bytes: 1024,
            response_write_timeout: Duration::from_millis(300),
            shutdown_grace: Duration::from_secs(1),
            ..ServerOptions::default()
        };
        let (stop, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, opts, async move {
            let _ = rx.await;
        }));

        let socket = TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut hog = socket.connect(addr).await.unwrap();
        hog.write_all(b"GET /big HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();

        let started = Instant::now();
        let mut next = TcpStream::connect(addr).await.unwrap();
        next.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), next.read_to_end(&mut out))
            .await
            .expect("the next client is served within 10 s")
            .unwrap();
        let resp = String::from_utf8(out).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\nhello"), "{resp}");
        // It waited for the stalled writes to time out, not less.
        assert!(started.elapsed() >= Duration::from_millis(250));

        // The non-reading client's connection was closed mid-answer.
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), hog.read_to_end(&mut got)).await;
        assert!(got.len() < 8 * 1024 * 1024, "{} bytes", got.len());
        let _ = stop.send(());
        task.await.unwrap().unwrap();
    }

    #[test]
    fn start_only_keys_that_changed_are_named() {
        let old = GatewayConfig::default();
        let mut new = GatewayConfig::default();
        assert_eq!(read_at_start_changes(&old, &new), Vec::<&str>::new());
        new.server.max_connections = 3;
        new.server.header_read_timeout_ms = 1;
        new.limits.max_headers = 5;
        new.logging.level = "debug".into();
        new.admin.enabled = false;
        assert_eq!(
            read_at_start_changes(&old, &new),
            vec!["server.max_connections", "admin.enabled", "logging.level"]
        );
        new.server.h2c = true;
        new.admin.listen = "partner".into();
        new.tls.cert_file = Some("cert.pem".into());
        new.server.http2.max_concurrent_streams = 7;
        assert_eq!(
            read_at_start_changes(&old, &new),
            vec![
                "server.max_connections",
                "server.h2c",
                "admin.enabled",
                "admin.listen",
                "tls",
                "logging.level"
            ]
        );
    }
}
