//! Step 8: deploy with the project's Convex CLI (`convex deploy`; README "Deploy").
//!
//! Which runner (`packageManager`, then the lock file), whether `convex` is installed
//! (`node_modules` or Yarn Plug'n'Play), where the functions live (`convex.json`), which extra
//! arguments are allowed, and the record of the last deploy. The child process itself — its
//! environment, process group, signals, timeout — is [`crate::deploy::convex_cli`]'s.
//!
//! I/O: reads `package.json`, `convex.json`, the lock files; writes the deploy record.

pub(crate) mod convex_cli;
pub(crate) mod digest;
pub(crate) mod version_skew;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

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

    /// Program and arguments that run the project's `convex <args>` (any subcommand).
    pub(crate) fn convex_command(self, args: &[String]) -> (&'static str, Vec<String>) {
        let (program, head): (&str, &[&str]) = match self {
            Self::Npm => ("npx", &["--no-install"]),
            Self::Pnpm => ("pnpm", &["exec"]),
            Self::Yarn => ("yarn", &[]),
            Self::Bun => ("bunx", &["--no-install"]),
        };
        let mut all: Vec<String> = head.iter().map(|s| (*s).to_owned()).collect();
        all.push("convex".to_owned());
        all.extend(args.iter().cloned());
        (program, all)
    }

    /// `convex deploy --yes` plus the user's extra arguments.
    pub(crate) fn deploy_command(self, extra: &[String]) -> (&'static str, Vec<String>) {
        let mut args = vec!["deploy".to_owned(), "--yes".to_owned()];
        args.extend(extra.iter().cloned());
        self.convex_command(&args)
    }

    /// The command that installs the project's packages from its lock file.
    pub(crate) fn install_packages_hint(self, dir: &Path) -> &'static str {
        match self {
            Self::Npm if dir.join("package-lock.json").exists() => "npm ci",
            Self::Npm => "npm install",
            Self::Pnpm => "pnpm install --frozen-lockfile",
            Self::Yarn => "yarn install",
            Self::Bun => "bun install --frozen-lockfile",
        }
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

/// How the project's `convex` package is installed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Installed {
    /// `node_modules/convex` (this dir or a workspace root above), with its version.
    NodeModules(String),
    /// Yarn Plug'n'Play (`.pnp.cjs`, no `node_modules`): `yarn convex` resolves it.
    YarnPnp,
}

impl Installed {
    /// The installed version when known (Plug'n'Play: the lock file pins it).
    pub(crate) fn version(&self) -> &str {
        match self {
            Self::NodeModules(v) => v,
            Self::YarnPnp => "",
        }
    }
}

/// Whether the project can run its `convex` CLI, and which version it is.
pub(crate) fn convex_installed(
    dir: &Path,
    pm: PackageManager,
    package_json: Option<&serde_json::Value>,
) -> Option<Installed> {
    let in_node_modules = dir
        .ancestors()
        .map(|a| a.join("node_modules/convex/package.json"))
        .find(|p| p.exists());
    if let Some(path) = in_node_modules {
        let version = fs_err::read_to_string(&path)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| v.get("version")?.as_str().map(str::to_owned))
            .unwrap_or_default();
        return Some(Installed::NodeModules(version));
    }
    let declared = package_json.is_some_and(|p| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|s| p.get(s).and_then(|d| d.get("convex")).is_some())
    });
    let pnp = dir.ancestors().any(|a| a.join(".pnp.cjs").exists());
    (pm == PackageManager::Yarn && pnp && declared).then_some(Installed::YarnPnp)
}

