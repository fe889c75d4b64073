//! Traffic control through the whole gateway: real gateways on loopback configured by
//! gateway.toml, real upstreams that count their calls and fail on command, and real Redis
//! (`REDIS_URL`, default `redis://127.0.0.1:6390`; these tests fail when it cannot be
//! reached) plus private `redis-server` processes for the outage test.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use bytes::Bytes;
use common::{Gateway, Reply, fixture, send};
use http::{Method, StatusCode};
use schemagate::problem::{Problem, ProblemKind};
use tokio::net::TcpListener;

const ACME: &str = "/partners/acme/orders";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6390".to_owned())
}

fn fresh_prefix(test: &str) -> String {
    format!("sgtest-gw-{test}-{}", uuid::Uuid::new_v4().simple())
}

/// What the counting upstream answers: 0 healthy, otherwise that status.
#[derive(Default)]
struct Mode {
    fail_with: AtomicU64,
    calls: AtomicUsize,
}

#[derive(Clone)]
struct Up(Arc<Mode>);

/// The order-status service: counts every call; `/orders/NS` answers `no-store`,
/// `/orders/SF` takes 300 ms; others may be cached a minute and vary on Accept-Language.
async fn order_status(
    State(Up(mode)): State<Up>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Response {
    mode.calls.fetch_add(1, Ordering::SeqCst);
    let fail = mode.fail_with.load(Ordering::SeqCst);
    if fail != 0 {
        let status = StatusCode::from_u16(u16::try_from(fail).unwrap()).unwrap();
        return (status, [("content-type", "application/json")], "{}").into_response();
    }
    if id == "SF" {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let mut body: serde_json::Value =
        serde_json::from_slice(&fixture("globex/order-status/shipped/upstream.json")).unwrap();
    body["order_id"] = serde_json::Value::String(id.clone());
    let lang = headers
        .get("accept-language")
        .map_or("-", |v| v.to_str().unwrap())
        .to_owned();
    // The answer depends on the language, as its Vary says.
    let currency = match lang.as_str() {
        "fr" => "EUR",
        "de" => "CHF",
        _ => "USD",
    };
    body["currency"] = serde_json::Value::String(currency.to_owned());
    let cc = if id == "NS" { "no-store" } else { "max-age=60" };
    (
        StatusCode::OK,
        [
            ("content-type", "application/json"),
            ("cache-control", cc),
            ("vary", "Accept-Language"),
        ],
        serde_json::to_vec(&body).unwrap(),
    )
        .into_response()
}

async fn acme_orders(State(Up(mode)): State<Up>) -> Response {
    mode.calls.fetch_add(1, Ordering::SeqCst);
    let fail = mode.fail_with.load(Ordering::SeqCst);
    if fail != 0 {
        let status = StatusCode::from_u16(u16::try_from(fail).unwrap()).unwrap();
        return (status, [("content-type", "application/json")], "{}").into_response();
    }
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        fixture("acme/orders/valid/upstream.json"),
    )
        .into_response()
}

async fn upstream() -> (SocketAddr, Arc<Mode>) {
    let mode = Arc::new(Mode::default());
    let router = Router::new()
        .route("/orders/{id}", get(order_status))
        .route("/orders", post(acme_orders))
        .with_state(Up(Arc::clone(&mode)));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(listener, router).await.unwrap();
    });
    (addr, mode)
}

async fn gateway(up: SocketAddr, extra: &str) -> Gateway {
    Gateway::start_with(&format!("http://{up}"), extra, None).await
}

async fn acme_post(gw: &Gateway) -> Reply {
    send(
        Method::POST,
        &gw.url(ACME),
        &[("content-type", "application/xml")],
        fixture("acme/orders/valid/input.xml"),
    )
    .await
}

