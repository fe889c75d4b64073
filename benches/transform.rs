//! The hot path of a partner route, without the network: the acme order in both directions,
//! the request direction at growing sizes to show the cost is linear, and the same order
//! as a SOAP message beside the plain one.
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

/// The acme order as a SOAP 1.1 message: the same route with `route.soap` set, the same
/// order as the Body's element, beside the plain route and order. The difference is what
/// the envelope costs (read on the way in, written on the way out).
fn bench_soap(c: &mut Criterion) {
    let scenario = acme::Acme::load();
    let plain = scenario.gw.route("acme/orders").expect("acme/orders route");
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let file = root.join("mappings/acme/orders.yaml");
    let text = std::fs::read_to_string(&file).expect("the acme route file");
    let text = text.replacen(
        "  namespace: \"urn:acme:orders:v2\"\n",
        "  namespace: \"urn:acme:orders:v2\"\n  soap: \"1.1\"\n",
        1,
    );
    let (soap, _) =
        schemagate::config::compile_route_text(&scenario.gw, "acme/orders", &file, &text)
            .unwrap_or_else(|d| panic!("{d:#?}"));
    let order = String::from_utf8(scenario.order.clone()).unwrap();
    let element = order
        .find("?>")
        .map_or(order.as_str(), |end| order[end + 2..].trim_start());
    let message = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\">\n<soap:Header><t:Trace xmlns:t=\"urn:trace\">b-1</t:Trace></soap:Header>\n<soap:Body>\n{element}\n</soap:Body>\n</soap:Envelope>\n"
    )
    .into_bytes();
    let (ack, limits) = (&scenario.ack, scenario.limits);
    let ctx = scenario.context("bench");
    let (plain_req, plain_resp) = (
        plain.request.as_ref().unwrap(),
        plain.response.as_ref().unwrap(),
    );
    let (soap_req, soap_resp) = (
        soap.request.as_ref().unwrap(),
        soap.response.as_ref().unwrap(),
    );
    let decoded = pipeline::transform_request(&soap, soap_req, &message, &ctx, &limits)
        .unwrap()
        .decoded;
    let rctx = EvalContext {
        request: Some(&decoded),
        ..ctx
    };

    let mut g = c.benchmark_group("acme_soap");
    g.bench_function("request_plain", |b| {
        b.iter(|| {
            pipeline::transform_request(
                plain,
                plain_req,
                std::hint::black_box(&scenario.order),
                &ctx,
                &limits,
            )
            .unwrap()
        })
    });
    g.bench_function("request_soap", |b| {
        b.iter(|| {
            pipeline::transform_request(
                &soap,
                soap_req,
                std::hint::black_box(&message),
                &ctx,
                &limits,
            )
            .unwrap()
        })
    });
    g.bench_function("response_plain", |b| {
        b.iter(|| {
            pipeline::transform_response(
                plain,
                plain_resp,
                std::hint::black_box(ack),
                &rctx,
                &limits,
            )
            .unwrap()
        })
    });
    g.bench_function("response_soap", |b| {
        b.iter(|| {
            let doc = pipeline::transform_response(
                &soap,
                soap_resp,
                std::hint::black_box(ack),
                &rctx,
                &limits,
            )
            .unwrap();
            pipeline::partner_answer(&soap, doc)
        })
    });
    g.finish();
}

criterion_group!(benches, bench, bench_soap);
criterion_main!(benches);
