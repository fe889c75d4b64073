//! The mapping playground's JSON API over HTTP on a real gateway: route listing, both
//! directions, edited route files, checks with golden cases, and refusals, each with the
//! exact JSON the page receives.

mod common;

use std::time::Duration;

use common::{Gateway, Upstream, get, send};
use http::{Method, StatusCode};
use serde_json::{Value, json};

/// A small valid ACME order: one item, every required element.
const ORDER: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Order xmlns="urn:acme:orders:v2" id="A-1" currency="EUR">
  <Placed>2026-11-24T09:15:30Z</Placed>
  <Customer>
    <Name>Jane Doe</Name>
    <Phone>+49 30 1234567</Phone>
    <Email> Jane.Doe@Example.com </Email>
  </Customer>
  <ShipTo>
    <Street>Hauptstrasse 12</Street>
    <City>Berlin</City>
    <Zip>10115</Zip>
    <Country>DE</Country>
  </ShipTo>
  <Items>
    <Item line="1">
      <Sku>ACME-BOLT-M8-40</Sku>
      <Qty>250</Qty>
      <Price>0.18</Price>
    </Item>
  </Items>
  <Priority>express</Priority>
</Order>
"#;

async fn playground() -> (Gateway, Upstream) {
    let upstream = Upstream::acme().await;
    let gw = Gateway::start_with(&upstream.url(), "playground = true", None).await;
    (gw, upstream)
}

async fn post(gw: &Gateway, path: &str, body: &Value) -> (StatusCode, Value) {
    let reply = send(
        Method::POST,
        &gw.admin_url(path),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(reply.header("content-type"), "application/json");
    (reply.status, reply.json())
}

/// The JSON view of [`ORDER`] as the mapping reads it.
fn order_view() -> Value {
    json!({"Order": {
        "@id": "A-1",
        "@currency": "EUR",
        "Placed": "2026-11-24T09:15:30Z",
        "Customer": {"Name": "Jane Doe", "Phone": "+49 30 1234567", "Email": " Jane.Doe@Example.com "},
        "ShipTo": {"Street": "Hauptstrasse 12", "City": "Berlin", "Zip": "10115", "Country": "DE"},
        "Items": {"Item": [{"@line": 1, "Sku": "ACME-BOLT-M8-40", "Qty": 250, "Price": "0.18"}]},
        "Priority": "express"
    }})
}

/// The internal order [`ORDER`] maps to, with `speed` as given.
fn order_mapped(speed: &str) -> String {
    format!(
        r#"{{
  "order_id": "A-1",
  "placed_at": "2026-11-24T09:15:30Z",
  "currency": "EUR",
  "customer": {{
    "name": "Jane Doe",
    "email": "jane.doe@example.com",
    "phone": "+49 30 1234567"
  }},
  "shipping": {{
    "address": {{
      "street": "Hauptstrasse 12",
      "city": "Berlin",
      "postal_code": "10115",
      "country": "DE"
    }},
    "speed": "{speed}"
  }},
  "lines": [
    {{
      "line_no": 1,
      "sku": "ACME-BOLT-M8-40",
      "quantity": 250,
      "unit_price": 0.18
    }}
  ],
  "source": "acme"
}}
"#
    )
}

fn acme_route_file() -> String {
    std::fs::read_to_string(common::repo().join("mappings/acme/orders.yaml")).unwrap()
}

