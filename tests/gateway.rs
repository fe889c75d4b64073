//! Whole-gateway behaviour: a real gateway on an ephemeral port in front of a real recording
//! upstream on loopback. Each test asserts what the upstream received and the exact bytes,
//! status and problem body the partner got.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const ACME: &str = "/partners/acme/orders";

fn expected_json(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel)).unwrap()
}

fn trim(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches('\n')
        .to_string()
}

#[tokio::test]
async fn acme_order_is_transformed_both_ways() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "order-42"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/xml");
    assert_eq!(reply.header("x-correlation-id"), "order-42");
    assert_eq!(
        trim(&reply.body),
        trim(&fixture("acme/orders/valid/expected-response.xml"))
    );

    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/orders")
    );
    assert_eq!(
        reqs[0].headers.get("content-type").unwrap(),
        "application/json"
    );
    assert_eq!(reqs[0].headers.get("x-correlation-id").unwrap(), "order-42");
    let sent: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent, expected_json("acme/orders/valid/expected.json"));
}

#[tokio::test]
async fn single_item_stays_an_array() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = post_xml(&gw.url(ACME), fixture("acme/orders/single-item/input.xml")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).unwrap();
    assert_eq!(sent, expected_json("acme/orders/single-item/expected.json"));
    assert_eq!(sent["lines"].as_array().map(Vec::len), Some(1));
}

#[tokio::test]
async fn malformed_xml_is_400_in_the_partners_format_and_not_forwarded() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "bad-1"),
        ],
        &b"<Order xmlns='urn:acme:orders:v2'><Placed>"[..],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("content-type"), "application/problem+xml");
    let text = reply.text();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:malformed-body</type><title>Malformed request body</title><status>400</status><detail>malformed XML at line 1, column "), "{text}");
    assert!(
        text.ends_with("</detail><instance>bad-1</instance></problem>\n"),
        "{text}"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn wrong_media_type_is_415() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/json"),
            ("accept", "application/problem+json"),
            ("x-correlation-id", "c-415"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(
        reply.json(),
        problem_of(
            "c-415",
            "unsupported-media-type",
            "Unsupported media type",
            415,
            "Content-Type `application/json` is not accepted; this route accepts application/xml or text/xml"
        )
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn oversized_body_is_413_without_reading_it() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), "[limits]\nmax_body_bytes = 1000\n", None).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("accept", "application/json"),
            ("x-correlation-id", "big"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    // The unread body leaves the connection unusable, and the client is told.
    assert_eq!(reply.header("connection"), "close");
    assert_eq!(
        reply.json(),
        problem_of(
            "big",
            "payload-too-large",
            "Request body too large",
            413,
            "the body exceeds the limit of 1000 bytes"
        )
    );
    assert!(up.requests().is_empty());
}

fn responder(status: StatusCode, body: &'static str, delay: Duration) -> Responder {
    Arc::new(move |_r: &Recorded| (status, "application/json", body.as_bytes().to_vec(), delay))
}

async fn acme_against(respond: Responder) -> (Upstream, Reply) {
    let up = Upstream::start(respond).await;
    let gw = Gateway::start(&up.url()).await;
    let reply = post_acme_order(&gw).await;
    (up, reply)
}

/// The valid acme order, asking for problems as JSON, with correlation id `up-1`.
async fn post_acme_order(gw: &Gateway) -> Reply {
    send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("accept", "application/problem+json"),
            ("x-correlation-id", "up-1"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await
}

fn problem(slug: &str, title: &str, status: u16, detail: &str) -> Value {
    problem_of("up-1", slug, title, status, detail)
}

/// The problem document of a request whose correlation id is `instance`.
fn problem_of(instance: &str, slug: &str, title: &str, status: u16, detail: &str) -> Value {
    json!({"type": format!("urn:schemagate:problem:{slug}"), "title": title, "status": status, "detail": detail, "instance": instance})
}

#[tokio::test]
async fn upstream_4xx_keeps_its_status_without_leaking_the_body() {
    let (up, reply) = acme_against(responder(
        StatusCode::CONFLICT,
        "{\"error\":\"duplicate order at db-7.internal\"}",
        Duration::ZERO,
    ))
    .await;
    assert_eq!(up.requests().len(), 1);
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json(),
        problem(
            "upstream-rejected",
            "Upstream service rejected the request",
            409,
            "the service rejected the request (HTTP 409)"
        )
    );
}

#[tokio::test]
async fn upstream_5xx_is_502() {
    let (_up, reply) = acme_against(responder(
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        Duration::ZERO,
    ))
    .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        problem(
            "upstream-error",
            "Upstream service failed",
            502,
            "the service failed to answer"
        )
    );
}

#[tokio::test]
async fn invalid_upstream_body_is_502() {
    let (_up, reply) = acme_against(responder(
        StatusCode::OK,
        "{\"order_id\": \"A-1\", \"status\": \"LOST\"}",
        Duration::ZERO,
    ))
    .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        problem(
            "invalid-upstream-response",
            "Invalid upstream response",
            502,
            "the service answered with an invalid document"
        )
    );
    let (_up, reply) = acme_against(responder(StatusCode::OK, "not json", Duration::ZERO)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        problem(
            "invalid-upstream-response",
            "Invalid upstream response",
            502,
            "the service answered with an unreadable body"
        )
    );
}

