//! SOAP routes end to end: the shipped Initech inventory endpoint (SOAP 1.1, two actions on
//! one path) and SOAP 1.2 and status variants of it, each in front of a real recording
//! upstream. Every answer and every fault is compared byte for byte.
//!
//! The exported WSDL is read by a real SOAP client, the PyPI package `zeep`, which `.ci/run`
//! installs into `target/venv-soap`; `SOAP_CLIENT_PYTHON` names another Python that has
//! it. The test fails, not skips, without it.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use http::{Method, StatusCode};
use serde_json::{Value, json};

const INVENTORY: &str = "/partners/initech/inventory";
const GET_STOCK_LEVEL: &str = "urn:initech:inventory/GetStockLevel";
const RESERVE_STOCK: &str = "urn:initech:inventory/ReserveStock";
const SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
const SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
const CID: &str = "soap-1";

/// The stock service: levels and reservations as the golden cases answer them; a
/// reservation of `UNKNOWN` is refused (409) and one of `BROKEN` fails (500).
async fn stock_service() -> Upstream {
    Upstream::start(Arc::new(|r: &Recorded| {
        let body = String::from_utf8_lossy(&r.body);
        let (status, file) = match r.path.as_str() {
            "/stock/levels" if body.contains("BROKEN") => (StatusCode::INTERNAL_SERVER_ERROR, ""),
            "/stock/levels" => (StatusCode::OK, "initech/stock-level/counted/upstream.json"),
            "/stock/reservations" if body.contains("UNKNOWN") => (
                StatusCode::CONFLICT,
                "initech/reserve-stock/unknown-sku/upstream-error.json",
            ),
            "/stock/reservations" => (StatusCode::OK, "initech/reserve-stock/held/upstream.json"),
            _ => (StatusCode::NOT_FOUND, ""),
        };
        let body = if file.is_empty() {
            b"{\"error\":\"failed\"}".to_vec()
        } else {
            fixture(file)
        };
        (status, "application/json", body, Duration::ZERO)
    }))
    .await
}

/// Posts a SOAP 1.1 message naming `action` (quoted, as clients send it).
async fn post11(
    gw: &Gateway,
    path: &str,
    action: Option<&str>,
    body: impl Into<axum::body::Bytes>,
) -> Reply {
    let quoted = action.map(|a| format!("\"{a}\""));
    let mut headers = vec![
        ("content-type", "text/xml; charset=utf-8"),
        ("x-correlation-id", CID),
    ];
    if let Some(a) = &quoted {
        headers.push(("soapaction", a.as_str()));
    }
    send(Method::POST, &gw.url(path), &headers, body).await
}

/// Posts a SOAP 1.2 message, its action in the media type.
async fn post12(
    gw: &Gateway,
    path: &str,
    action: &str,
    body: impl Into<axum::body::Bytes>,
) -> Reply {
    let ct = format!("application/soap+xml; charset=utf-8; action=\"{action}\"");
    send(
        Method::POST,
        &gw.url(path),
        &[("content-type", ct.as_str()), ("x-correlation-id", CID)],
        body,
    )
    .await
}

/// `s` as XML character data, as the gateway escapes it.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// The golden case's answer, as SOAP 1.1 sends it: 200, `text/xml`, the case's
/// `expected-response.xml`.
fn assert_golden_answer(reply: &Reply, case: &str) {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "text/xml; charset=utf-8");
    assert_eq!(
        text(&reply.body),
        text(&fixture(&format!("{case}/expected-response.xml")))
    );
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// A SOAP 1.1 fault carrying the problem `slug`/`title`/`status`/`detail` (and `errors`,
/// the problem's `<errors>` element or nothing).
fn fault11(code: &str, slug: &str, title: &str, status: u16, detail: &str, errors: &str) -> String {
    let detail = esc(detail);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body><soap:Fault><faultcode>soap:{code}</faultcode><faultstring>{detail}</faultstring><detail><problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:{slug}</type><title>{title}</title><status>{status}</status><detail>{detail}</detail><instance>{CID}</instance>{errors}</problem></detail></soap:Fault></soap:Body></soap:Envelope>\n"
    )
}

