//! `status --metadata <item>`: the one-line values the templates' `coder_agent` metadata
//! scripts show, from the same report as `status --json`; exit 0 and within the templates'
//! metadata timeout even with the backend down.

use std::process::Command;

use crate::common::Project;
use crate::fake_backend::FakeBackend;
use crate::project::{configured, fake_for, run_with};
use crate::templates::METADATA_TIMEOUT_S;

/// Run like Coder's agent would: bounded by the metadata timeout (`timeout` exits 124 when
/// it has to kill the command).
fn metadata(p: &Project, item: &str, backend_url: &str) -> (i32, String) {
    let out = Command::new("timeout")
        .arg(METADATA_TIMEOUT_S.to_string())
        .arg(env!("CARGO_BIN_EXE_coder-convex"))
        .args(["status", "--metadata", item])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", p.path())
        .env("CODER_CONVEX_PROJECT_DIR", p.path())
        .env("CODER_CONVEX_BACKEND_URL", backend_url)
        .output()
        .expect("run coder-convex under timeout");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn metadata_lines_with_the_backend_down_are_quick_and_exit_zero() {
    let (p, _) = configured();
    // Port 9 (discard): nothing listens, the connection is refused.
    let down = "http://127.0.0.1:9";
    assert_eq!(metadata(&p, "backend", down), (0, "down\n".to_owned()));
    assert_eq!(metadata(&p, "env", down), (0, "unknown\n".to_owned()));
    assert_eq!(metadata(&p, "deploy", down), (0, "never\n".to_owned()));

    // The same report as `status --json`, which parses.
    let run = p.run(
        &["--json", "status", "--metadata", "backend"],
        &[("CODER_CONVEX_BACKEND_URL", down)],
    );
    let report = run.json();
    assert_eq!(report["ok"], true);
    assert_eq!(report["backend"]["healthy"], false);
    assert_eq!(report["env_in_sync"], serde_json::Value::Null);
}

#[test]
fn metadata_lines_follow_the_backend_and_the_environment() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    assert_eq!(
        metadata(&p, "backend", &fake.api_url),
        (0, "up · unknown\n".to_owned())
    );
    let (code, env) = metadata(&p, "env", &fake.api_url);
    assert_eq!(code, 0);
    assert_eq!(
        env,
        "pending: CODER_CONVEX_MANAGED_VARS, CONVEX_SITE_ORIGIN, JWKS and 2 more\n"
    );
    run_with(&p, &["env-set"], &fake, &[]).ok();
    assert_eq!(
        metadata(&p, "env", &fake.api_url),
        (0, "in sync\n".to_owned())
    );
}
