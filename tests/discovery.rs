//! DNS discovery of an upstream's targets, whole gateway: two real upstreams on loopback,
//! and a name whose addresses come from a hosts file the test rewrites (the gateway's
//! resolver reads it instead of asking DNS). The targets follow the file, requests spread
//! over them, a failed or empty answer keeps the last set, and a reload that changes or
//! drops the upstream ends its refresh task.

mod common;

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use common::*;
use futures_util::future::BoxFuture;
use http::StatusCode;
use schemagate::problem::{Problem, ProblemKind};
use schemagate::proxy::HttpClient;
use schemagate::proxy::discovery::Resolver;

const ACME: &str = "/partners/acme/orders";

/// Reads `NAME ADDRESS` lines; `ADDRESS` is an IP (the port asked for) or `IP:PORT`, so
/// each loopback upstream keeps its own ephemeral port. A missing file is a failed
/// resolution, a file without the name an empty answer.
#[derive(Debug)]
struct HostsFile(PathBuf);

impl Resolver for HostsFile {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let read = std::fs::read_to_string(&self.0).map(|text| {
            text.lines()
                .filter_map(|l| l.split_once(' '))
                .filter(|(name, _)| *name == host)
                .filter_map(|(_, a)| {
                    a.parse::<SocketAddr>()
                        .ok()
                        .or_else(|| Some(SocketAddr::new(a.parse().ok()?, port)))
                })
                .collect()
        });
        Box::pin(async move { read })
    }
}

/// Replaces the hosts file at once, as a resolver's answer changes.
fn publish(hosts: &std::path::Path, text: impl AsRef<[u8]>) {
    let next = hosts.with_extension("next");
    std::fs::write(&next, text).unwrap();
    std::fs::rename(&next, hosts).unwrap();
}

fn discovery(refresh_ms: u64) -> String {
    format!("[upstreams.orders.discovery]\ndns = \"orders.test:8080\"\nrefresh_ms = {refresh_ms}\n")
}

