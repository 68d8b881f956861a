//! Step 8: run the project's Convex CLI (`convex deploy`) as a child process (README "Talking to the backend").
//!
//! Secrets reach the child by environment, never argv. Output is streamed line by line (the
//! Coder startup log shows it live) and the tail is kept for the error message. SIGINT and
//! SIGTERM are forwarded; a timeout bounds the run; the child's exit code becomes ours.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::output::Output;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PackageManager {
    Npm,
    Pnpm,
    Yarn,
    Bun,
}

impl PackageManager {
    /// `packageManager` in package.json, else the lock file, else npm.
    pub(crate) fn detect(dir: &Path, package_json: Option<&serde_json::Value>) -> Self {
        let declared = package_json
            .and_then(|p| p.get("packageManager"))
            .and_then(|v| v.as_str())
            .and_then(|v| v.split('@').next());
        match declared {
            Some("pnpm") => return Self::Pnpm,
            Some("yarn") => return Self::Yarn,
            Some("bun") => return Self::Bun,
            Some("npm") => return Self::Npm,
            _ => {}
        }
        let has = |f: &str| dir.join(f).exists();
        if has("pnpm-lock.yaml") {
            Self::Pnpm
        } else if has("yarn.lock") {
            Self::Yarn
        } else if has("bun.lock") || has("bun.lockb") {
            Self::Bun
        } else {
            Self::Npm
        }
    }

    /// Program and arguments that run the project's `convex deploy`.
    pub(crate) fn deploy_command(self) -> (&'static str, Vec<&'static str>) {
        let tail = ["convex", "deploy", "--yes"];
        let (program, head): (&str, &[&str]) = match self {
            Self::Npm => ("npx", &["--no-install"]),
            Self::Pnpm => ("pnpm", &["exec"]),
            Self::Yarn => ("yarn", &[]),
            Self::Bun => ("bunx", &["--no-install"]),
        };
        (program, head.iter().chain(tail.iter()).copied().collect())
    }

    pub(crate) fn install_hint(self) -> &'static str {
        match self {
            Self::Npm => "npm install convex",
            Self::Pnpm => "pnpm add convex",
            Self::Yarn => "yarn add convex",
            Self::Bun => "bun add convex",
        }
    }
}

/// Where the project's `convex` package is installed (this dir or a workspace root above).
pub(crate) fn convex_installed(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|a| a.join("node_modules/convex/package.json"))
        .find(|p| p.exists())
}

/// The child's environment: ours, minus what would select another deployment or is not the
/// child's business, plus the self-hosted URL and admin key.
pub(crate) fn child_env(
    process_env: &[(OsString, OsString)],
    backend_url: &str,
    admin_key: &str,
) -> Vec<(OsString, OsString)> {
    let drop = [
        ev::CONVEX_DEPLOYMENT,
        ev::CONVEX_DEPLOY_KEY,
        ev::INSTANCE_SECRET,
        ev::CONVEX_SELF_HOSTED_URL,
        ev::CONVEX_SELF_HOSTED_ADMIN_KEY,
    ];
    let mut env: Vec<(OsString, OsString)> = process_env
        .iter()
        .filter(|(k, _)| !drop.iter().any(|d| k == d))
        .cloned()
        .collect();
    env.push((ev::CONVEX_SELF_HOSTED_URL.into(), backend_url.into()));
    env.push((ev::CONVEX_SELF_HOSTED_ADMIN_KEY.into(), admin_key.into()));
    env
}

/// How a successful deploy went; the last one is kept for `status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct DeployOutcome {
    pub command: String,
    pub duration_ms: u64,
    /// Unix seconds when it finished.
    pub finished_at: u64,
}

/// Where the last successful deploy is recorded. `node_modules/.cache` is where JS tools keep
/// per-project state: never committed, gone with `node_modules`, and there whenever a deploy
/// could run from this directory.
pub(crate) const LAST_DEPLOY_FILE: &str = "node_modules/.cache/coder-convex/last-deploy.json";

