//! The files under deploy/ checked by the tools that will read them: Prometheus's `promtool`
//! on the alert rules (syntax and their unit tests) and on every query of the Grafana
//! dashboard, whose series must be ones a live gateway serves or ones documented as coming.

mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use common::{Gateway, Upstream, fixture, get, post_xml, repo};

/// Series the dashboard shows before the gateway exports them (rate limiting and partner
/// authentication); docs/operations.md lists them as coming.
const COMING: [&str; 2] = [
    "schemagate_rate_limited_total",
    "schemagate_auth_failures_total",
];

fn promtool(args: &[&str], dir: &Path) -> String {
    let out = Command::new("promtool")
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run promtool ({e}); install Debian's prometheus as .ci/run does")
        });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "promtool {args:?}:\n{text}");
    text
}

#[test]
fn alert_rules_are_valid_and_their_unit_tests_pass() {
    let dir = repo().join("deploy/prometheus");
    let checked = promtool(&["check", "rules", "schemagate.rules.yml"], &dir);
    assert!(checked.contains("SUCCESS: 8 rules found"), "{checked}");
    let tested = promtool(&["test", "rules", "schemagate.rules.test.yml"], &dir);
    assert!(tested.contains("SUCCESS"), "{tested}");
}

/// Every `expr` in the dashboard: panel targets and annotations.
fn queries(dashboard: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().into_iter().flatten() {
            out.push((
                panel["title"].as_str().unwrap().to_string(),
                target["expr"].as_str().expect("expr").to_string(),
            ));
        }
    }
    for a in dashboard["annotations"]["list"]
        .as_array()
        .expect("annotations")
    {
        out.push(("annotation".into(), a["expr"].as_str().unwrap().to_string()));
    }
    out
}

/// The metric names a query reads.
fn series_names(expr: &str) -> BTreeSet<String> {
    let re = regex::Regex::new(r"\b(?:schemagate|process)_[a-z_]+\b").unwrap();
    re.find_iter(expr).map(|m| m.as_str().to_string()).collect()
}

#[tokio::test]
async fn dashboard_queries_parse_and_read_served_series() {
    let text = std::fs::read_to_string(repo().join("deploy/grafana/schemagate.json")).unwrap();
    let dashboard: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(dashboard["uid"], "schemagate");
    let titles: Vec<&str> = dashboard["panels"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["type"] != "row")
        .map(|p| p["title"].as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        [
            "Requests / s",
            "Error ratio (5xx)",
            "p99 latency",
            "Configuration generation",
            "Requests by route",
            "Answers by status class",
            "Errors by kind",
            "Errors by route and status",
            "Request latency percentiles",
            "p99 latency by route",
            "Upstream exchanges by outcome",
            "Upstream health",
            "Upstream latency percentiles",
            "Reloads",
            "Configuration generation and age",
            "Rate-limit refusals",
            "Authentication refusals",
            "CPU",
            "Resident memory",
            "File descriptors",
        ]
    );
    // Panels do not overlap on Grafana's 24-column grid.
    let mut cells = BTreeSet::new();
    for p in dashboard["panels"].as_array().unwrap() {
        let g = &p["gridPos"];
        let (x, y, w, h) = (
            g["x"].as_u64().unwrap(),
            g["y"].as_u64().unwrap(),
            g["w"].as_u64().unwrap(),
            g["h"].as_u64().unwrap(),
        );
        assert!(x + w <= 24, "{}", p["title"]);
        for cx in x..x + w {
            for cy in y..y + h {
                assert!(
                    cells.insert((cx, cy)),
                    "{} overlaps at {cx},{cy}",
                    p["title"]
                );
            }
        }
    }

    // Every query is PromQL that Prometheus parses, once Grafana's variables are filled in:
    // written as recording rules, `promtool check rules` parses each expression.
    let queries = queries(&dashboard);
    let dir = tempfile::tempdir().unwrap();
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (_, expr)) in queries.iter().enumerate() {
        let filled = expr
            .replace("$__rate_interval", "1m")
            .replace("$job", "schemagate")
            .replace("$instance", ".+");
        rules.push_str(&format!(
            "      - record: dashboard:query{i}\n        expr: {}\n",
            serde_json::to_string(&filled).unwrap()
        ));
    }
    std::fs::write(dir.path().join("dashboard.rules.yml"), rules).unwrap();
    let checked = promtool(&["check", "rules", "dashboard.rules.yml"], dir.path());
    assert!(
        checked.contains(&format!("SUCCESS: {} rules found", queries.len())),
        "{checked}"
    );

    // Every series read is one a gateway serves, or one documented as coming.
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    // A refused body, so the validation family has a series (empty families are not listed).
    let refused = post_xml(
        &gw.url("/partners/acme/orders"),
        fixture("acme/orders/invalid/input.xml"),
    )
    .await;
    assert_eq!(refused.status, http::StatusCode::UNPROCESSABLE_ENTITY);
    let page = get(&gw.url("/metrics")).await.text();
    // Sample names, and family names (in text 0.0.4 a counter's family is its `_total` name)
    // for the families with no sample yet.
    let served: BTreeSet<String> = page
        .lines()
        .filter_map(|l| {
            l.strip_prefix("# TYPE ")
                .or((!l.starts_with('#')).then_some(l))
        })
        .filter_map(|l| l.split(['{', ' ']).next())
        .map(str::to_string)
        .collect();
    let mut read = BTreeSet::new();
    for (title, expr) in &queries {
        for name in series_names(expr) {
            assert!(
                served.contains(&name) || COMING.contains(&name.as_str()),
                "panel `{title}` reads `{name}`, which the gateway does not serve"
            );
            read.insert(name);
        }
    }
    for name in COMING {
        assert!(read.contains(name), "no panel reads {name}");
    }
    let ops = std::fs::read_to_string(repo().join("docs/operations.md")).unwrap();
    for name in COMING {
        assert!(
            ops.contains(&format!("`{name}`")),
            "docs/operations.md does not name {name}"
        );
    }
    // The requests, errors, latency, upstream, reload and process series all have a panel.
    for name in [
        "schemagate_requests_total",
        "schemagate_request_duration_seconds_bucket",
        "schemagate_validation_failures_total",
        "schemagate_upstream_requests_total",
        "schemagate_upstream_duration_seconds_bucket",
        "schemagate_reloads_total",
        "schemagate_config_generation",
        "schemagate_last_reload_success_timestamp_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
    ] {
        assert!(read.contains(name), "no panel reads {name}");
    }
}
