//! Auth libraries: sample projects built from the real npm packages (`@convex-dev/auth`,
//! `@convex-dev/better-auth` + `better-auth`, Clerk) get exactly the deployment variables each
//! needs, the app's own URL per workspace, a stable `BETTER_AUTH_SECRET`, per-library checks
//! after deploy, and `better-auth` itself accepts what we give it.

use std::collections::BTreeMap;
use std::path::Path;

use coder_convex::config::secrets::{InstanceSecret, JwtKey};
use serde_json::{Value, json};

use crate::common::{CODER_ENV, Project, Run, node_peers};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::project::{deployable, path_with};

const API: &str = "https://convex-api--main--ws--alice.apps.example.com";
const SITE: &str = "https://convex-site--main--ws--alice.apps.example.com";

/// The version of a package installed in `tests/node` (the real one from npm).
fn installed(peers: &Path, package: &str) -> String {
    let text = fs_err::read_to_string(
        peers
            .join("node_modules")
            .join(package)
            .join("package.json"),
    )
    .unwrap_or_else(|e| panic!("{package} is not installed in tests/node: {e}"));
    let v: Value = serde_json::from_str(&text).unwrap();
    v["version"].as_str().unwrap().to_owned()
}

/// A project whose `package.json` lists `packages` at the versions npm installed, plus a
/// dev script and `convex/auth.config.ts`.
fn sample(packages: &[&str], dev: &str, auth_config: &str) -> Project {
    let peers = node_peers();
    let deps: serde_json::Map<String, Value> = packages
        .iter()
        .map(|p| {
            let version = match *p {
                "vite" => "7.1.0".to_owned(),
                "next" => "15.5.0".to_owned(),
                _ => installed(&peers, p),
            };
            ((*p).to_owned(), Value::String(version))
        })
        .collect();
    let p = Project::new();
    p.write(
        "package.json",
        &serde_json::to_string_pretty(&json!({"scripts": {"dev": dev}, "dependencies": deps}))
            .unwrap(),
    );
    fs_err::create_dir_all(p.file("convex")).unwrap();
    p.write("convex/auth.config.ts", auth_config);
    p
}

fn convex_auth_next() -> Project {
    sample(
        &["convex", "next", "@convex-dev/auth", "@auth/core"],
        "next dev",
        "export default { providers: [{ domain: process.env.CONVEX_SITE_URL, applicationID: \"convex\" }] };\n",
    )
}

fn better_auth_vite() -> Project {
    sample(
        &["convex", "vite", "@convex-dev/better-auth", "better-auth"],
        "vite",
        "import { getAuthConfigProvider } from \"@convex-dev/better-auth/auth-config\";\nexport default { providers: [getAuthConfigProvider()] };\n",
    )
}

fn clerk_vite() -> Project {
    sample(
        &["convex", "vite", "@clerk/clerk-react"],
        "vite --port 4000",
        "export default { providers: [{ domain: process.env.CLERK_JWT_ISSUER_DOMAIN, applicationID: \"convex\" }] };\n",
    )
}

/// A fake for `p` (configured first) whose canonical URLs are the Coder ones.
fn coder_fake(p: &Project, better_auth_routes: bool) -> FakeBackend {
    p.run(&["configure"], &CODER_ENV).ok();
    let values = p.env_values(".env.convex.local");
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let mut config = FakeConfig::new("convex-self-hosted", secret);
    config.cloud_origin = API.into();
    config.site_origin = SITE.into();
    config.better_auth_routes = better_auth_routes;
    FakeBackend::start(config)
}

