//! The project's `convex` CLI (the real 1.48) against the backend's version: a backend older
//! than the CLI needs is named, with the fix, by `setup`, `status` and `doctor` before the
//! deploy fails with the CLI's own 404; a backend that reports `unknown` is asked for the
//! route; and a backend version change between two `setup` runs names the last backup before
//! it.

use serde_json::Value;

use crate::deploy::{convex_project, fake_with};
use crate::fake_backend::{FakeBackend, PushConfig};
use crate::project::run_with;

/// The image the first version of the templates pinned: from before `evaluate_push`.
const OLD: &str = "precompiled-2025-09-11-4d3b0a5";
const CURRENT: &str = "precompiled-2026-08-21-652b828";

const WARNING: &str = "the project's convex CLI is newer than this backend supports (precompiled-2025-09-11-4d3b0a5): convex 1.48.0: its deploy calls POST /api/deploy2/evaluate_push (a 404 on older backends); it needs a backend built on or after 2025-11-04";
const HINT: &str = "upgrade the backend image to one built on or after 2025-11-04 (the template's convex_image_tag; `coder-convex up` pins 652b828b5129e6cdbcaa3c20efa8d116d09ff3bf), or pin the CLI: `npm install convex@1.29.1`";

fn old_backend(
    secret: &coder_convex::config::secrets::InstanceSecret,
    version: &str,
) -> FakeBackend {
    let push = PushConfig {
        no_evaluate_push: true,
        ..PushConfig::default()
    };
    let fake = fake_with(secret, push);
    fake.set_version(version);
    fake
}

/// The doctor's `convex CLI` check, of a doctor run that passed.
fn doctor_check(p: &crate::common::Project, fake: &FakeBackend) -> Value {
    let (code, check) = crate::project::doctor_check(p, fake, &[], "convex CLI");
    assert_eq!(code, 0, "{check}");
    check
}

#[test]
fn setup_names_an_old_backend_before_the_deploy_fails_with_the_clis_404() {
    let (p, secret) = convex_project("convex");
    let fake = old_backend(&secret, OLD);
    let run = run_with(&p, &["setup"], &fake, &[]);
    let err = run.stderr();
    assert_eq!(run.code(), 6, "{err}");
    let warned = err.find(WARNING).unwrap_or_else(|| panic!("{err}"));
    assert!(err.contains(&format!("  hint: {HINT}")), "{err}");
    let deploying = err.find("deploying: ").unwrap();
    assert!(warned < deploying, "the warning comes before the deploy");
    // The real CLI then fails as upstream issue #258 shows.
    assert!(
        err.contains("/api/deploy2/evaluate_push 404 Not Found"),
        "{err}"
    );
    assert_eq!(fake.pushes(|r| r.completed), 0);
}

#[test]
fn an_unknown_version_is_asked_for_the_route_the_cli_needs() {
    let (p, secret) = convex_project("convex");
    let fake = old_backend(&secret, "unknown");
    let run = run_with(&p, &["--json", "setup", "--no-deploy"], &fake, &[]);
    let report = run.json();
    assert_eq!(report["ok"], true, "{}", run.stderr());
    assert_eq!(
        report["versions"],
        serde_json::json!({
            "cli_version": "1.48.0",
            "backend_version": "unknown",
            "backend_built": null,
            "verdict": "cli_too_new",
            "needs_backend_from": "2025-11-04",
            "reason": "convex 1.48.0: its deploy calls POST /api/deploy2/evaluate_push (a 404 on older backends)",
            "last_cli_that_works": "1.29.1",
            "hint": HINT,
        })
    );
    assert_eq!(
        fake.push_requests(),
        vec!["/api/deploy2/evaluate_push".to_owned()],
        "one probe, nothing pushed"
    );
}