/// The SOAP 1.2 form of [`fault11`].
fn fault12(code: &str, slug: &str, title: &str, status: u16, detail: &str, errors: &str) -> String {
    let detail = esc(detail);
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<env:Envelope xmlns:env=\"{SOAP12}\"><env:Body><env:Fault><env:Code><env:Value>env:{code}</env:Value></env:Code><env:Reason><env:Text xml:lang=\"en\">{detail}</env:Text></env:Reason><env:Detail><problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:{slug}</type><title>{title}</title><status>{status}</status><detail>{detail}</detail><instance>{CID}</instance>{errors}</problem></env:Detail></env:Fault></env:Body></env:Envelope>\n"
    )
}

fn assert_fault(reply: &Reply, status: StatusCode, media_type: &str, expected: &str) {
    assert_eq!(text(&reply.body), expected);
    assert_eq!(reply.status, status, "{}", reply.text());
    assert_eq!(reply.header("content-type"), media_type);
}

fn sent(up: &Upstream) -> Vec<(String, Value)> {
    up.requests()
        .iter()
        .map(|r| (r.path.clone(), serde_json::from_slice(&r.body).unwrap()))
        .collect()
}

/// The repository's mappings with `extra` route files (`partner/route.yaml`, text) added.
fn mappings_with(extra: &[(&str, String)]) -> tempfile::TempDir {
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for e in std::fs::read_dir(from).unwrap() {
            let e = e.unwrap();
            if e.path().is_dir() {
                copy(&e.path(), &to.join(e.file_name()));
            } else {
                std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
            }
        }
    }
    let dir = tempfile::tempdir().unwrap();
    copy(&repo().join("mappings"), dir.path());
    for (name, text) in extra {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    dir
}

/// The shipped stock-level route as SOAP 1.2 at `/partners/initech/inventory12`.
fn stock_level_12() -> String {
    std::fs::read_to_string(repo().join("mappings/initech/stock-level.yaml"))
        .unwrap()
        .replace("soap: \"1.1\"", "soap: \"1.2\"")
        .replace(INVENTORY, "/partners/initech/inventory12")
}

#[tokio::test]
async fn soap11_request_reads_its_header_and_gets_its_answer_in_an_envelope() {
    let up = stock_service().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = post11(
        &gw,
        INVENTORY,
        Some(GET_STOCK_LEVEL),
        fixture("initech/stock-level/counted/input.xml"),
    )
    .await;
    assert_golden_answer(&reply, "initech/stock-level/counted");
    assert_eq!(
        sent(&up),
        vec![(
            "/stock/levels".to_string(),
            json!({"sku": "WIDGET-7", "warehouse": "DE-BER", "transaction_id": "TX-2026-0042"})
        )]
    );
}

#[tokio::test]
async fn two_actions_on_one_path_reach_two_mappings_whatever_the_prefixes() {
    let up = stock_service().await;
    let gw = Gateway::start(&up.url()).await;
    // `s:` envelope, default-namespace body element.
    let reply = post11(
        &gw,
        INVENTORY,
        Some(RESERVE_STOCK),
        fixture("initech/reserve-stock/held/input.xml"),
    )
    .await;
    assert_golden_answer(&reply, "initech/reserve-stock/held");
    // Default-namespace envelope, prefixed body element, a header entry.
    let message = format!(
        "<Envelope xmlns=\"{SOAP11}\"><Header><t:TransactionId xmlns:t=\"urn:initech:inventory:v1\">TX-9</t:TransactionId></Header><Body><inv:GetStockLevel xmlns:inv=\"urn:initech:inventory:v1\"><inv:Sku>A-1</inv:Sku></inv:GetStockLevel></Body></Envelope>"
    );
    let reply = post11(&gw, INVENTORY, Some(GET_STOCK_LEVEL), message).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(
        sent(&up),
        vec![
            (
                "/stock/reservations".to_string(),
                json!({"sku": "WIDGET-7", "quantity": 12, "warehouse": "MAIN"})
            ),
            (
                "/stock/levels".to_string(),
                json!({"sku": "A-1", "warehouse": "MAIN", "transaction_id": "TX-9"})
            ),
        ]
    );
}

