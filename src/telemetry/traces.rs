//! OpenTelemetry traces: a span per request with a child per pipeline phase, exported over
//! OTLP/HTTP (protobuf) in batches from a thread of their own, and the W3C `traceparent` and
//! `tracestate` headers read from the partner and written to the upstream.
//!
//! Off unless `[tracing] enabled = true`. While off no span is ever built: every helper here
//! first reads one relaxed atomic, so the request path pays a load and a branch per phase.
//!
//! While on, whether a request is recorded is decided once, before its request span exists
//! ([`decide`]): the partner's sampled flag when its `traceparent` is valid, else the ratio
//! on the new trace's id (OpenTelemetry's `TraceIdRatioBased`, the sampler the exporter
//! applies too, so both agree). An unrecorded request makes no span at all, only an
//! [`Unrecorded`] in its extensions, from which the upstream still gets its trace, flagged
//! unsampled: making spans and dropping them at the end would cost a recorded request's
//! work for nothing.

use std::cell::Cell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use http::{Extensions, HeaderMap};
use opentelemetry::Context;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{
    SamplingDecision, SpanContext, SpanId, SpanKind, TraceContextExt as _, TraceFlags, TraceId,
    TraceState, TracerProvider as _,
};
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, IdGenerator, RandomIdGenerator, Sampler,
    SdkTracerProvider, ShouldSample as _,
};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::tracing::TracingConfig;

/// The `tracing` target of every span meant for export; the log layer ignores it, so
/// turning traces on does not change a log line.
pub const TARGET: &str = "schemagate::trace";

/// The instrumentation scope named on every exported span.
const SCOPE: &str = "schemagate";

static ENABLED: AtomicBool = AtomicBool::new(false);

/// `[tracing] sampling_ratio` as `f64` bits (set by [`Tracer::activate`]; 1.0 until then).
static RATIO: AtomicU64 = AtomicU64::new(0x3FF0_0000_0000_0000);

thread_local! {
    /// The id [`decide`] drew for a recorded new trace, taken by [`DecidedIds`] when the
    /// request span starts on this thread, so the exported trace is the one decided on.
    static DECIDED_TRACE_ID: Cell<Option<TraceId>> = const { Cell::new(None) };
}

/// The exporter's id generator: random ids, except the trace id [`decide`] already drew
/// for the request span being started.
#[derive(Debug, Default)]
struct DecidedIds(RandomIdGenerator);

impl IdGenerator for DecidedIds {
    fn new_trace_id(&self) -> TraceId {
        DECIDED_TRACE_ID
            .take()
            .unwrap_or_else(|| self.0.new_trace_id())
    }
    fn new_span_id(&self) -> SpanId {
        self.0.new_span_id()
    }
}

/// Whether spans are being made (set once, at startup, by [`Tracer::start`]).
#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Why traces could not be started.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("tracing: the OTLP exporter for `{endpoint}` cannot be built: {reason}")]
    Exporter { endpoint: String, reason: String },
}

/// The running exporter. [`Tracer::shutdown`] sends what is still batched.
pub struct Tracer {
    provider: SdkTracerProvider,
    ratio: f64,
}

impl Tracer {
    /// Builds the exporter and its batch thread. Spans start flowing once the layer from
    /// [`Tracer::layer`] is installed and [`Tracer::activate`] is called.
    pub fn start(cfg: &TracingConfig) -> Result<Tracer, TraceError> {
        let headers: HashMap<String, String> = cfg
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(cfg.endpoint.clone())
            .with_timeout(Duration::from_millis(cfg.export_timeout_ms))
            .with_headers(headers)
            .build()
            .map_err(|e| TraceError::Exporter {
                endpoint: cfg.endpoint.clone(),
                reason: e.to_string(),
            })?;
        let batch = BatchSpanProcessor::builder(exporter)
            .with_batch_config(
                BatchConfigBuilder::default()
                    .with_scheduled_delay(Duration::from_millis(cfg.export_interval_ms))
                    .build(),
            )
            .build();
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batch)
            // What `decide` decides: only recorded requests make spans, so this agrees.
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                cfg.sampling_ratio,
            ))))
            .with_id_generator(DecidedIds::default())
            .with_resource(
                Resource::builder()
                    .with_service_name(cfg.service_name.clone())
                    .build(),
            )
            .build();
        Ok(Tracer {
            provider,
            ratio: cfg.sampling_ratio,
        })
    }

    /// The `tracing` layer that turns this crate's trace spans into OpenTelemetry spans.
    pub fn layer<S>(&self) -> impl tracing_subscriber::Layer<S> + use<S>
    where
        S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
    {
        use tracing_subscriber::Layer as _;
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer(SCOPE))
            .with_filter(tracing_subscriber::filter::filter_fn(|m| {
                m.target() == TARGET
            }))
    }

    /// Turns span creation on for the whole process.
    pub fn activate(&self) {
        RATIO.store(self.ratio.to_bits(), Ordering::Relaxed);
        ENABLED.store(true, Ordering::Relaxed);
    }

    /// Stops making spans and sends every finished span still waiting in the batch.
    pub fn shutdown(self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(e) = self.provider.shutdown() {
            tracing::warn!(error = %e, "tracing: the last spans could not be sent");
        }
    }
}

