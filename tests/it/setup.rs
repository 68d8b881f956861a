//! `setup`, `env-set`, `deploy`, `status`, `admin-key --check` against the fake backend, and
//! the fake proved faithful with the real `convex` CLI.

use std::time::{Duration, Instant};

use coder_convex::config::secrets::{InstanceSecret, JwtKey, validate_admin_key};

use crate::common::{CODER_ENV, Project, assert_no_hang, node_peers, wait_until};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::project::{
    LAUNCHER_EXIT, backend_env, configured, deployable, failing_deploy, fake_for, path_with,
    run_with,
};

#[test]
fn first_run_pushes_once_and_a_re_run_pushes_nothing() {
    let (p, secret) = configured();
    p.write(
        ".env.convex.deployment",
        "OPENAI_API_KEY=sk-test\nRESEND_API_KEY=\"re 1\"\n",
    );
    let fake = FakeBackend::start(fake_for(&secret));
    run_with(&p, &["setup"], &fake, &[]).ok();
    assert_eq!(fake.update_count(), 1);
    let env = fake.env();
    let jwt = JwtKey::from_pem(&p.read("jwt_private_key.pem")).unwrap();
    assert_eq!(env["JWT_PRIVATE_KEY"], jwt.expose_env_value());
    assert_eq!(env["JWKS"], jwt.jwks());
    assert_eq!(env["CONVEX_SITE_ORIGIN"], "http://127.0.0.1:3211");
    assert_eq!(env["JWT_ISSUER"], "http://127.0.0.1:3211");
    assert_eq!(env["OPENAI_API_KEY"], "sk-test");
    assert_eq!(env["RESEND_API_KEY"], "re 1");
    assert_eq!(
        env["CODER_CONVEX_MANAGED_VARS"],
        "CONVEX_SITE_ORIGIN,JWKS,JWT_ISSUER,JWT_PRIVATE_KEY,OPENAI_API_KEY,RESEND_API_KEY"
    );
    assert_eq!(env.len(), 7);

    let again = run_with(&p, &["setup"], &fake, &[]);
    again.ok();
    assert_eq!(
        fake.update_count(),
        1,
        "a re-run with nothing changed sends no update"
    );
    assert!(
        again
            .stderr()
            .contains("deployment environment is up to date"),
        "{}",
        again.stderr()
    );
}

#[test]
fn one_changed_variable_is_sent_alone_and_removed_ones_are_deleted() {
    let (p, secret) = configured();
    p.write(".env.convex.deployment", "A=1\nB=2\n");
    let mut config = fake_for(&secret);
    config.env.insert("SET_BY_HAND".into(), "keep me".into());
    let fake = FakeBackend::start(config);
    run_with(&p, &["env-set"], &fake, &[]).ok();
    p.write(".env.convex.deployment", "A=1\nB=3\n");
    run_with(&p, &["env-set"], &fake, &[]).ok();
    assert_eq!(fake.update_count(), 2);
    let second = fake.recorded(|r| r.updates[1].clone());
    assert_eq!(second, vec![("B".to_owned(), Some("3".to_owned()))]);

    p.write(".env.convex.deployment", "B=3\n");
    run_with(&p, &["env-set"], &fake, &[]).ok();
    let third = fake.recorded(|r| r.updates[2].clone());
    assert_eq!(
        third,
        vec![
            (
                "CODER_CONVEX_MANAGED_VARS".to_owned(),
                Some("B,CONVEX_SITE_ORIGIN,JWKS,JWT_ISSUER,JWT_PRIVATE_KEY".to_owned())
            ),
            ("A".to_owned(), None),
        ]
    );
    assert_eq!(fake.env()["SET_BY_HAND"], "keep me");
    assert!(!fake.env().contains_key("A"));
}

#[test]
fn reserved_and_invalid_user_variables_exit_2_before_sending() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    p.write(".env.convex.deployment", "CONVEX_SITE_URL=https://x\n");
    let run = run_with(&p, &["env-set"], &fake, &[]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("CONVEX_SITE_URL cannot be set"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("hint:"));
    assert_eq!(fake.recorded(|r| r.requests.len()), 0);
}

