//! `coder-convex env`: the derived configuration as dotenv, shell or JSON; writes nothing,
//! masks secrets unless `--reveal`, and shows a secret that does not exist yet as missing.
//!
//! I/O: reads project files; writes nothing.

use serde_json::Value;

use crate::cli::DeriveArgs;
use crate::config::derive::Derived;
use crate::config::identity::{self, Identity};
use crate::config::secrets::mask_admin_key;
use crate::config::urls::App;
use crate::env_vars as ev;
use crate::error::Result;
use crate::project::dotenv;

use super::context::{self, Ctx, Execute, Outcome, Running};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum EnvFormat {
    Dotenv,
    Json,
    Shell,
}

/// The flags of `env`.
#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    derive: DeriveArgs,
    /// Output format (`--json` is the same as `--format json`).
    #[arg(long, value_enum, default_value_t = EnvFormat::Dotenv)]
    format: EnvFormat,
    /// Show secrets instead of masking them.
    #[arg(long)]
    reveal: bool,
}

impl Execute for Args {
    fn execute<'a>(&'a self, ctx: &'a Ctx<'a>) -> Running<'a> {
        Box::pin(run(ctx, self))
    }

    fn prints_json(&self) -> bool {
        self.format == EnvFormat::Json
    }
}

/// `--format json` (or `--json`): the report is the variables plus `url_source`.
async fn run(ctx: &Ctx<'_>, args: &Args) -> Result<Outcome> {
    let Args {
        derive,
        format,
        reveal,
    } = args;
    let (format, reveal) = (*format, *reveal);
    let (state, derived) = context::load_and_derive(ctx, derive).await?;
    let identity = identity::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    let pairs = env_pairs(&derived, &identity, reveal);
    if ctx.json || format == EnvFormat::Json {
        let mut map = serde_json::Map::new();
        for (k, v) in pairs {
            map.insert(k.to_owned(), v.map_or(Value::Null, Value::String));
        }
        map.insert(
            "url_source".to_owned(),
            Value::String(context::url_source(&derived).to_owned()),
        );
        map.insert(
            "url_sources".to_owned(),
            serde_json::to_value(context::UrlSources::new(&derived)).unwrap_or_default(),
        );
        map.insert(
            "site_url_source".to_owned(),
            derived
                .app_url
                .as_ref()
                .map_or(Value::Null, |a| Value::String(a.source.as_str().to_owned())),
        );
        map.insert(
            "frontend_port".to_owned(),
            serde_json::to_value(derived.app_url.as_ref().and_then(|a| a.port))
                .unwrap_or(Value::Null),
        );
        return Ok(Outcome::ok(&map));
    }
    ctx.out.data(render(&derived, pairs, format));
    Ok(Outcome::empty())
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
    if let Some(app) = &derived.app_url {
        pairs.push((ev::SITE_URL, Some(app.url.clone())));
    }
    if crate::config::auth_libs::needs(&derived.auth_libs).better_auth_secret
        || identity.auth_secret.is_some()
    {
        let secret = identity.auth_secret.as_ref().map(|(s, _)| {
            if reveal {
                s.expose().to_owned()
            } else {
                "****".to_owned()
            }
        });
        pairs.push((ev::BETTER_AUTH_SECRET, secret));
    }
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

/// The dotenv or shell text.
fn render(
    derived: &Derived,
    pairs: Vec<(&'static str, Option<String>)>,
    format: EnvFormat,
) -> String {
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
    if let Some(app) = &derived.app_url {
        text.push_str(&format!("\n# site_url_source={}", app.source.as_str()));
    }
    text
}
