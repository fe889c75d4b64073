//! The bottom of the partner stack: hands the request to its route's service (built by
//! compile from the route's `kind`, see [`super::route_service`]) and returns the context
//! with the answer for the observing layer.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;

use super::respond::refuse;
use super::route_service::RouteCall;
use super::stack::{Request, snapshot_of, unassembled};
use super::state::AppState;
use crate::edge::context::RequestContext;
use crate::problem::{Problem, ProblemKind};

/// Calls the matched route's service.
#[derive(Clone)]
pub struct RouteDispatch {
    state: Arc<AppState>,
}

impl RouteDispatch {
    pub fn new(state: Arc<AppState>) -> Self {
        RouteDispatch { state }
    }
}

impl tower::Service<Request> for RouteDispatch {
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let (Some(rt), Some(mut ctx)) = (
            snapshot_of(&req),
            req.extensions_mut().remove::<RequestContext>(),
        ) else {
            return Box::pin(std::future::ready(Ok(unassembled())));
        };
        let state = Arc::clone(&self.state);
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let Some(matched) = ctx.route.clone() else {
                return Ok(unassembled());
            };
            let outcome = match rt.routes.get(matched.index) {
                Some(r) => {
                    r.service
                        .call(RouteCall {
                            rt: &rt,
                            metrics: &state.metrics,
                            ctx: &mut ctx,
                            route: &matched.route,
                            params: &matched.params,
                            parts: &parts,
                            body,
                        })
                        .await
                }
                None => Err(Problem::new(
                    ProblemKind::Internal,
                    "the route's service is not built",
                )),
            };
            Ok(match outcome {
                Ok(mut resp) => {
                    resp.extensions_mut().insert(ctx);
                    resp
                }
                Err(problem) => refuse(&rt, ctx, &parts.headers, None, problem),
            })
        })
    }
}
