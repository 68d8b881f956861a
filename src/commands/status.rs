//! `coder-convex status`: the URLs, whether the backend answers, whether it is this project's
//! instance and accepts our key, whether the deployment environment is in sync, and the last
//! deploy. A quick look that never writes: every backend call has [`probe::QUICK_TIMEOUT`],
//! the whole command `--timeout`. `--metadata <item>` prints one short line of the same
//! report for Coder's agent metadata.
//!
//! I/O: reads project files; the backend, the container engine.

use std::time::Duration;

use serde::Serialize;

use crate::backend::Backend;
use crate::backend::probe::{self, AuthCheck, Findings, Instance, KeyCheck};
use crate::cli::{DeriveArgs, TimeoutArgs};
use crate::config::auth_libs::AuthLib;
use crate::config::identity;
use crate::containers::compose::Container;
use crate::containers::engine::Stack;
use crate::deploy::version_skew::Skew;
use crate::deploy::{self, DeployOutcome};
use crate::error::{Error, Result};

use super::context::{self, Ctx, Execute, Outcome, Running, UrlsReport};

#[derive(Serialize)]
struct BackendReport {
    url: String,
    healthy: bool,
    version: Option<String>,
    error: Option<String>,
    instance_name: Option<String>,
}

#[derive(Serialize)]
struct Report {
    urls: UrlsReport,
    url_source: &'static str,
    instance_name: String,
    backend: BackendReport,
    admin_key_accepted: Option<bool>,
    canonical_urls_match: Option<bool>,
    env_in_sync: Option<bool>,
    env_pending: Option<Vec<String>>,
    auth_libs: Vec<AuthLib>,
    /// Per-library checks (with a healthy backend).
    auth: Vec<AuthCheck>,
    /// The project's `convex` CLI against the backend (with a healthy backend).
    versions: Option<crate::deploy::version_skew::Report>,
    last_deploy: Option<DeployOutcome>,
    /// The newest backup of this instance in its store, if any.
    last_backup: Option<crate::backups::Entry>,
    /// The containers `up` started, when this project has some (never in Coder).
    #[serde(skip_serializing_if = "Option::is_none")]
    containers: Option<ContainersReport>,
    /// The backend process `up --backend process` runs, when it ran for this project.
    #[serde(skip_serializing_if = "Option::is_none")]
    process: Option<crate::process::supervisor::Status>,
}

#[derive(Serialize)]
struct ContainersReport {
    project: String,
    list: Vec<Container>,
    error: Option<String>,
}

/// `status` stays quick even when the engine hangs.
const PS_TIMEOUT: Duration = Duration::from_secs(5);

/// The state of the containers, when `up` ran here (its compose file is in the cache) and
/// the engine is installed; nothing otherwise.
async fn containers(ctx: &Ctx<'_>) -> Option<ContainersReport> {
    if ctx.env.is_coder() {
        return None;
    }
    let mut stack = Stack::locate(ctx.process_env, ctx.env, ctx.dir, None).ok()?;
    if !stack.cached() {
        return None;
    }
    stack.set_env_file(ctx.dir).ok()?;
    let (list, error) = match tokio::time::timeout(PS_TIMEOUT, stack.ps()).await {
        Ok(Ok(list)) => (list, None),
        Ok(Err(e)) => (vec![], Some(e.to_string())),
        Err(_) => (
            vec![],
            Some(format!("no answer in {}s", PS_TIMEOUT.as_secs())),
        ),
    };
    Some(ContainersReport {
        project: stack.project,
        list,
        error,
    })
}

/// The flags of `status`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    /// Print one short line for a Coder agent metadata item, and exit 0 even when the
    /// backend is down (the templates' `coder_agent` metadata scripts use it).
    #[arg(long, value_enum, value_name = "ITEM")]
    metadata: Option<MetadataItem>,
    #[command(flatten)]
    timeout: TimeoutArgs,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }
}

