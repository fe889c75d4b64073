//! Partner authentication end to end: JWTs signed here with keys generated here, a JWKS
//! served by a real HTTP server on loopback, API keys, client addresses through trusted
//! proxies, certificate names from certificates generated here, and the layer in front of a
//! real axum server. Every refusal is checked for its exact status, challenge and body.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use axum::body::Body;
use axum::extract::ConnectInfo;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use tower::{Layer, ServiceExt};

use schemagate::codec::Format;
use schemagate::edge::auth::config::{AuthConfig, RouteAuth};
use schemagate::edge::auth::mtls::{CertNames, cert_names};
use schemagate::edge::auth::{
    AuthLayer, ClientAddr, Compiled, Identity, PeerCertificates, compile,
};

const ISSUER: &str = "schemagate-example";
const SECRET: &str = "an HMAC secret of at least 32 bytes, used by the tests";
const PEER: &str = "203.0.113.5:40000";

// ---------------------------------------------------------------- keys and tokens

struct Rsa {
    enc: EncodingKey,
    public_pem: String,
}

/// One RSA key per test binary: generating it is slow in debug builds.
fn rsa() -> &'static Rsa {
    static KEY: OnceLock<Rsa> = OnceLock::new();
    KEY.get_or_init(|| {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::{EncodePublicKey, LineEnding};
        let private = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
        let der = private.to_pkcs1_der().unwrap();
        Rsa {
            enc: EncodingKey::from_rsa_der(der.as_bytes()),
            public_pem: private
                .to_public_key()
                .to_public_key_pem(LineEnding::LF)
                .unwrap(),
        }
    })
}

/// An EC key pair: the signing key and its public PEM.
fn ec(alg: &'static rcgen::SignatureAlgorithm) -> (EncodingKey, String) {
    let kp = rcgen::KeyPair::generate_for(alg).unwrap();
    (
        EncodingKey::from_ec_der(&kp.serialize_der()),
        kp.public_key_pem(),
    )
}

/// An Ed25519 signing key (PKCS#8 v1 around a random seed).
fn ed25519() -> EncodingKey {
    let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
    let seed: [u8; 32] = rand::random();
    der.extend_from_slice(&seed);
    EncodingKey::from_ed_der(&der)
}

/// The public JWK of a signing key, with its id and, when given, its algorithm.
fn public_jwk(enc: &EncodingKey, alg: Algorithm, kid: &str, with_alg: bool) -> Value {
    let mut jwk = Jwk::from_encoding_key(enc, alg).unwrap();
    jwk.common.key_id = Some(kid.into());
    if !with_alg {
        jwk.common.key_algorithm = None;
    }
    serde_json::to_value(jwk).unwrap()
}

fn now() -> i64 {
    jsonwebtoken::get_current_timestamp() as i64
}

