//! `import xsd` and `export xsd` on published standards: the imported JSON Schema and the
//! JSON view of a real instance decoded with it are compared with golden files; the
//! exported XSD must validate the same instance with libxml2's `xmllint --schema`.
//! Set `SCHEMAGATE_BLESS=1` to rewrite the golden files after a deliberate change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use schemagate::codec::{Limits, xml};
use schemagate::schema::Schema;
use schemagate::xsd;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/xsd")
}

/// Compares `actual` with the golden file `name` (rewriting it when blessing).
fn golden(name: &Path, actual: &str) {
    if std::env::var_os("SCHEMAGATE_BLESS").is_some() {
        std::fs::write(name, actual).unwrap();
    }
    let expected = std::fs::read_to_string(name)
        .unwrap_or_else(|e| panic!("{}: {e} (run with SCHEMAGATE_BLESS=1)", name.display()));
    assert!(
        expected == actual,
        "{} differs:\n{}",
        name.display(),
        similar::TextDiff::from_lines(expected.as_str(), actual).unified_diff()
    );
}

fn xmllint(schema: &Path, instance: &Path) -> (bool, String) {
    let out = Command::new("xmllint")
        .arg("--nonet")
        .arg("--noout")
        .arg("--schema")
        .arg(schema)
        .arg(instance)
        .output()
        .expect("xmllint (Debian package libxml2-utils) must be installed");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Import, compare, decode the example through the gateway's decoder, validate, compare
/// the view, export, validate the example against the export with xmllint. Golden files
/// are `STEM.schema.json`, `STEM.warnings.txt` and `STEM.view.json` beside the XSD.
fn round_trip(dir: &str, xsd_file: &str, element: Option<&str>, example: &str) {
    let base = fixtures().join(dir);
    let stem = xsd_file.trim_end_matches(".xsd");
    let imported = xsd::import(&base.join(xsd_file), element).unwrap();
    let warnings: String = imported
        .warnings
        .iter()
        .map(|w| w.to_string().replace(&format!("{}/", base.display()), "") + "\n")
        .collect();
    golden(&base.join(format!("{stem}.warnings.txt")), &warnings);
    let text = serde_json::to_string_pretty(&imported.schema).unwrap() + "\n";
    let schema_file = base.join(format!("{stem}.schema.json"));
    golden(&schema_file, &text);

    let schema = Schema::compile(
        "imported.schema.json",
        &schema_file,
        imported.schema.clone(),
        &BTreeMap::new(),
    )
    .unwrap();
    let bytes = std::fs::read(base.join(example)).unwrap();
    let view = xml::decode(&bytes, &schema.shape, None, &Limits::default()).unwrap();
    assert_eq!(schema.validate(&view), Ok(()));
    golden(
        &base.join(format!("{stem}.view.json")),
        &(serde_json::to_string_pretty(&view).unwrap() + "\n"),
    );

    let exported = xsd::export(&imported.schema, None).unwrap();
    let out = tempfile::tempdir().unwrap();
    for f in &exported.files {
        std::fs::write(out.path().join(&f.file_name), &f.text).unwrap();
    }
    let main = out.path().join(&exported.files[0].file_name);
    let (ok, log) = xmllint(&main, &base.join(example));
    assert!(
        ok,
        "xmllint refused the example against the exported XSD:\n{log}\n{}",
        exported.files[0].text
    );
}

#[test]
fn sepa_pain_001_imports_decodes_and_round_trips() {
    round_trip(
        "sepa",
        "pain.001.001.03.xsd",
        None,
        "pain.001.001.03.example.xml",
    );
}

#[test]
fn factur_x_extended_imports_decodes_and_round_trips() {
    round_trip(
        "factur-x",
        "Factur-X_EXTENDED.xsd",
        None,
        "Factur-X_EXTENDED.example.xml",
    );
}

#[test]
fn cii_d22b_set_of_65_files_imports_decodes_and_round_trips() {
    round_trip(
        "cii-d22b",
        "CrossIndustryInvoice_100pD22B.xsd",
        None,
        "CrossIndustryInvoice_100pD22B.example.xml",
    );
}

#[test]
fn every_construct_imports_decodes_and_round_trips() {
    round_trip(
        "local",
        "constructs.xsd",
        Some("Root"),
        "constructs.example.xml",
    );
}

#[test]
fn exported_xsd_refuses_what_the_schema_refuses() {
    let base = fixtures().join("sepa");
    let imported = xsd::import(&base.join("pain.001.001.03.xsd"), None).unwrap();
    let exported = xsd::export(&imported.schema, None).unwrap();
    let out = tempfile::tempdir().unwrap();
    let main = out.path().join(&exported.files[0].file_name);
    std::fs::write(&main, &exported.files[0].text).unwrap();
    let bad = std::fs::read_to_string(base.join("pain.001.001.03.example.xml"))
        .unwrap()
        .replace("<PmtMtd>TRF</PmtMtd>", "<PmtMtd>XXX</PmtMtd>");
    let instance = out.path().join("bad.xml");
    std::fs::write(&instance, bad).unwrap();
    let (ok, log) = xmllint(&main, &instance);
    assert!(!ok);
    assert!(log.contains("PmtMtd"), "{log}");
}

/// Writes `files` into a new directory and imports the first.
fn import_files(files: &[(&str, &str)]) -> Result<xsd::Imported, xsd::XsdError> {
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    xsd::import(&dir.path().join(files[0].0), None).map_err(|e| {
        // Messages name the file: make them independent of the temporary directory.
        let text = e
            .to_string()
            .replace(&format!("{}/", dir.path().display()), "");
        xsd::XsdError::Export {
            pointer: String::new(),
            message: text,
        }
    })
}

const HEAD: &str = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" xmlns="urn:t" targetNamespace="urn:t" elementFormDefault="qualified">"#;

fn message(r: Result<xsd::Imported, xsd::XsdError>) -> String {
    match r {
        Err(xsd::XsdError::Export { message, .. }) => message,
        Err(e) => panic!("unexpected error {e}"),
        Ok(i) => panic!("imported: {}", i.schema),
    }
}

#[test]
fn hostile_and_broken_schema_sets_are_typed_errors() {
    // Files that import each other are each read once.
    let a = format!(
        r#"{HEAD}<xs:import namespace="urn:b" schemaLocation="b.xsd"/><xs:element name="A" type="xs:int"/></xs:schema>"#
    );
    let b = r#"<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" targetNamespace="urn:b"><xs:import namespace="urn:t" schemaLocation="a.xsd"/></xs:schema>"#;
    let imported = import_files(&[("a.xsd", &a), ("b.xsd", b)]).unwrap();
    assert_eq!(imported.files, 2);
    assert_eq!(
        imported.schema["properties"]["A"],
        serde_json::json!({"type": "integer", "minimum": -2147483648i64, "maximum": 2147483647, "xml": {"namespace": "urn:t"}})
    );
    // A type restricting itself.
    let looped = format!(
        r#"{HEAD}<xs:element name="A" type="L"/><xs:simpleType name="L"><xs:restriction base="L"/></xs:simpleType></xs:schema>"#
    );
    assert_eq!(
        message(import_files(&[("a.xsd", &looped)])),
        "a.xsd:1:180: the derivation of {urn:t}L does not end"
    );
    // Types extending each other.
    let cycle = format!(
        r#"{HEAD}<xs:element name="A" type="X"/><xs:complexType name="X"><xs:complexContent><xs:extension base="Y"/></xs:complexContent></xs:complexType><xs:complexType name="Y"><xs:complexContent><xs:extension base="X"/></xs:complexContent></xs:complexType></xs:schema>"#
    );
    assert!(
        message(import_files(&[("a.xsd", &cycle)]))
            .ends_with("the derivation of this type does not end")
    );
    // A DTD is refused, never expanded.
    let dtd = format!(r#"<!DOCTYPE xs:schema [<!ENTITY e "boom">]>{HEAD}</xs:schema>"#);
    assert_eq!(
        message(import_files(&[("a.xsd", &dtd)])),
        "a.xsd:1:1: malformed XML: a DTD is refused in a schema file"
    );
    // Not well-formed.
    let broken = format!(r#"{HEAD}<xs:element name="A">"#);
    assert!(message(import_files(&[("a.xsd", &broken)])).starts_with("a.xsd:1:"));
    // Not a schema.
    assert_eq!(
        message(import_files(&[("a.xsd", "<html/>")])),
        "a.xsd: not an XML Schema (the root element is html, not xs:schema)"
    );
    // An include that is not there.
    let missing = format!(r#"{HEAD}<xs:include schemaLocation="gone.xsd"/></xs:schema>"#);
    assert_eq!(
        message(import_files(&[("a.xsd", &missing)])),
        "a.xsd:1:125: schemaLocation gone.xsd cannot be read: No such file or directory (os error 2)"
    );
    // An undeclared prefix.
    let prefix = format!(r#"{HEAD}<xs:element name="A" type="q:T"/></xs:schema>"#);
    assert_eq!(
        message(import_files(&[("a.xsd", &prefix)])),
        "a.xsd:1:125: malformed XML: the prefix `q` of `q:T` is not declared"
    );
    // Nesting past the limit.
    let deep = format!(
        "{HEAD}{}{}</xs:schema>",
        "<xs:annotation>".repeat(0) + &"<xs:group name=\"g\"><xs:sequence>".repeat(70),
        "</xs:sequence></xs:group>".repeat(70)
    );
    assert_eq!(
        message(import_files(&[("a.xsd", &deep)])),
        "the schema set is larger than the limit of 128 levels of nesting"
    );
    // No global element.
    let none = format!("{HEAD}</xs:schema>");
    assert_eq!(
        message(import_files(&[("a.xsd", &none)])),
        "a.xsd declares 0 global elements; choose one with --element: "
    );
}

#[test]
fn an_unknown_element_and_a_missing_type_are_typed_errors() {
    let e = xsd::import(&fixtures().join("sepa/pain.001.001.03.xsd"), Some("Nope")).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no global element `Nope`; global elements: {urn:iso:std:iso:20022:tech:xsd:pain.001.001.03}Document"
    );
    let e = xsd::import(&fixtures().join("local/missing-type.xsd"), None).unwrap_err();
    assert!(matches!(e, xsd::XsdError::Unresolved { .. }), "{e}");
}

#[test]
fn wsdl_embeds_the_exported_xsd_and_binds_both_soap_versions() {
    use xsd::export::{Locations, export_with};
    use xsd::wsdl::{ServiceDescription, SoapOperation, SoapVersion, wsdl};
    let base = fixtures().join("sepa");
    let imported = xsd::import(&base.join("pain.001.001.03.xsd"), None).unwrap();
    let exported = export_with(&imported.schema, None, Locations::Embedded).unwrap();
    let desc = ServiceDescription {
        name: "Payments".into(),
        target_namespace: "urn:example:payments:wsdl".into(),
        address: "https://gateway.example/soap/payments?a=1&b=2".into(),
        versions: vec![SoapVersion::V12, SoapVersion::V11],
        operations: vec![SoapOperation {
            name: "InitiateTransfer".into(),
            action: "urn:example:payments:initiate".into(),
            input: exported.root.clone(),
            output: Some(exported.root.clone()),
        }],
        schemas: exported.files.clone(),
    };
    let text = wsdl(&desc).unwrap();
    golden(&base.join("payments.wsdl"), &text);

    let out = tempfile::tempdir().unwrap();
    let file = out.path().join("payments.wsdl");
    std::fs::write(&file, &text).unwrap();
    let lint = |args: &[&str]| {
        let o = Command::new("xmllint")
            .args(args)
            .arg(&file)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    lint(&["--noout"]);
    assert_eq!(
        lint(&[
            "--xpath",
            "count(//*[local-name()='operation'][@soapAction='urn:example:payments:initiate'])"
        ])
        .trim(),
        "2"
    );
    assert_eq!(
        lint(&[
            "--xpath",
            "count(//*[local-name()='address'][@location='https://gateway.example/soap/payments?a=1&b=2'])"
        ])
        .trim(),
        "2"
    );
    // The embedded schema, taken out of the WSDL, validates the example body element.
    let embedded = lint(&["--xpath", "//*[local-name()='schema']"]);
    let schema = out.path().join("embedded.xsd");
    std::fs::write(&schema, embedded).unwrap();
    let (ok, log) = xmllint(&schema, &base.join("pain.001.001.03.example.xml"));
    assert!(ok, "{log}");

    let mut none = desc.clone();
    none.operations.clear();
    assert_eq!(
        wsdl(&none).unwrap_err().to_string(),
        "#: a WSDL needs at least one operation"
    );
    let mut twice = desc;
    twice.operations.push(twice.operations[0].clone());
    assert_eq!(
        wsdl(&twice).unwrap_err().to_string(),
        "#: operation name \"InitiateTransfer\" is not an XML name or is used twice"
    );
}
