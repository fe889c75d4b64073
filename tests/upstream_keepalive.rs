//! Pooled upstream connections against an upstream that closes idle ones without warning: a
//! raw HTTP/1.1 server on loopback answers keep-alive and drops each connection once it has
//! been idle for a keep-alive timeout drawn at random per connection, as servers and load
//! balancers do. With the pool's idle timeout below the upstream's, under concurrent POSTs
//! at random intervals no request may fail; and a connection the upstream closed before the
//! gateway wrote anything is never written to.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode};
use schemagate::config::file::{LimitsConfig, UpstreamConfig};
use schemagate::proxy::{HttpClient, Upstream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Reads one request (head and `Content-Length` body); `None` when the client closed.
async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            while buf.len() < end + 4 + len {
                let mut chunk = [0u8; 4096];
                let n = s.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            let body = buf[end + 4..end + 4 + len].to_vec();
            buf.drain(..end + 4 + len);
            return Some(body);
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Serves one connection: echoes each POST body, and closes it silently once it has been
/// idle for its keep-alive timeout, 38 to 42 ms: the clients pause about as long, so
/// with a pool idle timeout above it (60 s) some POSTs meet a connection being closed.
async fn serve(mut s: TcpStream, served: Arc<AtomicUsize>) {
    let mut buf = Vec::new();
    let idle = Duration::from_millis(fastrand::u64(38..42));
    loop {
        let body = match tokio::time::timeout(idle, read_request(&mut s, &mut buf)).await {
            Ok(Some(body)) => body,
            _ => return,
        };
        served.fetch_add(1, Ordering::Relaxed);
        let head = format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        );
        let mut answer = head.into_bytes();
        answer.extend_from_slice(&body);
        if s.write_all(&answer).await.is_err() {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_never_fail_on_connections_the_upstream_closed() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    tokio::spawn(async move {
        loop {
            let (s, _) = listener.accept().await.unwrap();
            tokio::spawn(serve(s, counter.clone()));
        }
    });

    // Below the upstream's keep-alive timeout, as the default (4 s) is below common servers'.
    let cfg: UpstreamConfig = toml::from_str(&format!(
        "url = \"http://{addr}\"\npool_idle_timeout_ms = 20"
    ))
    .unwrap();
    let upstream =
        Upstream::new("orders", &cfg, &LimitsConfig::default(), &HttpClient::new()).unwrap();

    let mut tasks = Vec::new();
    for t in 0..8 {
        let upstream = upstream.clone();
        tasks.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            for i in 0..60 {
                let body = format!("{{\"task\":{t},\"n\":{i}}}");
                match upstream
                    .send(
                        Method::POST,
                        "/orders",
                        HeaderMap::new(),
                        Bytes::from(body.clone()),
                    )
                    .await
                {
                    Ok(r) => {
                        assert_eq!(r.status, StatusCode::OK);
                        assert_eq!(r.body, body.as_bytes());
                    }
                    Err(e) => failures.push(e.to_string()),
                }
                tokio::time::sleep(Duration::from_millis(fastrand::u64(36..44))).await;
            }
            failures
        }));
    }
    let mut failures = Vec::new();
    for t in tasks {
        failures.extend(t.await.unwrap());
    }
    assert_eq!(
        failures,
        Vec::<String>::new(),
        "{} of 480 failed",
        failures.len()
    );
    // Every POST was answered once: none was sent twice to a server that had read it.
    assert_eq!(served.load(Ordering::Relaxed), 480);
}

/// A connection the upstream closed after answering is not written to again: the next
/// request fails as [`NotSent`] and the upstream receives nothing.
#[tokio::test]
async fn a_connection_the_upstream_closed_refuses_the_next_request_unwritten() {
    use hyper::rt::{Read as _, Write as _};
    use hyper_util::client::legacy::connect::HttpConnector;
    use schemagate::proxy::guard::{GuardedConnector, GuardedStream, NotSent};
    use std::pin::Pin;
    use tower::Service as _;

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        read_request(&mut s, &mut buf).await.unwrap();
        s.write_all(b"HTTP/1.1 204 No Content\r\n\r\n")
            .await
            .unwrap();
        s.shutdown().await.unwrap();
        // Everything the gateway sends after this point.
        let mut rest = Vec::new();
        let _ = s.read_to_end(&mut rest).await;
        rest
    });

    let mut connector = GuardedConnector(HttpConnector::new());
    let mut io = connector
        .call(format!("http://{addr}").parse().unwrap())
        .await
        .unwrap();
    async fn write(io: &mut GuardedStream, bytes: &[u8]) -> std::io::Result<usize> {
        std::future::poll_fn(|cx| Pin::new(&mut *io).poll_write(cx, bytes)).await
    }
    write(&mut io, b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap();
    // The answer, then the end of the stream.
    let mut answer = Vec::new();
    loop {
        let mut chunk = [std::mem::MaybeUninit::<u8>::uninit(); 256];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut chunk);
        std::future::poll_fn(|cx| Pin::new(&mut io).poll_read(cx, buf.unfilled()))
            .await
            .unwrap();
        if buf.filled().is_empty() {
            break;
        }
        answer.extend_from_slice(buf.filled());
    }
    assert_eq!(answer, b"HTTP/1.1 204 No Content\r\n\r\n");
    let e = write(&mut io, b"POST / HTTP/1.1\r\ncontent-length: 0\r\n\r\n")
        .await
        .unwrap_err();
    assert!(NotSent::caused(&e), "{e}");
    assert_eq!(
        e.to_string(),
        "the upstream closed the connection before the request was written"
    );
    drop(io);
    assert_eq!(server.await.unwrap(), b"");
}
