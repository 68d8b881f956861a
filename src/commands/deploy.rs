//! `coder-convex deploy`: steps 5–6 and 8 — wait, verify, run the project's `convex deploy`
//! (always: the skip-when-unchanged rule is `setup`'s), with extra CLI arguments after `--`.
//!
//! I/O: the backend, the Convex CLI.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{DeployArgs, DeriveArgs, WaitArgs};
use crate::deadline::Deadline;
use crate::deploy::DeployOutcome;
use crate::error::{Error, Result};

use super::context::{self, Ctx, Execute, Outcome, Running};
use super::steps;

#[derive(Serialize)]
struct Report {
    deploy: DeployOutcome,
}

/// The flags of `deploy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    #[command(flatten)]
    wait: WaitArgs,
    #[command(flatten)]
    deploy: DeployArgs,
    /// Extra arguments for `convex deploy`, after `--` (e.g. `-- --skip-large-indexes-check`).
    #[arg(last = true, value_name = "CONVEX_ARGS")]
    convex_args: Vec<String>,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let Args {
        derive,
        wait,
        deploy,
        convex_args,
    } = args;
    let mut extra_args = deploy.deploy_args.clone();
    extra_args.extend(convex_args.iter().cloned());
    crate::deploy::check_extra_args(&extra_args)?;
    let deadline = Deadline::after_secs(wait.wait, "--wait");
    // One push at a time, and no backup or restore in the middle of one.
    let _lock = context::lock(ctx, Some(deadline)).await?;
    let session = context::session(ctx, derive).await?;
    let functions = crate::deploy::functions_dir(ctx.dir)?;
    if !functions.is_dir() {
        return Err(Error::runtime(format!(
            "{} has no functions directory {}",
            ctx.dir.display(),
            functions.display()
        ))
        .with_hint(
            "run this in the project that holds your Convex functions (or pass --project-dir); convex.json `functions` moves them",
        ));
    }
    let connected = steps::connect_session(&session, deadline, ctx.out).await?;
    let key = connected.backend.admin_key().to_owned();
    let done = steps::deploy(
        ctx,
        session.state.package_json.as_ref(),
        &connected.backend,
        &key,
        &steps::DeployRequest {
            functions: &functions,
            extra_args: &extra_args,
            timeout: Duration::from_secs(deploy.deploy_timeout),
            // Asked for by name: always deploy.
            may_skip: false,
        },
    )
    .await?;
    Ok(Outcome::ok(&Report {
        deploy: done.outcome,
    }))
}
