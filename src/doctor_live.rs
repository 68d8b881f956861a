//! The doctor's live checks: the database, the backend's ports and admin API, the deployment
//! environment, auth discovery and the public URLs. Each call has a short timeout.

use std::path::Path;
use std::time::Duration;

use crate::backend::{self, Backend, PublicProbe};
use crate::config::{Derived, ProjectState};
use crate::doctor::{Check, Options};
use crate::env_vars as ev;
use crate::envset::{self, OWNED_VAR};
use crate::output::Output;
use crate::pipeline;
use crate::postgres;
use crate::secrets::JwtKey;
use crate::settings::RawEnv;
use crate::urls::UrlSource;

/// Backend calls in doctor get one short try each, so the whole run stays bounded.
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) async fn database_check(
    env: &RawEnv,
    derived: &Derived,
    db: &crate::database::Database,
    fix: bool,
    out: &Output,
) -> Check {
    let name = "database";
    let ca = env.pg_ca_file.as_deref().map(Path::new);
    match postgres::preflight(db, &derived.instance_name, ca, fix).await {
        Ok(found) => {
            if found.created {
                out.info(format!("fixed: created database {}", found.database));
            }
            Check::pass(
                name,
                format!(
                    "{} reachable; database {} exists",
                    db.masked(),
                    found.database
                ),
            )
        }
        Err(e) => Check::fail(name, e.message, e.hint),
    }
}

pub(crate) async fn backend_checks(
    checks: &mut Vec<Check>,
    derived: &Derived,
    admin_key: Option<&str>,
    jwt: Option<&JwtKey>,
    opts: &Options<'_>,
    state: Option<&ProjectState>,
    out: &Output,
) {
    checks.push(ports_check(derived, opts.dashboard_internal_url).await);
    let Ok(backend) = Backend::new(&derived.backend_url, admin_key.unwrap_or_default()) else {
        return;
    };
    let down = |name: &'static str| {
        Check::fail(
            name,
            "not checked: the backend is not answering",
            "start the backend first",
        )
    };
    let version = tokio::time::timeout(PROBE_TIMEOUT, backend.version_once()).await;
    let healthy = match version {
        Ok(Ok(v)) => {
            checks.push(Check::pass("backend health", format!("GET /version: {v}")));
            true
        }
        Ok(Err(e)) => {
            checks.push(Check::fail("backend health", format!("{}: {e}", derived.backend_url), "start the backend (in Coder: the convex-backend container; locally: docker compose)"));
            false
        }
        Err(_) => {
            checks.push(Check::fail(
                "backend health",
                format!(
                    "{}: no answer within {}s",
                    derived.backend_url,
                    PROBE_TIMEOUT.as_secs()
                ),
                "check the backend's logs",
            ));
            false
        }
    };
    let names = [
        "instance name",
        "admin key accepted",
        "canonical URLs",
        "deployment env",
        "auth discovery",
    ];
    if !healthy {
        checks.extend(names.iter().map(|n| down(n)));
        checks.extend(public_checks(derived).await);
        return;
    }
    match backend.instance_name().await {
        Ok(name) if name == derived.instance_name => {
            checks.push(Check::pass("instance name", name))
        }
        Ok(name) => checks.push(Check::fail(
            "instance name",
            format!(
                "the backend runs {name:?}, this project is {:?}",
                derived.instance_name
            ),
            "restart the backend so it loads .env.convex.local",
        )),
        Err(e) => checks.push(Check::fail(
            "instance name",
            e.to_string(),
            "check the backend's logs",
        )),
    }
    let accepted = admin_key.is_some() && matches!(backend.check_admin_key().await, Ok(true));
    if accepted {
        checks.push(Check::pass(
            "admin key accepted",
            "GET /api/check_admin_key: 200",
        ));
    } else {
        checks.push(Check::fail(
            "admin key accepted",
            "the backend rejects .env.local's admin key",
            "restart the backend so it loads .env.convex.local (its INSTANCE_SECRET), then `coder-convex setup`",
        ));
        checks.extend(names[2..4].iter().map(|n| {
            Check::fail(
                n,
                "not checked: the admin key is rejected",
                "fix the admin key first",
            )
        }));
    }
    if accepted {
        match backend.canonical_urls().await {
            Ok(u)
                if u.convex_cloud_url == derived.urls.api
                    && u.convex_site_url == derived.urls.site =>
            {
                checks.push(Check::pass(
                    "canonical URLs",
                    "the backend's URLs match the workspace",
                ))
            }
            Ok(u) => checks.push(Check::fail(
                "canonical URLs",
                format!(
                    "the backend runs with {} / {}, the workspace is {} / {}",
                    u.convex_cloud_url, u.convex_site_url, derived.urls.api, derived.urls.site
                ),
                "restart the backend so it loads .env.convex.local",
            )),
            Err(e) => checks.push(Check::warn(
                "canonical URLs",
                e.to_string(),
                "older backends lack this endpoint",
            )),
        }
        checks.push(env_check(&backend, derived, jwt, opts, out).await);
    }
    let uses_auth = pipeline::uses_convex_auth(state.and_then(|s| s.package_json.as_ref()));
    match (uses_auth, jwt) {
        (true, Some(jwt)) => {
            let found = pipeline::verify_auth(derived, jwt).await;
            let failing: Vec<_> = found
                .iter()
                .filter(|c| !c.ok && c.name != "public site URL")
                .collect();
            if failing.is_empty() {
                checks.push(Check::pass(
                    "auth discovery",
                    format!("issuer {} with the key's JWKS", derived.urls.site),
                ));
            } else {
                let detail = failing
                    .iter()
                    .map(|c| c.detail.clone())
                    .collect::<Vec<_>>()
                    .join("; ");
                let hint = failing
                    .iter()
                    .find_map(|c| c.hint.clone())
                    .unwrap_or_default();
                checks.push(Check::fail("auth discovery", detail, hint));
            }
        }
        _ => checks.push(Check::pass(
            "auth discovery",
            "the project does not use @convex-dev/auth",
        )),
    }
    checks.extend(public_checks(derived).await);
}

