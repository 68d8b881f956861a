//! `setup` with the real `convex` CLI on a Convex Auth project (`@convex-dev/auth` 0.0.95 from
//! `tests/node`: `convex/auth.ts`, `auth.addHttpRoutes(http)` in `convex/http.ts`) against the
//! stand-in backend.
//!
//! What is real: the CLI bundles the auth modules (with `@convex-dev/auth` and `@auth/core`)
//! and pushes them with our key; `setup` then checks discovery on the site port. What is not:
//! the stand-in runs no JavaScript, so its discovery routes are its own (the issuer it is
//! configured with, the `JWKS` variable we pushed), not the pushed `http.ts` evaluated.

use crate::deploy::{convex_auth_project, fake_with, our_key};
use crate::fake_backend::PushConfig;
use crate::project::run_with;

/// The entry modules the push deployed (shared chunks under `_deps/` left out).
fn deployed_entries(fake: &crate::fake_backend::FakeBackend) -> Vec<String> {
    let deployed = fake.pushes(|r| r.deployed.clone()).unwrap();
    deployed
        .modules
        .keys()
        .filter(|m| !m.starts_with("_deps/"))
        .cloned()
        .collect()
}

#[test]
fn a_convex_auth_project_is_pushed_and_discovery_checked() {
    let (p, secret) = convex_auth_project();
    let fake = fake_with(&secret, PushConfig::default());
    let doc = run_with(&p, &["--json", "setup"], &fake, &[]).json();
    assert_eq!(doc["deploy_skipped"], false);
    assert_eq!(fake.pushes(|r| r.completed), 1);
    // `schema.ts` is evaluated by `evaluate_schema`, not deployed as a module.
    assert_eq!(
        deployed_entries(&fake),
        ["auth.config.js", "auth.js", "http.js", "messages.js"]
    );
    let key = our_key(&p);
    let body_keys = fake.pushes(|r| r.body_keys.clone());
    assert!(body_keys.len() >= 5, "{body_keys:?}");
    assert!(
        body_keys.iter().all(|k| *k == key),
        "every body carries our key"
    );
    assert_eq!(doc["auth"][0]["name"], "auth issuer");
    assert_eq!(doc["auth"][0]["ok"], true);
    assert_eq!(doc["auth"][1]["name"], "auth JWKS");
    assert_eq!(doc["auth"][1]["ok"], true);
    assert_eq!(doc["ok"], true);
}

#[test]
fn a_convex_auth_project_with_a_wrong_issuer_fails_the_check_after_the_push() {
    let (p, secret) = convex_auth_project();
    let mut config = crate::project::fake_for(&secret);
    config.issuer_override = Some("http://127.0.0.1:3210".into());
    let fake = crate::fake_backend::FakeBackend::start(config);
    let run = run_with(&p, &["--json", "setup"], &fake, &[]);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    // The push itself completed; only the check after it fails.
    assert_eq!(fake.pushes(|r| r.completed), 1);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["auth"][0]["name"], "auth issuer");
    assert_eq!(doc["auth"][0]["ok"], false);
    assert_eq!(doc["auth"][1]["name"], "auth JWKS");
    assert_eq!(doc["auth"][1]["ok"], true);
}
