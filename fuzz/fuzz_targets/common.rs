//! Shared set-up: the repository's example gateway, loaded once.

use std::path::PathBuf;

use schemagate::config::{self, Gateway, LoadOptions};

pub fn gateway() -> Gateway {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    config::load(&LoadOptions { config_path: Some(root.join("gateway.toml")), ..Default::default() })
        .unwrap_or_else(|d| panic!("the example configuration does not load: {d:?}"))
}

/// Runs a partner body through the request direction of `route` and, when it maps, the
/// response direction with the body as the upstream answer: every parser, the validators,
/// the mapping, `locate` on errors, and the encoder.
pub fn run(gw: &Gateway, route: &str, data: &[u8]) {
    let route = gw.route(route).expect("route");
    let headers = http::HeaderMap::new();
    let ctx = schemagate::mapping::EvalContext {
        path_params: &[],
        query: &[],
        headers: &headers,
        claims: None,
        partner: &route.partner,
        correlation_id: "fuzz",
        request: None,
    };
    let limits = gw.config.limits.codec();
    let decoded = route
        .request
        .as_ref()
        .and_then(|stage| schemagate::pipeline::transform_request(route, stage, data, &ctx, &limits).ok())
        .map(|m| m.decoded);
    if let Some(stage) = &route.response {
        let ctx = schemagate::mapping::EvalContext { request: decoded.as_ref(), ..ctx };
        let _ = schemagate::pipeline::transform_response(route, stage, data, &ctx, &limits);
    }
}
