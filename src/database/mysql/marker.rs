//! MySQL's workspace marker on a shared server: the one-row table `coder_convex_workspace`
//! in the workspace's database (MySQL has no `COMMENT ON DATABASE`), with the workspace, when
//! it last ran `setup` and its connection budget; and what the admin's `db` commands read
//! there (sizes, connections, the server's limits) and drop.
//!
//! The table lives in the workspace's database, so it goes when the database is dropped; the
//! backend ignores tables it did not create (it only counts them, to skip its
//! `CREATE TABLE IF NOT EXISTS` once its own exist). A table from before the stamp existed
//! gains its columns on the next preflight.
//!
//! I/O: the MySQL server.

use mysql_async::Conn;
use mysql_async::prelude::Queryable as _;

use crate::database::budget::Limits;
use crate::database::failure::DbError;
use crate::database::steps::Stage;
use crate::database::workspace::{self, Stamp, Workspace};

pub(crate) const MARKER_TABLE: &str = "coder_convex_workspace";
/// `ER_DUP_FIELDNAME`: two preflights of one workspace both added the column.
const ER_DUP_FIELDNAME: u16 = 1060;
/// The columns of the stamp, in the order a table from before them gains them.
const STAMP_COLUMNS: [(&str, &str); 2] = [("last_setup", "DATETIME NULL"), ("budget", "INT NULL")];

type Failed = (Stage, DbError);

/// A marked database as `db list` shows it.
pub(crate) struct Listed {
    pub(crate) database: String,
    pub(crate) marker: String,
    pub(crate) stamp: Stamp,
    pub(crate) size_bytes: Option<u64>,
    pub(crate) connections: u32,
}

/// What the marker table holds: the marker, the stamp, and whether the table has the
/// stamp's columns yet.
struct Row {
    marker: String,
    stamp: Stamp,
    stamped_table: bool,
}

/// The marker in `database`, if the marker table is there.
async fn marker_of(conn: &mut Conn, database: &str) -> Result<Option<Row>, mysql_async::Error> {
    let columns: Vec<String> = conn
        .exec(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
            (database, MARKER_TABLE),
        )
        .await?;
    if columns.is_empty() {
        return Ok(None);
    }
    let stamped_table = STAMP_COLUMNS
        .iter()
        .all(|(name, _)| columns.iter().any(|c| c.eq_ignore_ascii_case(name)));
    if !stamped_table {
        let marker: Option<String> = conn
            .query_first(format!(
                "SELECT marker FROM `{database}`.`{MARKER_TABLE}` LIMIT 1"
            ))
            .await?;
        return Ok(marker.map(|marker| Row {
            marker,
            stamp: Stamp::default(),
            stamped_table,
        }));
    }
    let row: Option<(String, Option<String>, Option<u32>)> = conn
        .query_first(format!(
            "SELECT marker, DATE_FORMAT(last_setup, '%Y-%m-%dT%H:%i:%sZ'), budget FROM `{database}`.`{MARKER_TABLE}` LIMIT 1"
        ))
        .await?;
    Ok(row.map(|(marker, at, budget)| Row {
        marker,
        stamp: Stamp {
            last_setup: at.as_deref().and_then(workspace::parse_rfc3339),
            budget,
        },
        stamped_table,
    }))
}

/// `2026-12-05 03:21:55`, the DATETIME literal for a time in Unix seconds (UTC).
fn datetime(unix_s: u64) -> String {
    workspace::rfc3339(unix_s)
        .trim_end_matches('Z')
        .replace('T', " ")
}

/// Make sure `database` is this workspace's (`Ok(true)`: marked, or relabelled after a claim
/// or a rename, now), and record `stamp`.
/// `best_effort` (an external database): a user that may not read or write the marker
/// leaves it as it is. Recording the stamp on a database already marked never fails the
/// preflight: it is for the admin's listing, not for the backend.
pub(super) async fn claim(
    conn: &mut Conn,
    database: &str,
    ws: &Workspace,
    best_effort: bool,
    stamp: Option<Stamp>,
    who: &str,
) -> Result<bool, Failed> {
    let failed = |what: &str, e: mysql_async::Error| {
        (
            Stage::Database,
            DbError::new(
                format!("{what} of database {database:?} on {who} failed"),
                "the user in the shared URL must be able to create tables in the databases it creates",
            )
            .caused_by(e),
        )
    };
    let row = match marker_of(conn, database).await {
        Ok(row) => row,
        Err(e) if best_effort => {
            tracing::debug!("the marker of {database:?} on {who} is not readable: {e}");
            return Ok(false);
        }
        Err(e) => return Err(failed("reading the marker", e)),
    };
    let stamped_table = row.as_ref().is_some_and(|r| r.stamped_table);
    match ws.claim_of(row.as_ref().map(|r| r.marker.as_str())) {
        workspace::Claim::Unmarked => {}
        workspace::Claim::Other(found) => {
            let (message, hint) = ws.refusal(database, who, &found, best_effort);
            return Err((Stage::Database, DbError::new(message, hint)));
        }
        workspace::Claim::Ours if stamp.is_none() => return Ok(false),
        // Ours, perhaps under an older owner/name (a claimed prebuild, a renamed workspace):
        // the label is rewritten with the stamp. It is for people (`db list`); the id still
        // says whose it is, so a failure here never fails the preflight.
        claim @ (workspace::Claim::Ours | workspace::Claim::Relabel) => {
            let written = restamp(conn, database, ws, stamp, stamped_table).await;
            if let Err(e) = &written {
                tracing::warn!("recording the last setup of {database:?} on {who} failed: {e}");
            }
            return Ok(claim == workspace::Claim::Relabel && written.is_ok());
        }
    }
    let stamp = stamp.unwrap_or_default();
    let columns: Vec<String> = STAMP_COLUMNS
        .iter()
        .map(|(name, ty)| format!(", {name} {ty}"))
        .collect();
    let table = format!(
        "CREATE TABLE IF NOT EXISTS `{database}`.`{MARKER_TABLE}` (marker VARCHAR(512) NOT NULL{})",
        columns.concat()
    );
    let marking = async {
        conn.query_drop(&table).await?;
        conn
            .exec_drop(
                format!(
                    "INSERT INTO `{database}`.`{MARKER_TABLE}` (marker, last_setup, budget) VALUES (?, ?, ?)"
                ),
                (ws.marker(), stamp.last_setup.map(datetime), stamp.budget),
            )
            .await
    };
    match marking.await {
        Ok(()) => Ok(true),
        Err(e) if best_effort => {
            tracing::debug!("database {database:?} on {who} left unmarked: {e}");
            Ok(false)
        }
        Err(e) => Err(failed("marking", e)),
    }
}