fn claims() -> Value {
    json!({
        "iss": ISSUER,
        "aud": "partners",
        "sub": "acme",
        "uid": "u-42",
        "exp": now() + 600,
        "nbf": now() - 10,
        "scope": "orders:read orders:write",
        "tenant": "acme",
    })
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn sign(alg: Algorithm, key: &EncodingKey, kid: Option<&str>, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_string);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn hs256(claims: &Value) -> String {
    sign(
        Algorithm::HS256,
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        None,
        claims,
    )
}

fn b64(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(v.to_string())
}

// ---------------------------------------------------------------- policies and calls

/// Compiles `[auth]` (TOML) for one route "orders", key files written beside it.
fn compiled(auth_toml: &str, route_toml: &str, files: &[(&str, &str)]) -> Compiled {
    #[derive(serde::Deserialize)]
    struct File {
        auth: AuthConfig,
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let auth = toml::from_str::<File>(auth_toml).unwrap().auth;
    let route: RouteAuth = toml::from_str(route_toml).unwrap();
    compile(&auth, &[("orders", Some(&route))], dir.path()).unwrap()
}

/// A JWT route accepting HS256 tokens of [`ISSUER`] for audience `partners`.
fn hs_policy(route_toml: &str) -> Compiled {
    compiled(
        &format!(
            r#"
[auth.default]
methods = ["jwt"]
[auth.jwt.example]
issuer = "{ISSUER}"
audiences = ["partners"]
user_id_claim = "uid"
keys = [{{ algorithm = "HS256", secret = "{SECRET}" }}]
"#
        ),
        route_toml,
        &[],
    )
}

fn request() -> http::request::Builder {
    Request::builder()
        .uri("/partners/acme/orders")
        .header("x-correlation-id", "c-1")
        .extension(ConnectInfo::<SocketAddr>(PEER.parse().unwrap()))
}

fn bearer(token: &str) -> Request<Body> {
    request()
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .unwrap()
}

/// What the upstream would see: the identity and the identity headers.
async fn echo(req: Request<Body>) -> Result<Response<Body>, Infallible> {
    let id = req.extensions().get::<Identity>().cloned();
    let header = |n: &str| {
        req.headers()
            .get(n)
            .map(|v| v.to_str().unwrap().to_string())
    };
    let body = json!({
        "consumer": id.as_ref().map(|i| i.consumer.clone()),
        "user_id": id.as_ref().and_then(|i| i.user_id.clone()),
        "method": id.as_ref().map(|i| i.method.as_str()),
        "tenant": id.as_ref().and_then(|i| i.claims.get("tenant").cloned()),
        "x-consumer-id": header("x-consumer-id"),
        "x-user-id": header("x-user-id"),
        "client": req.extensions().get::<ClientAddr>().map(|c| c.0.to_string()),
    });
    Ok(Response::new(Body::from(body.to_string())))
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn www(&self) -> Vec<&str> {
        self.headers
            .get_all("www-authenticate")
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

async fn call(c: &Compiled, req: Request<Body>) -> Answer {
    let svc = AuthLayer::new(c.policy("orders").unwrap().clone(), Format::Json)
        .layer(tower::service_fn(echo));
    let resp = svc.oneshot(req).await.unwrap();
    let (parts, body) = resp.into_parts();
    Answer {
        status: parts.status,
        headers: parts.headers,
        body: String::from_utf8(body.collect().await.unwrap().to_bytes().to_vec()).unwrap(),
    }
}

fn problem(status: u16, detail: &str) -> String {
    let (slug, title) = match status {
        401 => ("unauthorized", "Authentication required"),
        403 => ("forbidden", "Forbidden"),
        503 => ("unavailable", "Service unavailable"),
        _ => unreachable!(),
    };
    format!(
        r#"{{"type":"urn:schemagate:problem:{slug}","title":"{title}","status":{status},"detail":"{detail}","instance":"c-1"}}"#
    )
}

/// Asserts a 401 invalid_token answer with `detail` as reason.
fn assert_invalid_token(a: &Answer, detail: &str) {
    assert_eq!(a.status, 401, "{}", a.body);
    assert_eq!(
        a.www(),
        vec![format!(
            "Bearer realm=\"schemagate\", error=\"invalid_token\", error_description=\"{detail}\""
        )]
    );
    assert_eq!(
        a.headers["content-type"], "application/problem+json",
        "{}",
        a.body
    );
    assert_eq!(a.headers["x-correlation-id"], "c-1");
    assert_eq!(a.body, problem(401, detail));
}

// ---------------------------------------------------------------- JWT accepted

#[tokio::test]
async fn a_good_hs256_token_names_consumer_and_user_upstream() {
    let c = hs_policy("");
    let mut req = bearer(&hs256(&claims()));
    // A partner's own identity headers never reach upstream.
    req.headers_mut()
        .insert("x-consumer-id", "admin".parse().unwrap());
    req.headers_mut()
        .insert("x-user-id", "root".parse().unwrap());
    let a = call(&c, req).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        a.json(),
        json!({"consumer": "acme", "user_id": "u-42", "method": "jwt", "tenant": "acme",
               "x-consumer-id": "acme", "x-user-id": "u-42", "client": "203.0.113.5"})
    );
}

#[tokio::test]
async fn every_supported_algorithm_verifies_with_its_pinned_key() {
    let (es256, es256_pem) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    let (es384, es384_pem) = ec(&rcgen::PKCS_ECDSA_P384_SHA384);
    let ed = ed25519();
    let ed_jwk = public_jwk(&ed, Algorithm::EdDSA, "ed", true).to_string();
    let hs384 = "another HMAC secret, for HS384 tokens only!!";
    let hs512 = "a third HMAC secret, for HS512 tokens only!!!";
    let c = compiled(
        &format!(
            r#"
[auth.default]
methods = ["jwt"]
[auth.jwt.example]
issuer = "{ISSUER}"
audiences = ["partners"]
keys = [
  {{ kid = "hs256", algorithm = "HS256", secret = "{SECRET}" }},
  {{ kid = "hs384", algorithm = "HS384", secret = "{hs384}" }},
  {{ kid = "hs512", algorithm = "HS512", secret_file = "hs512.key" }},
  {{ kid = "rs256", algorithm = "RS256", pem_file = "rsa.pem" }},
  {{ kid = "ps256", algorithm = "PS256", pem_file = "rsa.pem" }},
  {{ kid = "es256", algorithm = "ES256", pem_file = "es256.pem" }},
  {{ kid = "es384", algorithm = "ES384", pem_file = "es384.pem" }},
  {{ kid = "ed", algorithm = "EdDSA", jwk_file = "ed.jwk" }},
]
"#
        ),
        "",
        &[
            ("hs512.key", &format!("{hs512}\n")),
            ("rsa.pem", &rsa().public_pem),
            ("es256.pem", &es256_pem),
            ("es384.pem", &es384_pem),
            ("ed.jwk", &ed_jwk),
        ],
    );
    let cases: Vec<(Algorithm, &str, EncodingKey)> = vec![
        (
            Algorithm::HS256,
            "hs256",
            EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        ),
        (
            Algorithm::HS384,
            "hs384",
            EncodingKey::from_secret(hs384.as_bytes()).unwrap(),
        ),
        (
            Algorithm::HS512,
            "hs512",
            EncodingKey::from_secret(hs512.as_bytes()).unwrap(),
        ),
        (Algorithm::RS256, "rs256", rsa().enc.clone()),
        (Algorithm::PS256, "ps256", rsa().enc.clone()),
        (Algorithm::ES256, "es256", es256),
        (Algorithm::ES384, "es384", es384),
        (Algorithm::EdDSA, "ed", ed),
    ];
    for (alg, kid, key) in cases {
        let a = call(&c, bearer(&sign(alg, &key, Some(kid), &claims()))).await;
        assert_eq!(a.status, 200, "{alg:?}: {}", a.body);
        assert_eq!(a.json()["consumer"], "acme", "{alg:?}");
    }
    // The RSA key pinned to PS256 does not verify an RS256 token under its id.
    let a = call(
        &c,
        bearer(&sign(
            Algorithm::RS256,
            &rsa().enc,
            Some("ps256"),
            &claims(),
        )),
    )
    .await;
    assert_invalid_token(&a, "the token's algorithm is not accepted");
}

#[tokio::test]
async fn leeway_admits_a_token_just_expired() {
    let c = hs_policy("");
    let a = call(&c, bearer(&hs256(&with(claims(), "exp", json!(now() - 5))))).await;
    assert_eq!(a.status, 200, "{}", a.body);
}

// ---------------------------------------------------------------- JWT refused, one test each

#[tokio::test]
async fn expired() {
    let a = call(
        &hs_policy(""),
        bearer(&hs256(&with(claims(), "exp", json!(now() - 120)))),
    )
    .await;
    assert_invalid_token(&a, "the token has expired");
}

#[tokio::test]
async fn not_yet_valid() {
    let a = call(
        &hs_policy(""),
        bearer(&hs256(&with(claims(), "nbf", json!(now() + 120)))),
    )
    .await;
    assert_invalid_token(&a, "the token is not valid yet");
}

#[tokio::test]
async fn wrong_issuer() {
    let a = call(
        &hs_policy(""),
        bearer(&hs256(&with(claims(), "iss", json!("someone-else")))),
    )
    .await;
    assert_invalid_token(&a, "the token's issuer is not accepted");
}

#[tokio::test]
async fn wrong_audience() {
    let a = call(
        &hs_policy(""),
        bearer(&hs256(&with(claims(), "aud", json!(["billing", "hr"])))),
    )
    .await;
    assert_invalid_token(&a, "the token's audience is not accepted");
}

#[tokio::test]
async fn missing_audience() {
    let mut cl = claims();
    cl.as_object_mut().unwrap().remove("aud");
    let a = call(&hs_policy(""), bearer(&hs256(&cl))).await;
    assert_invalid_token(&a, "the token lacks the aud claim");
}

#[tokio::test]
async fn bad_signature() {
    let other = EncodingKey::from_secret(b"a different secret of 32 bytes or more.....").unwrap();
    let token = sign(Algorithm::HS256, &other, None, &claims());
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&token)).await,
        "the token's signature is invalid",
    );
    // A payload altered after signing.
    let good = hs256(&claims());
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged = b64(&with(claims(), "sub", json!("globex")));
    parts[1] = &forged;
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&parts.join("."))).await,
        "the token's signature is invalid",
    );
}

