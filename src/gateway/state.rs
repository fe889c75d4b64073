//! The shared state of the running gateway: the snapshot served now, swapped atomically
//! by reloads, with the process-wide pools and metrics that outlive snapshots.
//!
//! A request reads one immutable [`Runtime`] through an `ArcSwap`: no lock on the hot path,
//! and a reload swaps the snapshot while requests in flight finish on the one they started
//! with.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;

use super::snapshot::{self, Runtime};
use super::traffic::Traffic;
use crate::config::{self, Gateway, LoadOptions};
use crate::diagnostic::Diagnostic;
use crate::proxy::HttpClient;
use crate::telemetry::Metrics;

/// The outcome of the last reload, for `/admin/status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ReloadStatus {
    pub outcome: String,
    pub at_unix: u64,
    pub errors: Vec<String>,
}

/// Shared state of the running gateway.
pub struct AppState {
    current: ArcSwap<Runtime>,
    pub metrics: Metrics,
    client: HttpClient,
    /// Limiter, response cache, breakers and retry budgets: kept across reloads.
    pub traffic: Arc<Traffic>,
    opts: LoadOptions,
    generation: AtomicU64,
    pub(super) ready: AtomicBool,
    pub(super) last_reload: Mutex<ReloadStatus>,
    /// Serialises reloads so two file events never race to swap.
    reloading: Mutex<()>,
}

pub(super) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

impl AppState {
    /// Loads the configuration and builds the first runtime.
    pub fn new(opts: LoadOptions) -> Result<Arc<AppState>, Vec<Diagnostic>> {
        let gateway = config::load(&opts)?;
        Self::with_gateway(opts, gateway)
    }

    /// Builds the state from an already loaded configuration; `opts` is what reloads use.
    pub fn with_gateway(
        opts: LoadOptions,
        gateway: Gateway,
    ) -> Result<Arc<AppState>, Vec<Diagnostic>> {
        Self::with_client(opts, gateway, HttpClient::new())
    }

    /// [`AppState::with_gateway`] with the upstream client given: one that resolves the
    /// names of discovered upstreams elsewhere than the system's resolver, say.
    pub fn with_client(
        opts: LoadOptions,
        gateway: Gateway,
        client: HttpClient,
    ) -> Result<Arc<AppState>, Vec<Diagnostic>> {
        for w in &gateway.warnings {
            tracing::warn!("{w}");
        }
        let traffic = Arc::new(Traffic::new());
        let metrics = Metrics::new();
        let client = client.counting_dns_failures(metrics.upstream_dns_failures());
        metrics.traffic.report_from(traffic.clone());
        metrics.capacity.report_memory(Arc::clone(&traffic.memory));
        let runtime = snapshot::build(gateway, &client, &traffic, &metrics, 1)?;
        metrics.set_config_generation(1);
        Ok(Arc::new(AppState {
            current: ArcSwap::from_pointee(runtime),
            metrics,
            client,
            traffic,
            opts,
            generation: AtomicU64::new(1),
            ready: AtomicBool::new(true),
            last_reload: Mutex::new(ReloadStatus {
                outcome: "initial".into(),
                at_unix: unix_now(),
                errors: vec![],
            }),
            reloading: Mutex::new(()),
        }))
    }

    pub fn runtime(&self) -> Arc<Runtime> {
        self.current.load_full()
    }

    /// The listener options of the configuration served now: what a newly accepted
    /// connection uses, so a reload applies to connections accepted after it.
    pub fn server_options(&self) -> crate::server::ServerOptions {
        let cfg = &self.current.load().gateway.config;
        crate::server::ServerOptions::from_config(&cfg.server, &cfg.limits)
    }

    /// Loads everything again, as `check` does; swaps it in when it is good, keeps the old
    /// configuration serving when it is not. Blocking: call from a blocking thread.
    pub fn reload(&self) -> bool {
        let _guard = self.reloading.lock().unwrap_or_else(|e| e.into_inner());
        let generation = self.generation.load(Ordering::SeqCst) + 1;
        let result = snapshot::compile(
            &self.opts,
            &self.client,
            &self.traffic,
            &self.metrics,
            generation,
        );
        let mut status = self.last_reload.lock().unwrap_or_else(|e| e.into_inner());
        match result {
            Ok(runtime) => {
                for w in &runtime.gateway.warnings {
                    tracing::warn!("{w}");
                }
                let generation = runtime.generation;
                let routes = runtime.gateway.routes.len();
                let old = self.current.load();
                for key in crate::server::read_at_start_changes(
                    &old.gateway.config,
                    &runtime.gateway.config,
                ) {
                    tracing::warn!(
                        key,
                        "`{key}` changed but is read at start only; restart the gateway to apply it"
                    );
                }
                self.current.store(Arc::new(runtime));
                self.generation.store(generation, Ordering::SeqCst);
                self.metrics.reload("success");
                self.metrics.set_config_generation(generation);
                tracing::info!(generation, routes, "configuration reloaded");
                *status = ReloadStatus {
                    outcome: "success".into(),
                    at_unix: unix_now(),
                    errors: vec![],
                };
                true
            }
            Err(diags) => {
                let errors: Vec<String> = diags
                    .iter()
                    .filter(|d| d.is_error())
                    .map(ToString::to_string)
                    .collect();
                for e in &errors {
                    tracing::error!("reload refused: {e}");
                }
                tracing::error!(
                    errors = errors.len(),
                    generation = self.generation.load(Ordering::SeqCst),
                    "configuration reload refused; the previous configuration keeps serving"
                );
                self.metrics.reload("failure");
                *status = ReloadStatus {
                    outcome: "failure".into(),
                    at_unix: unix_now(),
                    errors,
                };
                false
            }
        }
    }

    /// Paths a reload depends on: the configuration file and the partner directories.
    pub fn watched_paths(&self) -> Vec<std::path::PathBuf> {
        let rt = self.runtime();
        let gw = &rt.gateway;
        let mut paths = vec![gw.schemas_dir.clone(), gw.mappings_dir.clone()];
        if let Some(f) = &gw.config_file {
            paths.push(f.clone());
        }
        paths.into_iter().filter(|p| p.exists()).collect()
    }
}
