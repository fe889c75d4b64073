//! The formats at their edges, through a real gateway and a recording upstream: XML in
//! UTF-16, JSON objects naming a member twice, documents past a structural limit, the
//! problem+xml layout of RFC 9457 Appendix B, a route's own answer media type, and shipped
//! internal schemas that name no partner.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const ACME: &str = "/partners/acme/orders";
const GLOBEX: &str = "/partners/globex/orders";

fn expected_json(rel: &str) -> Value {
    serde_json::from_slice(&fixture(rel)).unwrap()
}

/// `text` in UTF-16 after its byte order mark.
fn utf16(text: &str, big_endian: bool) -> Vec<u8> {
    std::iter::once(0xFEFF)
        .chain(text.encode_utf16())
        .flat_map(|unit| {
            if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            }
        })
        .collect()
}

/// The acme fixture `case`'s input, declared and written in UTF-16.
fn acme_utf16(case: &str, big_endian: bool) -> Vec<u8> {
    let text = String::from_utf8(fixture(&format!("acme/orders/{case}/input.xml"))).unwrap();
    let declared = text.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1);
    assert_ne!(declared, text, "the fixture declares its encoding");
    utf16(&declared, big_endian)
}

async fn post(url: &str, content_type: &str, cid: &str, body: impl Into<bytes::Bytes>) -> Reply {
    send(
        Method::POST,
        url,
        &[("content-type", content_type), ("x-correlation-id", cid)],
        body,
    )
    .await
}

#[tokio::test]
async fn utf16_orders_reach_the_upstream_as_their_utf8_twin() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    for (big_endian, content_type) in [
        (false, "application/xml; charset=utf-16"),
        (true, "text/xml; charset=UTF-16"),
        (true, "application/xml"),
    ] {
        let reply = post(
            &gw.url(ACME),
            content_type,
            "u16",
            acme_utf16("valid", big_endian),
        )
        .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(reply.header("content-type"), "application/xml");
        assert_eq!(
            reply.text().trim_end(),
            String::from_utf8(fixture("acme/orders/valid/expected-response.xml"))
                .unwrap()
                .trim_end()
        );
    }
    let reqs = up.requests();
    assert_eq!(reqs.len(), 3);
    for r in reqs {
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(sent, expected_json("acme/orders/valid/expected.json"));
    }
}

