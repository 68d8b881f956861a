//! Hostile project files: quoted multi-line values, CRLF, bytes that are not UTF-8,
//! symlinks to devices and nowhere, FIFOs, stale temporary files, backups, `.gitignore`
//! negations, a replaced secret, and "exit 2 writes nothing".

use std::os::unix::fs::FileTypeExt as _;
use std::time::Instant;

use crate::common::{Project, assert_no_hang};

/// The names in the project directory, sorted.
fn names(p: &Project) -> Vec<String> {
    let mut names: Vec<String> = fs_err::read_dir(p.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    names
}

/// What bash `source` reads for `var` from `file`.
fn bash_reads(p: &Project, file: &str, var: &str) -> String {
    let out = std::process::Command::new(crate::common::require("bash"))
        .arg("-c")
        .arg(format!("set -a; . ./{file}; printf %s \"${var}\""))
        .current_dir(p.path())
        .env_clear()
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_quoted_multi_line_value_keeps_the_secret_stable() {
    let p = Project::new();
    let user = "NOTES=\"line one\nINSTANCE_SECRET=x\nline three\"\n";
    p.write(".env.convex.local", user);
    p.write(
        ".env.local",
        "MULTI='a\nCONVEX_SELF_HOSTED_ADMIN_KEY=y\nb'\n",
    );
    p.run(&["configure"], &[]).ok();
    let first = p.read(".env.convex.local");
    assert!(first.starts_with(user), "{first}");
    let secret = p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    assert_eq!(secret.len(), 64);
    assert_eq!(
        bash_reads(&p, ".env.convex.local", "INSTANCE_SECRET"),
        secret
    );
    assert_eq!(
        p.env_values(".env.convex.local")["NOTES"],
        "line one\nINSTANCE_SECRET=x\nline three"
    );
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    assert!(key.starts_with("convex-self-hosted|"), "{key}");
    p.run(&["configure"], &[]).ok();
    assert_eq!(
        p.read(".env.convex.local"),
        first,
        "a second run changes nothing"
    );
    let revealed = p.run(&["env", "--json", "--reveal"], &[]).json();
    assert_eq!(revealed["INSTANCE_SECRET"], secret.as_str());
}

#[test]
fn crlf_files_keep_every_byte() {
    let p = Project::new();
    p.write(".env.local", "# mine\r\nFOO=bar\r\n");
    p.run(&["configure"], &[]).ok();
    let text = p.read(".env.local");
    assert!(text.starts_with("# mine\r\nFOO=bar\r\n"), "{text:?}");
    assert!(
        !text.replace("\r\n", "").contains('\n'),
        "all lines CRLF: {text:?}"
    );
    p.run(&["configure"], &[]).ok();
    assert_eq!(p.read(".env.local"), text);
    // A lone-CR file is refused, and nothing is written.
    let q = Project::new();
    q.write(".env.local", "FOO=bar\rBAZ=1\r");
    let run = q.run(&["configure"], &[]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("lone carriage return"),
        "{}",
        run.stderr()
    );
    assert_eq!(names(&q), vec![".env.local"]);
}

#[test]
fn bytes_that_are_not_utf8_are_exit_2_before_anything_is_written() {
    for file in [
        ".env.local",
        ".env.convex.local",
        ".env.development.local",
        ".gitignore",
    ] {
        let p = Project::new();
        fs_err::create_dir(p.file(".git")).unwrap();
        fs_err::write(p.file(file), b"A=caf\xe9\n").unwrap();
        let run = p.run(&["configure"], &[]);
        assert_eq!(run.code(), 2, "{file}: {}", run.stderr());
        assert!(
            run.stderr()
                .contains(&format!("{file}: is not UTF-8 text (line 1, byte 5)")),
            "{}",
            run.stderr()
        );
        let mut want = vec![".git".to_owned(), file.to_owned()];
        want.sort();
        assert_eq!(names(&p), want);
    }
}

#[test]
fn links_to_devices_fifos_and_nowhere_are_refused_without_writing() {
    // A device node of our own (so a failure could only ever replace this one).
    let p = Project::new();
    let node = p.file("devnull");
    let made = std::process::Command::new("mknod")
        .arg(&node)
        .args(["c", "1", "3"])
        .status()
        .unwrap();
    assert!(made.success(), "mknod (the tests run as root)");
    std::os::unix::fs::symlink(&node, p.file(".env.local")).unwrap();
    let run = p.run(&["configure"], &[]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains(", which is a device"),
        "{}",
        run.stderr()
    );
    assert!(
        fs_err::metadata(&node)
            .unwrap()
            .file_type()
            .is_char_device()
    );
    assert_eq!(names(&p), vec![".env.local", "devnull"]);

    // A FIFO answers at once instead of hanging.
    let q = Project::new();
    let fifo = q.file(".env.convex.local");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let started = Instant::now();
    let run = q.run(&["configure"], &[]);
    assert_no_hang(started);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("is a named pipe (FIFO)"),
        "{}",
        run.stderr()
    );

    // A dangling link.
    let r = Project::new();
    std::os::unix::fs::symlink(r.file("missing/target"), r.file("jwt_private_key.pem")).unwrap();
    let run = r.run(&["configure"], &[]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains("which does not exist"),
        "{}",
        run.stderr()
    );
    assert_eq!(names(&r), vec!["jwt_private_key.pem"]);
}

#[test]
fn a_link_to_a_file_outside_is_replaced_there_and_nothing_else_changes() {
    let outside = Project::new();
    outside.write("shared.env", "KEEP=1\n");
    fs_err::set_permissions(
        outside.file("shared.env"),
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let p = Project::new();
    std::os::unix::fs::symlink(outside.file("shared.env"), p.file(".env.local")).unwrap();
    p.run(&["configure"], &[]).ok();
    let text = outside.read("shared.env");
    assert!(text.starts_with("KEEP=1\n"), "{text}");
    assert!(text.contains("CONVEX_SELF_HOSTED_ADMIN_KEY='convex-self-hosted|"));
    assert_eq!(outside.mode("shared.env"), 0o600);
    assert_eq!(
        names(&outside),
        vec!["shared.env"],
        "no stray file beside the target"
    );
    assert!(
        fs_err::symlink_metadata(p.file(".env.local"))
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn stale_temporary_files_are_removed_and_ignored() {
    let p = Project::new();
    git(&p, &["init", "-q"]);
    p.write(".coder-convex-AbC123", "INSTANCE_SECRET='leaked'\n");
    let run = p.run(&["configure"], &[]);
    run.ok();
    assert!(
        run.stderr().contains("removed temporary files"),
        "{}",
        run.stderr()
    );
    assert!(!p.file(".coder-convex-AbC123").exists());
    // git ignores any that a later kill leaves, and the backups.
    p.write(".coder-convex-new", "x");
    p.write("jwt_private_key.pem.1700000000.bak", "x");
    let ignored = git(
        &p,
        &[
            "check-ignore",
            ".coder-convex-new",
            "jwt_private_key.pem.1700000000.bak",
            ".env.local",
        ],
    );
    assert_eq!(
        ignored,
        ".coder-convex-new\njwt_private_key.pem.1700000000.bak\n.env.local\n"
    );
}

fn git(p: &Project, args: &[&str]) -> String {
    let out = std::process::Command::new(crate::common::require("git"))
        .args(args)
        .current_dir(p.path())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", p.path())
        .output()
        .expect("run git");
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn a_negated_pattern_is_understood_like_git_does() {
    let p = Project::new();
    git(&p, &["init", "-q"]);
    p.write(".gitignore", ".env*\n!.env.local\n");
    assert_eq!(
        git(&p, &["check-ignore", ".env.local"]),
        "",
        "not ignored before"
    );
    p.run(&["configure"], &[]).ok();
    assert_eq!(git(&p, &["check-ignore", ".env.local"]), ".env.local\n");
    assert_eq!(
        git(&p, &["status", "--porcelain", "--untracked-files=all"]),
        "?? .gitignore\n"
    );
}

#[test]
fn two_rotations_in_one_second_keep_both_keys() {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    let first = p.read("jwt_private_key.pem");
    p.run(&["configure", "--rotate-jwt-key"], &[]).ok();
    let second = p.read("jwt_private_key.pem");
    p.run(&["configure", "--rotate-jwt-key"], &[]).ok();
    let mut backups: Vec<String> = names(&p)
        .into_iter()
        .filter(|n| n.starts_with("jwt_private_key.pem.") && n.ends_with(".bak"))
        .map(|n| p.read(&n))
        .collect();
    backups.sort();
    let mut want = vec![first, second];
    want.sort();
    assert_eq!(backups, want);
}

#[test]
fn a_secret_from_the_environment_never_replaces_the_stored_one_silently() {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    let stored = p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    let new = "ab".repeat(32);
    let run = p.run(&["configure"], &[("INSTANCE_SECRET", &new)]);
    run.ok();
    assert!(
        run.stderr()
            .contains("warning: INSTANCE_SECRET from the environment replaces"),
        "{}",
        run.stderr()
    );
    assert!(!run.all().contains(&stored) && !run.all().contains(&new));
    let backup: Vec<String> = names(&p)
        .into_iter()
        .filter(|n| n.starts_with(".env.convex.local.") && n.ends_with(".bak"))
        .collect();
    assert_eq!(backup.len(), 1, "{backup:?}");
    assert_eq!(p.mode(&backup[0]), 0o600);
    assert!(
        p.read(&backup[0])
            .contains(&format!("INSTANCE_SECRET='{stored}'"))
    );
    assert_eq!(p.env_values(".env.convex.local")["INSTANCE_SECRET"], new);
    // The same secret again: no warning, no second backup.
    let again = p.run(&["configure"], &[("INSTANCE_SECRET", &new)]);
    assert!(!again.stderr().contains("warning"), "{}", again.stderr());
}

#[test]
fn exit_2_writes_nothing() {
    // A deployment variable `setup` would refuse is found before the first write.
    let p = Project::new();
    p.write(".env.convex.deployment", "CONVEX_SITE_URL=https://x\n");
    let run = p.run(
        &["setup", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert_eq!(names(&p), vec![".env.convex.deployment"]);
    // `KEY==value` is refused with its line, not pushed as KEY.
    let q = Project::new();
    q.write(".env.convex.deployment", "# comment\nBAD==value\n");
    let run = q.run(
        &["setup", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains(
            ".env.convex.deployment: line 2: BAD== sets BAD to a value that starts with `=`"
        ),
        "{}",
        run.stderr()
    );
    assert_eq!(names(&q), vec![".env.convex.deployment"]);
}
