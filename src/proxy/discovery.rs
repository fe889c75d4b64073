//! DNS discovery of an upstream's targets (`[upstreams.NAME.discovery]`): the addresses a
//! name resolves to are the targets, and a background task resolves it again every
//! `refresh_ms`, as Envoy's STRICT_DNS clusters and nginx's `resolve` do.
//!
//! Without discovery a name in `targets` is resolved by the connector for each new
//! connection, so it is one target whatever it resolves to: round-robin, least-requests
//! and passive health cannot see the several hosts behind it. Here each address is a
//! target of its own, and the set follows the name as it changes.
//!
//! A refresh replaces the balancer's target set ([`Balancer::replace`]): an address found
//! again keeps its state (requests in flight, failures, ejection), one that vanished is
//! dropped, a new one starts clean. A failed, timed-out or empty answer keeps the last
//! known addresses, is logged once per run of failures and is counted in
//! `schemagate_upstream_dns_refresh_failures_total{upstream}`. Until the first answer the
//! set is empty and requests get a 503 ([`super::UpstreamError::NoAddress`]).
//!
//! The task holds its balancer weakly: it ends at the first refresh after the balancer is
//! dropped, which is when no snapshot uses the upstream any more (a reload removed it or
//! changed its settings).

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::future::BoxFuture;
use http::uri::Authority;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::UpstreamConfigError;
use super::balance::Balancer;
use crate::config::file::UpstreamConfig;

/// Five seconds: a moved service is followed quickly, and a resolver answering from its
/// cache costs next to nothing.
pub const DEFAULT_REFRESH_MS: u64 = 5_000;
pub const DEFAULT_RESOLVE_TIMEOUT_MS: u64 = 2_000;

/// `[upstreams.NAME.discovery]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DiscoveryConfig {
    /// The `host:port` whose addresses (IPv4 and IPv6) are the targets, each with this
    /// port.
    pub dns: String,
    /// Time between two resolutions of `dns`.
    #[serde(default = "default_refresh_ms")]
    pub refresh_ms: u64,
    /// Deadline of one resolution; a late answer counts as a failed one.
    #[serde(default = "default_resolve_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_refresh_ms() -> u64 {
    DEFAULT_REFRESH_MS
}

fn default_resolve_timeout_ms() -> u64 {
    DEFAULT_RESOLVE_TIMEOUT_MS
}

/// A checked `[upstreams.NAME.discovery]`: what a balancer is discovered by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Discovery {
    /// The name as written (`orders.internal:8080`), for logs and the admin status.
    pub name: String,
    /// The host to resolve, without the brackets of an IPv6 literal.
    pub host: String,
    pub port: u16,
    pub refresh: Duration,
    pub timeout: Duration,
}

/// The discovery of upstream `name`, checked: `dns` is `host:port`, the durations are not
/// zero, and `targets` is not also given.
pub fn compile(name: &str, cfg: &UpstreamConfig) -> Result<Option<Discovery>, UpstreamConfigError> {
    let Some(d) = &cfg.discovery else {
        return Ok(None);
    };
    let bad = |key: &'static str, reason: String| UpstreamConfigError::InvalidDiscovery {
        upstream: name.to_string(),
        key,
        reason,
    };
    if !cfg.targets.is_empty() {
        return Err(bad(
            "discovery",
            "cannot be combined with `targets`: the addresses found are the targets".into(),
        ));
    }
    let not_host_port = || bad("discovery.dns", format!("`{}` is not host:port", d.dns));
    let authority: Authority = d.dns.parse().map_err(|_| not_host_port())?;
    if authority.as_str().contains('@') || authority.host().is_empty() {
        return Err(not_host_port());
    }
    let port = match authority.port_u16() {
        Some(p @ 1..) => p,
        _ => {
            return Err(bad(
                "discovery.dns",
                format!("`{}` needs a port number (1 to 65535)", d.dns),
            ));
        }
    };
    for (key, v) in [
        ("discovery.refresh_ms", d.refresh_ms),
        ("discovery.timeout_ms", d.timeout_ms),
    ] {
        if v == 0 {
            return Err(bad(key, "must be greater than 0".into()));
        }
    }
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    Ok(Some(Discovery {
        name: d.dns.clone(),
        host: host.to_string(),
        port,
        refresh: Duration::from_millis(d.refresh_ms),
        timeout: Duration::from_millis(d.timeout_ms),
    }))
}

