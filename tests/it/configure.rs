//! `configure`: idempotence, preservation of user lines, secrets kept across changes,
//! modes, shell/dotenvy agreement, and clear errors for bad input.

use std::collections::BTreeMap;
use std::time::SystemTime;

use coder_convex::config::secrets::{InstanceSecret, JwtKey, validate_admin_key};

use crate::common::{CODER_ENV, Project};

const FILES: [&str; 5] = [
    ".env.convex.local",
    ".env.local",
    ".env.development.local",
    ".env.convex.deployment",
    "jwt_private_key.pem",
];

fn snapshot(p: &Project) -> BTreeMap<&'static str, (String, SystemTime)> {
    FILES
        .iter()
        .map(|f| {
            let modified = fs_err::metadata(p.file(f)).unwrap().modified().unwrap();
            (*f, (p.read(f), modified))
        })
        .collect()
}

#[test]
fn second_run_changes_no_byte_and_touches_no_file() {
    let p = Project::new();
    p.write("package.json", r#"{"dependencies":{"next":"15"}}"#);
    let first = p.run(&["configure"], &CODER_ENV);
    first.ok();
    assert!(first.stderr().contains("created"), "{}", first.stderr());
    let before = snapshot(&p);
    let second = p.run(&["configure"], &CODER_ENV);
    second.ok();
    assert!(
        second.stderr().contains("nothing changed"),
        "{}",
        second.stderr()
    );
    assert_eq!(snapshot(&p), before);
}

#[test]
fn files_hold_the_right_values_and_modes() {
    let p = Project::new();
    p.write("package.json", r#"{"devDependencies":{"vite":"7"}}"#);
    p.run(&["configure"], &CODER_ENV).ok();
    let convex = p.env_values(".env.convex.local");
    assert_eq!(convex["INSTANCE_NAME"], "convex-self-hosted");
    assert_eq!(
        convex["CONVEX_CLOUD_ORIGIN"],
        "https://convex-api--main--ws--alice.apps.example.com"
    );
    assert_eq!(
        convex["CONVEX_SITE_ORIGIN"],
        "https://convex-site--main--ws--alice.apps.example.com"
    );
    assert_eq!(
        convex["CONVEX_DASHBOARD_URL"],
        "https://convex-dashboard--main--ws--alice.apps.example.com"
    );
    assert_eq!(
        convex["NEXT_PUBLIC_DEPLOYMENT_URL"],
        convex["CONVEX_CLOUD_ORIGIN"]
    );
    assert!(!convex.contains_key("DO_NOT_REQUIRE_SSL"));
    assert!(!convex.contains_key("POSTGRES_URL"));
    let secret = InstanceSecret::from_hex(&convex["INSTANCE_SECRET"]).unwrap();

    let cli = p.env_values(".env.local");
    assert_eq!(cli["CONVEX_SELF_HOSTED_URL"], "http://127.0.0.1:3210");
    let claims = validate_admin_key(
        &cli["CONVEX_SELF_HOSTED_ADMIN_KEY"],
        &secret,
        "convex-self-hosted",
    )
    .unwrap();
    assert!(!claims.legacy);

    let browser = p.env_values(".env.development.local");
    assert_eq!(
        browser,
        BTreeMap::from([
            (
                "VITE_CONVEX_URL".to_owned(),
                "https://convex-api--main--ws--alice.apps.example.com".to_owned()
            ),
            (
                "VITE_CONVEX_SITE_URL".to_owned(),
                "https://convex-site--main--ws--alice.apps.example.com".to_owned()
            ),
            (
                "VITE_SITE_URL".to_owned(),
                "https://5173--main--ws--alice.apps.example.com".to_owned()
            ),
        ])
    );
    assert!(JwtKey::from_pem(&p.read("jwt_private_key.pem")).is_ok());
    for (file, mode) in [
        (".env.convex.local", 0o600),
        (".env.local", 0o600),
        ("jwt_private_key.pem", 0o600),
        (".env.convex.deployment", 0o600),
        (".env.development.local", 0o644),
    ] {
        assert_eq!(p.mode(file), mode, "{file}");
    }
    // Not a git work tree: no .gitignore is created.
    assert!(!p.file(".gitignore").exists());
}

#[test]
fn a_changed_environment_updates_urls_and_keeps_every_secret() {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    let secret = p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    let pem = p.read("jwt_private_key.pem");
    assert_eq!(
        p.env_values(".env.convex.local")["CONVEX_CLOUD_ORIGIN"],
        "http://127.0.0.1:3210"
    );

    p.run(&["configure"], &CODER_ENV).ok();
    let convex = p.env_values(".env.convex.local");
    assert_eq!(
        convex["CONVEX_CLOUD_ORIGIN"],
        "https://convex-api--main--ws--alice.apps.example.com"
    );
    assert_eq!(convex["INSTANCE_SECRET"], secret);
    assert_eq!(
        p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"],
        key
    );
    assert_eq!(p.read("jwt_private_key.pem"), pem);
}

#[test]
fn user_lines_survive_in_place() {
    let p = Project::new();
    p.write(".env.convex.local", "# my notes\nDISABLE_BEACON=true\nINSTANCE_NAME=convex-self-hosted\nDOCUMENT_RETENTION_DELAY=172800\n");
    p.write(
        ".env.local",
        "CONVEX_DEPLOYMENT=dev:happy-otter-123 # team: me, project: app\nOPENAI_API_KEY=sk-test\n",
    );
    p.write(".env.development.local", "VITE_FEATURE=on\n");
    p.write(".env.convex.deployment", "RESEND_API_KEY=re_123\n");
    p.run(&["configure"], &[]).ok();

    let convex = p.read(".env.convex.local");
    let lines: Vec<&str> = convex.lines().collect();
    assert_eq!(lines[0], "# my notes");
    assert_eq!(lines[1], "DISABLE_BEACON=true");
    assert_eq!(lines[2], "INSTANCE_NAME='convex-self-hosted'");
    assert!(lines[3].starts_with("INSTANCE_SECRET='"));
    assert_eq!(lines.last(), Some(&"DOCUMENT_RETENTION_DELAY=172800"));

    let cli = p.read(".env.local");
    assert!(
        cli.starts_with(
            "# coder-convex: CONVEX_DEPLOYMENT selects a Convex cloud deployment; the CLI refuses it beside CONVEX_SELF_HOSTED_URL\n\
             # CONVEX_DEPLOYMENT=dev:happy-otter-123 # team: me, project: app\nOPENAI_API_KEY=sk-test\n"
        ),
        "{cli}"
    );
    assert!(!p.env_values(".env.local").contains_key("CONVEX_DEPLOYMENT"));
    assert!(
        p.read(".env.development.local")
            .starts_with("VITE_FEATURE=on\n")
    );
    assert_eq!(p.read(".env.convex.deployment"), "RESEND_API_KEY=re_123\n");

    // And again: nothing moves.
    let before = p.read(".env.local");
    p.run(&["configure"], &[]).ok();
    assert_eq!(p.read(".env.local"), before);
}

#[test]
fn bash_source_and_dotenvy_read_the_same_values() {
    let p = Project::new();
    let env = [
        (
            "DATABASE_URL",
            "postgres://app:p@ss$word`x`\\y@10.0.0.5:5432/convex_prod?application_name=a b",
        ),
        ("CONVEX_SITE_ORIGIN", "https://example.com/http"),
    ];
    p.run(&["configure"], &env).ok();
    let values = p.env_values(".env.convex.local");
    assert_eq!(
        values["POSTGRES_URL"],
        "postgres://app:p%40ss$word`x`%5Cy@10.0.0.5:5432?application_name=a b&sslmode=disable"
    );
    assert_eq!(values["DO_NOT_REQUIRE_SSL"], "1");
    assert_eq!(values["INSTANCE_NAME"], "convex-prod");
    for file in [".env.convex.local", ".env.local"] {
        let dotenvy_values = p.env_values(file);
        let script = dotenvy_values
            .keys()
            .map(|k| format!("printf '%s\\0' \"${k}\";"))
            .collect::<String>();
        let out = std::process::Command::new(crate::common::require("bash"))
            .arg("-c")
            .arg(format!("set -eu; . ./{file}; {script}"))
            .current_dir(p.path())
            .env_clear()
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let from_bash: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split_terminator('\0')
            .map(str::to_owned)
            .collect();
        let from_dotenvy: Vec<String> = dotenvy_values.into_values().collect();
        assert_eq!(from_bash, from_dotenvy, "{file}");
    }
}

#[test]
fn bad_database_url_exits_2_naming_the_variable_with_the_password_masked() {
    let p = Project::new();
    let run = p.run(
        &["configure"],
        &[("POSTGRES_URI", "mongodb://app:hunter2@db/x")],
    );
    assert_eq!(run.code(), 2);
    let err = run.stderr();
    assert!(err.contains("invalid POSTGRES_URI"), "{err}");
    assert!(err.contains("mongodb://app:****@db/x"), "{err}");
    assert!(err.contains("hint:"), "{err}");
    assert!(!run.all().contains("hunter2"));
    // Nothing was written.
    assert_eq!(fs_err::read_dir(p.path()).unwrap().count(), 0);

    let run = p.run(
        &["configure"],
        &[("DATABASE_URL", "postgres://:hunter2@db:5432/x")],
    );
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("no user name"), "{}", run.stderr());
    assert!(!run.all().contains("hunter2"));
}

#[test]
fn bad_secret_and_urls_exit_2_without_echoing_secrets() {
    let p = Project::new();
    let run = p.run(
        &["configure"],
        &[("INSTANCE_SECRET", "not-hex-but-secret-material")],
    );
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr()
            .contains("invalid INSTANCE_SECRET: must be 64 hex characters"),
        "{}",
        run.stderr()
    );
    assert!(!run.all().contains("secret-material"));

    let run = p.run(
        &["configure"],
        &[("CONVEX_CLOUD_ORIGIN", "api.example.com")],
    );
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("invalid CONVEX_CLOUD_ORIGIN"),
        "{}",
        run.stderr()
    );

    let run = p.run(&["configure"], &[("INSTANCE_NAME", "My App")]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("invalid INSTANCE_NAME"),
        "{}",
        run.stderr()
    );

    let run = p.run(&["configure", "--project-dir", "/nonexistent/dir"], &[]);
    assert_eq!(run.code(), 2);

    let run = p.run(&["configure", "--no-such-flag"], &[]);
    assert_eq!(run.code(), 2);
    assert_eq!(fs_err::read_dir(p.path()).unwrap().count(), 0);
}

