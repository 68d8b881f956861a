//! Command dispatch: each command is a short composition of the pipeline steps.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};

use crate::backend::Backend;
use crate::cli::{Cli, Command, DeployArgs, DeriveArgs, PushArgs, WaitArgs, WriteArgs};
use crate::config::{self, Derived, ProjectState};
use crate::configure;
use crate::doctor;
use crate::dotenv::{self, Change, ProjectLock};
use crate::env_cmd;
use crate::env_vars as ev;
use crate::error::{Error, Result, exit};
use crate::output::Output;
use crate::pipeline;
use crate::postgres;
use crate::project;
use crate::secrets::{self, InstanceSecret, JwtKey, mask_admin_key};
use crate::settings::{self, RawEnv};
use crate::status;

/// Run one command; returns the exit code on success. `process_env` is handed (filtered) to
/// child processes; `env` is what we read.
pub async fn run(
    cli: Cli,
    env: RawEnv,
    process_env: Vec<(OsString, OsString)>,
    out: &Output,
) -> Result<u8> {
    let dir = settings::project_dir(cli.global.project_dir.clone())?;
    let json = cli.global.json;
    let ctx = Ctx {
        env: &env,
        process_env: &process_env,
        dir: &dir,
        json,
        out,
    };
    match cli.command {
        Command::Setup {
            derive,
            write,
            wait,
            push,
            deploy,
            no_deploy,
        } => {
            let deploy = (!no_deploy).then_some(&deploy);
            setup(&ctx, &derive, &write, &wait, &push, deploy).await
        }
        Command::Configure { derive, write } => configure_command(&ctx, &derive, &write).await,
        Command::Env {
            derive,
            format,
            reveal,
        } => env_cmd::env(&ctx, &derive, format, reveal).await,
        Command::AdminKey {
            derive,
            legacy,
            check,
        } => admin_key(&ctx, &derive, legacy, check).await,
        Command::EnvSet { derive, wait, push } => env_set(&ctx, &derive, &wait, &push).await,
        Command::Deploy {
            derive,
            wait,
            deploy,
        } => deploy_command(&ctx, &derive, &wait, &deploy).await,
        Command::Status { derive, push } => status::status(&ctx, &derive, &push).await,
        Command::Doctor {
            derive,
            push,
            fix,
            dashboard_internal_url,
        } => {
            let opts = doctor::Options {
                dir: &dir,
                derive: &derive,
                site_url: push.site_url.as_deref(),
                dashboard_internal_url: &dashboard_internal_url,
                fix,
            };
            let checks = doctor::run(&env, &opts, out).await;
            let ok = checks.iter().all(|c| c.status != doctor::Status::Fail);
            if json {
                out.json(&json!({ "ok": ok, "checks": checks }));
            } else {
                doctor::print(out, &checks);
            }
            Ok(if ok { exit::OK } else { exit::FAILURE })
        }
    }
}

/// `admin-key`: print the key (or mint the legacy format); with `--check`, ask the backend.
async fn admin_key(ctx: &Ctx<'_>, derive: &DeriveArgs, legacy: bool, check: bool) -> Result<u8> {
    let (_, derived, secret, key) = backend_session(ctx, derive).await?;
    let key = if legacy {
        secrets::mint_legacy_admin_key(&secret, &derived.instance_name)
    } else {
        key
    };
    if !check {
        if ctx.json {
            ctx.out.json(&json!({ "instance_name": derived.instance_name, "admin_key": key, "legacy": legacy }));
        } else {
            ctx.out.data(key);
        }
        return Ok(exit::OK);
    }
    let backend = Backend::new(&derived.backend_url, &key)?;
    let accepted = backend
        .check_admin_key()
        .await
        .map_err(|e| Error::BackendUnreachable {
            url: derived.backend_url.clone(),
            message: e.to_string(),
            hint: Some("start the backend, or point --backend-url at it".into()),
        })?;
    if !accepted {
        return Err(Error::IdentityRejected {
            url: derived.backend_url.clone(),
            what: format!("the admin key {}", mask_admin_key(&key)),
            hint: Some(format!(
                "restart the backend so it loads {} (or try --legacy)",
                project::CONVEX_ENV_FILE
            )),
        });
    }
    ctx.out.success(format!(
        "{} accepts the admin key {}",
        derived.backend_url,
        mask_admin_key(&key)
    ));
    Ok(exit::OK)
}

/// What every command needs besides its own flags.
pub(crate) struct Ctx<'a> {
    pub(crate) env: &'a RawEnv,
    pub(crate) process_env: &'a [(OsString, OsString)],
    pub(crate) dir: &'a Path,
    pub(crate) json: bool,
    pub(crate) out: &'a Output,
}