/// Where the addresses of a name come from. The gateway uses [`SystemResolver`]; another
/// source (a file a test rewrites, say) can stand in through
/// [`super::HttpClient::resolving_with`].
pub trait Resolver: Send + Sync + fmt::Debug + 'static {
    /// The addresses of `host`, each with `port` unless the source knows better.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>>;
}

/// The system's resolver (`getaddrinfo` through tokio's `lookup_host`): `/etc/hosts`,
/// then DNS, as every other program on the machine resolves.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
        let host = host.to_string();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }
}

/// The label set of the refresh-failure counter: `upstream`.
pub type FailureLabels = [(&'static str, String); 1];

/// What every discovery task of a process shares: the resolver and the failure counter.
#[derive(Clone)]
pub struct Discoverer {
    resolver: Arc<dyn Resolver>,
    failures: Family<FailureLabels, Counter>,
}

impl Default for Discoverer {
    fn default() -> Self {
        Discoverer {
            resolver: Arc::new(SystemResolver),
            failures: Family::default(),
        }
    }
}

impl fmt::Debug for Discoverer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Discoverer")
            .field("resolver", &self.resolver)
            .finish_non_exhaustive()
    }
}

impl Discoverer {
    pub fn with_resolver(self, resolver: Arc<dyn Resolver>) -> Self {
        Discoverer { resolver, ..self }
    }

    /// Counts failures into `failures` (the registered metric family).
    pub fn with_failures(self, failures: Family<FailureLabels, Counter>) -> Self {
        Discoverer { failures, ..self }
    }

    /// Starts the refresh task of `balancer` (a discovered one) on the current runtime;
    /// nothing without a runtime (`check` needs no addresses).
    pub fn start(&self, upstream: &str, balancer: &Arc<Balancer>) {
        let (Some(discovery), Ok(handle)) = (
            balancer.discovery().cloned(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        let failures = self
            .failures
            .get_or_create(&[("upstream", upstream.to_string())])
            .clone();
        handle.spawn(refresh(
            Arc::downgrade(balancer),
            upstream.to_string(),
            discovery,
            Arc::clone(&self.resolver),
            failures,
        ));
    }
}

/// Resolves `discovery` every `refresh` into `balancer` until the balancer is dropped.
pub async fn refresh(
    balancer: Weak<Balancer>,
    upstream: String,
    discovery: Discovery,
    resolver: Arc<dyn Resolver>,
    failures: Counter,
) {
    let mut failing = false;
    while balancer.strong_count() > 0 {
        let answer = tokio::time::timeout(
            discovery.timeout,
            resolver.resolve(&discovery.host, discovery.port),
        )
        .await;
        let found = match answer {
            Ok(Ok(addrs)) if !addrs.is_empty() => Ok(addrs),
            Ok(Ok(_)) => Err("no address".to_string()),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                discovery.timeout.as_millis()
            )),
        };
        let Some(b) = balancer.upgrade() else {
            return;
        };
        match found {
            Ok(addrs) => {
                let targets = authorities(addrs);
                let shown: Vec<&str> = targets.iter().map(Authority::as_str).collect();
                let shown = shown.join(", ");
                if b.replace(targets.clone()) || failing {
                    tracing::info!(
                        upstream = %upstream,
                        name = %discovery.name,
                        targets = %shown,
                        "upstream targets resolved"
                    );
                }
                failing = false;
            }
            Err(reason) => {
                failures.inc();
                if !failing {
                    tracing::warn!(
                        upstream = %upstream,
                        name = %discovery.name,
                        reason = %reason,
                        kept = b.targets().len(),
                        "cannot resolve the upstream's name; the last known targets are kept"
                    );
                }
                failing = true;
            }
        }
        drop(b);
        tokio::time::sleep(discovery.refresh).await;
    }
}

