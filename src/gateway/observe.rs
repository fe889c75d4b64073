//! The observing layer: counts every partner request in the route's metrics and writes the
//! access log line and the log line of a failure, exactly once per request, whichever layer
//! below answered, and also when none did. What it reports rides back in the answer's
//! extensions: the final [`RequestContext`] and, for a refusal, the [`Refusal`] with its
//! problem.
//!
//! A request can end without an answer coming back up: the client goes away (hyper drops
//! the request's future when its connection closes, or an HTTP/2 stream is reset), or
//! shutdown aborts it at the drain deadline. The layer's future holds a guard that writes
//! the request's line from its `Drop` then: status 499 (nginx's "client closed request")
//! with outcome `client_closed`, or 503 with outcome `shutdown` when the listener's
//! [`DrainCut`] says the drain deadline passed. A client that closes its connection in the
//! middle of its body gets the same line through its route's answer, 499. Requests hyper
//! rejects before any service
//! sees them (a head it cannot parse, or too large) are reported by the listener and
//! recorded by [`rejected`], with outcome `rejected`. Every other line has outcome
//! `answered`.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::response::Response;
use http::{Method, Uri};

use super::routing;
use super::snapshot::Runtime;
use super::stack::{Request, snapshot_of, unassembled};
use super::state::AppState;
use crate::config::RouteMatch;
use crate::edge::context::RequestContext;
use crate::problem::{Cause, Problem};
use crate::server::{DrainCut, Rejected};
use crate::telemetry::UNMATCHED_ROUTE;

/// Status of a request whose client went away before its answer (nginx's 499).
pub const CLIENT_CLOSED: u16 = 499;

/// Status of a request aborted at the drain deadline: the gateway was unavailable for it.
pub const SHUTDOWN: u16 = 503;

/// A refusal's problem, in the answer's extensions for this layer to log.
#[derive(Debug, Clone)]
pub struct Refusal(pub Problem);

/// Counts and logs into the process's metrics and log (see the module documentation).
#[derive(Clone)]
pub struct ObserveLayer {
    state: Arc<AppState>,
}

impl ObserveLayer {
    pub fn new(state: Arc<AppState>) -> Self {
        ObserveLayer { state }
    }
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Observe<S> {
        Observe {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Clone)]
pub struct Observe<S> {
    inner: S,
    state: Arc<AppState>,
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let Some(rt) = snapshot_of(&req) else {
            return Box::pin(std::future::ready(Ok(unassembled())));
        };
        let Some(ctx) = req.extensions().get::<RequestContext>() else {
            return Box::pin(std::future::ready(Ok(unassembled())));
        };
        let mut pending = Pending {
            state: Arc::clone(&self.state),
            rt,
            method: req.method().clone(),
            uri: req.uri().clone(),
            correlation_id: ctx.correlation_id.clone(),
            peer: ctx.peer,
            started: ctx.started,
            cut: req.extensions().get::<DrainCut>().cloned(),
            done: false,
        };
        let fut = self.inner.call(req);
        Box::pin(async move {
            let mut response = fut.await?;
            pending.answered(&mut response);
            Ok(response)
        })
    }
}

/// One request on its way down: enough to write its line whether an answer comes back up
/// ([`Pending::answered`]) or the future holding it is dropped first.
struct Pending {
    state: Arc<AppState>,
    rt: Arc<Runtime>,
    method: Method,
    uri: Uri,
    correlation_id: String,
    peer: SocketAddr,
    started: Instant,
    cut: Option<DrainCut>,
    done: bool,
}

/// What one access line says beyond the request itself.
struct Line<'a> {
    cid: &'a str,
    route: Option<(usize, &'a crate::config::Route)>,
    status: u16,
    elapsed: Duration,
    peer: SocketAddr,
    consumer: &'a str,
    outcome: &'static str,
}

