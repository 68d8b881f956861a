//! One probe of a running backend, shared by `setup` (strict: a failure stops it), `status`
//! and `doctor` (quick: every finding is reported). Each step returns a typed finding; the
//! commands decide how to show it. Comparisons (instance, canonical URLs, auth issuer) live
//! here once.
//!
//! I/O: network requests to the backend and the public URLs.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Serialize;

use crate::backend::text::sanitize;
use crate::backend::{self, Backend, CallError, CanonicalUrls, EnvChange, PublicProbe, bounded};
use crate::config::auth_libs::AuthLib;
use crate::config::deployment_env;
use crate::config::derive::Derived;
use crate::config::secrets::{self, InstanceSecret, JwtKey};
use crate::config::urls::{App, PublicUrls, UrlSource};
use crate::deadline::Deadline;

/// `status` and `doctor` give each backend call (with its retries) at most this, and the
/// whole probe at most the command's `--timeout`.
pub(crate) const QUICK_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /version` once, bounded by `timeout` and the backend's deadline (a backend that
/// accepts and hangs counts as down).
pub(crate) async fn health(backend: &Backend, timeout: Duration) -> Result<String, CallError> {
    bounded(backend.deadline(), timeout, backend.version_once()).await
}

/// Which instance the backend runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Instance {
    Ours,
    /// The name the backend runs, [`sanitize`]d.
    Other(String),
}

pub(crate) async fn instance(backend: &Backend, derived: &Derived) -> Result<Instance, CallError> {
    let name = backend.instance_name().await?;
    Ok(if name == derived.instance_name {
        Instance::Ours
    } else {
        Instance::Other(sanitize(&name))
    })
}

/// Whether the backend accepts our admin key.
#[derive(Clone)]
pub(crate) enum KeyCheck {
    Accepted,
    /// Only the legacy format (images built before 2025-05-30); the key it accepted.
    AcceptedLegacy(String),
    Rejected,
}

/// Our key, then — when the secret is known — the legacy format once.
pub(crate) async fn admin_key(
    backend: &Backend,
    secret: Option<&InstanceSecret>,
    instance_name: &str,
) -> Result<KeyCheck, CallError> {
    if backend.check_admin_key().await? {
        return Ok(KeyCheck::Accepted);
    }
    let Some(secret) = secret else {
        return Ok(KeyCheck::Rejected);
    };
    let legacy = secrets::mint_legacy_admin_key(secret, instance_name);
    Ok(if backend.with_key(&legacy).check_admin_key().await? {
        KeyCheck::AcceptedLegacy(legacy)
    } else {
        KeyCheck::Rejected
    })
}

/// The backend's canonical URLs and whether they are this workspace's.
#[derive(Debug, Clone)]
pub(crate) struct Canonical {
    pub(crate) backend: CanonicalUrls,
    pub(crate) matches: bool,
}

impl Canonical {
    /// The one-line description of a mismatch.
    pub(crate) fn mismatch(&self, urls: &PublicUrls) -> String {
        format!(
            "the backend runs with CONVEX_CLOUD_ORIGIN={} and CONVEX_SITE_ORIGIN={}, but this workspace's URLs are {} and {}",
            self.backend.convex_cloud_url, self.backend.convex_site_url, urls.api, urls.site
        )
    }
}

pub(crate) async fn canonical(
    backend: &Backend,
    urls: &PublicUrls,
) -> Result<Canonical, CallError> {
    let found = backend.canonical_urls().await?;
    let matches = found.convex_cloud_url == urls.api && found.convex_site_url == urls.site;
    Ok(Canonical {
        backend: CanonicalUrls {
            convex_cloud_url: sanitize(&found.convex_cloud_url),
            convex_site_url: sanitize(&found.convex_site_url),
        },
        matches,
    })
}

/// The pending changes to the deployment environment.
#[derive(Debug, Clone)]
pub(crate) struct EnvDiff {
    pub(crate) changes: Vec<EnvChange>,
    /// `false`: the backend has no list endpoint, so everything counts as pending.
    pub(crate) listed: bool,
    /// The deployment's JWKS differs from ours (the key was rotated or the env is stale).
    pub(crate) jwks_stale: bool,
    /// The names of the variables the deployment has (never their values), when listed.
    pub(crate) present: Option<std::collections::BTreeSet<String>>,
}

pub(crate) async fn env_diff(
    backend: &Backend,
    desired: &BTreeMap<String, String>,
) -> Result<EnvDiff, CallError> {
    let current = backend.list_env().await?;
    let jwks_stale = match (&current, desired.get(crate::env_vars::JWKS)) {
        (Some(current), Some(ours)) => current
            .get(crate::env_vars::JWKS)
            .is_some_and(|v| v != ours),
        _ => false,
    };
    Ok(EnvDiff {
        changes: deployment_env::diff(desired, current.as_ref()),
        listed: current.is_some(),
        jwks_stale,
        present: current.as_ref().map(|c| c.keys().cloned().collect()),
    })
}

/// Which auth check a finding belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum AuthCheckKind {
    /// Convex Auth: the site proxy serves `/.well-known/openid-configuration`.
    Discovery,
    /// Convex Auth: its `issuer` is our site origin.
    Issuer,
    /// Convex Auth: `/.well-known/jwks.json` matches our key.
    Jwks,
    /// Better Auth: its routes answer on the site proxy (`/api/auth/ok`).
    BetterAuthRoutes,
    /// Behind Coder's proxy, `SITE_URL` is the workspace's app URL, not a loopback one.
    SiteUrl,
    /// The public site URL answers without a Coder login.
    PublicSite,
}

/// One auth check's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuthCheck {
    pub(crate) kind: AuthCheckKind,
    /// The library it checks.
    pub(crate) library: AuthLib,
    pub(crate) name: &'static str,
    pub(crate) ok: bool,
    pub(crate) detail: String,
    pub(crate) hint: Option<String>,
}

/// Whether the public URLs go through Coder's app proxy (and so may need a login).
pub(crate) fn behind_coder_proxy(urls: &PublicUrls) -> bool {
    matches!(
        urls.source,
        UrlSource::CoderProxyUri | UrlSource::CoderManifest
    )
}

/// The checks of every detected library that has something to verify after a deploy:
/// Convex Auth's discovery, Better Auth's routes, `SITE_URL` in Coder, and the public site
/// URL without a Coder login. `jwt` is `None` when there is no valid key file.
pub(crate) async fn auth(
    derived: &Derived,
    jwt: Option<&JwtKey>,
    deadline: &Deadline,
) -> Vec<AuthCheck> {
    let mut checks = Vec::new();
    let libs = &derived.auth_libs;
    if libs.contains(&AuthLib::ConvexAuth) {
        convex_auth(&mut checks, derived, jwt, deadline).await;
    }
    if libs.contains(&AuthLib::BetterAuth) {
        better_auth(&mut checks, derived, deadline).await;
    }
    let Some(library) = libs
        .iter()
        .copied()
        .find(|l| matches!(l, AuthLib::ConvexAuth | AuthLib::BetterAuth))
    else {
        return checks;
    };
    if behind_coder_proxy(&derived.urls) {
        checks.push(site_url_check(derived, library));
        checks.push(public_site(derived, library, deadline).await);
    }
    checks
}

async fn convex_auth(
    checks: &mut Vec<AuthCheck>,
    derived: &Derived,
    jwt: Option<&JwtKey>,
    deadline: &Deadline,
) {
    let library = AuthLib::ConvexAuth;
    let site = &derived.urls.site;
    match backend::auth_discovery(&derived.site_proxy_url, deadline).await {
        Ok(found) => {
            let issuer_ok = found.issuer.as_deref() == Some(site.as_str());
            checks.push(AuthCheck {
                kind: AuthCheckKind::Issuer,
                library,
                name: "auth issuer",
                ok: issuer_ok,
                detail: format!("issuer {:?}, expected {site:?}", sanitize(&found.issuer.unwrap_or_default())),
                hint: (!issuer_ok).then(|| format!(
                    "the backend's CONVEX_SITE_ORIGIN differs from this workspace's site URL; restart the backend so it loads {}",
                    crate::project::CONVEX_ENV_FILE
                )),
            });
            let ours: Option<serde_json::Value> =
                jwt.and_then(|jwt| serde_json::from_str(&jwt.jwks()).ok());
            let jwks_ok = ours.is_some() && found.jwks == ours;
            checks.push(AuthCheck {
                kind: AuthCheckKind::Jwks,
                library,
                name: "auth JWKS",
                ok: jwks_ok,
                detail: if jwks_ok { "matches jwt_private_key.pem".into() } else { "does not match jwt_private_key.pem".into() },
                hint: (!jwks_ok).then(|| "run `coder-convex env-set` to push the JWKS that matches the key, then deploy".to_owned()),
            });
        }
        Err(e) => checks.push(AuthCheck {
            kind: AuthCheckKind::Discovery,
            library,
            name: "auth discovery",
            ok: false,
            detail: format!("{}/.well-known/openid-configuration: {e}", derived.site_proxy_url),
            hint: Some("deploy the project (Convex Auth's `auth.addHttpRoutes(http)` in convex/http.ts serves it)".into()),
        }),
    }
}

async fn better_auth(checks: &mut Vec<AuthCheck>, derived: &Derived, deadline: &Deadline) {
    let url = format!("{}{}", derived.site_proxy_url, backend::BETTER_AUTH_OK_PATH);
    let (ok, detail) = match backend::better_auth_ok(&derived.site_proxy_url, deadline).await {
        Ok(body) if body.get("ok") == Some(&serde_json::Value::Bool(true)) => {
            (true, format!("{url} answers {body}"))
        }
        Ok(body) => (
            false,
            format!("{url} answers {body}, expected {{\"ok\":true}}"),
        ),
        Err(e) => (false, format!("{url}: {e}")),
    };
    checks.push(AuthCheck {
        kind: AuthCheckKind::BetterAuthRoutes,
        library: AuthLib::BetterAuth,
        name: "Better Auth routes",
        ok,
        detail,
        hint: (!ok).then(|| {
            "deploy the project; convex/http.ts must call `authComponent.registerRoutes(http, createAuth)` (default base path /api/auth)".to_owned()
        }),
    });
}

/// Behind Coder's proxy a loopback `SITE_URL` sends OAuth callbacks and magic links to a
/// host the browser cannot reach.
fn site_url_check(derived: &Derived, library: AuthLib) -> AuthCheck {
    let name = "SITE_URL";
    let hint = |detail: String| AuthCheck {
        kind: AuthCheckKind::SiteUrl,
        library,
        name,
        ok: false,
        detail,
        hint: Some(format!(
            "drop the loopback SITE_URL (flag, environment or {}) so coder-convex derives the workspace URL, or give the public one with --site-url",
            crate::project::DEPLOYMENT_ENV_FILE
        )),
    };
    let Some(app) = &derived.app_url else {
        return hint("no SITE_URL: no frontend port is known".to_owned());
    };
    let host = url::Url::parse(&app.url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .unwrap_or_default();
    let loopback = host == "localhost"
        || host.ends_with(".localhost")
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    if loopback {
        return hint(format!(
            "{} is a loopback URL, but this workspace is reached through Coder",
            app.url
        ));
    }
    AuthCheck {
        kind: AuthCheckKind::SiteUrl,
        library,
        name,
        ok: true,
        detail: format!("{} ({})", app.url, app.source.as_str()),
        hint: None,
    }
}

/// The public site URL answers the library's route without a Coder session (the backend
/// fetches Convex Auth's discovery itself; OAuth providers call Better Auth's callbacks).
async fn public_site(derived: &Derived, library: AuthLib, deadline: &Deadline) -> AuthCheck {
    let path = match library {
        AuthLib::BetterAuth => backend::BETTER_AUTH_OK_PATH,
        _ => "/.well-known/openid-configuration",
    };
    let url = format!("{}{path}", derived.urls.site);
    let slug = derived.slugs.get(App::Site);
    let (ok, detail, hint) = match backend::probe_public(&url, deadline).await {
        PublicProbe::Open(status) => (
            true,
            format!("{url} answers {status} without a Coder session"),
            None,
        ),
        PublicProbe::CoderLogin => (
            false,
            format!("{url} redirects to the Coder login"),
            Some(format!(
                "set `share = \"public\"` on the {slug} coder_app: the backend and OAuth providers reach it without a session"
            )),
        ),
        PublicProbe::Unreachable(e) => (
            true,
            format!("{url} not reachable from here ({e}); not checked"),
            None,
        ),
    };
    AuthCheck {
        kind: AuthCheckKind::PublicSite,
        library,
        name: "public site URL",
        ok,
        detail,
        hint,
    }
}