#[tokio::test]
async fn an_upstream_value_xml_cannot_carry_is_502() {
    // Valid by the internal schema, but U+0001 has no form in XML 1.0.
    let ack = std::str::from_utf8(&fixture("acme/orders/valid/upstream.json"))
        .unwrap()
        .replace("\"A-10001\"", "\"A-\\u000110001\"");
    assert!(ack.contains("\\u0001"), "{ack}");
    let answer: Responder = Arc::new(move |_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            ack.clone().into_bytes(),
            Duration::ZERO,
        )
    });
    let (_up, reply) = acme_against(answer).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        problem(
            "invalid-upstream-response",
            "Invalid upstream response",
            502,
            "the service's answer cannot be converted"
        )
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let (_up, reply) = acme_against(responder(StatusCode::OK, "{}", Duration::from_secs(5))).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        reply.json()["type"],
        "urn:schemagate:problem:upstream-timeout"
    );
    assert_eq!(reply.json()["status"], 504);
}

#[tokio::test]
async fn refused_upstream_is_502_without_naming_the_host() {
    // Bind and drop a listener: its port is closed for the test's duration.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let gw = Gateway::start(&format!("http://127.0.0.1:{port}")).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("accept", "application/json"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json()["type"],
        "urn:schemagate:problem:upstream-error"
    );
    assert!(!reply.text().contains("127.0.0.1"), "{}", reply.text());
    assert!(
        !reply.text().contains(&port.to_string()),
        "{}",
        reply.text()
    );
}

