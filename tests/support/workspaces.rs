//! Workspaces on a shared database server: ids no other run uses, the variables that name a
//! workspace, `configure` + `setup` against a stand-in backend, and readers of what `db
//! provision`, `db list`, `db prune` and `doctor` write.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

use coder_convex::config::secrets::InstanceSecret;
use coder_convex::database::workspace::{Workspace, parse_rfc3339};
use serde_json::{Map, Value, json};

use crate::common::{Project, Run, assert_no_piece_of};
use crate::fake_backend::{FakeBackend, FakeConfig};

/// A number no other call in this run gets.
pub(crate) fn unique() -> usize {
    static N: AtomicUsize = AtomicUsize::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

/// A workspace whose id (`<tag>-<pid>-<n>`) no other test run uses.
pub(crate) fn tagged(owner: &str, name: &str, tag: &str) -> Workspace {
    Workspace {
        id: format!("{tag}-{}-{}", std::process::id(), unique()),
        owner: owner.to_owned(),
        name: name.to_owned(),
    }
}

/// A workspace with a fresh id (`ws-<pid>-<n>`).
pub(crate) fn workspace(owner: &str, name: &str) -> Workspace {
    tagged(owner, name, "ws")
}

/// A workspace with the id given, for servers of one test only.
pub(crate) fn with_id(owner: &str, name: &str, id: &str) -> Workspace {
    Workspace {
        id: id.to_owned(),
        owner: owner.to_owned(),
        name: name.to_owned(),
    }
}

/// The variables Coder sets that name the workspace.
pub(crate) fn workspace_env(ws: &Workspace) -> Vec<(&'static str, String)> {
    vec![
        ("CODER_CONVEX_WORKSPACE_ID", ws.id.clone()),
        ("CODER_WORKSPACE_OWNER_NAME", ws.owner.clone()),
        ("CODER_WORKSPACE_NAME", ws.name.clone()),
    ]
}

/// [`Project::run`] with owned values.
pub(crate) fn run<K: AsRef<str>>(p: &Project, args: &[&str], env: &[(K, String)]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_ref(), v.as_str())).collect();
    p.run(args, &env)
}

/// `configure`, then `setup --no-deploy` against a backend started with the written
/// settings; the run and the instance name `configure` wrote.
pub(crate) fn set_up(p: &Project, mut env: Vec<(&'static str, String)>) -> (Run, String) {
    run(p, &["configure"], &env).ok();
    let values = p.env_values(".env.convex.local");
    let name = values["INSTANCE_NAME"].clone();
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let fake = FakeBackend::start(FakeConfig::new(&name, secret));
    env.push(("CODER_CONVEX_BACKEND_URL", fake.api_url.clone()));
    env.push(("CODER_CONVEX_SITE_PROXY_URL", fake.site_url.clone()));
    (run(p, &["--json", "setup", "--no-deploy"], &env), name)
}

/// The backend URL of no backend: where only the database checks count.
pub(crate) const NO_BACKEND: (&str, &str) = ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9");

/// `configure`, then `doctor --fix` (the preflight `setup` runs); the doctor's checks by
/// name.
pub(crate) fn doctor_checks(p: &Project, env: &[(&'static str, String)]) -> Map<String, Value> {
    run(p, &["configure"], env).ok();
    let doctor = run(p, &["--json", "doctor", "--fix", "--timeout", "30"], env);
    doctor.doc()["checks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["name"].as_str().unwrap().to_owned(), c.clone()))
        .collect()
}

/// `db list` rows whose sizes and times vary: their shape is checked, and they are replaced
/// by `"n"` / `"t"`.
pub(crate) fn settled(rows: &Value) -> Vec<Value> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let mut d = d.clone();
            assert!(d["size_bytes"].as_u64().unwrap() > 0, "{d}");
            d["size_bytes"] = json!("n");
            if let Some(at) = d["last_setup"].as_str() {
                assert!(parse_rfc3339(at).is_some(), "{d}");
                d["last_setup"] = json!("t");
            }
            d
        })
        .collect()
}

/// `db list --json` once its own is the only connection open (the sessions of the commands
/// before it end a moment after them).
pub(crate) fn db_list_alone(p: &Project, admin: &[(&'static str, String)]) -> Value {
    crate::common::until(|| {
        let list = run(p, &["--json", "db", "list"], admin).json();
        (list["capacity"]["in_use"] == 1).then_some(list)
    })
}

/// A [`settled`] `db list` row of a workspace's database, set up and idle.
pub(crate) fn listed(ws: &Workspace, budget: u64) -> Value {
    json!({
        "database": ws.database_name(), "workspace_id": ws.id,
        "workspace": format!("{}/{}", ws.owner, ws.name), "size_bytes": "n", "connections": 0,
        "last_setup": "t", "budget": budget
    })
}

/// The database names in a `db prune` list (of names, or of objects with a `database`).
pub(crate) fn names(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|d| {
            d["database"]
                .as_str()
                .unwrap_or_else(|| d.as_str().unwrap())
                .to_owned()
        })
        .collect()
}

/// The entries of a dotenv file, in order.
pub(crate) fn read_env(path: &Path) -> Vec<(String, String)> {
    dotenvy::from_path_iter(path)
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

/// The user and password in a `scheme://user:password@…` URL.
pub(crate) fn credentials(url: &str) -> (String, String) {
    let userinfo = url.split_once("://").unwrap().1.split_once('@').unwrap().0;
    let (user, password) = userinfo.split_once(':').unwrap();
    (user.to_owned(), password.to_owned())
}

/// `db provision --out <out>` in a fresh project with `env` (the admin URL among them).
pub(crate) fn provision(env: &[(&'static str, String)], out: &Path) -> Run {
    let out = out.display().to_string();
    run(
        &Project::new(),
        &["--json", "db", "provision", "--out", &out, "--wait", "60"],
        env,
    )
}

/// The entries of the file `db provision` wrote, after checking it is the owner's only
/// (0600) and holds no piece of the admin's password.
pub(crate) fn provisioned_env(out: &Path, admin_password: &str) -> Vec<(String, String)> {
    let text = fs_err::read_to_string(out).unwrap();
    assert_no_piece_of(admin_password, &text);
    assert_eq!(
        fs_err::metadata(out).unwrap().permissions().mode() & 0o777,
        0o600
    );
    read_env(out)
}
