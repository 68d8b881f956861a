//! The deployment environment (pure; README "Talking to the backend"): what we want set, validated against the
//! backend's limits before sending, and the minimal change set against what is there.
//!
//! Ownership: the names we set are recorded in the deployment itself, in
//! [`OWNED_VAR`], inside the same transactional update. So a variable the user removes from
//! `.env.convex.deployment` is deleted, a variable set by hand in the dashboard is never
//! touched, and the record lives and dies with the deployment's data.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::backend::EnvChange;
use crate::config::secrets::{AuthSecret, JwtKey};
use crate::env_vars as ev;
use crate::error::{Error, Result};

/// The deployment variable listing the names coder-convex owns (comma-separated).
pub(crate) const OWNED_VAR: &str = ev::CODER_CONVEX_MANAGED_VARS;
/// The variables coder-convex generates for a workspace (the rest it sets come from
/// `.env.convex.deployment`): another workspace's values would not match this one's files.
pub(crate) const GENERATED: [&str; 6] = [
    ev::JWT_PRIVATE_KEY,
    ev::JWKS,
    ev::CONVEX_SITE_ORIGIN,
    ev::JWT_ISSUER,
    ev::BETTER_AUTH_SECRET,
    ev::SITE_URL,
];
/// Built into every deployment; setting them fails with 400.
pub(crate) const RESERVED: [&str; 2] = ["CONVEX_SITE_URL", "CONVEX_CLOUD_URL"];
pub(crate) const MAX_NAME_BYTES: usize = 256;
pub(crate) const MAX_VALUE_BYTES: usize = 8192;
pub(crate) const MAX_VARS: usize = 512;
pub(crate) const MAX_TOTAL_BYTES: usize = 512 * 1024;

