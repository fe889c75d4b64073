//! The trace layer: while traces are on, each recorded partner request runs inside a
//! request span (named after its route, continuing the partner's `traceparent`) that the
//! pipeline's phase spans hang under ([`crate::telemetry::traces`]). Whether a request is
//! recorded is decided here, once; one that is not goes straight through with no span,
//! carrying only its trace id for the upstream's `traceparent`. While traces are off, the
//! request goes straight through: one atomic load, no span.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::Either;
use tracing::Instrument as _;

use super::stack::{Request, snapshot_of};
use crate::config::RouteMatch;
use crate::telemetry::traces;

#[derive(Debug, Clone, Copy)]
pub struct TraceLayer;

impl<S> tower::Layer<S> for TraceLayer {
    type Service = Trace<S>;
    fn layer(&self, inner: S) -> Trace<S> {
        Trace { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Trace<S> {
    inner: S,
}

type Traced = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request> for Trace<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Traced>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        if !traces::enabled() {
            return Either::Left(self.inner.call(req));
        }
        let (parent, root) = match traces::decide(req.headers()) {
            traces::Sampling::Recorded { parent, root } => (parent, root),
            traces::Sampling::Unrecorded(trace) => {
                req.extensions_mut().insert(trace);
                return Either::Left(self.inner.call(req));
            }
        };
        // The span is named before the request runs, so the route is looked up here once
        // more (a table lookup, only for a recorded request); routing proper stays below.
        let span = {
            let rt = snapshot_of(&req);
            let template =
                rt.as_ref()
                    .and_then(|rt| match rt.gateway.find(req.method(), req.uri().path()) {
                        RouteMatch::Found { route, .. } => Some(route.path.clone()),
                        _ => None,
                    });
            traces::request_span(
                parent,
                root,
                req.method(),
                req.uri().path(),
                template.as_deref(),
            )
        };
        let fut = {
            let _entered = span.enter();
            self.inner.call(req)
        };
        Either::Right(Box::pin(async move {
            let resp = fut.instrument(span.clone()).await?;
            traces::record_status(&span, resp.status().as_u16());
            Ok(resp)
        }))
    }
}