async fn status_get(gw: &Gateway, id: &str, lang: Option<&str>) -> Reply {
    let url = gw.url(&format!("/partners/globex/orders/{id}"));
    match lang {
        Some(l) => send(Method::GET, &url, &[("accept-language", l)], Bytes::new()).await,
        None => send(Method::GET, &url, &[], Bytes::new()).await,
    }
}

fn headers_of(r: &Reply, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| format!("{n}: {}", r.header(n)))
        .collect()
}

/// The metric lines of the gateway's page starting with `prefix`.
fn metric_lines(gw: &Gateway, prefix: &str) -> Vec<String> {
    gw.state
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_owned)
        .collect()
}

// ---------------------------------------------------------------- rate limits

#[tokio::test]
async fn the_rate_limit_refuses_past_the_burst_in_the_partners_format() {
    let (up, mode) = upstream().await;
    let gw = gateway(
        up,
        "[routes.\"acme/orders\".rate_limit]\nenabled = true\nrate = 2\nburst = 2\nperiod_secs = 60\n",
    )
    .await;
    let first = acme_post(&gw).await;
    let second = acme_post(&gw).await;
    let third = acme_post(&gw).await;
    let names = [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
    ];
    assert_eq!(first.status, StatusCode::OK, "{}", first.text());
    assert_eq!(
        headers_of(&first, &names),
        [
            "ratelimit-limit: 2",
            "ratelimit-remaining: 1",
            "ratelimit-reset: 30",
            "retry-after: "
        ]
    );
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(
        headers_of(&second, &names),
        [
            "ratelimit-limit: 2",
            "ratelimit-remaining: 0",
            "ratelimit-reset: 60",
            "retry-after: "
        ]
    );
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        headers_of(&third, &names),
        [
            "ratelimit-limit: 2",
            "ratelimit-remaining: 0",
            "ratelimit-reset: 60",
            "retry-after: 30"
        ]
    );
    assert_eq!(third.header("content-type"), "application/problem+xml");
    let cid = third.header("x-correlation-id");
    let want = Problem::new(
        ProblemKind::RateLimited,
        "at most 2 requests at once; try again later",
    )
    .to_xml(cid);
    assert_eq!(third.text(), String::from_utf8(want).unwrap());
    // The refused request went nowhere.
    assert_eq!(mode.calls.load(Ordering::SeqCst), 2);
    assert_eq!(
        metric_lines(&gw, "schemagate_rate_limited_total"),
        [r#"schemagate_rate_limited_total{route="acme/orders"} 1"#]
    );
    // Another route is not limited.
    let other = status_get(&gw, "A1", None).await;
    assert_eq!(
        (other.status, other.header("ratelimit-limit")),
        (StatusCode::OK, "")
    );
}

/// Two gateways whose `acme/orders` limit (`limit`: the keys of its table after
/// `enabled`) is kept in Redis under a fresh prefix, refusing when Redis fails; and the prefix.
async fn two_sharing_redis(up: SocketAddr, test: &str, limit: &str) -> (Gateway, Gateway, String) {
    let prefix = fresh_prefix(test);
    let extra = format!(
        "[redis]\nurl = \"{}\"\nprefix = \"{prefix}\"\n\n[rate_limit]\nbackend = \"redis\"\non_store_error = \"closed\"\n\n[routes.\"acme/orders\".rate_limit]\nenabled = true\n{limit}",
        redis_url()
    );
    (gateway(up, &extra).await, gateway(up, &extra).await, prefix)
}

