//! The acme order through the request direction (and, unless `req` is given, the response
//! direction) in a loop, without the network: the program to run under callgrind or perf when
//! working on the hot path, where criterion's timings are too noisy to see small changes.
//!
//! ```bash
//! cargo build --profile profiling --example hotloop
//! valgrind --tool=callgrind target/profiling/examples/hotloop 2000 req
//! ```
//!
//! Subtract a run with 0 iterations to leave out loading the configuration.

use schemagate::mapping::EvalContext;
use schemagate::pipeline;

#[path = "../benches/common/acme.rs"]
mod acme;

// The gateway's allocator, so allocation costs are the ones it pays.
#[global_allocator]
static GLOBAL: schemagate::alloc::Allocator = schemagate::alloc::Allocator;

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let request_only = args.next().as_deref() == Some("req");

    let scenario = acme::Acme::load();
    let route = scenario.gw.route("acme/orders").expect("acme/orders route");
    let req = route.request.as_ref().expect("request stage");
    let resp = route.response.as_ref().expect("response stage");
    let (order, ack, limits) = (&scenario.order, &scenario.ack, &scenario.limits);
    let ctx = scenario.context("loop");

    let mut bytes = 0;
    for _ in 0..n {
        let m = pipeline::transform_request(route, req, std::hint::black_box(order), &ctx, limits)
            .expect("request direction");
        bytes += m.body.len();
        if !request_only {
            let rctx = EvalContext {
                request: Some(&m.decoded),
                ..ctx
            };
            bytes += pipeline::transform_response(route, resp, ack, &rctx, limits)
                .expect("response direction")
                .len();
        }
    }
    println!("{n} iterations, {bytes} bytes out");
}
