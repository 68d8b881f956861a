//! `coder-convex supervise-backend` (hidden): the supervisor `up --backend process` starts in
//! the background. Not for people: `up` starts it and `down` stops it.
//!
//! I/O: see `process::supervisor`.

use std::path::PathBuf;

use crate::error::Result;
use crate::process::argv::Ports;
use crate::process::supervisor::{self, RunDir};

use super::context::{Ctx, Execute, Outcome, Running};

/// The flags of `supervise-backend` (no secret: it reads them from `.env.convex.local`).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The upstream `convex-local-backend` executable.
    #[arg(long, value_name = "FILE")]
    binary: PathBuf,
    /// Its release tag (the backend's `CONVEX_RELEASE_VERSION_DEV`).
    #[arg(long, value_name = "TAG")]
    release: String,
    /// The backend's API port on 127.0.0.1.
    #[arg(long, value_name = "PORT")]
    api_port: u16,
    /// The backend's site proxy port on 127.0.0.1.
    #[arg(long, value_name = "PORT")]
    site_port: u16,
    /// The run directory (data, log, pid files).
    #[arg(long, value_name = "DIR")]
    run_dir: PathBuf,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(async move {
            let ports = Ports {
                api: self.api_port,
                site: self.site_port,
            };
            let dir = fs_err::canonicalize(ctx.dir)?;
            supervisor::supervise(
                &RunDir(self.run_dir.clone()),
                &self.binary,
                &self.release,
                ports,
                &dir,
            )
            .await?;
            Result::Ok(Outcome::empty())
        })
    }
}
