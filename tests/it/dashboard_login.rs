//! `CODER_CONVEX_DASHBOARD_LOGIN=true` (set by the templates only for an owner-only dashboard):
//! the admin key goes to `.env.convex.local` as `NEXT_PUBLIC_ADMIN_KEY`, never to a
//! browser-facing file; without it the key is not there.

use crate::common::Project;

#[test]
fn dashboard_login_writes_the_admin_key_for_the_dashboard_only_when_asked() {
    let p = Project::new();
    p.write("package.json", r#"{"dependencies":{"vite":"5"}}"#);
    p.run(&["configure"], &[("CODER_CONVEX_DASHBOARD_LOGIN", "true")])
        .ok();
    let convex = p.env_values(".env.convex.local");
    let cli = p.env_values(".env.local");
    assert_eq!(
        convex["NEXT_PUBLIC_ADMIN_KEY"],
        cli["CONVEX_SELF_HOSTED_ADMIN_KEY"]
    );
    assert_eq!(p.mode(".env.convex.local"), 0o600);
    assert!(
        !p.read(".env.development.local")
            .contains(&cli["CONVEX_SELF_HOSTED_ADMIN_KEY"])
    );

    // Idempotent: the same key, nothing rewritten.
    let again = p.run(
        &["--json", "configure"],
        &[("CODER_CONVEX_DASHBOARD_LOGIN", "true")],
    );
    let files = again.json()["files"].clone();
    assert!(
        files
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["change"] == "unchanged"),
        "{files}"
    );

    // Turned off: the key is no longer an assignment.
    p.run(&["configure"], &[]).ok();
    assert!(
        !p.env_values(".env.convex.local")
            .contains_key("NEXT_PUBLIC_ADMIN_KEY")
    );
}

#[test]
fn dashboard_login_rejects_a_value_that_is_not_a_boolean() {
    let p = Project::new();
    let run = p.run(&["configure"], &[("CODER_CONVEX_DASHBOARD_LOGIN", "owner")]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("invalid CODER_CONVEX_DASHBOARD_LOGIN: \"owner\" is not true or false"),
        "{}",
        run.stderr()
    );
    assert!(!p.file(".env.convex.local").exists());
}

#[test]
fn the_summary_sends_people_to_the_admin_key_only_when_the_dashboard_asks_for_one() {
    let p = Project::new();
    let on = p.run(&["configure"], &[("CODER_CONVEX_DASHBOARD_LOGIN", "true")]);
    let dashboard_line = |stderr: &str| {
        stderr
            .lines()
            .find(|l| l.trim_start().starts_with("Dashboard"))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no Dashboard line in {stderr}"))
    };
    on.ok();
    let line = dashboard_line(&on.stderr());
    assert!(line.ends_with("(logs in by itself)"), "{line}");
    assert!(!line.contains("admin-key"), "{line}");

    let off = p.run(&["configure"], &[]);
    off.ok();
    let line = dashboard_line(&off.stderr());
    assert!(
        line.ends_with("(log in with `coder-convex admin-key`)"),
        "{line}"
    );
}
