//! The one error type of the tool and the one exit-status mapping.
//!
//! Every fallible path ends in [`Error`]: what failed, which input, the cause chain
//! (`#[source]`), a hint, and a stable snake_case [`ErrorCode`] for `--json` that decides its
//! [`ExitStatus`]. Both tables are enums here, iterated by the README tests;
//! [`ExitStatus::code`] is the only place that turns an outcome into a process exit code.
//!
//! Pure.

use std::path::PathBuf;

/// How a command ended; the discriminant is the process exit code, and the README's table
/// is checked against [`ExitStatus::iter`]. A failed `convex deploy` has a status of its own;
/// the child's own code is in the message and the `--json` document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter)]
#[repr(u8)]
pub enum ExitStatus {
    Success = 0,
    /// A runtime failure not covered below.
    Failure = 1,
    /// Invalid input or usage: a bad variable, flag or project file.
    InvalidInput = 2,
    /// The backend did not become healthy within the wait.
    BackendUnreachable = 3,
    /// The backend rejected our identity (instance name) or admin key.
    IdentityRejected = 4,
    /// The database cannot be used: unreachable, authentication, TLS, a server that cannot
    /// host Convex (collation, read-only), or the instance database is missing and cannot be
    /// created or written.
    Database = 5,
    /// The Convex CLI ran and failed (the deploy did not complete).
    DeployFailed = 6,
    /// The container engine cannot run the Convex containers (`up`, `down`, `logs`).
    Containers = 7,
}

impl ExitStatus {
    /// The process exit code: the only mapping from an outcome to a number.
    pub fn code(self) -> u8 {
        self as u8
    }

    pub fn iter() -> impl Iterator<Item = Self> {
        <Self as strum::IntoEnumIterator>::iter()
    }
}

/// The stable code `--json` reports for a failure. Each has one exit status and one meaning;
/// the README's table is checked against [`ErrorCode::iter`], and every [`Error`] variant
/// reaches one through [`Error::code`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum ErrorCode {
    InvalidInput,
    ProjectFile,
    Io,
    BackendUnreachable,
    IdentityRejected,
    Database,
    DatabaseUnreachable,
    DatabaseAuthentication,
    DatabaseTls,
    DatabaseCollation,
    DatabaseReadOnly,
    DatabaseMissing,
    DatabaseCannotCreateTables,
    DatabaseInUse,
    NoContainerEngine,
    NoCompose,
    EngineNotRunning,
    PortInUse,
    ImagePullFailed,
    ComposeFailed,
    ChildFailed,
    VerificationFailed,
    Runtime,
}

impl ErrorCode {
    pub fn iter() -> impl Iterator<Item = Self> {
        <Self as strum::IntoEnumIterator>::iter()
    }

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    pub fn exit_status(self) -> ExitStatus {
        match self {
            Self::InvalidInput | Self::ProjectFile => ExitStatus::InvalidInput,
            Self::BackendUnreachable => ExitStatus::BackendUnreachable,
            Self::IdentityRejected => ExitStatus::IdentityRejected,
            Self::Database
            | Self::DatabaseUnreachable
            | Self::DatabaseAuthentication
            | Self::DatabaseTls
            | Self::DatabaseCollation
            | Self::DatabaseReadOnly
            | Self::DatabaseMissing
            | Self::DatabaseCannotCreateTables
            | Self::DatabaseInUse => ExitStatus::Database,
            Self::ChildFailed => ExitStatus::DeployFailed,
            Self::NoContainerEngine
            | Self::NoCompose
            | Self::EngineNotRunning
            | Self::PortInUse
            | Self::ImagePullFailed
            | Self::ComposeFailed => ExitStatus::Containers,
            Self::Io | Self::VerificationFailed | Self::Runtime => ExitStatus::Failure,
        }
    }

