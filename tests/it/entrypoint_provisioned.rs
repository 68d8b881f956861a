//! `scripts/convex-entrypoint.sh` with `CONVEX_ENTRYPOINT_EXTRA_FILE`, the database settings
//! the template's provisioner wrote (`db provision`): the command waits for both files, the
//! second one's values win, it is read as data like the first, a change of it restarts the
//! command, and its password never shows in the log. Under sh (dash), bash and busybox sh.

use crate::entrypoint_fixture::{DB_URL, Fixture, Running, SECRET};

const SHELLS: [&[&str]; 3] = [&["sh"], &["bash"], &["busybox", "sh"]];
const ROLE_URL: &str = "postgres://convex_alice_app_1a2b3c4d:RolePw7Zq9@db:5432?sslmode=disable";
const NEW_ROLE_URL: &str =
    "postgres://convex_alice_app_1a2b3c4d:NewPw88Kx2@db:5432?sslmode=disable";

/// Written like `db provision` does: a temp file renamed over the old one.
fn write_provisioned(fx: &Fixture, url: &str, extra: &str) {
    let dir = fx.path("provisioned");
    fs_err::create_dir_all(&dir).unwrap();
    let tmp = dir.join("db.env.tmp");
    fs_err::write(
        &tmp,
        format!("# Written by coder-convex db provision\nPOSTGRES_URL='{url}'\nPOSTGRES_MAX_CONNECTIONS='8'\n{extra}"),
    )
    .unwrap();
    fs_err::rename(&tmp, dir.join("db.env")).unwrap();
}

#[test]
fn the_provisioned_file_is_waited_for_wins_and_restarts_the_command_when_it_changes() {
    for shell in SHELLS {
        let fx = Fixture::new();
        fx.write_env(SECRET);
        let extra = fx.path("provisioned/db.env");
        let extra_text = extra.display().to_string();
        let stand_in = fx.path("backend.sh");
        let out = fx.dir.path().display().to_string();
        let mut child = Running(fx.spawn(
            shell,
            &[("CONVEX_ENTRYPOINT_EXTRA_FILE", &extra_text)],
            &["sh", stand_in.to_str().unwrap(), &out],
        ));
        // .env.convex.local is there, the provisioned file is not: nothing starts.
        fx.wait_for("polls without the provisioned file", || {
            fx.log()
                .matches(&format!("still waiting for {extra_text}"))
                .count()
                >= 3
        });
        assert!(!fx.path("seen").exists(), "{shell:?}: started too early");

        // Its values win over the project file's; a line that is not data is skipped and
        // named with its file; the project file's other settings still pass.
        write_provisioned(&fx, ROLE_URL, "X=$(touch pwned)\n");
        fx.wait_for("the stand-in to start", || fx.path("seen").exists());
        let seen = fx.seen();
        assert_eq!(seen["POSTGRES_URL"], ROLE_URL, "{shell:?}");
        assert_eq!(seen["POSTGRES_MAX_CONNECTIONS"], "8");
        assert_eq!(seen["INSTANCE_SECRET"], SECRET);
        assert_eq!(seen["DO_NOT_REQUIRE_SSL"], "1");
        assert!(!seen.contains_key("X"), "{shell:?}");
        assert!(
            !fx.path("pwned").exists(),
            "{shell:?}: ran $(…) from the file"
        );
        let log = fx.log();
        assert!(
            log.contains(&format!("{extra_text}: skipped line 4 (X): ")),
            "{shell:?}: {log}"
        );
        assert!(
            log.contains(&format!(
                "loaded 7 settings from {} and {extra_text}; starting sh",
                fx.env_file().display()
            )),
            "{shell:?}: {log}"
        );

        // The same content again (a restart of the provisioner that kept the password would
        // do this): nothing restarts.
        write_provisioned(&fx, ROLE_URL, "X=$(touch pwned)\n");
        fx.wait_for("the rewrite to be noticed", || {
            fx.log()
                .contains("was rewritten with the same content; nothing to restart")
        });
        assert!(child.0.try_wait().unwrap().is_none(), "{shell:?}");

        // A new password: the command is stopped and the entrypoint exits for a restart.
        write_provisioned(&fx, NEW_ROLE_URL, "");
        let status = fx.wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(75), "{shell:?}: {}", fx.log());
        assert!(fx.path("stopped").exists(), "{shell:?}");
        let log = fx.log();
        for value in ["RolePw7Zq9", "NewPw88Kx2", SECRET, DB_URL] {
            assert!(
                !log.contains(value),
                "{shell:?}: the log shows a value: {log}"
            );
        }
    }
}

#[test]
fn the_roles_password_is_hidden_in_the_commands_output() {
    for shell in SHELLS {
        let fx = Fixture::new();
        fx.write_env(SECRET);
        write_provisioned(&fx, ROLE_URL, "");
        let extra = fx.path("provisioned/db.env").display().to_string();
        let mut child = Running(fx.spawn(
            shell,
            &[("CONVEX_ENTRYPOINT_EXTRA_FILE", &extra)],
            &["sh", "-c", "echo \"url=$POSTGRES_URL\""],
        ));
        let status = fx.wait_exit(&mut child.0);
        assert_eq!(status.code(), Some(0), "{shell:?}: {}", fx.log());
        let log = fx.log();
        assert!(log.contains("url=[redacted]"), "{shell:?}: {log}");
        assert!(!log.contains("RolePw7Zq9"), "{shell:?}: {log}");
    }
}