#[tokio::test]
async fn unknown_route_and_method() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::GET,
        &gw.url("/nowhere"),
        &[("x-correlation-id", "nf")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        problem_of(
            "nf",
            "not-found",
            "Not found",
            404,
            "no route for GET /nowhere"
        )
    );
    // A long path is echoed as its first 128 bytes, the cut marked.
    let long = format!("/{}", "a".repeat(16_000));
    let reply = send(
        Method::GET,
        &gw.url(&long),
        &[("x-correlation-id", "nf")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        problem_of(
            "nf",
            "not-found",
            "Not found",
            404,
            &format!("no route for GET /{}\u{2026}", "a".repeat(127))
        )
    );
    let reply = send(
        Method::DELETE,
        &gw.url(ACME),
        &[("x-correlation-id", "na"), ("accept", "application/json")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(
        reply.json()["detail"],
        "DELETE is not allowed here; allowed: POST"
    );
}

#[tokio::test]
async fn correlation_ids_and_internal_headers() {
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            fixture("acme/orders/valid/upstream.json"),
            Duration::ZERO,
        )
    }))
    .await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "bad id with spaces"),
            ("x-internal-secret", "s3cret"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let generated = reply.header("x-correlation-id").to_string();
    assert_ne!(generated, "bad id with spaces");
    assert!(!generated.is_empty());
    let rec = &up.requests()[0];
    assert_eq!(
        rec.headers.get("x-correlation-id").unwrap(),
        generated.as_str()
    );
    assert!(rec.headers.get("x-internal-secret").is_none());
    assert_eq!(rec.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
}

#[tokio::test]
async fn admin_endpoints() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let health = get(&gw.admin_url("/healthz")).await;
    assert_eq!(
        (health.status, health.text()),
        (StatusCode::OK, "{\"status\":\"ok\"}".to_string())
    );
    // Admin answers carry the caller's correlation id, or a new one.
    let traced = send(
        Method::GET,
        &gw.admin_url("/readyz"),
        &[("x-correlation-id", "probe-7")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(traced.header("x-correlation-id"), "probe-7");
    assert_eq!(health.header("x-correlation-id").len(), 36);
    let ok = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = post_xml(&gw.url(ACME), fixture("acme/orders/invalid/input.xml")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(get(&gw.url("/nowhere")).await.status, StatusCode::NOT_FOUND);
    let metrics = get(&gw.admin_url("/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    let text = metrics.text();
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        r#"schemagate_requests_total{route="acme/orders",method="POST",status="200"} 1"#,
        r#"schemagate_requests_total{route="acme/orders",method="POST",status="422"} 1"#,
        r#"schemagate_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        r#"schemagate_request_duration_seconds_count{route="acme/orders",method="POST"} 2"#,
        r#"schemagate_upstream_requests_total{service="orders",outcome="ok"} 1"#,
        r#"schemagate_upstream_requests_total{service="orders",outcome="5xx"} 0"#,
        r#"schemagate_upstream_duration_seconds_count{service="orders"} 1"#,
        r#"schemagate_validation_failures_total{route="acme/orders",kind="external"} 1"#,
    ] {
        assert!(lines.contains(&expected), "missing `{expected}` in\n{text}");
    }
    let status = get(&gw.admin_url("/admin/status")).await.json();
    assert_eq!(status["generation"], 1);
    let acme = status["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "acme/orders")
        .unwrap();
    assert_eq!(
        acme,
        &json!({"name": "acme/orders", "kind": "transform", "method": "POST", "path": ACME, "format": "xml", "upstream": "orders"})
    );
    let openapi = get(&gw.admin_url("/openapi.json")).await.json();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(
        openapi["paths"][ACME]["post"]["requestBody"]["content"]["application/xml"].is_object()
    );
    // Internal schemas are never published.
    let names: Vec<&String> = openapi["components"]["schemas"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert!(
        names.iter().all(|n| !n.starts_with("internal")),
        "{names:?}"
    );
}

#[tokio::test]
async fn admin_endpoints_can_be_turned_off() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), "enabled = false\n", None).await;
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/status",
        "/openapi.json",
    ] {
        let reply = send(
            Method::GET,
            &gw.url(path),
            &[("x-correlation-id", "off"), ("accept", "application/json")],
            bytes::Bytes::new(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            reply.json(),
            problem_of(
                "off",
                "not-found",
                "Not found",
                404,
                &format!("no route for GET {path}")
            )
        );
    }
    // Partner routes are served as before.
    let ok = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    assert_eq!(ok.status, StatusCode::OK);
    assert_eq!(up.requests().len(), 1);
}

/// A mappings directory holding a copy of the acme route, for tests that rewrite it.
fn acme_mappings() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("acme")).unwrap();
    std::fs::copy(
        repo().join("mappings/acme/orders.yaml"),
        dir.path().join("acme/orders.yaml"),
    )
    .unwrap();
    dir
}

/// Version B of the acme route: express orders go upstream as STANDARD, and the answer's
/// status goes through a lookup that swaps ACCEPTED and PENDING. Against an upstream that
/// answers ACCEPTED to EXPRESS and PENDING to STANDARD, both versions answer `accepted`,
/// while a request mapped by one version and its answer by the other answers `pending`.
fn acme_version_b() -> String {
    let a = std::fs::read_to_string(repo().join("mappings/acme/orders.yaml")).unwrap();
    let b = a.replace("{ standard: STANDARD, express: EXPRESS }", "{ standard: STANDARD, express: STANDARD }").replace(
        "Status: { from: /status, apply: [lowercase] }",
        "Status: { from: /status, lookup: { ACCEPTED: pending, PENDING: accepted, REJECTED: rejected } }",
    );
    assert_ne!(a, b, "the acme route changed shape; update this test");
    b
}

fn speed_echo() -> Responder {
    Arc::new(|r: &Recorded| {
        let sent: Value = serde_json::from_slice(&r.body).unwrap_or_default();
        let status = if sent["shipping"]["speed"] == "EXPRESS" {
            "ACCEPTED"
        } else {
            "PENDING"
        };
        let body = format!(
            "{{\"order_id\":\"A-10001\",\"status\":\"{status}\",\"total\":1343.6,\"estimated_delivery\":\"2026-11-30\"}}"
        );
        (
            StatusCode::OK,
            "application/json",
            body.into_bytes(),
            Duration::ZERO,
        )
    })
}

/// A mapping the checker cannot fault (a pattern is beyond static proof) that produces a
/// document the internal schema refuses: the gateway's own error, 500, nothing forwarded,
/// and the partner told nothing of the mapping.
#[tokio::test]
async fn a_mapping_that_breaks_the_internal_schema_is_500_and_not_forwarded() {
    let up = Upstream::acme().await;
    let mappings = acme_mappings();
    let route = mappings.path().join("acme/orders.yaml");
    let original = std::fs::read_to_string(&route).unwrap();
    // The internal schema allows no capital letters in an email address.
    let broken = original.replace("apply: [trim, lowercase]", "apply: [trim]");
    assert_ne!(
        original, broken,
        "the acme route changed shape; update this test"
    );
    std::fs::write(&route, broken).unwrap();
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let reply = post_acme_order(&gw).await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        reply.json(),
        problem(
            "internal-error",
            "Internal gateway error",
            500,
            "the gateway produced an invalid document; the operators have been told"
        )
    );
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_never_mixes_versions() {
    let up = Upstream::start(speed_echo()).await;
    let mappings = acme_mappings();
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let original = std::fs::read_to_string(mappings.path().join("acme/orders.yaml")).unwrap();
    let version_b = acme_version_b();

    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let url = gw.url(ACME);
        let stop = Arc::clone(&stop);
        clients.push(tokio::spawn(async move {
            let body = fixture("acme/orders/valid/input.xml");
            let mut answered = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let reply = post_xml(&url, body.clone()).await;
                assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
                assert!(
                    reply.text().contains("<Status>accepted</Status>"),
                    "mixed versions: {}",
                    reply.text()
                );
                answered += 1;
            }
            answered
        }));
    }
    for i in 0..20 {
        let text = if i % 2 == 0 { &version_b } else { &original };
        std::fs::write(mappings.path().join("acme/orders.yaml"), text).unwrap();
        let state = Arc::clone(&gw.state);
        assert!(
            tokio::task::spawn_blocking(move || state.reload())
                .await
                .unwrap(),
            "reload {i} refused"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        total += c.await.unwrap();
    }
    assert!(total > 0);
    let speeds: std::collections::BTreeSet<String> = up
        .requests()
        .iter()
        .map(|r| {
            serde_json::from_slice::<Value>(&r.body).unwrap()["shipping"]["speed"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(
        speeds.into_iter().collect::<Vec<_>>(),
        vec!["EXPRESS".to_string(), "STANDARD".to_string()]
    );
    assert_eq!(
        get(&gw.admin_url("/admin/status")).await.json()["generation"],
        21
    );
}

#[tokio::test]
async fn a_broken_reload_keeps_the_old_configuration_serving() {
    let up = Upstream::acme().await;
    let mappings = acme_mappings();
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    std::fs::write(
        mappings.path().join("acme/orders.yaml"),
        "route: [not, a, route]\n",
    )
    .unwrap();
    let state = Arc::clone(&gw.state);
    assert!(
        !tokio::task::spawn_blocking(move || state.reload())
            .await
            .unwrap()
    );
    let reply = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let status = get(&gw.admin_url("/admin/status")).await.json();
    assert_eq!(status["generation"], 1);
    assert_eq!(status["last_reload"]["outcome"], "failure");
    assert!(
        status["last_reload"]["errors"][0]
            .as_str()
            .unwrap()
            .contains("orders.yaml"),
        "{status}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_a_route_file_into_a_watched_directory_adds_the_route() {
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            fixture("globex/orders/valid/upstream.json"),
            Duration::ZERO,
        )
    }))
    .await;
    let mappings = acme_mappings();
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let _watch = {
        let state = Arc::clone(&gw.state);
        let handle = tokio::runtime::Handle::current();
        schemagate::reload::watch(
            gw.state.watched_paths(),
            Duration::from_millis(50),
            move || {
                let s = Arc::clone(&state);
                handle.spawn_blocking(move || s.reload());
            },
        )
        .unwrap()
    };
    let url = gw.url("/partners/globex/orders");
    let body = fixture("globex/orders/valid/input.json");
    let reply = send(
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        body.clone(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    std::fs::create_dir_all(mappings.path().join("globex")).unwrap();
    std::fs::copy(
        repo().join("mappings/globex/orders.yaml"),
        mappings.path().join("globex/orders.yaml"),
    )
    .unwrap();
    let mut reply = None;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = send(
            Method::POST,
            &url,
            &[("content-type", "application/json")],
            body.clone(),
        )
        .await;
        if r.status != StatusCode::NOT_FOUND {
            reply = Some(r);
            break;
        }
    }
    let reply = reply.expect("the new route was picked up within 10 s");
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.json(),
        expected_json("globex/orders/valid/expected-response.json")
    );
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).unwrap();
    assert_eq!(sent, expected_json("globex/orders/valid/expected.json"));
}