#[test]
fn an_invalid_jwt_key_is_never_replaced_silently() {
    let p = Project::new();
    let pkcs1 = "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAK\n-----END RSA PRIVATE KEY-----\n";
    p.write("jwt_private_key.pem", pkcs1);
    let run = p.run(&["configure"], &[]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("PKCS#1"), "{}", run.stderr());
    assert!(
        run.stderr().contains("--rotate-jwt-key"),
        "{}",
        run.stderr()
    );
    assert_eq!(p.read("jwt_private_key.pem"), pkcs1);

    p.run(&["configure", "--rotate-jwt-key"], &[]).ok();
    assert!(JwtKey::from_pem(&p.read("jwt_private_key.pem")).is_ok());
    let backups: Vec<String> = fs_err::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("jwt_private_key.pem.") && n.ends_with(".bak"))
        .collect();
    assert_eq!(backups.len(), 1);
    assert_eq!(p.read(&backups[0]), pkcs1);
    assert_eq!(p.mode(&backups[0]), 0o600);
}

#[test]
fn git_work_trees_get_ignore_entries_once() {
    let p = Project::new();
    fs_err::create_dir(p.file(".git")).unwrap();
    p.write(".gitignore", "node_modules\n.env.local\n");
    p.run(&["configure"], &[]).ok();
    let ignore = p.read(".gitignore");
    assert_eq!(
        ignore,
        "node_modules\n.env.local\n\n# coder-convex: generated files with secrets or machine-specific URLs\n\
         .env.convex.local\njwt_private_key.pem\n.env.development.local\n.env.convex.deployment\n\
         .env.convex.auth.local\n\
         jwt_private_key.pem.*.bak\n.env.convex.local.*.bak\n.coder-convex-*\n"
    );
    p.run(&["configure"], &[]).ok();
    assert_eq!(p.read(".gitignore"), ignore);
}