/// The project lock, announcing when another run holds it.
fn lock(ctx: &Ctx<'_>) -> Result<ProjectLock> {
    ProjectLock::acquire(ctx.dir, || {
        ctx.out
            .info("waiting for another coder-convex run in this project to finish…")
    })
}

/// `setup`: the whole pipeline, under the project lock (a second run waits, then finds
/// nothing to do).
async fn setup(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    write: &WriteArgs,
    wait: &WaitArgs,
    push: &PushArgs,
    deploy: Option<&DeployArgs>,
) -> Result<u8> {
    let out = ctx.out;
    let _lock = lock(ctx)?;
    let (state, derived) = load_and_derive(ctx.env, derive, ctx.dir, out).await?;
    let identity = config::resolve_identity(ctx.env, &state, &derived.instance_name, true)?;
    let written = configure::write_project(&state, &derived, &identity, write.rotate_jwt_key)?;
    let changed: Vec<&str> = written
        .files
        .iter()
        .filter(|f| f.change != Change::Unchanged)
        .map(|f| f.file.as_str())
        .collect();
    if changed.is_empty() {
        out.success("project files are up to date");
    } else {
        out.success(format!("wrote {}", changed.join(", ")));
    }
    let (secret, _) = identity
        .secret
        .as_ref()
        .ok_or_else(|| Error::runtime("no instance secret"))?;
    let (admin_key, _) = identity
        .admin_key
        .as_ref()
        .ok_or_else(|| Error::runtime("no admin key"))?;

    let database = match &derived.database {
        Some(db) => {
            let ca = ctx.env.pg_ca_file.as_deref().map(Path::new);
            let found = postgres::preflight(db, &derived.instance_name, ca, true)
                .await
                .map_err(|e| Error::Database {
                    message: e.message,
                    hint: Some(e.hint),
                })?;
            if found.created {
                out.success(format!(
                    "created database {} on {}",
                    found.database,
                    db.masked()
                ));
            } else {
                out.success(format!(
                    "database {} is ready on {}",
                    found.database,
                    db.masked()
                ));
            }
            Some(found)
        }
        None => None,
    };

    let (version, verified) = pipeline::connect(
        &derived,
        admin_key,
        secret,
        Duration::from_secs(wait.wait),
        out,
    )
    .await?;
    let mut admin_key = admin_key.clone();
    if let Some(legacy) = &verified.legacy_key {
        // The Convex CLI needs a key this backend accepts.
        let current = dotenv::read_optional(&ctx.dir.join(project::CLI_ENV_FILE))?;
        configure::merge_and_write(
            ctx.dir,
            project::CLI_ENV_FILE,
            current.as_deref(),
            &[dotenv::Entry::set(ev::CONVEX_SELF_HOSTED_ADMIN_KEY, legacy)],
            dotenv::SECRET_MODE,
        )?;
        admin_key = legacy.clone();
    }
    let desired = pipeline::desired_env(
        ctx.dir,
        &derived,
        &written.jwt_key,
        push.site_url.as_deref(),
    )?;
    let env_report = pipeline::push_env(&verified.backend, &desired, out).await?;

    let has_functions = ctx.dir.join("convex").is_dir();
    let deployed = match deploy {
        Some(args) if has_functions => Some(
            pipeline::deploy(
                ctx.dir,
                state.package_json.as_ref(),
                ctx.process_env,
                &verified.backend,
                &admin_key,
                Duration::from_secs(args.deploy_timeout),
                out,
            )
            .await?,
        ),
        Some(_) => {
            out.info("no convex/ directory: nothing to deploy");
            None
        }
        None => {
            out.info("deploy skipped (--no-deploy)");
            None
        }
    };

    let auth = if pipeline::uses_convex_auth(state.package_json.as_ref()) && deployed.is_some() {
        pipeline::verify_auth(&derived, &written.jwt_key).await
    } else {
        vec![]
    };
    let auth_ok = auth.iter().all(|c| c.ok);
    if ctx.json {
        out.json(&json!({
            "ok": auth_ok,
            "instance_name": derived.instance_name,
            "url_source": derived.urls.source.as_str(),
            "urls": urls_json(&derived),
            "backend_version": version,
            "database": database,
            "legacy_admin_key": verified.legacy_key.is_some(),
            "files": written.files,
            "env": env_report,
            "deploy": deployed,
            "auth": auth,
            "warnings": derived.warnings,
        }));
    } else {
        for check in &auth {
            if check.ok {
                out.success(format!("{}: {}", check.name, check.detail));
            } else {
                out.warn(format!("{}: {}", check.name, check.detail));
                if let Some(hint) = &check.hint {
                    out.info(format!("  hint: {hint}"));
                }
            }
        }
        summary(out, &derived);
    }
    if auth_ok {
        Ok(exit::OK)
    } else {
        Err(Error::runtime("Convex Auth is not set up correctly (see above)")
            .with_hint("fix the failing check and run `coder-convex setup` again; `coder-convex doctor` shows everything"))
    }
}

