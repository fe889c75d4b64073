//! TLS termination on the partner listener (`[tls]`): the rustls server configuration,
//! the certificate that can be replaced while the gateway serves, and what the handshake
//! tells the request (the verified client chain for mutual TLS).
//!
//! The certificate and key are read through [`ReloadingCert`], a `ResolvesServerCert` over
//! an `ArcSwap`: a new pair is read, checked (the key must fit the certificate) and swapped
//! in between two handshakes, so rotation needs no restart and drops no connection (an
//! established connection keeps the keys it was made with). A bad pair keeps the old one
//! serving; the error is logged and counted. ALPN offers `h2` and `http/1.1`; TLS 1.2 is
//! the oldest version ever offered.

mod certs;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use rustls::server::WebPkiClientVerifier;
use tokio_rustls::TlsAcceptor;

pub use certs::ReloadingCert;

use crate::config::listener::{ClientAuth, TlsConfig, TlsVersion};

/// A `[tls]` setting or file that cannot be used, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    #[error("tls.{key}: cannot read `{file}`: {reason}")]
    Read {
        key: &'static str,
        file: String,
        reason: String,
    },
    #[error("tls.{key}: `{file}` holds no {what}")]
    Empty {
        key: &'static str,
        file: String,
        what: &'static str,
    },
    #[error("tls.{key}: {reason}")]
    Invalid { key: &'static str, reason: String },
}

impl TlsError {
    /// The key under `[tls]` the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            TlsError::Read { key, .. }
            | TlsError::Empty { key, .. }
            | TlsError::Invalid { key, .. } => key,
        }
    }
}

/// The ALPN protocols offered, preferred first.
pub const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// The TLS side of the partner listener: the acceptor and the certificate it serves.
#[derive(Clone)]
pub struct Terminator {
    acceptor: TlsAcceptor,
    cert: Arc<ReloadingCert>,
}

impl std::fmt::Debug for Terminator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Terminator")
            .field("cert", &self.cert)
            .finish_non_exhaustive()
    }
}

impl Terminator {
    /// Reads the files of `cfg` (paths already resolved against the configuration file's
    /// directory) and builds the server configuration. `None` when TLS is off.
    pub fn from_config(cfg: &TlsConfig) -> Result<Option<Terminator>, TlsError> {
        let (Some(cert_file), Some(key_file)) = (&cfg.cert_file, &cfg.key_file) else {
            return Ok(None);
        };
        let cert = Arc::new(ReloadingCert::load(cert_file.clone(), key_file.clone())?);
        let versions: &[&'static rustls::SupportedProtocolVersion] = match cfg.min_version {
            TlsVersion::V1_2 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::V1_3 => &[&rustls::version::TLS13],
        };
        let builder = rustls::ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(versions)
            .map_err(|e| TlsError::Invalid {
                key: "min_version",
                reason: e.to_string(),
            })?;
        let builder = match (cfg.client_auth, &cfg.client_ca_file) {
            (ClientAuth::None, _) | (_, None) => builder.with_no_client_auth(),
            (mode, Some(ca_file)) => {
                let roots = read_roots(ca_file)?;
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider());
                let verifier = if mode == ClientAuth::Optional {
                    verifier.allow_unauthenticated()
                } else {
                    verifier
                };
                let verifier = verifier.build().map_err(|e| TlsError::Invalid {
                    key: "client_ca_file",
                    reason: e.to_string(),
                })?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config = builder.with_cert_resolver(Arc::clone(&cert) as _);
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
        Ok(Some(Terminator {
            acceptor: TlsAcceptor::from(Arc::new(config)),
            cert,
        }))
    }

    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The certificate being served, for reloads.
    pub fn cert(&self) -> &Arc<ReloadingCert> {
        &self.cert
    }

    /// Watches the certificate and key files and reloads them when they change (after
    /// `debounce` of quiet, so a tool writing both files in turn makes one reload). The
    /// watch lasts as long as the returned handle.
    /// `reloaded` hears whether each reload succeeded (for the metrics).
    pub fn watch(
        &self,
        debounce: Duration,
        reloaded: impl Fn(bool) + Send + Sync + 'static,
    ) -> Result<crate::reload::WatchHandle, notify::Error> {
        let cert = Arc::clone(&self.cert);
        crate::reload::watch(self.cert.paths(), debounce, move || {
            reloaded(cert.reload().is_ok());
        })
    }
}

/// ring's provider, for the listener and for upstreams alike: pure Rust and assembly, no C
/// toolchain, unlike aws-lc-rs. rustls marks it deprecated for lacking post-quantum key
/// exchange, which internal hops do not need yet; the provider is chosen here only.
#[allow(deprecated)]
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The bytes of a file named by the setting `key` (`cert_file`, `ca_file`, …).
pub(crate) fn read_file(key: &'static str, file: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(file).map_err(|e| TlsError::Read {
        key,
        file: file.display().to_string(),
        reason: e.to_string(),
    })
}

/// The PEM certificates of a file; a file with none is an error, not an empty trust list.
pub(crate) fn read_certs(
    key: &'static str,
    file: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let pem = read_file(key, file)?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::Invalid {
            key,
            reason: format!("`{}` is not PEM: {e}", file.display()),
        })?;
    if certs.is_empty() {
        return Err(TlsError::Empty {
            key,
            file: file.display().to_string(),
            what: "PEM certificate",
        });
    }
    Ok(certs)
}

/// The first PEM private key of a file (PKCS#8, PKCS#1 or SEC1).
pub(crate) fn read_key(
    key: &'static str,
    file: &Path,
) -> Result<rustls::pki_types::PrivateKeyDer<'static>, TlsError> {
    let pem = read_file(key, file)?;
    match rustls::pki_types::PrivateKeyDer::from_pem_slice(&pem) {
        Ok(k) => Ok(k),
        Err(rustls::pki_types::pem::Error::NoItemsFound) => Err(TlsError::Empty {
            key,
            file: file.display().to_string(),
            what: "PEM private key",
        }),
        Err(e) => Err(TlsError::Invalid {
            key,
            reason: format!("`{}` is not a PEM private key: {e}", file.display()),
        }),
    }
}

fn read_roots(file: &Path) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for der in read_certs("client_ca_file", file)? {
        roots.add(der).map_err(|e| TlsError::Invalid {
            key: "client_ca_file",
            reason: format!("a certificate is not a usable authority: {e}"),
        })?;
    }
    Ok(roots)
}
