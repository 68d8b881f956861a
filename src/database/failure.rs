//! What a failed database preflight says (pure): host, user and reason, never the
//! password; the driver's error kept as the cause. Shared by the Postgres and MySQL paths.

use std::time::Duration;

use crate::database::url::Database;
pub(crate) use crate::error::DbFailure;
use crate::error::Error;

pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// A preflight failure: host, user and reason, never the password; the driver's error is
/// kept as the cause.
#[derive(Debug)]
pub(crate) struct DbError {
    kind: DbFailure,
    message: String,
    cause: Option<crate::error::Cause>,
    hint: String,
    /// The server had no connection to spare (Postgres 53300, MySQL 1040): worth retrying.
    busy: bool,
}

impl DbError {
    pub(crate) fn new(message: String, hint: impl Into<String>) -> Self {
        Self {
            kind: DbFailure::Other,
            message,
            cause: None,
            hint: hint.into(),
            busy: false,
        }
    }

    /// Mark the failure as the server being full for now (retried until the deadline).
    #[must_use]
    pub(crate) fn busy(mut self) -> Self {
        self.busy = true;
        self
    }

    pub(crate) fn is_busy(&self) -> bool {
        self.busy
    }

    /// What kind of failure this is (its `--json` code; which doctor check fails).
    #[must_use]
    pub(crate) fn kind(mut self, kind: DbFailure) -> Self {
        self.kind = kind;
        self
    }

    pub(crate) fn failure(&self) -> DbFailure {
        self.kind
    }

    pub(crate) fn caused_by(
        mut self,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        self.cause = Some(Box::new(cause));
        self
    }

    /// The message with its innermost causes, on one line (doctor's detail column).
    pub(crate) fn detail(&self) -> String {
        match &self.cause {
            Some(cause) => format!("{}: {}", self.message, describe(cause.as_ref())),
            None => self.message.clone(),
        }
    }

    pub(crate) fn hint(&self) -> &str {
        &self.hint
    }

    /// The tool's error (exit 5), keeping the cause.
    pub(crate) fn into_error(self) -> Error {
        Error::Database {
            kind: self.kind,
            message: self.message,
            source: self.cause,
            hint: Some(self.hint),
        }
    }
}

pub(crate) fn target(db: &Database) -> String {
    format!(
        "{}@{}",
        db.user,
        db.host.as_deref().unwrap_or("the unix socket")
    )
}

/// An error and its causes on one line.
pub(crate) fn describe(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text = format!("{text}: {cause_text}");
        }
        source = cause.source();
    }
    text
}