/// Whether a request is recorded, decided once from its headers by [`decide`].
pub enum Sampling {
    /// Spans are made: the request span continues `parent` (the partner's sampled trace)
    /// or starts the new trace `root`.
    Recorded {
        parent: Context,
        root: Option<TraceId>,
    },
    /// No span is made; the request carries this in its extensions for [`inject`].
    Unrecorded(Unrecorded),
}

/// The trace of a request that is not recorded: its id (the partner's or a new one) and
/// the partner's `tracestate`, handed upstream with the sampled flag off.
#[derive(Debug, Clone)]
pub struct Unrecorded {
    trace_id: TraceId,
    trace_state: TraceState,
}

/// Decides whether the request with these headers is recorded (see the module
/// documentation): parent-based on a valid partner `traceparent`, else the configured
/// ratio on a new trace id. A malformed `traceparent` counts as none: a new trace starts.
pub fn decide(headers: &HeaderMap) -> Sampling {
    let parent = TraceContextPropagator::new()
        .extract_with_context(&Context::new(), &HeaderExtractor(headers));
    let partner = parent.span().span_context().clone();
    if partner.is_valid() {
        return if partner.is_sampled() {
            Sampling::Recorded { parent, root: None }
        } else {
            Sampling::Unrecorded(Unrecorded {
                trace_id: partner.trace_id(),
                trace_state: partner.trace_state().clone(),
            })
        };
    }
    let trace_id = RandomIdGenerator::default().new_trace_id();
    let ratio = f64::from_bits(RATIO.load(Ordering::Relaxed));
    let decision = Sampler::TraceIdRatioBased(ratio)
        .should_sample(None, trace_id, "request", &SpanKind::Server, &[], &[])
        .decision;
    if decision == SamplingDecision::RecordAndSample {
        Sampling::Recorded {
            parent: Context::new(),
            root: Some(trace_id),
        }
    } else {
        Sampling::Unrecorded(Unrecorded {
            trace_id,
            trace_state: TraceState::default(),
        })
    }
}

/// The span of one recorded partner request (see [`decide`]), continuing the partner's
/// trace or starting the decided one; [`Span::none`] while tracing is off. It is named
/// `METHOD /template` after the route the request matched (OpenTelemetry's HTTP server
/// span name), or the bare method when none did: a raw path would give every order number
/// a span name of its own.
pub fn request_span(
    parent: Context,
    root: Option<TraceId>,
    method: &http::Method,
    path: &str,
    route: Option<&str>,
) -> Span {
    if !enabled() {
        return Span::none();
    }
    let span = match route {
        Some(template) => tracing::info_span!(
            target: TARGET,
            "request",
            otel.name = %format_args!("{method} {template}"),
            otel.kind = "server",
            http.request.method = %method,
            http.route = template,
            url.path = path,
            http.response.status_code = tracing::field::Empty,
        ),
        None => tracing::info_span!(
            target: TARGET,
            "request",
            otel.name = %method,
            otel.kind = "server",
            http.request.method = %method,
            url.path = path,
            http.response.status_code = tracing::field::Empty,
        ),
    };
    let _ = span.set_parent(parent);
    if root.is_some() {
        // Started here, on this thread, so the exporter's id generator hands it the trace
        // id that was decided on.
        DECIDED_TRACE_ID.set(root);
        let _ = span.context();
        DECIDED_TRACE_ID.set(None);
    }
    span
}

/// Records the status answered to the partner.
pub fn record_status(span: &Span, status: u16) {
    if !span.is_none() {
        span.record("http.response.status_code", status);
    }
}

/// The phases of the pipeline, each a child span of the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Decode,
    Validate,
    Map,
    UpstreamCall,
    MapBack,
    Encode,
}

