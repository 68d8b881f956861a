//! Step 4: the project files (README "Files written in the project directory") from the
//! derived configuration — planned and validated in full, then written.
//!
//! I/O: writes the project files through `file_io`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::config::auth_libs::AuthLib;
use crate::config::derive::{Derived, ProjectState};
use crate::config::identity::Identity;
use crate::config::secrets::{AuthSecret, JwtKey};
use crate::config::urls::{App, UrlSource};
use crate::database::url::DbKind;
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::project::dotenv::{self, Entry};
use crate::project::file_io::{self, Change, PUBLIC_MODE, SECRET_MODE};
use crate::project::{
    self, AUTH_ENV_FILE, BROWSER_ENV_FILE, CLI_ENV_FILE, CONVEX_ENV_FILE, DEPLOYMENT_ENV_FILE,
    JWT_KEY_FILE,
};

const HEADER: &str = "# coder-convex: managed values; rewritten on each run (set overrides in the environment). Your own lines are kept.";

const DEPLOYMENT_TEMPLATE: &str = "\
# Environment variables for your Convex functions, one KEY=VALUE per line.
# `coder-convex setup` and `coder-convex env-set` push them to the deployment in one call;
# removing a line here removes the variable there. Never commit this file.
#
# OPENAI_API_KEY=sk-...
# RESEND_API_KEY=re_...
";

/// What happened to one file.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct FileChange {
    pub(crate) file: String,
    pub(crate) change: Change,
}

/// One file's new content, decided before anything is written.
struct Planned {
    name: String,
    current: Option<String>,
    content: String,
    mode: u32,
}

/// Everything step 4 will write: computed and validated first, so a refusal leaves every
/// file as it was.
pub(crate) struct Plan {
    dir: PathBuf,
    files: Vec<Planned>,
    /// Copies to keep before anything is replaced: (file name, its current content).
    backups: Vec<(String, String)>,
    pub(crate) jwt_key: JwtKey,
    /// `BETTER_AUTH_SECRET`, when the project has one.
    pub(crate) auth_secret: Option<AuthSecret>,
}

/// The result of writing the project files.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub(crate) files: Vec<FileChange>,
    pub(crate) jwt_key: JwtKey,
    /// Where the previous JWT key went when it was rotated.
    pub(crate) rotated_backup: Option<String>,
    /// Where the previous `.env.convex.local` went when its instance secret was replaced.
    pub(crate) secret_backup: Option<String>,
    /// Temporary files of killed runs that were removed.
    pub(crate) stale_removed: Vec<String>,
}

