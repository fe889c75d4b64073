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
    assert!(checked.contains("SUCCESS: 11 rules found"), "{checked}");
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
    let page = get(&gw.admin_url("/metrics")).await.text();
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

#[test]
fn systemd_unit_verifies() {
    let unit = std::fs::read_to_string(repo().join("deploy/systemd/schemagate.service")).unwrap();
    for line in [
        "ExecStart=/usr/local/bin/schemagate serve --config /etc/schemagate/gateway.toml",
        "ExecReload=/bin/kill -HUP $MAINPID",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
    ] {
        assert!(unit.lines().any(|l| l == line), "no `{line}` in the unit");
    }
    // Verified with this build's binary where the unit expects the installed one.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("schemagate.service");
    std::fs::write(
        &path,
        unit.replace(
            "/usr/local/bin/schemagate",
            env!("CARGO_BIN_EXE_schemagate"),
        ),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .expect("systemd-analyze (Debian's systemd package) runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success() && text.trim().is_empty(), "{text}");
}

fn manifests(file: &str) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(repo().join("deploy/kubernetes").join(file)).unwrap();
    serde_saphyr::from_multiple(&text).unwrap_or_else(|e| panic!("{file}: {e}"))
}

fn of_kind<'a>(docs: &'a [serde_json::Value], kind: &str, name: &str) -> &'a serde_json::Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind} {name}"))
}

/// The directories of partner files in the repository: ("schemas", "acme"), ...
fn partner_dirs() -> BTreeSet<(String, String)> {
    let mut dirs = BTreeSet::new();
    for kind in ["schemas", "mappings"] {
        for entry in std::fs::read_dir(repo().join(kind)).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                dirs.insert((kind.to_string(), entry.file_name().into_string().unwrap()));
            }
        }
    }
    dirs
}