#[test]
fn an_unreachable_backend_exits_3_within_the_wait() {
    let (p, _) = configured();
    let started = Instant::now();
    let run = p.run(
        &["setup", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert_no_hang(started);
    assert!(run.stderr().contains("not reachable"), "{}", run.stderr());
    assert!(run.stderr().contains("within 1s"), "{}", run.stderr());
}

#[test]
fn a_wrong_secret_or_instance_exits_4_and_pushes_nothing() {
    let (p, _) = configured();
    let fake = FakeBackend::start(fake_for(&InstanceSecret::generate()));
    let run = run_with(&p, &["setup", "--no-deploy"], &fake, &[]);
    assert_eq!(run.code(), 4, "{}", run.stderr());
    assert!(
        run.stderr().contains("rejected our admin key"),
        "{}",
        run.stderr()
    );
    assert_eq!(fake.update_count(), 0);
    assert!(!fake.recorded(|r| r.requests.iter().any(|q| q.starts_with("POST"))));

    let (p, secret) = configured();
    let fake = FakeBackend::start(FakeConfig::new("other-app", secret));
    let run = run_with(&p, &["setup"], &fake, &[]);
    assert_eq!(run.code(), 4);
    assert!(run.stderr().contains("\"other-app\""), "{}", run.stderr());
    assert_eq!(fake.update_count(), 0);
}

#[test]
fn a_flaky_backend_still_succeeds() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.start_delay = Duration::from_millis(400);
    config.reset_connections = 2;
    config.fail_version = 3;
    config.fail_updates = 1;
    let fake = FakeBackend::start(config);
    let run = run_with(&p, &["setup", "--wait", "20"], &fake, &[]);
    run.ok();
    assert_eq!(fake.update_count(), 1);
    assert!(fake.env().contains_key("JWKS"));
}

#[test]
fn readiness_is_seen_quickly_after_the_backend_comes_up() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.start_delay = Duration::from_millis(1500);
    let fake = FakeBackend::start(config);
    let started = Instant::now();
    run_with(&p, &["env-set"], &fake, &[]).ok();
    // A hang bound only: how soon the backend is seen is measured by bench/run.sh (backend
    // section), and the poll schedule is checked exactly in src/backend/health/tests.rs.
    assert_no_hang(started);
}

#[test]
fn a_legacy_backend_gets_a_legacy_key_once() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.legacy_keys_only = true;
    let fake = FakeBackend::start(config);
    run_with(&p, &["setup"], &fake, &[]).ok();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    assert!(
        validate_admin_key(&key, &secret, "convex-self-hosted")
            .unwrap()
            .legacy
    );
    assert_eq!(fake.update_count(), 1);
    let before = p.read(".env.local");
    run_with(&p, &["setup"], &fake, &[]).ok();
    assert_eq!(p.read(".env.local"), before);
}

#[test]
fn without_a_list_endpoint_everything_is_sent_in_one_call() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.no_list_endpoint = true;
    let fake = FakeBackend::start(config);
    let v = run_with(&p, &["--json", "env-set"], &fake, &[]).json();
    assert_eq!(v["env"]["sent_all"], true);
    assert_eq!(fake.update_count(), 1);
    assert_eq!(fake.recorded(|r| r.updates[0].len()), 5);
}

#[test]
fn two_setups_at_once_push_once() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    let env = backend_env(&fake);
    let dir = p.path().to_owned();
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let (dir, env) = (dir.clone(), env.clone());
            std::thread::spawn(move || {
                let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
                crate::common::run_in(&dir, &["setup"], &env).code()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 0);
    }
    assert_eq!(fake.update_count(), 1);
}

#[test]
fn stale_canonical_urls_are_updated_through_the_admin_api_without_a_restart() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.cloud_origin = "https://stale.example.com".into();
    let fake = FakeBackend::start(config);
    let run = run_with(&p, &["--json", "setup", "--no-deploy"], &fake, &[]);
    let report = run.json();
    assert_eq!(report["canonical_urls_updated"], true, "{}", run.stderr());
    // Only the stale destination, in upstream's request shape.
    let updates = fake.recorded(|r| r.canonical_updates.clone());
    assert_eq!(
        updates,
        vec![
            serde_json::json!({"requestDestination": "convexCloud", "url": "http://127.0.0.1:3210"})
        ]
    );
    assert_eq!(
        fake.recorded(|r| r.canonical.clone()),
        (
            "http://127.0.0.1:3210".to_owned(),
            "http://127.0.0.1:3211".to_owned()
        )
    );
    assert!(
        !run.stderr().contains("restart the backend"),
        "{}",
        run.stderr()
    );
    // Nothing stale any more: a second run sends no update.
    let again = run_with(&p, &["--json", "setup", "--no-deploy"], &fake, &[]).json();
    assert_eq!(again["canonical_urls_updated"], false);
    assert_eq!(fake.recorded(|r| r.canonical_updates.len()), 1);
}

