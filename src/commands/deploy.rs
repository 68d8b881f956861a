//! `coder-convex deploy`: steps 5–6 and 8 — wait, verify, run the project's `convex deploy`.

use std::time::Duration;

use serde::Serialize;

use crate::cli::{DeployArgs, DeriveArgs, WaitArgs};
use crate::deploy::DeployOutcome;
use crate::error::{Error, Result};

use super::context::{self, Ctx, Outcome};
use super::steps;

#[derive(Serialize)]
struct Report {
    deploy: DeployOutcome,
}

pub(crate) async fn run(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    wait: &WaitArgs,
    deploy: &DeployArgs,
) -> Result<Outcome> {
    let session = context::session(ctx, derive).await?;
    if !ctx.dir.join("convex").is_dir() {
        return Err(
            Error::runtime(format!("{} has no convex/ directory", ctx.dir.display())).with_hint(
                "run this in the project that holds your Convex functions (or pass --project-dir)",
            ),
        );
    }
    let connected = steps::connect(
        &session.derived,
        &session.admin_key,
        &session.secret,
        Duration::from_secs(wait.wait),
        ctx.out,
    )
    .await?;
    let key = connected.legacy_key.clone().unwrap_or(session.admin_key);
    let outcome = steps::deploy(
        ctx,
        session.state.package_json.as_ref(),
        &connected.backend,
        &key,
        Duration::from_secs(deploy.deploy_timeout),
    )
    .await?;
    Ok(Outcome::ok(&Report { deploy: outcome }))
}
