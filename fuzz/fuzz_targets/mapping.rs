//! Mapping evaluation: an edited route file (its mapping and the schemas it names) run on a
//! document, as the playground's transform runs it: route file compiled by the compile
//! step's [`compile_route_text`](schemagate::config::compile_route_text), then the request
//! or response direction of the pipeline.
//!
//! Input: one selector byte (low bits: which example route; bit 7: the response
//! direction), then the route file, a `%%` line, the document, and optionally a `%%` line
//! and the original request read through `$request`.

// Only the example gateway is needed here, not the decoder targets' differential checks.
#[allow(dead_code)]
mod common;
mod split;

use schemagate::playground::api::{Direction, TransformInput, transform};

fn main() {
    let gw = std::panic::AssertUnwindSafe(common::gateway());
    let mut names: Vec<String> = gw.routes.iter().map(|r| r.name.clone()).collect();
    // By name, so a seed's selector byte names the same route whatever the load order.
    names.sort();
    afl::fuzz!(|data: &[u8]| {
        let Some((&selector, rest)) = data.split_first() else {
            return;
        };
        let parts = split::parts(rest, 3);
        let text = |i: usize| {
            parts
                .get(i)
                .map(|p| String::from_utf8_lossy(p).into_owned())
        };
        let input = TransformInput {
            route: names[usize::from(selector & 0x7f) % names.len()].clone(),
            direction: if selector & 0x80 == 0 {
                Direction::Request
            } else {
                Direction::Response
            },
            route_file: text(0),
            document: text(1).unwrap_or_default(),
            request: text(2),
            context: None,
        };
        // Refusals (no such direction, a route without a body) are answers like any other.
        let _ = transform(&gw, &input);
    });
}
