//! `coder-convex db`: the shared server's databases (Postgres or MySQL) for its admin. `list` shows the
//! databases coder-convex created (those with a workspace marker), the workspace of each,
//! its size, connections, last setup and budget, and the server's capacity; `drop` removes
//! one, only with `--yes` and only a database with a marker; `prune` removes those whose
//! workspace has not run setup for a while (only with `--yes`, never one in use).
//!
//! I/O: the shared server.

use std::time::Duration;

use serde::Serialize;

use crate::backups::human_bytes;
use crate::config::shared_db;
use crate::database::budget::{self, Capacity};
use crate::database::failure::{DbError, DbFailure};
use crate::database::preflight;
use crate::database::shared::{Marked, Server};
use crate::database::url::Database;
use crate::env_vars as ev;
use crate::error::{Error, Result};

use super::context::{Ctx, Execute, Outcome, Running};

#[derive(Serialize)]
struct ListReport {
    server: String,
    databases: Vec<Marked>,
    capacity: Capacity,
}

#[derive(Serialize)]
struct PruneReport {
    server: String,
    /// `--unused-for` in seconds.
    unused_for_secs: u64,
    /// Unused for longer: dropped with `--yes`, else what `--yes` would drop.
    unused: Vec<Marked>,
    /// Markers without a recorded setup time: never pruned.
    unknown: Vec<Marked>,
    dropped: Vec<String>,
    /// Not dropped, with the reason (in use, or the server refused).
    refused: Vec<Refused>,
}

#[derive(Serialize)]
struct Refused {
    database: String,
    reason: String,
}

#[derive(Serialize)]
struct DropReport {
    server: String,
    dropped: Marked,
}

/// The flags of `db`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: DbCommand,
}

#[derive(Debug, clap::Subcommand)]
enum DbCommand {
    /// List the databases coder-convex created on the server: the workspace, size,
    /// connections, last setup and budget of each, and the server's capacity.
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
    /// Create this workspace's database and its own login role, and write the backend's
    /// settings to a file (the template's provisioner runs it with the admin URL).
    Provision(super::db_provision::Args),
    /// Drop the databases whose workspace has not run setup for DURATION (a deleted
    /// workspace's); lists them, and drops them only with --yes.
    Prune {
        /// How long since the workspace last ran setup: `30d`, `2w`, `12h`.
        #[arg(long, value_name = "DURATION")]
        unused_for: String,
        /// Really drop them: the data is gone afterwards.
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        server: ServerArgs,
    },
}

/// The shared server `db` works on.
#[derive(Debug, Clone, clap::Args)]
struct ServerArgs {
    /// Shared server URL, postgres:// or mysql:// (prefer the variable: a flag's value is
    /// visible in `ps`); else CODER_CONVEX_SHARED_POSTGRES_URL.
    #[arg(long = "server", env = ev::CODER_CONVEX_SHARED_DATABASE_URL, hide_env_values = true, value_name = "URL")]
    server: Option<String>,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    match &args.command {
        DbCommand::List { server } => list(ctx, server).await,
        DbCommand::Drop { name, yes, server } => drop(ctx, server, name, *yes).await,
        DbCommand::Provision(args) => super::db_provision::run(ctx, args).await,
        DbCommand::Prune {
            unused_for,
            yes,
            server,
        } => prune(ctx, server, unused_for, *yes).await,
    }
}

fn server(ctx: &Ctx<'_>, args: &ServerArgs) -> Result<Database> {
    let given = args.server.as_deref().filter(|s| !s.trim().is_empty());
    let (input, raw) = match (given, ctx.env.coder_convex_shared_postgres_url.as_deref()) {
        (Some(raw), _) => (
            format!("--server ({})", ev::CODER_CONVEX_SHARED_DATABASE_URL),
            raw,
        ),
        (None, Some(raw)) => (ev::CODER_CONVEX_SHARED_POSTGRES_URL.to_owned(), raw),
        (None, None) => {
            return Err(Error::invalid(
                format!("--server ({})", ev::CODER_CONVEX_SHARED_DATABASE_URL),
                "no server URL given",
            )
            .with_hint(format!(
                "set {} (or {}) to the shared server's URL (the template variable shared_database_url or shared_postgres_url)",
                ev::CODER_CONVEX_SHARED_DATABASE_URL,
                ev::CODER_CONVEX_SHARED_POSTGRES_URL
            )));
        }
    };
    shared_db::server_url(&input, raw)
}

