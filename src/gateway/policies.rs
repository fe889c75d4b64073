//! The per-route policies of a snapshot, compiled from `gateway.toml`'s global sections
//! and `[routes."PARTNER/ROUTE".<section>]` overrides: authentication and CORS, each by its
//! component's own `compile`, whose errors become diagnostics naming the key (with line and
//! column when the file can be read again). Also checked here, since they depend on both
//! the routes and `gateway.toml`: an override naming no route, and `$claims` read by a route
//! whose authentication has no `jwt` method.

use std::path::Path;
use std::sync::Arc;

use crate::config::Gateway;
use crate::diagnostic::Diagnostic;
use crate::edge::auth::client_ip::IpList;
use crate::edge::auth::{self, RoutePolicy};
use crate::edge::cors::{self, CorsPolicy};
use crate::mapping::path::Root;

/// The policies of every route, index `i` belonging to `gateway.routes[i]`.
pub(super) struct Policies {
    pub auth: Vec<Arc<RoutePolicy>>,
    pub cors: Vec<Option<Arc<CorsPolicy>>>,
    pub trusted_proxies: Arc<IpList>,
    compiled: auth::Compiled,
}

impl Policies {
    /// Starts the JWKS refreshers (first fetch at once) when there is a runtime to run
    /// them on; `check` compiles without one and fetches nothing.
    pub fn start(&self) -> Refreshers {
        match tokio::runtime::Handle::try_current() {
            Ok(_) => Refreshers(self.compiled.start()),
            Err(_) => Refreshers(Vec::new()),
        }
    }
}

/// The background JWKS refreshers of one snapshot, aborted when the snapshot is dropped
/// (a reload replaced it and its last request finished), so refreshers never pile up.
#[derive(Default)]
pub(super) struct Refreshers(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Refreshers {
    fn drop(&mut self) {
        for t in &self.0 {
            t.abort();
        }
    }
}

/// Compiles the policies, or pushes every problem to `diags` and returns None.
pub(super) fn compile(
    gateway: &Gateway,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Option<Policies> {
    let cfg = &gateway.config;
    let before = diags.len();
    for name in cfg.routes.keys() {
        if gateway.route(name).is_none() {
            diags.push(
                Diagnostic::error(
                    file,
                    format!("routes.\"{name}\": no route is named {name:?}"),
                )
                .location(format!("routes.\"{name}\""))
                .hint(
                    "name a route as /admin/status and `schemagate routes` list it: PARTNER/ROUTE",
                ),
            );
        }
    }
    let base_dir = match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => ".".into(),
    };
    let overrides: Vec<(&str, Option<&auth::config::RouteAuth>)> = gateway
        .routes
        .iter()
        .map(|r| {
            let own = cfg.routes.get(&r.name).and_then(|o| o.auth.as_ref());
            (r.name.as_str(), own)
        })
        .collect();
    let compiled = match auth::compile(&cfg.auth, &overrides, &base_dir) {
        Ok(c) => Some(c),
        Err(errors) => {
            diags.extend(
                errors
                    .iter()
                    .map(|e| Diagnostic::error(file, e.to_string()).location(e.key.clone())),
            );
            None
        }
    };
    let mut cors_policies = Vec::with_capacity(gateway.routes.len());
    for r in &gateway.routes {
        let own = cfg.routes.get(&r.name).and_then(|o| o.cors.as_ref());
        let key = format!("routes.\"{}\".cors", r.name);
        match cors::compile(cfg.cors.as_ref(), own, &key) {
            Ok(p) => cors_policies.push(p.map(Arc::new)),
            Err(errors) => {
                for e in errors {
                    // A global key is reported once, not once per route.
                    let d = Diagnostic::error(file, e.to_string()).location(e.key.clone());
                    if !diags.iter().any(|x| x.message == d.message) {
                        diags.push(d);
                    }
                }
            }
        }
    }
    let compiled = compiled?;
    let mut auth_policies = Vec::with_capacity(gateway.routes.len());
    for r in &gateway.routes {
        let policy = Arc::clone(compiled.policy(&r.name)?);
        if !policy.accepts_jwt() {
            claims_without_jwt(r, diags);
        }
        auth_policies.push(policy);
    }
    if diags.len() > before {
        return None;
    }
    let trusted_proxies = Arc::new(IpList::parse(&cfg.auth.trusted_proxies).unwrap_or_default());
    Some(Policies {
        auth: auth_policies,
        cors: cors_policies,
        trusted_proxies,
        compiled,
    })
}

/// `$claims` on a route that accepts no JWT would always be missing at run time: refused
/// at the rule that reads it.
fn claims_without_jwt(r: &crate::config::Route, diags: &mut Vec<Diagnostic>) {
    let stages = [
        ("request", &r.request),
        ("response", &r.response),
        ("errors", &r.errors),
    ];
    for (section, stage) in stages {
        let Some(stage) = stage else { continue };
        for (field, path) in stage.map.rules_reading(&Root::Claims) {
            diags.push(
                Diagnostic::error(
                    &r.file,
                    format!(
                        "`{}` reads JWT claims, but route {} accepts no JWT",
                        path.text, r.name
                    ),
                )
                .at_opt(field.pos)
                .location(format!("{section}{}", field.target))
                .hint(format!(
                    "add \"jwt\" to the methods of [routes.\"{}\".auth] (or [auth.default]) in gateway.toml",
                    r.name
                )),
            );
        }
    }
}

/// Gives the diagnostics about `gateway.toml` keys their line and column, reading the file
/// again (error path only).
pub(super) fn place_keys(file: &Path, diags: &mut [Diagnostic]) {
    if let Ok(text) = std::fs::read_to_string(file) {
        crate::config::place_config_keys(&text, diags);
    }
}
