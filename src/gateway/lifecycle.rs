//! The process lifecycle of `serve`: load once to read logging and the worker count, start
//! the async runtime (and the demo upstream when asked), the file watcher and the SIGHUP
//! handler, serve until SIGTERM or SIGINT, then drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::service::app;
use super::state::AppState;
use crate::config::{self, LoadOptions};

/// Runs `serve` until SIGTERM/SIGINT: builds the runtime, starts the demo upstream when
/// asked, the file watcher and SIGHUP handler, then serves.
pub fn run_server(mut opts: LoadOptions, demo: bool) -> Result<()> {
    // Load once, before the runtime exists: logging and the worker count come from it.
    let mut gateway = match config::load(&opts) {
        Ok(gw) => gw,
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}\n");
            }
            anyhow::bail!(
                "the configuration does not load ({} errors); run `schemagate check`",
                diags.iter().filter(|d| d.is_error()).count()
            );
        }
    };
    crate::telemetry::init_logging(&gateway.config.logging);
    let workers = gateway.config.server.workers;
    let mut builder = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        if workers > 1 {
            b.worker_threads(workers);
        }
        b
    };
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let mut demo_addr = None;
        if demo {
            let (addr, _task) = crate::demo::start("127.0.0.1:0".parse()?)
                .await
                .context("starting the demo upstream")?;
            // Reloads load again with the override; the loaded configuration gets it now.
            opts.upstream_override = Some(format!("http://{addr}"));
            opts.apply(&mut gateway.config);
            demo_addr = Some(addr);
        }
        let state = match AppState::with_gateway(opts, gateway) {
            Ok(s) => s,
            Err(diags) => {
                for d in &diags {
                    eprintln!("{d}\n");
                }
                anyhow::bail!("the configuration does not load; run `schemagate check`");
            }
        };
        let rt = state.runtime();
        let cfg = &rt.gateway.config;
        let listen: SocketAddr = cfg.server.listen.parse().context("server.listen")?;
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding {listen}"))?;
        let local = listener.local_addr()?;
        tracing::info!(%local, routes = rt.gateway.routes.len(), "schemagate listening");
        if let Some(addr) = demo_addr {
            super::demo_print::print_demo(local, addr, &rt.gateway);
        }

        let _watch = if cfg.admin.watch {
            let s = Arc::clone(&state);
            let handle = tokio::runtime::Handle::current();
            match crate::reload::watch(
                state.watched_paths(),
                Duration::from_millis(cfg.admin.watch_debounce_ms),
                move || {
                    let s = Arc::clone(&s);
                    handle.spawn_blocking(move || s.reload());
                },
            ) {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "file watching unavailable; reload with SIGHUP");
                    None
                }
            }
        } else {
            None
        };
        {
            let s = Arc::clone(&state);
            let handle = tokio::runtime::Handle::current();
            if let Err(e) = crate::reload::on_sighup(move || {
                let s = Arc::clone(&s);
                handle.spawn_blocking(move || s.reload());
            }) {
                tracing::warn!(error = %e, "SIGHUP reload unavailable");
            }
        }
        drop(rt);
        let shutdown_state = Arc::clone(&state);
        let shutdown = async move {
            shutdown_signal().await;
            shutdown_state.ready.store(false, Ordering::Relaxed);
            tracing::info!("shutdown requested; draining in-flight requests");
        };
        // Each new connection takes the options of the configuration served at that moment.
        let options_state = Arc::clone(&state);
        let options = move || options_state.server_options();
        crate::server::serve(listener, app(state), options, shutdown).await?;
        tracing::info!("stopped");
        Ok(())
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
