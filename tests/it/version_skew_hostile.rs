//! The version check, the backend version record and restore's variables under odd and
//! hostile conditions: a probe answered by a 5xx, a redirect or nothing at all, escape codes in
//! the project's own files, two projects sharing one backup store, a teammate's backup, and
//! backups racing a deploy.

use std::io::Write as _;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::Value;

use crate::common::{Project, http_server};
use crate::deploy::{convex_project, fake_with, wait_for_start_push};
use crate::fake_backend::PushConfig;
use crate::project::{command_with, configured, doctor_check, run_with};

fn respond(mut stream: TcpStream, status: &str, extra: &str, body: &[u8]) {
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\n{extra}connection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
}

/// A project whose installed `convex` is `version` (no real CLI: nothing deploys).
fn with_cli(version: &str) -> Project {
    let (p, _) = configured();
    p.write("package.json", r#"{"dependencies":{"convex":"*"}}"#);
    fs_err::create_dir_all(p.file("node_modules/convex")).unwrap();
    p.write(
        "node_modules/convex/package.json",
        &serde_json::json!({"name": "convex", "version": version}).to_string(),
    );
    p
}

fn secret_of(p: &Project) -> coder_convex::config::secrets::InstanceSecret {
    coder_convex::config::secrets::InstanceSecret::from_hex(
        &p.env_values(".env.convex.local")["INSTANCE_SECRET"],
    )
    .unwrap()
}

fn status_versions(p: &Project, url: &str) -> Value {
    let run = p.run(
        &["--json", "status"],
        &[
            ("CODER_CONVEX_BACKEND_URL", url),
            ("CODER_CONVEX_SITE_PROXY_URL", url),
        ],
    );
    let out = run.stdout();
    let doc: Value =
        serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}\n{}", run.stderr()));
    doc["versions"].clone()
}

fn unknown_then_502(line: &str, stream: TcpStream) {
    if line.starts_with("GET /version ") {
        respond(stream, "200 OK", "", b"unknown");
    } else if line.starts_with("POST /api/deploy2/evaluate_push ") {
        respond(stream, "502 Bad Gateway", "", b"upstream down");
    } else {
        respond(stream, "404 Not Found", "", b"");
    }
}

fn unknown_then_redirect(line: &str, stream: TcpStream) {
    if line.starts_with("GET /version ") {
        respond(stream, "200 OK", "", b"unknown");
    } else if line.starts_with("POST /api/deploy2/evaluate_push ") {
        respond(stream, "302 Found", "location: /login\r\n", b"");
    } else {
        respond(stream, "404 Not Found", "", b"");
    }
}

/// README: "whatever that cannot settle is reported as not checked, never guessed". A 502 or
/// a redirect says nothing about the route.
#[test]
fn a_probe_answered_by_a_5xx_or_a_redirect_is_not_taken_for_the_route() {
    let p = with_cli("1.30.0");
    for handler in [
        unknown_then_502 as fn(&str, TcpStream),
        unknown_then_redirect,
    ] {
        let url = http_server(handler);
        let v = status_versions(&p, &url);
        assert_eq!(v["verdict"], "unknown", "{v}");
    }
}

/// The doctor's pass line says what it knows: with `unknown` and the route present, the
/// backend is from after the first break.
#[test]
fn doctor_does_not_say_built_before_any_known_break_when_the_route_exists() {
    let p = with_cli("1.30.0");
    let secret = secret_of(&p);
    let fake = fake_with(&secret, PushConfig::default()); // reports "unknown", has the route
    let (_, check) = doctor_check(&p, &fake, &[], "convex CLI");
    assert_eq!(check["status"], "pass", "{check}");
    assert_eq!(
        check["detail"],
        "convex 1.30.0 deploys to this backend (it serves POST /api/deploy2/evaluate_push)"
    );
}

