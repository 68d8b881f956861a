//! The npm launcher (`npm/coder-convex.js`) as npm installs it from the test registry, with
//! stand-ins for the binary (`CODER_CONVEX_BINARY`): it refuses to run a launcher as its binary
//! instead of recursing; one Ctrl-C in a terminal reaches the binary once; a binary that dies of
//! SIGUSR1 does not start Node's debugger; bytes Node cannot pass on unchanged are refused, not
//! altered.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::npm_packages::{Sample, shared_registry, wait_for};

const HANG_BOUND: Duration = Duration::from_secs(30);

fn write_exec(path: &Path, text: &str) {
    fs_err::write(path, text).expect("write");
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Runs `cmd` in a process group of its own; past the hang bound the whole group is killed
/// and the test fails.
fn bounded(cmd: &mut Command) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > HANG_BOUND {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--"])
                .arg(format!("-{}", child.id()))
                .status();
            let _ = child.wait();
            panic!("still running after {HANG_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("output")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_launcher_as_the_binary_is_refused_instead_of_recursing() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    // The launcher itself (`$(command -v coder-convex)` inside `npm run`), and a shell wrapper
    // around it that the launcher cannot recognise by reading it.
    let wrapper = tmp.path().join("wrapper");
    write_exec(
        &wrapper,
        &format!("#!/bin/sh\nexec '{}' \"$@\"\n", sample.bin().display()),
    );
    for binary in [sample.bin(), wrapper] {
        let out = bounded(
            sample
                .command(sample.bin())
                .arg("--version")
                .env("CODER_CONVEX_BINARY", &binary),
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}: {}",
            binary.display(),
            stderr(&out)
        );
        assert!(
            stderr(&out).contains("is the npm launcher (this script), not the native binary"),
            "{}: {}",
            binary.display(),
            stderr(&out)
        );
    }
}

/// A Ctrl-C typed in a terminal (`script` gives the launcher a pty and its foreground process
/// group): the kernel delivers SIGINT to the launcher and the binary alike, and the launcher
/// does not deliver it a second time.
#[test]
fn one_ctrl_c_in_a_terminal_reaches_the_binary_once() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let record = tmp.path().join("record");
    let ready = tmp.path().join("ready");
    let binary = tmp.path().join("stand-in");
    write_exec(
        &binary,
        &format!(
            "#!/bin/sh\n\
             trap 'echo INT >>\"{record}\"' INT\n\
             : >\"{ready}\"\n\
             i=0\n\
             while [ $i -lt 30 ]; do sleep 0.05; i=$((i + 1)); done\n\
             exit 0\n",
            record = record.display(),
            ready = ready.display()
        ),
    );
    let line = format!("exec '{}'", sample.bin().display());
    let mut script = sample
        .command(crate::common::require("script"))
        .args(["-qefc", &line, "/dev/null"])
        .env("CODER_CONVEX_BINARY", &binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("script");
    wait_for("the stand-in to be ready", || ready.exists());
    let mut input = script.stdin.take().expect("stdin");
    input.write_all(b"\x03").expect("type Ctrl-C");
    input.flush().expect("flush");
    let start = Instant::now();
    while script.try_wait().expect("try_wait").is_none() {
        assert!(start.elapsed() < HANG_BOUND, "the launcher did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    drop(input);
    assert_eq!(
        fs_err::read_to_string(&record).unwrap_or_default(),
        "INT\n",
        "SIGINT reached the binary once"
    );
}

/// SIGUSR1 in Node starts the inspector: a binary that dies of it ends the launcher with
/// 128 + 10, no debugger.
#[test]
fn a_binary_killed_by_sigusr1_does_not_start_nodes_debugger() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let binary = tmp.path().join("stand-in");
    write_exec(&binary, "#!/bin/sh\nkill -USR1 $$\nsleep 5\n");
    let out = bounded(
        sample
            .command(sample.bin())
            .env("CODER_CONVEX_BINARY", &binary),
    );
    assert_eq!(out.status.code(), Some(138), "{}", stderr(&out));
    assert!(!stderr(&out).contains("Debugger"), "{}", stderr(&out));
}

/// Node decodes argv and the environment as UTF-8: a byte that is not UTF-8 would reach the
/// binary as U+FFFD. The launcher refuses and names the binary to run directly instead.
#[test]
fn bytes_node_cannot_pass_on_are_refused_not_altered() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let record = tmp.path().join("record");
    let binary = tmp.path().join("stand-in");
    write_exec(
        &binary,
        &format!("#!/bin/sh\necho ran >>'{}'\n", record.display()),
    );
    let latin1 = OsStr::from_bytes(b"caf\xe9");

    let out = bounded(
        sample
            .command(sample.bin())
            .args([OsStr::new("ok"), latin1])
            .env("CODER_CONVEX_BINARY", &binary),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("argument 2 is not valid UTF-8"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains(&binary.display().to_string()),
        "{}",
        stderr(&out)
    );

    let out = bounded(
        sample
            .command(sample.bin())
            .env("CODER_CONVEX_BINARY", &binary)
            .env("SOME_LATIN1", latin1),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("the environment variable SOME_LATIN1 is not valid UTF-8"),
        "{}",
        stderr(&out)
    );
    assert!(!record.exists(), "the binary ran with altered bytes");

    // Valid UTF-8, non-ASCII: passed on.
    let out = bounded(
        sample
            .command(sample.bin())
            .arg("café")
            .env("CODER_CONVEX_BINARY", &binary),
    );
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(fs_err::read_to_string(&record).expect("ran"), "ran\n");
}