#[tokio::test]
async fn alg_none() {
    let token = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims())
    );
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&token)).await,
        "unsigned tokens are not accepted",
    );
    let token = format!("{}.{}.", b64(&json!({"alg": "NONE"})), b64(&claims()));
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&token)).await,
        "unsigned tokens are not accepted",
    );
}

#[tokio::test]
async fn hs256_signed_with_the_rsa_public_key() {
    let c = compiled(
        &format!(
            r#"
[auth.default]
methods = ["jwt"]
[auth.jwt.example]
issuer = "{ISSUER}"
audiences = ["partners"]
keys = [{{ algorithm = "RS256", pem_file = "rsa.pem" }}]
"#
        ),
        "",
        &[("rsa.pem", &rsa().public_pem)],
    );
    let confused = EncodingKey::from_secret(rsa().public_pem.as_bytes()).unwrap();
    let token = sign(Algorithm::HS256, &confused, None, &claims());
    assert_invalid_token(
        &call(&c, bearer(&token)).await,
        "the token's algorithm is not accepted",
    );
    // The same key does verify a real RS256 token.
    let a = call(
        &c,
        bearer(&sign(Algorithm::RS256, &rsa().enc, None, &claims())),
    )
    .await;
    assert_eq!(a.status, 200, "{}", a.body);
}

