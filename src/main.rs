//! The `schemagate` command line: parses arguments and calls the library.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use schemagate::config::{self, LoadOptions};
use schemagate::fixtures::CaseContext;
use schemagate::mapping::syntax::Direction;
use schemagate::{check, mapping, pipeline};

#[derive(Parser)]
#[command(
    name = "schemagate",
    version,
    about = "A schema-driven API gateway for partner integrations"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve {
        /// Configuration file (default: ./gateway.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Listen address, overriding `server.listen`.
        #[arg(long)]
        listen: Option<String>,
        /// Also start the built-in demo upstream and point every upstream at it.
        #[arg(long)]
        demo: bool,
    },
    /// Load everything as `serve` would, check every mapping against its schemas, run the
    /// golden fixtures. Exit status 0 only when all is well.
    Check {
        #[arg(long, short)]
        config: Option<PathBuf>,
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
    },
    /// Run one route's mapping offline on a file (or stdin) and print the result or the errors.
    Transform {
        /// The route: `partner/route` (its file under mappings/ without extension).
        route: String,
        #[arg(long, value_enum, default_value_t = DirectionArg::Request)]
        direction: DirectionArg,
        /// The input file; stdin when omitted.
        file: Option<PathBuf>,
        /// For `--direction response`: the partner's original request, read by `$request...`.
        #[arg(long)]
        request: Option<PathBuf>,
        /// A context document: {"path": {..}, "query": {..}, "headers": {..}, "claims": {..}}.
        #[arg(long)]
        context: Option<PathBuf>,
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Print the JSON Schema of a file format, for editors.
    Schema {
        #[arg(value_enum)]
        which: SchemaKind,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DirectionArg {
    Request,
    Response,
}

#[derive(Clone, Copy, ValueEnum)]
enum SchemaKind {
    /// The route-file format of mappings/.
    Mapping,
    /// The gateway.toml format.
    Config,
}

/// A request allocates a few hundred small objects (the decoded document, the mapped one,
/// their keys); glibc's allocator spent a quarter of the gateway's CPU on them under load.
#[global_allocator]
static GLOBAL: schemagate::alloc::Allocator = schemagate::alloc::Allocator;

/// Writes to stdout; a closed pipe (`| head`) ends the output quietly instead of panicking.
fn out(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    let _ = stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush());
}

/// [`out`] for stderr: diagnostics piped into a closed pipe end quietly too.
fn err(text: &str) {
    use std::io::Write as _;
    let mut stderr = std::io::stderr().lock();
    let _ = stderr
        .write_all(text.as_bytes())
        .and_then(|()| stderr.write_all(b"\n"));
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            err(&format!("error: {e:#}"));
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve {
            config,
            listen,
            demo,
        } => {
            let opts = LoadOptions {
                config_path: config,
                listen,
                upstream_override: None,
            };
            schemagate::gateway::run_server(opts, demo)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check { config, format } => {
            let report = check::run(&LoadOptions {
                config_path: config,
                ..Default::default()
            });
            match format {
                OutputFormat::Text => out(&report.render_text()),
                OutputFormat::Json => out(&format!("{}\n", serde_json::to_string_pretty(&report)?)),
            }
            Ok(if report.ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Transform {
            route,
            direction,
            file,
            request,
            context,
            config,
        } => transform(&route, direction, file, request, context, config),
        Command::Schema { which } => {
            let schema = match which {
                SchemaKind::Mapping => mapping::json_schema(),
                SchemaKind::Config => {
                    serde_json::to_value(schemars::schema_for!(config::GatewayConfig))?
                }
            };
            out(&format!("{}\n", serde_json::to_string_pretty(&schema)?));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn transform(
    route_name: &str,
    direction: DirectionArg,
    file: Option<PathBuf>,
    request: Option<PathBuf>,
    context: Option<PathBuf>,
    config_path: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let gw = match config::load(&LoadOptions {
        config_path,
        ..Default::default()
    }) {
        Ok(gw) => gw,
        Err(diags) => {
            for d in &diags {
                err(&format!("{d}\n"));
            }
            bail!("the configuration does not load; run `schemagate check`");
        }
    };
    let Some(route) = gw.route(route_name) else {
        let names: Vec<&str> = gw.routes.iter().map(|r| r.name.as_str()).collect();
        bail!("no route `{route_name}`; routes: {}", names.join(", "));
    };
    let input = match &file {
        Some(p) => std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
        None => {
            let mut buf = Vec::new();
            std::io::stdin()
                .read_to_end(&mut buf)
                .context("reading stdin")?;
            buf
        }
    };
    let ctx = match &context {
        Some(p) => {
            let v: serde_json::Value = serde_json::from_slice(
                &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            )
            .with_context(|| format!("parsing {}", p.display()))?;
            CaseContext::from_value(&v)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("in {}", p.display()))?
        }
        None => CaseContext {
            correlation_id: "transform".into(),
            ..Default::default()
        },
    };
    let limits = gw.config.limits.codec();
    let direction = match direction {
        DirectionArg::Request => Direction::Request,
        DirectionArg::Response => Direction::Response,
    };
    let result = match direction {
        Direction::Request => {
            let Some(stage) = &route.request else {
                bail!("route `{route_name}` has no request mapping")
            };
            pipeline::transform_request(
                route,
                stage,
                &input,
                &ctx.eval(&route.partner, None),
                &limits,
            )
            .map(|m| {
                let v: serde_json::Value = serde_json::from_slice(&m.body).unwrap_or_default();
                serde_json::to_vec_pretty(&v).unwrap_or(m.body)
            })
        }
        Direction::Response => {
            let Some(stage) = &route.response else {
                bail!("route `{route_name}` has no response mapping")
            };
            let decoded = match (&request, &route.request) {
                (Some(p), Some(req_stage)) => {
                    let bytes =
                        std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
                    match pipeline::transform_request(
                        route,
                        req_stage,
                        &bytes,
                        &ctx.eval(&route.partner, None),
                        &limits,
                    ) {
                        Ok(m) => Some(m.decoded),
                        Err(p) => bail!("the --request document is not valid for this route:\n{p}"),
                    }
                }
                (Some(_), None) => {
                    bail!("route `{route_name}` has no request body; drop --request")
                }
                (None, _) => None,
            };
            pipeline::transform_response(
                route,
                stage,
                &input,
                &ctx.eval(&route.partner, decoded.as_ref()),
                &limits,
            )
        }
    };
    match result {
        Ok(bytes) => {
            out(&format!("{}\n", String::from_utf8_lossy(&bytes)));
            Ok(ExitCode::SUCCESS)
        }
        Err(problem) => {
            err(&problem.to_string());
            if let Some(log) = &problem.log_detail {
                err(&format!("  cause: {log}"));
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
