//! The supervisor of the backend process: a detached `coder-convex supervise-backend` that
//! `up` starts and `down` stops. It reads `.env.convex.local` (as the container's entrypoint
//! does), runs the upstream binary on loopback ports with the data directory, appends both
//! their output and its own lines to one log, restarts the backend when it exits (backoff 1 s
//! doubling to 30 s, reset after a minute of running) and when the env file changes, and
//! stops it with SIGINT (10 s grace, then SIGKILL) on SIGTERM or SIGINT.
//!
//! Everything lives in the run directory
//! `${XDG_DATA_HOME:-~/.local/share}/coder-convex/backend/<project>`: `data/` (SQLite file
//! and file storage), `backend.log`, `supervisor.pid`, `backend.pid`.
//!
//! I/O: processes, signals, the run directory.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use sha2::{Digest as _, Sha256};
use tokio::signal::unix::{SignalKind, signal};

use crate::containers::compose;
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::error::{Error, Result};
use crate::project;

use super::argv::{self, Ports};

const POLL: Duration = Duration::from_millis(250);
const GRACE: Duration = Duration::from_secs(10);
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A backend that ran this long is taken as healthy: its next crash restarts it at once.
const HEALTHY_RUN: Duration = Duration::from_secs(60);

/// The run directory of one project.
#[derive(Debug, Clone)]
pub(crate) struct RunDir(pub PathBuf);

impl RunDir {
    /// `${XDG_DATA_HOME:-$HOME/.local/share}/coder-convex/backend/<project>`, where `<project>`
    /// is the compose project name of the directory (its name plus a hash of its path).
    pub(crate) fn locate(env: &RawEnv, dir: &Path) -> Result<Self> {
        let base = match (
            env.xdg_data_home.as_deref().map(Path::new),
            env.home.as_deref(),
        ) {
            (Some(xdg), _) if xdg.is_absolute() => xdg.to_owned(),
            (_, Some(home)) if Path::new(home).is_absolute() => {
                Path::new(home).join(".local/share")
            }
            _ => {
                return Err(Error::invalid(
                    ev::HOME,
                    "neither XDG_DATA_HOME nor HOME is an absolute path",
                )
                .with_hint("set HOME (or XDG_DATA_HOME)"));
            }
        };
        let canonical = fs_err::canonicalize(dir)?;
        Ok(Self(
            base.join("coder-convex/backend")
                .join(compose::project_name(&canonical)),
        ))
    }
    pub(crate) fn data(&self) -> PathBuf {
        self.0.join("data")
    }
    pub(crate) fn log(&self) -> PathBuf {
        self.0.join("backend.log")
    }
    fn supervisor_pid_file(&self) -> PathBuf {
        self.0.join("supervisor.pid")
    }
    fn backend_pid_file(&self) -> PathBuf {
        self.0.join("backend.pid")
    }
    /// The supervisor's pid when it is running.
    pub(crate) fn supervisor(&self) -> Option<i32> {
        live_pid(&self.supervisor_pid_file())
    }
    /// The backend's pid when it is running.
    pub(crate) fn backend(&self) -> Option<i32> {
        live_pid(&self.backend_pid_file())
    }
}

fn live_pid(file: &Path) -> Option<i32> {
    let pid: i32 = fs_err::read_to_string(file).ok()?.trim().parse().ok()?;
    kill(Pid::from_raw(pid), None).ok().map(|()| pid)
}

