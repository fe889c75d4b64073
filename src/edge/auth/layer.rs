//! The authentication layer: applies one route's [`RoutePolicy`] to a request.
//!
//! In order: the identity headers a partner sent are removed (only the gateway sets them);
//! the client address is found (through trusted proxies) and checked against the route's
//! allow list; the first credential the request presents among the route's methods, in
//! their configured order, is verified (a bad one is refused, never skipped for the next);
//! scopes, claims, the consumer and its own address list are checked; then the [`Identity`]
//! goes into the request's extensions and the identity headers are set for upstream. A
//! refusal is answered here, as a problem document with its `WWW-Authenticate` challenge.
//!
//! The service is generic over both bodies, so it fits whatever stack it is pushed on.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, WWW_AUTHENTICATE};
use http::{HeaderName, HeaderValue, Request, Response};
use serde_json::Value;
use tower::{Layer, Service};

use super::client_ip::client_addr;
use super::compile::RoutePolicy;
use super::config::MethodName;
use super::{AuthError, Identity, jwt};
use crate::codec::Format;

/// The client certificate chain the TLS listener verified (DER, end entity first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerCertificates(pub Arc<[Vec<u8>]>);

/// The client address the layer settled on, for logs and rate limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// Header a refusal's `instance` is read from when the request carries it.
pub const DEFAULT_CORRELATION_HEADER: &str = "x-correlation-id";

/// Wraps a route's service with its authentication policy.
#[derive(Debug, Clone)]
pub struct AuthLayer {
    policy: Arc<RoutePolicy>,
    format: Format,
    correlation_header: HeaderName,
}

impl AuthLayer {
    /// `format` is the route's own: refusals use it unless the client's `Accept` prefers
    /// the other.
    pub fn new(policy: Arc<RoutePolicy>, format: Format) -> Self {
        AuthLayer {
            policy,
            format,
            correlation_header: HeaderName::from_static(DEFAULT_CORRELATION_HEADER),
        }
    }

    pub fn correlation_header(mut self, header: HeaderName) -> Self {
        self.correlation_header = header;
        self
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            layer: self.clone(),
        }
    }
}

/// See [`AuthLayer`].
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    layer: AuthLayer,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, B, RB> Service<Request<B>> for AuthService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: From<Bytes>,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let layer = self.layer.clone();
        // Only the head is borrowed across the verification, so the body need not be Sync.
        let (mut parts, body) = req.into_parts();
        Box::pin(async move {
            match authenticate(&layer.policy, &mut parts).await {
                Ok(_) => inner.call(Request::from_parts(parts, body)).await,
                Err(e) => {
                    let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
                    tracing::info!(reason = %e, client = ?client, "request refused by authentication");
                    Ok(refusal(&layer, &e, &parts))
                }
            }
        })
    }
}

/// Authenticates a request in place: strips and sets the identity headers, inserts
/// [`ClientAddr`] and, when a credential was verified, the [`Identity`] (and returns how it
/// was verified; None on an open route).
pub async fn authenticate(
    policy: &RoutePolicy,
    req: &mut http::request::Parts,
) -> Result<Option<super::AuthMethod>, AuthError> {
    let client = screen(policy, req)?;
    if !policy.requires_auth() {
        return Ok(None);
    }
    let allowed = |list: &super::client_ip::IpList| client.is_some_and(|ip| list.contains(ip));
    let headers = policy.identity_headers();
    let identity = identify(policy, req).await?;
    if let Some(allowed) = &policy.allowed_consumers
        && !allowed.contains(&identity.consumer)
    {
        return Err(AuthError::ConsumerNotAllowed);
    }
    if let Some(list) = policy.consumer_ips.get(&identity.consumer)
        && !allowed(list)
    {
        return Err(AuthError::IpNotAllowed);
    }
    let value = |s: &str| HeaderValue::from_str(s).ok();
    if let Some(v) = value(&identity.consumer) {
        req.headers.insert(headers.consumer.clone(), v);
    }
    if let Some(v) = identity.user_id.as_deref().and_then(value) {
        req.headers.insert(headers.user_id.clone(), v);
    }
    let method = identity.method;
    req.extensions.insert(identity);
    Ok(Some(method))
}

/// What [`authenticate`] does before any credential is looked at, and all an open route
/// needs, so it runs without awaiting anything: the identity headers a partner sent are
/// removed, the client address is found (through trusted proxies) and checked against the
/// route's allow list. Returns the client address.
pub fn screen(
    policy: &RoutePolicy,
    req: &mut http::request::Parts,
) -> Result<Option<IpAddr>, AuthError> {
    let headers = policy.identity_headers();
    req.headers.remove(&headers.consumer);
    req.headers.remove(&headers.user_id);

    // The connection's peer, as the listener sets it (axum's `ConnectInfo`).
    let peer = req
        .extensions
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    let client = peer.map(|p| client_addr(p, &req.headers, &policy.trusted_proxies));
    if let Some(ip) = client {
        req.extensions.insert(ClientAddr(ip));
    }
    // An allow list with no known address fails closed.
    if let Some(list) = &policy.ip_allow
        && !client.is_some_and(|ip| list.contains(ip))
    {
        return Err(AuthError::IpNotAllowed);
    }
    Ok(client)
}

