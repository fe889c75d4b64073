//! `/metrics` read by real parsers: Prometheus's own `promtool check metrics` on the text
//! format 0.0.4 and the reference OpenMetrics parser (Python `prometheus_client`) on the
//! OpenMetrics page, after real traffic through a gateway on loopback. `.ci/run` installs
//! both (Debian's `prometheus` and `python3-prometheus-client`).

mod common;

use std::io::Write as _;
use std::process::{Command, Stdio};

use common::{Gateway, Upstream, fixture, get, post_xml, send};
use http::{Method, StatusCode};

const ACME: &str = "/partners/acme/orders";
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

/// Runs `program args` with `input` on stdin; (exit success, stdout + stderr).
fn pipe(program: &str, args: &[&str], input: &str) -> (bool, String) {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {program} ({e}); install it as .ci/run does"));
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

async fn gateway_with_traffic() -> (Upstream, Gateway) {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    let ok = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    assert_eq!(ok.status, StatusCode::OK);
    let bad = post_xml(&gw.url(ACME), fixture("acme/orders/invalid/input.xml")).await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(get(&gw.url("/nowhere")).await.status, StatusCode::NOT_FOUND);
    (up, gw)
}

/// Family names announced by `# TYPE` lines, with their type, sorted.
fn families(page: &str) -> Vec<String> {
    let mut f: Vec<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("# TYPE "))
        .map(str::to_string)
        .collect();
    f.sort_unstable();
    f
}

/// Names announced by `# HELP` lines, sorted.
fn helps(page: &str) -> Vec<String> {
    let mut h: Vec<String> = page
        .lines()
        .filter_map(|l| l.strip_prefix("# HELP "))
        .map(|r| r.split(' ').next().unwrap().to_string())
        .collect();
    h.sort_unstable();
    h
}

