//! The command line: global options and subcommands. Flags that have an environment
//! equivalent carry `env = …` so `--help` shows it; precedence is flag > environment >
//! project file > default.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{Args, CommandFactory as _, Parser, Subcommand, ValueEnum};

use crate::env_vars as ev;

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
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

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
    #[arg(long, env = ev::CODER_CONVEX_SHORT_LABELS, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
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
    #[arg(long, env = ev::CODER_CONVEX_FORCE_DEPLOY, value_parser = clap::builder::BoolishValueParser::new(), default_value_t = false)]
    pub force_deploy: bool,
}

/// The shared Postgres server `db` works on.
#[derive(Debug, Clone, Args)]
pub struct ServerArgs {
    /// Shared Postgres server URL (prefer the variable: a flag's value is visible in `ps`).
    #[arg(long = "server", env = ev::CODER_CONVEX_SHARED_POSTGRES_URL, hide_env_values = true, value_name = "URL")]
    pub server: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum DbCommand {
    /// List the databases coder-convex created on the server, with the workspace of each.
    List {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Drop one database coder-convex created (for a deleted workspace); needs --yes.
    Drop {
        /// The database name, as `db list` shows it.
        name: String,
        /// Really drop it: the data is gone afterwards.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// One line of `status` for the Coder dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetadataItem {
    // `up · <version>`, `wrong instance <name>`, or `down`.
    Backend,
    // `in sync`, `pending: <names>`, or `unknown`.
    Env,
    // The age of the last deploy, or `never`.
    Deploy,
}

/// Options of the commands that run the Convex containers.
#[derive(Debug, Clone, Args)]
pub struct ComposeArgs {
    /// Your own compose file instead of the one built into coder-convex (it is handed the
    /// same variables; see the README).
    #[arg(long, env = ev::CODER_CONVEX_COMPOSE_FILE, value_name = "FILE")]
    pub compose_file: Option<PathBuf>,
}

/// A service of the Convex containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Backend,
    Dashboard,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::Dashboard => "dashboard",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum EnvFormat {
    Dotenv,
    Json,
    Shell,
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

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configure, wait for the backend, push the environment, deploy, verify (the whole job).
    Setup {
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        deploy: DeployArgs,
        /// Do not run `convex deploy`.
        #[arg(long)]
        no_deploy: bool,
    },
    /// Start the Convex backend and dashboard with Docker Compose (outside Coder), then set up.
    Up {
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        write: WriteArgs,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        deploy: DeployArgs,
        /// Do not run `convex deploy`.
        #[arg(long)]
        no_deploy: bool,
        #[command(flatten)]
        compose: ComposeArgs,
        /// Internal URL of the dashboard (its port is published on 127.0.0.1).
        #[arg(long, env = ev::CODER_CONVEX_DASHBOARD_INTERNAL_URL, value_name = "URL", default_value = "http://127.0.0.1:6791")]
        dashboard_internal_url: String,
    },
    /// Stop the Convex containers `up` started (the data is kept unless --volumes).
    Down {
        #[command(flatten)]
        compose: ComposeArgs,
        /// Also delete the data volume: every table, file and environment variable.
        #[arg(long)]
        volumes: bool,
        /// Confirm --volumes without a prompt.
        #[arg(long, short = 'y')]
        yes: bool,
    },
    /// Show the logs of the Convex containers `up` started.
    Logs {
        #[command(flatten)]
        compose: ComposeArgs,
        /// Keep following new lines.
        #[arg(long, short = 'f')]
        follow: bool,
        /// Only this service.
        #[arg(value_enum)]
        service: Option<Service>,
    },
    /// Derive URLs and secrets and write the project files; no backend needed.
    Configure {
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        write: WriteArgs,
    },
    /// Print the derived configuration; writes nothing.
    Env {
        #[command(flatten)]
        derive: DeriveArgs,
        /// Output format (`--json` is the same as `--format json`).
        #[arg(long, value_enum, default_value_t = EnvFormat::Dotenv)]
        format: EnvFormat,
        /// Show secrets instead of masking them.
        #[arg(long)]
        reveal: bool,
    },
    /// Print the admin key for the dashboard login and the Convex CLI.
    AdminKey {
        #[command(flatten)]
        derive: DeriveArgs,
        /// Mint the legacy format, for backend images built before 2025-05-30.
        #[arg(long)]
        legacy: bool,
        /// Ask the backend whether it accepts the key (exit 4 if not).
        #[arg(long)]
        check: bool,
        /// Mint a read-only key (protobuf field 5): the backend allows reads and refuses
        /// writes. For teammates and AI agents that should look but not change anything.
        #[arg(long, conflicts_with = "legacy")]
        read_only: bool,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
    /// Show URLs, backend health, key and environment state.
    Status {
        #[command(flatten)]
        derive: DeriveArgs,
        /// Print one short line for a Coder agent metadata item, and exit 0 even when the
        /// backend is down (the templates' `coder_agent` metadata scripts use it).
        #[arg(long, value_enum, value_name = "ITEM")]
        metadata: Option<MetadataItem>,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
    /// Run every check and say what is wrong and how to fix it.
    Doctor {
        #[command(flatten)]
        derive: DeriveArgs,
        /// Repair what is safe to repair: file modes, the missing database, stale deployment variables.
        #[arg(long)]
        fix: bool,
        /// Internal URL of the dashboard.
        #[arg(long, env = ev::CODER_CONVEX_DASHBOARD_INTERNAL_URL, value_name = "URL", default_value = "http://127.0.0.1:6791")]
        dashboard_internal_url: String,
        #[command(flatten)]
        timeout: TimeoutArgs,
    },
    /// Push the deployment environment variables (changed ones only, in one call).
    EnvSet {
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        wait: WaitArgs,
    },
    /// Databases on a shared Postgres server (one per workspace): list them, drop one.
    Db {
        #[command(subcommand)]
        command: DbCommand,
    },
    /// Back up the deployment's data, files and variables (`convex export` + a manifest).
    Backup {
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        backup: BackupArgs,
        /// Afterwards keep only the newest N backups (the oldest are removed).
        #[arg(long, env = ev::CODER_CONVEX_BACKUP_KEEP, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
        keep: Option<u64>,
        /// Leave file storage out of the archive (tables only).
        #[arg(long)]
        no_file_storage: bool,
        /// List the backups instead of taking one.
        #[arg(long, conflicts_with_all = ["keep", "no_file_storage"])]
        list: bool,
    },
    /// Replace the deployment's data and variables with a backup (`convex import --replace-all`).
    Restore {
        /// A backup: its name from `backup --list`, its directory, or a snapshot `.zip`
        /// (default: the newest backup).
        #[arg(value_name = "BACKUP")]
        backup_name: Option<PathBuf>,
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        backup: BackupArgs,
        /// Replace the data without asking.
        #[arg(long, short = 'y')]
        yes: bool,
        /// Restore a backup of another instance.
        #[arg(long)]
        force: bool,
    },
    /// Deploy the project's Convex functions with the Convex CLI.
    Deploy {
        #[command(flatten)]
        derive: DeriveArgs,
        #[command(flatten)]
        wait: WaitArgs,
        #[command(flatten)]
        deploy: DeployArgs,
        /// Extra arguments for `convex deploy`, after `--` (e.g. `-- --skip-large-indexes-check`).
        #[arg(last = true, value_name = "CONVEX_ARGS")]
        convex_args: Vec<String>,
    },
}

/// Parse the command line; a bad value that came from an environment variable is reported
/// under the variable's name (clap names only the flag).
pub fn parse() -> Result<Cli, clap::Error> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    Cli::try_parse_from(&args).map_err(|err| name_the_variable(err, &args))
}

fn name_the_variable(err: clap::Error, args: &[std::ffi::OsString]) -> clap::Error {
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
    let command = Cli::command();
    let env = command
        .get_subcommands()
        .chain(std::iter::once(&command))
        .flat_map(|c| c.get_arguments())
        .find(|a| a.get_long().is_some_and(|l| format!("--{l}") == long))
        .and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()));
    match env {
        Some(var) if !on_command_line && std::env::var_os(&var).is_some() => {
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
