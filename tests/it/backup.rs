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

/// A backup taken now: its directory.
fn take_backup(p: &Project, fake: &FakeBackend) -> PathBuf {
    PathBuf::from(
        backup(p, fake, &[]).json()["backup"]["path"]
            .as_str()
            .unwrap(),
    )
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

/// Rewrite a field of a backup's manifest.
fn edit_manifest(backup: &Path, edit: impl FnOnce(&mut serde_json::Value)) {
    let path = backup.join("manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_str(&fs_err::read_to_string(&path).unwrap()).unwrap();
    edit(&mut manifest);
    fs_err::write(&path, serde_json::to_string(&manifest).unwrap()).unwrap();
}

fn other_data() -> Data {
    Data {
        tables: BTreeMap::from([(
            "messages".to_owned(),
            vec![json!({"_id": "m9", "_creationTime": 9.0, "body": "later"})],
        )]),
        files: BTreeMap::new(),
    }
}

#[test]
fn a_backup_dated_in_the_future_is_neither_kept_over_the_new_one_nor_restored_by_default() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    // A backup from a clock that ran a day ahead.
    let stale = backup(&p, &fake, &[]).json()["backup"]["name"]
        .as_str()
        .unwrap()
        .to_owned();
    edit_manifest(&store(&p).join(&stale), |m| {
        m["created_unix_ms"] = json!(m["created_unix_ms"].as_u64().unwrap() + 86_400_000);
    });
    fake.set_data(other_data());
    let fresh = backup(&p, &fake, &["--keep", "2"]).json();
    let fresh = fresh["backup"]["name"].as_str().unwrap().to_owned();
    assert_eq!(names(&store(&p)), [stale.clone(), fresh.clone()]);
    // The default restore is the one just taken, not the future-dated one.
    fake.set_data(Data::default());
    let dir = store(&p);
    let doc = run_with(
        &p,
        &["--json", "restore", "--yes", "--dir", dir.to_str().unwrap()],
        &fake,
        &[],
    )
    .json();
    assert_eq!(
        doc["archive"],
        dir.join(&fresh).join("snapshot.zip").to_str().unwrap()
    );
    assert_eq!(fake.data(), other_data());
    // --keep 1 keeps the backup it just took; the future-dated one goes first.
    let doc = backup(&p, &fake, &["--keep", "1"]).json();
    let newest = doc["backup"]["name"].as_str().unwrap().to_owned();
    assert_eq!(doc["removed"], json!([stale, fresh]));
    assert_eq!(names(&store(&p)), [newest]);
}

#[test]
fn restore_of_a_relative_path_imports_the_file_it_checked_in_the_current_directory() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let first = take_backup(&p, &fake);
    fake.set_data(other_data());
    let second = take_backup(&p, &fake);
    // `bk` in the current directory is the first backup; `bk` in the project the second.
    let cwd = tempfile::tempdir().unwrap();
    let copy = |from: &Path, to: &Path| {
        fs_err::create_dir_all(to).unwrap();
        for f in ["manifest.json", "snapshot.zip"] {
            fs_err::copy(from.join(f), to.join(f)).unwrap();
        }
    };
    copy(&first, &cwd.path().join("bk"));
    copy(&second, &p.file("bk"));
    fake.set_data(Data::default());
    for (flag, env) in [
        (vec!["--project-dir", p.path().to_str().unwrap()], vec![]),
        (
            vec![],
            vec![("CODER_CONVEX_PROJECT_DIR", p.path().to_str().unwrap())],
        ),
    ] {
        let mut args = vec!["--json", "restore", "bk", "--yes"];
        args.extend(&flag);
        let output = command_with(&p, &args, &fake, &env)
            .current_dir(cwd.path())
            .output()
            .unwrap();
        let run = Run { output };
        assert_eq!(run.code(), 0, "{}", run.all());
        assert_eq!(
            run.json()["archive"],
            cwd.path().join("bk/snapshot.zip").to_str().unwrap()
        );
        assert_eq!(fake.data(), sample_data());
        fake.set_data(Data::default());
    }
}

