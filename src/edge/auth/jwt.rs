//! Bearer token verification.
//!
//! Every key has one pinned algorithm, and a token is only checked against keys whose
//! algorithm is the one its header names: `alg: none` never reaches a key, and an HS256
//! token cannot be verified with an RSA public key used as an HMAC secret. Headers that
//! tell the verifier where to find a key (`jku`, `x5u`, `jwk`) are refused rather than
//! ignored: a token that brings its own key is either an attack or a misconfigured issuer,
//! and both should be loud. `crit` is refused as RFC 7515 §4.1.11 asks of a verifier that
//! understands no extension. `exp`, `iss` and `aud` are required, `nbf` checked when present,
//! both with the provider's leeway; a non-numeric `exp` or `nbf` is refused.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::config::Alg;
use super::jwks::Jwks;
use super::{AuthError, AuthMethod, Identity};

/// Longest bearer token considered: real tokens are a few kilobytes at most.
pub const MAX_TOKEN_LEN: usize = 16 * 1024;

impl From<Alg> for Algorithm {
    fn from(a: Alg) -> Self {
        match a {
            Alg::HS256 => Algorithm::HS256,
            Alg::HS384 => Algorithm::HS384,
            Alg::HS512 => Algorithm::HS512,
            Alg::RS256 => Algorithm::RS256,
            Alg::RS384 => Algorithm::RS384,
            Alg::RS512 => Algorithm::RS512,
            Alg::PS256 => Algorithm::PS256,
            Alg::PS384 => Algorithm::PS384,
            Alg::PS512 => Algorithm::PS512,
            Alg::ES256 => Algorithm::ES256,
            Alg::ES384 => Algorithm::ES384,
            Alg::EdDSA => Algorithm::EdDSA,
        }
    }
}

/// A key and the one algorithm it verifies.
#[derive(Clone)]
pub struct VerifyKey {
    pub kid: Option<String>,
    pub alg: Algorithm,
    pub key: DecodingKey,
}

impl std::fmt::Debug for VerifyKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerifyKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

/// One issuer's verification settings, compiled.
#[derive(Debug)]
pub struct Provider {
    pub name: String,
    pub issuer: String,
    pub consumer_claim: String,
    pub user_id_claim: Option<String>,
    pub scopes_claim: String,
    /// Clock skew tolerated on `exp` and `nbf`, in seconds.
    pub leeway_secs: u64,
    pub(crate) keys: Vec<Arc<VerifyKey>>,
    pub(crate) jwks: Option<Arc<Jwks>>,
    validations: HashMap<Algorithm, Validation>,
}

impl Provider {
    pub fn new(
        name: String,
        issuer: String,
        audiences: &[String],
        leeway_secs: u64,
        claims: (String, Option<String>, String),
        keys: Vec<Arc<VerifyKey>>,
        jwks: Option<Arc<Jwks>>,
    ) -> Self {
        let mut validations = HashMap::new();
        let algs = keys
            .iter()
            .map(|k| k.alg)
            .chain(jwks.iter().flat_map(|j| j.algorithms().to_vec()));
        for alg in algs {
            validations.entry(alg).or_insert_with(|| {
                let mut v = Validation::new(alg);
                v.set_issuer(&[&issuer]);
                v.set_audience(audiences);
                v.leeway = leeway_secs;
                v.validate_nbf = true;
                v.validate_exp = true;
                // `exp` is required too, but checked after decoding: listed here, a string
                // `exp` would be reported as missing rather than malformed.
                v.set_required_spec_claims(&["iss", "aud"]);
                v
            });
        }
        Provider {
            name,
            issuer,
            consumer_claim: claims.0,
            user_id_claim: claims.1,
            scopes_claim: claims.2,
            leeway_secs,
            keys,
            jwks,
            validations,
        }
    }

