//! Shared Postgres, one database per workspace, against the real PostgreSQL server here: two
//! workspaces get two databases, each marked as its workspace's; a database marked for another
//! workspace is refused; `db list` finds them and `db drop` removes one only with `--yes`.

use coder_convex::database::workspace::{Workspace, parse_marker, parse_rfc3339};
use serde_json::{Value, json};

use crate::common::{Project, Run};
use crate::postgres::{comment_of, psql, workspace_marker};
use crate::workspaces::{run, tagged as workspace, unique, workspace_env};

/// The server's own database in the path: shared mode must not take it as the instance's.
const SHARED: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn shared_env(ws: &Workspace) -> Vec<(&'static str, String)> {
    let mut env = workspace_env(ws);
    env.push(("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED.to_owned()));
    env
}

/// `configure`, then `setup --no-deploy` against a backend started with the written settings.
fn set_up(p: &Project, ws: &Workspace, extra: &[(&'static str, String)]) -> (Run, String) {
    let mut env = shared_env(ws);
    env.extend_from_slice(extra);
    crate::workspaces::set_up(p, env)
}

fn server_env() -> Vec<(&'static str, String)> {
    vec![("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED.to_owned())]
}

#[test]
fn two_workspaces_on_one_server_get_two_marked_databases() {
    let a = workspace("alice", "My-App", "a");
    let b = workspace("alice", "my_app", "b");
    let (pa, pb) = (Project::new(), Project::new());
    let (run_a, name_a) = set_up(&pa, &a, &[]);
    let (run_b, name_b) = set_up(&pb, &b, &[]);
    let (db_a, db_b) = (a.database_name(), b.database_name());
    assert_eq!(name_a, a.instance_name());
    assert_eq!(name_b, b.instance_name());
    assert_ne!(db_a, db_b);

    let report_a = run_a.json();
    assert_eq!(
        report_a["database"],
        json!({"database": db_a, "existed": false, "created": true, "tls": false, "marked": true})
    );
    assert_eq!(run_b.json()["database"]["created"], true);
    assert_eq!(workspace_marker(&db_a), a.marker());
    assert_eq!(workspace_marker(&db_b), b.marker());
    // The backend gets the server URL without a database path; it appends the instance's.
    assert_eq!(
        pa.env_values(".env.convex.local")["POSTGRES_URL"],
        "postgres://postgres@127.0.0.1:5432?sslmode=disable"
    );

    // A second setup finds its own marker and changes nothing.
    let (again, _) = set_up(&pa, &a, &[]);
    assert_eq!(
        again.json()["database"],
        json!({"database": db_a, "existed": true, "created": false, "tls": false, "marked": false})
    );

    // db list shows both, with their workspaces.
    let list = run(&pa, &["--json", "db", "list"], &server_env()).json();
    let mut rows: Vec<Value> = list["databases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["database"] == db_a.as_str() || d["database"] == db_b.as_str())
        .map(|d| {
            // Sizes and times vary: their shape is checked, the rest exactly.
            assert!(d["size_bytes"].as_u64().unwrap() > 0, "{d}");
            let at = d["last_setup"].as_str().unwrap();
            assert!(parse_rfc3339(at).is_some(), "{d}");
            let mut d = d.clone();
            d["size_bytes"] = json!("n");
            d["last_setup"] = json!("t");
            d
        })
        .collect();
    rows.sort_by_key(|d| d["workspace_id"].as_str().unwrap_or_default().to_owned());
    let mut want = [
        json!({"database": db_a, "workspace_id": a.id, "workspace": "alice/My-App", "size_bytes": "n", "connections": 0, "last_setup": "t", "budget": 8}),
        json!({"database": db_b, "workspace_id": b.id, "workspace": "alice/my_app", "size_bytes": "n", "connections": 0, "last_setup": "t", "budget": 8}),
    ];
    want.sort_by_key(|d| d["workspace_id"].as_str().unwrap_or_default().to_owned());
    assert_eq!(rows, want);
    assert_eq!(
        list["server"],
        "postgres://postgres@127.0.0.1:5432?sslmode=disable"
    );

    for db in [&db_a, &db_b] {
        run(&pa, &["db", "drop", db, "--yes"], &server_env()).ok();
        assert_eq!(comment_of(db), "", "{db} is gone");
    }
}

#[test]
fn a_database_marked_for_another_workspace_is_refused() {
    let owner = workspace("bob", "api", "owner");
    let intruder = workspace("carol", "api", "intruder");
    let (po, pi) = (Project::new(), Project::new());
    let (first, name) = set_up(&po, &owner, &[]);
    first.ok();
    let db = owner.database_name();

    // The intruder is pointed at the same instance (and so the same database).
    let (refused, _) = set_up(&pi, &intruder, &[("INSTANCE_NAME", name.clone())]);
    assert_eq!(refused.code(), 5, "{}", refused.stderr());
    let report: Value = serde_json::from_str(&refused.stdout()).unwrap();
    assert_eq!(report["error"]["code"], "database");
    let message = report["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!(
            "belongs to another workspace ({} bob/api)",
            owner.id
        )),
        "{message}"
    );
    assert!(message.contains(&intruder.id), "{message}");
    assert!(
        report["error"]["hint"]
            .as_str()
            .unwrap()
            .contains(&format!("coder-convex db drop {db} --yes"))
    );
    // The marker is still the owner's.
    assert_eq!(workspace_marker(&db), owner.marker());
    run(&po, &["db", "drop", &db, "--yes"], &server_env()).ok();
}

#[test]
fn db_drop_needs_yes_and_a_marker() {
    let ws = workspace("dave", "tmp", "drop");
    let p = Project::new();
    set_up(&p, &ws, &[]).0.ok();
    let db = ws.database_name();

    let refused = run(&p, &["--json", "db", "drop", &db], &server_env());
    assert_eq!(refused.code(), 2);
    let report: Value = serde_json::from_str(&refused.stdout()).unwrap();
    assert_eq!(report["error"]["code"], "invalid_input");
    assert!(
        report["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("invalid --yes: dropping")
    );
    assert_eq!(workspace_marker(&db), ws.marker(), "still there");

    // A database made by hand has no marker: never dropped.
    let manual = format!("cc_manual_{}_{}", std::process::id(), unique());
    psql(5432, &format!("CREATE DATABASE {manual}"));
    let refused = run(&p, &["db", "drop", &manual, "--yes"], &server_env());
    assert_eq!(refused.code(), 2, "{}", refused.stderr());
    assert!(refused.stderr().contains("was not created by coder-convex"));
    assert_eq!(
        psql(
            5432,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{manual}'")
        ),
        "1"
    );
    psql(5432, &format!("DROP DATABASE {manual}"));

    let dropped = run(&p, &["--json", "db", "drop", &db, "--yes"], &server_env()).json();
    assert_eq!(dropped["dropped"]["database"], db.as_str());
    assert_eq!(
        psql(
            5432,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'")
        ),
        "0"
    );
}

#[test]
fn shared_mode_needs_the_workspace_id() {
    let p = Project::new();
    let run = p.run(
        &["configure"],
        &[
            ("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED),
            ("CODER_WORKSPACE_NAME", "ws"),
        ],
    );
    assert_eq!(run.code(), 2);
    assert!(
        run.stderr().contains("invalid CODER_CONVEX_WORKSPACE_ID"),
        "{}",
        run.stderr()
    );
    assert!(
        !p.path().join(".env.convex.local").exists(),
        "nothing written"
    );
}

/// A name the user chose once (`INSTANCE_NAME=… setup`) is the project file's, and a later
/// run without the variable keeps it: the same database, claimed by the same workspace.
#[test]
fn a_chosen_instance_name_is_kept_by_later_runs_without_the_variable() {
    let ws = workspace("dana", "shop", "chosen");
    let p = Project::new();
    let chosen = format!("custom-{}-{}", std::process::id(), unique());
    let (first, name) = set_up(&p, &ws, &[("INSTANCE_NAME", chosen.clone())]);
    first.ok();
    assert_eq!(name, chosen);
    let db = chosen.replace('-', "_");
    assert_eq!(workspace_marker(&db), ws.marker());

    // No variable this time: the project file's name wins over the workspace's.
    let (second, name) = set_up(&p, &ws, &[]);
    let report = second.json();
    assert_eq!(name, chosen);
    assert_eq!(p.env_values(".env.convex.local")["INSTANCE_NAME"], chosen);
    assert_eq!(report["database"]["database"], db, "{report}");
    assert_eq!(report["database"]["created"], false, "{report}");
    assert!(
        psql(
            5432,
            &format!(
                "SELECT count(*) FROM pg_database WHERE datname = '{}'",
                ws.database_name()
            )
        ) == "0",
        "no second, empty database for the workspace's own name"
    );
    run(&p, &["db", "drop", &db, "--yes"], &server_env()).ok();
}

/// A workspace id with a blank reads back from its marker: the workspace's second start finds
/// its own database, not another's.
#[test]
fn a_workspace_id_with_a_blank_is_not_locked_out_of_its_database() {
    let mut ws = workspace("erin", "notes", "blank");
    ws.id = format!("id with blanks {}", ws.id);
    let p = Project::new();
    let (first, _) = set_up(&p, &ws, &[]);
    first.ok();
    let db = ws.database_name();
    assert_eq!(workspace_marker(&db), ws.marker());
    let (second, _) = set_up(&p, &ws, &[]);
    let report = second.json();
    assert_eq!(report["database"]["created"], false, "{report}");
    run(&p, &["db", "drop", &db, "--yes"], &server_env()).ok();
}

#[test]
fn the_backend_pool_on_a_shared_server_is_the_workspace_budget() {
    let ws = workspace("dana", "budget", "budget");
    let p = Project::new();
    // Default: 8 connections, on the variable the backend reads for Postgres.
    let (setup, _) = set_up(&p, &ws, &[]);
    setup.ok();
    let values = p.env_values(".env.convex.local");
    assert_eq!(values["POSTGRES_MAX_CONNECTIONS"], "8");
    assert!(!values.contains_key("MYSQL_MAX_CONNECTIONS"));
    // The real server has the database the backend with that pool opens.
    assert_eq!(workspace_marker(&ws.database_name()), ws.marker());

    // A budget given by the template replaces the one written before.
    let (again, _) = set_up(&p, &ws, &[("CODER_CONVEX_DB_CONNECTIONS", "3".to_owned())]);
    again.ok();
    assert_eq!(
        p.env_values(".env.convex.local")["POSTGRES_MAX_CONNECTIONS"],
        "3"
    );
    // Each setup records its budget in the marker, for `db list` and the capacity.
    let comment = comment_of(&ws.database_name());
    let marker = parse_marker(&comment).unwrap();
    assert_eq!(marker.stamp.budget, Some(3), "{comment}");

    // Out of range: refused before anything is written, naming the variable.
    let mut env = shared_env(&ws);
    env.push(("CODER_CONVEX_DB_CONNECTIONS", "500".to_owned()));
    let refused = run(&p, &["configure"], &env);
    assert_eq!(refused.code(), 2);
    assert!(
        refused.stderr().contains("CODER_CONVEX_DB_CONNECTIONS"),
        "{}",
        refused.stderr()
    );
    assert_eq!(
        p.env_values(".env.convex.local")["POSTGRES_MAX_CONNECTIONS"],
        "3"
    );

    // Without a shared server nothing is written: the backend keeps its own default.
    let solo = Project::new();
    solo.run(&["configure"], &[]).ok();
    assert!(
        !solo
            .env_values(".env.convex.local")
            .contains_key("POSTGRES_MAX_CONNECTIONS")
    );

    run(
        &p,
        &["db", "drop", &ws.database_name(), "--yes"],
        &server_env(),
    )
    .ok();
}
