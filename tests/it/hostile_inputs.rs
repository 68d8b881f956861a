//! Hostile inputs: malformed database and backend URLs never show a password, invalid
//! values are refused before anything is written, errors name the variable, and URL
//! precedence is flag > environment > project file > derived default.

use crate::common::{CODER_ENV, Project};

#[test]
fn malformed_urls_never_show_the_password() {
    for (var, value) in [
        ("DATABASE_URL", "postgres//u:hunter2@h/db"),
        ("DATABASE_URL", "postgres:/u:hunter2@h/db"),
        ("DATABASE_URL", "u:hunter2@h/db"),
        ("DATABASE_URL", "postgres://u:hun?ter2@h:notaport/db"),
        ("POSTGRES_URL", "postgres://u:hunter2@[::1/db"),
        (
            "CODER_CONVEX_BACKEND_URL",
            "http://admin:hunter2@127.0.0.1:3210",
        ),
        (
            "CONVEX_CLOUD_ORIGIN",
            "https://admin:hunter2@api.example.com",
        ),
    ] {
        let p = Project::new();
        let run = p.run(&["configure"], &[(var, value)]);
        assert_eq!(run.code(), 2, "{var}={value}: {}", run.stderr());
        assert!(
            run.stderr().contains(&format!("invalid {var}")),
            "{}",
            run.stderr()
        );
        assert!(
            !run.all().contains("hunter2"),
            "{var}={value}: {}",
            run.all()
        );
        assert!(!p.file(".env.convex.local").exists(), "nothing written");
    }
}

#[test]
fn invalid_values_are_refused_before_anything_is_written() {
    for (var, value, what) in [
        (
            "DATABASE_URL",
            "postgres://u@db/x?sslmode=bogus",
            "sslmode=bogus is not a value the backend accepts",
        ),
        (
            "DATABASE_URL",
            "postgres://u@db:notaport/x",
            "\"notaport\" is not a port (1-65535)",
        ),
        (
            "DATABASE_URL",
            "postgres://u@db:99999/x",
            "\"99999\" is not a port (1-65535)",
        ),
        ("DATABASE_URL", "postgres://u@[::1/x", "has an unclosed `[`"),
        (
            "MYSQL_URL",
            "mysql://u@db/x?require_ssl=maybe",
            "require_ssl=maybe is not a value the backend accepts",
        ),
        ("DATABASE_URL", "postgres://u@d b/x", "is not a host name"),
    ] {
        let p = Project::new();
        let run = p.run(&["configure"], &[(var, value)]);
        assert_eq!(run.code(), 2, "{value}: {}", run.stderr());
        assert!(run.stderr().contains(what), "{value}: {}", run.stderr());
        assert!(
            fs_err::read_dir(p.path()).unwrap().next().is_none(),
            "nothing written"
        );
    }
}

#[test]
fn derived_origins_must_be_clean() {
    let coder = |extra: &[(&'static str, &'static str)]| {
        let mut env: Vec<(&str, &str)> = CODER_ENV.to_vec();
        for (k, v) in extra {
            env.retain(|(key, _)| key != k);
            env.push((k, v));
        }
        env
    };
    for (extra, what) in [
        (
            vec![
                ("CODER_WORKSPACE_NAME", "@@"),
                (
                    "VSCODE_PROXY_URI",
                    "https://{{port}}--main--@@--alice.apps.example.com/",
                ),
            ],
            "holds user info, a backslash or blanks",
        ),
        (
            vec![(
                "VSCODE_PROXY_URI",
                "https://u:hunter2@{{port}}--main--ws--alice.apps.example.com/",
            )],
            "holds user info",
        ),
        (
            vec![(
                "VSCODE_PROXY_URI",
                "https://{{port}}--main--ws--alice.apps.example.com/path?q=1",
            )],
            "is not a bare origin",
        ),
        (
            vec![(
                "VSCODE_PROXY_URI",
                "https://{{port}}--main--ws--alice.apps\\example.com/",
            )],
            "backslash",
        ),
        (
            vec![(
                "VSCODE_PROXY_URI",
                "https://{{port}}--main--ws--alice.-apps.example.com/",
            )],
            "has an invalid host name",
        ),
    ] {
        let p = Project::new();
        let run = p.run(&["configure"], &coder(&extra));
        assert_eq!(run.code(), 2, "{extra:?}: {}", run.stderr());
        assert!(run.stderr().contains(what), "{extra:?}: {}", run.stderr());
        assert!(!run.all().contains("hunter2"));
        assert!(!p.file(".env.development.local").exists());
    }
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let p = Project::new();
    let run = p.run(&["setup"], &[("CODER_CONVEX_WAIT", "abc")]);
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().starts_with(
            "error: invalid value \"abc\" in the environment variable CODER_CONVEX_WAIT (read for --wait)"
        ),
        "{}",
        run.stderr()
    );
    // On the command line the flag is named, as clap does.
    let run = p.run(&["setup", "--wait", "abc"], &[]);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("'--wait <SECS>'"), "{}", run.stderr());
}

#[test]
fn an_explicit_url_stays_until_unpinned() {
    let p = Project::new();
    p.run(
        &["configure", "--cloud-origin", "https://api.example.com"],
        &[],
    )
    .ok();
    assert_eq!(
        p.env_values(".env.convex.local")["CODER_CONVEX_PINNED_URLS"],
        "CONVEX_CLOUD_ORIGIN"
    );
    let v = p.run(&["env", "--json"], &[]).json();
    assert_eq!(v["CONVEX_CLOUD_ORIGIN"], "https://api.example.com");
    assert_eq!(v["url_sources"]["api"], "project-file");
    assert_eq!(v["url_sources"]["site"], "local");
    p.run(&["configure"], &[]).ok();
    assert_eq!(
        p.env_values(".env.convex.local")["CONVEX_CLOUD_ORIGIN"],
        "https://api.example.com"
    );
    // The environment beats the project file; a flag beats the environment.
    let v = p
        .run(
            &["env", "--json"],
            &[("CONVEX_CLOUD_ORIGIN", "https://env.example.com")],
        )
        .json();
    assert_eq!(v["CONVEX_CLOUD_ORIGIN"], "https://env.example.com");
    assert_eq!(v["url_sources"]["api"], "explicit");
    let v = p
        .run(
            &[
                "env",
                "--json",
                "--cloud-origin",
                "https://flag.example.com",
            ],
            &[("CONVEX_CLOUD_ORIGIN", "https://env.example.com")],
        )
        .json();
    assert_eq!(v["CONVEX_CLOUD_ORIGIN"], "https://flag.example.com");
    // Unpinned, it is derived again and the pin is commented out.
    p.run(&["configure", "--unpin-urls"], &[]).ok();
    let values = p.env_values(".env.convex.local");
    assert_eq!(values["CONVEX_CLOUD_ORIGIN"], "http://127.0.0.1:3210");
    assert!(!values.contains_key("CODER_CONVEX_PINNED_URLS"));
    assert_eq!(
        p.run(&["env", "--json"], &[]).json()["url_sources"]["api"],
        "local"
    );
    // All three explicit: `explicit`.
    let all = p
        .run(
            &["env", "--json"],
            &[
                ("CONVEX_CLOUD_ORIGIN", "https://a.example.com"),
                ("CONVEX_SITE_ORIGIN", "https://s.example.com"),
                ("CONVEX_DASHBOARD_URL", "https://d.example.com"),
            ],
        )
        .json();
    assert_eq!(all["url_source"], "explicit");
}
