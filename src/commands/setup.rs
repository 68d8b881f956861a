//! `coder-convex setup`: the whole pipeline under the project lock (a second run waits, then
//! finds nothing to do): configure (1–4), the database preflight, wait and verify (5–6),
//! push the environment (7), deploy (8), verify auth (9), report (10).
//!
//! I/O: project files, the database, the backend, the Convex CLI.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::probe::{self, AuthCheck};
use crate::backups::{self, Entry};
use crate::cli::{DeployArgs, DeriveArgs, WaitArgs, WriteArgs};
use crate::config::derive::Derived;
use crate::database::preflight::{self, Preflight};
use crate::deadline::Deadline;
use crate::deploy::DeployOutcome;
use crate::deploy::version_skew;
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::project;
use crate::project::dotenv;
use crate::project::file_io::{self, Change};
use crate::project::files::{self, FileChange};

use super::configure::{self, Configured};
use super::context::{self, Ctx, Execute, Outcome, Running, UrlsReport};
use super::steps::{self, DeployRequest, EnvReport};

/// `dir/sub` as `sub/` for messages.
fn relative(dir: &Path, path: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path).to_string_lossy();
    format!("{}/", rel.trim_end_matches('/'))
}

/// Auth discovery and the public site URL after the deploy (three requests).
const AUTH_CHECK_BUDGET: Duration = Duration::from_secs(15);

/// The flags of `setup` (`up` flattens them, so they form no group of their own).
#[derive(Debug, clap::Args)]
#[group(skip)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    #[command(flatten)]
    write: WriteArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    deploy: DeployArgs,
    /// Do not run `convex deploy`.
    #[arg(long)]
    no_deploy: bool,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

#[derive(Serialize)]
struct Report<'a> {
    instance_name: &'a str,
    url_source: &'static str,
    urls: UrlsReport,
    backend_version: String,
    /// The project's `convex` CLI against the backend.
    versions: crate::deploy::version_skew::Report,
    /// The backend version differs from the last setup's.
    #[serde(skip_serializing_if = "Option::is_none")]
    backend_changed: Option<VersionChange>,
    database: Option<Preflight>,
    legacy_admin_key: bool,
    /// Stale canonical URLs were replaced through the admin API.
    canonical_urls_updated: bool,
    files: &'a [FileChange],
    env: EnvReport,
    deploy: Option<DeployOutcome>,
    /// The deploy was skipped: nothing changed since `deploy` (the recorded one).
    deploy_skipped: bool,
    auth: Vec<AuthCheck>,
    warnings: &'a [String],
    /// What `up` started before the wait.
    #[serde(skip_serializing_if = "Option::is_none")]
    containers: Option<serde_json::Value>,
}

pub(crate) async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    run_with(ctx, args, async |_| Ok(None)).await
}