#[tokio::test]
async fn globex_get_route_maps_the_response_only() {
    let up = Upstream::start(Arc::new(|r: &Recorded| {
        assert_eq!(r.path, "/orders/GX-5501");
        (
            StatusCode::OK,
            "application/json",
            fixture("globex/order-status/shipped/upstream.json"),
            Duration::ZERO,
        )
    }))
    .await;
    let gw = Gateway::start(&up.url()).await;
    let reply = get(&gw.url("/partners/globex/orders/GX-5501")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(
        trim(&reply.body),
        trim(&fixture(
            "globex/order-status/shipped/expected-response.json"
        ))
    );
    let reqs = up.requests();
    assert_eq!((reqs[0].method.as_str(), reqs[0].body.len()), ("GET", 0));
}

/// Posts the globex example order to a gateway whose upstream answers 409 with `body`.
async fn globex_order_rejected_with(
    body: &'static str,
    headers: &[(&str, &str)],
) -> (Upstream, Reply) {
    let up = Upstream::start(responder(StatusCode::CONFLICT, body, Duration::ZERO)).await;
    let gw = Gateway::start(&up.url()).await;
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    let reply = send(
        Method::POST,
        &gw.url("/partners/globex/orders"),
        &all,
        fixture("globex/orders/valid/input.json"),
    )
    .await;
    (up, reply)
}

#[tokio::test]
async fn globex_upstream_error_is_mapped_into_globex_error_document() {
    let (up, reply) = globex_order_rejected_with(
        "{\"error\":\"duplicate order\"}",
        &[("x-correlation-id", "dup-1")],
    )
    .await;
    assert_eq!(up.requests().len(), 1);
    assert_eq!(reply.status, StatusCode::CONFLICT, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.header("x-correlation-id"), "dup-1");
    assert_eq!(
        reply.text(),
        "{\"errorCode\":\"DUPLICATE_ORDER\",\"message\":\"duplicate order\"}"
    );
}

#[tokio::test]
async fn globex_upstream_error_that_does_not_fit_is_summarised() {
    let (_up, reply) = globex_order_rejected_with(
        "{\"detail\":\"row locked at db-7.internal\"}",
        &[
            ("accept", "application/problem+json"),
            ("x-correlation-id", "up-1"),
        ],
    )
    .await;
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json(),
        problem(
            "upstream-rejected",
            "Upstream service rejected the request",
            409,
            "the service rejected the request (HTTP 409)"
        )
    );
}

#[tokio::test]
async fn listed_query_parameters_reach_the_upstream_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("globex")).unwrap();
    let route = std::fs::read_to_string(repo().join("mappings/globex/order-status.yaml"))
        .unwrap()
        .replace(
            "  path: /orders/{orderId}\n",
            "  path: /orders/{orderId}\n  query: [lang, fields]\n",
        );
    std::fs::write(dir.path().join("globex/order-status.yaml"), route).unwrap();
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            fixture("globex/order-status/shipped/upstream.json"),
            Duration::ZERO,
        )
    }))
    .await;
    let gw = Gateway::start_with(&up.url(), "", Some(dir.path())).await;
    let reply = get(
        &gw.url("/partners/globex/orders/GX-5501?fields=lines%2Ctotal&debug=1&lang=de&lang=en")
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let reqs = up.requests();
    assert_eq!(reqs[0].path, "/orders/GX-5501");
    assert_eq!(
        reqs[0].query.as_deref(),
        Some("fields=lines%2Ctotal&lang=de&lang=en")
    );
}

#[test]
fn everything_shipped_checks_clean() {
    let report = schemagate::check::run(&schemagate::config::LoadOptions {
        config_path: Some(repo().join("gateway.toml")),
        ..Default::default()
    });
    assert!(report.ok, "{}", report.render_text());
    assert_eq!(report.fixtures_failed, 0, "{}", report.render_text());
    assert_eq!(
        report.diagnostics.iter().filter(|d| !d.is_error()).count(),
        0,
        "{}",
        report.render_text()
    );
    assert_eq!(report.routes, 6);
    assert!(report.fixtures_passed >= 14, "{}", report.render_text());
}

#[test]
fn every_shipped_configuration_loads() {
    for file in ["gateway.toml", "bench/gateway.toml"] {
        let opts = schemagate::config::LoadOptions {
            config_path: Some(repo().join(file)),
            ..Default::default()
        };
        let gw = schemagate::config::load_with_env(&opts, &|_| None)
            .unwrap_or_else(|d| panic!("{file}: {d:#?}"));
        // The examples' six routes; bench/ has acme's, globex's two, /api/{path},
        // /bff/dashboard and the cached GET /cached/{path}: six as well.
        assert_eq!(gw.routes.len(), 6, "{file}");
        assert!(gw.config.upstreams.contains_key("orders"), "{file}");
    }
    let opts = schemagate::config::LoadOptions {
        config_path: Some(repo().join("bench/gateway.toml")),
        ..Default::default()
    };
    let env = |name: &str| match name {
        "LISTEN" => Some("127.0.0.1:18999".to_string()),
        "UPSTREAM_URL" => Some("http://127.0.0.1:18090".to_string()),
        _ => None,
    };
    let gw = schemagate::config::load_with_env(&opts, &env).unwrap();
    assert_eq!(gw.config.server.listen, "127.0.0.1:18999");
    assert_eq!(gw.config.upstreams["orders"].url, "http://127.0.0.1:18090");
    assert_eq!(gw.config.server.workers, 1);
}

