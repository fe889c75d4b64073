//! The HTTP request path: raw bytes as one client connection to the partner listener,
//! served through the listener's connection handling
//! ([`serve_connection`](schemagate::server::serve_connection)) and the gateway's whole
//! service (admin endpoints on the partner listener included) over an in-memory transport.
//! The example routes' upstream is the demo upstream, on loopback, started once.
//!
//! Every connection must end: the client's side is closed after the input, and the
//! gateway must answer what it read and close within a few seconds. Whatever it writes
//! must be HTTP/1.x responses (1.0 to a 1.0 client).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use schemagate::config::{self, LoadOptions};
use schemagate::gateway::AppState;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Far above any answer the demo upstream needs, far below AFL's hang timeout.
const CONNECTION_DEADLINE: Duration = Duration::from_secs(5);

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let (demo, _task) = rt
        .block_on(schemagate::demo::start(SocketAddr::from((
            [127, 0, 0, 1],
            0,
        ))))
        .expect("demo upstream");
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let opts = LoadOptions {
        config_path: Some(root.join("gateway.toml")),
        upstream_override: Some(format!("http://{demo}")),
        ..Default::default()
    };
    let mut gateway = config::load(&opts)
        .unwrap_or_else(|d| panic!("the example configuration does not load: {d:?}"));
    // The admin endpoints on the partner listener, so they are fuzzed too.
    gateway.config.admin.listen = "partner".into();
    let state = AppState::with_gateway(opts, gateway)
        .unwrap_or_else(|d| panic!("the example configuration does not compile: {d:?}"));
    let service = schemagate::gateway::app(Arc::clone(&state));
    let server_opts = state.server_options();
    let hook = schemagate::gateway::rejection_hook(Arc::clone(&state));
    let peer = SocketAddr::from(([192, 0, 2, 7], 40000));
    // `FUZZ_SHOW=1 target/release/http < FILE` prints what the gateway answered.
    let show = std::env::var_os("FUZZ_SHOW").is_some();

    // Immutable while fuzzing but for counters and caches; a panic ends the run anyway.
    let shared = std::panic::AssertUnwindSafe((rt, service, server_opts, hook));
    afl::fuzz!(|data: &[u8]| {
        let (rt, service, server_opts, hook) = &*shared;
        let service = service.clone();
        let server_opts = server_opts.clone();
        let hook = Some(hook.clone());
        let out = rt.block_on(async move {
            let (client, server) = tokio::io::duplex(64 * 1024);
            let conn = tokio::spawn(async move {
                schemagate::server::serve_connection(server, service, &server_opts, peer, hook)
                    .await
            });
            let (mut rx, mut tx) = tokio::io::split(client);
            let write = async {
                // The gateway may close early (a refused head): the rest is not read.
                let _ = tx.write_all(data).await;
                let _ = tx.shutdown().await;
            };
            let read = async {
                let mut out = Vec::new();
                let _ = rx.read_to_end(&mut out).await;
                out
            };
            let exchange = async { tokio::join!(write, read).1 };
            let out = tokio::time::timeout(CONNECTION_DEADLINE, exchange)
                .await
                .expect("the connection did not end");
            tokio::time::timeout(CONNECTION_DEADLINE, conn)
                .await
                .expect("the connection task did not end")
                .expect("the connection task panicked");
            out
        });
        if show {
            eprintln!("{}", String::from_utf8_lossy(&out));
        }
        assert!(
            out.is_empty() || out.starts_with(b"HTTP/1.1 ") || out.starts_with(b"HTTP/1.0 "),
            "not an HTTP/1.x answer: {:?}",
            String::from_utf8_lossy(&out[..out.len().min(200)])
        );
    });
}
