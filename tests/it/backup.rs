//! `backup` and `restore` with the real `convex` CLI (1.48) against the stand-in backend's
//! snapshot export/import routes (`tests/support/fake_snapshot.rs`): archives and manifests
//! with private modes, a round trip of tables, files and variables, the instance check,
//! `--keep`, an interrupted backup, the no-terminal refusal, and no secret in output or argv.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::common::{Project, Run};
use crate::deploy::convex_project;
use crate::fake_backend::{Data, FakeBackend, FakeConfig, SnapshotConfig};
use crate::project::{command_with, doctor_check, fake_for, run_with};

fn sample_data() -> Data {
    Data {
        tables: BTreeMap::from([
            (
                "messages".to_owned(),
                vec![
                    json!({"_id": "m1", "_creationTime": 1.0, "body": "hello"}),
                    json!({"_id": "m2", "_creationTime": 2.0, "body": "world"}),
                ],
            ),
            (
                "users".to_owned(),
                vec![json!({"_id": "u1", "_creationTime": 3.0, "name": "ada"})],
            ),
        ]),
        files: BTreeMap::from([
            ("kg2abc".to_owned(), b"\x89PNG binary \x00 bytes".to_vec()),
            ("kg2def".to_owned(), b"second file".to_vec()),
        ]),
    }
}

const SECRET_VALUE: &str = "sk_live_backup_secret_value_42";

fn fake(
    secret: &coder_convex::config::secrets::InstanceSecret,
    snapshot: SnapshotConfig,
) -> FakeBackend {
    let mut config: FakeConfig = fake_for(secret);
    config.snapshot = snapshot;
    config.env = BTreeMap::from([
        ("STRIPE_KEY".to_owned(), SECRET_VALUE.to_owned()),
        ("FEATURE_FLAG".to_owned(), "on".to_owned()),
    ]);
    let fake = FakeBackend::start(config);
    fake.set_data(sample_data());
    fake
}

fn store(p: &Project) -> PathBuf {
    p.file("backups")
}

fn backup(p: &Project, fake: &FakeBackend, extra: &[&str]) -> Run {
    let dir = store(p);
    let mut args = vec!["--json", "backup", "--dir", dir.to_str().unwrap()];
    args.extend_from_slice(extra);
    run_with(p, &args, fake, &[])
}

