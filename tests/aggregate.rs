//! The `aggregate` route kind against real upstreams on loopback that record when each
//! call arrived and when its answer ended: concurrent fan-out, dependent calls, optional
//! and required parts, timeouts, the route's deadline, client profiles, and what `check`
//! refuses.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::response::IntoResponse;
use bytes::Bytes;
use common::{Gateway, send};
use http::{Method, StatusCode};
use schemagate::config::LoadOptions;
use serde_json::{Value, json};

/// One call the upstream received: what, and when it arrived and when its answer was sent.
#[derive(Debug, Clone)]
struct Hit {
    path: String,
    query: Option<String>,
    tenant: Option<String>,
    arrived: Instant,
    ended: Instant,
}

/// What the upstream answers for a path: status, body, and how long it waits first.
type Answer = fn(&str) -> (u16, &'static str, u64);

#[derive(Clone)]
struct Timed {
    hits: Arc<Mutex<Vec<Hit>>>,
    answer: Answer,
}

async fn timed(State(t): State<Timed>, req: Request) -> axum::response::Response {
    let arrived = Instant::now();
    let (status, body, delay) = (t.answer)(req.uri().path());
    tokio::time::sleep(Duration::from_millis(delay)).await;
    t.hits.lock().unwrap().push(Hit {
        path: req.uri().path().to_owned(),
        query: req.uri().query().map(str::to_owned),
        tenant: req
            .headers()
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        arrived,
        ended: Instant::now(),
    });
    (
        StatusCode::from_u16(status).unwrap(),
        [(http::header::CONTENT_TYPE, "application/json")],
        body,
    )
        .into_response()
}

/// A real upstream on loopback answering by `answer`, recording every hit.
async fn upstream(answer: Answer) -> (String, Arc<Mutex<Vec<Hit>>>) {
    let hits = Arc::new(Mutex::new(Vec::new()));
    let state = Timed {
        hits: Arc::clone(&hits),
        answer,
    };
    let router = Router::new().fallback(timed).with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (format!("http://{addr}"), hits)
}

/// A mappings directory holding `bff/dash.yaml` = `route`.
fn mappings(route: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("bff")).unwrap();
    std::fs::write(dir.path().join("bff/dash.yaml"), route).unwrap();
    dir
}

async fn gateway(url: &str, route: &str) -> (Gateway, tempfile::TempDir) {
    let dir = mappings(route);
    let gw = Gateway::start_with(url, "", Some(dir.path())).await;
    (gw, dir)
}

async fn get(gw: &Gateway, path: &str, headers: &[(&str, &str)]) -> common::Reply {
    let mut all = vec![("x-correlation-id", "agg-1")];
    all.extend_from_slice(headers);
    send(Method::GET, &gw.url(path), &all, Bytes::new()).await
}

fn hit<'h>(hits: &'h [Hit], path: &str) -> &'h Hit {
    hits.iter()
        .find(|h| h.path == path)
        .unwrap_or_else(|| panic!("no call to {path}: {hits:?}"))
}

const USER: &str = r#"{"id":7,"name":"Jane Doe","email":"jane@example.com","tier":"gold","created_at":"2024-03-02T10:00:00Z"}"#;
const ORDERS: &str = r#"{"user":7,"orders":[{"order_id":"A-1","status":"ACCEPTED","total":12.5}]}"#;
const NOTES: &str = r#"{"user":7,"unread":1,"items":[{"id":"n-1","text":"hello"}]}"#;

/// The dashboard of the example, with the calls' timeouts and `notifications` optional.
const DASHBOARD: &str = r#"
route: { kind: aggregate, method: GET, path: "/dash/{id}", format: json, query: [limit], headers: [X-Tenant] }
aggregate:
  deadline_ms: 2000
  calls:
    user:
      service: orders
      path: "/users/{$path.id}"
      headers: { X-Tenant: "{$header.X-Tenant}" }
      schema: internal/user.schema.json
      timeout_ms: 1500
    orders:
      service: orders
      path: "/accounts/{/user/id}/orders"
      query: { limit: "{$query.limit}", tier: "{/user/tier}" }
      depends_on: [user]
      schema: internal/recent-orders.schema.json
      timeout_ms: 1500
    notifications:
      service: orders
      path: /notifications
      query: { user: "{$path.id}" }
      schema: internal/notifications.schema.json
      timeout_ms: 1500
      required: false
  answer:
    target: bff/dashboard.schema.json
    map:
      user: /user
      orders: /orders
      notifications: /notifications
      missing: { from: /_missing, when: { exists: /_missing/0 } }
  profile: { query: client }
  profiles:
    mobile:
      target: bff/dashboard-mobile.schema.json
      map:
        name: /user/name
        tier: /user/tier
        last_order: { id: /orders/orders/0/order_id, status: /orders/orders/0/status }
        unread: /notifications/unread