/// The pipeline with `start` run once the project files are written and the database is
/// ready, before the wait for the backend: `up` starts the containers there. What it returns
/// is the report's `containers`.
pub(crate) async fn run_with(
    ctx: &Ctx<'_>,
    args: &Args,
    start: impl AsyncFnOnce(&Derived) -> Result<Option<serde_json::Value>>,
) -> Result<Outcome> {
    let out = ctx.out;
    let deadline = Deadline::after_secs(args.wait.wait, "--wait");
    let _lock = context::lock(ctx, Some(deadline)).await?;
    let Configured {
        state,
        derived,
        identity,
        written,
    } = configure::configure(ctx, &args.derive, &args.write, |derived, plan| {
        // The deploy's inputs and the deployment variables are checked before anything is
        // written or pushed.
        if !args.no_deploy {
            crate::deploy::check_extra_args(&args.deploy.deploy_args)?;
        }
        crate::deploy::functions_dir(ctx.dir)?;
        crate::config::derive::desired_env(
            ctx.dir,
            derived,
            &plan.jwt_key,
            plan.auth_secret.as_ref(),
        )
        .map(drop)
    })
    .await?;
    let changed: Vec<&str> = written
        .files
        .iter()
        .filter(|f| f.change != Change::Unchanged)
        .map(|f| f.file.as_str())
        .collect();
    if changed.is_empty() {
        out.success("project files are up to date");
    } else {
        out.success(format!("wrote {}", changed.join(", ")));
    }
    let (secret, _) = identity
        .secret
        .as_ref()
        .ok_or_else(|| Error::runtime("no instance secret"))?;
    let (admin_key, _) = identity
        .admin_key
        .as_ref()
        .ok_or_else(|| Error::runtime("no admin key"))?;

    let database = match &derived.database {
        Some(db) => {
            let claim = derived.database_claim();
            let opts = preflight::Options::new(ctx.env, db)
                .retry_busy_until(&deadline)
                .best_effort_claim(claim.is_some_and(|(_, best_effort)| best_effort))
                .stamp(derived.setup_stamp(crate::clock::unix_now()));
            let workspace = claim.map(|(ws, _)| ws);
            let found = preflight::preflight(db, &derived.instance_name, opts, true, workspace)
                .await
                .map_err(crate::database::failure::DbError::into_error)?;
            if found.marked == Some(true) {
                out.success(format!(
                    "marked database {} as this workspace's ({})",
                    found.database,
                    match db.kind {
                        crate::database::url::DbKind::Postgres => "COMMENT ON DATABASE",
                        crate::database::url::DbKind::Mysql => "table coder_convex_workspace",
                    }
                ));
            }
            let verb = if found.created {
                "created database"
            } else {
                "database"
            };
            let state = if found.created { "on" } else { "is ready on" };
            out.success(format!("{verb} {} {state} {}", found.database, db.masked()));
            Some(found)
        }
        None if derived.provisioned => {
            out.success("database provisioned by the template (its own role; no database credentials in this workspace)");
            None
        }
        None => None,
    };

    let containers = start(&derived).await?;

    let connected = steps::connect(&derived, admin_key, secret, deadline, out).await?;
    let owner = crate::backups::Owner::new(&derived.instance_name, Some(secret));
    let backend_changed = note_change(ctx, &owner, &connected.version);
    let skew = skew(
        ctx,
        state.package_json.as_ref(),
        &connected.backend,
        &connected.version,
    )
    .await;
    let mut admin_key = admin_key.clone();
    if let Some(legacy) = &connected.legacy_key {
        // The Convex CLI needs a key this backend accepts.
        let current = file_io::read_optional(&ctx.dir.join(project::CLI_ENV_FILE))?;
        files::merge_and_write(
            ctx.dir,
            project::CLI_ENV_FILE,
            current.as_deref(),
            &[dotenv::Entry::set(ev::CONVEX_SELF_HOSTED_ADMIN_KEY, legacy)],
            file_io::SECRET_MODE,
        )?;
        admin_key = legacy.clone();
    }
    let desired = crate::config::derive::desired_env(
        ctx.dir,
        &derived,
        &written.jwt_key,
        identity.auth_secret.as_ref().map(|(s, _)| s),
    )?;
    let env = steps::push_env(&connected.backend, &desired, out).await?;

    let functions = crate::deploy::functions_dir(ctx.dir)?;
    let deployed = match (!args.no_deploy).then_some(&args.deploy) {
        Some(deploy) if functions.is_dir() => Some(
            steps::deploy(
                ctx,
                state.package_json.as_ref(),
                &connected.backend,
                &admin_key,
                &DeployRequest {
                    functions: &functions,
                    extra_args: &deploy.deploy_args,
                    timeout: Duration::from_secs(deploy.deploy_timeout),
                    // Changed variables or canonical URLs can change what the push
                    // computes (auth.config.ts); the URLs alone, without one, cannot.
                    may_skip: !deploy.force_deploy
                        && !crate::deploy::digest::env_change_needs_push(
                            &functions,
                            &env.changed(),
                            connected.canonical_updated,
                        ),
                },
            )
            .await?,
        ),
        Some(_) => {
            out.info(format!(
                "no {} directory: nothing to deploy",
                relative(ctx.dir, &functions)
            ));
            None
        }
        None => {
            out.info("deploy skipped (--no-deploy)");
            None
        }
    };
    let deploy_skipped = deployed.as_ref().is_some_and(|d| d.skipped);
    let deployed = deployed.map(|d| d.outcome);

    let auth = if deployed.is_some() {
        // The deploy may have used up --wait; the checks after it get a budget of their own.
        let deadline = Deadline::after(AUTH_CHECK_BUDGET, "the auth check budget of");
        probe::auth(&derived, Some(&written.jwt_key), &deadline).await
    } else {
        vec![]
    };
    let auth_ok = auth.iter().all(|c| c.ok);
    let failing = failing_libraries(&auth);
    if !ctx.json {
        for check in &auth {
            if check.ok {
                out.success(format!("{}: {}", check.name, check.detail));
            } else {
                out.warn(format!("{}: {}", check.name, check.detail));
                if let Some(hint) = &check.hint {
                    out.info(format!("  hint: {hint}"));
                }
            }
        }
        context::summary(out, &derived);
    }
    let report = Report {
        instance_name: &derived.instance_name,
        url_source: context::url_source(&derived),
        urls: UrlsReport::new(&derived),
        backend_version: connected.version,
        versions: skew,
        backend_changed,
        database,
        legacy_admin_key: connected.legacy_key.is_some(),
        canonical_urls_updated: connected.canonical_updated,
        files: &written.files,
        env,
        deploy: deployed,
        deploy_skipped,
        auth,
        warnings: &derived.warnings,
        containers,
    };
    if auth_ok {
        Ok(Outcome::ok(&report))
    } else {
        let failure = Error::Verification {
            message: format!(
                "auth is not set up correctly for {} (see above)",
                failing
            ),
            hint: Some("fix the failing check and run `coder-convex setup` again; `coder-convex doctor` shows everything".to_owned()),
        };
        Ok(Outcome::failed(&report, failure))
    }
}

