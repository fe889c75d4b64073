//! The request deadline (`server.request_timeout_ms`): everything below it (the body, the
//! upstream exchange, both mappings) completes within it or the partner gets 504 in the
//! route's format. The work below is dropped at the deadline, its upstream call included.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;

use super::respond::refuse;
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
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (Some(rt), Some(ctx)) = (
            snapshot_of(&req),
            req.extensions().get::<RequestContext>().cloned(),
        ) else {
            return Box::pin(std::future::ready(Ok(unassembled())));
        };
        // What a timed-out answer needs, kept here: the request itself goes below and is
        // dropped with the work at the deadline.
        let accept = req.headers().get(http::header::ACCEPT).cloned();
        let fut = self.inner.call(req);
        Box::pin(async move {
            match tokio::time::timeout(rt.request_timeout, fut).await {
                Ok(answer) => answer,
                Err(_) => {
                    let mut headers = http::HeaderMap::new();
                    if let Some(a) = accept {
                        headers.insert(http::header::ACCEPT, a);
                    }
                    let problem = Problem::new(
                        ProblemKind::UpstreamTimeout,
                        "the request did not complete in time",
                    );
                    Ok(refuse(&rt, ctx, &headers, None, problem))
                }
            }
        })
    }
}
