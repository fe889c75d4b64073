//! Why a request was refused, and how that is said to the partner: a problem document and,
//! for 401 and insufficient scope, an RFC 6750 `WWW-Authenticate` challenge.
//!
//! Reasons are short and fixed: a partner learns that its signature did not verify, never
//! which key was tried or what the crypto library said.

use http::HeaderValue;

use crate::problem::{Problem, ProblemKind};

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("no credentials")]
    MissingCredentials,
    #[error("the bearer token is malformed")]
    MalformedToken,
    #[error("unsigned tokens are not accepted")]
    AlgNone,
    #[error("the token's algorithm is not accepted")]
    AlgorithmNotAllowed,
    /// `jku`, `x5u`, `jwk` or `crit`: the token tries to say how it should be verified.
    #[error("tokens with a {0} header are not accepted")]
    ForbiddenHeader(&'static str),
    #[error("the token's key id is unknown")]
    UnknownKid,
    #[error("the token's signature is invalid")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token's issuer is not accepted")]
    WrongIssuer,
    #[error("the token's audience is not accepted")]
    WrongAudience,
    #[error("the token lacks the {0} claim")]
    MissingClaim(String),
    #[error("the token's {0} claim is malformed")]
    InvalidClaim(String),
    #[error("the token lacks the scope {0}")]
    InsufficientScope(String),
    #[error("the token's {0} claim does not allow this route")]
    ClaimMismatch(String),
    #[error("the API key is not valid")]
    InvalidApiKey,
    #[error("the client certificate names no known consumer")]
    UnknownCertificate,
    /// No credential on a route that accepts client certificates only: 403, since no
    /// `WWW-Authenticate` scheme could ask for a certificate as a 401 must.
    #[error("a client certificate is required")]
    CertificateRequired,
    #[error("the consumer is not allowed on this route")]
    ConsumerNotAllowed,
    #[error("the client address is not allowed")]
    IpNotAllowed,
    /// The JWKS could not be fetched and no key is held: the gateway's trouble, not the
    /// partner's.
    #[error("verification keys are unavailable")]
    KeysUnavailable,
}

/// Which scheme a failure is challenged under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scheme {
    Bearer,
    ApiKey,
}

impl AuthError {
    pub fn status(&self) -> http::StatusCode {
        self.problem_kind().status()
    }

    fn problem_kind(&self) -> ProblemKind {
        use AuthError::*;
        match self {
            InsufficientScope(_) | ClaimMismatch(_) | UnknownCertificate | CertificateRequired
            | ConsumerNotAllowed | IpNotAllowed => ProblemKind::Forbidden,
            KeysUnavailable => ProblemKind::Unavailable,
            _ => ProblemKind::Unauthorized,
        }
    }

