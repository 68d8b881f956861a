//! Database preflight (README "Database URL" and "Doctor"): connect the way the backend will — same URL, same TLS
//! expectations (`require` verifies the certificate against the system roots plus
//! `PG_CA_FILE`) — check that the instance database exists, and create it when asked.
//! MySQL's steps are in [`mysql`](super::mysql). Does network I/O.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use backon::{ExponentialBuilder, Retryable as _};

use tokio_postgres::config::SslMode;
use tokio_postgres::error::SqlState;

use super::failure::{CONNECT_TIMEOUT, DbError, DbFailure, describe, target};
use crate::config::instance;
use crate::database::url::{Database, DbKind};
use crate::database::workspace::{Stamp, Workspace};

mod claim;

pub(crate) use super::steps::{Options, Preflight, Stage, Steps};

/// Check the instance database; with `create`, create it when it is missing. With a
/// `workspace` (shared server), the database must carry that workspace's marker or none
/// (it is then marked); a database marked for another workspace is refused.
pub(crate) async fn preflight(
    db: &Database,
    instance_name: &str,
    opts: Options<'_>,
    create: bool,
    workspace: Option<&Workspace>,
) -> Result<Preflight, DbError> {
    steps(db, instance_name, opts, create, workspace)
        .await
        .result()
}

/// [`preflight`], step by step.
pub(crate) async fn steps(
    db: &Database,
    instance_name: &str,
    opts: Options<'_>,
    create: bool,
    workspace: Option<&Workspace>,
) -> Steps {
    let database = instance::database_for_instance(instance_name);
    match db.kind {
        DbKind::Postgres => {
            let mut steps = Steps::default();
            let claim = workspace.map(|ws| (ws, opts.claim_best_effort));
            let attempt = || postgres(db, &database, opts.pg_ca_file, create, claim, opts.stamp);
            match retry_busy(attempt, opts.busy_until).await {
                Ok(found) => {
                    steps.outcome = Some(Ok(found));
                    steps
                }
                Err(e) => steps.fail(Stage::Connection, e),
            }
        }
        DbKind::Mysql => {
            let attempt = || async {
                let steps = super::mysql::preflight(
                    db,
                    &database,
                    opts.mysql_ca_file,
                    create,
                    workspace.map(|ws| (ws, opts.claim_best_effort)),
                    opts.mysql_collation,
                    opts.stamp,
                )
                .await;
                match steps.outcome {
                    Some(Err((Stage::Connection, e))) if e.is_busy() => Err(e),
                    _ => Ok(steps),
                }
            };
            match retry_busy(attempt, opts.busy_until).await {
                Ok(steps) => steps,
                Err(e) => Steps::default().fail(Stage::Connection, e),
            }
        }
    }
}

/// A connection to the server's maintenance database, the way the backend connects.
pub(crate) struct Connection {
    pub(crate) client: tokio_postgres::Client,
    task: tokio::task::JoinHandle<Result<(), tokio_postgres::Error>>,
    pub(crate) who: String,
    tls: bool,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Connection {
    /// End the session (Postgres's Terminate, sent when the client goes) and wait, briefly,
    /// for its task to finish, so a caller that opens another holds one at a time.
    pub(crate) async fn close(mut self) {
        let task = std::mem::replace(&mut self.task, tokio::spawn(async { Ok(()) }));
        drop(self);
        let _ = tokio::time::timeout(Duration::from_secs(2), task).await;
    }
}

/// `"name"`, a Postgres identifier with its quotes doubled. Database and role names here
/// are `[a-z0-9_]` (validated) or come from `pg_database`; quoted all the same.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `attempt` again, with jittered exponential backoff, while it fails because the server has no
/// connection to spare and `until` has not passed: many workspaces starting at once on one
/// server take turns instead of failing. Each attempt holds one connection, and gives it back
/// before the next.
pub(crate) async fn retry_busy<T, F, Fut>(attempt: F, until: Option<Instant>) -> Result<T, DbError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, DbError>>,
{
    let Some(until) = until else {
        let mut attempt = attempt;
        return attempt().await;
    };
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(20))
        .with_max_delay(Duration::from_secs(1))
        .with_jitter()
        .without_max_times();
    attempt
        .retry(policy)
        .sleep(tokio::time::sleep)
        .when(|e: &DbError| e.is_busy() && Instant::now() < until)
        .notify(|e: &DbError, wait: Duration| {
            tracing::debug!(
                "database server busy ({}); retrying in {wait:?}",
                e.detail()
            );
        })
        .await
}

