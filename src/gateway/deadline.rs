//! The request deadline (`server.request_timeout_ms`): everything below it (the body, the
//! upstream exchange, both mappings) completes within it or the partner gets 504 in the
//! route's format. The work below is dropped at the deadline, its upstream call included.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use axum::response::Response;
use http::HeaderValue;
use tokio::time::Timeout;

use super::respond::refuse;
use super::snapshot::Runtime;
use super::stack::{Request, snapshot_of, unassembled};
use crate::edge::context::RequestContext;
use crate::problem::{Problem, ProblemKind};

#[derive(Debug, Clone, Copy)]
pub struct DeadlineLayer;

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;
    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Deadline<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Bounded<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (Some(rt), Some(ctx)) = (
            snapshot_of(&req),
            req.extensions()
                .get::<RequestContext>()
                .map(RequestContext::for_refusal),
        ) else {
            return Bounded {
                work: None,
                late: None,
            };
        };
        // What a timed-out answer needs, kept here: the request itself goes below and is
        // dropped with the work at the deadline.
        let accept = req.headers().get(http::header::ACCEPT).cloned();
        let work = tokio::time::timeout(rt.request_timeout, self.inner.call(req));
        Bounded {
            work: Some(work),
            late: Some(Late { rt, ctx, accept }),
        }
    }
}

/// What the answer to a request that missed its deadline is made of.
struct Late {
    rt: Arc<Runtime>,
    ctx: RequestContext,
    accept: Option<HeaderValue>,
}

pin_project_lite::pin_project! {
    /// The work below, or the 504 at its deadline: a named future, so the layer boxes
    /// nothing. Without work (a stack assembled out of order) it answers at once.
    pub struct Bounded<F> {
        #[pin]
        work: Option<Timeout<F>>,
        late: Option<Late>,
    }
}

impl<F> Future for Bounded<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(work) = this.work.as_pin_mut() else {
            return Poll::Ready(Ok(unassembled()));
        };
        if let Ok(answer) = ready!(work.poll(cx)) {
            return Poll::Ready(answer);
        }
        let Some(Late { rt, ctx, accept }) = this.late.take() else {
            return Poll::Ready(Ok(unassembled()));
        };
        let mut headers = http::HeaderMap::new();
        if let Some(a) = accept {
            headers.insert(http::header::ACCEPT, a);
        }
        let problem = Problem::new(
            ProblemKind::UpstreamTimeout,
            "the request did not complete in time",
        );
        Poll::Ready(Ok(refuse(&rt, ctx, &headers, None, problem)))
    }
}
