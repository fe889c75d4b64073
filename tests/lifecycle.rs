//! The gateway as a process and a listener: slow clients, oversized heads, deadlines,
//! `serve --demo`, and draining on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use http::{Method, StatusCode};

const ACME: &str = "/partners/acme/orders";

/// Sends raw bytes and reads until the server closes or `limit` passes.
fn raw_exchange(addr: std::net::SocketAddr, request: &[u8], limit: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(limit)).unwrap();
    s.write_all(request).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (
        String::from_utf8_lossy(&out).into_owned(),
        started.elapsed(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stalls_in_the_body_gets_408() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), "[server]\nbody_read_timeout_ms = 300\n", None).await;
    let addr = gw.addr;
    let (reply, took) = tokio::task::spawn_blocking(move || {
        raw_exchange(
            addr,
            b"POST /partners/acme/orders HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\nAccept: application/json\r\nX-Correlation-Id: slow-1\r\nContent-Length: 1000\r\n\r\n<Order",
            Duration::from_secs(10),
        )
    })
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
        "{reply}"
    );
    assert!(
        reply.ends_with("{\"type\":\"urn:schemagate:problem:request-timeout\",\"title\":\"Request timed out\",\"status\":408,\"detail\":\"the body was not received in time\",\"instance\":\"slow-1\"}"),
        "{reply}"
    );
    assert!(took < Duration::from_secs(5), "took {took:?}");
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn too_many_headers_get_431() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), "[limits]\nmax_headers = 10\n", None).await;
    let addr = gw.addr;
    let mut req = String::from("GET /healthz HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..20 {
        req.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    req.push_str("\r\n");
    let (reply, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, req.as_bytes(), Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(
        reply.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{reply}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_overall_deadline_answers_504() {
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            fixture("acme/orders/valid/upstream.json"),
            Duration::from_secs(3),
        )
    }))
    .await;
    // The upstream's own deadline (1 s in the test config) is longer than the request's.
    let gw = Gateway::start_with(&up.url(), "[server]\nrequest_timeout_ms = 300\n", None).await;
    let started = Instant::now();
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("accept", "application/json"),
            ("x-correlation-id", "late"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        reply.json(),
        serde_json::json!({"type": "urn:schemagate:problem:upstream-timeout", "title": "Upstream service timed out", "status": 504, "detail": "the request did not complete in time", "instance": "late"})
    );
}

/// Starts the real binary; returns the child and the address it prints it serves on.
fn spawn_binary(args: &[&str], env: &[(&str, &str)]) -> (Child, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schemagate"));
    cmd.args(args)
        .current_dir(repo())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .env_remove("RUST_LOG");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .expect("the gateway prints where it listens")
        .unwrap();
    // "schemagate is serving the example partners on http://ADDR (demo upstream on ...)"
    let addr = first
        .split("http://")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string();
    std::thread::spawn(move || for _ in lines {});
    (child, addr)
}

fn curl_like(addr: &str, method: &str, path: &str, ctype: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut out = Vec::new();
    s.read_to_end(&mut out).unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text[9..12].parse().unwrap();
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn serve_demo_answers_the_example_partners() {
    let (mut child, addr) = spawn_binary(
        &[
            "serve",
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ],
        &[],
    );
    let (status, body) = curl_like(
        &addr,
        "POST",
        ACME,
        "application/xml",
        &fixture("acme/orders/valid/input.xml"),
    );
    let expected = String::from_utf8(fixture("acme/orders/valid/expected-response.xml")).unwrap();
    let globex = curl_like(
        &addr,
        "GET",
        "/partners/globex/orders/GX-1",
        "application/json",
        b"",
    );
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!((status, body.trim_end()), (200, expected.trim_end()));
    assert_eq!(globex.0, 200, "{}", globex.1);
    let v: serde_json::Value = serde_json::from_str(&globex.1).unwrap();
    assert_eq!(v["orderRef"], "GX-1");
    assert_eq!(v["lines"][0]["shipments"][0]["shippedOn"], "2026-11-25");
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_drains_the_request_in_flight() {
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            fixture("acme/orders/valid/upstream.json"),
            Duration::from_millis(1500),
        )
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &repo().join("schemas"),
        &repo().join("mappings"),
        &up.url(),
        "",
    );
    // Longer upstream deadline than the slow answer.
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("request_timeout_ms = 1000", "request_timeout_ms = 10000");
    std::fs::write(&config, text).unwrap();
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args([
            "serve",
            "--config",
            config.to_str().unwrap(),
            "--listen",
            &addr,
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let ready = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        TcpStream::connect(&addr).is_ok()
    });
    assert!(ready, "gateway did not start");
    let a = addr.clone();
    let in_flight = std::thread::spawn(move || {
        curl_like(
            &a,
            "POST",
            ACME,
            "application/xml",
            &fixture("acme/orders/valid/input.xml"),
        )
    });
    // Let the request reach the upstream, then ask the process to stop.
    for _ in 0..100 {
        if !up.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(up.requests().len(), 1);
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let (status, body) = tokio::task::spawn_blocking(move || in_flight.join().unwrap())
        .await
        .unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("<Status>accepted</Status>"), "{body}");
    let exit = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "{exit:?}");
    assert!(TcpStream::connect(&addr).is_err(), "the listener is closed");
}

