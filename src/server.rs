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
//! - **Shutdown**: when the `shutdown` future completes the listener is closed, idle
//!   connections are closed, in-flight requests run to completion (their connections are
//!   closed after the response) for up to [`ServerOptions::shutdown_grace`], then whatever is
//!   left is aborted and [`serve`] returns.
//!
//! Options are read from an [`OptionsSource`]: a fixed [`ServerOptions`], or a function
//! returning the options of the configuration snapshot of the moment. Each accepted
//! connection reads them once, so a reload applies to the connections accepted after it
//! (a connection keeps the options it was accepted with); `max_connections` is read when
//! [`serve`] starts and `shutdown_grace` when the shutdown begins.
//!
//! Handlers see the peer address as a
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Sleep;
use tower::ServiceExt as _;

use crate::config::file::{GatewayConfig, LimitsConfig, ServerConfig};

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
/// `server.max_connections`), the runtime (`server.workers`), the admin surface and file
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
        ("admin.enabled", old.admin.enabled != new.admin.enabled),
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
    S: tower::Service<Request<Incoming>, Response = Response<B>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let permits = Arc::new(Semaphore::new(opts.current().max_connections.max(1)));
    // Tells every connection task to drain (hyper-util's GracefulShutdown does not take
    // connections that may upgrade).
    let (drain, _) = tokio::sync::watch::channel(());
    let mut connections = JoinSet::new();
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
                    tracing::warn!(error = %e, "accept failed; pausing before retrying");
                    tokio::select! {
                        () = &mut shutdown => break,
                        () = tokio::time::sleep(ACCEPT_ERROR_BACKOFF) => continue,
                    }
                }
            },
        };
        // Responses are small and latency matters more than packet count.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, %peer, "cannot set TCP_NODELAY");
        }

        // This connection's options: those of the configuration served right now.
        let conn_opts = opts.current();
        let io = WriteDeadline::new(stream, conn_opts.response_write_timeout);
        let svc = service.clone();
        let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            svc.clone().oneshot(req)
        });
        // Upgrades (WebSocket on proxy routes) hand the connection to a tunnel once the
        // 101 is written.
        let conn = conn_opts
            .http1()
            .serve_connection(TokioIo::new(io), hyper_svc)
            .with_upgrades();
        let mut draining = drain.subscribe();
        connections.spawn(async move {
            tokio::pin!(conn);
            let result = tokio::select! {
                r = conn.as_mut() => r,
                _ = draining.changed() => {
                    // Finish the request in flight, then close.
                    conn.as_mut().graceful_shutdown();
                    conn.await
                }
            };
            if let Err(e) = result {
                // Timeouts and clients going away are routine at an edge: debug, not warn.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    while connections.try_join_next().is_some() {}
    tracing::info!(
        in_flight = connections.len(),
        "shutting down: no longer accepting connections"
    );
    let grace = opts.current().shutdown_grace;
    let _ = drain.send(());
    let drained = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, drained).await.is_err() {
        tracing::warn!(
            grace_ms = grace.as_millis() as u64,
            "shutdown grace period over; aborting the remaining connections"
        );
    }
    connections.shutdown().await;
    Ok(())
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
    }
}
