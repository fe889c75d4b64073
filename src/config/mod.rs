//! Configuration: `gateway.toml` plus the partner files under `schemas/` and `mappings/`,
//! loaded, checked and compiled into one immutable [`Gateway`] snapshot.
//!
//! `check`, `serve` and hot reload all call [`load`]: what `check` accepts is exactly what
//! `serve` runs. Loading collects every problem it can find before failing, each as a
//! [`Diagnostic`] naming the file and the place in it.

pub mod env;
pub mod file;
pub mod listener;
mod locate;
pub mod media_type;
pub mod openapi;
pub mod overrides;
pub mod policies;
pub mod proxy_spec;
pub mod redact;
mod route;
pub mod tracing;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::Method;

use crate::diagnostic::{Diagnostic, has_errors};
use crate::schema::SchemaRegistry;

pub use file::GatewayConfig;
pub use locate::place_config_keys;
pub use route::{PathPart, Route, RouteKind, Stage, compile_answer_media_type, compile_route_text};
pub(crate) use route::{encode_segment, parse_method, parse_template};

/// The configuration file used when `--config` is not given and it exists.
pub const DEFAULT_CONFIG_FILE: &str = "gateway.toml";

/// What the command line adds to the files.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The configuration file; None = `gateway.toml` in the working directory if it exists,
    /// otherwise built-in defaults.
    pub config_path: Option<PathBuf>,
    /// `--listen`: overrides `server.listen`.
    pub listen: Option<String>,
    /// `--admin-listen`: overrides `admin.listen`.
    pub admin_listen: Option<String>,
    /// `--demo`: every upstream points at the built-in demo upstream.
    pub upstream_override: Option<String>,
}

impl LoadOptions {
    /// Applies the command line's overrides to a configuration read from the file.
    pub fn apply(&self, config: &mut GatewayConfig) {
        if let Some(listen) = &self.listen {
            config.server.listen = listen.clone();
        }
        if let Some(listen) = &self.admin_listen {
            config.admin.listen = listen.clone();
        }
        if let Some(url) = &self.upstream_override {
            for up in config.upstreams.values_mut() {
                up.url = url.clone();
            }
        }
    }
}

/// One compiled, immutable configuration snapshot. The request path reads only this.
pub struct Gateway {
    pub config: GatewayConfig,
    /// The file it came from, when there was one (watched for reloads).
    pub config_file: Option<PathBuf>,
    pub schemas_dir: PathBuf,
    pub mappings_dir: PathBuf,
    pub fixtures_dir: PathBuf,
    pub schemas: SchemaRegistry,
    pub routes: Vec<Arc<Route>>,
    table: RouteTable,
    /// Warnings found while loading (errors prevent a snapshot from existing).
    pub warnings: Vec<Diagnostic>,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("routes", &self.routes.len())
            .finish_non_exhaustive()
    }
}

/// Result of looking a request up in the route table.
pub enum RouteMatch<'a> {
    /// The route, its position in [`Gateway::routes`] (what per-route state is indexed by)
    /// and the path parameters.
    Found {
        index: usize,
        route: &'a Arc<Route>,
        params: Vec<(String, String)>,
    },
    /// The path exists for other methods.
    MethodNotAllowed(Vec<Method>),
    NotFound,
}

#[derive(Default)]
struct RouteTable {
    by_method: HashMap<Method, matchit::Router<usize>>,
    /// Proxy routes serving every method, consulted after `by_method`.
    any: matchit::Router<usize>,
    /// SOAP routes sharing a method and path, by the index of the first of them (the one
    /// the routers hold): every route of the endpoint, that one included, in file order.
    soap_endpoints: HashMap<usize, Vec<usize>>,
}

