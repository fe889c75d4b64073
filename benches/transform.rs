//! The hot path of a partner route, without the network: the acme order in both directions,
//! and the request direction at growing sizes to show the cost is linear.
//!
//! Run with `cargo bench --bench transform`; figures are in docs/performance.md.

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use schemagate::mapping::EvalContext;
use schemagate::pipeline;

#[path = "common/acme.rs"]
mod acme;

/// The acme order with its item list repeated until the document is about `target` bytes.
fn order_of_size(base: &str, target: usize) -> Vec<u8> {
    let start = base.find("<Item ").unwrap();
    let end = base.rfind("</Item>").unwrap() + "</Item>".len();
    let items = &base[start..end];
    let mut body = String::with_capacity(target + items.len());
    body.push_str(&base[..end]);
    let mut line = 12;
    while body.len() + (base.len() - end) < target {
        line += 1;
        body.push_str(&items[..items.find("</Item>").unwrap() + 7].replacen(
            "line=\"1\"",
            &format!("line=\"{line}\""),
            1,
        ));
    }
    body.push_str(&base[end..]);
    body.into_bytes()
}

fn bench(c: &mut Criterion) {
    let scenario = acme::Acme::load();
    let route = scenario.gw.route("acme/orders").expect("acme/orders route");
    let req_stage = route.request.as_ref().unwrap();
    let resp_stage = route.response.as_ref().unwrap();
    let (order, ack, limits) = (&scenario.order, &scenario.ack, scenario.limits);
    let ctx = scenario.context("bench");
    let decoded = pipeline::transform_request(route, req_stage, order, &ctx, &limits)
        .unwrap()
        .decoded;

    let mut g = c.benchmark_group("acme");
    g.throughput(Throughput::Bytes(order.len() as u64));
    g.bench_function("request_2k", |b| {
        b.iter(|| {
            pipeline::transform_request(
                route,
                req_stage,
                std::hint::black_box(order),
                &ctx,
                &limits,
            )
            .unwrap()
        })
    });
    let rctx = EvalContext {
        request: Some(&decoded),
        ..ctx
    };
    g.throughput(Throughput::Bytes(ack.len() as u64));
    g.bench_function("response", |b| {
        b.iter(|| {
            pipeline::transform_response(
                route,
                resp_stage,
                std::hint::black_box(ack),
                &rctx,
                &limits,
            )
            .unwrap()
        })
    });
    g.finish();

    // The request direction phase by phase, as the pipeline runs it on a valid XML order:
    // decoded into a Doc, checked by the fast validator, mapped into a Doc, written out.
    let ns = route.namespace.as_deref();
    let doc =
        schemagate::codec::xml::decode_doc(order, &req_stage.source.shape, ns, &limits).unwrap();
    let mapped = req_stage.map.apply_doc(doc.view(), &ctx).unwrap();
    let mut g = c.benchmark_group("acme_request_phases");
    g.bench_function("decode_xml", |b| {
        b.iter(|| {
            schemagate::codec::xml::decode_doc(
                std::hint::black_box(order),
                &req_stage.source.shape,
                ns,
                &limits,
            )
            .unwrap()
        })
    });
    g.bench_function("validate_external", |b| {
        b.iter(|| {
            assert_eq!(
                req_stage
                    .source
                    .fast_valid(std::hint::black_box(doc.view())),
                Some(true)
            )
        })
    });
    g.bench_function("map", |b| {
        b.iter(|| {
            req_stage
                .map
                .apply_doc(std::hint::black_box(doc.view()), &ctx)
                .unwrap()
        })
    });
    g.bench_function("validate_internal", |b| {
        b.iter(|| {
            assert_eq!(
                req_stage
                    .target
                    .fast_valid(std::hint::black_box(mapped.view())),
                Some(true)
            )
        })
    });
    g.bench_function("serialize", |b| {
        b.iter(|| serde_json::to_vec(std::hint::black_box(&mapped)).unwrap())
    });
    // What the pipeline runs in place of the three phases above when the internal schema
    // has a compiled validator: map, check and write in one pass.
    g.bench_function("map_check_write", |b| {
        b.iter(|| {
            req_stage
                .write_direct(std::hint::black_box(doc.view()), &ctx, order.len())
                .expect("the plan writes the order")
        })
    });
    g.finish();

    let base = String::from_utf8(order.clone()).unwrap();
    let mut big_limits = limits;
    big_limits.max_elements = usize::MAX;
    let mut g = c.benchmark_group("acme_request_by_size");
    for size in [3 * 1024, 300 * 1024, 3 * 1024 * 1024] {
        let doc = order_of_size(&base, size);
        g.throughput(Throughput::Bytes(doc.len() as u64));
        if size > 1024 * 1024 {
            g.sample_size(10);
        }
        g.bench_with_input(BenchmarkId::from_parameter(size / 1024), &doc, |b, doc| {
            b.iter(|| {
                pipeline::transform_request(route, req_stage, doc, &ctx, &big_limits).unwrap()
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
