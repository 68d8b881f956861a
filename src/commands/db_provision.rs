//! `coder-convex db provision --out FILE`: run by the template's provisioner (a one-shot
//! container, or an init container), the only place that holds the shared server's admin URL.
//! It creates and marks the workspace's database (the preflight `setup` runs), gives it a
//! login role (MySQL: user) of its own with a fresh password, and writes what the backend
//! needs — its `POSTGRES_URL` or `MYSQL_URL`, the pool size, the TLS settings — to FILE (0600),
//! which only the backend's container mounts. The workspace runs `setup` with
//! `CODER_CONVEX_SHARED_DATABASE=provisioned` and never sees either password.
//!
//! I/O: the shared server, FILE.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::shared_db;
use crate::database::budget::Capacity;
use crate::database::failure::{DbError, DbFailure};
use crate::database::url::{Database, DbKind};
use crate::database::workspace::Stamp;
use crate::database::{preflight, role};
use crate::deadline::Deadline;
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::project::{dotenv, file_io};

use super::context::{Ctx, Outcome};

/// The flags of `db provision`. The admin URL comes from the environment only: a flag's
/// value is visible in `ps`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// Where to write the backend's database settings (mode 0600, rewritten on every run:
    /// the role's password changes each time).
    #[arg(long, value_name = "FILE")]
    out: PathBuf,
    /// Seconds the whole run may take: a server with no connection to spare ("too many
    /// clients") is retried until then.
    #[arg(long, env = ev::CODER_CONVEX_WAIT, value_name = "SECS", default_value_t = 120)]
    wait: u64,
}

#[derive(Serialize)]
struct Report {
    server: String,
    database: String,
    instance_name: String,
    role: String,
    created: bool,
    role_created: bool,
    /// Objects of an older database handed from the admin role to the workspace's role.
    migrated: Vec<String>,
    connections: u32,
    out: String,
    /// The server's capacity at this budget, read before the database was made.
    capacity: Capacity,
}

pub(crate) async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let deadline = Deadline::after_secs(args.wait, "--wait");
    let (var, admin) = admin_url(ctx)?;
    let ws = shared_db::required_workspace(ctx.env, var)?;
    let connections = shared_db::connection_budget(ctx.env)?;
    // Each start's provision is the workspace's "last setup" for `db list` and `db prune`.
    let stamp = Stamp {
        last_setup: Some(crate::clock::unix_now()),
        budget: Some(connections),
    };
    let opts = preflight::Options::new(ctx.env, &admin)
        .retry_busy_until(&deadline)
        .stamp(Some(stamp));
    let done = tokio::time::timeout(
        deadline.remaining(),
        role::provision(&admin, &ws, opts, connections),
    )
    .await
    .map_err(|_| {
        DbError::new(
            format!(
                "{} did not answer before the deadline ({deadline})",
                admin.masked()
            ),
            "check that the server is up and reachable from the provisioner, or raise --wait",
        )
        .kind(DbFailure::Unreachable)
        .into_error()
    })?
    .map_err(DbError::into_error)?;

    let content = settings(&done.url, connections)?;
    file_io::write_if_changed(&args.out, None, &content, file_io::SECRET_MODE)?;

    let out = ctx.out;
    if done.created {
        out.success(format!(
            "created database {} on {}",
            done.database,
            admin.masked()
        ));
    }
    let (what, verb, scope) = match admin.kind {
        DbKind::Postgres => (
            "role",
            "created",
            "owns database {} only; PUBLIC may not connect",
        ),
        DbKind::Mysql => ("user", "created", "may use database {} only"),
    };
    let verb = if done.role_created {
        verb
    } else {
        "set a new password for"
    };
    out.success(format!(
        "{verb} {what} {} ({})",
        done.role,
        scope.replace("{}", &done.database)
    ));
    if !done.migrated.is_empty() {
        out.success(format!(
            "handed {} object(s) of the older database to its role",
            done.migrated.len()
        ));
    }
    out.success(format!(
        "wrote {} ({} as {}, {connections} connections)",
        args.out.display(),
        admin.kind.backend_var(),
        done.url.masked()
    ));
    // The admin's early warning, in the build log: the workspace cannot read the server's
    // figures itself (it has no admin URL), and a full server fails the next start.
    say_capacity(out, &done.capacity);
    Ok(Outcome::ok(&Report {
        server: admin.masked(),
        role: done.role,
        database: done.database,
        instance_name: done.instance_name,
        created: done.created,
        role_created: done.role_created,
        migrated: done.migrated,
        connections,
        out: args.out.display().to_string(),
        capacity: done.capacity,
    }))
}

/// The capacity line: a warning, with the fixes, when the server is full or over-committed.
/// Also `db list`'s.
pub(super) fn say_capacity(out: &Output, capacity: &Capacity) {
    match capacity.hint() {
        None => out.info(format!("capacity: {}", capacity.summary())),
        Some(hint) => out.warn(format!("capacity: {}; {hint}", capacity.summary())),
    }
}

/// The file's text: the backend's URL (its own user, no database path), its pool size and
/// the TLS settings shared mode writes into `.env.convex.local` otherwise.
fn settings(url: &Database, connections: u32) -> Result<String> {
    let (url_var, pool_var) = match url.kind {
        DbKind::Postgres => (ev::POSTGRES_URL, ev::POSTGRES_MAX_CONNECTIONS),
        DbKind::Mysql => (ev::MYSQL_URL, ev::MYSQL_MAX_CONNECTIONS),
    };
    let mut entries = vec![
        (url_var, url.expose_url().to_owned()),
        (pool_var, connections.to_string()),
    ];
    if url.do_not_require_ssl {
        entries.push((ev::DO_NOT_REQUIRE_SSL, "1".to_owned()));
    }
    if let Some(ca) = &url.ca_file {
        entries.push((ev::MYSQL_CA_FILE, ca.clone()));
    }
    let mut lines = vec![
        "# Written by `coder-convex db provision` on every start (the password changes each time): the backend's own database user.".to_owned(),
    ];
    for (key, value) in &entries {
        lines.push(dotenv::render(key, value).map_err(|why| Error::invalid(*key, why))?);
    }
    Ok(lines.join("\n") + "\n")
}

/// The admin URL, from the variables the template gives the provisioner.
fn admin_url(ctx: &Ctx<'_>) -> Result<(&'static str, Database)> {
    let env = ctx.env;
    let (var, raw) = match (
        env.coder_convex_shared_database_url.as_deref(),
        env.coder_convex_shared_postgres_url.as_deref(),
    ) {
        (Some(raw), _) => (ev::CODER_CONVEX_SHARED_DATABASE_URL, raw),
        (None, Some(raw)) => (ev::CODER_CONVEX_SHARED_POSTGRES_URL, raw),
        (None, None) => {
            return Err(Error::invalid(ev::CODER_CONVEX_SHARED_DATABASE_URL, "is not set")
                .with_hint(format!(
                    "the provisioner gets the shared server's admin URL in {} (or {}); it is never a flag",
                    ev::CODER_CONVEX_SHARED_DATABASE_URL,
                    ev::CODER_CONVEX_SHARED_POSTGRES_URL
                )));
        }
    };
    let db = shared_db::server_url(var, raw)?;
    Ok((var, db))
}
