//! The operator-facing commands: `health` against real servers, `completions`, `man` (and
//! the pages published in docs/man/), and `transform` printing both directions alike.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::{Gateway, Upstream, repo};

fn schemagate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(args)
        .current_dir(repo())
        .env_remove("RUST_LOG")
        .output()
        .expect("schemagate runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// `health` runs as a child process; the servers it probes run on this test's runtime.
async fn health(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let mut all = vec!["health".to_string()];
        all.extend(args);
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        schemagate(&refs)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn health_exits_zero_only_for_a_2xx_answer() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;

    let url = gw.url("/healthz");
    let ok = health(&[&url]).await;
    assert_eq!(ok.status.code(), Some(0), "{}", text(&ok.stderr));
    assert_eq!(text(&ok.stdout), format!("{url}: 200\n"));

    let missing = gw.url("/nowhere");
    let not_found = health(&[&missing]).await;
    assert_eq!(not_found.status.code(), Some(1));
    assert_eq!(
        text(&not_found.stderr),
        format!("unhealthy: {missing}: answered 404\n")
    );

    // A port nobody listens on.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let refused_url = format!("http://127.0.0.1:{closed}/healthz");
    let refused = health(&[&refused_url]).await;
    assert_eq!(refused.status.code(), Some(1));
    assert_eq!(
        text(&refused.stderr),
        format!("unhealthy: {refused_url}: no connection (Connection refused (os error 111))\n")
    );

    // A server that accepts and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/healthz", silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let stalled = health(&[&silent_url, "--timeout-ms", "300"]).await;
    hold.abort();
    assert_eq!(stalled.status.code(), Some(1));
    assert_eq!(
        text(&stalled.stderr),
        format!("unhealthy: {silent_url}: no answer within 300 ms\n")
    );

    for bad in ["ftp://127.0.0.1/", "not a url", "https://127.0.0.1/healthz"] {
        let out = health(&[bad]).await;
        assert_eq!(out.status.code(), Some(1), "{bad}");
        assert!(
            text(&out.stderr).starts_with(&format!("unhealthy: `{bad}` is not an http:// URL")),
            "{}",
            text(&out.stderr)
        );
    }
}

fn pages(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().into_string().unwrap(),
                std::fs::read_to_string(e.path()).unwrap(),
            )
        })
        .collect()
}

/// The page names of every (nested) subcommand, as `schemagate --help` lists them.
fn subcommand_pages() -> Vec<String> {
    fn walk(prefix: &str, args: &[&str], out: &mut Vec<String>) {
        let help = text(&schemagate(&[args, &["--help"]].concat()).stdout);
        let Some(list) = help.split("Commands:\n").nth(1) else {
            return;
        };
        for line in list.lines() {
            let Some(name) = line
                .strip_prefix("  ")
                .and_then(|l| l.split_whitespace().next())
            else {
                break;
            };
            if name == "help" {
                continue;
            }
            let page = format!("{prefix}-{name}");
            out.push(format!("{page}.1"));
            walk(&page, &[args, &[name]].concat(), out);
        }
    }
    let mut out = Vec::new();
    walk("schemagate", &[], &mut out);
    out
}

#[test]
fn published_manual_pages_are_the_generated_ones() {
    let dir = tempfile::tempdir().unwrap();
    let out = schemagate(&["man", "--dir", dir.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let generated = pages(dir.path());
    let published = pages(&repo().join("docs/man"));
    // A page per command and subcommand: every command the binary has, none missing.
    let expected: Vec<String> = std::iter::once("schemagate.1".to_string())
        .chain(subcommand_pages())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    assert_eq!(generated.keys().cloned().collect::<Vec<_>>(), expected);
    for (name, page) in &generated {
        assert!(
            published.get(name) == Some(page),
            "docs/man/{name} is stale: regenerate with `schemagate man --dir docs/man`"
        );
    }
    assert_eq!(published.len(), generated.len());
    // `schemagate man` prints the main page.
    let main = schemagate(&["man"]);
    assert_eq!(text(&main.stdout), generated["schemagate.1"]);

    // Every option and argument is explained: each `.TP` item's description line is text.
    for (name, page) in &generated {
        let lines: Vec<&str> = page.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            if *line == ".TP" {
                let item = lines.get(i + 1).copied().unwrap_or("");
                let help = lines.get(i + 2).copied().unwrap_or("");
                assert!(
                    !help.is_empty() && !help.starts_with('.'),
                    "{name}: `{item}` has no help text"
                );
            }
        }
    }
}

#[test]
fn completions_cover_every_subcommand() {
    let subcommands = [
        "serve",
        "check",
        "transform",
        "health",
        "schema",
        "completions",
        "man",
    ];
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = schemagate(&["completions", shell]);
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        let script = text(&out.stdout);
        for sub in subcommands {
            assert!(script.contains(sub), "{shell} completion lacks {sub}");
        }
    }
    // The bash script is valid bash and completes the subcommands.
    let script = text(&schemagate(&["completions", "bash"]).stdout);
    let probe = format!(
        "{script}\nCOMP_WORDS=(schemagate he); COMP_CWORD=1; _schemagate schemagate he schemagate; printf '%s\\n' \"${{COMPREPLY[@]}}\"\n"
    );
    let out = Command::new("bash").arg("-c").arg(&probe).output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "health\nhelp\n");
    let bad = schemagate(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
}

/// Both directions print the document the gateway would send, JSON indented alike: numbers
/// and key order exactly as written.
#[test]
fn transform_prints_both_directions_alike() {
    let request = schemagate(&[
        "transform",
        "globex/orders",
        "tests/fixtures/globex/orders/valid/input.json",
    ]);
    assert!(request.status.success(), "{}", text(&request.stderr));
    let response = schemagate(&[
        "transform",
        "globex/orders",
        "--direction",
        "response",
        "--request",
        "tests/fixtures/globex/orders/valid/input.json",
        "tests/fixtures/globex/orders/valid/upstream.json",
    ]);
    assert!(response.status.success(), "{}", text(&response.stderr));
    assert_eq!(
        text(&response.stdout),
        "{\n  \"orderRef\": \"GX-5501\",\n  \"accepted\": true,\n  \"totalAmount\": \"334.98\",\n  \"currencyCode\": \"USD\",\n  \"expectedDelivery\": \"2026-12-02\"\n}\n"
    );
    let request_text = text(&request.stdout);
    assert!(
        request_text.starts_with("{\n  \"order_id\": \"GX-5501\",\n"),
        "{request_text}"
    );
    assert!(request_text.ends_with("\n}\n"), "{request_text}");
    let expected: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo().join("tests/fixtures/globex/orders/valid/expected.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&request_text).unwrap(),
        expected
    );
}