#[tokio::test]
async fn a_wrong_or_missing_action_is_a_client_fault_naming_the_actions() {
    let up = stock_service().await;
    let gw = Gateway::start(&up.url()).await;
    let body = fixture("initech/reserve-stock/held/input.xml");
    let expected_actions = format!("expected one of: `{RESERVE_STOCK}`, `{GET_STOCK_LEVEL}`");
    let reply = post11(
        &gw,
        INVENTORY,
        Some("urn:initech:inventory/Cancel"),
        body.clone(),
    )
    .await;
    let detail = format!(
        "the SOAP action `urn:initech:inventory/Cancel` is not served here; {expected_actions}"
    );
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        &fault11(
            "Client",
            "unknown-soap-action",
            "Unknown SOAP action",
            400,
            &detail,
            "",
        ),
    );
    let reply = post11(&gw, INVENTORY, None, body).await;
    let detail = format!("the request names no SOAP action; {expected_actions}");
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        &fault11(
            "Client",
            "unknown-soap-action",
            "Unknown SOAP action",
            400,
            &detail,
            "",
        ),
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn gateway_errors_are_faults() {
    let up = stock_service().await;
    let gw = Gateway::start_with(&up.url(), "[limits]\nmax_body_bytes = 600\n", None).await;
    let soap11 = "text/xml; charset=utf-8";
    let held = fixture("initech/reserve-stock/held/input.xml");

    // 415: a SOAP 1.1 route reads text/xml.
    let reply = send(
        Method::POST,
        &gw.url(INVENTORY),
        &[
            ("content-type", "application/xml"),
            ("soapaction", RESERVE_STOCK),
            ("x-correlation-id", CID),
        ],
        held.clone(),
    )
    .await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        soap11,
        &fault11(
            "Client",
            "unsupported-media-type",
            "Unsupported media type",
            415,
            "Content-Type `application/xml` is not accepted; this SOAP 1.1 route accepts text/xml",
            "",
        ),
    );

    // 400: not well-formed inside the Body.
    let broken = format!(
        "<s:Envelope xmlns:s=\"{SOAP11}\">\n<s:Body><ReserveStock xmlns=\"urn:initech:inventory:v1\"><Sku>A</Quantity></ReserveStock></s:Body></s:Envelope>"
    );
    let reply = post11(&gw, INVENTORY, Some(RESERVE_STOCK), broken).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        soap11,
        &fault11(
            "Client",
            "malformed-body",
            "Malformed request body",
            400,
            "malformed XML at line 2, column 62: closing tag </Quantity> does not match the open element <Sku>",
            "",
        ),
    );

    // 400: an envelope of SOAP 1.2 on a SOAP 1.1 route.
    let v12 = format!("<e:Envelope xmlns:e=\"{SOAP12}\"><e:Body/></e:Envelope>");
    let reply = post11(&gw, INVENTORY, Some(RESERVE_STOCK), v12).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        soap11,
        &fault11(
            "VersionMismatch",
            "soap-version-mismatch",
            "SOAP version mismatch",
            400,
            &format!(
                "the envelope is <Envelope> in namespace \"{SOAP12}\", not an <Envelope> in namespace \"{SOAP11}\", at line 1, column 1"
            ),
            "",
        ),
    );

    // 413: past the body limit.
    let big = format!(
        "<s:Envelope xmlns:s=\"{SOAP11}\"><s:Body><ReserveStock xmlns=\"urn:initech:inventory:v1\"><Sku>{}</Sku><Quantity>1</Quantity></ReserveStock></s:Body></s:Envelope>",
        "A".repeat(700)
    );
    let reply = post11(&gw, INVENTORY, Some(RESERVE_STOCK), big).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        soap11,
        &fault11(
            "Client",
            "payload-too-large",
            "Request body too large",
            413,
            "the body exceeds the limit of 600 bytes",
            "",
        ),
    );
    assert_eq!(reply.header("connection"), "close");

    // 422: the Body's element breaks the partner's schema; the position is in the message.
    let gw = Gateway::start(&up.url()).await;
    let reply = post11(
        &gw,
        INVENTORY,
        Some(RESERVE_STOCK),
        fixture("initech/reserve-stock/zero-quantity/input.xml"),
    )
    .await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        soap11,
        &fault11(
            "Client",
            "schema-violation",
            "Request does not match the schema",
            422,
            "1 violation against the route's schema",
            "<errors><i><pointer>/ReserveStock/Quantity</pointer><message>0 is less than the minimum of 1</message><line>8</line><column>7</column></i></errors>",
        ),
    );
    assert!(up.requests().is_empty());
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

