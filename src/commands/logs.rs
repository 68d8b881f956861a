//! `coder-convex logs [-f] [backend|dashboard]`: the logs of the Convex containers `up`
//! started, through `compose logs`; or the log of the backend process `up --backend process`
//! started (the supervisor's lines and the backend's output, in one file).
//!
//! I/O: the container engine, or the process log.

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
    let run = crate::process::supervisor::RunDir::locate(ctx.env, ctx.dir)?;
    if run.log().is_file() && compose.compose_file.is_none() {
        return process_log(ctx, &run.log(), follow).await;
    }
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

/// The process log: what is there, then (with `--follow`) new lines until interrupted.
async fn process_log(ctx: &Ctx<'_>, log: &std::path::Path, follow: bool) -> Result<Outcome> {
    let mut offset = 0;
    loop {
        let bytes = fs_err::read(log)?;
        // A log that was truncated starts over.
        if (bytes.len() as u64) < offset {
            offset = 0;
        }
        let new = &bytes[usize::try_from(offset).unwrap_or(0)..];
        if let Some(end) = new.iter().rposition(|b| *b == b'\n') {
            ctx.out.data(String::from_utf8_lossy(&new[..end]));
            offset += end as u64 + 1;
        }
        if !follow {
            return Ok(Outcome::empty());
        }
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
}
