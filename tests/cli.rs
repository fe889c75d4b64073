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
        stdout.contains("ok   6 routes compiled and checked against their schemas\n"),
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
        "error: no route `acme/nothing`; routes: acme/orders, bff/dashboard, globex/order-status, globex/orders, initech/reserve-stock, initech/stock-level\n"
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
    assert_eq!(touched, 25);
    let out = run(dir.path(), &["check"], None);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("ok   21 golden fixtures passed, 0 failed\n"),
        "{stdout}"
    );
    assert!(
        stdout.ends_with("check passed: 0 errors, 0 warnings\n"),
        "{stdout}"
    );
}

/// `check` and `serve` both refuse `gateway_toml`: `check` prints exactly `diagnostic` (with
/// its line, column and key) and fails; `serve` prints the same diagnostic and does not start.
fn refused_by_check_and_serve(gateway_toml: &str, diagnostic: &str) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("gateway.toml"), gateway_toml).unwrap();
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stdout),
        format!(
            "{diagnostic}\n\nFAIL configuration did not load\ncheck failed: 1 error, 0 warnings\n"
        )
    );
    let out = run(dir.path(), &["serve", "--listen", "127.0.0.1:0"], None);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(stderr.starts_with(&format!("{diagnostic}\n\n")), "{stderr}");
}

#[test]
fn check_refuses_credentials_in_an_upstream_url_without_printing_them() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"http://u:secret@orders:8080\"\n",
        "gateway.toml:2:7: error: upstream `orders`: `http://…@orders:8080` is not a valid URL: credentials in the URL are not supported (send them as a header)\n  --> at upstreams.orders.url\n  = hint: write it as http://host:port or https://host:port/base-path",
    );
}

#[test]
fn check_refuses_a_query_in_an_upstream_url() {
    refused_by_check_and_serve(
        "# the orders service\n[upstreams.orders]\nconnect_timeout_ms = 100\nurl = \"http://orders/?v=2\"\n",
        "gateway.toml:4:7: error: upstream `orders`: `http://orders/?v=…` must not carry a query or fragment\n  --> at upstreams.orders.url\n  = hint: write it as http://host:port or https://host:port/base-path",
    );
}

#[test]
fn check_refuses_a_port_out_of_range_in_an_upstream_url() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"http://127.0.0.1:84837\"\n",
        "gateway.toml:2:7: error: upstream `orders`: `http://127.0.0.1:84837` is not a valid URL: port `84837` is not a port number (1 to 65535)\n  --> at upstreams.orders.url\n  = hint: write it as http://host:port or https://host:port/base-path",
    );
}

#[test]
fn check_refuses_a_bad_header_name_in_headers_forward() {
    refused_by_check_and_serve(
        "[headers]\nforward = [\"X-Partner-Ref\", \"bad header\"]\n",
        "gateway.toml:2:11: error: headers.forward: `bad header` is not a valid header name\n  --> at headers.forward",
    );
}

#[test]
fn check_refuses_a_bad_correlation_header() {
    refused_by_check_and_serve(
        "[headers]\ncorrelation_header = \"x y\"\n",
        "gateway.toml:2:22: error: headers.correlation_header: `x y` is not a valid header name\n  --> at headers.correlation_header",
    );
}

#[test]
fn check_refuses_an_empty_internal_prefix() {
    refused_by_check_and_serve(
        "[headers]\ninternal_prefixes = [\"x-internal-\", \"\"]\n",
        "gateway.toml:2:21: error: headers.internal_prefixes: an empty prefix would remove every header\n  --> at headers.internal_prefixes",
    );
}

#[test]
fn check_refuses_a_missing_ca_file_of_an_https_upstream() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"https://orders.internal:8443\"\n\n[upstreams.orders.tls]\nca_file = \"certs/none.pem\"\n",
        "gateway.toml:5:11: error: upstream `orders`: tls.ca_file: cannot read `./certs/none.pem`: No such file or directory (os error 2)\n  --> at upstreams.orders.tls.ca_file",
    );
}

