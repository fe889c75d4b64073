//! The `[tracing]` section: where OpenTelemetry spans go over OTLP/HTTP, how many requests
//! are sampled and under which service name. Off by default; read once at startup, since
//! the exporter belongs to the process, not to a reloadable snapshot.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where an OTLP/HTTP collector listens by default (the OpenTelemetry Collector's port).
pub const DEFAULT_TRACING_ENDPOINT: &str = "http://127.0.0.1:4318/v1/traces";
/// Every request whose partner did not already decide is traced.
pub const DEFAULT_SAMPLING_RATIO: f64 = 1.0;
/// The `service.name` resource attribute.
pub const DEFAULT_SERVICE_NAME: &str = "schemagate";
/// How long finished spans wait in the batch before they are sent.
pub const DEFAULT_EXPORT_INTERVAL_MS: u64 = 5_000;
/// How long one export may take before it is abandoned.
pub const DEFAULT_EXPORT_TIMEOUT_MS: u64 = 10_000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TracingConfig {
    /// Export spans. When false no span is created at all.
    pub enabled: bool,
    /// The OTLP/HTTP traces URL (protobuf), e.g. `http://collector:4318/v1/traces`.
    pub endpoint: String,
    /// The share of new traces that are recorded, 0.0 to 1.0. A partner's `traceparent`
    /// decides for its own trace (parent-based sampling).
    #[schemars(range(min = 0.0, max = 1.0))]
    pub sampling_ratio: f64,
    /// `service.name` on every span.
    pub service_name: String,
    /// Extra HTTP headers on every export, e.g. an API key for a hosted collector.
    pub headers: BTreeMap<String, String>,
    /// Milliseconds between batch exports.
    pub export_interval_ms: u64,
    /// Milliseconds one export may take.
    pub export_timeout_ms: u64,
}

impl Default for TracingConfig {
    fn default() -> Self {
        TracingConfig {
            enabled: false,
            endpoint: DEFAULT_TRACING_ENDPOINT.into(),
            sampling_ratio: DEFAULT_SAMPLING_RATIO,
            service_name: DEFAULT_SERVICE_NAME.into(),
            headers: BTreeMap::new(),
            export_interval_ms: DEFAULT_EXPORT_INTERVAL_MS,
            export_timeout_ms: DEFAULT_EXPORT_TIMEOUT_MS,
        }
    }
}

impl TracingConfig {
    /// What is wrong with the section, as `(key, message)` pairs; empty when it is usable.
    pub fn problems(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        if !(0.0..=1.0).contains(&self.sampling_ratio) || self.sampling_ratio.is_nan() {
            out.push((
                "tracing.sampling_ratio",
                format!("{} is not between 0.0 and 1.0", self.sampling_ratio),
            ));
        }
        match self.endpoint.parse::<http::Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => {}
            _ => out.push((
                "tracing.endpoint",
                format!(
                    "`{}` is not an http:// or https:// URL with a host",
                    self.endpoint
                ),
            )),
        }
        if self.service_name.trim().is_empty() {
            out.push(("tracing.service_name", "must not be empty".into()));
        }
        for (name, value) in &self.headers {
            if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
                out.push(("tracing.headers", format!("`{name}` is not a header name")));
            } else if http::HeaderValue::from_str(value).is_err() {
                out.push((
                    "tracing.headers",
                    format!("the value of `{name}` is not a valid header value"),
                ));
            }
        }
        if self.export_interval_ms == 0 {
            out.push(("tracing.export_interval_ms", "must be at least 1".into()));
        }
        if self.export_timeout_ms == 0 {
            out.push(("tracing.export_timeout_ms", "must be at least 1".into()));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_usable_and_off() {
        let c = TracingConfig::default();
        assert!(!c.enabled);
        assert!(c.problems().is_empty());
    }

    #[test]
    fn every_bad_key_is_named() {
        let c: TracingConfig = toml::from_str(
            r#"
            enabled = true
            endpoint = "collector:4318"
            sampling_ratio = 1.5
            service_name = " "
            headers = { "bad name" = "x", ok = "line\nbreak" }
            export_interval_ms = 0
            "#,
        )
        .unwrap();
        let keys: Vec<String> = c
            .problems()
            .into_iter()
            .map(|(k, m)| format!("{k}: {m}"))
            .collect();
        assert_eq!(
            keys,
            [
                "tracing.sampling_ratio: 1.5 is not between 0.0 and 1.0",
                "tracing.endpoint: `collector:4318` is not an http:// or https:// URL with a host",
                "tracing.service_name: must not be empty",
                "tracing.headers: `bad name` is not a header name",
                "tracing.headers: the value of `ok` is not a valid header value",
                "tracing.export_interval_ms: must be at least 1",
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        let e = toml::from_str::<TracingConfig>("sample = 0.5").unwrap_err();
        assert!(e.message().contains("unknown field `sample`"), "{e}");
    }
}
