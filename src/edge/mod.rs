//! Correlation ids and header hygiene: what the gateway does to every request and response
//! at its edge, whatever the route.
//!
//! - [`correlation`]: accept the client's correlation id when it is safe to log and echo,
//!   otherwise mint one.
//! - [`headers`]: which headers cross the gateway in each direction.
//! - [`auth`]: partner authentication (mTLS, JWT, API keys) and IP allow lists.

pub mod auth;
pub mod correlation;
pub mod headers;