#[test]
fn restore_refuses_variables_the_backend_would_refuse_before_replacing_the_data() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let taken = take_backup(&p, &fake);
    let original = fs_err::read_to_string(taken.join("manifest.json")).unwrap();
    let many: serde_json::Map<String, serde_json::Value> =
        (0..600).map(|i| (format!("V{i}"), json!("x"))).collect();
    for (edit, message) in [
        (
            json!({"BAD-NAME": SECRET_VALUE}),
            "\"BAD-NAME\" is not a valid variable name".to_owned(),
        ),
        (
            json!({"BIG": "y".repeat(8193)}),
            "the value of BIG is 8193 bytes; the limit is 8192".to_owned(),
        ),
        (
            serde_json::Value::Object(many),
            "variables; a deployment holds at most 512".to_owned(),
        ),
    ] {
        fs_err::write(taken.join("manifest.json"), &original).unwrap();
        edit_manifest(&taken, |m| {
            for (k, v) in edit.as_object().unwrap() {
                m["environment_variables"][k] = v.clone();
            }
        });
        fake.set_data(other_data());
        let dir = store(&p);
        let run = run_with(
            &p,
            &["--json", "restore", "--yes", "--dir", dir.to_str().unwrap()],
            &fake,
            &[],
        );
        assert_eq!(run.code(), 2, "{}", run.all());
        let error = &run.doc()["error"];
        assert!(
            error["message"].as_str().unwrap().contains(&message),
            "{error}"
        );
        assert!(
            error["hint"]
                .as_str()
                .unwrap()
                .starts_with("nothing was restored")
        );
        assert!(!run.all().contains(SECRET_VALUE));
        // The data was not touched, no import ran.
        assert_eq!(fake.data(), other_data());
        assert!(fake.snapshots(|r| r.import_modes.is_empty()));
    }
}

#[test]
fn a_backup_another_project_is_writing_in_a_shared_store_is_left_alone() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let dir = store(&p);
    fs_err::create_dir_all(&dir).unwrap();
    // Another project's run: its partial is an hour old and locked (it is still exporting).
    let running = dir.join(".partial-other-run");
    fs_err::create_dir(&running).unwrap();
    fs_err::write(running.join("snapshot.zip"), b"half").unwrap();
    let lock = fs_err::File::open(&running).unwrap();
    lock.file().try_lock().unwrap();
    // A dead run's partial: same age, unlocked.
    let dead = dir.join(".partial-dead-run");
    fs_err::create_dir(&dead).unwrap();
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for d in [&running, &dead] {
        fs_err::File::open(d)
            .unwrap()
            .file()
            .set_modified(hour_ago)
            .unwrap();
    }
    let doc = backup(&p, &fake, &[]).json();
    assert_eq!(
        names(&dir),
        [
            ".partial-other-run".to_owned(),
            doc["backup"]["name"].as_str().unwrap().to_owned()
        ]
    );
    assert_eq!(fs_err::read(running.join("snapshot.zip")).unwrap(), b"half");
    drop(lock);
}

#[test]
fn a_manifest_that_is_a_fifo_or_links_to_dev_zero_does_not_hang_any_command() {
    let (p, secret) = convex_project("convex");
    let fake = fake(&secret, SnapshotConfig::default());
    let fifo = take_backup(&p, &fake);
    let zero = take_backup(&p, &fake);
    fs_err::remove_file(fifo.join("manifest.json")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(fifo.join("manifest.json"))
        .status()
        .unwrap();
    assert!(made.success());
    fs_err::remove_file(zero.join("manifest.json")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero.join("manifest.json")).unwrap();
    let dir = store(&p);
    let env = [("CODER_CONVEX_BACKUP_DIR", dir.to_str().unwrap())];
    for args in [
        &["status", "--metadata", "backend"][..],
        &["--json", "status", "--timeout", "10"],
        &["--json", "doctor", "--timeout", "10"],
        &["--json", "backup", "--list"],
    ] {
        let started = Instant::now();
        let run = run_with(&p, args, &fake, &env);
        crate::common::assert_no_hang(started);
        assert!(run.code() <= 1, "{args:?}: {}", run.all());
    }
    let listed = backup(&p, &fake, &["--list"]).json();
    assert_eq!(listed["backups"], json!([]));
    // Naming one of them: refused at once, saying what it is.
    for (backup_dir, what) in [
        (&fifo, "is a named pipe (FIFO)"),
        (&zero, "is a symbolic link to /dev/zero, which is a device"),
    ] {
        let started = Instant::now();
        let run = run_with(
            &p,
            &["--json", "restore", backup_dir.to_str().unwrap(), "--yes"],
            &fake,
            &[],
        );
        crate::common::assert_no_hang(started);
        assert_eq!(run.code(), 2, "{}", run.all());
        assert!(
            run.doc()["error"]["message"]
                .as_str()
                .unwrap()
                .ends_with(what),
            "{}",
            run.all()
        );
    }
}