fn mode(path: &Path) -> u32 {
    fs_err::metadata(path).unwrap().permissions().mode() & 0o777
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn backup_then_wipe_then_restore_gives_back_tables_files_and_variables() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let run = backup(&p, &fake, &[]);
    let doc = run.json();
    let path = PathBuf::from(doc["backup"]["path"].as_str().unwrap());
    // The archive and the manifest, private, in a private directory.
    assert_eq!(mode(&store(&p)), 0o700);
    assert_eq!(mode(&path), 0o700);
    assert_eq!(names(&path), ["manifest.json", "snapshot.zip"]);
    assert_eq!(mode(&path.join("manifest.json")), 0o600);
    assert_eq!(mode(&path.join("snapshot.zip")), 0o600);
    let manifest: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(path.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["instance_name"], "convex-self-hosted");
    assert_eq!(manifest["backend_version"], "unknown");
    assert_eq!(manifest["convex_cli_version"], "1.48.0");
    assert_eq!(manifest["file_storage"], true);
    assert_eq!(
        manifest["environment_variables"]["STRIPE_KEY"],
        SECRET_VALUE
    );
    assert_eq!(fake.snapshots(|r| r.include_storage.clone()), [true]);
    // The CLI really ran the export protocol, with our key.
    let requests = fake.snapshots(|r| r.requests.clone());
    for step in [
        "POST /api/export/request/zip",
        "SUBSCRIBE _system/cli/exports:getLatest",
    ] {
        assert!(requests.iter().any(|r| r == step), "{step} in {requests:?}");
    }
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /api/export/zip/"))
    );
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    assert!(fake.snapshots(|r| r.keys.iter().all(|k| *k == key)));
    // No secret in what we print.
    assert!(!run.all().contains(SECRET_VALUE), "{}", run.all());
    assert!(!run.all().contains(&key));

    // Wipe the deployment: data, files and variables.
    fake.set_data(Data::default());
    fake.set_env("STRIPE_KEY", "changed");
    fake.set_env("LATER", "added after the backup");
    let dir = store(&p);
    let run = run_with(
        &p,
        &["--json", "restore", "--yes", "--dir", dir.to_str().unwrap()],
        &fake,
        &[],
    );
    let doc = run.json();
    assert_eq!(fake.data(), sample_data());
    // The backup's own variables come back; the ones this project sets (its JWT key and
    // site origin) are this project's, exactly what `env-set` pushes.
    let env = fake.env();
    assert_eq!(env["FEATURE_FLAG"], "on");
    assert_eq!(env["STRIPE_KEY"], SECRET_VALUE);
    let managed = [
        "CODER_CONVEX_MANAGED_VARS",
        "CONVEX_SITE_ORIGIN",
        "JWKS",
        "JWT_ISSUER",
        "JWT_PRIVATE_KEY",
    ];
    let names: Vec<&str> = env.keys().map(String::as_str).collect();
    let mut expected = managed.to_vec();
    expected.extend(["FEATURE_FLAG", "STRIPE_KEY"]);
    expected.sort_unstable();
    assert_eq!(names, expected);
    assert_eq!(doc["env_from_project"], json!(managed));
    let mut set = managed.to_vec();
    set.push("STRIPE_KEY");
    assert_eq!(doc["env_set"], json!(set));
    assert_eq!(doc["env_deleted"], json!(["LATER"]));
    let env_set = run_with(&p, &["--json", "env-set"], &fake, &[]).json();
    assert_eq!(env_set["env"]["posted"], false, "{env_set}");
    assert_eq!(doc["from_instance"], "convex-self-hosted");
    assert_eq!(fake.snapshots(|r| r.import_modes.clone()), ["replaceAll"]);
    let requests = fake.snapshots(|r| r.requests.clone());
    for step in [
        "POST /api/import/start_upload",
        "POST /api/import/upload_part",
        "POST /api/import/finish_upload",
        "POST /api/perform_import",
    ] {
        assert!(requests.iter().any(|r| r == step), "{step} in {requests:?}");
    }
    assert!(!run.all().contains(SECRET_VALUE), "{}", run.all());
}

#[test]
fn backup_without_file_storage_and_list() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    backup(&p, &fake, &["--no-file-storage"]).ok();
    assert_eq!(fake.snapshots(|r| r.include_storage.clone()), [false]);
    let run = backup(&p, &fake, &["--list"]);
    let doc = run.json();
    assert_eq!(doc["backups"].as_array().unwrap().len(), 1);
    assert_eq!(doc["backups"][0]["file_storage"], false);
    assert_eq!(doc["backups"][0]["instance_name"], "convex-self-hosted");
}

#[test]
fn the_default_store_is_under_the_data_home_outside_the_project() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let data_home = tempfile::tempdir().unwrap();
    let run = run_with(
        &p,
        &["--json", "backup"],
        &fake,
        &[("XDG_DATA_HOME", data_home.path().to_str().unwrap())],
    );
    let doc = run.json();
    let dir = doc["dir"].as_str().unwrap().to_owned();
    assert_eq!(
        PathBuf::from(dir),
        data_home
            .path()
            .join("coder-convex/backups/convex-self-hosted")
    );
    // status and doctor show the newest backup of the default store.
    let xdg = [("XDG_DATA_HOME", data_home.path().to_str().unwrap())];
    let status = run_with(&p, &["--json", "status"], &fake, &xdg).json();
    assert_eq!(status["last_backup"]["name"], doc["backup"]["name"]);
    assert_eq!(status["last_backup"]["bytes"], doc["backup"]["bytes"]);
    let (_, backups) = doctor_check(&p, &fake, &xdg, "backups");
    assert_eq!(backups["status"], "pass");
    assert!(
        backups["detail"].as_str().unwrap().starts_with("newest "),
        "{backups}"
    );
    // A store with none: said, with the command to run.
    let empty = tempfile::tempdir().unwrap();
    let none = [("XDG_DATA_HOME", empty.path().to_str().unwrap())];
    let (_, backups) = doctor_check(&p, &fake, &none, "backups");
    assert_eq!(backups["status"], "pass");
    assert_eq!(
        backups["detail"],
        "no backup of convex-self-hosted yet (`coder-convex backup` takes one)"
    );
    assert_eq!(
        run_with(&p, &["--json", "status"], &fake, &none).json()["last_backup"],
        serde_json::Value::Null
    );
}

