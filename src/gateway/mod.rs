//! The running gateway: the compile step, the snapshot a request reads, the HTTP stack a
//! partner request goes down, the admin endpoints and the process lifecycle.
//!
//! # The stack
//!
//! Read top to bottom: a request goes down it, its answer comes back up. `[planned]` marks
//! where the coming features plug in; each is one new module and one line in the stack.
//!
//! ```text
//!  TCP accept, connection limit, header/idle timeouts, HTTP/1.1      server.rs
//!  [planned] TLS termination (rustls acceptor on the listener)       server.rs
//!  GatewayService: admin paths -> admin.rs, the rest -> partner       service.rs
//!  ── partner stack ─────────────────────────────────────────────────────────────────
//!  header hygiene: internal-prefix headers removed                    edge/headers.rs
//!  correlation id (the partner's or a new one) -> RequestContext      edge/correlation.rs
//!  [planned] CORS (tower-http CorsLayer; preflights answered here)
//!  routing: 404 / 405 / HEAD served by GET -> RequestContext.route    partner.rs
//!  [planned] authentication: names the consumer -> .consumer          edge/
//!  [planned] rate limit (per route, per consumer)                     edge/
//!  request deadline (server.request_timeout_ms) around what follows   partner.rs
//!  [planned] cache (GET answers, per route)                           edge/
//!  RouteService, built per route by compile from `route.kind`:        route_service.rs
//!    transform: Host, media type, body limit and read deadline,       transform.rs
//!               decode, validate, map (pipeline.rs), forward
//!    [planned] proxy, aggregate: new variants beside transform
//!  upstream exchange through the pooled client                        proxy/
//!    [planned] circuit breaker, retries (around Upstream::send)       proxy/
//!  ── on the way back ────────────────────────────────────────────────────────────────
//!  problems rendered in the partner's format; metrics; access log     partner.rs, respond.rs
//! ```
//!
//! # Snapshots
//!
//! [`compile`] turns the files into an immutable [`Runtime`] (routes with their built
//! services, upstream clients, header policy, limits) or every diagnostic with its file and
//! line. `check`, `serve` and reload all call it. A request reads the snapshot of the
//! moment through an `ArcSwap` in [`AppState`]; a reload swaps in a new one.

mod admin;
mod demo_print;
mod lifecycle;
mod partner;
mod respond;
mod route_service;
mod service;
mod snapshot;
mod state;
mod transform;

pub use lifecycle::run_server;
pub use route_service::{RouteCall, RouteService};
pub use service::{GatewayService, app};
pub use snapshot::{Runtime, build, compile};
pub use state::{AppState, ReloadStatus};
pub use transform::TransformService;