/// "Convex Auth", "Better Auth", or both, from the failing checks.
fn failing_libraries(checks: &[AuthCheck]) -> String {
    let mut names: Vec<&str> = Vec::new();
    for check in checks.iter().filter(|c| !c.ok) {
        if !names.contains(&check.library.name()) {
            names.push(check.library.name());
        }
    }
    names.join(" and ")
}

// The backend's version: whether the project's `convex` CLI is newer than the backend
// supports, and whether the backend changed since the last `setup`, with the last backup
// taken before the change.

/// The backend version changed between two `setup` runs.
#[derive(Debug, Serialize)]
pub(crate) struct VersionChange {
    pub(crate) from: String,
    pub(crate) to: String,
    /// The newest backup of the earlier version (`None`: there is none).
    pub(crate) last_backup_before: Option<Entry>,
}

/// Compare the CLI with the backend; a CLI that is too new is a warning with the fix.
pub(crate) async fn skew(
    ctx: &Ctx<'_>,
    package_json: Option<&serde_json::Value>,
    backend: &Backend,
    version: &str,
) -> version_skew::Report {
    let report = version_skew::assess(ctx.dir, package_json, backend, version, true).await;
    if let Some(warning) = report.warning() {
        ctx.out.warn(warning);
        if let Some(hint) = &report.hint {
            ctx.out.info(format!("  hint: {hint}"));
        }
    }
    report
}

/// Record the version `setup` saw in the instance's backup store; say so when it changed.
/// Best effort: a store that cannot be written costs the note, not the setup.
pub(crate) fn note_change(
    ctx: &Ctx<'_>,
    owner: &backups::Owner,
    version: &str,
) -> Option<VersionChange> {
    let store = backups::store(ctx.env, &owner.instance).ok()?;
    let from = match backups::note_backend_version(&store, owner, version) {
        Ok(from) => from?,
        Err(e) => {
            tracing::debug!(error = %e, "could not record the backend version");
            return None;
        }
    };
    let last_backup_before = backups::last_before(&store, owner, &from).ok().flatten();
    let shown = crate::backend::text::sanitize;
    ctx.out.warn(format!(
        "the backend changed since the last setup: {} → {} (upgrades migrate the data forward only)",
        shown(&from),
        shown(version)
    ));
    match &last_backup_before {
        Some(entry) => ctx.out.info(format!(
            "  the last backup before the change: {}; `coder-convex restore {} --yes` into a backend of the earlier version goes back",
            entry.describe(),
            entry.name
        )),
        None => ctx.out.info(format!(
            "  no backup of {} was taken before the change",
            shown(&from)
        )),
    }
    Some(VersionChange {
        from,
        to: version.to_owned(),
        last_backup_before,
    })
}
