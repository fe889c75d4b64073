//! The `aggregate` route kind's HTTP side: the plan's calls made concurrently (a call
//! waits for the calls it depends on, and only for them), each bounded by its timeout and
//! the whole by the route's deadline, then the merged answers mapped into the answer of
//! the client's profile. The plan itself is [`crate::aggregate`]'s.

use std::borrow::Cow;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::response::Response;
use bytes::Bytes;
use futures_util::FutureExt;
use futures_util::future::{Shared, try_join_all};
use http::header::{self, HeaderValue};
use http::{HeaderMap, HeaderName, StatusCode};
use serde_json::{Map, Value};

use super::respond::{parse_query, partner_response};
use super::route_service::RouteCall;
use crate::aggregate::{
    AggregatePlan, CallPlan, MISSING_HEADER, MISSING_MEMBER, PathPiece, Selector,
};
use crate::codec::Format;
use crate::codec::Limits;
use crate::codec::doc::View;
use crate::config::{Route, Stage, encode_segment};
use crate::diagnostic::Diagnostic;
use crate::edge::context::RequestContext;
use crate::edge::headers::{check_host, request_host, transform_request_headers};
use crate::mapping::EvalContext;
use crate::pipeline;
use crate::problem::{Problem, ProblemKind};
use crate::proxy::guard::NO_RETRIES;
use crate::proxy::{Upstream, UpstreamError};
use crate::telemetry::ServiceMetrics;

/// An `aggregate` route's service: its plan and, per call, the client of the call's
/// service.
pub struct AggregateService {
    plan: Arc<AggregatePlan>,
    clients: Vec<(Upstream, Arc<ServiceMetrics>)>,
    /// The calls in an order where each comes after the calls it depends on.
    order: Vec<usize>,
}

/// Why a call gave no answer.
#[derive(Debug, Clone)]
enum CallFailure {
    Timeout,
    Upstream(UpstreamError),
    Status(StatusCode),
    /// The answer is not JSON, or breaks the call's schema.
    Invalid(String),
    /// The request could not be built: a placeholder without a value, say.
    Request(String),
    /// The client's request lacks a value the call's path needs (`$query.user`).
    Lacking(String),
    /// A call this one depends on gave no answer.
    Dependency(String),
}

impl CallFailure {
    fn describe(&self) -> String {
        match self {
            CallFailure::Timeout => "no answer within its timeout".into(),
            CallFailure::Upstream(e) => e.to_string(),
            CallFailure::Status(s) => format!("answered HTTP {}", s.as_u16()),
            CallFailure::Invalid(m) => format!("invalid answer: {m}"),
            CallFailure::Request(m) => format!("request not built: {m}"),
            CallFailure::Lacking(s) => format!("the request has no `{s}`"),
            CallFailure::Dependency(d) => format!("the call `{d}` it depends on gave no answer"),
        }
    }

    /// What the client gets when the call was required: 504 when it timed out, 502
    /// otherwise.
    fn to_problem(&self, route: &Route, call: &CallPlan) -> Problem {
        let name = &call.name;
        let problem = match self {
            CallFailure::Timeout => Problem::new(
                ProblemKind::UpstreamTimeout,
                format!(
                    "The service behind the `{name}` part of this answer did not answer in time."
                ),
            ),
            CallFailure::Upstream(UpstreamError::Timeout { .. }) => Problem::new(
                ProblemKind::UpstreamTimeout,
                format!(
                    "The service behind the `{name}` part of this answer did not answer in time."
                ),
            ),
            CallFailure::Lacking(source) => Problem::new(
                ProblemKind::MalformedRequest,
                format!("The request has no `{source}`, which this API needs."),
            ),
            _ => Problem::new(
                ProblemKind::UpstreamError,
                format!("The service behind the `{name}` part of this answer failed."),
            ),
        };
        problem.with_log(format!(
            "route {}: required call `{name}`: {}",
            route.name,
            self.describe()
        ))
    }
}

type Outcome = Arc<Result<Value, CallFailure>>;
type CallFuture<'a> = Shared<Pin<Box<dyn Future<Output = Outcome> + Send + 'a>>>;

/// What every call of one request reads.
struct Exchange<'a> {
    ctx: &'a EvalContext<'a>,
    headers: &'a HeaderMap,
    limits: &'a Limits,
}