    /// Keys for a token's algorithm and key id: `Err(UnknownKid)` when no key has the id,
    /// `Err(AlgorithmNotAllowed)` when none fits the algorithm.
    fn candidates(
        &self,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<Vec<Arc<VerifyKey>>, AuthError> {
        let fetched = self.jwks.as_ref().map(|j| j.keys());
        let all = self
            .keys
            .iter()
            .chain(fetched.iter().flat_map(|k| k.iter()));
        let mut with_kid = false;
        let mut out = Vec::new();
        for k in all {
            if let Some(kid) = kid
                && k.kid.as_deref() != Some(kid)
            {
                continue;
            }
            with_kid = true;
            if k.alg == alg {
                out.push(k.clone());
            }
        }
        match (out.is_empty(), kid.is_some() && !with_kid) {
            (false, _) => Ok(out),
            (true, true) => Err(AuthError::UnknownKid),
            (true, false) => Err(AuthError::AlgorithmNotAllowed),
        }
    }

    /// Whether `key` is still one of this provider's keys: a file key, or one of the JWKS
    /// set fetched last (a refresh replaces every key, so a key withdrawn from the set is
    /// never held again).
    pub fn holds(&self, key: &Arc<VerifyKey>) -> bool {
        self.keys.iter().any(|k| Arc::ptr_eq(k, key))
            || self
                .jwks
                .as_ref()
                .is_some_and(|j| j.keys().iter().any(|k| Arc::ptr_eq(k, key)))
    }

    /// Verifies a token whose header was already checked; returns the key that verified it.
    async fn verify(
        &self,
        token: &str,
        header: &TokenHeader,
    ) -> Result<(Identity, Arc<VerifyKey>), AuthError> {
        let kid = header.kid.as_deref();
        let keys = match (self.candidates(header.alg, kid), &self.jwks) {
            // A key id not seen yet, or a set never fetched: fetch, within the rate limit.
            (Err(e), Some(jwks)) if e == AuthError::UnknownKid || !jwks.loaded() => {
                // Looked up again even when this call did not fetch: another request's
                // fetch may have brought the key meanwhile.
                jwks.refresh_for_unknown_kid().await;
                match self.candidates(header.alg, kid) {
                    Ok(keys) => keys,
                    Err(e) if jwks.loaded() || !self.keys.is_empty() => return Err(e),
                    Err(_) => return Err(AuthError::KeysUnavailable),
                }
            }
            (other, _) => other?,
        };
        let validation = self
            .validations
            .get(&header.alg)
            .ok_or(AuthError::AlgorithmNotAllowed)?;
        let mut last = AuthError::BadSignature;
        for k in &keys {
            match jsonwebtoken::decode::<Map<String, Value>>(token, &k.key, validation) {
                Ok(data) => return Ok((self.identity(data.claims)?, Arc::clone(k))),
                Err(e) => {
                    last = map_error(e.kind());
                    if last != AuthError::BadSignature {
                        return Err(last);
                    }
                }
            }
        }
        Err(last)
    }

    fn identity(&self, claims: Map<String, Value>) -> Result<Identity, AuthError> {
        if !claims.contains_key("exp") {
            return Err(AuthError::MissingClaim("exp".into()));
        }
        let consumer = claim_string(&claims, &self.consumer_claim)?;
        let user_id = match &self.user_id_claim {
            Some(c) => Some(claim_string(&claims, c)?),
            None => None,
        };
        Ok(Identity {
            consumer,
            user_id,
            claims: Arc::new(Value::Object(claims)),
            method: AuthMethod::Jwt,
        })
    }

    /// The scopes a verified token carries: a space-separated string or an array.
    pub fn scopes<'a>(&self, claims: &'a Value) -> Vec<&'a str> {
        match claims.get(&self.scopes_claim) {
            Some(Value::String(s)) => s.split_ascii_whitespace().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        }
    }
}

/// Longest consumer or user id taken from a token: it travels in a header and every log line.
pub const MAX_ID_LEN: usize = 256;

/// A string claim; a number is accepted as its decimal text (numeric subject ids). The
/// value goes upstream in a header, so it must be one: visible ASCII and spaces, bounded.
fn claim_string(claims: &Map<String, Value>, name: &str) -> Result<String, AuthError> {
    let s = match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        None | Some(Value::Null) => return Err(AuthError::MissingClaim(name.to_string())),
        Some(_) => return Err(AuthError::InvalidClaim(name.to_string())),
    };
    if s.len() > MAX_ID_LEN || !s.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        return Err(AuthError::InvalidClaim(name.to_string()));
    }
    Ok(s)
}

