//! What a preflight is given and what it found (pure): the options (CA files, the collation
//! MySQL must have), the steps in the order they run — each one a doctor check for MySQL —
//! and how the run ended. Shared by the Postgres and MySQL paths.

use std::path::Path;
use std::time::Instant;

use serde::Serialize;

use super::failure::DbError;
use super::url::Database;
use super::workspace::Stamp;

/// What the preflight found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Preflight {
    pub database: String,
    pub existed: bool,
    pub created: bool,
    pub tls: bool,
    /// Shared server: the marker was written now (a new or unmarked database, or a new
    /// owner/name after a claim or a rename).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub marked: Option<bool>,
}

/// One step of the preflight, in the order they run (doctor shows each as a check).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Stage {
    /// Reach the server, log in, TLS.
    Connection,
    /// MySQL: not read-only.
    Writable,
    /// MySQL: the collation the backend's tables use.
    Collation,
    /// The instance database exists (or was created), and is this workspace's.
    Database,
    /// MySQL: the user may create tables in it.
    Tables,
}

/// The steps that passed (with what they found) and how the run ended.
#[derive(Debug, Default)]
pub(crate) struct Steps {
    pub(crate) passed: Vec<(Stage, String)>,
    /// `None` only while running.
    pub(crate) outcome: Option<Result<Preflight, (Stage, DbError)>>,
}

impl Steps {
    pub(crate) fn pass(&mut self, stage: Stage, detail: impl Into<String>) {
        self.passed.push((stage, detail.into()));
    }

    pub(crate) fn fail(mut self, stage: Stage, e: DbError) -> Self {
        self.outcome = Some(Err((stage, e)));
        self
    }

    pub(crate) fn result(self) -> Result<Preflight, DbError> {
        match self.outcome {
            Some(Ok(found)) => Ok(found),
            Some(Err((_, e))) => Err(e),
            None => Err(DbError::new(
                "the preflight did not finish".to_owned(),
                "run it again",
            )),
        }
    }
}

/// What the preflight reads besides the URL: CA files and the collation MySQL must have.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Options<'a> {
    pub(crate) pg_ca_file: Option<&'a Path>,
    pub(crate) mysql_ca_file: Option<&'a Path>,
    pub(crate) mysql_collation: &'a str,
    /// A server with no free connection ("too many clients") is retried with backoff until
    /// then; `None` fails at once.
    pub(crate) busy_until: Option<Instant>,
    /// The workspace's claim on the database is best effort (an external database): a role
    /// that may not write the marker leaves the database unmarked instead of failing.
    pub(crate) claim_best_effort: bool,
    /// Shared server: what the claim records in the marker (when setup ran, the budget).
    pub(crate) stamp: Option<Stamp>,
}

/// The collation the backend's MySQL tables use (since 2026-06-05).
pub(crate) const MYSQL_COLLATION: &str = "utf8mb4_0900_bin";

impl<'a> Options<'a> {
    pub(crate) fn new(env: &'a crate::environment::RawEnv, db: &'a Database) -> Self {
        Self {
            pg_ca_file: env.pg_ca_file.as_deref().map(Path::new),
            mysql_ca_file: db
                .ca_file
                .as_deref()
                .or(env.mysql_ca_file.as_deref())
                .map(Path::new),
            mysql_collation: env
                .coder_convex_mysql_collation
                .as_deref()
                .unwrap_or(MYSQL_COLLATION),
            busy_until: None,
            claim_best_effort: false,
            stamp: None,
        }
    }

    /// The claim (marker) is best effort: an external database, not a shared server's.
    #[must_use]
    pub(crate) fn best_effort_claim(mut self, best_effort: bool) -> Self {
        self.claim_best_effort = best_effort;
        self
    }

    /// Record `stamp` in the workspace's marker (a shared server's preflight).
    #[must_use]
    pub(crate) fn stamp(mut self, stamp: Option<Stamp>) -> Self {
        self.stamp = stamp;
        self
    }

    /// Retry a full server until `deadline` (a team's workspaces starting at once).
    #[must_use]
    pub(crate) fn retry_busy_until(mut self, deadline: &crate::deadline::Deadline) -> Self {
        self.busy_until = Some(Instant::now() + deadline.remaining());
        self
    }
}
