//! `scripts/convex-entrypoint.sh` reads the env file as data: it starts the command only once
//! the file holds `INSTANCE_NAME` and `INSTANCE_SECRET`, never runs `$(…)` or backticks from
//! it, tolerates CRLF, keeps its own `PATH`/`IFS`/`HOME` whatever the file says, and keeps
//! the file's secrets out of the command's output (upstream's `run_backend.sh` traces its
//! commands with `set -x`). Each under sh (dash), bash and busybox sh, with stand-ins.

use std::path::PathBuf;

use crate::entrypoint_fixture::{DB_URL, Fixture, NEW_SECRET, Running, SECRET, signal};

const SHELLS: [&[&str]; 3] = [&["sh"], &["bash"], &["busybox", "sh"]];

/// Every file named `pwned` in the fixture's directory.
fn pwned(fx: &Fixture) -> Vec<PathBuf> {
    fs_err::read_dir(fx.dir.path())
        .expect("the fixture dir")
        .map(|e| e.expect("an entry").path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("pwned"))
        })
        .collect()
}

fn write_raw(fx: &Fixture, contents: &str) {
    let tmp = fx.path(".env.convex.local.tmp");
    fs_err::write(&tmp, contents).expect("write the env file");
    fs_err::rename(&tmp, fx.env_file()).expect("rename the env file");
}

#[test]
fn starts_only_once_the_file_names_the_instance_and_its_secret() {
    for shell in SHELLS {
        let fx = Fixture::new();
        // A writer that truncates first: the file exists, empty.
        write_raw(&fx, "");
        let mut child = Running(fx.spawn_stand_in(shell));
        fx.wait_for("the incomplete-file message", || {
            fx.log()
                .contains("has no value for INSTANCE_NAME INSTANCE_SECRET yet")
        });
        // Half written: a name, no secret yet (an empty value counts as none).
        write_raw(
            &fx,
            "INSTANCE_NAME='convex-self-hosted'\nINSTANCE_SECRET=''\n",
        );
        fx.wait_for("the second incomplete-file message", || {
            fx.log().contains("has no value for INSTANCE_SECRET yet")
        });
        assert!(
            child.0.try_wait().expect("try_wait").is_none(),
            "{shell:?}: still waiting; log:\n{}",
            fx.log()
        );
        assert!(!fx.path("seen").exists(), "{shell:?}: started too early");

        fx.write_env(SECRET);
        fx.wait_for("the stand-in to start", || fx.path("seen").exists());
        let seen = fx.seen();
        assert_eq!(seen["INSTANCE_NAME"], "convex-self-hosted", "{shell:?}");
        assert_eq!(seen["INSTANCE_SECRET"], SECRET, "{shell:?}");

        // Truncated again while running: no restart for a file that is not complete yet.
        write_raw(&fx, "");
        fx.wait_for("the watcher to look at it", || {
            fx.log().contains("changed but is not complete yet")
        });
        assert!(
            child.0.try_wait().expect("try_wait").is_none(),
            "{shell:?}: restarted on a truncated file; log:\n{}",
            fx.log()
        );
        fx.write_env(NEW_SECRET);
        let status = fx.wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(75), "{shell:?}; log:\n{}", fx.log());
    }
}

/// Lines a user (or a hostile teammate's branch) may put in the file, each with CRLF.
const HOSTILE_LINES: &str = "# Managed by coder-convex.\r\n\
     INSTANCE_NAME='convex-self-hosted'\r\n\
     INSTANCE_SECRET='4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974'\r\n\
     A=$(touch pwned-a)\r\n\
     B=`touch pwned-b`\r\n\
     C=\"$(touch pwned-c)\"\r\n\
     export D=x$(touch pwned-d)\r\n\
     E='$(touch pwned-e) `touch pwned-e2` $HOME'\r\n\
     F=plain value # a comment\r\n\
     G=\"double quoted\"\r\n\
     PATH=/nonexistent\r\n\
     IFS=x\r\n\
     HOME=/nowhere\r\n\
     not an assignment $(touch pwned-f)\r\n";

