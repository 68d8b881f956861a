//! coder-convex makes a self-hosted Convex backend "just work" in a cloud development
//! workspace: it derives the public URLs, the database URL and the instance identity, mints
//! the secrets, writes the env files, and (with a backend running) pushes the deployment
//! environment and deploys.
//!
//! `ARCHITECTURE.md` maps the modules; [`run`] dispatches one parsed command line.
//!
//! I/O: through the commands; sets up logging.

// The library's public surface is what the binary, the tests and the stand-in backend use.
// The root holds the entry points and what every room uses; each folder is one concern
// (ARCHITECTURE.md "Code map").
pub mod cli;
pub mod commands;
pub mod config;
pub mod containers;
pub mod database;
pub mod env_vars;
pub mod environment;
pub mod error;
pub mod process;

mod backend;
mod backups;
mod child;
mod clock;

mod deadline;
mod deploy;
mod doctor;
mod output;
mod project;
mod redact;

use std::ffi::OsString;

use clap::{CommandFactory as _, Parser};
use commands::{Ctx, Execute as _, Outcome};
pub use environment::RawEnv;
use error::{ExitStatus, Result};
use output::Output;

#[derive(Debug, Parser)]
#[command(
    name = "coder-convex",
    version,
    about = "Set up a self-hosted Convex backend in a Coder workspace (or on a laptop).",
    long_about = None,
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: cli::GlobalArgs,
    #[command(subcommand)]
    pub command: commands::Command,
}

/// Parse the command line (`args` with the program name first); a bad value that came from
/// an environment variable is reported under the variable's name.
pub fn parse(args: &[OsString], env: &[(OsString, OsString)]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(args).map_err(|err| cli::name_the_variable(err, &Cli::command(), args, env))
}

/// A command line that does not parse (a flag, an argument, or a variable read for a flag):
/// clap's message on stderr and exit 2; with `--json` anywhere before `--`, also the one
/// `--json` document (`ok: false`, code `invalid_input`). `--help` and `--version` print as
/// usual and exit 0.
pub fn parse_failed(err: &clap::Error, args: &[OsString]) -> ExitStatus {
    let _ = err.print();
    if !err.use_stderr() {
        return ExitStatus::Success;
    }
    let json = args
        .iter()
        .skip(1)
        .take_while(|a| *a != "--")
        .any(|a| a == "--json");
    if json {
        let rendered = err.render().to_string();
        let first = rendered.lines().next().unwrap_or_default();
        let message = first.strip_prefix("error: ").unwrap_or(first).trim();
        let failure = error::Error::invalid("command line", message)
            .with_hint("`coder-convex --help` lists the commands and flags");
        Output::new(true, cli::ColorChoice::Never, true).document(None, Some(&failure));
    }
    ExitStatus::InvalidInput
}

/// Run a parsed command line against an environment snapshot. `process_env` is handed
/// (filtered) to child processes; `env` is what we read. Prints the result (with `--json`,
/// exactly one JSON document on stdout) and returns how the command ended.
pub fn run(cli: Cli, env: Result<RawEnv>, process_env: Vec<(OsString, OsString)>) -> ExitStatus {
    let no_color = env.as_ref().is_ok_and(|e| e.no_color.is_some());
    let out = Output::new(cli.global.quiet, cli.global.color, no_color);
    init_logging(&cli, env.as_ref().ok(), &out);
    let json = cli.global.json || cli.command.prints_json();
    let result = env.and_then(|env| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(dispatch(cli, &env, &process_env, json, &out))
    });
    let (report, failure) = match result {
        Ok(Outcome { report, failure }) => (report, failure),
        Err(err) => (None, Some(err)),
    };
    if let Some(err) = &failure {
        out.error(err);
    }
    if json {
        out.document(report.as_ref(), failure.as_ref());
    }
    failure.map_or(ExitStatus::Success, |e| e.exit_status())
}

fn init_logging(cli: &Cli, env: Option<&RawEnv>, out: &Output) {
    let filter = match (
        cli.global.verbose,
        env.and_then(|e| e.coder_convex_log.clone()),
    ) {
        (0, Some(filter)) => filter,
        (0, None) => "warn".to_owned(),
        (1, _) => "coder_convex=debug".to_owned(),
        _ => "coder_convex=trace,debug".to_owned(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_default())
        .with_writer(std::io::stderr)
        .with_ansi(out.color())
        .without_time()
        .init();
}

/// The dispatcher: the command's own `execute` ([`commands::Execute`]).
async fn dispatch(
    cli: Cli,
    env: &RawEnv,
    process_env: &[(OsString, OsString)],
    json: bool,
    out: &Output,
) -> Result<Outcome> {
    let dir = environment::project_dir(cli.global.project_dir.clone())?;
    let ctx = Ctx {
        env,
        process_env,
        dir: &dir,
        json,
        out,
    };
    cli.command.execute(&ctx).await
}
