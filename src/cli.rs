//! The command line: the global options and the argument groups several commands flatten
//! (each command's own flags live in its file under `commands/`). Flags that have an
//! environment equivalent carry `env = …` so `--help` shows it; precedence is flag >
//! environment > project file > default.
//!
//! Pure (clap reads the variables behind flags).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, ValueEnum};

use crate::deadline::Deadline;
use crate::env_vars as ev;
use crate::environment::parse_bool;

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Project directory holding `convex/`, `package.json` and the env files.
    #[arg(long, global = true, env = ev::CODER_CONVEX_PROJECT_DIR, value_name = "DIR")]
    pub project_dir: Option<PathBuf>,
    /// Print a machine-readable result on stdout.
    #[arg(long, global = true)]
    pub json: bool,
    /// More output (-v debug, -vv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only errors and warnings.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// When to color human output.
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto)]
    pub color: ColorChoice,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// Inputs that decide the derived configuration; shared by every command that derives it.
#[derive(Debug, Default, Clone, Args)]
pub struct DeriveArgs {
    /// Public URL of the Convex API.
    #[arg(long, env = ev::CONVEX_CLOUD_ORIGIN, value_name = "URL")]
    pub cloud_origin: Option<String>,
    /// Public URL of the site proxy (HTTP actions, auth discovery).
    #[arg(long, env = ev::CONVEX_SITE_ORIGIN, value_name = "URL")]
    pub site_origin: Option<String>,
    /// Public URL of the dashboard.
    #[arg(long, env = ev::CONVEX_DASHBOARD_URL, value_name = "URL")]
    pub dashboard_url: Option<String>,
    /// Forget URLs pinned by an earlier `--cloud-origin`/`--site-origin`/`--dashboard-url` (or
    /// their variables) and derive them again.
    #[arg(long)]
    pub unpin_urls: bool,
    /// Use the 3-part Coder host label `slug--workspace--owner` (Coder servers after coder/coder#19750).
    #[arg(long, env = ev::CODER_CONVEX_SHORT_LABELS, value_parser = parse_bool, default_value_t = false)]
    pub short_labels: bool,
    /// Internal API URL of the backend.
    #[arg(long, env = ev::CODER_CONVEX_BACKEND_URL, value_name = "URL")]
    pub backend_url: Option<String>,
    /// Internal URL of the backend's site proxy.
    #[arg(long, env = ev::CODER_CONVEX_SITE_PROXY_URL, value_name = "URL")]
    pub site_proxy_url: Option<String>,
    /// Public URL of the app itself (its dev server); pushed as SITE_URL. Default: derived from the frontend port.
    #[arg(long, env = ev::SITE_URL, value_name = "URL")]
    pub site_url: Option<String>,
    /// Port of the app's dev server. Default: `--port`/`-p` in the `dev` script, else the framework's default.
    #[arg(long, env = ev::CODER_CONVEX_FRONTEND_PORT, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub frontend_port: Option<u16>,
}

/// Options of commands that write the project files.
#[derive(Debug, Default, Clone, Args)]
pub struct WriteArgs {
    /// Replace `jwt_private_key.pem` with a new key (the old one is kept as a backup).
    #[arg(long)]
    pub rotate_jwt_key: bool,
    /// Replace BETTER_AUTH_SECRET with a new one (everyone signed in with Better Auth is signed out).
    #[arg(long)]
    pub rotate_auth_secret: bool,
}

/// Options of commands that wait for the backend.
#[derive(Debug, Clone, Args)]
pub struct WaitArgs {
    /// Seconds the command may take to get through to the backend: the project lock, the
    /// wait for `GET /version`, every request and retry (not `convex deploy`).
    #[arg(long, env = ev::CODER_CONVEX_WAIT, value_name = "SECS", default_value_t = 120)]
    pub wait: u64,
}

