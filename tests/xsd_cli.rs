//! `schemagate import xsd` and `schemagate export xsd` as a person runs them: exact output
//! and exit codes, and the exported XSD checked with libxml2's `xmllint`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .output()
        .expect("schemagate runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn import_xsd_prints_the_schema_and_writes_it_with_out() {
    let dir = repo().join("tests/fixtures/xsd/sepa");
    let out = run(&dir, &["import", "xsd", "pain.001.001.03.xsd"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stderr), "");
    let golden = std::fs::read_to_string(dir.join("pain.001.001.03.schema.json")).unwrap();
    assert_eq!(text(&out.stdout), golden);

    let tmp = tempfile::tempdir().unwrap();
    let target = tmp.path().join("pain.schema.json");
    let out = run(
        &dir,
        &[
            "import",
            "xsd",
            "pain.001.001.03.xsd",
            "--element",
            "Document",
            "--out",
            target.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), golden);
}

#[test]
fn import_xsd_prints_warnings_with_positions_and_fails_on_a_wrong_element() {
    let dir = repo().join("tests/fixtures/xsd/local");
    let out = run(
        &dir,
        &["import", "xsd", "constructs.xsd", "--element", "Root"],
    );
    assert!(out.status.success());
    let expected = std::fs::read_to_string(dir.join("constructs.warnings.txt")).unwrap();
    assert_eq!(text(&out.stderr), expected);

    let out = run(&dir, &["import", "xsd", "constructs.xsd"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: constructs.xsd declares 3 global elements; choose one with --element: {urn:c}Root, {urn:c}Head, {urn:c}Member\n"
    );
    let out = run(&dir, &["import", "xsd", "nowhere.xsd"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: cannot read nowhere.xsd: No such file or directory (os error 2)\n"
    );
}

#[test]
fn export_xsd_writes_the_shipped_xml_route_and_it_validates_its_fixture() {
    let out = run(
        &repo(),
        &["export", "xsd", "acme/orders", "--config", "gateway.toml"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let xsd = text(&out.stdout);
    assert!(
        xsd.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<xs:schema "),
        "{xsd}"
    );
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("order.xsd");
    std::fs::write(&file, &xsd).unwrap();
    let instance = repo().join("tests/fixtures/acme/orders/valid/input.xml");
    let lint = Command::new("xmllint")
        .args(["--nonet", "--noout", "--schema"])
        .arg(&file)
        .arg(&instance)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    assert!(lint.status.success(), "{}\n{xsd}", text(&lint.stderr));

    let out = run(
        &repo(),
        &["export", "xsd", "globex/orders", "--config", "gateway.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: route `globex/orders` is not an XML route\n"
    );
}