#[tokio::test]
async fn routes_are_listed_with_their_files_and_cases() {
    let (gw, _up) = playground().await;
    let reply = get(&gw.admin_url("/playground/api/routes")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    let source = |rel: &str| std::fs::read_to_string(common::repo().join(rel)).unwrap();
    assert_eq!(
        reply.json(),
        json!({"routes": [
            {
                "name": "acme/orders", "method": "POST", "path": "/partners/acme/orders",
                "format": "xml", "request": true, "response": true, "file": "orders.yaml",
                "source": source("mappings/acme/orders.yaml"),
                "fixtures": ["dtd-refused", "invalid", "invalid-upstream", "malformed",
                             "rejected-ack", "single-item", "utf16-be", "utf16-le", "valid",
                             "wrong-namespace"]
            },
            {
                "name": "bff/dashboard", "method": "GET", "path": "/bff/dashboard",
                "format": "json", "request": false, "response": false, "file": "dashboard.yaml",
                "source": source("mappings/bff/dashboard.yaml"),
                "fixtures": []
            },
            {
                "name": "globex/order-status", "method": "GET",
                "path": "/partners/globex/orders/{orderId}", "format": "json",
                "request": false, "response": true, "file": "order-status.yaml",
                "source": source("mappings/globex/order-status.yaml"),
                "fixtures": ["missing-lines", "shipped"]
            },
            {
                "name": "globex/orders", "method": "POST", "path": "/partners/globex/orders",
                "format": "json", "request": true, "response": true, "file": "orders.yaml",
                "source": source("mappings/globex/orders.yaml"),
                "fixtures": ["duplicate", "duplicate-member", "invalid", "unknown-member", "valid"]
            },
            {
                "name": "initech/reserve-stock", "method": "POST",
                "path": "/partners/initech/inventory", "format": "xml",
                "request": true, "response": true, "file": "reserve-stock.yaml",
                "source": source("mappings/initech/reserve-stock.yaml"),
                "fixtures": ["held", "unknown-sku", "zero-quantity"]
            },
            {
                "name": "initech/stock-level", "method": "POST",
                "path": "/partners/initech/inventory", "format": "xml",
                "request": true, "response": true, "file": "stock-level.yaml",
                "source": source("mappings/initech/stock-level.yaml"),
                "fixtures": ["counted"]
            }
        ]})
    );
}

#[tokio::test]
async fn a_valid_document_shows_its_view_and_the_mapped_body() {
    let (gw, up) = playground().await;
    let (status, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "document": ORDER}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "ok": true,
            "decoded": order_view(),
            "output": order_mapped("EXPRESS"),
            "problem": null,
            "diagnostics": []
        })
    );
    // Trying a mapping never reaches the upstream.
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn every_violation_comes_with_its_pointer_and_line() {
    let (gw, _up) = playground().await;
    let bad = ORDER
        .replace("<Qty>250</Qty>", "<Qty>ten</Qty>")
        .replace("    <Name>Jane Doe</Name>\n", "");
    let (status, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "direction": "request", "document": bad}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let mut view = order_view();
    view["Order"]["Customer"]
        .as_object_mut()
        .unwrap()
        .remove("Name");
    view["Order"]["Items"]["Item"][0]["Qty"] = json!("ten");
    assert_eq!(
        body,
        json!({
            "ok": false,
            "decoded": view,
            "output": null,
            "problem": {
                "status": 422,
                "title": "Request does not match the schema",
                "detail": "2 violations against the route's schema",
                "errors": [
                    {"pointer": "/Order/Customer", "message": "missing required property \"Name\"", "line": 4, "column": 3},
                    {"pointer": "/Order/Items/Item/0/Qty", "message": "\"ten\" is not of type \"integer\"", "line": 17, "column": 7}
                ]
            },
            "diagnostics": []
        })
    );
}

#[tokio::test]
async fn a_malformed_document_has_no_view_and_says_where_it_breaks() {
    let (gw, _up) = playground().await;
    let (status, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "globex/orders", "document": "{\"order\": [1,\n2,,]}"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], json!(false));
    assert_eq!(body["decoded"], Value::Null);
    assert_eq!(body["output"], Value::Null);
    assert_eq!(body["problem"]["status"], json!(400));
    assert_eq!(body["problem"]["title"], json!("Malformed request body"));
    assert_eq!(
        body["problem"]["detail"],
        json!("malformed JSON at line 2, column 3: expected value at line 2 column 3")
    );
}

#[tokio::test]
async fn the_response_direction_reads_the_original_request() {
    let (gw, _up) = playground().await;
    let answer =
        r#"{"order_id":"A-1","status":"ACCEPTED","total":45,"estimated_delivery":"2026-11-30"}"#;
    let (status, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "direction": "response", "document": answer, "request": ORDER}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({
            "ok": true,
            "decoded": {"order_id": "A-1", "status": "ACCEPTED", "total": 45, "estimated_delivery": "2026-11-30"},
            "output": "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<OrderAck xmlns=\"urn:acme:orders:v2\"><OrderId>A-1</OrderId><Status>accepted</Status><Total currency=\"EUR\">45.00</Total><Eta>2026-11-30</Eta></OrderAck>\n",
            "problem": null,
            "diagnostics": []
        })
    );
    // An answer that breaks the internal schema shows what the gateway would only log.
    let (_, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "direction": "response", "document": "{\"order_id\":\"A-1\"}"}),
    )
    .await;
    assert_eq!(body["ok"], json!(false));
    assert_eq!(body["problem"]["status"], json!(502));
    assert_eq!(
        body["problem"]["detail"],
        json!("the service answered with an invalid document")
    );
    assert_eq!(
        body["problem"]["cause"],
        json!(
            "route acme/orders: upstream response breaks internal/order-ack.schema.json:  missing required property \"status\";  missing required property \"total\";  missing required property \"estimated_delivery\""
        )
    );
}