#[test]
fn a_broken_configuration_names_the_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n").unwrap();
    let opts = schemagate::config::LoadOptions {
        config_path: Some(path.clone()),
        ..Default::default()
    };
    let diags = schemagate::config::load(&opts).unwrap_err();
    assert_eq!(diags.len(), 1);
    assert_eq!((diags[0].line, diags[0].column), (Some(3), Some(1)));
    assert!(
        diags[0].message.starts_with("unknown field `lisen`"),
        "{}",
        diags[0].message
    );
}

#[tokio::test]
async fn a_content_coded_body_is_415_and_not_forwarded() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    for (coding, named) in [("gzip", "gzip"), ("identity, br, x-unknown", "br")] {
        let reply = send(
            Method::POST,
            &gw.url("/partners/globex/orders"),
            &[
                ("content-type", "application/json"),
                ("content-encoding", coding),
                ("x-correlation-id", "ce-1"),
            ],
            fixture("globex/orders/valid/input.json"),
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(reply.header("content-type"), "application/problem+json");
        assert_eq!(
            reply.json(),
            problem_of(
                "ce-1",
                "unsupported-media-type",
                "Unsupported media type",
                415,
                &format!(
                    "Content-Encoding `{named}` is not supported: the gateway does not decompress request bodies; send the body uncompressed"
                )
            )
        );
    }
    assert!(up.requests().is_empty());
}

/// A mappings directory holding the globex status route with `edit` applied.
fn globex_status_route(edit: impl Fn(String) -> String) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("globex")).unwrap();
    let original =
        std::fs::read_to_string(repo().join("mappings/globex/order-status.yaml")).unwrap();
    let edited = edit(original.clone());
    assert_ne!(
        original, edited,
        "the globex status route changed shape; update this test"
    );
    std::fs::write(dir.path().join("globex/order-status.yaml"), edited).unwrap();
    dir
}

fn shipped_status() -> Responder {
    Arc::new(|_r: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            fixture("globex/order-status/shipped/upstream.json"),
            Duration::ZERO,
        )
    })
}

