//! Partner authentication: who is calling, proven by a client certificate, a JWT or an API
//! key, and whether that caller may use the route from where it calls.
//!
//! - [`config`]: the `[auth]` section and a route's `auth` override, as written.
//! - [`compile`]: turns them into one [`RoutePolicy`] per route, or every problem at once.
//! - [`jwt`], [`jwks`]: token verification with pinned algorithms; keys from files or a JWKS.
//! - [`cache`]: verified tokens remembered, so a partner's repeated token costs a hash.
//! - [`api_key`]: hashed keys compared in constant time.
//! - [`mtls`]: a verified client certificate's names to a consumer.
//! - [`client_ip`]: the client address, through trusted proxies only.
//! - [`layer`]: the tower layer that applies a route's policy to a request.
//!
//! The outcome of a success is an [`Identity`] in the request's extensions (mappings read
//! its claims as `$claims.NAME`, rate limits its consumer); of a failure an [`AuthError`],
//! answered as a problem document with its `WWW-Authenticate` challenge.

pub mod api_key;
pub mod cache;
pub mod client_ip;
pub mod compile;
pub mod config;
mod error;
pub mod jwks;
pub mod jwt;
pub mod layer;
pub mod mtls;

pub use compile::{AuthConfigError, Compiled, RoutePolicy, compile};
pub use error::AuthError;
pub use layer::{AuthLayer, AuthService, ClientAddr, PeerCertificates};

use std::sync::Arc;

use serde_json::Value;

/// How a caller proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    Mtls,
    Jwt,
    ApiKey,
}

impl AuthMethod {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::Mtls => "mtls",
            AuthMethod::Jwt => "jwt",
            AuthMethod::ApiKey => "api_key",
        }
    }
}

/// A verified caller. `claims` holds a JWT's verified claims as a JSON object (empty for
/// other methods), shared so a cached token's identity is handed out without copying them.
#[derive(Debug, Clone, PartialEq)]
pub struct Identity {
    pub consumer: String,
    pub user_id: Option<String>,
    pub claims: Arc<Value>,
    pub method: AuthMethod,
}
