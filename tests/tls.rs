//! The partner listener over TLS, HTTP/2 and mutual TLS, and the admin listener apart:
//! certificates made by rcgen in each test, real clients (reqwest over rustls, the `h2`
//! crate, tokio-rustls), a real gateway and a recording upstream on loopback.

mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use axum::routing::get as route_get;
use common::tls::{Ca, Issued, provider};
use common::*;
use http::StatusCode;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use schemagate::config::listener::{ClientAuth, TlsConfig};
use schemagate::edge::auth::PeerCertificates;
use schemagate::server::{ServerOptions, serve_with};
use schemagate::tls::Terminator;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;

const ACME: &str = "/partners/acme/orders";
const HOST: &str = "gw.test";

/// Writes `issued` as `cert.pem` / `key.pem` in `dir` (replacing them by rename, as
/// deployment tools do) and returns the `[tls]` lines naming them.
fn write_pair(dir: &Path, issued: &Issued) -> String {
    for (name, text) in [("cert.pem", &issued.pem), ("key.pem", &issued.key_pem)] {
        let tmp = dir.join(format!(".{name}.new"));
        std::fs::write(&tmp, text).unwrap();
        std::fs::rename(&tmp, dir.join(name)).unwrap();
    }
    format!(
        "\n[tls]\ncert_file = \"{}\"\nkey_file = \"{}\"\n",
        dir.join("cert.pem").display(),
        dir.join("key.pem").display()
    )
}

/// A gateway over TLS with a certificate for `gw.test` from `ca`; `extra` follows `[tls]`.
async fn tls_gateway(up: &Upstream, ca: &Ca, certs: &Path, extra: &str) -> Gateway {
    let tls = write_pair(certs, &ca.issue_serial(&[HOST], false, Some(1)));
    Gateway::start_with(&up.url(), &format!("{tls}{extra}"), None).await
}

fn reqwest_client(ca: &Ca, gw: &Gateway) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_der(&ca.der()).unwrap())
        .resolve(HOST, gw.addr)
        .timeout(Duration::from_secs(20))
}

fn url(gw: &Gateway, path: &str) -> String {
    format!("https://{HOST}:{}{path}", gw.addr.port())
}

async fn post_acme(client: &reqwest::Client, url: &str) -> reqwest::Response {
    client
        .post(url)
        .header("content-type", "application/xml")
        .header("x-correlation-id", "tls-1")
        .body(fixture("acme/orders/valid/input.xml"))
        .send()
        .await
        .unwrap()
}

fn trim(b: &[u8]) -> String {
    String::from_utf8_lossy(b)
        .trim_end_matches('\n')
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_serves_http1_and_http2_chosen_by_alpn() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(&up, &ca, certs.path(), "").await;

    for (client, version) in [
        (
            reqwest_client(&ca, &gw).http1_only().build().unwrap(),
            reqwest::Version::HTTP_11,
        ),
        (
            reqwest_client(&ca, &gw).build().unwrap(),
            reqwest::Version::HTTP_2,
        ),
    ] {
        let resp = post_acme(&client, &url(&gw, ACME)).await;
        assert_eq!(resp.version(), version);
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-type"], "application/xml");
        assert_eq!(resp.headers()["x-correlation-id"], "tls-1");
        let body = resp.bytes().await.unwrap();
        assert_eq!(
            trim(&body),
            trim(&fixture("acme/orders/valid/expected-response.xml"))
        );
    }
    let reqs = up.requests();
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        let sent: Value = serde_json::from_slice(&r.body).unwrap();
        let want: Value =
            serde_json::from_slice(&fixture("acme/orders/valid/expected.json")).unwrap();
        assert_eq!(sent, want);
        assert_eq!(r.headers["x-correlation-id"], "tls-1");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_1_3_only_refuses_a_tls_1_2_client() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(&up, &ca, certs.path(), "min_version = \"1.3\"\n").await;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(ca.der()).unwrap();
    let tls12 = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots.clone())
        .with_no_client_auth();
    let err = handshake(gw.addr, tls12).await.unwrap_err();
    assert_eq!(
        err,
        rustls::Error::AlertReceived(rustls::AlertDescription::ProtocolVersion)
    );
    let tls13 = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let answer = handshake(gw.addr, tls13).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 404 Not Found\r\n"), "{answer}");
}