/// Add the stamp's columns to a table from before them, then record the stamp (and the
/// workspace's current owner/name). Without a stamp, only the owner/name.
async fn restamp(
    conn: &mut Conn,
    database: &str,
    ws: &Workspace,
    stamp: Option<Stamp>,
    stamped_table: bool,
) -> Result<(), mysql_async::Error> {
    let Some(stamp) = stamp else {
        let sql = format!("UPDATE `{database}`.`{MARKER_TABLE}` SET marker = ?");
        return conn.exec_drop(sql, (ws.marker(),)).await;
    };
    if !stamped_table {
        for (name, ty) in STAMP_COLUMNS {
            let add = format!("ALTER TABLE `{database}`.`{MARKER_TABLE}` ADD COLUMN {name} {ty}");
            match conn.query_drop(add).await {
                Err(mysql_async::Error::Server(e)) if e.code == ER_DUP_FIELDNAME => {}
                other => other?,
            }
        }
    }
    conn.exec_drop(
        format!("UPDATE `{database}`.`{MARKER_TABLE}` SET marker = ?, last_setup = ?, budget = ?"),
        (ws.marker(), stamp.last_setup.map(datetime), stamp.budget),
    )
    .await
}

/// The databases with a marker table: each one's marker, stamp, size (with `sizes`) and
/// connections.
pub(crate) async fn list_marked(
    conn: &mut Conn,
    sizes: bool,
) -> Result<Vec<Listed>, mysql_async::Error> {
    let databases: Vec<String> = conn
        .exec(
            "SELECT TABLE_SCHEMA FROM information_schema.TABLES WHERE TABLE_NAME = ? ORDER BY TABLE_SCHEMA",
            (MARKER_TABLE,),
        )
        .await?;
    let mut out = Vec::new();
    for database in databases {
        let Some(row) = marker_of(conn, &database).await? else {
            continue;
        };
        let size: Option<u64> = if sizes {
            conn.exec_first(
                "SELECT CAST(SUM(DATA_LENGTH + INDEX_LENGTH) AS UNSIGNED) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
                (&database,),
            )
            .await?
            .flatten()
        } else {
            None
        };
        let connections = connections_to(conn, &database).await?;
        out.push(Listed {
            database,
            marker: row.marker,
            stamp: row.stamp,
            size_bytes: size,
            connections,
        });
    }
    Ok(out)
}

/// Connections using `database` now (all of them with the PROCESS privilege; without it,
/// the user's own).
pub(crate) async fn connections_to(
    conn: &mut Conn,
    database: &str,
) -> Result<u32, mysql_async::Error> {
    let n: Option<u32> = conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = ?",
            (database,),
        )
        .await?;
    Ok(n.unwrap_or(0))
}

/// `max_connections` and the connections open now. MySQL and MariaDB keep one connection
/// beyond `max_connections` for an admin (SUPER or CONNECTION_ADMIN), so none of
/// `max_connections` is reserved.
pub(crate) async fn server_limits(conn: &mut Conn) -> Result<Limits, mysql_async::Error> {
    let max: Option<u32> = conn.query_first("SELECT @@global.max_connections").await?;
    let in_use: Option<(String, u32)> = conn
        .query_first("SHOW GLOBAL STATUS LIKE 'Threads_connected'")
        .await?;
    Ok(Limits {
        max_connections: max.unwrap_or(0),
        reserved: 0,
        in_use: in_use.map_or(0, |(_, n)| n),
    })
}

pub(crate) async fn drop_database(
    conn: &mut Conn,
    database: &str,
) -> Result<(), mysql_async::Error> {
    let ident = database.replace('`', "``");
    conn.query_drop(format!("DROP DATABASE `{ident}`")).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn datetimes_are_utc_literals() {
        assert_eq!(super::datetime(1_796_441_000), "2026-12-05 03:23:20");
        assert_eq!(super::datetime(0), "1970-01-01 00:00:00");
    }
}
