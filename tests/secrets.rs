//! Secrets in the configuration never reach a diagnostic: what `check` prints, what `serve`
//! logs, and what `/admin/status` shows of a refused reload all come from the same
//! diagnostics of the one load step.

use schemagate::config::{LoadOptions, load_with_env};
use schemagate::diagnostic::Diagnostic;

fn load(toml: &str, env: &[(&str, &str)]) -> Vec<Diagnostic> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.toml");
    std::fs::write(&path, toml).unwrap();
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let lookup = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let opts = LoadOptions {
        config_path: Some(path),
        ..LoadOptions::default()
    };
    match load_with_env(&opts, &lookup) {
        Ok(gw) => gw.warnings,
        Err(diags) => diags,
    }
}

fn messages(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("{} | {}", d.message, d.location.clone().unwrap_or_default()))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_url_from_the_environment_is_shown_as_its_variable() {
    let diags = load(
        "[upstreams.orders]\nurl = \"${ORDERS_URL}\"\n",
        &[(
            "ORDERS_URL",
            "http://svc:s3cr3t@127.0.0.1:84837/v1?token=t0ps3cr3t",
        )],
    );
    let text = messages(&diags);
    assert!(!text.contains("s3cr3t"), "{text}");
    assert!(!text.contains("t0ps3cr3t"), "{text}");
    assert!(text.contains("${ORDERS_URL}"), "{text}");
}

#[test]
fn user_information_and_query_values_written_in_the_file_are_hidden() {
    let diags = load(
        "[upstreams.orders]\nurl = \"http://svc:hunter22@127.0.0.1:8080/v1?api_key=k3y\"\n",
        &[],
    );
    let text = messages(&diags);
    assert!(!text.contains("hunter22"), "{text}");
    assert!(!text.contains("k3y"), "{text}");
    assert!(
        text.contains("http://…@127.0.0.1:8080/v1?api_key=…"),
        "{text}"
    );
}
