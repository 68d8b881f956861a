//! `coder-convex configure`: steps 1–4 — derive, resolve the secrets, write the project
//! files — under the project lock. No backend needed. `setup` starts with the same steps.
//!
//! I/O: project files.

use serde::Serialize;

use crate::cli::{DeriveArgs, WriteArgs};
use crate::config::auth_libs::AuthLib;
use crate::config::derive::{Derived, ProjectState};
use crate::config::identity::{self, Identity, Origin};
use crate::config::site_url::AppUrl;
use crate::error::Result;
use crate::project::Framework;
use crate::project::file_io::Change;
use crate::project::files::{self, FileChange, Written};

use super::context::{self, Ctx, Execute, Outcome, Running, UrlsReport};

/// Everything steps 1–4 produced.
pub(crate) struct Configured {
    pub(crate) state: ProjectState,
    pub(crate) derived: Derived,
    pub(crate) identity: Identity,
    pub(crate) written: Written,
}

/// Steps 1–4; the caller holds the project lock. Every value is derived and checked before
/// the first file is written; `check` validates what a later step will need (`setup`: the
/// deployment variables), so a refusal leaves the project as it was.
pub(crate) async fn configure(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    write: &WriteArgs,
    check: impl FnOnce(&Derived, &files::Plan) -> Result<()>,
) -> Result<Configured> {
    let (state, derived) = context::load_and_derive(ctx, derive).await?;
    let identity = identity::resolve_identity_rotating(
        ctx.env,
        &state,
        &derived.instance_name,
        true,
        write.rotate_auth_secret,
    )?;
    if write.rotate_auth_secret {
        match &identity.auth_secret {
            Some(_) => ctx.out.warn(
                "new BETTER_AUTH_SECRET: everyone signed in with Better Auth is signed out once it is pushed",
            ),
            None => ctx
                .out
                .info("--rotate-auth-secret: the project does not use Better Auth; nothing to rotate"),
        }
    }
    let plan = files::plan(&state, &derived, &identity, write.rotate_jwt_key)?;
    check(&derived, &plan)?;
    let written = files::write(plan)?;
    if !written.stale_removed.is_empty() {
        ctx.out.info(format!(
            "removed temporary files an interrupted run left behind: {}",
            written.stale_removed.join(", ")
        ));
    }
    if let Some(backup) = &written.secret_backup {
        ctx.out.warn(format!(
            "INSTANCE_SECRET from the environment replaces the one stored in {}; the previous file is kept in {backup}. Admin keys minted from the old secret stop working, and the backend must restart with the new one",
            crate::project::CONVEX_ENV_FILE
        ));
    }
    Ok(Configured {
        state,
        derived,
        identity,
        written,
    })
}

#[derive(Serialize)]
struct Report<'a> {
    instance_name: &'a str,
    instance_name_source: crate::config::instance::InstanceNameSource,
    instance_secret: Option<Origin>,
    url_source: &'static str,
    urls: UrlsReport,
    database: Option<String>,
    framework: Framework,
    app_url: Option<&'a AppUrl>,
    auth_libs: &'a [AuthLib],
    better_auth_secret: Option<Origin>,
    files: &'a [FileChange],
    jwt_key_backup: Option<&'a str>,
    warnings: &'a [String],
}

/// The flags of `configure`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    #[command(flatten)]
    write: WriteArgs,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let Args { derive, write } = args;
    let _lock = context::lock(ctx, None).await?;
    let Configured {
        derived,
        identity,
        written,
        ..
    } = configure(ctx, derive, write, |_, _| Ok(())).await?;
    let report = Report {
        instance_name: &derived.instance_name,
        instance_name_source: derived.instance_name_source,
        instance_secret: identity.secret.as_ref().map(|(_, origin)| *origin),
        url_source: context::url_source(&derived),
        urls: UrlsReport::new(&derived),
        database: derived.database.as_ref().map(|d| d.masked()),
        framework: derived.framework,
        app_url: derived.app_url.as_ref(),
        auth_libs: &derived.auth_libs,
        better_auth_secret: identity.auth_secret.as_ref().map(|(_, origin)| *origin),
        files: &written.files,
        jwt_key_backup: written.rotated_backup.as_deref(),
        warnings: &derived.warnings,
    };
    if ctx.json {
        return Ok(Outcome::ok(&report));
    }
    let changed: Vec<String> = written
        .files
        .iter()
        .filter(|f| f.change != Change::Unchanged)
        .map(|f| format!("{} ({})", f.file, f.change.describe()))
        .collect();
    if changed.is_empty() {
        ctx.out
            .success("configuration is up to date; nothing changed");
    } else {
        ctx.out.success(format!("wrote {}", changed.join(", ")));
    }
    if let Some(backup) = &written.rotated_backup {
        ctx.out
            .info(format!("  new JWT key; the previous one is in {backup}"));
    }
    context::summary(ctx.out, &derived);
    Ok(Outcome::ok(&report))
}
