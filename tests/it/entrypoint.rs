//! `scripts/convex-entrypoint.sh`, run for real with a stand-in backend: it waits for the env
//! file, hands its settings to the command, and exits (non-zero, after stopping the command)
//! when the file changes, so the container's restart policy applies the new settings.
//!
//! Poll intervals are shortened through `CONVEX_ENTRYPOINT_POLL_SECONDS`; every wait is a poll
//! with a deadline, so the tests are fast when things work and fail clearly when they do not.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::entrypoint_fixture::*;

fn waits_loads_and_restarts_on_change(shell: &[&str]) {
    let fx = Fixture::new();
    let mut child = Running(fx.spawn_stand_in(shell));

    // No env file: the entrypoint says so, polls (a line per poll), and does not start the
    // command.
    fx.wait_for("three polls without the file", || {
        fx.log().matches("still waiting for").count() >= 3
    });
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "still waiting"
    );
    assert!(
        !fx.path("seen").exists(),
        "the command started without settings"
    );

    // The file appears: the command runs with its settings, values taken literally.
    fx.write_env(SECRET);
    fx.wait_for("the stand-in to start", || fx.path("seen").exists());
    let seen = fx.seen();
    assert_eq!(seen["INSTANCE_NAME"], "convex-self-hosted");
    assert_eq!(seen["INSTANCE_SECRET"], SECRET);
    assert_eq!(
        seen["CONVEX_CLOUD_ORIGIN"],
        "https://convex-api--main--ws--alice.apps.example.com"
    );
    assert_eq!(seen["POSTGRES_URL"], DB_URL);
    assert_eq!(seen["DO_NOT_REQUIRE_SSL"], "1");

    // Rewritten with the same content (an idempotent setup run): nothing restarts.
    fx.write_env(SECRET);
    fx.wait_for("the rewrite to be noticed", || {
        fx.log()
            .contains("was rewritten with the same content; nothing to restart")
    });
    assert!(
        child.0.try_wait().expect("try_wait").is_none(),
        "restarted on a no-op rewrite"
    );
    assert!(!fx.path("stopped").exists());

    // New settings: the command is stopped and the entrypoint exits non-zero.
    fx.write_env(NEW_SECRET);
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(75), "log:\n{}", fx.log());
    assert!(
        fx.path("stopped").exists(),
        "the stand-in got SIGTERM before the exit"
    );

    let log = fx.log();
    assert!(log.contains("changed"), "{log}");
    for value in [SECRET, NEW_SECRET, DB_URL, "p%40ss"] {
        assert!(!log.contains(value), "the log shows a value: {log}");
    }
}

#[test]
fn waits_for_the_env_file_passes_its_settings_and_exits_when_it_changes() {
    waits_loads_and_restarts_on_change(&["sh"]);
}

/// The same under bash, which some images use as `sh`.
#[test]
fn works_under_bash_too() {
    waits_loads_and_restarts_on_change(&["bash"]);
}

/// And under busybox, the `sh` of Alpine-based images: dashboard images up to 2025-12 are built
/// `FROM node:18-alpine`, the pinned release among them.
#[test]
fn works_under_busybox_sh_too() {
    waits_loads_and_restarts_on_change(&["busybox", "sh"]);
}

#[test]
fn passes_the_commands_exit_status_through() {
    let fx = Fixture::new();
    fx.write_env(SECRET);
    let mut child = Running(fx.spawn(&["sh"], &[], &["sh", "-c", "exit 7"]));
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(7), "log:\n{}", fx.log());
    assert!(fx.log().contains("exited with status 7"), "{}", fx.log());
}