/// A phase's span under the current one, or [`Span::none`] while tracing is off or the
/// request is not recorded (no request span is current).
#[inline]
pub fn phase(phase: Phase) -> Span {
    if !enabled() || !in_recorded_request() {
        return Span::none();
    }
    match phase {
        Phase::Decode => tracing::info_span!(target: TARGET, "decode"),
        Phase::Validate => tracing::info_span!(target: TARGET, "validate"),
        Phase::Map => tracing::info_span!(target: TARGET, "map"),
        Phase::UpstreamCall => {
            tracing::info_span!(target: TARGET, "upstream call", otel.kind = "client")
        }
        Phase::MapBack => tracing::info_span!(target: TARGET, "map back"),
        Phase::Encode => tracing::info_span!(target: TARGET, "encode"),
    }
}

/// Whether the current span is one of this module's: a recorded request's span or one of
/// its phases.
fn in_recorded_request() -> bool {
    tracing::dispatcher::get_default(|d| {
        d.current_span()
            .metadata()
            .is_some_and(|m| m.target() == TARGET)
    })
}

/// Writes the upstream call's trace context as `traceparent` and `tracestate` into the
/// upstream request's headers, replacing what the partner sent: `span`'s when the request
/// is recorded, else a new span id in the request's [`Unrecorded`] trace with the sampled
/// flag off. Nothing while tracing is off.
pub fn inject(span: &Span, request: &Extensions, headers: &mut HeaderMap) {
    let cx = if !span.is_none() {
        span.context()
    } else if let Some(u) = request.get::<Unrecorded>() {
        Context::new().with_remote_span_context(SpanContext::new(
            u.trace_id,
            RandomIdGenerator::default().new_span_id(),
            TraceFlags::default(),
            false,
            u.trace_state.clone(),
        ))
    } else {
        return;
    };
    headers.remove("traceparent");
    headers.remove("tracestate");
    TraceContextPropagator::new().inject_context(&cx, &mut HeaderInjector(headers));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn recorded(s: &Sampling) -> Option<(String, Option<TraceId>)> {
        match s {
            Sampling::Recorded { parent, root } => {
                Some((parent.span().span_context().trace_id().to_string(), *root))
            }
            Sampling::Unrecorded(_) => None,
        }
    }

    fn unrecorded(s: Sampling) -> Unrecorded {
        match s {
            Sampling::Unrecorded(u) => u,
            Sampling::Recorded { .. } => panic!("recorded"),
        }
    }

    // One test, since the ratio is the process's.
    #[test]
    fn the_partner_decides_for_its_trace_and_the_ratio_for_new_ones() {
        const TRACE: &str = "4bf92f3577b34d6e6e3fa9c0e0d0a1b2";
        let sampled = headers(&[("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-01"))]);
        let unsampled = headers(&[
            ("traceparent", &format!("00-{TRACE}-00f067aa0ba902b7-00")),
            ("tracestate", "acme=7f2c"),
        ]);
        let malformed = headers(&[("traceparent", "00-not-a-trace-01")]);

        RATIO.store(0.0f64.to_bits(), Ordering::Relaxed);
        assert_eq!(recorded(&decide(&sampled)), Some((TRACE.to_owned(), None)));
        let u = unrecorded(decide(&unsampled));
        assert_eq!(u.trace_id.to_string(), TRACE);
        assert_eq!(u.trace_state.header(), "acme=7f2c");
        for h in [HeaderMap::new(), malformed.clone()] {
            let u = unrecorded(decide(&h));
            assert_ne!(u.trace_id, TraceId::INVALID);
            assert_eq!(u.trace_state.header(), "");
        }

        RATIO.store(1.0f64.to_bits(), Ordering::Relaxed);
        assert!(matches!(decide(&unsampled), Sampling::Unrecorded(_)));
        for h in [HeaderMap::new(), malformed] {
            let (parent, root) = recorded(&decide(&h)).unwrap();
            assert_eq!(parent, TraceId::INVALID.to_string(), "no parent");
            assert_ne!(root.unwrap(), TraceId::INVALID);
        }

        // At 0.5, the trace ids decided on are those OpenTelemetry's ratio sampler keeps.
        RATIO.store(0.5f64.to_bits(), Ordering::Relaxed);
        let (mut kept, mut dropped) = (0, 0);
        for _ in 0..400 {
            match decide(&HeaderMap::new()) {
                Sampling::Recorded { root, .. } => {
                    let low = u64::from_be_bytes(root.unwrap().to_bytes()[8..].try_into().unwrap());
                    assert!(low >> 1 < 1 << 62);
                    kept += 1;
                }
                Sampling::Unrecorded(u) => {
                    let low = u64::from_be_bytes(u.trace_id.to_bytes()[8..].try_into().unwrap());
                    assert!(low >> 1 >= 1 << 62);
                    dropped += 1;
                }
            }
        }
        assert!(
            kept > 100 && dropped > 100,
            "{kept} kept, {dropped} dropped"
        );
        RATIO.store(1.0f64.to_bits(), Ordering::Relaxed);
    }
}