impl Gateway {
    /// Finds the partner route for a request. Lock-free: the table is immutable.
    pub fn find(&self, method: &Method, path: &str) -> RouteMatch<'_> {
        let hit = self
            .table
            .by_method
            .get(method)
            .and_then(|router| router.at(path).ok())
            .or_else(|| self.table.any.at(path).ok());
        if let Some(m) = hit
            && let Some(route) = self.routes.get(*m.value)
        {
            let index = *m.value;
            let params = m
                .params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            return RouteMatch::Found {
                index,
                route,
                params,
            };
        }
        let mut allowed: Vec<Method> = self
            .table
            .by_method
            .iter()
            .filter(|(m, r)| *m != method && r.at(path).is_ok())
            .map(|(m, _)| m.clone())
            .collect();
        if allowed.is_empty() {
            RouteMatch::NotFound
        } else {
            allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
            RouteMatch::MethodNotAllowed(allowed)
        }
    }

    /// The route of SOAP endpoint `index` (a route [`Gateway::find`] found) that serves
    /// `action`, or every action the endpoint serves when none does.
    pub fn soap_route(
        &self,
        index: usize,
        action: Option<&str>,
    ) -> Result<(usize, &Arc<Route>), Vec<&str>> {
        let one = [index];
        let members = self
            .table
            .soap_endpoints
            .get(&index)
            .map_or(&one[..], Vec::as_slice);
        let mut expected = Vec::new();
        for &i in members {
            let Some(route) = self.routes.get(i) else {
                continue;
            };
            match &route.soap {
                Some(b) if b.serves(action) => return Ok((i, route)),
                Some(b) => expected.extend(b.actions.iter().map(String::as_str)),
                None => return Ok((i, route)),
            }
        }
        Err(expected)
    }

    /// The route named `partner/route` (the route file's path under mappings/, without
    /// extension).
    pub fn route(&self, name: &str) -> Option<&Arc<Route>> {
        self.routes.iter().find(|r| r.name == name)
    }
}

/// Loads and checks everything. `Ok` carries the snapshot (with its warnings); `Err`
/// every diagnostic found, errors and warnings.
pub fn load(opts: &LoadOptions) -> Result<Gateway, Vec<Diagnostic>> {
    load_with_env(opts, &|name| std::env::var(name).ok())
}

/// [`load`] with an explicit environment, for tests. Every diagnostic comes out with the
/// secrets it could quote hidden ([`redact`]).
pub fn load_with_env(
    opts: &LoadOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Gateway, Vec<Diagnostic>> {
    let secrets = redact::Secrets::default();
    let recording = |name: &str| {
        let value = lookup(name);
        if let Some(v) = &value {
            secrets.record(name, v);
        }
        value
    };
    let shown = |mut d: Diagnostic| {
        d.message = secrets.redact(&d.message);
        d.location = d.location.map(|l| secrets.redact(&l));
        d.hint = d.hint.map(|h| secrets.redact(&h));
        d
    };
    match load_recorded(opts, &recording) {
        Ok(mut gw) => {
            gw.warnings = std::mem::take(&mut gw.warnings)
                .into_iter()
                .map(shown)
                .collect();
            Ok(gw)
        }
        Err(diags) => Err(diags.into_iter().map(shown).collect()),
    }
}

fn load_recorded(
    opts: &LoadOptions,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Gateway, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let (config_file, base_dir) = match &opts.config_path {
        Some(p) => (Some(p.clone()), parent_dir(p)),
        None if Path::new(DEFAULT_CONFIG_FILE).is_file() => {
            (Some(PathBuf::from(DEFAULT_CONFIG_FILE)), PathBuf::from("."))
        }
        None => (None, PathBuf::from(".")),
    };
    let (mut config, config_text) = match &config_file {
        Some(path) => match read_config(path, lookup) {
            Ok((c, text)) => (c, Some(text)),
            Err(d) => return Err(vec![d]),
        },
        None => (GatewayConfig::default(), None),
    };
    opts.apply(&mut config);
    // TLS files are named relative to the configuration file, like the directories.
    for up in config.upstreams.values_mut() {
        for file in [
            &mut up.tls.ca_file,
            &mut up.tls.client_cert_file,
            &mut up.tls.client_key_file,
        ]
        .into_iter()
        .flatten()
        {
            *file = base_dir.join(&*file);
        }
    }
    config.tls.normalize();
    for file in [
        &mut config.tls.cert_file,
        &mut config.tls.key_file,
        &mut config.tls.client_ca_file,
    ]
    .into_iter()
    .flatten()
    {
        *file = base_dir.join(&*file);
    }
    let cfg_name = config_file
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_FILE));
    validate_config(&config, &cfg_name, &mut diags);
    if let Some(text) = &config_text {
        locate::place_config_keys(text, &mut diags);
    }

    let schemas_dir = base_dir.join(&config.paths.schemas);
    let mappings_dir = base_dir.join(&config.paths.mappings);
    let fixtures_dir = base_dir.join(&config.paths.fixtures);
    let schemas = if schemas_dir.is_dir() {
        match SchemaRegistry::load_dir(&schemas_dir) {
            Ok((reg, warnings)) => {
                diags.extend(warnings);
                reg
            }
            Err(errs) => {
                diags.extend(errs);
                SchemaRegistry::default()
            }
        }
    } else {
        if mappings_dir.is_dir() {
            diags.push(
                Diagnostic::error(&schemas_dir, "schemas directory does not exist")
                    .hint("set `paths.schemas` in gateway.toml, relative to the file's directory"),
            );
        }
        SchemaRegistry::default()
    };

    let routes = route::load_routes(&mappings_dir, &config, &schemas, &mut diags);
    let table = build_table(&routes, &mut diags);
    // A route file that failed to load has said so; its partner is not named again. A
    // partner with SOAP routes alone has no OpenAPI document to configure.
    let partners: std::collections::BTreeSet<&str> = if has_errors(&diags) {
        config.openapi.partners.keys().map(String::as_str).collect()
    } else {
        routes
            .iter()
            .filter(|r| r.soap.is_none())
            .map(|r| r.partner.as_str())
            .collect()
    };
    let mut documents = Vec::new();
    for (key, message) in config.openapi.problems(partners.iter().copied()) {
        documents.push(Diagnostic::error(&cfg_name, format!("{key}: {message}")).location(key));
    }
    if let Some(text) = &config_text {
        locate::place_config_keys(text, &mut documents);
    }
    diags.extend(documents);
    let mut traffic = policy_diagnostics(&config, &routes, &cfg_name);
    if let Some(text) = &config_text {
        locate::place_config_keys(text, &mut traffic);
    }
    diags.extend(traffic);

    if has_errors(&diags) {
        return Err(diags);
    }
    Ok(Gateway {
        config,
        config_file,
        schemas_dir,
        mappings_dir,
        fixtures_dir,
        schemas,
        routes,
        table,
        warnings: diags,
    })
}