#[tokio::test]
async fn utf16_errors_are_placed_as_in_the_utf8_document() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let expected = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:schema-violation</type><title>Request does not match the schema</title><status>422</status><detail>2 violations against the route&apos;s schema</detail><instance>inv-1</instance><errors><i><pointer>/Order/Customer</pointer><message>missing required property &quot;Email&quot;</message><line>4</line><column>3</column></i><i><pointer>/Order/Items/Item/1/Qty</pointer><message>&quot;ten&quot; is not of type &quot;integer&quot;</message><line>22</line><column>7</column></i></errors></problem>\n";
    for body in [
        fixture("acme/orders/invalid/input.xml"),
        acme_utf16("invalid", false),
        acme_utf16("invalid", true),
    ] {
        let reply = post(&gw.url(ACME), "application/xml", "inv-1", body).await;
        assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.header("content-type"), "application/problem+xml");
        assert_eq!(reply.text(), expected);
    }
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn the_byte_limit_applies_to_the_utf16_bytes_received() {
    let up = Upstream::acme().await;
    let utf8 = fixture("acme/orders/valid/input.xml");
    let limit = utf8.len() + 100;
    let gw = Gateway::start_with(
        &up.url(),
        &format!("\n[limits]\nmax_body_bytes = {limit}\n"),
        None,
    )
    .await;
    let fits = post(&gw.url(ACME), "application/xml", "b-1", utf8).await;
    assert_eq!(fits.status, StatusCode::OK, "{}", fits.text());
    let wide = acme_utf16("valid", false);
    assert!(wide.len() > limit);
    let refused = send(
        Method::POST,
        &gw.url(ACME),
        &[
            ("content-type", "application/xml"),
            ("accept", "application/problem+json"),
            ("x-correlation-id", "b-2"),
        ],
        wide,
    )
    .await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(
        refused.json(),
        json!({"type": "urn:schemagate:problem:payload-too-large", "title": "Request body too large", "status": 413, "detail": format!("the body exceeds the limit of {limit} bytes"), "instance": "b-2"})
    );
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn an_encoding_the_gateway_does_not_read_is_415_naming_it() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let text = String::from_utf8(fixture("acme/orders/valid/input.xml")).unwrap();
    let latin1 = text.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
    let reply = post(&gw.url(ACME), "application/xml", "enc-1", latin1).await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        reply.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:unsupported-media-type</type><title>Unsupported media type</title><status>415</status><detail>the document declares encoding &quot;ISO-8859-1&quot; at line 1, column 1; send UTF-8 or UTF-16</detail><instance>enc-1</instance></problem>\n"
    );
    // A charset parameter is held to the same encodings.
    let reply = post(
        &gw.url(ACME),
        "application/xml; charset=windows-1252",
        "enc-2",
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(
        reply.text(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:unsupported-media-type</type><title>Unsupported media type</title><status>415</status><detail>charset `windows-1252` is not accepted; send UTF-8 or UTF-16</detail><instance>enc-2</instance></problem>\n"
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn a_partner_body_naming_a_member_twice_is_400_and_not_forwarded() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let body = "{\n  \"orderRef\": \"GX-5501\",\n  \"buyer\": {\n    \"fullName\": \"Wile E. Coyote\",\n    \"fullName\": \"Road Runner\"\n  }\n}";
    let reply = post(&gw.url(GLOBEX), "application/json", "dup-1", body).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(
        reply.text(),
        r#"{"type":"urn:schemagate:problem:malformed-body","title":"Malformed request body","status":400,"detail":"a JSON object names a member more than once","instance":"dup-1","errors":[{"pointer":"/buyer/fullName","message":"member \"fullName\" appears more than once in this object","line":5,"column":5}]}"#
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn an_upstream_answer_naming_a_member_twice_is_502() {
    let up = Upstream::start(Arc::new(|_: &Recorded| {
        (
            StatusCode::OK,
            "application/json",
            br#"{"order_id":"GX-5501","status":"REJECTED","status":"ACCEPTED","total":334.98,"estimated_delivery":"2026-12-02"}"#.to_vec(),
            Duration::ZERO,
        )
    }))
    .await;
    let gw = Gateway::start(&up.url()).await;
    let reply = post(
        &gw.url(GLOBEX),
        "application/json",
        "dup-2",
        fixture("globex/orders/valid/input.json"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.text(),
        r#"{"type":"urn:schemagate:problem:invalid-upstream-response","title":"Invalid upstream response","status":502,"detail":"the service answered with an unreadable body","instance":"dup-2"}"#
    );
    let sent: Value = serde_json::from_slice(&up.requests()[0].body).unwrap();
    assert_eq!(sent, expected_json("globex/orders/valid/expected.json"));
}

#[tokio::test]
async fn documents_past_a_structural_limit_are_400_naming_it() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let problem = |cid: &str, detail: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:limit-exceeded</type><title>Document exceeds a structural limit</title><status>400</status><detail>{detail}</detail><instance>{cid}</instance></problem>\n"
        )
    };
    // 80 nested elements under the root: the 64th (the 65th element open) is one too deep.
    let deep = format!(
        "<Order xmlns=\"urn:acme:orders:v2\">{}{}</Order>",
        "<a>".repeat(80),
        "</a>".repeat(80)
    );
    let reply = post(&gw.url(ACME), "application/xml", "deep-1", deep).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.text(),
        problem(
            "deep-1",
            "document exceeds the depth limit of 64 at line 1, column 224"
        )
    );
    let long_name = format!(
        "<Order xmlns=\"urn:acme:orders:v2\">\n  <{}/></Order>",
        "N".repeat(1025)
    );
    let reply = post(&gw.url(ACME), "application/xml", "name-1", long_name).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.text(),
        problem(
            "name-1",
            "document exceeds the name length limit of 1024 at line 2, column 4"
        )
    );
    let json_deep = format!("{{\"orderRef\": {}", "[".repeat(100));
    let reply = post(&gw.url(GLOBEX), "application/json", "deep-2", json_deep).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        reply.text(),
        r#"{"type":"urn:schemagate:problem:limit-exceeded","title":"Document exceeds a structural limit","status":400,"detail":"document exceeds the depth limit of 64 at line 1, column 77","instance":"deep-2"}"#
    );
    assert!(up.requests().is_empty());
}

/// A mappings directory holding the shipped acme route with `extra` added to its `route:`.
fn acme_route_with(dir: &Path, extra: &str) {
    let text = std::fs::read_to_string(repo().join("mappings/acme/orders.yaml")).unwrap();
    let anchor = "  namespace: \"urn:acme:orders:v2\"\n";
    assert!(text.contains(anchor));
    let text = text.replacen(anchor, &format!("{anchor}{extra}"), 1);
    std::fs::create_dir_all(dir.join("acme")).unwrap();
    std::fs::write(dir.join("acme/orders.yaml"), text).unwrap();
}

#[tokio::test]
async fn a_route_answers_with_its_configured_media_type() {
    let up = Upstream::acme().await;
    let mappings = tempfile::tempdir().unwrap();
    acme_route_with(
        mappings.path(),
        "  response_media_type: \"application/vnd.acme.order-ack+xml; charset=utf-8\"\n",
    );
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let reply = post(
        &gw.url(ACME),
        "application/xml",
        "mt-1",
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        reply.header("content-type"),
        "application/vnd.acme.order-ack+xml; charset=utf-8"
    );
    assert_eq!(
        reply.text().trim_end(),
        String::from_utf8(fixture("acme/orders/valid/expected-response.xml"))
            .unwrap()
            .trim_end()
    );
    // Errors are still problem documents.
    let reply = post(&gw.url(ACME), "application/xml", "mt-2", "<Order").await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.header("content-type"), "application/problem+xml");
}

