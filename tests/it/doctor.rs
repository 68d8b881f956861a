//! `doctor` against the fake backend: a healthy setup passes every check, and each fault
//! from the field makes exactly its check fail (or warn), with a hint.

use std::os::unix::fs::PermissionsExt as _;

use coder_convex::config::secrets::InstanceSecret;
use serde_json::Value;

use crate::common::{CODER_ENV, CODER_LONG_LABEL_ENV, Project, Run, http_stub};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::project::{configured, doctor_check, fake_for};

struct Healthy {
    p: Project,
    fake: FakeBackend,
    env: Vec<(String, String)>,
}

impl Healthy {
    /// A project set up against a fake whose canonical URLs match `extra`'s explicit origins.
    fn new(extra: &[(&str, &str)]) -> Self {
        let p = Project::new();
        let mut pre: Vec<(&str, &str)> = extra.to_vec();
        pre.push(("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"));
        p.run(&["configure"], &pre).ok();
        let values = p.env_values(".env.convex.local");
        let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
        let mut config = FakeConfig::new(&values["INSTANCE_NAME"], secret);
        config.cloud_origin = values["CONVEX_CLOUD_ORIGIN"].clone();
        config.site_origin = values["CONVEX_SITE_ORIGIN"].clone();
        let fake = FakeBackend::start(config);
        let mut env: Vec<(String, String)> = extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        env.push(("CODER_CONVEX_BACKEND_URL".into(), fake.api_url.clone()));
        env.push(("CODER_CONVEX_SITE_PROXY_URL".into(), fake.site_url.clone()));
        // The site proxy's port stands in for the dashboard's: doctor only checks it listens.
        env.push((
            "CODER_CONVEX_DASHBOARD_INTERNAL_URL".into(),
            fake.site_url.clone(),
        ));
        let healthy = Self { p, fake, env };
        healthy.run(&["setup"]).ok();
        healthy
    }

    fn run(&self, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.p.run(args, &env)
    }

    fn doctor(&self) -> (i32, Vec<Value>) {
        let run = self.run(&["doctor", "--json"]);
        let v: Value = serde_json::from_str(&run.stdout())
            .unwrap_or_else(|_| panic!("{}\n{}", run.stdout(), run.stderr()));
        assert_eq!(v["ok"], run.code() == 0);
        (run.code(), v["checks"].as_array().unwrap().clone())
    }
}

/// The checks that are not `pass`, as (name, status).
fn not_passing(checks: &[Value]) -> Vec<(String, String)> {
    checks
        .iter()
        .filter(|c| c["status"] != "pass")
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn check<'a>(checks: &'a [Value], name: &str) -> &'a Value {
    checks
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"))
}

fn only_failing(checks: &[Value], name: &str) {
    assert_eq!(
        not_passing(checks),
        vec![(name.to_owned(), "fail".to_owned())],
        "{checks:#?}"
    );
    assert!(
        check(checks, name)["hint"]
            .as_str()
            .is_some_and(|h| !h.is_empty())
    );
}

#[test]
fn a_healthy_setup_passes_every_check() {
    let h = Healthy::new(&[]);
    let (code, checks) = h.doctor();
    assert_eq!(not_passing(&checks), vec![]);
    assert_eq!(code, 0);
    assert!(checks.len() >= 20, "{}", checks.len());
    let human = h.run(&["doctor"]);
    human.ok();
    assert!(
        human.stderr().contains("✓ backend health"),
        "{}",
        human.stderr()
    );
    // No secret in any output.
    let secret = h.p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    let key = h.p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    for run in [&human, &h.run(&["doctor", "--json"])] {
        assert!(!run.all().contains(&secret));
        assert!(!run.all().contains(&key));
    }
}

