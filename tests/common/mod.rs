//! Shared helpers of the integration tests: a recording upstream on loopback, a gateway on an
//! ephemeral port, and a small HTTP client.

#![allow(dead_code)]

pub mod logged;
pub mod tls;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use schemagate::config::LoadOptions;
use schemagate::gateway::{AppState, admin_app, app};
use schemagate::proxy::HttpClient;
use schemagate::server::{ServerOptions, serve, serve_observed};
use tokio::sync::oneshot;

/// The gateway binary's allocator: every in-process gateway of the tests allocates through
/// it, as the binary does.
#[global_allocator]
static ALLOCATOR: schemagate::alloc::Allocator = schemagate::alloc::Allocator;

/// The repository root (where gateway.toml, schemas/ and mappings/ live).
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> Vec<u8> {
    std::fs::read(repo().join("tests/fixtures").join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// One request the upstream received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub version: http::Version,
    pub method: Method,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What the upstream answers: a function of the request, so a test decides per path.
pub type Responder =
    Arc<dyn Fn(&Recorded) -> (StatusCode, &'static str, Vec<u8>, Duration) + Send + Sync>;

#[derive(Clone)]
pub(crate) struct UpstreamState {
    pub(crate) log: Arc<Mutex<Vec<Recorded>>>,
    pub(crate) respond: Responder,
}

/// A real HTTP server on loopback that records every request.
pub struct Upstream {
    pub addr: SocketAddr,
    pub(crate) log: Arc<Mutex<Vec<Recorded>>>,
    pub(crate) _stop: oneshot::Sender<()>,
}

impl Upstream {
    pub async fn start(respond: Responder) -> Upstream {
        let log = Arc::new(Mutex::new(Vec::new()));
        let state = UpstreamState {
            log: Arc::clone(&log),
            respond,
        };
        let router = Router::new().fallback(record).with_state(state);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(async {
                    let _ = rx.await;
                })
                .await;
        });
        Upstream {
            addr,
            log,
            _stop: tx,
        }
    }

    /// The acme ack for POST /orders, 404 for anything else.
    pub async fn acme() -> Upstream {
        Upstream::start(Arc::new(|r: &Recorded| {
            match (r.method.as_str(), r.path.as_str()) {
                ("POST", "/orders") => (
                    StatusCode::OK,
                    "application/json",
                    fixture("acme/orders/valid/upstream.json"),
                    Duration::ZERO,
                ),
                _ => (
                    StatusCode::NOT_FOUND,
                    "application/json",
                    b"{\"error\":\"not found\"}".to_vec(),
                    Duration::ZERO,
                ),
            }
        }))
        .await
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }
}

pub(crate) async fn record(State(state): State<UpstreamState>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let rec = Recorded {
        version: parts.version,
        method: parts.method,
        path: parts.uri.path().to_string(),
        query: parts.uri.query().map(str::to_string),
        headers: parts.headers,
        body,
    };
    state.log.lock().unwrap().push(rec.clone());
    let (status, ct, body, delay) = (state.respond)(&rec);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    (status, [(http::header::CONTENT_TYPE, ct)], body).into_response()
}

/// A gateway serving the repository's schemas and mappings on an ephemeral port, with its
/// admin endpoints on a second one (or on the first when `[admin] listen = "partner"`).
pub struct Gateway {
    pub addr: SocketAddr,
    pub admin_addr: SocketAddr,
    /// The partner listener's TLS side, when `[tls]` is configured.
    pub tls: Option<schemagate::tls::Terminator>,
    pub state: Arc<AppState>,
    pub dir: tempfile::TempDir,
    _stop: oneshot::Sender<()>,
    _admin_stop: Option<oneshot::Sender<()>>,
}

/// Writes a gateway.toml in a temp dir pointing at `schemas`/`mappings` and `upstream`. `extra`
/// follows the `[admin]` table: keys before its first header are admin settings.
pub fn write_config(
    dir: &Path,
    schemas: &Path,
    mappings: &Path,
    upstream: &str,
    extra: &str,
) -> PathBuf {
    let text = format!(
        "[paths]\nschemas = \"{}\"\nmappings = \"{}\"\nfixtures = \"{}\"\n\n[upstreams.orders]\nurl = \"{upstream}\"\nconnect_timeout_ms = 500\nrequest_timeout_ms = 1000\n\n[logging]\naccess_log = false\n\n[admin]\nwatch = false\n{extra}\n",
        schemas.display(),
        mappings.display(),
        repo().join("tests/fixtures").display(),
    );
    let path = dir.join("gateway.toml");
    std::fs::write(&path, text).unwrap();
    path
}

impl Gateway {
    pub async fn start(upstream: &str) -> Gateway {
        Gateway::start_with(upstream, "", None).await
    }

    /// `mappings`: a directory to use instead of the repository's (for reload tests).
    pub async fn start_with(upstream: &str, extra: &str, mappings: Option<&Path>) -> Gateway {
        Gateway::start_with_client(upstream, extra, mappings, HttpClient::new()).await
    }

    /// [`Gateway::start_with`] on the upstream client `client` (one resolving discovered
    /// names from a file, say).
    pub async fn start_with_client(
        upstream: &str,
        extra: &str,
        mappings: Option<&Path>,
        client: HttpClient,
    ) -> Gateway {
        let mappings = mappings
            .map(Path::to_path_buf)
            .unwrap_or_else(|| repo().join("mappings"));
        Gateway::start_in_with_client(upstream, extra, &repo().join("schemas"), &mappings, client)
            .await
    }

    /// A gateway serving partners of its own: `schemas` and `mappings` directories
    /// instead of the repository's.
    pub async fn start_in(upstream: &str, extra: &str, schemas: &Path, mappings: &Path) -> Gateway {
        Gateway::start_in_with_client(upstream, extra, schemas, mappings, HttpClient::new()).await
    }

    async fn start_in_with_client(
        upstream: &str,
        extra: &str,
        schemas: &Path,
        mappings: &Path,
        client: HttpClient,
    ) -> Gateway {
        let dir = tempfile::tempdir().unwrap();
        let config = write_config(dir.path(), schemas, mappings, upstream, extra);
        let opts = LoadOptions {
            config_path: Some(config),
            ..Default::default()
        };
        let state = tokio::task::spawn_blocking(move || {
            let gateway = schemagate::config::load(&opts)?;
            AppState::with_client(opts, gateway, client)
        })
        .await
        .unwrap()
        .unwrap_or_else(|d| panic!("config does not load: {d:#?}"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let router = app(Arc::clone(&state));
        let rt = state.runtime();
        let cfg = &rt.gateway.config;
        let opts = ServerOptions::from_config(&cfg.server, &cfg.limits);
        let tls = schemagate::tls::Terminator::from_config(&cfg.tls).unwrap();
        let shared = cfg.admin.listen == "partner";
        let mut admin_stop = None;
        let admin_addr = if shared || !cfg.admin.enabled {
            addr
        } else {
            let admin = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let admin_addr = admin.local_addr().unwrap();
            let admin_router = admin_app(Arc::clone(&state));
            let admin_opts = opts.clone();
            let (admin_tx, admin_rx) = oneshot::channel::<()>();
            tokio::spawn(async move {
                let _ = serve(admin, admin_router, admin_opts, async {
                    let _ = admin_rx.await;
                })
                .await;
            });
            admin_stop = Some(admin_tx);
            admin_addr
        };
        let served_tls = tls.clone();
        let rejected = schemagate::gateway::rejection_hook(Arc::clone(&state));
        tokio::spawn(async move {
            let _ = serve_observed(listener, router, opts, served_tls, Some(rejected), async {
                let _ = rx.await;
            })
            .await;
        });
        Gateway {
            addr,
            admin_addr,
            tls,
            state,
            dir,
            _stop: tx,
            _admin_stop: admin_stop,
        }
    }

    /// A partner URL (`http://`; see [`Gateway::https_url`] for a TLS listener).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn https_url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    /// An admin endpoint's URL, on the admin listener.
    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.admin_addr)
    }
}

/// A response as the test sees it.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

pub async fn send(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Reply {
    let mut req = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req.body(Full::new(body.into())).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(20), client().request(req))
        .await
        .expect("gateway answered within 20 s")
        .expect("request sent");
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

pub async fn post_xml(url: &str, body: impl Into<Bytes>) -> Reply {
    send(
        Method::POST,
        url,
        &[("content-type", "application/xml")],
        body,
    )
    .await
}

pub async fn get(url: &str) -> Reply {
    send(Method::GET, url, &[], Bytes::new()).await
}
