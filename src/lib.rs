//! schemagate: a schema-driven API gateway.
//!
//! Partners send XML or their own JSON; internal services receive validated internal JSON;
//! partners get answers in their own format. Each partner route is two files (a schema and
//! a route file with a declarative mapping) proven by `schemagate check` before they go live.
//!
//! # Layout
//!
//! - [`config`]: `gateway.toml` and the route files, loaded and checked into one
//!   [`config::Gateway`] with every diagnostic found.
//! - [`gateway`]: the compile step (files to the immutable runtime snapshot `check`, `serve`
//!   and reload share), the HTTP stack of a partner request (its order is drawn there), the
//!   admin endpoints and the process lifecycle.
//! - [`schema`]: the schema registry: validators and resolved type trees ([`schema::Shape`]).
//! - [`codec`]: schema-guided XML <-> JSON view, JSON with limits.
//! - [`mapping`]: the mapping language: syntax, compile, evaluate, static check.
//! - [`pipeline`]: the transformation phases of one partner request.
//! - [`soap`]: SOAP routes: the envelope, actions and faults.
//! - [`proxy`]: the pooled upstream client, `http://` and `https://`.
//! - [`edge`]: the per-request context, correlation ids and header hygiene.
//! - [`server`]: the HTTP listener (HTTP/1.1 and HTTP/2) with its timeouts and limits,
//!   graceful shutdown.
//! - [`tls`]: TLS termination on the partner listener, certificates reloaded in place.
//! - [`reload`]: file watching and `SIGHUP`, which trigger reloads.
//! - [`problem`]: the error type clients see, rendered as RFC 9457 problem details.
//! - [`diagnostic`]: the findings of loading and checking, in one shape.
//! - [`suggest`]: "did you mean" for misspelt names in diagnostics.
//! - [`check`]: `schemagate check`: compile, golden fixtures, the checklist.
//! - [`fixtures`]: the golden fixtures `check` runs.
//! - [`openapi`]: the OpenAPI documents of the partner routes (combined and per partner).
//! - [`telemetry`]: logging and Prometheus metrics.
//! - [`demo`]: the built-in demo upstream of `serve --demo`.
//! - [`alloc`]: the process allocator.

pub mod aggregate;
pub mod alloc;
pub mod check;
pub mod codec;
pub mod config;
pub mod demo;
pub mod diagnostic;
pub mod edge;
pub mod file_schema;
pub mod fixtures;
pub mod gateway;
pub mod mapping;
pub mod openapi;
pub mod pipeline;
pub mod playground;
pub mod pretty;
pub mod probe;
pub mod problem;
pub mod proxy;
pub mod reload;
pub mod schema;
pub mod server;
pub mod soap;
pub mod suggest;
pub mod telemetry;
pub mod tls;
pub mod view;
pub mod xsd;
