//! The real PostgreSQL servers the database tests use, through `psql`.

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

/// The marker (`COMMENT ON DATABASE`) of database `db` on the server here, `""` without one.
pub(crate) fn comment_of(db: &str) -> String {
    psql(
        5432,
        &format!(
            "SELECT coalesce(shobj_description(oid, 'pg_database'), '') FROM pg_database WHERE datname = '{db}'"
        ),
    )
}
