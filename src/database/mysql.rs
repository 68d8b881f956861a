//! MySQL's preflight (README "MySQL"): connect with the backend's own driver (`mysql_async`,
//! rustls) the way the backend will — the same URL with `require_ssl=true&verify_ca=true`
//! appended unless `DO_NOT_REQUIRE_SSL`, the same CA file, the same user — then check, in
//! order, that the server can host Convex (not read-only, has the collation the backend's
//! tables use) before anything is created on it; then the instance database (created with
//! `create`), then that the user may create tables in it. Does network I/O.
//!
//! The decisions (collation, error kinds) are pure functions in [`verdict`].

use std::path::Path;

use mysql_async::prelude::Queryable as _;
use mysql_async::{Conn, Opts, OptsBuilder, SslOpts};

use super::failure::{CONNECT_TIMEOUT, DbError, DbFailure, target};
use super::steps::{Preflight, Stage, Steps};
use super::url::Database;
use super::workspace::{Stamp, Workspace};

pub(crate) mod marker;
pub(crate) mod user;
pub(crate) mod verdict;

use verdict::{ER_DB_CREATE_EXISTS, classify, collation_verdict, is_denied};

/// Created and dropped again to prove the user may create tables.
const PROBE_TABLE: &str = "coder_convex_probe";
/// The backend creates its tables while the database holds fewer than this many.
const BACKEND_TABLES: i64 = 5;

/// A connection made the way the backend connects.
pub(crate) struct Connection {
    pub(crate) conn: Conn,
    pub(crate) who: String,
    pub(crate) tls: bool,
}

impl Connection {
    pub(crate) async fn close(self) {
        // A failed goodbye changes nothing for the checks already made.
        let _ = self.conn.disconnect().await;
    }
}

/// The URL the backend hands its driver: TLS required and verified unless the flag is set.
pub(crate) fn backend_url(db: &Database) -> String {
    let url = db.expose_url();
    if db.do_not_require_ssl {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}require_ssl=true&verify_ca=true")
}

pub(crate) async fn connect(db: &Database, ca_file: Option<&Path>) -> Result<Connection, DbError> {
    let who = target(db);
    let opts = Opts::from_url(&backend_url(db)).map_err(|e| {
        DbError::new(
            format!("the MySQL driver cannot use the URL for {who}"),
            "check the URL's query parameters: the backend's driver (mysql_async) refuses unknown ones",
        )
        .caused_by(e)
    })?;
    let tls = opts.ssl_opts().is_some();
    let mut builder = OptsBuilder::from_opts(opts)
        // The backend runs in a container: it never switches to the server's unix socket.
        .prefer_socket(false);
    if tls && let Some(ca) = ca_file {
        let ssl = SslOpts::default().with_root_certs(vec![ca.to_path_buf().into()]);
        builder = builder.ssl_opts(ssl);
    }
    let connecting = Conn::new(builder);
    let conn = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            let mut kind = classify(&e);
            if kind == DbFailure::Authentication && !tls && requires_tls(&backend_url(db)).await {
                kind = DbFailure::Tls;
            }
            if matches!(&e, mysql_async::Error::Server(s) if s.code == verdict::ER_CON_COUNT) {
                return Err(DbError::new(
                    format!("MySQL at {who} has no connection to spare"),
                    "the server is at max_connections: wait (--wait) for other workspaces to start, lower CODER_CONVEX_DB_CONNECTIONS, or raise max_connections on the server",
                )
                .busy()
                .caused_by(e));
            }
            let (message, hint) = verdict::connect_message(kind, &who, tls);
            return Err(DbError::new(message, hint).kind(kind).caused_by(e));
        }
        Err(_) => {
            return Err(DbError::new(
                format!(
                    "no answer from MySQL at {who} within {}s",
                    CONNECT_TIMEOUT.as_secs()
                ),
                "check the host, port and firewall",
            )
            .kind(DbFailure::Unreachable));
        }
    };
    Ok(Connection { conn, who, tls })
}