/// Load, derive, and require the secrets a backend command needs (no files are written).
async fn backend_session(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
) -> Result<(ProjectState, Derived, InstanceSecret, String)> {
    let (state, derived) = load_and_derive(ctx.env, derive, ctx.dir, ctx.out).await?;
    let identity = config::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    match (identity.secret, identity.admin_key) {
        (Some((secret, _)), Some((key, _))) => Ok((state, derived, secret, key)),
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
    let pem = dotenv::read_optional(&path)?.ok_or_else(|| {
        Error::file(&path, "does not exist")
            .with_hint("run `coder-convex setup` (or `configure`) first")
    })?;
    JwtKey::from_pem(&pem).map_err(|why| {
        Error::file(&path, why).with_hint("run `coder-convex configure --rotate-jwt-key`")
    })
}

/// `env-set`: steps 5–7.
async fn env_set(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    wait: &WaitArgs,
    push: &PushArgs,
) -> Result<u8> {
    let _lock = lock(ctx)?;
    let (_, derived, secret, key) = backend_session(ctx, derive).await?;
    let jwt = existing_jwt_key(ctx.dir)?;
    let desired = pipeline::desired_env(ctx.dir, &derived, &jwt, push.site_url.as_deref())?;
    let (_, verified) = pipeline::connect(
        &derived,
        &key,
        &secret,
        Duration::from_secs(wait.wait),
        ctx.out,
    )
    .await?;
    let report = pipeline::push_env(&verified.backend, &desired, ctx.out).await?;
    if ctx.json {
        ctx.out.json(&json!({ "env": report }));
    }
    Ok(exit::OK)
}

/// `deploy`: steps 5–6 and 8.
async fn deploy_command(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    wait: &WaitArgs,
    deploy: &DeployArgs,
) -> Result<u8> {
    let (state, derived, secret, key) = backend_session(ctx, derive).await?;
    if !ctx.dir.join("convex").is_dir() {
        return Err(
            Error::runtime(format!("{} has no convex/ directory", ctx.dir.display())).with_hint(
                "run this in the project that holds your Convex functions (or pass --project-dir)",
            ),
        );
    }
    let (_, verified) = pipeline::connect(
        &derived,
        &key,
        &secret,
        Duration::from_secs(wait.wait),
        ctx.out,
    )
    .await?;
    let key = verified.legacy_key.clone().unwrap_or(key);
    let outcome = pipeline::deploy(
        ctx.dir,
        state.package_json.as_ref(),
        ctx.process_env,
        &verified.backend,
        &key,
        Duration::from_secs(deploy.deploy_timeout),
        ctx.out,
    )
    .await?;
    if ctx.json {
        ctx.out.json(&json!({ "deploy": outcome }));
    }
    Ok(exit::OK)
}

/// Steps 1–2: read the project, probe the Coder manifest when it is needed, derive.
pub(crate) async fn load_and_derive(
    env: &RawEnv,
    args: &DeriveArgs,
    dir: &std::path::Path,
    out: &Output,
) -> Result<(ProjectState, Derived)> {
    let state = ProjectState::load(dir)?;
    let derived = config::derive_probing(env, args, &state).await?;
    for warning in &derived.warnings {
        out.warn(warning);
    }
    Ok((state, derived))
}

/// `configure`: steps 1–4 under the project lock.
async fn configure_command(ctx: &Ctx<'_>, derive: &DeriveArgs, write: &WriteArgs) -> Result<u8> {
    let (env, dir, json, out) = (ctx.env, ctx.dir, ctx.json, ctx.out);
    let _lock = lock(ctx)?;
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
        return Ok(exit::OK);
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
    Ok(exit::OK)
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

pub(crate) fn urls_json(derived: &Derived) -> Value {
    json!({
        "api": derived.urls.api,
        "site": derived.urls.site,
        "dashboard": derived.urls.dashboard,
        "explicit": derived.urls.explicit,
        "backend": derived.backend_url,
        "site_proxy": derived.site_proxy_url,
    })
}