#[tokio::test]
async fn path_parameters_are_decoded_for_mappings_and_encoded_once_upstream() {
    let mappings = globex_status_route(|r| {
        r.replace("    orderRef: /order_id\n", "    orderRef: $path.orderId\n")
    });
    let up = Upstream::start(shipped_status()).await;
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let cases = [
        ("GX%205501", "GX 5501", "/orders/GX%205501"),
        ("M%C3%BCller", "Müller", "/orders/M%C3%BCller"),
        ("a%2Fb", "a/b", "/orders/a%2Fb"),
        ("50%25", "50%", "/orders/50%25"),
        ("GX-5501", "GX-5501", "/orders/GX-5501"),
        // A dot-segment stays one opaque segment: no server on the way can climb with it.
        ("%2e%2e", "..", "/orders/%2E%2E"),
        ("%2E", ".", "/orders/%2E"),
    ];
    for (sent, mapped, _) in cases {
        let reply = get(&gw.url(&format!("/partners/globex/orders/{sent}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{sent}: {}", reply.text());
        assert_eq!(reply.json()["orderRef"], mapped, "{sent}");
    }
    let paths: Vec<String> = up.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        cases.iter().map(|c| c.2.to_string()).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn a_path_parameter_that_does_not_decode_is_400_and_not_forwarded() {
    let up = Upstream::start(shipped_status()).await;
    let gw = Gateway::start(&up.url()).await;
    for (sent, detail) in [
        (
            "%FF",
            "path parameter `orderId` is not UTF-8 text once percent-decoded",
        ),
        (
            "GX%2",
            "path parameter `orderId` has a `%` that is not followed by two hexadecimal digits",
        ),
    ] {
        let reply = send(
            Method::GET,
            &gw.url(&format!("/partners/globex/orders/{sent}")),
            &[("x-correlation-id", "p-1")],
            bytes::Bytes::new(),
        )
        .await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{sent}");
        assert_eq!(reply.header("content-type"), "application/problem+json");
        assert_eq!(
            reply.json(),
            problem_of("p-1", "invalid-path", "Invalid request path", 400, detail)
        );
    }
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn upstream_software_and_via_headers_do_not_reach_the_partner() {
    use axum::response::IntoResponse as _;
    let ack = fixture("acme/orders/valid/upstream.json");
    let router = axum::Router::new().fallback(move || {
        let ack = ack.clone();
        async move {
            (
                [
                    ("content-type", "application/json"),
                    ("via", "1.1 orders-7f9c.svc.cluster.local:8080"),
                    ("server", "orders.internal"),
                    ("x-powered-by", "Express"),
                    ("cache-control", "no-store"),
                ],
                ack,
            )
                .into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    let gw = Gateway::start(&format!("http://{addr}")).await;
    let reply = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    let mut names: Vec<&str> = reply.headers.keys().map(|k| k.as_str()).collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "cache-control",
            "content-length",
            "content-type",
            "date",
            "x-correlation-id"
        ]
    );
    assert_eq!(reply.header("cache-control"), "no-store");
}

#[test]
fn a_route_declaring_an_internal_header_does_not_load() {
    let mappings = globex_status_route(|r| {
        r.replace(
            "  format: json\n",
            "  format: json\n  headers: [X-Partner-Ref, x-internal-role]\n",
        )
        .replace(
            "    orderRef: /order_id\n",
            "    orderRef: $header.x-internal-role\n",
        )
    });
    let dir = tempfile::tempdir().unwrap();
    let config = write_config(
        dir.path(),
        &repo().join("schemas"),
        mappings.path(),
        "http://127.0.0.1:1",
        "",
    );
    let opts = schemagate::config::LoadOptions {
        config_path: Some(config),
        ..Default::default()
    };
    let diags = schemagate::config::load(&opts).unwrap_err();
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.is_error())
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        errors,
        [format!(
            "{}:7:3: error: header `x-internal-role` starts with the internal prefix `X-Internal-`: the gateway removes such headers from every partner request, so a mapping can never read it\n  --> at route.headers\n  = hint: remove `x-internal-role` from route.headers, or change headers.internal_prefixes in gateway.toml",
            mappings.path().join("globex/order-status.yaml").display()
        )]
    );
}

#[tokio::test]
async fn method_not_allowed_lists_the_methods_in_the_routes_format() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    // The XML route answers in XML, as its other errors do.
    let reply = send(
        Method::GET,
        &gw.url(ACME),
        &[("x-correlation-id", "m-1")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), "POST");
    assert_eq!(reply.header("content-type"), "application/problem+xml");
    assert_eq!(reply.header("x-correlation-id"), "m-1");
    assert_eq!(
        reply.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:method-not-allowed</type><title>Method not allowed</title><status>405</status><detail>GET is not allowed here; allowed: POST</detail><instance>m-1</instance></problem>\n"
    );
    // A GET route allows HEAD too.
    let reply = send(
        Method::DELETE,
        &gw.url("/partners/globex/orders/GX-5501"),
        &[("x-correlation-id", "m-2")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), "GET, HEAD");
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(
        reply.json(),
        problem_of(
            "m-2",
            "method-not-allowed",
            "Method not allowed",
            405,
            "DELETE is not allowed here; allowed: GET, HEAD"
        )
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn head_is_answered_like_get_without_a_body() {
    let up = Upstream::start(shipped_status()).await;
    let gw = Gateway::start(&up.url()).await;
    let url = gw.url("/partners/globex/orders/GX-5501");
    let full = get(&url).await;
    assert_eq!(full.status, StatusCode::OK);
    let head = send(
        Method::HEAD,
        &url,
        &[("x-correlation-id", "h-1")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
    assert_eq!(head.header("content-type"), "application/json");
    assert_eq!(head.header("x-correlation-id"), "h-1");
    assert_eq!(
        head.header("content-length"),
        full.body.len().to_string().as_str()
    );
    assert!(head.body.is_empty());
    let calls: Vec<(String, String)> = up
        .requests()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path))
        .collect();
    assert_eq!(
        calls,
        [
            ("GET".to_string(), "/orders/GX-5501".to_string()),
            ("GET".to_string(), "/orders/GX-5501".to_string())
        ]
    );
    // HEAD on a route without GET is still refused.
    let reply = send(Method::HEAD, &gw.url(ACME), &[], bytes::Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), "POST");
    // Each request counts under its own method.
    let metrics = get(&gw.admin_url("/metrics")).await.text();
    let mut counts: Vec<&str> = metrics
        .lines()
        .filter(|l| l.starts_with("schemagate_requests_total{route=\"globex/order-status\""))
        .collect();
    counts.sort_unstable();
    assert_eq!(
        counts,
        [
            "schemagate_requests_total{route=\"globex/order-status\",method=\"GET\",status=\"200\"} 1",
            "schemagate_requests_total{route=\"globex/order-status\",method=\"HEAD\",status=\"200\"} 1",
        ]
    );
}

#[tokio::test]
async fn admin_method_not_allowed_is_a_problem_document() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.admin_url("/metrics"),
        &[("x-correlation-id", "adm-1")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), "GET, HEAD");
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(reply.header("x-correlation-id"), "adm-1");
    assert_eq!(
        reply.json(),
        problem_of(
            "adm-1",
            "method-not-allowed",
            "Method not allowed",
            405,
            "POST is not allowed here; allowed: GET, HEAD"
        )
    );
    let head = send(
        Method::HEAD,
        &gw.admin_url("/healthz"),
        &[],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(head.status, StatusCode::OK);
}

/// An upstream answering every request with `status`, a JSON body and `Retry-After: 30`.
async fn upstream_asking_to_retry(
    status: StatusCode,
) -> (String, tokio::sync::oneshot::Sender<()>) {
    let router = axum::Router::new().fallback(move || async move {
        (
            status,
            [
                (http::header::CONTENT_TYPE, "application/json"),
                (http::header::RETRY_AFTER, "30"),
            ],
            "{\"error\":\"slow down\"}",
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = rx.await;
            })
            .await;
    });
    (url, tx)
}

#[tokio::test]
async fn upstream_retry_after_reaches_the_partner_on_summarised_answers() {
    for (status, slug, title, detail) in [
        (
            StatusCode::TOO_MANY_REQUESTS,
            "upstream-rejected",
            "Upstream service rejected the request",
            "the service rejected the request (HTTP 429)",
        ),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            "upstream-error",
            "Upstream service failed",
            "the service is unavailable for now",
        ),
    ] {
        let (url, _stop) = upstream_asking_to_retry(status).await;
        let gw = Gateway::start(&url).await;
        let reply = post_acme_order(&gw).await;
        assert_eq!(reply.status, status);
        assert_eq!(reply.header("retry-after"), "30", "{status}");
        assert_eq!(reply.json(), problem(slug, title, status.as_u16(), detail));
        // The route with an errors mapping keeps it as well.
        let reply = send(
            Method::POST,
            &gw.url("/partners/globex/orders"),
            &[("content-type", "application/json")],
            fixture("globex/orders/valid/input.json"),
        )
        .await;
        assert_eq!(reply.status, status);
        assert_eq!(reply.header("retry-after"), "30", "{status}");
    }
}

