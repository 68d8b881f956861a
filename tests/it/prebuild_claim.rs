//! A prebuilt workspace claimed by a user, and a workspace the user renames: the agent
//! restarts and `setup` runs again with the same `CODER_CONVEX_WORKSPACE_ID` and a new owner
//! and workspace name. URLs and the backend's canonical URLs follow the new name; the
//! instance, its secret, the admin key, the deployed functions and the database stay (README
//! "Presets and prebuilt workspaces"). Against the stand-in backend with the real `convex`
//! CLI, the real PostgreSQL server (shared and external databases) and a throw-away MariaDB
//! server (shared MySQL).

use coder_convex::config::secrets::InstanceSecret;
use coder_convex::database::workspace::Workspace;
use serde_json::{Value, json};

use crate::common::{Project, Run};
use crate::deploy::{convex_auth_project, convex_project};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::postgres::{comment_of, psql, workspace_marker};
use crate::project::backend_env;
use crate::workspaces::{run, tagged, with_id};

const SHARED: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The three names a workspace has in these tests: the prebuild's, after the claim, after
/// the user's rename.
fn names(tag: &str) -> [Workspace; 3] {
    let id = tagged("prebuilds", "brave-lion-42", tag).id;
    let ws = |owner: &str, name: &str| with_id(owner, name, &id);
    [
        ws("prebuilds", "brave-lion-42"),
        ws("alice", "my-app"),
        ws("alice", "shop"),
    ]
}

/// What the agent gives the start script in that workspace (a wildcard access URL).
fn agent_env(ws: &Workspace) -> Vec<(&'static str, String)> {
    vec![
        ("CODER", "true".to_owned()),
        (
            "VSCODE_PROXY_URI",
            format!(
                "https://{{{{port}}}}--main--{}--{}.apps.example.com/",
                ws.name, ws.owner
            ),
        ),
        ("CODER_WORKSPACE_AGENT_NAME", "main".to_owned()),
        ("CODER_WORKSPACE_NAME", ws.name.clone()),
        ("CODER_WORKSPACE_OWNER_NAME", ws.owner.clone()),
        ("CODER_CONVEX_WORKSPACE_ID", ws.id.clone()),
        // The template's App port: SITE_URL is that port's workspace URL.
        ("CODER_CONVEX_FRONTEND_PORT", "5173".to_owned()),
    ]
}

fn url(slug: &str, ws: &Workspace) -> String {
    format!(
        "https://{slug}--main--{}--{}.apps.example.com",
        ws.name, ws.owner
    )
}