async fn postgres(
    db: &Database,
    database: &str,
    ca_file: Option<&Path>,
    create: bool,
    claim_by: Option<(&Workspace, bool)>,
    stamp: Option<Stamp>,
) -> Result<Preflight, DbError> {
    let conn = connect(db, ca_file).await?;
    // Creating and marking are one step for every coder-convex on the server: two starts of
    // one workspace, or two workspaces that chose one name, never both see "no marker".
    // A session lock on the maintenance database; it goes with the connection.
    let lock_key = format!("coder-convex: {database}");
    let locking = |e: tokio_postgres::Error| {
        DbError::new(
            format!("locking database {database:?} on {} failed", conn.who),
            "see the server's message above",
        )
        .caused_by(e)
    };
    conn.client
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&lock_key])
        .await
        .map_err(locking)?;
    let (existed, created) = check_database(&conn.client, database, create, &conn.who).await?;
    let marked = match claim_by {
        Some((ws, best_effort)) => {
            Some(claim::claim(&conn.client, database, ws, best_effort, stamp, &conn.who).await?)
        }
        None => None,
    };
    conn.client
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock_key])
        .await
        .map_err(locking)?;
    let tls = conn.tls;
    conn.close().await;
    Ok(Preflight {
        database: database.to_owned(),
        existed,
        created,
        tls,
        marked,
    })
}

/// Connect to the maintenance database (`postgres`, else `template1`: some servers only have
/// that) with the URL's user, password and TLS settings.
pub(crate) async fn connect(db: &Database, ca_file: Option<&Path>) -> Result<Connection, DbError> {
    connect_to(db, ca_file, &["postgres", "template1"]).await
}

/// [`connect`] to the first of `databases` that exists.
pub(crate) async fn connect_to(
    db: &Database,
    ca_file: Option<&Path>,
    databases: &[&str],
) -> Result<Connection, DbError> {
    let who = target(db);
    let mode = db.sslmode.clone().unwrap_or_else(|| "require".to_owned());
    // tokio-postgres knows disable/prefer/require only; TLS is decided here instead.
    let url = crate::database::url::strip_param(db.expose_url(), "sslmode");
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| {
        DbError::new(
            format!("cannot use the URL for {who}"),
            "check the query parameters of the database URL",
        )
        .caused_by(e)
    })?;
    config.connect_timeout(CONNECT_TIMEOUT);
    config.ssl_mode(match mode.as_str() {
        "disable" | "allow" => SslMode::Disable,
        "prefer" => SslMode::Prefer,
        _ => SslMode::Require,
    });
    let tls = !matches!(mode.as_str(), "disable" | "allow");
    let connector = tls_connector(ca_file).map_err(|message| {
        DbError::new(
            message,
            "PG_CA_FILE must name a PEM file with the CA certificate(s) of the database server",
        )
    })?;

    let mut last = None;
    for name in databases {
        config.dbname(*name);
        match config.connect(connector.clone()).await {
            Ok((client, connection)) => {
                return Ok(Connection {
                    client,
                    task: tokio::spawn(connection),
                    who,
                    tls,
                });
            }
            Err(e) if e.code() == Some(&SqlState::INVALID_CATALOG_NAME) => last = Some(e),
            Err(e) => return Err(classify(e, &who, &mode)),
        }
    }
    Err(classify(last.expect("tried at least once"), &who, &mode))
}

async fn check_database(
    client: &tokio_postgres::Client,
    database: &str,
    create: bool,
    who: &str,
) -> Result<(bool, bool), DbError> {
    let other = |e: tokio_postgres::Error| {
        DbError::new(
            format!("querying {who} failed"),
            "check that the role may read pg_database",
        )
        .caused_by(e)
    };
    let exists = !client
        .query("SELECT 1 FROM pg_database WHERE datname = $1", &[&database])
        .await
        .map_err(other)?
        .is_empty();
    if exists {
        return Ok((true, false));
    }
    if !create {
        return Err(DbError::new(
            format!(
                "database {database:?} does not exist on {who}; the backend needs it before it starts"
            ),
            format!(
                "run `coder-convex doctor --fix` (or `setup`) to create it, or `CREATE DATABASE {database};` as a role that may"
            ),
        )
        .kind(DbFailure::Missing));
    }
    // The name is validated ([a-z0-9_]), so quoting it as an identifier is enough.
    match client
        .batch_execute(&format!("CREATE DATABASE \"{database}\""))
        .await
    {
        Ok(()) => Ok((false, true)),
        Err(e) if e.code() == Some(&SqlState::DUPLICATE_DATABASE) => Ok((true, false)),
        Err(e) if e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE) => Err(DbError::new(
            format!("database {database:?} does not exist and {who} may not create it"),
            format!(
                "ask the database admin to run `CREATE DATABASE {database} OWNER {};` or grant CREATEDB",
                quote_user(who)
            ),
        )
        .kind(DbFailure::Missing)
        .caused_by(e)),
        Err(e) => Err(other(e)),
    }
}

