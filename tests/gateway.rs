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
    String::from_utf8_lossy(b).trim_end_matches('\n').to_string()
}

#[tokio::test]
async fn acme_order_is_transformed_both_ways() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[("content-type", "application/xml"), ("x-correlation-id", "order-42")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/xml");
    assert_eq!(reply.header("x-correlation-id"), "order-42");
    assert_eq!(trim(&reply.body), trim(&fixture("acme/orders/valid/expected-response.xml")));

    let reqs = up.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!((reqs[0].method.as_str(), reqs[0].path.as_str()), ("POST", "/orders"));
    assert_eq!(reqs[0].headers.get("content-type").unwrap(), "application/json");
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
        &[("content-type", "application/xml"), ("x-correlation-id", "bad-1")],
        &b"<Order xmlns='urn:acme:orders:v2'><Placed>"[..],
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("content-type"), "application/problem+xml");
    let text = reply.text();
    assert!(text.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:malformed-body</type><title>Malformed request body</title><status>400</status><detail>malformed XML at line 1, column "), "{text}");
    assert!(text.ends_with("</detail><instance>bad-1</instance></problem>\n"), "{text}");
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn wrong_media_type_is_415() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[("content-type", "application/json"), ("accept", "application/problem+json"), ("x-correlation-id", "c-415")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:unsupported-media-type",
            "title": "Unsupported media type",
            "status": 415,
            "detail": "Content-Type `application/json` is not accepted; this route accepts application/xml or text/xml",
            "instance": "c-415"
        })
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
        &[("content-type", "application/xml"), ("accept", "application/json"), ("x-correlation-id", "big")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:payload-too-large",
            "title": "Request body too large",
            "status": 413,
            "detail": "the body exceeds the limit of 1000 bytes",
            "instance": "big"
        })
    );
    assert!(up.requests().is_empty());
}

fn responder(status: StatusCode, body: &'static str, delay: Duration) -> Responder {
    Arc::new(move |_r: &Recorded| (status, "application/json", body.as_bytes().to_vec(), delay))
}

async fn acme_against(respond: Responder) -> (Upstream, Reply) {
    let up = Upstream::start(respond).await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[("content-type", "application/xml"), ("accept", "application/problem+json"), ("x-correlation-id", "up-1")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    (up, reply)
}

fn problem(slug: &str, title: &str, status: u16, detail: &str) -> Value {
    json!({"type": format!("urn:schemagate:problem:{slug}"), "title": title, "status": status, "detail": detail, "instance": "up-1"})
}

#[tokio::test]
async fn upstream_4xx_keeps_its_status_without_leaking_the_body() {
    let (up, reply) = acme_against(responder(StatusCode::CONFLICT, "{\"error\":\"duplicate order at db-7.internal\"}", Duration::ZERO)).await;
    assert_eq!(up.requests().len(), 1);
    assert_eq!(reply.status, StatusCode::CONFLICT);
    assert_eq!(
        reply.json(),
        problem("upstream-rejected", "Upstream service rejected the request", 409, "the service rejected the request (HTTP 409)")
    );
}

#[tokio::test]
async fn upstream_5xx_is_502() {
    let (_up, reply) = acme_against(responder(StatusCode::INTERNAL_SERVER_ERROR, "{}", Duration::ZERO)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json(), problem("upstream-error", "Upstream service failed", 502, "the service failed to answer"));
}

#[tokio::test]
async fn invalid_upstream_body_is_502() {
    let (_up, reply) = acme_against(responder(StatusCode::OK, "{\"order_id\": \"A-1\", \"status\": \"LOST\"}", Duration::ZERO)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        problem("invalid-upstream-response", "Invalid upstream response", 502, "the service answered with an invalid document")
    );
    let (_up, reply) = acme_against(responder(StatusCode::OK, "not json", Duration::ZERO)).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json(),
        problem("invalid-upstream-response", "Invalid upstream response", 502, "the service answered with an unreadable body")
    );
}

#[tokio::test]
async fn upstream_timeout_is_504() {
    let (_up, reply) = acme_against(responder(StatusCode::OK, "{}", Duration::from_secs(5))).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.json()["type"], "urn:schemagate:problem:upstream-timeout");
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
        &[("content-type", "application/xml"), ("accept", "application/json")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.json()["type"], "urn:schemagate:problem:upstream-error");
    assert!(!reply.text().contains("127.0.0.1"), "{}", reply.text());
    assert!(!reply.text().contains(&port.to_string()), "{}", reply.text());
}

#[tokio::test]
async fn unknown_route_and_method() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(Method::GET, &gw.url("/nowhere"), &[("x-correlation-id", "nf")], bytes::Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({"type": "urn:schemagate:problem:not-found", "title": "Not found", "status": 404, "detail": "no route for GET /nowhere", "instance": "nf"})
    );
    let reply = send(Method::DELETE, &gw.url(ACME), &[("x-correlation-id", "na"), ("accept", "application/json")], bytes::Bytes::new()).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json()["detail"], "DELETE is not allowed here; allowed: POST");
}

#[tokio::test]
async fn correlation_ids_and_internal_headers() {
    let up = Upstream::start(Arc::new(|_r: &Recorded| {
        (StatusCode::OK, "application/json", fixture("acme/orders/valid/upstream.json"), Duration::ZERO)
    }))
    .await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::POST,
        &gw.url(ACME),
        &[("content-type", "application/xml"), ("x-correlation-id", "bad id with spaces"), ("x-internal-secret", "s3cret")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let generated = reply.header("x-correlation-id").to_string();
    assert_ne!(generated, "bad id with spaces");
    assert!(!generated.is_empty());
    let rec = &up.requests()[0];
    assert_eq!(rec.headers.get("x-correlation-id").unwrap(), generated.as_str());
    assert!(rec.headers.get("x-internal-secret").is_none());
    assert_eq!(rec.headers.get("x-forwarded-for").unwrap(), "127.0.0.1");
}

#[tokio::test]
async fn admin_endpoints() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let health = get(&gw.url("/healthz")).await;
    assert_eq!((health.status, health.text()), (StatusCode::OK, "{\"status\":\"ok\"}".to_string()));
    let _ = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    let metrics = get(&gw.url("/metrics")).await;
    assert_eq!(metrics.status, StatusCode::OK);
    assert!(metrics.text().contains("route=\"acme/orders\""), "{}", metrics.text());
    let status = get(&gw.url("/admin/status")).await.json();
    assert_eq!(status["generation"], 1);
    let openapi = get(&gw.url("/openapi.json")).await.json();
    assert_eq!(openapi["openapi"], "3.1.0");
    assert!(openapi["paths"][ACME]["post"]["requestBody"]["content"]["application/xml"].is_object());
    // Internal schemas are never published.
    let names: Vec<&String> = openapi["components"]["schemas"].as_object().unwrap().keys().collect();
    assert!(names.iter().all(|n| !n.starts_with("internal")), "{names:?}");
}