#[test]
fn restore_refuses_a_backup_of_another_instance_unless_forced() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let doc = backup(&p, &fake, &[]).json();
    let path = PathBuf::from(doc["backup"]["path"].as_str().unwrap());
    let manifest = path.join("manifest.json");
    let text = fs_err::read_to_string(&manifest).unwrap();
    fs_err::write(
        &manifest,
        text.replace("\"convex-self-hosted\"", "\"other-app\""),
    )
    .unwrap();
    let run = run_with(
        &p,
        &["restore", "--yes", path.to_str().unwrap()],
        &fake,
        &[],
    );
    assert_eq!(run.code(), 2, "{}", run.all());
    assert!(
        run.stderr().contains("backup of instance \"other-app\""),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("--force"));
    assert!(fake.snapshots(|r| r.import_modes.is_empty()));
    run_with(
        &p,
        &["restore", "--yes", "--force", path.to_str().unwrap()],
        &fake,
        &[],
    )
    .ok();
    assert_eq!(fake.snapshots(|r| r.import_modes.clone()), ["replaceAll"]);
}

#[test]
fn restore_without_yes_and_without_a_terminal_refuses_with_a_hint() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    backup(&p, &fake, &[]).ok();
    let dir = store(&p);
    let run = run_with(
        &p,
        &["--json", "restore", "--dir", dir.to_str().unwrap()],
        &fake,
        &[],
    );
    assert_eq!(run.code(), 2);
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(doc["error"]["code"], "invalid_input");
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("restore --yes")
    );
    assert!(fake.snapshots(|r| r.import_modes.is_empty()));
}

#[test]
fn keep_2_after_4_backups_leaves_the_2_newest() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let mut taken = Vec::new();
    for _ in 0..4 {
        let doc = backup(&p, &fake, &["--keep", "2"]).json();
        taken.push(doc["backup"]["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(names(&store(&p)), taken[2..]);
}

#[test]
fn an_interrupted_backup_leaves_nothing_that_looks_complete_and_no_secret_in_argv() {
    let (p, secret) = convex_project("convex");
    let fake = fake(
        &secret,
        SnapshotConfig {
            export_delay: Duration::from_secs(60),
        },
    );
    let dir = store(&p);
    let mut child = command_with(&p, &["backup", "--dir", dir.to_str().unwrap()], &fake, &[])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while !fake.snapshots(|r| r.requests.iter().any(|r| r.starts_with("SUBSCRIBE"))) {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the export never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // Every process of the run (ours, npx, node): no admin key or secret on a command line.
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    let mut seen = 0;
    for entry in fs_err::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = fs_err::read(entry.path().join("cmdline")) else {
            continue;
        };
        let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if cmdline.contains(dir.to_str().unwrap()) {
            seen += 1;
            assert!(!cmdline.contains(&key), "{cmdline}");
            assert!(!cmdline.contains(SECRET_VALUE), "{cmdline}");
        }
    }
    assert!(seen >= 2, "coder-convex and the CLI: {seen}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap()),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success());
    // Nothing complete-looking: no backup directory, and none listed.
    assert!(
        names(&dir).iter().all(|n| !n.starts_with("backup-")),
        "{:?}",
        names(&dir)
    );
    let listed = backup(&p, &fake, &["--list"]).json();
    assert_eq!(listed["backups"], json!([]));
}
