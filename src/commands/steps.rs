//! The pipeline steps against a running backend, in the strict form `setup`, `env-set` and
//! `deploy` use: wait (step 5), verify identity (6), push the environment (7), deploy (8).
//! A failure here stops the command with the error that says why.
//!
//! I/O: the backend, the Convex CLI.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::probe::{self, Instance, KeyCheck};
use crate::backend::{self, Backend, CallError, Destination, WaitProgress};
use crate::config::derive::Derived;
use crate::config::secrets::InstanceSecret;
use crate::deadline::Deadline;
use crate::deploy::convex_cli;
use crate::deploy::digest;
use crate::deploy::{self, DeployOutcome, PackageManager};
use crate::error::{Error, Result};
use crate::output::Output;
use crate::project;

use super::context::{Ctx, Session};

/// Spinner on a terminal; one plain line every few seconds otherwise (the Coder startup log).
struct Progress<'a> {
    out: &'a Output,
    tty: bool,
    last_line: Option<Duration>,
    frame: usize,
}

const LOG_EVERY: Duration = Duration::from_secs(5);
const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl WaitProgress for Progress<'_> {
    fn tick(&mut self, elapsed: Duration, last_error: &str) {
        if self.tty {
            self.frame = (self.frame + 1) % FRAMES.len();
            self.out.spinner(&format!(
                "{} waiting for the backend ({}s)",
                FRAMES[self.frame],
                elapsed.as_secs()
            ));
        } else if self.last_line.is_none_or(|t| elapsed >= t + LOG_EVERY) {
            self.last_line = Some(elapsed);
            self.out.info(format!(
                "waiting for the backend ({}s): {last_error}",
                elapsed.as_secs()
            ));
        }
    }
}

/// Step 5: wait for `GET /version` (until the backend's deadline).
async fn wait(backend: &Backend, out: &Output) -> Result<String> {
    let started = Instant::now();
    let mut progress = Progress {
        out,
        tty: out.is_tty(),
        last_line: None,
        frame: 0,
    };
    let result = backend::wait_healthy(backend, &mut progress).await;
    if progress.tty {
        out.spinner("");
    }
    let version = result?;
    out.success(format!(
        "backend {} is up (version {version}, {} ms)",
        backend.url(),
        started.elapsed().as_millis()
    ));
    Ok(version)
}

/// A backend that answered, runs our instance and accepts our key (no `Debug`: it holds
/// the key).
pub(crate) struct Connected {
    pub(crate) version: String,
    /// The backend with the key it accepted.
    pub(crate) backend: Backend,
    /// Set when only the legacy key format was accepted.
    pub(crate) legacy_key: Option<String>,
    /// The canonical URLs were stale and the backend took the new ones without a restart.
    pub(crate) canonical_updated: bool,
}

/// [`connect`] with a backend command's session.
pub(crate) async fn connect_session(
    session: &Session,
    deadline: Deadline,
    out: &Output,
) -> Result<Connected> {
    connect(
        &session.derived,
        &session.admin_key,
        &session.secret,
        deadline,
        out,
    )
    .await
}

/// Stale canonical URLs: set ours through the admin API (no restart needed); on a backend
/// without that endpoint, or when it refuses, warn with the restart hint instead.
async fn update_canonical(
    backend: &Backend,
    found: &probe::Canonical,
    derived: &Derived,
    out: &Output,
) -> bool {
    let warn = |why: &str| {
        out.warn(format!(
            "{}; {why}restart the backend so it loads {} (stale env: auth and file URLs will be wrong)",
            found.mismatch(&derived.urls),
            project::CONVEX_ENV_FILE
        ));
    };
    let wanted = [
        (
            Destination::ConvexCloud,
            &found.backend.convex_cloud_url,
            &derived.urls.api,
        ),
        (
            Destination::ConvexSite,
            &found.backend.convex_site_url,
            &derived.urls.site,
        ),
    ];
    for (destination, current, url) in wanted {
        if current == url {
            continue;
        }
        match backend.update_canonical_url(destination, url).await {
            Ok(true) => {}
            Ok(false) => {
                warn(
                    "this backend cannot update them at run time (an image from before 2025-08): ",
                );
                return false;
            }
            Err(e) => {
                tracing::debug!(error = %e.summary(), "update_canonical_url failed");
                warn(&format!("updating them failed ({}): ", e.summary()));
                return false;
            }
        }
    }
    out.success(format!(
        "canonical URLs updated without a restart: {} and {}",
        derived.urls.api, derived.urls.site
    ));
    true
}

/// The backend did not answer (in time): exit 3, with the flag that gives it more time.
fn unreachable(backend: &Backend, e: CallError) -> Error {
    let hint = matches!(e, CallError::Deadline(_)).then(|| {
        format!(
            "the backend answered GET /version but not this in time; check its logs, or allow more than {}",
            backend.deadline()
        )
    });
    Error::BackendUnreachable {
        url: backend.url().to_owned(),
        message: e.to_string(),
        source: Some(Box::new(e)),
        hint,
    }
}