fn quote_user(who: &str) -> &str {
    who.split('@').next().unwrap_or(who)
}

fn classify(e: tokio_postgres::Error, who: &str, mode: &str) -> DbError {
    // "sorry, too many clients already", or a server still starting: busy for now.
    if let Some(code) = e.code()
        && (code == &SqlState::TOO_MANY_CONNECTIONS || code == &SqlState::CANNOT_CONNECT_NOW)
    {
        return DbError::new(
            format!("{who} has no connection to spare"),
            "the server is at max_connections: wait (--wait) for other workspaces to start, lower CODER_CONVEX_DB_CONNECTIONS, or raise max_connections on the server (`coder-convex doctor` shows the budget)",
        )
        .busy()
        .caused_by(e);
    }
    if let Some(code) = e.code()
        && (code == &SqlState::INVALID_PASSWORD
            || code == &SqlState::INVALID_AUTHORIZATION_SPECIFICATION)
    {
        return DbError::new(
            format!("authentication failed for {who}"),
            "check the user name and password in the database URL (percent-encode special characters)",
        )
        .kind(DbFailure::Authentication)
        .caused_by(e);
    }
    let lower = describe(&e).to_ascii_lowercase();
    if lower.contains("tls")
        || lower.contains("certificate")
        || lower.contains("ssl")
        || lower.contains("handshake")
    {
        return DbError::new(
            format!("TLS to {who} failed (sslmode={mode})"),
            "the backend verifies the server certificate against the system roots plus PG_CA_FILE: set PG_CA_FILE to the server's CA, or for an in-cluster server with a self-signed certificate use `sslmode=disable` in the URL together with DO_NOT_REQUIRE_SSL=1",
        )
        .kind(DbFailure::Tls)
        .caused_by(e);
    }
    if e.as_db_error().is_none() {
        return DbError::new(
            format!("cannot reach {who}"),
            "check the host and port, and that the database server is running and reachable from the workspace",
        )
        .kind(DbFailure::Unreachable)
        .caused_by(e);
    }
    DbError::new(who.to_owned(), "see the server's message above").caused_by(e)
}

fn tls_connector(
    ca_file: Option<&Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("PG_CA_FILE {}: {e}", path.display()))?
            .collect::<Result<_, _>>()
            .map_err(|e| format!("PG_CA_FILE {}: {e}", path.display()))?;
        if certs.is_empty() {
            return Err(format!(
                "PG_CA_FILE {} holds no certificate",
                path.display()
            ));
        }
        for cert in certs {
            roots
                .add(cert)
                .map_err(|e| format!("PG_CA_FILE {}: {e}", path.display()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_busy_server_is_retried_until_the_deadline() {
        let busy = || DbError::new("full".to_owned(), "wait").busy();
        let mut tries = 0;
        let found = retry_busy(
            || {
                tries += 1;
                let n = tries;
                async move { if n < 3 { Err(busy()) } else { Ok(n) } }
            },
            Some(Instant::now() + Duration::from_secs(60)),
        )
        .await;
        assert_eq!(found.unwrap(), 3);
        // Past the deadline, or without one: the first failure stands.
        let mut tries = 0;
        let past = retry_busy(
            || {
                tries += 1;
                async { Err::<(), _>(busy()) }
            },
            Some(Instant::now()),
        )
        .await;
        assert!(past.unwrap_err().is_busy());
        assert_eq!(tries, 1);
        // Other failures are never retried.
        let mut tries = 0;
        let other = retry_busy(
            || {
                tries += 1;
                async { Err::<(), _>(DbError::new("denied".to_owned(), "grant")) }
            },
            Some(Instant::now() + Duration::from_secs(60)),
        )
        .await;
        assert!(!other.unwrap_err().is_busy());
        assert_eq!(tries, 1);
    }
}
