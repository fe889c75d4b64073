//! The per-request context: what the phases of one partner request learn about it and
//! hand on, as one value instead of long argument lists.
//!
//! The entry of the partner stack creates it (correlation id, peer, start time); the route
//! service records its upstream time; routing fills in the route; authentication will fill
//! in the consumer. The final phase (metrics, access log) reads it back. It is `Clone` and
//! `'static` so a phase written as a tower layer can carry it in the request's extensions.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::Route;

/// What is known about one partner request so far.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// The request's correlation id: the partner's when valid, a new one otherwise.
    pub correlation_id: String,
    pub peer: SocketAddr,
    pub started: Instant,
    /// The route it matched, once routing has run.
    pub route: Option<MatchedRoute>,
    /// Who is calling, once authentication has named them. Nothing sets it yet; it is the
    /// slot the authentication layer fills and later layers (rate limit per consumer,
    /// mappings reading claims) read.
    pub consumer: Option<Consumer>,
    pub timings: Timings,
}

impl RequestContext {
    pub fn new(correlation_id: String, peer: SocketAddr) -> Self {
        RequestContext {
            correlation_id,
            peer,
            started: Instant::now(),
            route: None,
            consumer: None,
            timings: Timings::default(),
        }
    }

    /// A copy for answering the request later in its place (a deadline's 504): everything
    /// a refusal and its access line read, without the route's path parameters, which
    /// only the route service reads and which would cost an allocation each.
    pub fn for_refusal(&self) -> RequestContext {
        RequestContext {
            correlation_id: self.correlation_id.clone(),
            peer: self.peer,
            started: self.started,
            route: self.route.as_ref().map(|m| MatchedRoute {
                index: m.index,
                route: Arc::clone(&m.route),
                params: Vec::new(),
            }),
            consumer: self.consumer.clone(),
            timings: self.timings,
        }
    }
}

/// The route a request matched and its raw (still percent-encoded) path parameters.
#[derive(Debug, Clone)]
pub struct MatchedRoute {
    /// The route's position in the snapshot, what per-route state is indexed by.
    pub index: usize,
    pub route: Arc<Route>,
    pub params: Vec<(String, String)>,
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumer {
    /// The consumer's configured name.
    pub name: String,
}

/// Where a request's time went.
#[derive(Debug, Clone, Copy, Default)]
pub struct Timings {
    /// The upstream exchange, when there was one.
    pub upstream: Option<Duration>,
}
