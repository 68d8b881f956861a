//! A hostile or broken backend: one that answers `/version` and then hangs, streams a
//! gigabyte, or sends escape sequences. Every command ends by its deadline, reads a bounded
//! body and shows sanitized text; the project lock wait ends by `--wait` too.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::{Project, Run, assert_no_hang, http_server};

fn respond(mut stream: TcpStream, status: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// `/version` answers; every other request is read and never answered.
fn hangs_after_version(line: &str, stream: TcpStream) {
    if line.starts_with("GET /version ") {
        respond(stream, "200 OK", b"1.2.3");
    } else {
        std::thread::sleep(Duration::from_secs(3600));
        drop(stream);
    }
}

fn configured() -> Project {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    p
}

/// Run with every internal URL pointing at `url`; it must end by itself (the hang bound).
fn bounded(p: &Project, args: &[&str], url: &str) -> Run {
    let started = Instant::now();
    let run = p.run(
        args,
        &[
            ("CODER_CONVEX_BACKEND_URL", url),
            ("CODER_CONVEX_SITE_PROXY_URL", url),
            ("CODER_CONVEX_DASHBOARD_INTERNAL_URL", url),
        ],
    );
    assert_no_hang(started);
    run
}

#[test]
fn setup_against_a_backend_that_hangs_after_version_ends_at_the_wait() {
    let url = http_server(hangs_after_version);
    let p = configured();
    // Before: 75.8 s (a 15 s timeout and 4 retries per call, whatever --wait said); the
    // message below says the --wait deadline is what ended it.
    let run = bounded(&p, &["setup", "--wait", "3", "--no-deploy"], &url);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(
        stderr.contains(&format!(
            "error: the backend at {url} is not reachable: no answer before the deadline (--wait 3 s)\n"
        )),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "hint: the backend answered GET /version but not this in time; check its logs, or allow more than --wait 3 s\n"
        ),
        "{stderr}"
    );
}

#[test]
fn env_set_against_a_backend_that_hangs_after_version_ends_at_the_wait() {
    let url = http_server(hangs_after_version);
    let p = configured();
    let run = bounded(&p, &["env-set", "--wait", "2"], &url);
    assert_eq!(run.code(), 3, "{}", run.stderr());
}

#[test]
fn status_doctor_and_admin_key_check_end_by_their_default_timeout() {
    let url = http_server(hangs_after_version);
    let p = configured();
    // Before: status and doctor ~7 s here (151 s in the field), admin-key --check 75.8 s.
    let runs: Vec<Run> = std::thread::scope(|s| {
        let jobs: Vec<_> = [
            &["status"][..],
            &["doctor", "--json"],
            &["admin-key", "--check"],
        ]
        .into_iter()
        .map(|args| s.spawn(|| bounded(&p, args, &url)))
        .collect();
        jobs.into_iter().map(|j| j.join().unwrap()).collect()
    });

    let status = &runs[0];
    assert_eq!(status.code(), 3, "{}", status.stderr());
    assert!(
        status.stdout().contains("✓ backend   "),
        "{}",
        status.stdout()
    );
    assert!(
        status
            .stdout()
            .contains("✗ instance  convex-self-hosted (backend: ?)\n"),
        "{}",
        status.stdout()
    );
    assert!(
        status.stderr().contains(&format!(
            "error: the backend at {url} is not reachable: no answer within 3 s\n"
        )),
        "{}",
        status.stderr()
    );

    // One call hung: one ✗, and what depended on it is skipped.
    let doctor = &runs[1];
    assert_eq!(doctor.code(), 1, "{}", doctor.stderr());
    let v: Value = serde_json::from_str(&doctor.stdout()).unwrap();
    let live: Vec<(&str, &str, &str)> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .skip_while(|c| c["name"] != "backend health")
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["status"].as_str().unwrap(),
                c["detail"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        live,
        [
            ("backend health", "pass", "GET /version: 1.2.3"),
            (
                "convex CLI",
                "pass",
                "convex is not installed and there are no functions: nothing deploys from here"
            ),
            ("ports", "pass", "api, site and dashboard answer"),
            ("instance name", "fail", "no answer within 3 s"),
            (
                "admin key accepted",
                "skip",
                "not checked: the backend did not answer"
            ),
            (
                "canonical URLs",
                "skip",
                "not checked: the backend did not answer"
            ),
            (
                "deployment env",
                "skip",
                "not checked: the backend did not answer"
            ),
            (
                "auth discovery",
                "pass",
                "the project does not use @convex-dev/auth"
            ),
            ("auth providers", "pass", "no convex/auth.config.ts"),
            ("public URL access", "pass", "not behind Coder's app proxy"),
        ]
    );
    assert_eq!(
        v["error"]["message"], "1 check failed: instance name",
        "{v:#}"
    );

    let check = &runs[2];
    assert_eq!(check.code(), 3, "{}", check.stderr());
    assert!(
        check.stderr().contains(&format!(
            "error: the backend at {url} is not reachable: no answer before the deadline (--timeout 10 s)\n"
        )),
        "{}",
        check.stderr()
    );
}