/// The `orders` upstream as `/admin/status` shows it.
async fn orders_status(gw: &Gateway) -> serde_json::Value {
    let status = get(&gw.admin_url("/admin/status")).await.json();
    status["upstreams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "orders")
        .cloned()
        .unwrap()
}

async fn targets(gw: &Gateway) -> Vec<String> {
    orders_status(gw).await["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["address"].as_str().unwrap().to_string())
        .collect()
}

async fn until_targets(gw: &Gateway, want: &[&str]) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let now = targets(gw).await;
        if now == want {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "targets {now:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn failures(gw: &Gateway) -> u64 {
    let text = get(&gw.admin_url("/metrics")).await.text();
    text.lines()
        .find_map(|l| {
            l.strip_prefix(r#"schemagate_upstream_dns_refresh_failures_total{upstream="orders"} "#)
        })
        .map_or(0, |v| v.parse().unwrap())
}

/// Waits until at least `n` more refreshes have failed than `from`.
async fn until_failures(gw: &Gateway, from: u64, n: u64) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while failures(gw).await < from + n {
        assert!(tokio::time::Instant::now() < deadline, "no failed refresh");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn until(what: &str, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Sends `n` orders, each answered 200 with the acme answer.
async fn orders(gw: &Gateway, n: usize) {
    for _ in 0..n {
        let reply = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
        assert_eq!(
            reply.text().trim_end(),
            String::from_utf8(fixture("acme/orders/valid/expected-response.xml"))
                .unwrap()
                .trim_end()
        );
    }
}

#[tokio::test]
async fn targets_follow_the_name_and_its_task_ends_with_the_upstream() {
    let a = Upstream::acme().await;
    let b = Upstream::acme().await;
    let (a_addr, b_addr) = (a.addr.to_string(), b.addr.to_string());
    let hosts_dir = tempfile::tempdir().unwrap();
    let hosts = hosts_dir.path().join("hosts");
    let resolver = Arc::new(HostsFile(hosts.clone()));
    let client = HttpClient::new().resolving_with(resolver.clone());
    let gw =
        Gateway::start_with_client("http://orders.test:8080", &discovery(20), None, client).await;

    // No answer yet: 503 naming the upstream, never a guess.
    until_failures(&gw, 0, 1).await;
    assert_eq!(
        orders_status(&gw).await,
        serde_json::json!({"name": "orders", "discovery": "orders.test:8080", "targets": []})
    );
    let reply = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    let want = Problem::new(
        ProblemKind::Unavailable,
        "No address of the service `orders` is known yet; try again shortly.",
    )
    .to_xml(reply.header("x-correlation-id"));
    assert_eq!(reply.text(), String::from_utf8(want).unwrap());
    assert!(a.requests().is_empty() && b.requests().is_empty());

    // One address, then both: round-robin over them, exactly.
    publish(&hosts, format!("orders.test {a_addr}\n"));
    until_targets(&gw, &[a_addr.as_str()]).await;
    orders(&gw, 3).await;
    assert_eq!((a.requests().len(), b.requests().len()), (3, 0));
    let mut both = [a_addr.clone(), b_addr.clone()];
    both.sort_by_key(|s| s.parse::<SocketAddr>().unwrap());
    publish(
        &hosts,
        format!(
            "orders.test {b_addr}\nother.test 10.0.0.1\norders.test {a_addr}\norders.test {b_addr}\n"
        ),
    );
    until_targets(&gw, &[both[0].as_str(), both[1].as_str()]).await;
    orders(&gw, 4).await;
    assert_eq!((a.requests().len(), b.requests().len()), (5, 2));
    let status = orders_status(&gw).await;
    let a_status = status["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["address"] == a_addr.as_str())
        .unwrap()
        .clone();
    // The address found again kept its count across the refresh.
    assert_eq!(
        a_status,
        serde_json::json!({"address": a_addr, "ejected": false, "in_flight": 0, "requests": 5})
    );

    // The first address vanishes: everything goes to the second.
    publish(&hosts, format!("orders.test {b_addr}\n"));
    until_targets(&gw, &[b_addr.as_str()]).await;
    orders(&gw, 4).await;
    assert_eq!((a.requests().len(), b.requests().len()), (5, 6));

    // A failed resolution, then an empty answer, keep the last set.
    std::fs::remove_file(&hosts).unwrap();
    until_failures(&gw, failures(&gw).await, 2).await;
    assert_eq!(targets(&gw).await, [b_addr.as_str()]);
    orders(&gw, 2).await;
    publish(&hosts, "other.test 10.0.0.1\n");
    until_failures(&gw, failures(&gw).await, 2).await;
    assert_eq!(targets(&gw).await, [b_addr.as_str()]);
    orders(&gw, 2).await;
    assert_eq!((a.requests().len(), b.requests().len()), (5, 10));

    // The test, the client and the one refresh task hold the resolver.
    assert_eq!(Arc::strong_count(&resolver), 3);
    let reload = |extra: String, url: &str| {
        let gw_dir = gw.dir.path().to_path_buf();
        let url = url.to_string();
        let state = Arc::clone(&gw.state);
        async move {
            write_config(
                &gw_dir,
                &repo().join("schemas"),
                &repo().join("mappings"),
                &url,
                &extra,
            );
            assert!(
                tokio::task::spawn_blocking(move || state.reload())
                    .await
                    .unwrap()
            );
        }
    };

    // Changed settings, same name: a new task replaces the old one, and the addresses
    // already found serve at once.
    reload(discovery(30), "http://orders.test:8080").await;
    orders(&gw, 2).await;
    assert_eq!((a.requests().len(), b.requests().len()), (5, 12));
    until("the old task ended", || Arc::strong_count(&resolver) == 3).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(Arc::strong_count(&resolver), 3);

    // Discovery dropped: the task ends and the URL's own host serves.
    reload(String::new(), &b.url()).await;
    until("the task ended", || Arc::strong_count(&resolver) == 2).await;
    assert_eq!(
        orders_status(&gw).await,
        serde_json::json!({"name": "orders", "discovery": null, "targets": [
            {"address": b_addr, "ejected": false, "in_flight": 0, "requests": 0}
        ]})
    );
    orders(&gw, 1).await;
    assert_eq!((a.requests().len(), b.requests().len()), (5, 13));
}

#[tokio::test]
async fn localhost_resolves_through_the_system_resolver() {
    let up = Upstream::acme().await;
    let port = up.addr.port();
    let extra =
        format!("[upstreams.orders.discovery]\ndns = \"localhost:{port}\"\nrefresh_ms = 50\n");
    let gw = Gateway::start_with(&format!("http://localhost:{port}"), &extra, None).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    let found = loop {
        let now = targets(&gw).await;
        if !now.is_empty() {
            break now;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "localhost never resolved"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    // 127.0.0.1, and ::1 where the machine's hosts file says so.
    let v4 = format!("127.0.0.1:{port}");
    let v6 = format!("[::1]:{port}");
    assert!(
        found == [v4.clone()] || found == [v4.clone(), v6],
        "{found:?}"
    );
    // Only 127.0.0.1 listens: send until the request lands there (with ::1 in the set,
    // round-robin reaches it on the first or the second request).
    let reply = post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await;
    let reply = if reply.status == StatusCode::OK {
        reply
    } else {
        post_xml(&gw.url(ACME), fixture("acme/orders/valid/input.xml")).await
    };
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(up.requests().len(), 1);
}

#[tokio::test]
async fn an_https_upstream_keeps_its_name_for_sni_and_verification() {
    let ca = tls::Ca::new("orders CA");
    let respond: Responder = Arc::new(|r: &Recorded| match r.path.as_str() {
        "/orders" => (
            StatusCode::OK,
            "application/json",
            fixture("acme/orders/valid/upstream.json"),
            Duration::ZERO,
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "application/json",
            b"{}".to_vec(),
            Duration::ZERO,
        ),
    });
    // The certificate names the service, not the address it is found at.
    let up = Upstream::start_tls(respond, &ca.issue(&["orders.test"], false), None).await;
    let port = up.addr.port();
    let files = tempfile::tempdir().unwrap();
    let ca_file = ca.write(files.path(), "ca.pem");
    let hosts = files.path().join("hosts");
    publish(&hosts, format!("orders.test {}\n", up.addr));
    let extra = format!(
        "[upstreams.orders.tls]\nca_file = \"{}\"\n\n[upstreams.orders.discovery]\ndns = \"orders.test:{port}\"\nrefresh_ms = 50\n",
        ca_file.display()
    );
    let client = HttpClient::new().resolving_with(Arc::new(HostsFile(hosts)));
    let gw =
        Gateway::start_with_client(&format!("https://orders.test:{port}"), &extra, None, client)
            .await;
    until_targets(&gw, &[up.addr.to_string().as_str()]).await;
    orders(&gw, 1).await;
    assert_eq!(up.requests().len(), 1);
}