/// One line of `status` for the Coder dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum MetadataItem {
    // `up · <version>`, `wrong instance <name>`, or `down`.
    Backend,
    // `in sync`, `pending: <names>`, or `unknown`.
    Env,
    // The age of the last deploy, or `never`.
    Deploy,
}

async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let (derive, metadata, deadline) = (&args.derive, args.metadata, args.timeout.deadline());
    let (state, derived) = context::load_and_derive(ctx, derive).await?;
    let identity = identity::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    let key = identity.admin_key.as_ref().map(|(k, _)| k.as_str());
    let backend = Backend::new(&derived.backend_url, key.unwrap_or_default(), deadline)?;
    let jwt = context::existing_jwt_key(ctx.dir).ok();
    let auth_secret = identity.auth_secret.as_ref().map(|(s, _)| s);
    let desired = jwt.as_ref().and_then(|jwt| {
        crate::config::derive::desired_env(ctx.dir, &derived, jwt, auth_secret).ok()
    });
    let findings = probe::quick(&backend, &derived, key.is_some(), desired.as_ref()).await;
    let auth = if findings.health.is_ok() {
        probe::auth(&derived, jwt.as_ref(), &deadline).await
    } else {
        vec![]
    };
    let mut report = report(&derived, &findings, auth, deploy::last(ctx.dir));
    report.containers = containers(ctx).await;
    report.process = crate::process::supervisor::status(ctx.env, ctx.dir);
    // The metadata lines run every few seconds under a short timeout: only `backend` shows
    // the versions, and it never waits for the probe.
    let versions_wanted = metadata.is_none_or(|item| item == MetadataItem::Backend);
    if let (Ok(version), true) = (&findings.health, versions_wanted) {
        let package_json = state.package_json.as_ref();
        let probe = metadata.is_none();
        let assessed =
            crate::deploy::version_skew::assess(ctx.dir, package_json, &backend, version, probe);
        report.versions = Some(assessed.await);
    }
    let owner = crate::backups::Owner::new(
        &derived.instance_name,
        identity.secret.as_ref().map(|(s, _)| s),
    );
    report.last_backup = newest_backup(ctx, &owner);
    if let Some(item) = metadata {
        // Informational: the line says what is wrong, the exit status stays 0.
        if !ctx.json {
            ctx.out.data(metadata_line(&report, item));
        }
        return Ok(Outcome::ok(&report));
    }
    if !ctx.json {
        print(ctx, &report);
    }
    // Exit 3 when `/version` has no good answer (none, or not a Convex backend's: an
    // oversized or failing one), or when the backend did not answer a later call in time.
    match findings
        .health
        .as_ref()
        .err()
        .or_else(|| findings.unanswered())
    {
        None => Ok(Outcome::ok(&report)),
        Some(e) => {
            let hint = if !e.no_answer() {
                format!(
                    "that is not a Convex backend's answer: check what listens at {}",
                    derived.backend_url
                )
            } else if findings.health.is_ok() {
                format!(
                    "the backend answers GET /version but not every call: check its logs (or allow more than {deadline})"
                )
            } else {
                "start the backend (in Coder: the convex-backend container; locally: `coder-convex up`), then run `coder-convex setup`".to_owned()
            };
            let failure = Error::BackendUnreachable {
                url: derived.backend_url.clone(),
                message: e.summary(),
                source: None,
                hint: Some(hint),
            };
            Ok(Outcome::failed(&report, failure))
        }
    }
}