#[tokio::test]
async fn an_edited_route_file_runs_without_being_installed() {
    let (gw, _up) = playground().await;
    let edited = acme_route_file().replace(
        "name: /Order/Customer/Name",
        "name: { from: /Order/Customer/Name, apply: [uppercase] }",
    );
    assert_ne!(edited, acme_route_file());
    let (status, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "document": ORDER, "route_file": edited}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], json!(true), "{body:#}");
    assert_eq!(
        body["output"],
        json!(order_mapped("EXPRESS").replace("\"name\": \"Jane Doe\"", "\"name\": \"JANE DOE\""))
    );
    // The installed route is untouched.
    let (_, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "document": ORDER}),
    )
    .await;
    assert_eq!(body["output"], json!(order_mapped("EXPRESS")));
}

#[tokio::test]
async fn a_broken_route_file_gets_check_diagnostics_with_lines() {
    let (gw, _up) = playground().await;
    let edited = acme_route_file().replace("as: decimal", "as: decmal");
    let file = common::repo().join("mappings/acme/orders.yaml");
    let (status, body) = post(
        &gw,
        "/playground/api/check",
        &json!({"route": "acme/orders", "route_file": edited}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], json!(false));
    assert_eq!(body["fixtures"], json!([]));
    let diags = body["diagnostics"].as_array().unwrap();
    assert_eq!(diags.len(), 1, "{body:#}");
    assert_eq!(diags[0]["severity"], json!("error"));
    assert_eq!(diags[0]["file"], json!(file.to_str().unwrap()));
    assert_eq!(diags[0]["line"], json!(39));
    assert!(
        diags[0]["message"].as_str().unwrap().contains("decmal"),
        "{body:#}"
    );
    // The same file through transform: no output, the same diagnostics.
    let (_, t) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "document": ORDER, "route_file": edited}),
    )
    .await;
    assert_eq!(
        t,
        json!({"ok": false, "decoded": null, "output": null, "problem": null, "diagnostics": body["diagnostics"]})
    );
}

#[tokio::test]
async fn check_runs_the_golden_cases_against_the_installed_or_edited_route() {
    let (gw, _up) = playground().await;
    let (status, body) = post(
        &gw,
        "/playground/api/check",
        &json!({"route": "globex/order-status"}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        body,
        json!({"ok": true, "diagnostics": [], "fixtures": [
            {"case": "missing-lines", "passed": true},
            {"case": "shipped", "passed": true}
        ]})
    );
    let edited = acme_route_file().replace(
        "name: /Order/Customer/Name",
        "name: { from: /Order/Customer/Name, apply: [uppercase] }",
    );
    let (_, body) = post(
        &gw,
        "/playground/api/check",
        &json!({"route": "acme/orders", "route_file": edited}),
    )
    .await;
    assert_eq!(body["ok"], json!(false));
    assert_eq!(body["diagnostics"], json!([]));
    let outcome: Vec<(String, bool)> = body["fixtures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["case"].as_str().unwrap().to_string(),
                f["passed"].as_bool().unwrap(),
            )
        })
        .collect();
    let expect = |c: &str, p: bool| (c.to_string(), p);
    assert_eq!(
        outcome,
        [
            expect("dtd-refused", true),
            expect("invalid", true),
            expect("invalid-upstream", false),
            expect("malformed", true),
            expect("rejected-ack", false),
            expect("single-item", false),
            expect("utf16-be", false),
            expect("utf16-le", false),
            expect("valid", false),
            expect("wrong-namespace", true),
        ]
    );
    let valid = &body["fixtures"][8]["message"];
    assert!(
        valid.as_str().unwrap().contains("JANE DOE"),
        "the failing case names the difference: {valid}"
    );
}

