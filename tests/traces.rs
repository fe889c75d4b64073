//! Traces end to end: the `schemagate` binary with `[tracing]` on exports its spans over
//! OTLP/HTTP to a real receiver on loopback (an axum server decoding the protobuf
//! `ExportTraceServiceRequest`), continues the partner's W3C trace and hands it upstream.

mod common;

use std::collections::HashMap;
use std::net::TcpListener as StdListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use common::{Upstream, send};
use http::{HeaderMap, Method, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use prost::Message as _;

/// What the receiver got: every span with its resource's `service.name`, and the export
/// requests' headers.
#[derive(Default)]
struct Received {
    spans: Vec<(String, Span)>,
    headers: Vec<HeaderMap>,
}

type Store = Arc<Mutex<Received>>;

async fn export(
    State(store): State<Store>,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, Vec<u8>) {
    let Ok(req) = ExportTraceServiceRequest::decode(body) else {
        return (StatusCode::BAD_REQUEST, Vec::new());
    };
    let mut store = store.lock().unwrap();
    store.headers.push(headers);
    for rs in req.resource_spans {
        let service = rs
            .resource
            .iter()
            .flat_map(|r| &r.attributes)
            .find(|kv| kv.key == "service.name")
            .and_then(|kv| kv.value.as_ref()?.value.clone())
            .map(|v| match v {
                AnyValue::StringValue(s) => s,
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for ss in rs.scope_spans {
            for span in ss.spans {
                store.spans.push((service.clone(), span));
            }
        }
    }
    (
        StatusCode::OK,
        ExportTraceServiceResponse::default().encode_to_vec(),
    )
}

async fn receiver() -> (String, Store) {
    let store = Store::default();
    let router = Router::new()
        .route("/v1/traces", post(export))
        .with_state(Arc::clone(&store));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/traces", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    (url, store)
}

/// A gateway process of this test, killed when dropped.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

async fn serve(upstream: &str, tracing: &str) -> (Served, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let repo = common::repo();
    let config = common::write_config(
        dir.path(),
        &repo.join("schemas"),
        &repo.join("mappings"),
        upstream,
        &format!("\n[tracing]\n{tracing}"),
    );
    let port = StdListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let admin_port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let admin = format!("127.0.0.1:{admin_port}");
    let child = Command::new(env!("CARGO_BIN_EXE_schemagate"))
        .args(["serve", "--config"])
        .arg(&config)
        .args(["--listen", &listen, "--admin-listen", &admin])
        .env_remove("RUST_LOG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served(child);
    let base = format!("http://{listen}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let ok = tokio::time::timeout(
            Duration::from_secs(1),
            common::client().request(
                http::Request::get(format!("http://{admin}/healthz"))
                    .body(http_body_util::Full::new(Bytes::new()))
                    .unwrap(),
            ),
        )
        .await;
        if matches!(ok, Ok(Ok(ref r)) if r.status() == StatusCode::OK) {
            break;
        }
        assert!(Instant::now() < deadline, "the gateway did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (served, base, dir)
}

/// Waits until the receiver holds `n` spans of `trace_id`.
async fn spans_of(store: &Store, trace_id: &[u8], n: usize) -> Vec<(String, Span)> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let spans: Vec<(String, Span)> = store
            .lock()
            .unwrap()
            .spans
            .iter()
            .filter(|(_, s)| s.trace_id == trace_id)
            .cloned()
            .collect();
        if spans.len() >= n {
            return spans;
        }
        assert!(
            Instant::now() < deadline,
            "only {} of {n} spans arrived: {:?}",
            spans.len(),
            spans.iter().map(|(_, s)| &s.name).collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const TRACE_ID: &str = "4bf92f3577b34d6e6e3fa9c0e0d0a1b2";
const PARTNER_SPAN: &str = "00f067aa0ba902b7";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_trace_is_continued_phase_by_phase_and_passed_upstream() {
    let (endpoint, store) = receiver().await;
    let upstream = Upstream::acme().await;
    let (_gw, base, _dir) = serve(
        &upstream.url(),
        &format!(
            "enabled = true\nendpoint = \"{endpoint}\"\nservice_name = \"orders-edge\"\n\
             export_interval_ms = 50\nheaders = {{ x-collector-key = \"k-123\" }}\n"
        ),
    )
    .await;

    let reply = send(
        Method::POST,
        &format!("{base}/partners/acme/orders"),
        &[
            ("content-type", "application/xml"),
            ("traceparent", &format!("00-{TRACE_ID}-{PARTNER_SPAN}-01")),
            ("tracestate", "acme=7f2c"),
        ],
        common::fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());

    let spans = spans_of(&store, &unhex(TRACE_ID), 7).await;
    let by_name: HashMap<&str, &Span> = spans.iter().map(|(_, s)| (s.name.as_str(), s)).collect();
    let mut names: Vec<&str> = by_name.keys().copied().collect();
    names.sort_unstable();
    assert_eq!(
        names,
        [
            "POST /partners/acme/orders",
            "decode",
            "encode",
            "map",
            "map back",
            "upstream call",
            "validate"
        ]
    );
    assert_eq!(spans.len(), 7, "one span per phase");
    assert!(spans.iter().all(|(service, _)| service == "orders-edge"));
    let request = by_name["POST /partners/acme/orders"];
    assert_eq!(hex(&request.parent_span_id), PARTNER_SPAN);
    assert_eq!(request.kind, SpanKind::Server as i32);
    assert_eq!(request.trace_state, "acme=7f2c");
    for phase in [
        "decode",
        "validate",
        "map",
        "upstream call",
        "map back",
        "encode",
    ] {
        assert_eq!(
            by_name[phase].parent_span_id, request.span_id,
            "{phase} is a child of the request span"
        );
    }
    let call = by_name["upstream call"];
    assert_eq!(call.kind, SpanKind::Client as i32);
    // Phases run in order, inside the request.
    let order = [
        "decode",
        "validate",
        "map",
        "upstream call",
        "map back",
        "encode",
    ];
    for pair in order.windows(2) {
        assert!(
            by_name[pair[0]].end_time_unix_nano <= by_name[pair[1]].start_time_unix_nano,
            "{} ends before {} starts",
            pair[0],
            pair[1]
        );
    }
    assert!(request.start_time_unix_nano <= by_name["decode"].start_time_unix_nano);
    assert!(by_name["encode"].end_time_unix_nano <= request.end_time_unix_nano);

    // The upstream was called inside the trace, as a child of the upstream call span.
    let got = upstream.requests();
    assert_eq!(got.len(), 1);
    assert_eq!(
        got[0].headers.get("traceparent").unwrap(),
        &format!("00-{TRACE_ID}-{}-01", hex(&call.span_id))
    );
    assert_eq!(got[0].headers.get("tracestate").unwrap(), "acme=7f2c");

    // Exports carry the configured headers and speak protobuf.
    let headers = store.lock().unwrap().headers[0].clone();
    assert_eq!(headers.get("x-collector-key").unwrap(), "k-123");
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-protobuf"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_partner_trace_a_new_one_starts_and_refused_requests_end_at_their_phase() {
    let (endpoint, store) = receiver().await;
    let upstream = Upstream::acme().await;
    let (_gw, base, _dir) = serve(
        &upstream.url(),
        &format!("enabled = true\nendpoint = \"{endpoint}\"\nexport_interval_ms = 50\n"),
    )
    .await;
    // A malformed traceparent is ignored: the gateway starts a trace of its own.
    let reply = send(
        Method::POST,
        &format!("{base}/partners/acme/orders"),
        &[
            ("content-type", "application/xml"),
            ("traceparent", "00-not-a-trace-01"),
        ],
        common::fixture("acme/orders/invalid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::UNPROCESSABLE_ENTITY);
    let deadline = Instant::now() + Duration::from_secs(20);
    let spans = loop {
        let spans: Vec<Span> = store
            .lock()
            .unwrap()
            .spans
            .iter()
            .map(|(_, s)| s.clone())
            .collect();
        if spans.len() >= 3 {
            break spans;
        }
        assert!(Instant::now() < deadline, "spans arrived: {spans:?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let mut names: Vec<&str> = spans.iter().map(|s| s.name.as_str()).collect();
    names.sort_unstable();
    // The schema refused the document: no map, no upstream call.
    assert_eq!(names, ["POST /partners/acme/orders", "decode", "validate"]);
    let request = spans.iter().find(|s| s.name.starts_with("POST")).unwrap();
    assert!(request.parent_span_id.is_empty(), "a root span");
    assert_ne!(hex(&request.trace_id), "0".repeat(32));
    assert!(spans.iter().all(|s| s.trace_id == request.trace_id));
    assert!(upstream.requests().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_tracing_off_nothing_is_exported_and_the_partner_trace_passes_untouched() {
    let (endpoint, store) = receiver().await;
    let upstream = Upstream::acme().await;
    let (_gw, base, _dir) = serve(
        &upstream.url(),
        &format!("endpoint = \"{endpoint}\"\nexport_interval_ms = 50\n"),
    )
    .await;
    let parent = format!("00-{TRACE_ID}-{PARTNER_SPAN}-01");
    let reply = send(
        Method::POST,
        &format!("{base}/partners/acme/orders"),
        &[
            ("content-type", "application/xml"),
            ("traceparent", &parent),
        ],
        common::fixture("acme/orders/valid/input.xml"),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(store.lock().unwrap().spans.is_empty());
    let got = upstream.requests();
    assert_eq!(got.len(), 1);
    // The partner's trace passes through as it came: the gateway adds no span of its own.
    assert_eq!(got[0].headers.get("traceparent").unwrap(), parent.as_str());
}

/// The `traceparent` the upstream got: its trace id and span id, after checking that it is
/// a version-00 header with valid (non-zero, lowercase hex) ids and the sampled flag off.
fn unsampled_parts(traceparent: &str) -> (String, String) {
    let parts: Vec<&str> = traceparent.split('-').collect();
    assert_eq!(parts.len(), 4, "{traceparent}");
    assert_eq!(parts[0], "00", "{traceparent}");
    assert_eq!(parts[3], "00", "sampled flag off: {traceparent}");
    for (id, len) in [(parts[1], 32), (parts[2], 16)] {
        assert_eq!(id.len(), len, "{traceparent}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{traceparent}"
        );
        assert_ne!(id, "0".repeat(len), "{traceparent}");
    }
    (parts[1].to_owned(), parts[2].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_ratio_zero_no_span_is_made_yet_the_upstream_gets_the_trace_unsampled() {
    let (endpoint, store) = receiver().await;
    let upstream = Upstream::acme().await;
    let (_gw, base, _dir) = serve(
        &upstream.url(),
        &format!("enabled = true\nendpoint = \"{endpoint}\"\nsampling_ratio = 0.0\nexport_interval_ms = 50\n"),
    )
    .await;
    let order = |headers: Vec<(&'static str, String)>| {
        let url = format!("{base}/partners/acme/orders");
        async move {
            let mut all = vec![("content-type", "application/xml".to_owned())];
            all.extend(headers);
            let refs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let reply = send(
                Method::POST,
                &url,
                &refs,
                common::fixture("acme/orders/valid/input.xml"),
            )
            .await;
            assert_eq!(reply.status, StatusCode::OK, "{}", reply.text());
            assert_eq!(
                String::from_utf8_lossy(&reply.body).trim_end_matches('\n'),
                String::from_utf8_lossy(&common::fixture(
                    "acme/orders/valid/expected-response.xml"
                ))
                .trim_end_matches('\n')
            );
        }
    };
    // No partner trace: a new one, not recorded at ratio 0.
    order(vec![]).await;
    // The partner's unsampled trace: continued unsampled, whatever the ratio.
    const UNSAMPLED: &str = "0af7651916cd43dd8448eb211c80319c";
    order(vec![
        ("traceparent", format!("00-{UNSAMPLED}-{PARTNER_SPAN}-00")),
        ("tracestate", "acme=7f2c".to_owned()),
    ])
    .await;
    // The partner's sampled trace: recorded, whatever the ratio (parent-based).
    order(vec![(
        "traceparent",
        format!("00-{TRACE_ID}-{PARTNER_SPAN}-01"),
    )])
    .await;

    let got = upstream.requests();
    assert_eq!(got.len(), 3);
    let (new_trace, new_span) =
        unsampled_parts(got[0].headers.get("traceparent").unwrap().to_str().unwrap());
    assert_ne!(new_trace, TRACE_ID);
    assert_ne!(new_trace, UNSAMPLED);
    assert_eq!(got[0].headers.get("tracestate").unwrap(), "");
    let (trace, span) =
        unsampled_parts(got[1].headers.get("traceparent").unwrap().to_str().unwrap());
    assert_eq!(trace, UNSAMPLED, "the partner's trace goes on");
    assert_ne!(
        span, PARTNER_SPAN,
        "the upstream's parent is the gateway's call"
    );
    assert_ne!(span, new_span);
    assert_eq!(got[1].headers.get("tracestate").unwrap(), "acme=7f2c");

    // The recorded request's spans arrive; the other two requests made none.
    let spans = spans_of(&store, &unhex(TRACE_ID), 7).await;
    assert_eq!(spans.len(), 7);
    let call = spans
        .iter()
        .find(|(_, s)| s.name == "upstream call")
        .map(|(_, s)| s)
        .unwrap();
    assert_eq!(
        got[2].headers.get("traceparent").unwrap(),
        &format!("00-{TRACE_ID}-{}-01", hex(&call.span_id))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let traces: Vec<String> = store
        .lock()
        .unwrap()
        .spans
        .iter()
        .map(|(_, s)| hex(&s.trace_id))
        .collect();
    assert_eq!(traces, vec![TRACE_ID.to_owned(); 7]);
}
