//! `coder-convex status`: the URLs, whether the backend answers, whether it is this project's
//! instance and accepts our key, whether the deployment environment is in sync, and the last
//! deploy. A quick look that never writes: every backend call has [`probe::QUICK_TIMEOUT`],
//! the whole command `--timeout`.

use serde::Serialize;

use crate::backend::Backend;
use crate::cli::{DeriveArgs, PushArgs};
use crate::deadline::Deadline;
use crate::deploy::{self, DeployOutcome};
use crate::error::{Error, Result};
use crate::identity;
use crate::probe::{self, Findings, Instance, KeyCheck};

use super::context::{self, Ctx, Outcome, UrlsReport};

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
    last_deploy: Option<DeployOutcome>,
}

pub(crate) async fn run(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    push: &PushArgs,
    deadline: Deadline,
) -> Result<Outcome> {
    let (state, derived) = context::load_and_derive(ctx, derive).await?;
    let identity = identity::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    let key = identity.admin_key.as_ref().map(|(k, _)| k.as_str());
    let backend = Backend::new(&derived.backend_url, key.unwrap_or_default(), deadline)?;
    let desired = context::existing_jwt_key(ctx.dir).ok().and_then(|jwt| {
        crate::derive::desired_env(ctx.dir, &derived, &jwt, push.site_url.as_deref()).ok()
    });
    let findings = probe::quick(&backend, &derived, key.is_some(), desired.as_ref()).await;
    let report = report(&derived, &findings, deploy::last(ctx.dir));
    if !ctx.json {
        print(ctx, &report);
    }
    // Exit 3 when the backend did not answer a call in time, not only `/version`.
    match findings.unanswered() {
        None => Ok(Outcome::ok(&report)),
        Some(e) => {
            let hint = if findings.health.is_ok() {
                format!(
                    "the backend answers GET /version but not every call: check its logs (or allow more than {deadline})"
                )
            } else {
                "start the backend (in Coder: the convex-backend container; locally: docker compose), then run `coder-convex setup`".to_owned()
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
    derived: &crate::derive::Derived,
    findings: &Findings,
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
        last_deploy,
    }
}

fn print(ctx: &Ctx<'_>, report: &Report) {
    let out = ctx.out;
    let mark = |ok: Option<bool>| match ok {
        Some(true) => "✓",
        Some(false) => "✗",
        None => "–",
    };
    out.data(format!("API        {}", report.urls.api));
    out.data(format!("Site       {}", report.urls.site));
    out.data(format!("Dashboard  {}", report.urls.dashboard));
    out.data(format!("URLs from  {}", report.url_source));
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
    match &report.last_deploy {
        Some(d) => out.data(format!(
            "last deploy {} ({}, {:.1} s)",
            ago(d.finished_at),
            d.command,
            d.duration_ms as f64 / 1000.0
        )),
        None => out.data("last deploy none recorded from this directory"),
    }
}

/// `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
fn ago(unix_s: u64) -> String {
    let secs = crate::clock::unix_now().saturating_sub(unix_s);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}
