//! `schemagate health`: the gateway probing itself over HTTP, for container health checks.
//!
//! Minimal images (distroless, scratch) have no curl or wget, so the binary that serves is
//! also the one that checks: one GET with a deadline, success only for a 2xx answer. It
//! speaks plain HTTP to a loopback or pod address, which is what a `HEALTHCHECK` or an exec
//! probe reaches.

use std::time::Duration;

use http_body_util::Empty;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The URL probed when none is given: the liveness endpoint on the default admin listener.
pub const DEFAULT_HEALTH_URL: &str = "http://127.0.0.1:9901/healthz";
/// How long the probe waits for the answer head, connection included.
pub const DEFAULT_HEALTH_TIMEOUT_MS: u64 = 2_000;

/// Why the probe failed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ProbeError {
    #[error("`{url}` is not an http:// URL with a host: {reason}")]
    InvalidUrl { url: String, reason: String },
    #[error("{url}: no connection ({reason})")]
    Unreachable { url: String, reason: String },
    #[error("{url}: no answer within {timeout_ms} ms")]
    Timeout { url: String, timeout_ms: u64 },
    #[error("{url}: answered {status}")]
    Status { url: String, status: u16 },
}

/// GETs `url` and returns the status when it is 2xx.
pub fn probe(url: &str, timeout: Duration) -> Result<u16, ProbeError> {
    let uri: http::Uri =
        url.parse()
            .map_err(|e: http::uri::InvalidUri| ProbeError::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(ProbeError::InvalidUrl {
            url: url.to_string(),
            reason: "only http:// with a host is probed".into(),
        });
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| ProbeError::Unreachable {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
    runtime.block_on(async {
        let client: Client<_, Empty<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let request = http::Request::get(uri)
            .header(http::header::USER_AGENT, "schemagate-health")
            .body(Empty::new())
            .map_err(|e| ProbeError::InvalidUrl {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let answer = tokio::time::timeout(timeout, client.request(request))
            .await
            .map_err(|_| ProbeError::Timeout {
                url: url.to_string(),
                timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            })?
            .map_err(|e| ProbeError::Unreachable {
                url: url.to_string(),
                reason: innermost_cause(&e),
            })?;
        let status = answer.status().as_u16();
        if answer.status().is_success() {
            Ok(status)
        } else {
            Err(ProbeError::Status {
                url: url.to_string(),
                status,
            })
        }
    })
}

/// The deepest cause of an error ("Connection refused" rather than "client error (Connect)").
fn innermost_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}