/// Start the supervisor, detached in its own process group, with `env` (no secret in its
/// arguments: it reads them from the env file). Returns its pid.
pub(crate) fn start(
    run: &RunDir,
    binary: &Path,
    release: &str,
    ports: Ports,
    project_dir: &Path,
    env: &[(OsString, OsString)],
) -> Result<u32> {
    fs_err::create_dir_all(run.data())?;
    let log = append(&run.log())?;
    let exe = std::env::current_exe()
        .map_err(|e| Error::runtime_from("locating the coder-convex executable", e))?;
    let child = std::process::Command::new(exe)
        .arg("supervise-backend")
        .arg("--binary")
        .arg(binary)
        .args(["--release", release])
        .args(["--api-port", &ports.api.to_string()])
        .args(["--site-port", &ports.site.to_string()])
        .arg("--run-dir")
        .arg(&run.0)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env(ev::CODER_CONVEX_PROJECT_DIR, project_dir)
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(
            log.try_clone()
                .map_err(|e| Error::runtime_from("the log file", e))?,
        )
        .stderr(log)
        .spawn()
        .map_err(|e| Error::runtime_from("starting the backend supervisor", e))?;
    Ok(child.id())
}

/// Stop the supervisor (and with it the backend); `true` when one was running.
pub(crate) async fn stop(run: &RunDir) -> Result<bool> {
    let Some(pid) = run.supervisor() else {
        return Ok(false);
    };
    let pid = Pid::from_raw(pid);
    let _ = kill(pid, Signal::SIGTERM);
    // The supervisor gives the backend its grace period; a little more for itself.
    let until = Instant::now() + GRACE + Duration::from_secs(5);
    while kill(pid, None).is_ok() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if kill(pid, None).is_ok() {
        let _ = kill(pid, Signal::SIGKILL);
        if let Some(backend) = run.backend() {
            let _ = kill(Pid::from_raw(backend), Signal::SIGKILL);
        }
    }
    let _ = fs_err::remove_file(run.supervisor_pid_file());
    let _ = fs_err::remove_file(run.backend_pid_file());
    Ok(true)
}

fn append(path: &Path) -> Result<std::fs::File> {
    Ok(fs_err::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?
        .into_parts()
        .0)
}

/// A line of the supervisor's own in the log.
fn note(log: &Path, line: &str) {
    if let Ok(mut file) = append(log) {
        let _ = writeln!(file, "coder-convex supervisor: {line}");
    }
}

/// The environment the backend gets: ours without secrets, plus upstream's compose settings.
fn backend_env(release: &str) -> Vec<(OsString, OsString)> {
    let secret = |name: &str| {
        let upper = name.to_ascii_uppercase();
        ["SECRET", "KEY", "PASSWORD", "TOKEN", "_URL"]
            .iter()
            .any(|s| upper.contains(s))
    };
    let mut env: Vec<(OsString, OsString)> = std::env::vars_os()
        .filter(|(k, _)| !k.to_str().is_none_or(secret))
        .collect();
    env.extend(
        [
            ("DISABLE_METRICS_ENDPOINT", "true"),
            ("DOCUMENT_RETENTION_DELAY", "172800"),
            ("CONVEX_RELEASE_VERSION_DEV", release),
        ]
        .map(|(k, v)| (k.into(), v.into())),
    );
    env
}

/// Why the running backend was stopped or ended.
enum Ended {
    Exited(String),
    EnvChanged,
    Stop,
}

