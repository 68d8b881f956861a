//! The shared Postgres server's view for its admin (`coder-convex db`): the databases
//! coder-convex created there (those with a workspace marker) and dropping one of them.
//! Creating and marking a workspace's database is the preflight's job (`postgres`).
//!
//! I/O: the shared Postgres server.

use serde::Serialize;

use crate::database::failure::DbError;
use crate::database::preflight::Connection;
use crate::database::workspace;

/// A database coder-convex created on a shared server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Marked {
    pub database: String,
    pub workspace_id: String,
    /// `owner/name` when the database was created.
    pub workspace: String,
}

/// Every database on the server with a coder-convex marker, by name.
pub(crate) async fn list_marked(conn: &Connection) -> Result<Vec<Marked>, DbError> {
    let rows = conn
        .client
        .query(
            "SELECT datname::text, shobj_description(oid, 'pg_database') FROM pg_database \
             WHERE shobj_description(oid, 'pg_database') LIKE $1 ORDER BY datname",
            &[&format!("{}%", workspace::MARKER_PREFIX)],
        )
        .await
        .map_err(|e| {
            DbError::new(
                format!("listing the databases on {} failed", conn.who),
                "check that the role may read pg_database",
            )
            .caused_by(e)
        })?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let comment: String = row.get(1);
            let marker = workspace::parse_marker(&comment)?;
            Some(Marked {
                database: row.get(0),
                workspace_id: marker.workspace_id.to_owned(),
                workspace: marker.label.to_owned(),
            })
        })
        .collect())
}

/// Drop a database coder-convex created (the caller checked that it is in [`list_marked`]).
pub(crate) async fn drop_database(conn: &Connection, database: &str) -> Result<(), DbError> {
    // Names in list_marked come from pg_database; quote as an identifier, doubling quotes.
    let ident = database.replace('"', "\"\"");
    conn.client
        .batch_execute(&format!("DROP DATABASE \"{ident}\""))
        .await
        .map_err(|e| {
            DbError::new(
                format!("dropping database {database:?} on {} failed", conn.who),
                "stop the workspace's backend first (a database in use cannot be dropped), and use the role that created it",
            )
            .caused_by(e)
        })
}