/// Decide every project file's content; reads and validates, writes nothing.
pub(crate) fn plan(
    state: &ProjectState,
    derived: &Derived,
    identity: &Identity,
    rotate_jwt_key: bool,
) -> Result<Plan> {
    let dir = &state.dir;
    let (secret, _) = identity
        .secret
        .as_ref()
        .ok_or_else(|| Error::runtime("no instance secret to write"))?;
    let (admin_key, _) = identity
        .admin_key
        .as_ref()
        .ok_or_else(|| Error::runtime("no admin key to write"))?;
    let mut files = Vec::new();
    let mut backups = Vec::new();

    let jwt_path = dir.join(JWT_KEY_FILE);
    let current_pem = file_io::read_optional(&jwt_path)?;
    let jwt_key = match &current_pem {
        Some(pem) if rotate_jwt_key => {
            backups.push((JWT_KEY_FILE.to_owned(), pem.clone()));
            JwtKey::generate()
        }
        Some(pem) => JwtKey::from_pem(pem).map_err(|why| {
            Error::file(&jwt_path, why).with_hint(
                "restore the key, or replace it with `coder-convex configure --rotate-jwt-key` (signed-in users will have to sign in again)",
            )
        })?,
        None => JwtKey::generate(),
    };
    files.push(Planned {
        name: JWT_KEY_FILE.to_owned(),
        current: current_pem,
        content: jwt_key.expose_pem().to_owned(),
        mode: SECRET_MODE,
    });

    // .env.convex.local: backend + dashboard. A stored secret is never replaced silently.
    if let (Some(stored), Some(text)) = (
        state.convex_env.get(ev::INSTANCE_SECRET),
        state.convex_env.text.as_deref(),
    ) && stored != secret.expose_hex()
    {
        backups.push((CONVEX_ENV_FILE.to_owned(), text.to_owned()));
    }
    let entries = convex_env_entries(derived, &secret.expose_hex(), admin_key);
    files.push(merged(
        dir,
        CONVEX_ENV_FILE,
        state.convex_env.text.clone(),
        &entries,
        SECRET_MODE,
    )?);

    // .env.local: the Convex CLI.
    let entries = [
        Entry::set(ev::CONVEX_SELF_HOSTED_URL, &derived.backend_url),
        Entry::set(ev::CONVEX_SELF_HOSTED_ADMIN_KEY, admin_key),
        Entry::unset(
            ev::CONVEX_DEPLOYMENT,
            "CONVEX_DEPLOYMENT selects a Convex cloud deployment; the CLI refuses it beside CONVEX_SELF_HOSTED_URL",
        ),
    ];
    files.push(merged(
        dir,
        CLI_ENV_FILE,
        state.cli_env.text.clone(),
        &entries,
        SECRET_MODE,
    )?);

    // .env.convex.auth.local: auth library secrets, when a library needs one.
    if let Some((secret, _)) = &identity.auth_secret
        && (derived.auth_libs.contains(&AuthLib::BetterAuth) || state.auth_env.text.is_some())
    {
        let entries = [Entry::set(ev::BETTER_AUTH_SECRET, secret.expose())];
        files.push(merged(
            dir,
            AUTH_ENV_FILE,
            state.auth_env.text.clone(),
            &entries,
            SECRET_MODE,
        )?);
    }

    // .env.development.local: browser-facing URLs only, never a secret.
    let prefix = derived.framework.prefix();
    let mut entries = vec![
        Entry::set(&format!("{prefix}{}", ev::CONVEX_URL), &derived.urls.api),
        Entry::set(
            &format!("{prefix}{}", ev::CONVEX_SITE_URL),
            &derived.urls.site,
        ),
    ];
    if let Some(app) = &derived.app_url {
        entries.push(Entry::set(&format!("{prefix}{}", ev::SITE_URL), &app.url));
    }
    let current = file_io::read_optional(&dir.join(BROWSER_ENV_FILE))?;
    files.push(merged(
        dir,
        BROWSER_ENV_FILE,
        current,
        &entries,
        PUBLIC_MODE,
    )?);

    // .env.convex.deployment: created once, never overwritten.
    let current = file_io::read_optional(&dir.join(DEPLOYMENT_ENV_FILE))?;
    files.push(Planned {
        name: DEPLOYMENT_ENV_FILE.to_owned(),
        content: current
            .clone()
            .unwrap_or_else(|| DEPLOYMENT_TEMPLATE.to_owned()),
        current,
        mode: SECRET_MODE,
    });

    if project::in_git_work_tree(dir) {
        let current = file_io::read_optional(&dir.join(".gitignore"))?;
        let content = project::gitignore_with_entries(current.as_deref())
            .unwrap_or_else(|| current.clone().unwrap_or_default());
        files.push(Planned {
            name: ".gitignore".to_owned(),
            current,
            content,
            mode: PUBLIC_MODE,
        });
    }
    Ok(Plan {
        dir: dir.clone(),
        files,
        backups,
        jwt_key,
        auth_secret: identity.auth_secret.as_ref().map(|(s, _)| s.clone()),
    })
}

/// Write a plan: stale temporary files go, backups are kept first, then each file is
/// replaced atomically (unchanged files are not touched). Call under the project lock.
pub(crate) fn write(plan: Plan) -> Result<Written> {
    let dir = &plan.dir;
    let stale_removed = file_io::remove_stale_temp_files(dir)?;
    let mut rotated_backup = None;
    let mut secret_backup = None;
    for (name, content) in &plan.backups {
        let kept = file_io::backup(&dir.join(name), content)?;
        if name == JWT_KEY_FILE {
            rotated_backup = Some(kept);
        } else {
            secret_backup = Some(kept);
        }
    }
    let mut files = Vec::new();
    for file in &plan.files {
        let change = file_io::write_if_changed(
            &dir.join(&file.name),
            file.current.as_deref(),
            &file.content,
            file.mode,
        )?;
        files.push(FileChange {
            file: file.name.clone(),
            change,
        });
    }
    Ok(Written {
        files,
        jwt_key: plan.jwt_key,
        rotated_backup,
        secret_backup,
        stale_removed,
    })
}

