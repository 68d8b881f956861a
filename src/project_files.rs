//! Step 4: write the project files (README "Files written in the project directory") from the derived configuration.

use std::path::Path;

use serde::Serialize;

use crate::derive::{Derived, ProjectState};
use crate::dotenv::{self, Change, Entry, PUBLIC_MODE, SECRET_MODE};
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::identity::Identity;
use crate::project::{
    self, BROWSER_ENV_FILE, CLI_ENV_FILE, CONVEX_ENV_FILE, DEPLOYMENT_ENV_FILE, JWT_KEY_FILE,
};
use crate::secrets::JwtKey;

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
    pub file: String,
    pub change: Change,
}

/// The result of writing the project files.
#[derive(Debug, Clone)]
pub(crate) struct Written {
    pub files: Vec<FileChange>,
    pub jwt_key: JwtKey,
    /// Where the previous key went when it was rotated.
    pub rotated_backup: Option<String>,
}

/// Write every project file; unchanged files are not touched.
pub(crate) fn write_project(
    state: &ProjectState,
    derived: &Derived,
    identity: &Identity,
    rotate_jwt_key: bool,
) -> Result<Written> {
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
    let mut record = |name: &str, change: Change| {
        files.push(FileChange {
            file: name.to_owned(),
            change,
        })
    };

    let (jwt_key, pem_change, rotated_backup) = jwt_key(dir, rotate_jwt_key)?;
    record(JWT_KEY_FILE, pem_change);

    // .env.convex.local: backend + dashboard.
    let mut entries = vec![
        Entry::set(ev::INSTANCE_NAME, &derived.instance_name),
        Entry::set(ev::INSTANCE_SECRET, secret.expose_hex()),
        Entry::set(ev::CONVEX_CLOUD_ORIGIN, &derived.urls.api),
        Entry::set(ev::CONVEX_SITE_ORIGIN, &derived.urls.site),
        Entry::set(ev::CONVEX_DASHBOARD_URL, &derived.urls.dashboard),
        Entry::set(ev::NEXT_PUBLIC_DEPLOYMENT_URL, &derived.urls.api),
    ];
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
            if db.do_not_require_ssl {
                entries.push(Entry::set(ev::DO_NOT_REQUIRE_SSL, "1"));
            } else {
                entries.push(Entry::unset(
                    ev::DO_NOT_REQUIRE_SSL,
                    "the database connection now requires TLS",
                ));
            }
        }
        None => entries.push(Entry::unset(
            ev::DO_NOT_REQUIRE_SSL,
            "no external database is configured (embedded SQLite)",
        )),
    }
    let change = merge_and_write(
        dir,
        CONVEX_ENV_FILE,
        state.convex_env.text.as_deref(),
        &entries,
        SECRET_MODE,
    )?;
    record(CONVEX_ENV_FILE, change);

    // .env.local: the Convex CLI.
    let entries = [
        Entry::set(ev::CONVEX_SELF_HOSTED_URL, &derived.backend_url),
        Entry::set(ev::CONVEX_SELF_HOSTED_ADMIN_KEY, admin_key),
        Entry::unset(
            ev::CONVEX_DEPLOYMENT,
            "CONVEX_DEPLOYMENT selects a Convex cloud deployment; the CLI refuses it beside CONVEX_SELF_HOSTED_URL",
        ),
    ];
    let change = merge_and_write(
        dir,
        CLI_ENV_FILE,
        state.cli_env.text.as_deref(),
        &entries,
        SECRET_MODE,
    )?;
    record(CLI_ENV_FILE, change);

    // .env.development.local: browser-facing URLs only, never a secret.
    let prefix = derived.framework.prefix();
    let entries = [
        Entry::set(&format!("{prefix}{}", ev::CONVEX_URL), &derived.urls.api),
        Entry::set(
            &format!("{prefix}{}", ev::CONVEX_SITE_URL),
            &derived.urls.site,
        ),
    ];
    let current = dotenv::read_optional(&dir.join(BROWSER_ENV_FILE))?;
    let change = merge_and_write(
        dir,
        BROWSER_ENV_FILE,
        current.as_deref(),
        &entries,
        PUBLIC_MODE,
    )?;
    record(BROWSER_ENV_FILE, change);

    // .env.convex.deployment: created once, never overwritten.
    let path = dir.join(DEPLOYMENT_ENV_FILE);
    let current = dotenv::read_optional(&path)?;
    let content = current
        .clone()
        .unwrap_or_else(|| DEPLOYMENT_TEMPLATE.to_owned());
    record(
        DEPLOYMENT_ENV_FILE,
        dotenv::write_if_changed(&path, current.as_deref(), &content, SECRET_MODE)?,
    );

    if project::in_git_work_tree(dir) {
        let path = dir.join(".gitignore");
        let current = dotenv::read_optional(&path)?;
        let change = match project::gitignore_with_entries(current.as_deref()) {
            Some(text) => dotenv::write_if_changed(&path, current.as_deref(), &text, PUBLIC_MODE)?,
            None => Change::Unchanged,
        };
        record(".gitignore", change);
    }
    Ok(Written {
        files,
        jwt_key,
        rotated_backup,
    })
}

/// Merge `entries` into the project file `name` and write it if it changed.
pub(crate) fn merge_and_write(
    dir: &Path,
    name: &str,
    current: Option<&str>,
    entries: &[Entry],
    mode: u32,
) -> Result<Change> {
    let path = dir.join(name);
    let content = dotenv::merge(current, HEADER, entries).map_err(|why| {
        Error::file(&path, why).with_hint(
            "remove the quote or line break from that value (for URLs: percent-encode it)",
        )
    })?;
    dotenv::write_if_changed(&path, current, &content, mode)
}

/// Reuse a valid key; never replace an invalid one silently; rotate on request.
fn jwt_key(dir: &Path, rotate: bool) -> Result<(JwtKey, Change, Option<String>)> {
    let path = dir.join(JWT_KEY_FILE);
    let current = dotenv::read_optional(&path)?;
    let mut backup = None;
    let key = match &current {
        Some(pem) if rotate => {
            let stamp = crate::clock::unix_now();
            let name = format!("{JWT_KEY_FILE}.{stamp}.bak");
            dotenv::write_if_changed(&dir.join(&name), None, pem, SECRET_MODE)?;
            backup = Some(name);
            JwtKey::generate()
        }
        Some(pem) => JwtKey::from_pem(pem).map_err(|why| {
            Error::file(&path, why).with_hint(
                "restore the key, or replace it with `coder-convex configure --rotate-jwt-key` (signed-in users will have to sign in again)",
            )
        })?,
        None => JwtKey::generate(),
    };
    let change =
        dotenv::write_if_changed(&path, current.as_deref(), key.expose_pem(), SECRET_MODE)?;
    Ok((key, change, backup))
}