"#;

fn dashboard_answer(path: &str) -> (u16, &'static str, u64) {
    match path {
        "/users/7" => (200, USER, 200),
        "/accounts/7/orders" => (200, ORDERS, 100),
        "/notifications" => (200, NOTES, 500),
        _ => (404, r#"{"error":"not found"}"#, 0),
    }
}

#[tokio::test]
async fn calls_fan_out_concurrently_and_a_dependent_call_waits_for_its_dependency_alone() {
    let (url, hits) = upstream(dashboard_answer).await;
    let (gw, _dir) = gateway(&url, DASHBOARD).await;
    let reply = get(&gw, "/dash/7?limit=3", &[("x-tenant", "t-9")]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.header("x-aggregate-missing"), "");
    assert_eq!(
        reply.text(),
        format!(r#"{{"user":{USER},"orders":{ORDERS},"notifications":{NOTES}}}"#)
    );

    let hits = hits.lock().unwrap().clone();
    assert_eq!(hits.len(), 3, "{hits:?}");
    let (user, orders, notes) = (
        hit(&hits, "/users/7"),
        hit(&hits, "/accounts/7/orders"),
        hit(&hits, "/notifications"),
    );
    // The templates: a path parameter, a header, the user's answer, a query parameter.
    assert_eq!(user.tenant.as_deref(), Some("t-9"));
    assert_eq!(orders.query.as_deref(), Some("limit=3&tier=gold"));
    assert_eq!(notes.query.as_deref(), Some("user=7"));
    // user and notifications overlap: both started before either ended.
    assert!(
        user.arrived < notes.ended && notes.arrived < user.ended,
        "{hits:?}"
    );
    // orders started once user had answered, and did not wait for the slower
    // notifications.
    assert!(orders.arrived >= user.ended, "{hits:?}");
    assert!(orders.arrived < notes.ended, "{hits:?}");
}

#[tokio::test]
async fn an_optional_call_that_fails_leaves_a_partial_answer() {
    fn answer(path: &str) -> (u16, &'static str, u64) {
        match path {
            "/notifications" => (500, r#"{"error":"down"}"#, 0),
            p => dashboard_answer(p),
        }
    }
    let (url, _hits) = upstream(answer).await;
    let (gw, _dir) = gateway(&url, DASHBOARD).await;
    let reply = get(&gw, "/dash/7", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("x-aggregate-missing"), "notifications");
    assert_eq!(
        reply.text(),
        format!(r#"{{"user":{USER},"orders":{ORDERS},"missing":["notifications"]}}"#)
    );
    let mobile = get(&gw, "/dash/7?client=mobile", &[]).await;
    assert_eq!(mobile.status, StatusCode::OK, "{}", mobile.text());
    assert_eq!(
        mobile.text(),
        r#"{"name":"Jane Doe","tier":"gold","last_order":{"id":"A-1","status":"ACCEPTED"}}"#
    );
}

#[tokio::test]
async fn an_optional_call_that_times_out_leaves_a_partial_answer() {
    fn answer(path: &str) -> (u16, &'static str, u64) {
        match path {
            "/notifications" => (200, NOTES, 1_800),
            p => dashboard_answer(p),
        }
    }
    let (url, _hits) = upstream(answer).await;
    let (gw, _dir) = gateway(&url, DASHBOARD).await;
    let reply = get(&gw, "/dash/7", &[]).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
    assert_eq!(reply.header("x-aggregate-missing"), "notifications");
    assert_eq!(
        reply.json(),
        json!({"user": serde_json::from_str::<Value>(USER).unwrap(),
               "orders": serde_json::from_str::<Value>(ORDERS).unwrap(),
               "missing": ["notifications"]})
    );
}

#[tokio::test]
async fn a_required_call_that_fails_gives_502() {
    fn answer(path: &str) -> (u16, &'static str, u64) {
        match path {
            "/accounts/7/orders" => (503, r#"{"error":"down"}"#, 0),
            p => dashboard_answer(p),
        }
    }
    let (url, _hits) = upstream(answer).await;
    let (gw, _dir) = gateway(&url, DASHBOARD).await;
    let reply = get(&gw, "/dash/7", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.header("content-type"), "application/problem+json");
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:upstream-error",
            "title": "Upstream service failed",
            "status": 502,
            "detail": "The service behind the `orders` part of this answer failed.",
            "instance": "agg-1"
        })
    );
}

#[tokio::test]
async fn a_required_answer_that_breaks_its_schema_gives_502() {
    fn answer(path: &str) -> (u16, &'static str, u64) {
        match path {
            "/users/7" => (200, r#"{"id":"seven"}"#, 0),
            p => dashboard_answer(p),
        }
    }
    let (url, hits) = upstream(answer).await;
    let (gw, _dir) = gateway(&url, DASHBOARD).await;
    let reply = get(&gw, "/dash/7", &[]).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(
        reply.json()["detail"],
        "The service behind the `user` part of this answer failed."
    );
    // orders depends on user: never called.
    let paths: Vec<String> = hits
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.path.clone())
        .collect();
    assert!(
        !paths.contains(&"/accounts/7/orders".to_owned()),
        "{paths:?}"
    );
}

#[tokio::test]
async fn a_required_call_that_times_out_gives_504() {
    const SHORT: &str = r#"
route: { kind: aggregate, method: GET, path: "/dash/{id}", format: json }
aggregate:
  calls:
    user: { service: orders, path: "/users/{$path.id}", timeout_ms: 150 }
  answer:
    target: bff/dashboard-mobile.schema.json
    map: { name: /user/name, tier: /user/tier }
"#;
    fn answer(_: &str) -> (u16, &'static str, u64) {
        (200, USER, 1_000)
    }
    let (url, _hits) = upstream(answer).await;
    let (gw, _dir) = gateway(&url, SHORT).await;
    let started = Instant::now();
    let reply = get(&gw, "/dash/7", &[]).await;
    assert!(started.elapsed() < Duration::from_millis(900));
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:upstream-timeout",
            "title": "Upstream service timed out",
            "status": 504,
            "detail": "The service behind the `user` part of this answer did not answer in time.",
            "instance": "agg-1"
        })
    );
}

