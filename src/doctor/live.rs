//! The doctor's live checks: the backend's ports, then the shared backend
//! probe ([`probe::quick`]) turned into checks, auth discovery and the public URLs.
//!
//! I/O: the backend, the public URLs.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::backend::probe::{
    self, AuthCheck, AuthCheckKind, EnvDiff, Findings, Instance, KeyCheck, PublicAccess,
};
use crate::backend::{Backend, CallError};
use crate::config::auth_libs::{AuthConfig, AuthLib};
use crate::config::deployment_env::OWNED_VAR;
use crate::config::derive::Derived;
use crate::config::secrets::JwtKey;
use crate::deadline::Deadline;
use crate::output::Output;
use crate::project::{CONVEX_ENV_FILE, DEPLOYMENT_ENV_FILE};

use super::check::{Check, CheckId};

/// A port that does not accept a connection within this is down.
const PORT_TIMEOUT: Duration = Duration::from_secs(1);

/// What the live checks need besides the derivation.
pub(super) struct LiveInputs<'a> {
    pub(super) dir: &'a Path,
    pub(super) package_json: Option<&'a serde_json::Value>,
    pub(super) admin_key: Option<&'a str>,
    pub(super) jwt: Option<&'a JwtKey>,
    /// The variables the deployment should have, or why they cannot be computed.
    pub(super) desired: Option<crate::error::Result<BTreeMap<String, String>>>,
    /// `convex/auth.config.ts` and what it names.
    pub(super) auth_config: Option<(String, AuthConfig)>,
    pub(super) dashboard_internal_url: &'a str,
    pub(super) fix: bool,
    /// `--timeout`: every call ends by then.
    pub(super) deadline: Deadline,
}

/// A check whose call failed: skipped when the deadline cut it off (the check that used the
/// time up has failed already), failed otherwise.
fn call_check(name: CheckId, e: &CallError, hint: &str) -> Check {
    match e {
        CallError::Deadline(deadline) => {
            Check::skip(name, format!("not checked: out of time ({deadline})"))
        }
        e => Check::fail(name, e.summary(), hint),
    }
}

/// One root cause, one ✗: the backend's health fails, what depends on it is skipped.
pub(super) async fn backend_checks(
    checks: &mut Vec<Check>,
    derived: &Derived,
    inputs: &LiveInputs<'_>,
    out: &Output,
) {
    let Ok(backend) = Backend::new(
        &derived.backend_url,
        inputs.admin_key.unwrap_or_default(),
        inputs.deadline,
    ) else {
        return;
    };
    let desired = inputs.desired.as_ref().and_then(|d| d.as_ref().ok());
    let findings = probe::quick(&backend, derived, inputs.admin_key.is_some(), desired).await;
    if let Err(e) = &findings.health {
        checks.push(Check::fail(
            CheckId::BackendHealth,
            format!("{}: {}", derived.backend_url, e.summary()),
            "start the backend (in Coder: the convex-backend container; locally: `coder-convex up`)",
        ));
        super::check::skip_dependents(
            checks,
            CheckId::BackendHealth,
            "not checked: the backend is not answering",
            |id| applies(id, derived),
        );
        checks.push(public_check(derived, &inputs.deadline).await);
        return;
    }
    if let Ok(v) = &findings.health {
        checks.push(Check::pass(
            CheckId::BackendHealth,
            format!("GET /version: {v}"),
        ));
        let versions = super::versions::check(inputs.dir, inputs.package_json, &backend, v);
        checks.push(versions.await);
    }
    checks.push(ports_check(derived, inputs.dashboard_internal_url, &inputs.deadline).await);
    checks.push(instance_check(derived, &findings));
    let stalled = findings.unanswered().is_some();
    checks.push(match &findings.key {
        Some(Ok(KeyCheck::Accepted | KeyCheck::AcceptedLegacy(_))) => Check::pass(
            CheckId::AdminKeyAccepted,
            "GET /api/check_admin_key: 200",
        ),
        Some(Ok(KeyCheck::Rejected)) => Check::fail(
            CheckId::AdminKeyAccepted,
            "the backend rejects .env.local's admin key",
            "restart the backend so it loads .env.convex.local (its INSTANCE_SECRET), then `coder-convex setup`",
        ),
        Some(Err(e)) => call_check(CheckId::AdminKeyAccepted, e, "check the backend's logs"),
        None if stalled => Check::skip(
            CheckId::AdminKeyAccepted,
            "not checked: the backend did not answer",
        ),
        None => Check::skip(CheckId::AdminKeyAccepted, "not checked: .env.local has no admin key"),
    });
    if findings.key_accepted() {
        checks.push(canonical_check(derived, &findings));
        checks.push(env_check(&backend, inputs, &findings, out).await);
    } else {
        let why = if stalled {
            "not checked: the backend did not answer"
        } else if findings.key.is_none() {
            "not checked: .env.local has no admin key"
        } else {
            "not checked: the admin key is not accepted"
        };
        super::check::skip_dependents(checks, CheckId::AdminKeyAccepted, why, |_| true);
    }
    auth_checks(checks, derived, inputs).await;
    checks.push(providers_check(inputs, &findings));
    checks.push(public_check(derived, &inputs.deadline).await);
}