#[test]
fn kubernetes_manifests_fit_together() {
    let gateway = manifests("deployment.yaml");
    let redis = manifests("redis.yaml");
    let kinds: Vec<String> = gateway
        .iter()
        .chain(&redis)
        .map(|d| {
            format!(
                "{} {}",
                d["kind"].as_str().unwrap(),
                d["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        kinds,
        [
            "Deployment schemagate",
            "Service schemagate",
            "PodDisruptionBudget schemagate",
            "Deployment schemagate-redis",
            "Service schemagate-redis",
        ]
    );
    let deployment = of_kind(&gateway, "Deployment", "schemagate");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2);
    let pod_labels = &spec["template"]["metadata"]["labels"];
    assert_eq!(&spec["selector"]["matchLabels"], pod_labels);
    assert_eq!(
        &of_kind(&gateway, "Service", "schemagate")["spec"]["selector"],
        pod_labels
    );
    let pdb = of_kind(&gateway, "PodDisruptionBudget", "schemagate");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], pod_labels);
    assert_eq!(pdb["spec"]["minAvailable"], 1);

    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    assert_eq!(container["ports"][0]["containerPort"], 8080);
    assert_eq!(
        container["args"],
        serde_json::json!(["serve", "--config", "/etc/schemagate/config/gateway.toml"])
    );
    assert_eq!(container["securityContext"]["readOnlyRootFilesystem"], true);
    // Draining (30 s by default) ends before the kubelet's SIGKILL.
    assert!(
        spec["template"]["spec"]["terminationGracePeriodSeconds"]
            .as_u64()
            .unwrap()
            > 30
    );

    // The shared Redis is the one REDIS_URL names.
    let env: Vec<(&str, &str)> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert!(
        env.contains(&("REDIS_URL", "redis://schemagate-redis:6379/0")),
        "{env:?}"
    );
    let redis_service = of_kind(&redis, "Service", "schemagate-redis");
    assert_eq!(redis_service["spec"]["ports"][0]["port"], 6379);
    assert_eq!(
        &redis_service["spec"]["selector"],
        &of_kind(&redis, "Deployment", "schemagate-redis")["spec"]["template"]["metadata"]["labels"]
    );

    // One ConfigMap volume per partner directory of the repository, mounted where the
    // cluster's gateway.toml looks, plus the configuration itself.
    let volumes: BTreeSet<(String, String)> = spec["template"]["spec"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap().to_string(),
                v["configMap"]["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mounts: BTreeSet<(String, String)> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            assert_eq!(m["readOnly"], true);
            (
                m["name"].as_str().unwrap().to_string(),
                m["mountPath"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut want_volumes =
        BTreeSet::from([("config".to_string(), "schemagate-config".to_string())]);
    let mut want_mounts =
        BTreeSet::from([("config".to_string(), "/etc/schemagate/config".to_string())]);
    for (kind, dir) in partner_dirs() {
        want_volumes.insert((format!("{kind}-{dir}"), format!("schemagate-{kind}-{dir}")));
        want_mounts.insert((
            format!("{kind}-{dir}"),
            format!("/etc/schemagate/{kind}/{dir}"),
        ));
    }
    assert_eq!(volumes, want_volumes);
    assert_eq!(mounts, want_mounts);

    let config: toml::Value = toml::from_str(
        &std::fs::read_to_string(repo().join("deploy/kubernetes/gateway.toml")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        config["paths"]["schemas"].as_str(),
        Some("/etc/schemagate/schemas")
    );
    assert_eq!(
        config["paths"]["mappings"].as_str(),
        Some("/etc/schemagate/mappings")
    );
    assert_eq!(config["server"]["listen"].as_str(), Some("0.0.0.0:8080"));
}

/// Copies a directory tree.
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

/// A free loopback port (bound and released; the gateway binds it again at once).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The image's filesystem as deploy/container/rootfs.sh makes it (the binary, the libraries
/// `ldd` names, a non-root user), entered with chroot as that user: `check` passes, `serve`
/// answers a partner request through a real upstream, and `health` inside the root reports
/// the gateway healthy. Needs root for chroot (CI runs as root).
#[tokio::test(flavor = "multi_thread")]
async fn container_root_filesystem_runs_the_gateway() {
    let up = Upstream::acme().await;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rootfs");
    let made = Command::new(repo().join("deploy/container/rootfs.sh"))
        .arg(env!("CARGO_BIN_EXE_schemagate"))
        .arg(&root)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    // Nothing in the root but the binary, its libraries and the small files of /etc.
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path().strip_prefix(&root).unwrap().display().to_string());
            }
        }
    }
    files.sort_unstable();
    let libraries: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with("lib") || f.starts_with("usr/lib"))
        .collect();
    assert!(libraries.iter().any(|f| f.contains("libc.so")), "{files:?}");
    assert_eq!(
        files.len(),
        5 + libraries.len(),
        "unexpected files: {files:?}"
    );

    let etc = root.join("etc/schemagate");
    copy_tree(&repo().join("schemas"), &etc.join("schemas"));
    copy_tree(&repo().join("mappings"), &etc.join("mappings"));
    copy_tree(&repo().join("tests/fixtures"), &etc.join("fixtures"));
    let port = free_port();
    let admin_port = free_port();
    std::fs::write(
        etc.join("gateway.toml"),
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[paths]\nschemas = \"schemas\"\nmappings = \"mappings\"\nfixtures = \"fixtures\"\n[upstreams.orders]\nurl = \"{}\"\n[admin]\nwatch = false\nlisten = \"127.0.0.1:{admin_port}\"\n",
            up.url()
        ),
    )
    .unwrap();
    let chroot = |args: &[&str]| {
        let mut c = Command::new("chroot");
        c.arg("--userspec=65532:65532")
            .arg(&root)
            .arg("/usr/local/bin/schemagate")
            .args(args)
            .env_remove("RUST_LOG");
        c
    };
    let check = chroot(&["check", "--config", "/etc/schemagate/gateway.toml"])
        .output()
        .expect("chroot runs (as root)");
    assert!(
        check.status.success(),
        "{}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    let mut server = chroot(&["serve", "--config", "/etc/schemagate/gateway.toml"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let health_url = format!("http://127.0.0.1:{admin_port}/healthz");
    let mut healthy = None;
    for _ in 0..100 {
        let probe = chroot(&["health", &health_url]).output().unwrap();
        if probe.status.success() {
            healthy = Some(String::from_utf8_lossy(&probe.stdout).into_owned());
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let base = format!("http://127.0.0.1:{port}");
    let answer = post_xml(
        &format!("{base}/partners/acme/orders"),
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    let health = get(&format!("http://127.0.0.1:{admin_port}/healthz")).await;
    server.kill().unwrap();
    server.wait().unwrap();
    assert_eq!(
        healthy.as_deref(),
        Some(format!("{health_url}: 200\n").as_str())
    );
    assert_eq!(health.status, http::StatusCode::OK);
    assert_eq!(health.text(), r#"{"status":"ok"}"#);
    assert_eq!(answer.status, http::StatusCode::OK, "{}", answer.text());
    let expected = fixture("acme/orders/valid/expected-response.xml");
    assert_eq!(answer.text(), String::from_utf8_lossy(&expected).trim_end());
    assert_eq!(up.requests().len(), 1);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&up.requests()[0].body).unwrap(),
        serde_json::from_slice::<serde_json::Value>(&fixture("acme/orders/valid/expected.json"))
            .unwrap()
    );
}