/// The supervisor's loop; returns when told to stop.
pub(crate) async fn supervise(
    run: &RunDir,
    binary: &Path,
    release: &str,
    ports: Ports,
    project_dir: &Path,
) -> Result<()> {
    let log = run.log();
    fs_err::create_dir_all(run.data())?;
    fs_err::write(run.supervisor_pid_file(), std::process::id().to_string())?;
    let mut term =
        signal(SignalKind::terminate()).map_err(|e| Error::runtime_from("a SIGTERM handler", e))?;
    let mut int =
        signal(SignalKind::interrupt()).map_err(|e| Error::runtime_from("a SIGINT handler", e))?;
    let env_file = project_dir.join(project::CONVEX_ENV_FILE);
    let mut backoff = FIRST_BACKOFF;
    loop {
        let Some((hash, values)) = read_env(&env_file) else {
            note(&log, &format!("waiting for {}", env_file.display()));
            tokio::select! {
                () = tokio::time::sleep(POLL) => continue,
                _ = term.recv() => break,
                _ = int.recv() => break,
            }
        };
        let args = match argv::backend_args(&values, ports, &run.data()) {
            Ok(args) => args,
            Err(missing) => {
                note(
                    &log,
                    &format!(
                        "{missing} is not in {}; waiting for it to change",
                        env_file.display()
                    ),
                );
                tokio::select! {
                    () = wait_for_change(&env_file, &hash) => continue,
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                }
            }
        };
        let mut child = tokio::process::Command::new(binary)
            .args(args)
            .current_dir(run.data())
            .env_clear()
            .envs(backend_env(release))
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(append(&log)?)
            .stderr(append(&log)?)
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| Error::runtime_from(format!("starting {}", binary.display()), e))?;
        let pid = child.id().unwrap_or_default();
        fs_err::write(run.backend_pid_file(), pid.to_string())?;
        note(&log, &format!("started the backend (pid {pid}, {release})"));
        let started = Instant::now();
        let ended = tokio::select! {
            status = child.wait() => Ended::Exited(status.map_or_else(|e| e.to_string(), |s| s.to_string())),
            () = wait_for_change(&env_file, &hash) => Ended::EnvChanged,
            _ = term.recv() => Ended::Stop,
            _ = int.recv() => Ended::Stop,
        };
        if !matches!(ended, Ended::Exited(_)) {
            interrupt(&mut child).await;
        }
        let _ = fs_err::remove_file(run.backend_pid_file());
        match ended {
            Ended::Stop => {
                note(&log, "stopped the backend");
                break;
            }
            Ended::EnvChanged => {
                note(&log, ".env.convex.local changed: restarting the backend");
                backoff = FIRST_BACKOFF;
            }
            Ended::Exited(status) => {
                if started.elapsed() >= HEALTHY_RUN {
                    backoff = FIRST_BACKOFF;
                }
                note(
                    &log,
                    &format!(
                        "the backend exited ({status}); restarting in {} s",
                        backoff.as_secs()
                    ),
                );
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    _ = term.recv() => break,
                    _ = int.recv() => break,
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    let _ = fs_err::remove_file(run.supervisor_pid_file());
    Ok(())
}

/// SIGINT (the backend drains and exits), SIGKILL after the grace period.
async fn interrupt(child: &mut tokio::process::Child) {
    if let Some(pid) = child.id() {
        let _ = kill(Pid::from_raw(pid.cast_signed()), Signal::SIGINT);
    }
    if tokio::time::timeout(GRACE, child.wait()).await.is_err() {
        let _ = child.kill().await;
    }
}

/// The env file's hash and values, `None` while it is missing or unreadable.
fn read_env(file: &Path) -> Option<(String, BTreeMap<String, String>)> {
    let content = fs_err::read_to_string(file).ok()?;
    let values = project::dotenv::parse(file, &content).ok()?;
    Some((hex::encode(Sha256::digest(content.as_bytes())), values))
}

/// Returns when the env file's content differs from `hash` (or it disappears).
async fn wait_for_change(file: &Path, hash: &str) {
    loop {
        tokio::time::sleep(POLL).await;
        match read_env(file) {
            Some((now, _)) if now == hash => {}
            _ => return,
        }
    }
}

/// The backend process of a project, for `status`.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Status {
    pub running: bool,
    pub supervisor_pid: Option<i32>,
    pub backend_pid: Option<i32>,
    pub log: PathBuf,
    /// How many times the supervisor started the backend (its log's count).
    pub starts: usize,
}

/// The state of the backend process, when `up --backend process` ran for this project.
pub(crate) fn status(env: &RawEnv, dir: &Path) -> Option<Status> {
    let run = RunDir::locate(env, dir).ok()?;
    let log = run.log();
    let text = fs_err::read_to_string(&log).ok()?;
    let supervisor_pid = run.supervisor();
    Some(Status {
        running: supervisor_pid.is_some(),
        supervisor_pid,
        backend_pid: run.backend(),
        starts: text
            .lines()
            .filter(|l| l.starts_with("coder-convex supervisor: started the backend"))
            .count(),
        log,
    })
}