#[test]
fn reads_the_file_as_data_whatever_it_holds() {
    for shell in SHELLS {
        let fx = Fixture::new();
        write_raw(&fx, HOSTILE_LINES);
        // perl: the stand-in needs no PATH of its own (the file's PATH reaches the command).
        let mut child = Running(fx.spawn_signal_stand_in(shell, "INT"));
        fx.wait_for("the stand-in to start", || fx.path("seen").exists());
        assert_eq!(pwned(&fx), Vec::<PathBuf>::new(), "{shell:?}: a line ran");

        let seen = fx.seen();
        assert_eq!(
            seen["INSTANCE_SECRET"], SECRET,
            "{shell:?}: no trailing \\r"
        );
        assert_eq!(
            seen["E"], "$(touch pwned-e) `touch pwned-e2` $HOME",
            "{shell:?}"
        );
        assert_eq!(seen["F"], "plain value", "{shell:?}");
        assert_eq!(seen["G"], "double quoted", "{shell:?}");
        assert_eq!(
            seen["PATH"], "/nonexistent",
            "{shell:?}: the command's own choice"
        );
        for skipped in ["A", "B", "C", "D"] {
            assert!(
                !seen.contains_key(skipped),
                "{shell:?}: {skipped} was passed on"
            );
        }
        let log = fx.log();
        for (line, key) in [(4, "A"), (5, "B"), (6, "C"), (7, "D")] {
            assert!(
                log.contains(&format!("skipped line {line} ({key}):")),
                "{shell:?}: {log}"
            );
        }
        assert!(
            log.contains("skipped line 14: not an assignment"),
            "{shell:?}: {log}"
        );
        assert!(
            !log.contains("touch"),
            "{shell:?}: the log shows a value: {log}"
        );

        // The script's own commands still work: a same-content rewrite is told apart from a
        // change (it needs cksum, ls, sleep on the script's PATH) ...
        write_raw(&fx, HOSTILE_LINES);
        fx.wait_for("the rewrite to be noticed", || {
            fx.log()
                .contains("was rewritten with the same content; nothing to restart")
        });
        assert!(child.0.try_wait().expect("try_wait").is_none(), "{shell:?}");
        assert_eq!(fx.stopped_by(), "", "{shell:?}: stopped on a no-op rewrite");
        // ... and a real change stops the command with its stop signal, not SIGKILL.
        write_raw(&fx, &HOSTILE_LINES.replace("plain value", "other value"));
        let status = fx.wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(75), "{shell:?}; log:\n{}", fx.log());
        assert_eq!(fx.stopped_by(), "INT\n", "{shell:?}; log:\n{}", fx.log());
        assert_eq!(pwned(&fx), Vec::<PathBuf>::new(), "{shell:?}: a line ran");
    }
}

/// What `run_backend.sh` does with the secret (`set -x`, then the backend's arguments), to
/// stdout and stderr: neither the secret nor the database password reaches the log.
#[test]
fn the_commands_output_never_shows_the_secret() {
    const TRACE: &str = "set -x; : --instance-secret \"$INSTANCE_SECRET\" \"$POSTGRES_URL\"; \
                         echo \"stdout $INSTANCE_SECRET\"; echo \"stderr $INSTANCE_SECRET\" >&2; \
                         echo \"name $INSTANCE_NAME\"";
    for shell in SHELLS {
        let fx = Fixture::new();
        fx.write_env(SECRET);
        let mut command: Vec<&str> = shell.to_vec();
        command.extend(["-c", TRACE]);
        let mut child = Running(fx.spawn(shell, &[], &command));
        let status = fx.wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(0), "{shell:?}; log:\n{}", fx.log());
        let log = fx.log();
        assert!(!log.contains(SECRET), "{shell:?}: {log}");
        assert!(!log.contains(DB_URL), "{shell:?}: {log}");
        assert!(log.contains("--instance-secret"), "{shell:?}: {log}");
        assert!(log.contains("stdout [redacted]"), "{shell:?}: {log}");
        assert!(log.contains("stderr [redacted]"), "{shell:?}: {log}");
        assert!(
            log.contains("name convex-self-hosted"),
            "{shell:?}: the rest is shown"
        );
    }
}

/// The filter between the command and the log does not come between the command and its
/// signals: SIGTERM to the entrypoint still reaches a command whose output is filtered, and
/// the last lines it writes are in the log.
#[test]
fn signals_reach_the_filtered_command_and_its_last_words_are_kept() {
    for shell in SHELLS {
        let fx = Fixture::new();
        fx.write_env(SECRET);
        let script = format!(
            "trap 'echo \"bye $INSTANCE_SECRET\"; exit 3' TERM; echo ready >'{}'; \
             while :; do sleep 0.05; done",
            fx.path("ready").display()
        );
        let mut command: Vec<&str> = shell.to_vec();
        command.extend(["-c", &script]);
        let mut child = Running(fx.spawn(shell, &[], &command));
        fx.wait_for("the command to be ready", || fx.path("ready").exists());
        signal(&child.0, "TERM");
        let status = fx.wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(3), "{shell:?}; log:\n{}", fx.log());
        assert!(
            fx.log().contains("bye [redacted]"),
            "{shell:?}: {}",
            fx.log()
        );
    }
}
