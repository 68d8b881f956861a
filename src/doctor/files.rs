//! The doctor's offline checks: the project files, their modes and consistency, the inputs
//! and the derived URLs. None of them needs the backend, so a down backend cannot hide a bad
//! file.
//!
//! I/O: reads project files; `--fix` sets their modes.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use crate::config::derive::{Derived, EnvFile};
use crate::config::secrets::{AuthSecret, InstanceSecret, JwtKey, validate_admin_key};
use crate::config::urls::{App, UrlSource};
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::output::Output;
use crate::project::dotenv;
use crate::project::file_io::{self, SECRET_MODE};
use crate::project::{self, CLI_ENV_FILE, CONVEX_ENV_FILE, DEPLOYMENT_ENV_FILE, JWT_KEY_FILE};

use super::check::{Check, CheckId};

pub(super) fn file_check(
    checks: &mut Vec<Check>,
    name: CheckId,
    dir: &Path,
    file: &str,
    required: bool,
) -> Option<EnvFile> {
    let path = dir.join(file);
    match EnvFile::load(path) {
        Ok(f) if f.text.is_some() => {
            let n = f.values.len();
            checks.push(Check::pass(
                name,
                format!("{n} variable{}", if n == 1 { "" } else { "s" }),
            ));
            Some(f)
        }
        Ok(_) if required => {
            checks.push(Check::fail(
                name,
                "missing",
                "run `coder-convex setup` (or `configure`) to write it",
            ));
            None
        }
        Ok(_) => {
            checks.push(Check::pass(name, "absent (optional)"));
            None
        }
        Err(e) => {
            checks.push(Check::fail(
                name,
                e.to_string(),
                e.hint().unwrap_or("fix the file"),
            ));
            None
        }
    }
}

pub(super) fn jwt_check(checks: &mut Vec<Check>, dir: &Path) -> Option<JwtKey> {
    let name = CheckId::FileJwtKey;
    match file_io::read_optional(&dir.join(JWT_KEY_FILE)) {
        Ok(Some(pem)) => match JwtKey::from_pem(&pem) {
            Ok(key) => {
                checks.push(Check::pass(name, "RSA PKCS#8 key"));
                Some(key)
            }
            Err(why) => {
                checks.push(Check::fail(
                    name,
                    format!("the key {why}"),
                    "replace it with `coder-convex configure --rotate-jwt-key`",
                ));
                None
            }
        },
        Ok(None) => {
            checks.push(Check::fail(
                name,
                "missing",
                "run `coder-convex setup` (or `configure`) to generate it",
            ));
            None
        }
        Err(e) => {
            checks.push(Check::fail(
                name,
                e.to_string(),
                "check the file's permissions",
            ));
            None
        }
    }
}

pub(super) fn modes_check(dir: &Path, fix: bool, out: &Output) -> Check {
    let name = CheckId::SecretFileModes;
    let mut loose = Vec::new();
    let mut found = false;
    for file in [
        CONVEX_ENV_FILE,
        CLI_ENV_FILE,
        JWT_KEY_FILE,
        DEPLOYMENT_ENV_FILE,
        project::AUTH_ENV_FILE,
    ] {
        let path = dir.join(file);
        let Ok(meta) = fs_err::metadata(&path) else {
            continue;
        };
        found = true;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            if fix
                && fs_err::set_permissions(&path, std::fs::Permissions::from_mode(SECRET_MODE))
                    .is_ok()
            {
                out.info(format!("fixed: {file} mode {mode:03o} → 600"));
                continue;
            }
            loose.push(format!("{file} ({mode:03o})"));
        }
    }
    if !found {
        Check::skip(name, "no secret files yet")
    } else if loose.is_empty() {
        Check::pass(name, "files with secrets are 0600")
    } else {
        Check::fail(
            name,
            format!("readable by others: {}", loose.join(", ")),
            "run `coder-convex doctor --fix` (or `chmod 600` the files)",
        )
    }
}

/// `KEY==value` lines: a typo that sets `KEY` to `=value`.
pub(super) fn typo_check(dir: &Path) -> Check {
    let name = CheckId::EnvFileTypos;
    let mut found = Vec::new();
    for file in [
        CONVEX_ENV_FILE,
        CLI_ENV_FILE,
        project::BROWSER_ENV_FILE,
        DEPLOYMENT_ENV_FILE,
        ".env",
    ] {
        let Ok(Some(text)) = file_io::read_optional(&dir.join(file)) else {
            continue;
        };
        for (line, key) in dotenv::double_equals(&text) {
            found.push(format!("{file}:{line} {key}=="));
        }
    }
    if found.is_empty() {
        Check::pass(name, "no `KEY==value` lines")
    } else {
        Check::fail(
            name,
            found.join(", "),
            "use a single `=`: with `==` the value starts with `=`",
        )
    }
}

