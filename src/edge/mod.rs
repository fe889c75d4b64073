//! What the gateway does to every request and response at its edge, whatever the route:
//! one concern per module, in the order a request meets them (see [`crate::gateway`] for
//! the whole stack).
//!
//! - [`context`]: the per-request context the phases hand on in request extensions.
//! - [`headers`]: internal-prefix stripping, `Host` and body-coding checks, and which
//!   headers cross the gateway in each direction.
//! - [`correlation`]: accept the client's correlation id when it is safe to log and echo,
//!   otherwise mint one.
//! - [`cors`]: CORS for browser callers: which origins may read answers, preflights.
//! - [`ratelimit`]: rate limits and quotas, in process or shared through Redis.
//! - [`cache`]: the response cache of GET routes and the `Cache-Control` policy.
//! - [`config_key`]: the error naming a bad traffic-control key.
//! - [`auth`]: partner authentication (mTLS, JWT, API keys) and IP allow lists.
//! - [`budget`]: the process's memory budget for bodies in flight (503 past it).

pub mod auth;
pub mod budget;
pub mod cache;
pub mod config_key;
pub mod context;
pub mod correlation;
pub mod cors;
pub mod headers;
pub mod ratelimit;
