//! TLS to `https://` upstreams: which authorities the gateway trusts, the client
//! certificate it presents, and what a failed handshake tells the partner.
//!
//! rustls with the ring provider does the work; certificate verification is always on.
//! Without `ca_file` the built-in Mozilla roots (`webpki-roots`) are trusted, the same on
//! every machine. The server name sent (SNI) and verified is the URL's host, also when the
//! connection goes to one of `targets` or a discovered address ([`ServerNameOf`]). ALPN
//! offers HTTP/2 and HTTP/1.1, and the connection speaks what the upstream picks.

use std::path::Path;

use hyper_rustls::{DefaultServerNameResolver, ResolveServerName};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{CertificateError, ClientConfig, RootCertStore};

use crate::config::file::UpstreamTlsConfig;
use crate::tls::{self, TlsError, provider};

/// The server name a connection pool sends and verifies: a fixed one (the URL's host, for
/// an upstream whose connections go to other addresses), or the host of each request's URI.
pub struct ServerNameOf(Option<ServerName<'static>>);

impl ServerNameOf {
    /// `host` is the URL's host (an IPv6 literal in brackets or not); `None`, or a host
    /// that is no server name, leaves each request's own.
    pub fn new(host: Option<&str>) -> ServerNameOf {
        let name = host.and_then(|h| {
            let h = h
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .unwrap_or(h);
            ServerName::try_from(h.to_string()).ok()
        });
        ServerNameOf(name)
    }
}

impl ResolveServerName for ServerNameOf {
    fn resolve(
        &self,
        uri: &http::Uri,
    ) -> Result<ServerName<'static>, Box<dyn std::error::Error + Sync + Send>> {
        match &self.0 {
            Some(name) => Ok(name.clone()),
            None => DefaultServerNameResolver::default().resolve(uri),
        }
    }
}

/// A TLS setting of an upstream that cannot be used, naming the key. The files are read
/// and judged as the listener's are ([`crate::tls::TlsError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsConfigError {
    #[error(transparent)]
    File(#[from] TlsError),
    #[error("tls settings apply to https:// upstreams only")]
    NotHttps,
}

impl TlsConfigError {
    /// The key under `[upstreams.NAME]` the error is about.
    pub fn key(&self) -> &'static str {
        match self {
            TlsConfigError::File(e) => e.key(),
            TlsConfigError::NotHttps => "tls",
        }
    }
}

fn invalid(key: &'static str, reason: String) -> TlsConfigError {
    TlsConfigError::File(TlsError::Invalid { key, reason })
}

/// The TLS material of one upstream, read from its files: what a connection pool is
/// keyed by, so upstreams with the same material share a pool and a changed file gets a
/// new one at reload.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct TlsMaterial {
    /// DER certificates of `ca_file`; empty for the built-in roots.
    roots: Vec<Vec<u8>>,
    /// The client certificate chain and its key (DER), for mutual TLS.
    identity: Option<(Vec<Vec<u8>>, Vec<u8>)>,
}

impl TlsMaterial {
    /// Reads and checks the files of `cfg` and builds the client configuration once, so a
    /// key that does not match its certificate is refused at load.
    pub fn load(cfg: &UpstreamTlsConfig) -> Result<TlsMaterial, TlsConfigError> {
        let mut material = TlsMaterial::default();
        if let Some(file) = &cfg.ca_file {
            material.roots = read_certs("ca_file", file)?;
        }
        material.identity = match (&cfg.client_cert_file, &cfg.client_key_file) {
            (None, None) => None,
            (Some(cert), Some(key)) => Some((
                read_certs("client_cert_file", cert)?,
                read_key("client_key_file", key)?,
            )),
            (Some(_), None) => {
                return Err(invalid(
                    "client_cert_file",
                    "the certificate needs its private key in client_key_file".into(),
                ));
            }
            (None, Some(_)) => {
                return Err(invalid(
                    "client_key_file",
                    "the key needs its certificate in client_cert_file".into(),
                ));
            }
        };
        material.client_config()?;
        Ok(material)
    }

    /// The rustls client configuration of this material.
    pub fn client_config(&self) -> Result<ClientConfig, TlsConfigError> {
        let mut roots = RootCertStore::empty();
        if self.roots.is_empty() {
            roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        } else {
            for der in &self.roots {
                roots.add(CertificateDer::from(der.clone())).map_err(|e| {
                    invalid(
                        "ca_file",
                        format!("a certificate is not a usable authority: {e}"),
                    )
                })?;
            }
        }
        let builder = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("ca_file", e.to_string()))?
            .with_root_certificates(roots);
        match &self.identity {
            None => Ok(builder.with_no_client_auth()),
            Some((chain, key)) => builder
                .with_client_auth_cert(
                    chain.iter().cloned().map(CertificateDer::from).collect(),
                    PrivateKeyDer::try_from(key.clone())
                        .map_err(|e| invalid("client_key_file", e.to_string()))?,
                )
                .map_err(|e| {
                    invalid(
                        "client_key_file",
                        format!("the key does not fit client_cert_file: {e}"),
                    )
                }),
        }
    }
}