/// Record a successful deploy (best effort: `status` is the only reader).
pub(crate) fn record(dir: &Path, outcome: &DeployOutcome) {
    if !dir.join("node_modules").is_dir() {
        return;
    }
    let path = dir.join(LAST_DEPLOY_FILE);
    let written = path
        .parent()
        .map_or(Ok(()), fs_err::create_dir_all)
        .map_err(crate::error::Error::from)
        .and_then(|()| {
            let text = serde_json::to_string(outcome).unwrap_or_default();
            let current = crate::project_fs::read_optional(&path)?;
            crate::project_fs::write_if_changed(
                &path,
                current.as_deref(),
                &text,
                crate::project_fs::PUBLIC_MODE,
            )
        });
    if let Err(e) = written {
        tracing::debug!(error = %e, "could not record the deploy");
    }
}

/// The last successful deploy, if one was recorded.
pub(crate) fn last(dir: &Path) -> Option<DeployOutcome> {
    let text = std::fs::read_to_string(dir.join(LAST_DEPLOY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Run `convex deploy` in `dir`; a non-zero exit becomes [`Error::Child`] with its code.
pub(crate) async fn run(
    dir: &Path,
    pm: PackageManager,
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    out: &Output,
) -> Result<DeployOutcome> {
    let (program, args) = pm.deploy_command();
    let display = format!("{program} {}", args.join(" "));
    out.info(format!("deploying: {display}"));
    let started = Instant::now();
    let child = tokio::process::Command::new(program)
        .args(&args)
        .current_dir(dir)
        .env_clear()
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::runtime(format!("cannot run `{program}`: {e}")).with_hint(format!(
                "install Node.js and {program}, or skip this step with --no-deploy"
            ))
        })?;
    let finished = crate::child::stream(child, &display, timeout, out).await?;
    if finished.success() {
        let outcome = DeployOutcome {
            command: display,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            finished_at: crate::clock::unix_now(),
        };
        record(dir, &outcome);
        return Ok(outcome);
    }
    let code = finished.code();
    let hint = if finished.timed_out {
        format!(
            "raise the limit with --deploy-timeout / {}",
            ev::CODER_CONVEX_DEPLOY_TIMEOUT
        )
    } else {
        "fix the error above and run `coder-convex deploy` again".to_owned()
    };
    Err(Error::Child {
        program: display,
        code,
        tail: finished.tail,
        hint: Some(hint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn package_manager_detection() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(PackageManager::detect(d, None), PackageManager::Npm);
        std::fs::write(d.join("yarn.lock"), "").unwrap();
        assert_eq!(PackageManager::detect(d, None), PackageManager::Yarn);
        std::fs::write(d.join("pnpm-lock.yaml"), "").unwrap();
        assert_eq!(PackageManager::detect(d, None), PackageManager::Pnpm);
        let pkg = json!({"packageManager": "bun@1.2.0"});
        assert_eq!(PackageManager::detect(d, Some(&pkg)), PackageManager::Bun);
        let e = tempfile::tempdir().unwrap();
        std::fs::write(e.path().join("bun.lockb"), "").unwrap();
        assert_eq!(PackageManager::detect(e.path(), None), PackageManager::Bun);
        assert_eq!(
            PackageManager::Npm.deploy_command(),
            ("npx", vec!["--no-install", "convex", "deploy", "--yes"])
        );
        assert_eq!(
            PackageManager::Pnpm.deploy_command(),
            ("pnpm", vec!["exec", "convex", "deploy", "--yes"])
        );
        assert_eq!(
            PackageManager::Yarn.deploy_command(),
            ("yarn", vec!["convex", "deploy", "--yes"])
        );
        assert_eq!(
            PackageManager::Bun.deploy_command(),
            ("bunx", vec!["--no-install", "convex", "deploy", "--yes"])
        );
    }

    #[test]
    fn child_env_drops_conflicts_and_secrets() {
        let env: Vec<(OsString, OsString)> = [
            ("PATH", "/bin"),
            ("CONVEX_DEPLOYMENT", "dev:x"),
            ("CONVEX_DEPLOY_KEY", "prod:y"),
            ("INSTANCE_SECRET", "abc"),
            ("CONVEX_SELF_HOSTED_URL", "http://old"),
        ]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect();
        let child = child_env(&env, "http://127.0.0.1:3210", "name|01ab");
        let names: Vec<_> = child
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert_eq!(
            names,
            [
                "PATH=/bin",
                "CONVEX_SELF_HOSTED_URL=http://127.0.0.1:3210",
                "CONVEX_SELF_HOSTED_ADMIN_KEY=name|01ab"
            ]
        );
    }
}