#[tokio::test]
async fn text_004_is_clean_for_promtool() {
    let (_up, gw) = gateway_with_traffic().await;
    let reply = get(&gw.admin_url("/metrics")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let page = reply.text();
    let (ok, lint) = pipe("promtool", &["check", "metrics"], &page);
    assert!(
        ok && lint.trim().is_empty(),
        "promtool:\n{lint}\npage:\n{page}"
    );
    assert_eq!(
        families(&page),
        [
            "process_cpu_seconds_total counter",
            "process_max_fds gauge",
            "process_open_fds gauge",
            "process_resident_memory_bytes gauge",
            "process_start_time_seconds gauge",
            "process_virtual_memory_bytes gauge",
            "schemagate_accept_errors_total counter",
            "schemagate_build_info gauge",
            "schemagate_circuit_breaker_state gauge",
            "schemagate_circuit_breaker_transitions_total counter",
            "schemagate_config_generation gauge",
            "schemagate_last_reload_success_timestamp_seconds gauge",
            "schemagate_memory_budget_bytes gauge",
            "schemagate_memory_budget_refusals_total counter",
            "schemagate_memory_in_flight_bytes gauge",
            "schemagate_reloads_total counter",
            "schemagate_request_duration_seconds histogram",
            "schemagate_requests_total counter",
            "schemagate_tls_certificate_reloads_total counter",
            "schemagate_upstream_duration_seconds histogram",
            "schemagate_upstream_requests_total counter",
            "schemagate_upstream_resent_total counter",
            "schemagate_upstream_retries_total counter",
            "schemagate_validation_failures_total counter",
        ]
    );
    // Every family has its help line, under the same name as its type line.
    let typed: Vec<String> = families(&page)
        .iter()
        .map(|f| f.split(' ').next().unwrap().to_string())
        .collect();
    assert_eq!(helps(&page), typed);
    assert!(
        !page.contains("# EOF") && !page.contains("# UNIT"),
        "{page}"
    );
    let lines: Vec<&str> = page.lines().collect();
    let build = format!(
        r#"schemagate_build_info{{version="{}",os="{}",arch="{}"}} 1"#,
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    );
    for expected in [
        build.as_str(),
        "# HELP schemagate_requests_total Requests answered, by route, method and status.",
        r#"schemagate_requests_total{route="acme/orders",method="POST",status="200"} 1"#,
        r#"schemagate_requests_total{route="acme/orders",method="POST",status="422"} 1"#,
        r#"schemagate_requests_total{route="unmatched",method="GET",status="404"} 1"#,
        r#"schemagate_upstream_duration_seconds_count{service="orders"} 1"#,
        r#"schemagate_upstream_duration_seconds_bucket{le="+Inf",service="orders"} 1"#,
        r#"schemagate_upstream_requests_total{service="orders",outcome="ok"} 1"#,
        r#"schemagate_validation_failures_total{route="acme/orders",kind="external"} 1"#,
    ] {
        assert!(lines.contains(&expected), "missing `{expected}` in\n{page}");
    }
    // The process series describe this very process.
    let value = |name: &str| -> f64 {
        page.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{page}"))
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(
        started <= now + 1.0 && started > now - 86_400.0,
        "{started}"
    );
    assert!(value("process_resident_memory_bytes") > 1_048_576.0);
    assert!(value("process_open_fds") >= 3.0);
    assert!(value("process_cpu_seconds_total") > 0.0);
}

const OPENMETRICS_CHECK: &str = r#"
import sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
for f in text_string_to_metric_families(sys.stdin.read()):
    assert f.documentation, "no help on " + f.name
    print(f.name, f.type, len(f.samples))
"#;

#[tokio::test]
async fn openmetrics_for_prometheus_parses_with_the_reference_parser() {
    let (_up, gw) = gateway_with_traffic().await;
    let reply = send(
        Method::GET,
        &gw.admin_url("/metrics"),
        &[("accept", PROMETHEUS_ACCEPT)],
        bytes::Bytes::new(),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(
        reply.header("content-type"),
        "application/openmetrics-text; version=1.0.0; charset=utf-8"
    );
    let page = reply.text();
    assert!(page.ends_with("# EOF\n"), "{page}");
    let (ok, out) = pipe("/usr/bin/python3", &["-c", OPENMETRICS_CHECK], &page);
    assert!(ok, "parser:\n{out}\npage:\n{page}");
    let mut parsed: Vec<&str> = out.lines().collect();
    parsed.sort_unstable();
    // Families with their sample counts: a route's histogram has 16 buckets, +Inf, sum and
    // count; the 0.0.4 and OpenMetrics pages come from one encoder.
    let routes = gw.state.runtime().gateway.routes.len();
    let services = gw.state.runtime().gateway.config.upstreams.len();
    let mut want = vec![
        "process_cpu_seconds counter 1".to_string(),
        "process_max_fds gauge 1".to_string(),
        "process_open_fds gauge 1".to_string(),
        "process_resident_memory_bytes gauge 1".to_string(),
        "process_start_time_seconds gauge 1".to_string(),
        "process_virtual_memory_bytes gauge 1".to_string(),
        "schemagate_build info 1".to_string(),
        // emfile, enfile, other.
        "schemagate_accept_errors counter 3".to_string(),
        "schemagate_memory_budget_bytes gauge 1".to_string(),
        "schemagate_memory_budget_refusals counter 1".to_string(),
        "schemagate_memory_in_flight_bytes gauge 1".to_string(),
        format!("schemagate_circuit_breaker_state gauge {services}"),
        format!("schemagate_circuit_breaker_transitions counter {services}"),
        "schemagate_config_generation gauge 1".to_string(),
        "schemagate_last_reload_success_timestamp_seconds gauge 1".to_string(),
        "schemagate_reloads counter 2".to_string(),
        // One histogram per configured route plus the unmatched GET.
        format!(
            "schemagate_request_duration_seconds histogram {}",
            (routes + 1) * 19
        ),
        "schemagate_requests counter 3".to_string(),
        "schemagate_tls_certificate_reloads counter 2".to_string(),
        format!(
            "schemagate_upstream_duration_seconds histogram {}",
            services * 19
        ),
        format!("schemagate_upstream_requests counter {}", services * 2),
        format!("schemagate_upstream_resent counter {services}"),
        format!("schemagate_upstream_retries counter {services}"),
        "schemagate_validation_failures counter 1".to_string(),
    ];
    want.sort_unstable();
    assert_eq!(parsed, want, "{page}");
}