/// Whether a check that only some projects get applies to this one (the auth checks
/// [`probe::auth`] makes per library).
fn applies(id: CheckId, derived: &Derived) -> bool {
    let libs = &derived.auth_libs;
    match id {
        CheckId::BetterAuthRoutes => libs.contains(&AuthLib::BetterAuth),
        CheckId::SiteUrl => {
            (libs.contains(&AuthLib::ConvexAuth) || libs.contains(&AuthLib::BetterAuth))
                && probe::behind_coder_proxy(&derived.urls)
        }
        _ => true,
    }
}

fn instance_check(derived: &Derived, findings: &Findings) -> Check {
    let name = CheckId::InstanceName;
    match &findings.instance {
        Some(Ok(Instance::Ours)) => Check::pass(name, derived.instance_name.clone()),
        Some(Ok(Instance::Other(other))) => Check::fail(
            name,
            format!(
                "the backend runs {other:?}, this project is {:?}",
                derived.instance_name
            ),
            format!("restart the backend so it loads {CONVEX_ENV_FILE}"),
        ),
        Some(Err(e)) => call_check(name, e, "check the backend's logs"),
        None => Check::skip(name, "not checked"),
    }
}

fn canonical_check(derived: &Derived, findings: &Findings) -> Check {
    let name = CheckId::CanonicalUrls;
    match &findings.canonical {
        Some(Ok(found)) if found.matches => {
            Check::pass(name, "the backend's URLs match the workspace")
        }
        Some(Ok(found)) => Check::fail(
            name,
            found.mismatch(&derived.urls),
            format!("restart the backend so it loads {CONVEX_ENV_FILE}"),
        ),
        Some(Err(e @ CallError::Deadline(_))) => call_check(name, e, ""),
        Some(Err(e)) => Check::warn(name, e.summary(), "older backends lack this endpoint"),
        None => Check::skip(name, "not checked"),
    }
}