/// Posts a SOAP 1.1 message in UTF-16, as its media type says.
async fn post11_utf16(gw: &Gateway, action: &str, body: Vec<u8>) -> Reply {
    let quoted = format!("\"{action}\"");
    send(
        Method::POST,
        &gw.url(INVENTORY),
        &[
            ("content-type", "text/xml; charset=utf-16"),
            ("soapaction", quoted.as_str()),
            ("x-correlation-id", CID),
        ],
        body,
    )
    .await
}

#[tokio::test]
async fn utf16_envelopes_are_read_as_their_utf8_twin() {
    let up = stock_service().await;
    let gw = Gateway::start(&up.url()).await;
    let counted = text(&fixture("initech/stock-level/counted/input.xml"));
    let declared = counted.replacen("encoding=\"UTF-8\"", "encoding=\"UTF-16\"", 1);
    assert_ne!(declared, counted, "the fixture declares its encoding");
    // Little-endian with its declaration, big-endian with none: the header entry and the
    // Body's element are read from the transcoded text, and the answer is the UTF-8 one.
    let undeclared = counted.replacen("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", "", 1);
    for body in [utf16(&declared, false), utf16(&undeclared, true)] {
        let reply = post11_utf16(&gw, GET_STOCK_LEVEL, body).await;
        assert_golden_answer(&reply, "initech/stock-level/counted");
    }
    let level = json!({"sku": "WIDGET-7", "warehouse": "DE-BER", "transaction_id": "TX-2026-0042"});
    assert_eq!(
        sent(&up),
        vec![
            ("/stock/levels".to_string(), level.clone()),
            ("/stock/levels".to_string(), level),
        ]
    );

    // A violation is placed at the line and column of the UTF-8 twin (line 8, column 7).
    let zero = text(&fixture("initech/reserve-stock/zero-quantity/input.xml"));
    let reply = post11_utf16(&gw, RESERVE_STOCK, utf16(&zero, false)).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        &fault11(
            "Client",
            "schema-violation",
            "Request does not match the schema",
            422,
            "1 violation against the route's schema",
            "<errors><i><pointer>/ReserveStock/Quantity</pointer><message>0 is less than the minimum of 1</message><line>8</line><column>7</column></i></errors>",
        ),
    );

    // The envelope's declaration is checked as a plain document's: UTF-8 bytes declared
    // UTF-16 are malformed, an encoding the gateway does not read is 415 naming it.
    let reply = post11(
        &gw,
        INVENTORY,
        Some(GET_STOCK_LEVEL),
        declared.clone().into_bytes(),
    )
    .await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        &fault11(
            "Client",
            "malformed-body",
            "Malformed request body",
            400,
            "invalid encoding at line 1, column 1: the document declares encoding \"UTF-16\" but is not UTF-16: a UTF-16 document starts with a byte order mark",
            "",
        ),
    );
    let latin = counted.replacen("encoding=\"UTF-8\"", "encoding=\"ISO-8859-1\"", 1);
    let reply = post11(&gw, INVENTORY, Some(GET_STOCK_LEVEL), latin.into_bytes()).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        &fault11(
            "Client",
            "unsupported-media-type",
            "Unsupported media type",
            415,
            "the document declares encoding \"ISO-8859-1\" at line 1, column 1; send UTF-8 or UTF-16",
            "",
        ),
    );
    assert_eq!(up.requests().len(), 2);
}