/// The traffic-control sections compiled against the routes, each bad key a diagnostic
/// placed on its key (the compile step compiles them again to build on them).
pub fn policy_diagnostics(
    config: &GatewayConfig,
    routes: &[Arc<Route>],
    file: &Path,
) -> Vec<Diagnostic> {
    let names: Vec<(&str, bool)> = routes
        .iter()
        .map(|r| (r.name.as_str(), r.method == Method::GET))
        .collect();
    match policies::compile(config, &names) {
        Ok(_) => Vec::new(),
        Err(keys) => keys
            .iter()
            .map(|k| {
                Diagnostic::error(file, k.to_string()).location(policies::key_location(&k.key))
            })
            .collect(),
    }
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// The configuration and its text after `${VAR}` substitution (for locating keys).
fn read_config(
    path: &Path,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(GatewayConfig, String), Diagnostic> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Diagnostic::error(path, format!("cannot read configuration: {e}")))?;
    let text = env::substitute(&text, lookup).map_err(|e| {
        let line = match &e {
            env::EnvError::Unset { line, .. }
            | env::EnvError::Unterminated { line }
            | env::EnvError::BadName { line, .. } => *line,
        };
        Diagnostic::error(path, e.to_string()).at(line, 1)
    })?;
    match toml::from_str::<GatewayConfig>(&text) {
        Ok(config) => Ok((config, text)),
        Err(e) => {
            let pos = e.span().map(|s| line_col(&text, s.start));
            let see = "see docs/configuration.md for every key and its default";
            let hint = match crate::suggest::for_message(e.message()) {
                Some(suggestion) => format!("{suggestion} ({see})"),
                None => see.to_owned(),
            };
            Err(Diagnostic::error(path, e.message().to_string())
                .at_opt(pos)
                .hint(hint))
        }
    }
}

/// 1-based line and column of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (u32, u32) {
    let offset = offset.min(text.len());
    let before = &text.as_bytes()[..offset];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count() as u32
        + 1;
    (line, column)
}