/// The value of an unlabelled `/metrics` line.
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn the_start_up_load_counts_as_the_last_good_load() {
    let before = unix_now().floor();
    let up = Upstream::acme().await;
    let mappings = acme_mappings();
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let after = unix_now();
    let text = get(&gw.admin_url("/metrics")).await.text();
    let started = metric(&text, "schemagate_last_reload_success_timestamp_seconds");
    assert!(
        (before..=after).contains(&started),
        "{before} <= {started} <= {after}"
    );
    let lines: Vec<&str> = text.lines().collect();
    for expected in [
        "schemagate_config_generation 1",
        r#"schemagate_reloads_total{outcome="success"} 0"#,
        r#"schemagate_reloads_total{outcome="failure"} 0"#,
    ] {
        assert!(lines.contains(&expected), "missing `{expected}` in\n{text}");
    }
    let status = get(&gw.admin_url("/admin/status")).await.json();
    assert_eq!(status["generation"], 1);
    assert_eq!(status["last_reload"]["outcome"], "initial");
    assert_eq!(status["last_reload"]["errors"], json!([]));
    let loaded = status["loaded_at_unix"].as_f64().unwrap();
    assert!((before..=after).contains(&loaded), "{status}");

    // A refused reload keeps the time of the last good load; a good one moves it.
    std::fs::write(
        mappings.path().join("acme/orders.yaml"),
        "route: [broken]\n",
    )
    .unwrap();
    let state = Arc::clone(&gw.state);
    assert!(
        !tokio::task::spawn_blocking(move || state.reload())
            .await
            .unwrap()
    );
    let text = get(&gw.admin_url("/metrics")).await.text();
    assert_eq!(
        metric(&text, "schemagate_last_reload_success_timestamp_seconds"),
        started
    );
    assert!(
        text.lines()
            .any(|l| l == r#"schemagate_reloads_total{outcome="failure"} 1"#)
    );
    std::fs::write(mappings.path().join("acme/orders.yaml"), acme_version_b()).unwrap();
    let state = Arc::clone(&gw.state);
    assert!(
        tokio::task::spawn_blocking(move || state.reload())
            .await
            .unwrap()
    );
    let text = get(&gw.admin_url("/metrics")).await.text();
    assert!(metric(&text, "schemagate_last_reload_success_timestamp_seconds") >= started);
    assert_eq!(metric(&text, "schemagate_config_generation"), 2.0);
    assert!(
        text.lines()
            .any(|l| l == r#"schemagate_reloads_total{outcome="success"} 1"#)
    );
}

/// Every `$ref` in `v`, outside the keywords holding data.
fn refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => out.push(r.clone()),
                    ("enum" | "const" | "examples" | "default", _) => {}
                    _ => refs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn a_refused_format_is_not_chosen_for_a_problem() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    for (accept, media_type) in [
        (
            "application/json;q=0, application/xml",
            "application/problem+xml",
        ),
        (
            "application/json;q=0.1, application/xml",
            "application/problem+xml",
        ),
        (
            "application/xml;q=0.5, application/json",
            "application/problem+json",
        ),
        ("*/*", "application/problem+json"),
    ] {
        let reply = send(
            Method::POST,
            &gw.url("/partners/globex/orders"),
            &[
                ("content-type", "text/plain"),
                ("accept", accept),
                ("x-correlation-id", "q-1"),
            ],
            &b"x"[..],
        )
        .await;
        assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        assert_eq!(reply.header("content-type"), media_type, "{accept}");
    }
    let reply = send(
        Method::POST,
        &gw.url("/partners/globex/orders"),
        &[
            ("content-type", "text/plain"),
            ("accept", "application/json;q=0, application/xml"),
            ("x-correlation-id", "q-1"),
        ],
        &b"x"[..],
    )
    .await;
    assert_eq!(
        reply.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:unsupported-media-type</type><title>Unsupported media type</title><status>415</status><detail>Content-Type `text/plain` is not accepted; this route accepts application/json</detail><instance>q-1</instance></problem>\n"
    );
}

#[tokio::test]
async fn openapi_json_is_self_contained() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let doc = get(&gw.admin_url("/openapi.json")).await.json();
    let mut found = Vec::new();
    refs(&doc, &mut found);
    found.sort();
    found.dedup();
    assert_eq!(
        found,
        [
            "#/components/schemas/Problem",
            // An XML body is its root element, not the JSON view's object around it.
            "#/components/schemas/acme_order-ack/properties/OrderAck",
            "#/components/schemas/acme_order.Customer",
            "#/components/schemas/acme_order.Item",
            "#/components/schemas/acme_order.Order",
            "#/components/schemas/acme_order.ShipTo",
            "#/components/schemas/acme_order.text",
            "#/components/schemas/globex_common.Country",
            "#/components/schemas/globex_common.Currency",
            "#/components/schemas/globex_common.Money",
            "#/components/schemas/globex_order",
            "#/components/schemas/globex_order-ack",
            "#/components/schemas/globex_order-status",
        ]
    );
    for r in &found {
        let pointer = r.strip_prefix('#').unwrap();
        assert!(doc.pointer(pointer).is_some(), "{r} resolves to nothing");
    }
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["acme_order.Item"],
        json!({
            "type": "object",
            "required": ["@line", "Sku", "Qty", "Price"],
            "properties": {
                "@line": {"type": "integer", "minimum": 1, "xml": {"name": "line", "attribute": true}},
                "Sku": {"$ref": "#/components/schemas/acme_order.text"},
                "Qty": {"type": "integer", "minimum": 1},
                "Price": {"type": "string", "pattern": "^[0-9]+(\\.[0-9]+)?$"}
            }
        })
    );
    assert_eq!(
        schemas["globex_common.Currency"],
        json!({"type": "string", "pattern": "^[A-Z]{3}$"})
    );
    // No copy keeps what would move references elsewhere.
    let text = serde_json::to_string(&doc).unwrap();
    for word in ["\"$id\"", "\"$schema\"", "\"$defs\"", "common.schema.json"] {
        assert!(!text.contains(word), "{word} in {text}");
    }
}

