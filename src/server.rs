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
//! - **Connection cap**: at [`ServerOptions::max_connections`] open connections the accept
//!   loop stops accepting until one closes; new clients wait in the kernel's listen backlog
//!   (and connect, but are not read from) rather than being refused, so a burst is absorbed
//!   instead of turned into errors.
//! - **Shutdown**: when the `shutdown` future completes the listener is closed, idle
//!   connections are closed, in-flight requests run to completion (their connections are
//!   closed after the response) for up to [`ServerOptions::shutdown_grace`], then whatever is
//!   left is aborted and [`serve`] returns.
//!
//! Handlers see the peer address as a
//! [`ConnectInfo<SocketAddr>`](axum::extract::ConnectInfo) request extension.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::ConnectInfo;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tower::ServiceExt as _;

use crate::config::file::{LimitsConfig, ServerConfig};

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

/// Serves HTTP/1.1 on `listener` with `service` (an [`axum::Router`] or any tower service
/// that never fails) until `shutdown` completes, then drains as described in the module
/// documentation. Returns `Ok` after a shutdown; accept errors are logged and retried, never
/// returned, so one bad moment (out of descriptors) cannot stop the gateway.
pub async fn serve<S, B>(
    listener: TcpListener,
    service: S,
    opts: ServerOptions,
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
    let builder = opts.http1();
    let permits = Arc::new(Semaphore::new(opts.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
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

        let svc = service.clone();
        let hyper_svc = hyper::service::service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            svc.clone().oneshot(req)
        });
        let conn = builder.serve_connection(TokioIo::new(stream), hyper_svc);
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            if let Err(e) = conn.await {
                // Timeouts and clients going away are routine at an edge: debug, not warn.
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
            drop(permit);
        });
    }

    drop(listener);
    tracing::info!(
        in_flight = graceful.count(),
        "shutting down: no longer accepting connections"
    );
    if tokio::time::timeout(opts.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            grace_ms = opts.shutdown_grace.as_millis() as u64,
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
    use tokio::net::TcpStream;
    use tokio::sync::oneshot;

    fn opts() -> ServerOptions {
        ServerOptions {
            header_read_timeout: Duration::from_millis(200),
            keep_alive: true,
            max_connections: 100,
            max_headers: 10,
            max_header_bytes: 1024,
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
}
