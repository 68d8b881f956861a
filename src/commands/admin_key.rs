//! `coder-convex admin-key`: print the admin key (one line on stdout), mint the legacy
//! format or a read-only key, or ask the backend whether it accepts the key.
//!
//! I/O: project files, the backend (with `--check`), stdout.

use serde::Serialize;

use crate::backend::Backend;
use crate::cli::{DeriveArgs, TimeoutArgs};
use crate::config::secrets::{self, mask_admin_key};
use crate::deadline::Deadline;
use crate::error::{Error, Result};
use crate::project;

use super::context::{self, Ctx, Execute, Outcome, Running};

/// The flags of `admin-key`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    /// Mint the legacy format, for backend images built before 2025-05-30.
    #[arg(long)]
    legacy: bool,
    /// Ask the backend whether it accepts the key (exit 4 if not).
    #[arg(long)]
    check: bool,
    /// Mint a read-only key (protobuf field 5): the backend allows reads and refuses
    /// writes. For teammates and AI agents that should look but not change anything.
    #[arg(long, conflicts_with = "legacy")]
    read_only: bool,
    #[command(flatten)]
    timeout: TimeoutArgs,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

/// Which key to mint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// The key `setup` writes to `.env.local`, re-minted with a fresh nonce.
    Full,
    /// The pre-2025-05-30 format (`--legacy`).
    Legacy,
    /// `is_read_only` set (`--read-only`).
    ReadOnly,
}

#[derive(Serialize)]
struct Report<'a> {
    instance_name: &'a str,
    /// Only when printing was asked for (not with `--check`).
    #[serde(skip_serializing_if = "Option::is_none")]
    admin_key: Option<&'a str>,
    legacy: bool,
    read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    accepted: Option<bool>,
}

/// `--check`: ask the backend, within `--timeout`.
async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let kind = match (args.legacy, args.read_only) {
        (true, _) => Kind::Legacy,
        (_, true) => Kind::ReadOnly,
        _ => Kind::Full,
    };
    let check: Option<Deadline> = args.check.then(|| args.timeout.deadline());
    let derive = &args.derive;
    let session = context::session(ctx, derive).await?;
    let derived = &session.derived;
    let key = match kind {
        Kind::Full => session.admin_key,
        Kind::Legacy => secrets::mint_legacy_admin_key(&session.secret, &derived.instance_name),
        Kind::ReadOnly => {
            secrets::mint_read_only_admin_key(&session.secret, &derived.instance_name)
        }
    };
    let (legacy, read_only) = (kind == Kind::Legacy, kind == Kind::ReadOnly);
    let Some(deadline) = check else {
        if !ctx.json {
            ctx.out.data(&key);
        }
        return Ok(Outcome::ok(&Report {
            instance_name: &derived.instance_name,
            admin_key: Some(&key),
            legacy,
            read_only,
            accepted: None,
        }));
    };
    let backend = Backend::new(&derived.backend_url, &key, deadline)?;
    let accepted = backend.check_admin_key().await.map_err(|e| {
        Error::BackendUnreachable {
            url: derived.backend_url.clone(),
            message: e.to_string(),
            source: Some(Box::new(e)),
            hint: None,
        }
        .with_hint(format!(
            "start the backend, or point --backend-url at it; --timeout allows more than {} s",
            deadline.budget().as_secs()
        ))
    })?;
    if !accepted {
        return Err(Error::IdentityRejected {
            url: derived.backend_url.clone(),
            what: format!("the admin key {}", mask_admin_key(&key)),
            hint: Some(format!(
                "restart the backend so it loads {} (or try --legacy)",
                project::CONVEX_ENV_FILE
            )),
        });
    }
    ctx.out.success(format!(
        "{} accepts the admin key {}",
        derived.backend_url,
        mask_admin_key(&key)
    ));
    Ok(Outcome::ok(&Report {
        instance_name: &derived.instance_name,
        admin_key: None,
        legacy,
        read_only,
        accepted: Some(true),
    }))
}