#[tokio::test]
async fn the_route_deadline_bounds_the_whole_aggregate() {
    // Each call is within its own timeout, but one after the other they are not.
    const CHAIN: &str = r#"
route: { kind: aggregate, method: GET, path: "/dash/{id}", format: json }
aggregate:
  deadline_ms: 300
  calls:
    user: { service: orders, path: "/users/{$path.id}", timeout_ms: 1000 }
    again: { service: orders, path: "/users/{/user/id}", depends_on: [user], timeout_ms: 1000 }
  answer:
    target: bff/dashboard-mobile.schema.json
    map: { name: /again/name, tier: /user/tier }
"#;
    fn answer(_: &str) -> (u16, &'static str, u64) {
        (200, USER, 200)
    }
    let (url, _hits) = upstream(answer).await;
    let (gw, _dir) = gateway(&url, CHAIN).await;
    let reply = get(&gw, "/dash/7", &[]).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(
        reply.json(),
        json!({
            "type": "urn:schemagate:problem:upstream-timeout",
            "title": "Upstream service timed out",
            "status": 504,
            "detail": "The services behind this API did not answer within the time this answer allows.",
            "instance": "agg-1"
        })
    );
}

#[tokio::test]
async fn profiles_shape_the_answer_and_an_unknown_profile_is_refused() {
    let (url, _hits) = upstream(dashboard_answer).await;
    let (gw, _dir) = gateway(&url, DASHBOARD).await;
    let mobile = get(&gw, "/dash/7?client=mobile", &[]).await;
    assert_eq!(mobile.status, StatusCode::OK, "{}", mobile.text());
    assert_eq!(
        mobile.text(),
        r#"{"name":"Jane Doe","tier":"gold","last_order":{"id":"A-1","status":"ACCEPTED"},"unread":1}"#
    );
    let tv = get(&gw, "/dash/7?client=tv", &[]).await;
    assert_eq!(tv.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        tv.json(),
        json!({
            "type": "urn:schemagate:problem:malformed-request",
            "title": "Malformed request",
            "status": 400,
            "detail": "the `client` query parameter names the profile `tv`, which this API does not have; its profiles: mobile",
            "instance": "agg-1"
        })
    );
}

