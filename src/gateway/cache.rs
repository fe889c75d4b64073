//! The response cache and the route's `Cache-Control` policy, as two layers over the
//! components in `edge/cache/`.
//!
//! [`CacheLayer`] sits under the request deadline, over the route service: a GET of a
//! cached route is looked up (method, path, query, consumer, varied headers) and a hit is
//! answered with its `Age` without calling the route; a burst of identical misses makes
//! one call. Every answer it gives carries the request's own correlation id (a stored
//! answer came with another request's) and its context, so it is observed like any other.
//!
//! [`CacheHitLayer`] answers the hits found in memory above the request deadline, which
//! only matters for calls: a hit costs no timer and none of the layers below. Everything
//! else (a miss, a lookup in the shared store, a wait for another request's call) goes on
//! down to [`CacheLayer`], under the deadline.
//!
//! [`CacheControlLayer`] sits right under routing, so the policy reaches every answer of
//! the route, refusals of the layers between included.

use std::convert::Infallible;
use std::future::{Future, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::Either;
use http::{Extensions, HeaderValue};
use tower::Layer as _;

use super::stack::{Request, Snapshot, snapshot_of, unassembled};
use crate::edge::cache;
use crate::edge::context::RequestContext;

/// The answer of a layer that has work to do on the way back.
type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// The consumer a cached answer belongs to: the one authentication named.
fn consumer_of(ext: &Extensions) -> Option<&str> {
    ext.get::<RequestContext>()?
        .consumer
        .as_ref()
        .map(|c| c.name.as_str())
}

#[derive(Debug, Clone, Copy)]
pub struct CacheHitLayer;

impl<S> tower::Layer<S> for CacheHitLayer {
    type Service = CacheHit<S>;
    fn layer(&self, inner: S) -> CacheHit<S> {
        CacheHit { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CacheHit<S> {
    inner: S,
}

impl<S> tower::Service<Request> for CacheHit<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let hit = {
            let ext = req.extensions();
            match (ext.get::<Snapshot>(), ext.get::<RequestContext>()) {
                (Some(Snapshot(rt)), Some(ctx)) => ctx
                    .route
                    .as_ref()
                    .and_then(|m| rt.routes.get(m.index))
                    .and_then(|r| r.traffic.cache.as_ref())
                    .and_then(|(store, _)| cache::memory_hit(store, &req, consumer_of(ext)))
                    .map(|resp| (resp, rt.correlation_header.clone())),
                _ => None,
            }
        };
        let Some((mut resp, header)) = hit else {
            return Either::Left(self.inner.call(req));
        };
        // The request ends here: its context goes back up with the answer, which carries
        // the request's own correlation id (the stored one came with another request's).
        let Some(ctx) = req.extensions_mut().remove::<RequestContext>() else {
            return Either::Right(std::future::ready(Ok(unassembled())));
        };
        if let Ok(v) = HeaderValue::from_str(&ctx.correlation_id) {
            resp.headers_mut().insert(header, v);
        }
        resp.extensions_mut().insert(ctx);
        Either::Right(std::future::ready(Ok(resp)))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct CacheLayer;

impl<S> tower::Layer<S> for CacheLayer {
    type Service = Cache<S>;
    fn layer(&self, inner: S) -> Cache<S> {
        Cache { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Cache<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Cache<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    /// The inner service's own future on a route without a cache: nothing boxed.
    type Future = Either<S::Future, Boxed>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let (Some(rt), Some(ctx)) = (snapshot_of(&req), req.extensions().get::<RequestContext>())
        else {
            return Either::Right(Box::pin(std::future::ready(Ok(unassembled()))));
        };
        let store = ctx
            .route
            .as_ref()
            .and_then(|m| rt.routes.get(m.index))
            .and_then(|r| r.traffic.cache.as_ref());
        let Some((store, policy)) = store else {
            return Either::Left(self.inner.call(req));
        };
        let ctx = ctx.clone();
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let mut cached =
            cache::CacheLayer::new(std::sync::Arc::clone(store), *policy, consumer_of).layer(inner);
        Either::Right(Box::pin(async move {
            let mut resp = cached.call(req).await?;
            if let Ok(v) = HeaderValue::from_str(&ctx.correlation_id) {
                resp.headers_mut().insert(rt.correlation_header.clone(), v);
            }
            // A hit (or a wait for another request's call) never reached the route, which
            // hands the context back: the answer carries this request's own.
            if resp.extensions().get::<RequestContext>().is_none() {
                resp.extensions_mut().insert(ctx);
            }
            Ok(resp)
        }))
    }
}

#[derive(Debug, Clone, Copy)]
pub struct CacheControlLayer;

impl<S> tower::Layer<S> for CacheControlLayer {
    type Service = CacheControl<S>;
    fn layer(&self, inner: S) -> CacheControl<S> {
        CacheControl { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CacheControl<S> {
    inner: S,
}

impl<S> tower::Service<Request> for CacheControl<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    /// The inner service's own future when the route keeps `Cache-Control` as it is.
    type Future = Either<S::Future, Boxed>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let policy = snapshot_of(&req).and_then(|rt| {
            let m = req.extensions().get::<RequestContext>()?.route.as_ref()?;
            let p = &rt.routes.get(m.index)?.traffic.cache_control;
            (*p != cache::CacheControlPolicy::Keep).then(|| p.clone())
        });
        let fut = self.inner.call(req);
        match policy {
            None => Either::Left(fut),
            Some(policy) => Either::Right(Box::pin(async move {
                let mut resp = fut.await?;
                policy.apply(resp.headers_mut());
                Ok(resp)
            })),
        }
    }
}