/// A mappings directory with one pass-through route, `GET /partners/big/report`, whose
/// answer the gateway passes on as the upstream sent it.
fn report_mappings() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("big")).unwrap();
    std::fs::write(
        dir.path().join("big/report.yaml"),
        "route:\n  method: GET\n  path: /partners/big/report\n  format: json\nupstream:\n  service: orders\n  method: GET\n  path: /report\n",
    )
    .unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_its_answer_is_disconnected_and_frees_its_slot() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // More than a loopback socket's largest send buffer (4 MiB) and the client's receive
    // buffer together: a client that reads nothing stalls the gateway's writes.
    const ANSWER: usize = 6 * 1024 * 1024;
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            vec![b'7'; ANSWER],
            Duration::ZERO,
        )
    }))
    .await;
    let mappings = report_mappings();
    let gw = Gateway::start_with(
        &up.url(),
        "[server]\nmax_connections = 1\nresponse_write_timeout_ms = 300\n",
        Some(mappings.path()),
    )
    .await;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut hog = socket.connect(gw.addr).await.unwrap();
    hog.write_all(b"GET /partners/big/report HTTP/1.1\r\nHost: gw\r\n\r\n")
        .await
        .unwrap();
    // The answer is on its way once the upstream has been asked.
    for _ in 0..250 {
        if !up.requests().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(up.requests().len(), 1);

    // The only slot is taken: the next client waits until the stalled writes time out.
    let started = Instant::now();
    let mut next = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    next.write_all(b"GET /nowhere HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), next.read_to_end(&mut out))
        .await
        .expect("the next client is served")
        .unwrap();
    let reply = String::from_utf8_lossy(&out);
    assert!(reply.starts_with("HTTP/1.1 404 Not Found\r\n"), "{reply}");
    assert!(reply.contains("\"status\":404"), "{reply}");
    assert!(started.elapsed() >= Duration::from_millis(200));

    // The non-reading client got part of its answer, then the connection closed.
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(15), hog.read_to_end(&mut got)).await;
    assert!(got.len() < ANSWER, "{} bytes", got.len());
}

