//! The CORS phase of the partner stack, above routing: a preflight (`OPTIONS` with
//! `Access-Control-Request-Method`) has no route of its own, so the route is found here by
//! the method the preflight asks about, and the route's compiled tower-http
//! [`tower_http::cors::CorsLayer`] answers it or decorates the actual request's answer.
//!
//! A request whose `Origin` the route does not list passes through untouched and gets no
//! CORS header (only `Vary: Origin`, so a shared cache keeps answers to different origins
//! apart); a preflight from it reaches routing, which refuses `OPTIONS` with 405. Requests
//! without `Origin` (every server-to-server partner) cost one header lookup.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::header::{ACCESS_CONTROL_REQUEST_METHOD, ORIGIN, VARY};
use http::{HeaderValue, Method};
use tower::{Layer, Service};

use super::stack::{Request, snapshot_of};
use crate::config::RouteMatch;
use crate::edge::context::{MatchedRoute, RequestContext};

#[derive(Debug, Clone, Copy)]
pub struct CorsPhaseLayer;

impl<S> Layer<S> for CorsPhaseLayer {
    type Service = CorsPhase<S>;
    fn layer(&self, inner: S) -> CorsPhase<S> {
        CorsPhase { inner }
    }
}

#[derive(Debug, Clone)]
pub struct CorsPhase<S> {
    inner: S,
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

impl<S> Service<Request> for CorsPhase<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = futures_util::future::Either<S::Future, BoxFuture>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        use futures_util::future::Either;
        let (Some(rt), Some(origin)) = (snapshot_of(&req), req.headers().get(ORIGIN).cloned())
        else {
            return Either::Left(self.inner.call(req));
        };
        let preflight = req.method() == Method::OPTIONS;
        let asked = if preflight {
            match req
                .headers()
                .get(ACCESS_CONTROL_REQUEST_METHOD)
                .and_then(|v| Method::from_bytes(v.as_bytes()).ok())
            {
                Some(m) => m,
                None => return Either::Left(self.inner.call(req)),
            }
        } else if req.method() == Method::HEAD {
            Method::GET
        } else {
            req.method().clone()
        };
        let found = match rt.gateway.find(&asked, req.uri().path()) {
            RouteMatch::Found {
                index,
                route,
                params,
            } => rt.routes.get(index).and_then(|r| r.cors.clone()).map(|p| {
                (
                    p,
                    MatchedRoute {
                        index,
                        route: Arc::clone(route),
                        params,
                    },
                )
            }),
            _ => None,
        };
        let Some((policy, matched)) = found else {
            return Either::Left(self.inner.call(req));
        };
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        if !policy.allows(&origin) {
            let fut = self.inner.call(req);
            drop(inner);
            return Either::Right(Box::pin(async move {
                let mut resp = fut.await?;
                resp.headers_mut()
                    .append(VARY, HeaderValue::from_static("origin"));
                Ok(resp)
            }));
        }
        // A preflight is answered here: its context, with the route it asked about, goes
        // back up for the observing layer.
        let ctx = if preflight {
            req.extensions_mut()
                .remove::<RequestContext>()
                .map(|mut c| {
                    c.route = Some(matched);
                    c
                })
        } else {
            None
        };
        let mut cors = policy.layer.layer(inner);
        Either::Right(Box::pin(async move {
            let mut resp = cors.call(req).await?;
            if let Some(ctx) = ctx {
                resp.extensions_mut().insert(ctx);
            }
            Ok(resp)
        }))
    }
}
