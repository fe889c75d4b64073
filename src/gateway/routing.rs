//! Routing: finds the request's route in the snapshot's table and records it in the
//! context, or answers 404, or 405 with `Allow`. HEAD is served wherever GET is (RFC 9110
//! §9.3.2): the GET route runs, its upstream call included, and the server writes the head
//! of its answer without the body. A SOAP endpoint's route is the one serving the request's
//! action. Routing runs outside the deadline, so even a timed-out
//! request is answered in its partner's format and counted under its route.

use std::convert::Infallible;
use std::future::Ready;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::response::Response;
use futures_util::future::Either;
use http::Method;
use http::header::{self, HeaderValue};

use super::respond::refuse;
use super::stack::{Request, snapshot_of, unassembled};
use crate::config::{Gateway, RouteMatch};
use crate::edge::context::{MatchedRoute, RequestContext};
use crate::problem::{Problem, ProblemKind};
use crate::soap;

/// The route of `method path`, HEAD served by GET: what routing decides (the observer asks
/// again for a request dropped before its answer came back up).
pub(super) fn find<'a>(gateway: &'a Gateway, method: &Method, path: &str) -> RouteMatch<'a> {
    let matched = gateway.find(method, path);
    if *method == Method::HEAD
        && !matches!(matched, RouteMatch::Found { .. })
        && let get @ RouteMatch::Found { .. } = gateway.find(&Method::GET, path)
    {
        return get;
    }
    matched
}

#[derive(Debug, Clone, Copy)]
pub struct RoutingLayer;

impl<S> tower::Layer<S> for RoutingLayer {
    type Service = Routing<S>;
    fn layer(&self, inner: S) -> Routing<S> {
        Routing { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Routing<S> {
    inner: S,
}

impl<S> tower::Service<Request> for Routing<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<S::Future, Ready<Result<Response, Infallible>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let Some(rt) = snapshot_of(&req) else {
            return Either::Right(std::future::ready(Ok(unassembled())));
        };
        let path = req.uri().path();
        let method = req.method();
        let refusal = match find(&rt.gateway, method, path) {
            RouteMatch::Found {
                index,
                route,
                params,
            } => {
                // A SOAP endpoint may hold several routes, one per action; a request
                // naming none of them is refused in the endpoint's first route's name.
                let (chosen, refusal) = match &route.soap {
                    Some(binding) => {
                        let action = soap::request_action(binding.version, req.headers());
                        match rt.gateway.soap_route(index, action.as_deref()) {
                            Ok(found) => (found, None),
                            Err(expected) => (
                                (index, route),
                                Some(soap::unknown_action(action.as_deref(), &expected)),
                            ),
                        }
                    }
                    None => ((index, route), None),
                };
                let route = MatchedRoute {
                    index: chosen.0,
                    route: Arc::clone(chosen.1),
                    params,
                };
                let Some(ctx) = req.extensions_mut().get_mut::<RequestContext>() else {
                    return Either::Right(std::future::ready(Ok(unassembled())));
                };
                ctx.route = Some(route);
                let Some(problem) = refusal else {
                    return Either::Left(self.inner.call(req));
                };
                let Some(ctx) = req.extensions_mut().remove::<RequestContext>() else {
                    return Either::Right(std::future::ready(Ok(unassembled())));
                };
                return Either::Right(std::future::ready(Ok(refuse(
                    &rt,
                    ctx,
                    req.headers(),
                    None,
                    problem,
                ))));
            }
            RouteMatch::MethodNotAllowed(mut allowed) => {
                // The format of a 405, which has no route of its own: that of the route at
                // the path.
                let format = allowed
                    .first()
                    .and_then(|m| match rt.gateway.find(m, path) {
                        RouteMatch::Found { route, .. } => Some(route.format),
                        _ => None,
                    });
                if allowed.contains(&Method::GET) && !allowed.contains(&Method::HEAD) {
                    allowed.push(Method::HEAD);
                    allowed.sort_by(|a, b| a.as_str().cmp(b.as_str()));
                }
                let list = allowed
                    .iter()
                    .map(Method::as_str)
                    .collect::<Vec<_>>()
                    .join(", ");
                let detail = format!("{method} is not allowed here; allowed: {list}");
                let problem = Problem::new(ProblemKind::MethodNotAllowed, detail);
                (problem, format, HeaderValue::from_str(&list).ok())
            }
            RouteMatch::NotFound => {
                let detail = format!("no route for {method} {}", crate::problem::echoed(path));
                (Problem::new(ProblemKind::NotFound, detail), None, None)
            }
        };
        let (problem, format, allow) = refusal;
        let Some(ctx) = req.extensions_mut().remove::<RequestContext>() else {
            return Either::Right(std::future::ready(Ok(unassembled())));
        };
        let mut resp = refuse(&rt, ctx, req.headers(), format, problem);
        if let Some(allow) = allow {
            resp.headers_mut().insert(header::ALLOW, allow);
        }
        Either::Right(std::future::ready(Ok(resp)))
    }
}