#[test]
fn loose_modes_are_tightened() {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    use std::os::unix::fs::PermissionsExt as _;
    fs_err::set_permissions(
        p.file(".env.convex.local"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let run = p.run(&["configure"], &[]);
    run.ok();
    assert!(
        run.stderr()
            .contains(".env.convex.local (mode set to 0600)"),
        "{}",
        run.stderr()
    );
    assert_eq!(p.mode(".env.convex.local"), 0o600);
}

#[test]
fn concurrent_runs_agree_on_one_secret() {
    let p = Project::new();
    let dir = p.path().to_owned();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.clone();
            std::thread::spawn(move || crate::common::run_in(&dir, &["configure"], &[]).code())
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 0);
    }
    let secret =
        InstanceSecret::from_hex(&p.env_values(".env.convex.local")["INSTANCE_SECRET"]).unwrap();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    assert!(validate_admin_key(&key, &secret, "convex-self-hosted").is_ok());
    // Exactly the files we own, no temporaries left behind.
    let mut names: Vec<String> = fs_err::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = FILES.iter().map(|s| (*s).to_owned()).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn output_never_contains_secrets() {
    let p = Project::new();
    let env = [(
        "DATABASE_URL",
        "postgres://app:hunter2@db.example.com/convex",
    )];
    let configure = p.run(&["configure"], &env);
    configure.ok();
    let json = p.run(&["configure", "--json"], &env);
    let env_out = p.run(&["env"], &env);
    let env_json = p.run(&["env", "--format", "json"], &env);
    let secret = p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    for run in [&configure, &json, &env_out, &env_json] {
        let all = run.all();
        assert!(!all.contains(&secret), "{all}");
        assert!(!all.contains(&key), "{all}");
        assert!(!all.contains("hunter2"), "{all}");
    }
    assert_eq!(
        json.json()["database"],
        "postgres://app:****@db.example.com?sslmode=require"
    );
}

/// A project directory the user cannot write to is named, with what to do; nothing is
/// written. Run as `nobody`: root writes anywhere.
#[test]
fn a_read_only_project_directory_is_named_with_a_hint() {
    use std::os::unix::fs::PermissionsExt as _;
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("project");
    fs_err::create_dir(&dir).unwrap();
    // A copy `nobody` can run wherever the checkout lives.
    let bin = root.path().join("coder-convex");
    fs_err::copy(env!("CARGO_BIN_EXE_coder-convex"), &bin).unwrap();
    for (path, mode) in [
        (root.path(), 0o755),
        (dir.as_path(), 0o555),
        (bin.as_path(), 0o755),
    ] {
        fs_err::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    let out = std::process::Command::new(crate::common::require("runuser"))
        .args(["-u", "nobody", "--"])
        .arg(&bin)
        .arg("configure")
        .arg("--project-dir")
        .arg(&dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(
        stderr.lines().next().unwrap_or_default(),
        format!(
            "error: the directory {} is not writable: cannot write jwt_private_key.pem",
            dir.display()
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: run coder-convex as the user who owns the project directory"),
        "{stderr}"
    );
    assert!(
        !stderr.contains(".coder-convex-"),
        "names no temporary file: {stderr}"
    );
    assert_eq!(fs_err::read_dir(&dir).unwrap().count(), 0);
}

/// A database name the server would refuse (over 63 bytes) is refused by `configure` before
/// anything is written, naming where the name came from.
#[test]
fn a_database_name_over_63_bytes_is_refused_before_anything_is_written() {
    let p = Project::new();
    let long = format!("convex_{}", "a".repeat(57));
    assert_eq!(long.len(), 64);
    let url = format!("postgres://app:hunter2@db.internal:5432/{long}");
    let run = p.run(&["configure"], &[("DATABASE_URL", url.as_str())]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(
        run.stderr().lines().next().unwrap_or_default(),
        format!(
            "error: invalid DATABASE_URL: the backend would open database \"{long}\", 64 bytes; Postgres and MySQL database names are at most 63"
        ),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr()
            .contains("hint: name a database of at most 63 bytes in DATABASE_URL")
    );
    assert!(!run.all().contains("hunter2"));
    assert_eq!(fs_err::read_dir(p.path()).unwrap().count(), 0);

    // An explicit INSTANCE_NAME is named as the input instead.
    let name = "b".repeat(64);
    let run = p.run(
        &["configure"],
        &[
            ("DATABASE_URL", "postgres://app@db.internal:5432"),
            ("INSTANCE_NAME", name.as_str()),
        ],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr()
            .starts_with("error: invalid INSTANCE_NAME: the backend would open database"),
        "{}",
        run.stderr()
    );
    assert_eq!(fs_err::read_dir(p.path()).unwrap().count(), 0);
}