/// A TLS client's exchange of `GET {path}` on `addr`: the whole answer, or the TLS error
/// that ended it (in the handshake or at the first read, where TLS 1.3 reports a refused
/// client certificate).
async fn tls_get(
    addr: SocketAddr,
    config: rustls::ClientConfig,
    path: &str,
) -> Result<String, rustls::Error> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls_err = |e: std::io::Error| -> rustls::Error {
        e.get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            .cloned()
            .unwrap_or_else(|| panic!("not a TLS error: {e}"))
    };
    let mut tls = connector
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .map_err(tls_err)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n");
    tls.write_all(request.as_bytes()).await.map_err(tls_err)?;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tls.read_to_end(&mut out))
        .await
        .expect("answer within 10 s")
        .map_err(tls_err)?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// `GET /nowhere` over TLS: the 404 answer proves the handshake went through.
async fn handshake(
    addr: SocketAddr,
    config: rustls::ClientConfig,
) -> Result<String, rustls::Error> {
    tls_get(addr, config, "/nowhere").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_speaks_http2_only_when_h2c_is_on() {
    let up = Upstream::acme().await;
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();

    let gw = Gateway::start(&up.url()).await;
    let refused = h2.get(gw.url("/nowhere")).send().await;
    assert!(refused.is_err(), "{refused:?}");

    let gw = Gateway::start_with(&up.url(), "\n[server]\nh2c = true\n", None).await;
    let resp = h2.get(gw.url("/nowhere")).send().await.unwrap();
    assert_eq!(resp.version(), reqwest::Version::HTTP_2);
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    // HTTP/1.1 still works on the same listener.
    let h1 = get(&gw.url("/nowhere")).await;
    assert_eq!(h1.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_endpoints_answer_on_the_admin_listener_only() {
    let up = Upstream::acme().await;
    let gw = Gateway::start(&up.url()).await;
    assert_ne!(gw.addr, gw.admin_addr);
    for path in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/admin/status",
        "/openapi.json",
    ] {
        let partner = send(
            http::Method::GET,
            &gw.url(path),
            &[("x-correlation-id", "adm"), ("accept", "application/json")],
            bytes::Bytes::new(),
        )
        .await;
        assert_eq!(partner.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(
            partner.json(),
            serde_json::json!({"type": "urn:schemagate:problem:not-found", "title": "Not found", "status": 404, "detail": format!("no route for GET {path}"), "instance": "adm"}),
            "{path}"
        );
        let admin = get(&gw.admin_url(path)).await;
        assert_eq!(admin.status, StatusCode::OK, "{path}");
    }
    assert_eq!(
        get(&gw.admin_url("/healthz")).await.text(),
        "{\"status\":\"ok\"}"
    );
    // Partner routes are not served on the admin listener.
    let reply = send(
        http::Method::POST,
        &gw.admin_url(ACME),
        &[
            ("content-type", "application/xml"),
            ("x-correlation-id", "adm-2"),
            ("accept", "application/json"),
        ],
        fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(
        reply.json(),
        serde_json::json!({"type": "urn:schemagate:problem:not-found", "title": "Not found", "status": 404, "detail": "no admin endpoint at /partners/acme/orders", "instance": "adm-2"})
    );
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharing_the_partner_listener_is_an_opt_in() {
    let up = Upstream::acme().await;
    let gw = Gateway::start_with(&up.url(), "listen = \"partner\"\n", None).await;
    assert_eq!(gw.addr, gw.admin_addr);
    let health = get(&gw.url("/healthz")).await;
    assert_eq!(health.status, StatusCode::OK);
    assert_eq!(health.text(), "{\"status\":\"ok\"}");
    let status = get(&gw.url("/admin/status")).await;
    assert_eq!(status.status, StatusCode::OK);
}

// ── mutual TLS at the listener ──────────────────────────────────────────────────────────

/// A listener with client certificates `mode` against `client_ca`, answering with what the
/// request's extensions hold: the client certificate's subject and the peer address.
async fn mtls_listener(
    server: &Issued,
    client_ca: &Ca,
    mode: ClientAuth,
) -> (SocketAddr, oneshot::Sender<()>) {
    let dir = tempfile::tempdir().unwrap().keep();
    let ca_file = client_ca.write(&dir, "clients.pem");
    write_pair(&dir, server);
    let cfg = TlsConfig {
        cert_file: Some(dir.join("cert.pem")),
        key_file: Some(dir.join("key.pem")),
        client_ca_file: Some(ca_file),
        client_auth: mode,
        ..TlsConfig::default()
    };
    let tls = Terminator::from_config(&cfg).unwrap().unwrap();
    let app = Router::new().route(
        "/who",
        route_get(|req: Request| async move {
            let info = req
                .extensions()
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0);
            let peer = info.expect("the listener sets the peer");
            let who = match req.extensions().get::<PeerCertificates>() {
                Some(chain) => {
                    let names = schemagate::edge::auth::mtls::cert_names(&chain.0[0]).unwrap();
                    format!("cn={} chain={}", names.subject_cn.join(","), chain.0.len())
                }
                None => "anonymous".to_string(),
            };
            format!("{who} peer={}", peer.ip())
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(serve_with(
        listener,
        app,
        ServerOptions::default(),
        Some(tls),
        async {
            let _ = rx.await;
        },
    ));
    (addr, tx)
}

fn client_config(server_ca: &Ca, identity: Option<&Issued>) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.der()).unwrap();
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots);
    match identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(
                vec![id.der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(id.key_der.clone())),
            )
            .unwrap(),
    }
}

async fn who(addr: SocketAddr, config: rustls::ClientConfig) -> Result<String, rustls::Error> {
    let text = tls_get(addr, config, "/who").await?;
    Ok(text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or(text))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_required_verifies_the_client_certificate() {
    let server_ca = Ca::new("server root");
    let client_ca = Ca::new("partner root");
    let other_ca = Ca::new("someone else");
    let (addr, _stop) = mtls_listener(
        &server_ca.issue(&[HOST], false),
        &client_ca,
        ClientAuth::Required,
    )
    .await;

    let good = client_ca.issue(&["acme-client"], false);
    assert_eq!(
        who(addr, client_config(&server_ca, Some(&good))).await,
        Ok("cn=acme-client chain=1 peer=127.0.0.1".to_string())
    );
    let foreign = other_ca.issue(&["acme-client"], false);
    assert_eq!(
        who(addr, client_config(&server_ca, Some(&foreign))).await,
        Err(rustls::Error::AlertReceived(
            rustls::AlertDescription::UnknownCA
        ))
    );
    let expired = client_ca.issue(&["acme-client"], true);
    assert_eq!(
        who(addr, client_config(&server_ca, Some(&expired))).await,
        Err(rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateExpired
        ))
    );
    assert_eq!(
        who(addr, client_config(&server_ca, None)).await,
        Err(rustls::Error::AlertReceived(
            rustls::AlertDescription::CertificateRequired
        ))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mtls_optional_serves_clients_without_a_certificate() {
    let server_ca = Ca::new("server root");
    let client_ca = Ca::new("partner root");
    let other_ca = Ca::new("someone else");
    let (addr, _stop) = mtls_listener(
        &server_ca.issue(&[HOST], false),
        &client_ca,
        ClientAuth::Optional,
    )
    .await;
    assert_eq!(
        who(addr, client_config(&server_ca, None)).await,
        Ok("anonymous peer=127.0.0.1".to_string())
    );
    let good = client_ca.issue(&["acme-client"], false);
    assert_eq!(
        who(addr, client_config(&server_ca, Some(&good))).await,
        Ok("cn=acme-client chain=1 peer=127.0.0.1".to_string())
    );
    // A certificate that does not verify is refused, never taken as no certificate.
    let foreign = other_ca.issue(&["acme-client"], false);
    assert_eq!(
        who(addr, client_config(&server_ca, Some(&foreign))).await,
        Err(rustls::Error::AlertReceived(
            rustls::AlertDescription::UnknownCA
        ))
    );
}

// ── HTTP/2 rapid reset ──────────────────────────────────────────────────────────────────

async fn h2_client(
    addr: SocketAddr,
    ca: &Ca,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let mut config = client_config(ca, None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (send, conn) = h2::client::handshake(tls).await.unwrap();
    (send, tokio::spawn(conn))
}

fn h2_get(path: &str) -> http::Request<()> {
    http::Request::get(format!("https://{HOST}{path}"))
        .body(())
        .unwrap()
}

/// The client preface, empty SETTINGS, then `n` streams each opened (`GET /`, HEADERS with
/// END_STREAM) and cancelled at once (RST_STREAM CANCEL): the rapid-reset attack.
fn rapid_reset_burst(n: u32) -> Vec<u8> {
    fn frame(out: &mut Vec<u8>, kind: u8, flags: u8, stream: u32, payload: &[u8]) {
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes()[1..]);
        out.extend_from_slice(&[kind, flags]);
        out.extend_from_slice(&stream.to_be_bytes());
        out.extend_from_slice(payload);
    }
    // HPACK: :method GET, :scheme https, :path / (static table), :authority gw.test
    // (literal without indexing, name from the static table).
    let mut headers = vec![0x82, 0x87, 0x84, 0x01, HOST.len() as u8];
    headers.extend_from_slice(HOST.as_bytes());
    let mut out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    frame(&mut out, 0x4, 0, 0, &[]);
    for i in 0..n {
        let stream = 1 + 2 * i;
        frame(&mut out, 0x1, 0x4 | 0x1, stream, &headers);
        frame(
            &mut out,
            0x3,
            0,
            stream,
            &u32::from(h2::Reason::CANCEL).to_be_bytes(),
        );
    }
    out
}

/// The frames in the bytes a server sent: (type, payload), up to the last whole frame.
fn server_frames(bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut frames = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 9 {
        let len = u32::from_be_bytes([0, rest[0], rest[1], rest[2]]) as usize;
        if rest.len() < 9 + len {
            break;
        }
        frames.push((rest[3], rest[9..9 + len].to_vec()));
        rest = &rest[9 + len..];
    }
    frames
}

/// An HTTP/2 connection to the gateway that has had one exchange (`GET /nowhere`, 404), so
/// the server's SETTINGS are known: the ready sender and the connection's task.
async fn h2_served(
    addr: SocketAddr,
    ca: &Ca,
) -> (
    h2::client::SendRequest<bytes::Bytes>,
    tokio::task::JoinHandle<Result<(), h2::Error>>,
) {
    let (send, conn) = h2_client(addr, ca).await;
    let mut send = send.ready().await.unwrap();
    let (resp, _) = send.send_request(h2_get("/nowhere"), true).unwrap();
    assert_eq!(resp.await.unwrap().status(), StatusCode::NOT_FOUND);
    (send, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rapid_reset_burst_gets_goaway_and_others_are_still_served() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(&up, &ca, certs.path(), "").await;

    // The burst is written as raw frames in one go, so the client never writes after the
    // gateway has answered: a client library still flushing its resets may see the closed
    // socket (EPIPE) before it reads the GOAWAY.
    let frames = rapid_reset_burst(200);
    let mut config = client_config(&ca, None);
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(gw.addr).await.unwrap();
    let mut tls = connector
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .unwrap();
    tls.write_all(&frames).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read_all)
        .await
        .expect("the gateway closes the connection within 10 s");
    let goaway = server_frames(&got)
        .into_iter()
        .find(|(kind, _)| *kind == 0x7)
        .expect("a GOAWAY frame");
    // GOAWAY payload: last stream id (4 bytes), then the error code.
    assert_eq!(
        u32::from_be_bytes(goaway.1[4..8].try_into().unwrap()),
        u32::from(h2::Reason::ENHANCE_YOUR_CALM),
        "{goaway:?}"
    );

    // Everyone else is served, over HTTP/2 too.
    let _served = h2_served(gw.addr, &ca).await;
    assert!(up.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_concurrent_streams_are_capped_per_connection() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(
        &up,
        &ca,
        certs.path(),
        "\n[server.http2]\nmax_concurrent_streams = 3\n",
    )
    .await;
    let (send, _conn) = h2_served(gw.addr, &ca).await;
    assert_eq!(send.current_max_send_streams(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_header_list_beyond_the_head_limit_is_refused() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(
        &up,
        &ca,
        certs.path(),
        "\n[limits]\nmax_header_bytes = 4096\nmax_headers = 10\n",
    )
    .await;
    let client = reqwest_client(&ca, &gw).build().unwrap();

    let big = client
        .get(url(&gw, "/nowhere"))
        .header("x-big", "a".repeat(8000))
        .send()
        .await;
    // hyper answers 431 on HTTP/2 as on HTTP/1.1 for a header list over the size.
    match big {
        Ok(resp) => {
            assert_eq!(resp.version(), reqwest::Version::HTTP_2);
            assert_eq!(resp.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        }
        Err(e) => panic!("{e:?}"),
    }
    let mut many = client.get(url(&gw, "/nowhere"));
    for i in 0..11 {
        many = many.header(format!("x-h{i}"), "v");
    }
    let many = many.send().await.unwrap();
    assert_eq!(many.version(), reqwest::Version::HTTP_2);
    assert_eq!(many.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
    assert_eq!(many.bytes().await.unwrap().len(), 0);

    let fine = client.get(url(&gw, "/nowhere")).send().await.unwrap();
    assert_eq!(fine.status(), StatusCode::NOT_FOUND);
}

// ── certificate rotation ────────────────────────────────────────────────────────────────

/// The serial number of the certificate a fresh handshake with `addr` is shown.
async fn served_serial(addr: SocketAddr, ca: &Ca) -> Vec<u8> {
    let connector = tokio_rustls::TlsConnector::from(Arc::new(client_config(ca, None)));
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let tls = connector
        .connect(ServerName::try_from(HOST).unwrap(), tcp)
        .await
        .unwrap();
    let leaf: &CertificateDer = &tls.get_ref().1.peer_certificates().unwrap()[0];
    let (_, cert) = x509_parser::parse_x509_certificate(leaf).unwrap();
    cert.raw_serial().to_vec()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_rotation_under_load_fails_no_request() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(&up, &ca, certs.path(), "").await;
    let tls = gw.tls.clone().unwrap();
    let state = Arc::clone(&gw.state);
    let _watch = tls
        .watch(Duration::from_millis(50), move |ok| {
            state.metrics.tls_reload(ok)
        })
        .unwrap();
    assert_eq!(served_serial(gw.addr, &ca).await, vec![1]);

    // A loop of requests, each on a new connection (a new handshake), and one keep-alive
    // connection opened before the rotation.
    let stop = Arc::new(AtomicBool::new(false));
    let served = Arc::new(AtomicUsize::new(0));
    let mut load = Vec::new();
    for pooled in [false, true] {
        let mut builder = reqwest_client(&ca, &gw);
        if !pooled {
            builder = builder.pool_max_idle_per_host(0);
        }
        let client = builder.build().unwrap();
        let target = url(&gw, ACME);
        let (stop, served) = (Arc::clone(&stop), Arc::clone(&served));
        load.push(tokio::spawn(async move {
            let mut failures = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let resp = post_acme(&client, &target).await;
                if resp.status() != StatusCode::OK {
                    failures.push(resp.status());
                }
                served.fetch_add(1, Ordering::Relaxed);
            }
            failures
        }));
    }
    while served.load(Ordering::Relaxed) < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before = served.load(Ordering::Relaxed);
    write_pair(certs.path(), &ca.issue_serial(&[HOST], false, Some(2)));
    let mut rotated = false;
    for _ in 0..200 {
        if served_serial(gw.addr, &ca).await == vec![2] {
            rotated = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(rotated, "the new certificate is served within 10 s");
    let after = served.load(Ordering::Relaxed);
    while served.load(Ordering::Relaxed) < after + 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop.store(true, Ordering::Relaxed);
    for task in load {
        assert_eq!(task.await.unwrap(), Vec::<StatusCode>::new());
    }
    assert!(after > before);
    assert!(tls.cert().reloads() >= 1);
    assert_eq!(tls.cert().failures(), 0);
    // Each reload the watch made is on the metrics page.
    let page = gw.state.metrics.render();
    let mut lines: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("schemagate_tls_certificate_reloads_total"))
        .collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            r#"schemagate_tls_certificate_reloads_total{outcome="failure"} 0"#.to_owned(),
            format!(
                r#"schemagate_tls_certificate_reloads_total{{outcome="success"}} {}"#,
                tls.cert().reloads()
            ),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_new_pair_keeps_the_old_one_serving() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(&up, &ca, certs.path(), "").await;
    let tls = gw.tls.clone().unwrap();

    // A new certificate with the old key: they do not fit.
    let next = ca.issue_serial(&[HOST], false, Some(3));
    std::fs::write(certs.path().join("cert.pem"), &next.pem).unwrap();
    let err = tls.cert().reload().unwrap_err();
    assert_eq!(err.key(), "key_file");
    assert!(
        err.to_string()
            .starts_with("tls.key_file: the key does not fit cert_file"),
        "{err}"
    );
    std::fs::write(certs.path().join("key.pem"), "not a key").unwrap();
    let err = tls.cert().reload().unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "tls.key_file: `{}` holds no PEM private key",
            certs.path().join("key.pem").display()
        )
    );
    assert_eq!(tls.cert().failures(), 2);
    assert_eq!(tls.cert().reloads(), 0);
    assert_eq!(served_serial(gw.addr, &ca).await, vec![1]);
    let client = reqwest_client(&ca, &gw).build().unwrap();
    assert_eq!(
        post_acme(&client, &url(&gw, ACME)).await.status(),
        StatusCode::OK
    );

    // The good pair written afterwards is taken up.
    std::fs::write(certs.path().join("key.pem"), &next.key_pem).unwrap();
    tls.cert().reload().unwrap();
    assert_eq!(served_serial(gw.addr, &ca).await, vec![3]);
}

#[test]
fn check_refuses_unusable_tls_settings() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[tls]\ncert_file = \"cert.pem\"\n",
            "tls.cert_file is set but tls.key_file is not",
        ),
        (
            "[tls]\ncert_file = \"missing.pem\"\nkey_file = \"missing-key.pem\"\n",
            "tls.cert_file: cannot read",
        ),
        (
            "[tls]\nclient_auth = \"required\"\n",
            "tls.client_auth asks for client certificates but tls.client_ca_file is not set",
        ),
        ("[tls]\nmin_version = \"1.1\"\n", "unknown variant `1.1`"),
        (
            "[admin]\nlisten = \"everywhere\"\n",
            "admin.listen `everywhere` is not an address",
        ),
        (
            "[server.http2]\nmax_concurrent_streams = 0\n",
            "server.http2.max_concurrent_streams must be greater than 0",
        ),
    ];
    for (text, want) in cases {
        let path = dir.path().join("gateway.toml");
        std::fs::write(
            &path,
            format!(
                "[paths]\nschemas = \"{}\"\nmappings = \"{}\"\n{text}",
                repo().join("schemas").display(),
                repo().join("mappings").display()
            ),
        )
        .unwrap();
        let diags = match schemagate::config::load(&schemagate::config::LoadOptions {
            config_path: Some(path),
            ..Default::default()
        }) {
            Ok(_) => panic!("{text} loads"),
            Err(d) => d,
        };
        let text_of: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert!(
            text_of.iter().any(|d| d.contains(want)),
            "{text}: {text_of:#?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_http2_connection_is_closed_with_goaway() {
    let ca = Ca::new("test root");
    let up = Upstream::acme().await;
    let certs = tempfile::tempdir().unwrap();
    let gw = tls_gateway(
        &up,
        &ca,
        certs.path(),
        "\n[server]\nkeep_alive_timeout_ms = 300\n",
    )
    .await;
    let (_send, conn) = h2_served(gw.addr, &ca).await;
    let started = std::time::Instant::now();
    // A graceful GOAWAY (NO_ERROR) ends the client's connection without an error.
    let ended = tokio::time::timeout(Duration::from_secs(10), conn)
        .await
        .expect("the idle connection is closed within 10 s")
        .unwrap();
    assert!(ended.is_ok(), "{ended:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
}
