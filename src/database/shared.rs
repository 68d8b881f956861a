//! The shared server's view for its admin (`coder-convex db`), Postgres or MySQL: the
//! databases coder-convex created there (those with a workspace marker: a comment on
//! Postgres, a `coder_convex_workspace` table on MySQL) with their size, connections, last
//! setup and budget; the server's connection limits; and dropping one of them. Creating and
//! marking a workspace's database is the preflight's job.
//!
//! I/O: the shared server.

use serde::Serialize;
use tokio_postgres::error::SqlState;

use crate::database::budget::{self, Capacity, Limits};
use crate::database::failure::{DbError, DbFailure};
use crate::database::preflight::{self, Connection};
use crate::database::url::{Database, DbKind};
use crate::database::{mysql, workspace};

/// A connection to a shared server of either engine.
pub(crate) enum Server {
    Postgres(Connection),
    Mysql(mysql::Connection),
}

/// A database coder-convex created on a shared server.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Marked {
    pub database: String,
    pub workspace_id: String,
    /// `owner/name` when the workspace last ran setup (or when the database was created).
    pub workspace: String,
    /// Size on disk (`None`: the admin may not read it).
    pub size_bytes: Option<u64>,
    /// Connections to it now.
    pub connections: u32,
    /// When its workspace last ran setup (RFC 3339), `None` in a marker from before it was
    /// recorded.
    pub last_setup: Option<String>,
    #[serde(skip)]
    pub last_setup_unix: Option<u64>,
    /// The backend's pool size the workspace last ran with.
    pub budget: Option<u32>,
}

impl Marked {
    fn new(
        database: String,
        marker: &workspace::Marker<'_>,
        size_bytes: Option<u64>,
        connections: u32,
    ) -> Self {
        Self {
            database,
            workspace_id: marker.workspace_id.to_owned(),
            workspace: marker.label.to_owned(),
            size_bytes,
            connections,
            last_setup: marker.stamp.last_setup.map(workspace::rfc3339),
            last_setup_unix: marker.stamp.last_setup,
            budget: marker.stamp.budget,
        }
    }
}

fn reading(
    who: &str,
    what: &str,
    hint: &str,
    e: impl std::error::Error + Send + Sync + 'static,
) -> DbError {
    DbError::new(format!("reading {what} on {who} failed"), hint).caused_by(e)
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

    /// Every database with a coder-convex marker, by name; with `sizes`, the size of each
    /// (`db list`: it reads every database's files, which a start does not need).
    pub(crate) async fn list_marked(&mut self, sizes: bool) -> Result<Vec<Marked>, DbError> {
        let who = self.who();
        match self {
            Self::Postgres(conn) => list_marked(conn, sizes).await.map_err(|e| {
                reading(
                    &who,
                    "the databases",
                    "check that the role may read pg_database",
                    e,
                )
            }),
            Self::Mysql(conn) => {
                let found = mysql::marker::list_marked(&mut conn.conn, sizes)
                    .await
                    .map_err(|e| {
                        reading(
                            &who,
                            "the databases",
                            "check that the user may read information_schema",
                            e,
                        )
                    })?;
                Ok(found
                    .into_iter()
                    .filter_map(|l| {
                        let mut marker = workspace::parse_marker(&l.marker)?;
                        marker.stamp = l.stamp;
                        Some(Marked::new(
                            l.database.clone(),
                            &marker,
                            l.size_bytes,
                            l.connections,
                        ))
                    })
                    .collect())
            }
        }
    }

    /// `max_connections`, the reserved connections and the connections open now.
    pub(crate) async fn limits(&mut self) -> Result<Limits, DbError> {
        let who = self.who();
        let hint = "the figures come from the server's settings and its list of connections";
        match self {
            Self::Postgres(conn) => pg_limits(conn)
                .await
                .map_err(|e| reading(&who, "max_connections", hint, e)),
            Self::Mysql(conn) => mysql::marker::server_limits(&mut conn.conn)
                .await
                .map_err(|e| reading(&who, "max_connections", hint, e)),
        }
    }

    /// Connections to `database` now.
    pub(crate) async fn connections_to(&mut self, database: &str) -> Result<u32, DbError> {
        let who = self.who();
        let hint = "the admin needs to see every connection (Postgres: pg_stat_activity; MySQL: the PROCESS privilege)";
        match self {
            Self::Postgres(conn) => pg_connections(conn, database)
                .await
                .map_err(|e| reading(&who, "the connections", hint, e)),
            Self::Mysql(conn) => mysql::marker::connections_to(&mut conn.conn, database)
                .await
                .map_err(|e| reading(&who, "the connections", hint, e)),
        }
    }

    /// Drop a database coder-convex created (the caller checked it is in
    /// [`Self::list_marked`]), and the workspace's login role (Postgres: named like the
    /// database; MySQL: its `cvx_` user), if there is one (`Ok(Some(problem))` when that
    /// could not be dropped). A database in use is
    /// refused with [`DbFailure::InUse`].
    pub(crate) async fn drop_database(
        &mut self,
        database: &str,
    ) -> Result<Option<String>, DbError> {
        let who = self.who();
        match self {
            Self::Postgres(conn) => {
                drop_pg_database(conn, database).await?;
                Ok(drop_role(conn, database).await)
            }
            Self::Mysql(conn) => {
                mysql::marker::drop_database(&mut conn.conn, database)
                    .await
                    .map_err(|e| {
                        DbError::new(
                            format!("dropping database {database:?} on {who} failed"),
                            "use the user that created it (it needs DROP on the database)",
                        )
                        .caused_by(e)
                    })?;
                let user = mysql::user::user_for(database);
                Ok(mysql::user::drop_user(conn, &user).await.err().map(|e| {
                    format!(
                        "user {user:?} on {who} was not dropped: {}",
                        crate::database::failure::describe(&e)
                    )
                }))
            }
        }
    }

    /// The server's capacity at `budget`, the database `own` counted even before it exists
    /// (over its own connection, closed before it returns).
    pub(crate) async fn capacity(
        db: &Database,
        opts: preflight::Options<'_>,
        own: &str,
        budget: u32,
    ) -> Result<Capacity, DbError> {
        let mut server = Self::connect(db, opts).await?;
        let found = server.survey(false).await;
        server.close().await;
        let (marked, limits) = found?;
        Ok(capacity_of(&marked, limits, own, budget))
    }

    /// The marked databases (with `sizes`, their sizes) and the server's limits, over this
    /// connection.
    pub(crate) async fn survey(&mut self, sizes: bool) -> Result<(Vec<Marked>, Limits), DbError> {
        let marked = self.list_marked(sizes).await?;
        let limits = self.limits().await?;
        Ok((marked, limits))
    }

    /// End the connection and wait until it has ended, so the next one a caller opens is the
    /// only one it holds.
    pub(crate) async fn close(self) {
        match self {
            Self::Postgres(conn) => conn.close().await,
            Self::Mysql(conn) => conn.close().await,
        }
    }
}