/// What the public API and site URLs answer without a Coder session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PublicAccess {
    /// Not behind Coder's app proxy: nothing to check.
    NotProxied,
    Open,
    /// These app slugs redirect to the Coder login.
    LoginRedirect(Vec<String>),
    Unreachable(Vec<String>),
}

pub(crate) async fn public_access(derived: &Derived, deadline: &Deadline) -> PublicAccess {
    if !behind_coder_proxy(&derived.urls) {
        return PublicAccess::NotProxied;
    }
    let mut redirected = Vec::new();
    let mut unreachable = Vec::new();
    for app in [App::Api, App::Site] {
        let url = derived.urls.get(app);
        match backend::probe_public(&format!("{url}/"), deadline).await {
            PublicProbe::CoderLogin => redirected.push(derived.slugs.get(app).to_owned()),
            PublicProbe::Unreachable(e) => unreachable.push(format!("{url}: {e}")),
            PublicProbe::Open(_) => {}
        }
    }
    if !redirected.is_empty() {
        PublicAccess::LoginRedirect(redirected)
    } else if !unreachable.is_empty() {
        PublicAccess::Unreachable(unreachable)
    } else {
        PublicAccess::Open
    }
}

/// Everything the quick probe found; `None` where an earlier step made a check impossible
/// (the backend down or not answering, no key, the key rejected).
pub(crate) struct Findings {
    pub(crate) health: Result<String, CallError>,
    pub(crate) instance: Option<Result<Instance, CallError>>,
    pub(crate) key: Option<Result<KeyCheck, CallError>>,
    /// Checked only with an accepted key.
    pub(crate) canonical: Option<Result<Canonical, CallError>>,
    pub(crate) env: Option<Result<EnvDiff, CallError>>,
}