/// `setup` (and `status`) in `ws` against `fake`.
fn in_workspace(
    p: &Project,
    ws: &Workspace,
    fake: &FakeBackend,
    extra: &[(&'static str, String)],
    args: &[&str],
) -> Run {
    let mut env = agent_env(ws);
    env.extend(backend_env(fake));
    env.extend_from_slice(extra);
    run(p, args, &env)
}

/// The managed lines of every file that carries a URL, exactly, for `ws`.
#[track_caller]
fn assert_urls_written(p: &Project, ws: &Workspace, fake: &FakeBackend) {
    let (api, site, dashboard) = (
        url("convex-api", ws),
        url("convex-site", ws),
        url("convex-dashboard", ws),
    );
    let convex = p.env_values(".env.convex.local");
    assert_eq!(convex["CONVEX_CLOUD_ORIGIN"], api);
    assert_eq!(convex["CONVEX_SITE_ORIGIN"], site);
    assert_eq!(convex["CONVEX_DASHBOARD_URL"], dashboard);
    assert_eq!(convex["NEXT_PUBLIC_DEPLOYMENT_URL"], api);
    let browser = p.env_values(".env.development.local");
    assert_eq!(browser["CONVEX_URL"], api);
    assert_eq!(browser["CONVEX_SITE_URL"], site);
    // The CLI keeps talking to the backend over loopback: no name in it.
    assert_eq!(
        p.env_values(".env.local")["CONVEX_SELF_HOSTED_URL"],
        fake.api_url
    );
}

#[track_caller]
fn assert_status_urls(status: &Value, ws: &Workspace) {
    assert_eq!(status["urls"]["api"], url("convex-api", ws), "{status}");
    assert_eq!(status["urls"]["site"], url("convex-site", ws));
    assert_eq!(status["urls"]["dashboard"], url("convex-dashboard", ws));
    assert_eq!(status["urls"]["app"]["url"], url("5173", ws));
    assert_eq!(status["env_in_sync"], true, "{status}");
    assert_eq!(status["url_source"], "coder-proxy-uri");
    assert_eq!(status["canonical_urls_match"], true, "{status}");
    assert_eq!(status["admin_key_accepted"], true, "{status}");
}

/// What must not change at a claim or a rename.
#[derive(Debug, PartialEq, Eq)]
struct Kept {
    instance_name: String,
    instance_secret: String,
    admin_key: String,
    jwt_private_key: String,
}

fn kept(p: &Project) -> Kept {
    let convex = p.env_values(".env.convex.local");
    Kept {
        instance_name: convex["INSTANCE_NAME"].clone(),
        instance_secret: convex["INSTANCE_SECRET"].clone(),
        admin_key: p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone(),
        jwt_private_key: p.read("jwt_private_key.pem"),
    }
}

fn canonical_updates(ws: &Workspace) -> Vec<Value> {
    vec![
        json!({"requestDestination": "convexCloud", "url": url("convex-api", ws)}),
        json!({"requestDestination": "convexSite", "url": url("convex-site", ws)}),
    ]
}

/// The developer's own lines, added after the prebuild's setup (a claimed workspace's
/// owner edits these files; a rename must not lose them).
const OWN_BROWSER_LINE: &str = "VITE_FEATURE_FLAG='on'";
const OWN_CLI_LINE: &str = "MY_TOKEN_FOR_TESTS='abc'";
const OWN_BACKEND_LINE: &str = "REDACT_LOGS_TO_CLIENT='true'";

fn add_own_lines(p: &Project) {
    for (file, line) in [
        (".env.development.local", OWN_BROWSER_LINE),
        (".env.local", OWN_CLI_LINE),
        (".env.convex.local", OWN_BACKEND_LINE),
    ] {
        let text = p.read(file);
        p.write(file, &format!("{text}{line}\n"));
    }
}

#[track_caller]
fn assert_own_lines(p: &Project) {
    assert_eq!(
        p.env_values(".env.development.local")["VITE_FEATURE_FLAG"],
        "on"
    );
    assert_eq!(p.env_values(".env.local")["MY_TOKEN_FOR_TESTS"], "abc");
    assert_eq!(
        p.env_values(".env.convex.local")["REDACT_LOGS_TO_CLIENT"],
        "true"
    );
    assert!(p.read(".env.development.local").contains(OWN_BROWSER_LINE));
}

/// The prebuild's start: `configure`, the backend starts with the origins written, `setup`
/// deploys the project's functions.
fn prebuild_started(
    p: &Project,
    secret: &InstanceSecret,
    prebuild: &Workspace,
) -> (FakeBackend, Value) {
    run(p, &["configure"], &agent_env(prebuild)).ok();
    let mut config = FakeConfig::new("convex-self-hosted", secret.clone());
    config.cloud_origin = url("convex-api", prebuild);
    config.site_origin = url("convex-site", prebuild);
    let fake = FakeBackend::start(config);
    let first = in_workspace(p, prebuild, &fake, &[], &["--json", "setup"]).json();
    (fake, first)
}

#[test]
fn a_claimed_prebuild_and_a_renamed_workspace_follow_the_new_name_and_keep_the_deployment() {
    let [prebuild, claimed, renamed] = names("claim");
    let (p, secret) = convex_project("convex");
    let (fake, first) = prebuild_started(&p, &secret, &prebuild);
    assert_eq!(first["deploy_skipped"], false, "{first}");
    assert_eq!(first["canonical_urls_updated"], false);
    assert_eq!(fake.pushes(|r| r.completed), 1);
    assert_urls_written(&p, &prebuild, &fake);
    let before = kept(&p);
    assert_eq!(before.instance_name, "convex-self-hosted");
    add_own_lines(&p);

    let mut updates = Vec::new();
    for ws in [&claimed, &renamed] {
        // The agent restarts in the same container: same files, same backend, new names.
        let setup = in_workspace(&p, ws, &fake, &[], &["--json", "setup"]);
        let report = setup.json();
        assert_eq!(report["ok"], true, "{}", setup.stderr());
        assert_eq!(report["canonical_urls_updated"], true, "{report}");
        // No redeploy: the functions did not change, and the backend still has them.
        assert_eq!(report["deploy_skipped"], true, "{report}");
        assert_eq!(fake.pushes(|r| r.completed), 1);
        updates.extend(canonical_updates(ws));
        assert_eq!(fake.recorded(|r| r.canonical_updates.clone()), updates);
        assert_eq!(
            fake.recorded(|r| r.canonical.clone()),
            (url("convex-api", ws), url("convex-site", ws))
        );
        assert_urls_written(&p, ws, &fake);
        assert_own_lines(&p);
        // The deployment variables that follow the URLs, in the one update.
        let env = fake.env();
        assert_eq!(env["SITE_URL"], url("5173", ws));
        assert_eq!(env["CONVEX_SITE_ORIGIN"], url("convex-site", ws));
        assert_eq!(fake.update_count(), updates.len() / 2 + 1);
        assert_eq!(kept(&p), before, "instance, secret and keys stay");
        let status = in_workspace(&p, ws, &fake, &[], &["--json", "status"]).json();
        assert_status_urls(&status, ws);
        assert_eq!(status["instance_name"], "convex-self-hosted");
        in_workspace(&p, ws, &fake, &[], &["admin-key", "--check"]).ok();
    }
    // A restart with nothing renamed changes nothing on the backend.
    let again = in_workspace(&p, &renamed, &fake, &[], &["--json", "setup"]).json();
    assert_eq!(again["canonical_urls_updated"], false);
    assert_eq!(fake.recorded(|r| r.canonical_updates.len()), 4);
    assert_eq!(fake.update_count(), 3, "no variable changed");
    assert_eq!(again["deploy_skipped"], true);
}

#[test]
fn a_convex_auth_project_is_deployed_again_after_a_claim_and_its_issuer_follows() {
    let [prebuild, claimed, _] = names("claim-auth");
    // Convex Auth: `auth.config.ts` reads CONVEX_SITE_URL (the canonical site URL); the push
    // evaluates it and stores the result, so a new site URL needs a push.
    let (p, secret) = convex_auth_project();
    let (fake, first) = prebuild_started(&p, &secret, &prebuild);
    assert_eq!(first["deploy_skipped"], false, "{first}");
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(fake.pushes(|r| r.completed), 1);
    let jwks = fake.env()["JWKS"].clone();

    let claim = in_workspace(&p, &claimed, &fake, &[], &["--json", "setup"]).json();
    assert_eq!(claim["ok"], true, "{claim}");
    assert_eq!(claim["canonical_urls_updated"], true, "{claim}");
    assert_eq!(claim["deploy_skipped"], false, "{claim}");
    assert_eq!(fake.pushes(|r| r.completed), 2);
    assert_eq!(
        fake.recorded(|r| r.canonical_updates.clone()),
        canonical_updates(&claimed)
    );
    // The variables that follow the site URL, in the one update; the keys stay.
    let env = fake.env();
    assert_eq!(env["CONVEX_SITE_ORIGIN"], url("convex-site", &claimed));
    assert_eq!(env["JWT_ISSUER"], url("convex-site", &claimed));
    assert_eq!(env["SITE_URL"], url("5173", &claimed));
    assert_eq!(env["JWKS"], jwks);
    assert_eq!(
        claim["env"]["set"],
        json!(["CONVEX_SITE_ORIGIN", "JWT_ISSUER", "SITE_URL"])
    );
    // Discovery answers with the new site URL, and the check after the push passes.
    assert_eq!(claim["auth"][0]["name"], "auth issuer");
    assert_eq!(claim["auth"][0]["ok"], true, "{claim}");
    assert_eq!(claim["auth"][1]["name"], "auth JWKS");
    assert_eq!(claim["auth"][1]["ok"], true, "{claim}");
    // The next start, with nothing renamed, skips the push again.
    let again = in_workspace(&p, &claimed, &fake, &[], &["--json", "setup"]).json();
    assert_eq!(again["deploy_skipped"], true, "{again}");
    assert_eq!(fake.pushes(|r| r.completed), 2);
}

/// The databases on the server marked with `id`, and their labels.
fn marked(id: &str) -> Vec<(String, String)> {
    let rows = psql(
        5432,
        &format!(
            "SELECT datname || '|' || shobj_description(oid, 'pg_database') FROM pg_database WHERE shobj_description(oid, 'pg_database') LIKE '%{id}%' ORDER BY datname"
        ),
    );
    rows.lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (db, comment) = l.split_once('|').unwrap();
            let marker = coder_convex::database::workspace::parse_marker(comment).unwrap();
            assert_eq!(marker.workspace_id, id);
            (db.to_owned(), marker.label.to_owned())
        })
        .collect()
}