async fn env_check(
    backend: &Backend,
    inputs: &LiveInputs<'_>,
    findings: &Findings,
    out: &Output,
) -> Check {
    let name = CheckId::DeploymentEnv;
    let desired = match &inputs.desired {
        None => return Check::skip(name, "not checked: no valid jwt_private_key.pem"),
        Some(Err(e)) => {
            return Check::fail(
                name,
                e.to_string(),
                e.hint().unwrap_or("fix .env.convex.deployment"),
            );
        }
        Some(Ok(desired)) => desired,
    };
    let diff = match &findings.env {
        Some(Ok(diff)) => diff,
        Some(Err(e)) => return call_check(name, e, "check the backend's logs"),
        None => return Check::skip(name, "not checked"),
    };
    if !diff.listed {
        return Check::warn(
            name,
            "the backend cannot list its variables (older than 2025-08)",
            "`coder-convex env-set` pushes them all",
        );
    }
    if diff.changes.is_empty() {
        return Check::pass(
            name,
            format!("{} variables present and current", desired.len()),
        );
    }
    // The probe may have found the legacy key: use the key that was accepted.
    let backend = match &findings.key {
        Some(Ok(KeyCheck::AcceptedLegacy(legacy))) => backend.with_key(legacy),
        _ => backend.clone(),
    };
    if inputs.fix && backend.update_env(&diff.changes).await.is_ok() {
        out.info(format!(
            "fixed: pushed {}",
            diff.changes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Check::pass(name, "re-pushed the stale variables");
    }
    let names: Vec<&str> = diff
        .changes
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| *n != OWNED_VAR)
        .collect();
    let detail = if diff.jwks_stale {
        format!(
            "the deployment's JWKS does not match jwt_private_key.pem (stale: {})",
            names.join(", ")
        )
    } else {
        format!("missing or stale: {}", names.join(", "))
    };
    Check::fail(
        name,
        detail,
        "run `coder-convex env-set` (or `doctor --fix`)",
    )
}

/// The per-library checks of [`probe::auth`]: Convex Auth's discovery as one check, Better
/// Auth's routes, `SITE_URL` in Coder (the public site URL has a check of its own).
async fn auth_checks(checks: &mut Vec<Check>, derived: &Derived, inputs: &LiveInputs<'_>) {
    if inputs.deadline.expired() {
        checks.push(Check::skip(
            CheckId::AuthDiscovery,
            format!("not checked: out of time ({})", inputs.deadline),
        ));
        return;
    }
    let found = probe::auth(derived, inputs.jwt, &inputs.deadline).await;
    if !derived.auth_libs.contains(&AuthLib::ConvexAuth) {
        checks.push(Check::pass(
            CheckId::AuthDiscovery,
            "the project does not use @convex-dev/auth",
        ));
    } else {
        let failing: Vec<&AuthCheck> = found
            .iter()
            .filter(|c| {
                !c.ok
                    && matches!(
                        c.kind,
                        AuthCheckKind::Discovery | AuthCheckKind::Issuer | AuthCheckKind::Jwks
                    )
            })
            .collect();
        checks.push(if failing.is_empty() {
            Check::pass(
                CheckId::AuthDiscovery,
                format!("issuer {} with the key's JWKS", derived.urls.site),
            )
        } else {
            let detail: Vec<&str> = failing.iter().map(|c| c.detail.as_str()).collect();
            let hint = failing
                .iter()
                .find_map(|c| c.hint.clone())
                .unwrap_or_default();
            Check::fail(CheckId::AuthDiscovery, detail.join("; "), hint)
        });
    }
    for (check, id) in found.iter().filter_map(|c| match c.kind {
        AuthCheckKind::BetterAuthRoutes => Some((c, CheckId::BetterAuthRoutes)),
        AuthCheckKind::SiteUrl => Some((c, CheckId::SiteUrl)),
        _ => None,
    }) {
        checks.push(if check.ok {
            Check::pass(id, check.detail.clone())
        } else {
            Check::fail(
                id,
                check.detail.clone(),
                check.hint.clone().unwrap_or_default(),
            )
        });
    }
}

/// Which providers `convex/auth.config.ts` names and whether the deployment has the
/// variables it reads (Clerk's issuer domain, WorkOS's client id, Auth0's domain, ...).
fn providers_check(inputs: &LiveInputs<'_>, findings: &Findings) -> Check {
    let name = CheckId::AuthProviders;
    let Some((file, config)) = &inputs.auth_config else {
        return Check::pass(name, "no convex/auth.config.ts");
    };
    let providers = if config.providers.is_empty() {
        "no provider we know".to_owned()
    } else {
        config.providers.join(", ")
    };
    if config.variables.is_empty() {
        return Check::pass(name, format!("{file}: {providers}"));
    }
    let Some(Ok(EnvDiff {
        present: Some(present),
        ..
    })) = &findings.env
    else {
        return Check::warn(
            name,
            format!(
                "{file}: {providers}; reads {} (not checked: the deployment's variables cannot be listed)",
                config.variables.join(", ")
            ),
            "fix the admin key or update the backend, then run doctor again",
        );
    };
    let missing: Vec<&str> = config
        .variables
        .iter()
        .filter(|v| !present.contains(*v))
        .map(String::as_str)
        .collect();
    if missing.is_empty() {
        return Check::pass(
            name,
            format!("{file}: {providers}; {} set", config.variables.join(", ")),
        );
    }
    Check::fail(
        name,
        format!(
            "{file}: {providers}; not set in the deployment: {}",
            missing.join(", ")
        ),
        format!(
            "add {} to {DEPLOYMENT_ENV_FILE} (the issuer domain from your provider's dashboard), then `coder-convex env-set`",
            missing
                .iter()
                .map(|m| format!("{m}=…"))
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    )
}

async fn ports_check(derived: &Derived, dashboard: &str, deadline: &Deadline) -> Check {
    let name = CheckId::Ports;
    let mut down = Vec::new();
    let mut dashboard_down = false;
    for (label, url) in [
        ("api", derived.backend_url.as_str()),
        ("site", derived.site_proxy_url.as_str()),
        ("dashboard", dashboard),
    ] {
        let Some(addr) = url::Url::parse(url)
            .ok()
            .and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)))
        else {
            continue;
        };
        let ok = matches!(
            tokio::time::timeout(
                deadline.cap(PORT_TIMEOUT),
                tokio::net::TcpStream::connect(&addr)
            )
            .await,
            Ok(Ok(_))
        );
        if !ok {
            if label == "dashboard" {
                dashboard_down = true;
            } else {
                down.push(format!("{label} ({addr})"));
            }
        }
    }
    if !down.is_empty() {
        return Check::fail(
            name,
            format!("not listening: {}", down.join(", ")),
            "start the backend (3210 API, 3211 site proxy)",
        );
    }
    if dashboard_down {
        return Check::warn(
            name,
            format!("the dashboard ({dashboard}) is not listening"),
            "start the dashboard container (it is optional for the backend)",
        );
    }
    Check::pass(name, "api, site and dashboard answer")
}

/// In Coder, the public API and site URLs must answer without a login redirect.
async fn public_check(derived: &Derived, deadline: &Deadline) -> Check {
    let name = CheckId::PublicUrlAccess;
    if deadline.expired() {
        return Check::skip(name, format!("not checked: out of time ({deadline})"));
    }
    match probe::public_access(derived, deadline).await {
        PublicAccess::NotProxied => Check::pass(name, "not behind Coder's app proxy"),
        PublicAccess::Open => Check::pass(name, "api and site answer without a Coder session"),
        PublicAccess::LoginRedirect(slugs) => Check::fail(
            name,
            format!("{} redirect to the Coder login", slugs.join(" and ")),
            "set `share = \"public\"` on those coder_apps: the backend and webhooks reach them without a Coder session",
        ),
        PublicAccess::Unreachable(what) => Check::warn(
            name,
            what.join("; "),
            "check the wildcard DNS and that the workspace is running",
        ),
    }
}
