//! The process's file descriptors, shared out at start so that partner traffic cannot take
//! the ones the probes, the upstream sockets and reloads need.
//!
//! Every partner connection may hold an upstream socket while its request is forwarded, and
//! each upstream keeps up to `pool_max_idle` idle sockets per target. So at start `serve`
//! raises its soft `RLIMIT_NOFILE` to the hard limit (the default soft limit of 1024 is a
//! relic of `select(2)`, which the gateway does not use), then caps the partner listener
//! at
//!
//! ```text
//! (RLIMIT_NOFILE - FD_RESERVE - idle pooled sockets) / 2
//! ```
//!
//! connections when that is below `server.max_connections`, and logs that it did. The
//! admin listener has its own cap, [`ADMIN_MAX_CONNECTIONS`], inside [`FD_RESERVE`], so
//! `/healthz`, `/readyz` and `/metrics` answer while partner traffic is at its cap. What the
//! pairing does not foresee (an HTTP/2 client's many streams, an aggregate route's several
//! calls at once) can still exhaust descriptors: then accepting pauses and is counted (see
//! [`super::accept`]) until descriptors free up.

use std::sync::atomic::{AtomicUsize, Ordering};

use crate::config::file::GatewayConfig;

use super::ServerOptions;

/// Connections the admin listener serves at once: probes and scrapes, a few at a time.
pub const ADMIN_MAX_CONNECTIONS: usize = 32;

/// Descriptors kept out of the partner listener's share: the listeners, the admin
/// listener's connections, the files a reload reads, the file watcher, log and trace
/// exporters, the Redis connection and DNS lookups.
pub const FD_RESERVE: u64 = 96 + ADMIN_MAX_CONNECTIONS as u64;

/// The partner connection cap in force (0 until `serve` sets it), for the metrics.
static PARTNER_LIMIT: AtomicUsize = AtomicUsize::new(0);

/// The partner listener's connection cap in force, once `serve` has set it.
pub fn partner_limit() -> Option<usize> {
    match PARTNER_LIMIT.load(Ordering::Relaxed) {
        0 => None,
        n => Some(n),
    }
}

/// Idle upstream sockets the configuration's pools may keep: `pool_max_idle` per target of
/// each upstream (a discovered upstream counts as one target: its addresses change).
pub fn pooled_idle(cfg: &GatewayConfig) -> u64 {
    cfg.upstreams
        .values()
        .map(|u| u.pool_max_idle as u64 * u.targets.len().max(1) as u64)
        .sum()
}

/// The share worked out at start (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft `RLIMIT_NOFILE` in force after raising it; None: unlimited or unknown.
    pub nofile: Option<u64>,
    /// The partner listener's connection cap.
    pub partner_connections: usize,
}

impl FdBudget {
    /// Raises the soft descriptor limit to the hard one, works out the partner cap from it
    /// and `cfg`, and logs the cap when it is below `server.max_connections`.
    pub fn at_start(cfg: &GatewayConfig) -> FdBudget {
        let nofile = raise_nofile();
        let configured = cfg.server.max_connections;
        let pooled = pooled_idle(cfg);
        let partner_connections = partner_cap(configured, nofile, pooled);
        if partner_connections < configured {
            tracing::warn!(
                rlimit_nofile = nofile,
                reserved = FD_RESERVE,
                pooled_idle = pooled,
                max_connections = configured,
                capped_at = partner_connections,
                "server.max_connections is more than the file descriptor limit allows; \
                 raise the limit (LimitNOFILE, ulimit -n) to serve that many"
            );
        }
        PARTNER_LIMIT.store(partner_connections, Ordering::Relaxed);
        FdBudget {
            nofile,
            partner_connections,
        }
    }

    /// The partner listener's options with this cap.
    pub fn partner(&self, mut opts: ServerOptions) -> ServerOptions {
        opts.max_connections = opts.max_connections.min(self.partner_connections);
        opts
    }
}

/// The admin listener's options: the partner options with the admin cap.
pub fn admin(mut opts: ServerOptions) -> ServerOptions {
    opts.max_connections = opts.max_connections.min(ADMIN_MAX_CONNECTIONS);
    opts
}

/// `configured` connections, or fewer when `nofile` descriptors cannot serve them (two per
/// connection, after the reserve and the idle pools); never below one.
pub fn partner_cap(configured: usize, nofile: Option<u64>, pooled_idle: u64) -> usize {
    let Some(nofile) = nofile else {
        return configured;
    };
    let spare = nofile
        .saturating_sub(FD_RESERVE)
        .saturating_sub(pooled_idle)
        / 2;
    configured
        .min(usize::try_from(spare).unwrap_or(usize::MAX))
        .max(1)
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit; returns the soft limit in force
/// (None when it is unlimited or cannot be read).
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // rlim_t is u64 on Linux, not on every unix
fn raise_nofile() -> Option<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given, which lives for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return None;
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given, which lives for the call.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            tracing::info!(
                from = lim.rlim_cur as u64,
                to = lim.rlim_max as u64,
                "raised the file descriptor limit (RLIMIT_NOFILE) to its hard limit"
            );
            lim.rlim_cur = lim.rlim_max;
        }
    }
    (lim.rlim_cur != libc::RLIM_INFINITY).then_some(lim.rlim_cur as u64)
}

#[cfg(not(unix))]
fn raise_nofile() -> Option<u64> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_partner_cap_leaves_room_for_upstream_sockets_and_the_reserve() {
        // 1024 descriptors, 256 idle pooled: (1024 - 128 - 256) / 2.
        assert_eq!(partner_cap(10_000, Some(1024), 256), 320);
        assert_eq!(partner_cap(100, Some(1024), 256), 100);
        assert_eq!(partner_cap(10_000, None, 256), 10_000);
        assert_eq!(partner_cap(10_000, Some(64), 0), 1);
    }

    #[test]
    fn pooled_idle_counts_each_target() {
        let cfg: GatewayConfig = toml::from_str(
            "[upstreams.a]\nurl = \"http://a:1\"\npool_max_idle = 10\ntargets = [\"10.0.0.1:1\", \"10.0.0.2:1\"]\n\n[upstreams.b]\nurl = \"http://b:1\"\n",
        )
        .unwrap();
        assert_eq!(pooled_idle(&cfg), 20 + 256);
    }

    #[test]
    fn the_admin_listener_has_its_own_small_cap() {
        let opts = ServerOptions::default();
        assert_eq!(admin(opts.clone()).max_connections, ADMIN_MAX_CONNECTIONS);
        let budget = FdBudget {
            nofile: Some(1024),
            partner_connections: 320,
        };
        assert_eq!(budget.partner(opts).max_connections, 320);
    }
}
