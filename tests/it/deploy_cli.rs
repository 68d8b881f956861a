//! `setup` and `deploy` with the real `convex` CLI (1.48, from `tests/node`) against the
//! stand-in backend's push protocol: the push completes with our key, and each way a deploy
//! used to go wrong (selectors, signals, proxies, failures, prompts, moved functions) is run.

use std::time::{Duration, Instant};

use crate::common::{HANG_BOUND, Project, Run};
use crate::deploy::{convex_project, fake_with, our_key, wait_for_start_push};
use crate::fake_backend::{FakeBackend, PushConfig};
use crate::project::{command_with, run_with};

const PUSH: [&str; 5] = [
    "/api/deploy2/evaluate_schema",
    "/api/deploy2/start_push",
    "/api/deploy2/wait_for_schema",
    "/api/deploy2/finish_push",
    "/api/deploy2/report_push_completed",
];

#[track_caller]
fn assert_pushed(fake: &FakeBackend, p: &Project) {
    let requests = fake.push_requests();
    for path in PUSH {
        assert!(requests.iter().any(|r| r == path), "{path} in {requests:?}");
    }
    assert_eq!(fake.pushes(|r| r.completed), 1);
    let key = our_key(p);
    let body_keys = fake.pushes(|r| r.body_keys.clone());
    assert!(body_keys.len() >= 5, "{body_keys:?}");
    assert!(
        body_keys.iter().all(|k| *k == key),
        "every body carries our key"
    );
    let encodings = fake.pushes(|r| r.encodings.clone());
    assert!(
        encodings.iter().any(|e| e == "br"),
        "brotli bodies: {encodings:?}"
    );
    let deployed = fake.pushes(|r| r.deployed.clone()).unwrap();
    assert!(deployed.modules.contains_key("messages.js"), "{deployed:?}");
}

#[test]
fn setup_deploys_with_the_real_cli_and_our_key() {
    let (p, secret) = convex_project("convex");
    let fake = fake_with(&secret, PushConfig::default());
    let run = run_with(&p, &["--json", "setup"], &fake, &[]);
    let doc = run.json();
    assert_pushed(&fake, &p);
    assert_eq!(doc["deploy_skipped"], false);
    assert!(p.file("convex/_generated/api.d.ts").exists());
}

#[test]
fn selectors_in_env_dot_env_local_and_dot_env_are_neutralised() {
    let (p, secret) = convex_project("convex");
    let local = p.read(".env.local");
    p.write(
        ".env.local",
        &format!(
            "{local}CONVEX_DEPLOYMENT=dev:happy-otter-123\nCONVEX_DEPLOY_KEY=prod:team|aaaa\n"
        ),
    );
    p.write(
        ".env",
        "CONVEX_DEPLOYMENT=dev:other-456\nCONVEX_DEPLOYMENT_TOKEN=prod:team|bbbb\n",
    );
    let fake = fake_with(&secret, PushConfig::default());
    run_with(
        &p,
        &["deploy"],
        &fake,
        &[
            ("CONVEX_DEPLOYMENT_TOKEN", "prod:team|cccc"),
            ("CONVEX_DEPLOY_KEY", "prod:team|dddd"),
            ("CONVEX_DEPLOYMENT", "dev:env-789"),
        ],
    )
    .ok();
    assert_pushed(&fake, &p);
}

#[test]
fn a_proxy_is_bypassed_for_loopback() {
    let (p, secret) = convex_project("convex");
    let fake = fake_with(&secret, PushConfig::default());
    // A proxy that answers nothing useful: any request through it fails at once.
    let proxy = crate::common::http_stub(|_| {
        "HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
    });
    let proxy = format!("http://{proxy}");
    run_with(
        &p,
        &["deploy"],
        &fake,
        &[
            ("HTTP_PROXY", &proxy),
            ("HTTPS_PROXY", &proxy),
            ("NO_PROXY", "corp.example"),
        ],
    )
    .ok();
    assert_pushed(&fake, &p);
}

