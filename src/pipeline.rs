//! Steps 5–9 against a running backend: wait, verify identity, push the environment,
//! deploy, verify auth. Commands compose these; each step returns what it found.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backend::{self, Backend, CanonicalUrls, EnvChange, PublicProbe, WaitProgress};
use crate::config::{Derived, EnvFile};
use crate::deploy::{self, DeployOutcome, PackageManager};
use crate::envset;
use crate::error::{Error, Result};
use crate::output::Output;
use crate::project;
use crate::secrets::{self, InstanceSecret, JwtKey};
use crate::urls::UrlSource;

/// Spinner on a terminal; one plain line every few seconds otherwise (the Coder startup log).
struct Progress<'a> {
    out: &'a Output,
    tty: bool,
    last_line: Option<Duration>,
    frame: usize,
}

const LOG_EVERY: Duration = Duration::from_secs(5);
const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl WaitProgress for Progress<'_> {
    fn tick(&mut self, elapsed: Duration, last_error: &str) {
        if self.tty {
            self.frame = (self.frame + 1) % FRAMES.len();
            self.out.spinner(&format!(
                "{} waiting for the backend ({}s)",
                FRAMES[self.frame],
                elapsed.as_secs()
            ));
        } else if self.last_line.is_none_or(|t| elapsed >= t + LOG_EVERY) {
            self.last_line = Some(elapsed);
            self.out.info(format!(
                "waiting for the backend ({}s): {last_error}",
                elapsed.as_secs()
            ));
        }
    }
}

/// Step 5: wait for `GET /version`.
pub async fn wait(backend: &Backend, deadline: Duration, out: &Output) -> Result<String> {
    let started = Instant::now();
    let mut progress = Progress {
        out,
        tty: out.is_tty(),
        last_line: None,
        frame: 0,
    };
    let result = backend::wait_healthy(backend, deadline, &mut progress).await;
    if progress.tty {
        out.spinner("");
    }
    let version = result?;
    out.success(format!(
        "backend {} is up (version {version}, {} ms)",
        backend.url(),
        started.elapsed().as_millis()
    ));
    Ok(version)
}

/// Steps 5–6: wait for the backend, then prove its identity and our key.
pub async fn connect(
    derived: &Derived,
    admin_key: &str,
    secret: &InstanceSecret,
    deadline: Duration,
    out: &Output,
) -> Result<(String, Verified)> {
    let backend = Backend::new(&derived.backend_url, admin_key)?;
    let version = wait(&backend, deadline, out).await?;
    let verified = verify_identity(&backend, derived, secret, out).await?;
    Ok((version, verified))
}

/// What step 6 established (no `Debug`: it holds an admin key).
#[derive(Clone)]
pub struct Verified {
    /// The backend with the key it accepted.
    pub backend: Backend,
    /// Set when only the legacy key format was accepted.
    pub legacy_key: Option<String>,
    pub canonical: Option<CanonicalUrls>,
}