    /// What the code means, as the README's table says it.
    pub fn meaning(self) -> &'static str {
        match self {
            Self::InvalidInput => "a variable, flag or argument is not usable",
            Self::ProjectFile => "a project file exists but cannot be used as it is",
            Self::Io => "reading or writing a file failed",
            Self::BackendUnreachable => "the backend did not answer in time",
            Self::IdentityRejected => "the backend runs another instance or rejects the admin key",
            Self::Database => "the database cannot be used (another reason)",
            Self::DatabaseUnreachable => "the database server does not answer",
            Self::DatabaseAuthentication => "the database server refused the user or password",
            Self::DatabaseTls => "TLS to the database server failed, or the server requires it",
            Self::DatabaseCollation => {
                "MySQL: the server lacks the collation the backend's tables use (`utf8mb4_0900_bin`)"
            }
            Self::DatabaseReadOnly => "MySQL: the server is read-only (a replica)",
            Self::DatabaseMissing => {
                "the instance database is missing and the user may not create it"
            }
            Self::DatabaseCannotCreateTables => {
                "MySQL: the user may not create tables in the instance database"
            }
            Self::DatabaseInUse => {
                "`db drop` / `db prune`: a database has connections (its backend runs), so it was not dropped"
            }
            Self::NoContainerEngine => "`up`: neither `docker` nor `podman` is on `PATH`",
            Self::NoCompose => "`up`: no Compose v2 (`docker compose`, 2.24 or newer)",
            Self::EngineNotRunning => "`up`: the Docker (or Podman) engine does not answer",
            Self::PortInUse => "`up`: a port the containers publish is taken by another process",
            Self::ImagePullFailed => "`up`: an image cannot be pulled",
            Self::ComposeFailed => "`up`, `down`: compose failed otherwise",
            Self::ChildFailed => {
                "the Convex CLI ran and failed (its own code is in `child_exit_code`)"
            }
            Self::VerificationFailed => {
                "a check after the work failed (auth discovery, a failing `doctor` check)"
            }
            Self::Runtime => "any other failure",
        }
    }
}

/// Why the container engine could not run the Convex containers; each has its `--json` code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerFailure {
    /// Neither `docker` nor `podman` is on `PATH`.
    NoEngine,
    /// The CLI has no Compose v2 (`docker compose`), or one too old for the compose file.
    NoCompose,
    /// The CLI cannot reach its engine (daemon down, socket not accessible).
    EngineDown,
    /// A port the stack publishes is taken by another process.
    PortInUse,
    /// An image could not be pulled.
    ImagePull,
    /// Compose failed for another reason.
    Compose,
}

impl ContainerFailure {
    pub fn code(self) -> ErrorCode {
        match self {
            Self::NoEngine => ErrorCode::NoContainerEngine,
            Self::NoCompose => ErrorCode::NoCompose,
            Self::EngineDown => ErrorCode::EngineNotRunning,
            Self::PortInUse => ErrorCode::PortInUse,
            Self::ImagePull => ErrorCode::ImagePullFailed,
            Self::Compose => ErrorCode::ComposeFailed,
        }
    }
}

/// Why the database cannot be used; each has its `--json` code (all exit 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum DbFailure {
    Unreachable,
    Authentication,
    Tls,
    Collation,
    ReadOnly,
    Missing,
    CannotCreateTables,
    /// `db drop` / `db prune`: the database has connections.
    InUse,
    Other,
}

impl DbFailure {
    pub fn code(self) -> ErrorCode {
        match self {
            Self::Unreachable => ErrorCode::DatabaseUnreachable,
            Self::Authentication => ErrorCode::DatabaseAuthentication,
            Self::Tls => ErrorCode::DatabaseTls,
            Self::Collation => ErrorCode::DatabaseCollation,
            Self::ReadOnly => ErrorCode::DatabaseReadOnly,
            Self::Missing => ErrorCode::DatabaseMissing,
            Self::CannotCreateTables => ErrorCode::DatabaseCannotCreateTables,
            Self::InUse => ErrorCode::DatabaseInUse,
            Self::Other => ErrorCode::Database,
        }
    }
}

