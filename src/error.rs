//! The one error type of the tool: what failed, which input, what to do next, and the exit code.
//!
//! Every fallible path ends here so the exit-code table in the README has a single source.

use std::path::PathBuf;

/// Exit codes, documented in the README. Child exit codes of `convex deploy` pass through.
pub mod exit {
    pub const OK: u8 = 0;
    /// A runtime failure not covered below.
    pub const FAILURE: u8 = 1;
    /// Invalid input or usage: a bad variable, flag or project file.
    pub const INVALID_INPUT: u8 = 2;
    /// The backend did not become healthy within the wait.
    pub const BACKEND_UNREACHABLE: u8 = 3;
    /// The backend rejected our identity (instance name) or admin key.
    pub const IDENTITY_REJECTED: u8 = 4;
    /// The database cannot be used: unreachable, authentication, TLS, or the instance
    /// database is missing and cannot be created.
    pub const DATABASE: u8 = 5;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A value from the environment, a flag or the command line is not usable.
    #[error("invalid {input}: {message}")]
    InvalidInput {
        input: String,
        message: String,
        hint: Option<String>,
    },
    /// A project file exists but cannot be used as it is.
    #[error("{}: {message}", path.display())]
    ProjectFile {
        path: PathBuf,
        message: String,
        hint: Option<String>,
    },
    /// I/O on a named path (fs-err puts the path in the message).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("the backend at {url} is not reachable: {message}")]
    BackendUnreachable {
        url: String,
        message: String,
        hint: Option<String>,
    },
    #[error("the backend at {url} rejected {what}")]
    IdentityRejected {
        url: String,
        what: String,
        hint: Option<String>,
    },
    #[error("{message}")]
    Database {
        message: String,
        hint: Option<String>,
    },
    /// A child process (the Convex CLI) failed; its code is ours.
    #[error("{program} exited with code {code}")]
    Child {
        program: String,
        code: u8,
        tail: Vec<String>,
        hint: Option<String>,
    },
    #[error("{message}")]
    Runtime {
        message: String,
        hint: Option<String>,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(input: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidInput {
            input: input.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn file(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self::ProjectFile {
            path: path.into(),
            message: message.into(),
            hint: None,
        }
    }

    pub fn runtime(message: impl Into<String>) -> Self {
        Self::Runtime {
            message: message.into(),
            hint: None,
        }
    }

    /// Attach (or replace) the hint shown under the error.
    #[must_use]
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        let text = Some(text.into());
        match &mut self {
            Self::InvalidInput { hint, .. }
            | Self::ProjectFile { hint, .. }
            | Self::BackendUnreachable { hint, .. }
            | Self::IdentityRejected { hint, .. }
            | Self::Child { hint, .. }
            | Self::Database { hint, .. }
            | Self::Runtime { hint, .. } => *hint = text,
            Self::Io(_) => {}
        }
        self
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { hint, .. }
            | Self::ProjectFile { hint, .. }
            | Self::BackendUnreachable { hint, .. }
            | Self::IdentityRejected { hint, .. }
            | Self::Child { hint, .. }
            | Self::Database { hint, .. }
            | Self::Runtime { hint, .. } => hint.as_deref(),
            Self::Io(_) => None,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Self::InvalidInput { .. } | Self::ProjectFile { .. } => exit::INVALID_INPUT,
            Self::BackendUnreachable { .. } => exit::BACKEND_UNREACHABLE,
            Self::IdentityRejected { .. } => exit::IDENTITY_REJECTED,
            Self::Database { .. } => exit::DATABASE,
            Self::Child { code, .. } => *code,
            Self::Io(_) | Self::Runtime { .. } => exit::FAILURE,
        }
    }
}
