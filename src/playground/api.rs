//! The playground's JSON API as plain functions over a loaded [`Gateway`]: list the routes,
//! run one mapping on a pasted document, check a route (installed or edited) and its golden
//! fixtures. They call the same pipeline as `serve`, `transform` and `check`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::codec::{self, Format};
use crate::config::{Gateway, Route, compile_route_text};
use crate::diagnostic::Diagnostic;
use crate::fixtures::{self, CaseContext};
use crate::pipeline;
use crate::problem::{FieldError, Problem};

/// Which way a document goes through the route.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// A partner document, mapped to the internal body.
    #[default]
    Request,
    /// An upstream answer, mapped back to the partner's format.
    Response,
}

/// `POST /playground/api/transform`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransformInput {
    /// The route's name, `<partner>/<route>`.
    pub route: String,
    #[serde(default)]
    pub direction: Direction,
    /// The partner document (request) or the upstream's answer (response).
    pub document: String,
    /// For the response direction: the partner's original request, read through `$request`.
    #[serde(default)]
    pub request: Option<String>,
    /// An edited route file to run instead of the installed one.
    #[serde(default)]
    pub route_file: Option<String>,
    /// Context sources as in a fixture's `context.json` (params, query, headers, claims).
    #[serde(default)]
    pub context: Option<Value>,
}

/// `POST /playground/api/check`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckInput {
    pub route: String,
    #[serde(default)]
    pub route_file: Option<String>,
}

