//! The real PostgreSQL servers the database tests use, through `psql`: the machine's server on
//! 5432, and throw-away clusters of their own (`Cluster`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// `sql` run by `psql` as `postgres` on the server at 127.0.0.1:`port` (the machine's server
/// on 5432 trusts it; the throw-away cluster's superuser password is `superpw`): its output,
/// trimmed. A failure fails the test with psql's message.
#[track_caller]
pub(crate) fn psql(port: u16, sql: &str) -> String {
    let out = Command::new(crate::common::require("psql"))
        .args([
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "postgres",
            "-Atqc",
            sql,
        ])
        .env("PGPASSWORD", "superpw")
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "psql {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Poll `sql` on the server at `port` until it prints `want` (a hang bound of 60 s).
#[track_caller]
pub(crate) fn wait_for(port: u16, sql: &str, want: &str) {
    crate::common::wait_for_value(sql, want, std::time::Duration::from_secs(60), || {
        psql(port, sql)
    });
}

/// The marker (`COMMENT ON DATABASE`) of database `db` on the server here, `""` without one.
pub(crate) fn comment_of(db: &str) -> String {
    psql(
        5432,
        &format!(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{db}'"
        ),
    )
}

/// The marker of database `db` without the stamp a preflight records in it (when setup last
/// ran, the budget): the part that names the workspace.
pub(crate) fn workspace_marker(db: &str) -> String {
    let comment = comment_of(db);
    match comment.rsplit_once(" (") {
        Some((head, group)) => {
            let label = group
                .trim_end_matches(')')
                .split(", ")
                .next()
                .unwrap_or_default();
            format!("{head} ({label})")
        }
        None => comment,
    }
}

/// A PostgreSQL cluster of its own: password (SCRAM) auth on 127.0.0.1 and TLS with a
/// certificate for 127.0.0.1. Stopped when dropped.
pub(crate) struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    pub(crate) port: u16,
}

impl Cluster {
    pub(crate) fn start() -> Self {
        Self::start_with(&[])
    }

    /// A cluster with known limits (`max_connections=30`, 3 reserved) and a non-superuser
    /// admin role (`CREATEDB CREATEROLE`) with `password`, as a team would give the
    /// provisioner; its URL.
    pub(crate) fn with_admin(password: &str) -> (Self, String) {
        let cluster = Self::start_with(&["max_connections=30", "superuser_reserved_connections=3"]);
        psql(
            cluster.port,
            &format!("CREATE ROLE admin LOGIN CREATEDB CREATEROLE PASSWORD '{password}'"),
        );
        let url = format!(
            "postgres://admin:{password}@127.0.0.1:{}/postgres?sslmode=disable",
            cluster.port
        );
        (cluster, url)
    }

    /// A cluster with extra server settings (`max_connections=30`, …).
    pub(crate) fn start_with(settings: &[&str]) -> Self {
        // Debian keeps the server programs off PATH, under /usr/lib/postgresql/<version>/bin.
        let bin = fs_err::read_dir("/usr/lib/postgresql")
            .into_iter()
            .flatten()
            .map(|e| e.unwrap().path().join("bin"))
            .find(|b| b.join("initdb").exists())
            .unwrap_or_else(|| crate::common::missing("initdb"));
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs_err::write(root.join("pw"), "superpw\n").unwrap();
        crate::common::test_certificates(root);
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(root)
            .status()
            .expect("chown");
        assert!(status.success());
        as_postgres(
            &bin.join("initdb"),
            &[
                "-D",
                &p(root, "data"),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--pwfile",
                &p(root, "pw"),
            ],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
            root.display(),
            p(root, "server.crt"),
            p(root, "server.key")
        );
        let options = settings
            .iter()
            .fold(options, |all, s| format!("{all} -c {s}"));
        as_postgres(
            &bin.join("pg_ctl"),
            &[
                "-D",
                &p(root, "data"),
                "-l",
                &p(root, "log"),
                "-w",
                "-o",
                &options,
                "start",
            ],
        );
        Self { dir, bin, port }
    }

    pub(crate) fn ca_file(&self) -> String {
        p(self.dir.path(), "ca.crt")
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .args(["-D", &p(self.dir.path(), "data"), "-m", "immediate", "stop"])
            .output();
    }
}

fn p(root: &Path, name: &str) -> String {
    root.join(name).display().to_string()
}

fn as_postgres(program: &Path, args: &[&str]) {
    let out = Command::new(crate::common::require("runuser"))
        .args(["-u", "postgres", "--"])
        .arg(program)
        .args(args)
        .output()
        .expect("runuser");
    assert!(
        out.status.success(),
        "{}: {}{}",
        program.display(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `sql` over one connection as `user` (password auth, no TLS) to database `db` on the server
/// at 127.0.0.1:`port`: the first column of every row, or the SQLSTATE the server answered
/// with (at connect time too: a refused `CONNECT` is `42501`).
pub(crate) fn sql_as(
    port: u16,
    user: &str,
    password: &str,
    db: &str,
    sql: &str,
) -> Result<Vec<String>, String> {
    fn state(e: tokio_postgres::Error) -> String {
        e.code()
            .map_or_else(|| format!("no SQLSTATE: {e}"), |c| c.code().to_owned())
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut config = tokio_postgres::Config::new();
        config
            .host("127.0.0.1")
            .port(port)
            .user(user)
            .password(password)
            .dbname(db);
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.map_err(state)?;
        let task = tokio::spawn(connection);
        let rows = client.simple_query(sql).await.map_err(state);
        drop(client);
        task.abort();
        Ok(rows?
            .into_iter()
            .filter_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(row) => {
                    Some(row.get(0).unwrap_or_default().to_owned())
                }
                _ => None,
            })
            .collect())
    })
}