#[test]
fn timeout_bounds_status_and_admin_key_check() {
    let url = http_server(hangs_after_version);
    let p = configured();
    let run = bounded(&p, &["admin-key", "--check", "--timeout", "1"], &url);
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("no answer before the deadline (--timeout 1 s)\n"),
        "{}",
        run.stderr()
    );
    let started = Instant::now();
    let run = p.run(
        &["status"],
        &[
            ("CODER_CONVEX_BACKEND_URL", url.as_str()),
            ("CODER_CONVEX_TIMEOUT", "1"),
        ],
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert_no_hang(started);
    assert!(
        run.stderr()
            .contains("no answer before the deadline (--timeout 1 s)\n"),
        "{}",
        run.stderr()
    );
}

#[test]
fn the_lock_wait_ends_at_the_wait_and_names_the_other_run() {
    let p = configured();
    let held = fs_err::File::open(p.path()).unwrap();
    held.lock().unwrap();
    let started = Instant::now();
    let run = p.run(
        &["setup", "--wait", "2"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_no_hang(started);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    // Before: it waited for as long as the other run held the lock. The message says the
    // --wait of 2 s is what ended the wait.
    let me = std::env::current_exe().unwrap();
    let me = me.file_name().unwrap().to_string_lossy();
    assert_eq!(
        run.stderr(),
        format!(
            "waiting for another coder-convex run in this project to finish…\n\
             error: another run (pid {}, {me}) still holds the project lock of {} after 2 s\n  \
             hint: let it finish, or wait longer with --wait\n",
            std::process::id(),
            p.path().display()
        )
    );
    // Released: the same command gets through to the (absent) backend.
    held.unlock().unwrap();
    let run = p.run(
        &["setup", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
}

/// `/version` is a gigabyte, made as it is sent; with a length, or until the connection ends.
fn gigabyte(line: &str, mut stream: TcpStream) {
    let head = if line.contains("chunked") {
        "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n".to_owned()
    } else {
        "HTTP/1.1 200 OK\r\ncontent-length: 1073741824\r\n\r\n".to_owned()
    };
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let chunk = vec![b'7'; 1 << 20];
    for _ in 0..1024 {
        if stream.write_all(&chunk).is_err() {
            return;
        }
    }
}

#[test]
fn a_gigabyte_version_costs_bounded_memory_and_a_clear_error() {
    let url = http_server(gigabyte);
    let p = configured();
    for backend in [url.clone(), format!("{url}/chunked")] {
        // The body must never be held: 256 MiB of address space is plenty for the tool and
        // far from the gigabyte (before: 2.1 GB peak RSS for `setup --wait 30`).
        let started = Instant::now();
        let output = std::process::Command::new("sh")
            .args(["-c", "ulimit -v 262144 && exec \"$0\" \"$@\""])
            .arg(env!("CARGO_BIN_EXE_coder-convex"))
            .args(["setup", "--wait", "30", "--no-deploy"])
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", p.path())
            .env("CODER_CONVEX_BACKEND_URL", &backend)
            .current_dir(p.path())
            .output()
            .unwrap();
        let run = Run { output };
        assert_eq!(run.code(), 3, "{}", run.stderr());
        assert_no_hang(started);
        assert!(
            run.stderr().contains(&format!(
                "error: the backend at {backend} is not reachable: GET /version: the response is larger than 64 KiB\n  hint: that is not a Convex backend's answer"
            )),
            "{}",
            run.stderr()
        );
        assert!(run.stderr().len() < 1000, "{}", run.stderr().len());
    }
}

/// Escape sequences in the version, and an instance name with a terminal title, a screen
/// clear and 10 000 more characters.
fn escapes(line: &str, stream: TcpStream) {
    if line.starts_with("GET /version ") {
        respond(stream, "200 OK", b"\x1b[31mRED\x1b[0m 1.0\n");
    } else if line.starts_with("GET /instance_name ") {
        let mut name = b"\x1b]0;pwned\x07evil-\x1b[2J".to_vec();
        name.extend(std::iter::repeat_n(b'x', 10_000));
        respond(stream, "200 OK", &name);
    } else {
        respond(
            stream,
            "500 Internal Server Error",
            b"\x1b[5mboom\x1b[0m\r\nmore",
        );
    }
}

#[test]
fn backend_text_is_stripped_of_escapes_and_cut() {
    let url = http_server(escapes);
    let p = configured();
    let run = bounded(&p, &["setup", "--wait", "5", "--no-deploy"], &url);
    assert_eq!(run.code(), 4, "{}", run.stderr());
    let stderr = run.stderr();
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(
        stderr.contains(&format!("✓ backend {url} is up (version RED 1.0, ")),
        "{stderr}"
    );
    let shown = format!("evil-{}…", "x".repeat(195));
    assert!(
        stderr.contains(&format!(
            "error: the backend at {url} rejected our identity: it runs instance {shown:?}, this project is \"convex-self-hosted\"\n"
        )),
        "{stderr}"
    );

    let status = bounded(&p, &["status"], &url);
    assert!(!status.all().contains('\x1b'), "{:?}", status.all());
    assert!(
        status
            .stdout()
            .contains(&format!("✓ backend   {url} (version RED 1.0)\n")),
        "{}",
        status.stdout()
    );
    // An error body: its first line, without escapes.
    let check = bounded(&p, &["admin-key", "--check", "--timeout", "3"], &url);
    assert_eq!(check.code(), 3, "{}", check.stderr());
    assert!(
        check
            .stderr()
            .contains("HTTP 500 Internal Server Error: boom\n"),
        "{}",
        check.stderr()
    );
    assert!(!check.all().contains('\x1b'));
}

/// Every retry is logged at debug: `-v` lines from the tracing layer.
fn fails_with_500(_: &str, stream: TcpStream) {
    respond(stream, "500 Internal Server Error", b"busy");
}

#[test]
fn no_escape_codes_when_color_is_off_in_any_line() {
    let url = http_server(fails_with_500);
    let p = configured();
    let env = [("CODER_CONVEX_BACKEND_URL", url.as_str())];
    let args = ["-v", "admin-key", "--check", "--timeout", "3"];
    let color = |extra: &[&str], env_extra: &[(&str, &str)]| {
        let mut all_args = extra.to_vec();
        all_args.extend(args);
        let mut all_env = env.to_vec();
        all_env.extend_from_slice(env_extra);
        let run = p.run(&all_args, &all_env);
        assert_eq!(run.code(), 3, "{}", run.stderr());
        assert!(
            run.stderr().contains("DEBUG") && run.stderr().contains("retrying"),
            "{}",
            run.stderr()
        );
        run.stderr()
    };
    // Stderr is a pipe here: auto means no colour; so do --color never and NO_COLOR.
    for stderr in [
        color(&[], &[]),
        color(&["--color", "never"], &[]),
        color(&["--color", "auto"], &[("NO_COLOR", "1")]),
    ] {
        assert!(!stderr.contains('\x1b'), "{stderr:?}");
    }
    // The check can fail: with colour forced, both the tracing lines and ours have codes.
    let forced = color(&["--color", "always"], &[]);
    assert!(forced.contains("\x1b[31;1merror:\x1b[0m"), "{forced:?}");
    assert!(
        forced
            .lines()
            .any(|l| l.contains("retrying") && l.contains('\x1b')),
        "{forced:?}"
    );
}

#[test]
fn status_against_an_oversized_version_exits_3_with_ok_false() {
    let url = http_server(gigabyte);
    let p = configured();
    let started = Instant::now();
    let run = crate::common::run_in(
        p.path(),
        &["status", "--json", "--timeout", "20"],
        &[("CODER_CONVEX_BACKEND_URL", &url)],
    );
    assert_no_hang(started);
    assert_eq!(run.code(), 3, "{}", run.all());
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 3);
    assert_eq!(doc["error"]["code"], "backend_unreachable");
    assert_eq!(doc["backend"]["healthy"], false);
    assert_eq!(
        doc["error"]["message"],
        format!(
            "the backend at {url} is not reachable: GET /version: the response is larger than 64 KiB"
        )
    );
}