#[tokio::test]
async fn upstream_failures_are_server_faults_and_refusals_carry_the_mapped_detail() {
    let up = stock_service().await;
    let gw = Gateway::start(&up.url()).await;
    let message = |sku: &str, body: &str| {
        format!(
            "<soap:Envelope xmlns:soap=\"{SOAP11}\"><soap:Body><{body} xmlns=\"urn:initech:inventory:v1\"><Sku>{sku}</Sku><Quantity>1</Quantity></{body}></soap:Body></soap:Envelope>"
        )
    };
    // A 5xx of the service: 502 in the detail, a Server fault.
    let failing = message("BROKEN", "GetStockLevel").replace("<Quantity>1</Quantity>", "");
    let reply = post11(&gw, INVENTORY, Some(GET_STOCK_LEVEL), failing).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        "text/xml; charset=utf-8",
        &fault11(
            "Server",
            "upstream-error",
            "Upstream service failed",
            502,
            "the service failed to answer",
            "",
        ),
    );
    // A 409 mapped by the route's `errors:` section: the partner's StockFault as detail.
    let reply = post11(
        &gw,
        INVENTORY,
        Some(RESERVE_STOCK),
        message("UNKNOWN", "ReserveStock"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(reply.header("content-type"), "text/xml; charset=utf-8");
    assert_eq!(
        text(&reply.body),
        text(&fixture(
            "initech/reserve-stock/unknown-sku/expected-error.xml"
        ))
    );
}

#[tokio::test]
async fn soap12_answers_and_faults() {
    let up = stock_service().await;
    let mappings = mappings_with(&[("initech/stock-level-12.yaml", stock_level_12())]);
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let path = "/partners/initech/inventory12";
    let media = "application/soap+xml; charset=utf-8";
    let message = |sku: &str| {
        format!(
            "<env:Envelope xmlns:env=\"{SOAP12}\"><env:Header><TransactionId xmlns=\"urn:initech:inventory:v1\">T-12</TransactionId></env:Header><env:Body><GetStockLevel xmlns=\"urn:initech:inventory:v1\"><Sku>{sku}</Sku></GetStockLevel></env:Body></env:Envelope>"
        )
    };
    let reply = post12(&gw, path, GET_STOCK_LEVEL, message("WIDGET-7")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), media);
    assert_eq!(
        text(&reply.body),
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<env:Envelope xmlns:env=\"{SOAP12}\"><env:Body><GetStockLevelResponse xmlns=\"urn:initech:inventory:v1\"><Sku>WIDGET-7</Sku><Warehouse>DE-BER</Warehouse><Available>140</Available><CountedOn>2026-12-07</CountedOn></GetStockLevelResponse></env:Body></env:Envelope>\n"
        )
    );
    // Sender faults are 400 under SOAP 1.2's binding, Receiver faults 500.
    let reply = post12(&gw, path, GET_STOCK_LEVEL, message("")).await;
    assert_fault(
        &reply,
        StatusCode::BAD_REQUEST,
        media,
        &fault12(
            "Sender",
            "schema-violation",
            "Request does not match the schema",
            422,
            "1 violation against the route's schema",
            "<errors><i><pointer>/GetStockLevel/Sku</pointer><message>&quot;&quot; is shorter than 1 character</message><line>1</line><column>218</column></i></errors>",
        ),
    );
    let reply = post12(&gw, path, GET_STOCK_LEVEL, message("BROKEN")).await;
    assert_fault(
        &reply,
        StatusCode::INTERNAL_SERVER_ERROR,
        media,
        &fault12(
            "Receiver",
            "upstream-error",
            "Upstream service failed",
            502,
            "the service failed to answer",
            "",
        ),
    );
    // The action is read from the media type: another one is refused.
    let reply = post12(&gw, path, RESERVE_STOCK, message("WIDGET-7")).await;
    assert_fault(
        &reply,
        StatusCode::BAD_REQUEST,
        media,
        &fault12(
            "Sender",
            "unknown-soap-action",
            "Unknown SOAP action",
            400,
            &format!(
                "the SOAP action `{RESERVE_STOCK}` is not served here; expected one of: `{GET_STOCK_LEVEL}`"
            ),
            "",
        ),
    );
    assert_eq!(
        sent(&up),
        vec![
            (
                "/stock/levels".to_string(),
                json!({"sku": "WIDGET-7", "warehouse": "MAIN", "transaction_id": "T-12"})
            ),
            (
                "/stock/levels".to_string(),
                json!({"sku": "BROKEN", "warehouse": "MAIN", "transaction_id": "T-12"})
            ),
        ]
    );
}

#[tokio::test]
async fn a_route_may_keep_the_problems_own_status_for_its_faults() {
    let up = stock_service().await;
    let own = stock_level_12().replace(
        "  soap: \"1.2\"\n",
        "  soap: \"1.2\"\n  soap_fault_status: problem\n",
    );
    let mappings = mappings_with(&[("initech/stock-level-12.yaml", own)]);
    let gw = Gateway::start_with(&up.url(), "", Some(mappings.path())).await;
    let message = format!(
        "<env:Envelope xmlns:env=\"{SOAP12}\"><env:Body><GetStockLevel xmlns=\"urn:initech:inventory:v1\"><Sku>BROKEN</Sku></GetStockLevel></env:Body></env:Envelope>"
    );
    let reply = post12(
        &gw,
        "/partners/initech/inventory12",
        GET_STOCK_LEVEL,
        message,
    )
    .await;
    assert_fault(
        &reply,
        StatusCode::BAD_GATEWAY,
        "application/soap+xml; charset=utf-8",
        &fault12(
            "Receiver",
            "upstream-error",
            "Upstream service failed",
            502,
            "the service failed to answer",
            "",
        ),
    );
}

