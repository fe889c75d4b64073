//! Shared set-up: the repository's example gateway, loaded once.

use std::path::PathBuf;

use schemagate::config::{self, Gateway, LoadOptions};

pub fn gateway() -> Gateway {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    config::load(&LoadOptions {
        config_path: Some(root.join("gateway.toml")),
        ..Default::default()
    })
    .unwrap_or_else(|d| panic!("the example configuration does not load: {d:?}"))
}

/// Runs a partner body through the request direction of `route` and, when it maps, the
/// response direction with the body as the upstream answer: every parser, the validators,
/// the mapping, `locate` on errors, and the encoder.
///
/// Both directions are also checked against the general path, which decodes into a
/// `serde_json::Value` and validates with jsonschema alone: the fast paths (a `Doc`, the
/// compiled validator, the `Doc` output, `$request` cut to what the maps read, the encoder
/// reading the mapped `Doc`) must give the same bytes, and fail exactly when the general
/// path fails.
pub fn run(gw: &Gateway, route: &str, data: &[u8]) {
    let route = gw.route(route).expect("route");
    let headers = http::HeaderMap::new();
    let ctx = schemagate::mapping::EvalContext {
        path_params: &[],
        query: &[],
        headers: &headers,
        claims: None,
        soap_header: None,
        partner: &route.partner,
        correlation_id: "fuzz",
        request: None,
    };
    let limits = gw.config.limits.codec();
    let mut full = None;
    let decoded = route.request.as_ref().and_then(|stage| {
        let fast = schemagate::pipeline::transform_request(route, stage, data, &ctx, &limits);
        let general = general_request(route, stage, data, &ctx, &limits);
        match (&fast, &general) {
            (Ok(m), Some((body, value))) => {
                assert_eq!(m.body, *body, "request bodies differ");
                full = Some(value.clone());
            }
            (Err(_), None) => {}
            _ => panic!(
                "fast and general request paths disagree: fast {:?}, general {:?}",
                fast.as_ref()
                    .map(|m| String::from_utf8_lossy(&m.body).into_owned()),
                general
                    .as_ref()
                    .map(|(b, _)| String::from_utf8_lossy(b).into_owned())
            ),
        }
        fast.ok().map(|m| m.decoded)
    });
    if let Some(stage) = &route.response {
        let cut = schemagate::mapping::EvalContext {
            request: decoded.as_ref(),
            ..ctx
        };
        let answer = schemagate::pipeline::transform_response(route, stage, data, &cut, &limits);
        let general = general_response(route, stage, data, &cut, &limits);
        assert_eq!(
            answer.as_ref().ok(),
            general.as_ref(),
            "fast and general response paths disagree"
        );
        if let Some(full) = &full {
            let whole = schemagate::mapping::EvalContext {
                request: Some(full),
                ..ctx
            };
            let reference =
                schemagate::pipeline::transform_response(route, stage, data, &whole, &limits);
            assert_eq!(
                answer.as_ref().ok(),
                reference.as_ref().ok(),
                "$request cut to what the maps read answers differently"
            );
        }
    }
}

/// The response direction on `serde_json::Value` with jsonschema: the partner's answer, or
/// None where the pipeline must refuse the upstream's.
fn general_response(
    route: &schemagate::config::Route,
    stage: &schemagate::config::Stage,
    data: &[u8],
    ctx: &schemagate::mapping::EvalContext<'_>,
    limits: &schemagate::codec::Limits,
) -> Option<Vec<u8>> {
    let value = schemagate::codec::json::decode(data, limits).ok()?;
    stage.source.validate(&value).ok()?;
    let mapped = stage.map.apply(&value, ctx).ok()?;
    stage.target.validate(&mapped).ok()?;
    schemagate::pipeline::encode(route, stage, &mapped).ok()
}

/// The request direction on `serde_json::Value` with jsonschema: the body forwarded and
/// the decoded document, or None where the pipeline must refuse the request.
fn general_request(
    route: &schemagate::config::Route,
    stage: &schemagate::config::Stage,
    data: &[u8],
    ctx: &schemagate::mapping::EvalContext<'_>,
    limits: &schemagate::codec::Limits,
) -> Option<(Vec<u8>, serde_json::Value)> {
    let value = match route.format {
        schemagate::codec::Format::Xml => schemagate::codec::xml::decode(
            data,
            &stage.source.shape,
            route.namespace.as_deref(),
            limits,
        )
        .ok()?,
        schemagate::codec::Format::Json => schemagate::codec::json::decode(data, limits).ok()?,
    };
    stage.source.validate(&value).ok()?;
    let mapped = stage.map.apply(&value, ctx).ok()?;
    stage.target.validate(&mapped).ok()?;
    Some((serde_json::to_vec(&mapped).ok()?, value))
}
