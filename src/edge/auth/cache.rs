//! Verified tokens, remembered: a partner sends the same bearer token with every request
//! until it expires, and verifying its signature again each time is most of what JWT
//! authentication costs (microseconds for HMAC, hundreds for RSA and ECDSA). A hit costs a
//! SHA-256 of the token and a lookup.
//!
//! Keyed by the token's SHA-256, so no token is held in memory. Only successes are kept;
//! an entry lives at most until the token's `exp` (with the provider's leeway) and at most
//! `token_cache_ttl_secs`, and `exp`/`nbf` are checked again at every use, as is that the
//! key which verified the token is still held (a key withdrawn from a JWKS ends its
//! tokens' entries at the next refresh). What the route
//! requires (scopes, claims, consumers) is not part of the entry: the layer checks it on
//! every request. The cache belongs to one snapshot, so a reload (new keys, new providers)
//! starts empty.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::jwt::{self, MAX_TOKEN_LEN, Provider, VerifyKey};
use super::{AuthError, Identity};

/// What a verification established, for as long as it holds.
struct Entry {
    identity: Identity,
    provider: Arc<Provider>,
    /// The key that verified the token: the entry holds only while the provider does.
    key: Arc<VerifyKey>,
    exp: u64,
    nbf: Option<u64>,
    ttl: Duration,
}

struct EntryTtl;

impl moka::Expiry<[u8; 32], Arc<Entry>> for EntryTtl {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Arc<Entry>,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(value.ttl)
    }
}

/// The verified-token cache of one snapshot.
pub struct TokenCache {
    entries: moka::sync::Cache<[u8; 32], Arc<Entry>>,
    max_ttl: Duration,
}

impl std::fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenCache")
            .field("entries", &self.entries.entry_count())
            .field("max_ttl", &self.max_ttl)
            .finish()
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn numeric(claims: &Value, name: &str) -> Option<u64> {
    claims.get(name).and_then(Value::as_u64)
}

impl TokenCache {
    pub fn new(max_entries: u64, max_ttl: Duration) -> Self {
        TokenCache {
            entries: moka::sync::Cache::builder()
                .max_capacity(max_entries)
                .expire_after(EntryTtl)
                .build(),
            max_ttl,
        }
    }

    /// [`jwt::verify`], answered from the cache when this token was verified before by
    /// one of `providers`.
    pub async fn verify<'a>(
        &self,
        token: &str,
        providers: &'a [Arc<Provider>],
    ) -> Result<(Identity, &'a Provider), AuthError> {
        if token.len() > MAX_TOKEN_LEN {
            return Err(AuthError::MalformedToken);
        }
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(e) = self.entries.get(&key)
            && let Some(p) = providers.iter().find(|p| Arc::ptr_eq(p, &e.provider))
            && p.holds(&e.key)
        {
            // The same comparisons as the verifier's (jsonwebtoken's), with its leeway.
            let now = unix_now();
            let leeway = p.leeway_secs;
            if e.exp < now.saturating_sub(leeway) {
                self.entries.invalidate(&key);
                return Err(AuthError::Expired);
            }
            if e.nbf.is_some_and(|nbf| nbf > now + leeway) {
                return Err(AuthError::NotYetValid);
            }
            return Ok((e.identity.clone(), p));
        }
        let (identity, provider, verified_by) = jwt::verify_with_key(token, providers).await?;
        let shared = providers
            .iter()
            .find(|p| std::ptr::eq(p.as_ref(), provider));
        if let (Some(shared), Some(exp)) = (shared, numeric(&identity.claims, "exp")) {
            let left = (exp + provider.leeway_secs).saturating_sub(unix_now());
            let ttl = self.max_ttl.min(Duration::from_secs(left));
            if !ttl.is_zero() {
                let entry = Entry {
                    identity: identity.clone(),
                    provider: Arc::clone(shared),
                    key: verified_by,
                    exp,
                    nbf: numeric(&identity.claims, "nbf"),
                    ttl,
                };
                self.entries.insert(key, Arc::new(entry));
            }
        }
        Ok((identity, provider))
    }

    /// Tokens held (approximate: moka counts lazily).
    pub fn len(&self) -> u64 {
        self.entries.run_pending_tasks();
        self.entries.entry_count()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
