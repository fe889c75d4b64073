//! The acme order scenario, shared by the criterion benchmark and the profiling loop
//! (`examples/hotloop.rs`): the example gateway, the order and the upstream's ack.

use std::path::PathBuf;

use http::HeaderMap;
use schemagate::codec::Limits;
use schemagate::config::{self, Gateway, LoadOptions};
use schemagate::mapping::EvalContext;

pub struct Acme {
    pub gw: Gateway,
    /// The 2.2 KB order with 12 items, as the partner sends it.
    pub order: Vec<u8>,
    /// The orders service's acknowledgement.
    pub ack: Vec<u8>,
    pub limits: Limits,
    headers: HeaderMap,
}

impl Acme {
    /// Loads the repository's `gateway.toml` and the `valid` golden case of `acme/orders`.
    pub fn load() -> Acme {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
        let gw = config::load(&LoadOptions {
            config_path: Some(root.join("gateway.toml")),
            ..Default::default()
        })
        .unwrap_or_else(|d| panic!("{d:#?}"));
        let case = root.join("tests/fixtures/acme/orders/valid");
        let order = std::fs::read(case.join("input.xml")).expect("the order fixture");
        let ack = std::fs::read(case.join("upstream.json")).expect("the ack fixture");
        let limits = gw.config.limits.codec();
        Acme {
            gw,
            order,
            ack,
            limits,
            headers: HeaderMap::new(),
        }
    }

    /// A request context without path, query or headers.
    pub fn context<'a>(&'a self, correlation_id: &'a str) -> EvalContext<'a> {
        EvalContext {
            path_params: &[],
            query: &[],
            headers: &self.headers,
            claims: None,
            soap_header: None,
            partner: "acme",
            correlation_id,
            request: None,
        }
    }
}