#[tokio::test]
async fn unknown_kid() {
    let c = compiled(
        &format!(
            r#"
[auth.default]
methods = ["jwt"]
[auth.jwt.example]
issuer = "{ISSUER}"
audiences = ["partners"]
keys = [{{ kid = "2026-01", algorithm = "HS256", secret = "{SECRET}" }}]
"#
        ),
        "",
        &[],
    );
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    let token = sign(Algorithm::HS256, &key, Some("2026-02"), &claims());
    assert_invalid_token(
        &call(&c, bearer(&token)).await,
        "the token's key id is unknown",
    );
    let token = sign(Algorithm::HS256, &key, Some("2026-01"), &claims());
    assert_eq!(call(&c, bearer(&token)).await.status, 200);
}

#[tokio::test]
async fn jku_pointing_elsewhere() {
    let served = Arc::new(AtomicUsize::new(0));
    let (addr, _) = jwks_server(json!({"keys": []}), served.clone()).await;
    let key = EncodingKey::from_secret(SECRET.as_bytes()).unwrap();
    for (name, mutate) in [
        (
            "jku",
            Box::new(|h: &mut Header, url: String| h.jku = Some(url))
                as Box<dyn Fn(&mut Header, String)>,
        ),
        (
            "x5u",
            Box::new(|h: &mut Header, url: String| h.x5u = Some(url)),
        ),
    ] {
        let mut header = Header::new(Algorithm::HS256);
        mutate(&mut header, format!("http://{addr}/jwks"));
        let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
        assert_invalid_token(
            &call(&hs_policy(""), bearer(&token)).await,
            &format!("tokens with a {name} header are not accepted"),
        );
    }
    // An embedded key is refused too, even one that would verify the token.
    let mut header = Header::new(Algorithm::HS256);
    header.jwk = Some(Jwk::from_encoding_key(&key, Algorithm::HS256).unwrap());
    let token = jsonwebtoken::encode(&header, &claims(), &key).unwrap();
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&token)).await,
        "tokens with a jwk header are not accepted",
    );
    assert_eq!(served.load(Ordering::SeqCst), 0, "the jku URL was fetched");
}

#[tokio::test]
async fn a_string_exp() {
    let token = hs256(&with(claims(), "exp", json!((now() + 600).to_string())));
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&token)).await,
        "the token's exp claim is malformed",
    );
    let token = hs256(&with(claims(), "nbf", json!("0")));
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&token)).await,
        "the token's nbf claim is malformed",
    );
}

#[tokio::test]
async fn a_token_without_exp() {
    let mut cl = claims();
    cl.as_object_mut().unwrap().remove("exp");
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&hs256(&cl))).await,
        "the token lacks the exp claim",
    );
}

#[tokio::test]
async fn malformed_tokens() {
    let huge = "a".repeat(20_000);
    for token in ["abc", "a.b", "a.b.c.d", "!!.??.**", huge.as_str()] {
        assert_invalid_token(
            &call(&hs_policy(""), bearer(token)).await,
            "the bearer token is malformed",
        );
    }
    let a = call(&hs_policy(""), bearer("")).await;
    assert_eq!(a.status, 401);
}

#[tokio::test]
async fn a_consumer_claim_that_cannot_be_a_header() {
    for bad in [
        json!("acme\r\nx-admin: 1"),
        json!("é"),
        json!("a".repeat(257)),
        json!(true),
    ] {
        let a = call(
            &hs_policy(""),
            bearer(&hs256(&with(claims(), "sub", bad.clone()))),
        )
        .await;
        assert_eq!(
            a.body,
            problem(401, "the token's sub claim is malformed"),
            "{bad}"
        );
        assert_invalid_token(&a, "the token's sub claim is malformed");
    }
    // A `sub` that is an object already fails the verifier's reading of the claims.
    let a = call(
        &hs_policy(""),
        bearer(&hs256(&with(claims(), "sub", json!({"id": 1})))),
    )
    .await;
    assert_invalid_token(&a, "the bearer token is malformed");
    // A numeric subject is its decimal text.
    let a = call(
        &hs_policy(""),
        bearer(&hs256(&with(claims(), "sub", json!(1042)))),
    )
    .await;
    assert_eq!(a.json()["x-consumer-id"], "1042");
}

#[tokio::test]
async fn a_consumer_claim_that_is_missing() {
    let mut cl = claims();
    cl.as_object_mut().unwrap().remove("sub");
    assert_invalid_token(
        &call(&hs_policy(""), bearer(&hs256(&cl))).await,
        "the token lacks the sub claim",
    );
}

// ---------------------------------------------------------------- route requirements

#[tokio::test]
async fn missing_scope_is_403_insufficient_scope() {
    let c = hs_policy(r#"required_scopes = ["orders:read", "orders:cancel"]"#);
    let a = call(&c, bearer(&hs256(&claims()))).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.www(),
        vec![
            "Bearer realm=\"schemagate\", error=\"insufficient_scope\", error_description=\"the token lacks the scope orders:cancel\", scope=\"orders:cancel\""
        ]
    );
    assert_eq!(
        a.body,
        problem(403, "the token lacks the scope orders:cancel")
    );
    // Scopes as an array are read too.
    let cl = with(claims(), "scope", json!(["orders:read", "orders:cancel"]));
    assert_eq!(call(&c, bearer(&hs256(&cl))).await.status, 200);
}