#[test]
fn canonical_url_mismatch_without_the_update_endpoint_is_a_warning_with_the_restart_hint() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.cloud_origin = "https://stale.example.com".into();
    config.no_canonical_update = true;
    let fake = FakeBackend::start(config);
    let run = run_with(&p, &["setup"], &fake, &[]);
    run.ok();
    assert!(
        run.stderr()
            .contains("CONVEX_CLOUD_ORIGIN=https://stale.example.com"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("cannot update them at run time"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("restart the backend"),
        "{}",
        run.stderr()
    );
    assert!(
        fake.recorded(|r| r
            .requests
            .contains(&"POST /api/v1/update_canonical_url".to_owned())),
        "the update was tried first"
    );
}

#[test]
fn admin_key_check_and_status() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    run_with(&p, &["admin-key", "--check"], &fake, &[]).ok();
    let status = run_with(&p, &["--json", "status"], &fake, &[]).json();
    assert_eq!(status["backend"]["healthy"], true);
    assert_eq!(status["backend"]["instance_name"], "convex-self-hosted");
    assert_eq!(status["admin_key_accepted"], true);
    assert_eq!(status["canonical_urls_match"], true);
    assert_eq!(status["env_in_sync"], false);
    run_with(&p, &["env-set"], &fake, &[]).ok();
    let status = run_with(&p, &["--json", "status"], &fake, &[]).json();
    assert_eq!(status["env_in_sync"], true);

    let stranger = FakeBackend::start(fake_for(&InstanceSecret::generate()));
    let run = run_with(&p, &["admin-key", "--check"], &stranger, &[]);
    assert_eq!(run.code(), 4);
    let down = p.run(
        &["status"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(down.code(), 3);
    assert!(down.stdout().contains("not answering"), "{}", down.stdout());
}

#[test]
fn deploy_runs_the_right_launcher_with_secrets_only_in_its_environment() {
    for (lock, launcher, args) in [
        (
            None,
            "npx",
            vec!["--no-install", "convex", "deploy", "--yes"],
        ),
        (
            Some("pnpm-lock.yaml"),
            "pnpm",
            vec!["exec", "convex", "deploy", "--yes"],
        ),
        (Some("yarn.lock"), "yarn", vec!["convex", "deploy", "--yes"]),
        (
            Some("bun.lockb"),
            "bunx",
            vec!["--no-install", "convex", "deploy", "--yes"],
        ),
    ] {
        let (p, secret) = configured();
        let bin = deployable(&p, lock);
        let fake = FakeBackend::start(fake_for(&secret));
        let path = path_with(&bin);
        let run = run_with(
            &p,
            &["setup"],
            &fake,
            &[
                ("PATH", &path),
                ("CONVEX_DEPLOYMENT", "dev:cloud-123"),
                ("CONVEX_DEPLOY_KEY", "prod:abc|xyz"),
            ],
        );
        run.ok();
        assert!(
            run.stderr().contains("│ ✔ Deployed Convex functions to"),
            "{}",
            run.stderr()
        );
        assert!(
            run.stderr().contains("│ warning line on stderr"),
            "{}",
            run.stderr()
        );
        let argv: Vec<String> = p.read("argv.txt").lines().map(str::to_owned).collect();
        assert!(argv[0].ends_with(&format!("/{launcher}")), "{argv:?}");
        assert_eq!(&argv[1..], args.as_slice());
        let child_env: Vec<String> = p.read("child-env.txt").lines().map(str::to_owned).collect();
        let get = |name: &str| {
            child_env
                .iter()
                .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
        };
        assert_eq!(
            get("CONVEX_SELF_HOSTED_URL").as_deref(),
            Some(fake.api_url.as_str())
        );
        let key = get("CONVEX_SELF_HOSTED_ADMIN_KEY").unwrap();
        assert!(validate_admin_key(&key, &secret, "convex-self-hosted").is_ok());
        // Present and empty: the CLI's dotenv cannot fill them from .env.local or .env.
        assert_eq!(get("CONVEX_DEPLOYMENT").as_deref(), Some(""));
        assert_eq!(get("CONVEX_DEPLOY_KEY").as_deref(), Some(""));
        assert_eq!(get("CONVEX_DEPLOYMENT_TOKEN").as_deref(), Some(""));
        assert_eq!(get("INSTANCE_SECRET"), None);
        assert!(!p.read("argv.txt").contains(&key));
        assert!(!run.all().contains(&key));
        assert!(!run.all().contains(&secret.expose_hex()));
    }
}

#[test]
fn a_failing_deploy_is_exit_6_and_names_the_childs_code() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    let run = failing_deploy(&p, &fake, &["deploy"]);
    assert!(
        run.stderr()
            .contains(&format!("exited with code {LAUNCHER_EXIT}")),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("last lines of output"),
        "{}",
        run.stderr()
    );

    // The same failing launcher is not run by `--no-deploy`.
    let path = path_with(&deployable(&p, None));
    let no_deploy = run_with(
        &p,
        &["setup", "--no-deploy"],
        &fake,
        &[("PATH", &path), ("FAKE_EXIT", "7")],
    );
    no_deploy.ok();
    assert!(no_deploy.stderr().contains("--no-deploy"));
}

#[test]
fn a_missing_convex_package_is_named_with_the_install_command() {
    let (p, secret) = configured();
    fs_err::create_dir_all(p.file("convex")).unwrap();
    p.write("pnpm-lock.yaml", "");
    let fake = FakeBackend::start(fake_for(&secret));
    let run = run_with(&p, &["setup"], &fake, &[]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("`convex` package is not installed"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("pnpm add convex"), "{}", run.stderr());
}

#[test]
fn auth_is_verified_after_deploy() {
    let (p, secret) = configured();
    let bin = deployable(&p, None);
    p.write(
        "package.json",
        r#"{"dependencies":{"convex":"1.48.0","@convex-dev/auth":"0.0.90"}}"#,
    );
    let fake = FakeBackend::start(fake_for(&secret));
    let path = path_with(&bin);
    let v = run_with(&p, &["--json", "setup"], &fake, &[("PATH", &path)]).json();
    assert_eq!(v["ok"], true);
    assert_eq!(v["auth"][0]["name"], "auth issuer");
    assert_eq!(v["auth"][0]["ok"], true);
    assert_eq!(v["auth"][1]["name"], "auth JWKS");
    assert_eq!(v["auth"][1]["ok"], true);
    assert_eq!(v["env"]["posted"], true);
    assert_eq!(
        v["deploy"]["command"],
        "npx --no-install convex deploy --yes"
    );
    assert_eq!(v["urls"]["site"], "http://127.0.0.1:3211");

    let mut config = fake_for(&secret);
    config.issuer_override = Some("http://127.0.0.1:3210".into());
    let wrong = FakeBackend::start(config);
    let run = run_with(&p, &["setup"], &wrong, &[("PATH", &path)]);
    assert_eq!(run.code(), 1);
    assert!(run.stderr().contains("auth issuer"), "{}", run.stderr());
    assert!(
        run.stderr().contains("restart the backend"),
        "{}",
        run.stderr()
    );
}

#[test]
fn coder_urls_reach_the_backend_settings() {
    let (p, secret) = configured();
    let mut config = fake_for(&secret);
    config.cloud_origin = "https://convex-api--main--ws--alice.apps.example.com".into();
    config.site_origin = "https://convex-site--main--ws--alice.apps.example.com".into();
    let fake = FakeBackend::start(config);
    let run = run_with(&p, &["setup"], &fake, &CODER_ENV);
    run.ok();
    assert!(!run.stderr().contains("warning"), "{}", run.stderr());
    assert_eq!(
        fake.env()["CONVEX_SITE_ORIGIN"],
        "https://convex-site--main--ws--alice.apps.example.com"
    );
}

#[test]
fn the_real_convex_cli_works_against_the_fake() {
    let peers = node_peers();
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    p.write("package.json", r#"{"dependencies":{"convex":"1.48.0"}}"#);
    std::os::unix::fs::symlink(peers.join("node_modules"), p.file("node_modules")).unwrap();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    let convex = |key: &str, args: &[&str]| {
        std::process::Command::new(peers.join("node_modules/.bin/convex"))
            .args(args)
            .current_dir(p.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("HOME", p.path())
            .env("CONVEX_SELF_HOSTED_URL", &fake.api_url)
            .env("CONVEX_SELF_HOSTED_ADMIN_KEY", key)
            .output()
            .unwrap()
    };
    let ok = convex(&key, &["env", "set", "GREETING", "hello world"]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert_eq!(fake.env()["GREETING"], "hello world");
    assert!(fake.recorded(|r| r.auth_headers.contains(&format!("Convex {key}"))));

    let wrong = coder_convex::config::secrets::mint_admin_key(
        &InstanceSecret::generate(),
        "convex-self-hosted",
    );
    let bad = convex(&wrong, &["env", "set", "GREETING", "bye"]);
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("BadAdminKey"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    assert_eq!(fake.env()["GREETING"], "hello world");

    // What the CLI set, coder-convex sees (and leaves alone: it does not own it).
    run_with(&p, &["env-set"], &fake, &[]).ok();
    assert_eq!(fake.env()["GREETING"], "hello world");
}

/// A launcher that records SIGTERM and otherwise runs for a long time.
fn slow_launcher(p: &Project) -> String {
    let bin = deployable(p, None);
    let script = r#"#!/bin/sh
trap 'echo term > "$PWD/got-term"; exit 143' TERM
echo started > "$PWD/started"
echo "deploying slowly"
sleep 30 &
wait $!
"#;
    fs_err::write(bin.join("npx"), script).unwrap();
    path_with(&bin)
}

#[test]
fn a_deploy_past_its_timeout_is_stopped() {
    let (p, secret) = configured();
    let path = slow_launcher(&p);
    let fake = FakeBackend::start(fake_for(&secret));
    let started = Instant::now();
    let run = run_with(
        &p,
        &["deploy", "--deploy-timeout", "1"],
        &fake,
        &[("PATH", &path)],
    );
    assert_no_hang(started);
    assert_eq!(run.code(), 6, "{}", run.stderr());
    assert!(
        run.stderr().contains("exited with code 143"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("ran longer than 1s"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("--deploy-timeout"),
        "{}",
        run.stderr()
    );
    assert_eq!(p.read("got-term"), "term\n");
}

#[test]
fn sigterm_is_forwarded_to_the_deploy() {
    let (p, secret) = configured();
    let path = slow_launcher(&p);
    let fake = FakeBackend::start(fake_for(&secret));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_coder-convex"))
        .arg("deploy")
        .current_dir(p.path())
        .env_clear()
        .env("PATH", &path)
        .env("HOME", p.path())
        .env("CODER_CONVEX_BACKEND_URL", &fake.api_url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the launcher's start", || p.file("started").exists());
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(6));
    assert_eq!(p.read("got-term"), "term\n");
}

#[test]
fn a_backend_that_accepts_but_never_answers_is_bounded_by_the_wait() {
    let (p, _) = configured();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming() {
            held.push(stream);
        }
    });
    let started = Instant::now();
    let run = p.run(
        &["env-set", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", &url)],
    );
    assert_eq!(run.code(), 3, "{}", run.stderr());
    assert_no_hang(started);
    let status = p.run(&["status"], &[("CODER_CONVEX_BACKEND_URL", &url)]);
    assert_eq!(status.code(), 3);
    assert!(
        status.stdout().contains("no answer within 3 s"),
        "{}",
        status.stdout()
    );
}

#[test]
fn status_shows_the_last_successful_deploy() {
    let (p, secret) = configured();
    let bin = deployable(&p, Some("pnpm-lock.yaml"));
    let fake = FakeBackend::start(fake_for(&secret));
    let path = path_with(&bin);
    let none = run_with(&p, &["--json", "status"], &fake, &[]).json();
    assert_eq!(none["last_deploy"], serde_json::Value::Null);

    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    };
    let before = now();
    run_with(&p, &["deploy"], &fake, &[("PATH", &path)]).ok();
    let after = now();
    let v = run_with(&p, &["--json", "status"], &fake, &[]).json();
    assert_eq!(v["last_deploy"]["command"], "pnpm exec convex deploy --yes");
    // Recorded during the deploy: between the clock before and after it.
    let at = v["last_deploy"]["finished_at"].as_u64().unwrap();
    assert!((before..=after).contains(&at), "{before} ≤ {at} ≤ {after}");
    let human = run_with(&p, &["status"], &fake, &[]).ok();
    assert!(
        human.contains("last deploy ") && human.contains(" s ago (pnpm exec convex deploy --yes, "),
        "{human}"
    );

    // A failed deploy leaves the record as it was.
    run_with(
        &p,
        &["deploy"],
        &fake,
        &[("PATH", &path), ("FAKE_EXIT", "2")],
    );
    let after = run_with(&p, &["--json", "status"], &fake, &[]).json();
    assert_eq!(after["last_deploy"], v["last_deploy"]);
}
