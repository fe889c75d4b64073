//! The listener keys of `gateway.toml` beyond HTTP/1.1: TLS termination (`[tls]`) and the
//! HTTP/2 limits (`[server.http2]`). Read by [`crate::tls`] and [`crate::server`]; checked
//! once at load by [`validate`], so `check` refuses what `serve` would.

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::diagnostic::Diagnostic;

/// The lowest TLS version the partner listener accepts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3.
    #[default]
    #[serde(rename = "1.2")]
    V1_2,
    /// TLS 1.3 only.
    #[serde(rename = "1.3")]
    V1_3,
}

/// Whether the partner listener asks for a client certificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ClientAuth {
    /// No certificate is asked for.
    #[default]
    None,
    /// A certificate is asked for; a client without one is served (authentication decides
    /// per route), a client with a bad one is refused in the handshake.
    Optional,
    /// A handshake without a certificate that verifies against `client_ca_file` fails.
    Required,
}

/// TLS termination on the partner listener (`[tls]`). Off while `cert_file` is unset.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// `"on"`, `"off"` or unset. Unset: TLS exactly when `cert_file` is set. `"off"` serves
    /// plain HTTP whatever the files say, so one file can switch with `"${TLS:-on}"`;
    /// `"on"` makes a missing certificate an error instead of a silent plain listener.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^(on|off|\$\{.*\})$"))]
    pub enabled: Option<String>,
    /// PEM certificate chain, leaf first. Relative to the configuration file's directory.
    /// Reloaded when it changes and on SIGHUP.
    pub cert_file: Option<PathBuf>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    pub key_file: Option<PathBuf>,
    /// `"1.2"` (default) or `"1.3"`. Nothing older is ever offered.
    pub min_version: TlsVersion,
    /// PEM certificate authorities a client certificate must chain to (mutual TLS).
    pub client_ca_file: Option<PathBuf>,
    /// `"none"` (default), `"optional"` or `"required"`; the last two need `client_ca_file`.
    pub client_auth: ClientAuth,
}

impl TlsConfig {
    /// Applies `enabled` and reads an empty file name as none (what `"${TLS_CERT:-}"` gives),
    /// before the files are resolved and checked.
    pub fn normalize(&mut self) {
        for f in [
            &mut self.cert_file,
            &mut self.key_file,
            &mut self.client_ca_file,
        ] {
            if f.as_ref().is_some_and(|p| p.as_os_str().is_empty()) {
                *f = None;
            }
        }
        if self.enabled.as_deref() == Some("off") {
            *self = TlsConfig {
                enabled: self.enabled.take(),
                ..TlsConfig::default()
            };
        }
    }

    pub fn enabled(&self) -> bool {
        self.cert_file.is_some() || self.key_file.is_some()
    }

    pub fn is_default(&self) -> bool {
        *self == TlsConfig::default()
    }
}

/// HTTP/2 limits per connection (`[server.http2]`), beside the HTTP/1.1 ones they mirror.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Http2Config {
    /// Streams a client may have open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Streams the client reset before the gateway took them up; beyond, the connection
    /// is closed with GOAWAY `ENHANCE_YOUR_CALM` (rapid-reset defence, CVE-2023-44487).
    pub max_pending_accept_reset_streams: usize,
    /// Streams the gateway itself reset because the client broke the protocol on them;
    /// beyond, the connection is closed (defence against resets provoked by the client).
    pub max_local_error_reset_streams: usize,
    /// Interval of the keep-alive PING; 0 sends none.
    pub keep_alive_interval_ms: u64,
    /// A PING unanswered for this long closes the connection (a dead peer).
    pub keep_alive_timeout_ms: u64,
}

/// Enough for a browser's page of parallel requests; a partner's batch uses several
/// connections, which the connection cap counts.
pub const DEFAULT_H2_MAX_CONCURRENT_STREAMS: u32 = 100;
/// h2's own default: an honest client rarely cancels more than a few at once.
pub const DEFAULT_H2_MAX_PENDING_ACCEPT_RESET_STREAMS: usize = 20;
pub const DEFAULT_H2_MAX_LOCAL_ERROR_RESET_STREAMS: usize = 256;
pub const DEFAULT_H2_KEEP_ALIVE_INTERVAL_MS: u64 = 30_000;
pub const DEFAULT_H2_KEEP_ALIVE_TIMEOUT_MS: u64 = 20_000;

