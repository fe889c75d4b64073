//! The partner stack's security phases end to end, on a real gateway over loopback with a
//! recording upstream: authentication wired per route from `gateway.toml` (`[auth]`,
//! `[routes."P/R".auth]`) with real signed JWTs, `$claims` in mappings, identity headers and
//! `X-Forwarded-For` as the upstream receives them, CORS as a browser sends it, and the
//! shipped `examples/edge/gateway.toml` started as the binary.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use common::{Gateway, Reply, Upstream, fixture, repo, send};
use http::{Method, StatusCode};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

const SECRET: &str = "an HMAC secret of at least 32 bytes, used by the tests";
const ISSUER: &str = "schemagate-example";
const ORDERS: &str = "/partners/acme/orders";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": "partners", "sub": sub, "exp": now() + 600, "tenant": "globex",
           "scope": "orders:write"})
}

fn token(claims: &Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

const AUTH: &str = r#"
[auth.jwt.example]
issuer = "schemagate-example"
audiences = ["partners"]
keys = [{ algorithm = "HS256", secret = "an HMAC secret of at least 32 bytes, used by the tests" }]

[routes."acme/orders".auth]
methods = ["jwt"]
"#;

async fn post_order(gw: &Gateway, headers: &[(&str, &str)]) -> Reply {
    let mut all = vec![("content-type", "application/xml")];
    all.extend_from_slice(headers);
    send(
        Method::POST,
        &gw.url(ORDERS),
        &all,
        fixture("acme/orders/valid/input.xml"),
    )
    .await
}

fn problem_xml(status: u16, slug: &str, title: &str, detail: &str, instance: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:{slug}</type><title>{title}</title><status>{status}</status><detail>{detail}</detail><instance>{instance}</instance></problem>\n"
    )
}

#[tokio::test]
async fn jwt_route_names_the_consumer_upstream_and_refuses_without_a_token() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), AUTH, None).await;
    let bearer = format!("Bearer {}", token(&claims("acme-shop")));

    // A forged identity header is dropped; the verified consumer goes upstream.
    let ok = post_order(
        &gw,
        &[
            ("authorization", &bearer),
            ("x-consumer-id", "someone-else"),
        ],
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(
        ok.body,
        Bytes::from(
            fixture("acme/orders/valid/expected-response.xml")
                .trim_ascii_end()
                .to_vec()
        )
    );
    let seen = up.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        seen[0]
            .headers
            .get_all("x-consumer-id")
            .iter()
            .collect::<Vec<_>>(),
        ["acme-shop"]
    );
    assert!(seen[0].headers.get("x-user-id").is_none());

    // No token: 401 with the bare challenge, as problem+xml (acme is an XML partner).
    let no = post_order(&gw, &[("x-correlation-id", "corr-401")]).await;
    assert_eq!(no.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no.header("www-authenticate"), "Bearer realm=\"schemagate\"");
    assert_eq!(no.header("content-type"), "application/problem+xml");
    assert_eq!(
        no.text(),
        problem_xml(
            401,
            "unauthorized",
            "Authentication required",
            "no credentials",
            "corr-401"
        )
    );

    // An expired token: its own challenge and reason.
    let mut old = claims("acme-shop");
    old["exp"] = json!(now() - 120);
    let expired = post_order(
        &gw,
        &[
            ("authorization", &format!("Bearer {}", token(&old))),
            ("x-correlation-id", "corr-exp"),
            ("accept", "application/problem+json"),
        ],
    )
    .await;
    assert_eq!(expired.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        expired.header("www-authenticate"),
        "Bearer realm=\"schemagate\", error=\"invalid_token\", error_description=\"the token has expired\""
    );
    assert_eq!(
        expired.json(),
        json!({"type": "urn:schemagate:problem:unauthorized", "title": "Authentication required",
               "status": 401, "detail": "the token has expired", "instance": "corr-exp"})
    );
    // Neither refusal reached the upstream.
    assert_eq!(up.requests().len(), 1);

    // The same valid token again (answered from the verified-token cache) still passes.
    let again = post_order(&gw, &[("authorization", &bearer)]).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(up.requests()[1].headers["x-consumer-id"], "acme-shop");

    let metrics = common::get(&gw.admin_url("/metrics")).await.text();
    for line in [
        "# HELP schemagate_auth_failures_total Requests refused by authentication, by route and reason (a fixed set: expired, bad_signature, missing_credentials, ip_not_allowed, ...).",
        "schemagate_auth_failures_total{route=\"acme/orders\",reason=\"missing_credentials\"} 1",
        "schemagate_auth_failures_total{route=\"acme/orders\",reason=\"expired\"} 1",
    ] {
        assert!(metrics.lines().any(|l| l == line), "{line}\n{metrics}");
    }
}

