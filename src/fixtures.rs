//! Golden fixtures: `tests/fixtures/<partner>/<route>/<case>/`, run by `check`.
//!
//! A case folder holds any of:
//! - `input.xml` / `input.json`: the partner's request body, and either `expected.json` (the
//!   internal body the upstream must receive) or `expected.problem.json` (`{"status": 422,
//!   "errors": [{"pointer": "/Order/Items/Item/1/Qty", "line": 20, "column": 7}]}`: the
//!   status and exactly these error pointers, in any order, with line/column when given);
//! - `upstream.json`: the upstream's answer, and `expected-response.xml` / `.json` (what the
//!   partner gets, a SOAP route's Envelope included) or `expected-response.problem.json`;
//!   with an input as well, the response mapping reads it as `$request`;
//! - `upstream-error.json`: an upstream 4xx body, for routes with an `errors:` mapping, and
//!   `expected-error.xml` / `.json`: what the partner gets, a SOAP route's Fault
//!   included (with the upstream's status, which the gateway passes on unchanged, or the
//!   fault's, so it is not part of the case); with an input as well, the error mapping
//!   reads it as `$request`;
//! - `context.json`: `{"path": {..}, "query": {..}, "headers": {..}, "claims": {..},
//!   "correlation_id": ".."}` for mappings that read the context.
//!
//! Expected files are compared by meaning ([`compare`]): JSON as values, XML canonically,
//! errors as a set; a mismatch names the first difference by its path. Cases run through
//! [`crate::pipeline`], the very functions `serve` uses.

use std::path::{Path, PathBuf};

use http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;

use crate::config::{Gateway, Route};
use crate::diagnostic::Diagnostic;
use crate::mapping::EvalContext;
use crate::pipeline;

mod compare;

pub use compare::json_difference;

/// The outcome of all fixtures.
#[derive(Debug, Default)]
pub struct FixtureReport {
    pub passed: usize,
    pub failed: Vec<Diagnostic>,
}

/// The context a case's `context.json` describes, owned.
#[derive(Debug, Default)]
pub struct CaseContext {
    pub path: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub claims: Option<Value>,
    pub correlation_id: String,
}

impl CaseContext {
    /// Parses a context document; unknown members are an error so typos don't pass silently.
    pub fn from_value(v: &Value) -> Result<Self, String> {
        let mut ctx = CaseContext {
            correlation_id: "fixture".into(),
            ..Default::default()
        };
        let Some(obj) = v.as_object() else {
            return Err("context must be an object".into());
        };
        let pairs = |v: &Value, what: &str| -> Result<Vec<(String, String)>, String> {
            let o = v
                .as_object()
                .ok_or(format!("`{what}` must be an object of strings"))?;
            o.iter()
                .map(|(k, v)| match v {
                    Value::String(s) => Ok((k.clone(), s.clone())),
                    other => Ok((k.clone(), other.to_string())),
                })
                .collect()
        };
        for (k, v) in obj {
            match k.as_str() {
                "path" => ctx.path = pairs(v, "path")?,
                "query" => ctx.query = pairs(v, "query")?,
                "headers" => {
                    for (name, value) in pairs(v, "headers")? {
                        let n = HeaderName::try_from(name.as_str())
                            .map_err(|e| format!("header `{name}`: {e}"))?;
                        let v = HeaderValue::try_from(value.as_str())
                            .map_err(|e| format!("header `{name}`: {e}"))?;
                        ctx.headers.append(n, v);
                    }
                }
                "claims" => ctx.claims = Some(v.clone()),
                "correlation_id" => {
                    ctx.correlation_id = v
                        .as_str()
                        .ok_or("`correlation_id` must be a string")?
                        .to_string()
                }
                other => {
                    return Err(format!(
                        "unknown member `{other}` (path, query, headers, claims, correlation_id)"
                    ));
                }
            }
        }
        Ok(ctx)
    }

    pub fn eval<'a>(&'a self, partner: &'a str, request: Option<&'a Value>) -> EvalContext<'a> {
        EvalContext {
            path_params: &self.path,
            query: &self.query,
            headers: &self.headers,
            claims: self.claims.as_ref(),
            soap_header: None,
            partner,
            correlation_id: &self.correlation_id,
            request,
        }
    }
}

