//! Correlation ids and header hygiene: what the gateway does to every request and response
//! at its edge, whatever the route.
//!
//! - [`correlation`]: accept the client's correlation id when it is safe to log and echo,
//!   otherwise mint one.
//! - [`headers`]: which headers cross the gateway in each direction.
//! - [`ratelimit`]: rate limits and quotas, in process or shared through Redis.
//! - [`cache`]: the response cache of GET routes and the `Cache-Control` policy.
//! - [`config_key`]: the error naming a bad traffic-control key.
//! - [`auth`]: partner authentication (mTLS, JWT, API keys) and IP allow lists.

pub mod auth;
pub mod cache;
pub mod config_key;
pub mod correlation;
pub mod headers;
pub mod ratelimit;
