//! The container engine as a child process: `docker compose` (or `podman compose`) running
//! the Convex containers for `up`, `down`, `logs` and `status`.
//!
//! Compose gets the project name and the file on its command line and everything else by
//! environment ([`compose::variables`]). No secret is in either: the backend reads them from
//! `.env.convex.local` itself, through `env_file`.
//!
//! I/O: child processes, the compose file in the cache directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde::Serialize;

use crate::containers::compose::Service;
use crate::containers::compose::{self, Container};
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::error::{ContainerFailure, Error, Result};
use crate::output::Output;
use crate::project::file_io::{self, Change};

/// `compose version` and `compose ps` answer at once, or the engine is in trouble.
const QUERY_TIMEOUT: Duration = Duration::from_secs(30);
/// `up` may pull two images over a slow link.
const UP_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// `down` waits for each container's stop grace period (10 s) at most.
const DOWN_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// `logs -f` runs until interrupted.
const FOLLOW_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);
/// Variables that may hold secrets and that compose has no use for (the backend gets its
/// settings from `.env.convex.local`).
pub(crate) const NOT_FOR_COMPOSE: [&str; 7] = [
    ev::INSTANCE_SECRET,
    ev::CONVEX_SELF_HOSTED_ADMIN_KEY,
    ev::CONVEX_DEPLOY_KEY,
    ev::DATABASE_URL,
    ev::POSTGRES_URI,
    ev::POSTGRES_URL,
    ev::MYSQL_URL,
];

/// Which CLI runs compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Engine {
    Docker,
    Podman,
}

impl Engine {
    fn program(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Podman => "podman",
        }
    }
}

/// The Convex containers of one project: how to run compose for them.
pub(crate) struct Stack {
    pub(crate) engine: Engine,
    program: PathBuf,
    /// The compose project name.
    pub(crate) project: String,
    pub(crate) file: PathBuf,
    /// `true` when `file` is the embedded file's cached copy (not `--compose-file`).
    embedded: bool,
    env: Vec<(OsString, OsString)>,
}

impl Stack {
    /// Find `docker` (else `podman`) on `PATH` and decide the project name and file.
    pub(crate) fn locate(
        process_env: &[(OsString, OsString)],
        env: &RawEnv,
        dir: &Path,
        compose_file: Option<&Path>,
    ) -> Result<Self> {
        let (engine, program) = find_engine(process_env)?;
        let dir = fs_err::canonicalize(dir)?;
        let project = compose::project_name(&dir);
        let (file, embedded) = match compose_file {
            Some(file) if file.is_file() => (fs_err::canonicalize(file)?, false),
            Some(file) => {
                return Err(Error::invalid(
                    "--compose-file / CODER_CONVEX_COMPOSE_FILE",
                    format!("{} is not a file", file.display()),
                )
                .with_hint(
                    "pass an existing compose file, or leave it out to use the built-in one",
                ));
            }
            None => {
                let cache = compose::cache_dir(
                    env.xdg_cache_home.as_deref(),
                    env.home.as_deref(),
                    &project,
                )?;
                (cache.join(compose::FILE_NAME), true)
            }
        };
        let env = process_env
            .iter()
            .filter(|(k, _)| !NOT_FOR_COMPOSE.iter().any(|n| k == n))
            .cloned()
            .collect();
        Ok(Self {
            engine,
            program,
            project,
            file,
            embedded,
            env,
        })
    }

    /// Whether the embedded file's cached copy exists (some `up` or `down` ran here).
    pub(crate) fn cached(&self) -> bool {
        self.embedded && self.file.is_file()
    }

    /// Write the embedded file to the cache when it is missing or differs.
    pub(crate) fn write_file(&self) -> Result<Option<Change>> {
        if !self.embedded {
            return Ok(None);
        }
        if let Some(parent) = self.file.parent() {
            fs_err::create_dir_all(parent)?;
        }
        let current = file_io::read_optional(&self.file)?;
        file_io::write_if_changed(
            &self.file,
            current.as_deref(),
            compose::FILE,
            file_io::PUBLIC_MODE,
        )
        .map(Some)
    }