/// The targets of a resolution: each address once, sorted (IPv4 before IPv6), so every
/// refresh lists the same set in the same order and round-robin stays even.
pub fn authorities(mut addrs: Vec<SocketAddr>) -> Vec<Authority> {
    addrs.sort();
    addrs.dedup();
    addrs
        .into_iter()
        .filter_map(|a| a.to_string().parse().ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proxy::balance::BalanceConfig;
    use std::path::PathBuf;

    /// A resolver reading `NAME ADDRESS` lines from a file the test rewrites; `ADDRESS` is
    /// an IP (the port asked for) or `IP:PORT`. A missing file is a failed resolution.
    #[derive(Debug)]
    struct HostsFile(PathBuf);

    impl Resolver for HostsFile {
        fn resolve(
            &self,
            host: &str,
            port: u16,
        ) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> {
            let read = std::fs::read_to_string(&self.0).map(|text| {
                text.lines()
                    .filter_map(|l| l.split_once(' '))
                    .filter(|(name, _)| *name == host)
                    .filter_map(|(_, a)| {
                        a.parse::<SocketAddr>()
                            .ok()
                            .or_else(|| Some(SocketAddr::new(a.parse().ok()?, port)))
                    })
                    .collect()
            });
            Box::pin(async move { read })
        }
    }

    /// Replaces the hosts file at once, as a resolver's answer changes.
    fn publish(hosts: &std::path::Path, text: &str) {
        let next = hosts.with_extension("next");
        std::fs::write(&next, text).unwrap();
        std::fs::rename(&next, hosts).unwrap();
    }

    fn upstream(discovery: &str) -> UpstreamConfig {
        toml::from_str(&format!(
            "url = \"http://orders.internal\"\ndiscovery = {discovery}"
        ))
        .unwrap()
    }

    #[test]
    fn settings_are_checked_and_named() {
        let err = |d: &str| compile("o", &upstream(d)).unwrap_err().to_string();
        assert_eq!(
            err(r#"{ dns = "orders.internal" }"#),
            "upstream `o`: discovery.dns: `orders.internal` needs a port number (1 to 65535)"
        );
        assert_eq!(
            err(r#"{ dns = "a b:80" }"#),
            "upstream `o`: discovery.dns: `a b:80` is not host:port"
        );
        assert_eq!(
            err(r#"{ dns = "u@h:80" }"#),
            "upstream `o`: discovery.dns: `u@h:80` is not host:port"
        );
        assert_eq!(
            err(r#"{ dns = "h:80", refresh_ms = 0 }"#),
            "upstream `o`: discovery.refresh_ms: must be greater than 0"
        );
        assert_eq!(
            err(r#"{ dns = "h:80", timeout_ms = 0 }"#),
            "upstream `o`: discovery.timeout_ms: must be greater than 0"
        );
        let mut both = upstream(r#"{ dns = "h:80" }"#);
        both.targets = vec!["10.0.0.1:80".into()];
        assert_eq!(
            compile("o", &both).unwrap_err().to_string(),
            "upstream `o`: discovery: cannot be combined with `targets`: the addresses found are the targets"
        );
        assert!(
            toml::from_str::<UpstreamConfig>(
                "url = \"http://o\"\ndiscovery = { dns = \"h:80\", refersh_ms = 5 }"
            )
            .unwrap_err()
            .to_string()
            .contains("unknown field `refersh_ms`")
        );
        assert_eq!(
            compile("o", &upstream(r#"{ dns = "[::1]:8080" }"#)).unwrap(),
            Some(Discovery {
                name: "[::1]:8080".into(),
                host: "::1".into(),
                port: 8080,
                refresh: Duration::from_millis(DEFAULT_REFRESH_MS),
                timeout: Duration::from_millis(DEFAULT_RESOLVE_TIMEOUT_MS),
            })
        );
    }

    #[test]
    fn addresses_are_deduplicated_and_sorted() {
        let addrs = [
            "[::1]:80",
            "10.0.0.2:80",
            "10.0.0.1:80",
            "10.0.0.2:80",
            "10.0.0.1:81",
        ]
        .map(|a| a.parse().unwrap())
        .to_vec();
        let got: Vec<String> = authorities(addrs).iter().map(|a| a.to_string()).collect();
        assert_eq!(
            got,
            ["10.0.0.1:80", "10.0.0.1:81", "10.0.0.2:80", "[::1]:80"]
        );
    }

    #[tokio::test]
    async fn localhost_resolves_through_the_system() {
        let addrs = SystemResolver.resolve("localhost", 8080).await.unwrap();
        let got: Vec<String> = authorities(addrs).iter().map(|a| a.to_string()).collect();
        assert_eq!(got.first().map(String::as_str), Some("127.0.0.1:8080"));
        // `localhost` may also be ::1, nothing else.
        assert!(
            got == ["127.0.0.1:8080"] || got == ["127.0.0.1:8080", "[::1]:8080"],
            "{got:?}"
        );
    }

    fn shown(b: &Balancer) -> Vec<String> {
        b.targets()
            .iter()
            .map(|t| t.authority.to_string())
            .collect()
    }

    /// Waits until `done` holds, polling.
    async fn until(what: &str, done: impl Fn() -> bool) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !done() {
            assert!(tokio::time::Instant::now() < deadline, "{what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[tokio::test]
    async fn refresh_follows_the_file_keeps_the_last_set_on_failure_and_ends_with_the_balancer() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = dir.path().join("hosts");
        let resolver: Arc<dyn Resolver> = Arc::new(HostsFile(hosts.clone()));
        let discovery = compile(
            "orders",
            &upstream(r#"{ dns = "orders.test:8080", refresh_ms = 10 }"#),
        )
        .unwrap()
        .unwrap();
        let balancer = Arc::new(Balancer::discovered(
            discovery,
            Vec::new(),
            BalanceConfig::default(),
        ));
        let failures = Family::<FailureLabels, Counter>::default();
        Discoverer::default()
            .with_resolver(Arc::clone(&resolver))
            .with_failures(failures.clone())
            .start("orders", &balancer);
        let failed = || {
            failures
                .get_or_create(&[("upstream", "orders".to_string())])
                .get()
        };

        // No file yet: failures are counted, no target, so nothing to pick.
        until("a failure is counted", || failed() >= 1).await;
        assert!(shown(&balancer).is_empty());
        assert!(balancer.pick().is_none());

        publish(&hosts, "orders.test 10.0.0.2\nother.test 10.0.0.9\n");
        until("one target", || shown(&balancer) == ["10.0.0.2:8080"]).await;
        publish(
            &hosts,
            "orders.test 10.0.0.2\norders.test ::1\norders.test 10.0.0.1\norders.test 10.0.0.2\n",
        );
        until("three targets", || shown(&balancer).len() == 3).await;
        assert_eq!(
            shown(&balancer),
            ["10.0.0.1:8080", "10.0.0.2:8080", "[::1]:8080"]
        );

        // A failed and an empty answer keep the set.
        std::fs::remove_file(&hosts).unwrap();
        let before = failed();
        until("another failure", || failed() > before + 2).await;
        publish(&hosts, "other.test 10.0.0.9\n");
        let before = failed();
        until("an empty answer is a failure", || failed() > before + 2).await;
        assert_eq!(
            shown(&balancer),
            ["10.0.0.1:8080", "10.0.0.2:8080", "[::1]:8080"]
        );

        // Dropping the balancer ends the task, which lets go of its resolver.
        drop(balancer);
        until("the task ended", || Arc::strong_count(&resolver) == 1).await;
    }
}
