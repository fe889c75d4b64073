//! The running gateway: the compile step, the snapshot a request reads, the HTTP stack a
//! partner request goes down, the admin endpoints and the process lifecycle.
//!
//! # The stack
//!
//! Read top to bottom: a request goes down it, its answer comes back up. `[planned]` marks
//! where the coming features plug in; each is one new module and one line in the stack.
//!
//! ```text
//!  TCP accept, connection limit, header/idle timeouts                server.rs
//!  TLS termination (rustls, certificate reloaded in place), ALPN;    tls/
//!    client chain -> PeerCertificates, peer -> ConnectInfo
//!  HTTP/1.1 or HTTP/2 (stream and reset limits); heads hyper rejects    server.rs
//!    (400, 414, 431) reported to observe.rs
//!  GatewayService: partner stack; the admin endpoints have their     service.rs
//!    own listener (`[admin] listen`) unless shared by opt-in
//!  ── partner stack: tower layers, one ServiceBuilder ─────────────── stack.rs
//!  snapshot of the moment -> request extensions                       stack.rs
//!  header hygiene: internal-prefix headers removed                    edge/headers.rs
//!  correlation id (the partner's or a new one) -> RequestContext      edge/correlation.rs
//!  traces: the request span, continuing the partner's traceparent     trace.rs
//!  observe: metrics and access log of every request, answered below   observe.rs
//!    or not (client gone: 499; cut at the drain deadline: 503)
//!  CORS (tower-http CorsLayer per route; preflights answered here)   cors.rs, edge/cors.rs
//!  routing: 404 / 405 / HEAD served by GET -> RequestContext.route    routing.rs
//!  Cache-Control policy of the route, on every answer from below     cache.rs
//!  authentication: the route's policy; names the consumer             auth.rs, edge/auth/
//!    -> RequestContext.consumer, Identity (claims) in extensions
//!  rate limit (per consumer, route or address): 429 + RateLimit-*     limit.rs
//!  response cache hits in memory, answered with their Age             cache.rs
//!  request deadline (server.request_timeout_ms) around what follows   deadline.rs
//!  response cache (GET routes): Age, Vary, one call per burst         cache.rs
//!  route dispatch -> RouteService, built per route from `route.kind`  dispatch.rs
//!    memory budget: each kind's bodies counted, 503 past the budget   route_service.rs,
//!                                                                     edge/budget.rs
//!    transform: Host, media type, body limit and read deadline,       transform.rs
//!               decode, validate, map (pipeline.rs), forward
//!    proxy: path checks, headers, bodies streamed both ways          proxy.rs
//!    aggregate: concurrent upstream calls, merged, mapped per profile aggregate.rs
//!  upstream exchange: Upstream::call = retries with a budget around   proxy/guard.rs
//!    the circuit breaker around Upstream::send (pooled client)        proxy/
//!  ── on the way back ────────────────────────────────────────────────────────────────
//!  refusals below routing rendered in the route's format              respond.rs
//!  (respond::refuse), carried up to observe in the answer's extensions
//! ```
//!
//! A layer is one file and one `.layer(...)` line in [`stack::partner_stack`], with a
//! comment on why it sits where it does. The request carries the snapshot
//! ([`stack::Snapshot`]) and the [`crate::edge::context::RequestContext`] in its
//! extensions; a layer that refuses answers through `respond::refuse`.
//!
//! # Snapshots
//!
//! [`compile`] turns the files into an immutable [`Runtime`] (routes with their built
//! services, upstream clients, header policy, limits) or every diagnostic with its file and
//! line. `check`, `serve` and reload all call it. What must outlive a snapshot (pools,
//! the rate limiter, the response cache, breakers and retry budgets) is held by
//! [`AppState`] and handed to each compile ([`Traffic`]). A request reads the snapshot of the
//! moment through an `ArcSwap` in [`AppState`]; a reload swaps in a new one.

mod admin;
mod aggregate;
mod auth;
mod cache;
mod cors;
mod deadline;
mod demo_print;
mod dispatch;
mod lifecycle;
mod limit;
mod observe;
mod policies;
mod proxy;
mod published;
mod respond;
mod route_service;
mod routing;
mod service;
mod snapshot;
pub mod stack;
mod state;
mod trace;
mod traffic;
mod transform;

pub use lifecycle::run_server;
pub use observe::rejection_hook;
pub use route_service::{RouteCall, RouteService};
pub use service::{GatewayService, admin_app, app};
pub use snapshot::{Runtime, build, compile};
pub use state::{AppState, ReloadStatus};
pub use traffic::Traffic;
pub use transform::TransformService;
