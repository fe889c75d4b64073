//! A partner route using what real partners needed of the mapping language, through the
//! whole gateway: empty elements (`on_empty`), a target written by `cases:` and by rules
//! whose conditions exclude each other, and exact decimal arithmetic (`calc`). The
//! partner is `tests/data/feed`: a plain-XML inventory feed.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Gateway, Recorded, Upstream, post_xml, repo, send};
use http::{Method, StatusCode};

const ITEMS: &str = "/partners/feed/items";

async fn feed() -> (Upstream, Gateway) {
    let up = Upstream::start(Arc::new(|r: &Recorded| match r.path.as_str() {
        "/items" => (
            StatusCode::OK,
            "application/json",
            br#"{"status":"STORED"}"#.to_vec(),
            Duration::ZERO,
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            b"{}".to_vec(),
            Duration::ZERO,
        ),
    }))
    .await;
    let data = repo().join("tests/data/feed");
    let gw = Gateway::start_in(&up.url(), "", &data.join("schemas"), &data.join("mappings")).await;
    (up, gw)
}

/// The bodies the upstream received, as text.
fn received(up: &Upstream) -> Vec<String> {
    up.requests()
        .iter()
        .map(|r| String::from_utf8_lossy(&r.body).into_owned())
        .collect()
}

#[tokio::test]
async fn empty_elements_cases_exclusive_rules_and_arithmetic_reach_the_upstream_exactly() {
    let (up, gw) = feed().await;
    let first = post_xml(
        &gw.url(ITEMS),
        r#"<Item sku="A-1"><Note/><Ref>R-9</Ref><Grams>1234</Grams><PriceCents>1999</PriceCents><Gross>10.00</Gross><VatRate>0.07</VatRate><Kind>bulk</Kind><Hazard>true</Hazard></Item>"#,
    )
    .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(
        first.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ItemAck><Status>STORED</Status></ItemAck>"
    );
    let second = post_xml(
        &gw.url(ITEMS),
        r#"<Item sku="B-2"><Note>fragile</Note><Ref>R-10</Ref><Grams>2000</Grams><PriceCents>5</PriceCents><Gross>119.00</Gross><VatRate>0.19</VatRate><Kind>unit</Kind></Item>"#,
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text());
    let third = post_xml(
        &gw.url(ITEMS),
        r#"<Item sku="C-3"><Ref>R-11</Ref><Grams>1</Grams><PriceCents>100</PriceCents><Gross>0.125</Gross><VatRate>0</VatRate><Kind>kit</Kind><Hazard>false</Hazard></Item>"#,
    )
    .await;
    assert_eq!(third.status, StatusCode::OK, "{}", third.text());
    assert_eq!(
        received(&up),
        [
            r#"{"sku":"A-1","note":null,"ref":"R-9","weight_kg":"1.234","price":19.99,"net":"9.35","kind":"BULK","handling":"hazardous"}"#,
            r#"{"sku":"B-2","note":"fragile","ref":"R-10","weight_kg":"2","price":0.05,"net":"100.00","kind":"UNIT","handling":"standard"}"#,
            r#"{"sku":"C-3","ref":"R-11","weight_kg":"0.001","price":1.0,"net":"0.12","kind":"KIT","handling":"standard"}"#,
        ]
    );
}

/// The problem document of a mapping failure on this XML route.
fn problem(correlation: &str, pointer: &str, message: &str, line: u32, column: u32) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:schema-violation</type><title>Request does not match the schema</title><status>422</status><detail>the document cannot be converted</detail><instance>{correlation}</instance><errors><i><pointer>{pointer}</pointer><message>{message}</message><line>{line}</line><column>{column}</column></i></errors></problem>\n"
    )
}

async fn post(gw: &Gateway, correlation: &str, body: &'static str) -> common::Reply {
    send(
        Method::POST,
        &gw.url(ITEMS),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", correlation),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn an_empty_required_element_and_a_zero_divisor_are_the_partners_422() {
    let (up, gw) = feed().await;
    let empty = post(
        &gw,
        "e-1",
        "<Item sku=\"A-1\">\n  <Ref/>\n  <Grams>1</Grams><PriceCents>1</PriceCents><Gross>1</Gross><VatRate>0</VatRate><Kind>unit</Kind>\n</Item>",
    )
    .await;
    assert_eq!(empty.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(empty.header("content-type"), "application/problem+xml");
    assert_eq!(
        empty.text(),
        problem("e-1", "/Item/Ref", "required source is empty", 2, 3)
    );
    let zero = post(
        &gw,
        "z-1",
        "<Item sku=\"A-1\"><Ref>R</Ref><Grams>1</Grams><PriceCents>1</PriceCents><Gross>5.00</Gross>\n<VatRate>-1</VatRate><Kind>unit</Kind></Item>",
    )
    .await;
    assert_eq!(zero.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        zero.text(),
        problem("z-1", "/Item/VatRate", "division by zero: 5.00 / 0", 2, 1)
    );
    assert!(received(&up).is_empty(), "{:?}", received(&up));
}
