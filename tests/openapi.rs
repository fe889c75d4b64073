//! What the admin listener publishes about partners: the OpenAPI documents (combined and per
//! partner, in OpenAPI 3.1 and 3.2), checked with `openapi-spec-validator`, and the XSDs of
//! the XML routes, checked with `xmllint --schema` against the partner's real documents.
//!
//! The validator is the PyPI package `openapi-spec-validator` that `.ci/run` installs into
//! `target/venv-openapi`; `OPENAPI_VALIDATOR` names another executable. The tests fail, not
//! skip, without it. Set `SCHEMAGATE_BLESS=1` to rewrite the golden files after a
//! deliberate change.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Gateway, Upstream, get, repo, send};
use http::{Method, StatusCode};
use serde_json::json;

/// The `[openapi]` section of the tests: a title, a version, servers, and a partner of its
/// own title.
const OPENAPI: &str = "\n[openapi]\ntitle = \"Example partners\"\nversion = \"2026-12\"\nservers = [\"https://partners.example.com\", \"/sandbox\"]\n\n[openapi.partners.acme]\ntitle = \"ACME purchase orders\"\n";

fn validator() -> PathBuf {
    match std::env::var_os("OPENAPI_VALIDATOR") {
        Some(v) => PathBuf::from(v),
        None => repo().join("target/venv-openapi/bin/openapi-spec-validator"),
    }
}

/// Runs openapi-spec-validator on `doc`; panics with its report when it refuses it.
fn assert_valid_openapi(doc: &[u8], name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, doc).unwrap();
    let exe = validator();
    let out = Command::new(&exe).arg(&file).output().unwrap_or_else(|e| {
        panic!(
            "{}: {e} (run .ci/run, which installs openapi-spec-validator into target/venv-openapi, or set OPENAPI_VALIDATOR)",
            exe.display()
        )
    });
    let report =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{name} refused:\n{report}");
    assert!(report.contains(": OK"), "{report}");
}

/// Compares `actual` with the golden file `tests/fixtures/openapi/NAME` (rewriting it
/// when blessing).
fn golden(name: &str, actual: &[u8]) {
    let file = repo().join("tests/fixtures/openapi").join(name);
    if std::env::var_os("SCHEMAGATE_BLESS").is_some() {
        std::fs::write(&file, actual).unwrap();
    }
    let expected = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SCHEMAGATE_BLESS=1)", file.display()));
    let actual = String::from_utf8_lossy(actual);
    assert!(
        expected == actual,
        "{} differs:\n{}",
        file.display(),
        similar::TextDiff::from_lines(expected.as_str(), &actual).unified_diff()
    );
}

