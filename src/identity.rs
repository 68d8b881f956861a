//! Step 3: the instance secret and the admin key — from the environment, the project files,
//! or freshly made.

use crate::derive::ProjectState;
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::process_env::RawEnv;
use crate::secrets::{self, InstanceSecret};

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
    Ok(Identity { secret, admin_key })
}
