//! What authentication adds to a request: the whole of `authenticate` (identity headers
//! stripped and set, client address, credential verified, route requirements checked) for
//! each method, against an open route as the baseline.
//!
//! Run with `cargo bench --bench auth`; figures are in docs/performance.md.

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use http::Request;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::json;

use schemagate::edge::auth::config::{AuthConfig, RouteAuth};
use schemagate::edge::auth::layer::authenticate;
use schemagate::edge::auth::{Compiled, compile};

const SECRET: &str = "an HMAC secret of at least 32 bytes, for the benchmark";

/// Runs a future that never waits: verification with keys in hand completes on first poll.
fn now<F: Future>(f: F) -> F::Output {
    match pin!(f).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("verification waited"),
    }
}

fn compiled(files: &[(&str, String)]) -> Compiled {
    #[derive(serde::Deserialize)]
    struct File {
        auth: AuthConfig,
    }
    let dir = tempfile::tempdir().unwrap();
    for (name, text) in files {
        std::fs::write(dir.path().join(name), text).unwrap();
    }
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(b"acme-key-0001"));
    let toml_text = format!(
        r#"
[auth.jwt.example]
issuer = "schemagate-example"
audiences = ["partners"]
keys = [
  {{ kid = "hs", algorithm = "HS256", secret = "{SECRET}" }},
  {{ kid = "rs", algorithm = "RS256", pem_file = "rsa.pem" }},
  {{ kid = "es", algorithm = "ES256", pem_file = "es.pem" }},
]
[auth.api_key]
keys = [
  {{ consumer = "acme", sha256 = "{hash}" }},
  {{ consumer = "b", sha256 = "{}" }},
  {{ consumer = "c", sha256 = "{}" }},
]
"#,
        "1".repeat(64),
        "2".repeat(64)
    );
    let auth = toml::from_str::<File>(&toml_text).unwrap().auth;
    let route = |m: &str| toml::from_str::<RouteAuth>(&format!("methods = [{m}]")).unwrap();
    let (jwt, key, open) = (route("\"jwt\""), route("\"api_key\""), route(""));
    compile(
        &auth,
        &[
            ("jwt", Some(&jwt)),
            ("api_key", Some(&key)),
            ("open", Some(&open)),
        ],
        dir.path(),
    )
    .unwrap()
}

fn parts(header: Option<(&'static str, String)>) -> http::request::Parts {
    let mut b = Request::builder()
        .uri("/partners/acme/orders")
        .header("x-correlation-id", "c-1")
        .header("content-type", "application/xml")
        .extension(axum::extract::ConnectInfo::<std::net::SocketAddr>(
            "203.0.113.5:40000".parse().unwrap(),
        ));
    if let Some((name, value)) = header {
        b = b.header(name, value);
    }
    b.body(()).unwrap().into_parts().0
}

fn bench(c: &mut Criterion) {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    use rsa::pkcs8::{EncodePublicKey, LineEnding};
    let rsa = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048).unwrap();
    let rsa_pem = rsa
        .to_public_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let rsa_enc = EncodingKey::from_rsa_der(rsa.to_pkcs1_der().unwrap().as_bytes());
    let ec = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let ec_enc = EncodingKey::from_ec_der(&ec.serialize_der());
    let compiled = compiled(&[("rsa.pem", rsa_pem), ("es.pem", ec.public_key_pem())]);

    let exp = jsonwebtoken::get_current_timestamp() + 3600;
    let claims = json!({"iss": "schemagate-example", "aud": "partners", "sub": "acme",
                        "exp": exp, "scope": "orders:read orders:write", "tenant": "acme"});
    let token = |alg: Algorithm, kid: &str, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = Some(kid.into());
        jsonwebtoken::encode(&h, &claims, key).unwrap()
    };
    let hs = token(
        Algorithm::HS256,
        "hs",
        &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    );
    let rs = token(Algorithm::RS256, "rs", &rsa_enc);
    let es = token(Algorithm::ES256, "es", &ec_enc);

    let mut g = c.benchmark_group("auth");
    let mut case = |name: &str, route: &str, header: Option<(&'static str, String)>| {
        let policy = compiled.policy(route).unwrap().clone();
        let mut p = parts(header.clone());
        assert!(now(authenticate(&policy, &mut p)).is_ok(), "{name}");
        g.bench_function(name, |b| {
            b.iter_batched(
                || parts(header.clone()),
                |mut p| now(authenticate(&policy, &mut p)).map(|i| i.is_some()),
                BatchSize::SmallInput,
            )
        });
    };
    case("open_route", "open", None);
    case(
        "api_key",
        "api_key",
        Some(("x-api-key", "acme-key-0001".into())),
    );
    case(
        "jwt_hs256",
        "jwt",
        Some(("authorization", format!("Bearer {hs}"))),
    );
    case(
        "jwt_es256",
        "jwt",
        Some(("authorization", format!("Bearer {es}"))),
    );
    case(
        "jwt_rs256",
        "jwt",
        Some(("authorization", format!("Bearer {rs}"))),
    );
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