/// Runs every case under the gateway's fixtures directory.
pub fn run_all(gw: &Gateway) -> FixtureReport {
    let mut report = FixtureReport::default();
    let mut cases = Vec::new();
    collect_cases(&gw.fixtures_dir, &mut cases);
    for dir in cases {
        match run_case(gw, &dir) {
            Ok(()) => report.passed += 1,
            Err(d) => report.failed.push(d),
        }
    }
    report
}

/// A case is a directory holding an `input.*` or `upstream.json`, three levels down.
fn collect_cases(root: &Path, out: &mut Vec<PathBuf>) {
    fn walk(dir: &Path, depth: usize, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        let mut dirs: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_dir())
            .collect();
        dirs.sort();
        for d in dirs {
            if depth == 2 {
                out.push(d);
            } else {
                walk(&d, depth + 1, out);
            }
        }
    }
    walk(root, 0, out);
}

fn read(path: &Path) -> Option<Vec<u8>> {
    std::fs::read(path).ok()
}

fn read_json(path: &Path) -> Result<Option<Value>, Diagnostic> {
    match read(path) {
        None => Ok(None),
        Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Diagnostic::error(path, format!("invalid JSON: {e}"))
                .at(e.line() as u32, e.column() as u32)
        }),
    }
}

/// Runs one case folder.
pub fn run_case(gw: &Gateway, dir: &Path) -> Result<(), Diagnostic> {
    let rel = dir.strip_prefix(&gw.fixtures_dir).unwrap_or(dir);
    let parts: Vec<String> = rel
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    let [partner, route_name, case] = parts.as_slice() else {
        return Err(Diagnostic::error(
            dir,
            "a case lives at <partner>/<route>/<case>/",
        ));
    };
    let name = format!("{partner}/{route_name}");
    let Some(route) = gw.route(&name) else {
        return Err(Diagnostic::error(
            dir,
            format!("no route `{name}` (mappings/{name}.yaml) for this fixture"),
        ));
    };
    run_case_for(gw, route, case, dir)
}

/// The case folders of one route, `<fixtures>/<partner>/<route>/<case>/`, sorted by name.
pub fn cases_of(gw: &Gateway, route_name: &str) -> Vec<(String, PathBuf)> {
    let Ok(entries) = std::fs::read_dir(gw.fixtures_dir.join(route_name)) else {
        return Vec::new();
    };
    let mut cases: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e.path()))
        .collect();
    cases.sort();
    cases
}