#[tokio::test]
async fn required_claim_values() {
    let c = hs_policy(r#"required_claims = { tenant = ["globex", "initech"], tier = [2] }"#);
    let a = call(&c, bearer(&hs256(&claims()))).await;
    assert_eq!(a.status, 403);
    assert!(a.www().is_empty());
    assert_eq!(
        a.body,
        problem(403, "the token's tenant claim does not allow this route")
    );
    let cl = with(
        with(claims(), "tenant", json!(["x", "initech"])),
        "tier",
        json!(2),
    );
    assert_eq!(call(&c, bearer(&hs256(&cl))).await.status, 200);
}

#[tokio::test]
async fn consumer_not_allowed() {
    let c = hs_policy(r#"allowed_consumers = ["globex"]"#);
    let a = call(&c, bearer(&hs256(&claims()))).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        problem(403, "the consumer is not allowed on this route")
    );
}

#[tokio::test]
async fn no_credentials_is_challenged_with_every_accepted_scheme() {
    let c = compiled(
        &format!(
            r#"
[auth]
realm = "partners"
[auth.default]
methods = ["jwt", "api_key"]
[auth.jwt.example]
issuer = "{ISSUER}"
audiences = ["partners"]
keys = [{{ algorithm = "HS256", secret = "{SECRET}" }}]
[auth.api_key]
header = "X-Partner-Key"
keys = []
"#
        ),
        "",
        &[],
    );
    // A Basic header is no credential this route knows.
    let req = request()
        .header("authorization", "Basic YTpi")
        .body(Body::empty())
        .unwrap();
    let a = call(&c, req).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www(),
        vec![
            "Bearer realm=\"partners\"",
            "ApiKey realm=\"partners\", header=\"X-Partner-Key\""
        ]
    );
    assert_eq!(a.body, problem(401, "no credentials"));
}

#[tokio::test]
async fn an_xml_partner_gets_problem_xml() {
    let c = hs_policy("");
    let svc = AuthLayer::new(c.policy("orders").unwrap().clone(), Format::Xml)
        .layer(tower::service_fn(echo));
    let resp = svc
        .oneshot(bearer(&hs256(&with(claims(), "exp", json!(now() - 120)))))
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["content-type"], "application/problem+xml");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<problem xmlns=\"urn:ietf:rfc:7807\"><type>urn:schemagate:problem:unauthorized</type><title>Authentication required</title><status>401</status><detail>the token has expired</detail><instance>c-1</instance></problem>\n"
    );
}

// ---------------------------------------------------------------- API keys

fn api_key_policy(route: &str) -> Compiled {
    let hash = |k: &str| hex::encode(<sha2::Sha256 as sha2::Digest>::digest(k.as_bytes()));
    compiled(
        &format!(
            r#"
[auth.default]
methods = ["api_key"]
[auth.api_key]
keys = [
  {{ consumer = "acme", sha256 = "{}" }},
  {{ consumer = "globex", sha256 = "{}" }},
]
[auth.consumers.globex]
ip_allow = ["198.51.100.0/24"]
"#,
            hash("acme-key-0001"),
            hash("globex-key-0002")
        ),
        route,
        &[],
    )
}

fn with_key(key: &str) -> Request<Body> {
    request()
        .header("x-api-key", key)
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn api_key_good_bad_missing() {
    let c = api_key_policy("");
    let a = call(&c, with_key("acme-key-0001")).await;
    assert_eq!(a.status, 200);
    assert_eq!(
        a.json(),
        json!({"consumer": "acme", "user_id": null, "method": "api_key", "tenant": null,
               "x-consumer-id": "acme", "x-user-id": null, "client": "203.0.113.5"})
    );

    let a = call(&c, with_key("acme-key-0002")).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www(),
        vec!["ApiKey realm=\"schemagate\", header=\"X-Api-Key\", error=\"invalid_key\""]
    );
    assert_eq!(a.body, problem(401, "the API key is not valid"));
    assert!(!a.body.contains("acme-key"));

    let a = call(&c, request().body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, 401);
    assert_eq!(
        a.www(),
        vec!["ApiKey realm=\"schemagate\", header=\"X-Api-Key\""]
    );
    assert_eq!(a.body, problem(401, "no credentials"));
}

#[tokio::test]
async fn a_consumer_ip_list_applies_to_its_key() {
    let c = api_key_policy("");
    // globex may only call from 198.51.100.0/24; the peer is 203.0.113.5.
    let a = call(&c, with_key("globex-key-0002")).await;
    assert_eq!(a.status, 403);
    assert!(a.www().is_empty());
    assert_eq!(a.body, problem(403, "the client address is not allowed"));
}