fn report(
    derived: &crate::config::derive::Derived,
    findings: &Findings,
    auth: Vec<AuthCheck>,
    last_deploy: Option<DeployOutcome>,
) -> Report {
    let instance_name = match &findings.instance {
        Some(Ok(Instance::Ours)) => Some(derived.instance_name.clone()),
        Some(Ok(Instance::Other(name))) => Some(name.clone()),
        _ => None,
    };
    let pending = match &findings.env {
        Some(Ok(diff)) => Some(diff.changes.iter().map(|c| c.name.clone()).collect()),
        _ => None,
    };
    Report {
        urls: UrlsReport::new(derived),
        url_source: context::url_source(derived),
        instance_name: derived.instance_name.clone(),
        backend: BackendReport {
            url: derived.backend_url.clone(),
            healthy: findings.health.is_ok(),
            version: findings.health.as_ref().ok().cloned(),
            error: findings.health.as_ref().err().map(|e| e.summary()),
            instance_name,
        },
        admin_key_accepted: match &findings.key {
            Some(Ok(KeyCheck::Accepted | KeyCheck::AcceptedLegacy(_))) => Some(true),
            Some(Ok(KeyCheck::Rejected)) => Some(false),
            _ => None,
        },
        canonical_urls_match: match &findings.canonical {
            Some(Ok(c)) => Some(c.matches),
            _ => None,
        },
        env_in_sync: pending.as_ref().map(Vec::is_empty),
        env_pending: pending,
        auth_libs: derived.auth_libs.clone(),
        auth,
        versions: None,
        last_deploy,
        last_backup: None,
        containers: None,
        process: None,
    }
}

/// The newest backup in the instance's store (a `backup --dir` elsewhere is not searched).
pub(crate) fn newest_backup(
    ctx: &Ctx<'_>,
    owner: &crate::backups::Owner,
) -> Option<crate::backups::Entry> {
    let store = crate::backups::store(ctx.env, &owner.instance).ok()?;
    crate::backups::list_own(&store, owner).ok()?.pop()
}

fn print(ctx: &Ctx<'_>, report: &Report) {
    let out = ctx.out;
    out.data(format!("API        {}", report.urls.api));
    out.data(format!("Site       {}", report.urls.site));
    out.data(format!("Dashboard  {}", report.urls.dashboard));
    out.data(format!("URLs from  {}", report.url_source));
    match &report.urls.app {
        Some(app) => out.data(format!(
            "App        {}  (SITE_URL, from {}{})",
            app.url,
            app.source.as_str(),
            app.port
                .map(|p| format!(", port {} from {}", p.port, port_source(p.source)))
                .unwrap_or_default()
        )),
        None => out.data("App        no frontend detected (give --site-url or --frontend-port)"),
    }
    if !report.auth_libs.is_empty() {
        let names: Vec<&str> = report.auth_libs.iter().map(|l| l.name()).collect();
        out.data(format!("Auth       {}", names.join(", ")));
    }
    let backend = &report.backend;
    match (&backend.version, &backend.error) {
        (Some(v), _) => out.data(format!(
            "{} backend   {} (version {v})",
            mark(Some(true)),
            backend.url
        )),
        (None, e) => out.data(format!(
            "{} backend   {} not answering: {}",
            mark(Some(false)),
            backend.url,
            e.as_deref().unwrap_or_default()
        )),
    }
    if backend.healthy {
        out.data(format!(
            "{} instance  {} (backend: {})",
            mark(Some(
                backend.instance_name.as_deref() == Some(report.instance_name.as_str())
            )),
            report.instance_name,
            backend.instance_name.as_deref().unwrap_or("?")
        ));
        out.data(format!(
            "{} admin key accepted",
            mark(report.admin_key_accepted)
        ));
        out.data(format!(
            "{} canonical URLs match",
            mark(report.canonical_urls_match)
        ));
        match &report.env_pending {
            Some(p) if p.is_empty() => {
                out.data(format!("{} deployment env in sync", mark(Some(true))))
            }
            Some(p) => out.data(format!(
                "{} deployment env: pending {}",
                mark(Some(false)),
                p.join(", ")
            )),
            None => out.data(format!("{} deployment env not checked", mark(None))),
        }
    }
    if let Some(versions) = &report.versions {
        versions_lines(out, versions);
    }
    for check in &report.auth {
        out.data(format!(
            "{} {}: {}",
            mark(Some(check.ok)),
            check.name,
            check.detail
        ));
    }
    if let Some(p) = &report.process {
        out.data(format!(
            "{} backend process: {} ({} starts; log {})",
            mark(Some(p.running)),
            p.supervisor_pid.map_or_else(
                || "stopped (`coder-convex up --backend process` starts it)".to_owned(),
                |pid| format!(
                    "supervisor pid {pid}, backend pid {}",
                    p.backend_pid
                        .map_or_else(|| "none (restarting)".to_owned(), |b| b.to_string())
                )
            ),
            p.starts,
            p.log.display()
        ));
    }
    if let Some(containers) = &report.containers {
        if let Some(error) = &containers.error {
            out.data(format!(
                "{} containers {}: {error}",
                mark(Some(false)),
                containers.project
            ));
        } else if containers.list.is_empty() {
            out.data(format!(
                "{} containers {}: none (`coder-convex up` starts them)",
                mark(None),
                containers.project
            ));
        }
        for c in &containers.list {
            out.data(format!(
                "{} container {:<9} {} ({})",
                mark(Some(c.running())),
                c.service,
                c.state,
                c.status
            ));
        }
    }
    match &report.last_deploy {
        Some(d) => out.data(format!(
            "last deploy {} ({}, {:.1} s)",
            crate::clock::ago(d.finished_at),
            d.command,
            d.duration_ms as f64 / 1000.0
        )),
        None => out.data("last deploy none recorded from this directory"),
    }
    match &report.last_backup {
        Some(b) => out.data(format!("last backup {}", b.describe())),
        None => out.data("last backup none (`coder-convex backup` takes one)"),
    }
}