/// Options of commands that look at the backend without waiting for it.
#[derive(Debug, Clone, Args)]
pub struct TimeoutArgs {
    /// Seconds the command may spend on the backend, every request and retry included.
    #[arg(long, env = ev::CODER_CONVEX_TIMEOUT, value_name = "SECS", default_value_t = 10)]
    pub timeout: u64,
}

impl TimeoutArgs {
    /// `--timeout`'s deadline, counted from now (the start of the command).
    pub(crate) fn deadline(&self) -> Deadline {
        Deadline::after_secs(self.timeout, "--timeout")
    }
}

/// Options of commands that deploy.
#[derive(Debug, Clone, Args)]
pub struct DeployArgs {
    /// Seconds `convex deploy` may run before it is stopped.
    #[arg(long, env = ev::CODER_CONVEX_DEPLOY_TIMEOUT, value_name = "SECS", default_value_t = 600)]
    pub deploy_timeout: u64,
    /// Extra argument for `convex deploy` (repeat it; e.g. `--deploy-arg=--skip-large-indexes-check`).
    #[arg(long = "deploy-arg", env = ev::CODER_CONVEX_DEPLOY_ARGS, value_name = "ARG", allow_hyphen_values = true, value_delimiter = ' ')]
    pub deploy_args: Vec<String>,
    /// Deploy even when nothing changed since the last deploy.
    #[arg(long, env = ev::CODER_CONVEX_FORCE_DEPLOY, value_parser = parse_bool, default_value_t = false)]
    pub force_deploy: bool,
}

/// Options of the commands that run the Convex containers.
#[derive(Debug, Clone, Args)]
pub struct ComposeArgs {
    /// Your own compose file instead of the one built into coder-convex (it is handed the
    /// same variables; see the README).
    #[arg(long, env = ev::CODER_CONVEX_COMPOSE_FILE, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
}

/// Options of the commands that run `convex export` / `convex import`.
#[derive(Debug, Clone, Args)]
pub struct BackupArgs {
    /// Where backups are kept (default `${XDG_DATA_HOME:-~/.local/share}/coder-convex/backups/<instance>`).
    #[arg(long, env = ev::CODER_CONVEX_BACKUP_DIR, value_name = "DIR")]
    pub dir: Option<PathBuf>,
    /// Seconds `convex export` / `convex import` may run before it is stopped.
    #[arg(long, env = ev::CODER_CONVEX_SNAPSHOT_TIMEOUT, value_name = "SECS", default_value_t = 1800)]
    pub snapshot_timeout: u64,
}

/// A parse error about a bad value that came from an environment variable, reported under
/// the variable's name (clap names only the flag). `command` is the whole command tree.
pub(crate) fn name_the_variable(
    err: clap::Error,
    command: &clap::Command,
    args: &[OsString],
    env_snapshot: &[(OsString, OsString)],
) -> clap::Error {
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return err;
    }
    let Some(ContextValue::String(flag)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let long = flag.split_whitespace().next().unwrap_or_default();
    let on_command_line = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == long || a.starts_with(&format!("{long}=")))
    });
    let env = command
        .get_subcommands()
        .chain(std::iter::once(command))
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long().is_some_and(|l| format!("--{l}") == long))
        .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()));
    match env {
        Some(var) if !on_command_line && env_snapshot.iter().any(|(k, _)| *k == *var) => {
            let value = match err.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(v)) => v.clone(),
                _ => String::new(),
            };
            let why = std::error::Error::source(&err)
                .map(|s| format!(": {s}"))
                .unwrap_or_default();
            clap::Error::raw(
                ErrorKind::ValueValidation,
                format!(
                    "invalid value {value:?} in the environment variable {var} (read for {long}){why}\n\n  hint: fix or unset {var}\n"
                ),
            )
        }
        _ => err,
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use crate::Cli;

    /// clap's own consistency checks over the whole tree (unique names and groups,
    /// valid defaults), which otherwise run only when a command is parsed in a debug build.
    #[test]
    fn the_command_tree_is_consistent() {
        Cli::command().debug_assert();
    }
}