#[test]
fn loose_modes_fail_and_fix_repairs_them() {
    let h = Healthy::new(&[]);
    fs_err::set_permissions(
        h.p.file(".env.local"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let (code, checks) = h.doctor();
    assert_eq!(code, 1);
    only_failing(&checks, "secret file modes");
    assert!(
        check(&checks, "secret file modes")["detail"]
            .as_str()
            .unwrap()
            .contains(".env.local (644)")
    );
    let fix = h.run(&["doctor", "--fix"]);
    fix.ok();
    assert!(
        fix.stderr().contains("fixed: .env.local mode 644 → 600"),
        "{}",
        fix.stderr()
    );
    assert_eq!(h.p.mode(".env.local"), 0o600);
}

#[test]
fn env_file_typos_are_named() {
    let h = Healthy::new(&[]);
    let text = h.p.read(".env.local");
    h.p.write(
        ".env.local",
        &format!("{text}CONVEX_SITE_URL==https://example.com\n"),
    );
    let (_, checks) = h.doctor();
    only_failing(&checks, "env file typos");
    let detail = check(&checks, "env file typos")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        detail,
        format!(".env.local:{} CONVEX_SITE_URL==", text.lines().count() + 1)
    );
}

#[test]
fn do_not_require_ssl_false_is_named() {
    let h = Healthy::new(&[]);
    let text = h.p.read(".env.convex.local");
    h.p.write(
        ".env.convex.local",
        &format!("{text}DO_NOT_REQUIRE_SSL=false\n"),
    );
    let (_, checks) = h.doctor();
    only_failing(&checks, "database TLS settings");
    assert!(
        check(&checks, "database TLS settings")["detail"]
            .as_str()
            .unwrap()
            .contains("still disables")
    );
}

#[test]
fn convex_deployment_beside_self_hosted_is_named() {
    let h = Healthy::new(&[]);
    let text = h.p.read(".env.local");
    h.p.write(
        ".env.local",
        &format!("{text}CONVEX_DEPLOYMENT=dev:happy-otter-123\n"),
    );
    let (_, checks) = h.doctor();
    only_failing(&checks, "deployment selector conflict");
    let c = check(&checks, "deployment selector conflict");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("CONVEX_DEPLOYMENT in .env.local:"),
        "{c}"
    );
}

#[test]
fn every_deployment_selector_in_env_or_dot_env_is_named() {
    let h = Healthy::new(&[("CONVEX_DEPLOYMENT_TOKEN", "prod:abc|xyz")]);
    h.p.write(".env", "CONVEX_DEPLOY_KEY=prod:team|secret\n");
    let (_, checks) = h.doctor();
    only_failing(&checks, "deployment selector conflict");
    let c = check(&checks, "deployment selector conflict");
    assert!(
        c["detail"]
            .as_str()
            .unwrap()
            .starts_with("CONVEX_DEPLOY_KEY in .env, CONVEX_DEPLOYMENT_TOKEN in the environment:"),
        "{c}"
    );
    assert!(!c.to_string().contains("secret"), "{c}");
}

#[test]
fn a_jwks_that_does_not_match_the_key_is_named_and_fix_re_pushes() {
    let h = Healthy::new(&[]);
    h.fake.set_env(
        "JWKS",
        r#"{"keys":[{"use":"sig","kty":"RSA","n":"AAAA","e":"AQAB"}]}"#,
    );
    let (_, checks) = h.doctor();
    only_failing(&checks, "deployment env");
    let detail = check(&checks, "deployment env")["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        detail,
        "the deployment's JWKS does not match jwt_private_key.pem (stale: JWKS)"
    );
    let before = h.fake.update_count();
    h.run(&["doctor", "--fix"]).ok();
    assert_eq!(h.fake.update_count(), before + 1);
    let (code, _) = h.doctor();
    assert_eq!(code, 0);
}

#[test]
fn a_site_origin_on_the_api_port_or_3212_is_named() {
    for origin in ["http://127.0.0.1:3210", "http://127.0.0.1:3212"] {
        let h = Healthy::new(&[("CONVEX_SITE_ORIGIN", origin)]);
        let (_, checks) = h.doctor();
        only_failing(&checks, "site origin");
    }
}