/// A failed call in steps 6–7: no answer is exit 3, a wrong answer a runtime failure.
fn call_failed(backend: &Backend, e: CallError, what: &str, hint: &str) -> Error {
    if e.no_answer() {
        unreachable(backend, e)
    } else {
        Error::runtime_from(what, e).with_hint(hint)
    }
}

/// Steps 5–6: wait for the backend, then prove its identity and our key; stale canonical
/// URLs are updated through the admin API (a warning where the backend cannot). Everything
/// ends by `deadline`.
pub(crate) async fn connect(
    derived: &Derived,
    admin_key: &str,
    secret: &InstanceSecret,
    deadline: Deadline,
    out: &Output,
) -> Result<Connected> {
    let backend = Backend::new(&derived.backend_url, admin_key, deadline)?;
    let version = wait(&backend, out).await?;
    let unreachable = |e: CallError| unreachable(&backend, e);
    if let Instance::Other(name) = probe::instance(&backend, derived)
        .await
        .map_err(unreachable)?
    {
        return Err(Error::IdentityRejected {
            url: backend.url().to_owned(),
            what: format!(
                "our identity: it runs instance {name:?}, this project is {:?}",
                derived.instance_name
            ),
            hint: Some(format!(
                "restart the backend so it loads {} (in Coder: restart the workspace or the convex-backend container; locally: `coder-convex up`, which recreates the backend when the file changed)",
                project::CONVEX_ENV_FILE
            )),
        });
    }
    let mut connected = Connected {
        version,
        backend: backend.clone(),
        legacy_key: None,
        canonical_updated: false,
    };
    match probe::admin_key(&backend, Some(secret), &derived.instance_name)
        .await
        .map_err(unreachable)?
    {
        KeyCheck::Accepted => {}
        KeyCheck::AcceptedLegacy(legacy) => {
            out.info("the backend only accepts legacy-format admin keys (an image from before 2025-05-30); using one");
            connected.backend = backend.with_key(&legacy);
            connected.legacy_key = Some(legacy);
        }
        KeyCheck::Rejected => {
            return Err(Error::IdentityRejected {
                url: backend.url().to_owned(),
                what: "our admin key (current and legacy formats)".to_owned(),
                hint: Some(format!(
                    "the backend was started with another INSTANCE_SECRET; restart it so it loads {}, or restore the secret it was started with",
                    project::CONVEX_ENV_FILE
                )),
            });
        }
    }
    out.success(format!(
        "instance {} accepts our admin key",
        derived.instance_name
    ));
    match probe::canonical(&connected.backend, &derived.urls).await {
        Ok(found) if !found.matches => {
            connected.canonical_updated =
                update_canonical(&connected.backend, &found, derived, out).await;
        }
        Ok(_) => {}
        Err(e) => tracing::debug!(error = %e.summary(), "canonical URLs not available"),
    }
    Ok(connected)
}

/// What step 7 did.
#[derive(Debug, Clone, Default, Serialize)]
pub(crate) struct EnvReport {
    pub(crate) set: Vec<String>,
    pub(crate) deleted: Vec<String>,
    /// Whether an update was sent (at most one).
    pub(crate) posted: bool,
    /// The backend has no list endpoint, so everything was sent.
    pub(crate) sent_all: bool,
}

impl EnvReport {
    /// The names set or deleted by the update.
    pub(crate) fn changed(&self) -> Vec<&str> {
        self.set
            .iter()
            .chain(&self.deleted)
            .map(String::as_str)
            .collect()
    }
}

/// Step 7: one POST with only the changes; none when nothing changed.
pub(crate) async fn push_env(
    backend: &Backend,
    desired: &BTreeMap<String, String>,
    out: &Output,
) -> Result<EnvReport> {
    let diff = probe::env_diff(backend, desired).await.map_err(|e| {
        call_failed(
            backend,
            e,
            "listing the deployment's variables failed",
            "check the backend's logs, then run `coder-convex env-set` again",
        )
    })?;
    let mut report = EnvReport {
        sent_all: !diff.listed,
        ..EnvReport::default()
    };
    for change in &diff.changes {
        let names = if change.value.is_some() {
            &mut report.set
        } else {
            &mut report.deleted
        };
        names.push(change.name.clone());
    }
    if diff.changes.is_empty() {
        out.success("deployment environment is up to date");
        return Ok(report);
    }
    backend.update_env(&diff.changes).await.map_err(|e| {
        call_failed(
            backend,
            e,
            "updating the deployment's variables failed",
            "nothing was changed (the update is all or nothing); run `coder-convex env-set` again",
        )
    })?;
    report.posted = true;
    let mut what = format!("set {}", report.set.join(", "));
    if !report.deleted.is_empty() {
        what.push_str(&format!("; deleted {}", report.deleted.join(", ")));
    }
    out.success(format!(
        "deployment environment updated in one call: {what}"
    ));
    Ok(report)
}

