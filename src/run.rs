//! Command dispatch: each command is a short composition of the pipeline steps.

use serde_json::{Value, json};

use crate::backend;
use crate::cli::{Cli, Command, DeriveArgs, EnvFormat, WriteArgs};
use crate::config::{self, Derived, Identity, ProjectState};
use crate::configure;
use crate::dotenv::{self, Change, ProjectLock};
use crate::env_vars as ev;
use crate::error::{Error, Result, exit};
use crate::output::Output;
use crate::project;
use crate::secrets::{self, mask_admin_key};
use crate::settings::{self, RawEnv};
use crate::urls::{self, App};

/// Run one command; returns the exit code on success.
pub async fn run(cli: Cli, env: RawEnv, out: &Output) -> Result<u8> {
    let dir = settings::project_dir(cli.global.project_dir.clone())?;
    let json = cli.global.json;
    match cli.command {
        Command::Env {
            derive,
            format,
            reveal,
        } => {
            let format = if json { EnvFormat::Json } else { format };
            let (state, derived) = load_and_derive(&env, &derive, &dir, out).await?;
            let identity = config::resolve_identity(&env, &state, &derived.instance_name, false)?;
            print_env(out, &derived, &identity, format, reveal);
            Ok(exit::OK)
        }
        Command::Configure { derive, write } => {
            configure_command(&env, &derive, &write, &dir, json, out).await?;
            Ok(exit::OK)
        }
        Command::AdminKey { derive, legacy } => {
            let (state, derived) = load_and_derive(&env, &derive, &dir, out).await?;
            let identity = config::resolve_identity(&env, &state, &derived.instance_name, false)?;
            let Some((secret, _)) = &identity.secret else {
                return Err(Error::runtime(format!(
                    "there is no instance secret yet in {}",
                    project::CONVEX_ENV_FILE
                ))
                .with_hint(
                    "run `coder-convex configure` (or `setup`) first, or set INSTANCE_SECRET",
                ));
            };
            let key = if legacy {
                secrets::mint_legacy_admin_key(secret, &derived.instance_name)
            } else {
                identity.admin_key.map(|(k, _)| k).unwrap_or_default()
            };
            if json {
                out.json(&json!({ "instance_name": derived.instance_name, "admin_key": key, "legacy": legacy }));
            } else {
                out.data(key);
            }
            Ok(exit::OK)
        }
        other => Err(Error::NotImplemented(other.name())),
    }
}

/// Steps 1–2: read the project, probe the Coder manifest when it is needed, derive.
async fn load_and_derive(
    env: &RawEnv,
    args: &DeriveArgs,
    dir: &std::path::Path,
    out: &Output,
) -> Result<(ProjectState, Derived)> {
    let state = ProjectState::load(dir)?;
    let inputs = config::url_inputs(env, args, None)?;
    let manifest = if inputs.wants_manifest() {
        let addr = env
            .coder_agent_debug_address
            .as_deref()
            .unwrap_or(urls::DEFAULT_AGENT_DEBUG_ADDRESS);
        backend::fetch_manifest(addr).await
    } else {
        None
    };
    let derived = config::derive(env, args, &state, manifest.as_ref())?;
    for warning in &derived.warnings {
        out.warn(warning);
    }
    Ok((state, derived))
}

/// `configure`: steps 1–4 under the project lock.
async fn configure_command(
    env: &RawEnv,
    derive: &DeriveArgs,
    write: &WriteArgs,
    dir: &std::path::Path,
    json: bool,
    out: &Output,
) -> Result<()> {
    let _lock = ProjectLock::acquire(dir, || {
        out.info("waiting for another coder-convex run in this project to finish…")
    })?;
    let (state, derived) = load_and_derive(env, derive, dir, out).await?;
    let identity = config::resolve_identity(env, &state, &derived.instance_name, true)?;
    let written = configure::write_project(&state, &derived, &identity, write.rotate_jwt_key)?;
    if json {
        out.json(&json!({
            "instance_name": derived.instance_name,
            "url_source": derived.urls.source.as_str(),
            "urls": urls_json(&derived),
            "database": derived.database.as_ref().map(|d| d.masked()),
            "framework": derived.framework,
            "files": written.files,
            "jwt_key_backup": written.rotated_backup,
            "warnings": derived.warnings,
        }));
        return Ok(());
    }
    let changed: Vec<String> = written
        .files
        .iter()
        .filter(|f| f.change != Change::Unchanged)
        .map(|f| format!("{} ({})", f.file, change_word(f.change)))
        .collect();
    if changed.is_empty() {
        out.success("configuration is up to date; nothing changed");
    } else {
        out.success(format!("wrote {}", changed.join(", ")));
    }
    if let Some(backup) = &written.rotated_backup {
        out.info(format!("  new JWT key; the previous one is in {backup}"));
    }
    summary(out, &derived);
    Ok(())
}