/// One short line for the Coder dashboard's metadata column.
fn metadata_line(report: &Report, item: MetadataItem) -> String {
    match item {
        MetadataItem::Backend => match (&report.backend.version, &report.backend.instance_name) {
            (Some(_), Some(name)) if *name != report.instance_name => {
                format!("wrong instance {name}")
            }
            (Some(version), _) if too_new(report) => {
                format!("up · {version} · convex CLI too new")
            }
            (Some(version), _) => format!("up · {version}"),
            (None, _) => "down".to_owned(),
        },
        MetadataItem::Env => match &report.env_pending {
            Some(p) if p.is_empty() => "in sync".to_owned(),
            Some(p) if p.len() > 3 => {
                format!("pending: {} and {} more", p[..3].join(", "), p.len() - 3)
            }
            Some(p) => format!("pending: {}", p.join(", ")),
            None => "unknown".to_owned(),
        },
        MetadataItem::Deploy => report
            .last_deploy
            .as_ref()
            .map_or_else(|| "never".to_owned(), |d| crate::clock::ago(d.finished_at)),
    }
}

/// ✓, ✗, or – for not checked.
fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "–",
    }
}

fn too_new(report: &Report) -> bool {
    report
        .versions
        .as_ref()
        .is_some_and(|v| matches!(v.skew, Skew::CliTooNew { .. }))
}

/// `✓ convex 1.48.0 deploys to this backend (built 2026-08-21)`, or the warning and its fix.
fn versions_lines(out: &crate::output::Output, versions: &crate::deploy::version_skew::Report) {
    let cli = versions.cli_version.as_deref().unwrap_or("?");
    match (&versions.skew, versions.warning()) {
        (_, Some(warning)) => {
            out.data(format!("{} {warning}", mark(Some(false))));
            if let Some(hint) = &versions.hint {
                out.data(format!("  hint: {hint}"));
            }
        }
        (Skew::Compatible, None) => out.data(format!(
            "{} {}",
            mark(Some(true)),
            versions.compatible_detail()
        )),
        (Skew::NotInstalled, None) => out.data(format!("{} convex CLI not installed", mark(None))),
        (Skew::Unknown { reason } | Skew::CliTooNew { reason, .. }, None) => out.data(format!(
            "{} convex CLI {cli}: not checked: {reason}",
            mark(None)
        )),
    }
}

fn port_source(source: crate::config::site_url::PortSource) -> &'static str {
    match source {
        crate::config::site_url::PortSource::Explicit => "--frontend-port",
        crate::config::site_url::PortSource::DevScript => "the dev script",
        crate::config::site_url::PortSource::FrameworkDefault => "the framework default",
    }
}
