//! The response cache as a tower layer in front of one GET route.
//!
//! A GET is looked up under its key; a hit is answered from memory with its `Age`, the
//! route is not called. On a miss the first request for the key calls the route and the
//! identical requests arriving meanwhile wait for it, then look again: when the answer
//! could be stored they are served from it, otherwise (it was `no-store`, `private`, an
//! error) each calls the route itself, so an answer meant for one is never handed to
//! another. Requests with `Range` and methods other than GET pass straight through.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::header::{AGE, CONTENT_LENGTH, RANGE};
use http::{Extensions, Method, Request, Response};
use http_body_util::BodyExt as _;
use tower::{Layer, Service};

use super::config::StorePolicy;
use super::control::{storable_for, upstream_age};
use super::{CachedResponse, Join, ResponseCache, age_value, base_key, now_ms};
use crate::edge::ratelimit::layer::{ConsumerOf, json_problem};
use crate::problem::{Problem, ProblemKind};

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

#[derive(Clone)]
pub struct CacheLayer {
    cache: Arc<ResponseCache>,
    policy: StorePolicy,
    consumer: ConsumerOf,
}

impl CacheLayer {
    pub fn new(cache: Arc<ResponseCache>, policy: StorePolicy, consumer: ConsumerOf) -> Self {
        CacheLayer {
            cache,
            policy,
            consumer,
        }
    }
}

impl<S> Layer<S> for CacheLayer {
    type Service = CacheService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        CacheService {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct CacheService<S> {
    inner: S,
    layer: CacheLayer,
}

fn hit<RB: From<Bytes>>(entry: &CachedResponse) -> Response<RB> {
    let mut resp = Response::new(RB::from(entry.body.clone()));
    *resp.status_mut() = entry.status;
    *resp.headers_mut() = entry.headers.clone();
    resp.headers_mut().insert(AGE, age_value(entry.age()));
    resp
}

/// The answer to `req` when it is a plain GET whose fresh answer is in memory, counted as
/// a hit; None otherwise (the request then goes through [`CacheService`], which looks in
/// the shared store too, and waits for or makes the call). Nothing here awaits, so a hit
/// can be answered before the layers that only matter for an upstream call.
pub fn memory_hit<B, RB: From<Bytes>>(
    cache: &ResponseCache,
    req: &Request<B>,
    consumer: Option<&str>,
) -> Option<Response<RB>> {
    if req.method() != Method::GET || req.headers().contains_key(RANGE) {
        return None;
    }
    let base = base_key(req.method(), req.uri(), consumer);
    let entry = cache.get_in_memory(&cache.key_for(&base, req.headers()))?;
    cache.stats.hits.fetch_add(1, Ordering::Relaxed);
    Some(hit(&entry))
}

fn consumer_of(ext: &Extensions, f: ConsumerOf) -> Option<String> {
    f(ext).map(str::to_owned)
}

impl<S, B, RB> Service<Request<B>> for CacheService<S>
where
    S: Service<Request<B>, Response = Response<RB>> + Clone + Send + 'static,
    S::Future: Send,
    B: Send + 'static,
    RB: hyper::body::Body<Data = Bytes> + From<Bytes> + Send + 'static,
    RB::Error: std::fmt::Display,
{
    type Response = Response<RB>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<RB>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if req.method() != Method::GET || req.headers().contains_key(RANGE) {
            return Box::pin(inner.call(req));
        }
        let layer = self.layer.clone();
        let base = base_key(
            req.method(),
            req.uri(),
            consumer_of(req.extensions(), layer.consumer).as_deref(),
        );
        Box::pin(async move {
            let cache = &layer.cache;
            let (key, found) = cache.lookup(&base, req.headers()).await;
            if let Some(entry) = found {
                cache.stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(hit(&entry));
            }
            let flight = match cache.join(&key) {
                Join::Lead(flight) => Some(flight),
                Join::Wait(mut done) => {
                    cache.stats.coalesced.fetch_add(1, Ordering::Relaxed);
                    // Err only means the leader is gone: look again either way.
                    let _ = done.changed().await;
                    if let (_, Some(entry)) = cache.lookup(&base, req.headers()).await {
                        cache.stats.hits.fetch_add(1, Ordering::Relaxed);
                        return Ok(hit(&entry));
                    }
                    None
                }
            };
            cache.stats.misses.fetch_add(1, Ordering::Relaxed);
            let request_headers = req.headers().clone();
            let resp = inner.call(req).await?;
            let policy = layer.policy;
            let Some(ttl) = storable_for(
                resp.status(),
                resp.headers(),
                policy.default_ttl,
                policy.max_ttl,
            ) else {
                return Ok(resp);
            };
            let too_big = resp
                .headers()
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok()?.parse::<u64>().ok())
                .is_some_and(|n| n > policy.max_entry_bytes);
            if too_big {
                return Ok(resp);
            }
            let (parts, body) = resp.into_parts();
            let bytes = match body.collect().await {
                Ok(b) => b.to_bytes(),
                Err(e) => {
                    let p = Problem::new(
                        ProblemKind::UpstreamError,
                        "the upstream answer could not be read",
                    )
                    .with_log(format!("reading the answer to cache it: {e}"));
                    return Ok(json_problem(&p));
                }
            };
            if bytes.len() as u64 <= policy.max_entry_bytes {
                let entry = CachedResponse {
                    status: parts.status,
                    headers: parts.headers.clone(),
                    body: bytes.clone(),
                    stored_at_ms: now_ms(),
                    age_at_store: upstream_age(&parts.headers),
                    ttl,
                };
                cache.put(&base, &request_headers, entry).await;
            }
            drop(flight);
            Ok(Response::from_parts(parts, RB::from(bytes)))
        })
    }
}