fn xmllint(schema: &Path, instance: &Path) -> (bool, String) {
    let out = Command::new("xmllint")
        .args(["--nonet", "--noout", "--schema"])
        .arg(schema)
        .arg(instance)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn the_xml_partner_has_a_document_of_its_own_in_openapi_3_1() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), OPENAPI, None).await;
    let reply = get(&gw.admin_url("/openapi/acme.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("content-type"), "application/json");
    golden("acme.json", &reply.body);
    assert_valid_openapi(&reply.body, "acme.json");

    let doc = reply.json();
    // Only the partner's own routes and schemas.
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    assert_eq!(paths, ["/partners/acme/orders"]);
    assert!(
        doc["components"]["schemas"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.starts_with("acme_") || k == "Problem")
    );

    for name in ["globex", "bff"] {
        let reply = get(&gw.admin_url(&format!("/openapi/{name}.json"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{name}");
        let doc = reply.json();
        assert_eq!(
            doc["info"],
            json!({"title": format!("Example partners: {name}"), "version": "2026-12", "description": format!("Routes of partner {name} served by schemagate.")})
        );
        assert_valid_openapi(&reply.body, &format!("{name}.json"));
    }

    let reply = get(&gw.admin_url("/openapi.json")).await;
    let doc = reply.json();
    assert_eq!(
        doc["info"],
        json!({"title": "Example partners", "version": "2026-12", "description": "Partner routes served by schemagate."})
    );
    assert_eq!(
        doc["servers"],
        json!([{"url": "https://partners.example.com"}, {"url": "/sandbox"}])
    );
    assert_valid_openapi(&reply.body, "openapi.json");
}

#[tokio::test]
async fn openapi_3_2_says_which_member_is_the_text() {
    let up = Upstream::acme().await;
    let config = OPENAPI.replace("[openapi]\n", "[openapi]\nspec_version = \"3.2.0\"\n");
    let gw = Gateway::start_with(&up.url(), &config, None).await;
    let reply = get(&gw.admin_url("/openapi/acme.json")).await;
    assert_eq!(reply.status, StatusCode::OK);
    golden("acme-3.2.json", &reply.body);
    assert_valid_openapi(&reply.body, "acme-3.2.json");
    let doc = reply.json();
    assert_eq!(doc["openapi"], "3.2.0");
    let total = &doc["components"]["schemas"]["acme_order-ack"]["properties"]["OrderAck"]["properties"]
        ["Total"]["properties"];
    assert_eq!(
        total,
        &json!({
            "@currency": {"type": "string", "pattern": "^[A-Z]{3}$", "xml": {"name": "currency", "nodeType": "attribute"}},
            "#text": {"type": "string", "pattern": "^-?[0-9]+\\.[0-9]{2}$", "xml": {"nodeType": "text"}}
        })
    );
    let combined = get(&gw.admin_url("/openapi.json")).await;
    assert_eq!(combined.json()["openapi"], "3.2.0");
    assert_valid_openapi(&combined.body, "openapi-3.2.json");
}

#[tokio::test]
async fn an_unknown_partner_or_schema_is_a_404_problem() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let reply = send(
        Method::GET,
        &gw.admin_url("/openapi/initech.json"),
        &[("x-correlation-id", "oa-1"), ("accept", "application/json")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:not-found",
            "title": "Not found",
            "status": 404,
            "detail": "no partner document at /openapi/initech.json; documents: /openapi/acme.json, /openapi/bff.json, /openapi/globex.json",
            "instance": "oa-1"
        })
    );
    let reply = send(
        Method::GET,
        &gw.admin_url("/schemas/globex/orders.xsd"),
        &[("x-correlation-id", "oa-2"), ("accept", "application/json")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:not-found",
            "title": "Not found",
            "status": 404,
            "detail": "no XSD at /schemas/globex/orders.xsd; XSDs of the XML routes: /schemas/acme/orders.response.xsd, /schemas/acme/orders.xsd, /schemas/initech/reserve-stock.response.xsd, /schemas/initech/reserve-stock.xsd, /schemas/initech/stock-level.response.xsd, /schemas/initech/stock-level.xsd",
            "instance": "oa-2"
        })
    );
    let reply = send(
        Method::POST,
        &gw.admin_url("/openapi/acme.json"),
        &[("x-correlation-id", "oa-3"), ("accept", "application/json")],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.header("allow"), "GET, HEAD");
}

#[tokio::test]
async fn the_xml_route_s_xsds_validate_the_partner_s_real_documents() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("tests/fixtures/acme/orders");
    for (file, instance) in [
        ("orders.xsd", "valid/input.xml"),
        ("orders.response.xsd", "valid/expected-response.xml"),
    ] {
        let reply = get(&gw.admin_url(&format!("/schemas/acme/{file}"))).await;
        assert_eq!(reply.status, StatusCode::OK, "{file}: {}", reply.text());
        assert_eq!(reply.header("content-type"), "application/xml");
        assert!(
            reply
                .text()
                .starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xs:schema "),
            "{}",
            reply.text()
        );
        let xsd = dir.path().join(file);
        std::fs::write(&xsd, &reply.body).unwrap();
        let (ok, log) = xmllint(&xsd, &fixtures.join(instance));
        assert!(ok, "{file} refused {instance}:\n{log}\n{}", reply.text());
    }
    // The XSD refuses what the gateway refuses: the order in another namespace.
    let (ok, log) = xmllint(
        &dir.path().join("orders.xsd"),
        &fixtures.join("wrong-namespace/input.xml"),
    );
    assert!(!ok);
    assert!(log.contains("No matching global declaration"), "{log}");
}

#[test]
fn the_openapi_section_is_checked_when_the_configuration_loads() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        &repo().join("schemas"),
        &repo().join("mappings"),
        "http://127.0.0.1:9",
        "\n[openapi]\nservers = [\"https://{region}.example.com\"]\n\n[openapi.partners.initech]\ntitle = \"Initech\"\n",
    );
    let diags = schemagate::config::load(&schemagate::config::LoadOptions {
        config_path: Some(config),
        ..Default::default()
    })
    .unwrap_err();
    let found: Vec<(String, Option<u32>)> = diags
        .iter()
        .filter(|d| d.message.starts_with("openapi."))
        .map(|d| (d.message.clone(), d.line))
        .collect();
    assert_eq!(
        found,
        [
            (
                "openapi.servers: `https://{region}.example.com` uses `{...}`: server variables are not supported".to_string(),
                Some(18)
            ),
            (
                "openapi.partners.initech: no route of partner `initech` is described in OpenAPI (a SOAP route's contract is its WSDL); partners: acme, bff, globex".to_string(),
                Some(20)
            ),
        ]
    );
}
