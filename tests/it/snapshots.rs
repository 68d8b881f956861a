//! Snapshots of what people and programs read: `--help` of every command, and the rendered
//! error of each exit code as text (stderr) and as the `--json` document (stdout).
//! Ports and temp paths are replaced so the snapshots are stable.

use clap::CommandFactory as _;

use crate::common::{Project, Run};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::project::{configured, failing_deploy, fake_for, run_with};

/// Every command path in the tree (`["db", "list"]` …), from clap's own command tree: a new
/// command gets its help snapshot without being listed here.
fn command_paths() -> Vec<Vec<String>> {
    fn walk(command: &clap::Command, prefix: &[String], out: &mut Vec<Vec<String>>) {
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let mut path = prefix.to_vec();
            path.push(sub.get_name().to_owned());
            out.push(path.clone());
            walk(sub, &path, out);
        }
    }
    let mut out = Vec::new();
    walk(&coder_convex::Cli::command(), &[], &mut out);
    out
}

#[test]
fn help_of_every_command() {
    let p = Project::new();
    let top = p.run(&["--help"], &[]);
    insta::assert_snapshot!("help", top.ok());
    let paths = command_paths();
    assert!(
        paths.iter().any(|p| p == &["db", "drop"]),
        "the walk reaches nested commands: {paths:?}"
    );
    for path in paths {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let run = p.run(&args, &[]);
        insta::assert_snapshot!(format!("help-{}", path.join("-")), run.ok());
    }
}

/// Both streams of a failing run, with run-specific values replaced.
fn snapshot_failure(name: &str, p: &Project, run: &Run) {
    let dir = p.path().display().to_string();
    let filters = vec![
        (dir.as_str(), "[PROJECT]"),
        (r"127\.0\.0\.1:\d{4,5}", "127.0.0.1:[PORT]"),
        (r"\d+ ms\)", "[N] ms)"),
        (r"\(\d+s\)", "([N]s)"),
    ];
    insta::with_settings!({ filters => filters }, {
        insta::assert_snapshot!(format!("error-{name}-text"), run.stderr());
        insta::assert_snapshot!(format!("error-{name}-json"), run.stdout());
    });
}

#[test]
fn rendered_error_of_each_exit_code() {
    // 2: invalid input.
    let p = Project::new();
    let run = p.run(
        &["--json", "configure"],
        &[("DATABASE_URL", "mysqlx://app:hunter2@db/x")],
    );
    assert_eq!(run.code(), 2);
    snapshot_failure("2-invalid-input", &p, &run);

    // 1: a runtime failure (no secret yet for a backend command).
    let run = p.run(&["--json", "admin-key"], &[]);
    assert_eq!(run.code(), 1);
    snapshot_failure("1-runtime", &p, &run);

    // 3: the backend does not answer.
    let (p, secret) = configured();
    let run = p.run(
        &["--json", "env-set", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(run.code(), 3);
    snapshot_failure("3-backend-unreachable", &p, &run);

    // 4: another instance.
    let other = FakeBackend::start(FakeConfig::new("other-app", secret.clone()));
    let run = run_with(&p, &["--json", "env-set"], &other, &[]);
    assert_eq!(run.code(), 4);
    snapshot_failure("4-identity-rejected", &p, &run);

    // 5: the database cannot be reached.
    let db = Project::new();
    let run = db.run(
        &["--json", "setup", "--wait", "1"],
        &[("DATABASE_URL", "postgres://app:hunter2@127.0.0.1:9/convex")],
    );
    assert_eq!(run.code(), 5);
    snapshot_failure("5-database", &db, &run);

    // 7: the container engine (here: none on PATH; `auto` would run the backend as a process).
    let empty = tempfile::tempdir().unwrap();
    let run = p.run(
        &["--json", "up", "--backend", "containers"],
        &[("PATH", empty.path().to_str().unwrap())],
    );
    assert_eq!(run.code(), 7);
    snapshot_failure("7-containers", &p, &run);

    // 6: the deploy ran and failed (the child's own code is in the message and the document).
    let fake = FakeBackend::start(fake_for(&secret));
    let run = failing_deploy(&p, &fake, &["--json", "deploy"]);
    snapshot_failure("6-deploy-failed", &p, &run);
}