/// The project's own package.json is text shown to people: no escape codes reach stdout.
#[test]
fn a_cli_version_with_escape_codes_is_not_printed_raw() {
    let p = with_cli("1.48.0\u{1b}]0;pwned\u{7}\u{1b}[2J");
    let secret = secret_of(&p);
    let fake = fake_with(&secret, PushConfig::default());
    let status = run_with(&p, &["status"], &fake, &[]);
    let doctor = run_with(&p, &["doctor"], &fake, &[]);
    for out in [status.all(), doctor.all()] {
        assert!(!out.contains('\u{1b}'), "{out:?}");
    }
}

/// The probe is optional: when the backend never answers it, setup still pushes the
/// variables and succeeds, within its --wait.
#[test]
fn setup_survives_a_probe_that_never_answers() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        keyless_evaluate_push_delay: Duration::from_secs(3600),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push); // version "unknown"
    // Five retries of 15 s each would pass --wait 20: the probe is one short try.
    let run = run_with(
        &p,
        &["--json", "setup", "--no-deploy", "--wait", "20"],
        &fake,
        &[],
    );
    assert_eq!(run.code(), 0, "{}", run.stderr());
    let doc = run.json();
    assert_eq!(doc["versions"]["verdict"], "unknown");
    assert_eq!(doc["env"]["posted"], true);
}

/// The doctor's other live checks keep their budget when the probe hangs.
#[test]
fn doctor_checks_after_a_hanging_probe_still_run() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        keyless_evaluate_push_delay: Duration::from_secs(3600),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    run_with(&p, &["setup", "--no-deploy"], &fake, &[]);
    let doctor = run_with(&p, &["--json", "doctor"], &fake, &[]);
    let doc: Value = serde_json::from_str(&doctor.stdout())
        .unwrap_or_else(|_| panic!("{}\n{}", doctor.stdout(), doctor.stderr()));
    let checks = doc["checks"].as_array().unwrap();
    let summary: Vec<String> = checks
        .iter()
        .map(|c| format!("{} {}: {}", c["status"], c["name"], c["detail"]))
        .collect();
    assert!(
        !summary.iter().any(|l| l.contains("out of time")),
        "{}",
        summary.join("\n")
    );
    let cli = checks.iter().find(|c| c["name"] == "convex CLI").unwrap();
    assert_eq!(cli["status"], "skip", "{cli}");
}

/// Two projects on one machine with the default instance name share the default store
/// (`…/backups/convex-self-hosted`): each setup must not report the other's backend as a
/// change of its own.
#[test]
fn two_projects_sharing_a_store_do_not_see_each_others_backend_as_a_change() {
    let data = tempfile::tempdir().unwrap();
    let data_home = data.path().to_str().unwrap();
    let (a, secret_a) = convex_project("convex");
    let (b, secret_b) = convex_project("convex");
    let fake_a = fake_with(&secret_a, PushConfig::default());
    fake_a.set_version("precompiled-2026-08-21-652b828");
    let fake_b = fake_with(&secret_b, PushConfig::default());
    fake_b.set_version("precompiled-2025-11-10-aaaaaaa");
    let env = [("XDG_DATA_HOME", data_home)];
    let setup = |p: &Project, f| run_with(p, &["--json", "setup", "--no-deploy"], f, &env);
    setup(&a, &fake_a).ok();
    setup(&b, &fake_b).ok();
    let again = setup(&a, &fake_a);
    assert_eq!(
        again.json()["backend_changed"],
        Value::Null,
        "{}",
        again.stderr()
    );
}

const TEAMMATE_SECRET: &str = "sk-teammate-openai-value-123";

