//! `setup` in provisioned mode (`CODER_CONVEX_SHARED_DATABASE=provisioned`), beside `db
//! provision` on a throw-away Postgres cluster: the project holds no database settings and no
//! admin password, and both agree on the instance name, also after a rename; a database URL
//! in the workspace is refused.

use std::path::Path;

use coder_convex::config::secrets::InstanceSecret;
use coder_convex::database::workspace::Workspace;
use serde_json::Value;

use crate::common::{Project, Run, assert_no_piece_of};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::postgres::Cluster;
use crate::workspaces::{run, set_up, workspace, workspace_env as ws_env};

const ADMIN_PW: &str = "adminpw-Xq71";

/// `db provision --out <out>` for `ws` with the admin URL the template gives it.
fn provision(admin: &str, ws: &Workspace, out: &Path) -> Run {
    let mut env = ws_env(ws);
    env.push(("CODER_CONVEX_SHARED_POSTGRES_URL", admin.to_owned()));
    crate::workspaces::provision(&env, out)
}

/// `configure`, then `setup --no-deploy` in provisioned mode against a backend started with
/// the written settings.
fn set_up_provisioned(p: &Project, ws: &Workspace) -> Run {
    let mut env = ws_env(ws);
    env.push(("CODER_CONVEX_SHARED_DATABASE", "provisioned".to_owned()));
    set_up(p, env).0
}

fn every_file_under(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    for entry in fs_err::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            found.extend(every_file_under(&path));
        } else {
            found.push(path);
        }
    }
    found
}

#[test]
fn setup_in_provisioned_mode_holds_no_database_credentials_and_agrees_on_the_name() {
    let (_cluster, admin) = Cluster::with_admin(ADMIN_PW);
    let ws = workspace("erin", "shop");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("db.env");
    let p = Project::new();
    // Migration: the project file of a workspace that held the admin URL before.
    p.write(
        ".env.convex.local",
        &format!(
            "INSTANCE_NAME='{}'\nPOSTGRES_URL='{}'\nPOSTGRES_MAX_CONNECTIONS='8'\nDO_NOT_REQUIRE_SSL='1'\nMY_OWN='kept'\n",
            ws.instance_name(),
            admin.replace("/postgres", "")
        ),
    );
    let provisioned = provision(&admin, &ws, &out).json();
    let setup = set_up_provisioned(&p, &ws);
    let report = setup.json();
    assert!(
        report.get("database").is_none_or(Value::is_null),
        "{report}"
    );
    assert!(
        setup
            .stderr()
            .contains("database provisioned by the template"),
        "{}",
        setup.stderr()
    );
    let values = p.env_values(".env.convex.local");
    assert_eq!(
        values["INSTANCE_NAME"],
        provisioned["instance_name"].as_str().unwrap()
    );
    assert_eq!(values["MY_OWN"], "kept");
    for gone in [
        "POSTGRES_URL",
        "POSTGRES_MAX_CONNECTIONS",
        "DO_NOT_REQUIRE_SSL",
        "MYSQL_URL",
    ] {
        assert!(!values.contains_key(gone), "{gone} in {values:?}");
    }
    for file in every_file_under(p.path()) {
        let bytes = fs_err::read(&file).unwrap();
        assert_no_piece_of(ADMIN_PW, &String::from_utf8_lossy(&bytes));
    }
    let (_, check) = crate::project::doctor_check(
        &p,
        &FakeBackend::start(FakeConfig::new(
            &values["INSTANCE_NAME"],
            InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap(),
        )),
        &[
            ("CODER_CONVEX_SHARED_DATABASE", "provisioned"),
            ("CODER_CONVEX_WORKSPACE_ID", &ws.id),
            ("CODER_WORKSPACE_OWNER_NAME", &ws.owner),
            ("CODER_WORKSPACE_NAME", &ws.name),
        ],
        "database",
    );
    assert_eq!(check["status"], "pass", "{check}");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("provisioned by the template"),
        "{check}"
    );

    // A rename (or a prebuild's claim): same id, new owner and name. The provisioner finds
    // the database by its marker, setup keeps the name from the project file: the same.
    let renamed = Workspace {
        id: ws.id.clone(),
        owner: "frank".to_owned(),
        name: "renamed".to_owned(),
    };
    assert_ne!(renamed.database_name(), ws.database_name());
    let again = provision(&admin, &renamed, &out).json();
    assert_eq!(again["database"], ws.database_name().as_str());
    assert_eq!(again["created"], false);
    set_up_provisioned(&p, &renamed).ok();
    assert_eq!(
        p.env_values(".env.convex.local")["INSTANCE_NAME"],
        again["instance_name"].as_str().unwrap()
    );

    // A fresh workspace: both derive the name from the workspace.
    let fresh = workspace("gina", "new");
    let q = Project::new();
    let first = provision(&admin, &fresh, &out).json();
    set_up_provisioned(&q, &fresh).ok();
    assert_eq!(first["instance_name"], fresh.instance_name().as_str());
    assert_eq!(
        q.env_values(".env.convex.local")["INSTANCE_NAME"],
        fresh.instance_name()
    );
    assert!(
        !q.env_values(".env.convex.local")
            .contains_key("POSTGRES_URL")
    );
}

#[test]
fn provisioned_mode_refuses_a_database_url_in_the_workspace() {
    let ws = workspace("hal", "x");
    let p = Project::new();
    let mut env = ws_env(&ws);
    env.push(("CODER_CONVEX_SHARED_DATABASE", "provisioned".to_owned()));
    env.push((
        "CODER_CONVEX_SHARED_POSTGRES_URL",
        "postgres://admin:leak-Pw-12@db:5432".to_owned(),
    ));
    let refused = run(&p, &["--json", "configure"], &env);
    assert_eq!(refused.code(), 2, "{}", refused.all());
    assert_eq!(
        refused.doc()["error"]["message"],
        "invalid CODER_CONVEX_SHARED_POSTGRES_URL: is set, but CODER_CONVEX_SHARED_DATABASE=provisioned"
    );
    assert_no_piece_of("leak-Pw-12", &refused.all());
    assert!(!p.file(".env.convex.local").exists());

    let mut env = ws_env(&ws);
    env.push(("CODER_CONVEX_SHARED_DATABASE", "yes".to_owned()));
    let bad = run(&p, &["--json", "configure"], &env);
    assert_eq!(bad.code(), 2);
    assert_eq!(
        bad.doc()["error"]["message"],
        "invalid CODER_CONVEX_SHARED_DATABASE: \"yes\" is not `provisioned`"
    );
}
