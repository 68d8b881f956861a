//! Running the project's Convex CLI (`convex <subcommand>`) against our backend: the child's
//! environment and its process tree. `deploy` uses it; anything else that runs the CLI
//! (`convex export`, `convex import`, …) should too, so every run gets the same guarantees.
//!
//! - **Environment.** The CLI picks its deployment from `CONVEX_DEPLOY_KEY`,
//!   `CONVEX_DEPLOYMENT_TOKEN` and `CONVEX_DEPLOYMENT` before the self-hosted pair, reading
//!   them from the environment, `.env.local` and `.env`. Its dotenv never overrides a variable
//!   that is present, and it treats an empty value as unset, so setting each selector to `""`
//!   neutralises every project file. Secrets travel by environment, never argv.
//! - **Proxies.** The CLI installs undici's `EnvHttpProxyAgent` when `HTTP(S)_PROXY` is set,
//!   which proxies loopback too unless `NO_PROXY` names it; we add loopback to both spellings
//!   (undici prefers the lower-case one).
//! - **Process tree.** `npx` runs `sh -c convex …` which runs `node`: signalling `npx` alone
//!   orphans the CLI. The child leads its own process group; SIGINT/SIGTERM go to the group; a
//!   timeout terminates the group, then kills it after a grace period; whatever is left of the
//!   group when the leader exits is stopped the same way.
//! - **Output** is streamed line by line (the Coder startup log shows it live) and the tail is
//!   kept for the error message.
//!
//! I/O: child processes.

use std::ffi::{OsStr, OsString};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::output::Output;

/// Variables the CLI's deployment selection reads before the self-hosted pair (CLI 1.48,
/// `deploymentSelection.ts`/`utils.ts`), plus the access-token override: set to `""`.
pub(crate) const NEUTRALISED: [&str; 4] = [
    ev::CONVEX_DEPLOYMENT,
    ev::CONVEX_DEPLOY_KEY,
    ev::CONVEX_DEPLOYMENT_TOKEN,
    ev::CONVEX_OVERRIDE_ACCESS_TOKEN,
];

/// Ours, never the child's business.
const DROPPED: [&str; 3] = [
    ev::INSTANCE_SECRET,
    ev::CONVEX_SELF_HOSTED_URL,
    ev::CONVEX_SELF_HOSTED_ADMIN_KEY,
];

const PROXY_VARS: [&str; 4] = ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"];
const LOOPBACK: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// The child's environment: ours, with the deployment selectors neutralised, loopback exempt
/// from any proxy, and the self-hosted URL and admin key set.
pub(crate) fn child_env(
    process_env: &[(OsString, OsString)],
    backend_url: &str,
    admin_key: &str,
) -> Vec<(OsString, OsString)> {
    let is = |k: &OsStr, names: &[&str]| names.iter().any(|n| k == *n);
    let mut env: Vec<(OsString, OsString)> = process_env
        .iter()
        .filter(|(k, _)| !is(k, &NEUTRALISED) && !is(k, &DROPPED))
        .filter(|(k, _)| k != "NO_PROXY" && k != "no_proxy")
        .cloned()
        .collect();
    let proxied = process_env
        .iter()
        .any(|(k, v)| is(k, &PROXY_VARS) && !v.is_empty());
    if proxied {
        let value = no_proxy(process_env);
        env.push(("NO_PROXY".into(), value.clone().into()));
        env.push(("no_proxy".into(), value.into()));
    } else {
        env.extend(
            process_env
                .iter()
                .filter(|(k, _)| k == "NO_PROXY" || k == "no_proxy")
                .cloned(),
        );
    }
    env.extend(
        NEUTRALISED
            .iter()
            .map(|n| (OsString::from(n), OsString::new())),
    );
    env.push((ev::CONVEX_SELF_HOSTED_URL.into(), backend_url.into()));
    env.push((ev::CONVEX_SELF_HOSTED_ADMIN_KEY.into(), admin_key.into()));
    env
}

