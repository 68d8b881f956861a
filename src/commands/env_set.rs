//! `coder-convex env-set`: steps 5–7 — wait, verify, push the deployment environment
//! (only what changed, in one call).
//!
//! I/O: the backend.

use serde::Serialize;

use crate::cli::{DeriveArgs, WaitArgs};
use crate::deadline::Deadline;
use crate::error::Result;

use super::context::{self, Ctx, Execute, Outcome, Running};
use super::steps::{self, EnvReport};

#[derive(Serialize)]
struct Report {
    env: EnvReport,
}

/// The flags of `env-set`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    #[command(flatten)]
    wait: WaitArgs,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let Args { derive, wait } = args;
    let deadline = Deadline::after_secs(wait.wait, "--wait");
    let _lock = context::lock(ctx, Some(deadline)).await?;
    let session = context::session(ctx, derive).await?;
    let jwt = context::existing_jwt_key(ctx.dir)?;
    let desired = crate::config::derive::desired_env(
        ctx.dir,
        &session.derived,
        &jwt,
        session.auth_secret.as_ref(),
    )?;
    let connected = steps::connect_session(&session, deadline, ctx.out).await?;
    let env = steps::push_env(&connected.backend, &desired, ctx.out).await?;
    Ok(Outcome::ok(&Report { env }))
}
