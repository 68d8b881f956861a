//! `coder-convex db`: the shared Postgres server's databases for its admin. `list` shows the
//! databases coder-convex created (those with a workspace marker) and the workspace of each,
//! so the databases of deleted workspaces can be found; `drop` removes one, only with `--yes`
//! and only a database with a marker.
//!
//! I/O: the shared Postgres server.

use std::path::Path;

use serde::Serialize;

use crate::database::failure::DbError;
use crate::database::preflight;
use crate::database::shared::{self, Marked};
use crate::database::url::{self as db_url, Database};
use crate::env_vars as ev;
use crate::error::{Error, Result};

use super::context::{Ctx, Execute, Outcome, Running};

#[derive(Serialize)]
struct ListReport {
    server: String,
    databases: Vec<Marked>,
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

/// The shared Postgres server `db` works on.
#[derive(Debug, Clone, clap::Args)]
struct ServerArgs {
    /// Shared Postgres server URL (prefer the variable: a flag's value is visible in `ps`).
    #[arg(long = "server", env = ev::CODER_CONVEX_SHARED_POSTGRES_URL, hide_env_values = true, value_name = "URL")]
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
    }
}

fn server(args: &ServerArgs) -> Result<Database> {
    let input = format!("--server ({})", ev::CODER_CONVEX_SHARED_POSTGRES_URL);
    let raw = args
        .server
        .as_deref()
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            Error::invalid(&input, "no server URL given").with_hint(format!(
                "set {} to the shared server's URL (the template variable shared_postgres_url)",
                ev::CODER_CONVEX_SHARED_POSTGRES_URL
            ))
        })?;
    let db = db_url::normalise(&input, raw)?;
    if db.kind != db_url::DbKind::Postgres {
        return Err(Error::invalid(
            input,
            format!("{} is not a Postgres URL", db.masked()),
        ));
    }
    Ok(db)
}

async fn connect(ctx: &Ctx<'_>, db: &Database) -> Result<preflight::Connection> {
    let ca = ctx.env.pg_ca_file.as_deref().map(Path::new);
    preflight::connect(db, ca)
        .await
        .map_err(DbError::into_error)
}

async fn list(ctx: &Ctx<'_>, args: &ServerArgs) -> Result<Outcome> {
    let db = server(args)?;
    let conn = connect(ctx, &db).await?;
    let databases = shared::list_marked(&conn)
        .await
        .map_err(DbError::into_error)?;
    if !ctx.json {
        if databases.is_empty() {
            ctx.out
                .info(format!("no coder-convex databases on {}", db.masked()));
        }
        for d in &databases {
            ctx.out.data(format!(
                "{}\t{}\t{}",
                d.database, d.workspace_id, d.workspace
            ));
        }
    }
    Ok(Outcome::ok(&ListReport {
        server: db.masked(),
        databases,
    }))
}

async fn drop(ctx: &Ctx<'_>, args: &ServerArgs, name: &str, yes: bool) -> Result<Outcome> {
    let db = server(args)?;
    let conn = connect(ctx, &db).await?;
    let marked = shared::list_marked(&conn)
        .await
        .map_err(DbError::into_error)?;
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
    shared::drop_database(&conn, name)
        .await
        .map_err(DbError::into_error)?;
    ctx.out
        .success(format!("dropped database {name} on {}", db.masked()));
    Ok(Outcome::ok(&DropReport {
        server: db.masked(),
        dropped: found,
    }))
}
