//! The entrypoint fixture: a temp directory with an env file, the entrypoint started under a
//! given shell with a stand-in command, and what the stand-in recorded.

use std::collections::BTreeMap;

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

pub(crate) const POLL_SECONDS: &str = "0.05";
pub(crate) const DEADLINE: Duration = Duration::from_secs(10);

pub(crate) const SECRET: &str = "4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974";
pub(crate) const NEW_SECRET: &str =
    "0000000000000000000000000000000000000000000000000000000000000001";
/// Quotes and `$` in a value: the file must be read by sh without interpolation.
pub(crate) const DB_URL: &str = "postgres://convex:p%40ss$word@127.0.0.1:5432?sslmode=disable";

/// Stand-in for `./run_backend.sh`: records the environment it was given, then runs until
/// SIGTERM, which it records too (or until its parent is gone, should a test fail).
pub(crate) const STAND_IN: &str = r#"#!/bin/sh
out=$1
trap 'echo stopped >>"$out/stopped"; exit 0' TERM
env >"$out/seen.tmp" && mv "$out/seen.tmp" "$out/seen"
while kill -0 "$PPID" 2>/dev/null; do sleep 0.05; done
"#;

/// A stand-in that catches SIGINT: a shell script cannot (a background job of a non-interactive
/// shell starts with SIGINT ignored, and sh may not trap a signal ignored on entry), while a
/// program installing its own handler can, as the backend (tokio `ctrl_c`) and Node do.
/// Records its environment, then the first stop signal it gets, and exits 0.
pub(crate) const SIGNAL_STAND_IN: &str = r#"
my $out = shift;
for my $sig (qw(INT TERM)) {
    $SIG{$sig} = sub {
        open(my $f, '>>', "$out/stopped") or die;
        print $f "$sig\n";
        close $f;
        exit 0;
    };
}
open(my $f, '>', "$out/seen.tmp") or die;
print $f map { "$_=$ENV{$_}\n" } sort keys %ENV;
close $f;
rename("$out/seen.tmp", "$out/seen") or die;
my $parent = getppid();
select(undef, undef, undef, 0.05) while kill(0, $parent);
"#;

pub(crate) fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/convex-entrypoint.sh")
}

pub(crate) struct Fixture {
    pub(crate) dir: TempDir,
}

impl Fixture {
    pub(crate) fn new() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        fs_err::write(dir.path().join("backend.sh"), STAND_IN).expect("write the stand-in");
        Self { dir }
    }

    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub(crate) fn env_file(&self) -> PathBuf {
        self.path(".env.convex.local")
    }

    /// Written like coder-convex does: a temp file renamed over the old one.
    pub(crate) fn write_env(&self, secret: &str) {
        let contents = format!(
            "# Managed by coder-convex.\n\
             INSTANCE_NAME='convex-self-hosted'\n\
             INSTANCE_SECRET='{secret}'\n\
             CONVEX_CLOUD_ORIGIN='https://convex-api--main--ws--alice.apps.example.com'\n\
             NEXT_PUBLIC_DEPLOYMENT_URL='https://convex-api--main--ws--alice.apps.example.com'\n\
             POSTGRES_URL='{DB_URL}'\n\
             DO_NOT_REQUIRE_SSL='1'\n"
        );
        let tmp = self.path(".env.convex.local.tmp");
        fs_err::write(&tmp, contents).expect("write the env file");
        fs_err::rename(&tmp, self.env_file()).expect("rename the env file");
    }

    /// Start the entrypoint with a clean environment; its output goes to `log`.
    pub(crate) fn spawn(
        &self,
        shell: &[&str],
        extra_env: &[(&str, &str)],
        command: &[&str],
    ) -> Child {
        let log = fs_err::File::create(self.path("log"))
            .expect("create the log")
            .into_file();
        let mut cmd = Command::new(crate::common::require(shell[0]));
        cmd.args(&shell[1..])
            .arg(script())
            .arg(self.env_file())
            .args(command)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("CONVEX_ENTRYPOINT_POLL_SECONDS", POLL_SECONDS)
            .env("CONVEX_ENTRYPOINT_GRACE_SECONDS", "5")
            // A "still waiting" line on every poll: the tests wait for those lines.
            .env("CONVEX_ENTRYPOINT_WAIT_LOG_SECONDS", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log);
        for (key, value) in extra_env {
            cmd.env(key, value);
        }
        cmd.spawn().expect("start the entrypoint")
    }

    pub(crate) fn spawn_stand_in(&self, shell: &[&str]) -> Child {
        let stand_in = self.path("backend.sh");
        let out = self.dir.path().to_str().expect("a UTF-8 temp path");
        self.spawn(shell, &[], &["sh", stand_in.to_str().expect("UTF-8"), out])
    }

    /// The SIGINT-catching stand-in under perl, with the given stop signal setting.
    pub(crate) fn spawn_signal_stand_in(&self, shell: &[&str], stop_signal: &str) -> Child {
        crate::common::require("perl");
        let stand_in = self.path("backend.pl");
        fs_err::write(&stand_in, SIGNAL_STAND_IN).expect("write the stand-in");
        let out = self.dir.path().to_str().expect("a UTF-8 temp path");
        self.spawn(
            shell,
            &[("CONVEX_ENTRYPOINT_STOP_SIGNAL", stop_signal)],
            &["perl", stand_in.to_str().expect("UTF-8"), out],
        )
    }

    /// The signals the stand-in recorded, one per line.
    pub(crate) fn stopped_by(&self) -> String {
        fs_err::read_to_string(self.path("stopped")).unwrap_or_default()
    }

    pub(crate) fn log(&self) -> String {
        fs_err::read_to_string(self.path("log")).unwrap_or_default()
    }

    /// What the stand-in saw, as a map.
    pub(crate) fn seen(&self) -> BTreeMap<String, String> {
        fs_err::read_to_string(self.path("seen"))
            .expect("the stand-in recorded its environment")
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect()
    }

    pub(crate) fn wait_for(&self, what: &str, mut done: impl FnMut() -> bool) {
        let start = Instant::now();
        while !done() {
            assert!(
                start.elapsed() < DEADLINE,
                "timed out waiting for {what}; log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub(crate) fn wait_exit(&self, child: &mut Child) -> ExitStatus {
        let mut status = None;
        self.wait_for("the entrypoint to exit", || {
            status = child.try_wait().expect("try_wait");
            status.is_some()
        });
        status.expect("exited")
    }
}

/// Kills the entrypoint if a test fails before it exits.
pub(crate) struct Running(pub(crate) Child);

impl Drop for Running {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

pub(crate) fn signal(child: &Child, name: &str) {
    let status = Command::new(crate::common::require("kill"))
        .arg(format!("-{name}"))
        .arg(child.id().to_string())
        .status()
        .expect("run kill");
    assert!(status.success());
}