/// An underlying cause, kept for the `caused by:` lines.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

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
        #[source]
        source: Option<Cause>,
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
        kind: DbFailure,
        message: String,
        #[source]
        source: Option<Cause>,
        hint: Option<String>,
    },
    /// A child process (the Convex CLI) ran and failed; `code` is its own exit code.
    #[error("{program} exited with code {code}")]
    Child {
        program: String,
        code: u8,
        tail: Vec<String>,
        hint: Option<String>,
    },
    /// Docker or Podman with Compose could not run the Convex containers.
    #[error("{message}")]
    Containers {
        kind: ContainerFailure,
        message: String,
        /// The last lines of compose's output, when it ran.
        tail: Vec<String>,
        hint: Option<String>,
    },
    /// Everything ran, but a verification after it failed (for example auth discovery).
    #[error("{message}")]
    Verification {
        message: String,
        hint: Option<String>,
    },
    #[error("{message}")]
    Runtime {
        message: String,
        #[source]
        source: Option<Cause>,
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
            source: None,
            hint: None,
        }
    }

    /// A runtime failure that keeps its cause.
    pub fn runtime_from(
        message: impl Into<String>,
        cause: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self::Runtime {
            message: message.into(),
            source: Some(Box::new(cause)),
            hint: None,
        }
    }

    /// Attach (or replace) the hint shown under the error.
    #[must_use]
    pub fn with_hint(mut self, text: impl Into<String>) -> Self {
        if let Some(hint) = self.hint_slot() {
            *hint = Some(text.into());
        }
        self
    }

    fn hint_slot(&mut self) -> Option<&mut Option<String>> {
        match self {
            Self::InvalidInput { hint, .. }
            | Self::ProjectFile { hint, .. }
            | Self::BackendUnreachable { hint, .. }
            | Self::IdentityRejected { hint, .. }
            | Self::Child { hint, .. }
            | Self::Database { hint, .. }
            | Self::Containers { hint, .. }
            | Self::Verification { hint, .. }
            | Self::Runtime { hint, .. } => Some(hint),
            Self::Io(_) => None,
        }
    }

    pub fn hint(&self) -> Option<&str> {
        match self {
            Self::InvalidInput { hint, .. }
            | Self::ProjectFile { hint, .. }
            | Self::BackendUnreachable { hint, .. }
            | Self::IdentityRejected { hint, .. }
            | Self::Child { hint, .. }
            | Self::Database { hint, .. }
            | Self::Containers { hint, .. }
            | Self::Verification { hint, .. }
            | Self::Runtime { hint, .. } => hint.as_deref(),
            Self::Io(_) => None,
        }
    }

    /// The stable code `--json` reports; it decides the exit status.
    pub fn code(&self) -> ErrorCode {
        match self {
            Self::InvalidInput { .. } => ErrorCode::InvalidInput,
            Self::ProjectFile { .. } => ErrorCode::ProjectFile,
            Self::Io(_) => ErrorCode::Io,
            Self::BackendUnreachable { .. } => ErrorCode::BackendUnreachable,
            Self::IdentityRejected { .. } => ErrorCode::IdentityRejected,
            Self::Database { kind, .. } => kind.code(),
            Self::Child { .. } => ErrorCode::ChildFailed,
            Self::Containers { kind, .. } => kind.code(),
            Self::Verification { .. } => ErrorCode::VerificationFailed,
            Self::Runtime { .. } => ErrorCode::Runtime,
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        self.code().exit_status()
    }

    /// A container-engine failure with its hint.
    pub fn containers(
        kind: ContainerFailure,
        message: impl Into<String>,
        hint: impl Into<String>,
    ) -> Self {
        Self::Containers {
            kind,
            message: message.into(),
            tail: Vec::new(),
            hint: Some(hint.into()),
        }
    }

    pub fn exit_code(&self) -> u8 {
        self.exit_status().code()
    }

    /// The messages of the cause chain, outermost first, without this error's own.
    pub fn causes(&self) -> Vec<String> {
        let mut causes = Vec::new();
        let mut next = std::error::Error::source(self);
        while let Some(cause) = next {
            let text = cause.to_string();
            // reqwest and friends repeat their cause in their own message: skip echoes.
            if causes.last() != Some(&text) {
                causes.push(text);
            }
            next = cause.source();
        }
        causes
    }
}