/// A cloud deployment selector where the Convex CLI reads it (the environment, `.env.local`,
/// `.env`): our own runs neutralise it, but a hand-run `npx convex …` goes to the cloud or
/// refuses to run.
pub(super) fn deployment_conflict_check(
    env: &RawEnv,
    dir: &Path,
    cli_env: Option<&EnvFile>,
) -> Check {
    let name = CheckId::DeploymentSelectorConflict;
    let selectors = [
        (ev::CONVEX_DEPLOYMENT, env.convex_deployment.is_some()),
        (ev::CONVEX_DEPLOY_KEY, env.convex_deploy_key.is_some()),
        (
            ev::CONVEX_DEPLOYMENT_TOKEN,
            env.convex_deployment_token.is_some(),
        ),
    ];
    let dot_env = EnvFile::load(dir.join(".env")).ok();
    let mut found = Vec::new();
    let mut in_files = false;
    for (var, in_env) in selectors {
        if in_env {
            found.push(format!("{var} in the environment"));
        }
        for (file, loaded) in [(CLI_ENV_FILE, cli_env), (".env", dot_env.as_ref())] {
            if loaded.and_then(|f| f.get(var)).is_some() {
                found.push(format!("{var} in {file}"));
                in_files = true;
            }
        }
    }
    if found.is_empty() {
        return Check::pass(
            name,
            "no CONVEX_DEPLOYMENT / CONVEX_DEPLOY_KEY / CONVEX_DEPLOYMENT_TOKEN",
        );
    }
    Check::fail(
        name,
        format!(
            "{}: a hand-run `npx convex …` picks that deployment over CONVEX_SELF_HOSTED_* (coder-convex's own runs ignore it)",
            found.join(", ")
        ),
        if in_files {
            "delete or comment out those lines (`coder-convex configure` comments CONVEX_DEPLOYMENT out of .env.local)"
        } else {
            "unset them in your shell or template"
        },
    )
}

pub(super) fn tls_flag_check(file: &EnvFile) -> Check {
    let name = CheckId::DatabaseTls;
    let flag = file.values.get(ev::DO_NOT_REQUIRE_SSL).map(String::as_str);
    if let Some(v) = flag
        && matches!(
            v.to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        )
    {
        return Check::fail(
            name,
            format!(
                "DO_NOT_REQUIRE_SSL={v} still disables the TLS requirement (any non-empty value does)"
            ),
            "remove the line to require TLS, or write DO_NOT_REQUIRE_SSL=1 if the database has no TLS",
        );
    }
    let Some(url) = file.get(ev::POSTGRES_URL) else {
        return Check::pass(name, "no Postgres URL");
    };
    let mode = url
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|p| p.strip_prefix("sslmode=")))
        .unwrap_or("");
    let lax = matches!(mode, "disable" | "allow" | "prefer");
    if lax && flag.is_none_or(str::is_empty) {
        return Check::fail(
            name,
            format!(
                "POSTGRES_URL has sslmode={mode} but DO_NOT_REQUIRE_SSL is not set, so the backend forces sslmode=require"
            ),
            "add DO_NOT_REQUIRE_SSL=1 (coder-convex configure writes it for in-cluster hosts)",
        );
    }
    Check::pass(
        name,
        format!(
            "sslmode={}{}",
            if mode.is_empty() {
                "require (backend default)"
            } else {
                mode
            },
            if lax { " with DO_NOT_REQUIRE_SSL" } else { "" }
        ),
    )
}

pub(super) fn url_source_check(derived: &Derived) -> Check {
    let name = CheckId::PublicUrls;
    let detail = format!(
        "from {}: {}",
        derived.urls.source.as_str(),
        derived.urls.api
    );
    if derived.urls.source == UrlSource::CoderManifestUnavailable {
        return Check::warn(
            name,
            format!("{detail} (the Coder agent's manifest could not be read)"),
            "see the warning above for the endpoint and the reason; run `coder-convex setup` again once the agent answers",
        );
    }
    if derived.urls.source == UrlSource::CoderNoWildcard {
        return Check::warn(
            name,
            format!("{detail} (Coder has no wildcard access URL)"),
            "ask the Coder admin to set CODER_WILDCARD_ACCESS_URL, or use `coder port-forward <workspace> --tcp 3210:3210 --tcp 3211:3211 --tcp 6791:6791`",
        );
    }
    Check::pass(name, format!("{detail} (host labels within 63 characters)"))
}

pub(super) fn site_origin_check(derived: &Derived, file: Option<&EnvFile>) -> Check {
    let name = CheckId::SiteOrigin;
    let mut origins = vec![("derived", derived.urls.site.clone())];
    if let Some(v) = file.and_then(|f| f.get(ev::CONVEX_SITE_ORIGIN)) {
        origins.push((".env.convex.local", v.to_owned()));
    }
    for (place, origin) in &origins {
        let port = url::Url::parse(origin)
            .ok()
            .and_then(|u| u.port_or_known_default());
        let wrong = if origin == &derived.urls.api || port == Some(App::Api.port()) {
            Some("points at the API (port 3210)")
        } else if port == Some(3212) {
            Some("points at port 3212, where nothing listens")
        } else {
            None
        };
        if let Some(why) = wrong {
            return Check::fail(
                name,
                format!(
                    "CONVEX_SITE_ORIGIN {origin} ({place}) {why}; auth discovery and HTTP actions live on the site proxy (3211)"
                ),
                "point CONVEX_SITE_ORIGIN at the convex-site app (port 3211), or unset it to use the derived URL",
            );
        }
    }
    Check::pass(name, derived.urls.site.clone())
}

