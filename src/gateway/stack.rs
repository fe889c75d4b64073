//! The partner stack as tower layers, built once per process and read top to bottom in
//! [`partner_stack`]. A request goes down it, its answer comes back up.
//!
//! The stack is not rebuilt per snapshot: its first layer loads the snapshot of the moment
//! into the request's extensions ([`Snapshot`]), and every layer below reads its compiled
//! configuration from there, so a request runs start to end on the configuration it
//! started with while a reload swaps in the next one. The per-request
//! [`RequestContext`] rides in the request's extensions on the way down and in the
//! answer's extensions on the way back, where the observing layer reads it.
//!
//! Every layer under [`RoutingLayer`] that refuses a request answers through
//! [`super::respond::refuse`], so the refusal is rendered in the route's format and
//! reaches the access log and metrics the same way whoever refused.

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::response::Response;
use tower::ServiceBuilder;
use tower::util::{BoxCloneSyncService, MapRequestLayer};

use super::auth::AuthenticateLayer;
use super::cache::{CacheControlLayer, CacheHitLayer, CacheLayer};
use super::cors::CorsPhaseLayer;
use super::deadline::DeadlineLayer;
use super::dispatch::RouteDispatch;
use super::limit::RateLimitLayer;
use super::observe::ObserveLayer;
use super::routing::RoutingLayer;
use super::snapshot::Runtime;
use super::state::AppState;
use super::trace::TraceLayer;
use crate::edge::context::RequestContext;
use crate::edge::correlation::correlation_id;
use crate::edge::headers::strip_internal;

/// A partner request as the stack sees it.
pub type Request = http::Request<Body>;

/// The partner stack, boxed once so [`super::GatewayService`] can hold it.
pub type PartnerStack = BoxCloneSyncService<Request, Response, Infallible>;

/// The snapshot a request runs on, in its extensions.
#[derive(Clone)]
pub struct Snapshot(pub Arc<Runtime>);

/// Where a request's peer address is unknown (a service driven without [`crate::server`]).
const UNKNOWN_PEER: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), 0);

/// Builds the partner stack over `state`.
pub fn partner_stack(state: Arc<AppState>) -> PartnerStack {
    let snapshots = Arc::clone(&state);
    let stack = ServiceBuilder::new()
        // First, so every layer below reads one configuration even when a reload lands
        // while the request is on its way; then, before anything can read them (a
        // mapping's `$header.NAME` included), internal-prefix headers are removed: they
        // belong to the gateway and its services, never to a partner; then the correlation
        // id and the context every phase below hands on.
        .layer(MapRequestLayer::new(move |req| {
            attach_snapshot_and_context(&snapshots, req)
        }))
        // The request span (while `[tracing]` is on) around all the work below, so every
        // phase span is its child; a refusal from routing still ends the span.
        .layer(TraceLayer)
        // Outermost observer: every request, answered from below (refusal or not) or
        // dropped first (client gone, drain cut), is counted and access-logged exactly once.
        .layer(ObserveLayer::new(Arc::clone(&state)))
        // CORS: above routing, since a preflight has no route of its own and is answered
        // here; above authentication, since a browser's preflight carries no credentials.
        .layer(CorsPhaseLayer)
        // Routing: 404, 405 with Allow, HEAD served by GET. Below it every request has a
        // route, and refusals are rendered in that route's format.
        .layer(RoutingLayer)
        // The route's `Cache-Control` policy, first under routing: every answer of the
        // route, refusals of the layers below included, leaves with it.
        .layer(CacheControlLayer)
        // Authentication: the route's policy, so it sits under routing; above the rate
        // limit, which counts per consumer, and above everything that costs (the body, the
        // upstream), so an unauthenticated caller costs no more than a token check.
        .layer(AuthenticateLayer::new(Arc::clone(&state)))
        // Rate limit, after authentication (it counts per consumer) and before anything
        // costly: a refused request reads no body and calls nothing.
        .layer(RateLimitLayer::new(Arc::clone(&state)))
        // A hit in the response cache's memory is answered here, after authentication
        // and the rate limit (a cached answer is still the consumer's, and counted), above
        // the deadline, which only bounds what waits.
        .layer(CacheHitLayer)
        // The request deadline (`server.request_timeout_ms`) around everything that may
        // wait: the body, the upstream, the cache.
        .layer(DeadlineLayer)
        // The response cache: under the deadline (a wait for an identical request's
        // upstream call is bounded too), over the route service it saves calls to.
        .layer(CacheLayer)
        // The route's service, built by compile from the route's `kind`.
        .service(RouteDispatch::new(state));
    BoxCloneSyncService::new(stack)
}

/// The snapshot, the partner's headers without internal ones, and the context: one
/// snapshot load for the three.
fn attach_snapshot_and_context(state: &AppState, mut req: Request) -> Request {
    let rt = state.runtime();
    strip_internal(req.headers_mut(), &rt.headers);
    let peer = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or(UNKNOWN_PEER, |c| c.0);
    let cid = correlation_id(req.headers(), &rt.correlation_header);
    let ext = req.extensions_mut();
    ext.insert(RequestContext::new(cid, peer));
    ext.insert(Snapshot(rt));
    req
}

/// The snapshot a layer below [`attach_snapshot_and_context`] finds in a request.
pub(super) fn snapshot_of(req: &Request) -> Option<Arc<Runtime>> {
    req.extensions().get::<Snapshot>().map(|s| Arc::clone(&s.0))
}

/// The answer of a layer that finds no snapshot or context in its request: only a stack
/// assembled other than by [`partner_stack`] gets it.
pub(super) fn unassembled() -> Response {
    let p = crate::problem::Problem::new(
        crate::problem::ProblemKind::Internal,
        "the request reached a phase out of order",
    );
    let mut resp = Response::new(Body::from(p.to_json("")));
    *resp.status_mut() = p.status;
    resp
}