#[tokio::test]
async fn the_shipped_dashboard_answers_web_and_mobile_clients_from_the_demo_upstream() {
    let (addr, _task) = schemagate::demo::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let gw = Gateway::start(&format!("http://{addr}")).await;
    let web = get(&gw, "/bff/dashboard?user=1", &[]).await;
    assert_eq!(web.status, StatusCode::OK, "{}", web.text());
    let fx = |f: &str| -> Value {
        serde_json::from_slice(
            &std::fs::read(common::repo().join("tests/data/bff").join(f)).unwrap(),
        )
        .unwrap()
    };
    assert_eq!(web.json(), fx("dashboard-web.json"));
    let mobile = get(&gw, "/bff/dashboard?user=1", &[("x-client", "mobile")]).await;
    assert_eq!(
        mobile.text(),
        r#"{"name":"Jane Doe","tier":"gold","last_order":{"id":"A-10001","status":"ACCEPTED"},"unread":2}"#
    );
    let lacking = get(&gw, "/bff/dashboard", &[]).await;
    assert_eq!(lacking.status, StatusCode::BAD_REQUEST);
    assert_eq!(
        lacking.json()["detail"],
        "The request has no `$query.user`, which this API needs."
    );
}

/// The error diagnostics of loading a configuration with `route` as its one route file.
fn errors_of(route: &str) -> Vec<String> {
    let dir = mappings(route);
    let cfg = tempfile::tempdir().unwrap();
    let config = common::write_config(
        cfg.path(),
        &common::repo().join("schemas"),
        dir.path(),
        "http://127.0.0.1:9",
        "",
    );
    let opts = LoadOptions {
        config_path: Some(config),
        ..Default::default()
    };
    let Err(diags) = schemagate::config::load(&opts) else {
        panic!("the configuration loaded");
    };
    diags
        .iter()
        .filter(|d| d.is_error())
        .map(|d| {
            format!(
                "{}:{}: {} [{}]",
                d.line.unwrap_or(0),
                d.column.unwrap_or(0),
                d.message,
                d.location.as_deref().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn check_refuses_cycles_unknown_calls_and_unknown_sources() {
    let cycle = r#"route: { kind: aggregate, method: GET, path: /d, format: json }
aggregate:
  calls:
    a:
      service: orders
      path: "/a/{/c/id}"
      depends_on: [c]
    b: { service: orders, path: "/b/{/a/id}", depends_on: [a] }
    c: { service: orders, path: "/c/{/b/id}", depends_on: [b] }
  answer: { target: bff/dashboard-mobile.schema.json, map: { name: /a/name, tier: /b/tier } }
"#;
    assert_eq!(
        errors_of(cycle),
        [
            "7:7: calls depend on each other in a cycle: a -> c -> b -> a [aggregate.calls.a.depends_on]"
        ]
    );
    let unknown = r#"route: { kind: aggregate, method: GET, path: /d, format: json }
aggregate:
  calls:
    a: { service: orders, path: /a }
    b: { service: orders, path: "/b/{/usr/id}", depends_on: [usr] }
  answer: { target: bff/dashboard-mobile.schema.json, map: { name: /a/name, tier: /b/tier } }
"#;
    assert_eq!(
        errors_of(unknown),
        [
            "5:49: call `b` depends on `usr`, which is not a call of this route [aggregate.calls.b.depends_on]"
        ]
    );
    let sources = r#"route: { kind: aggregate, method: GET, path: "/d/{id}", format: json, query: [page] }
aggregate:
  calls:
    a: { service: orders, path: "/a/{$path.nope}", query: { p: "{$query.pg}" } }
    b: { service: orders, path: "/b/{/a/id}" }
    c: { service: nowhere, path: /c }
  answer: { target: bff/dashboard-mobile.schema.json, map: { name: /a/name, tier: /zz/tier } }
"#;
    assert_eq!(
        errors_of(sources),
        [
            "6:10: call `c`: upstream service `nowhere` is not defined in gateway.toml [aggregate.calls.c.service]"
        ]
    );
    let sources = sources.replace("nowhere", "orders");
    assert_eq!(
        errors_of(&sources),
        [
            "4:27: call `a`: `$path.nope`: the route path `/d/{id}` has no parameter `{nope}` [aggregate.calls.a.path]",
            "4:61: call `a`: `$query.pg` is not declared by the route [aggregate.calls.a.query.p]",
            "5:27: call `b`: source path `/a/id` does not exist in the source schema: no `a` at `/` [aggregate.calls.b.path]",
            "7:77: source path `/zz/tier` does not exist in the source schema: no `zz` at `/` [merged-call-answers.json#]"
        ]
    );
}