/// What step 8 is asked to do.
pub(crate) struct DeployRequest<'a> {
    pub(crate) functions: &'a Path,
    pub(crate) extra_args: &'a [String],
    pub(crate) timeout: Duration,
    /// Skip when nothing changed since the last deploy (`setup` without `--force-deploy`).
    pub(crate) may_skip: bool,
}

/// What step 8 did: a deploy that ran, or the recorded one it found still current.
pub(crate) struct DeployDone {
    pub(crate) outcome: DeployOutcome,
    pub(crate) skipped: bool,
}

/// The project's Convex CLI, installed: its package manager and version.
pub(crate) fn installed_cli(
    ctx: &Ctx<'_>,
    package_json: Option<&serde_json::Value>,
) -> Result<(PackageManager, String)> {
    let pm = PackageManager::detect(ctx.dir, package_json);
    let installed = deploy::convex_installed(ctx.dir, pm, package_json).ok_or_else(|| {
        Error::runtime(format!(
            "the `convex` package is not installed in {}",
            ctx.dir.display()
        ))
        .with_hint(format!("run `{}`", pm.install_hint()))
    })?;
    Ok((pm, installed.version().to_owned()))
}

/// Run `convex <args>` (export, import) with the deploy child environment; a failure is the
/// CLI's own exit code with the tail of its output.
pub(crate) async fn run_convex(
    ctx: &Ctx<'_>,
    pm: PackageManager,
    backend: &Backend,
    admin_key: &str,
    args: &[String],
    timeout: Duration,
) -> Result<()> {
    let (program, args) = pm.convex_command(args);
    let invocation = convex_cli::Invocation {
        dir: ctx.dir,
        program,
        args,
        env: convex_cli::child_env(ctx.process_env, backend.url(), admin_key),
        timeout,
    };
    let display = invocation.display();
    ctx.out.info(format!("running: {display}"));
    let finished = convex_cli::run(invocation, ctx.out).await?;
    if finished.success() {
        return Ok(());
    }
    let hint = match (finished.timed_out, finished.forwarded) {
        (true, _) => format!(
            "raise the limit with --snapshot-timeout / {}",
            crate::env_vars::CODER_CONVEX_SNAPSHOT_TIMEOUT
        ),
        (_, Some(signal)) => format!("stopped by {signal}; nothing was kept, run it again"),
        _ => "fix the error above and run it again".to_owned(),
    };
    Err(Error::Child {
        program: display,
        code: finished.code(),
        tail: finished.tail,
        hint: Some(hint),
    })
}

/// Step 8, when there is something to deploy.
pub(crate) async fn deploy(
    ctx: &Ctx<'_>,
    package_json: Option<&serde_json::Value>,
    backend: &Backend,
    admin_key: &str,
    request: &DeployRequest<'_>,
) -> Result<DeployDone> {
    deploy::check_extra_args(request.extra_args)?;
    let pm = PackageManager::detect(ctx.dir, package_json);
    let Some(installed) = deploy::convex_installed(ctx.dir, pm, package_json) else {
        return Err(Error::runtime(format!(
            "the `convex` package is not installed in {}",
            ctx.dir.display()
        ))
        .with_hint(format!(
            "run `{}` (and your package manager's install), or skip this step with --no-deploy",
            pm.install_hint()
        )));
    };
    let version = installed.version().to_owned();
    let local = || {
        digest::local(
            ctx.dir,
            request.functions,
            &version,
            request.extra_args,
            backend.url(),
        )
    };
    if request.may_skip
        && let Some(last) = deploy::last(ctx.dir)
        && last.local_digest.is_some()
        && last.local_digest == Some(local()?)
        && last.remote_digest.is_some()
        && digest::remote(backend, &version).await == last.remote_digest
    {
        ctx.out.success(
            "functions unchanged since the last deploy and still deployed: deploy skipped (--force-deploy deploys anyway)",
        );
        return Ok(DeployDone {
            outcome: last,
            skipped: true,
        });
    }
    let env = convex_cli::child_env(ctx.process_env, backend.url(), admin_key);
    let mut outcome = deploy::run(
        ctx.dir,
        pm,
        request.extra_args,
        env,
        request.timeout,
        ctx.out,
    )
    .await?;
    ctx.out.success(format!(
        "deployed in {:.1}s",
        outcome.duration_ms as f64 / 1000.0
    ));
    // After the CLI's codegen, so the next comparison sees the same files.
    outcome.local_digest = local().ok();
    outcome.remote_digest = digest::remote(backend, &version).await;
    deploy::record(ctx.dir, &outcome);
    Ok(DeployDone {
        outcome,
        skipped: false,
    })
}
