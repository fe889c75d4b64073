//! The rate limit as a tower layer, one per route: it derives the request's key, asks
//! the [`Limiter`], answers a refusal itself (without calling the route) and writes the
//! `RateLimit-*` headers on every answer it decided.
//!
//! The layer does not know the authentication's types: it is given a function that reads
//! the consumer's name from the request extensions. A refusal becomes a response through
//! a renderer, so the stack can render problems its own way (format negotiation,
//! correlation id); [`json_problem`] is the plain default.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::extract::ConnectInfo;
use bytes::Bytes;
use http::{Extensions, HeaderValue, Request, Response, header};
use tower::{Layer, Service};

use super::config::{CompiledRateLimit, KeyBy};
use super::{Limiter, write_headers};
use crate::problem::Problem;

/// Reads the authenticated consumer's name, when there is one.
pub type ConsumerOf = fn(&Extensions) -> Option<&str>;

/// Turns a problem into the response the client gets.
pub type Render<B> = Arc<dyn Fn(&Problem) -> Response<B> + Send + Sync>;

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// `application/problem+json` with `Retry-After`: the renderer for stacks without one.
pub fn json_problem<B: From<Bytes>>(p: &Problem) -> Response<B> {
    let mut resp = Response::new(B::from(Bytes::from(p.to_json(""))));
    *resp.status_mut() = p.status;
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    if let Some(secs) = p.retry_after {
        h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
    }
    resp
}

/// The key a request is counted under, within its route.
pub fn request_key(by: KeyBy, ext: &Extensions, consumer: ConsumerOf) -> String {
    let address = || match ext.get::<ConnectInfo<SocketAddr>>() {
        Some(ConnectInfo(peer)) => format!("ip:{}", peer.ip()),
        None => "ip:unknown".to_owned(),
    };
    match by {
        KeyBy::Route => "route".to_owned(),
        KeyBy::ClientAddress => address(),
        KeyBy::Consumer => consumer(ext).map_or_else(address, |c| format!("consumer:{c}")),
    }
}

/// Limits one route.
pub struct RateLimitLayer<RB> {
    limiter: Arc<Limiter>,
    route: Arc<str>,
    rules: Arc<CompiledRateLimit>,
    consumer: ConsumerOf,
    render: Render<RB>,
}

impl<RB> RateLimitLayer<RB> {
    pub fn new(
        limiter: Arc<Limiter>,
        route: impl Into<Arc<str>>,
        rules: CompiledRateLimit,
        consumer: ConsumerOf,
        render: Render<RB>,
    ) -> Self {
        RateLimitLayer {
            limiter,
            route: route.into(),
            rules: Arc::new(rules),
            consumer,
            render,
        }
    }
}

impl<RB> Clone for RateLimitLayer<RB> {
    fn clone(&self) -> Self {
        RateLimitLayer {
            limiter: Arc::clone(&self.limiter),
            route: Arc::clone(&self.route),
            rules: Arc::clone(&self.rules),
            consumer: self.consumer,
            render: Arc::clone(&self.render),
        }
    }
}

impl<S, RB> Layer<S> for RateLimitLayer<RB> {
    type Service = RateLimitService<S, RB>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimitService {
            inner,
            layer: self.clone(),
        }
    }
}

pub struct RateLimitService<S, RB> {
    inner: S,
    layer: RateLimitLayer<RB>,
}

impl<S: Clone, RB> Clone for RateLimitService<S, RB> {
    fn clone(&self) -> Self {
        RateLimitService {
            inner: self.inner.clone(),
            layer: self.layer.clone(),
        }
    }
}

impl<S, B, RB> Service<Request<B>> for RateLimitService<S, RB>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: Send + 'static,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The service polled ready is the one that must be called; a fresh clone takes
        // its place for the next request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let limiter = Arc::clone(&self.layer.limiter);
        let route = Arc::clone(&self.layer.route);
        let rules = Arc::clone(&self.layer.rules);
        let render = Arc::clone(&self.layer.render);
        let key = request_key(rules.key, req.extensions(), self.layer.consumer);
        Box::pin(async move {
            match limiter
                .check(&route, &key, rules.rate.as_ref(), rules.quota.as_ref())
                .await
            {
                Err(refused) => {
                    let mut resp = render(&refused.to_problem());
                    if let Some(d) = refused.decision() {
                        write_headers(resp.headers_mut(), d);
                    }
                    Ok(resp)
                }
                Ok(decision) => {
                    let mut resp = inner.call(req).await?;
                    if let Some(d) = decision {
                        write_headers(resp.headers_mut(), &d);
                    }
                    Ok(resp)
                }
            }
        })
    }
}
