//! The gateway as one HTTP service: the admin endpoints beside the partner stack.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::Method;
use http::header::HeaderValue;
use tower::ServiceExt as _;

use super::admin;
use super::stack::{PartnerStack, partner_stack};
use super::state::AppState;
use crate::config::listener;
use crate::edge::correlation::correlation_id;

/// The gateway as one HTTP service: the admin endpoints through an axum router, and every
/// other request down the partner stack ([`super::stack`]), which does its own routing and
/// so has no use for the router's per-request work on the hot path.
///
/// `[admin] enabled` is read here, once: the admin surface is part of the listener, not of
/// a reloadable snapshot. The peer address comes from the
/// `ConnectInfo<SocketAddr>` request extension that
/// [`crate::server::serve`] adds.
#[derive(Clone)]
pub struct GatewayService {
    state: Arc<AppState>,
    admin: Option<Router>,
    /// `[admin] playground`: its page and API answer GET and POST under `/playground`,
    /// wherever the admin endpoints are served.
    playground: Option<Router>,
    /// None on the admin listener: paths other than the admin ones are 404 there.
    partner: Option<PartnerStack>,
}

/// The partner listener's service (see [`GatewayService`]): partner routes only, unless
/// `[admin] listen = "partner"` puts the admin endpoints there too.
pub fn app(state: Arc<AppState>) -> GatewayService {
    let cfg = &state.runtime().gateway.config.admin;
    let shared = listener::admin_listen(&cfg.listen) == Some(listener::AdminListen::Partner);
    let admin = (cfg.enabled && shared).then(|| admin::router(Arc::clone(&state)));
    let playground = if shared {
        admin::playground(&state)
    } else {
        None
    };
    let partner = Some(partner_stack(Arc::clone(&state)));
    GatewayService {
        state,
        admin,
        playground,
        partner,
    }
}

/// The admin listener's service (`[admin] listen`): the admin endpoints only.
pub fn admin_app(state: Arc<AppState>) -> GatewayService {
    GatewayService {
        admin: Some(admin::router(Arc::clone(&state))),
        playground: admin::playground(&state),
        state,
        partner: None,
    }
}

impl<B> tower::Service<http::Request<B>> for GatewayService
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// Ready when the partner stack is, so a partner request is handed to this very stack
    /// (no clone of it, no second box around its future).
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match &mut self.partner {
            Some(partner) => partner.poll_ready(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let req = req.map(Body::new);
        if let Some(playground) = &self.playground
            && crate::playground::is_playground_path(req.uri().path())
        {
            return Box::pin(playground.clone().oneshot(req));
        }
        if let Some(admin) = &self.admin
            && admin::serves(req.uri().path())
        {
            let rt = self.state.runtime();
            if req.method() != Method::GET && req.method() != Method::HEAD {
                let resp = admin::method_not_allowed(&rt, &req);
                return Box::pin(std::future::ready(Ok(resp)));
            }
            // Admin answers carry a correlation id like every other answer; they are not
            // access-logged, so probes and scrapes do not flood the log.
            let cid = correlation_id(req.headers(), &rt.correlation_header);
            let header = rt.correlation_header.clone();
            let answer = admin.clone().oneshot(req);
            return Box::pin(async move {
                let mut resp = answer.await?;
                if let Ok(v) = HeaderValue::from_str(&cid) {
                    resp.headers_mut().insert(header, v);
                }
                Ok(resp)
            });
        }
        match &mut self.partner {
            Some(partner) => partner.call(req),
            None => {
                let resp = admin::not_found(&self.state.runtime(), &req);
                Box::pin(std::future::ready(Ok(resp)))
            }
        }
    }
}