/// Runs `xmllint ARGS FILE`, asserting it succeeds; its output.
fn xmllint(args: &[&str], file: &Path) -> String {
    let o = Command::new("xmllint")
        .args(args)
        .arg(file)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn export_wsdl_describes_the_endpoint_and_its_schemas_validate_the_bodies() {
    let out = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args([
            "export",
            "wsdl",
            "initech",
            "--base-url",
            "https://gateway.example",
            "--config",
        ])
        .arg(repo().join("gateway.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let wsdl = String::from_utf8(out.stdout).unwrap();
    let golden = repo().join("tests/fixtures/initech/inventory.wsdl");
    if std::env::var_os("SCHEMAGATE_BLESS").is_some() {
        std::fs::write(&golden, &wsdl).unwrap();
    }
    assert_eq!(wsdl, std::fs::read_to_string(&golden).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("inventory.wsdl");
    std::fs::write(&file, &wsdl).unwrap();
    xmllint(&["--noout"], &file);
    let count = |xpath: &str| xmllint(&["--xpath", xpath], &file).trim().to_string();
    assert_eq!(
        count(&format!(
            "count(//*[local-name()='operation'][@soapAction='{GET_STOCK_LEVEL}'])"
        )),
        "1"
    );
    assert_eq!(
        count(
            "count(//*[local-name()='address'][@location='https://gateway.example/partners/initech/inventory'])"
        ),
        "1"
    );
    // Each Body element, request and answer, validates against the embedded schema that
    // declares it.
    let schemas: usize = count("count(//*[local-name()='schema'])").parse().unwrap();
    let bodies = [
        (
            "GetStockLevel",
            "<GetStockLevel xmlns=\"urn:initech:inventory:v1\"><Sku>WIDGET-7</Sku><Warehouse>DE-BER</Warehouse></GetStockLevel>",
        ),
        (
            "GetStockLevelResponse",
            "<GetStockLevelResponse xmlns=\"urn:initech:inventory:v1\"><Sku>WIDGET-7</Sku><Warehouse>DE-BER</Warehouse><Available>140</Available><CountedOn>2026-12-07</CountedOn></GetStockLevelResponse>",
        ),
        (
            "ReserveStock",
            "<ReserveStock xmlns=\"urn:initech:inventory:v1\"><Sku>WIDGET-7</Sku><Quantity>12</Quantity></ReserveStock>",
        ),
        (
            "ReserveStockResponse",
            "<ReserveStockResponse xmlns=\"urn:initech:inventory:v1\"><ReservationId>R-981</ReservationId><Status>held</Status></ReserveStockResponse>",
        ),
    ];
    for (element, body) in bodies {
        let instance = dir.path().join(format!("{element}.xml"));
        std::fs::write(&instance, body).unwrap();
        let declaring: Vec<String> = (1..=schemas)
            .map(|i| {
                xmllint(
                    &["--xpath", &format!("(//*[local-name()='schema'])[{i}]")],
                    &file,
                )
            })
            .filter(|s| s.contains(&format!("name=\"{element}\"")))
            .collect();
        assert_eq!(declaring.len(), 1, "{element}: {wsdl}");
        let schema = dir.path().join(format!("{element}.xsd"));
        std::fs::write(&schema, &declaring[0]).unwrap();
        xmllint(
            &["--nonet", "--noout", "--schema", schema.to_str().unwrap()],
            &instance,
        );
    }
}

/// What a SOAP client makes of the WSDL (`zeep`, which parses the WSDL and its schemas and
/// resolves every name in them): `describe WSDL` prints the binding of each port and the
/// request envelope the client writes for each operation; `read WSDL OPERATION FILE` prints
/// the answer in FILE as the client reads it by the operation's output schema.
const SOAP_CLIENT: &str = r#"
import json, sys
from lxml import etree
from zeep import Client
from zeep.helpers import serialize_object

client = Client(sys.argv[2])
if sys.argv[1] == "describe":
    out = {"ports": {}, "messages": {}}
    for sname, service in client.wsdl.services.items():
        for pname, port in service.ports.items():
            out["ports"][sname + "/" + pname] = {
                "address": port.binding_options["address"],
                "operations": {
                    name: [op.soapaction, op.input.body.qname.text, op.output.body.qname.text]
                    for name, op in port.binding.all().items()
                },
            }
            proxy = client.bind(sname, pname)
            out["messages"]["stock-level"] = etree.tostring(client.create_message(
                proxy, "stock-level", Sku="WIDGET-7", Warehouse="DE-BER")).decode()
            out["messages"]["reserve-stock"] = etree.tostring(client.create_message(
                proxy, "reserve-stock", Sku="WIDGET-7", Quantity=12)).decode()
else:
    port = next(iter(next(iter(client.wsdl.services.values())).ports.values()))
    answer = etree.fromstring(open(sys.argv[4], "rb").read())
    result = port.binding.get(sys.argv[3]).output.deserialize(answer)
    out = serialize_object(result)
print(json.dumps(out, sort_keys=True))
"#;

/// Runs [`SOAP_CLIENT`] with `args`; its output as JSON.
fn soap_client(args: &[&str]) -> Value {
    let python = std::env::var_os("SOAP_CLIENT_PYTHON")
        .map_or_else(|| repo().join("target/venv-soap/bin/python"), Into::into);
    let o = Command::new(&python)
        .arg("-c")
        .arg(SOAP_CLIENT)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e} (run .ci/run, which installs zeep into target/venv-soap, or set SOAP_CLIENT_PYTHON)",
                python.display()
            )
        });
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    serde_json::from_slice(&o.stdout).unwrap()
}