/// MariaDB answers a plain connection under `require_secure_transport` with "access
/// denied", like a wrong password. Whether the same login passes over TLS (certificate not
/// checked: this only tells the two apart, and the password already went in the clear)
/// says which it is.
async fn requires_tls(url: &str) -> bool {
    let Ok(opts) = Opts::from_url(url) else {
        return false;
    };
    let ssl = SslOpts::default()
        .with_danger_accept_invalid_certs(true)
        .with_danger_skip_domain_validation(true);
    let builder = OptsBuilder::from_opts(opts)
        .prefer_socket(false)
        .ssl_opts(ssl);
    match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(builder)).await {
        Ok(Ok(conn)) => {
            let _ = conn.disconnect().await;
            true
        }
        _ => false,
    }
}

/// Every step in order; a failed step ends the run and nothing after it happens.
pub(crate) async fn preflight(
    db: &Database,
    database: &str,
    ca_file: Option<&Path>,
    create: bool,
    workspace: Option<(&Workspace, bool)>,
    collation: &str,
    stamp: Option<Stamp>,
) -> Steps {
    let mut steps = Steps::default();
    let conn = match connect(db, ca_file).await {
        Ok(conn) => conn,
        Err(e) => return steps.fail(Stage::Connection, e),
    };
    steps.pass(
        Stage::Connection,
        format!(
            "{} answers ({})",
            db.masked(),
            if conn.tls { "TLS, verified" } else { "no TLS" }
        ),
    );
    let mut conn = conn;
    let outcome = checks(
        &mut conn, &mut steps, database, create, workspace, collation, stamp,
    )
    .await;
    conn.close().await;
    match outcome {
        Ok(found) => {
            steps.outcome = Some(Ok(found));
            steps
        }
        Err((stage, e)) => steps.fail(stage, e),
    }
}

type Failed = (Stage, DbError);

async fn checks(
    conn: &mut Connection,
    steps: &mut Steps,
    database: &str,
    create: bool,
    workspace: Option<(&Workspace, bool)>,
    collation: &str,
    stamp: Option<Stamp>,
) -> Result<Preflight, Failed> {
    let who = conn.who.clone();
    let query_failed = |stage: Stage, what: &str| {
        let who = who.clone();
        let what = what.to_owned();
        move |e: mysql_async::Error| {
            (
                stage,
                DbError::new(
                    format!("{what} on {who} failed"),
                    "check the user's privileges on the server",
                )
                .caused_by(e),
            )
        }
    };

    // The backend runs this on every new connection and stops on a replica.
    let read_only: Option<i64> = conn
        .conn
        .query_first("SELECT @@global.innodb_read_only OR @@global.read_only")
        .await
        .map_err(query_failed(Stage::Writable, "reading read_only"))?;
    if read_only.unwrap_or(0) != 0 {
        return Err((
            Stage::Writable,
            DbError::new(
                format!("the MySQL server at {who} is read-only (read_only or innodb_read_only is on); the backend refuses it"),
                "point the URL at the primary, not a replica, or turn read_only off (`SET GLOBAL read_only = OFF`)",
            )
            .kind(DbFailure::ReadOnly),
        ));
    }
    steps.pass(Stage::Writable, "the server accepts writes");

    let version: Option<String> = conn
        .conn
        .query_first("SELECT VERSION()")
        .await
        .map_err(query_failed(Stage::Collation, "reading the version"))?;
    let version = version.unwrap_or_default();
    let collations: Vec<String> = conn
        .conn
        .query("SELECT COLLATION_NAME FROM information_schema.COLLATIONS")
        .await
        .map_err(query_failed(Stage::Collation, "listing the collations"))?;
    collation_verdict(collation, &collations, &version, &who).map_err(|e| (Stage::Collation, e))?;
    steps.pass(
        Stage::Collation,
        format!("{collation} is available (server {version})"),
    );

    let (existed, created) = instance_database(conn, database, create, collation).await?;
    steps.pass(
        Stage::Database,
        if created {
            format!("created database {database}")
        } else {
            format!("database {database} exists")
        },
    );

    let tables: Option<i64> = conn
        .conn
        .exec_first(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
            (database,),
        )
        .await
        .map_err(query_failed(Stage::Tables, "counting the tables"))?;
    let tables = tables.unwrap_or(0);
    if tables < BACKEND_TABLES {
        probe_tables(conn, database).await?;
        steps.pass(
            Stage::Tables,
            format!("{} may create tables in {database}", conn.who),
        );
    } else {
        steps.pass(
            Stage::Tables,
            format!("{database} holds the backend's tables ({tables})"),
        );
    }
    let marked = match workspace {
        Some((ws, best_effort)) => {
            let who = conn.who.clone();
            Some(marker::claim(&mut conn.conn, database, ws, best_effort, stamp, &who).await?)
        }
        None => None,
    };
    Ok(Preflight {
        database: database.to_owned(),
        existed,
        created,
        tls: conn.tls,
        marked,
    })
}

