//! `env` and `admin-key`: every URL rule end to end, masking, and no writes.

use coder_convex::config::secrets::{InstanceSecret, validate_admin_key};

use crate::common::{
    CODER_ENV, CODER_LONG_LABEL_ENV, Project, agent_without_wildcard, http_server, http_stub,
};

fn env_json(p: &Project, env: &[(&str, &str)]) -> serde_json::Value {
    p.run(&["env", "--format", "json"], env).json()
}

/// A stand-in Coder agent debug server serving [`MANIFEST`].
fn fake_agent() -> String {
    http_stub(|line| {
        let (status, body) = if line.starts_with("GET /debug/manifest ") {
            ("200 OK", MANIFEST)
        } else {
            ("404 Not Found", "")
        };
        format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    })
}

const MANIFEST: &str = r#"{
  "agent_name": "dev", "workspace_name": "shop", "owner_name": "bob",
  "vscode_port_proxy_uri": "https://{{port}}--dev--shop--bob-apps.corp.example:8443",
  "apps": [
    {"slug": "convex-api", "subdomain": true, "subdomain_name": "convex-api--dev--shop--bob"},
    {"slug": "convex-site", "subdomain": true, "subdomain_name": "convex-site--dev--shop--bob"}
  ],
  "environment_variables": {"SECRET_TOKEN": "do-not-print-me"}
}"#;