fn run_coder(p: &Project, args: &[&str], fake: &FakeBackend, extra: &[(&str, &str)]) -> Run {
    let mut env: Vec<(&str, &str)> = CODER_ENV.to_vec();
    env.push(("CODER_CONVEX_BACKEND_URL", &fake.api_url));
    env.push(("CODER_CONVEX_SITE_PROXY_URL", &fake.site_url));
    env.extend_from_slice(extra);
    p.run(args, &env)
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn next_with_convex_auth_gets_the_3000_url_and_its_jwt_keys() {
    let p = convex_auth_next();
    let fake = coder_fake(&p, false);
    run_coder(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    let jwt = JwtKey::from_pem(&p.read("jwt_private_key.pem")).unwrap();
    let app = "https://3000--main--ws--alice.apps.example.com";
    assert_eq!(
        fake.env(),
        map(&[
            ("JWT_PRIVATE_KEY", &jwt.expose_env_value()),
            ("JWKS", &jwt.jwks()),
            ("CONVEX_SITE_ORIGIN", SITE),
            ("JWT_ISSUER", SITE),
            ("SITE_URL", app),
            (
                "CODER_CONVEX_MANAGED_VARS",
                "CONVEX_SITE_ORIGIN,JWKS,JWT_ISSUER,JWT_PRIVATE_KEY,SITE_URL"
            ),
        ])
    );
    assert_eq!(
        p.env_values(".env.development.local"),
        map(&[
            ("NEXT_PUBLIC_CONVEX_URL", API),
            ("NEXT_PUBLIC_CONVEX_SITE_URL", SITE),
            ("NEXT_PUBLIC_SITE_URL", app),
        ])
    );
    assert!(!p.file(".env.convex.auth.local").exists());
}

#[test]
fn vite_with_better_auth_gets_the_5173_url_and_a_stable_secret_with_no_flag() {
    let p = better_auth_vite();
    let fake = coder_fake(&p, false);
    run_coder(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    assert_eq!(p.mode(".env.convex.auth.local"), 0o600);
    let secret = p.env_values(".env.convex.auth.local")["BETTER_AUTH_SECRET"].clone();
    assert_eq!(secret.len(), 44, "32 bytes in base64: {secret}");
    let app = "https://5173--main--ws--alice.apps.example.com";
    assert_eq!(
        fake.env(),
        map(&[
            ("BETTER_AUTH_SECRET", &secret),
            ("SITE_URL", app),
            ("CODER_CONVEX_MANAGED_VARS", "BETTER_AUTH_SECRET,SITE_URL"),
        ])
    );
    let browser = p.env_values(".env.development.local");
    assert_eq!(
        browser,
        map(&[
            ("VITE_CONVEX_URL", API),
            ("VITE_CONVEX_SITE_URL", SITE),
            ("VITE_SITE_URL", app),
        ])
    );
    let admin_key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    let browser_text = p.read(".env.development.local");
    for secret_value in [&secret, &admin_key] {
        assert!(!browser_text.contains(secret_value.as_str()));
    }

    // Stable: a second run keeps it and pushes nothing.
    run_coder(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    assert_eq!(
        p.env_values(".env.convex.auth.local")["BETTER_AUTH_SECRET"],
        secret
    );
    assert_eq!(fake.update_count(), 1);

    // Replaced only on request, and then pushed alone.
    let rotated = run_coder(&p, &["configure", "--rotate-auth-secret"], &fake, &[]);
    rotated.ok();
    assert!(
        rotated.stderr().contains("signed out"),
        "{}",
        rotated.stderr()
    );
    let new = p.env_values(".env.convex.auth.local")["BETTER_AUTH_SECRET"].clone();
    assert_ne!(new, secret);
    run_coder(&p, &["env-set"], &fake, &[]).ok();
    assert_eq!(
        fake.recorded(|r| r.updates[1].clone()),
        vec![("BETTER_AUTH_SECRET".to_owned(), Some(new.clone()))]
    );
    let all = format!(
        "{}{}",
        rotated.all(),
        run_coder(&p, &["status"], &fake, &[]).all()
    );
    assert!(!all.contains(&new) && !all.contains(&secret));
}

#[test]
fn an_unusable_kept_secret_is_an_error_not_a_silent_replacement() {
    let p = better_auth_vite();
    p.write(".env.convex.auth.local", "BETTER_AUTH_SECRET='short'\n");
    let run = p.run(&["configure"], &[]);
    assert_eq!(run.code(), 2, "{}", run.stderr());
    assert!(
        run.stderr().contains(".env.convex.auth.local"),
        "{}",
        run.stderr()
    );
    assert!(
        run.stderr().contains("--rotate-auth-secret"),
        "{}",
        run.stderr()
    );
    assert!(!p.file(".env.convex.local").exists(), "nothing written");
    assert_eq!(
        p.read(".env.convex.auth.local"),
        "BETTER_AUTH_SECRET='short'\n"
    );
    p.run(&["configure", "--rotate-auth-secret"], &[]).ok();
    assert_eq!(
        p.env_values(".env.convex.auth.local")["BETTER_AUTH_SECRET"].len(),
        44
    );
}

#[test]
fn clerk_gets_nothing_minted_and_doctor_names_its_issuer_variable() {
    let p = clerk_vite();
    p.write(".env.convex.deployment", "OPENAI_API_KEY=sk-test\n");
    let fake = coder_fake(&p, false);
    run_coder(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    let app = "https://4000--main--ws--alice.apps.example.com";
    assert_eq!(
        fake.env(),
        map(&[
            ("OPENAI_API_KEY", "sk-test"),
            ("SITE_URL", app),
            ("CODER_CONVEX_MANAGED_VARS", "OPENAI_API_KEY,SITE_URL"),
        ])
    );
    let doctor = |p: &Project| {
        let run = run_coder(p, &["doctor", "--json"], &fake, &[]);
        let v: Value = serde_json::from_str(&run.stdout()).unwrap();
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "auth providers")
            .cloned()
            .unwrap()
    };
    let check = doctor(&p);
    assert_eq!(check["status"], "fail");
    assert_eq!(
        check["detail"],
        "convex/auth.config.ts: Clerk; not set in the deployment: CLERK_JWT_ISSUER_DOMAIN"
    );
    assert!(
        check["hint"]
            .as_str()
            .unwrap()
            .contains("CLERK_JWT_ISSUER_DOMAIN=…")
    );

    p.write(
        ".env.convex.deployment",
        "OPENAI_API_KEY=sk-test\nCLERK_JWT_ISSUER_DOMAIN=https://verb-noun-12.clerk.accounts.dev\n",
    );
    run_coder(&p, &["env-set"], &fake, &[]).ok();
    let check = doctor(&p);
    assert_eq!(check["status"], "pass");
    assert_eq!(
        check["detail"],
        "convex/auth.config.ts: Clerk; CLERK_JWT_ISSUER_DOMAIN set"
    );
}

#[test]
fn a_migration_in_progress_gets_what_each_library_needs() {
    let p = sample(
        &[
            "convex",
            "vite",
            "@convex-dev/auth",
            "@convex-dev/better-auth",
            "better-auth",
        ],
        "vite",
        "export default { providers: [] };\n",
    );
    let fake = coder_fake(&p, false);
    run_coder(&p, &["setup", "--no-deploy"], &fake, &[]).ok();
    assert_eq!(
        fake.env()["CODER_CONVEX_MANAGED_VARS"],
        "BETTER_AUTH_SECRET,CONVEX_SITE_ORIGIN,JWKS,JWT_ISSUER,JWT_PRIVATE_KEY,SITE_URL"
    );
}

#[test]
fn each_library_is_verified_after_deploy() {
    let p = better_auth_vite();
    let bin = deployable(&p, None);
    let path = path_with(&bin);
    // Local: no Coder proxy, so only the routes are checked.
    p.run(&["configure"], &[]).ok();
    let values = p.env_values(".env.convex.local");
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let mut config = FakeConfig::new("convex-self-hosted", secret.clone());
    config.better_auth_routes = true;
    let fake = FakeBackend::start(config);
    let env = [
        ("CODER_CONVEX_BACKEND_URL", fake.api_url.as_str()),
        ("CODER_CONVEX_SITE_PROXY_URL", fake.site_url.as_str()),
        ("PATH", path.as_str()),
    ];
    let v = p.run(&["--json", "setup"], &env).json();
    assert_eq!(v["auth"].as_array().unwrap().len(), 1, "{}", v["auth"]);
    assert_eq!(v["auth"][0]["kind"], "better_auth_routes");
    assert_eq!(v["auth"][0]["library"], "better-auth");
    assert_eq!(v["auth"][0]["ok"], true);
    assert_eq!(v["urls"]["app"]["url"], "http://localhost:5173");
    assert_eq!(v["urls"]["app"]["source"], "local");

    // A deployment whose http.ts does not register Better Auth's routes fails setup.
    let fake = FakeBackend::start(FakeConfig::new("convex-self-hosted", secret));
    let env = [
        ("CODER_CONVEX_BACKEND_URL", fake.api_url.as_str()),
        ("CODER_CONVEX_SITE_PROXY_URL", fake.site_url.as_str()),
        ("PATH", path.as_str()),
    ];
    let run = p.run(&["setup"], &env);
    assert_eq!(run.code(), 1, "{}", run.stderr());
    assert!(
        run.stderr()
            .contains("auth is not set up correctly for Better Auth"),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("registerRoutes"), "{}", run.stderr());
    let status = p.run(&["--json", "status"], &env);
    let v: Value = serde_json::from_str(&status.stdout()).unwrap();
    assert_eq!(v["auth"][0]["ok"], false);
    assert_eq!(v["auth_libs"], json!(["better-auth"]));
}

#[test]
fn env_reports_the_app_url_with_its_source_and_masks_the_secret() {
    let p = better_auth_vite();
    p.run(&["configure"], &CODER_ENV).ok();
    let v = p.run(&["env", "--json"], &CODER_ENV).json();
    assert_eq!(
        v["SITE_URL"],
        "https://5173--main--ws--alice.apps.example.com"
    );
    assert_eq!(v["site_url_source"], "coder-proxy-uri");
    assert_eq!(
        v["frontend_port"],
        json!({"port": 5173, "source": "framework-default"})
    );
    assert_eq!(v["BETTER_AUTH_SECRET"], "****");
    let secret = p.env_values(".env.convex.auth.local")["BETTER_AUTH_SECRET"].clone();
    let revealed = p.run(&["env", "--json", "--reveal"], &CODER_ENV).json();
    assert_eq!(revealed["BETTER_AUTH_SECRET"], secret.as_str());

    let mut short = CODER_ENV.to_vec();
    short.push(("CODER_CONVEX_SHORT_LABELS", "true"));
    short.push(("CODER_CONVEX_FRONTEND_PORT", "8080"));
    let v = p.run(&["env", "--json"], &short).json();
    assert_eq!(v["SITE_URL"], "https://8080--ws--alice.apps.example.com");
    assert_eq!(
        v["frontend_port"],
        json!({"port": 8080, "source": "explicit"})
    );

    let explicit = p
        .run(
            &["env", "--json", "--site-url", "https://app.example.com/"],
            &CODER_ENV,
        )
        .json();
    assert_eq!(explicit["SITE_URL"], "https://app.example.com");
    assert_eq!(explicit["site_url_source"], "explicit");
    assert_eq!(explicit["frontend_port"], Value::Null);

    let bad = p.run(&["env", "--site-url", "app.example.com"], &CODER_ENV);
    assert_eq!(bad.code(), 2);
    assert!(bad.stderr().contains("SITE_URL"), "{}", bad.stderr());
    assert!(bad.stderr().contains("hint:"), "{}", bad.stderr());
    let bad_port = p.run(&["env", "--frontend-port", "0"], &CODER_ENV);
    assert_eq!(bad_port.code(), 2);
    assert!(
        bad_port.stderr().contains("--frontend-port"),
        "{}",
        bad_port.stderr()
    );

    let text = p.run(&["env"], &CODER_ENV).ok();
    assert!(text.contains("BETTER_AUTH_SECRET='****'"), "{text}");
    assert!(text.contains("# site_url_source=coder-proxy-uri"), "{text}");
    assert!(!text.contains(&secret));
}

#[test]
fn better_auth_itself_accepts_our_secret_and_site_url() {
    let peers = node_peers();
    let p = better_auth_vite();
    p.run(&["configure"], &CODER_ENV).ok();
    let secret = p.env_values(".env.convex.auth.local")["BETTER_AUTH_SECRET"].clone();
    let site_url = p.run(&["env", "--json"], &CODER_ENV).json()["SITE_URL"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = std::process::Command::new(crate::common::require("node"))
        .arg(peers.join("better-auth-check.mjs"))
        .current_dir(&peers)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("BETTER_AUTH_SECRET", &secret)
        .env("SITE_URL", &site_url)
        .output()
        .expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["secret_in_force"], true);
    assert_eq!(
        v["base_url"],
        "https://5173--main--ws--alice.apps.example.com/api/auth"
    );
    assert_eq!(
        v["trusted_origins"][0],
        "https://5173--main--ws--alice.apps.example.com"
    );
    assert_eq!(v["own_origin_status"], 200);
    assert_eq!(v["foreign_origin_status"], 403);
    assert_eq!(v["secure_cookie"], true);
    assert_eq!(v["session_email"], "ada@example.com");
    assert_eq!(v["other_secret_session"], Value::Null);
    assert_eq!(v["ok_route"], json!({"ok": true}));
}