/// The user's `no_proxy` (undici reads it first) or `NO_PROXY`, plus loopback.
fn no_proxy(process_env: &[(OsString, OsString)]) -> String {
    let get = |name: &str| {
        process_env
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.to_string_lossy().into_owned())
            .filter(|v| !v.trim().is_empty())
    };
    let mut entries: Vec<String> = get("no_proxy")
        .or_else(|| get("NO_PROXY"))
        .map(|v| v.split(',').map(|e| e.trim().to_owned()).collect())
        .unwrap_or_default();
    for host in LOOPBACK {
        if !entries.iter().any(|e| e == host) {
            entries.push(host.to_owned());
        }
    }
    entries.retain(|e| !e.is_empty());
    entries.join(",")
}

/// One run of the CLI: what to run, where, with what, for how long.
pub(crate) struct Invocation<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) program: &'a str,
    pub(crate) args: Vec<String>,
    /// From [`child_env`]; the child gets exactly this environment.
    pub(crate) env: Vec<(OsString, OsString)>,
    pub(crate) timeout: Duration,
}

impl Invocation<'_> {
    /// The command line as shown to people (no secrets: those are in the environment).
    pub(crate) fn display(&self) -> String {
        std::iter::once(self.program.to_owned())
            .chain(self.args.iter().cloned())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

pub(crate) use crate::child::Finished;

/// Run the invocation in its own process group, streaming its output through `out`.
pub(crate) async fn run(inv: Invocation<'_>, out: &Output) -> Result<Finished> {
    let display = inv.display();
    let child = tokio::process::Command::new(inv.program)
        .args(&inv.args)
        .current_dir(inv.dir)
        .env_clear()
        .envs(inv.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| {
            Error::runtime_from(format!("cannot run `{}`", inv.program), e).with_hint(format!(
                "install Node.js and {}, or skip this step with --no-deploy",
                inv.program
            ))
        })?;
    crate::child::stream(
        child,
        &display,
        inv.timeout,
        crate::child::Leftovers::Stop,
        out,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(env: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        env.iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect()
    }

    fn render(env: &[(OsString, OsString)]) -> Vec<String> {
        env.iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect()
    }

    #[test]
    fn selectors_are_neutralised_and_secrets_dropped() {
        let env = pairs(&[
            ("PATH", "/bin"),
            ("CONVEX_DEPLOYMENT", "dev:x"),
            ("CONVEX_DEPLOY_KEY", "prod:y"),
            ("CONVEX_DEPLOYMENT_TOKEN", "prod:z"),
            ("INSTANCE_SECRET", "abc"),
            ("CONVEX_SELF_HOSTED_URL", "http://old"),
        ]);
        let child = child_env(&env, "http://127.0.0.1:3210", "name|01ab");
        assert_eq!(
            render(&child),
            [
                "PATH=/bin",
                "CONVEX_DEPLOYMENT=",
                "CONVEX_DEPLOY_KEY=",
                "CONVEX_DEPLOYMENT_TOKEN=",
                "CONVEX_OVERRIDE_ACCESS_TOKEN=",
                "CONVEX_SELF_HOSTED_URL=http://127.0.0.1:3210",
                "CONVEX_SELF_HOSTED_ADMIN_KEY=name|01ab",
            ]
        );
    }

    #[test]
    fn loopback_is_exempt_from_a_proxy() {
        let env = pairs(&[
            ("HTTPS_PROXY", "http://proxy:3128"),
            ("NO_PROXY", "corp.example, localhost"),
        ]);
        let child = render(&child_env(&env, "http://127.0.0.1:3210", "k"));
        assert!(child.contains(&"NO_PROXY=corp.example,localhost,127.0.0.1,::1".to_owned()));
        assert!(child.contains(&"no_proxy=corp.example,localhost,127.0.0.1,::1".to_owned()));
        // No proxy: NO_PROXY is passed through untouched (and not invented).
        let child = render(&child_env(&pairs(&[("NO_PROXY", "x")]), "u", "k"));
        assert!(child.contains(&"NO_PROXY=x".to_owned()));
        assert!(!child.iter().any(|l| l.starts_with("no_proxy=")));
        // The lower-case spelling wins, as in undici.
        let env = pairs(&[
            ("http_proxy", "http://p"),
            ("no_proxy", "a"),
            ("NO_PROXY", "b"),
        ]);
        let child = render(&child_env(&env, "u", "k"));
        assert!(child.contains(&"no_proxy=a,127.0.0.1,localhost,::1".to_owned()));
    }
}
