//! Step 3: the instance secret and the admin key — from the environment, the project files,
//! or freshly made.
//!
//! Pure but for the OS random source (a new secret or key).

use crate::config::auth_libs;
use crate::config::derive::ProjectState;
use crate::config::secrets::{self, AuthSecret, InstanceSecret};
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::error::{Error, Result};
use crate::project;

/// Where a secret came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Origin {
    Environment,
    ProjectFile,
    Generated,
    Minted,
}

/// The instance secret and admin key, when they exist (or were made); no `Debug`.
#[derive(Clone)]
pub(crate) struct Identity {
    pub(crate) secret: Option<(InstanceSecret, Origin)>,
    pub(crate) admin_key: Option<(String, Origin)>,
    /// `BETTER_AUTH_SECRET`, when the project uses Better Auth (or one is already kept).
    pub(crate) auth_secret: Option<(AuthSecret, Origin)>,
}

/// Resolve the instance secret (environment > `.env.convex.local` > generate) and the admin key
/// (a valid one in `.env.local` is kept, else one is minted). With `generate == false` a
/// missing secret stays missing.
pub(crate) fn resolve_identity(
    env: &RawEnv,
    state: &ProjectState,
    instance_name: &str,
    generate: bool,
) -> Result<Identity> {
    resolve_identity_rotating(env, state, instance_name, generate, false)
}

/// [`resolve_identity`], replacing the kept `BETTER_AUTH_SECRET` when `rotate_auth_secret`.
pub(crate) fn resolve_identity_rotating(
    env: &RawEnv,
    state: &ProjectState,
    instance_name: &str,
    generate: bool,
    rotate_auth_secret: bool,
) -> Result<Identity> {
    let auth_secret = resolve_auth_secret(env, state, generate, rotate_auth_secret)?;
    let secret = if let Some(raw) = &env.instance_secret {
        let secret = InstanceSecret::from_hex(raw).map_err(|why| {
            Error::invalid(ev::INSTANCE_SECRET, why)
                .with_hint("unset it to keep the generated secret, or give 64 hex characters (`openssl rand -hex 32`)")
        })?;
        Some((secret, Origin::Environment))
    } else if let Some(raw) = state.convex_env.get(ev::INSTANCE_SECRET) {
        let secret = InstanceSecret::from_hex(raw).map_err(|why| {
            Error::file(&state.convex_env.path, format!("{} {why}", ev::INSTANCE_SECRET)).with_hint(
                "restore the secret the backend was started with; a new secret invalidates every admin key",
            )
        })?;
        Some((secret, Origin::ProjectFile))
    } else if generate {
        Some((InstanceSecret::generate(), Origin::Generated))
    } else {
        None
    };
    let admin_key = secret.as_ref().map(|(secret, _)| {
        match state.cli_env.get(ev::CONVEX_SELF_HOSTED_ADMIN_KEY) {
            Some(key) if secrets::validate_admin_key(key, secret, instance_name).is_ok() => {
                (key.to_owned(), Origin::ProjectFile)
            }
            _ => (
                secrets::mint_admin_key(secret, instance_name),
                Origin::Minted,
            ),
        }
    });
    Ok(Identity {
        secret,
        admin_key,
        auth_secret,
    })
}

/// `BETTER_AUTH_SECRET`: the environment, else the auth env file, else — when the project
/// uses Better Auth and `generate` — a new one. A kept secret is never replaced silently: an
/// unusable one is an error until `--rotate-auth-secret`.
fn resolve_auth_secret(
    env: &RawEnv,
    state: &ProjectState,
    generate: bool,
    rotate: bool,
) -> Result<Option<(AuthSecret, Origin)>> {
    if let Some(raw) = &env.better_auth_secret {
        if rotate {
            return Err(Error::invalid(
                ev::BETTER_AUTH_SECRET,
                "is set in the environment, so --rotate-auth-secret cannot replace it",
            )
            .with_hint("change it where it is set, or unset it to let coder-convex keep one"));
        }
        let secret = AuthSecret::from_value(raw).map_err(|why| {
            Error::invalid(ev::BETTER_AUTH_SECRET, why).with_hint(
                "unset it to let coder-convex generate one, or give `openssl rand -base64 32`",
            )
        })?;
        return Ok(Some((secret, Origin::Environment)));
    }
    let needed =
        auth_libs::needs(&auth_libs::detect(state.package_json.as_ref())).better_auth_secret;
    if rotate && generate && (needed || state.auth_env.text.is_some()) {
        return Ok(Some((AuthSecret::generate(), Origin::Generated)));
    }
    if let Some(raw) = state.auth_env.get(ev::BETTER_AUTH_SECRET) {
        let secret = AuthSecret::from_value(raw).map_err(|why| {
            Error::file(&state.auth_env.path, format!("{} {why}", ev::BETTER_AUTH_SECRET)).with_hint(format!(
                "restore it, or replace it with `coder-convex configure --rotate-auth-secret` (everyone signed in with Better Auth is signed out); {} is yours to edit otherwise",
                project::AUTH_ENV_FILE
            ))
        })?;
        return Ok(Some((secret, Origin::ProjectFile)));
    }
    Ok((needed && generate).then(|| (AuthSecret::generate(), Origin::Generated)))
}