#[test]
fn check_refuses_tls_settings_on_an_http_upstream() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"http://orders.internal:8080\"\ntls = { ca_file = \"ca.pem\" }\n",
        "gateway.toml:3:7: error: upstream `orders`: tls settings apply to https:// upstreams only\n  --> at upstreams.orders.tls",
    );
}

#[test]
fn check_refuses_a_client_certificate_without_its_key() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"https://orders.internal:8443\"\ntls.client_cert_file = \"client.pem\"\n",
        "gateway.toml:3:24: error: upstream `orders`: tls.client_cert_file: the certificate needs its private key in client_key_file\n  --> at upstreams.orders.tls.client_cert_file",
    );
}

#[test]
fn check_accepts_an_https_upstream_with_the_built_in_roots() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        "[upstreams.orders]\nurl = \"https://orders.internal:8443/v1\"\n",
    )
    .unwrap();
    // The tree has no route: that it is fine is said with `--allow-empty`.
    let out = run(dir.path(), &["check", "--allow-empty"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).ends_with("check passed: 0 errors, 0 warnings\n"),
        "{}",
        text(&out.stdout)
    );
}

#[test]
fn check_refuses_an_unknown_route_kind_at_its_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gateway.toml"),
        "[upstreams.things]\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
    std::fs::create_dir_all(dir.path().join("mappings/p")).unwrap();
    std::fs::write(
        dir.path().join("mappings/p/things.yaml"),
        "route:\n  kind: teleport\n  method: GET\n  path: /partners/p/things/{id}\n  format: json\nupstream:\n  service: things\n  path: /things/{id}\n",
    )
    .unwrap();
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "./mappings/p/things.yaml:2:3: error: route kind `teleport` is not known\n  --> at route.kind\n  = hint: known kinds: transform, proxy, aggregate\n\nFAIL configuration did not load\ncheck failed: 1 error, 0 warnings\n"
    );
    // Stated as the default, the route loads.
    std::fs::write(
        dir.path().join("mappings/p/things.yaml"),
        "route:\n  kind: transform\n  method: GET\n  path: /partners/p/things/{id}\n  format: json\nupstream:\n  service: things\n  path: /things/{id}\n",
    )
    .unwrap();
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}

#[test]
fn check_refuses_a_discovered_name_without_a_port() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"http://orders.internal:8080\"\ndiscovery = { dns = \"orders.internal\" }\n",
        "gateway.toml:3:21: error: upstream `orders`: discovery.dns: `orders.internal` needs a port number (1 to 65535)\n  --> at upstreams.orders.discovery.dns\n  = hint: write the name with its port, e.g. dns = \"orders.internal:8080\"",
    );
}

#[test]
fn check_refuses_discovery_beside_targets() {
    refused_by_check_and_serve(
        "[upstreams.orders]\nurl = \"http://orders.internal:8080\"\ntargets = [\"10.0.0.1:8080\"]\n\n[upstreams.orders.discovery]\ndns = \"orders.internal:8080\"\n",
        "gateway.toml:5:1: error: upstream `orders`: discovery: cannot be combined with `targets`: the addresses found are the targets\n  --> at upstreams.orders.discovery",
    );
}

/// A checked-in tree whose one golden case is the partner's own sample: another prefix,
/// another attribute order, indented.
fn fixture_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_tree(&repo().join("tests/data/fixture-tree"), dir.path());
    dir
}

