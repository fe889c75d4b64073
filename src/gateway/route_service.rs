//! The bottom of the partner stack: one service per route, built by [`super::compile`]
//! from the route file's `route.kind`.
//!
//! Adding a route kind is local: a [`RouteKind`] variant (parsed in `config/route.rs`), a
//! variant here with its module, and the two arms below.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;

use super::aggregate::AggregateService;
use super::proxy::ProxyService;
use super::snapshot::Runtime;
use super::transform::TransformService;
use crate::config::file::LimitsConfig;
use crate::config::{Route, RouteKind};
use crate::diagnostic::Diagnostic;
use crate::edge::budget;
use crate::edge::context::RequestContext;
use crate::problem::Problem;
use crate::proxy::Upstream;
use crate::telemetry::{Metrics, ServiceMetrics};

/// A route's service, by kind.
#[allow(clippy::large_enum_variant)] // one per route, built once and never moved on the request path
pub enum RouteService {
    Transform(TransformService),
    Proxy(ProxyService),
    Aggregate(AggregateService),
}

/// A route service's answer in the making.
pub type RouteFuture<'a> = Pin<Box<dyn Future<Output = Result<Response, Problem>> + Send + 'a>>;

/// What a route service gets for one request.
pub struct RouteCall<'a> {
    pub rt: &'a Runtime,
    pub metrics: &'a Metrics,
    pub ctx: &'a mut RequestContext,
    pub route: &'a Route,
    /// The route's path parameters, raw (percent-encoded) as matched.
    pub params: &'a [(String, String)],
    pub parts: &'a http::request::Parts,
    pub body: Body,
}

impl RouteService {
    /// Builds `route`'s service; `upstream` gives a service's client and metric handles
    /// by name.
    pub fn build(
        route: &Route,
        limits: &LimitsConfig,
        upstream: impl Fn(&str) -> Option<(Upstream, Arc<ServiceMetrics>)>,
    ) -> Result<RouteService, Diagnostic> {
        if route.kind == RouteKind::Aggregate {
            // An aggregate names its services per call, not one for the route.
            return AggregateService::build(route, upstream).map(RouteService::Aggregate);
        }
        let (client, metrics) = upstream(&route.upstream).ok_or_else(|| {
            Diagnostic::error(
                &route.file,
                format!(
                    "upstream service `{}` is not usable: see gateway.toml",
                    route.upstream
                ),
            )
            .location("upstream.service")
        })?;
        Ok(if route.kind == RouteKind::Proxy {
            RouteService::Proxy(ProxyService::new(route, client, metrics, limits))
        } else {
            RouteService::Transform(TransformService::new(client, metrics))
        })
    }

    /// The route's answer. Each kind's future is boxed here: the caller's state then holds
    /// a pointer rather than the largest kind's future inline, which every layer above
    /// would otherwise copy as the request moves through it.
    pub fn call<'a>(&'a self, call: RouteCall<'a>) -> RouteFuture<'a> {
        match self {
            RouteService::Transform(s) => Box::pin(s.call(call)),
            // Streamed bodies count only their frames in flight, until the answer's body is
            // dropped (edge/budget.rs).
            RouteService::Proxy(s) => Box::pin(async move {
                let held = call.rt.memory.admit(budget::STREAM_IN_FLIGHT_BYTES)?;
                s.call(call).await.map(|r| held.hold(r))
            }),
            // Admitted while the budget has room; the merged answer counts once built.
            RouteService::Aggregate(s) => Box::pin(async move {
                let held = call.rt.memory.admit(0)?;
                s.call(call).await.map(|r| held.hold_answer(r))
            }),
        }
    }
}