impl Default for Http2Config {
    fn default() -> Self {
        Http2Config {
            max_concurrent_streams: DEFAULT_H2_MAX_CONCURRENT_STREAMS,
            max_pending_accept_reset_streams: DEFAULT_H2_MAX_PENDING_ACCEPT_RESET_STREAMS,
            max_local_error_reset_streams: DEFAULT_H2_MAX_LOCAL_ERROR_RESET_STREAMS,
            keep_alive_interval_ms: DEFAULT_H2_KEEP_ALIVE_INTERVAL_MS,
            keep_alive_timeout_ms: DEFAULT_H2_KEEP_ALIVE_TIMEOUT_MS,
        }
    }
}

/// The admin listener's setting that puts it on the partner listener (`[admin] listen`).
pub const ADMIN_ON_PARTNER_LISTENER: &str = "partner";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9901";

/// Where the admin endpoints are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminListen {
    /// A listener of their own.
    Own(std::net::SocketAddr),
    /// The partner listener (`listen = "partner"`).
    Partner,
}

/// Reads `[admin] listen`.
pub fn admin_listen(value: &str) -> Option<AdminListen> {
    if value == ADMIN_ON_PARTNER_LISTENER {
        return Some(AdminListen::Partner);
    }
    value.parse().ok().map(AdminListen::Own)
}

/// The diagnostics of the listener keys.
pub fn validate(
    tls: &TlsConfig,
    http2: &Http2Config,
    admin_listen_value: &str,
    file: &Path,
    diags: &mut Vec<Diagnostic>,
) {
    let before = diags.len();
    if admin_listen(admin_listen_value).is_none() {
        diags.push(
            Diagnostic::error(
                file,
                format!("admin.listen `{admin_listen_value}` is not an address"),
            )
            .location("admin.listen")
            .hint("write host:port with a numeric IP, e.g. \"127.0.0.1:9901\", or \"partner\" to share the partner listener"),
        );
    }
    match tls.enabled.as_deref() {
        None | Some("off") => {}
        Some("on") if tls.cert_file.is_none() => diags.push(
            Diagnostic::error(file, "tls.enabled is \"on\" but tls.cert_file is not set")
                .location("tls.cert_file")
                .hint("name the certificate chain and key (tls.cert_file, tls.key_file), or set enabled = \"off\""),
        ),
        Some("on") => {}
        Some(other) => diags.push(
            Diagnostic::error(file, format!("tls.enabled `{other}` is neither \"on\" nor \"off\""))
                .location("tls.enabled"),
        ),
    }
    if tls.cert_file.is_some() != tls.key_file.is_some() {
        let (key, other) = if tls.cert_file.is_some() {
            ("tls.key_file", "tls.cert_file")
        } else {
            ("tls.cert_file", "tls.key_file")
        };
        diags.push(
            Diagnostic::error(file, format!("{other} is set but {key} is not"))
                .location(key)
                .hint("TLS needs both the certificate chain and its private key"),
        );
    }
    match (tls.client_auth, &tls.client_ca_file) {
        (ClientAuth::None, Some(_)) => diags.push(
            Diagnostic::error(
                file,
                "tls.client_ca_file is set but tls.client_auth is \"none\"",
            )
            .location("tls.client_auth")
            .hint("set client_auth = \"optional\" or \"required\""),
        ),
        (ClientAuth::Optional | ClientAuth::Required, None) => diags.push(
            Diagnostic::error(
                file,
                "tls.client_auth asks for client certificates but tls.client_ca_file is not set",
            )
            .location("tls.client_ca_file"),
        ),
        _ => {}
    }
    if !tls.enabled() && (tls.client_ca_file.is_some() || tls.client_auth != ClientAuth::None) {
        diags.push(
            Diagnostic::error(file, "mutual TLS needs TLS: tls.cert_file is not set")
                .location("tls.cert_file"),
        );
    }
    let structural = diags.len();
    if tls.enabled() && structural == before {
        // The files themselves, read as `serve` reads them.
        if let Err(e) = crate::tls::Terminator::from_config(tls) {
            diags.push(Diagnostic::error(file, e.to_string()).location(format!("tls.{}", e.key())));
        }
    }
    if http2.max_concurrent_streams == 0 {
        diags.push(
            Diagnostic::error(
                file,
                "server.http2.max_concurrent_streams must be greater than 0",
            )
            .location("server.http2.max_concurrent_streams"),
        );
    }
    if http2.keep_alive_interval_ms > 0 && http2.keep_alive_timeout_ms == 0 {
        diags.push(
            Diagnostic::error(
                file,
                "server.http2.keep_alive_timeout_ms must be greater than 0 while keep_alive_interval_ms is set",
            )
            .location("server.http2.keep_alive_timeout_ms"),
        );
    }
}