/// The capacity at `budget` of a server with `limits` holding `marked`, the database `own`
/// counted even before it exists.
pub(crate) fn capacity_of(marked: &[Marked], limits: Limits, own: &str, budget: u32) -> Capacity {
    let mut budgets: Vec<Option<u32>> = marked.iter().map(|d| d.budget).collect();
    if !marked.iter().any(|d| d.database == own) {
        budgets.push(Some(budget));
    }
    budget::capacity(limits, &budgets, budget)
}

/// Every Postgres database with a coder-convex marker, by name, with its size (when asked
/// and the admin may connect to it) and connections.
async fn list_marked(conn: &Connection, sizes: bool) -> Result<Vec<Marked>, tokio_postgres::Error> {
    let rows = conn
        .client
        .query(
            "SELECT d.datname::text, shobj_description(d.oid, 'pg_database'), \
                    CASE WHEN $2 AND has_database_privilege(d.oid, 'CONNECT') THEN pg_database_size(d.oid) END, \
                    (SELECT count(*) FROM pg_stat_activity a WHERE a.datid = d.oid)::int \
             FROM pg_database d \
             WHERE shobj_description(d.oid, 'pg_database') LIKE $1 ORDER BY d.datname",
            &[&format!("{}%", workspace::MARKER_PREFIX), &sizes],
        )
        .await?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let comment: String = row.get(1);
            let marker = workspace::parse_marker(&comment)?;
            let size: Option<i64> = row.get(2);
            let connections: i32 = row.get(3);
            Some(Marked::new(
                row.get(0),
                &marker,
                size.and_then(|s| u64::try_from(s).ok()),
                u32::try_from(connections).unwrap_or(0),
            ))
        })
        .collect())
}

/// `reserved_connections` is new in Postgres 16; `current_setting(…, true)` is NULL before.
async fn pg_limits(conn: &Connection) -> Result<Limits, tokio_postgres::Error> {
    let row = conn
        .client
        .query_one(
            "SELECT current_setting('max_connections')::int, \
                    current_setting('superuser_reserved_connections')::int \
                      + coalesce(current_setting('reserved_connections', true), '0')::int, \
                    (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')::int",
            &[],
        )
        .await?;
    let n = |i: usize| u32::try_from(row.get::<_, i32>(i)).unwrap_or(0);
    Ok(Limits {
        max_connections: n(0),
        reserved: n(1),
        in_use: n(2),
    })
}

async fn pg_connections(conn: &Connection, database: &str) -> Result<u32, tokio_postgres::Error> {
    let row = conn
        .client
        .query_one(
            "SELECT count(*)::int FROM pg_stat_activity WHERE datname = $1",
            &[&database],
        )
        .await?;
    Ok(u32::try_from(row.get::<_, i32>(0)).unwrap_or(0))
}

/// Drop a Postgres database coder-convex created. Without `FORCE`, Postgres refuses one
/// that has connections.
async fn drop_pg_database(conn: &Connection, database: &str) -> Result<(), DbError> {
    match conn
        .client
        .batch_execute(&format!(
            "DROP DATABASE {}",
            preflight::quote_ident(database)
        ))
        .await
    {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some(&SqlState::OBJECT_IN_USE) => Err(DbError::new(
            format!(
                "database {database:?} on {} is in use; not dropped",
                conn.who
            ),
            "stop the workspace (its backend holds the connections) and run it again",
        )
        .kind(DbFailure::InUse)
        .caused_by(e)),
        Err(e) => Err(DbError::new(
            format!("dropping database {database:?} on {} failed", conn.who),
            "use the role that created it (or a superuser)",
        )
        .caused_by(e)),
    }
}

/// Drop the workspace's login role (named like its database), if there is one; a problem is
/// returned to be reported, not failed on: the data is gone either way.
async fn drop_role(conn: &Connection, database: &str) -> Option<String> {
    match conn
        .client
        .batch_execute(&format!(
            "DROP ROLE IF EXISTS {}",
            preflight::quote_ident(database)
        ))
        .await
    {
        Ok(()) => None,
        Err(e) => Some(format!(
            "role {database:?} on {} was not dropped: {}",
            conn.who,
            crate::database::failure::describe(&e)
        )),
    }
}
