//! The authentication phase of the partner stack: applies the route's compiled
//! [`RoutePolicy`] (from `[auth]` and `[routes."P/R".auth]`, looked up by the route's index
//! in the snapshot) through [`crate::edge::auth::layer::authenticate`].
//!
//! A success names the consumer in the [`RequestContext`] (logs, rate limits) and leaves
//! the [`crate::edge::auth::Identity`] in the request's extensions (mappings read its
//! claims as `$claims.NAME`). A refusal is counted in `schemagate_auth_failures_total` and
//! answered through [`refuse`] in the route's format with its `WWW-Authenticate` challenge.
//! Every route has a policy, open ones too, so the identity headers a partner sends are
//! removed whatever the route requires.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use http::header::WWW_AUTHENTICATE;

use super::respond::refuse;
use super::stack::{Request, snapshot_of, unassembled};
use super::state::AppState;
use crate::edge::auth::layer::authenticate;
use crate::edge::auth::{ClientAddr, Identity};
use crate::edge::context::{Consumer, RequestContext};

#[derive(Clone)]
pub struct AuthenticateLayer {
    state: Arc<AppState>,
}

impl AuthenticateLayer {
    pub fn new(state: Arc<AppState>) -> Self {
        AuthenticateLayer { state }
    }
}

impl<S> tower::Layer<S> for AuthenticateLayer {
    type Service = Authenticate<S>;
    fn layer(&self, inner: S) -> Authenticate<S> {
        Authenticate {
            inner,
            state: Arc::clone(&self.state),
        }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    state: Arc<AppState>,
}

impl<S> tower::Service<Request> for Authenticate<S>
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
        let rt = snapshot_of(&req);
        let index = req
            .extensions()
            .get::<RequestContext>()
            .and_then(|c| c.route.as_ref())
            .map(|m| m.index);
        let (Some(rt), Some(index)) = (rt, index) else {
            return Box::pin(std::future::ready(Ok(unassembled())));
        };
        let Some(policy) = rt.routes.get(index).map(|r| Arc::clone(&r.auth)) else {
            return Box::pin(std::future::ready(Ok(unassembled())));
        };
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let (mut parts, body) = req.into_parts();
            match authenticate(&policy, &mut parts).await {
                Ok(_) => {
                    let name = parts
                        .extensions
                        .get::<Identity>()
                        .map(|i| i.consumer.clone());
                    if let (Some(name), Some(ctx)) =
                        (name, parts.extensions.get_mut::<RequestContext>())
                    {
                        ctx.consumer = Some(Consumer { name });
                    }
                    inner.call(Request::from_parts(parts, body)).await
                }
                Err(e) => {
                    let Some(ctx) = parts.extensions.remove::<RequestContext>() else {
                        return Ok(unassembled());
                    };
                    let route = ctx.route.as_ref().map_or("", |m| m.route.name.as_str());
                    state.metrics.auth_failure(route, e.reason());
                    let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
                    tracing::info!(correlation_id = %ctx.correlation_id, route, reason = %e,
                        client = ?client, "request refused by authentication");
                    let mut resp = refuse(&rt, ctx, &parts.headers, None, e.to_problem());
                    for v in policy.challenges(&e) {
                        resp.headers_mut().append(WWW_AUTHENTICATE, v);
                    }
                    Ok(resp)
                }
            }
        })
    }
}