fn convex_env_entries(derived: &Derived, secret_hex: &str, admin_key: &str) -> Vec<Entry> {
    let mut entries = vec![
        Entry::set(ev::INSTANCE_NAME, &derived.instance_name),
        Entry::set(ev::INSTANCE_SECRET, secret_hex),
        Entry::set(ev::CONVEX_CLOUD_ORIGIN, &derived.urls.api),
        Entry::set(ev::CONVEX_SITE_ORIGIN, &derived.urls.site),
        Entry::set(ev::CONVEX_DASHBOARD_URL, &derived.urls.dashboard),
        Entry::set(ev::NEXT_PUBLIC_DEPLOYMENT_URL, &derived.urls.api),
    ];
    let pinned: Vec<&str> = App::ALL
        .into_iter()
        .filter(|app| {
            matches!(
                derived.urls.sources[*app as usize],
                UrlSource::Explicit | UrlSource::ProjectFile
            )
        })
        .map(App::explicit_var)
        .collect();
    if pinned.is_empty() {
        entries.push(Entry::unset(
            ev::CODER_CONVEX_PINNED_URLS,
            "no URL is pinned any more; they are derived on each run",
        ));
    } else {
        entries.push(Entry::set(ev::CODER_CONVEX_PINNED_URLS, pinned.join(",")));
    }
    // Only for an owner-only dashboard (the template decides both from one setting): the
    // dashboard hands this key to whoever opens it.
    entries.push(if derived.dashboard_login {
        Entry::set(ev::NEXT_PUBLIC_ADMIN_KEY, admin_key)
    } else {
        Entry::unset(
            ev::NEXT_PUBLIC_ADMIN_KEY,
            "the dashboard logs in by itself only with CODER_CONVEX_DASHBOARD_LOGIN=true",
        )
    });
    match &derived.database {
        Some(db) => {
            entries.push(Entry::set(db.kind.backend_var(), db.expose_url()));
            let other = if db.kind.backend_var() == ev::POSTGRES_URL {
                ev::MYSQL_URL
            } else {
                ev::POSTGRES_URL
            };
            entries.push(Entry::unset(
                other,
                "replaced by the database configured above",
            ));
            // Shared server: the pool size the backend reads; the other engine's is dropped.
            if let Some(budget) = derived.connection_budget {
                let (var, other) = match db.kind {
                    DbKind::Postgres => (ev::POSTGRES_MAX_CONNECTIONS, ev::MYSQL_MAX_CONNECTIONS),
                    DbKind::Mysql => (ev::MYSQL_MAX_CONNECTIONS, ev::POSTGRES_MAX_CONNECTIONS),
                };
                entries.push(Entry::set(var, budget.to_string()));
                entries.push(Entry::unset(
                    other,
                    "the shared server's budget is written for the database configured above",
                ));
            }
            if let Some(ca) = &db.ca_file {
                // Moved out of the MySQL URL (`ssl-ca`): the backend reads it from here.
                entries.push(Entry::set(ev::MYSQL_CA_FILE, ca));
            }
            if db.do_not_require_ssl {
                entries.push(Entry::set(ev::DO_NOT_REQUIRE_SSL, "1"));
            } else {
                entries.push(Entry::unset(
                    ev::DO_NOT_REQUIRE_SSL,
                    "the database connection now requires TLS",
                ));
            }
        }
        // The backend gets these from the template's provisioned file; an admin URL an
        // earlier setup wrote here leaves the file, not even as a comment.
        None if derived.provisioned => {
            const NOTE: &str = "the database is provisioned by the template (CODER_CONVEX_SHARED_DATABASE=provisioned)";
            for var in [
                ev::POSTGRES_URL,
                ev::MYSQL_URL,
                ev::POSTGRES_MAX_CONNECTIONS,
                ev::MYSQL_MAX_CONNECTIONS,
                ev::DO_NOT_REQUIRE_SSL,
                ev::MYSQL_CA_FILE,
            ] {
                entries.push(Entry::remove(var, NOTE));
            }
        }
        None => entries.push(Entry::unset(
            ev::DO_NOT_REQUIRE_SSL,
            "no external database is configured (embedded SQLite)",
        )),
    }
    entries
}

/// `entries` merged into the file `name` (its current text given).
fn merged(
    dir: &Path,
    name: &str,
    current: Option<String>,
    entries: &[Entry],
    mode: u32,
) -> Result<Planned> {
    let content = dotenv::merge(current.as_deref(), HEADER, entries).map_err(|why| {
        Error::file(dir.join(name), why)
            .with_hint("fix that line (for a URL value: percent-encode the quote or line break)")
    })?;
    Ok(Planned {
        name: name.to_owned(),
        current,
        content,
        mode,
    })
}

/// Merge `entries` into the project file `name` and write it if it changed (one file, for
/// the legacy admin key `setup` learns from the backend).
pub(crate) fn merge_and_write(
    dir: &Path,
    name: &str,
    current: Option<&str>,
    entries: &[Entry],
    mode: u32,
) -> Result<Change> {
    let file = merged(dir, name, current.map(str::to_owned), entries, mode)?;
    file_io::write_if_changed(&dir.join(name), current, &file.content, mode)
}
