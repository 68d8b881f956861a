//! `coder-convex status`: the URLs, whether the backend answers, whether it is this project's
//! instance and accepts our key, and whether the deployment environment is in sync.

use std::time::Duration;

use serde_json::json;

use crate::backend::{Backend, CallError};
use crate::cli::{DeriveArgs, PushArgs};
use crate::config;
use crate::deploy;
use crate::error::{Result, exit};
use crate::pipeline;
use crate::run::{Ctx, existing_jwt_key, load_and_derive, urls_json};

/// `status`: what is running and whether it matches this project; never writes.
/// `status` is a quick look: a hanging backend counts as not answering.
const STATUS_TIMEOUT: Duration = Duration::from_secs(3);

pub(crate) async fn status(ctx: &Ctx<'_>, derive: &DeriveArgs, push: &PushArgs) -> Result<u8> {
    let out = ctx.out;
    let (state, derived) = load_and_derive(ctx.env, derive, ctx.dir, out).await?;
    let identity = config::resolve_identity(ctx.env, &state, &derived.instance_name, false)?;
    let key = identity.admin_key.as_ref().map(|(k, _)| k.clone());
    let backend = Backend::new(&derived.backend_url, key.as_deref().unwrap_or_default())?;
    let version = match tokio::time::timeout(STATUS_TIMEOUT, backend.version_once()).await {
        Ok(result) => result,
        Err(_) => Err(CallError::Transport(format!(
            "no answer within {} s",
            STATUS_TIMEOUT.as_secs()
        ))),
    };
    let healthy = version.is_ok();
    let mut instance = None;
    let mut key_accepted = None;
    let mut canonical_match = None;
    let mut pending: Option<Vec<String>> = None;
    if healthy {
        instance = backend.instance_name().await.ok();
        if key.is_some() {
            key_accepted = backend.check_admin_key().await.ok();
        }
        if key_accepted == Some(true) {
            canonical_match = backend.canonical_urls().await.ok().map(|u| {
                u.convex_cloud_url == derived.urls.api && u.convex_site_url == derived.urls.site
            });
            if let Ok(jwt) = existing_jwt_key(ctx.dir)
                && let Ok(desired) =
                    pipeline::desired_env(ctx.dir, &derived, &jwt, push.site_url.as_deref())
                && let Ok((changes, _)) = pipeline::env_changes(&backend, &desired).await
            {
                pending = Some(changes.into_iter().map(|c| c.name).collect());
            }
        }
    }
    let instance_ok = instance.as_deref() == Some(derived.instance_name.as_str());
    let last_deploy = deploy::last(ctx.dir);
    if ctx.json {
        out.json(&json!({
            "urls": urls_json(&derived),
            "url_source": derived.urls.source.as_str(),
            "instance_name": derived.instance_name,
            "backend": {
                "url": derived.backend_url,
                "healthy": healthy,
                "version": version.as_ref().ok(),
                "error": version.as_ref().err().map(ToString::to_string),
                "instance_name": instance,
            },
            "admin_key_accepted": key_accepted,
            "canonical_urls_match": canonical_match,
            "env_in_sync": pending.as_ref().map(Vec::is_empty),
            "env_pending": pending,
            "last_deploy": last_deploy,
        }));
    } else {
        let mark = |ok: Option<bool>| match ok {
            Some(true) => "✓",
            Some(false) => "✗",
            None => "–",
        };
        out.data(format!("API        {}", derived.urls.api));
        out.data(format!("Site       {}", derived.urls.site));
        out.data(format!("Dashboard  {}", derived.urls.dashboard));
        out.data(format!("URLs from  {}", derived.urls.source.as_str()));
        match &version {
            Ok(v) => out.data(format!(
                "{} backend   {} (version {v})",
                mark(Some(true)),
                derived.backend_url
            )),
            Err(e) => out.data(format!(
                "{} backend   {} not answering: {e}",
                mark(Some(false)),
                derived.backend_url
            )),
        }
        if healthy {
            out.data(format!(
                "{} instance  {} (backend: {})",
                mark(Some(instance_ok)),
                derived.instance_name,
                instance.as_deref().unwrap_or("?")
            ));
            out.data(format!("{} admin key accepted", mark(key_accepted)));
            out.data(format!("{} canonical URLs match", mark(canonical_match)));
            match &pending {
                Some(p) if p.is_empty() => {
                    out.data(format!("{} deployment env in sync", mark(Some(true))))
                }
                Some(p) => out.data(format!(
                    "{} deployment env: pending {}",
                    mark(Some(false)),
                    p.join(", ")
                )),
                None => out.data(format!("{} deployment env not checked", mark(None))),
            }
        }
        match &last_deploy {
            Some(d) => out.data(format!(
                "last deploy {} ({}, {:.1} s)",
                ago(d.finished_at),
                d.command,
                d.duration_ms as f64 / 1000.0
            )),
            None => out.data("last deploy none recorded from this directory"),
        }
    }
    Ok(if healthy {
        exit::OK
    } else {
        exit::BACKEND_UNREACHABLE
    })
}

/// `42 s ago`, `5 min ago`, `3 h ago`, `2 d ago`.
fn ago(unix_s: u64) -> String {
    let secs = crate::unix_now().saturating_sub(unix_s);
    match secs {
        0..60 => format!("{secs} s ago"),
        60..3600 => format!("{} min ago", secs / 60),
        3600..86400 => format!("{} h ago", secs / 3600),
        _ => format!("{} d ago", secs / 86400),
    }
}