#[test]
fn every_url_rule_end_to_end() {
    let p = Project::new();
    let agent = fake_agent();
    type Case<'a> = (Vec<(&'a str, &'a str)>, &'a str, [&'a str; 3]);
    let cases: Vec<Case> = vec![
        (
            vec![],
            "local",
            [
                "http://127.0.0.1:3210",
                "http://127.0.0.1:3211",
                "http://127.0.0.1:6791",
            ],
        ),
        (
            CODER_ENV.to_vec(),
            "coder-proxy-uri",
            [
                "https://convex-api--main--ws--alice.apps.example.com",
                "https://convex-site--main--ws--alice.apps.example.com",
                "https://convex-dashboard--main--ws--alice.apps.example.com",
            ],
        ),
        (
            vec![
                ("CODER", "true"),
                (
                    "VSCODE_PROXY_URI",
                    "https://{{port}}--main--ws--alice-apps.example.com:7443",
                ),
                ("CODER_WORKSPACE_AGENT_NAME", "main"),
                ("CODER_WORKSPACE_NAME", "ws"),
                ("CODER_WORKSPACE_OWNER_NAME", "alice"),
            ],
            "coder-proxy-uri",
            [
                "https://convex-api--main--ws--alice-apps.example.com:7443",
                "https://convex-site--main--ws--alice-apps.example.com:7443",
                "https://convex-dashboard--main--ws--alice-apps.example.com:7443",
            ],
        ),
        (
            vec![
                ("CODER", "true"),
                ("CODER_AGENT_DEBUG_ADDRESS", agent.as_str()),
            ],
            "coder-manifest",
            [
                "https://convex-api--dev--shop--bob-apps.corp.example:8443",
                "https://convex-site--dev--shop--bob-apps.corp.example:8443",
                "https://convex-dashboard--dev--shop--bob-apps.corp.example:8443",
            ],
        ),
        (
            vec![
                ("CODESPACE_NAME", "fluffy-abc"),
                ("GITHUB_CODESPACES_PORT_FORWARDING_DOMAIN", "app.github.dev"),
            ],
            "codespaces",
            [
                "https://fluffy-abc-3210.app.github.dev",
                "https://fluffy-abc-3211.app.github.dev",
                "https://fluffy-abc-6791.app.github.dev",
            ],
        ),
        (
            vec![(
                "GITPOD_WORKSPACE_URL",
                "https://alice-repo-x1.ws-eu.gitpod.io",
            )],
            "gitpod",
            [
                "https://3210-alice-repo-x1.ws-eu.gitpod.io",
                "https://3211-alice-repo-x1.ws-eu.gitpod.io",
                "https://6791-alice-repo-x1.ws-eu.gitpod.io",
            ],
        ),
        (
            vec![
                ("CONVEX_CLOUD_ORIGIN", "https://api.example.com/"),
                ("CONVEX_SITE_ORIGIN", "https://example.com/http"),
                ("CONVEX_DASHBOARD_URL", "https://dash.example.com"),
            ],
            "explicit",
            [
                "https://api.example.com",
                "https://example.com/http",
                "https://dash.example.com",
            ],
        ),
    ];
    for (env, source, [api, site, dashboard]) in cases {
        let v = env_json(&p, &env);
        assert_eq!(v["url_source"], source, "{env:?}");
        assert_eq!(v["CONVEX_CLOUD_ORIGIN"], api, "{env:?}");
        assert_eq!(v["CONVEX_SITE_ORIGIN"], site, "{env:?}");
        assert_eq!(v["CONVEX_DASHBOARD_URL"], dashboard, "{env:?}");
        assert_eq!(v["CONVEX_SELF_HOSTED_URL"], "http://127.0.0.1:3210");
    }
    // The manifest's environment never leaks.
    let run = p.run(
        &["env", "--format", "json", "-v"],
        &[
            ("CODER", "true"),
            ("CODER_AGENT_DEBUG_ADDRESS", agent.as_str()),
        ],
    );
    assert!(!run.all().contains("do-not-print-me"));
}

#[test]
fn one_override_keeps_the_other_urls_derived() {
    let p = Project::new();
    let mut env = CODER_ENV.to_vec();
    env.push(("CONVEX_SITE_ORIGIN", "https://hooks.example.com"));
    let v = env_json(&p, &env);
    assert_eq!(v["url_source"], "coder-proxy-uri");
    assert_eq!(v["CONVEX_SITE_ORIGIN"], "https://hooks.example.com");
    assert_eq!(
        v["CONVEX_CLOUD_ORIGIN"],
        "https://convex-api--main--ws--alice.apps.example.com"
    );
    // The flag beats the environment.
    let run = p.run(
        &[
            "env",
            "--format",
            "json",
            "--site-origin",
            "https://flag.example.com",
        ],
        &env,
    );
    assert_eq!(run.json()["CONVEX_SITE_ORIGIN"], "https://flag.example.com");
}

const CODER_WITHOUT_PROXY_URI: [(&str, &str); 6] = [
    ("CODER", "true"),
    ("CODER_AGENT_URL", "https://coder.example.com/"),
    ("CODER_URL", "https://coder.example.com"),
    ("CODER_WORKSPACE_NAME", "ws"),
    ("CODER_WORKSPACE_OWNER_NAME", "alice"),
    ("CODER_WORKSPACE_AGENT_NAME", "main"),
];

/// `env --format json` in Coder without `{{port}}` in `VSCODE_PROXY_URI`, the agent at `agent`.
fn coder_env_with_agent(p: &Project, agent: &str) -> crate::common::Run {
    let mut env = CODER_WITHOUT_PROXY_URI.to_vec();
    env.push(("CODER_AGENT_DEBUG_ADDRESS", agent));
    p.run(&["env", "--format", "json"], &env)
}

#[test]
fn coder_without_wildcard_warns_and_never_guesses_a_host() {
    let p = Project::new();
    // The agent answers: its manifest has no port-proxy template, so there is no wildcard.
    let agent = agent_without_wildcard();
    let run = coder_env_with_agent(&p, &agent);
    let v = run.json();
    assert_eq!(v["url_source"], "coder-no-wildcard");
    assert_eq!(v["CONVEX_CLOUD_ORIGIN"], "http://127.0.0.1:3210");
    assert!(
        run.stderr().contains("CODER_WILDCARD_ACCESS_URL"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("coder port-forward"),
        "{}",
        run.stderr()
    );
    assert!(!run.stdout().contains("coder.example.com"));
}

/// An agent that does not answer, answers slowly or answers too much says nothing about a
/// wildcard: the warning names the endpoint and the reason (the time or the limit), never
/// blames a missing wildcard, and the source says the URLs are a stopgap.
#[test]
fn an_unreadable_agent_manifest_is_named_not_taken_for_a_missing_wildcard() {
    let p = Project::new();
    let slow = http_server(|_, stream| {
        // Hold the connection past the probe's time, then close it.
        std::thread::sleep(std::time::Duration::from_secs(5));
        drop(stream);
    });
    let huge = http_server(|_, mut stream| {
        use std::io::Write as _;
        let _ =
            stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"x\":\"");
        let chunk = vec![b'a'; 1024 * 1024];
        for _ in 0..9 {
            if stream.write_all(&chunk).is_err() {
                return;
            }
        }
    });
    let slow = slow.trim_start_matches("http://").to_owned();
    let huge = huge.trim_start_matches("http://").to_owned();
    for (agent, reason) in [
        ("127.0.0.1:9".to_owned(), "failed".to_owned()),
        (slow.clone(), "did not answer within 2 s".to_owned()),
        (huge.clone(), "answered more than 8 MiB".to_owned()),
    ] {
        let run = coder_env_with_agent(&p, &agent);
        let v = run.json();
        assert_eq!(v["url_source"], "coder-manifest-unavailable", "{agent}");
        assert_eq!(v["CONVEX_CLOUD_ORIGIN"], "http://127.0.0.1:3210");
        let stderr = run.stderr();
        let endpoint = format!(
            "could not read the Coder agent's manifest (GET http://{agent}/debug/manifest "
        );
        assert!(stderr.contains(&endpoint), "{agent}: {stderr}");
        assert!(stderr.contains(&reason), "{agent}: {stderr}");
        assert!(
            !stderr.contains("has no wildcard access URL"),
            "{agent}: {stderr}"
        );
    }
}

#[test]
fn env_writes_nothing_and_shows_missing_secrets_as_null() {
    let p = Project::new();
    let v = env_json(
        &p,
        &[(
            "DATABASE_URL",
            "postgres://app:pw@db.internal:5432/convex_dev",
        )],
    );
    assert_eq!(v["INSTANCE_SECRET"], serde_json::Value::Null);
    assert_eq!(v["CONVEX_SELF_HOSTED_ADMIN_KEY"], serde_json::Value::Null);
    assert_eq!(v["INSTANCE_NAME"], "convex-dev");
    assert_eq!(
        v["POSTGRES_URL"],
        "postgres://app:****@db.internal:5432?sslmode=disable"
    );
    assert_eq!(v["DO_NOT_REQUIRE_SSL"], "1");
    assert_eq!(fs_err::read_dir(p.path()).unwrap().count(), 0);

    let dotenv = p.run(&["env"], &[]).ok();
    assert!(
        dotenv.contains("# INSTANCE_SECRET is not set yet"),
        "{dotenv}"
    );
    let shell = p.run(&["env", "--format", "shell"], &[]).ok();
    assert!(
        shell.contains("export INSTANCE_NAME='convex-self-hosted'\n"),
        "{shell}"
    );
    assert!(shell.ends_with("# url_source=local\n"), "{shell}");
}

#[test]
fn env_masks_unless_revealed() {
    let p = Project::new();
    let db = [(
        "DATABASE_URL",
        "postgres://app:hunter2@db.example.com/convex",
    )];
    p.run(&["configure"], &db).ok();
    let secret = p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    let key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    let masked = env_json(&p, &db);
    assert_eq!(masked["INSTANCE_SECRET"], "****");
    assert_eq!(
        masked["CONVEX_SELF_HOSTED_ADMIN_KEY"],
        format!("convex|{}…", &key["convex|".len()..][..4])
    );
    assert_eq!(
        masked["POSTGRES_URL"],
        "postgres://app:****@db.example.com?sslmode=require"
    );
    assert!(masked.get("DO_NOT_REQUIRE_SSL").is_none());
    let revealed = p.run(&["env", "--format", "json", "--reveal"], &db).json();
    assert_eq!(revealed["INSTANCE_SECRET"], secret.as_str());
    assert_eq!(revealed["CONVEX_SELF_HOSTED_ADMIN_KEY"], key.as_str());
    assert_eq!(
        revealed["POSTGRES_URL"],
        "postgres://app:hunter2@db.example.com?sslmode=require"
    );
    // `--json` is the same as `--format json`.
    assert_eq!(p.run(&["env", "--json"], &db).json(), masked);
}

#[test]
fn admin_key_prints_one_valid_line() {
    let p = Project::new();
    let run = p.run(&["admin-key"], &[]);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr().contains("coder-convex configure"),
        "{}",
        run.stderr()
    );

    p.run(&["configure"], &[]).ok();
    let secret =
        InstanceSecret::from_hex(&p.env_values(".env.convex.local")["INSTANCE_SECRET"]).unwrap();
    let out = p.run(&["admin-key"], &[]).ok();
    assert_eq!(out.lines().count(), 1);
    let key = out.trim_end();
    assert_eq!(
        key,
        p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"]
    );
    assert!(
        !validate_admin_key(key, &secret, "convex-self-hosted")
            .unwrap()
            .legacy
    );

    let legacy = p.run(&["admin-key", "--legacy"], &[]).ok();
    let legacy = legacy.trim_end();
    assert!(legacy.starts_with("convex-self-hosted|01"));
    assert!(
        validate_admin_key(legacy, &secret, "convex-self-hosted")
            .unwrap()
            .legacy
    );

    // A secret from the environment wins and needs no files.
    let empty = Project::new();
    let hex = "4361726e697461732c206c69746572616c6c79206d65616e696e6720226c6974";
    let out = empty
        .run(
            &["admin-key"],
            &[("INSTANCE_SECRET", hex), ("INSTANCE_NAME", "demo")],
        )
        .ok();
    let secret = InstanceSecret::from_hex(hex).unwrap();
    assert!(validate_admin_key(out.trim_end(), &secret, "demo").is_ok());
    assert_eq!(fs_err::read_dir(empty.path()).unwrap().count(), 0);
}

#[test]
fn long_labels_fail_with_a_hint() {
    let p = Project::new();
    let env = CODER_LONG_LABEL_ENV;
    let run = p.run(&["configure"], &env);
    assert_eq!(run.code(), 2);
    assert!(run.stderr().contains("DNS allows 63"), "{}", run.stderr());
    assert!(run.stderr().contains("--short-labels"), "{}", run.stderr());
    let mut short = env.to_vec();
    short.push(("CODER_CONVEX_SHORT_LABELS", "true"));
    let v = p.run(&["env", "--json"], &short).json();
    assert_eq!(
        v["CONVEX_DASHBOARD_URL"],
        "https://convex-dashboard--my-very-long-workspace-name-for-demos--alice.apps.example.com"
    );
}
