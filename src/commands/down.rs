//! `coder-convex down [--volumes]`: stop the Convex containers `up` started, or the backend
//! process `up --backend process` started. The data volume
//! stays unless `--volumes`, which deletes every table and file and therefore needs `--yes`
//! (or a "y" on a terminal; without a terminal nobody is asked).
//!
//! I/O: the container engine, or the backend's supervisor.

use serde::Serialize;

use crate::cli::ComposeArgs;
use crate::containers::engine::{Engine, Stack};
use crate::error::{Error, Result};

use super::context::{Ctx, Execute, Outcome, Running};

#[derive(Serialize)]
struct Report<'a> {
    engine: Option<Engine>,
    project: Option<&'a str>,
    stopped: bool,
    volumes_removed: bool,
}

/// The flags of `down`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    compose: ComposeArgs,
    /// Also delete the data volume: every table, file and environment variable.
    #[arg(long)]
    volumes: bool,
    /// Confirm --volumes without a prompt.
    #[arg(long, short = 'y')]
    yes: bool,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let Args {
        compose,
        volumes,
        yes,
    } = args;
    let (volumes, yes) = (*volumes, *yes);
    let run = crate::process::supervisor::RunDir::locate(ctx.env, ctx.dir)?;
    if run.supervisor().is_some() {
        if volumes {
            return Err(Error::invalid(
                "--volumes",
                "the backend runs as a process here: its data stays in its directory",
            )
            .with_hint(format!(
                "`coder-convex down` stops it; delete {} to drop the data",
                run.data().display()
            )));
        }
        crate::process::supervisor::stop(&run).await?;
        ctx.out.success(format!(
            "stopped the backend process (the data in {} is kept; `coder-convex up --backend process` starts it again)",
            run.data().display()
        ));
        return Ok(Outcome::ok(&Report {
            engine: None,
            project: None,
            stopped: true,
            volumes_removed: false,
        }));
    }
    if ctx.env.is_coder() && compose.compose_file.is_none() {
        ctx.out.info("in a Coder workspace the template owns the Convex containers; nothing to stop (they stop with the workspace)");
        return Ok(Outcome::ok(&Report {
            engine: None,
            project: None,
            stopped: false,
            volumes_removed: false,
        }));
    }
    let mut stack = Stack::locate(
        ctx.process_env,
        ctx.env,
        ctx.dir,
        compose.compose_file.as_deref(),
    )?;
    if volumes && !yes {
        let question = format!(
            "Delete the data volume of {} (every table, file and deployment variable)?",
            stack.project
        );
        match ctx.out.confirm(&question) {
            Some(true) => {}
            Some(false) => {
                return Err(
                    Error::invalid("--volumes", "not confirmed; nothing was stopped")
                        .with_hint("`coder-convex down` stops the containers and keeps the data"),
                );
            }
            None => {
                return Err(Error::invalid(
                    "--volumes",
                    "deletes the backend's data volume and needs --yes when there is no terminal to ask",
                )
                .with_hint("`coder-convex down --volumes --yes` deletes the data; `coder-convex down` keeps it"));
            }
        }
    }
    stack.check_compose().await?;
    stack.write_file()?;
    stack.set_env_file(ctx.dir)?;
    stack.down(volumes, ctx.out).await?;
    ctx.out.success(if volumes {
        format!("stopped {} and deleted its data", stack.project)
    } else {
        format!(
            "stopped {} (the data is kept; `coder-convex up` starts it again)",
            stack.project
        )
    });
    Ok(Outcome::ok(&Report {
        engine: Some(stack.engine),
        project: Some(&stack.project),
        stopped: true,
        volumes_removed: volumes,
    }))
}