fn validate_config(cfg: &GatewayConfig, file: &Path, diags: &mut Vec<Diagnostic>) {
    if cfg.server.listen.parse::<std::net::SocketAddr>().is_err() {
        diags.push(
            Diagnostic::error(
                file,
                format!("server.listen `{}` is not an address", cfg.server.listen),
            )
            .location("server.listen")
            .hint("write host:port with a numeric IP, e.g. \"127.0.0.1:8080\" or \"0.0.0.0:8080\""),
        );
    }
    listener::validate(&cfg.tls, &cfg.server.http2, &cfg.admin.listen, file, diags);
    for (key, message) in cfg.tracing.problems() {
        diags.push(Diagnostic::error(file, format!("{key}: {message}")).location(key));
    }
    let positive: [(&str, u64); 5] = [
        (
            "server.header_read_timeout_ms",
            cfg.server.header_read_timeout_ms,
        ),
        (
            "server.body_read_timeout_ms",
            cfg.server.body_read_timeout_ms,
        ),
        ("server.request_timeout_ms", cfg.server.request_timeout_ms),
        ("server.max_connections", cfg.server.max_connections as u64),
        ("limits.max_body_bytes", cfg.limits.max_body_bytes as u64),
    ];
    for (key, value) in positive {
        if value == 0 {
            diags.push(
                Diagnostic::error(file, format!("{key} must be greater than 0")).location(key),
            );
        }
    }
    if let Some(budget) = cfg.limits.max_memory_bytes {
        let largest = crate::edge::budget::request_charge(cfg.limits.max_body_bytes);
        if budget < largest {
            diags.push(
                Diagnostic::error(
                    file,
                    format!(
                        "limits.max_memory_bytes ({budget}) is below what one request at \
                         limits.max_body_bytes holds ({largest} bytes, {} times the body): \
                         such a request could never be admitted",
                        crate::edge::budget::DECODE_MULTIPLE
                    ),
                )
                .location("limits.max_memory_bytes")
                .hint(format!(
                    "raise it to at least {largest}, or lower limits.max_body_bytes"
                )),
            );
        }
    }
    if let Err(errors) = crate::edge::headers::HeaderPolicy::new(&cfg.headers) {
        for e in errors {
            diags.push(Diagnostic::error(file, e.to_string()).location(e.key()));
        }
    }
    for (name, up) in &cfg.upstreams {
        match crate::proxy::BaseUrl::parse(name, &up.url) {
            Err(e) => diags.push(
                Diagnostic::error(file, e.to_string())
                    .location(format!("upstreams.{name}.url"))
                    .hint("write it as http://host:port or https://host:port/base-path"),
            ),
            Ok(base) => {
                if let Err(e) = crate::proxy::upstream_tls(name, &base, up) {
                    let key = match &e {
                        crate::proxy::UpstreamConfigError::Tls { error, .. } => error.key(),
                        _ => "tls",
                    };
                    diags.push(
                        Diagnostic::error(file, e.to_string())
                            .location(format!("upstreams.{name}.{}", key_path(key))),
                    );
                }
                if let Err(e) = crate::proxy::upstream_targets(name, &base, up) {
                    diags.push(
                        Diagnostic::error(file, e.to_string())
                            .location(format!("upstreams.{name}.targets"))
                            .hint("write each target as host:port, e.g. \"10.0.0.5:8080\""),
                    );
                }
                if let Err(e) = crate::proxy::discovery::compile(name, up) {
                    let key = match &e {
                        crate::proxy::UpstreamConfigError::InvalidDiscovery { key, .. } => *key,
                        _ => "discovery",
                    };
                    let d = Diagnostic::error(file, e.to_string())
                        .location(format!("upstreams.{name}.{key}"));
                    diags.push(if key == "discovery.dns" {
                        d.hint("write the name with its port, e.g. dns = \"orders.internal:8080\"")
                    } else {
                        d
                    });
                }
            }
        }
        for (key, msg) in up.balance.problems() {
            diags.push(
                Diagnostic::error(file, format!("upstreams.{name}.balance.{key}: {msg}"))
                    .location(format!("upstreams.{name}.balance.{key}")),
            );
        }
        for (k, v) in [
            ("connect_timeout_ms", up.connect_timeout_ms),
            ("request_timeout_ms", up.request_timeout_ms),
        ] {
            if v == 0 {
                diags.push(
                    Diagnostic::error(file, format!("upstreams.{name}.{k} must be greater than 0"))
                        .location(format!("upstreams.{name}.{k}")),
                );
            }
        }
    }
}