#[test]
fn forwards_sigterm_to_the_command() {
    let fx = Fixture::new();
    fx.write_env(SECRET);
    let mut child = Running(fx.spawn_stand_in(&["sh"]));
    fx.wait_for("the stand-in to start", || fx.path("seen").exists());
    signal(&child.0, "TERM");
    let status = fx.wait_exit(&mut child.0);
    assert!(fx.path("stopped").exists(), "SIGTERM reached the command");
    // The stand-in exits 0 on SIGTERM; its status is the entrypoint's.
    assert_eq!(status.code(), Some(0), "log:\n{}", fx.log());
}

#[test]
fn stops_while_waiting_on_sigterm() {
    let fx = Fixture::new();
    let mut child = Running(fx.spawn_stand_in(&["sh"]));
    fx.wait_for("the waiting message", || fx.log().contains("waiting for"));
    signal(&child.0, "TERM");
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(143));
    assert!(!fx.path("seen").exists());
}

#[test]
fn passes_only_the_listed_keys_when_asked() {
    let fx = Fixture::new();
    fx.write_env(SECRET);
    let out = fx.path("seen");
    let record = format!("env >'{}'", out.display());
    let mut child = Running(fx.spawn(
        &["sh"],
        &[("CONVEX_ENTRYPOINT_KEYS", "NEXT_PUBLIC_DEPLOYMENT_URL")],
        &["sh", "-c", &record],
    ));
    let status = fx.wait_exit(&mut child.0);
    assert!(status.success(), "log:\n{}", fx.log());
    let seen = fx.seen();
    assert_eq!(
        seen["NEXT_PUBLIC_DEPLOYMENT_URL"],
        "https://convex-api--main--ws--alice.apps.example.com"
    );
    assert!(
        !seen.contains_key("INSTANCE_SECRET"),
        "the dashboard needs no secret"
    );
    assert!(!seen.contains_key("POSTGRES_URL"));
}

/// The dashboard's listen address comes from the container's environment
/// (`HOSTNAME=127.0.0.1` in coder-template/main.tf; Next's standalone server listens on
/// `$HOSTNAME`), not from the env file: with `CONVEX_ENTRYPOINT_KEYS` set it reaches the command
/// unchanged under each shell an image may have (busybox in the dashboard's Alpine image), and
/// a HOSTNAME line in the file cannot replace it.
#[test]
fn keeps_the_containers_listen_address_when_passing_listed_keys() {
    for shell in [&["sh"][..], &["bash"], &["busybox", "sh"]] {
        let fx = Fixture::new();
        fx.write_env(SECRET);
        let mut contents = fs_err::read_to_string(fx.env_file()).expect("the env file");
        contents.push_str("HOSTNAME='0.0.0.0'\n");
        fs_err::write(fx.env_file(), contents).expect("append to the env file");

        let out = fx.path("seen");
        let record = format!("env >'{}'", out.display());
        let mut command: Vec<&str> = shell.to_vec();
        command.extend(["-c", record.as_str()]);
        let mut child = Running(fx.spawn(
            shell,
            &[
                ("CONVEX_ENTRYPOINT_KEYS", "NEXT_PUBLIC_DEPLOYMENT_URL"),
                ("HOSTNAME", "127.0.0.1"),
            ],
            &command,
        ));
        let status = fx.wait_exit(&mut child.0);
        assert!(status.success(), "{shell:?}; log:\n{}", fx.log());
        let seen = fx.seen();
        assert_eq!(seen["HOSTNAME"], "127.0.0.1", "{shell:?}");
        assert_eq!(
            seen["NEXT_PUBLIC_DEPLOYMENT_URL"],
            "https://convex-api--main--ws--alice.apps.example.com",
            "{shell:?}"
        );
    }
}

#[test]
fn rejects_a_call_without_a_command() {
    let fx = Fixture::new();
    let mut child = Running(fx.spawn(&["sh"], &[], &[]));
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(64));
    assert!(fx.log().contains("usage:"), "{}", fx.log());
}

