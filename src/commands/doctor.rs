//! `coder-convex doctor [--fix]`: run every check, print the table (or `--json`), fail when a
//! check fails (a skipped check is not a failure).
//!
//! I/O: through the checks in `doctor/`.

use serde::Serialize;

use crate::cli::{DeriveArgs, TimeoutArgs};
use crate::doctor::{self, Check, Status};
use crate::env_vars as ev;
use crate::error::{Error, Result};

use super::context::{Ctx, Execute, Outcome, Running};

#[derive(Serialize)]
struct Report {
    checks: Vec<Check>,
}

/// The flags of `doctor`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    /// Repair what is safe to repair: file modes, the missing database, stale deployment variables.
    #[arg(long)]
    fix: bool,
    /// Internal URL of the dashboard.
    #[arg(long, env = ev::CODER_CONVEX_DASHBOARD_INTERNAL_URL, value_name = "URL", default_value = "http://127.0.0.1:6791")]
    dashboard_internal_url: String,
    /// `--timeout`: every live check ends by then.
    #[command(flatten)]
    timeout: TimeoutArgs,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let opts = doctor::Options {
        dir: ctx.dir,
        derive: &args.derive,
        dashboard_internal_url: &args.dashboard_internal_url,
        fix: args.fix,
        deadline: args.timeout.deadline(),
    };
    let checks = doctor::run(ctx.env, &opts, ctx.out).await;
    if !ctx.json {
        doctor::print(ctx.out, &checks);
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name.name())
        .collect();
    let report = Report { checks };
    if failed.is_empty() {
        return Ok(Outcome::ok(&report));
    }
    let failure = Error::Verification {
        message: format!(
            "{} check{} failed: {}",
            failed.len(),
            if failed.len() == 1 { "" } else { "s" },
            failed.join(", ")
        ),
        hint: Some("each failing check above has its own hint; `coder-convex doctor --fix` repairs file modes, the missing database and stale variables".to_owned()),
    };
    Ok(Outcome::failed(&report, failure))
}
