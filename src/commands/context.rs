//! What every command shares: the context it runs in, the outcome it returns, and the steps
//! several commands start with (lock, load and derive, the secrets a backend command needs).
//!
//! I/O: the project lock, project files, the Coder agent manifest.

use std::ffi::OsString;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;

use enum_dispatch::enum_dispatch;
use serde::Serialize;

use crate::config::derive::{self, Derived, ProjectState};
use crate::config::identity;
use crate::config::secrets::{AuthSecret, InstanceSecret, JwtKey};
use crate::config::urls::UrlSource;
use crate::deadline::Deadline;
use crate::environment::RawEnv;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::project;
use crate::project::file_io;
use crate::project::lock::ProjectLock;

/// A running command.
pub(crate) type Running<'a> = Pin<Box<dyn Future<Output = Result<Outcome>> + 'a>>;

/// What every command's `Args` does: run against the context.
#[enum_dispatch]
pub(crate) trait Execute {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a>;
    /// Whether the command prints one JSON document on stdout even without `--json`.
    fn prints_json(&self) -> bool {
        false
    }
}

/// What every command needs besides its own flags.
pub(crate) struct Ctx<'a> {
    pub(crate) env: &'a RawEnv,
    /// Handed (filtered) to child processes.
    pub(crate) process_env: &'a [(OsString, OsString)],
    pub(crate) dir: &'a Path,
    pub(crate) json: bool,
    pub(crate) out: &'a Output,
}

/// How a command ended: its report for `--json`, and the failure when it did not succeed
/// although it has something to report (`status` with the backend down, `doctor` with a
/// failing check).
pub(crate) struct Outcome {
    pub(crate) report: Option<serde_json::Value>,
    pub(crate) failure: Option<Error>,
}

impl Outcome {
    pub(crate) fn ok(report: &impl Serialize) -> Self {
        Self {
            report: serde_json::to_value(report).ok(),
            failure: None,
        }
    }

    pub(crate) fn failed(report: &impl Serialize, failure: Error) -> Self {
        Self {
            report: serde_json::to_value(report).ok(),
            failure: Some(failure),
        }
    }

    /// Success with nothing to report but `ok`.
    pub(crate) fn empty() -> Self {
        Self {
            report: None,
            failure: None,
        }
    }
}

/// The project lock, announcing when another run holds it; waiting ends at `deadline`
/// (`configure` has none: it waits until the other run is done).
pub(crate) async fn lock(ctx: &Ctx<'_>, deadline: Option<Deadline>) -> Result<ProjectLock> {
    ProjectLock::acquire(ctx.dir, deadline, || {
        ctx.out
            .info("waiting for another coder-convex run in this project to finish…")
    })
    .await
}

/// Steps 1–2: read the project, probe the Coder manifest when it is needed, derive; the
/// derivation's warnings are shown once, here.
pub(crate) async fn load_and_derive(
    ctx: &Ctx<'_>,
    args: &crate::cli::DeriveArgs,
) -> Result<(ProjectState, Derived)> {
    let state = ProjectState::load(ctx.dir)?;
    let derived = derive::derive_probing(ctx.env, args, &state).await?;
    for warning in &derived.warnings {
        ctx.out.warn(warning);
    }
    Ok((state, derived))
}

/// What a backend command starts from: the project, the derivation and the secrets it
/// needs (no file is written).
pub(crate) struct Session {
    pub(crate) state: ProjectState,
    pub(crate) derived: Derived,
    pub(crate) secret: InstanceSecret,
    pub(crate) admin_key: String,
    pub(crate) auth_secret: Option<AuthSecret>,
}