pub(super) fn files_current_check(derived: &Derived, file: &EnvFile) -> Check {
    let name = CheckId::FilesMatchWorkspace;
    let mut stale = Vec::new();
    for (key, want) in [
        (ev::INSTANCE_NAME, derived.instance_name.as_str()),
        (ev::CONVEX_CLOUD_ORIGIN, derived.urls.api.as_str()),
        (ev::CONVEX_SITE_ORIGIN, derived.urls.site.as_str()),
        (ev::CONVEX_DASHBOARD_URL, derived.urls.dashboard.as_str()),
    ] {
        if file.get(key) != Some(want) {
            stale.push(key);
        }
    }
    if stale.is_empty() {
        Check::pass(name, ".env.convex.local is current")
    } else {
        Check::warn(
            name,
            format!("stale in .env.convex.local: {}", stale.join(", ")),
            "run `coder-convex setup` (the backend restarts with the new file)",
        )
    }
}

pub(super) fn admin_key_file_check(
    derived: &Derived,
    secret: Option<&InstanceSecret>,
    key: Option<&str>,
) -> Check {
    let name = CheckId::AdminKeyFile;
    match (secret, key) {
        (Some(secret), Some(key)) => {
            match validate_admin_key(key, secret, &derived.instance_name) {
                Ok(_) => Check::pass(name, ".env.local's key belongs to this instance and secret"),
                Err(why) => Check::fail(
                    name,
                    format!(".env.local's admin key: {why}"),
                    "run `coder-convex configure` to mint a matching key",
                ),
            }
        }
        _ => Check::fail(
            name,
            "no instance secret or admin key",
            "run `coder-convex setup` (or `configure`)",
        ),
    }
}

/// With Better Auth: `BETTER_AUTH_SECRET` exists (environment or the auth env file) and is
/// usable. Returns the check (none without Better Auth) and the secret.
pub(super) fn auth_secret_check(
    env: &RawEnv,
    state: &crate::config::derive::ProjectState,
    derived: &Derived,
) -> (Option<Check>, Option<AuthSecret>) {
    let name = CheckId::FileAuthSecret;
    let needed = crate::config::auth_libs::needs(&derived.auth_libs).better_auth_secret;
    match crate::config::identity::resolve_identity(env, state, &derived.instance_name, false) {
        Ok(identity) => match identity.auth_secret {
            Some((secret, origin)) => {
                let check = needed
                    .then(|| Check::pass(name, format!("{} ({origin:?})", ev::BETTER_AUTH_SECRET)));
                (check, Some(secret))
            }
            None if needed => (
                Some(Check::fail(
                    name,
                    format!("no {} for Better Auth", ev::BETTER_AUTH_SECRET),
                    "run `coder-convex setup` (or `configure`) to generate it",
                )),
                None,
            ),
            None => (None, None),
        },
        Err(e) => (
            Some(Check::fail(
                name,
                e.to_string(),
                e.hint().unwrap_or("fix the file"),
            )),
            None,
        ),
    }
}

/// What `convex/auth.config.ts` (or `.js`) names, when there is one.
pub(super) fn auth_config(dir: &Path) -> Option<(String, crate::config::auth_libs::AuthConfig)> {
    project::AUTH_CONFIG_FILES.iter().find_map(|file| {
        let text = fs_err::read_to_string(dir.join(file)).ok()?;
        Some((
            (*file).to_owned(),
            crate::config::auth_libs::scan_auth_config(&text),
        ))
    })
}

/// The newest backup of this instance in its store: its age and size.
pub(super) fn backups_check(
    env: &RawEnv,
    derived: &Derived,
    secret: Option<&crate::config::secrets::InstanceSecret>,
) -> Check {
    let name = CheckId::Backups;
    let owner = crate::backups::Owner::new(&derived.instance_name, secret);
    let Ok(store) = crate::backups::store(env, &derived.instance_name) else {
        return Check::skip(name, "no data home (HOME or XDG_DATA_HOME) to look in");
    };
    match crate::backups::list_own(&store, &owner)
        .ok()
        .and_then(|mut all| all.pop())
    {
        Some(newest) => Check::pass(
            name,
            format!(
                "newest {} ({})",
                crate::backups::human_bytes(newest.bytes),
                crate::clock::ago_ms(newest.created_unix_ms)
            ),
        ),
        // A new project is healthy without one; the detail says how to take one.
        None => Check::pass(
            name,
            format!(
                "no backup of {} yet (`coder-convex backup` takes one)",
                derived.instance_name
            ),
        ),
    }
}