async fn env_check(
    backend: &Backend,
    derived: &Derived,
    jwt: Option<&JwtKey>,
    opts: &Options<'_>,
    out: &Output,
) -> Check {
    let name = "deployment env";
    let Some(jwt) = jwt else {
        return Check::fail(
            name,
            "not checked: no valid jwt_private_key.pem",
            "fix the key first",
        );
    };
    let desired = match pipeline::desired_env(opts.dir, derived, jwt, opts.site_url) {
        Ok(d) => d,
        Err(e) => {
            return Check::fail(
                name,
                e.to_string(),
                e.hint().unwrap_or("fix .env.convex.deployment"),
            );
        }
    };
    let current = match backend.list_env().await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Check::warn(
                name,
                "the backend cannot list its variables (older than 2025-08)",
                "`coder-convex env-set` pushes them all",
            );
        }
        Err(e) => return Check::fail(name, e.to_string(), "check the backend's logs"),
    };
    let changes = envset::diff(&desired, Some(&current));
    if changes.is_empty() {
        return Check::pass(
            name,
            format!("{} variables present and current", desired.len()),
        );
    }
    let jwks_wrong = current.get(ev::JWKS).is_some_and(|v| v != &jwt.jwks());
    if opts.fix && backend.update_env(&changes).await.is_ok() {
        out.info(format!(
            "fixed: pushed {}",
            changes
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
        return Check::pass(name, "re-pushed the stale variables");
    }
    let names: Vec<&str> = changes
        .iter()
        .map(|c| c.name.as_str())
        .filter(|n| *n != OWNED_VAR)
        .collect();
    let detail = if jwks_wrong {
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

async fn ports_check(derived: &Derived, dashboard: &str) -> Check {
    let name = "ports";
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
                Duration::from_secs(1),
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
async fn public_checks(derived: &Derived) -> Vec<Check> {
    if !matches!(
        derived.urls.source,
        UrlSource::CoderProxyUri | UrlSource::CoderManifest
    ) {
        return vec![Check::pass(
            "public URL access",
            "not behind Coder's app proxy",
        )];
    }
    let mut redirected = Vec::new();
    let mut unreachable = Vec::new();
    for (slug, url) in [
        ("convex-api", &derived.urls.api),
        ("convex-site", &derived.urls.site),
    ] {
        match backend::probe_public(&format!("{url}/")).await {
            PublicProbe::CoderLogin => redirected.push(slug),
            PublicProbe::Unreachable(e) => unreachable.push(format!("{url}: {e}")),
            PublicProbe::Open(_) => {}
        }
    }
    if !redirected.is_empty() {
        return vec![Check::fail(
            "public URL access",
            format!("{} redirect to the Coder login", redirected.join(" and ")),
            "set `share = \"public\"` on those coder_apps: the backend and webhooks reach them without a Coder session",
        )];
    }
    if !unreachable.is_empty() {
        return vec![Check::warn(
            "public URL access",
            unreachable.join("; "),
            "check the wildcard DNS and that the workspace is running",
        )];
    }
    vec![Check::pass(
        "public URL access",
        "api and site answer without a Coder session",
    )]
}
