//! The rate-limit layer: under routing and authentication, so it knows the route and the
//! consumer. It asks the route's limiter (compiled into the snapshot, see `traffic.rs`)
//! about the request's key, refuses with 429 `rate-limited` (or 503 when the shared store
//! is down and the limiter fails closed) in the route's format without calling anything
//! below, and writes `RateLimit-Limit`, `RateLimit-Remaining` and `RateLimit-Reset` on
//! every answer it decided.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::Either;

use super::respond::refuse;
use super::stack::{Request, snapshot_of, unassembled};
use super::state::AppState;
use crate::edge::context::RequestContext;
use crate::edge::ratelimit::{KeyBy, RateLimitError, write_headers};

#[derive(Clone)]
pub struct RateLimitLayer {
    state: Arc<AppState>,
}

impl RateLimitLayer {
    pub fn new(state: Arc<AppState>) -> Self {
        RateLimitLayer { state }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> RateLimit<S> {
        RateLimit {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    state: Arc<AppState>,
}

/// The key a request is counted under within its route: the consumer authentication
/// named, else the client's address (anonymous callers are limited one address each).
fn key_of(by: KeyBy, ctx: &RequestContext) -> String {
    match (by, &ctx.consumer) {
        (KeyBy::Route, _) => "route".to_owned(),
        (KeyBy::Consumer, Some(c)) => format!("consumer:{}", c.name),
        (KeyBy::Consumer | KeyBy::ClientAddress, _) => format!("ip:{}", ctx.peer.ip()),
    }
}

/// The answer of a route with a limit.
type Limited = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> tower::Service<Request> for RateLimit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    /// The inner service's own future on a route without a limit: nothing boxed.
    type Future = Either<S::Future, Limited>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let (Some(rt), Some(ctx)) = (snapshot_of(&req), req.extensions().get::<RequestContext>())
        else {
            return Either::Right(Box::pin(std::future::ready(Ok(unassembled()))));
        };
        let Some(matched) = &ctx.route else {
            return Either::Right(Box::pin(std::future::ready(Ok(unassembled()))));
        };
        let Some((limiter, rules)) = rt
            .routes
            .get(matched.index)
            .and_then(|r| r.traffic.rate_limit.as_ref())
        else {
            return Either::Left(self.inner.call(req));
        };
        let key = key_of(rules.key, ctx);
        let route = Arc::clone(&matched.route);
        let limiter = Arc::clone(limiter);
        let (rate, quota) = (rules.rate, rules.quota);
        // The service polled ready is the one called; a clone takes its place.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        Either::Right(Box::pin(async move {
            match limiter
                .check(&route.name, &key, rate.as_ref(), quota.as_ref())
                .await
            {
                Ok(decision) => {
                    let mut resp = inner.call(req).await?;
                    if let Some(d) = decision {
                        write_headers(resp.headers_mut(), &d);
                    }
                    Ok(resp)
                }
                Err(refused) => {
                    if matches!(
                        refused,
                        RateLimitError::Limited(_) | RateLimitError::QuotaExhausted(_)
                    ) {
                        state.metrics.traffic.rate_limited(&route.name);
                    }
                    let Some(ctx) = req.extensions_mut().remove::<RequestContext>() else {
                        return Ok(unassembled());
                    };
                    let mut resp = refuse(&rt, ctx, req.headers(), None, refused.to_problem());
                    if let Some(d) = refused.decision() {
                        write_headers(resp.headers_mut(), d);
                    }
                    Ok(resp)
                }
            }
        }))
    }
}
