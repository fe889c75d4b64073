//! The served certificate: read from its files, replaced in place on reload.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use super::{TlsError, provider, read_certs, read_key};

/// The certificate and key of `[tls]`, served to every handshake through an `ArcSwap`
/// that [`ReloadingCert::reload`] replaces.
#[derive(Debug)]
pub struct ReloadingCert {
    cert_file: PathBuf,
    key_file: PathBuf,
    current: ArcSwap<CertifiedKey>,
    reloads: AtomicU64,
    failures: AtomicU64,
}

impl ReloadingCert {
    /// Reads the pair; fails when either file is unusable or the key does not fit.
    pub fn load(cert_file: PathBuf, key_file: PathBuf) -> Result<ReloadingCert, TlsError> {
        let key = read_pair(&cert_file, &key_file)?;
        Ok(ReloadingCert {
            cert_file,
            key_file,
            current: ArcSwap::from_pointee(key),
            reloads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        })
    }

    /// Reads the files again and serves the new pair from the next handshake on. On error
    /// the pair served so far stays, and the error is logged and counted.
    pub fn reload(&self) -> Result<(), TlsError> {
        match read_pair(&self.cert_file, &self.key_file) {
            Ok(key) => {
                self.current.store(Arc::new(key));
                self.reloads.fetch_add(1, Ordering::Relaxed);
                tracing::info!(cert_file = %self.cert_file.display(), "TLS certificate reloaded");
                Ok(())
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::Relaxed);
                tracing::error!(error = %e, "TLS certificate not reloaded; the previous one keeps serving");
                Err(e)
            }
        }
    }

    /// Successful reloads since start.
    pub fn reloads(&self) -> u64 {
        self.reloads.load(Ordering::Relaxed)
    }

    /// Failed reloads since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }

    /// The DER certificate chain served now, leaf first.
    pub fn chain(&self) -> Vec<Vec<u8>> {
        self.current
            .load()
            .cert
            .iter()
            .map(|c| c.to_vec())
            .collect()
    }

    pub(super) fn paths(&self) -> Vec<PathBuf> {
        vec![self.cert_file.clone(), self.key_file.clone()]
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn read_pair(
    cert_file: &std::path::Path,
    key_file: &std::path::Path,
) -> Result<CertifiedKey, TlsError> {
    let chain = read_certs("cert_file", cert_file)?;
    let key = read_key("key_file", key_file)?;
    CertifiedKey::from_der(chain, key, &provider()).map_err(|e| TlsError::Invalid {
        key: "key_file",
        reason: format!("the key does not fit cert_file: {e}"),
    })
}
