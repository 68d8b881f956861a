//! The one error type of the tool and the one exit-status mapping.
//!
//! Every fallible path ends in [`Error`]: what failed, which input, the cause chain
//! (`#[source]`), a hint, a stable snake_case code for `--json`, and an [`ExitStatus`].
//! [`ExitStatus::code`] is the only place that turns an outcome into a process exit code.

use std::path::PathBuf;

/// Exit codes, documented in the README. A failed `convex deploy` has a code of its own; the
/// child's own code is in the message and the `--json` document.
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
    /// The Convex CLI ran and failed (the deploy did not complete).
    pub const DEPLOY_FAILED: u8 = 6;
    /// The container engine cannot run the Convex containers (`up`, `down`, `logs`).
    pub const CONTAINERS: u8 = 7;
}

/// How a command ended; [`ExitStatus::code`] maps it to the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    Success,
    Failure,
    InvalidInput,
    BackendUnreachable,
    IdentityRejected,
    Database,
    DeployFailed,
    Containers,
}

impl ExitStatus {
    pub fn code(self) -> u8 {
        match self {
            Self::Success => exit::OK,
            Self::Failure => exit::FAILURE,
            Self::InvalidInput => exit::INVALID_INPUT,
            Self::BackendUnreachable => exit::BACKEND_UNREACHABLE,
            Self::IdentityRejected => exit::IDENTITY_REJECTED,
            Self::Database => exit::DATABASE,
            Self::DeployFailed => exit::DEPLOY_FAILED,
            Self::Containers => exit::CONTAINERS,
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
    pub fn code(self) -> &'static str {
        match self {
            Self::NoEngine => "no_container_engine",
            Self::NoCompose => "no_compose",
            Self::EngineDown => "engine_not_running",
            Self::PortInUse => "port_in_use",
            Self::ImagePull => "image_pull_failed",
            Self::Compose => "compose_failed",
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

/// Every `--json` error code with its exit code and meaning; the README's table is checked
/// against this list.
pub const CODES: &[(&str, &str, &str)] = &[
    (
        "invalid_input",
        "2",
        "a variable, flag or argument is not usable",
    ),
    (
        "project_file",
        "2",
        "a project file exists but cannot be used as it is",
    ),
    ("io", "1", "reading or writing a file failed"),
    (
        "backend_unreachable",
        "3",
        "the backend did not answer in time",
    ),
    (
        "identity_rejected",
        "4",
        "the backend runs another instance or rejects the admin key",
    ),
    ("database", "5", "the database cannot be used"),
    (
        "no_container_engine",
        "7",
        "`up`: neither `docker` nor `podman` is on `PATH`",
    ),
    (
        "no_compose",
        "7",
        "`up`: no Compose v2 (`docker compose`, 2.24 or newer)",
    ),
    (
        "engine_not_running",
        "7",
        "`up`: the Docker (or Podman) engine does not answer",
    ),
    (
        "port_in_use",
        "7",
        "`up`: a port the containers publish is taken by another process",
    ),
    ("image_pull_failed", "7", "`up`: an image cannot be pulled"),
    (
        "compose_failed",
        "7",
        "`up`, `down`: compose failed otherwise",
    ),
    (
        "child_failed",
        "6",
        "the Convex CLI ran and failed (its own code is in `child_exit_code`)",
    ),
    (
        "verification_failed",
        "1",
        "a check after the work failed (auth discovery)",
    ),
    ("runtime", "1", "any other failure"),
];

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

    /// The stable code `--json` reports (see [`CODES`]).
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidInput { .. } => "invalid_input",
            Self::ProjectFile { .. } => "project_file",
            Self::Io(_) => "io",
            Self::BackendUnreachable { .. } => "backend_unreachable",
            Self::IdentityRejected { .. } => "identity_rejected",
            Self::Database { .. } => "database",
            Self::Child { .. } => "child_failed",
            Self::Containers { kind, .. } => kind.code(),
            Self::Verification { .. } => "verification_failed",
            Self::Runtime { .. } => "runtime",
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Self::InvalidInput { .. } | Self::ProjectFile { .. } => ExitStatus::InvalidInput,
            Self::BackendUnreachable { .. } => ExitStatus::BackendUnreachable,
            Self::IdentityRejected { .. } => ExitStatus::IdentityRejected,
            Self::Database { .. } => ExitStatus::Database,
            Self::Child { .. } => ExitStatus::DeployFailed,
            Self::Containers { .. } => ExitStatus::Containers,
            Self::Io(_) | Self::Verification { .. } | Self::Runtime { .. } => ExitStatus::Failure,
        }
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