impl AggregateService {
    /// Builds `route`'s service; `upstream` gives a service's client by name.
    pub fn build(
        route: &Route,
        upstream: impl Fn(&str) -> Option<(Upstream, Arc<ServiceMetrics>)>,
    ) -> Result<AggregateService, Diagnostic> {
        let plan = route.aggregate.clone().ok_or_else(|| {
            Diagnostic::error(
                &route.file,
                "an aggregate route needs an `aggregate:` section",
            )
            .location("aggregate")
        })?;
        let clients = plan
            .calls
            .iter()
            .map(|c| {
                upstream(&c.service).ok_or_else(|| {
                    Diagnostic::error(
                        &route.file,
                        format!(
                            "upstream service `{}` is not usable: see gateway.toml",
                            c.service
                        ),
                    )
                    .location(format!("aggregate.calls.{}.service", c.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let order = dependency_order(&plan.calls).ok_or_else(|| {
            Diagnostic::error(&route.file, "the calls depend on each other in a cycle")
                .location("aggregate.calls")
        })?;
        Ok(AggregateService {
            plan,
            clients,
            order,
        })
    }

    pub async fn call(&self, call: RouteCall<'_>) -> Result<Response, Problem> {
        let RouteCall {
            rt,
            ctx: request,
            route,
            params,
            parts,
            ..
        } = call;
        let RequestContext {
            correlation_id,
            peer,
            timings,
            ..
        } = request;
        let (cid, peer) = (correlation_id.as_str(), *peer);
        check_host(parts.version, &parts.headers)
            .map_err(|e| Problem::new(ProblemKind::MalformedRequest, e.to_string()))?;
        let params = Route::decode_path_params(params)
            .map_err(|e| Problem::new(ProblemKind::InvalidPath, e.to_string()))?;
        let query = parse_query(parts.uri.query());
        let stage = self.profile(&parts.headers, &query)?;
        let ctx = EvalContext {
            path_params: &params,
            query: &query,
            headers: &parts.headers,
            claims: None,
            soap_header: None,
            partner: &route.partner,
            correlation_id: cid,
            request: None,
        };
        let host = request_host(&parts.uri, &parts.headers);
        let mut headers =
            transform_request_headers(&parts.headers, &rt.headers, peer.ip(), "http", host, cid);
        headers.insert(header::ACCEPT, HeaderValue::from_static("application/json"));
        let exchange = Exchange {
            ctx: &ctx,
            headers: &headers,
            limits: &rt.limits,
        };

        let started = Instant::now();
        let outcomes = tokio::time::timeout(self.plan.deadline, self.fan_out(&exchange)).await;
        timings.upstream = Some(started.elapsed());
        let outcomes = match outcomes {
            Err(_) => {
                return Err(Problem::new(
                    ProblemKind::UpstreamTimeout,
                    "The services behind this API did not answer within the time this answer allows.",
                )
                .with_log(format!(
                    "route {}: aggregate deadline of {} ms passed",
                    route.name,
                    self.plan.deadline.as_millis()
                )));
            }
            Ok(Err((at, failure))) => {
                return Err(failure.to_problem(route, &self.plan.calls[at]));
            }
            Ok(Ok(outcomes)) => outcomes,
        };

        let mut merged = Map::with_capacity(outcomes.len() + 1);
        let mut missing = Vec::new();
        for (call, outcome) in self.plan.calls.iter().zip(outcomes) {
            match Arc::try_unwrap(outcome).unwrap_or_else(|shared| (*shared).clone()) {
                Ok(v) => {
                    merged.insert(call.name.clone(), v);
                }
                Err(f) => {
                    tracing::warn!(
                        correlation_id = %cid,
                        route = %route.name,
                        call = %call.name,
                        "optional call left out of the answer: {}",
                        f.describe()
                    );
                    missing.push(call.name.as_str());
                }
            }
        }
        merged.insert(
            MISSING_MEMBER.to_owned(),
            Value::Array(
                missing
                    .iter()
                    .map(|m| Value::String((*m).to_owned()))
                    .collect(),
            ),
        );
        let merged = Value::Object(merged);
        let body = answer(route, stage, &merged, &ctx)?;
        let mut response = partner_response(
            rt,
            cid,
            StatusCode::OK,
            &HeaderMap::new(),
            Bytes::from(body),
            route.response_media_type.clone(),
            true,
        );
        if !missing.is_empty()
            && let Ok(v) = HeaderValue::from_str(&missing.join(", "))
        {
            response
                .headers_mut()
                .insert(HeaderName::from_static(MISSING_HEADER), v);
        }
        Ok(response)
    }

    /// The answer mapping of the client's profile: `answer` when the client names none,
    /// 400 when it names one the route does not have.
    fn profile(&self, headers: &HeaderMap, query: &[(String, String)]) -> Result<&Stage, Problem> {
        let named = match &self.plan.selector {
            None => None,
            Some(Selector::Header(h)) => match headers.get(h) {
                None => None,
                Some(v) => Some(Cow::Borrowed(v.to_str().map_err(|_| {
                    Problem::new(
                        ProblemKind::MalformedRequest,
                        format!("the `{h}` header is not text"),
                    )
                })?)),
            },
            Some(Selector::Query(q)) => query
                .iter()
                .find(|(k, _)| k == q)
                .map(|(_, v)| Cow::Borrowed(v.as_str())),
        };
        let Some(named) = named else {
            return Ok(&self.plan.answer);
        };
        let named = named.trim();
        self.plan
            .profiles
            .iter()
            .find(|(n, _)| n == named)
            .map(|(_, s)| s)
            .ok_or_else(|| {
                let known: Vec<&str> = self.plan.profiles.iter().map(|(n, _)| n.as_str()).collect();
                let from = match &self.plan.selector {
                    Some(Selector::Header(h)) => format!("the `{h}` header"),
                    Some(Selector::Query(q)) => format!("the `{q}` query parameter"),
                    None => String::new(),
                };
                Problem::new(
                    ProblemKind::MalformedRequest,
                    format!(
                        "{from} names the profile `{named}`, which this API does not have; its profiles: {}",
                        known.join(", ")
                    ),
                )
            })
    }

    /// Starts every call, each as soon as the calls it depends on have answered; ends
    /// with every call's outcome, or at the first required call that failed.
    async fn fan_out<'a>(
        &'a self,
        ex: &'a Exchange<'a>,
    ) -> Result<Vec<Outcome>, (usize, CallFailure)> {
        let calls = &self.plan.calls;
        let mut futures: Vec<Option<CallFuture<'a>>> = vec![None; calls.len()];
        for &i in &self.order {
            let deps: Vec<(&'a str, CallFuture<'a>)> = calls[i]
                .depends_on
                .iter()
                .filter_map(|&d| Some((calls[d].name.as_str(), futures[d].clone()?)))
                .collect();
            let fut: Pin<Box<dyn Future<Output = Outcome> + Send + 'a>> = Box::pin(async move {
                let mut doc = Map::with_capacity(deps.len());
                for (name, dep) in deps {
                    match &*dep.await {
                        Ok(v) => {
                            doc.insert(name.to_owned(), v.clone());
                        }
                        Err(_) => return Arc::new(Err(CallFailure::Dependency(name.to_owned()))),
                    }
                }
                Arc::new(self.exchange(i, &Value::Object(doc), ex).await)
            });
            futures[i] = Some(fut.shared());
        }
        let joined = futures.into_iter().enumerate().filter_map(|(i, f)| {
            let required = calls[i].required;
            Some(f?.map(move |outcome| match &*outcome {
                Err(failure) if required => Err((i, failure.clone())),
                _ => Ok(outcome),
            }))
        });
        try_join_all(joined).await
    }

    /// One call: its request built from the templates, sent within its timeout, its
    /// answer read and validated.
    async fn exchange(
        &self,
        i: usize,
        deps: &Value,
        ex: &Exchange<'_>,
    ) -> Result<Value, CallFailure> {
        let call = &self.plan.calls[i];
        let (upstream, metrics) = &self.clients[i];
        let (target, headers) = request(call, deps, ex)?;
        let started = Instant::now();
        let in_flight = metrics.start();
        // The call's own timeout, when shorter than the upstream's, bounds the exchange
        // itself: one timer, and its expiry is the call's.
        let own = call.timeout < upstream.request_timeout();
        let sent = upstream
            .call_within(
                call.method.clone(),
                &target,
                headers,
                Bytes::new(),
                // Through the upstream's breaker; an aggregate's calls are not retried.
                &NO_RETRIES,
                call.timeout.min(upstream.request_timeout()),
            )
            .await;
        let secs = started.elapsed().as_secs_f64();
        let resp = match sent {
            Err(UpstreamError::Timeout { .. }) if own => {
                in_flight.finish("timeout", secs);
                return Err(CallFailure::Timeout);
            }
            Err(e) => {
                in_flight.finish(e.outcome(), secs);
                return Err(CallFailure::Upstream(e));
            }
            Ok(r) => r,
        };
        in_flight.finish(super::transform::exchange_outcome(resp.status), secs);
        if !resp.status.is_success() {
            return Err(CallFailure::Status(resp.status));
        }
        let value = if resp.body.is_empty() {
            Value::Null
        } else {
            crate::codec::json::decode(&resp.body, ex.limits)
                .map_err(|e| CallFailure::Invalid(e.to_string()))?
        };
        if let Some(schema) = &call.schema {
            schema.check_value(&value).map_err(|violations| {
                CallFailure::Invalid(format!(
                    "breaks {}: {}",
                    schema.name,
                    violations
                        .iter()
                        .map(|v| format!("{} {}", v.pointer, v.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                ))
            })?;
        }
        Ok(value)
    }
}

/// The call's path and query, and its headers: the partner's as policy forwards them plus
/// the call's own.
fn request(
    call: &CallPlan,
    deps: &Value,
    ex: &Exchange<'_>,
) -> Result<(String, HeaderMap), CallFailure> {
    let values = call
        .template
        .apply(deps, ex.ctx)
        .map_err(|e| CallFailure::Request(e.to_string()))?;
    let value = |key: String| values.get(&key).and_then(scalar_text);
    let mut target = String::new();
    for piece in &call.path {
        match piece {
            PathPiece::Literal(s) => target.push_str(s),
            PathPiece::Value(n) => {
                let v = value(format!("p{n}")).ok_or_else(|| {
                    let source = call.path_sources.get(*n).cloned().unwrap_or_default();
                    if source.starts_with('/') {
                        CallFailure::Request(format!("`{source}` has no value"))
                    } else {
                        CallFailure::Lacking(source)
                    }
                })?;
                encode_segment(&v, &mut target);
            }
        }
    }
    let mut query = form_urlencoded::Serializer::new(String::new());
    let mut any = false;
    for (i, name) in call.query.iter().enumerate() {
        if let Some(v) = value(format!("q{i}")) {
            query.append_pair(name, &v);
            any = true;
        }
    }
    if any {
        target.push('?');
        target.push_str(&query.finish());
    }
    let mut headers = ex.headers.clone();
    for (i, name) in call.headers.iter().enumerate() {
        if let Some(v) = value(format!("h{i}")) {
            let v = HeaderValue::from_str(&v).map_err(|_| {
                CallFailure::Request(format!("header `{name}` would not be a valid value"))
            })?;
            headers.insert(name.clone(), v);
        }
    }
    Ok((target, headers))
}

/// A template value as text; None for null, objects and arrays.
fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Owned(b.to_string())),
        _ => None,
    }
}

/// The merged document mapped by the profile's stage and written in the route's format.
fn answer(
    route: &Route,
    stage: &Stage,
    merged: &Value,
    ctx: &EvalContext<'_>,
) -> Result<Vec<u8>, Problem> {
    if route.format == Format::Json
        && let Some(out) = stage.write_direct(View::Value(merged), ctx, 1024)
    {
        return Ok(out);
    }
    let unfit = |log: String| {
        Problem::new(
            ProblemKind::InvalidUpstreamResponse,
            "the services' answers cannot be combined into this API's answer",
        )
        .with_log(format!("route {}: {log}", route.name))
    };
    let mapped = stage
        .map
        .apply(merged, ctx)
        .map_err(|e| unfit(format!("answer mapping: {e}")))?;
    stage.target.validate(&mapped).map_err(|violations| {
        unfit(format!(
            "answer breaks {}: {}",
            stage.target.name,
            violations
                .iter()
                .map(|v| format!("{} {}", v.pointer, v.message))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    pipeline::encode(route, stage, &mapped)
}

/// The calls ordered so that each comes after those it depends on; None on a cycle
/// (which the compile step refuses).
fn dependency_order(calls: &[CallPlan]) -> Option<Vec<usize>> {
    let mut order = Vec::with_capacity(calls.len());
    let mut placed = vec![false; calls.len()];
    while order.len() < calls.len() {
        let before = order.len();
        for (i, c) in calls.iter().enumerate() {
            if !placed[i] && c.depends_on.iter().all(|&d| placed[d]) {
                placed[i] = true;
                order.push(i);
            }
        }
        if order.len() == before {
            return None;
        }
    }
    Some(order)
}
