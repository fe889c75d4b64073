//! Keys from a JWKS endpoint: fetched over HTTPS (rustls), held in an atomically swapped
//! set the request path reads without locking, refreshed in the background, and fetched
//! early when a token names a key id not yet known, at most once per `min_refresh_secs`
//! however many such tokens arrive. A failed fetch keeps the keys already held.
//!
//! A key is kept only if it may sign (`use` absent or `sig`) and its algorithm is one the
//! configuration pins: a key that names another `alg` is dropped, a key without `alg` gets
//! the first pinned algorithm that fits its type (an EC key's curve decides between ES256
//! and ES384).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey};
use serde::Deserialize;

use super::jwt::VerifyKey;

/// First delay before a failed background fetch is retried; doubled on each failure up to
/// the refresh interval.
pub const INITIAL_BACKOFF: Duration = Duration::from_secs(1);

/// Why a fetch failed (logged, never shown to a partner).
#[derive(Debug, thiserror::Error)]
pub enum JwksError {
    #[error("fetching {url}: {source}")]
    Http { url: String, source: reqwest::Error },
    #[error("{url} answered {status}")]
    Status { url: String, status: u16 },
    #[error("{url} answered more than {max} bytes")]
    TooLarge { url: String, max: usize },
    #[error("{url} answered no JWKS: {source}")]
    Parse {
        url: String,
        source: serde_json::Error,
    },
}

/// Settings of one JWKS source.
#[derive(Debug, Clone)]
pub struct JwksSettings {
    pub url: String,
    pub algorithms: Vec<Algorithm>,
    pub refresh: Duration,
    pub min_refresh: Duration,
    pub timeout: Duration,
    pub max_bytes: usize,
}

/// One JWKS source and the keys last fetched from it.
#[derive(Debug)]
pub struct Jwks {
    settings: JwksSettings,
    client: reqwest::Client,
    keys: ArcSwap<Vec<Arc<VerifyKey>>>,
    /// When the last fetch started; guards the rate limit and makes waiters single-flight.
    last_fetch: tokio::sync::Mutex<Option<Instant>>,
    fetches: AtomicU64,
    /// Fetches finished, successful or not: tells a waiter that one ran while it waited.
    finished: AtomicU64,
    /// Whether a fetch ever succeeded: until one has, a missing key is the gateway's
    /// trouble, not the token's.
    loaded: AtomicBool,
}