/// `tls` or `tls.ca_file`: where a TLS key sits under `[upstreams.NAME]`.
fn key_path(key: &str) -> String {
    if key == "tls" {
        key.to_string()
    } else {
        format!("tls.{key}")
    }
}

fn build_table(routes: &[Arc<Route>], diags: &mut Vec<Diagnostic>) -> RouteTable {
    let mut table = RouteTable::default();
    let mut seen: HashMap<(Method, String), usize> = HashMap::new();
    for (i, r) in routes.iter().enumerate() {
        let shape = route::path_shape(&r.path);
        if let Some(&first) = seen.get(&(r.method.clone(), shape.clone())) {
            let endpoint = table
                .soap_endpoints
                .entry(first)
                .or_insert_with(|| vec![first]);
            match soap_sibling(routes, endpoint, r) {
                Ok(()) => {
                    endpoint.push(i);
                    continue;
                }
                Err(Some(why)) => {
                    diags.push(
                        Diagnostic::error(
                            &r.file,
                            format!("route {} {} shares its endpoint with {}, but {why}", r.method, r.path, routes[first].file.display()),
                        )
                        .location("route.soap_action")
                        .hint("SOAP routes on one method and path each need their own `soap_action`s and the same `soap` version"),
                    );
                    continue;
                }
                Err(None) => {}
            }
            if table
                .soap_endpoints
                .get(&first)
                .is_some_and(|e| e.len() == 1)
            {
                table.soap_endpoints.remove(&first);
            }
            let other = &routes[first];
            diags.push(
                Diagnostic::error(
                    &r.file,
                    format!(
                        "route {} {} collides with {}",
                        r.method,
                        r.path,
                        other.file.display()
                    ),
                )
                .location("route.path")
                .hint("two route files cannot serve the same method and path"),
            );
            continue;
        }
        let router = if r.method.as_str() == proxy_spec::ANY_METHOD {
            &mut table.any
        } else {
            table.by_method.entry(r.method.clone()).or_default()
        };
        // A proxy prefix `/api/{*rest}` also answers for `/api` and `/api/` themselves
        // (the rest is then empty), unless another route has those paths.
        if let Some(prefix) = r.path.strip_suffix('}').and_then(|p| p.rsplit_once("/{*"))
            && r.kind == RouteKind::Proxy
        {
            let _ = router.insert(format!("{}/", prefix.0), i);
            if !prefix.0.is_empty() {
                let _ = router.insert(prefix.0.to_string(), i);
            }
        }
        if let Err(e) = router.insert(r.path.clone(), i) {
            diags.push(
                Diagnostic::error(
                    &r.file,
                    format!(
                        "route {} {} conflicts with another route: {e}",
                        r.method, r.path
                    ),
                )
                .location("route.path"),
            );
            continue;
        }
        seen.insert((r.method.clone(), shape), i);
    }
    table
}