    /// The `reason` label of `schemagate_auth_failures_total`: one fixed word per kind of
    /// refusal, never a claim or scope name a partner chose.
    pub fn reason(&self) -> &'static str {
        use AuthError::*;
        match self {
            MissingCredentials => "missing_credentials",
            MalformedToken => "malformed_token",
            AlgNone => "alg_none",
            AlgorithmNotAllowed => "algorithm_not_allowed",
            ForbiddenHeader(_) => "forbidden_header",
            UnknownKid => "unknown_kid",
            BadSignature => "bad_signature",
            Expired => "expired",
            NotYetValid => "not_yet_valid",
            WrongIssuer => "wrong_issuer",
            WrongAudience => "wrong_audience",
            MissingClaim(_) => "missing_claim",
            InvalidClaim(_) => "invalid_claim",
            InsufficientScope(_) => "insufficient_scope",
            ClaimMismatch(_) => "claim_mismatch",
            InvalidApiKey => "invalid_api_key",
            UnknownCertificate => "unknown_certificate",
            CertificateRequired => "certificate_required",
            ConsumerNotAllowed => "consumer_not_allowed",
            IpNotAllowed => "ip_not_allowed",
            KeysUnavailable => "keys_unavailable",
        }
    }

    /// The problem document; its detail is the error's short, safe reason.
    pub fn to_problem(&self) -> Problem {
        let p = Problem::new(self.problem_kind(), self.to_string());
        if matches!(self, AuthError::KeysUnavailable) {
            p.retry_after(super::config::DEFAULT_JWKS_MIN_REFRESH_SECS)
        } else {
            p
        }
    }

    /// The scheme a failure belongs to, None for refusals no credential can fix.
    pub(crate) fn scheme(&self) -> Option<Scheme> {
        use AuthError::*;
        match self {
            MissingCredentials | KeysUnavailable | UnknownCertificate | CertificateRequired
            | ConsumerNotAllowed | IpNotAllowed | ClaimMismatch(_) => None,
            InvalidApiKey => Some(Scheme::ApiKey),
            _ => Some(Scheme::Bearer),
        }
    }

    /// RFC 6750 `error` code of a Bearer failure.
    fn bearer_code(&self) -> &'static str {
        match self {
            AuthError::InsufficientScope(_) => "insufficient_scope",
            _ => "invalid_token",
        }
    }

    /// `WWW-Authenticate` values for this failure. A missing credential is challenged with
    /// every scheme the route accepts, bare as RFC 6750 §3.1 asks; a failed one with its
    /// own scheme, an `error` code and the short reason.
    pub fn challenges(
        &self,
        realm: &str,
        bearer: bool,
        api_key_header: Option<&str>,
    ) -> Vec<HeaderValue> {
        let mut out = Vec::new();
        let mut push = |s: String| {
            if let Ok(v) = HeaderValue::from_str(&s) {
                out.push(v);
            }
        };
        match (self, self.scheme()) {
            (AuthError::MissingCredentials, _) => {
                if bearer {
                    push(format!("Bearer realm=\"{}\"", quote(realm)));
                }
                if let Some(h) = api_key_header {
                    push(format!(
                        "ApiKey realm=\"{}\", header=\"{}\"",
                        quote(realm),
                        quote(h)
                    ));
                }
            }
            (_, Some(Scheme::Bearer)) => {
                let mut s = format!(
                    "Bearer realm=\"{}\", error=\"{}\", error_description=\"{}\"",
                    quote(realm),
                    self.bearer_code(),
                    quote(&self.to_string())
                );
                if let AuthError::InsufficientScope(scope) = self {
                    s.push_str(&format!(", scope=\"{}\"", quote(scope)));
                }
                push(s);
            }
            (_, Some(Scheme::ApiKey)) => push(format!(
                "ApiKey realm=\"{}\", header=\"{}\", error=\"invalid_key\"",
                quote(realm),
                quote(api_key_header.unwrap_or(super::config::DEFAULT_API_KEY_HEADER))
            )),
            (_, None) => {}
        }
        out
    }
}

/// Escapes a quoted-string's content (RFC 9110 §5.6.4) and drops what a header cannot carry.
fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c == '\t' || (' '..='~').contains(&c) => out.push(c),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expired_token_challenge_follows_rfc6750() {
        let v = AuthError::Expired.challenges("schemagate", true, None);
        assert_eq!(
            v,
            vec![HeaderValue::from_static(
                "Bearer realm=\"schemagate\", error=\"invalid_token\", error_description=\"the token has expired\""
            )]
        );
        assert_eq!(AuthError::Expired.status(), 401);
    }

    #[test]
    fn missing_credentials_lists_every_scheme_bare() {
        let v = AuthError::MissingCredentials.challenges("a\"b", true, Some("X-Api-Key"));
        assert_eq!(
            v,
            vec![
                HeaderValue::from_static("Bearer realm=\"a\\\"b\""),
                HeaderValue::from_static("ApiKey realm=\"a\\\"b\", header=\"X-Api-Key\""),
            ]
        );
    }

    #[test]
    fn insufficient_scope_is_403_with_scope() {
        let e = AuthError::InsufficientScope("orders:write".into());
        assert_eq!(e.status(), 403);
        assert_eq!(
            e.challenges("r", true, None),
            vec![HeaderValue::from_static(
                "Bearer realm=\"r\", error=\"insufficient_scope\", error_description=\"the token lacks the scope orders:write\", scope=\"orders:write\""
            )]
        );
        let p = e.to_problem();
        assert_eq!(p.kind, ProblemKind::Forbidden);
        assert_eq!(p.detail, "the token lacks the scope orders:write");
    }

    #[test]
    fn ip_refusal_has_no_challenge() {
        assert!(
            AuthError::IpNotAllowed
                .challenges("r", true, Some("X-Api-Key"))
                .is_empty()
        );
        assert_eq!(AuthError::IpNotAllowed.status(), 403);
        assert_eq!(AuthError::KeysUnavailable.status(), 503);
    }
}
