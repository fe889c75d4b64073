//! `schemagate check`: compile everything through the same [`crate::gateway::compile`] as
//! `serve` and reload, run the golden fixtures, and report a checklist with every
//! diagnostic.

use serde::Serialize;

use crate::config::LoadOptions;
use crate::diagnostic::{Diagnostic, has_errors};
use crate::fixtures;

/// The outcome of a check.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    pub schemas: usize,
    pub routes: usize,
    pub fixtures_passed: usize,
    pub fixtures_failed: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Runs the whole check. Never panics on bad input: every problem is a diagnostic.
pub fn run(opts: &LoadOptions) -> CheckReport {
    let mut report = CheckReport::default();
    // The snapshot is built in full, upstream clients included (no connection is opened),
    // then dropped: what it would refuse, `check` refuses.
    let compiled = crate::gateway::compile(
        opts,
        &crate::proxy::HttpClient::new(),
        &crate::gateway::Traffic::offline(),
        &crate::telemetry::Metrics::new(),
        0,
    );
    match compiled {
        Ok(rt) => {
            let gw = &rt.gateway;
            report.schemas = gw.schemas.iter().count();
            report.routes = gw.routes.len();
            report.diagnostics.extend(gw.warnings.iter().cloned());
            let fx = fixtures::run_all(gw);
            report.fixtures_passed = fx.passed;
            report.fixtures_failed = fx.failed.len();
            report.diagnostics.extend(fx.failed);
        }
        Err(diags) => report.diagnostics = diags,
    }
    report
        .diagnostics
        .sort_by(|a, b| (&a.file, a.line, a.column).cmp(&(&b.file, b.line, b.column)));
    report.ok = !has_errors(&report.diagnostics);
    report
}

impl CheckReport {
    /// The human checklist: diagnostics first, like a compiler, then the summary.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&d.to_string());
            out.push_str("\n\n");
        }
        let errors = self.diagnostics.iter().filter(|d| d.is_error()).count();
        let warnings = self.diagnostics.len() - errors;
        let mark = |ok: bool| if ok { "ok  " } else { "FAIL" };
        if self.schemas + self.routes > 0 || self.ok {
            out.push_str(&format!(
                "{} {} schemas compiled\n",
                mark(true),
                self.schemas
            ));
            out.push_str(&format!(
                "{} {} routes compiled and checked against their schemas\n",
                mark(true),
                self.routes
            ));
            out.push_str(&format!(
                "{} {} golden fixtures passed, {} failed\n",
                mark(self.fixtures_failed == 0),
                self.fixtures_passed,
                self.fixtures_failed
            ));
        } else {
            out.push_str("FAIL configuration did not load\n");
        }
        out.push_str(&format!(
            "{}: {errors} error{}, {warnings} warning{}\n",
            if self.ok {
                "check passed"
            } else {
                "check failed"
            },
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" }
        ));
        out
    }
}