impl Findings {
    /// The backend that accepted a key (for follow-up calls such as `doctor --fix`).
    pub(crate) fn key_accepted(&self) -> bool {
        matches!(
            self.key,
            Some(Ok(KeyCheck::Accepted | KeyCheck::AcceptedLegacy(_)))
        )
    }

    /// The first call the backend did not answer (in time), if any.
    pub(crate) fn unanswered(&self) -> Option<&CallError> {
        let later = [
            self.instance.as_ref().and_then(|r| r.as_ref().err()),
            self.key.as_ref().and_then(|r| r.as_ref().err()),
            self.canonical.as_ref().and_then(|r| r.as_ref().err()),
            self.env.as_ref().and_then(|r| r.as_ref().err()),
        ];
        self.health
            .as_ref()
            .err()
            .into_iter()
            .chain(later.into_iter().flatten())
            .find(|e| e.no_answer())
    }
}

/// The quick probe `status` and `doctor` share: health, identity, key, canonical URLs and,
/// given the desired variables, the deployment environment.
pub(crate) async fn quick(
    backend: &Backend,
    derived: &Derived,
    has_key: bool,
    desired: Option<&BTreeMap<String, String>>,
) -> Findings {
    let mut findings = Findings {
        health: health(backend, QUICK_TIMEOUT).await,
        instance: None,
        key: None,
        canonical: None,
        env: None,
    };
    if findings.health.is_err() {
        return findings;
    }
    let deadline = backend.deadline();
    findings.instance = Some(bounded(deadline, QUICK_TIMEOUT, instance(backend, derived)).await);
    // A backend that stopped answering will not answer the next call either.
    if !has_key || findings.unanswered().is_some() {
        return findings;
    }
    findings.key = Some(
        bounded(
            deadline,
            QUICK_TIMEOUT,
            admin_key(backend, None, &derived.instance_name),
        )
        .await,
    );
    if !findings.key_accepted() {
        return findings;
    }
    findings.canonical =
        Some(bounded(deadline, QUICK_TIMEOUT, canonical(backend, &derived.urls)).await);
    if let Some(desired) = desired {
        findings.env = Some(bounded(deadline, QUICK_TIMEOUT, env_diff(backend, desired)).await);
    }
    findings
}