#[tokio::test]
async fn a_media_type_that_does_not_fit_the_route_is_refused_at_compile() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let rt = gw.state.runtime();
    let text = std::fs::read_to_string(repo().join("mappings/acme/orders.yaml")).unwrap();
    let anchor = "  namespace: \"urn:acme:orders:v2\"\n";
    let compile = |value: &str| {
        let file = Path::new("mappings/acme/orders.yaml");
        let text = text.replacen(
            anchor,
            &format!("{anchor}  response_media_type: \"{value}\"\n"),
            1,
        );
        match schemagate::config::compile_route_text(&rt.gateway, "acme/orders", file, &text) {
            Ok((route, _)) => Ok(route.response_media_type),
            Err(diags) => Err(diags
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n")),
        }
    };
    assert_eq!(compile("text/xml").unwrap(), "text/xml");
    assert_eq!(
        compile("application/json").unwrap_err(),
        "mappings/acme/orders.yaml:7:3: error: `application/json` is not an XML media type (`application/xml`, `text/xml` or one ending in `+xml`), so it cannot label the XML this route answers with\n  --> at route.response_media_type\n  = hint: e.g. `application/xml`, or remove the key for that default"
    );
    assert_eq!(
        compile("text/xml; charset=latin1").unwrap_err(),
        "mappings/acme/orders.yaml:7:3: error: `text/xml; charset=latin1` names charset `latin1`, but the gateway writes answers in UTF-8\n  --> at route.response_media_type\n  = hint: e.g. `application/xml`, or remove the key for that default"
    );
    let without_response = |value: &str| {
        let text = text
            .replacen(
                anchor,
                &format!("{anchor}  response_media_type: \"{value}\"\n"),
                1,
            )
            .split("\nresponse:")
            .next()
            .unwrap()
            .to_string();
        let file = Path::new("mappings/acme/orders.yaml");
        schemagate::config::compile_route_text(&rt.gateway, "acme/orders", file, &text)
            .map(|_| ())
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(
        without_response("text/xml"),
        Err(vec!["mappings/acme/orders.yaml:7:3: error: `response_media_type` cannot apply: without a `response:` mapping the upstream's answer and its `Content-Type` pass through\n  --> at route.response_media_type\n  = hint: remove `response_media_type`".to_string()])
    );
    let soap = text.replacen(anchor, &format!("{anchor}  soap: \"1.1\"\n"), 1);
    let soap = {
        let file = Path::new("mappings/acme/orders.yaml");
        let text = soap.replacen(
            anchor,
            &format!("{anchor}  response_media_type: \"text/xml\"\n"),
            1,
        );
        schemagate::config::compile_route_text(&rt.gateway, "acme/orders", file, &text)
            .map(|_| ())
            .map_err(|diags| diags.iter().map(ToString::to_string).collect::<Vec<_>>())
    };
    assert_eq!(
        soap,
        Err(vec!["mappings/acme/orders.yaml:7:3: error: `response_media_type` cannot apply: a SOAP route answers in its SOAP version's media type (`text/xml; charset=utf-8` for 1.1, `application/soap+xml; charset=utf-8` for 1.2)\n  --> at route.response_media_type\n  = hint: remove `response_media_type`".to_string()])
    );
    assert_eq!(
        compile("xml").unwrap_err(),
        "mappings/acme/orders.yaml:7:3: error: `xml` is not a media type: write `type/subtype`, optionally followed by `; name=value` parameters\n  --> at route.response_media_type\n  = hint: e.g. `application/xml`, or remove the key for that default"
    );
}

/// Every string an internal schema enumerates (`enum`, `const`), anywhere in it.
fn enumerated<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(map) => {
            for (k, item) in map {
                match (k.as_str(), item) {
                    ("enum", Value::Array(values)) => {
                        out.extend(values.iter().filter_map(Value::as_str));
                    }
                    ("const", Value::String(s)) => out.push(s),
                    _ => enumerated(item, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| enumerated(i, out)),
        _ => {}
    }
}

/// Adding a partner is two files of its own: no shared internal schema lists the partners,
/// so none has to be edited for a new one.
#[test]
fn no_internal_schema_enumerates_the_partners() {
    let partners: Vec<String> = std::fs::read_dir(repo().join("mappings"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(partners.contains(&"acme".to_string()), "{partners:?}");
    let mut checked = 0;
    for entry in std::fs::read_dir(repo().join("schemas/internal")).unwrap() {
        let path = entry.unwrap().path();
        let schema: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        let mut values = Vec::new();
        enumerated(&schema, &mut values);
        for p in &partners {
            assert!(
                !values.contains(&p.as_str()),
                "{} enumerates the partner `{p}`",
                path.display()
            );
        }
        checked += 1;
    }
    assert!(checked >= 5);
    // A partner that does not exist yet is a valid source of an internal order.
    let schema: Value = serde_json::from_slice(
        &std::fs::read(repo().join("schemas/internal/order.schema.json")).unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let mut order = expected_json("acme/orders/valid/expected.json");
    order["source"] = json!("initech");
    assert!(validator.is_valid(&order));
    order["source"] = json!("Not A Partner!");
    assert!(!validator.is_valid(&order));
}