// ---------------------------------------------------------------- client address

#[tokio::test]
async fn x_forwarded_for_counts_only_through_trusted_proxies() {
    let open = |trusted: &str| {
        compiled(
            &format!("[auth]\ntrusted_proxies = [{trusted}]\n"),
            r#"ip_allow = ["198.51.100.0/24"]"#,
            &[],
        )
    };
    let req = || {
        Request::builder()
            .header("x-correlation-id", "c-1")
            .header("x-forwarded-for", "198.51.100.7")
            .extension(ConnectInfo::<SocketAddr>("10.0.0.9:5000".parse().unwrap()))
            .body(Body::empty())
            .unwrap()
    };
    // Through a trusted proxy, the forwarded address is the client's.
    let a = call(&open(r#""10.0.0.0/8""#), req()).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["client"], "198.51.100.7");
    // Without trusted proxies the header is the partner's own word, and ignored.
    let a = call(&open(""), req()).await;
    assert_eq!(a.status, 403);
    assert_eq!(a.body, problem(403, "the client address is not allowed"));
    // No known address at all fails closed.
    let bare = Request::builder()
        .header("x-correlation-id", "c-1")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&open(""), bare).await.status, 403);
}

// ---------------------------------------------------------------- mTLS

struct Certs {
    leaf: Vec<u8>,
    ca: Vec<u8>,
}

fn client_cert(cn: &str, sans: Vec<rcgen::SanType>) -> Certs {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(rcgen::DnType::CommonName, "partners test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, cn);
    params.subject_alt_names = sans;
    let leaf = params.signed_by(&key, &issuer).unwrap();
    Certs {
        leaf: leaf.der().to_vec(),
        ca: ca_cert.der().to_vec(),
    }
}

fn sans() -> Vec<rcgen::SanType> {
    vec![
        rcgen::SanType::DnsName("client.acme.example".try_into().unwrap()),
        rcgen::SanType::URI("spiffe://acme.example/orders".try_into().unwrap()),
        rcgen::SanType::Rfc822Name("ops@acme.example".try_into().unwrap()),
    ]
}

#[test]
fn certificate_names_are_read_from_cn_and_san() {
    let certs = client_cert("acme-client", sans());
    assert_eq!(
        cert_names(&certs.leaf).unwrap(),
        CertNames {
            subject_cn: vec!["acme-client".into()],
            dns: vec!["client.acme.example".into()],
            uri: vec!["spiffe://acme.example/orders".into()],
            email: vec!["ops@acme.example".into()],
        }
    );
    assert!(cert_names(b"not a certificate").is_err());
    let mut trailing = certs.leaf.clone();
    trailing.push(0);
    assert!(cert_names(&trailing).is_err());
}

fn mtls_policy() -> Compiled {
    compiled(
        r#"
[auth.default]
methods = ["mtls"]
[auth.mtls]
consumers = [
  { consumer = "acme", san_uri = "spiffe://acme.example/orders" },
  { consumer = "globex", subject_cn = "globex-client" },
  { consumer = "initech", san_dns = "GW.Initech.Example" },
]
"#,
        r#"allowed_consumers = ["acme", "initech"]"#,
        &[],
    )
}

fn with_chain(chain: Vec<Vec<u8>>) -> Request<Body> {
    request()
        .extension(PeerCertificates(chain.into()))
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn mtls_names_the_consumer_from_the_verified_chain() {
    let c = mtls_policy();
    let certs = client_cert("acme-client", sans());
    let a = call(&c, with_chain(vec![certs.leaf, certs.ca])).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["consumer"], "acme");
    assert_eq!(a.json()["method"], "mtls");

    let dns = vec![rcgen::SanType::DnsName(
        "gw.initech.example".try_into().unwrap(),
    )];
    let a = call(&c, with_chain(vec![client_cert("x", dns).leaf])).await;
    assert_eq!(a.json()["consumer"], "initech");

    // Known, but not allowed on this route.
    let a = call(
        &c,
        with_chain(vec![client_cert("globex-client", vec![]).leaf]),
    )
    .await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        problem(403, "the consumer is not allowed on this route")
    );

    // A verified certificate nobody configured.
    let a = call(&c, with_chain(vec![client_cert("stranger", vec![]).leaf])).await;
    assert_eq!(a.status, 403);
    assert_eq!(
        a.body,
        problem(403, "the client certificate names no known consumer")
    );

    // No certificate at all: no 401 challenge can ask for one, so 403.
    let a = call(&c, request().body(Body::empty()).unwrap()).await;
    assert_eq!(a.status, 403);
    assert!(a.www().is_empty());
    assert_eq!(a.body, problem(403, "a client certificate is required"));
}

// ---------------------------------------------------------------- JWKS

type Served = (Mutex<Value>, Arc<AtomicUsize>);

