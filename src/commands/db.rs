//! `coder-convex db`: the shared server's databases (Postgres or MySQL) for its admin. `list` shows the
//! databases coder-convex created (those with a workspace marker) and the workspace of each,
//! so the databases of deleted workspaces can be found; `drop` removes one, only with `--yes`
//! and only a database with a marker.
//!
//! I/O: the shared server.

use serde::Serialize;

use crate::database::failure::DbError;
use crate::database::preflight;
use crate::database::shared::{Marked, Server};
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
    /// Create this workspace's database and its own login role, and write the backend's
    /// settings to a file (the template's provisioner runs it with the admin URL).
    Provision(super::db_provision::Args),
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
    let db = db_url::normalise(&input, raw)?;
    if input == ev::CODER_CONVEX_SHARED_POSTGRES_URL && db.kind != db_url::DbKind::Postgres {
        return Err(
            Error::invalid(input, format!("{} is not a Postgres URL", db.masked())).with_hint(
                format!(
                    "a shared MySQL server goes in {}",
                    ev::CODER_CONVEX_SHARED_DATABASE_URL
                ),
            ),
        );
    }
    Ok(db)
}

async fn connect(ctx: &Ctx<'_>, db: &Database) -> Result<Server> {
    Server::connect(db, preflight::Options::new(ctx.env, db))
        .await
        .map_err(DbError::into_error)
}

async fn list(ctx: &Ctx<'_>, args: &ServerArgs) -> Result<Outcome> {
    let db = server(ctx, args)?;
    let mut conn = connect(ctx, &db).await?;
    let databases = conn.list_marked().await.map_err(DbError::into_error);
    conn.close().await;
    let databases = databases?;
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
    let db = server(ctx, args)?;
    let mut conn = connect(ctx, &db).await?;
    let marked = conn.list_marked().await.map_err(DbError::into_error)?;
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
    let dropped = conn.drop_database(name).await.map_err(DbError::into_error);
    conn.close().await;
    dropped?;
    ctx.out
        .success(format!("dropped database {name} on {}", db.masked()));
    Ok(Outcome::ok(&DropReport {
        server: db.masked(),
        dropped: found,
    }))
}
