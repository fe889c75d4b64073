//! The `schemagate` command line: parses arguments and calls the library.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::{CommandFactory, Parser, Subcommand, ValueEnum};
use schemagate::config::{self, LoadOptions};
use schemagate::fixtures::CaseContext;
use schemagate::mapping::syntax::Direction;
use schemagate::{check, pipeline, xsd};

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
        /// Admin listen address, overriding `admin.listen` (`partner` shares the partner
        /// listener).
        #[arg(long)]
        admin_listen: Option<String>,
        /// Also start the built-in demo upstream and point every upstream at it.
        #[arg(long)]
        demo: bool,
    },
    /// Load everything as `serve` would, check every mapping against its schemas, run the
    /// golden fixtures. Exit status 0 only when all is well.
    Check {
        /// Configuration file (default: ./gateway.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
        /// Report format: text for people, json for tools.
        #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
        format: OutputFormat,
        /// Fail on warnings too, not only on errors.
        #[arg(long)]
        warnings_as_errors: bool,
        /// Pass when there is nothing to check (no configuration file found, or no route).
        #[arg(long)]
        allow_empty: bool,
    },
    /// Run one route's mapping offline on a file (or stdin) and print the result or the errors.
    Transform {
        /// The route: `partner/route` (its file under mappings/ without extension).
        route: String,
        /// Which mapping to run: the partner's request, or the upstream's answer.
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
        /// Configuration file (default: ./gateway.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// Write a partner schema from another schema language.
    Import {
        #[command(subcommand)]
        what: ImportKind,
    },
    /// Write a route's partner schema in another schema language.
    Export {
        #[command(subcommand)]
        what: ExportKind,
    },
    /// Probe a running gateway: GET the URL, exit status 0 for a 2xx answer and 1 otherwise.
    /// For container health checks, where images have no curl.
    Health {
        /// The URL to probe.
        #[arg(default_value = schemagate::probe::DEFAULT_HEALTH_URL)]
        url: String,
        /// Milliseconds to wait for the answer, connection included.
        #[arg(long, default_value_t = schemagate::probe::DEFAULT_HEALTH_TIMEOUT_MS)]
        timeout_ms: u64,
    },
    /// Print the JSON Schema of a file format, for editors.
    Schema {
        /// The format: route files or gateway.toml.
        #[arg(value_enum)]
        which: SchemaKind,
    },
    /// Print a shell completion script: `schemagate completions bash > /etc/bash_completion.d/schemagate`.
    Completions {
        /// The shell to complete in.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `schemagate man | man -l -`.
    Man {
        /// Write the pages of the command and of every subcommand (schemagate-serve.1, ...)
        /// into this directory instead.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ImportKind {
    /// The JSON Schema of an XSD element's XML view (follows xs:import and xs:include).
    Xsd {
        /// The XSD file; its imports and includes are read from beside it.
        file: PathBuf,
        /// The global element (local name or `{namespace}name`); needed when the file
        /// declares several.
        #[arg(long)]
        element: Option<String>,
        /// Write the schema here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum ExportKind {
    /// The XSD of an XML route's partner document (one file per namespace).
    Xsd {
        /// The route: `partner/route`.
        route: String,
        /// Which partner document: the request the partner sends, or the answer it gets.
        #[arg(long, value_enum, default_value_t = DirectionArg::Request)]
        direction: DirectionArg,
        /// A directory to write every file to; without it the document goes to stdout
        /// (which needs a single namespace).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file (default: ./gateway.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
    /// The WSDL 1.1 document of SOAP routes sharing one endpoint: an operation per action,
    /// the Body elements' XSD embedded.
    Wsdl {
        /// Routes (`partner/route`), or partners (`partner`) standing for all their SOAP
        /// routes.
        #[arg(required = true)]
        routes: Vec<String>,
        /// The scheme and authority partners reach the gateway at, before the route's path
        /// (default: `http://` and `server.listen`).
        #[arg(long)]
        base_url: Option<String>,
        /// Write the document to this file instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Configuration file (default: ./gateway.toml when it exists).
        #[arg(long, short)]
        config: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    /// Diagnostics one per line, for people.
    Text,
    /// One JSON report, for tools.
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum DirectionArg {
    /// The partner's request, mapped to the service's JSON.
    Request,
    /// The service's answer, mapped back to the partner's format.
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
            admin_listen,
            demo,
        } => {
            let opts = LoadOptions {
                config_path: config,
                listen,
                admin_listen,
                upstream_override: None,
            };
            schemagate::gateway::run_server(opts, demo)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Check {
            config,
            format,
            warnings_as_errors,
            allow_empty,
        } => {
            let report = check::run_with(
                &LoadOptions {
                    config_path: config,
                    ..Default::default()
                },
                check::CheckOptions {
                    allow_empty,
                    warnings_as_errors,
                },
            );
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
        Command::Import {
            what: ImportKind::Xsd { file, element, out },
        } => import_xsd(&file, element.as_deref(), out),
        Command::Export {
            what:
                ExportKind::Xsd {
                    route,
                    direction,
                    out,
                    config,
                },
        } => export_xsd(&route, direction, out, config),
        Command::Export {
            what:
                ExportKind::Wsdl {
                    routes,
                    base_url,
                    out,
                    config,
                },
        } => export_wsdl(&routes, base_url, out, config),
        Command::Health { url, timeout_ms } => {
            match schemagate::probe::probe(&url, std::time::Duration::from_millis(timeout_ms)) {
                Ok(status) => {
                    out(&format!("{url}: {status}\n"));
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    err(&format!("unhealthy: {e}"));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Completions { shell } => {
            let mut buf = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "schemagate", &mut buf);
            out(&String::from_utf8_lossy(&buf));
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir: Some(dir) } => {
            clap_mangen::generate_to(Cli::command(), &dir)
                .with_context(|| format!("writing manual pages into {}", dir.display()))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Man { dir: None } => {
            let mut buf = Vec::new();
            // As `generate_to` renders it: the pages document no `help` subcommand.
            clap_mangen::Man::new(Cli::command().disable_help_subcommand(true))
                .render(&mut buf)
                .context("rendering the manual page")?;
            out(&String::from_utf8_lossy(&buf));
            Ok(ExitCode::SUCCESS)
        }
        Command::Schema { which } => {
            let schema = match which {
                SchemaKind::Mapping => schemagate::file_schema::mapping_schema(),
                SchemaKind::Config => schemagate::file_schema::config_schema(),
            };
            out(&format!("{}\n", serde_json::to_string_pretty(&schema)?));
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn import_xsd(
    file: &std::path::Path,
    element: Option<&str>,
    out_file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let imported = xsd::import(file, element)?;
    for w in &imported.warnings {
        err(&w.to_string());
    }
    let text = format!("{}\n", serde_json::to_string_pretty(&imported.schema)?);
    match out_file {
        Some(p) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
        None => out(&text),
    }
    Ok(ExitCode::SUCCESS)
}

fn export_xsd(
    route_name: &str,
    direction: DirectionArg,
    out_dir: Option<PathBuf>,
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
    if route.format != schemagate::codec::Format::Xml {
        bail!("route `{route_name}` is not an XML route");
    }
    let schema = match direction {
        DirectionArg::Request => route.request.as_ref().map(|s| &s.source),
        DirectionArg::Response => route.response.as_ref().map(|s| &s.target),
    };
    let Some(schema) = schema else {
        bail!("route `{route_name}` has no partner document in that direction");
    };
    let exported = xsd::export(&schema.document, route.namespace.as_deref())?;
    for w in &exported.warnings {
        err(&w.to_string());
    }
    match out_dir {
        Some(dir) => {
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            for f in &exported.files {
                let p = dir.join(&f.file_name);
                std::fs::write(&p, &f.text).with_context(|| format!("writing {}", p.display()))?;
                out(&format!("{}\n", p.display()));
            }
        }
        None => match exported.files.as_slice() {
            [one] => out(&one.text),
            files => bail!(
                "the document spans {} namespaces, one XSD file each: write them with --out DIR",
                files.len()
            ),
        },
    }
    Ok(ExitCode::SUCCESS)
}

fn export_wsdl(
    names: &[String],
    base_url: Option<String>,
    out_file: Option<PathBuf>,
    config_path: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let gw = load(config_path)?;
    let mut routes: Vec<&config::Route> = Vec::new();
    for name in names {
        let found: Vec<&config::Route> = if name.contains('/') {
            gw.route(name).map(|r| &**r).into_iter().collect()
        } else {
            gw.routes
                .iter()
                .filter(|r| r.partner == *name && r.soap.is_some())
                .map(|r| &**r)
                .collect()
        };
        if found.is_empty() {
            let soap: Vec<&str> = gw
                .routes
                .iter()
                .filter(|r| r.soap.is_some())
                .map(|r| r.name.as_str())
                .collect();
            bail!(
                "no route or partner with SOAP routes named `{name}`; SOAP routes: {}",
                if soap.is_empty() {
                    "none".to_string()
                } else {
                    soap.join(", ")
                }
            );
        }
        for r in found {
            if !routes.iter().any(|seen| seen.name == r.name) {
                routes.push(r);
            }
        }
    }
    let base_url = base_url.unwrap_or_else(|| {
        let listen = &gw.config.server.listen;
        let local = listen
            .replace("0.0.0.0", "localhost")
            .replace("[::]", "localhost");
        format!("http://{local}")
    });
    let described = schemagate::soap::describe::describe(&routes, &base_url)?;
    for w in &described.warnings {
        err(&w.to_string());
    }
    let text = xsd::wsdl(&described.description)?;
    match out_file {
        Some(p) => std::fs::write(&p, text).with_context(|| format!("writing {}", p.display()))?,
        None => out(&text),
    }
    Ok(ExitCode::SUCCESS)
}

/// Loads the configuration as `serve` would, printing every diagnostic when it does not.
fn load(config_path: Option<PathBuf>) -> anyhow::Result<config::Gateway> {
    config::load(&LoadOptions {
        config_path,
        ..Default::default()
    })
    .or_else(|diags| {
        for d in &diags {
            err(&format!("{d}\n"));
        }
        bail!("the configuration does not load; run `schemagate check`")
    })
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
            .map(|m| m.body)
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
            .map(|doc| pipeline::partner_answer(route, doc))
        }
    };
    match result {
        Ok(bytes) => {
            out(&printable(&bytes));
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

/// A mapped document as `transform` prints it, the same for both directions: JSON indented
/// (its text otherwise untouched), anything else (XML) as the gateway sends it; one newline at the end.
fn printable(bytes: &[u8]) -> String {
    let text = schemagate::pretty::indent_json(bytes)
        .unwrap_or_else(|| String::from_utf8_lossy(bytes).into_owned());
    format!("{}\n", text.trim_end_matches('\n'))
}