/// `(existed, created)`.
async fn instance_database(
    conn: &mut Connection,
    database: &str,
    create: bool,
    collation: &str,
) -> Result<(bool, bool), Failed> {
    let who = conn.who.clone();
    let found: Option<String> = conn
        .conn
        .exec_first(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
            (database,),
        )
        .await
        .map_err(|e| {
            (
                Stage::Database,
                DbError::new(
                    format!("looking for database {database:?} on {who} failed"),
                    "check the user's privileges",
                )
                .caused_by(e),
            )
        })?;
    if found.is_some() {
        return Ok((true, false));
    }
    let user = who.split('@').next().unwrap_or(&who).to_owned();
    let statement =
        format!("CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE {collation}");
    if !create {
        return Err((
            Stage::Database,
            DbError::new(
                format!("database {database:?} does not exist on {who}; the backend needs it before it starts (it does not create it)"),
                format!("run `coder-convex doctor --fix` (or `setup`) to create it, or `{statement};` as a user that may"),
            )
            .kind(DbFailure::Missing),
        ));
    }
    // The name is validated ([a-z0-9_]); the collation was found on the server.
    match conn.conn.query_drop(&statement).await {
        Ok(()) => Ok((false, true)),
        Err(mysql_async::Error::Server(e)) if e.code == ER_DB_CREATE_EXISTS => Ok((true, false)),
        Err(e) if is_denied(&e) => Err((
            Stage::Database,
            DbError::new(
                format!("database {database:?} does not exist and {who} may not create it"),
                format!(
                    "ask the database admin to run `{statement}; GRANT ALL ON `{database}`.* TO '{user}';`"
                ),
            )
            .kind(DbFailure::Missing)
            .caused_by(e),
        )),
        Err(e) => Err((
            Stage::Database,
            DbError::new(format!("creating database {database:?} on {who} failed"), "see the server's message")
                .caused_by(e),
        )),
    }
}

async fn probe_tables(conn: &mut Connection, database: &str) -> Result<(), Failed> {
    let who = conn.who.clone();
    let user = who.split('@').next().unwrap_or(&who).to_owned();
    let create = format!("CREATE TABLE IF NOT EXISTS `{database}`.`{PROBE_TABLE}` (id INT)");
    if let Err(e) = conn.conn.query_drop(&create).await {
        let denied = is_denied(&e);
        let error = DbError::new(
            format!("{who} may not create tables in database {database:?}; the backend creates its tables there on first start"),
            format!("grant them: `GRANT ALL ON `{database}`.* TO '{user}';`"),
        )
        .caused_by(e);
        return Err((
            Stage::Tables,
            if denied {
                error.kind(DbFailure::CannotCreateTables)
            } else {
                error
            },
        ));
    }
    let drop = format!("DROP TABLE IF EXISTS `{database}`.`{PROBE_TABLE}`");
    conn.conn.query_drop(&drop).await.map_err(|e| {
        (
            Stage::Tables,
            DbError::new(
                format!("{who} created the table {database}.{PROBE_TABLE} but may not drop it"),
                format!("drop it by hand and grant the user DROP on `{database}`"),
            )
            .kind(DbFailure::CannotCreateTables)
            .caused_by(e),
        )
    })
}