/// Load, derive, and require the instance secret and admin key.
pub(crate) async fn session(ctx: &Ctx<'_>, args: &crate::cli::DeriveArgs) -> Result<Session> {
    let (state, derived) = load_and_derive(ctx, args).await?;
    let identity = identity::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    match (identity.secret, identity.admin_key) {
        (Some((secret, _)), Some((admin_key, _))) => Ok(Session {
            state,
            derived,
            secret,
            admin_key,
            auth_secret: identity.auth_secret.map(|(s, _)| s),
        }),
        _ => Err(Error::runtime(format!(
            "there is no instance secret yet in {}",
            project::CONVEX_ENV_FILE
        ))
        .with_hint(
            "run `coder-convex setup` or `coder-convex configure` first, or set INSTANCE_SECRET",
        )),
    }
}

/// The JWT key on disk; commands other than setup/configure never create one.
pub(crate) fn existing_jwt_key(dir: &Path) -> Result<JwtKey> {
    let path = dir.join(project::JWT_KEY_FILE);
    let pem = file_io::read_optional(&path)?.ok_or_else(|| {
        Error::file(&path, "does not exist")
            .with_hint("run `coder-convex setup` (or `configure`) first")
    })?;
    JwtKey::from_pem(&pem).map_err(|why| {
        Error::file(&path, why).with_hint("run `coder-convex configure --rotate-jwt-key`")
    })
}

/// Per-URL sources.
#[derive(Debug, Serialize)]
pub(crate) struct UrlSources {
    api: &'static str,
    site: &'static str,
    dashboard: &'static str,
}

impl UrlSources {
    pub(crate) fn new(derived: &Derived) -> Self {
        let [api, site, dashboard] = derived.urls.sources.map(UrlSource::as_str);
        Self {
            api,
            site,
            dashboard,
        }
    }
}

/// The URLs as `--json` reports them.
#[derive(Debug, Serialize)]
pub(crate) struct UrlsReport {
    pub(crate) api: String,
    pub(crate) site: String,
    pub(crate) dashboard: String,
    /// The app's own URL (`SITE_URL`), its source and port.
    pub(crate) app: Option<crate::config::site_url::AppUrl>,
    pub(crate) explicit: Vec<crate::config::urls::App>,
    /// Where each URL came from: `explicit`, `project-file`, or the derivation rule.
    pub(crate) sources: UrlSources,
    pub(crate) backend: String,
    pub(crate) site_proxy: String,
}

impl UrlsReport {
    pub(crate) fn new(derived: &Derived) -> Self {
        Self {
            api: derived.urls.api.clone(),
            site: derived.urls.site.clone(),
            dashboard: derived.urls.dashboard.clone(),
            app: derived.app_url.clone(),
            explicit: derived.urls.explicit.clone(),
            sources: UrlSources::new(derived),
            backend: derived.backend_url.clone(),
            site_proxy: derived.site_proxy_url.clone(),
        }
    }
}

/// The URL source as `--json` reports it.
pub(crate) fn url_source(derived: &Derived) -> &'static str {
    UrlSource::as_str(derived.urls.source)
}

/// The short summary `setup` and `configure` end with.
pub(crate) fn summary(out: &Output, derived: &Derived) {
    out.info(format!("  API        {}", derived.urls.api));
    out.info(format!("  Site       {}", derived.urls.site));
    // With CODER_CONVEX_DASHBOARD_LOGIN the dashboard container has the key and logs in by
    // itself: telling people to paste one would send them looking for a prompt that never comes.
    let login = if derived.dashboard_login {
        "logs in by itself"
    } else {
        "log in with `coder-convex admin-key`"
    };
    out.info(format!(
        "  Dashboard  {}  ({login})",
        derived.urls.dashboard
    ));
    if let Some(app) = &derived.app_url {
        out.info(format!("  App        {}  (SITE_URL)", app.url));
    }
    let db = match &derived.database {
        Some(d) => d.masked(),
        None if derived.provisioned => "provisioned by the template".to_owned(),
        None => "embedded SQLite".to_owned(),
    };
    out.info(format!(
        "  Instance   {}  ·  database {db}  ·  URLs from {}",
        derived.instance_name,
        derived.urls.source.as_str()
    ));
}
