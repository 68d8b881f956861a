//! One file per command: its clap arguments, its run, its report. A command is registered by
//! one variant of `Command`; the dispatch to its `Execute` impl is derived. Shared
//! context and steps live in `context` and `steps`; nothing here imports the dispatcher.
//!
//! Pure: the registry of commands.

use clap::Subcommand;
use enum_dispatch::enum_dispatch;

pub(crate) mod admin_key;
pub(crate) mod backup;
pub(crate) mod configure;
mod context;
pub(crate) mod db;
pub(crate) mod db_provision;
pub(crate) mod deploy;
pub(crate) mod doctor;
pub(crate) mod down;
pub(crate) mod env;
pub(crate) mod env_set;
pub(crate) mod logs;
pub(crate) mod restore;
pub(crate) mod setup;
pub(crate) mod status;
mod steps;
pub(crate) mod supervise_backend;
pub(crate) mod up;

use context::Running;
pub(crate) use context::{Ctx, Execute, Outcome};

/// The subcommands, in `--help` order. Adding a command: its file, its `mod` line above and
/// one variant here.
#[enum_dispatch(Execute)]
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configure, wait for the backend, push the environment, deploy, verify (the whole job).
    Setup(setup::Args),
    /// Start the Convex backend and dashboard with Docker Compose (outside Coder), then set up.
    Up(up::Args),
    /// Stop the Convex containers `up` started (the data is kept unless --volumes).
    Down(down::Args),
    /// Show the logs of the Convex containers `up` started.
    Logs(logs::Args),
    /// Derive URLs and secrets and write the project files; no backend needed.
    Configure(configure::Args),
    /// Print the derived configuration; writes nothing.
    Env(env::Args),
    /// Print the admin key for the dashboard login and the Convex CLI.
    AdminKey(admin_key::Args),
    /// Show URLs, backend health, key and environment state.
    Status(status::Args),
    /// Run every check and say what is wrong and how to fix it.
    Doctor(doctor::Args),
    /// Push the deployment environment variables (changed ones only, in one call).
    EnvSet(env_set::Args),
    /// Databases on a shared Postgres server (one per workspace): list them, drop one.
    Db(db::Args),
    /// Back up the deployment's data, files and variables (`convex export` + a manifest).
    Backup(backup::Args),
    /// Replace the deployment's data and variables with a backup (`convex import --replace-all`).
    Restore(restore::Args),
    /// Run the backend process `up --backend process` started, restarting it (internal).
    #[command(hide = true)]
    SuperviseBackend(supervise_backend::Args),
    /// Deploy the project's Convex functions with the Convex CLI.
    Deploy(deploy::Args),
}
