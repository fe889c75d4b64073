//! The built-in demo upstream of `serve --demo`: a small internal "orders" service, so the
//! example partner routes answer with no other service running.
//!
//! It speaks the internal JSON the example mappings target (`snake_case`, exact totals):
//!
//! | request | answer |
//! |---|---|
//! | `POST /orders` (an internal order) | 200 acknowledgement with the exact total and a delivery date six days after `placed_at`; 400 if the body is not an order; 409 if `order_id` starts with `REJECT` |
//! | `GET /orders/{id}` | 200 status document; 404 for `missing` or ids starting with `404` |
//! | `GET /users/{id}` | 200 user (numeric id); 404 otherwise |
//! | `GET /orders/recent?user=N` | 200 the user's recent orders |
//! | `GET /notifications?user=N` | 200 the user's notifications |
//! | `POST /stock/levels` (`{"sku", "warehouse"}`) | 200 the article's stock level: 140, counted 2026-12-07 |
//! | `POST /stock/reservations` (`{"sku", "quantity", "warehouse"}`) | 200 a held reservation; 409 `unknown sku` if `sku` starts with `UNKNOWN` |
//!
//! Bodies are the benchmark's fixtures (`fixtures/upstream/*.json`), byte for byte for user
//! 1 except the trailing newline of the files, as the benchmark's own upstream sends them.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::str::FromStr as _;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use chrono::{DateTime, Days};
use rust_decimal::Decimal;
use serde_json::Value;

/// Days from `placed_at` to the estimated delivery in an acknowledgement.
pub const DELIVERY_DAYS: u64 = 6;

const USER_TAIL: &str = r#","name":"Jane Doe","email":"jane.doe@example.com","tier":"gold","created_at":"2024-03-02T10:00:00Z"}"#;
const RECENT_TAIL: &str = r#","orders":[{"order_id":"A-10001","status":"ACCEPTED","total":1343.6},{"order_id":"A-09987","status":"DELIVERED","total":212.4},{"order_id":"A-09950","status":"DELIVERED","total":89.9}]}"#;
const NOTIFICATIONS_TAIL: &str = r#","unread":2,"items":[{"id":"n-1","text":"Order A-10001 accepted"},{"id":"n-2","text":"Invoice 2026-11 available"}]}"#;
const ORDER_STATUS_TAIL: &str = r#","status":"SHIPPED","placed_at":"2026-11-24T09:15:30Z","currency":"EUR","total":1343.6,"lines":[{"line_no":1,"sku":"ACME-BOLT-M8-40","quantity":250,"unit_price":0.18,"shipments":[{"carrier":"DHL","tracking":"JD014600003SE","shipped_at":"2026-11-25T14:02:00Z"}]},{"line_no":2,"sku":"ACME-NUT-M8","quantity":250,"unit_price":0.06,"shipments":[]}]}"#;

/// Starts the demo upstream on `addr` (use port 0 for any free port) and returns the
/// address it listens on and the task serving it (abort it to stop the demo).
pub async fn start(addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let task = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router()).await {
            tracing::error!(error = %e, "demo upstream stopped");
        }
    });
    Ok((local, task))
}

/// The demo service's routes.
pub fn router() -> Router {
    Router::new()
        .route("/orders", post(create_order))
        .route("/orders/recent", get(recent_orders))
        .route("/orders/{id}", get(order_status))
        .route("/users/{id}", get(user))
        .route("/notifications", get(notifications))
        .route("/stock/levels", post(stock_level))
        .route("/stock/reservations", post(reserve_stock))
        .fallback(|| async { json(StatusCode::NOT_FOUND, error_body("not found")) })
        .method_not_allowed_fallback(|| async {
            json(
                StatusCode::METHOD_NOT_ALLOWED,
                error_body("method not allowed"),
            )
        })
}

fn json(status: StatusCode, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}

fn error_body(message: &str) -> String {
    serde_json::json!({ "error": message }).to_string()
}