/// A gateway whose connections take the options of the configuration served when they
/// are accepted, as `schemagate serve` runs it.
struct Reloadable {
    addr: std::net::SocketAddr,
    state: Arc<schemagate::gateway::AppState>,
    dir: tempfile::TempDir,
    upstream: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Reloadable {
    async fn start(upstream: &str, extra: &str) -> Reloadable {
        let dir = tempfile::tempdir().unwrap();
        let r = Reloadable::write(dir.path(), upstream, extra);
        let opts = schemagate::config::LoadOptions {
            config_path: Some(r),
            ..Default::default()
        };
        let state = tokio::task::spawn_blocking(move || schemagate::gateway::AppState::new(opts))
            .await
            .unwrap()
            .unwrap_or_else(|d| panic!("config does not load: {d:#?}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let service = schemagate::gateway::app(Arc::clone(&state));
        let options_state = Arc::clone(&state);
        tokio::spawn(async move {
            let _ = schemagate::server::serve(
                listener,
                service,
                move || options_state.server_options(),
                async {
                    let _ = rx.await;
                },
            )
            .await;
        });
        Reloadable {
            addr,
            state,
            dir,
            upstream: upstream.to_string(),
            _stop: tx,
        }
    }

    fn write(dir: &std::path::Path, upstream: &str, extra: &str) -> std::path::PathBuf {
        write_config(
            dir,
            &repo().join("schemas"),
            &repo().join("mappings"),
            upstream,
            extra,
        )
    }

    async fn reload_with(&self, extra: &str) {
        Reloadable::write(self.dir.path(), &self.upstream, extra);
        let state = Arc::clone(&self.state);
        let ok = tokio::task::spawn_blocking(move || state.reload())
            .await
            .unwrap();
        assert!(ok, "the reload succeeds");
    }
}

/// `GET /nowhere` (a 404 of the partner listener) with ten extra headers.
fn ten_headers(close: bool) -> Vec<u8> {
    let mut req = String::from("GET /nowhere HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..10 {
        req.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    if close {
        req.push_str("Connection: close\r\n");
    }
    req.push_str("\r\n");
    req.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_applies_header_limits_and_timeouts_to_new_connections() {
    let up = Upstream::acme().await;
    let gw = Reloadable::start(&up.url(), "").await;
    let addr = gw.addr;
    let (before, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, &ten_headers(true), Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(before.starts_with("HTTP/1.1 404 Not Found\r\n"), "{before}");

    // A keep-alive connection opened before the reload keeps the options it was accepted
    // with.
    let mut kept = TcpStream::connect(addr).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    kept.write_all(b"GET /nowhere HTTP/1.1\r\nHost: gw\r\n\r\n")
        .unwrap();
    let first = read_one_answer(&mut kept);
    assert!(first.starts_with("HTTP/1.1 404 Not Found\r\n"), "{first}");

    gw.reload_with("[server]\nheader_read_timeout_ms = 300\n\n[limits]\nmax_headers = 5\n")
        .await;

    let (after, _) = tokio::task::spawn_blocking(move || {
        raw_exchange(addr, &ten_headers(true), Duration::from_secs(10))
    })
    .await
    .unwrap();
    assert!(
        after.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{after}"
    );
    // The new head timeout: a connection that sends nothing is closed after 300 ms, not
    // the 10 s of the start-up configuration.
    let (idle, took) =
        tokio::task::spawn_blocking(move || raw_exchange(addr, b"", Duration::from_secs(8)))
            .await
            .unwrap();
    assert_eq!(idle, "");
    assert!(took < Duration::from_secs(5), "took {took:?}");

    let (old, _) = tokio::task::spawn_blocking(move || {
        kept.write_all(&ten_headers(true)).unwrap();
        let mut out = Vec::new();
        let _ = kept.read_to_end(&mut out);
        (String::from_utf8_lossy(&out).into_owned(), ())
    })
    .await
    .unwrap();
    assert!(old.starts_with("HTTP/1.1 404 Not Found\r\n"), "{old}");
}

/// Reads one answer with a `content-length` off a keep-alive connection, leaving the
/// connection ready for the next.
fn read_one_answer(stream: &mut TcpStream) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    loop {
        let n = stream.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&out)
        );
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out).into_owned();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            if body.len() >= len {
                return text;
            }
        }
    }
}

const ACME_XML_400: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:malformed-request</type><title>Malformed request</title><status>400</status><detail>an HTTP/1.1 request must carry a Host header</detail><instance>h-1</instance></problem>\n";

/// A POST of the valid acme order in HTTP `version` with the given head lines (no Host
/// unless listed).
fn acme_order(version: &str, lines: &str) -> Vec<u8> {
    let body = fixture("acme/orders/valid/input.xml");
    let mut req = format!(
        "POST /partners/acme/orders HTTP/{version}\r\n{lines}Content-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

async fn raw(addr: std::net::SocketAddr, req: Vec<u8>) -> String {
    tokio::task::spawn_blocking(move || raw_exchange(addr, &req, Duration::from_secs(10)).0)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_exactly_one_host_is_400_and_not_forwarded() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;

    let none = raw(gw.addr, acme_order("1.1", "X-Correlation-Id: h-1\r\n")).await;
    assert!(none.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{none}");
    assert!(
        none.contains("\r\ncontent-type: application/problem+xml\r\n"),
        "{none}"
    );
    assert!(none.ends_with(&format!("\r\n\r\n{ACME_XML_400}")), "{none}");

    let two = raw(
        gw.addr,
        acme_order(
            "1.1",
            "Host: a.example\r\nHost: b.example\r\nAccept: application/json\r\nX-Correlation-Id: h-2\r\n",
        ),
    )
    .await;
    assert!(two.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{two}");
    assert!(
        two.ends_with("\r\n\r\n{\"type\":\"urn:schemagate:problem:malformed-request\",\"title\":\"Malformed request\",\"status\":400,\"detail\":\"the request carries 2 Host headers; exactly one is allowed\",\"instance\":\"h-2\"}"),
        "{two}"
    );
    assert!(up.requests().is_empty());

    // HTTP/1.0 predates Host: such a request is served.
    let old = raw(gw.addr, acme_order("1.0", "")).await;
    assert!(old.starts_with("HTTP/1.0 200 OK\r\n"), "{old}");
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transfer_coding_other_than_chunked_is_415_and_not_forwarded() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let body = fixture("acme/orders/valid/input.xml");
    let mut req = b"POST /partners/acme/orders HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\nAccept: application/json\r\nX-Correlation-Id: te-1\r\nTransfer-Encoding: gzip, chunked\r\nConnection: close\r\n\r\n".to_vec();
    req.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
    req.extend_from_slice(&body);
    req.extend_from_slice(b"\r\n0\r\n\r\n");
    let reply = raw(gw.addr, req).await;
    assert!(
        reply.starts_with("HTTP/1.1 415 Unsupported Media Type\r\n"),
        "{reply}"
    );
    assert!(
        reply.ends_with("\r\n\r\n{\"type\":\"urn:schemagate:problem:unsupported-media-type\",\"title\":\"Unsupported media type\",\"status\":415,\"detail\":\"Transfer-Encoding `gzip, chunked` is not supported; send the body with Content-Length or with chunked alone\",\"instance\":\"te-1\"}"),
        "{reply}"
    );
    // hyper itself refuses a last transfer coding other than chunked: the body's end is
    // unknown.
    let mut req = b"POST /partners/acme/orders HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\nTransfer-Encoding: chunked, gzip\r\n\r\n".to_vec();
    req.extend_from_slice(&body);
    let reply = raw(gw.addr, req).await;
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    assert!(up.requests().is_empty());
}

/// The `/metrics` lines of requests and request durations, sorted (families render in hash
/// order).
async fn request_series(gw: &Gateway) -> Vec<String> {
    let text = get(&gw.admin_url("/metrics")).await.text();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| {
            l.starts_with("schemagate_requests_total")
                || l.starts_with("schemagate_request_duration_seconds_count")
        })
        .map(str::to_string)
        .collect();
    lines.sort_unstable();
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_chosen_methods_add_no_metric_series() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let addr = gw.addr;
    tokio::task::spawn_blocking(move || {
        let long = "M".repeat(15_000);
        let mut methods: Vec<String> = (0..200).map(|i| format!("M{i}X")).collect();
        methods.extend(["get".to_string(), "PROPFIND".to_string(), long]);
        for method in &methods {
            for path in ["/x", ACME] {
                let request =
                    format!("{method} {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
                let (reply, _) = raw_exchange(addr, request.as_bytes(), Duration::from_secs(10));
                let expected = if path == ACME {
                    "HTTP/1.1 405 "
                } else {
                    "HTTP/1.1 404 "
                };
                assert!(reply.starts_with(expected), "{method:.20} {path}: {reply}");
            }
        }
        // A standard method stays itself.
        let (reply, _) = raw_exchange(
            addr,
            b"DELETE /x HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n",
            Duration::from_secs(10),
        );
        assert!(reply.starts_with("HTTP/1.1 404 "), "{reply}");
    })
    .await
    .unwrap();
    assert_eq!(
        request_series(&gw).await,
        [
            r#"schemagate_request_duration_seconds_count{route="acme/orders",method="POST"} 0"#,
            r#"schemagate_request_duration_seconds_count{route="bff/dashboard",method="GET"} 0"#,
            r#"schemagate_request_duration_seconds_count{route="globex/order-status",method="GET"} 0"#,
            r#"schemagate_request_duration_seconds_count{route="globex/orders",method="POST"} 0"#,
            r#"schemagate_request_duration_seconds_count{route="initech/reserve-stock",method="POST"} 0"#,
            r#"schemagate_request_duration_seconds_count{route="initech/stock-level",method="POST"} 0"#,
            r#"schemagate_request_duration_seconds_count{route="unmatched",method="DELETE"} 1"#,
            r#"schemagate_request_duration_seconds_count{route="unmatched",method="other"} 406"#,
            r#"schemagate_requests_total{route="unmatched",method="DELETE",status="404"} 1"#,
            r#"schemagate_requests_total{route="unmatched",method="other",status="404"} 203"#,
            r#"schemagate_requests_total{route="unmatched",method="other",status="405"} 203"#,
        ]
    );
}