/// Runs the case folder `dir` (named `case`) against `route`, which may be a route that is
/// not part of `gw` (an edited one being tried out).
pub fn run_case_for(gw: &Gateway, route: &Route, case: &str, dir: &Path) -> Result<(), Diagnostic> {
    let name = &route.name;
    let fail = |msg: String| Diagnostic::error(dir, msg).location(format!("{name} case `{case}`"));
    let ctx = match read_json(&dir.join("context.json"))? {
        Some(v) => CaseContext::from_value(&v)
            .map_err(|e| Diagnostic::error(dir.join("context.json"), e))?,
        None => CaseContext {
            correlation_id: "fixture".into(),
            ..Default::default()
        },
    };
    let limits = gw.config.limits.codec();

    let input = read(&dir.join("input.xml")).or_else(|| read(&dir.join("input.json")));
    let upstream = read(&dir.join("upstream.json"));
    let upstream_error = read(&dir.join("upstream-error.json"));
    if input.is_none() && upstream.is_none() && upstream_error.is_none() {
        return Err(fail(
            "case has none of input.xml/input.json, upstream.json, upstream-error.json".into(),
        ));
    }

    let mut decoded = None;
    if let Some(input) = &input {
        let Some(stage) = &route.request else {
            return Err(fail(
                "case has an input but the route has no request mapping".into(),
            ));
        };
        let outcome = pipeline::transform_request(
            route,
            stage,
            input,
            &ctx.eval(&route.partner, None),
            &limits,
        );
        let expected = read_json(&dir.join("expected.json"))?;
        let expected_problem = read_json(&dir.join("expected.problem.json"))?;
        match (outcome, expected, expected_problem) {
            (Ok(m), Some(exp), _) => {
                let got: Value = serde_json::from_slice(&m.body).unwrap_or(Value::Null);
                compare::json(&exp, &got, "expected.json")
                    .map_err(|e| fail(format!("request mapping {e}")))?;
                decoded = Some(m.decoded);
            }
            (Err(p), _, Some(exp)) => compare::problem(&p, &exp).map_err(&fail)?,
            (Ok(m), None, Some(_)) => {
                return Err(fail(format!(
                    "expected a problem, but the request mapped to:\n{}",
                    String::from_utf8_lossy(&m.body)
                )));
            }
            (Err(p), _, None) => return Err(fail(format!("request failed unexpectedly: {p}"))),
            (Ok(_), None, None) => {
                return Err(fail(
                    "case has no expected.json or expected.problem.json".into(),
                ));
            }
        }
    }

    if let Some(body) = &upstream {
        let Some(stage) = &route.response else {
            return Err(fail(
                "case has upstream.json but the route has no response mapping".into(),
            ));
        };
        let outcome = pipeline::transform_response(
            route,
            stage,
            body,
            &ctx.eval(&route.partner, decoded.as_ref()),
            &limits,
        )
        .map(|doc| pipeline::partner_answer(route, doc));
        let expected = golden(dir, ["expected-response.xml", "expected-response.json"]);
        let expected_problem = read_json(&dir.join("expected-response.problem.json"))?;
        match (outcome, expected, expected_problem) {
            (Ok(got), Some((file, exp)), _) => {
                compare::body(&exp, &got, file).map_err(&fail)?;
            }
            (Err(p), _, Some(exp)) => compare::problem(&p, &exp).map_err(&fail)?,
            (Ok(got), None, Some(_)) => {
                return Err(fail(format!(
                    "expected a problem, but the response mapped to:\n{}",
                    String::from_utf8_lossy(&got)
                )));
            }
            (Err(p), _, None) => return Err(fail(format!("response failed unexpectedly: {p}"))),
            (Ok(_), None, None) => {
                return Err(fail(
                    "case has upstream.json but no expected-response.*".into(),
                ));
            }
        }
    }

    if let Some(body) = &upstream_error {
        let Some(stage) = &route.errors else {
            return Err(fail(
                "case has upstream-error.json but the route has no errors mapping".into(),
            ));
        };
        let Some((file, exp)) = golden(dir, ["expected-error.xml", "expected-error.json"]) else {
            return Err(fail(
                "case has upstream-error.json but no expected-error.*".into(),
            ));
        };
        let got = pipeline::transform_response(
            route,
            stage,
            body,
            &ctx.eval(&route.partner, decoded.as_ref()),
            &limits,
        )
        .map_err(|p| fail(format!("error mapping failed unexpectedly: {p}")))?;
        // The status is the upstream's, passed on, or the SOAP fault's: not in the body.
        let (_, got) = pipeline::partner_error(route, got, http::StatusCode::BAD_REQUEST);
        compare::body(&exp, &got, file).map_err(&fail)?;
    }
    Ok(())
}

/// The first of a case's golden files `names` that exists, with its name.
fn golden(dir: &Path, names: [&'static str; 2]) -> Option<(&'static str, Vec<u8>)> {
    names
        .into_iter()
        .find_map(|name| read(&dir.join(name)).map(|bytes| (name, bytes)))
}

/// A unified diff of two pretty-printed JSON values, for readable fixture failures.
pub fn diff(expected: &Value, got: &Value) -> String {
    let e = serde_json::to_string_pretty(expected).unwrap_or_default();
    let g = serde_json::to_string_pretty(got).unwrap_or_default();
    text_diff(&e, &g)
}

/// A unified diff of two texts, `expected` as the old side.
pub fn text_diff(expected: &str, got: &str) -> String {
    similar::TextDiff::from_lines(expected, got)
        .unified_diff()
        .context_radius(2)
        .header("expected", "got")
        .to_string()
}
