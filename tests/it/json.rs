//! `--json` prints exactly one JSON document on stdout for every outcome, failures included,
//! with the stable error code and the exit code; the human text stays on stderr.

use serde_json::Value;

use crate::common::{Project, Run};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::project::{LAUNCHER_EXIT, configured, failing_deploy, fake_for, run_with};

/// The one document on stdout, checked against the exit code and the error code.
#[track_caller]
fn failure(run: &Run, exit_code: i32, code: &str) -> Value {
    assert_eq!(run.code(), exit_code, "{}", run.stderr());
    let stdout = run.stdout();
    let mut docs = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let doc = docs
        .next()
        .unwrap_or_else(|| panic!("no JSON on stdout; stderr: {}", run.stderr()))
        .expect("stdout is JSON");
    assert!(docs.next().is_none(), "exactly one document: {stdout}");
    assert_eq!(doc["ok"], false, "{doc}");
    assert_eq!(doc["exit_code"], exit_code, "{doc}");
    assert_eq!(doc["error"]["code"], code, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
    assert!(run.stderr().contains("error:"), "{}", run.stderr());
    doc
}

#[test]
fn bad_input_is_code_2_invalid_input() {
    let p = Project::new();
    for args in [
        &["--json", "configure"][..],
        &["--json", "setup"],
        &["--json", "env-set"],
        &["--json", "status"],
        &["--json", "deploy"],
    ] {
        let run = p.run(args, &[("DATABASE_URL", "mysqlx://app:hunter2@db/x")]);
        let doc = failure(&run, 2, "invalid_input");
        assert!(
            doc["error"]["message"]
                .as_str()
                .unwrap()
                .starts_with("invalid DATABASE_URL"),
            "{doc}"
        );
        assert!(doc["error"]["hint"].is_string(), "{doc}");
        assert!(!run.all().contains("hunter2"), "{}", run.all());
    }
}

#[test]
fn an_unreachable_backend_is_code_3() {
    let (p, _) = configured();
    let env = [("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")];
    let run = p.run(&["--json", "setup", "--wait", "1"], &env);
    let doc = failure(&run, 3, "backend_unreachable");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .contains("within 1s"),
        "{doc}"
    );
    // status still reports what it found.
    let status = p.run(&["--json", "status"], &env);
    let doc = failure(&status, 3, "backend_unreachable");
    assert_eq!(doc["backend"]["healthy"], false, "{doc}");
    assert_eq!(doc["instance_name"], "convex-self-hosted", "{doc}");
}

#[test]
fn another_instance_is_code_4() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(FakeConfig::new("other-app", secret));
    let run = run_with(&p, &["--json", "env-set"], &fake, &[]);
    failure(&run, 4, "identity_rejected");
}

#[test]
fn an_unusable_database_is_code_5() {
    let p = Project::new();
    let run = p.run(
        &["--json", "setup", "--wait", "1"],
        &[("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:9/convex")],
    );
    let doc = failure(&run, 5, "database_unreachable");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach app@127.0.0.1"),
        "{doc}"
    );
    assert!(
        !doc["error"]["causes"].as_array().unwrap().is_empty(),
        "the driver's error is kept as a cause: {doc}"
    );
    assert!(!run.all().contains("hunter2"));
}

#[test]
fn a_runtime_failure_is_code_1() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    // No convex/ directory: nothing to deploy is a runtime failure for `deploy`.
    let run = run_with(&p, &["--json", "deploy"], &fake, &[]);
    failure(&run, 1, "runtime");
}

#[test]
fn a_failing_deploy_is_code_6_with_the_childs_code() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    let run = failing_deploy(&p, &fake, &["--json", "deploy"]);
    let doc = failure(&run, 6, "child_failed");
    assert_eq!(doc["error"]["child_exit_code"], LAUNCHER_EXIT, "{doc}");
    assert!(
        doc["error"]["message"]
            .as_str()
            .unwrap()
            .ends_with(&format!("exited with code {LAUNCHER_EXIT}")),
        "{doc}"
    );
}

#[test]
fn doctor_failures_keep_the_checks() {
    let p = Project::new();
    let run = p.run(
        &["--json", "doctor"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    let doc = failure(&run, 1, "verification_failed");
    assert!(doc["checks"].as_array().unwrap().len() > 10, "{doc}");
}

#[test]
fn success_has_ok_and_exit_code_0() {
    let p = Project::new();
    let doc = p.run(&["--json", "configure"], &[]).json();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["exit_code"], 0);
    assert!(doc.get("error").is_none());
    assert_eq!(doc["instance_name"], "convex-self-hosted");
}

#[test]
fn argument_and_variable_parse_errors_print_one_document_and_exit_2() {
    let p = Project::new();
    for (args, env, names) in [
        (
            &["status", "--json"][..],
            &[("CODER_CONVEX_TIMEOUT", "xyz")][..],
            "CODER_CONVEX_TIMEOUT",
        ),
        (&["setup", "--json", "--wait", "abc"], &[], "--wait"),
        (
            &["configure", "--json", "--frontend-port", "70000"],
            &[],
            "--frontend-port",
        ),
        (&["backup", "--json", "--keep", "-1"], &[], "-1"),
        (&["--json", "no-such-command"], &[], "no-such-command"),
    ] {
        let run = p.run(args, env);
        let doc = failure(&run, 2, "invalid_input");
        assert_eq!(doc["ok"], false);
        let message = doc["error"]["message"].as_str().unwrap();
        assert!(message.contains(names), "{args:?}: {message}");
        // The human message stays on stderr.
        assert!(run.stderr().contains("error:"), "{}", run.stderr());
    }
    // Without --json: clap's message alone, exit 2, nothing on stdout.
    let run = p.run(&["setup", "--wait", "abc"], &[]);
    assert_eq!((run.code(), run.stdout()), (2, String::new()));
    // --help and --version print as always, even with --json.
    let help = p.run(&["status", "--json", "--help"], &[]);
    assert_eq!(help.code(), 0);
    assert!(
        help.stdout().contains("Usage: coder-convex status"),
        "{}",
        help.stdout()
    );
    let version = p.run(&["--json", "--version"], &[]);
    assert_eq!(version.code(), 0);
    assert!(
        version.stdout().starts_with("coder-convex "),
        "{}",
        version.stdout()
    );
}

#[test]
fn a_bad_deploy_arg_or_convex_json_is_refused_before_anything_is_written() {
    for (args, convex_json, message) in [
        (
            &[
                "--json",
                "setup",
                "--wait",
                "1",
                "--deploy-arg",
                "--url=http://elsewhere",
            ][..],
            None,
            "--deploy-arg",
        ),
        (
            &["--json", "setup", "--wait", "1"],
            Some("{"),
            "convex.json",
        ),
    ] {
        let p = Project::new();
        if let Some(text) = convex_json {
            p.write("convex.json", text);
        }
        let run = p.run(args, &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")]);
        let doc = failure(
            &run,
            2,
            if convex_json.is_some() {
                "project_file"
            } else {
                "invalid_input"
            },
        );
        assert!(
            doc["error"]["message"].as_str().unwrap().contains(message),
            "{doc}"
        );
        // Nothing written: no env file, no key.
        for file in [".env.convex.local", ".env.local", "jwt_private_key.pem"] {
            assert!(!p.file(file).exists(), "{file} was written: {}", run.all());
        }
    }
}