fn change_word(change: Change) -> &'static str {
    match change {
        Change::Unchanged => "unchanged",
        Change::Created => "created",
        Change::Updated => "updated",
        Change::Chmod => "mode set to 0600",
    }
}

fn summary(out: &Output, derived: &Derived) {
    out.info(format!("  API        {}", derived.urls.api));
    out.info(format!("  Site       {}", derived.urls.site));
    out.info(format!(
        "  Dashboard  {}  (log in with `coder-convex admin-key`)",
        derived.urls.dashboard
    ));
    let db = derived
        .database
        .as_ref()
        .map_or_else(|| "embedded SQLite".to_owned(), |d| d.masked());
    out.info(format!(
        "  Instance   {}  ·  database {db}  ·  URLs from {}",
        derived.instance_name,
        derived.urls.source.as_str()
    ));
}

fn urls_json(derived: &Derived) -> Value {
    json!({
        "api": derived.urls.api,
        "site": derived.urls.site,
        "dashboard": derived.urls.dashboard,
        "explicit": derived.urls.explicit,
        "backend": derived.backend_url,
        "site_proxy": derived.site_proxy_url,
    })
}

/// The `env` command's key/value list, secrets masked unless `reveal`.
fn env_pairs(
    derived: &Derived,
    identity: &Identity,
    reveal: bool,
) -> Vec<(&'static str, Option<String>)> {
    let secret = identity.secret.as_ref().map(|(s, _)| {
        if reveal {
            s.expose_hex()
        } else {
            "****".to_owned()
        }
    });
    let admin_key = identity
        .admin_key
        .as_ref()
        .map(|(k, _)| if reveal { k.clone() } else { mask_admin_key(k) });
    let mut pairs = vec![
        (ev::INSTANCE_NAME, Some(derived.instance_name.clone())),
        (ev::INSTANCE_SECRET, secret),
        (
            ev::CONVEX_CLOUD_ORIGIN,
            Some(derived.urls.get(App::Api).to_owned()),
        ),
        (
            ev::CONVEX_SITE_ORIGIN,
            Some(derived.urls.get(App::Site).to_owned()),
        ),
        (
            ev::CONVEX_DASHBOARD_URL,
            Some(derived.urls.get(App::Dashboard).to_owned()),
        ),
        (
            ev::CONVEX_SELF_HOSTED_URL,
            Some(derived.backend_url.clone()),
        ),
        (ev::CONVEX_SELF_HOSTED_ADMIN_KEY, admin_key),
    ];
    if let Some(db) = &derived.database {
        let url = if reveal {
            db.expose_url().to_owned()
        } else {
            db.masked()
        };
        pairs.push((db.kind.backend_var(), Some(url)));
        if db.do_not_require_ssl {
            pairs.push((ev::DO_NOT_REQUIRE_SSL, Some("1".to_owned())));
        }
    }
    pairs
}

fn print_env(
    out: &Output,
    derived: &Derived,
    identity: &Identity,
    format: EnvFormat,
    reveal: bool,
) {
    let pairs = env_pairs(derived, identity, reveal);
    if format == EnvFormat::Json {
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            map.insert(k.to_owned(), v.map_or(Value::Null, Value::String));
        }
        map.insert(
            "url_source".to_owned(),
            Value::String(derived.urls.source.as_str().to_owned()),
        );
        out.json(&Value::Object(map));
        return;
    }
    let export = if format == EnvFormat::Shell {
        "export "
    } else {
        ""
    };
    let mut text = String::new();
    for (k, v) in pairs {
        match v.map(|v| dotenv::render(k, &v)) {
            Some(Ok(line)) => text.push_str(&format!("{export}{line}\n")),
            // Derived values never hold a quote; say so rather than print something unsafe.
            Some(Err(why)) => text.push_str(&format!("# {k}: {why}\n")),
            None => text.push_str(&format!(
                "# {k} is not set yet (run `coder-convex configure`)\n"
            )),
        }
    }
    text.push_str(&format!("# url_source={}", derived.urls.source.as_str()));
    out.data(text);
}