#[tokio::test]
async fn route_overrides_require_scopes_and_open_routes_drop_identity_headers() {
    let up = Upstream::acme().await;
    let extra = format!("{AUTH}required_scopes = [\"orders:admin\"]\n");
    let gw = Gateway::start_with(&up.url(), &extra, None).await;
    let bearer = format!("Bearer {}", token(&claims("acme-shop")));
    let r = post_order(
        &gw,
        &[("authorization", &bearer), ("x-correlation-id", "corr-403")],
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(
        r.header("www-authenticate"),
        "Bearer realm=\"schemagate\", error=\"insufficient_scope\", error_description=\"the token lacks the scope orders:admin\", scope=\"orders:admin\""
    );
    assert_eq!(
        r.text(),
        problem_xml(
            403,
            "forbidden",
            "Forbidden",
            "the token lacks the scope orders:admin",
            "corr-403"
        )
    );
    assert!(up.requests().is_empty());
}

#[tokio::test]
async fn forwarded_for_is_believed_only_through_trusted_proxies() {
    let up = Upstream::acme().await;
    // No trusted proxy: the partner's own header is not passed on.
    let gw = Gateway::start_with(&up.url(), "", None).await;
    let r = post_order(&gw, &[("x-forwarded-for", "198.51.100.1, 203.0.113.9")]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(up.requests()[0].headers["x-forwarded-for"], "127.0.0.1");
    drop(gw);

    // The loopback peer is a trusted proxy: the chain is kept from the client's hop on.
    let up = Upstream::acme().await;
    let extra = "[auth]\ntrusted_proxies = [\"127.0.0.1\", \"10.0.0.0/8\"]\n";
    let gw = Gateway::start_with(&up.url(), extra, None).await;
    let r = post_order(
        &gw,
        &[("x-forwarded-for", "198.51.100.1, 203.0.113.9, 10.1.2.3")],
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    assert_eq!(
        up.requests()[0].headers["x-forwarded-for"],
        "203.0.113.9, 10.1.2.3, 127.0.0.1"
    );
}

/// The repository's mappings with acme's request map also reading `$claims.tenant`.
fn mappings_reading_claims(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("mappings");
    for partner in ["acme", "globex"] {
        std::fs::create_dir_all(root.join(partner)).unwrap();
        for e in std::fs::read_dir(repo().join("mappings").join(partner)).unwrap() {
            let e = e.unwrap();
            std::fs::copy(e.path(), root.join(partner).join(e.file_name())).unwrap();
        }
    }
    let file = root.join("acme/orders.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    let text = text.replacen(
        "    source: { const: acme }",
        "    source: $claims.tenant",
        1,
    );
    std::fs::write(&file, text).unwrap();
    root
}

#[tokio::test]
async fn mappings_read_verified_claims() {
    let up = Upstream::acme().await;
    let dir = tempfile::tempdir().unwrap();
    let mappings = mappings_reading_claims(dir.path());
    let gw = Gateway::start_with(&up.url(), AUTH, Some(&mappings)).await;
    let bearer = format!("Bearer {}", token(&claims("acme-shop")));
    let r = post_order(&gw, &[("authorization", &bearer)]).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let mut want: Value =
        serde_json::from_slice(&fixture("acme/orders/valid/expected.json")).unwrap();
    // The claim, not the constant the shipped map writes.
    want["source"] = json!("globex");
    let got: Value = serde_json::from_slice(&up.requests()[0].body).unwrap();
    assert_eq!(got, want);
}

#[tokio::test]
async fn check_refuses_claims_on_a_route_without_jwt() {
    let dir = tempfile::tempdir().unwrap();
    let mappings = mappings_reading_claims(dir.path());
    let config = common::write_config(
        dir.path(),
        &repo().join("schemas"),
        &mappings,
        "http://127.0.0.1:9",
        "",
    );
    let out = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let file = mappings.join("acme/orders.yaml");
    let want = format!(
        "{}:40:5: error: `$claims.tenant` reads JWT claims, but route acme/orders accepts no JWT",
        file.display()
    );
    assert!(text.contains(&want), "{text}");
    assert!(
        text.contains("add \"jwt\" to the methods of [routes.\"acme/orders\".auth] (or [auth.default]) in gateway.toml"),
        "{text}"
    );
}

#[tokio::test]
async fn overrides_naming_no_route_and_bad_keys_are_diagnostics() {
    let dir = tempfile::tempdir().unwrap();
    let extra = "[routes.\"acme/nope\".auth]\nmethods = [\"jwt\"]\n\n[routes.\"acme/orders\".auth]\nmethods = [\"api_key\"]\n\n[cors]\nallowed_origins = [\"*\"]\nallow_credentials = true\n";
    let config = common::write_config(
        dir.path(),
        &repo().join("schemas"),
        &repo().join("mappings"),
        "http://127.0.0.1:9",
        extra,
    );
    let out = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(["check", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    let c = config.display();
    for want in [
        format!("{c}:16:9: error: routes.\"acme/nope\": no route is named \"acme/nope\""),
        format!(
            "{c}:20:11: error: routes.\"acme/orders\".auth.methods: api_key needs [auth.api_key]"
        ),
        format!(
            "{c}:23:19: error: cors.allowed_origins: \"*\" cannot be used with allow_credentials = true: list the origins"
        ),
    ] {
        assert!(text.contains(&want), "{want}\n{text}");
    }
}

const CORS: &str = r#"
[cors]
allowed_origins = ["https://app.acme.example"]
allowed_methods = ["POST"]
allowed_headers = ["authorization", "content-type"]
exposed_headers = ["x-correlation-id"]
max_age_secs = 600
"#;

fn cors_headers(r: &Reply) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = r
        .headers
        .iter()
        .filter(|(n, _)| n.as_str().starts_with("access-control-") || n.as_str() == "vary")
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap().to_string()))
        .collect();
    out.sort();
    out
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[tokio::test]
async fn cors_preflight_and_actual_request_as_a_browser_sends_them() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), &format!("{AUTH}{CORS}"), None).await;
    let origin = "https://app.acme.example";
    // The preflight carries no credentials; it is answered before authentication.
    let pre = send(
        Method::OPTIONS,
        &gw.url(ORDERS),
        &[
            ("origin", origin),
            ("access-control-request-method", "POST"),
            (
                "access-control-request-headers",
                "authorization,content-type",
            ),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(pre.status, StatusCode::OK);
    assert_eq!(
        cors_headers(&pre),
        pairs(&[
            ("access-control-allow-headers", "authorization,content-type"),
            ("access-control-allow-methods", "POST"),
            ("access-control-allow-origin", origin),
            ("access-control-max-age", "600"),
            (
                "vary",
                "origin, access-control-request-method, access-control-request-headers"
            ),
        ])
    );
    assert!(pre.body.is_empty());

    let bearer = format!("Bearer {}", token(&claims("acme-shop")));
    let actual = post_order(
        &gw,
        &[
            ("origin", origin),
            ("authorization", &bearer),
            ("x-correlation-id", "corr-cors"),
        ],
    )
    .await;
    assert_eq!(actual.status, StatusCode::OK, "{}", actual.text());
    assert_eq!(
        cors_headers(&actual),
        pairs(&[
            ("access-control-allow-origin", origin),
            ("access-control-expose-headers", "x-correlation-id"),
            (
                "vary",
                "origin, access-control-request-method, access-control-request-headers"
            ),
        ])
    );

    // Another origin gets no CORS header: its preflight is refused like any OPTIONS.
    let evil = "https://app.acme.example.evil.test";
    let pre = send(
        Method::OPTIONS,
        &gw.url(ORDERS),
        &[("origin", evil), ("access-control-request-method", "POST")],
        Bytes::new(),
    )
    .await;
    assert_eq!(pre.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(pre.header("allow"), "POST");
    assert_eq!(cors_headers(&pre), pairs(&[("vary", "origin")]));
    let actual = post_order(&gw, &[("origin", evil), ("authorization", &bearer)]).await;
    assert_eq!(actual.status, StatusCode::OK);
    assert_eq!(cors_headers(&actual), pairs(&[("vary", "origin")]));
}

// ------------------------------------------------------------------ examples/edge/

struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_edge_example_runs_with_a_jwt_on_acme_orders() {
    let up = Upstream::acme().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let child = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(["serve", "--config"])
        .arg(repo().join("examples/edge/gateway.toml"))
        .env("LISTEN", &listen)
        .env("TLS", "off")
        .env("UPSTREAM_URL", up.url())
        .env("JWT_SECRET", SECRET)
        .env("ADMIN_LISTEN", "127.0.0.1:0")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _serve = Serve(child);
    let base = format!("http://{listen}");
    let mut ready = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(&listen).await.is_ok() {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(ready, "the example did not start listening on {listen}");

    let order = fixture("acme/orders/valid/input.xml");
    let bearer = format!("Bearer {}", token(&claims("acme-shop")));
    let ok = send(
        Method::POST,
        &format!("{base}{ORDERS}"),
        &[
            ("content-type", "application/xml"),
            ("authorization", &bearer),
        ],
        order.clone(),
    )
    .await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    assert_eq!(
        ok.body,
        Bytes::from(
            fixture("acme/orders/valid/expected-response.xml")
                .trim_ascii_end()
                .to_vec()
        )
    );
    assert_eq!(up.requests()[0].headers["x-consumer-id"], "acme-shop");

    let no = send(
        Method::POST,
        &format!("{base}{ORDERS}"),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "corr-edge"),
        ],
        order,
    )
    .await;
    assert_eq!(no.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no.header("www-authenticate"), "Bearer realm=\"schemagate\"");
    assert_eq!(
        no.text(),
        problem_xml(
            401,
            "unauthorized",
            "Authentication required",
            "no credentials",
            "corr-edge"
        )
    );
    assert_eq!(up.requests().len(), 1);
}
