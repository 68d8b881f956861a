//! `coder-convex backup`: a snapshot of the deployment through the project's own Convex CLI
//! (`convex export --path …`, file storage included unless `--no-file-storage`) beside a
//! manifest (instance, versions, time, the deployment's variables), written atomically into
//! the backup store (`backups.rs`); `--keep N` prunes, `--list` lists.
//!
//! I/O: the backend, the Convex CLI, the backup store.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::backups::{self, Entry, Manifest};
use crate::cli::{BackupArgs, DeriveArgs, WaitArgs};
use crate::deadline::Deadline;
use crate::env_vars as ev;
use crate::error::{Error, Result};

use super::context::{self, Ctx, Execute, Outcome, Running};
use super::steps;

/// The flags of `backup`.
#[derive(Debug, clap::Args)]
pub struct Args {
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
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

#[derive(Serialize)]
struct Report {
    dir: PathBuf,
    /// The backup taken (absent with `--list`).
    backup: Option<Entry>,
    /// Names removed by `--keep`.
    removed: Vec<String>,
    /// With `--list`: every complete backup, oldest first.
    backups: Option<Vec<Entry>>,
}

/// The store of this project's instance: `--dir`, else the default under the data home.
pub(crate) fn store(ctx: &Ctx<'_>, args: &BackupArgs, instance: &str) -> Result<PathBuf> {
    match &args.dir {
        Some(dir) => crate::environment::absolute(dir),
        None => backups::store(ctx.env, instance),
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let (derive, wait) = (&args.derive, &args.wait);
    let deadline = Deadline::after_secs(wait.wait, "--wait");
    let session = context::session(ctx, derive).await?;
    let dir = store(ctx, &args.backup, &session.derived.instance_name)?;
    if args.list {
        return list(ctx, dir);
    }
    // Not while setup deploys or restore imports: the snapshot would mix two states.
    let _lock = context::lock(ctx, Some(deadline)).await?;
    let (pm, cli_version) = steps::installed_cli(ctx, session.state.package_json.as_ref())?;
    let connected = steps::connect_session(&session, deadline, ctx.out).await?;
    let key = connected.backend.admin_key().to_owned();
    let env = connected.backend.list_env().await.map_err(|e| {
        Error::runtime_from("cannot list the deployment's environment variables", e)
    })?;
    if env.is_none() {
        ctx.out.warn(
            "this backend cannot list its environment variables (before 2025-08): the backup has none",
        );
    }
    let pending = backups::begin(&dir)?;
    let mut export = vec![
        "export".to_owned(),
        "--path".to_owned(),
        path_arg(&pending.archive())?,
    ];
    if !args.no_file_storage {
        export.push("--include-file-storage".to_owned());
    }
    steps::run_convex(
        ctx,
        pm,
        &connected.backend,
        &key,
        &export,
        Duration::from_secs(args.backup.snapshot_timeout),
    )
    .await?;
    let owner = backups::Owner::new(&session.derived.instance_name, Some(&session.secret));
    let manifest = Manifest::new(
        &owner,
        &connected.version,
        &cli_version,
        !args.no_file_storage,
        env,
    );
    let entry = pending.commit(manifest)?;
    ctx.out.success(format!(
        "backed up to {} ({})",
        entry.path.display(),
        backups::human_bytes(entry.bytes)
    ));
    let removed = match args.keep {
        Some(keep) => backups::prune(
            &dir,
            &owner,
            usize::try_from(keep).unwrap_or(usize::MAX),
            Some(&entry.name),
        )?,
        None => Vec::new(),
    };
    if !removed.is_empty() {
        ctx.out.info(format!(
            "removed {} older backup(s) beyond --keep: {}",
            removed.len(),
            removed.join(", ")
        ));
    }
    Ok(Outcome::ok(&Report {
        dir,
        backup: Some(entry),
        removed,
        backups: None,
    }))
}

fn list(ctx: &Ctx<'_>, dir: PathBuf) -> Result<Outcome> {
    let entries = backups::list(&dir)?;
    if entries.is_empty() {
        ctx.out.info(format!("no backups in {} yet", dir.display()));
    }
    if !ctx.json {
        for entry in entries.iter().rev() {
            ctx.out.data(entry.describe());
        }
    }
    Ok(Outcome::ok(&Report {
        dir,
        backup: None,
        removed: Vec::new(),
        backups: Some(entries),
    }))
}

/// A path for the CLI's argv (not a secret); it must be UTF-8 for the CLI.
pub(crate) fn path_arg(path: &Path) -> Result<String> {
    path.to_str()
        .map(str::to_owned)
        .ok_or_else(|| Error::invalid("--dir", format!("{} is not UTF-8", path.display())))
}