/// `functions` from `convex.json` (default `convex/`): where the Convex functions live.
pub(crate) fn functions_dir(dir: &Path) -> Result<PathBuf> {
    let path = dir.join("convex.json");
    let Some(text) = crate::project::file_io::read_optional(&path)? else {
        return Ok(dir.join("convex"));
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        Error::file(&path, format!("not valid JSON: {e}"))
            .with_hint("fix convex.json (the Convex CLI reads it too)")
    })?;
    match json.get("functions") {
        None => Ok(dir.join("convex")),
        Some(serde_json::Value::String(f)) if !f.trim().is_empty() => Ok(dir.join(f.trim())),
        Some(_) => Err(Error::file(&path, "`functions` must be a directory path")
            .with_hint(r#"write it like "functions": "src/convex/""#)),
    }
}

/// Flags that would send the push elsewhere or put a secret in argv; we choose the target.
const REFUSED_ARGS: [&str; 6] = [
    "--admin-key",
    "--url",
    "--env-file",
    "--deployment",
    "--preview-create",
    "--preview-name",
];

/// Check the extra `convex deploy` arguments (`--deploy-arg`, `deploy -- …`).
pub(crate) fn check_extra_args(args: &[String]) -> Result<()> {
    for arg in args {
        let flag = arg.split('=').next().unwrap_or_default();
        if REFUSED_ARGS.contains(&flag) {
            return Err(Error::invalid(
                format!("--deploy-arg / {}", ev::CODER_CONVEX_DEPLOY_ARGS),
                format!("`{flag}` is not allowed: coder-convex chooses the deployment and passes the admin key by environment"),
            )
            .with_hint("remove it; the deploy always targets this workspace's backend"));
        }
    }
    Ok(())
}

/// How a successful deploy went; the last one is kept for `status`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub(crate) struct DeployOutcome {
    pub command: String,
    pub duration_ms: u64,
    /// Unix seconds when it finished.
    pub finished_at: u64,
    /// What the push depended on locally ([`crate::deploy::digest::local`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_digest: Option<String>,
    /// What the backend reported as deployed right after ([`crate::deploy::digest::remote`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_digest: Option<String>,
}

/// Where the last successful deploy is recorded. `node_modules/.cache` is where JS tools keep
/// per-project state: never committed, gone with `node_modules`, and there whenever a deploy
/// could run from this directory.
pub(crate) const LAST_DEPLOY_FILE: &str = "node_modules/.cache/coder-convex/last-deploy.json";

/// Record a successful deploy (best effort: `status` shows it; without it `setup` deploys).
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
            let current = crate::project::file_io::read_optional(&path)?;
            crate::project::file_io::write_if_changed(
                &path,
                current.as_deref(),
                &text,
                crate::project::file_io::PUBLIC_MODE,
            )
        });
    if let Err(e) = written {
        tracing::debug!(error = %e, "could not record the deploy");
    }
}

/// The last successful deploy, if one was recorded.
pub(crate) fn last(dir: &Path) -> Option<DeployOutcome> {
    let text = fs_err::read_to_string(dir.join(LAST_DEPLOY_FILE)).ok()?;
    serde_json::from_str(&text).ok()
}

