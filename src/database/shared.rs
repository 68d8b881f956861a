//! The shared server's view for its admin (`coder-convex db`), Postgres or MySQL: the
//! databases coder-convex created there (those with a workspace marker: a comment on
//! Postgres, a `coder_convex_workspace` table on MySQL) and dropping one of them. Creating
//! and marking a workspace's database is the preflight's job.
//!
//! I/O: the shared server.

use serde::Serialize;

use crate::database::failure::DbError;
use crate::database::preflight::{self, Connection};
use crate::database::url::{Database, DbKind};
use crate::database::{mysql, workspace};

/// A connection to a shared server of either engine.
pub(crate) enum Server {
    Postgres(Connection),
    Mysql(mysql::Connection),
}

impl Server {
    pub(crate) async fn connect(
        db: &Database,
        opts: preflight::Options<'_>,
    ) -> Result<Self, DbError> {
        match db.kind {
            DbKind::Postgres => preflight::connect(db, opts.pg_ca_file)
                .await
                .map(Self::Postgres),
            DbKind::Mysql => mysql::connect(db, opts.mysql_ca_file)
                .await
                .map(Self::Mysql),
        }
    }

    fn who(&self) -> String {
        match self {
            Self::Postgres(c) => c.who.clone(),
            Self::Mysql(c) => c.who.clone(),
        }
    }

    pub(crate) async fn list_marked(&mut self) -> Result<Vec<Marked>, DbError> {
        match self {
            Self::Postgres(conn) => list_marked(conn).await,
            Self::Mysql(conn) => {
                let found = mysql::list_marked(conn).await.map_err(|e| {
                    DbError::new(
                        format!("listing the databases on {} failed", conn.who),
                        "check that the user may read information_schema",
                    )
                    .caused_by(e)
                })?;
                Ok(found
                    .iter()
                    .filter_map(|(database, marker)| {
                        let marker = workspace::parse_marker(marker)?;
                        Some(Marked {
                            database: database.clone(),
                            workspace_id: marker.workspace_id.to_owned(),
                            workspace: marker.label.to_owned(),
                        })
                    })
                    .collect())
            }
        }
    }

    /// Drop a database coder-convex created (the caller checked it is in [`Self::list_marked`]).
    pub(crate) async fn drop_database(&mut self, database: &str) -> Result<(), DbError> {
        let who = self.who();
        match self {
            Self::Postgres(conn) => drop_database(conn, database).await,
            Self::Mysql(conn) => mysql::drop_database(conn, database).await.map_err(|e| {
                DbError::new(
                    format!("dropping database {database:?} on {who} failed"),
                    "use the user that created it (it needs DROP on the database)",
                )
                .caused_by(e)
            }),
        }
    }

    pub(crate) async fn close(self) {
        if let Self::Mysql(conn) = self {
            conn.close().await;
        }
    }
}

/// A database coder-convex created on a shared server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Marked {
    pub database: String,
    pub workspace_id: String,
    /// `owner/name` when the database was created.
    pub workspace: String,
}

/// Every Postgres database with a coder-convex marker, by name.
async fn list_marked(conn: &Connection) -> Result<Vec<Marked>, DbError> {
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

/// Drop a Postgres database coder-convex created.
async fn drop_database(conn: &Connection, database: &str) -> Result<(), DbError> {
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