    /// Hand compose the variables the file reads.
    pub(crate) fn set_variables(&mut self, vars: Vec<(&'static str, String)>) {
        self.env.retain(|(k, _)| !vars.iter().any(|(n, _)| k == n));
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
    }

    /// What `down`, `logs` and `status` hand compose: only the env file's path (the file
    /// refuses to load without it); the other variables keep the file's defaults.
    pub(crate) fn set_env_file(&mut self, dir: &Path) -> Result<()> {
        let env_file = fs_err::canonicalize(dir)?.join(crate::project::CONVEX_ENV_FILE);
        self.set_variables(vec![(
            ev::CODER_CONVEX_ENV_FILE,
            env_file.display().to_string(),
        )]);
        Ok(())
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new(&self.program);
        cmd.arg("compose")
            .arg("--project-name")
            .arg(&self.project)
            .arg("--file")
            .arg(&self.file)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(true);
        cmd
    }

    fn display(&self, args: &[&str]) -> String {
        format!(
            "{} compose --project-name {} --file {} {}",
            self.engine.program(),
            self.project,
            self.file.display(),
            args.join(" ")
        )
    }

    /// Compose v2 is there (and new enough for the file).
    pub(crate) async fn check_compose(&self) -> Result<()> {
        let args: &[&str] = match self.engine {
            Engine::Docker => &["version", "--short"],
            // `podman compose` hands over to docker-compose or podman-compose; only ask
            // whether one is there.
            Engine::Podman => &["version"],
        };
        let output = tokio::process::Command::new(&self.program)
            .arg("compose")
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .kill_on_drop(true)
            .output();
        let output = tokio::time::timeout(QUERY_TIMEOUT, output)
            .await
            .map_err(|_| no_compose(self.engine, "`compose version` did not answer"))??;
        let text = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let err = String::from_utf8_lossy(&output.stderr);
            return Err(no_compose(self.engine, err.trim()));
        }
        if self.engine == Engine::Docker {
            compose::check_compose_version(&text).map_err(|why| no_compose(self.engine, &why))?;
        }
        Ok(())
    }

    /// The project's containers (none when it never ran); fails when the engine is down.
    pub(crate) async fn ps(&self) -> Result<Vec<Container>> {
        let args = ["ps", "--all", "--format", "json"];
        let output = tokio::time::timeout(QUERY_TIMEOUT, self.command(&args).output())
            .await
            .map_err(|_| {
                Error::containers(
                    ContainerFailure::EngineDown,
                    format!(
                        "`{}` did not answer in {}s",
                        self.display(&args),
                        QUERY_TIMEOUT.as_secs()
                    ),
                    engine_hint(self.engine),
                )
            })??;
        if !output.status.success() {
            let lines: Vec<String> = String::from_utf8_lossy(&output.stderr)
                .lines()
                .map(str::to_owned)
                .collect();
            return Err(self.failed(&args, lines));
        }
        let text = String::from_utf8_lossy(&output.stdout);
        // An unknown format (some podman-compose versions) is not worth failing for.
        Ok(compose::parse_ps(&text).unwrap_or_default())
    }

    /// `compose up --detach`, its output streamed.
    pub(crate) async fn up(&self, out: &Output) -> Result<()> {
        self.stream(&["up", "--detach"], UP_TIMEOUT, out).await
    }

    /// `compose down`, with the volumes when asked.
    pub(crate) async fn down(&self, volumes: bool, out: &Output) -> Result<()> {
        let args: &[&str] = if volumes {
            &["down", "--volumes"]
        } else {
            &["down"]
        };
        self.stream(args, DOWN_TIMEOUT, out).await
    }

