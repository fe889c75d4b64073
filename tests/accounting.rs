//! Accounting that adds up: every request that reaches the gateway leaves exactly one access
//! line and one count in `requests_total`, whether it was answered, its client went away,
//! shutdown cut it or the HTTP layer refused its head; upstream exchanges are labelled by
//! what the partner got of them.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::Duration;

use common::logged::LoggedGateway;
use common::*;
use http::{Method, StatusCode};
use serde_json::json;

const ACME: &str = "/partners/acme/orders";

/// The acme upstream, answering after `slow` for correlation ids that start with `slow`.
fn acme_upstream(slow: Duration) -> Responder {
    Arc::new(move |r: &Recorded| {
        let cid = r
            .headers
            .get("x-correlation-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let delay = if cid.starts_with("slow") {
            slow
        } else {
            Duration::ZERO
        };
        (
            StatusCode::OK,
            "application/json",
            fixture("acme/orders/valid/upstream.json"),
            delay,
        )
    })
}

/// A raw HTTP/1.1 acme order with correlation id `cid`.
fn acme_order(cid: &str) -> Vec<u8> {
    let body = fixture("acme/orders/valid/input.xml");
    let mut req = format!(
        "POST {ACME} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\nX-Correlation-Id: {cid}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(&body);
    req
}

/// Sends `req` on a new connection and reads until the gateway closes it.
fn exchange(addr: std::net::SocketAddr, req: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(req).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// Waits until the upstream has received `n` requests.
async fn upstream_received(up: &Upstream, n: usize) {
    for _ in 0..500 {
        if up.requests().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "the upstream received {} requests, not {n}",
        up.requests().len()
    );
}

async fn metric_lines(admin_url: &str, prefixes: &[&str]) -> Vec<String> {
    let text = get(admin_url).await.text();
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| prefixes.iter().any(|p| l.starts_with(p)))
        .map(str::to_string)
        .collect();
    lines.sort_unstable();
    lines
}

fn access(
    cid: &str,
    method: &str,
    path: &str,
    route: &str,
    status: u16,
    outcome: &str,
) -> serde_json::Value {
    json!({
        "level": "INFO",
        "target": "access",
        "message": "request",
        "correlation_id": cid,
        "method": method,
        "path": path,
        "route": route,
        "status": status,
        "peer": "127.0.0.1",
        "consumer": "-",
        "outcome": outcome,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answered_gone_and_refused_requests_each_leave_one_line_and_one_count() {
    let up = Upstream::start(acme_upstream(Duration::from_secs(3))).await;
    let gw = LoggedGateway::start(&up.url(), "[limits]\nmax_headers = 20\n", None);
    let addr = gw.addr;

    // Answered.
    let ok = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "ok-1"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(
        gw.access_line("ok-1"),
        access("ok-1", "POST", ACME, "acme/orders", 200, "answered")
    );

    // The client goes away while the upstream works on its order.
    let client = std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(&acme_order("slow-gone")).unwrap();
        s
    });
    upstream_received(&up, 2).await;
    drop(client.join().unwrap());
    assert_eq!(
        gw.access_line("slow-gone"),
        access(
            "slow-gone",
            "POST",
            ACME,
            "acme/orders",
            499,
            "client_closed"
        )
    );

    // The client closes its connection halfway through its body.
    std::thread::spawn(move || {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(format!("POST {ACME} HTTP/1.1\r\nHost: gw\r\nContent-Type: application/xml\r\nX-Correlation-Id: cut-body\r\nContent-Length: 1000\r\n\r\n<Order").as_bytes())
            .unwrap();
    })
    .join()
    .unwrap();
    assert_eq!(
        gw.access_line("cut-body"),
        access(
            "cut-body",
            "POST",
            ACME,
            "acme/orders",
            499,
            "client_closed"
        )
    );

    // Heads hyper refuses itself: too many headers, and a request line it cannot read.
    let mut crowded = String::from("GET /partners/acme/orders HTTP/1.1\r\nHost: gw\r\n");
    for i in 0..30 {
        crowded.push_str(&format!("X-Filler-{i}: {i}\r\n"));
    }
    crowded.push_str("\r\n");
    let (crowded, garbage) = tokio::task::spawn_blocking(move || {
        (
            exchange(addr, crowded.as_bytes()),
            exchange(addr, b"NOT/HTTP\r\n\r\n"),
        )
    })
    .await
    .unwrap();
    assert!(
        crowded.starts_with("HTTP/1.1 431 Request Header Fields Too Large\r\n"),
        "{crowded}"
    );
    assert!(
        garbage.starts_with("HTTP/1.1 400 Bad Request\r\n"),
        "{garbage}"
    );
    gw.wait_for(|l| l["target"] == "access" && l["status"] == 400);
    let mut refused: Vec<_> = gw
        .access_lines()
        .into_iter()
        .filter(|l| l["outcome"] == "rejected")
        .collect();
    // Two connections, two lines: in whichever order their tasks logged them.
    refused.sort_by_key(|l| std::cmp::Reverse(l["status"].as_u64()));
    assert_eq!(
        refused,
        [
            access("-", "-", "-", "unmatched", 431, "rejected"),
            access("-", "-", "-", "unmatched", 400, "rejected"),
        ]
    );

    // Five requests, five lines, five counts; the abandoned exchange is counted too.
    assert_eq!(gw.access_lines().len(), 5, "{:#?}", gw.access_lines());
    assert_eq!(
        metric_lines(
            &gw.admin_url("/metrics"),
            &[
                "schemagate_requests_total",
                "schemagate_upstream_requests_total"
            ]
        )
        .await,
        [
            r#"schemagate_requests_total{route="acme/orders",method="POST",status="200"} 1"#,
            r#"schemagate_requests_total{route="acme/orders",method="POST",status="499"} 2"#,
            r#"schemagate_requests_total{route="unmatched",method="other",status="400"} 1"#,
            r#"schemagate_requests_total{route="unmatched",method="other",status="431"} 1"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="5xx"} 0"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="abandoned"} 1"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="ok"} 1"#,
        ]
    );
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_cut_at_the_drain_deadline_is_logged_503() {
    let up = Upstream::start(acme_upstream(Duration::from_secs(5))).await;
    let mut gw = LoggedGateway::start(&up.url(), "[server]\nshutdown_grace_ms = 300\n", None);
    let addr = gw.addr;
    let client = std::thread::spawn(move || exchange(addr, &acme_order("slow-cut")));
    upstream_received(&up, 1).await;
    let exit = tokio::task::spawn_blocking(move || {
        let exit = gw.terminate();
        (exit, gw)
    })
    .await
    .unwrap();
    let (exit, gw) = exit;
    assert!(exit.success(), "{exit:?}");
    // The client sees the connection close without an answer.
    assert_eq!(client.join().unwrap(), "");
    assert_eq!(
        gw.access_lines(),
        [access(
            "slow-cut",
            "POST",
            ACME,
            "acme/orders",
            503,
            "shutdown"
        )]
    );
}

#[tokio::test]
async fn a_redirect_or_304_answered_502_is_not_an_ok_exchange() {
    let up = Upstream::start(Arc::new(|r: &Recorded| {
        let status = match r.headers.get("x-correlation-id").map(|v| v.as_bytes()) {
            Some(b"moved") => StatusCode::FOUND,
            _ => StatusCode::NOT_MODIFIED,
        };
        (status, "application/json", Vec::new(), Duration::ZERO)
    }))
    .await;
    let gw = Gateway::start(&up.url()).await;
    for cid in ["moved", "unchanged"] {
        let reply = send(
            Method::POST,
            &gw.url(ACME),
            &[
                ("content-type", "application/xml"),
                ("accept", "application/problem+json"),
                ("x-correlation-id", cid),
            ],
            fixture("acme/orders/valid/input.xml"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_GATEWAY, "{cid}");
        assert_eq!(
            reply.json(),
            json!({"type": "urn:schemagate:problem:upstream-error", "title": "Upstream service failed", "status": 502, "detail": "the service failed to answer", "instance": cid})
        );
    }
    assert_eq!(
        metric_lines(
            &gw.admin_url("/metrics"),
            &["schemagate_upstream_requests_total"]
        )
        .await,
        [
            r#"schemagate_upstream_requests_total{service="orders",outcome="5xx"} 0"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="ok"} 0"#,
            r#"schemagate_upstream_requests_total{service="orders",outcome="unexpected_status"} 2"#,
        ]
    );
}
