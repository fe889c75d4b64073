//! OpenTelemetry traces: a span per request with a child per pipeline phase, exported over
//! OTLP/HTTP (protobuf) in batches from a thread of their own, and the W3C `traceparent` and
//! `tracestate` headers read from the partner and written to the upstream.
//!
//! Off unless `[tracing] enabled = true`. While off no span is ever built: every helper here
//! first reads one relaxed atomic, so the request path pays a load and a branch per phase.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use http::HeaderMap;
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_http::{HeaderExtractor, HeaderInjector};
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
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
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                cfg.sampling_ratio,
            ))))
            .with_resource(
                Resource::builder()
                    .with_service_name(cfg.service_name.clone())
                    .build(),
            )
            .build();
        Ok(Tracer { provider })
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

/// The span of one partner request, continuing the partner's trace when its `traceparent`
/// is valid; [`Span::none`] while tracing is off. It is named `METHOD /template` after the
/// route the request matched (OpenTelemetry's HTTP server span name), or the bare method
/// when none did: a raw path would give every order number a span name of its own.
pub fn request_span(
    headers: &HeaderMap,
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
    let parent = TraceContextPropagator::new().extract(&HeaderExtractor(headers));
    // A partner's malformed traceparent extracts to an empty context: a new trace starts.
    let _ = span.set_parent(parent);
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

/// A phase's span under the current one, or [`Span::none`] while tracing is off.
#[inline]
pub fn phase(phase: Phase) -> Span {
    if !enabled() {
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

/// Writes `span`'s context as `traceparent` (and `tracestate` when there is one) into the
/// upstream request's headers, replacing what the partner sent.
pub fn inject(span: &Span, headers: &mut HeaderMap) {
    if span.is_none() {
        return;
    }
    headers.remove("traceparent");
    headers.remove("tracestate");
    TraceContextPropagator::new().inject_context(&span.context(), &mut HeaderInjector(headers));
}
