//! The process lifecycle of `serve`: load once to read logging and the worker count, start
//! the async runtime (and the demo upstream when asked), the partner listener (with TLS
//! when `[tls]` says so) and the admin listener, the file watchers and the SIGHUP handlers
//! (configuration, certificate), serve until SIGTERM or SIGINT, then drain.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::{Context as _, Result};

use super::service::{admin_app, app};
use super::state::AppState;
use crate::config::listener::AdminListen;
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
    // Traces are the process's, like logging: started once, before the runtime, from the
    // first load; a reload does not restart the exporter.
    let tracer = if gateway.config.tracing.enabled {
        let tracer = crate::telemetry::traces::Tracer::start(&gateway.config.tracing)?;
        crate::telemetry::init_subscriber(&gateway.config.logging, Some(&tracer));
        tracer.activate();
        Some(tracer)
    } else {
        crate::telemetry::init_logging(&gateway.config.logging);
        None
    };
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
    let served = runtime.block_on(async move {
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
        let tls = crate::tls::Terminator::from_config(&cfg.tls).context("[tls]")?;
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%local, scheme, routes = rt.gateway.routes.len(), "schemagate listening");
        // The admin endpoints' own listener, unless they share the partner one.
        let admin_listener = match crate::config::listener::admin_listen(&cfg.admin.listen) {
            Some(AdminListen::Own(addr)) if cfg.admin.enabled => {
                let l = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding the admin listener {addr}"))?;
                tracing::info!(local = %l.local_addr()?, "admin listening");
                Some(l)
            }
            Some(AdminListen::Partner) if cfg.admin.enabled => {
                tracing::warn!("the admin endpoints answer on the partner listener ([admin] listen = \"partner\")");
                None
            }
            _ => None,
        };
        let admin_local = match &admin_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        if let Some(addr) = demo_addr {
            super::demo_print::print_demo(local, admin_local.unwrap_or(local), addr, &rt.gateway);
        }
        let _tls_watch = match &tls {
            Some(t) => {
                let cert = std::sync::Arc::clone(t.cert());
                let st = std::sync::Arc::clone(&state);
                if let Err(e) = crate::reload::on_sighup(move || {
                    st.metrics.tls_reload(cert.reload().is_ok());
                }) {
                    tracing::warn!(error = %e, "SIGHUP certificate reload unavailable");
                }
                let st = std::sync::Arc::clone(&state);
                match t.watch(Duration::from_millis(cfg.admin.watch_debounce_ms), move |ok| {
                    st.metrics.tls_reload(ok)
                }) {
                    Ok(h) => Some(h),
                    Err(e) => {
                        tracing::warn!(error = %e, "certificate files not watched; reload them with SIGHUP");
                        None
                    }
                }
            }
            None => None,
        };

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
        // The descriptors shared out once (server/fds.rs): partner connections are capped
        // so upstream sockets and the admin listener keep theirs.
        let fds = crate::server::fds::FdBudget::at_start(&state.runtime().gateway.config);
        // Each new connection takes the options of the configuration served at that moment.
        let options_state = Arc::clone(&state);
        let options = move || fds.partner(options_state.server_options());
        let (stop_admin, admin_stopped) = tokio::sync::watch::channel(false);
        let admin_task = admin_listener.map(|l| {
            let admin_state = Arc::clone(&state);
            let options_state = Arc::clone(&state);
            let mut stopped = admin_stopped.clone();
            tokio::spawn(crate::server::serve(
                l,
                admin_app(admin_state),
                move || crate::server::fds::admin(options_state.server_options()),
                async move {
                    let _ = stopped.wait_for(|&v| v).await;
                },
            ))
        });
        let rejected = super::rejection_hook(Arc::clone(&state));
        crate::server::serve_observed(listener, app(state), options, tls, Some(rejected), shutdown)
            .await?;
        let _ = stop_admin.send(true);
        if let Some(task) = admin_task {
            let _ = task.await;
        }
        tracing::info!("stopped");
        Ok::<_, anyhow::Error>(())
    });
    // The batch's last spans go out after the last request, before the process ends.
    if let Some(tracer) = tracer {
        tracer.shutdown();
    }
    served
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