#[test]
fn a_failing_push_is_exit_6_with_the_clis_code() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        fail_start_push: Some("Uncaught Error: boom in messages.js".into()),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    let run = run_with(&p, &["--json", "deploy"], &fake, &[]);
    assert_eq!(run.code(), 6, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["exit_code"], 6);
    assert_eq!(doc["error"]["code"], "child_failed");
    assert_eq!(doc["error"]["child_exit_code"], 1);
    assert_eq!(
        doc["error"]["message"],
        "npx --no-install convex deploy --yes exited with code 1"
    );
    assert!(
        run.stderr().contains("boom in messages.js"),
        "{}",
        run.stderr()
    );
    assert_eq!(fake.pushes(|r| r.completed), 0);
}

#[test]
fn a_large_index_prompt_names_the_flag_and_the_pass_through_deploys() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        dropped_index: Some(("messages.by_author".into(), 250_000)),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    let run = run_with(&p, &["--json", "deploy"], &fake, &[]);
    assert_eq!(run.code(), 6, "{}", run.stderr());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    let hint = doc["error"]["hint"].as_str().unwrap();
    assert!(
        hint.contains("coder-convex deploy -- --skip-large-indexes-check"),
        "{hint}"
    );
    assert_eq!(fake.pushes(|r| r.completed), 0);

    run_with(
        &p,
        &["deploy", "--", "--skip-large-indexes-check"],
        &fake,
        &[],
    )
    .ok();
    assert_eq!(fake.pushes(|r| r.completed), 1);
    // The same through setup's flag.
    run_with(
        &p,
        &[
            "setup",
            "--force-deploy",
            "--deploy-arg=--skip-large-indexes-check",
        ],
        &fake,
        &[],
    )
    .ok();
    assert_eq!(fake.pushes(|r| r.completed), 2);
}

#[test]
fn evaluate_schema_404_falls_back_to_evaluate_push() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        no_evaluate_schema: true,
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    run_with(&p, &["deploy"], &fake, &[]).ok();
    let requests = fake.push_requests();
    assert!(
        requests.iter().any(|r| r == "/api/deploy2/evaluate_push"),
        "{requests:?}"
    );
    assert_eq!(fake.pushes(|r| r.completed), 1);
}

#[test]
fn functions_dir_from_convex_json_is_deployed() {
    let (p, secret) = convex_project("src/convex");
    p.write("convex.json", r#"{"functions": "src/convex/"}"#);
    let fake = fake_with(&secret, PushConfig::default());
    let run = run_with(&p, &["setup"], &fake, &[]);
    run.ok();
    assert!(
        !run.stderr().contains("nothing to deploy"),
        "{}",
        run.stderr()
    );
    assert_eq!(fake.pushes(|r| r.completed), 1);
    assert_eq!(
        fake.pushes(|r| r.deployed.clone()).unwrap().functions,
        "src/convex/"
    );
}

/// Pids of processes whose command line mentions `needle` (from /proc).
fn processes_with(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(cmdline) = fs_err::read(entry.path().join("cmdline")) else {
            continue;
        };
        if String::from_utf8_lossy(&cmdline).contains(needle) {
            found.push(pid);
        }
    }
    found
}

/// Start `deploy` against a push that hangs; return the running binary and the project.
/// With `until_push`, return once the CLI's `start_push` reached the backend.
fn hanging_deploy(extra: &[&str], until_push: bool) -> (std::process::Child, Project, FakeBackend) {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        start_push_delay: Duration::from_secs(120),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    let mut args = vec!["deploy"];
    args.extend_from_slice(extra);
    let child = command_with(&p, &args, &fake, &[])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    if until_push {
        wait_for_start_push(&fake, Duration::from_secs(120));
    }
    (child, p, fake)
}

