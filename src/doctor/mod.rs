//! `coder-convex doctor`'s checks: every check with a status, a detail line and a hint.
//! Offline checks ([`files`]) come first; the live ones ([`live`]) share the backend probe
//! with `status`.
//!
//! I/O: through its checks.

mod check;
mod database;
mod files;
mod live;
mod versions;

use std::path::Path;

use crate::cli::DeriveArgs;
use crate::config::derive::{self, ProjectState};
use crate::config::secrets::InstanceSecret;
use crate::deadline::Deadline;
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::output::Output;
use crate::project::{CLI_ENV_FILE, CONVEX_ENV_FILE, DEPLOYMENT_ENV_FILE};

pub(crate) use check::{Check, CheckId, Status, print};

/// What doctor needs besides the environment.
pub(crate) struct Options<'a> {
    pub(crate) dir: &'a Path,
    pub(crate) derive: &'a DeriveArgs,
    pub(crate) dashboard_internal_url: &'a str,
    pub(crate) fix: bool,
    /// `--timeout`: the live checks end by then.
    pub(crate) deadline: Deadline,
}

/// Run every check; `out` reports what `--fix` repaired.
pub(crate) async fn run(env: &RawEnv, opts: &Options<'_>, out: &Output) -> Vec<Check> {
    let dir = opts.dir;
    let mut checks = Vec::new();

    // Files first: they need nothing else.
    let convex_env = files::file_check(
        &mut checks,
        CheckId::FileConvexEnv,
        dir,
        CONVEX_ENV_FILE,
        true,
    );
    let cli_env = files::file_check(&mut checks, CheckId::FileCliEnv, dir, CLI_ENV_FILE, true);
    files::file_check(
        &mut checks,
        CheckId::FileDeploymentEnv,
        dir,
        DEPLOYMENT_ENV_FILE,
        false,
    );
    let jwt = files::jwt_check(&mut checks, dir);
    checks.push(files::modes_check(dir, opts.fix, out));
    checks.push(files::typo_check(dir));
    checks.push(files::deployment_conflict_check(env, dir, cli_env.as_ref()));
    if let Some(file) = &convex_env {
        checks.push(files::tls_flag_check(file));
    }

    // Inputs and derivation.
    let state = ProjectState::load(dir);
    let derived = match &state {
        Ok(state) => derive::derive_probing(env, opts.derive, state).await,
        Err(e) => Err(crate::error::Error::runtime(e.to_string())),
    };
    let derived = match derived {
        Ok(d) => {
            checks.push(Check::pass(
                CheckId::EnvironmentInputs,
                "all variables and flags parse",
            ));
            d
        }
        Err(e) => {
            checks.push(Check::fail(
                CheckId::EnvironmentInputs,
                e.to_string(),
                e.hint().unwrap_or("fix the input named above"),
            ));
            check::skip_dependents(
                &mut checks,
                CheckId::EnvironmentInputs,
                "not checked: the inputs do not parse",
                |_| true,
            );
            return checks;
        }
    };
    checks.push(files::url_source_check(&derived));
    checks.push(files::site_origin_check(&derived, convex_env.as_ref()));
    if let Some(file) = &convex_env {
        checks.push(files::files_current_check(&derived, file));
    }
    let secret = convex_env
        .as_ref()
        .and_then(|f| f.get(ev::INSTANCE_SECRET))
        .and_then(|s| InstanceSecret::from_hex(s).ok());
    let secret = env
        .instance_secret
        .as_deref()
        .and_then(|s| InstanceSecret::from_hex(s).ok())
        .or(secret);
    let admin_key = cli_env
        .as_ref()
        .and_then(|f| f.get(ev::CONVEX_SELF_HOSTED_ADMIN_KEY))
        .map(str::to_owned);
    checks.push(files::admin_key_file_check(
        &derived,
        secret.as_ref(),
        admin_key.as_deref(),
    ));
    checks.push(files::backups_check(env, &derived, secret.as_ref()));

    if let Some(db) = &derived.database {
        let db_opts =
            crate::database::preflight::Options::new(env, db).retry_busy_until(&opts.deadline);
        let found = database::checks(db_opts, &derived, db, opts.fix, &opts.deadline, out);
        checks.extend(found.await);
    } else if derived.provisioned {
        checks.push(check::Check::pass(
            check::CheckId::Database,
            "provisioned by the template (`db provision`): the backend connects as the workspace's own role, whose credentials this workspace does not hold",
        ));
    }

    let auth_secret = state.as_ref().ok().and_then(|state| {
        let check = files::auth_secret_check(env, state, &derived);
        let secret = check.1;
        checks.extend(check.0);
        secret
    });
    let inputs = live::LiveInputs {
        dir,
        package_json: state.as_ref().ok().and_then(|s| s.package_json.as_ref()),
        admin_key: admin_key.as_deref(),
        jwt: jwt.as_ref(),
        desired: jwt
            .as_ref()
            .map(|jwt| derive::desired_env(dir, &derived, jwt, auth_secret.as_ref())),
        auth_config: files::auth_config(dir),
        dashboard_internal_url: opts.dashboard_internal_url,
        fix: opts.fix,
        deadline: opts.deadline,
    };
    live::backend_checks(&mut checks, &derived, &inputs, out).await;
    checks
}
