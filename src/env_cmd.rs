//! `coder-convex env`: the derived configuration as dotenv, shell or JSON; writes nothing,
//! masks secrets unless `--reveal`, and shows a secret that does not exist yet as missing.

use serde_json::Value;

use crate::cli::{DeriveArgs, EnvFormat};
use crate::config::{self, Derived, Identity};
use crate::dotenv;
use crate::env_vars as ev;
use crate::error::{Result, exit};
use crate::output::Output;
use crate::run::{Ctx, load_and_derive};
use crate::secrets::mask_admin_key;
use crate::urls::App;

pub(crate) async fn env(
    ctx: &Ctx<'_>,
    derive: &DeriveArgs,
    format: EnvFormat,
    reveal: bool,
) -> Result<u8> {
    let format = if ctx.json { EnvFormat::Json } else { format };
    let (state, derived) = load_and_derive(ctx.env, derive, ctx.dir, ctx.out).await?;
    let identity = config::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    print_env(ctx.out, &derived, &identity, format, reveal);
    Ok(exit::OK)
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