#[test]
fn xml_fixtures_are_compared_by_meaning() {
    let dir = fixture_tree();
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert_eq!(
        text(&out.stdout),
        "ok   2 schemas compiled\nok   1 routes compiled and checked against their schemas\nok   1 golden fixtures passed, 0 failed\ncheck passed: 0 errors, 0 warnings\n"
    );
    // A value that differs is a difference, named by its path.
    let case = dir.path().join("fixtures/shop/level/other-quantity");
    std::fs::create_dir_all(&case).unwrap();
    std::fs::write(
        case.join("upstream.json"),
        r#"{"sku": "A-1", "warehouse": "W2", "quantity": 8}"#,
    )
    .unwrap();
    std::fs::copy(
        dir.path()
            .join("fixtures/shop/level/partner-sample/expected-response.xml"),
        case.join("expected-response.xml"),
    )
    .unwrap();
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "./fixtures/shop/level/other-quantity: error: differs from expected-response.xml: at `/Level/Quantity/text()`: expected \"7\", got \"8\"\ngot:\n<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Level xmlns=\"urn:shop:stock:v1\" sku=\"A-1\" warehouse=\"W2\"><Quantity>8</Quantity></Level>\n  --> at shop/level case `other-quantity`\n\nok   2 schemas compiled\nok   1 routes compiled and checked against their schemas\nFAIL 1 golden fixtures passed, 1 failed\ncheck failed: 1 error, 0 warnings\n"
    );
}

#[test]
fn warnings_fail_the_check_when_asked() {
    let dir = fixture_tree();
    // A member of the upstream's answer that no rule reads: a warning.
    let schema = dir.path().join("schemas/internal/level.schema.json");
    let text_of = std::fs::read_to_string(&schema).unwrap();
    std::fs::write(
        &schema,
        text_of.replace(
            "\"quantity\": { \"type\": \"integer\" }",
            "\"quantity\": { \"type\": \"integer\" },\n    \"updated_at\": { \"type\": \"string\" }",
        ),
    )
    .unwrap();
    let warning = "./mappings/shop/level.yaml:15:3: warning: no rule of the response mapping reads source property `/updated_at`\n  --> at internal/level.schema.json#\n  = hint: map them, or list them under `ignore:` if dropping them is intended\n\nok   2 schemas compiled\nok   1 routes compiled and checked against their schemas\nok   1 golden fixtures passed, 0 failed\n";
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out.stdout),
        format!("{warning}check passed: 0 errors, 1 warning\n")
    );
    let out = run(dir.path(), &["check", "--warnings-as-errors"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        format!("{warning}check failed: 0 errors, 1 warning (warnings count as errors)\n")
    );
}

#[test]
fn nothing_to_check_fails_unless_allowed() {
    // No configuration file at all: `check` in the wrong directory.
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["check"], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "./mappings: error[nothing-to-check]: no routes: the mappings directory does not exist\n  = hint: add route files as <partner>/<route>.yaml, check `paths.mappings` in the configuration, or pass `--allow-empty`\n\ngateway.toml: error[nothing-to-check]: no configuration file: there is no `gateway.toml` in the working directory and no `--config` was given\n  = hint: run `check` where the configuration is, or name it with `--config PATH`; `--allow-empty` checks the built-in defaults\n\nok   0 schemas compiled\nok   0 routes compiled and checked against their schemas\nok   0 golden fixtures passed, 0 failed\ncheck failed: 2 errors, 0 warnings\n"
    );
    let out = run(dir.path(), &["check", "--allow-empty"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
    assert!(
        text(&out.stdout).ends_with("check passed: 0 errors, 0 warnings\n"),
        "{}",
        text(&out.stdout)
    );
    // A configuration file with an empty mappings directory: no route.
    std::fs::write(
        dir.path().join("gateway.toml"),
        "[upstreams.orders]\nurl = \"http://127.0.0.1:9\"\n",
    )
    .unwrap();
    for empty in ["mappings", "schemas"] {
        std::fs::create_dir_all(dir.path().join(empty)).unwrap();
    }
    let out = run(dir.path(), &["check", "--format", "json"], None);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        v["diagnostics"],
        serde_json::json!([{
            "severity": "error",
            "code": "nothing-to-check",
            "file": "./mappings",
            "message": "no routes: the mappings directory holds no route file",
            "hint": "add route files as <partner>/<route>.yaml, check `paths.mappings` in the configuration, or pass `--allow-empty`"
        }])
    );
    let out = run(dir.path(), &["check", "--allow-empty"], None);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stdout));
}