#[tokio::test]
async fn two_gateways_sharing_one_redis_admit_no_more_than_the_limit_together() {
    let (up, mode) = upstream().await;
    let (a, b, _) = two_sharing_redis(
        up,
        "two",
        "key = \"client_address\"\nrate = 5\nburst = 5\nperiod_secs = 3600\n",
    )
    .await;
    let mut statuses = Vec::new();
    for i in 0..12 {
        let r = acme_post(if i % 2 == 0 { &a } else { &b }).await;
        statuses.push(r.status.as_u16());
    }
    // One per 12 minutes refills nothing during the test: exactly 5 pass, whichever
    // instance they reach.
    assert_eq!(
        statuses,
        [200, 200, 200, 200, 200, 429, 429, 429, 429, 429, 429, 429]
    );
    assert_eq!(mode.calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn a_daily_quota_is_shared_through_redis_and_refused_requests_are_not_counted() {
    let (up, mode) = upstream().await;
    // A rate that never binds, so what refuses is the quota of 3 a day.
    let (a, b, prefix) = two_sharing_redis(
        up,
        "quota",
        "key = \"route\"\nrate = 1000\nburst = 1000\nquota = { limit = 3, period = \"day\" }\n",
    )
    .await;
    let mut seen = Vec::new();
    for i in 0..5 {
        let r = acme_post(if i % 2 == 0 { &a } else { &b }).await;
        seen.push(format!(
            "{} limit={} remaining={}",
            r.status.as_u16(),
            r.header("ratelimit-limit"),
            r.header("ratelimit-remaining")
        ));
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            // Until the next UTC midnight: at least a second, at most a day.
            let retry: u64 = r.header("retry-after").parse().unwrap();
            assert!((1..=86_400).contains(&retry), "retry-after {retry}");
            assert_eq!(r.header("content-type"), "application/problem+xml");
        }
    }
    assert_eq!(
        seen,
        [
            "200 limit=3 remaining=2",
            "200 limit=3 remaining=1",
            "200 limit=3 remaining=0",
            "429 limit=3 remaining=0",
            "429 limit=3 remaining=0",
        ]
    );
    assert_eq!(mode.calls.load(Ordering::SeqCst), 3);
    // The day's count lives in Redis under the documented key, refusals not counted.
    let day = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let key = format!("{prefix}:acme/orders:route:quota:{day}");
    let count: Option<i64> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(count, Some(3), "key {key}");
}

/// A redis-server of this test's own, on a free port, so it can be killed.
struct OwnRedis {
    port: u16,
    child: Child,
}

impl OwnRedis {
    fn start(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (install Debian's redis-server)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return OwnRedis { port, child };
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut child = child;
        let _ = child.kill();
        let _ = child.wait();
        panic!("redis-server did not listen on {port}");
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn redis_killed_mid_test_fails_as_configured_and_recovers() {
    let (up, mode) = upstream().await;
    let port = free_port();
    let mut redis = OwnRedis::start(port);
    let extra = |on_error: &str| {
        format!(
            "[redis]\nurl = \"redis://127.0.0.1:{port}\"\nprefix = \"{}\"\n\n[rate_limit]\nbackend = \"redis\"\non_store_error = \"{on_error}\"\nretry_interval_ms = 200\n\n[routes.\"acme/orders\".rate_limit]\nenabled = true\nrate = 100\nburst = 100\n",
            fresh_prefix("outage")
        )
    };
    let closed = gateway(up, &extra("closed")).await;
    let open = gateway(up, &extra("open")).await;
    assert_eq!(acme_post(&closed).await.status, StatusCode::OK);
    assert_eq!(acme_post(&open).await.header("ratelimit-remaining"), "99");

    redis.kill();
    let refused = acme_post(&closed).await;
    assert_eq!(
        (refused.status, refused.header("retry-after")),
        (StatusCode::SERVICE_UNAVAILABLE, "1")
    );
    let want = Problem::new(
        ProblemKind::Unavailable,
        "the request could not be admitted; try again later",
    )
    .to_xml(refused.header("x-correlation-id"));
    assert_eq!(refused.text(), String::from_utf8(want).unwrap());
    let admitted = acme_post(&open).await;
    // Admitted without a decision: no RateLimit-* headers to give.
    assert_eq!(
        (admitted.status, admitted.header("ratelimit-limit")),
        (StatusCode::OK, "")
    );
    assert_eq!(
        metric_lines(&open, "schemagate_rate_limit_store"),
        [
            "schemagate_rate_limit_store_up 0",
            "schemagate_rate_limit_store_errors_total 1",
            r#"schemagate_rate_limit_store_fallbacks_total{mode="open"} 1"#,
            r#"schemagate_rate_limit_store_fallbacks_total{mode="closed"} 0"#,
        ]
    );
    let calls_during_outage = mode.calls.load(Ordering::SeqCst);
    assert_eq!(calls_during_outage, 3);

    // Back on the same port: after the retry interval both decide through Redis again.
    let _redis = OwnRedis::start(redis.port);
    let mut recovered = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = acme_post(&closed).await;
        if r.status == StatusCode::OK {
            recovered = Some(r);
            break;
        }
    }
    let r = recovered.expect("the closed gateway admits again once Redis is back");
    // A fresh Redis: the key starts over.
    assert_eq!(r.header("ratelimit-remaining"), "99");
    let mut back = None;
    for _ in 0..50 {
        let r = acme_post(&open).await;
        if !r.header("ratelimit-limit").is_empty() {
            back = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        back.expect("limits are shared again")
            .header("ratelimit-limit"),
        "100"
    );
    assert_eq!(
        metric_lines(&open, "schemagate_rate_limit_store_up"),
        ["schemagate_rate_limit_store_up 1"]
    );
}

// ---------------------------------------------------------------- breaker and retries

#[tokio::test]
async fn a_failing_upstream_opens_the_breaker_then_a_probe_closes_it() {
    let (up, mode) = upstream().await;
    let gw = gateway(
        up,
        "[circuit_breaker]\nminimum_requests = 4\nfailure_rate_percent = 50\nopen_secs = 1\nhalf_open_probes = 1\n\n[retries]\nmax_attempts = 1\n",
    )
    .await;
    mode.fail_with.store(500, Ordering::SeqCst);
    for _ in 0..4 {
        assert_eq!(
            status_get(&gw, "A1", None).await.status,
            StatusCode::BAD_GATEWAY
        );
    }
    assert_eq!(mode.calls.load(Ordering::SeqCst), 4);
    let open = status_get(&gw, "A1", None).await;
    assert_eq!(open.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(open.header("retry-after"), "1");
    assert_eq!(open.header("content-type"), "application/problem+json");
    let want = Problem::new(
        ProblemKind::CircuitOpen,
        "the upstream service is failing; try again later",
    )
    .to_json(open.header("x-correlation-id"));
    assert_eq!(open.text(), String::from_utf8(want).unwrap());
    // Refused without calling the upstream, on every route using it.
    assert_eq!(acme_post(&gw).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(mode.calls.load(Ordering::SeqCst), 4);
    assert_eq!(
        metric_lines(&gw, "schemagate_circuit_breaker"),
        [
            r#"schemagate_circuit_breaker_state{upstream="orders"} 1"#,
            r#"schemagate_circuit_breaker_transitions_total{upstream="orders"} 1"#,
        ]
    );

    // Healthy again; after open_secs one probe goes through and closes the circuit.
    mode.fail_with.store(0, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let probe = status_get(&gw, "A1", None).await;
    assert_eq!(probe.status, StatusCode::OK, "{}", probe.text());
    assert_eq!(mode.calls.load(Ordering::SeqCst), 5);
    assert_eq!(status_get(&gw, "A2", None).await.status, StatusCode::OK);
    assert_eq!(
        metric_lines(&gw, "schemagate_circuit_breaker"),
        [
            r#"schemagate_circuit_breaker_state{upstream="orders"} 0"#,
            r#"schemagate_circuit_breaker_transitions_total{upstream="orders"} 3"#,
        ]
    );
}

#[tokio::test]
async fn a_probe_that_fails_opens_the_breaker_again() {
    let (up, mode) = upstream().await;
    let gw = gateway(
        up,
        "[circuit_breaker]\nminimum_requests = 2\nopen_secs = 1\nhalf_open_probes = 1\n\n[retries]\nmax_attempts = 1\n",
    )
    .await;
    mode.fail_with.store(503, Ordering::SeqCst);
    for _ in 0..2 {
        assert_eq!(
            status_get(&gw, "A1", None).await.status,
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The probe fails: open again at once, and the next request is not let through.
    assert_eq!(
        status_get(&gw, "A1", None).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    let refused = status_get(&gw, "A1", None).await;
    assert_eq!(
        refused.json()["type"],
        "urn:schemagate:problem:circuit-open"
    );
    assert_eq!(mode.calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn the_retry_budget_holds_under_a_total_outage() {
    let (up, mode) = upstream().await;
    // No per-second allowance: each request earns a fifth of a retry, so 50 requests
    // earn exactly 10 retries, whatever max_attempts says.
    let gw = gateway(
        up,
        "[circuit_breaker]\nenabled = false\n\n[retries]\nmax_attempts = 3\nbackoff_base_ms = 1\nbackoff_max_ms = 2\nbudget_percent = 20\nbudget_min_per_sec = 0\n",
    )
    .await;
    mode.fail_with.store(502, Ordering::SeqCst);
    for _ in 0..50 {
        assert_eq!(
            status_get(&gw, "A1", None).await.status,
            StatusCode::BAD_GATEWAY
        );
    }
    assert_eq!(mode.calls.load(Ordering::SeqCst), 60);
    assert_eq!(
        metric_lines(&gw, "schemagate_upstream_retries_total"),
        [r#"schemagate_upstream_retries_total{upstream="orders"} 10"#]
    );
    // A partner POST is never repeated, budget or not.
    for _ in 0..5 {
        assert_eq!(acme_post(&gw).await.status, StatusCode::BAD_GATEWAY);
    }
    assert_eq!(mode.calls.load(Ordering::SeqCst), 65);
}

#[tokio::test]
async fn a_route_declared_idempotent_retries_its_posts() {
    let (up, mode) = upstream().await;
    let gw = gateway(
        up,
        "[circuit_breaker]\nenabled = false\n\n[retries]\nmax_attempts = 3\nbackoff_base_ms = 1\nbackoff_max_ms = 2\nbudget_min_per_sec = 1000\n\n[routes.\"acme/orders\".retries]\nidempotent = true\n",
    )
    .await;
    mode.fail_with.store(503, Ordering::SeqCst);
    assert_eq!(acme_post(&gw).await.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(mode.calls.load(Ordering::SeqCst), 3);
}

// ---------------------------------------------------------------- cache

const CACHED: &str = "[routes.\"globex/order-status\".cache]\nenabled = true\n";

#[tokio::test]
async fn cache_hits_carry_age_and_follow_vary() {
    let (up, mode) = upstream().await;
    let gw = gateway(up, CACHED).await;
    let miss = status_get(&gw, "A1", Some("fr")).await;
    assert_eq!(miss.status, StatusCode::OK, "{}", miss.text());
    assert_eq!(
        headers_of(&miss, &["cache-control", "vary", "age"]),
        [
            "cache-control: max-age=60",
            "vary: Accept-Language",
            "age: "
        ]
    );
    assert_eq!(miss.json()["currencyCode"], "EUR");
    let hit = status_get(&gw, "A1", Some("fr")).await;
    assert_eq!(hit.status, StatusCode::OK);
    assert_eq!(hit.header("age"), "0");
    assert_eq!(hit.body, miss.body);
    assert_eq!(hit.header("content-type"), miss.header("content-type"));
    // Each answer names its own request.
    assert_ne!(
        hit.header("x-correlation-id"),
        miss.header("x-correlation-id")
    );
    assert_eq!(mode.calls.load(Ordering::SeqCst), 1);
    // Another language, another entry.
    let de = status_get(&gw, "A1", Some("de")).await;
    assert_eq!(
        (de.header("age"), &de.json()["currencyCode"]),
        ("", &serde_json::json!("CHF"))
    );
    assert_eq!(mode.calls.load(Ordering::SeqCst), 2);
    // Another order, another entry.
    let other = status_get(&gw, "B2", Some("fr")).await;
    assert_eq!(other.json()["orderRef"], "B2");
    assert_eq!(mode.calls.load(Ordering::SeqCst), 3);
    assert_eq!(
        metric_lines(&gw, "schemagate_cache_requests_total"),
        [
            r#"schemagate_cache_requests_total{result="hit"} 1"#,
            r#"schemagate_cache_requests_total{result="miss"} 3"#,
            r#"schemagate_cache_requests_total{result="coalesced"} 0"#,
        ]
    );
    // Hits are observed like any answer.
    assert!(
        metric_lines(&gw, "schemagate_requests_total").contains(
            &r#"schemagate_requests_total{route="globex/order-status",method="GET",status="200"} 4"#.to_owned()
        ),
        "{:?}",
        metric_lines(&gw, "schemagate_requests_total")
    );
}

#[tokio::test]
async fn no_store_answers_are_never_served_from_the_cache() {
    let (up, mode) = upstream().await;
    let gw = gateway(up, CACHED).await;
    for _ in 0..3 {
        let r = status_get(&gw, "NS", None).await;
        assert_eq!((r.status, r.header("age")), (StatusCode::OK, ""));
        assert_eq!(r.header("cache-control"), "no-store");
    }
    assert_eq!(mode.calls.load(Ordering::SeqCst), 3);
    // Errors are not stored either.
    mode.fail_with.store(500, Ordering::SeqCst);
    assert_eq!(
        status_get(&gw, "E1", None).await.status,
        StatusCode::BAD_GATEWAY
    );
    mode.fail_with.store(0, Ordering::SeqCst);
    assert_eq!(status_get(&gw, "E1", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn a_burst_of_identical_misses_makes_one_upstream_call() {
    let (up, mode) = upstream().await;
    let gw = Arc::new(gateway(up, CACHED).await);
    let mut tasks = Vec::new();
    for _ in 0..10 {
        let gw = Arc::clone(&gw);
        tasks.push(tokio::spawn(
            async move { status_get(&gw, "SF", None).await },
        ));
    }
    let mut bodies = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        assert_eq!(r.status, StatusCode::OK);
        bodies.push(r.body);
    }
    assert_eq!(mode.calls.load(Ordering::SeqCst), 1);
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert_eq!(
        metric_lines(&gw, "schemagate_cache_requests_total"),
        [
            r#"schemagate_cache_requests_total{result="hit"} 9"#,
            r#"schemagate_cache_requests_total{result="miss"} 1"#,
            r#"schemagate_cache_requests_total{result="coalesced"} 9"#,
        ]
    );
}

#[tokio::test]
async fn the_routes_cache_control_policy_reaches_answers_and_errors() {
    let (up, _mode) = upstream().await;
    let gw = gateway(
        up,
        "[routes.\"acme/orders\".cache]\ncache_control = { mode = \"override\", value = \"no-store\" }\n\n[routes.\"globex/order-status\".cache]\ncache_control = { mode = \"default\", value = \"private, max-age=5\" }\n\n[routes.\"acme/orders\".rate_limit]\nenabled = true\nrate = 1\nburst = 1\nperiod_secs = 3600\n",
    )
    .await;
    let ok = acme_post(&gw).await;
    assert_eq!(
        (ok.status, ok.header("cache-control")),
        (StatusCode::OK, "no-store")
    );
    let limited = acme_post(&gw).await;
    assert_eq!(
        (limited.status, limited.header("cache-control")),
        (StatusCode::TOO_MANY_REQUESTS, "no-store")
    );
    // `default` keeps the upstream's own.
    let kept = status_get(&gw, "A1", None).await;
    assert_eq!(kept.header("cache-control"), "max-age=60");
    let not_found = send(
        Method::GET,
        &gw.url("/partners/globex/orders/a/b"),
        &[],
        Bytes::new(),
    )
    .await;
    assert_eq!(
        (not_found.status, not_found.header("cache-control")),
        (StatusCode::NOT_FOUND, "")
    );
}

// ---------------------------------------------------------------- configuration

#[test]
fn check_refuses_bad_traffic_keys_by_name_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = common::write_config(
        dir.path(),
        &common::repo().join("schemas"),
        &common::repo().join("mappings"),
        "http://127.0.0.1:9",
        "\n[rate_limit]\nbackend = \"redis\"\n\n[upstreams.orders.circuit_breaker]\nfailure_rate_percent = 0\n\n[routes.\"acme/orders\".rate_limit]\nenabled = true\nburst = 0\n\n[routes.\"acme/orders\".cache]\nenabled = true\n\n[routes.\"nobody/nothing\".retries]\nmax_attempts = 2\n",
    );
    let report = schemagate::check::run(&schemagate::config::LoadOptions {
        config_path: Some(config),
        ..Default::default()
    });
    assert!(!report.ok);
    let got: Vec<String> = report
        .diagnostics
        .iter()
        .map(|d| {
            format!(
                "{}:{} {}",
                d.line.unwrap_or(0),
                d.column.unwrap_or(0),
                d.message
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "18:11 rate_limit.backend: \"redis\" needs a [redis] section with its url",
            "21:24 upstreams.orders.circuit_breaker.failure_rate_percent: must be between 1 and 100",
            "25:9 routes.\"acme/orders\".rate_limit.burst: must be at least 1",
            "28:11 routes.\"acme/orders\".cache.enabled: only GET routes can be cached",
        ]
    );
}

#[tokio::test]
async fn a_shared_cache_serves_another_instances_answer_without_an_upstream_call() {
    let (up, mode) = upstream().await;
    let prefix = fresh_prefix("shared-cache");
    let extra = format!(
        "[redis]\nurl = \"{}\"\nprefix = \"{prefix}\"\n\n[cache]\nshared = true\n\n[routes.\"globex/order-status\".cache]\nenabled = true\n",
        redis_url()
    );
    let a = gateway(up, &extra).await;
    let b = gateway(up, &extra).await;
    let miss = status_get(&a, "S1", Some("fr")).await;
    assert_eq!(miss.status, StatusCode::OK, "{}", miss.text());
    assert_eq!(miss.header("age"), "");
    // The store into Redis happens beside the answer: wait until the entry and the record
    // of the names it varies on are there.
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut stored: Vec<String> = Vec::new();
    for _ in 0..100 {
        stored = redis::cmd("KEYS")
            .arg(format!("{prefix}:cache:*"))
            .query_async(&mut conn)
            .await
            .unwrap();
        if stored.len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stored.len(), 2, "{stored:?}");
    let hit = status_get(&b, "S1", Some("fr")).await;
    // b never called the upstream: the answer came from a's entry in Redis.
    assert_eq!(mode.calls.load(Ordering::SeqCst), 1);
    assert_eq!(hit.status, StatusCode::OK);
    assert!(
        ["0", "1"].contains(&hit.header("age")),
        "age {:?}",
        hit.header("age")
    );
    assert_eq!(hit.body, miss.body);
    assert_eq!(hit.header("content-type"), miss.header("content-type"));
    // Another language varies: b has to ask the upstream for it.
    let calls_before = mode.calls.load(Ordering::SeqCst);
    let de = status_get(&b, "S1", Some("de")).await;
    assert_eq!(
        (de.header("age"), &de.json()["currencyCode"]),
        ("", &serde_json::json!("CHF"))
    );
    assert_eq!(mode.calls.load(Ordering::SeqCst), calls_before + 1);
}