    /// `compose logs`: the logs go to our stdout (stderr with `--json`, which keeps stdout
    /// for the one JSON document); compose's own messages are streamed and kept.
    pub(crate) async fn logs(
        &self,
        follow: bool,
        service: Option<Service>,
        to_stderr: bool,
        out: &Output,
    ) -> Result<()> {
        let mut args = vec!["logs"];
        if follow {
            args.push("--follow");
        }
        if let Some(service) = service {
            args.push(service.as_str());
        }
        let mut cmd = self.command(&args);
        let stdout = if to_stderr {
            use std::os::fd::AsFd as _;
            Stdio::from(std::io::stderr().as_fd().try_clone_to_owned()?)
        } else {
            Stdio::inherit()
        };
        cmd.stdout(stdout).stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| self.spawn_failed(&e))?;
        let display = self.display(&args);
        let timeout = if follow {
            FOLLOW_TIMEOUT
        } else {
            QUERY_TIMEOUT
        };
        let finished =
            crate::child::stream(child, &display, timeout, crate::child::Leftovers::Keep, out)
                .await?;
        // Ctrl-C ends `logs -f`: not a failure.
        if finished.success() || (follow && finished.code() == 130) {
            return Ok(());
        }
        Err(self.failed(&args, finished.tail))
    }

    async fn stream(&self, args: &[&str], timeout: Duration, out: &Output) -> Result<()> {
        let display = self.display(args);
        out.info(format!("running: {display}"));
        let mut cmd = self.command(args);
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = cmd.spawn().map_err(|e| self.spawn_failed(&e))?;
        let finished =
            crate::child::stream(child, &display, timeout, crate::child::Leftovers::Keep, out)
                .await?;
        if finished.success() {
            return Ok(());
        }
        Err(self.failed(args, finished.tail))
    }

    fn spawn_failed(&self, e: &std::io::Error) -> Error {
        Error::containers(
            ContainerFailure::NoEngine,
            format!("cannot run {}: {e}", self.program.display()),
            install_hint(),
        )
    }

    /// A failed compose run as an error that says what it means.
    fn failed(&self, args: &[&str], tail: Vec<String>) -> Error {
        let kind = compose::classify(&tail);
        let command = format!("{} compose {}", self.engine.program(), args.join(" "));
        let (message, hint) = match kind {
            ContainerFailure::EngineDown => (
                format!("`{command}` cannot reach the {} engine", self.engine.program()),
                engine_hint(self.engine).to_owned(),
            ),
            ContainerFailure::PortInUse => (
                format!("`{command}` failed: a port the containers publish is taken"),
                "stop what listens on 127.0.0.1:3210, 3211 or 6791 (`coder-convex up` names it when it can), then run `coder-convex up` again".to_owned(),
            ),
            ContainerFailure::ImagePull => (
                format!("`{command}` cannot pull the Convex images (tag {})", compose::IMAGE_TAG),
                "check the network and that ghcr.io is reachable from the engine (a proxy must be configured for the Docker daemon itself), then run `coder-convex up` again".to_owned(),
            ),
            ContainerFailure::NoCompose => return no_compose(self.engine, &tail.join(" ")),
            ContainerFailure::NoEngine | ContainerFailure::Compose => (
                format!("`{command}` failed"),
                format!(
                    "see compose's output above; the compose file is {}",
                    self.file.display()
                ),
            ),
        };
        Error::Containers {
            kind,
            message,
            tail,
            hint: Some(hint),
        }
    }
}

/// `docker` on `PATH`, else `podman`.
pub(crate) fn find_engine(process_env: &[(OsString, OsString)]) -> Result<(Engine, PathBuf)> {
    let path = process_env
        .iter()
        .find(|(k, _)| k == ev::PATH)
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let cwd = std::env::current_dir()?;
    [Engine::Docker, Engine::Podman]
        .into_iter()
        .find_map(|engine| {
            which::which_in(engine.program(), Some(&path), &cwd)
                .ok()
                .map(|p| (engine, p))
        })
        .ok_or_else(|| {
            Error::containers(
                ContainerFailure::NoEngine,
                "neither `docker` nor `podman` is on PATH",
                install_hint(),
            )
        })
}

fn install_hint() -> &'static str {
    "install Docker (Docker Desktop, or Docker Engine with the compose plugin) or Podman with `podman compose`; or run the backend some other way and use `coder-convex setup`"
}

fn engine_hint(engine: Engine) -> &'static str {
    match engine {
        Engine::Docker => {
            "start Docker (Docker Desktop, or `sudo systemctl start docker`); when it runs but refuses you, add yourself to the `docker` group and log in again"
        }
        Engine::Podman => {
            "start the Podman service (`systemctl --user start podman.socket`, or `podman machine start` on macOS)"
        }
    }
}

fn no_compose(engine: Engine, why: &str) -> Error {
    let hint = match engine {
        Engine::Docker => {
            "install Compose v2 (`docker compose`, 2.24 or newer: Docker Desktop, or the docker-compose-plugin package); the old `docker-compose` 1.x is not supported"
        }
        Engine::Podman => {
            "install a compose provider for `podman compose` (docker-compose 2.24+ or podman-compose)"
        }
    };
    Error::containers(
        ContainerFailure::NoCompose,
        format!("`{} compose` is not usable: {why}", engine.program()),
        hint,
    )
}