/// Run `convex deploy` in `dir`; a non-zero exit becomes [`Error::Child`] with its code.
pub(crate) async fn run(
    dir: &Path,
    pm: PackageManager,
    extra_args: &[String],
    env: Vec<(OsString, OsString)>,
    timeout: Duration,
    out: &Output,
) -> Result<DeployOutcome> {
    let (program, args) = pm.deploy_command(extra_args);
    let invocation = convex_cli::Invocation {
        dir,
        program,
        args,
        env,
        timeout,
    };
    let display = invocation.display();
    out.info(format!("deploying: {display}"));
    let finished = convex_cli::run(invocation, out).await?;
    if let Some(signal) = finished.forwarded {
        out.warn(format!("{signal} forwarded to `{display}`"));
    }
    if finished.success() {
        // What really happened: a push that completed is a deploy, interrupted or not.
        let outcome = DeployOutcome {
            command: display,
            duration_ms: u64::try_from(finished.duration.as_millis()).unwrap_or(u64::MAX),
            finished_at: crate::clock::unix_now(),
            local_digest: None,
            remote_digest: None,
        };
        return Ok(outcome);
    }
    let hint = if finished.timed_out {
        format!(
            "raise the limit with --deploy-timeout / {}",
            ev::CODER_CONVEX_DEPLOY_TIMEOUT
        )
    } else if finished
        .tail
        .iter()
        .any(|l| l.contains("--skip-large-indexes-check"))
        && !extra_args.iter().any(|a| a == "--skip-large-indexes-check")
    {
        "the push deletes or backfills a large index and the Convex CLI cannot ask without a terminal; if that is intended, run `coder-convex deploy -- --skip-large-indexes-check` (setup: `--deploy-arg=--skip-large-indexes-check` or CODER_CONVEX_DEPLOY_ARGS)".to_owned()
    } else if let Some(signal) = finished.forwarded {
        format!("the deploy was stopped by {signal}; run `coder-convex deploy` again")
    } else {
        "fix the error above and run `coder-convex deploy` again".to_owned()
    };
    Err(Error::Child {
        program: display,
        code: finished.code(),
        tail: finished.tail,
        hint: Some(hint),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn package_manager_detection() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(PackageManager::detect(d, None), PackageManager::Npm);
        fs_err::write(d.join("yarn.lock"), "").unwrap();
        assert_eq!(PackageManager::detect(d, None), PackageManager::Yarn);
        fs_err::write(d.join("pnpm-lock.yaml"), "").unwrap();
        assert_eq!(PackageManager::detect(d, None), PackageManager::Pnpm);
        let pkg = json!({"packageManager": "bun@1.2.0"});
        assert_eq!(PackageManager::detect(d, Some(&pkg)), PackageManager::Bun);
        let e = tempfile::tempdir().unwrap();
        fs_err::write(e.path().join("bun.lockb"), "").unwrap();
        assert_eq!(PackageManager::detect(e.path(), None), PackageManager::Bun);
        let extra = strings(&["--skip-large-indexes-check"]);
        assert_eq!(
            PackageManager::Npm.deploy_command(&extra),
            (
                "npx",
                strings(&[
                    "--no-install",
                    "convex",
                    "deploy",
                    "--yes",
                    "--skip-large-indexes-check"
                ])
            )
        );
        assert_eq!(
            PackageManager::Pnpm.deploy_command(&[]),
            ("pnpm", strings(&["exec", "convex", "deploy", "--yes"]))
        );
        assert_eq!(
            PackageManager::Yarn.deploy_command(&[]),
            ("yarn", strings(&["convex", "deploy", "--yes"]))
        );
        assert_eq!(
            PackageManager::Bun.convex_command(&strings(&["export", "--path", "x.zip"])),
            (
                "bunx",
                strings(&["--no-install", "convex", "export", "--path", "x.zip"])
            )
        );
    }

    #[test]
    fn installed_in_node_modules_or_yarn_pnp() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let pkg = json!({"dependencies": {"convex": "^1.48.0"}});
        assert_eq!(convex_installed(d, PackageManager::Yarn, Some(&pkg)), None);
        fs_err::write(d.join(".pnp.cjs"), "").unwrap();
        assert_eq!(
            convex_installed(d, PackageManager::Yarn, Some(&pkg)),
            Some(Installed::YarnPnp)
        );
        // Plug'n'Play is Yarn's; and the package must be declared.
        assert_eq!(convex_installed(d, PackageManager::Npm, Some(&pkg)), None);
        assert_eq!(
            convex_installed(d, PackageManager::Yarn, Some(&json!({}))),
            None
        );
        fs_err::create_dir_all(d.join("node_modules/convex")).unwrap();
        fs_err::write(
            d.join("node_modules/convex/package.json"),
            r#"{"name":"convex","version":"1.48.0"}"#,
        )
        .unwrap();
        assert_eq!(
            convex_installed(d, PackageManager::Npm, None),
            Some(Installed::NodeModules("1.48.0".into()))
        );
    }

    #[test]
    fn functions_dir_from_convex_json() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert_eq!(functions_dir(d).unwrap(), d.join("convex"));
        fs_err::write(d.join("convex.json"), r#"{"functions": "src/convex/"}"#).unwrap();
        assert_eq!(functions_dir(d).unwrap(), d.join("src/convex/"));
        fs_err::write(d.join("convex.json"), r#"{"node": {}}"#).unwrap();
        assert_eq!(functions_dir(d).unwrap(), d.join("convex"));
        fs_err::write(d.join("convex.json"), r#"{"functions": 3}"#).unwrap();
        assert_eq!(
            functions_dir(d).unwrap_err().code().as_str(),
            "project_file"
        );
        fs_err::write(d.join("convex.json"), "{").unwrap();
        assert_eq!(
            functions_dir(d).unwrap_err().code().as_str(),
            "project_file"
        );
    }

    #[test]
    fn extra_args_that_retarget_the_push_are_refused() {
        assert!(
            check_extra_args(&strings(&[
                "--skip-large-indexes-check",
                "--typecheck=disable"
            ]))
            .is_ok()
        );
        for bad in [
            "--admin-key=x",
            "--url",
            "--env-file=.env.prod",
            "--preview-create",
        ] {
            let err = check_extra_args(&strings(&[bad])).unwrap_err();
            assert_eq!(err.code().as_str(), "invalid_input", "{bad}");
            assert!(
                err.to_string()
                    .starts_with("invalid --deploy-arg / CODER_CONVEX_DEPLOY_ARGS")
            );
        }
    }
}
