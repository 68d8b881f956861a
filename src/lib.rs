//! coder-convex makes a self-hosted Convex backend "just work" in a cloud development
//! workspace: it derives the public URLs, the database URL and the instance identity, mints
//! the secrets, writes the env files, and (with a backend running) pushes the deployment
//! environment and deploys.
//!
//! The pipeline and its contract are in the README; each module owns one concern.

pub mod backend;
pub mod cli;
pub mod config;
pub mod configure;
pub mod database;
pub mod deploy;
pub mod doctor;
mod doctor_live;
pub mod dotenv;
mod env_cmd;
pub mod env_vars;
pub mod envset;
pub mod error;
pub mod output;
pub mod pipeline;
pub mod postgres;
pub mod project;
pub mod run;
pub mod secrets;
pub mod settings;
mod status;
pub mod urls;

use cli::Cli;
use error::Result;
use output::Output;
use settings::RawEnv;

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Run a parsed command line against an environment snapshot; returns the exit code.
pub fn main(
    cli: Cli,
    env: Result<RawEnv>,
    process_env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
) -> u8 {
    let out = Output::new(
        cli.global.quiet,
        cli.global.color,
        env.as_ref().is_ok_and(|e| e.no_color.is_some()),
    );
    let filter = match (
        cli.global.verbose,
        env.as_ref().ok().and_then(|e| e.coder_convex_log.clone()),
    ) {
        (0, Some(filter)) => filter,
        (0, None) => "warn".to_owned(),
        (1, _) => "coder_convex=debug".to_owned(),
        _ => "coder_convex=trace,debug".to_owned(),
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_new(filter).unwrap_or_default())
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let result = env.and_then(|env| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        runtime.block_on(run::run(cli, env, process_env, &out))
    });
    match result {
        Ok(code) => code,
        Err(err) => {
            out.error(&err);
            err.exit_code()
        }
    }
}