impl Jwks {
    pub fn new(settings: JwksSettings) -> Result<Self, String> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(Jwks {
            settings,
            client,
            keys: ArcSwap::from_pointee(Vec::new()),
            last_fetch: tokio::sync::Mutex::new(None),
            fetches: AtomicU64::new(0),
            finished: AtomicU64::new(0),
            loaded: AtomicBool::new(false),
        })
    }

    pub fn url(&self) -> &str {
        &self.settings.url
    }

    pub fn algorithms(&self) -> &[Algorithm] {
        &self.settings.algorithms
    }

    /// The keys held now.
    pub fn keys(&self) -> Arc<Vec<Arc<VerifyKey>>> {
        self.keys.load_full()
    }

    /// Whether a fetch ever succeeded.
    pub fn loaded(&self) -> bool {
        self.loaded.load(Ordering::Acquire)
    }

    /// How many fetches were started (for metrics and tests).
    pub fn fetch_count(&self) -> u64 {
        self.fetches.load(Ordering::Relaxed)
    }

    /// Fetches now, whatever the rate limit: used at start and by the background task.
    pub async fn refresh(&self) -> Result<usize, JwksError> {
        let mut last = self.last_fetch.lock().await;
        *last = Some(Instant::now());
        self.fetch_and_swap().await
    }

    /// Fetches for a token whose key id is unknown, unless a fetch started less than
    /// `min_refresh` ago. Callers that waited on a concurrent fetch see its result without
    /// fetching again. True when the key set may have changed since the caller looked.
    pub async fn refresh_for_unknown_kid(&self) -> bool {
        let before = self.finished.load(Ordering::Acquire);
        let mut last = self.last_fetch.lock().await;
        if self.finished.load(Ordering::Acquire) != before {
            return true;
        }
        if let Some(at) = *last
            && at.elapsed() < self.settings.min_refresh
        {
            return false;
        }
        *last = Some(Instant::now());
        match self.fetch_and_swap().await {
            Ok(_) => true,
            Err(e) => {
                tracing::warn!(error = %e, "JWKS refresh failed; keeping the keys held");
                false
            }
        }
    }

    async fn fetch_and_swap(&self) -> Result<usize, JwksError> {
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = self.fetch().await.map(|keys| {
            let n = keys.len();
            self.keys
                .store(Arc::new(keys.into_iter().map(Arc::new).collect()));
            self.loaded.store(true, Ordering::Release);
            n
        });
        self.finished.fetch_add(1, Ordering::Release);
        fetched
    }

    async fn fetch(&self) -> Result<Vec<VerifyKey>, JwksError> {
        let url = &self.settings.url;
        let http = |source| JwksError::Http {
            url: url.clone(),
            source,
        };
        let mut resp = self.client.get(url).send().await.map_err(http)?;
        if !resp.status().is_success() {
            return Err(JwksError::Status {
                url: url.clone(),
                status: resp.status().as_u16(),
            });
        }
        let max = self.settings.max_bytes;
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(http)? {
            if body.len() + chunk.len() > max {
                return Err(JwksError::TooLarge {
                    url: url.clone(),
                    max,
                });
            }
            body.extend_from_slice(&chunk);
        }
        parse_jwks(&body, &self.settings.algorithms).map_err(|source| JwksError::Parse {
            url: url.clone(),
            source,
        })
    }

    /// Starts the background refresh. The task ends when the last handle to this source is
    /// dropped (a reload replaced it).
    pub fn spawn_refresher(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Self> = Arc::downgrade(self);
        let refresh = self.settings.refresh;
        tokio::spawn(async move {
            let mut delay = Duration::ZERO;
            loop {
                tokio::time::sleep(delay).await;
                let Some(this) = weak.upgrade() else { return };
                delay = match this.refresh().await {
                    Ok(_) => refresh,
                    Err(e) => {
                        tracing::warn!(error = %e, "JWKS fetch failed; keeping the keys held");
                        if delay.is_zero() || delay >= refresh {
                            INITIAL_BACKOFF.min(refresh)
                        } else {
                            (delay * 2).min(refresh)
                        }
                    }
                };
            }
        })
    }
}

#[derive(Deserialize)]
struct RawSet {
    keys: Vec<serde_json::Value>,
}

/// The usable keys of a JWKS document; keys that cannot be used are skipped, not fatal.
pub fn parse_jwks(body: &[u8], pinned: &[Algorithm]) -> Result<Vec<VerifyKey>, serde_json::Error> {
    let set: RawSet = serde_json::from_slice(body)?;
    Ok(set
        .keys
        .into_iter()
        .filter_map(|v| serde_json::from_value::<Jwk>(v).ok())
        .filter_map(|jwk| to_verify_key(&jwk, pinned))
        .collect())
}

/// A JWK as a pinned key, when it is a signing key of a pinned algorithm.
pub fn to_verify_key(jwk: &Jwk, pinned: &[Algorithm]) -> Option<VerifyKey> {
    if matches!(
        jwk.common.public_key_use,
        Some(PublicKeyUse::Encryption | PublicKeyUse::Other(_))
    ) {
        return None;
    }
    let alg = match jwk.common.key_algorithm {
        Some(a) => {
            let a = Algorithm::try_from(a).ok()?;
            pinned.contains(&a).then_some(a)?
        }
        None => *pinned.iter().find(|a| jwk_fits(jwk, **a))?,
    };
    if !jwk_fits(jwk, alg) {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyKey {
        kid: jwk.common.key_id.clone(),
        alg,
        key,
    })
}

fn jwk_fits(jwk: &Jwk, alg: Algorithm) -> bool {
    match (&jwk.algorithm, alg.family()) {
        (AlgorithmParameters::RSA(_), AlgorithmFamily::Rsa) => true,
        (AlgorithmParameters::EllipticCurve(p), AlgorithmFamily::Ec) => matches!(
            (&p.curve, alg),
            (EllipticCurve::P256, Algorithm::ES256) | (EllipticCurve::P384, Algorithm::ES384)
        ),
        (AlgorithmParameters::OctetKeyPair(p), AlgorithmFamily::Ed) => {
            p.curve == EllipticCurve::Ed25519
        }
        (AlgorithmParameters::OctetKey(_), AlgorithmFamily::Hmac) => true,
        _ => false,
    }
}