#[tokio::test]
async fn a_soap_client_reads_the_wsdl_and_is_served_by_it() {
    let up = stock_service().await;
    let gw = Gateway::start(&up.url()).await;
    let out = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args([
            "export",
            "wsdl",
            "initech",
            "--base-url",
            &gw.url(""),
            "--config",
        ])
        .arg(repo().join("gateway.toml"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let wsdl = dir.path().join("inventory.wsdl");
    std::fs::write(&wsdl, &out.stdout).unwrap();
    let wsdl = wsdl.to_str().unwrap();

    let described = soap_client(&["describe", wsdl]);
    let ns = "urn:initech:inventory:v1";
    assert_eq!(
        described["ports"],
        json!({"initech/initechSoap11Port": {
            "address": gw.url(INVENTORY),
            "operations": {
                "reserve-stock": [RESERVE_STOCK, format!("{{{ns}}}ReserveStock"), format!("{{{ns}}}ReserveStockResponse")],
                "stock-level": [GET_STOCK_LEVEL, format!("{{{ns}}}GetStockLevel"), format!("{{{ns}}}GetStockLevelResponse")],
            },
        }})
    );
    // The client's own envelopes, sent with the actions the WSDL gives, are served; the
    // answers are read back by the operations' output schemas.
    let mut read = Vec::new();
    for (operation, action) in [
        ("stock-level", GET_STOCK_LEVEL),
        ("reserve-stock", RESERVE_STOCK),
    ] {
        let message = described["messages"][operation]
            .as_str()
            .unwrap()
            .to_string();
        let reply = post11(&gw, INVENTORY, Some(action), message).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "{operation}: {}",
            reply.text()
        );
        let answer = dir.path().join(format!("{operation}.xml"));
        std::fs::write(&answer, &reply.body).unwrap();
        read.push(soap_client(&[
            "read",
            wsdl,
            operation,
            answer.to_str().unwrap(),
        ]));
    }
    assert_eq!(
        read,
        [
            json!({"Sku": "WIDGET-7", "Warehouse": "DE-BER", "Available": 140, "CountedOn": "2026-12-07"}),
            json!({"ReservationId": "R-981", "Status": "held"}),
        ]
    );
    assert_eq!(
        sent(&up),
        vec![
            (
                "/stock/levels".to_string(),
                json!({"sku": "WIDGET-7", "warehouse": "DE-BER"})
            ),
            (
                "/stock/reservations".to_string(),
                json!({"sku": "WIDGET-7", "quantity": 12, "warehouse": "MAIN"})
            ),
        ]
    );
}
