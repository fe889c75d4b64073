//! The `schemagate` binary as a person uses it: `check`, `transform` and `schema`, with their
//! exact output and exit codes.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn run(dir: &Path, args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(args)
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("schemagate runs");
    if let Some(input) = stdin {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn check_passes_on_the_shipped_tree() {
    let out = run(&repo(), &["check"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(
        stdout.contains("ok   3 routes compiled and checked against their schemas\n"),
        "{stdout}"
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("check passed: 0 errors"),
        "{stdout}"
    );
}

/// A tree with one route file full of mistakes: every diagnostic names the file, the line and
/// column of the rule where there is one, the schema location and a hint.
#[test]
fn check_reports_every_mistake_of_a_broken_tree() {
    let dir = repo().join("tests/data/broken-tree");
    let out = run(&dir, &["check", "--config", "gateway.toml"], None);
    assert_eq!(out.status.code(), Some(1));
    let expected = std::fs::read_to_string(dir.join("expected-check.txt")).unwrap();
    assert_eq!(text(&out.stdout), expected);
}

#[test]
fn check_speaks_json_for_machines() {
    let dir = repo().join("tests/data/broken-tree");
    let out = run(
        &dir,
        &["check", "--config", "gateway.toml", "--format", "json"],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let unknown = v["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["message"].as_str().unwrap().contains("`/Order/@ident`"))
        .expect("the unknown source path is reported");
    assert_eq!(unknown["severity"], "error");
    assert_eq!(unknown["file"], "./mappings/acme/orders.yaml");
    assert_eq!(
        (unknown["line"].as_u64(), unknown["column"].as_u64()),
        (Some(13), Some(5))
    );
    assert_eq!(unknown["location"], "acme/order.schema.json#/$defs/Order");
}

#[test]
fn transform_prints_the_internal_document() {
    let out = run(
        &repo(),
        &[
            "transform",
            "acme/orders",
            "tests/fixtures/acme/orders/valid/input.xml",
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/fixtures/acme/orders/valid/expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(got, expected);
}

#[test]
fn transform_reads_stdin_and_maps_responses_with_the_request() {
    let upstream =
        std::fs::read(repo().join("tests/fixtures/acme/orders/valid/upstream.json")).unwrap();
    let out = run(
        &repo(),
        &[
            "transform",
            "acme/orders",
            "--direction",
            "response",
            "--request",
            "tests/fixtures/acme/orders/valid/input.xml",
        ],
        Some(&upstream),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let expected = std::fs::read_to_string(
        repo().join("tests/fixtures/acme/orders/valid/expected-response.xml"),
    )
    .unwrap();
    assert_eq!(text(&out.stdout).trim_end(), expected.trim_end());
}

#[test]
fn transform_prints_the_errors_of_a_bad_document() {
    let out = run(
        &repo(),
        &[
            "transform",
            "acme/orders",
            "tests/fixtures/acme/orders/invalid/input.xml",
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(out.stdout, b"");
    assert_eq!(
        text(&out.stderr),
        "422 Request does not match the schema: 2 violations against the route's schema\n  /Order/Customer missing required property \"Email\" (line 4, column 3)\n  /Order/Items/Item/1/Qty \"ten\" is not of type \"integer\" (line 22, column 7)\n"
    );
    let out = run(&repo(), &["transform", "acme/nothing", "x.xml"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: no route `acme/nothing`; routes: acme/orders, globex/order-status, globex/orders\n"
    );
}

/// The printed JSON Schemas describe the shipped files: an editor using them accepts what
/// the gateway accepts.
#[test]
fn printed_schemas_validate_the_shipped_files() {
    let out = run(&repo(), &["schema", "mapping"], None);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the mapping schema compiles");
    for route in ["acme/orders", "globex/orders", "globex/order-status"] {
        let yaml = std::fs::read_to_string(repo().join(format!("mappings/{route}.yaml"))).unwrap();
        let doc: serde_json::Value = serde_saphyr::from_str(&yaml).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&doc)
            .map(|e| format!("{} {e}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{route}: {errors:?}");
    }

    let out = run(&repo(), &["schema", "config"], None);
    assert!(out.status.success());
    let schema: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("the config schema compiles");
    let toml_text = std::fs::read_to_string(repo().join("bench/gateway.toml"))
        .unwrap()
        .replace("${WORKERS:-1}", "1");
    let toml_text = schemagate::config::env::substitute(&toml_text, &|_| None).unwrap();
    let doc: serde_json::Value =
        serde_json::to_value(toml::from_str::<toml::Value>(&toml_text).unwrap()).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&doc)
        .map(|e| format!("{} {e}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    let bad = serde_json::json!({"server": {"lisen": "x"}});
    assert!(!validator.is_valid(&bad));
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Schemas the compiled validator does not cover (here: a vendor keyword at every root, which
/// changes nothing about what is valid) send every request down the general path, where
/// jsonschema validates a `Value`: the golden fixtures, valid and invalid, still hold to the
/// byte.
#[test]
fn check_passes_when_no_schema_has_a_compiled_validator() {
    let dir = tempfile::tempdir().unwrap();
    for part in ["schemas", "mappings", "tests/fixtures"] {
        copy_tree(&repo().join(part), &dir.path().join(part));
    }
    std::fs::copy(repo().join("gateway.toml"), dir.path().join("gateway.toml")).unwrap();
    let mut touched = 0;
    for partner in std::fs::read_dir(dir.path().join("schemas")).unwrap() {
        for file in std::fs::read_dir(partner.unwrap().path()).unwrap() {
            let path = file.unwrap().path();
            let mut schema: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            schema["x-general-path"] = serde_json::Value::Bool(true);
            std::fs::write(&path, serde_json::to_vec_pretty(&schema).unwrap()).unwrap();
            touched += 1;
        }
    }
    assert_eq!(touched, 11);
    let out = run(dir.path(), &["check"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("ok   14 golden fixtures passed, 0 failed\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("check passed: 0 errors, 0 warnings\n"),
        "{stdout}"
    );
}