/// Step 6: the instance name, the admin key (legacy format once as a fallback), the
/// canonical URLs (a mismatch is a warning).
pub async fn verify_identity(
    backend: &Backend,
    derived: &Derived,
    secret: &InstanceSecret,
    out: &Output,
) -> Result<Verified> {
    let unreachable = |e: backend::CallError| Error::BackendUnreachable {
        url: backend.url().to_owned(),
        message: e.to_string(),
        hint: None,
    };
    let name = backend.instance_name().await.map_err(unreachable)?;
    if name != derived.instance_name {
        return Err(Error::IdentityRejected {
            url: backend.url().to_owned(),
            what: format!(
                "our identity: it runs instance {name:?}, this project is {:?}",
                derived.instance_name
            ),
            hint: Some(format!(
                "restart the backend so it loads {} (in Coder: restart the workspace or the convex-backend container; with compose: `docker compose -f scripts/docker-compose.convex.yml up -d --force-recreate`)",
                project::CONVEX_ENV_FILE
            )),
        });
    }
    let mut verified = Verified {
        backend: backend.clone(),
        legacy_key: None,
        canonical: None,
    };
    if !backend.check_admin_key().await.map_err(unreachable)? {
        let legacy = secrets::mint_legacy_admin_key(secret, &derived.instance_name);
        let legacy_backend = backend.with_key(&legacy);
        if !legacy_backend
            .check_admin_key()
            .await
            .map_err(unreachable)?
        {
            return Err(Error::IdentityRejected {
                url: backend.url().to_owned(),
                what: "our admin key (current and legacy formats)".to_owned(),
                hint: Some(format!(
                    "the backend was started with another INSTANCE_SECRET; restart it so it loads {}, or restore the secret it was started with",
                    project::CONVEX_ENV_FILE
                )),
            });
        }
        out.info("the backend only accepts legacy-format admin keys (an image from before 2025-05-30); using one");
        verified.backend = legacy_backend;
        verified.legacy_key = Some(legacy);
    }
    out.success(format!("instance {name} accepts our admin key"));
    match verified.backend.canonical_urls().await {
        Ok(urls) => {
            let ours = (derived.urls.api.as_str(), derived.urls.site.as_str());
            if (
                urls.convex_cloud_url.as_str(),
                urls.convex_site_url.as_str(),
            ) != ours
            {
                out.warn(format!(
                    "the backend runs with CONVEX_CLOUD_ORIGIN={} and CONVEX_SITE_ORIGIN={}, but this workspace's URLs are {} and {}; restart the backend so it loads {} (stale env: auth and file URLs will be wrong)",
                    urls.convex_cloud_url, urls.convex_site_url, ours.0, ours.1, project::CONVEX_ENV_FILE
                ));
            }
            verified.canonical = Some(urls);
        }
        Err(e) => tracing::debug!(error = %e, "canonical URLs not available"),
    }
    Ok(verified)
}

/// What step 7 did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct EnvReport {
    pub set: Vec<String>,
    pub deleted: Vec<String>,
    /// Whether an update was sent (at most one).
    pub posted: bool,
    /// The backend has no list endpoint, so everything was sent.
    pub sent_all: bool,
}

/// The deployment variables we want, from the key, the URLs and the user's file.
pub fn desired_env(
    dir: &Path,
    derived: &Derived,
    jwt: &JwtKey,
    site_url: Option<&str>,
) -> Result<BTreeMap<String, String>> {
    let user_file = EnvFile::load(dir.join(project::DEPLOYMENT_ENV_FILE))?;
    envset::desired(
        jwt,
        &derived.urls.site,
        site_url,
        &user_file.values,
        &user_file.path,
    )
}

/// The pending changes, and whether the backend could list its variables.
pub async fn env_changes(
    backend: &Backend,
    desired: &BTreeMap<String, String>,
) -> Result<(Vec<EnvChange>, bool)> {
    let current = backend
        .list_env()
        .await
        .map_err(|e| Error::runtime(format!("listing the deployment's variables failed: {e}")))?;
    Ok((envset::diff(desired, current.as_ref()), current.is_some()))
}

/// Step 7: one POST with only the changes; none when nothing changed.
pub async fn push_env(
    backend: &Backend,
    desired: &BTreeMap<String, String>,
    out: &Output,
) -> Result<EnvReport> {
    let (changes, listed) = env_changes(backend, desired).await?;
    let mut report = EnvReport {
        sent_all: !listed,
        ..EnvReport::default()
    };
    for change in &changes {
        let names = if change.value.is_some() {
            &mut report.set
        } else {
            &mut report.deleted
        };
        names.push(change.name.clone());
    }
    if changes.is_empty() {
        out.success("deployment environment is up to date");
        return Ok(report);
    }
    backend.update_env(&changes).await.map_err(|e| {
        Error::runtime(format!("updating the deployment's variables failed: {e}")).with_hint(
            "nothing was changed (the update is all or nothing); run `coder-convex env-set` again",
        )
    })?;
    report.posted = true;
    let mut what = format!("set {}", report.set.join(", "));
    if !report.deleted.is_empty() {
        what.push_str(&format!("; deleted {}", report.deleted.join(", ")));
    }
    out.success(format!(
        "deployment environment updated in one call: {what}"
    ));
    Ok(report)
}

