//! What traffic control adds to a request, without the network: one in-process rate limit
//! decision (with and without the limiter's async wrapper), and a response-cache hit
//! through the tower layer.
//!
//! Run with `cargo bench --bench traffic`; figures are in docs/performance.md.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http::{Request, Response};
use http_body_util::Full;
use schemagate::edge::cache::config::StorePolicy;
use schemagate::edge::cache::{CacheLayer, ResponseCache};
use schemagate::edge::ratelimit::{Backend, FailureMode, Gcra, Limiter, LocalStore};
use tower::{Layer, Service, ServiceExt};

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // A rate no bench run can exhaust, over 10,000 keys as a busy gateway would hold.
    let rule = Gcra::new(1_000_000_000, Duration::from_secs(1), 1_000_000_000);
    let store = LocalStore::new(100_000, rule.idle_horizon());
    let keys: Vec<String> = (0..10_000)
        .map(|i| format!("acme/orders:consumer:c{i}"))
        .collect();
    let mut i = 0;
    c.bench_function("local_limiter/check_rate", |b| {
        b.iter(|| {
            i = (i + 1) % keys.len();
            store.check_rate(&keys[i], &rule)
        })
    });
    let limiter = Limiter::new(
        Backend::Local(store.clone()),
        FailureMode::Open,
        Duration::from_secs(1),
    );
    let mut j = 0;
    c.bench_function("local_limiter/limiter_check", |b| {
        b.iter(|| {
            j = (j + 1) % 10_000;
            let key = format!("consumer:c{j}");
            rt.block_on(limiter.check("acme/orders", &key, Some(&rule), None))
        })
    });

    let cache = Arc::new(ResponseCache::new(64 << 20, None));
    let policy = StorePolicy {
        default_ttl: Duration::ZERO,
        max_ttl: Duration::from_secs(300),
        max_entry_bytes: 1 << 20,
    };
    let upstream = tower::service_fn(|_req: Request<Full<Bytes>>| async {
        let body = Full::new(Bytes::from_static(
            br#"{"order_id":"PO-1","status":"accepted","lines":12}"#,
        ));
        let mut resp = Response::new(body);
        resp.headers_mut()
            .insert("cache-control", "max-age=300".parse().unwrap());
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        Ok::<_, Infallible>(resp)
    });
    let svc = CacheLayer::new(cache, policy, |_| None).layer(upstream);
    let request = || {
        Request::get("/partners/acme/orders/PO-1?view=full")
            .header("accept", "application/json")
            .body(Full::new(Bytes::new()))
            .unwrap()
    };
    rt.block_on(svc.clone().oneshot(request())).unwrap();
    c.bench_function("cache/hit", |b| {
        b.iter(|| {
            let mut svc = svc.clone();
            rt.block_on(async { svc.ready().await.unwrap().call(request()).await.unwrap() })
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