/// `^[a-zA-Z_]+[a-zA-Z0-9_]*$`.
pub(crate) fn valid_name(name: &str) -> bool {
    name.chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The values coder-convex sets; each `None` is left out (and so is the user's to set).
pub(crate) struct Managed<'a> {
    /// Convex Auth: `JWT_PRIVATE_KEY`, `JWKS`, and `CONVEX_SITE_ORIGIN`, `JWT_ISSUER` (the
    /// site origin) for projects that read them.
    pub(crate) jwt: Option<&'a JwtKey>,
    pub(crate) site_origin: &'a str,
    /// Better Auth: `BETTER_AUTH_SECRET`.
    pub(crate) auth_secret: Option<&'a AuthSecret>,
    /// The app's own URL: `SITE_URL`.
    pub(crate) site_url: Option<&'a str>,
}

/// Everything we want in the deployment, including the ownership record.
pub(crate) fn desired(
    managed: &Managed<'_>,
    user: &BTreeMap<String, String>,
    user_file: &Path,
) -> Result<BTreeMap<String, String>> {
    let mut ours: Vec<(&str, String)> = Vec::new();
    if let Some(jwt) = managed.jwt {
        ours.push((ev::JWT_PRIVATE_KEY, jwt.expose_env_value()));
        ours.push((ev::JWKS, jwt.jwks()));
        ours.push((ev::CONVEX_SITE_ORIGIN, managed.site_origin.to_owned()));
        ours.push((ev::JWT_ISSUER, managed.site_origin.to_owned()));
    }
    if let Some(secret) = managed.auth_secret {
        ours.push((ev::BETTER_AUTH_SECRET, secret.expose().to_owned()));
    }
    if let Some(url) = managed.site_url {
        ours.push((ev::SITE_URL, url.to_owned()));
    }
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in user {
        // A `SITE_URL` line is an input of the app URL (README "The app's URL"), not a clash.
        if name == ev::SITE_URL && managed.site_url.is_some() {
            continue;
        }
        let bad = |message: String, hint: &str| {
            Err(Error::file(user_file, message).with_hint(hint.to_owned()))
        };
        if RESERVED.contains(&name.as_str()) {
            return bad(
                format!("{name} cannot be set: Convex builds it into every deployment"),
                "remove the line; CONVEX_SITE_URL and CONVEX_CLOUD_URL come from CONVEX_SITE_ORIGIN / CONVEX_CLOUD_ORIGIN",
            );
        }
        if name == OWNED_VAR || ours.iter().any(|(n, _)| n == name) {
            return bad(
                format!("{name} is managed by coder-convex"),
                "remove the line; coder-convex sets it for the auth library in package.json",
            );
        }
        if !valid_name(name) || name.len() > MAX_NAME_BYTES {
            return bad(
                format!("{name:?} is not a valid variable name"),
                "names match ^[a-zA-Z_][a-zA-Z0-9_]*$ and are at most 256 bytes",
            );
        }
        vars.insert(name.clone(), value.clone());
    }
    for (name, value) in ours {
        vars.insert(name.to_owned(), value);
    }
    let owned: Vec<&str> = vars.keys().map(String::as_str).collect();
    let owned = owned.join(",");
    vars.insert(OWNED_VAR.to_owned(), owned);
    check_limits(&vars, user_file)?;
    Ok(vars)
}

/// What the backend would refuse in `vars` (from `source`), found before anything is sent:
/// a reserved or invalid name, a value, the count or the total over its limits. A name is
/// quoted only when it looks like one (`redact`'s rule); values never are.
pub(crate) fn check(vars: &BTreeMap<String, String>, source: &Path) -> Result<()> {
    for name in vars.keys() {
        let shown = crate::redact::shown_name(&format!("{name}="))
            .map_or_else(|| "a variable name".to_owned(), |n| format!("{n:?}"));
        if RESERVED.contains(&name.as_str()) {
            return Err(Error::file(
                source,
                format!("{name} cannot be set: Convex builds it into every deployment"),
            ));
        }
        if !valid_name(name) || name.len() > MAX_NAME_BYTES {
            return Err(
                Error::file(source, format!("{shown} is not a valid variable name"))
                    .with_hint("names match ^[a-zA-Z_][a-zA-Z0-9_]*$ and are at most 256 bytes"),
            );
        }
    }
    check_limits(vars, source)
}

fn check_limits(vars: &BTreeMap<String, String>, user_file: &Path) -> Result<()> {
    for (name, value) in vars {
        if value.len() > MAX_VALUE_BYTES {
            return Err(Error::file(
                user_file,
                format!(
                    "the value of {name} is {} bytes; the limit is {MAX_VALUE_BYTES}",
                    value.len()
                ),
            )
            .with_hint("store large values elsewhere (file storage) and keep a reference here"));
        }
    }
    if vars.len() > MAX_VARS {
        return Err(Error::file(
            user_file,
            format!(
                "{} variables; a deployment holds at most {MAX_VARS}",
                vars.len()
            ),
        ));
    }
    let total: usize = vars.iter().map(|(k, v)| k.len() + v.len()).sum();
    if total > MAX_TOTAL_BYTES {
        return Err(Error::file(
            user_file,
            format!("{total} bytes of variables; the limit is {MAX_TOTAL_BYTES}"),
        ));
    }
    Ok(())
}

/// The changes that turn `current` into `desired`; `current == None` (no list endpoint)
/// sends everything and deletes nothing.
pub(crate) fn diff(
    desired: &BTreeMap<String, String>,
    current: Option<&BTreeMap<String, String>>,
) -> Vec<EnvChange> {
    let Some(current) = current else {
        return desired
            .iter()
            .map(|(n, v)| EnvChange {
                name: n.clone(),
                value: Some(v.clone()),
            })
            .collect();
    };
    let mut changes: Vec<EnvChange> = desired
        .iter()
        .filter(|(n, v)| current.get(*n) != Some(*v))
        .map(|(n, v)| EnvChange {
            name: n.clone(),
            value: Some(v.clone()),
        })
        .collect();
    let previously_owned: BTreeSet<&str> = current
        .get(OWNED_VAR)
        .map(|list| list.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    for name in previously_owned {
        if !desired.contains_key(name) && current.contains_key(name) {
            changes.push(EnvChange {
                name: name.to_owned(),
                value: None,
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> JwtKey {
        static KEY: std::sync::OnceLock<JwtKey> = std::sync::OnceLock::new();
        KEY.get_or_init(JwtKey::generate).clone()
    }

    fn user(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn convex_auth(site_url: Option<&str>) -> Managed<'_> {
        static KEY: std::sync::OnceLock<JwtKey> = std::sync::OnceLock::new();
        Managed {
            jwt: Some(KEY.get_or_init(key)),
            site_origin: "https://site",
            auth_secret: None,
            site_url,
        }
    }

    #[test]
    fn desired_holds_ours_users_and_the_ownership_record() {
        let d = desired(
            &convex_auth(Some("http://localhost:5173")),
            &user(&[
                ("OPENAI_API_KEY", "sk"),
                ("SITE_URL", "http://localhost:5173"),
            ]),
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(d["JWT_ISSUER"], "https://site");
        assert_eq!(d["CONVEX_SITE_ORIGIN"], "https://site");
        assert_eq!(d["SITE_URL"], "http://localhost:5173");
        assert_eq!(d["JWKS"], key().jwks());
        assert_eq!(d["JWT_PRIVATE_KEY"], key().expose_env_value());
        assert_eq!(
            d[OWNED_VAR],
            "CONVEX_SITE_ORIGIN,JWKS,JWT_ISSUER,JWT_PRIVATE_KEY,OPENAI_API_KEY,SITE_URL"
        );
    }

    #[test]
    fn only_what_the_libraries_need() {
        let secret = AuthSecret::generate();
        let better_auth = Managed {
            jwt: None,
            site_origin: "https://site",
            auth_secret: Some(&secret),
            site_url: Some("https://5173--main--ws--alice.apps.example.com"),
        };
        // Better Auth's optional static JWKS stays the user's.
        let d = desired(&better_auth, &user(&[("JWKS", "{}")]), Path::new("f")).unwrap();
        assert_eq!(d["BETTER_AUTH_SECRET"], secret.expose());
        assert_eq!(
            d["SITE_URL"],
            "https://5173--main--ws--alice.apps.example.com"
        );
        assert_eq!(d["JWKS"], "{}");
        assert_eq!(d[OWNED_VAR], "BETTER_AUTH_SECRET,JWKS,SITE_URL");
        let custom = Managed {
            jwt: None,
            site_origin: "https://site",
            auth_secret: None,
            site_url: None,
        };
        let d = desired(
            &custom,
            &user(&[("CLERK_JWT_ISSUER_DOMAIN", "https://x.clerk.accounts.dev")]),
            Path::new("f"),
        )
        .unwrap();
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            ["CLERK_JWT_ISSUER_DOMAIN", OWNED_VAR]
        );
        let err = desired(
            &better_auth,
            &user(&[("BETTER_AUTH_SECRET", "x")]),
            Path::new("f"),
        )
        .unwrap_err();
        assert!(err.to_string().contains("managed by coder-convex"), "{err}");
    }

    #[test]
    fn bad_user_variables_are_refused_before_sending() {
        for (name, value, what) in [
            ("CONVEX_SITE_URL", "x", "Convex builds it"),
            ("JWKS", "x", "managed by coder-convex"),
            ("9LIVES", "x", "not a valid variable name"),
            ("BIG", &"x".repeat(8193) as &str, "the limit is 8192"),
        ] {
            let err = desired(
                &convex_auth(None),
                &user(&[(name, value)]),
                Path::new(".env.convex.deployment"),
            )
            .unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(err.to_string().contains(what), "{err}");
            assert!(
                err.to_string().starts_with(".env.convex.deployment"),
                "{err}"
            );
        }
        let many: BTreeMap<String, String> = (0..520)
            .map(|i| (format!("V{i}"), "x".to_owned()))
            .collect();
        assert!(
            desired(&convex_auth(None), &many, Path::new("f"))
                .unwrap_err()
                .to_string()
                .contains("at most 512")
        );
        let heavy: BTreeMap<String, String> = (0..70)
            .map(|i| (format!("V{i}"), "x".repeat(8000)))
            .collect();
        assert!(
            desired(&convex_auth(None), &heavy, Path::new("f"))
                .unwrap_err()
                .to_string()
                .contains("524288")
        );
    }

    #[test]
    fn diff_sends_only_changes_and_deletes_only_what_we_own() {
        let want = user(&[("A", "1"), ("B", "2"), (OWNED_VAR, "A,B")]);
        let current = user(&[
            ("A", "1"),
            ("B", "old"),
            ("C", "3"),
            ("MANUAL", "m"),
            (OWNED_VAR, "A,B,C"),
        ]);
        assert_eq!(
            diff(&want, Some(&current)),
            vec![
                EnvChange {
                    name: "B".into(),
                    value: Some("2".into())
                },
                EnvChange {
                    name: OWNED_VAR.into(),
                    value: Some("A,B".into())
                },
                EnvChange {
                    name: "C".into(),
                    value: None
                },
            ]
        );
        assert_eq!(diff(&want, Some(&want)), vec![]);
        assert_eq!(diff(&want, None).len(), 3);
    }
}