/// A JWKS endpoint on loopback serving whatever set the test puts in it, counting fetches.
async fn jwks_server(set: Value, count: Arc<AtomicUsize>) -> (SocketAddr, Arc<Served>) {
    let state = Arc::new((Mutex::new(set), count));
    let app = axum::Router::new()
        .route(
            "/jwks",
            axum::routing::get(
                |axum::extract::State(s): axum::extract::State<Arc<Served>>| async move {
                    s.1.fetch_add(1, Ordering::SeqCst);
                    let body = s.0.lock().unwrap().clone();
                    axum::Json(body)
                },
            ),
        )
        .with_state(state.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (addr, state)
}

fn jwks_policy(addr: SocketAddr, min_refresh_secs: u64) -> Compiled {
    compiled(
        &format!(
            r#"
[auth.default]
methods = ["jwt"]
[auth.jwt.idp]
issuer = "{ISSUER}"
audiences = ["partners"]
jwks = {{ url = "http://{addr}/jwks", algorithms = ["RS256", "ES256"], min_refresh_secs = {min_refresh_secs} }}
"#
        ),
        "",
        &[],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_rotation_is_picked_up_by_one_refresh() {
    let (es, _) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    // Key "a" carries no alg: it gets the pinned RS256.
    let set_a = json!({"keys": [public_jwk(&rsa().enc, Algorithm::RS256, "a", false)]});
    let set_b = json!({"keys": [public_jwk(&es, Algorithm::ES256, "b", true)]});
    let count = Arc::new(AtomicUsize::new(0));
    let (addr, served) = jwks_server(set_a, count.clone()).await;
    let c = jwks_policy(addr, 0);
    let jwks = &c.jwks[0];
    assert_eq!(jwks.refresh().await.unwrap(), 1);

    let token_a = sign(Algorithm::RS256, &rsa().enc, Some("a"), &claims());
    assert_eq!(call(&c, bearer(&token_a)).await.status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // The provider rotates to "b": the first token naming it triggers one fetch.
    *served.0.lock().unwrap() = set_b;
    let token_b = sign(Algorithm::ES256, &es, Some("b"), &claims());
    let a = call(&c, bearer(&token_b)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(count.load(Ordering::SeqCst), 2);
    assert_eq!(call(&c, bearer(&token_b)).await.status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 2);

    // "a" is gone: refused as unknown after its own refresh found nothing.
    assert_invalid_token(
        &call(&c, bearer(&token_a)).await,
        "the token's key id is unknown",
    );
    assert_eq!(count.load(Ordering::SeqCst), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_unknown_kids_fetches_once() {
    let set = json!({"keys": [public_jwk(&rsa().enc, Algorithm::RS256, "a", true)]});
    let count = Arc::new(AtomicUsize::new(0));
    let (addr, _) = jwks_server(set, count.clone()).await;
    let c = Arc::new(jwks_policy(addr, 3600));

    // Nothing fetched yet: fifty concurrent tokens share the one fetch and all pass.
    let good = sign(Algorithm::RS256, &rsa().enc, Some("a"), &claims());
    let unknown = sign(Algorithm::RS256, &rsa().enc, Some("zzz"), &claims());
    let run = |token: String| {
        let c = c.clone();
        tokio::spawn(async move { call(&c, bearer(&token)).await.status })
    };
    let tasks: Vec<_> = (0..50).map(|_| run(good.clone())).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);

    // Fifty tokens with a key id nobody has: refused without fetching again.
    let tasks: Vec<_> = (0..50).map(|_| run(unknown.clone())).collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 401);
    }
    assert_eq!(count.load(Ordering::SeqCst), 1);
    assert_eq!(c.jwks[0].fetch_count(), 1);
}

#[tokio::test]
async fn keys_of_other_algorithms_or_uses_are_dropped_from_a_jwks() {
    let (es384, _) = ec(&rcgen::PKCS_ECDSA_P384_SHA384);
    let mut enc_key = public_jwk(&rsa().enc, Algorithm::RS256, "enc", true);
    enc_key["use"] = json!("enc");
    let set = json!({"keys": [
        public_jwk(&rsa().enc, Algorithm::RS384, "rs384", true),
        public_jwk(&es384, Algorithm::ES384, "es384", false),
        enc_key,
        {"kty": "weird", "kid": "w"},
        public_jwk(&rsa().enc, Algorithm::RS256, "ok", true),
    ]});
    let (addr, _) = jwks_server(set, Arc::new(AtomicUsize::new(0))).await;
    let c = jwks_policy(addr, 3600);
    assert_eq!(c.jwks[0].refresh().await.unwrap(), 1);
    let kids: Vec<_> = c.jwks[0].keys().iter().map(|k| k.kid.clone()).collect();
    assert_eq!(kids, vec![Some("ok".to_string())]);
}

#[tokio::test]
async fn an_unreachable_jwks_is_503_not_the_partners_fault() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let c = jwks_policy(port, 3600);
    let token = sign(Algorithm::RS256, &rsa().enc, Some("a"), &claims());
    let a = call(&c, bearer(&token)).await;
    assert_eq!(a.status, 503);
    assert_eq!(a.headers["retry-after"], "30");
    assert!(a.www().is_empty());
    assert_eq!(a.body, problem(503, "verification keys are unavailable"));
}

// ---------------------------------------------------------------- end to end

#[tokio::test]
async fn end_to_end_through_a_real_server() {
    let c = hs_policy(r#"required_scopes = ["orders:write"]"#);
    let layer = AuthLayer::new(c.policy("orders").unwrap().clone(), Format::Json);
    let app = axum::Router::new()
        .route(
            "/partners/acme/orders",
            axum::routing::post(|req: Request<Body>| async move { echo(req).await.unwrap() }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
        .unwrap()
    });
    let client = reqwest::Client::new();
    let url = format!("http://{addr}/partners/acme/orders");

    let resp = client
        .post(&url)
        .bearer_auth(hs256(&claims()))
        .header("x-consumer-id", "spoofed")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(
        serde_json::from_str::<Value>(&resp.text().await.unwrap()).unwrap(),
        json!({"consumer": "acme", "user_id": "u-42", "method": "jwt", "tenant": "acme",
               "x-consumer-id": "acme", "x-user-id": "u-42", "client": "127.0.0.1"})
    );

    let resp = client
        .post(&url)
        .header("x-correlation-id", "c-1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"schemagate\""
    );
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    assert_eq!(resp.headers()["x-correlation-id"], "c-1");
    assert_eq!(resp.text().await.unwrap(), problem(401, "no credentials"));

    let resp = client
        .post(&url)
        .header("x-correlation-id", "c-1")
        .bearer_auth(hs256(&with(claims(), "scope", json!("orders:read"))))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer realm=\"schemagate\", error=\"insufficient_scope\", error_description=\"the token lacks the scope orders:write\", scope=\"orders:write\""
    );
    assert_eq!(
        resp.text().await.unwrap(),
        problem(403, "the token lacks the scope orders:write")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_refresh_loads_keys_before_any_token() {
    let set = json!({"keys": [public_jwk(&rsa().enc, Algorithm::RS256, "a", true)]});
    let count = Arc::new(AtomicUsize::new(0));
    let (addr, _) = jwks_server(set, count.clone()).await;
    let c = jwks_policy(addr, 3600);
    let tasks = c.start();
    assert_eq!(tasks.len(), 1);
    // Wait for the first fetch, however long the loaded machine takes.
    while !c.jwks[0].loaded() {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    assert_eq!(c.jwks[0].keys().len(), 1);
    // A token without kid finds the key without another fetch.
    let token = sign(Algorithm::RS256, &rsa().enc, None, &claims());
    assert_eq!(call(&c, bearer(&token)).await.status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_token_without_kid_waits_for_a_jwks_never_fetched() {
    let set = json!({"keys": [public_jwk(&rsa().enc, Algorithm::RS256, "a", true)]});
    let count = Arc::new(AtomicUsize::new(0));
    let (addr, _) = jwks_server(set, count.clone()).await;
    let c = jwks_policy(addr, 3600);
    let token = sign(Algorithm::RS256, &rsa().enc, None, &claims());
    assert_eq!(call(&c, bearer(&token)).await.status, 200);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    // An ES256 token finds no ES256 key in the loaded set: its algorithm, not the keys, is
    // at fault, and nothing is fetched again.
    let (es, _) = ec(&rcgen::PKCS_ECDSA_P256_SHA256);
    let a = call(&c, bearer(&sign(Algorithm::ES256, &es, None, &claims()))).await;
    assert_invalid_token(&a, "the token's algorithm is not accepted");
    assert_eq!(count.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_oversized_or_broken_jwks_keeps_the_keys_held() {
    let good = json!({"keys": [public_jwk(&rsa().enc, Algorithm::RS256, "a", true)]});
    let (addr, served) = jwks_server(good, Arc::new(AtomicUsize::new(0))).await;
    let c = jwks_policy(addr, 0);
    let jwks = &c.jwks[0];
    assert_eq!(jwks.refresh().await.unwrap(), 1);

    let padding: Vec<Value> = (0..3000)
        .map(|i| json!({"kty": "oct", "kid": format!("{i:0>100}")}))
        .collect();
    *served.0.lock().unwrap() = json!({ "keys": padding });
    let e = jwks.refresh().await.unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("http://{addr}/jwks answered more than 262144 bytes")
    );
    *served.0.lock().unwrap() = json!({"no": "keys"});
    let e = jwks.refresh().await.unwrap_err();
    assert!(
        e.to_string().starts_with(&format!(
            "http://{addr}/jwks answered no JWKS: missing field `keys`"
        )),
        "{e}"
    );
    // The key fetched before still verifies.
    assert_eq!(jwks.keys().len(), 1);
    let token = sign(Algorithm::RS256, &rsa().enc, Some("a"), &claims());
    assert_eq!(call(&c, bearer(&token)).await.status, 200);
}