fn map_error(kind: &ErrorKind) -> AuthError {
    match kind {
        ErrorKind::ExpiredSignature => AuthError::Expired,
        ErrorKind::ImmatureSignature => AuthError::NotYetValid,
        ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
        ErrorKind::InvalidAudience => AuthError::WrongAudience,
        ErrorKind::MissingRequiredClaim(c) => AuthError::MissingClaim(c.clone()),
        ErrorKind::InvalidClaimFormat(c) => AuthError::InvalidClaim(c.clone()),
        ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
            AuthError::AlgorithmNotAllowed
        }
        ErrorKind::InvalidSignature
        | ErrorKind::InvalidEcdsaKey
        | ErrorKind::InvalidEddsaKey
        | ErrorKind::InvalidRsaKey(_)
        | ErrorKind::InvalidKeyFormat => AuthError::BadSignature,
        _ => AuthError::MalformedToken,
    }
}

/// What the verifier reads of a token's header before choosing a key.
#[derive(Debug)]
pub struct TokenHeader {
    pub alg: Algorithm,
    pub kid: Option<String>,
}

#[derive(Deserialize)]
struct RawHeader {
    alg: Option<String>,
    kid: Option<String>,
    jku: Option<Value>,
    x5u: Option<Value>,
    jwk: Option<Value>,
    crit: Option<Value>,
}

/// Reads and screens a token's header.
pub fn read_header(token: &str) -> Result<TokenHeader, AuthError> {
    if token.len() > MAX_TOKEN_LEN || token.bytes().filter(|&b| b == b'.').count() != 2 {
        return Err(AuthError::MalformedToken);
    }
    let encoded = token.split('.').next().unwrap_or_default();
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|_| AuthError::MalformedToken)?;
    let raw: RawHeader = serde_json::from_slice(&bytes).map_err(|_| AuthError::MalformedToken)?;
    let alg = raw.alg.ok_or(AuthError::MalformedToken)?;
    if alg.eq_ignore_ascii_case("none") {
        return Err(AuthError::AlgNone);
    }
    for (name, present) in [
        ("jku", raw.jku.is_some()),
        ("x5u", raw.x5u.is_some()),
        ("jwk", raw.jwk.is_some()),
        ("crit", raw.crit.is_some()),
    ] {
        if present {
            return Err(AuthError::ForbiddenHeader(name));
        }
    }
    let alg = alg
        .parse::<Algorithm>()
        .map_err(|_| AuthError::AlgorithmNotAllowed)?;
    Ok(TokenHeader { alg, kid: raw.kid })
}

/// The unverified `iss` of a token, to choose among several providers.
fn peek_issuer(token: &str) -> Option<String> {
    #[derive(Deserialize)]
    struct Iss {
        iss: Option<String>,
    }
    let payload = token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Iss>(&bytes).ok()?.iss
}

/// Verifies `token` with the provider its issuer names among `providers`; returns the
/// identity and the provider that verified it.
pub async fn verify<'a>(
    token: &str,
    providers: &'a [Arc<Provider>],
) -> Result<(Identity, &'a Provider), AuthError> {
    verify_with_key(token, providers)
        .await
        .map(|(identity, provider, _)| (identity, provider))
}

/// [`verify`], also returning the key that verified the token (what a cached verification
/// stays valid with, see [`Provider::holds`]).
pub async fn verify_with_key<'a>(
    token: &str,
    providers: &'a [Arc<Provider>],
) -> Result<(Identity, &'a Provider, Arc<VerifyKey>), AuthError> {
    let header = read_header(token)?;
    let provider = match providers {
        [] => return Err(AuthError::AlgorithmNotAllowed),
        // One provider: its validation checks the issuer; no need to decode twice.
        [only] => only,
        many => {
            let iss = peek_issuer(token).ok_or(AuthError::WrongIssuer)?;
            many.iter()
                .find(|p| p.issuer == iss)
                .ok_or(AuthError::WrongIssuer)?
        }
    };
    let (identity, key) = provider.verify(token, &header).await?;
    Ok((identity, provider, key))
}

/// Whether a key can serve an algorithm.
pub fn fits(key: &DecodingKey, alg: Algorithm) -> bool {
    key.family() == alg.family()
}
