//! coder-convex makes a self-hosted Convex backend "just work" in a cloud development
//! workspace: it derives the public URLs, the database URL and the instance identity, mints
//! the secrets, writes the env files, and (with a backend running) pushes the deployment
//! environment and deploys.
//!
//! `ARCHITECTURE.md` maps the modules; [`run`] dispatches one parsed command line.

// The library's public surface is what the binary, the tests and the stand-in backend use.
// The root holds the entry points and what every room uses; each folder is one concern
// (ARCHITECTURE.md "Code map").
pub mod cli;
pub mod config;
pub mod containers;
pub mod database;
pub mod env_vars;
pub mod environment;
pub mod error;

mod backend;
mod backups;
mod child;
mod clock;
mod commands;
mod deadline;
mod deploy;
mod doctor;
mod output;
mod project;
mod redact;

use std::ffi::OsString;

use cli::{Cli, Command, EnvFormat};
use commands::{Ctx, Outcome};
pub use environment::RawEnv;
use error::{ExitStatus, Result};
use output::Output;

/// Run a parsed command line against an environment snapshot. `process_env` is handed
/// (filtered) to child processes; `env` is what we read. Prints the result (with `--json`,
/// exactly one JSON document on stdout) and returns how the command ended.
pub fn run(cli: Cli, env: Result<RawEnv>, process_env: Vec<(OsString, OsString)>) -> ExitStatus {
    let no_color = env.as_ref().is_ok_and(|e| e.no_color.is_some());
    let out = Output::new(cli.global.quiet, cli.global.color, no_color);
    init_logging(&cli, env.as_ref().ok(), &out);
    let json = cli.global.json
        || matches!(
            cli.command,
            Command::Env {
                format: EnvFormat::Json,
                ..
            }
        );
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

/// `--timeout`'s deadline, counted from the start of the command.
fn deadline(args: &cli::TimeoutArgs) -> deadline::Deadline {
    deadline::Deadline::after_secs(args.timeout, "--timeout")
}

/// The dispatcher: one arm per command.
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
    match &cli.command {
        Command::Setup {
            derive,
            write,
            wait,
            deploy,
            no_deploy,
        } => {
            let args = commands::setup::Args {
                derive,
                write,
                wait,
                deploy: (!no_deploy).then_some(deploy),
            };
            commands::setup::run(&ctx, &args).await
        }
        Command::Up {
            derive,
            write,
            wait,
            deploy,
            no_deploy,
            compose,
            dashboard_internal_url,
        } => {
            let args = commands::up::Args {
                setup: commands::setup::Args {
                    derive,
                    write,
                    wait,
                    deploy: (!no_deploy).then_some(deploy),
                },
                compose,
                dashboard_internal_url,
            };
            commands::up::run(&ctx, &args).await
        }
        Command::Down {
            compose,
            volumes,
            yes,
        } => commands::down::run(&ctx, compose, *volumes, *yes).await,
        Command::Logs {
            compose,
            follow,
            service,
        } => commands::logs::run(&ctx, compose, *follow, *service).await,
        Command::Configure { derive, write } => commands::configure::run(&ctx, derive, write).await,
        Command::Env {
            derive,
            format,
            reveal,
        } => commands::env::run(&ctx, derive, *format, *reveal).await,
        Command::AdminKey {
            derive,
            legacy,
            check,
            read_only,
            timeout,
        } => {
            let kind = match (legacy, read_only) {
                (true, _) => commands::admin_key::Kind::Legacy,
                (_, true) => commands::admin_key::Kind::ReadOnly,
                _ => commands::admin_key::Kind::Full,
            };
            let check = check.then(|| deadline(timeout));
            commands::admin_key::run(&ctx, derive, kind, check).await
        }
        Command::EnvSet { derive, wait } => commands::env_set::run(&ctx, derive, wait).await,
        Command::Deploy {
            derive,
            wait,
            deploy,
            convex_args,
        } => commands::deploy::run(&ctx, derive, wait, deploy, convex_args).await,
        Command::Backup {
            derive,
            wait,
            backup,
            keep,
            no_file_storage,
            list,
        } => {
            let args = commands::backup::Args {
                backup,
                keep: *keep,
                file_storage: !no_file_storage,
                list: *list,
            };
            commands::backup::run(&ctx, derive, wait, &args).await
        }
        Command::Restore {
            backup_name,
            derive,
            wait,
            backup,
            yes,
            force,
        } => {
            let args = commands::restore::Args {
                name: backup_name.as_deref(),
                backup,
                yes: *yes,
                force: *force,
            };
            commands::restore::run(&ctx, derive, wait, &args).await
        }
        Command::Db { command } => commands::db::run(&ctx, command).await,
        Command::Status {
            derive,
            metadata,
            timeout,
        } => commands::status::run(&ctx, derive, *metadata, deadline(timeout)).await,
        Command::Doctor {
            derive,
            fix,
            dashboard_internal_url,
            timeout,
        } => {
            let args = commands::doctor::Args {
                fix: *fix,
                dashboard_internal_url,
                deadline: deadline(timeout),
            };
            commands::doctor::run(&ctx, derive, &args).await
        }
    }
}
