//! `schemagate check`: compile everything through the same [`crate::gateway::compile`] as
//! `serve` and reload, run the golden fixtures, and report a checklist with every
//! diagnostic.

use serde::Serialize;

use crate::config::LoadOptions;
use crate::diagnostic::{Diagnostic, has_errors};
use crate::fixtures;

/// How strict a check is, beyond the errors that always fail it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckOptions {
    /// Pass when there is nothing to check (no configuration file, no route), as a tree
    /// being set up may be; by default that fails, since it is rarely what was meant.
    pub allow_empty: bool,
    /// Fail on warnings too.
    pub warnings_as_errors: bool,
}

/// The outcome of a check.
#[derive(Debug, Default, Serialize)]
pub struct CheckReport {
    pub ok: bool,
    /// Whether warnings failed the check (`--warnings-as-errors`).
    pub warnings_as_errors: bool,
    /// Whether the configuration loaded (and so the counts below mean something).
    #[serde(skip)]
    pub loaded: bool,
    pub schemas: usize,
    pub routes: usize,
    pub fixtures_passed: usize,
    pub fixtures_failed: usize,
    pub diagnostics: Vec<Diagnostic>,
}

/// Runs the whole check with the default strictness.
pub fn run(opts: &LoadOptions) -> CheckReport {
    run_with(opts, CheckOptions::default())
}

/// Runs the whole check. Never panics on bad input: every problem is a diagnostic.
pub fn run_with(opts: &LoadOptions, strict: CheckOptions) -> CheckReport {
    let mut report = CheckReport {
        warnings_as_errors: strict.warnings_as_errors,
        ..CheckReport::default()
    };
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
            report.loaded = true;
            let gw = &rt.gateway;
            report.schemas = gw.schemas.iter().count();
            report.routes = gw.routes.len();
            report.diagnostics.extend(gw.warnings.iter().cloned());
            if !strict.allow_empty {
                report.diagnostics.extend(nothing_to_check(gw));
            }
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
    report.ok = !has_errors(&report.diagnostics)
        && (!strict.warnings_as_errors || report.diagnostics.is_empty());
    report
}

/// The errors of a gateway with nothing to check: no configuration file was found (so the
/// built-in defaults were checked, which is rarely what was meant, e.g. `check` run in
/// the wrong directory), or no route was loaded.
fn nothing_to_check(gw: &crate::config::Gateway) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    if gw.config_file.is_none() {
        out.push(
            Diagnostic::error(
                crate::config::DEFAULT_CONFIG_FILE,
                format!(
                    "no configuration file: there is no `{}` in the working directory and no `--config` was given",
                    crate::config::DEFAULT_CONFIG_FILE
                ),
            )
            .code(crate::diagnostic::Code::NothingToCheck)
            .hint("run `check` where the configuration is, or name it with `--config PATH`; `--allow-empty` checks the built-in defaults"),
        );
    }
    if gw.routes.is_empty() {
        out.push(
            Diagnostic::error(
                &gw.mappings_dir,
                if gw.mappings_dir.is_dir() {
                    "no routes: the mappings directory holds no route file"
                } else {
                    "no routes: the mappings directory does not exist"
                },
            )
            .code(crate::diagnostic::Code::NothingToCheck)
            .hint("add route files as <partner>/<route>.yaml, check `paths.mappings` in the configuration, or pass `--allow-empty`"),
        );
    }
    out
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
        if self.loaded {
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
            "{}: {errors} error{}, {warnings} warning{}{}\n",
            if self.ok {
                "check passed"
            } else {
                "check failed"
            },
            if errors == 1 { "" } else { "s" },
            if warnings == 1 { "" } else { "s" },
            if self.warnings_as_errors && warnings > 0 {
                " (warnings count as errors)"
            } else {
                ""
            }
        ));
        out
    }
}
