//! `coder-convex logs [-f] [backend|dashboard]`: the logs of the Convex containers `up`
//! started, through `compose logs`.
//!
//! I/O: the container engine.

use crate::cli::ComposeArgs;
use crate::containers::compose::Service;
use crate::containers::engine::Stack;
use crate::error::Result;

use super::context::{Ctx, Execute, Outcome, Running};

/// The flags of `logs`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    compose: ComposeArgs,
    /// Keep following new lines.
    #[arg(long, short = 'f')]
    follow: bool,
    /// Only this service.
    #[arg(value_enum)]
    service: Option<Service>,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let Args {
        compose,
        follow,
        service,
    } = args;
    let (follow, service) = (*follow, *service);
    if ctx.env.is_coder() && compose.compose_file.is_none() {
        ctx.out.info("in a Coder workspace the template runs the Convex containers as sidecars; their logs are on the Docker host (`docker logs <workspace>-convex-backend`)");
        return Ok(Outcome::empty());
    }
    let mut stack = Stack::locate(
        ctx.process_env,
        ctx.env,
        ctx.dir,
        compose.compose_file.as_deref(),
    )?;
    stack.check_compose().await?;
    stack.write_file()?;
    stack.set_env_file(ctx.dir)?;
    stack.logs(follow, service, ctx.json, ctx.out).await?;
    Ok(Outcome::empty())
}