/// The checks with the given status, by name.
fn with_status(checks: &[Value], status: &str) -> Vec<String> {
    checks
        .iter()
        .filter(|c| c["status"] == status)
        .map(|c| c["name"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_down_backend_is_one_failure_and_file_checks_still_run() {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    fs_err::set_permissions(
        p.file(".env.convex.local"),
        std::fs::Permissions::from_mode(0o640),
    )
    .unwrap();
    let env = [
        ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"),
        ("CODER_CONVEX_SITE_PROXY_URL", "http://127.0.0.1:9"),
        ("CODER_CONVEX_DASHBOARD_INTERNAL_URL", "http://127.0.0.1:9"),
    ];
    let run = p.run(&["doctor", "--json"], &env);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    let checks = v["checks"].as_array().unwrap();
    // One cause, one failure: what needs the backend is skipped, not failed.
    assert_eq!(
        with_status(checks, "fail"),
        ["secret file modes", "backend health"]
    );
    assert_eq!(
        with_status(checks, "skip"),
        [
            "convex CLI",
            "ports",
            "instance name",
            "admin key accepted",
            "canonical URLs",
            "deployment env",
            "auth discovery",
            "auth providers"
        ]
    );
    assert_eq!(
        check(checks, "instance name")["detail"],
        "not checked: the backend is not answering"
    );
    assert_eq!(check(checks, "instance name")["hint"], Value::Null);
    assert_eq!(
        v["error"]["message"],
        "2 checks failed: secret file modes, backend health"
    );
    let human = p.run(&["doctor"], &env);
    assert_eq!(human.code(), 1);
    // `-` marks a skipped check; the name column is as wide as the longest name.
    let row = human
        .stderr()
        .lines()
        .find_map(|l| l.strip_prefix("- instance name "))
        .map(|rest| rest.trim_start().to_owned());
    assert_eq!(
        row.as_deref(),
        Some("not checked: the backend is not answering"),
        "{}",
        human.stderr()
    );
}

#[test]
fn a_fresh_directory_has_no_secret_files_yet() {
    let p = Project::new();
    let env = [
        ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"),
        ("CODER_CONVEX_SITE_PROXY_URL", "http://127.0.0.1:9"),
        ("CODER_CONVEX_DASHBOARD_INTERNAL_URL", "http://127.0.0.1:9"),
    ];
    let run = p.run(&["doctor", "--json"], &env);
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    let modes = check(v["checks"].as_array().unwrap(), "secret file modes");
    assert_eq!(modes["status"], "skip");
    assert_eq!(modes["detail"], "no secret files yet");
}

#[test]
fn coder_specific_faults() {
    // Labels over 63 characters: the inputs check fails, the file checks still run.
    let p = Project::new();
    let long = CODER_LONG_LABEL_ENV;
    let run = p.run(&["doctor", "--json"], &long);
    let v: Value = serde_json::from_str(&run.stdout()).unwrap();
    let checks = v["checks"].as_array().unwrap();
    let inputs = check(checks, "environment inputs");
    assert_eq!(inputs["status"], "fail");
    assert!(inputs["detail"].as_str().unwrap().contains("DNS allows 63"));
    assert!(inputs["hint"].as_str().unwrap().contains("--short-labels"));
    assert_eq!(check(checks, "file .env.convex.local")["status"], "fail");

    // No wildcard (the agent's manifest says so): a warning that names the admin setting.
    let agent = crate::common::agent_without_wildcard();
    let h = Healthy::new(&[("CODER", "true"), ("CODER_AGENT_DEBUG_ADDRESS", &agent)]);
    let (code, checks) = h.doctor();
    assert_eq!(code, 0);
    assert_eq!(
        not_passing(&checks),
        vec![("public URLs".to_owned(), "warn".to_owned())]
    );
    assert!(
        check(&checks, "public URLs")["hint"]
            .as_str()
            .unwrap()
            .contains("CODER_WILDCARD_ACCESS_URL")
    );
}

/// A stand-in for Coder's app proxy that sends anonymous requests to the login.
fn coder_login_proxy() -> String {
    let addr = http_stub(|_| {
        "HTTP/1.1 307 Temporary Redirect\r\nlocation: https://coder.example.com/api/v2/applications/auth-redirect?redirect_uri=x\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".to_owned()
    });
    format!("http://{addr}")
}

#[test]
fn a_public_url_behind_the_coder_login_is_named() {
    let (api, site) = (coder_login_proxy(), coder_login_proxy());
    let mut env = CODER_ENV.to_vec();
    env.extend([
        ("CONVEX_CLOUD_ORIGIN", api.as_str()),
        ("CONVEX_SITE_ORIGIN", site.as_str()),
    ]);
    let h = Healthy::new(&env);
    let (_, checks) = h.doctor();
    only_failing(&checks, "public URL access");
    let c = check(&checks, "public URL access");
    assert_eq!(
        c["detail"],
        "convex-api and convex-site redirect to the Coder login"
    );
    assert!(c["hint"].as_str().unwrap().contains("share = \"public\""));
}

/// Functions and no `convex` package: every `setup` would fail its deploy and every backup its
/// export, so the check fails and names the install command of the project's package manager.
#[test]
fn functions_that_cannot_be_deployed_fail_the_convex_cli_check() {
    let (p, secret) = configured();
    let fake = FakeBackend::start(fake_for(&secret));
    p.write("package.json", r#"{"dependencies":{"convex":"1.48.0"}}"#);
    p.write("pnpm-lock.yaml", "lockfileVersion: '9.0'\n");
    fs_err::create_dir_all(p.file("convex")).unwrap();
    p.write("convex/messages.ts", "export {};\n");
    let (code, check) = doctor_check(&p, &fake, &[], "convex CLI");
    assert_eq!(code, 1, "{check}");
    assert_eq!(check["status"], "fail", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("convex/ holds functions but the convex package is not installed"),
        "{check}"
    );
    assert!(
        check["hint"]
            .as_str()
            .unwrap()
            .contains("`pnpm install --frozen-lockfile`"),
        "{check}"
    );

    // Without functions there is nothing to deploy: a pass.
    fs_err::remove_dir_all(p.file("convex")).unwrap();
    let (_, check) = doctor_check(&p, &fake, &[], "convex CLI");
    assert_eq!(check["status"], "pass", "{check}");
}
