//! Traffic control against real components: Redis on loopback (`REDIS_URL`, default
//! `redis://127.0.0.1:6390`; these tests fail when it cannot be reached), private
//! `redis-server` processes for the outage test, and counting upstreams served by axum on
//! ephemeral ports.

mod common;

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use bytes::Bytes;
use common::{Reply, send};
use http::{Extensions, HeaderMap, Method, StatusCode};
use schemagate::edge::cache::config::StorePolicy;
use schemagate::edge::cache::control::CacheControlPolicy;
use schemagate::edge::cache::{CacheControlLayer, CacheLayer, ResponseCache, SharedCache};
use schemagate::edge::ratelimit::config::CompiledRateLimit;
use schemagate::edge::ratelimit::layer::json_problem;
use schemagate::edge::ratelimit::{
    Backend, FailureMode, Gcra, KeyBy, Limiter, Quota, QuotaPeriod, RateLimitError, RateLimitLayer,
    RedisSettings, RedisStore,
};
use schemagate::proxy::breaker::{Breaker, BreakerSettings, BreakerState};
use schemagate::proxy::retry::{self, RetryBudget, RetryPolicy};
use tokio::net::TcpListener;

/// The Redis the suite shares; `.ci/run` starts one there.
const DEFAULT_REDIS_URL: &str = "redis://127.0.0.1:6390";

fn redis_url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| DEFAULT_REDIS_URL.to_owned())
}

fn settings(url: &str, prefix: &str) -> RedisSettings {
    RedisSettings {
        url: url.to_owned(),
        prefix: prefix.to_owned(),
        connect_timeout: Duration::from_millis(200),
        response_timeout: Duration::from_millis(200),
    }
}

/// A key prefix no other run shares.
fn fresh_prefix(test: &str) -> String {
    format!("sgtest:{test}:{}", uuid::Uuid::new_v4().simple())
}

async fn redis_conn(url: &str) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        client.get_multiplexed_async_connection(),
    )
    .await
    .unwrap_or_else(|_| {
        panic!("Redis at {url} did not answer (set REDIS_URL or start redis-server)")
    })
    .unwrap_or_else(|e| {
        panic!("Redis at {url} unreachable: {e} (set REDIS_URL or start redis-server)")
    })
}

/// Serves `router` on an ephemeral loopback port.
async fn serve(router: Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap();
    });
    addr
}

async fn get_with(url: &str, headers: &[(&str, &str)]) -> Reply {
    send(Method::GET, url, headers, Bytes::new()).await
}

#[derive(Clone)]
struct Consumer(String);

fn consumer(ext: &Extensions) -> Option<&str> {
    ext.get::<Consumer>().map(|c| c.0.as_str())
}

/// Stands in for authentication: the `x-consumer` header becomes the request's consumer.
async fn identify(mut req: Request, next: Next) -> Response {
    if let Some(c) = req
        .headers()
        .get("x-consumer")
        .and_then(|v| v.to_str().ok())
    {
        let c = c.to_owned();
        req.extensions_mut().insert(Consumer(c));
    }
    next.run(req).await
}

fn header_list(h: &HeaderMap, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .map(|n| format!("{n}: {}", h.get(*n).map_or("-", |v| v.to_str().unwrap())))
        .collect()
}

// ---------------------------------------------------------------- rate limits