#[test]
fn a_claimed_prebuild_on_the_shared_server_keeps_its_one_database_and_relabels_it() {
    let [prebuild, claimed, renamed] = names("shared-claim");
    let p = Project::new();
    let shared = vec![("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED.to_owned())];
    let mut env = agent_env(&prebuild);
    env.extend(shared.clone());
    run(&p, &["configure"], &env).ok();
    let values = p.env_values(".env.convex.local");
    let instance = values["INSTANCE_NAME"].clone();
    assert_eq!(instance, prebuild.instance_name());
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let mut config = FakeConfig::new(&instance, secret.clone());
    config.cloud_origin = url("convex-api", &prebuild);
    config.site_origin = url("convex-site", &prebuild);
    let fake = FakeBackend::start(config);
    let database = prebuild.database_name();

    let first = in_workspace(
        &p,
        &prebuild,
        &fake,
        &shared,
        &["--json", "setup", "--no-deploy"],
    );
    assert_eq!(
        first.json()["database"],
        json!({"database": database, "existed": false, "created": true, "tls": false, "marked": true}),
        "{}",
        first.stderr()
    );
    assert_eq!(
        marked(&prebuild.id),
        vec![(database.clone(), "prebuilds/brave-lion-42".to_owned())]
    );
    let before = kept(&p);

    let mut updates = Vec::new();
    for ws in [&claimed, &renamed] {
        let setup = in_workspace(&p, ws, &fake, &shared, &["--json", "setup", "--no-deploy"]);
        let report = setup.json();
        assert_eq!(report["ok"], true, "{}", setup.stderr());
        // The same database, found, not created; its marker now names the new owner/name.
        assert_eq!(
            report["database"],
            json!({"database": database, "existed": true, "created": false, "tls": false, "marked": true}),
            "{report}"
        );
        assert_eq!(
            marked(&ws.id),
            vec![(database.clone(), format!("{}/{}", ws.owner, ws.name))]
        );
        assert_eq!(workspace_marker(&database), ws.marker());
        assert_eq!(kept(&p), before);
        assert_eq!(
            p.env_values(".env.convex.local")["POSTGRES_URL"],
            "postgres://postgres@127.0.0.1:5432?sslmode=disable"
        );
        updates.extend(canonical_updates(ws));
        assert_eq!(fake.recorded(|r| r.canonical_updates.clone()), updates);
        assert_urls_written(&p, ws, &fake);
        let mut status_env = shared.clone();
        status_env.push(("CODER_CONVEX_WORKSPACE_ID", ws.id.clone()));
        let status = in_workspace(&p, ws, &fake, &status_env, &["--json", "status"]).json();
        assert_status_urls(&status, ws);
        assert_eq!(status["instance_name"], instance.as_str());
    }
    // `db list` shows the one database under its new label.
    let list = run(&p, &["--json", "db", "list"], &shared).json();
    let rows: Vec<Value> = list["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["workspace_id"] == prebuild.id.as_str())
        .map(|d| json!({"database": d["database"], "workspace_id": d["workspace_id"], "workspace": d["workspace"], "budget": d["budget"]}))
        .collect();
    assert_eq!(
        rows,
        vec![
            json!({"database": database, "workspace_id": prebuild.id, "workspace": "alice/shop", "budget": 8})
        ]
    );
    run(&p, &["db", "drop", &database, "--yes"], &shared).ok();
}

#[test]
fn a_claimed_prebuild_on_a_shared_mysql_server_relabels_its_marker_table() {
    let server = crate::mariadb::MariaDb::start();
    server.user("admin", "pw", "ALL ON *.*");
    let [prebuild, claimed, _] = names("mysql-claim");
    let p = Project::new();
    let shared = vec![
        (
            "CODER_CONVEX_SHARED_DATABASE_URL",
            format!("mysql://admin:pw@127.0.0.1:{}", server.port),
        ),
        // MariaDB lacks utf8mb4_0900_bin (README "MySQL").
        ("CODER_CONVEX_MYSQL_COLLATION", "utf8mb4_bin".to_owned()),
    ];
    let mut env = agent_env(&prebuild);
    env.extend(shared.clone());
    run(&p, &["configure"], &env).ok();
    let values = p.env_values(".env.convex.local");
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let fake = FakeBackend::start(FakeConfig::new(&values["INSTANCE_NAME"], secret));
    let database = prebuild.database_name();
    let setup = |ws: &Workspace| {
        let run = in_workspace(&p, ws, &fake, &shared, &["--json", "setup", "--no-deploy"]);
        let report = run.json();
        assert_eq!(report["ok"], true, "{}", run.stderr());
        report["database"].clone()
    };
    let rows = || {
        server.sql(&format!(
            "SELECT marker FROM `{database}`.coder_convex_workspace"
        ))
    };
    assert_eq!(
        setup(&prebuild),
        json!({"database": database, "existed": false, "created": true, "tls": false, "marked": true})
    );
    assert_eq!(rows(), prebuild.marker());
    assert_eq!(
        setup(&claimed),
        json!({"database": database, "existed": true, "created": false, "tls": false, "marked": true})
    );
    // One row, the new label, the same id.
    assert_eq!(rows(), claimed.marker());
    assert_eq!(setup(&claimed)["marked"], false);
    assert_eq!(
        server
            .databases()
            .iter()
            .filter(|d| d.starts_with("convex_"))
            .collect::<Vec<_>>(),
        vec![&database]
    );
}

#[test]
fn a_claimed_prebuild_with_an_external_database_keeps_it_and_relabels_its_marker() {
    let [prebuild, claimed, _] = names("external-claim");
    let db = prebuild.id.replace('-', "_");
    psql(5432, &format!("CREATE DATABASE {db}"));
    let p = Project::new();
    let external = vec![(
        "DATABASE_URL",
        format!("postgres://postgres@127.0.0.1:5432/{db}"),
    )];
    let mut env = agent_env(&prebuild);
    env.extend(external.clone());
    run(&p, &["configure"], &env).ok();
    let values = p.env_values(".env.convex.local");
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let fake = FakeBackend::start(FakeConfig::new(&values["INSTANCE_NAME"], secret));
    let setup = |ws: &Workspace| {
        let run = in_workspace(
            &p,
            ws,
            &fake,
            &external,
            &["--json", "setup", "--no-deploy"],
        );
        let report = run.json();
        assert_eq!(report["ok"], true, "{}", run.stderr());
        assert_eq!(report["instance_name"], db.replace('_', "-"));
        report["database"]["marked"].clone()
    };
    assert_eq!(setup(&prebuild), true);
    assert_eq!(comment_of(&db), prebuild.marker());
    assert_eq!(setup(&claimed), true);
    assert_eq!(comment_of(&db), claimed.marker());
    assert_eq!(setup(&claimed), false);
    psql(5432, &format!("DROP DATABASE {db}"));
}
