//! The bottom of the partner stack: one service per route, built by [`super::compile`]
//! from the route file's `route.kind`.
//!
//! Adding a route kind is local: a [`RouteKind`] variant (parsed in `config/route.rs`), a
//! variant here with its module, and the two arms below.

use std::sync::Arc;

use axum::body::Body;
use axum::response::Response;

use super::snapshot::Runtime;
use super::transform::TransformService;
use crate::config::{Route, RouteKind};
use crate::diagnostic::Diagnostic;
use crate::edge::context::RequestContext;
use crate::problem::Problem;
use crate::proxy::Upstream;
use crate::telemetry::{Metrics, ServiceMetrics};

/// A route's service, by kind.
pub enum RouteService {
    Transform(TransformService),
}

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
        upstream: impl Fn(&str) -> Option<(Upstream, Arc<ServiceMetrics>)>,
    ) -> Result<RouteService, Diagnostic> {
        match route.kind {
            RouteKind::Transform => {
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
                Ok(RouteService::Transform(TransformService::new(
                    client, metrics,
                )))
            }
        }
    }

    pub async fn call(&self, call: RouteCall<'_>) -> Result<Response, Problem> {
        match self {
            RouteService::Transform(s) => s.call(call).await,
        }
    }
}
