//! `coder-convex doctor [--fix]`: run every check, print the table (or `--json`), fail when a
//! check fails (a skipped check is not a failure).

use serde::Serialize;

use crate::cli::DeriveArgs;
use crate::deadline::Deadline;
use crate::doctor::{self, Check, Status};
use crate::error::{Error, Result};

use super::context::{Ctx, Outcome};

#[derive(Serialize)]
struct Report {
    checks: Vec<Check>,
}

/// doctor's own flags.
pub(crate) struct Args<'a> {
    pub(crate) fix: bool,
    pub(crate) dashboard_internal_url: &'a str,
    /// `--timeout`: every live check ends by then.
    pub(crate) deadline: Deadline,
}

pub(crate) async fn run(ctx: &Ctx<'_>, derive: &DeriveArgs, args: &Args<'_>) -> Result<Outcome> {
    let opts = doctor::Options {
        dir: ctx.dir,
        derive,
        dashboard_internal_url: args.dashboard_internal_url,
        fix: args.fix,
        deadline: args.deadline,
    };
    let checks = doctor::run(ctx.env, &opts, ctx.out).await;
    if !ctx.json {
        doctor::print(ctx.out, &checks);
    }
    let failed: Vec<&str> = checks
        .iter()
        .filter(|c| c.status == Status::Fail)
        .map(|c| c.name)
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