#[test]
fn an_unknown_version_with_the_route_is_not_guessed_about() {
    let (p, secret) = convex_project("convex");
    let fake = fake_with(&secret, PushConfig::default());
    let run = run_with(&p, &["--json", "status"], &fake, &[]);
    let versions = &run.json()["versions"];
    assert_eq!(versions["verdict"], "unknown");
    assert_eq!(
        versions["reason"],
        "the backend reports no build date (\"unknown\"); convex 1.48.0 needs one from 2026-01-22"
    );
}

#[test]
fn status_and_doctor_show_the_skew_and_the_fix() {
    let (p, secret) = convex_project("convex");
    let fake = old_backend(&secret, OLD);
    run_with(&p, &["setup", "--no-deploy"], &fake, &[]).ok();

    let status = run_with(&p, &["status"], &fake, &[]);
    let out = status.ok();
    assert!(
        out.contains(&format!("✗ {WARNING}\n  hint: {HINT}\n")),
        "{out}"
    );
    let line = run_with(&p, &["status", "--metadata", "backend"], &fake, &[]).ok();
    assert_eq!(line, format!("up · {OLD} · convex CLI too new\n"));

    let check = doctor_check(&p, &fake);
    assert_eq!(check["status"], "warn");
    assert_eq!(check["detail"], WARNING);
    assert_eq!(check["hint"], HINT);
}

#[test]
fn a_current_backend_passes_everywhere() {
    let (p, secret) = convex_project("convex");
    let fake = fake_with(&secret, PushConfig::default());
    fake.set_version(CURRENT);
    let setup = run_with(&p, &["--json", "setup", "--no-deploy"], &fake, &[]);
    assert_eq!(setup.json()["versions"]["verdict"], "compatible");
    assert!(!setup.stderr().contains("newer than this backend"));
    let out = run_with(&p, &["status"], &fake, &[]).ok();
    assert!(
        out.contains("✓ convex 1.48.0 deploys to this backend (built 2026-08-21)\n"),
        "{out}"
    );
    let check = doctor_check(&p, &fake);
    assert_eq!(check["status"], "pass");
    assert_eq!(
        check["detail"],
        "convex 1.48.0 deploys to this backend (built 2026-08-21)"
    );
    assert!(fake.push_requests().is_empty(), "no probe with a date");
}

fn changed(run: &crate::common::Run) -> Value {
    run.json()["backend_changed"].clone()
}

#[test]
fn a_backend_version_change_names_the_last_backup_before_it() {
    let (p, secret) = convex_project("convex");
    let fake = fake_with(&secret, PushConfig::default());
    fake.set_version(OLD);
    let first = run_with(&p, &["--json", "setup", "--no-deploy"], &fake, &[]);
    assert_eq!(changed(&first), Value::Null, "{}", first.stderr());
    let backup = run_with(&p, &["--json", "backup"], &fake, &[]).json();
    let name = backup["backup"]["name"].as_str().unwrap().to_owned();

    // The template update: the same instance on a newer image.
    fake.set_version(CURRENT);
    let second = run_with(&p, &["--json", "setup", "--no-deploy"], &fake, &[]);
    let change = changed(&second);
    assert_eq!(change["from"], OLD);
    assert_eq!(change["to"], CURRENT);
    assert_eq!(change["last_backup_before"]["name"], name.as_str());
    assert_eq!(change["last_backup_before"]["backend_version"], OLD);

    let human = run_with(&p, &["setup", "--no-deploy"], &fake, &[]);
    assert!(!human.stderr().contains("backend changed"), "said once");
    let backup = run_with(&p, &["--json", "backup"], &fake, &[]).json();
    let name = backup["backup"]["name"].as_str().unwrap().to_owned();
    fake.set_version("unknown");
    let third = run_with(&p, &["setup", "--no-deploy"], &fake, &[]);
    let err = third.stderr();
    assert!(
        err.contains(&format!(
            "the backend changed since the last setup: {CURRENT} → unknown (upgrades migrate the data forward only)"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("  the last backup before the change: {name} · ")),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "`coder-convex restore {name} --yes` into a backend of the earlier version goes back"
        )),
        "{err}"
    );
}
