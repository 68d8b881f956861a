//! A malformed line in a project file: the error names the file, the line and the key,
//! and no piece of any secret reaches stdout, stderr or the `--json` document.

use crate::common::{Project, assert_no_piece_of};
use crate::project::configured;

const DB_PASSWORD: &str = "Pg-pass-9f3a7c1e";
const USER_SECRET: &str = "sk_live_user_secret_7d41";

/// Break the closing quote of `key`'s value in `file` (`KEY='v'` becomes `KEY='v`).
fn break_quote(p: &Project, file: &str, key: &str) {
    let text = p.read(file);
    let broken: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&format!("{key}='")) {
                l.trim_end_matches('\'').to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_ne!(broken.join("\n") + "\n", text, "{key} in {file}");
    p.write(file, &(broken.join("\n") + "\n"));
}

#[test]
fn a_broken_quote_before_the_database_url_does_not_print_its_password() {
    let p = Project::new();
    let url = format!("postgres://app:{DB_PASSWORD}@db.internal:5432/convex");
    p.run(&["configure"], &[("DATABASE_URL", &url)]).ok();
    assert!(p.read(".env.convex.local").contains(DB_PASSWORD));
    break_quote(&p, ".env.convex.local", "CONVEX_CLOUD_ORIGIN");
    let run = p.run(&["status", "--json", "--timeout", "5"], &[]);
    assert_eq!(run.code(), 2, "{}", run.all());
    let doc = run.doc();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["error"]["code"], "project_file");
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.ends_with(
            ".env.convex.local: line 4: the entry for CONVEX_CLOUD_ORIGIN: its quoted value is never closed (the value is not shown)"
        ),
        "{message}"
    );
    assert_no_piece_of(DB_PASSWORD, &run.all());
}

#[test]
fn a_broken_instance_name_does_not_print_the_instance_secret_in_metadata() {
    let (p, secret) = configured();
    break_quote(&p, ".env.convex.local", "INSTANCE_NAME");
    for args in [
        &["status", "--metadata", "backend"][..],
        &["status", "--json", "--timeout", "5"],
        &["doctor", "--json"],
        &["env"],
    ] {
        let run = p.run(args, &[]);
        assert_no_piece_of(&secret.expose_hex(), &run.all());
        assert!(
            run.all().contains("INSTANCE_NAME"),
            "{args:?}: {}",
            run.all()
        );
    }
}

#[test]
fn a_broken_line_in_env_local_does_not_print_the_admin_key() {
    let (p, _) = configured();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    let text = p.read(".env.local").replace(
        &format!("CONVEX_SELF_HOSTED_ADMIN_KEY='{key}'"),
        &format!("CONVEX_SELF_HOSTED_ADMIN_KEY='{key}"),
    );
    p.write(".env.local", &text);
    let run = p.run(&["status", "--json", "--timeout", "5"], &[]);
    assert_eq!(run.code(), 2, "{}", run.all());
    assert!(
        run.doc()["error"]["message"].as_str().unwrap().contains(
            "the entry for CONVEX_SELF_HOSTED_ADMIN_KEY: its quoted value is never closed"
        ),
        "{}",
        run.all()
    );
    // The key's secret part (after the instance name).
    assert_no_piece_of(key.split_once('|').unwrap().1, &run.all());
}

#[test]
fn a_bad_name_or_quote_in_the_deployment_file_does_not_print_the_users_secret() {
    let (p, _) = configured();
    for (content, line, key) in [
        (format!("# mine\nBAD-NAME={USER_SECRET}\n"), 2, "BAD-NAME"),
        (
            format!("OK=1\nSTRIPE_KEY=\"{USER_SECRET}\nX=1\n"),
            2,
            "STRIPE_KEY",
        ),
        (format!("{USER_SECRET}\n"), 1, ""),
    ] {
        p.write(".env.convex.deployment", &content);
        for args in [
            &["status", "--json", "--timeout", "5"][..],
            &["env-set", "--json", "--wait", "1"],
            &["configure", "--json"],
        ] {
            let run = p.run(args, &[]);
            assert_eq!(run.code(), 2, "{args:?}: {}", run.all());
            let message = run.doc()["error"]["message"].as_str().unwrap().to_owned();
            assert!(
                message.contains(&format!(".env.convex.deployment: line {line}: the entry")),
                "{message}"
            );
            assert!(message.contains(key), "{message}");
            assert_no_piece_of(USER_SECRET, &run.all());
        }
    }
}