#[test]
fn scripts_are_shellcheck_clean() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let scripts: Vec<PathBuf> = ["scripts", "coder-template/scripts"]
        .iter()
        .flat_map(|dir| fs_err::read_dir(root.join(dir)).expect("a scripts directory"))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "sh"))
        .collect();
    assert!(scripts.len() >= 4, "{scripts:?}");
    // They run under dash and busybox: shellcheck takes the dialect from the shebang.
    for name in ["convex-entrypoint.sh", "install.sh"] {
        let text = fs_err::read_to_string(root.join("scripts").join(name)).expect("the script");
        assert_eq!(text.lines().next(), Some("#!/bin/sh"), "{name} is POSIX sh");
    }
    let output = Command::new(crate::common::require("shellcheck"))
        .args(&scripts)
        .output()
        .expect("shellcheck runs (.ci/run installs it)");
    assert!(
        output.status.success(),
        "shellcheck:\n{}",
        String::from_utf8_lossy(&output.stdout)
    );
}

/// `docker stop` sends SIGTERM to the entrypoint; with `CONVEX_ENTRYPOINT_STOP_SIGNAL=INT` (the
/// backend's setting) the command gets SIGINT, on which the backend drains and exits cleanly.
fn stops_with_sigint_on_sigterm(shell: &[&str]) {
    let fx = Fixture::new();
    fx.write_env(SECRET);
    let mut child = Running(fx.spawn_signal_stand_in(shell, "INT"));
    fx.wait_for("the stand-in to start", || fx.path("seen").exists());
    assert_eq!(fx.seen()["INSTANCE_SECRET"], SECRET);
    signal(&child.0, "TERM");
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(fx.stopped_by(), "INT\n", "log:\n{}", fx.log());
    assert_eq!(status.code(), Some(0), "log:\n{}", fx.log());
    assert!(
        fx.log()
            .contains("received SIGTERM; stopping perl (SIGINT)"),
        "{}",
        fx.log()
    );
}

#[test]
fn stops_the_command_with_the_configured_signal_on_sigterm() {
    stops_with_sigint_on_sigterm(&["sh"]);
}

#[test]
fn stops_the_command_with_the_configured_signal_under_bash_and_busybox() {
    stops_with_sigint_on_sigterm(&["bash"]);
    stops_with_sigint_on_sigterm(&["busybox", "sh"]);
}

/// The same signal when the env file changes; the `SIG` prefix is accepted.
#[test]
fn stops_the_command_with_the_configured_signal_on_a_change() {
    let fx = Fixture::new();
    fx.write_env(SECRET);
    let mut child = Running(fx.spawn_signal_stand_in(&["sh"], "SIGINT"));
    fx.wait_for("the stand-in to start", || fx.path("seen").exists());
    fx.write_env(NEW_SECRET);
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(75), "log:\n{}", fx.log());
    assert_eq!(fx.stopped_by(), "INT\n", "log:\n{}", fx.log());
}

/// Without the setting, SIGTERM.
#[test]
fn stops_the_command_with_sigterm_by_default() {
    let fx = Fixture::new();
    fx.write_env(SECRET);
    let mut child = Running(fx.spawn_signal_stand_in(&["sh"], ""));
    fx.wait_for("the stand-in to start", || fx.path("seen").exists());
    signal(&child.0, "INT");
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(fx.stopped_by(), "TERM\n", "log:\n{}", fx.log());
    assert_eq!(status.code(), Some(0), "log:\n{}", fx.log());
}

#[test]
fn rejects_an_unknown_stop_signal() {
    let fx = Fixture::new();
    let mut child = Running(fx.spawn(
        &["sh"],
        &[("CONVEX_ENTRYPOINT_STOP_SIGNAL", "HUP")],
        &["true"],
    ));
    let status = fx.wait_exit(&mut child.0);
    assert_eq!(status.code(), Some(64));
    assert!(
        fx.log()
            .contains("CONVEX_ENTRYPOINT_STOP_SIGNAL: 'HUP' is not TERM or INT"),
        "{}",
        fx.log()
    );
}