async fn connect(ctx: &Ctx<'_>, db: &Database) -> Result<Server> {
    Server::connect(db, preflight::Options::new(ctx.env, db))
        .await
        .map_err(DbError::into_error)
}

async fn list(ctx: &Ctx<'_>, args: &ServerArgs) -> Result<Outcome> {
    let db = server(ctx, args)?;
    let budget = shared_db::connection_budget(ctx.env)?;
    let mut conn = connect(ctx, &db).await?;
    let found = conn.survey(true).await;
    conn.close().await;
    let (databases, limits) = found.map_err(DbError::into_error)?;
    let budgets: Vec<Option<u32>> = databases.iter().map(|d| d.budget).collect();
    let capacity = budget::capacity(limits, &budgets, budget);
    if !ctx.json {
        if databases.is_empty() {
            ctx.out
                .info(format!("no coder-convex databases on {}", db.masked()));
        } else {
            ctx.out.data(table(&databases));
        }
        super::db_provision::say_capacity(ctx.out, &capacity);
    }
    Ok(Outcome::ok(&ListReport {
        server: db.masked(),
        databases,
        capacity,
    }))
}

/// The databases as aligned columns (pure).
fn table(databases: &[Marked]) -> String {
    let mut rows = vec![[
        "DATABASE".to_owned(),
        "WORKSPACE".to_owned(),
        "WORKSPACE ID".to_owned(),
        "SIZE".to_owned(),
        "CONNECTIONS".to_owned(),
        "LAST SETUP".to_owned(),
        "BUDGET".to_owned(),
    ]];
    for d in databases {
        rows.push([
            d.database.clone(),
            if d.workspace.is_empty() {
                "?".to_owned()
            } else {
                d.workspace.clone()
            },
            d.workspace_id.clone(),
            d.size_bytes.map_or_else(|| "?".to_owned(), human_bytes),
            d.connections.to_string(),
            d.last_setup.clone().unwrap_or_else(|| "unknown".to_owned()),
            d.budget.map_or_else(|| "?".to_owned(), |b| b.to_string()),
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    rows.iter()
        .map(|r| {
            let cells: Vec<String> = r
                .iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:<w$}"))
                .collect();
            cells.join("  ").trim_end().to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

async fn drop(ctx: &Ctx<'_>, args: &ServerArgs, name: &str, yes: bool) -> Result<Outcome> {
    let db = server(ctx, args)?;
    let mut conn = connect(ctx, &db).await?;
    let marked = conn.list_marked(true).await.map_err(DbError::into_error)?;
    let Some(found) = marked.into_iter().find(|d| d.database == name) else {
        return Err(Error::invalid(
            "the database name",
            format!("{name:?} on {} was not created by coder-convex (it has no workspace marker); refusing to drop it", db.masked()),
        )
        .with_hint("`coder-convex db list` shows the databases coder-convex created"));
    };
    if !yes {
        return Err(Error::invalid(
            "--yes",
            format!(
                "dropping {name} (workspace {} {}) deletes its data for good",
                found.workspace_id, found.workspace
            ),
        )
        .with_hint(format!(
            "check with `coder list --all` that the workspace is gone, then run `coder-convex db drop {name} --yes`"
        )));
    }
    let dropped = drop_unused(&mut conn, name).await;
    conn.close().await;
    let role_problem = dropped.map_err(DbError::into_error)?;
    ctx.out
        .success(format!("dropped database {name} on {}", db.masked()));
    if let Some(problem) = role_problem {
        ctx.out.warn(problem);
    }
    Ok(Outcome::ok(&DropReport {
        server: db.masked(),
        dropped: found,
    }))
}

/// Drop `name` unless it has connections, checked right before the drop: a workspace
/// started since the listing keeps its data (MySQL drops a database in use; Postgres
/// refuses, and that is reported the same way).
async fn drop_unused(
    conn: &mut Server,
    name: &str,
) -> std::result::Result<Option<String>, DbError> {
    match conn.connections_to(name).await? {
        0 => conn.drop_database(name).await,
        n => Err(DbError::new(
            format!("database {name:?} is in use (connections open: {n}); not dropped"),
            "stop the workspace (its backend holds the connections) and run it again",
        )
        .kind(DbFailure::InUse)),
    }
}

/// `--unused-for`: `30d`, `2w`, `12h`, `90min` (humantime's units), at least a minute.
fn unused_for(raw: &str) -> Result<Duration> {
    let hint = "a duration such as 30d, 2w or 12h: how long since the workspace last ran setup";
    let parsed = humantime::parse_duration(raw.trim()).map_err(|e| {
        Error::invalid("--unused-for", format!("{raw:?} is not a duration ({e})")).with_hint(hint)
    })?;
    if parsed < Duration::from_secs(60) {
        return Err(Error::invalid(
            "--unused-for",
            format!("{raw:?} is less than a minute: a running workspace would look unused"),
        )
        .with_hint(hint));
    }
    Ok(parsed)
}

/// Which marked databases are unused for longer than `unused_for` at `now`, and which have
/// no recorded setup time (pure).
fn split_unused(
    databases: Vec<Marked>,
    now: u64,
    unused_for: Duration,
) -> (Vec<Marked>, Vec<Marked>) {
    let mut unused = Vec::new();
    let mut unknown = Vec::new();
    for d in databases {
        match d.last_setup_unix {
            None => unknown.push(d),
            Some(at) if now.saturating_sub(at) > unused_for.as_secs() => unused.push(d),
            Some(_) => {}
        }
    }
    (unused, unknown)
}

async fn prune(ctx: &Ctx<'_>, args: &ServerArgs, raw: &str, yes: bool) -> Result<Outcome> {
    let unused_for = unused_for(raw)?;
    let db = server(ctx, args)?;
    let mut conn = connect(ctx, &db).await?;
    let marked = match conn.list_marked(true).await {
        Ok(marked) => marked,
        Err(e) => {
            conn.close().await;
            return Err(e.into_error());
        }
    };
    let (unused, unknown) = split_unused(marked, crate::clock::unix_now(), unused_for);
    let age = raw.trim();
    for d in &unknown {
        ctx.out.info(format!(
            "{} (workspace {} {}): last setup unknown, skipped",
            d.database, d.workspace_id, d.workspace
        ));
    }
    let mut report = PruneReport {
        server: db.masked(),
        unused_for_secs: unused_for.as_secs(),
        unused,
        unknown,
        dropped: Vec::new(),
        refused: Vec::new(),
    };
    if !yes {
        conn.close().await;
        for d in report.unused.iter().filter(|_| !ctx.json) {
            ctx.out.data(format!(
                "{}\t{}\t{}\tlast setup {}",
                d.database,
                d.workspace_id,
                d.workspace,
                d.last_setup.as_deref().unwrap_or("unknown")
            ));
        }
        if report.unused.is_empty() {
            ctx.out
                .info(format!("no database on {} unused for {age}", db.masked()));
        } else {
            ctx.out.info(format!(
                "{} databases unused for {age}; nothing dropped: add --yes to drop them",
                report.unused.len()
            ));
        }
        return Ok(Outcome::ok(&report));
    }
    let mut in_use_only = true;
    for d in &report.unused {
        let name = &d.database;
        match drop_unused(&mut conn, name).await {
            Ok(role_problem) => {
                ctx.out
                    .success(format!("dropped database {name} on {}", db.masked()));
                if let Some(problem) = role_problem {
                    ctx.out.warn(problem);
                }
                report.dropped.push(name.clone());
            }
            Err(e) => {
                in_use_only &= e.failure() == DbFailure::InUse;
                ctx.out.warn(format!("{}; hint: {}", e.detail(), e.hint()));
                report.refused.push(Refused {
                    database: name.clone(),
                    reason: e.detail(),
                });
            }
        }
    }
    conn.close().await;
    if report.refused.is_empty() {
        return Ok(Outcome::ok(&report));
    }
    let names: Vec<&str> = report.refused.iter().map(|r| r.database.as_str()).collect();
    let failure = Error::Database {
        kind: if in_use_only {
            DbFailure::InUse
        } else {
            DbFailure::Other
        },
        message: format!(
            "{} of {} databases were not dropped: {}",
            names.len(),
            report.unused.len(),
            names.join(", ")
        ),
        source: None,
        hint: Some(
            "stop their workspaces (or check the reasons above) and run `db prune` again"
                .to_owned(),
        ),
    };
    Ok(Outcome::failed(&report, failure))
}

#[cfg(test)]
mod tests;