/// The DER certificates of a PEM file.
fn read_certs(key: &'static str, file: &Path) -> Result<Vec<Vec<u8>>, TlsError> {
    Ok(tls::read_certs(key, file)?
        .into_iter()
        .map(|c| c.to_vec())
        .collect())
}

/// The DER private key of a PEM file.
fn read_key(key: &'static str, file: &Path) -> Result<Vec<u8>, TlsError> {
    Ok(tls::read_key(key, file)?.secret_der().to_vec())
}

/// Why a TLS handshake with an upstream failed, as far as the partner may know it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The certificate is not signed by an authority the gateway trusts.
    UnknownAuthority,
    /// The certificate is for another host name.
    WrongHost,
    /// The certificate has expired (or is not valid yet).
    Expired,
    /// Anything else: a refused client certificate, no common protocol, a bad signature.
    Handshake,
}

impl TlsFailure {
    /// The TLS failure in an error's source chain, if there is one.
    pub fn of(e: &(dyn std::error::Error + 'static)) -> Option<TlsFailure> {
        let mut next = Some(e);
        while let Some(err) = next {
            if let Some(t) = err.downcast_ref::<rustls::Error>() {
                return Some(Self::from_rustls(t));
            }
            // An `io::Error` carrying another error reports that error's source as its
            // own, skipping the error itself (and the TLS stack wraps one `io::Error` in
            // another): step into what it carries instead.
            next = match err.downcast_ref::<std::io::Error>() {
                Some(io) => io
                    .get_ref()
                    .map(|i| i as &(dyn std::error::Error + 'static)),
                None => err.source(),
            };
        }
        None
    }

    fn from_rustls(e: &rustls::Error) -> TlsFailure {
        match e {
            rustls::Error::InvalidCertificate(c) => match c {
                CertificateError::UnknownIssuer => TlsFailure::UnknownAuthority,
                CertificateError::NotValidForName
                | CertificateError::NotValidForNameContext { .. } => TlsFailure::WrongHost,
                CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. } => TlsFailure::Expired,
                _ => TlsFailure::Handshake,
            },
            _ => TlsFailure::Handshake,
        }
    }

    /// What the partner reads: which check failed, with no host name in it.
    pub fn detail(self) -> &'static str {
        match self {
            TlsFailure::UnknownAuthority => {
                "The service behind this API presented a TLS certificate from an authority the gateway does not trust."
            }
            TlsFailure::WrongHost => {
                "The service behind this API presented a TLS certificate for another host name."
            }
            TlsFailure::Expired => {
                "The service behind this API presented an expired TLS certificate."
            }
            TlsFailure::Handshake => "The TLS handshake with the service behind this API failed.",
        }
    }

    /// A short label for metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            TlsFailure::UnknownAuthority => "unknown_authority",
            TlsFailure::WrongHost => "wrong_host",
            TlsFailure::Expired => "expired",
            TlsFailure::Handshake => "handshake",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    #[test]
    fn failures_are_found_inside_nested_io_errors() {
        let wrapped =
            |e: rustls::Error| io::Error::other(io::Error::new(io::ErrorKind::InvalidData, e));
        let cases = [
            (
                rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
                TlsFailure::UnknownAuthority,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::NotValidForName),
                TlsFailure::WrongHost,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::Expired),
                TlsFailure::Expired,
            ),
            (
                rustls::Error::InvalidCertificate(CertificateError::BadSignature),
                TlsFailure::Handshake,
            ),
            (rustls::Error::NoApplicationProtocol, TlsFailure::Handshake),
        ];
        for (error, failure) in cases {
            assert_eq!(TlsFailure::of(&wrapped(error)), Some(failure));
        }
        assert_eq!(
            TlsFailure::of(&io::Error::other("connection refused")),
            None
        );
    }

    #[test]
    fn unreadable_or_empty_files_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.pem");
        std::fs::write(&empty, "# nothing here\n").unwrap();
        let load = |cfg: UpstreamTlsConfig| TlsMaterial::load(&cfg).unwrap_err();
        let e = load(UpstreamTlsConfig {
            ca_file: Some(empty.clone()),
            ..Default::default()
        });
        assert_eq!(
            (e.key(), e.to_string()),
            (
                "ca_file",
                format!(
                    "tls.ca_file: `{}` holds no PEM certificate",
                    empty.display()
                )
            )
        );
        let e = load(UpstreamTlsConfig {
            client_key_file: Some(empty.clone()),
            ..Default::default()
        });
        assert_eq!(e.key(), "client_key_file");
        assert!(TlsMaterial::load(&UpstreamTlsConfig::default()).is_ok());
    }

    #[test]
    fn the_server_name_is_the_url_host_whatever_the_address() {
        let name = |resolver: &ServerNameOf, uri: &str| {
            let name = resolver.resolve(&uri.parse().unwrap()).unwrap();
            name.to_str().into_owned()
        };
        let fixed = ServerNameOf::new(Some("orders.internal"));
        assert_eq!(name(&fixed, "https://10.0.0.5:8443/x"), "orders.internal");
        assert_eq!(
            name(&ServerNameOf::new(Some("[::1]")), "https://10.0.0.5:8443/"),
            "::1"
        );
        let own = ServerNameOf::new(None);
        assert_eq!(name(&own, "https://pay.internal:8443/"), "pay.internal");
    }
}