/// Verifies the first credential presented among the route's methods.
async fn identify(policy: &RoutePolicy, req: &http::request::Parts) -> Result<Identity, AuthError> {
    for method in &policy.methods {
        match method {
            MethodName::Mtls => {
                if let (Some(chain), Some(mtls)) =
                    (req.extensions.get::<PeerCertificates>(), &policy.mtls)
                {
                    let consumer = mtls.consumer(&chain.0)?;
                    return Ok(Identity {
                        consumer: consumer.to_string(),
                        user_id: None,
                        claims: Arc::new(Value::Object(Default::default())),
                        method: super::AuthMethod::Mtls,
                    });
                }
            }
            MethodName::Jwt => {
                if let Some(token) = bearer_token(&req.headers) {
                    let token = token?;
                    let (identity, provider) = match &policy.token_cache {
                        Some(cache) => cache.verify(token, &policy.providers).await?,
                        None => jwt::verify(token, &policy.providers).await?,
                    };
                    check_claims(policy, provider, &identity)?;
                    return Ok(identity);
                }
            }
            MethodName::ApiKey => {
                if let Some(keys) = &policy.api_keys
                    && let Some(v) = req.headers.get(keys.header())
                {
                    let consumer = keys.verify(v.as_bytes())?;
                    return Ok(Identity {
                        consumer: consumer.to_string(),
                        user_id: None,
                        claims: Arc::new(Value::Object(Default::default())),
                        method: super::AuthMethod::ApiKey,
                    });
                }
            }
        }
    }
    if policy.methods.iter().all(|m| *m == MethodName::Mtls) {
        return Err(AuthError::CertificateRequired);
    }
    Err(AuthError::MissingCredentials)
}

/// The token of an `Authorization: Bearer` header (scheme without case, RFC 6750 §2.1);
/// None when no such header is present.
fn bearer_token(headers: &http::HeaderMap) -> Option<Result<&str, AuthError>> {
    let v = headers.get(AUTHORIZATION)?;
    let s = v.to_str().ok()?;
    let (scheme, token) = s.split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let token = token.trim();
    Some(if token.is_empty() {
        Err(AuthError::MalformedToken)
    } else {
        Ok(token)
    })
}

fn check_claims(
    policy: &RoutePolicy,
    provider: &jwt::Provider,
    identity: &Identity,
) -> Result<(), AuthError> {
    if !policy.scopes.is_empty() {
        let held = provider.scopes(&identity.claims);
        if let Some(missing) = policy.scopes.iter().find(|s| !held.contains(&s.as_str())) {
            return Err(AuthError::InsufficientScope(missing.clone()));
        }
    }
    for (name, wanted) in &policy.claims {
        let ok = match identity.claims.get(name) {
            Some(Value::Array(items)) => items.iter().any(|i| wanted.contains(i)),
            Some(v) => wanted.contains(v),
            None => false,
        };
        if !ok {
            return Err(AuthError::ClaimMismatch(name.clone()));
        }
    }
    Ok(())
}

/// The answer to a refused request.
fn refusal<RB: From<Bytes>>(
    layer: &AuthLayer,
    e: &AuthError,
    req: &http::request::Parts,
) -> Response<RB> {
    let accept = req
        .headers
        .get_all(http::header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok());
    let format = crate::problem::negotiate_format(accept).unwrap_or(layer.format);
    let instance = req
        .headers
        .get(&layer.correlation_header)
        .and_then(|v| v.to_str().ok())
        .filter(|s| crate::edge::correlation::is_well_formed(s))
        .map(str::to_string)
        .unwrap_or_else(crate::edge::correlation::generate);
    let problem = e.to_problem();
    let body = match format {
        Format::Json => problem.to_json(&instance),
        Format::Xml => problem.to_xml(&instance),
    };
    let mut resp = Response::new(RB::from(Bytes::from(body)));
    *resp.status_mut() = problem.status;
    let h = resp.headers_mut();
    h.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.problem_media_type()),
    );
    if let Ok(v) = HeaderValue::from_str(&instance) {
        h.insert(layer.correlation_header.clone(), v);
    }
    if let Some(secs) = problem.retry_after {
        h.insert(http::header::RETRY_AFTER, HeaderValue::from(secs));
    }
    for v in layer.policy.challenges(e) {
        h.append(WWW_AUTHENTICATE, v);
    }
    resp
}

impl RoutePolicy {
    /// The `WWW-Authenticate` values of a refusal on this route: the schemes it accepts.
    pub fn challenges(&self, e: &AuthError) -> Vec<HeaderValue> {
        let api_key_header = self
            .methods
            .contains(&MethodName::ApiKey)
            .then(|| self.api_keys.as_ref().map(|k| k.header_spelling()))
            .flatten();
        e.challenges(&self.realm, self.accepts_jwt(), api_key_header)
    }
}