#[track_caller]
fn assert_no_process_left(p: &Project) {
    // The CLI's node process has the project's path nowhere in argv, but its cwd is the
    // project: look for processes whose cwd is the project dir.
    let dir = fs_err::canonicalize(p.path()).unwrap();
    let left = || -> Vec<u32> {
        processes_with("convex")
            .into_iter()
            .filter(|pid| fs_err::read_link(format!("/proc/{pid}/cwd")).is_ok_and(|cwd| cwd == dir))
            .collect()
    };
    let started = Instant::now();
    while !left().is_empty() {
        assert!(
            started.elapsed() < HANG_BOUND,
            "processes of the CLI tree left: {:?}",
            left()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Send `signal` to a running `coder-convex deploy` once the CLI is in the push; its result.
fn signalled_deploy(
    extra: &[&str],
    signal: nix::sys::signal::Signal,
) -> (Run, Project, FakeBackend) {
    let (child, p, fake) = hanging_deploy(extra, true);
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        signal,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    (Run { output }, p, fake)
}

#[test]
fn sigterm_stops_the_whole_cli_tree() {
    let (run, p, _fake) = signalled_deploy(&[], nix::sys::signal::Signal::SIGTERM);
    assert_eq!(run.code(), 6, "{}", run.stderr());
    assert!(
        run.stderr().contains("SIGTERM forwarded"),
        "{}",
        run.stderr()
    );
    assert_no_process_left(&p);
}

#[test]
fn sigint_stops_the_whole_cli_tree_and_records_no_deploy() {
    let (run, p, fake) = signalled_deploy(&["--json"], nix::sys::signal::Signal::SIGINT);
    assert_eq!(run.code(), 6, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("SIGINT forwarded to `npx --no-install convex deploy --yes`"),
        "{}",
        run.stderr()
    );
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["exit_code"], 6);
    assert_eq!(doc["error"]["code"], "child_failed");
    assert_eq!(
        doc["error"]["hint"],
        "the deploy was stopped by SIGINT; run `coder-convex deploy` again"
    );
    assert_no_process_left(&p);
    // The push never reached finish_push, and nothing claims it did.
    assert_eq!(fake.pushes(|r| r.completed), 0);
    assert!(
        !p.file("node_modules/.cache/coder-convex/last-deploy.json")
            .exists()
    );
}

#[test]
fn a_timeout_stops_the_whole_cli_tree() {
    // The limit may strike while the CLI bundles or while it waits in start_push: either way
    // the whole tree must go.
    let (child, p, _fake) = hanging_deploy(&["--deploy-timeout", "8"], false);
    let output = child.wait_with_output().unwrap();
    let run = Run { output };
    assert_eq!(run.code(), 6, "{}", run.stderr());
    assert!(
        run.stderr().contains("ran longer than 8s"),
        "{}",
        run.stderr()
    );
    assert_no_process_left(&p);
}

#[test]
fn an_unchanged_project_is_not_pushed_again() {
    let (p, secret) = convex_project("convex");
    let fake = fake_with(&secret, PushConfig::default());
    run_with(&p, &["setup"], &fake, &[]).ok();
    assert_eq!(fake.pushes(|r| r.completed), 1);

    // Unchanged: no push request at all (get_config_hashes is a read; the backend reports no
    // build date, so the version check asks whether evaluate_push exists, with no key).
    let before = fake.push_requests().len();
    let doc = run_with(&p, &["--json", "setup"], &fake, &[]).json();
    assert_eq!(doc["deploy_skipped"], true);
    let after: Vec<String> = fake.push_requests()[before..].to_vec();
    assert_eq!(
        after,
        ["/api/deploy2/evaluate_push", "/api/get_config_hashes"]
    );
    assert_eq!(fake.pushes(|r| r.completed), 1);

    // One function edited: deploy.
    p.write(
        "convex/messages.ts",
        "import { query } from \"./_generated/server\";\nexport const list = query({ args: {}, handler: async () => \"edited\" });\n",
    );
    let doc = run_with(&p, &["--json", "setup"], &fake, &[]).json();
    assert_eq!(doc["deploy_skipped"], false);
    assert_eq!(fake.pushes(|r| r.completed), 2);

    // The backend's code wiped: deploy.
    fake.wipe_deployed_code();
    let doc = run_with(&p, &["--json", "setup"], &fake, &[]).json();
    assert_eq!(doc["deploy_skipped"], false);
    assert_eq!(fake.pushes(|r| r.completed), 3);

    // Unchanged again, then --force-deploy: deploy.
    assert_eq!(
        run_with(&p, &["--json", "setup"], &fake, &[]).json()["deploy_skipped"],
        true
    );
    let doc = run_with(&p, &["--json", "setup", "--force-deploy"], &fake, &[]).json();
    assert_eq!(doc["deploy_skipped"], false);
    assert_eq!(fake.pushes(|r| r.completed), 4);
}