#[tokio::test]
async fn refusals_are_json_with_a_reason() {
    let (gw, _up) = playground().await;
    let cases = [
        (
            "/playground/api/transform",
            json!({"route": "nope/none", "document": ""}),
            StatusCode::NOT_FOUND,
            "no route `nope/none`",
        ),
        (
            "/playground/api/check",
            json!({"route": "nope"}),
            StatusCode::NOT_FOUND,
            "no route `nope`",
        ),
        (
            "/playground/api/transform",
            json!({"route": "globex/order-status", "document": "{}"}),
            StatusCode::BAD_REQUEST,
            "route `globex/order-status` has no request mapping",
        ),
        (
            "/playground/api/transform",
            json!({"route": "globex/order-status", "direction": "response", "document": "{}", "request": "{}"}),
            StatusCode::BAD_REQUEST,
            "route `globex/order-status` has no request body; leave `request` out",
        ),
        (
            "/playground/api/transform",
            json!({"route": "acme/orders", "document": "", "mode": "fast"}),
            StatusCode::BAD_REQUEST,
            "invalid request: unknown field `mode`, expected one of `route`, `direction`, `document`, `request`, `route_file`, `context` at line 1 column 43",
        ),
        (
            "/playground/api/transform",
            json!({"route": "acme/orders", "document": "", "direction": "sideways"}),
            StatusCode::BAD_REQUEST,
            "invalid request: unknown variant `sideways`, expected `request` or `response` at line 1 column 59",
        ),
    ];
    for (path, body, status, error) in cases {
        let got = post(&gw, path, &body).await;
        assert_eq!(got, (status, json!({"error": error})), "{body}");
    }
    let reply = send(
        Method::POST,
        &gw.admin_url("/playground/api/check"),
        &[("content-type", "application/json")],
        "{not json",
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.json(),
        json!({"error": "invalid request: key must be a string at line 1 column 2"})
    );
    let reply = get(&gw.admin_url("/playground/api/nothing")).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json(), json!({"error": "no such playground path"}));
    // Bodies beyond the limit are refused before they are parsed.
    let huge = "x".repeat(schemagate::playground::MAX_API_BODY_BYTES + 1);
    let reply = send(
        Method::POST,
        &gw.admin_url("/playground/api/transform"),
        &[("content-type", "application/json")],
        huge,
    )
    .await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn the_page_and_its_assets_come_from_the_binary() {
    let (gw, _up) = playground().await;
    let page = get(&gw.admin_url("/playground")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert_eq!(
        page.header("content-security-policy"),
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    );
    assert_eq!(page.text(), include_str!("../src/playground/page.html"));
    let script = get(&gw.admin_url("/playground/app.js")).await;
    assert_eq!(
        script.header("content-type"),
        "text/javascript; charset=utf-8"
    );
    assert_eq!(script.text(), include_str!("../src/playground/app.js"));
    let style = get(&gw.admin_url("/playground/style.css")).await;
    assert_eq!(style.header("content-type"), "text/css; charset=utf-8");
    assert_eq!(style.text(), include_str!("../src/playground/style.css"));
}

#[tokio::test]
async fn the_playground_is_off_unless_enabled() {
    let upstream = Upstream::acme().await;
    let gw = Gateway::start(&upstream.url()).await;
    for path in ["/playground", "/playground/api/routes"] {
        let reply = get(&gw.admin_url(path)).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.header("content-type"), "application/problem+json");
    }
    let _ = Duration::ZERO;
}

#[tokio::test]
async fn violations_in_a_json_document_get_their_lines_too() {
    let (gw, _up) = playground().await;
    let doc = String::from_utf8(common::fixture("globex/orders/invalid/input.json")).unwrap();
    let (status, body) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "globex/orders", "document": doc}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["ok"], json!(false));
    assert_eq!(
        body["problem"]["errors"],
        json!([
            {"pointer": "/buyer", "message": "missing required property \"phoneNumber\"", "line": 5, "column": 12},
            {"pointer": "/delivery/service", "message": "\"overnight\" is not one of \"economy\", \"standard\" or \"express\"", "line": 16, "column": 16},
            {"pointer": "/items/1/quantity", "message": "0 is less than the minimum of 1", "line": 26, "column": 19}
        ])
    );
}
