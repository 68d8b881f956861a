//! A shared MySQL server (`CODER_CONVEX_SHARED_DATABASE_URL=mysql://…`), one database per
//! workspace, against a throw-away MariaDB server: two workspaces get two databases, each
//! marked (a `coder_convex_workspace` table) as its workspace's; a database marked for
//! another is refused; `db list` finds them and `db drop` removes one only with `--yes`.
//! MariaDB lacks `utf8mb4_0900_bin`: the collation required is set to `utf8mb4_bin`.

use coder_convex::database::workspace::{Workspace, parse_rfc3339};
use serde_json::json;

use crate::common::{Project, Run};
use crate::mariadb::MariaDb;
use crate::workspaces::{NO_BACKEND, run, workspace, workspace_env};

const COLLATION: (&str, &str) = ("CODER_CONVEX_MYSQL_COLLATION", "utf8mb4_bin");

/// `configure`, then `setup --no-deploy` against a backend started with the written settings.
fn set_up(p: &Project, shared: &str, ws: &Workspace) -> Run {
    let mut env = workspace_env(ws);
    env.push(("CODER_CONVEX_SHARED_DATABASE_URL", shared.to_owned()));
    env.push((COLLATION.0, COLLATION.1.to_owned()));
    crate::workspaces::set_up(p, env).0
}

#[test]
fn two_workspaces_share_one_server_and_the_admin_lists_and_drops() {
    let server = MariaDb::start();
    let port = server.port;
    server.user("admin", "adm!n@pw", "ALL ON *.*");
    let shared = format!("mysql://admin:adm!n@pw@127.0.0.1:{port}");
    let (a, b) = (workspace("alice", "My-App"), workspace("bob", "api"));
    let (pa, pb) = (Project::new(), Project::new());
    let (run_a, run_b) = (set_up(&pa, &shared, &a), set_up(&pb, &shared, &b));
    let (db_a, db_b) = (a.database_name(), b.database_name());
    assert_eq!(
        run_a.json()["database"],
        json!({"database": db_a, "existed": false, "created": true, "tls": false, "marked": true})
    );
    assert_eq!(run_b.json()["database"]["created"], true);
    let marker =
        |db: &str| server.sql(&format!("SELECT marker FROM `{db}`.coder_convex_workspace"));
    assert_eq!(marker(&db_a), a.marker());
    assert_eq!(marker(&db_b), b.marker());
    // The backend gets the server URL, password encoded, no path; no TLS on loopback.
    let written = pa.env_values(".env.convex.local");
    assert_eq!(
        written["MYSQL_URL"],
        format!("mysql://admin:adm!n%40pw@127.0.0.1:{port}")
    );
    assert_eq!(written["DO_NOT_REQUIRE_SSL"], "1");
    // Again: its own marker, nothing changes.
    assert_eq!(set_up(&pa, &shared, &a).json()["database"]["marked"], false);

    // Another workspace told to use a's database is refused.
    let c = workspace("carol", "x");
    let pc = Project::new();
    let collide = run(
        &pc,
        &["--json", "setup", "--no-deploy"],
        &[
            ("CODER_CONVEX_SHARED_DATABASE_URL", shared.clone()),
            ("CODER_CONVEX_WORKSPACE_ID", c.id.clone()),
            ("CODER_WORKSPACE_NAME", c.name.clone()),
            ("INSTANCE_NAME", a.instance_name()),
            (COLLATION.0, COLLATION.1.to_owned()),
            (NO_BACKEND.0, NO_BACKEND.1.to_owned()),
        ],
    );
    assert_eq!(collide.code(), 5, "{}", collide.all());
    assert!(
        collide.all().contains("belongs to another workspace"),
        "{}",
        collide.all()
    );
    assert_eq!(marker(&db_a), a.marker());

    // db list and db drop, with the server in the variable.
    let server_env = [("CODER_CONVEX_SHARED_DATABASE_URL", shared.clone())];
    let list = run(&pa, &["--json", "db", "list"], &server_env).json();
    let rows: Vec<serde_json::Value> = list["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            // Sizes and times vary: their shape is checked, the rest exactly.
            assert!(d["size_bytes"].as_u64().unwrap() > 0, "{d}");
            assert!(
                parse_rfc3339(d["last_setup"].as_str().unwrap()).is_some(),
                "{d}"
            );
            let mut d = d.clone();
            d["size_bytes"] = json!("n");
            d["last_setup"] = json!("t");
            d
        })
        .collect();
    assert_eq!(
        rows,
        [
            json!({"database": db_a, "workspace_id": a.id, "workspace": "alice/My-App", "size_bytes": "n", "connections": 0, "last_setup": "t", "budget": 8}),
            json!({"database": db_b, "workspace_id": b.id, "workspace": "bob/api", "size_bytes": "n", "connections": 0, "last_setup": "t", "budget": 8}),
        ]
    );
    assert!(!list.to_string().contains("adm!n"), "{list}");
    let refused = run(&pa, &["db", "drop", &db_b], &server_env);
    assert_eq!(refused.code(), 2, "{}", refused.all());
    assert!(server.databases().contains(&db_b));
    server.sql("CREATE DATABASE not_ours");
    let not_ours = run(&pa, &["db", "drop", "not_ours", "--yes"], &server_env);
    assert_eq!(not_ours.code(), 2, "{}", not_ours.all());
    let dropped = run(&pa, &["db", "drop", &db_b, "--yes"], &server_env);
    dropped.ok();
    assert!(!dropped.all().contains("adm!n"), "{}", dropped.all());
    let left = server.databases();
    assert!(left.contains(&db_a) && !left.contains(&db_b), "{left:?}");
}
