//! The pass-through floor: a bare hyper server on one current-thread runtime forwarding
//! `GET /api/{path}` to `UPSTREAM_URL/{path}` through hyper-util's pooled client, and
//! answering with the upstream's status, `Content-Type` and buffered body. No routing,
//! header rules, forwarded headers, correlation id, metrics or limits: what is left of a
//! proxy when all of that is taken away, measured beside nginx and the gateway with
//! `../shared/bench/run.sh` (docs/performance.md).
//!
//! `LISTEN` (default `127.0.0.1:28084`), `UPSTREAM_URL` (default `http://127.0.0.1:28080`).

use std::sync::OnceLock;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, body::Incoming};
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use hyper_util::rt::{TokioExecutor, TokioIo};

type Pooled = Client<HttpConnector, Full<Bytes>>;

fn upstream() -> &'static str {
    static URL: OnceLock<String> = OnceLock::new();
    URL.get_or_init(|| {
        std::env::var("UPSTREAM_URL").unwrap_or_else(|_| "http://127.0.0.1:28080".into())
    })
}

async fn forward(client: Pooled, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, String> {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let path = path.strip_prefix("/api").unwrap_or(path);
    let uri: hyper::Uri = format!("{}{path}", upstream())
        .parse()
        .map_err(|e| format!("{e}"))?;
    let up = Request::builder()
        .uri(uri)
        .body(Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = client.request(up).await.map_err(|e| e.to_string())?;
    let (parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    let mut out = Response::new(Full::new(body));
    *out.status_mut() = parts.status;
    if let Some(ct) = parts.headers.get(hyper::header::CONTENT_TYPE) {
        out.headers_mut()
            .insert(hyper::header::CONTENT_TYPE, ct.clone());
    }
    Ok(out)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let client: Pooled = Client::builder(TokioExecutor::new()).build_http();
    let listen = std::env::var("LISTEN").unwrap_or_else(|_| "127.0.0.1:28084".into());
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .unwrap_or_else(|e| panic!("binding {listen}: {e}"));
    let stop = tokio::signal::ctrl_c();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                let client = client.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |r| forward(client.clone(), r));
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        }
    }
}
