//! The gateway at its capacity limits, as a process: the memory budget for bodies in
//! flight refuses with 503 instead of growing, probes answer while partner connections are
//! at their cap, and running out of file descriptors pauses accepting, is counted and
//! logged once, and recovers.

mod common;

use std::time::{Duration, Instant};

use common::logged::LoggedGateway;
use common::{Upstream, fixture};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const ACME: &str = "/partners/acme/orders";

/// Sends `head` and `body` on a new connection and reads the answer to its end (the
/// request says `Connection: close`): status and body.
async fn exchange(addr: std::net::SocketAddr, head: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(body).await.unwrap();
    read_answer(&mut s).await
}

async fn read_answer(s: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .expect("answered within 10 s")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

async fn get(addr: std::net::SocketAddr, path: &str) -> (u16, String) {
    let head = format!("GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n");
    exchange(addr, &head, b"").await
}

/// The value of the series `name` (with its labels, as written) on `/metrics`.
async fn metric(gw: &LoggedGateway, name: &str) -> Option<f64> {
    let (status, text) = get(gw.admin_addr, "/metrics").await;
    assert_eq!(status, 200);
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
}

/// Waits up to 10 s for the series `name` to read `want`.
async fn wait_metric(gw: &LoggedGateway, name: &str, want: f64) {
    let started = Instant::now();
    loop {
        let got = metric(gw, name).await;
        if got == Some(want) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{name} is {got:?}, not {want}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The head of an ACME order that declares `len` body bytes.
fn order_head(len: usize, cid: &str) -> String {
    format!(
        "POST {ACME} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\n\
         Accept: application/problem+json\r\nX-Correlation-Id: {cid}\r\n\
         Content-Length: {len}\r\nConnection: close\r\n\r\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_memory_budget_requests_get_503_until_bodies_are_released() {
    let up = Upstream::acme().await;
    // Two uploads at the body limit fill the budget exactly: each counts 16 times its
    // declared 100 000 bytes.
    let gw = LoggedGateway::start(
        &up.url(),
        "\n[limits]\nmax_body_bytes = 100000\nmax_memory_bytes = 3200000\n",
        None,
    );
    wait_metric(&gw, "schemagate_memory_budget_bytes", 3_200_000.0).await;
    let mut uploads = Vec::new();
    for i in 0..2 {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(order_head(100_000, &format!("slow-{i}")).as_bytes())
            .await
            .unwrap();
        // A start of the body, then nothing: the upload is held open.
        s.write_all(&[b' '; 4096]).await.unwrap();
        uploads.push(s);
    }
    wait_metric(&gw, "schemagate_memory_in_flight_bytes", 3_200_000.0).await;

    let order = fixture("acme/orders/valid/input.xml");
    let (status, body) = exchange(gw.addr, &order_head(order.len(), "full"), &order).await;
    assert_eq!(status, 503, "{body}");
    let problem: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        problem,
        serde_json::json!({
            "type": "urn:schemagate:problem:memory-budget-exhausted",
            "title": "Gateway memory budget exhausted",
            "status": 503,
            "detail": "the gateway's memory budget for requests in flight (limits.max_memory_bytes) is used up; retry shortly",
            "instance": "full"
        })
    );
    // A second refusal within the log interval is counted, not logged again.
    let mut s = TcpStream::connect(gw.addr).await.unwrap();
    s.write_all(order_head(order.len(), "full-again").as_bytes())
        .await
        .unwrap();
    s.write_all(&order).await.unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(
        answer.starts_with("HTTP/1.1 503 Service Unavailable\r\n"),
        "{answer}"
    );
    assert!(answer.contains("\r\nretry-after: 1\r\n"), "{answer}");
    assert_eq!(
        metric(&gw, "schemagate_memory_budget_refusals_total").await,
        Some(2.0)
    );
    let logged = gw.wait_for(|l| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("memory budget exhausted"))
    });
    assert_eq!(
        (
            &logged["level"],
            &logged["in_use"],
            &logged["limit"],
            &logged["wanted"],
            &logged["refused"]
        ),
        (
            &serde_json::json!("WARN"),
            &serde_json::json!(3_200_000),
            &serde_json::json!(3_200_000),
            &serde_json::json!(16 * order.len()),
            &serde_json::json!(1)
        )
    );
    assert_eq!(
        gw.count(|l| l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("memory budget exhausted"))),
        1
    );
    assert_eq!(gw.access_line("full")["status"], 503);

    // The held uploads end: their charges are released, and orders pass again.
    drop(uploads);
    wait_metric(&gw, "schemagate_memory_in_flight_bytes", 0.0).await;
    let (status, body) = exchange(gw.addr, &order_head(order.len(), "after"), &order).await;
    assert_eq!(status, 200, "{body}");
    let expected = String::from_utf8(fixture("acme/orders/valid/expected-response.xml")).unwrap();
    assert_eq!(body.trim_end(), expected.trim_end());
    wait_metric(&gw, "schemagate_memory_in_flight_bytes", 0.0).await;
    assert_eq!(up.requests().len(), 1, "refused orders never went upstream");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_answer_while_partner_connections_are_at_their_cap() {
    let gw = LoggedGateway::start(
        "http://127.0.0.1:9",
        "\n[server]\nmax_connections = 3\n",
        None,
    );
    wait_metric(&gw, "schemagate_partner_connection_limit", 3.0).await;
    // Three partner connections, each with half a request head: the cap is full.
    let mut held = Vec::new();
    for _ in 0..3 {
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(b"GET /nowhere HTTP/1.1\r\nHost: gw\r\n")
            .await
            .unwrap();
        held.push(s);
    }
    let mut waiting = TcpStream::connect(gw.addr).await.unwrap();
    waiting
        .write_all(b"GET /nowhere HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut first = [0u8; 1];
    let unanswered =
        tokio::time::timeout(Duration::from_millis(500), waiting.read(&mut first)).await;
    assert!(
        unanswered.is_err(),
        "a fourth partner connection waits at the cap"
    );
    for _ in 0..3 {
        assert_eq!(
            get(gw.admin_addr, "/healthz").await,
            (200, "{\"status\":\"ok\"}".to_string())
        );
        assert_eq!(get(gw.admin_addr, "/readyz").await.0, 200);
        assert_eq!(get(gw.admin_addr, "/metrics").await.0, 200);
    }
    // A slot frees: the waiting client is served.
    drop(held.pop());
    let (status, _) = read_answer(&mut waiting).await;
    assert_eq!(status, 404);
}

/// The lowest descriptor number process `pid` does not use: the next one it would get.
fn lowest_free_fd(pid: u32) -> u64 {
    let used: std::collections::HashSet<u64> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    (0..).find(|n| !used.contains(n)).unwrap()
}

/// Sets the soft `RLIMIT_NOFILE` of process `pid`, keeping its hard limit; returns the
/// soft limit it had.
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
fn set_soft_nofile(pid: u32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: reads the limit into `old`, which lives for the call.
    let r = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft as libc::rlim_t,
        rlim_max: old.rlim_max,
    };
    // SAFETY: `new` lives for the call; the old value is not asked for.
    let r = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
    old.rlim_cur as u64
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_descriptors_accepting_pauses_is_logged_once_and_recovers() {
    let gw = LoggedGateway::start("http://127.0.0.1:9", "", None);
    let pid = gw.pid();
    // No descriptor left: the next accept fails with EMFILE.
    let before = set_soft_nofile(pid, lowest_free_fd(pid));
    let failing = |l: &serde_json::Value| {
        l["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("accepting connections failed"))
    };
    // Clients with half a request head each, until accepting fails: one that finds a
    // descriptor freed since (a hole below the limit) keeps it.
    let mut clients = Vec::new();
    while gw.count(failing) == 0 {
        assert!(clients.len() < 20, "accepting never failed");
        let mut s = TcpStream::connect(gw.addr).await.unwrap();
        s.write_all(b"GET /nowhere HTTP/1.1\r\nHost: gw\r\n")
            .await
            .unwrap();
        clients.push(s);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let failed = gw.wait_for(failing);
    assert_eq!(
        (&failed["level"], &failed["kind"], &failed["backoff_ms"]),
        (
            &serde_json::json!("WARN"),
            &serde_json::json!("emfile"),
            &serde_json::json!(100)
        )
    );
    // Attempts go on every 100 ms, quietly.
    tokio::time::sleep(Duration::from_millis(450)).await;
    assert_eq!(gw.count(failing), 1, "one line per burst");

    set_soft_nofile(pid, before);
    for mut s in clients {
        s.write_all(b"Connection: close\r\n\r\n").await.unwrap();
        assert_eq!(read_answer(&mut s).await.0, 404);
    }
    // The burst is over at the first connection accepted a second after its last failure.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(get(gw.addr, "/nowhere").await.0, 404);
    let again = gw.wait_for(|l| l["message"] == "accepting connections again");
    let attempts = again["failed_attempts"].as_u64().unwrap();
    assert!(attempts >= 3, "{again}");
    assert!(again["lasted_ms"].as_u64().unwrap() >= 300, "{again}");
    assert_eq!(
        metric(&gw, "schemagate_accept_errors_total{kind=\"emfile\"}").await,
        Some(attempts as f64)
    );
    assert_eq!(
        metric(&gw, "schemagate_accept_errors_total{kind=\"enfile\"}").await,
        Some(0.0)
    );
    assert_eq!(gw.count(failing), 1);
}