/// The template's seed: a new workspace restores a teammate's backup (`--force`). The
/// teammate's `.env.convex.deployment` (gitignored, so not in the new workspace) set
/// OPENAI_API_KEY; `env-set` listed it in CODER_CONVEX_MANAGED_VARS. README: "Restore puts the
/// backup's own variables back, but not the ones this project sets (… the JWT key and JWKS, the
/// site origin, SITE_URL, BETTER_AUTH_SECRET)": OPENAI_API_KEY is not one this project sets.
#[test]
fn seeding_from_a_teammates_backup_keeps_their_deployment_file_variables() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let (a, secret_a) = convex_project("convex");
    a.write(
        ".env.convex.deployment",
        &format!("OPENAI_API_KEY={TEAMMATE_SECRET}\n"),
    );
    let fake_a = fake_with(&secret_a, PushConfig::default());
    run_with(&a, &["setup", "--no-deploy"], &fake_a, &[]).ok();
    assert_eq!(fake_a.env()["OPENAI_API_KEY"], TEAMMATE_SECRET);
    run_with(&a, &["--json", "backup", "--dir", dir], &fake_a, &[]).ok();

    let (b, secret_b) = convex_project("convex");
    let fake_b = fake_with(&secret_b, PushConfig::default());
    run_with(&b, &["setup", "--no-deploy"], &fake_b, &[]).ok();
    let run = run_with(
        &b,
        &["--json", "restore", "--yes", "--force", "--dir", dir],
        &fake_b,
        &[],
    );
    let doc = run.json();
    assert!(
        !run.all().contains(TEAMMATE_SECRET),
        "a value in the output"
    );
    assert_eq!(
        fake_b.env().get("OPENAI_API_KEY").map(String::as_str),
        Some(TEAMMATE_SECRET),
        "restore report: {doc}"
    );
}

/// Restore in a project whose JWT key is gone: refused before the question and before any
/// data changes, naming the file (restore puts this project's key back in the deployment).
#[test]
fn restore_without_the_projects_jwt_key_changes_nothing() {
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap();
    let (a, secret_a) = convex_project("convex");
    let fake_a = fake_with(&secret_a, PushConfig::default());
    run_with(&a, &["setup", "--no-deploy"], &fake_a, &[]).ok();
    run_with(&a, &["--json", "backup", "--dir", dir], &fake_a, &[]).ok();
    fs_err::remove_file(a.file("jwt_private_key.pem")).unwrap();
    let run = run_with(&a, &["--json", "restore", "--dir", dir], &fake_a, &[]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    let message = doc["error"]["message"].as_str().unwrap().to_owned();
    assert!(message.contains("jwt_private_key.pem"), "{message}");
    assert!(fake_a.snapshots(|r| r.import_modes.is_empty()));
}

/// `status --metadata env|deploy` (the template's metadata blocks: every 30/60 s, 5 s timeout)
/// run every few seconds under a short timeout: none of them probes.
#[test]
fn metadata_lines_that_do_not_show_versions_do_not_probe() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        keyless_evaluate_push_delay: Duration::from_secs(3600),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    run_with(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    let before = fake.push_requests().len();
    for item in ["env", "deploy", "backend"] {
        run_with(&p, &["status", "--metadata", item], &fake, &[]).ok();
    }
    assert_eq!(
        fake.push_requests().len(),
        before,
        "no probe from a metadata line"
    );
}

/// A backup started during `coder-convex deploy` waits for it (the project lock): a snapshot
/// never mixes a deploy's before and after.
#[test]
fn backup_waits_for_coder_convex_deploy_too() {
    let (p, secret) = convex_project("convex");
    let push = PushConfig {
        start_push_delay: Duration::from_secs(10),
        ..PushConfig::default()
    };
    let fake = fake_with(&secret, push);
    run_with(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    let store = tempfile::tempdir().unwrap();
    let dir = store.path().to_str().unwrap().to_owned();
    let mut deploy = command_with(&p, &["deploy"], &fake, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // The deploy is in its push (it took the lock before starting the CLI).
    wait_for_start_push(&fake, Duration::from_secs(60));
    let run = run_with(&p, &["backup", "--dir", &dir], &fake, &[]);
    let finished_first = fake.pushes(|r| r.completed);
    assert!(deploy.wait().unwrap().success());
    run.ok();
    assert!(
        run.stderr()
            .contains("waiting for another coder-convex run"),
        "{}",
        run.stderr()
    );
    assert_eq!(finished_first, 1, "the backup ran after the push finished");
}
