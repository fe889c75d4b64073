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
use futures_util::future::Either;
use http::header::WWW_AUTHENTICATE;

use super::respond::refuse;
use super::snapshot::Runtime;
use super::stack::{Request, snapshot_of, unassembled};
use super::state::AppState;
use crate::edge::auth::compile::RoutePolicy;
use crate::edge::auth::layer::{authenticate, screen};
use crate::edge::auth::{AuthError, ClientAddr, Identity};
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
    /// The inner service's own future on an open route, where nothing is awaited.
    type Future = Either<S::Future, Boxed>;

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
            return Either::Right(Box::pin(std::future::ready(Ok(unassembled()))));
        };
        let Some(policy) = rt.routes.get(index).map(|r| &r.auth) else {
            return Either::Right(Box::pin(std::future::ready(Ok(unassembled()))));
        };
        let (mut parts, body) = req.into_parts();
        if !policy.requires_auth() {
            // An open route: screened here and now, no credential to wait for.
            return match screen(policy, &mut parts) {
                Ok(_) => Either::Left(self.inner.call(Request::from_parts(parts, body))),
                Err(e) => {
                    let resp = refused(&self.state, &rt, policy, parts, e);
                    Either::Right(Box::pin(std::future::ready(Ok(resp))))
                }
            };
        }
        let policy = Arc::clone(policy);
        // The ready service goes into the future; a fresh clone stays for the next call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let state = Arc::clone(&self.state);
        Either::Right(Box::pin(async move {
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
                Err(e) => Ok(refused(&state, &rt, &policy, parts, e)),
            }
        }))
    }
}

/// The answer of an authentication phase that needs to await something (a credential).
type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

/// A refusal: counted, logged and answered in the route's format with its challenges.
fn refused(
    state: &AppState,
    rt: &Runtime,
    policy: &RoutePolicy,
    mut parts: http::request::Parts,
    e: AuthError,
) -> Response {
    let Some(ctx) = parts.extensions.remove::<RequestContext>() else {
        return unassembled();
    };
    let route = ctx.route.as_ref().map_or("", |m| m.route.name.as_str());
    state.metrics.auth_failure(route, e.reason());
    let client = parts.extensions.get::<ClientAddr>().map(|c| c.0);
    tracing::info!(correlation_id = %ctx.correlation_id, route, reason = %e,
        client = ?client, "request refused by authentication");
    let mut resp = refuse(rt, ctx, &parts.headers, None, e.to_problem());
    for v in policy.challenges(&e) {
        resp.headers_mut().append(WWW_AUTHENTICATE, v);
    }
    resp
}