/// Step 8, when there is something to deploy.
pub async fn deploy(
    dir: &Path,
    package_json: Option<&serde_json::Value>,
    process_env: &[(OsString, OsString)],
    backend: &Backend,
    admin_key: &str,
    timeout: Duration,
    out: &Output,
) -> Result<DeployOutcome> {
    let pm = PackageManager::detect(dir, package_json);
    if deploy::convex_installed(dir).is_none() {
        return Err(Error::runtime(format!(
            "the `convex` package is not installed in {}",
            dir.display()
        ))
        .with_hint(format!(
            "run `{}` (and your package manager's install), or skip this step with --no-deploy",
            pm.install_hint()
        )));
    }
    let env = deploy::child_env(process_env, backend.url(), admin_key);
    let outcome = deploy::run(dir, pm, env, timeout, out).await?;
    out.success(format!(
        "deployed in {:.1}s",
        outcome.duration_ms as f64 / 1000.0
    ));
    Ok(outcome)
}

/// Whether the project uses Convex Auth.
pub fn uses_convex_auth(package_json: Option<&serde_json::Value>) -> bool {
    package_json.is_some_and(|p| {
        ["dependencies", "devDependencies"]
            .iter()
            .any(|s| p.get(s).and_then(|d| d.get("@convex-dev/auth")).is_some())
    })
}

/// One auth check's result.
#[derive(Debug, Clone, Serialize)]
pub struct AuthCheck {
    pub name: &'static str,
    pub ok: bool,
    pub detail: String,
    pub hint: Option<String>,
}

/// Step 9: the site proxy serves discovery with our issuer and JWKS; in Coder the public
/// site URL answers without a login redirect.
pub async fn verify_auth(derived: &Derived, jwt: &JwtKey) -> Vec<AuthCheck> {
    let mut checks = Vec::new();
    match backend::auth_discovery(&derived.site_proxy_url).await {
        Ok(found) => {
            let issuer_ok = found.issuer.as_deref() == Some(derived.urls.site.as_str());
            checks.push(AuthCheck {
                name: "auth issuer",
                ok: issuer_ok,
                detail: format!("issuer {:?}, expected {:?}", found.issuer.unwrap_or_default(), derived.urls.site),
                hint: (!issuer_ok).then(|| format!(
                    "the backend's CONVEX_SITE_ORIGIN differs from this workspace's site URL; restart the backend so it loads {}",
                    project::CONVEX_ENV_FILE
                )),
            });
            let ours: serde_json::Value = serde_json::from_str(&jwt.jwks()).unwrap_or_default();
            let jwks_ok = found.jwks.as_ref() == Some(&ours);
            checks.push(AuthCheck {
                name: "auth JWKS",
                ok: jwks_ok,
                detail: if jwks_ok { "matches jwt_private_key.pem".into() } else { "does not match jwt_private_key.pem".into() },
                hint: (!jwks_ok).then(|| "run `coder-convex env-set` to push the JWKS that matches the key, then deploy".to_owned()),
            });
        }
        Err(e) => checks.push(AuthCheck {
            name: "auth discovery",
            ok: false,
            detail: format!("{}/.well-known/openid-configuration: {e}", derived.site_proxy_url),
            hint: Some("deploy the project (Convex Auth's `auth.addHttpRoutes(http)` in convex/http.ts serves it)".into()),
        }),
    }
    if matches!(
        derived.urls.source,
        UrlSource::CoderProxyUri | UrlSource::CoderManifest
    ) {
        let url = format!("{}/.well-known/openid-configuration", derived.urls.site);
        let (ok, detail, hint) = match backend::probe_public(&url).await {
            PublicProbe::Open(status) => (true, format!("{url} answers {status} without a Coder session"), None),
            PublicProbe::CoderLogin => (
                false,
                format!("{url} redirects to the Coder login"),
                Some("set `share = \"public\"` on the convex-site coder_app: the backend fetches this URL itself, without a session".to_owned()),
            ),
            PublicProbe::Unreachable(e) => (true, format!("{url} not reachable from here ({e}); not checked"), None),
        };
        checks.push(AuthCheck {
            name: "public site URL",
            ok,
            detail,
            hint,
        });
    }
    checks
}
