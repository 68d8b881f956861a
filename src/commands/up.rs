//! `coder-convex up`: the laptop path in one command. Outside Coder it starts the Convex
//! backend and dashboard with Docker Compose from the compose file built into the binary,
//! between `setup`'s configure step and its wait, then `setup` finishes the job. In Coder the
//! template owns the containers: `up` says so and runs `setup` only. With `--backend process`
//! (or `auto` and no engine on `PATH`) it runs the upstream binary under a supervisor instead
//! (`process`), in Coder too.
//!
//! I/O: the container engine, then what `setup` does.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::cli::ComposeArgs;
use crate::config::derive::Derived;
use crate::config::urls::App;
use crate::containers::compose::{self, Container, Ports};
use crate::containers::engine::{self, Engine, Stack};
use crate::containers::ports;
use crate::env_vars as ev;
use crate::error::{ContainerFailure, Error, Result};
use crate::process::argv;
use crate::process::install::{self, Source};
use crate::process::release;
use crate::process::supervisor::{self, RunDir};
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
    /// How to run the backend: `containers` (Docker or Podman), `process` (the upstream
    /// `convex-local-backend` binary, supervised), or `auto` (containers when an engine is found).
    #[arg(long, env = ev::CODER_CONVEX_BACKEND, value_enum, default_value_t = BackendMode::Auto)]
    backend: BackendMode,
    /// The upstream backend release `--backend process` runs (`precompiled-<date>-<commit>`); a
    /// release other than the built-in one needs --backend-checksums.
    #[arg(long, env = ev::CODER_CONVEX_BACKEND_RELEASE, value_name = "TAG", default_value = release::TAG)]
    backend_release: String,
    /// Base URL of the backend release archives (`<URL>/<tag>/convex-local-backend-<target>.zip`): a mirror.
    #[arg(long, env = ev::CODER_CONVEX_DOWNLOAD_BASE_URL, value_name = "URL", default_value = release::DEFAULT_BASE_URL)]
    download_base_url: String,
    /// A `sha256sum` file that replaces the built-in pins of the backend archives.
    #[arg(long, env = ev::CODER_CONVEX_BACKEND_CHECKSUMS, value_name = "FILE")]
    backend_checksums: Option<PathBuf>,
}

/// Where the backend runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum BackendMode {
    Auto,
    Containers,
    Process,
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
    let process = match args.backend {
        BackendMode::Process => true,
        BackendMode::Containers => false,
        BackendMode::Auto => {
            !ctx.env.is_coder()
                && args.compose.compose_file.is_none()
                && engine::find_engine(ctx.process_env).is_err()
        }
    };
    if process {
        return run_process(ctx, args).await;
    }
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
        let ports = ports(derived, args)?;
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

/// What `up` did with the backend process (the `process` field of setup's report).
#[derive(Serialize)]
struct ProcessReport<'a> {
    binary: &'a Path,
    release: &'static str,
    downloaded: bool,
    run_dir: &'a Path,
    log: PathBuf,
    supervisor_pid: u32,
    already_running: bool,
}

/// The backend as a supervised process: fetched (or found in the cache) before a file is
/// written, started between configure and the wait; a running supervisor is left alone (it
/// restarts the backend itself when `.env.convex.local` changes).
async fn run_process(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    if !release::is_tag(&args.backend_release) {
        return Err(Error::invalid(
            format!("--backend-release ({})", ev::CODER_CONVEX_BACKEND_RELEASE),
            format!("{:?} is not an upstream release tag", args.backend_release),
        )
        .with_hint(format!(
            "name a tag of get-convex/convex-backend such as {} (the built-in one)",
            release::TAG
        )));
    }
    let run = RunDir::locate(ctx.env, ctx.dir)?;
    let cache = compose::cache_dir(
        ctx.env.xdg_cache_home.as_deref(),
        ctx.env.home.as_deref(),
        "backend",
    )?;
    let installed = install::ensure(
        &cache,
        &Source {
            tag: &args.backend_release,
            base_url: &args.download_base_url,
            checksum_file: args.backend_checksums.as_deref(),
        },
    )
    .await?;
    if installed.downloaded {
        ctx.out.success(format!(
            "downloaded convex-local-backend {} (sha256 checked) to {}",
            args.backend_release,
            installed.path.display()
        ));
    }
    let dir = fs_err::canonicalize(ctx.dir)?;
    setup::run_with(ctx, &args.setup, async |derived: &Derived| {
        let ports = ports(derived, args)?;
        let ports = argv::Ports {
            api: ports.api,
            site: ports.site,
        };
        let (pid, already_running) = match run.supervisor() {
            Some(pid) => (pid.unsigned_abs(), true),
            None => {
                let env: Vec<_> = ctx
                    .process_env
                    .iter()
                    .filter(|(k, _)| !engine::NOT_FOR_COMPOSE.iter().any(|n| k == n))
                    .cloned()
                    .collect();
                (
                    supervisor::start(
                        &run,
                        &installed.path,
                        &args.backend_release,
                        ports,
                        &dir,
                        &env,
                    )?,
                    false,
                )
            }
        };
        ctx.out.success(format!(
            "the Convex backend runs as a process (supervisor pid {pid}; log {})",
            run.log().display()
        ));
        let report = ProcessReport {
            binary: &installed.path,
            release: release::TAG,
            downloaded: installed.downloaded,
            run_dir: &run.0,
            log: run.log(),
            supervisor_pid: pid,
            already_running,
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

/// The loopback ports the backend (and the dashboard) listen on, from the internal URLs.
fn ports(derived: &Derived, args: &Args) -> Result<Ports> {
    Ports::from_urls(
        &derived.backend_url,
        &derived.site_proxy_url,
        &args.dashboard_internal_url,
    )
}