/// A problem as the playground shows it: what the partner would get, plus the cause the
/// gateway only logs.
#[derive(Debug, Serialize, PartialEq)]
pub struct ProblemView {
    pub status: u16,
    pub title: &'static str,
    pub detail: String,
    pub errors: Vec<FieldError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

impl From<Problem> for ProblemView {
    fn from(p: Problem) -> Self {
        ProblemView {
            status: p.status.as_u16(),
            title: p.kind.title(),
            detail: p.detail,
            errors: p.errors,
            cause: p.log_detail,
        }
    }
}

/// The answer to a transform.
#[derive(Debug, Serialize, PartialEq)]
pub struct TransformOutput {
    pub ok: bool,
    /// The document's JSON view (what the mapping reads), when it decodes.
    pub decoded: Option<Value>,
    /// The mapped document as `transform` prints it.
    pub output: Option<String>,
    pub problem: Option<ProblemView>,
    /// Diagnostics of the edited route file, when one was given.
    pub diagnostics: Vec<Diagnostic>,
}

/// One golden case's outcome.
#[derive(Debug, Serialize, PartialEq)]
pub struct FixtureOutcome {
    pub case: String,
    pub passed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// The answer to a check.
#[derive(Debug, Serialize, PartialEq)]
pub struct CheckOutput {
    pub ok: bool,
    pub diagnostics: Vec<Diagnostic>,
    pub fixtures: Vec<FixtureOutcome>,
}

/// A route as the picker lists it.
#[derive(Debug, Serialize, PartialEq)]
pub struct RouteInfo {
    pub name: String,
    pub method: String,
    pub path: String,
    pub format: &'static str,
    pub request: bool,
    pub response: bool,
    /// The route file's name, for the editor's title.
    pub file: String,
    /// The route file's text, to edit.
    pub source: String,
    /// Its golden cases' names.
    pub fixtures: Vec<String>,
}

/// A request the API refuses before running anything.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ApiError {
    #[error("no route `{0}`")]
    UnknownRoute(String),
    #[error("route `{route}` has no {direction} mapping")]
    NoMapping {
        route: String,
        direction: &'static str,
    },
    #[error("route `{0}` has no request body; leave `request` out")]
    NoRequestBody(String),
}

/// Every route, by name.
pub fn routes(gw: &Gateway) -> Vec<RouteInfo> {
    let mut out: Vec<RouteInfo> = gw
        .routes
        .iter()
        .map(|r| RouteInfo {
            name: r.name.clone(),
            method: r.method.to_string(),
            path: r.path.clone(),
            format: format_name(r.format),
            request: r.request.is_some(),
            response: r.response.is_some(),
            file: r
                .file
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default(),
            source: std::fs::read_to_string(&r.file).unwrap_or_default(),
            fixtures: fixtures::cases_of(gw, &r.name)
                .into_iter()
                .map(|(c, _)| c)
                .collect(),
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

fn format_name(f: Format) -> &'static str {
    match f {
        Format::Xml => "xml",
        Format::Json => "json",
    }
}

/// The route to run: the installed one, or the edited file compiled beside it.
enum Resolved {
    Route(Arc<Route>, Vec<Diagnostic>),
    Broken(Vec<Diagnostic>),
}

fn resolve(gw: &Gateway, name: &str, edited: Option<&str>) -> Result<Resolved, ApiError> {
    let installed = gw.route(name);
    let Some(text) = edited else {
        return installed
            .map(|r| Resolved::Route(Arc::clone(r), Vec::new()))
            .ok_or_else(|| ApiError::UnknownRoute(name.to_string()));
    };
    // An edited file may also be a route that is not installed yet.
    if !name.contains('/') {
        return Err(ApiError::UnknownRoute(name.to_string()));
    }
    let file = installed.map_or_else(
        || gw.mappings_dir.join(format!("{name}.yaml")),
        |r| r.file.clone(),
    );
    Ok(match compile_route_text(gw, name, &file, text) {
        Ok((route, warnings)) => Resolved::Route(Arc::new(route), warnings),
        Err(diags) => Resolved::Broken(diags),
    })
}

/// Runs one direction of a route on a pasted document.
pub fn transform(gw: &Gateway, input: &TransformInput) -> Result<TransformOutput, ApiError> {
    let (route, diagnostics) = match resolve(gw, &input.route, input.route_file.as_deref())? {
        Resolved::Route(r, d) => (r, d),
        Resolved::Broken(diagnostics) => {
            return Ok(TransformOutput {
                ok: false,
                decoded: None,
                output: None,
                problem: None,
                diagnostics,
            });
        }
    };
    let ctx = match input.context.as_ref().map(CaseContext::from_value) {
        Some(Ok(c)) => c,
        Some(Err(e)) => {
            return Ok(TransformOutput {
                ok: false,
                decoded: None,
                output: None,
                problem: None,
                diagnostics: vec![Diagnostic::error("context", e)],
            });
        }
        None => CaseContext {
            correlation_id: "playground".into(),
            ..Default::default()
        },
    };
    let limits = gw.config.limits.codec();
    let doc = input.document.as_bytes();
    let (decoded, result) = match input.direction {
        Direction::Request => {
            let stage = route.request.as_ref().ok_or_else(|| ApiError::NoMapping {
                route: route.name.clone(),
                direction: "request",
            })?;
            let decoded = match route.format {
                Format::Xml => codec::xml::decode_doc(
                    doc,
                    &stage.source.shape,
                    route.namespace.as_deref(),
                    &limits,
                ),
                Format::Json => codec::json::decode_doc(doc, &limits),
            }
            .ok()
            .map(|d| d.into_value());
            let result = pipeline::transform_request(
                &route,
                stage,
                doc,
                &ctx.eval(&route.partner, None),
                &limits,
            )
            .map(|m| m.body);
            (decoded, result)
        }
        Direction::Response => {
            let stage = route.response.as_ref().ok_or_else(|| ApiError::NoMapping {
                route: route.name.clone(),
                direction: "response",
            })?;
            let original = match (&input.request, &route.request) {
                (Some(text), Some(req_stage)) if !text.trim().is_empty() => {
                    match pipeline::transform_request(
                        &route,
                        req_stage,
                        text.as_bytes(),
                        &ctx.eval(&route.partner, None),
                        &limits,
                    ) {
                        Ok(m) => Some(m.decoded),
                        Err(p) => {
                            let mut view = ProblemView::from(p);
                            view.detail = format!("the original request: {}", view.detail);
                            return Ok(TransformOutput {
                                ok: false,
                                decoded: None,
                                output: None,
                                problem: Some(view),
                                diagnostics,
                            });
                        }
                    }
                }
                (Some(text), None) if !text.trim().is_empty() => {
                    return Err(ApiError::NoRequestBody(route.name.clone()));
                }
                _ => None,
            };
            let decoded = codec::json::decode_doc(doc, &limits)
                .ok()
                .map(|d| d.into_value());
            let result = pipeline::transform_response(
                &route,
                stage,
                doc,
                &ctx.eval(&route.partner, original.as_ref()),
                &limits,
            );
            (decoded, result)
        }
    };
    // The JSON decoder reports pointers only; the page marks lines, so find them.
    let json_document = input.direction == Direction::Response || route.format == Format::Json;
    let result = result.map_err(|mut p| {
        if json_document && decoded.is_some() {
            for e in p.errors.iter_mut().filter(|e| e.line.is_none()) {
                if let Some((line, column)) = super::locate::locate(&input.document, &e.pointer) {
                    e.line = Some(line);
                    e.column = Some(column);
                }
            }
        }
        p
    });
    Ok(match result {
        Ok(bytes) => TransformOutput {
            ok: true,
            decoded,
            output: Some(printable(&bytes)),
            problem: None,
            diagnostics,
        },
        Err(p) => TransformOutput {
            ok: false,
            decoded,
            output: None,
            problem: Some(p.into()),
            diagnostics,
        },
    })
}

/// A mapped document as `schemagate transform` prints it.
fn printable(bytes: &[u8]) -> String {
    let text = crate::pretty::indent_json(bytes)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    format!("{}\n", text.trim_end_matches('\n'))
}

/// Checks a route (the edited file when given) and runs its golden cases against it.
pub fn check(gw: &Gateway, input: &CheckInput) -> Result<CheckOutput, ApiError> {
    Ok(
        match resolve(gw, &input.route, input.route_file.as_deref())? {
            Resolved::Broken(diagnostics) => CheckOutput {
                ok: false,
                diagnostics,
                fixtures: Vec::new(),
            },
            Resolved::Route(route, diagnostics) => {
                let fixtures: Vec<FixtureOutcome> = fixtures::cases_of(gw, &route.name)
                    .into_iter()
                    .map(|(case, dir)| {
                        let result = fixtures::run_case_for(gw, &route, &case, &dir);
                        FixtureOutcome {
                            case,
                            passed: result.is_ok(),
                            message: result.err().map(|d| d.message),
                        }
                    })
                    .collect();
                CheckOutput {
                    ok: fixtures.iter().all(|f| f.passed),
                    diagnostics,
                    fixtures,
                }
            }
        },
    )
}
