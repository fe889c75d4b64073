//! schemagate: a schema-driven API gateway.
//!
//! Partners send XML or their own JSON; internal services receive validated internal JSON;
//! partners get answers in their own format. Each partner route is two files (a schema and
//! a route file with a declarative mapping) proven by `schemagate check` before they go live.
//!
//! # Layout
//!
//! - [`config`]: `gateway.toml` and the route files, loaded and compiled into one immutable
//!   [`config::Gateway`] snapshot; hot reload swaps snapshots atomically.
//! - [`schema`]: the schema registry: validators and resolved type trees ([`schema::Shape`]).
//! - [`codec`]: schema-guided XML <-> JSON view, JSON with limits.
//! - [`mapping`]: the mapping language: syntax, compile, evaluate, static check.
//! - [`pipeline`]: one partner request, phase by phase.
//! - [`proxy`]: the pooled upstream client.
//! - [`edge`]: correlation ids and header hygiene.
//! - [`server`]: the HTTP listener with its timeouts and limits, graceful shutdown.
//! - [`problem`]: the error type clients see, rendered as RFC 9457 problem details.
//! - [`telemetry`]: logging and Prometheus metrics.
//! - [`demo`]: the built-in demo upstream of `serve --demo`.
//! - [`alloc`]: the process allocator.

pub mod alloc;
pub mod app;
pub mod check;
pub mod codec;
pub mod config;
pub mod demo;
pub mod diagnostic;
pub mod edge;
pub mod file_schema;
pub mod fixtures;
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
pub mod telemetry;
pub mod xsd;
