//! The observing layer: counts every partner answer in the route's metrics and writes the
//! access log line and the log line of a failure, once per request, whichever layer below
//! answered. What it reports rides back in the answer's extensions: the final
//! [`RequestContext`] and, for a refusal, the [`Refusal`] with its problem.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;

use super::stack::{Request, snapshot_of, unassembled};
use super::state::AppState;
use crate::edge::context::RequestContext;
use crate::problem::{Cause, Problem};

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
        let method = req.method().clone();
        let uri = req.uri().clone();
        let fut = self.inner.call(req);
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let mut response = fut.await?;
            let ctx = response.extensions_mut().remove::<RequestContext>();
            let problem = response.extensions_mut().remove::<Refusal>();
            let Some(ctx) = ctx else {
                return Ok(response);
            };
            let status = response.status().as_u16();
            let elapsed = ctx.started.elapsed();
            let route = ctx.route.as_ref();
            let route_label = route.map_or("unmatched", |m| m.route.name.as_str());
            // A HEAD answered by a GET route, or a CORS preflight, counts under its own
            // method through the labelled family: the route's series at hand are its own
            // method's.
            match route.and_then(|m| rt.routes.get(m.index).map(|r| (m, r))) {
                Some((m, r)) if method == m.route.method => {
                    r.metrics.request(status, elapsed.as_secs_f64())
                }
                _ => state.metrics.request(
                    route_label,
                    method.as_str(),
                    status,
                    elapsed.as_secs_f64(),
                ),
            }
            let cid = ctx.correlation_id.as_str();
            if let Some(Refusal(p)) = &problem {
                let log = p.log_detail.as_deref().unwrap_or("");
                match p.cause() {
                    Cause::Gateway => {
                        tracing::error!(correlation_id = %cid, route = route_label, status, log, "{}", p.detail)
                    }
                    Cause::Upstream => {
                        tracing::warn!(correlation_id = %cid, route = route_label, status, log, "{}", p.detail)
                    }
                    Cause::Client => {}
                }
            }
            if rt.access_log {
                tracing::info!(
                    target: "access",
                    correlation_id = %cid,
                    method = method.as_str(),
                    path = uri.path(),
                    route = route_label,
                    status,
                    duration_us = elapsed.as_micros() as u64,
                    peer = %ctx.peer.ip(),
                    consumer = ctx.consumer.as_ref().map_or("-", |c| c.name.as_str()),
                    "request"
                );
            }
            Ok(response)
        })
    }
}