impl Pending {
    fn answered(&mut self, response: &mut Response) {
        self.done = true;
        let ctx = response.extensions_mut().remove::<RequestContext>();
        let problem = response.extensions_mut().remove::<Refusal>();
        let status = response.status().as_u16();
        // Every phase hands the context back up; should one not, the line is still written
        // from what was known on the way down.
        let (cid, peer, elapsed) = match &ctx {
            Some(c) => (c.correlation_id.as_str(), c.peer, c.started.elapsed()),
            None => (
                self.correlation_id.as_str(),
                self.peer,
                self.started.elapsed(),
            ),
        };
        let matched = ctx.as_ref().and_then(|c| c.route.as_ref());
        let route = matched.map(|m| (m.index, &*m.route));
        let route_label = route.map_or(UNMATCHED_ROUTE, |(_, r)| r.name.as_str());
        if let Some(Refusal(p)) = &problem {
            let log = p.log_detail.as_deref().unwrap_or("");
            match p.cause() {
                Cause::Gateway => {
                    tracing::error!(correlation_id = %cid, route = route_label, status, log, "{}", p.detail)
                }
                Cause::Upstream => {
                    tracing::warn!(correlation_id = %cid, route = route_label, status, log, "{}", p.detail)
                }
                // A capacity limit logs its own summary (edge/budget.rs), at a bounded rate.
                Cause::Client | Cause::Capacity => {}
            }
        }
        let consumer = ctx
            .as_ref()
            .and_then(|c| c.consumer.as_ref())
            .map_or("-", |c| c.name.as_str());
        self.record(&Line {
            cid,
            route,
            status,
            elapsed,
            peer,
            consumer,
            // The answer to a body the client stopped sending before it was whole.
            outcome: if status == CLIENT_CLOSED {
                "client_closed"
            } else {
                "answered"
            },
        });
    }

    /// Counts the request under its route and writes its access line.
    fn record(&self, line: &Line<'_>) {
        let secs = line.elapsed.as_secs_f64();
        let route_label = line.route.map_or(UNMATCHED_ROUTE, |(_, r)| r.name.as_str());
        // A HEAD answered by a GET route, a CORS preflight, or any method of a route that
        // serves every method, counts under its own method.
        match line
            .route
            .and_then(|(i, r)| self.rt.routes.get(i).map(|rr| (r, rr)))
        {
            Some((r, rr)) if self.method == r.method => rr.metrics.request(line.status, secs),
            // The same series through the route's handles, resolved once per method.
            Some((_, rr)) => rr
                .metrics
                .request_as(self.method.as_str(), line.status, secs),
            None => {
                self.state
                    .metrics
                    .request(route_label, self.method.as_str(), line.status, secs)
            }
        }
        if self.rt.access_log {
            tracing::info!(
                target: "access",
                correlation_id = %line.cid,
                method = self.method.as_str(),
                path = self.uri.path(),
                route = route_label,
                status = line.status,
                duration_us = line.elapsed.as_micros() as u64,
                peer = %line.peer.ip(),
                consumer = line.consumer,
                outcome = line.outcome,
                "request"
            );
        }
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let (status, outcome) = match &self.cut {
            Some(cut) if cut.is_cut() => (SHUTDOWN, "shutdown"),
            _ => (CLIENT_CLOSED, "client_closed"),
        };
        // The route as routing found it (the context that carried it went with the future).
        let path = self.uri.path();
        let route = match routing::find(&self.rt.gateway, &self.method, path) {
            RouteMatch::Found { index, route, .. } => Some((index, Arc::clone(route))),
            _ => None,
        };
        self.record(&Line {
            cid: &self.correlation_id,
            route: route.as_ref().map(|(i, r)| (*i, &**r)),
            status,
            elapsed: self.started.elapsed(),
            peer: self.peer,
            consumer: "-",
            outcome,
        });
    }
}

/// Counts and logs a request hyper rejected before the gateway's service saw it: nothing
/// of it is known but the client and the status hyper sent.
pub fn rejected(state: &AppState, r: Rejected) {
    state.metrics.request(UNMATCHED_ROUTE, "-", r.status, 0.0);
    if state.runtime().access_log {
        tracing::info!(
            target: "access",
            correlation_id = "-",
            method = "-",
            path = "-",
            route = UNMATCHED_ROUTE,
            status = r.status,
            duration_us = 0u64,
            peer = %r.peer.ip(),
            consumer = "-",
            outcome = "rejected",
            "request"
        );
    }
}

/// The partner listener's [`crate::server::RejectionHook`]: [`rejected`] on `state`.
pub fn rejection_hook(state: Arc<AppState>) -> crate::server::RejectionHook {
    Arc::new(move |r| rejected(&state, r))
}