#[tokio::test]
async fn two_limiters_sharing_one_redis_admit_exactly_the_limit() {
    let url = redis_url();
    let mut conn = redis_conn(&url).await;
    let prefix = fresh_prefix("shared");
    let a = Arc::new(Limiter::new(
        Backend::Redis(RedisStore::new(&settings(&url, &prefix)).unwrap()),
        FailureMode::Closed,
        Duration::from_secs(1),
    ));
    let b = Arc::new(Limiter::new(
        Backend::Redis(RedisStore::new(&settings(&url, &prefix)).unwrap()),
        FailureMode::Closed,
        Duration::from_secs(1),
    ));
    // One per hour with bursts of 10: nothing refills during the test, so the tolerance
    // is zero and exactly 10 of the 60 concurrent requests may pass.
    let rule = Gcra::new(1, Duration::from_secs(3600), 10);
    let mut tasks = Vec::new();
    for i in 0..60 {
        let limiter = Arc::clone(if i % 2 == 0 { &a } else { &b });
        tasks.push(tokio::spawn(async move {
            limiter
                .check("orders", "consumer:acme", Some(&rule), None)
                .await
        }));
    }
    let mut remaining = Vec::new();
    let mut refused = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(Some(d)) => remaining.push(d.remaining),
            Err(RateLimitError::Limited(d)) => {
                assert_eq!((d.limit, d.remaining), (10, 0));
                assert!(
                    d.retry_after > Duration::from_secs(3500)
                        && d.retry_after <= Duration::from_secs(3600)
                );
                refused += 1;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    remaining.sort_unstable();
    assert_eq!(remaining, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    assert_eq!(refused, 50);
    // The key carries an expiry: ten hours of credit at most.
    let key = format!("{prefix}:orders:consumer:acme");
    let pttl: i64 = redis::cmd("PTTL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert!(pttl > 35_000_000 && pttl <= 36_000_000, "{pttl}");
    // Another consumer has its own allowance.
    let other = a
        .check("orders", "consumer:globex", Some(&rule), None)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(other.remaining, 9);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn redis_quotas_refuse_past_the_limit_and_expire_with_their_window() {
    let url = redis_url();
    let mut conn = redis_conn(&url).await;
    let prefix = fresh_prefix("quota");
    let limiter = Limiter::new(
        Backend::Redis(RedisStore::new(&settings(&url, &prefix)).unwrap()),
        FailureMode::Closed,
        Duration::from_secs(1),
    );
    let quota = Quota {
        limit: 3,
        period: QuotaPeriod::Month,
    };
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(
            match limiter
                .check("reports", "consumer:acme", None, Some(&quota))
                .await
            {
                Ok(Some(d)) => format!("ok {}", d.remaining),
                Err(RateLimitError::QuotaExhausted(d)) => format!("refused {}", d.remaining),
                other => panic!("{other:?}"),
            },
        );
    }
    assert_eq!(got, ["ok 2", "ok 1", "ok 0", "refused 0"]);
    let window = QuotaPeriod::Month.window(chrono::Utc::now());
    let key = format!("{prefix}:reports:consumer:acme:quota:{}", window.label);
    let used: String = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(used, "3", "refused requests are not counted");
    let expire_at: i64 = redis::cmd("PEXPIRETIME")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(expire_at, window.ends_at.timestamp_millis() + 60_000);
    let _: () = redis::cmd("DEL")
        .arg(&key)
        .query_async(&mut conn)
        .await
        .unwrap();
}

/// A `redis-server` of the test's own, on an ephemeral port, killed and restarted at will.
struct PrivateRedis {
    port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    fn free_port() -> u16 {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    }

    async fn start(port: u16) -> PrivateRedis {
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
            .spawn()
            .expect("redis-server installed (apt-get install redis-server)");
        let server = PrivateRedis {
            port,
            child: Some(child),
        };
        let url = format!("redis://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(c) = redis::Client::open(url.as_str())
                .unwrap()
                .get_multiplexed_async_connection()
                .await
            {
                drop(c);
                return server;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis-server on port {port} did not start");
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn decide(l: &Limiter, rule: &Gcra) -> String {
    match l.check("r", "k", Some(rule), None).await {
        Ok(Some(d)) => format!("decided {}", d.remaining),
        Ok(None) => "admitted undecided".to_owned(),
        Err(RateLimitError::StoreUnavailable { retry_after }) => {
            format!("503 after {retry_after:?}")
        }
        Err(e) => format!("{e}"),
    }
}

#[tokio::test]
async fn a_redis_outage_fails_open_or_closed_once_logged_and_recovers() {
    let port = PrivateRedis::free_port();
    let mut redis = PrivateRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{}", redis.port);
    let retry = Duration::from_millis(200);
    let open = Limiter::new(
        Backend::Redis(RedisStore::new(&settings(&url, "open")).unwrap()),
        FailureMode::Open,
        retry,
    );
    let closed = Limiter::new(
        Backend::Redis(RedisStore::new(&settings(&url, "closed")).unwrap()),
        FailureMode::Closed,
        retry,
    );
    let rule = Gcra::new(1, Duration::from_secs(3600), 100);
    assert_eq!(decide(&open, &rule).await, "decided 99");
    assert_eq!(decide(&closed, &rule).await, "decided 99");

    redis.kill();
    for _ in 0..5 {
        assert_eq!(decide(&open, &rule).await, "admitted undecided");
        assert_eq!(decide(&closed, &rule).await, "503 after 200ms");
    }
    let s = open.stats().snapshot();
    // One failed call opened the outage; the next requests did not wait on Redis.
    assert_eq!(
        (s.outages, s.errors, s.failed_open, s.failed_closed, s.down),
        (1, 1, 5, 0, true)
    );
    let s = closed.stats().snapshot();
    assert_eq!(
        (s.outages, s.errors, s.failed_open, s.failed_closed, s.down),
        (1, 1, 0, 5, true)
    );

    // Still down after the retry interval: one more failed call, still one outage.
    tokio::time::sleep(retry + Duration::from_millis(50)).await;
    assert_eq!(decide(&open, &rule).await, "admitted undecided");
    assert_eq!(open.stats().snapshot().errors, 2);
    assert_eq!(open.stats().snapshot().outages, 1);

    let _redis = PrivateRedis::start(port).await;
    tokio::time::sleep(retry + Duration::from_millis(50)).await;
    // The connection manager reconnects in the background: allow it a few attempts.
    let mut open_after = String::new();
    for _ in 0..50 {
        open_after = decide(&open, &rule).await;
        if open_after.starts_with("decided") {
            break;
        }
        tokio::time::sleep(retry + Duration::from_millis(20)).await;
    }
    // The restarted Redis kept nothing: the key starts afresh.
    assert_eq!(open_after, "decided 99");
    let mut closed_after = String::new();
    for _ in 0..50 {
        closed_after = decide(&closed, &rule).await;
        if closed_after.starts_with("decided") {
            break;
        }
        tokio::time::sleep(retry + Duration::from_millis(20)).await;
    }
    assert_eq!(closed_after, "decided 99");
    assert!(!open.stats().snapshot().down);
    assert!(!closed.stats().snapshot().down);
    assert_eq!(open.stats().snapshot().outages, 1);
}

async fn limited_app(
    limiter: Arc<Limiter>,
    rules: CompiledRateLimit,
    calls: Arc<AtomicU64>,
) -> SocketAddr {
    let router = Router::new()
        .route(
            "/partners/acme/orders",
            get(move || {
                let calls = Arc::clone(&calls);
                async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    "ok"
                }
            }),
        )
        .layer(RateLimitLayer::new(
            limiter,
            "acme-orders",
            rules,
            consumer,
            Arc::new(json_problem::<Body>),
        ))
        .layer(middleware::from_fn(identify));
    serve(router).await
}

#[tokio::test]
async fn the_layer_answers_429_with_its_headers_without_calling_the_route() {
    let rule = Gcra::new(5, Duration::from_secs(1), 2);
    let limiter = Arc::new(Limiter::new(
        Backend::Local(schemagate::edge::ratelimit::LocalStore::new(
            1000,
            rule.idle_horizon(),
        )),
        FailureMode::Open,
        Duration::from_secs(1),
    ));
    let calls = Arc::new(AtomicU64::new(0));
    let addr = limited_app(
        limiter,
        CompiledRateLimit {
            key: KeyBy::Consumer,
            rate: Some(rule),
            quota: None,
        },
        Arc::clone(&calls),
    )
    .await;
    let url = format!("http://{addr}/partners/acme/orders");
    let names = [
        "ratelimit-limit",
        "ratelimit-remaining",
        "ratelimit-reset",
        "retry-after",
    ];
    let first = get_with(&url, &[("x-consumer", "acme")]).await;
    assert_eq!(
        (first.status, first.text()),
        (StatusCode::OK, "ok".to_owned())
    );
    assert_eq!(
        header_list(&first.headers, &names),
        [
            "ratelimit-limit: 2",
            "ratelimit-remaining: 1",
            "ratelimit-reset: 1",
            "retry-after: -"
        ]
    );
    let second = get_with(&url, &[("x-consumer", "acme")]).await;
    assert_eq!(
        header_list(&second.headers, &names)[1],
        "ratelimit-remaining: 0"
    );
    let third = get_with(&url, &[("x-consumer", "acme")]).await;
    assert_eq!(third.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(third.header("content-type"), "application/problem+json");
    assert_eq!(
        header_list(&third.headers, &names),
        [
            "ratelimit-limit: 2",
            "ratelimit-remaining: 0",
            "ratelimit-reset: 1",
            "retry-after: 1"
        ]
    );
    assert_eq!(
        third.json(),
        serde_json::json!({
            "type": "urn:schemagate:problem:rate-limited",
            "title": "Too many requests",
            "status": 429,
            "detail": "at most 2 requests at once; try again later",
            "instance": ""
        })
    );
    // Another consumer, and an anonymous caller (counted by address), are not affected.
    assert_eq!(
        get_with(&url, &[("x-consumer", "globex")]).await.status,
        StatusCode::OK
    );
    assert_eq!(get_with(&url, &[]).await.header("ratelimit-remaining"), "1");
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

// ---------------------------------------------------------------- circuit breaker

/// An upstream that answers 500 while `failing` is set, and counts its calls.
async fn switchable_upstream() -> (String, Arc<AtomicBool>, Arc<AtomicU64>) {
    let failing = Arc::new(AtomicBool::new(false));
    let calls = Arc::new(AtomicU64::new(0));
    let state = (Arc::clone(&failing), Arc::clone(&calls));
    let router = Router::new()
        .route(
            "/",
            get(
                |State((failing, calls)): State<(Arc<AtomicBool>, Arc<AtomicU64>)>| async move {
                    calls.fetch_add(1, Ordering::SeqCst);
                    if failing.load(Ordering::SeqCst) {
                        (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response()
                    } else {
                        "up".into_response()
                    }
                },
            ),
        )
        .with_state(state);
    let addr = serve(router).await;
    (format!("http://{addr}/"), failing, calls)
}

async fn call(b: &Breaker, url: &str) -> String {
    match b.acquire() {
        Ok(permit) => {
            let status = get_with(url, &[]).await.status;
            permit.record(!status.is_server_error());
            status.as_u16().to_string()
        }
        Err(open) => format!("open {}", open.to_problem().retry_after.unwrap()),
    }
}

#[tokio::test]
async fn the_breaker_opens_on_failures_probes_and_closes_against_a_real_upstream() {
    let (url, failing, calls) = switchable_upstream().await;
    let breaker = Breaker::new(
        "orders",
        BreakerSettings {
            failure_rate_percent: 50,
            window: Duration::from_secs(60),
            minimum_requests: 6,
            open_for: Duration::from_millis(300),
            half_open_probes: 2,
        },
    );
    let mut seen = Vec::new();
    for _ in 0..3 {
        seen.push(call(&breaker, &url).await);
    }
    failing.store(true, Ordering::SeqCst);
    for _ in 0..3 {
        seen.push(call(&breaker, &url).await);
    }
    assert_eq!(seen, ["200", "200", "200", "500", "500", "500"]);
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(calls.load(Ordering::SeqCst), 6);
    // Open: refused without calling the upstream.
    assert_eq!(call(&breaker, &url).await, "open 1");
    assert_eq!(calls.load(Ordering::SeqCst), 6);

    // Half-open with the upstream still failing: one probe, then open again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(call(&breaker, &url).await, "500");
    assert_eq!(breaker.state(), BreakerState::Open);
    assert_eq!(call(&breaker, &url).await, "open 1");
    assert_eq!(calls.load(Ordering::SeqCst), 7);

    // Repaired: two successful probes close it.
    failing.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(call(&breaker, &url).await, "200");
    assert_eq!(breaker.state(), BreakerState::HalfOpen);
    assert_eq!(call(&breaker, &url).await, "200");
    assert_eq!(breaker.state(), BreakerState::Closed);
    assert_eq!(calls.load(Ordering::SeqCst), 9);
    // closed -> open -> half-open -> open -> half-open -> closed
    assert_eq!(breaker.transitions(), 5);
}

// ---------------------------------------------------------------- retries

#[tokio::test]
async fn the_retry_budget_holds_under_a_total_outage() {
    let (url, failing, calls) = switchable_upstream().await;
    failing.store(true, Ordering::SeqCst);
    let policy = RetryPolicy {
        max_attempts: 3,
        backoff_base: Duration::from_millis(1),
        backoff_max: Duration::from_millis(2),
        idempotent: false,
    };
    // 20 % of requests may be retried, nothing on top.
    let budget = RetryBudget::new(20, 0);
    for _ in 0..100 {
        let status = retry::run(
            &Method::GET,
            &policy,
            &budget,
            || get_with(&url, &[]),
            |r: &Reply| r.status.is_server_error(),
        )
        .await
        .status;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    }
    // Without a budget three attempts each would make 300 calls; the budget allows 1.2 per request.
    assert_eq!(calls.load(Ordering::SeqCst), 120);

    // A partner POST is never repeated.
    calls.store(0, Ordering::SeqCst);
    for _ in 0..10 {
        retry::run(
            &Method::POST,
            &policy,
            &RetryBudget::new(100, 100),
            || get_with(&url, &[]),
            |r: &Reply| r.status.is_server_error(),
        )
        .await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 10);
}

// ---------------------------------------------------------------- response cache

/// A counting upstream with the answers the cache tests need.
fn counting_upstream(calls: Arc<AtomicU64>) -> Router {
    async fn fresh(State(calls): State<Arc<AtomicU64>>) -> Response {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        (
            [("cache-control", "max-age=60"), ("age", "5")],
            format!("fresh {n}"),
        )
            .into_response()
    }
    async fn vary(State(calls): State<Arc<AtomicU64>>, headers: HeaderMap) -> Response {
        calls.fetch_add(1, Ordering::SeqCst);
        let lang = headers
            .get("accept-language")
            .map_or("none", |v| v.to_str().unwrap())
            .to_owned();
        (
            [
                ("cache-control", "public, s-maxage=60"),
                ("vary", "Accept-Language"),
            ],
            format!("lang {lang}"),
        )
            .into_response()
    }
    async fn no_store(State(calls): State<Arc<AtomicU64>>) -> Response {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        ([("cache-control", "no-store")], format!("no-store {n}")).into_response()
    }
    async fn slow(State(calls): State<Arc<AtomicU64>>) -> Response {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::time::sleep(Duration::from_millis(300)).await;
        ([("cache-control", "max-age=60")], format!("slow {n}")).into_response()
    }
    async fn failing(State(calls): State<Arc<AtomicU64>>) -> Response {
        calls.fetch_add(1, Ordering::SeqCst);
        (
            StatusCode::BAD_GATEWAY,
            [("cache-control", "max-age=60")],
            "bad",
        )
            .into_response()
    }
    Router::new()
        .route("/fresh", get(fresh))
        .route("/vary", get(vary))
        .route("/no-store", get(no_store))
        .route("/slow", get(slow))
        .route("/failing", get(failing))
        .with_state(calls)
}

fn store_policy() -> StorePolicy {
    StorePolicy {
        default_ttl: Duration::ZERO,
        max_ttl: Duration::from_secs(300),
        max_entry_bytes: 1024,
    }
}

async fn cached_app(
    cache: Arc<ResponseCache>,
    calls: Arc<AtomicU64>,
    cache_control: CacheControlPolicy,
) -> String {
    let router = counting_upstream(calls)
        .layer(CacheLayer::new(cache, store_policy(), consumer))
        .layer(CacheControlLayer::new(cache_control))
        .layer(middleware::from_fn(identify));
    format!("http://{}", serve(router).await)
}

#[tokio::test]
async fn hits_are_served_with_their_age_and_without_calling_upstream() {
    let calls = Arc::new(AtomicU64::new(0));
    let cache = Arc::new(ResponseCache::new(1 << 20, None));
    let base = cached_app(
        Arc::clone(&cache),
        Arc::clone(&calls),
        CacheControlPolicy::Keep,
    )
    .await;
    let first = get_with(&format!("{base}/fresh?a=1"), &[]).await;
    let second = get_with(&format!("{base}/fresh?a=1"), &[]).await;
    assert_eq!(
        (first.text(), first.header("age")),
        ("fresh 1".to_owned(), "5")
    );
    assert_eq!(
        (second.status, second.text(), second.header("age")),
        (StatusCode::OK, "fresh 1".to_owned(), "5")
    );
    assert_eq!(second.header("cache-control"), "max-age=60");
    // Another query, and another consumer, are other entries.
    assert_eq!(
        get_with(&format!("{base}/fresh?a=2"), &[]).await.text(),
        "fresh 2"
    );
    assert_eq!(
        get_with(&format!("{base}/fresh?a=1"), &[("x-consumer", "acme")])
            .await
            .text(),
        "fresh 3"
    );
    assert_eq!(
        get_with(&format!("{base}/fresh?a=1"), &[("x-consumer", "acme")])
            .await
            .text(),
        "fresh 3"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert_eq!(cache.stats.hits.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn vary_keeps_one_entry_per_varied_value() {
    let calls = Arc::new(AtomicU64::new(0));
    let base = cached_app(
        Arc::new(ResponseCache::new(1 << 20, None)),
        Arc::clone(&calls),
        CacheControlPolicy::Keep,
    )
    .await;
    let url = format!("{base}/vary");
    let mut bodies = Vec::new();
    for lang in ["fr", "fr", "de", "fr", "de"] {
        bodies.push(get_with(&url, &[("accept-language", lang)]).await.text());
    }
    bodies.push(get_with(&url, &[]).await.text());
    bodies.push(get_with(&url, &[]).await.text());
    assert_eq!(
        bodies,
        [
            "lang fr",
            "lang fr",
            "lang de",
            "lang fr",
            "lang de",
            "lang none",
            "lang none"
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn no_store_and_errors_are_never_stored_and_the_route_policy_marks_every_answer() {
    let calls = Arc::new(AtomicU64::new(0));
    let policy = CacheControlPolicy::Default(http::HeaderValue::from_static("no-cache"));
    let base = cached_app(
        Arc::new(ResponseCache::new(1 << 20, None)),
        Arc::clone(&calls),
        policy,
    )
    .await;
    let a = get_with(&format!("{base}/no-store"), &[]).await;
    let b = get_with(&format!("{base}/no-store"), &[]).await;
    assert_eq!(
        (a.text(), b.text()),
        ("no-store 1".to_owned(), "no-store 2".to_owned())
    );
    assert_eq!(
        b.header("cache-control"),
        "no-store",
        "the upstream's value is kept in default mode"
    );
    let bad = get_with(&format!("{base}/failing"), &[]).await;
    get_with(&format!("{base}/failing"), &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_GATEWAY);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    let missing = get_with(&format!("{base}/nowhere"), &[]).await;
    assert_eq!(
        (missing.status, missing.header("cache-control")),
        (StatusCode::NOT_FOUND, "no-cache")
    );
}

#[tokio::test]
async fn a_burst_of_identical_misses_makes_one_upstream_call() {
    let calls = Arc::new(AtomicU64::new(0));
    let cache = Arc::new(ResponseCache::new(1 << 20, None));
    let base = cached_app(
        Arc::clone(&cache),
        Arc::clone(&calls),
        CacheControlPolicy::Keep,
    )
    .await;
    let url = format!("{base}/slow");
    let burst: Vec<_> = (0..20)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { get_with(&url, &[]).await.text() })
        })
        .collect();
    let mut bodies = Vec::new();
    for t in burst {
        bodies.push(t.await.unwrap());
    }
    assert_eq!(bodies, vec!["slow 1".to_owned(); 20]);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert_eq!(cache.stats.misses.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_instances_share_entries_through_redis() {
    let url = redis_url();
    redis_conn(&url).await;
    let prefix = fresh_prefix("cache");
    let calls = Arc::new(AtomicU64::new(0));
    let one = cached_app(
        Arc::new(ResponseCache::new(
            1 << 20,
            Some(SharedCache::new(&settings(&url, &prefix)).unwrap()),
        )),
        Arc::clone(&calls),
        CacheControlPolicy::Keep,
    )
    .await;
    let two = cached_app(
        Arc::new(ResponseCache::new(
            1 << 20,
            Some(SharedCache::new(&settings(&url, &prefix)).unwrap()),
        )),
        Arc::clone(&calls),
        CacheControlPolicy::Keep,
    )
    .await;
    let a = get_with(&format!("{one}/fresh"), &[]).await;
    let b = get_with(&format!("{two}/fresh"), &[]).await;
    assert_eq!(
        (a.text(), b.text(), b.header("age")),
        ("fresh 1".to_owned(), "fresh 1".to_owned(), "5")
    );
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn two_gateways_limiting_through_one_redis_admit_the_burst_between_them() {
    let url = redis_url();
    redis_conn(&url).await;
    let prefix = fresh_prefix("gateways");
    let rules = CompiledRateLimit {
        key: KeyBy::Consumer,
        rate: Some(Gcra::new(1, Duration::from_secs(3600), 5)),
        quota: None,
    };
    let calls = Arc::new(AtomicU64::new(0));
    let mut urls = Vec::new();
    for _ in 0..2 {
        let limiter = Arc::new(Limiter::new(
            Backend::Redis(RedisStore::new(&settings(&url, &prefix)).unwrap()),
            FailureMode::Closed,
            Duration::from_secs(1),
        ));
        let addr = limited_app(limiter, rules.clone(), Arc::clone(&calls)).await;
        urls.push(format!("http://{addr}/partners/acme/orders"));
    }
    let mut seen = Vec::new();
    for i in 0..8 {
        let r = get_with(&urls[i % 2], &[("x-consumer", "acme")]).await;
        seen.push(format!(
            "{} {}",
            r.status.as_u16(),
            r.header("ratelimit-remaining")
        ));
    }
    assert_eq!(
        seen,
        [
            "200 4", "200 3", "200 2", "200 1", "200 0", "429 0", "429 0", "429 0"
        ]
    );
    assert_eq!(calls.load(Ordering::SeqCst), 5);
}

#[tokio::test]
async fn answers_the_cache_must_not_key_or_hold_pass_through() {
    let calls = Arc::new(AtomicU64::new(0));
    async fn wide_vary(State(calls): State<Arc<AtomicU64>>) -> Response {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        let names = (0..9)
            .map(|i| format!("x-h{i}"))
            .collect::<Vec<_>>()
            .join(", ");
        (
            [("cache-control", "max-age=60".to_owned()), ("vary", names)],
            format!("wide {n}"),
        )
            .into_response()
    }
    async fn big(State(calls): State<Arc<AtomicU64>>) -> Response {
        let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
        (
            [("cache-control", "max-age=60")],
            format!("{n}{}", "x".repeat(2000)),
        )
            .into_response()
    }
    let router = Router::new()
        .route("/wide", get(wide_vary))
        .route("/big", get(big))
        .merge(counting_upstream(Arc::clone(&calls)).with_state(()))
        .with_state(Arc::clone(&calls))
        .layer(CacheLayer::new(
            Arc::new(ResponseCache::new(1 << 20, None)),
            store_policy(),
            consumer,
        ));
    let base = format!("http://{}", serve(router).await);
    // More than 8 varied headers: passed on, never stored.
    assert_eq!(
        get_with(&format!("{base}/wide"), &[]).await.text(),
        "wide 1"
    );
    assert_eq!(
        get_with(&format!("{base}/wide"), &[]).await.text(),
        "wide 2"
    );
    // Over max_entry_bytes (1024 here): passed on whole, not stored.
    let a = get_with(&format!("{base}/big"), &[]).await;
    let b = get_with(&format!("{base}/big"), &[]).await;
    assert_eq!(
        (a.body.len(), &a.text()[..1], &b.text()[..1]),
        (2001, "3", "4")
    );
    // Range requests and HEAD go straight to the route.
    let fresh = format!("{base}/fresh");
    assert_eq!(get_with(&fresh, &[]).await.text(), "fresh 5");
    assert_eq!(
        get_with(&fresh, &[("range", "bytes=0-3")]).await.text(),
        "fresh 6"
    );
    assert_eq!(
        send(Method::HEAD, &fresh, &[], Bytes::new()).await.status,
        StatusCode::OK
    );
    assert_eq!(calls.load(Ordering::SeqCst), 7);
    assert_eq!(get_with(&fresh, &[]).await.text(), "fresh 5");
}

#[tokio::test]
async fn the_shared_level_failing_costs_a_miss_nothing_but_the_upstream_call() {
    let port = PrivateRedis::free_port();
    let mut redis = PrivateRedis::start(port).await;
    let url = format!("redis://127.0.0.1:{port}");
    let shared = SharedCache::new(&settings(&url, "c")).unwrap();
    let calls = Arc::new(AtomicU64::new(0));
    let base = cached_app(
        Arc::new(ResponseCache::new(1 << 20, Some(shared.clone()))),
        Arc::clone(&calls),
        CacheControlPolicy::Keep,
    )
    .await;
    assert_eq!(
        get_with(&format!("{base}/fresh?1"), &[]).await.text(),
        "fresh 1"
    );
    redis.kill();
    assert_eq!(
        get_with(&format!("{base}/fresh?2"), &[]).await.text(),
        "fresh 2"
    );
    assert_eq!(
        get_with(&format!("{base}/fresh?3"), &[]).await.text(),
        "fresh 3"
    );
    assert_eq!(
        get_with(&format!("{base}/fresh?1"), &[]).await.text(),
        "fresh 1",
        "memory still serves"
    );
    // The first miss found Redis gone; the next one did not ask it again.
    assert_eq!(shared.errors(), 1);
}

// ---------------------------------------------------------------- documentation

/// The traffic-control sections of a gateway.toml, as the documentation shows them.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficFile {
    redis: Option<schemagate::edge::ratelimit::config::RedisConfig>,
    #[serde(default)]
    rate_limit: schemagate::edge::ratelimit::RateLimitConfig,
    #[serde(default)]
    circuit_breaker: schemagate::proxy::breaker::BreakerConfig,
    #[serde(default)]
    retries: schemagate::proxy::retry::RetryConfig,
    #[serde(default)]
    cache: schemagate::edge::cache::CacheConfig,
    #[serde(default)]
    routes: std::collections::BTreeMap<String, TrafficRoute>,
    #[serde(default)]
    upstreams: std::collections::BTreeMap<String, TrafficUpstream>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficRoute {
    rate_limit: Option<schemagate::edge::ratelimit::RateLimitOverride>,
    retries: Option<schemagate::proxy::retry::RetryOverride>,
    cache: Option<schemagate::edge::cache::CacheOverride>,
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct TrafficUpstream {
    circuit_breaker: Option<schemagate::proxy::breaker::BreakerOverride>,
}

/// Every `toml` block of docs/configuration.md's traffic-control sections parses and
/// compiles (environment variables replaced by their defaults).
#[test]
fn the_documented_traffic_examples_compile() {
    let doc = std::fs::read_to_string(common::repo().join("docs/configuration.md")).unwrap();
    let start = doc
        .find("## Traffic control")
        .expect("a Traffic control section");
    // The section runs to the next section that is not one of its own.
    let end = doc[start..]
        .find("## Authentication")
        .map_or(doc.len(), |i| start + i);
    let section = &doc[start..end];
    let defaults = regex::Regex::new(r"\$\{[A-Z_]+:-([^}]*)\}").unwrap();
    let blocks: Vec<&str> = section
        .split("```toml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .collect();
    assert_eq!(blocks.len(), 2);
    for block in blocks {
        let text = defaults.replace_all(block, "$1");
        let f: TrafficFile = toml::from_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        f.rate_limit.compile_backend(f.redis.as_ref()).unwrap();
        f.cache.check(f.redis.is_some()).unwrap();
        f.retries.budget().unwrap();
        f.circuit_breaker.compile(None, "circuit_breaker").unwrap();
        for (name, r) in &f.routes {
            let at = format!("routes.\"{name}\"");
            f.rate_limit
                .compile_route(r.rate_limit.as_ref(), &format!("{at}.rate_limit"))
                .unwrap();
            f.retries
                .compile(r.retries.as_ref(), &format!("{at}.retries"))
                .unwrap();
            f.cache
                .compile_route(r.cache.as_ref(), &format!("{at}.cache"), true)
                .unwrap();
        }
        for (name, u) in &f.upstreams {
            f.circuit_breaker
                .compile(
                    u.circuit_breaker.as_ref(),
                    &format!("upstreams.{name}.circuit_breaker"),
                )
                .unwrap();
        }
    }
}