/// The acme upstream's answers, for an upstream served over TLS.
fn acme_responder() -> Responder {
    Arc::new(|r: &Recorded| match (r.method.as_str(), r.path.as_str()) {
        ("POST", "/orders") => (
            StatusCode::OK,
            "application/json",
            fixture("acme/orders/valid/upstream.json"),
            Duration::ZERO,
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            b"{}".to_vec(),
            Duration::ZERO,
        ),
    })
}

/// A gateway whose `orders` upstream is `https://localhost:PORT` of `up`, trusting the CA
/// file `ca` and, with `identity`, presenting that client certificate.
async fn gateway_over_tls(
    up: &Upstream,
    ca: &tls::Ca,
    identity: Option<&tls::Issued>,
) -> (Gateway, tempfile::TempDir) {
    let files = tempfile::tempdir().unwrap();
    let ca_file = ca.write(files.path(), "ca.pem");
    let mut extra = format!(
        "[upstreams.orders.tls]\nca_file = \"{}\"\n",
        ca_file.display()
    );
    if let Some(id) = identity {
        let cert = files.path().join("client.pem");
        let key = files.path().join("client.key");
        std::fs::write(&cert, &id.pem).unwrap();
        std::fs::write(&key, &id.key_pem).unwrap();
        extra.push_str(&format!(
            "client_cert_file = \"{}\"\nclient_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        ));
    }
    let url = format!("https://localhost:{}", up.addr.port());
    (Gateway::start_with(&url, &extra, None).await, files)
}

#[tokio::test]
async fn an_https_upstream_with_a_trusted_certificate_works_end_to_end_over_http2() {
    let ca = tls::Ca::new("orders CA");
    let up = Upstream::start_tls(acme_responder(), &ca.issue(&["localhost"], false), None).await;
    let (gw, _files) = gateway_over_tls(&up, &ca, None).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "tls-1"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        trim(&reply.body),
        trim(&fixture("acme/orders/valid/expected-response.xml"))
    );
    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    // ALPN chose HTTP/2; the authority rides as :authority, the path and body as over h1.
    assert_eq!(reqs[0].version, http::Version::HTTP_2);
    assert_eq!(
        (reqs[0].method.as_str(), reqs[0].path.as_str()),
        ("POST", "/orders")
    );
    assert_eq!(reqs[0].headers.get("x-correlation-id").unwrap(), "tls-1");
    let sent: Value = serde_json::from_slice(&reqs[0].body).unwrap();
    assert_eq!(sent, expected_json("acme/orders/valid/expected.json"));
}

/// The problem a partner gets when the TLS handshake with the upstream fails: 502, saying
/// which check failed, naming no host.
async fn tls_refusal(cert: tls::Issued, trusted: &tls::Ca) -> (Upstream, Reply) {
    let up = Upstream::start_tls(acme_responder(), &cert, None).await;
    let (gw, _files) = gateway_over_tls(&up, trusted, None).await;
    let reply = post_acme_order(&gw).await;
    (up, reply)
}

fn tls_problem(detail: &str) -> Value {
    problem("upstream-error", "Upstream service failed", 502, detail)
}

#[tokio::test]
async fn an_https_upstream_signed_by_an_untrusted_ca_is_502() {
    let other = tls::Ca::new("someone else's CA");
    let trusted = tls::Ca::new("orders CA");
    let (up, reply) = tls_refusal(other.issue(&["localhost"], false), &trusted).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        tls_problem(
            "The service behind this API presented a TLS certificate from an authority the gateway does not trust."
        )
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_https_upstream_with_a_certificate_for_another_host_is_502() {
    let ca = tls::Ca::new("orders CA");
    let (up, reply) = tls_refusal(ca.issue(&["billing.internal"], false), &ca).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        tls_problem(
            "The service behind this API presented a TLS certificate for another host name."
        )
    );
    assert!(!reply.text().contains("localhost") && !reply.text().contains("billing"));
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_https_upstream_with_an_expired_certificate_is_502() {
    let ca = tls::Ca::new("orders CA");
    let (up, reply) = tls_refusal(ca.issue(&["localhost"], true), &ca).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        tls_problem("The service behind this API presented an expired TLS certificate.")
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_https_upstream_requiring_a_client_certificate_gets_the_configured_one() {
    let ca = tls::Ca::new("orders CA");
    let clients = tls::Ca::new("gateway clients CA");
    let server_cert = ca.issue(&["localhost"], false);
    let up = Upstream::start_tls(acme_responder(), &server_cert, Some(&clients)).await;

    // Without a client certificate the upstream refuses the connection. In TLS 1.3 the
    // server judges the client's certificate after the client has finished its side of the
    // handshake, so the gateway sees its first exchange on the connection fail.
    let (gw, _files) = gateway_over_tls(&up, &ca, None).await;
    let reply = post_acme_order(&gw).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        tls_problem("The connection to the service behind this API failed.")
    );
    assert!(up.requests().is_empty());

    let identity = clients.issue(&["schemagate"], false);
    let (gw, _files) = gateway_over_tls(&up, &ca, Some(&identity)).await;
    let reply = post_acme_order(&gw).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(up.requests().len(), 1);
}