fn bad_request(message: &str) -> Response {
    json(StatusCode::BAD_REQUEST, error_body(message))
}

/// A JSON string literal for `s`.
fn quoted(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

async fn create_order(body: Bytes) -> Response {
    match acknowledge(&body) {
        Ok(ack) => ack,
        Err(message) => bad_request(&message),
    }
}

fn acknowledge(body: &[u8]) -> Result<Response, String> {
    let order: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let order_id = order
        .get("order_id")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or("order_id must be a non-empty string")?;
    let placed_at = order
        .get("placed_at")
        .and_then(Value::as_str)
        .ok_or("placed_at must be a string")?;
    let placed_at = DateTime::parse_from_rfc3339(placed_at)
        .map_err(|e| format!("placed_at is not an RFC 3339 date-time: {e}"))?;
    let lines = order
        .get("lines")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or("lines must be a non-empty array")?;

    let mut total = Decimal::ZERO;
    for (i, line) in lines.iter().enumerate() {
        let quantity = line
            .get("quantity")
            .and_then(Value::as_u64)
            .ok_or_else(|| format!("lines[{i}].quantity must be a non-negative integer"))?;
        let unit_price = line
            .get("unit_price")
            .and_then(|v| v.as_number())
            .and_then(exact_decimal)
            .filter(|p| !p.is_sign_negative())
            .ok_or_else(|| format!("lines[{i}].unit_price must be a non-negative number"))?;
        total = Decimal::from(quantity)
            .checked_mul(unit_price)
            .and_then(|amount| total.checked_add(amount))
            .ok_or("order total out of range")?;
    }
    let delivery = placed_at
        .date_naive()
        .checked_add_days(Days::new(DELIVERY_DAYS))
        .ok_or("placed_at is too far in the future")?;

    if order_id.starts_with("REJECT") {
        return Ok(json(StatusCode::CONFLICT, error_body("duplicate order")));
    }
    // Written by hand so the total is the exact decimal, never a float's rendering.
    let body = format!(
        r#"{{"order_id":{},"status":"ACCEPTED","total":{},"estimated_delivery":"{}"}}"#,
        quoted(order_id),
        total.normalize(),
        delivery.format("%Y-%m-%d")
    );
    Ok(json(StatusCode::OK, body))
}

/// The decimal a JSON number was written as. Without arbitrary precision, serde_json holds
/// fractions as `f64`; its shortest round-trip rendering (`0.18`) is the literal the client
/// wrote for any number of up to 15 significant digits, so no float error enters the total.
fn exact_decimal(n: &serde_json::Number) -> Option<Decimal> {
    if let Some(i) = n.as_i64() {
        return Some(Decimal::from(i));
    }
    if let Some(u) = n.as_u64() {
        return Some(Decimal::from(u));
    }
    let text = n.to_string();
    Decimal::from_str(&text)
        .or_else(|_| Decimal::from_scientific(&text))
        .ok()
}

/// The `sku` and `warehouse` members of a stock request, or why it is not one.
fn stock_request(body: &[u8]) -> Result<(String, String), String> {
    let request: Value =
        serde_json::from_slice(body).map_err(|e| format!("body is not JSON: {e}"))?;
    let member = |name: &str| {
        request
            .get(name)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .ok_or_else(|| format!("`{name}` is missing"))
    };
    Ok((member("sku")?, member("warehouse")?))
}

async fn stock_level(body: Bytes) -> Response {
    match stock_request(&body) {
        Ok((sku, warehouse)) => json(
            StatusCode::OK,
            format!(
                "{{\"sku\":{},\"warehouse\":{},\"available\":140,\"counted_at\":\"2026-12-07T06:30:00Z\"}}",
                quoted(&sku),
                quoted(&warehouse)
            ),
        ),
        Err(message) => bad_request(&message),
    }
}

async fn reserve_stock(body: Bytes) -> Response {
    match stock_request(&body) {
        Ok((sku, _)) if sku.starts_with("UNKNOWN") => {
            json(StatusCode::CONFLICT, error_body("unknown sku"))
        }
        Ok(_) => json(
            StatusCode::OK,
            r#"{"reservation_id":"R-981","status":"HELD"}"#.to_string(),
        ),
        Err(message) => bad_request(&message),
    }
}

async fn order_status(Path(id): Path<String>) -> Response {
    if id == "missing" || id.starts_with("404") {
        return json(StatusCode::NOT_FOUND, error_body("order not found"));
    }
    json(
        StatusCode::OK,
        format!("{{\"order_id\":{}{ORDER_STATUS_TAIL}", quoted(&id)),
    )
}

async fn user(Path(id): Path<String>) -> Response {
    match id.parse::<u64>() {
        Ok(id) => json(StatusCode::OK, format!("{{\"id\":{id}{USER_TAIL}")),
        Err(_) => json(StatusCode::NOT_FOUND, error_body("user not found")),
    }
}

type UserQuery = Result<Query<HashMap<String, String>>, QueryRejection>;

/// The `user` query parameter, when present and a number.
fn user_param(query: UserQuery) -> Option<u64> {
    query
        .ok()
        .and_then(|Query(q)| q.get("user").and_then(|u| u.parse::<u64>().ok()))
}

fn bad_user() -> Response {
    bad_request("query parameter user must be a non-negative integer")
}

async fn recent_orders(query: UserQuery) -> Response {
    match user_param(query) {
        Some(user) => json(StatusCode::OK, format!("{{\"user\":{user}{RECENT_TAIL}")),
        None => bad_user(),
    }
}

async fn notifications(query: UserQuery) -> Response {
    match user_param(query) {
        Some(user) => json(
            StatusCode::OK,
            format!("{{\"user\":{user}{NOTIFICATIONS_TAIL}"),
        ),
        None => bad_user(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::file::{LimitsConfig, UpstreamConfig};
    use crate::proxy::{HttpClient, Upstream, UpstreamResponse};
    use http::{HeaderMap, HeaderValue, Method};

    /// The benchmark's `order.internal.json` (same values, each line on one line).
    const ORDER: &str = r#"{
  "order_id": "A-10001",
  "placed_at": "2026-11-24T09:15:30Z",
  "currency": "EUR",
  "customer": {
    "name": "Jane Doe",
    "email": "jane.doe@example.com",
    "phone": "+49 30 1234567"
  },
  "shipping": {
    "address": {
      "street": "Hauptstrasse 12",
      "city": "Berlin",
      "postal_code": "10115",
      "country": "DE"
    },
    "speed": "EXPRESS"
  },
  "lines": [
    { "line_no": 1, "sku": "ACME-BOLT-M8-40", "quantity": 250, "unit_price": 0.18 },
    { "line_no": 2, "sku": "ACME-NUT-M8", "quantity": 250, "unit_price": 0.06 },
    { "line_no": 3, "sku": "ACME-WASHER-M8", "quantity": 500, "unit_price": 0.02 },
    { "line_no": 4, "sku": "ACME-BRACKET-L90", "quantity": 40, "unit_price": 3.75 },
    { "line_no": 5, "sku": "ACME-HINGE-SS-75", "quantity": 24, "unit_price": 6.4 },
    { "line_no": 6, "sku": "ACME-RAIL-1200", "quantity": 12, "unit_price": 18.9 },
    { "line_no": 7, "sku": "ACME-GASKET-50", "quantity": 60, "unit_price": 1.15 },
    { "line_no": 8, "sku": "ACME-CLAMP-HOSE-32", "quantity": 80, "unit_price": 0.85 },
    { "line_no": 9, "sku": "ACME-SEAL-KIT-A", "quantity": 6, "unit_price": 24.5 },
    { "line_no": 10, "sku": "ACME-BEARING-6204", "quantity": 16, "unit_price": 4.95 },
    { "line_no": 11, "sku": "ACME-SPRING-C12", "quantity": 100, "unit_price": 0.44 },
    { "line_no": 12, "sku": "ACME-PANEL-AL-600", "quantity": 8, "unit_price": 42.0 }
  ],
  "source": "acme"
}"#;

    async fn demo() -> (Upstream, tokio::task::JoinHandle<()>) {
        let (addr, task) = start("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let cfg = UpstreamConfig {
            url: format!("http://{addr}"),
            connect_timeout_ms: 2_000,
            request_timeout_ms: 5_000,
            pool_max_idle: 4,
            pool_idle_timeout_ms: 10_000,
            tls: Default::default(),
            targets: Vec::new(),
            discovery: None,
            balance: Default::default(),
            circuit_breaker: None,
        };
        let up = Upstream::new("demo", &cfg, &LimitsConfig::default(), &HttpClient::new()).unwrap();
        (up, task)
    }

    async fn call(up: &Upstream, method: Method, path: &str, body: &str) -> (u16, String) {
        let mut h = HeaderMap::new();
        if !body.is_empty() {
            h.insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let UpstreamResponse {
            status,
            headers,
            body,
        } = up
            .send(method, path, h, Bytes::from(body.to_string()))
            .await
            .unwrap();
        assert_eq!(headers[header::CONTENT_TYPE], "application/json");
        (status.as_u16(), String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn order_is_acknowledged_with_exact_total_and_date() {
        let (up, task) = demo().await;
        assert_eq!(
            call(&up, Method::POST, "/orders", ORDER).await,
            (
                200,
                r#"{"order_id":"A-10001","status":"ACCEPTED","total":1343.6,"estimated_delivery":"2026-11-30"}"#.to_string()
            )
        );
        task.abort();
    }

    #[tokio::test]
    async fn float_prone_prices_sum_exactly() {
        let (up, task) = demo().await;
        let order = r#"{"order_id":"B\"1","placed_at":"2026-02-25T23:30:00-05:00","lines":[
            {"quantity":3,"unit_price":0.1},{"quantity":1,"unit_price":0.2},{"quantity":1,"unit_price":1e-7}]}"#;
        assert_eq!(
            call(&up, Method::POST, "/orders", order).await,
            (
                200,
                r#"{"order_id":"B\"1","status":"ACCEPTED","total":0.5000001,"estimated_delivery":"2026-03-03"}"#.to_string()
            )
        );
        task.abort();
    }

    #[tokio::test]
    async fn bad_and_rejected_orders() {
        let (up, task) = demo().await;
        assert_eq!(
            call(&up, Method::POST, "/orders", "{").await,
            (
                400,
                r#"{"error":"body is not JSON: EOF while parsing an object at line 1 column 1"}"#
                    .to_string()
            )
        );
        assert_eq!(
            call(
                &up,
                Method::POST,
                "/orders",
                r#"{"order_id":"A","placed_at":"2026-11-24T09:15:30Z","lines":[{"quantity":1.5,"unit_price":1}]}"#
            )
            .await,
            (
                400,
                r#"{"error":"lines[0].quantity must be a non-negative integer"}"#.to_string()
            )
        );
        assert_eq!(
            call(
                &up,
                Method::POST,
                "/orders",
                &ORDER.replace("A-10001", "REJECT-7")
            )
            .await,
            (409, r#"{"error":"duplicate order"}"#.to_string())
        );
        assert_eq!(
            call(&up, Method::GET, "/orders", "").await,
            (405, r#"{"error":"method not allowed"}"#.to_string())
        );
        assert_eq!(
            call(&up, Method::GET, "/nothing", "").await,
            (404, r#"{"error":"not found"}"#.to_string())
        );
        task.abort();
    }

    #[tokio::test]
    async fn stock_levels_and_reservations() {
        let (up, _task) = demo().await;
        assert_eq!(
            call(&up, Method::POST, "/stock/levels", r#"{"sku":"W-1","warehouse":"MAIN"}"#).await,
            (
                200,
                r#"{"sku":"W-1","warehouse":"MAIN","available":140,"counted_at":"2026-12-07T06:30:00Z"}"#.to_string()
            )
        );
        assert_eq!(
            call(
                &up,
                Method::POST,
                "/stock/reservations",
                r#"{"sku":"W-1","quantity":2,"warehouse":"MAIN"}"#
            )
            .await,
            (
                200,
                r#"{"reservation_id":"R-981","status":"HELD"}"#.to_string()
            )
        );
        assert_eq!(
            call(
                &up,
                Method::POST,
                "/stock/reservations",
                r#"{"sku":"UNKNOWN-1","quantity":2,"warehouse":"MAIN"}"#
            )
            .await,
            (409, r#"{"error":"unknown sku"}"#.to_string())
        );
        assert_eq!(
            call(&up, Method::POST, "/stock/levels", r#"{"sku":"W-1"}"#).await,
            (400, r#"{"error":"`warehouse` is missing"}"#.to_string())
        );
    }

    #[tokio::test]
    async fn order_status_documents() {
        let (up, task) = demo().await;
        assert_eq!(
            call(&up, Method::GET, "/orders/A-10001", "").await,
            (
                200,
                r#"{"order_id":"A-10001","status":"SHIPPED","placed_at":"2026-11-24T09:15:30Z","currency":"EUR","total":1343.6,"lines":[{"line_no":1,"sku":"ACME-BOLT-M8-40","quantity":250,"unit_price":0.18,"shipments":[{"carrier":"DHL","tracking":"JD014600003SE","shipped_at":"2026-11-25T14:02:00Z"}]},{"line_no":2,"sku":"ACME-NUT-M8","quantity":250,"unit_price":0.06,"shipments":[]}]}"#.to_string()
            )
        );
        for id in ["missing", "404-A"] {
            assert_eq!(
                call(&up, Method::GET, &format!("/orders/{id}"), "").await,
                (404, r#"{"error":"order not found"}"#.to_string())
            );
        }
        task.abort();
    }

    #[tokio::test]
    async fn aggregation_sources_match_the_fixtures() {
        let (up, task) = demo().await;
        assert_eq!(
            call(&up, Method::GET, "/users/1", "").await,
            (
                200,
                r#"{"id":1,"name":"Jane Doe","email":"jane.doe@example.com","tier":"gold","created_at":"2024-03-02T10:00:00Z"}"#.to_string()
            )
        );
        assert_eq!(
            call(&up, Method::GET, "/orders/recent?user=1", "").await,
            (
                200,
                r#"{"user":1,"orders":[{"order_id":"A-10001","status":"ACCEPTED","total":1343.6},{"order_id":"A-09987","status":"DELIVERED","total":212.4},{"order_id":"A-09950","status":"DELIVERED","total":89.9}]}"#.to_string()
            )
        );
        assert_eq!(
            call(&up, Method::GET, "/notifications?user=1", "").await,
            (
                200,
                r#"{"user":1,"unread":2,"items":[{"id":"n-1","text":"Order A-10001 accepted"},{"id":"n-2","text":"Invoice 2026-11 available"}]}"#.to_string()
            )
        );
        let (status, body) = call(&up, Method::GET, "/users/42", "").await;
        assert_eq!(status, 200);
        assert!(body.starts_with(r#"{"id":42,"name":"Jane Doe""#), "{body}");
        assert_eq!(
            call(&up, Method::GET, "/users/jane", "").await,
            (404, r#"{"error":"user not found"}"#.to_string())
        );
        assert_eq!(
            call(&up, Method::GET, "/notifications", "").await,
            (
                400,
                r#"{"error":"query parameter user must be a non-negative integer"}"#.to_string()
            )
        );
        task.abort();
    }
}