/// Whether `route` may join the SOAP `endpoint` (indexes into `routes`): every route of it
/// is a SOAP route of one version, and each names actions no other names. `Err(None)` when
/// either side is not a SOAP route (an ordinary collision), `Err(Some(why))` otherwise.
fn soap_sibling(
    routes: &[Arc<Route>],
    endpoint: &[usize],
    route: &Route,
) -> Result<(), Option<String>> {
    let Some(binding) = &route.soap else {
        return Err(None);
    };
    for &i in endpoint {
        let Some(other) = routes.get(i).and_then(|r| r.soap.as_ref()) else {
            return Err(None);
        };
        if other.version != binding.version {
            return Err(Some(format!(
                "it is SOAP {} and the other is SOAP {}",
                binding.version.as_str(),
                other.version.as_str()
            )));
        }
        if binding.actions.is_empty() || other.actions.is_empty() {
            return Err(Some(
                "a route of a shared SOAP endpoint has no `soap_action`".to_string(),
            ));
        }
        if let Some(a) = binding.actions.iter().find(|a| other.actions.contains(a)) {
            return Err(Some(format!("both serve the SOAP action `{a}`")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROUTE: &str = "route:\n  method: GET\n  path: /partners/p/things/{id}\n  format: json\nupstream:\n  service: things\n  path: /things/{id}\n";

    /// A tree with a gateway.toml, an empty schemas dir and the given route files.
    fn tree(routes: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("schemas")).unwrap();
        std::fs::write(
            dir.path().join("gateway.toml"),
            "[upstreams.things]\nurl = \"http://127.0.0.1:9\"\n",
        )
        .unwrap();
        for (name, text) in routes {
            let path = dir.path().join("mappings").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        dir
    }

    fn load_tree(dir: &tempfile::TempDir) -> Result<Gateway, Vec<Diagnostic>> {
        load_with_env(
            &LoadOptions {
                config_path: Some(dir.path().join("gateway.toml")),
                ..Default::default()
            },
            &|_| None,
        )
    }

    fn messages(diags: &[Diagnostic]) -> Vec<String> {
        diags
            .iter()
            .map(|d| {
                format!(
                    "{}: {}",
                    d.file.file_name().unwrap().to_string_lossy(),
                    d.message
                )
            })
            .collect()
    }

    #[test]
    fn a_route_without_bodies_loads_and_is_found() {
        let dir = tree(&[("p/things.yaml", ROUTE)]);
        let gw = load_tree(&dir).unwrap();
        match gw.find(&Method::GET, "/partners/p/things/42") {
            RouteMatch::Found {
                index,
                route: r,
                params,
            } => {
                assert_eq!(index, 0);
                assert_eq!(r.name, "p/things");
                assert_eq!(params, vec![("id".to_string(), "42".to_string())]);
                assert_eq!(r.upstream_path(&params), "/things/42");
            }
            _ => panic!("route not found"),
        }
        assert!(
            matches!(gw.find(&Method::POST, "/partners/p/things/42"), RouteMatch::MethodNotAllowed(m) if m == vec![Method::GET])
        );
        assert!(matches!(
            gw.find(&Method::GET, "/elsewhere"),
            RouteMatch::NotFound
        ));
    }

    #[test]
    fn colliding_routes_are_refused() {
        let other = ROUTE.replace("{id}", "{key}");
        let dir = tree(&[("p/a.yaml", ROUTE), ("p/b.yaml", &other)]);
        let diags = load_tree(&dir).unwrap_err();
        assert_eq!(messages(&diags).len(), 1, "{diags:#?}");
        assert!(
            messages(&diags)[0]
                .starts_with("b.yaml: route GET /partners/p/things/{key} collides with "),
            "{diags:#?}"
        );
    }

    /// A SOAP route on `POST /p/soap` of `version` serving `actions` (YAML), mapping
    /// `<A><B>` to `{"a"}` and back.
    fn soap_route(version: &str, actions: &str) -> String {
        format!(
            "route:\n  method: POST\n  path: /p/soap\n  format: xml\n  soap: \"{version}\"\n  soap_action: {actions}\nupstream:\n  service: things\n  path: /t\nrequest:\n  schema: body.json\n  target: flat.json\n  map: {{ a: /A/B }}\nresponse:\n  schema: flat.json\n  target: body.json\n  map: {{ A: {{ B: /a }} }}\n"
        )
    }

    /// [`tree`] with the two schemas of [`soap_route`].
    fn soap_tree(routes: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tree(routes);
        let schemas = dir.path().join("schemas");
        std::fs::write(
            schemas.join("body.json"),
            r#"{"type":"object","required":["A"],"properties":{"A":{"type":"object","required":["B"],"properties":{"B":{"type":"string"}}}}}"#,
        )
        .unwrap();
        std::fs::write(
            schemas.join("flat.json"),
            r#"{"type":"object","required":["a"],"properties":{"a":{"type":"string"}}}"#,
        )
        .unwrap();
        dir
    }

    #[test]
    fn soap_routes_with_their_own_actions_share_an_endpoint() {
        let a = soap_route("1.1", "urn:a");
        let b = soap_route("1.1", "[urn:b, urn:c]");
        let dir = soap_tree(&[("p/a.yaml", &a), ("p/b.yaml", &b)]);
        let gw = load_tree(&dir).unwrap_or_else(|d| panic!("{d:#?}"));
        let RouteMatch::Found { index, .. } = gw.find(&Method::POST, "/p/soap") else {
            panic!("no route");
        };
        let name = |action: &str| {
            gw.soap_route(index, Some(action))
                .map(|(_, r)| r.name.clone())
        };
        assert_eq!(name("urn:a"), Ok("p/a".to_string()));
        assert_eq!(name("urn:c"), Ok("p/b".to_string()));
        assert_eq!(name("urn:x"), Err(vec!["urn:a", "urn:b", "urn:c"]));
        assert_eq!(
            gw.soap_route(index, None).map(|(i, _)| i),
            Err(vec!["urn:a", "urn:b", "urn:c"])
        );
    }

    #[test]
    fn an_endpoint_is_shared_only_by_soap_routes_of_one_version_and_distinct_actions() {
        let a = soap_route("1.1", "urn:a");
        let cases = [
            (
                soap_route("1.1", "[urn:b, urn:a]"),
                "b.yaml: route POST /p/soap shares its endpoint with ",
                "but both serve the SOAP action `urn:a`",
            ),
            (
                soap_route("1.2", "urn:b"),
                "b.yaml: route POST /p/soap shares its endpoint with ",
                "but it is SOAP 1.2 and the other is SOAP 1.1",
            ),
            (
                soap_route("1.1", "urn:b").replace("  soap: \"1.1\"\n  soap_action: urn:b\n", ""),
                "b.yaml: route POST /p/soap collides with ",
                "",
            ),
        ];
        for (b, start, end) in cases {
            let dir = soap_tree(&[("p/a.yaml", &a), ("p/b.yaml", &b)]);
            let diags = load_tree(&dir).unwrap_err();
            let m = messages(&diags);
            assert_eq!(m.len(), 1, "{m:#?}");
            assert!(m[0].starts_with(start) && m[0].ends_with(end), "{m:#?}");
        }
    }

    #[test]
    fn soap_keys_are_checked() {
        let bad = soap_route("1.3", "urn:a");
        let json = soap_route("1.1", "urn:a").replace("format: xml", "format: json");
        let action_only =
            ROUTE.replace("  format: json\n", "  format: json\n  soap_action: urn:a\n");
        let dir = soap_tree(&[
            ("p/a.yaml", &bad),
            ("p/b.yaml", &json),
            ("p/c.yaml", &action_only),
        ]);
        let diags = load_tree(&dir).unwrap_err();
        assert_eq!(
            messages(&diags),
            vec![
                "a.yaml: SOAP version `1.3` is not known".to_string(),
                "b.yaml: a SOAP route needs `format: xml`".to_string(),
                "c.yaml: `route.soap_action` applies to SOAP routes only".to_string(),
            ]
        );
    }

    #[test]
    fn route_files_must_sit_in_a_partner_directory_and_name_real_things() {
        let bad = "route:\n  method: FETCH\n  path: /x/{id}\n  format: json\nupstream:\n  service: nowhere\n  path: /y/{other}\nrequest:\n  schema: nope.json\n  target: none.json\n  map: { a: /b }\n";
        let dir = tree(&[("loose.yaml", ROUTE), ("p/bad.yaml", bad)]);
        let diags = load_tree(&dir).unwrap_err();
        assert_eq!(
            messages(&diags),
            vec![
                "loose.yaml: route file is not inside a partner directory".to_string(),
                "bad.yaml: method `FETCH` is not one of GET, POST, PUT, PATCH, DELETE, HEAD"
                    .to_string(),
                "bad.yaml: upstream path uses `{other}`, which the route path does not declare"
                    .to_string(),
                "bad.yaml: upstream service `nowhere` is not defined in gateway.toml".to_string(),
                "bad.yaml: schema `nope.json` does not exist".to_string(),
                "bad.yaml: schema `none.json` does not exist".to_string(),
            ]
        );
    }

    #[test]
    fn line_col_counts_characters() {
        let text = "a = 1\nbé = 2\n";
        assert_eq!(line_col(text, 0), (1, 1));
        assert_eq!(line_col(text, 6), (2, 1));
        assert_eq!(line_col(text, 9), (2, 3));
    }
}
