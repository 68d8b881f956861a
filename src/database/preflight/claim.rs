//! Postgres's workspace marker on a database (`COMMENT ON DATABASE`): read it, claim the
//! database for a workspace, and record when the workspace last ran `setup` and its budget.
//!
//! I/O: the Postgres server.

use crate::database::failure::DbError;
use crate::database::workspace::{self, Stamp, Workspace};

/// The marker on `database`, if any.
pub(crate) async fn marker_of(
    client: &tokio_postgres::Client,
    database: &str,
) -> Result<Option<String>, tokio_postgres::Error> {
    let rows = client
        .query(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = $1",
            &[&database],
        )
        .await?;
    Ok(rows.first().and_then(|row| row.get::<_, Option<String>>(0)))
}

/// Make sure `database` is this workspace's, and record `stamp` in its marker. `Ok(true)`
/// when it was marked (or relabelled after a claim or a rename) now; refused when another workspace's marker is on it. `best_effort`
/// (an external database): a role that may not read or write the marker leaves the database
/// as it is. Recording the stamp on a database already marked never fails the preflight: it
/// is for the admin's listing, not for the backend.
pub(crate) async fn claim(
    client: &tokio_postgres::Client,
    database: &str,
    workspace: &Workspace,
    best_effort: bool,
    stamp: Option<Stamp>,
    who: &str,
) -> Result<bool, DbError> {
    let failed = |e: tokio_postgres::Error| {
        DbError::new(
            format!("reading the marker of database {database:?} on {who} failed"),
            "check that the role may read pg_database",
        )
        .caused_by(e)
    };
    let comment = match marker_of(client, database).await {
        Ok(comment) => comment,
        Err(e) if best_effort => {
            tracing::debug!("the marker of {database:?} on {who} is not readable: {e}");
            return Ok(false);
        }
        Err(e) => return Err(failed(e)),
    };
    let relabel = match workspace.claim_of(comment.as_deref()) {
        workspace::Claim::Other(found) => {
            let (message, hint) = workspace.refusal(database, who, &found, best_effort);
            return Err(DbError::new(message, hint));
        }
        workspace::Claim::Unmarked => false,
        workspace::Claim::Ours if stamp.is_none() => return Ok(false),
        workspace::Claim::Ours => {
            if let Some(stamp) = stamp
                && let Err(e) = comment_on(client, database, &workspace.stamped_marker(stamp)).await
            {
                tracing::warn!("recording the last setup of {database:?} on {who} failed: {e}");
            }
            return Ok(false);
        }
        // A claimed prebuild or a renamed workspace: its database, under the new name.
        workspace::Claim::Relabel => true,
    };
    // No marker (a database this workspace just created, or one made by hand for it), or
    // this workspace's under an older label.
    let marker = workspace.stamped_marker(stamp.unwrap_or_default());
    match comment_on(client, database, &marker).await {
        Ok(()) => Ok(true),
        // A label is for people (`db list`): the id in the old one still says whose it is.
        Err(e) if best_effort || relabel => {
            tracing::debug!("the marker of {database:?} on {who} was not written: {e}");
            Ok(false)
        }
        Err(e) => Err(DbError::new(
            format!("marking database {database:?} on {who} as this workspace's failed"),
            "the role in the shared URL must own the database (it does when it created it)",
        )
        .caused_by(e)),
    }
}

async fn comment_on(
    client: &tokio_postgres::Client,
    database: &str,
    marker: &str,
) -> Result<(), tokio_postgres::Error> {
    // COMMENT takes no parameters; the marker is quoted as a literal.
    let literal = marker.replace('\'', "''");
    client
        .batch_execute(&format!(
            "COMMENT ON DATABASE \"{database}\" IS '{literal}'"
        ))
        .await
}
