//! `coder-convex up`: the laptop path in one command. Outside Coder it starts the Convex
//! backend and dashboard with Docker Compose from the compose file built into the binary,
//! between `setup`'s configure step and its wait, then `setup` finishes the job. In Coder the
//! template owns the containers: `up` says so and runs `setup` only.
//!
//! I/O: the container engine, then what `setup` does.

use std::path::Path;

use serde::Serialize;

use crate::cli::ComposeArgs;
use crate::config::derive::Derived;
use crate::config::urls::App;
use crate::containers::compose::{self, Container, Ports};
use crate::containers::engine::{Engine, Stack};
use crate::containers::ports;
use crate::env_vars as ev;
use crate::error::{ContainerFailure, Error, Result};
use crate::project;
use crate::project::file_io::Change;

use super::context::{Ctx, Execute, Outcome, Running};
use super::setup;

/// The flags of `up`: `setup`'s and the containers'.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    setup: setup::Args,
    #[command(flatten)]
    compose: ComposeArgs,
    /// Internal URL of the dashboard (its port is published on 127.0.0.1).
    #[arg(long, env = ev::CODER_CONVEX_DASHBOARD_INTERNAL_URL, value_name = "URL", default_value = "http://127.0.0.1:6791")]
    dashboard_internal_url: String,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

/// What `up` did with the containers (the `containers` field of setup's report).
#[derive(Serialize)]
struct Report<'a> {
    engine: Engine,
    project: &'a str,
    compose_file: &'a Path,
    /// `created`/`updated`/`unchanged` for the embedded file; `null` with `--compose-file`.
    compose_file_change: Option<Change>,
    ports: Ports,
    /// The containers before `up` (none on the first run).
    before: Vec<Container>,
}

pub(crate) async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    if ctx.env.is_coder() && args.compose.compose_file.is_none() {
        ctx.out.info(
            "in a Coder workspace the template runs the Convex backend and dashboard; running setup only",
        );
        return setup::run(ctx, &args.setup).await;
    }
    // Everything that can fail without a backend fails before a file is written.
    let mut stack = Stack::locate(
        ctx.process_env,
        ctx.env,
        ctx.dir,
        args.compose.compose_file.as_deref(),
    )?;
    stack.check_compose().await?;
    let file_change = stack.write_file()?;
    let env_file = fs_err::canonicalize(ctx.dir)?.join(project::CONVEX_ENV_FILE);
    setup::run_with(ctx, &args.setup, async |derived: &Derived| {
        let ports = Ports::from_urls(
            &derived.backend_url,
            &derived.site_proxy_url,
            &args.dashboard_internal_url,
        )?;
        let content = fs_err::read_to_string(&env_file)?;
        stack.set_variables(compose::variables(
            &env_file,
            &compose::env_hash(&content),
            &derived.urls.api,
            ports,
        ));
        let before = stack.ps().await?;
        check_ports(&before, ports)?;
        stack.up(ctx.out).await?;
        ctx.out.success(format!(
            "Convex containers are up (compose project {}, {})",
            stack.project,
            stack.file.display()
        ));
        let report = Report {
            engine: stack.engine,
            project: &stack.project,
            compose_file: &stack.file,
            compose_file_change: file_change,
            ports,
            before,
        };
        Ok(serde_json::to_value(report).ok())
    })
    .await
}

/// Every port a stopped service will publish must be free; a running service holds its own.
fn check_ports(containers: &[Container], ports: Ports) -> Result<()> {
    for (port, service, app) in ports.published() {
        let ours = containers
            .iter()
            .any(|c| c.service == service.as_str() && c.running());
        if ours || !ports::taken(port) {
            continue;
        }
        let who = ports::holder(port).map_or_else(
            || "another program".to_owned(),
            |h| format!("{} (pid {})", h.name, h.pid),
        );
        let input = match app {
            App::Api => "CODER_CONVEX_BACKEND_URL",
            App::Site => "CODER_CONVEX_SITE_PROXY_URL",
            App::Dashboard => "CODER_CONVEX_DASHBOARD_INTERNAL_URL",
        };
        return Err(Error::containers(
            ContainerFailure::PortInUse,
            format!(
                "port {port} on 127.0.0.1 ({} of the {}) is in use by {who}",
                app.default_slug(),
                service.as_str()
            ),
            format!(
                "stop {who} (another project's Convex containers? `docker ps` shows them), or publish on another port with {input}=http://127.0.0.1:<port> and the matching public URL ({})",
                app.explicit_var()
            ),
        ));
    }
    Ok(())
}
