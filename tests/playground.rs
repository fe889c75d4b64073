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
        &gw.url(path),
        &[("content-type", "application/json")],
        body.to_string(),
    )
    .await;
    assert_eq!(reply.header("content-type"), "application/json");
    (reply.status, reply.json())
}

#[tokio::test]
async fn dump() {
    let (gw, _up) = playground().await;
    let (s, v) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "document": ORDER}),
    )
    .await;
    println!("{s} {}", serde_json::to_string_pretty(&v).unwrap());
    let bad = ORDER
        .replace("<Qty>250</Qty>", "<Qty>ten</Qty>")
        .replace("<Name>Jane Doe</Name>\n", "");
    let (s, v) = post(
        &gw,
        "/playground/api/transform",
        &json!({"route": "acme/orders", "document": bad}),
    )
    .await;
    println!("{s} {}", serde_json::to_string_pretty(&v).unwrap());
    let (s, v) = post(
        &gw,
        "/playground/api/check",
        &json!({"route": "acme/orders"}),
    )
    .await;
    println!("{s} {}", serde_json::to_string_pretty(&v).unwrap());
    let r = get(&gw.url("/playground/api/routes")).await;
    let mut v = r.json();
    for r in v["routes"].as_array_mut().unwrap() {
        r["source"] = json!(r["source"].as_str().unwrap().len());
    }
    println!("{}", serde_json::to_string_pretty(&v).unwrap());
    let _ = Duration::ZERO;
}
