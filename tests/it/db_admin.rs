//! The shared server's admin tools against throw-away servers with known settings: `db list`
//! (its columns and the capacity figures), the doctor's `database capacity` check, and
//! `db prune` (dry run, `--yes`, never an unmarked, unknown or in-use database; the
//! Postgres login role named like the database goes with it). Postgres here; MariaDB in
//! `db_admin_mysql.rs`.

use std::process::{Child, Command, Stdio};

use coder_convex::database::workspace::Workspace;
use serde_json::{Value, json};

use crate::common::{Project, until};
use crate::postgres::{Cluster, psql, wait_for};
use crate::workspaces::{
    NO_BACKEND, db_list_alone, doctor_checks, listed, names, run, settled, with_id as workspace,
    workspace_env,
};

/// The doctor's checks by name after `configure` and `doctor --fix` (the preflight `setup`
/// runs: create, mark, stamp) in `ws`.
fn start_workspace(
    p: &Project,
    shared: &str,
    ws: &Workspace,
    budget: Option<&str>,
) -> serde_json::Map<String, Value> {
    let mut env = workspace_env(ws);
    env.push(("CODER_CONVEX_SHARED_POSTGRES_URL", shared.to_owned()));
    env.push((NO_BACKEND.0, NO_BACKEND.1.to_owned()));
    if let Some(budget) = budget {
        env.push(("CODER_CONVEX_DB_CONNECTIONS", budget.to_owned()));
    }
    doctor_checks(p, &env)
}

/// A `psql` session connected to `db`, sleeping: it holds one connection until killed.
fn hold(port: u16, db: &str) -> Child {
    Command::new(crate::common::require("psql"))
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", "postgres"])
        .args(["-d", db, "-c", "SELECT pg_sleep(600)"])
        .env("PGPASSWORD", "superpw")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("psql")
}

const OLD: &str = "coder-convex: workspace old-id (carol/legacy)";

#[test]
fn db_list_capacity_doctor_and_prune_on_postgres() {
    let cluster = Cluster::start_with(&["max_connections=30", "superuser_reserved_connections=3"]);
    let port = cluster.port;
    let shared = format!("postgres://postgres:superpw@127.0.0.1:{port}?sslmode=disable");
    let admin = [("CODER_CONVEX_SHARED_POSTGRES_URL", shared.clone())];
    let (a, b) = (
        workspace("alice", "app", "id-a"),
        workspace("bob", "api", "id-b"),
    );
    let (db_a, db_b) = (a.database_name(), b.database_name());
    let (pa, pb) = (Project::new(), Project::new());
    // A database marked by an earlier coder-convex (no stamp), one made by hand (no marker).
    psql(port, "CREATE DATABASE convex_old");
    psql(port, &format!("COMMENT ON DATABASE convex_old IS '{OLD}'"));
    psql(port, "CREATE DATABASE not_ours");

    let first = start_workspace(&pa, &shared, &a, None);
    assert_eq!(first["database"]["status"], "pass", "{first:?}");
    // The capacity counts this workspace, the old database at the budget, nothing else yet.
    let capacity = &first["database capacity"];
    assert_eq!(capacity["status"], "pass", "{capacity}");
    let detail = capacity["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("max_connections 30, 3 reserved, 27 usable, "),
        "{detail}"
    );
    assert!(
        detail.ends_with(" in use now; at 8 connections per workspace the server holds 3 workspaces; workspace databases: 2, their budgets totalling 16, 1 of them without a recorded budget, counted at 8; room for 1 more"),
        "{detail}"
    );
    // A second workspace with a smaller budget fills the server at 8 for a third.
    let second = start_workspace(&pb, &shared, &b, Some("5"));
    let capacity = &second["database capacity"];
    assert_eq!(capacity["status"], "pass", "{capacity}");
    assert!(
        capacity["detail"].as_str().unwrap().ends_with(
            " in use now; at 5 connections per workspace the server holds 5 workspaces; workspace databases: 3, their budgets totalling 18, 1 of them without a recorded budget, counted at 5; room for 1 more"
        ),
        "{capacity}"
    );

    // db list, once only its own connection is open (the sessions of the commands and
    // psql before it end a moment after them).
    let list = db_list_alone(&pa, &admin);
    assert_eq!(
        settled(&list["databases"]),
        [
            listed(&a, 8),
            listed(&b, 5),
            json!({"database": "convex_old", "workspace_id": "old-id", "workspace": "carol/legacy", "size_bytes": "n", "connections": 0, "last_setup": null, "budget": null}),
        ]
    );
    assert_eq!(
        list["capacity"],
        json!({
            "max_connections": 30, "reserved": 3, "usable": 27, "in_use": 1, "budget": 8,
            "holds": 3, "workspaces": 3, "committed": 21, "unknown_budgets": 1, "room": 0,
            "load": "full"
        })
    );
    let human = until(|| {
        let human = run(&pa, &["db", "list"], &admin);
        human.stderr().contains(" 1 in use now;").then_some(human)
    });
    assert_eq!(human.code(), 0, "{}", human.all());
    let lines: Vec<String> = human.stdout().lines().map(str::to_owned).collect();
    assert_eq!(
        lines[0],
        "DATABASE                   WORKSPACE     WORKSPACE ID  SIZE    CONNECTIONS  LAST SETUP            BUDGET"
    );
    assert!(
        lines[3].starts_with("convex_old                 carol/legacy  old-id        "),
        "{}",
        lines[3]
    );
    assert!(
        lines[3].ends_with("  0            unknown               ?"),
        "{}",
        lines[3]
    );
    assert!(
        human.stderr().contains("capacity: max_connections 30, 3 reserved, 27 usable, 1 in use now; at 8 connections per workspace the server holds 3 workspaces; workspace databases: 3, their budgets totalling 21, 1 of them without a recorded budget, counted at 8; room for no more; lower the budget to 6 (CODER_CONVEX_DB_CONNECTIONS; template variable shared_db_connections) in every workspace, or raise max_connections on the server to at least 32 (a restart of the server)"),
        "{}",
        human.stderr()
    );
    assert!(!human.all().contains("superpw"), "{}", human.all());

    // Alice's workspace has not started since 2020; a third stale one is in use.
    let stale = |ws: &Workspace| {
        let marker = format!(
            "coder-convex: workspace {} ({}/{}, last setup 2020-01-01T00:00:00Z, budget 8)",
            ws.id, ws.owner, ws.name
        );
        psql(
            port,
            &format!("COMMENT ON DATABASE {} IS '{marker}'", ws.database_name()),
        );
    };
    stale(&a);
    let c = workspace("carl", "busy", "id-c");
    let db_c = c.database_name();
    psql(port, &format!("CREATE DATABASE {db_c}"));
    stale(&c);
    // The workspace role named like the database, which goes with it.
    psql(port, &format!("CREATE ROLE {db_a} LOGIN"));

    let bad = run(&pa, &["db", "prune", "--unused-for", "thirty"], &admin);
    assert_eq!(bad.code(), 2, "{}", bad.all());
    assert!(
        bad.stderr()
            .contains("invalid --unused-for: \"thirty\" is not a duration"),
        "{}",
        bad.stderr()
    );

    let dry = run(
        &pa,
        &["--json", "db", "prune", "--unused-for", "30d"],
        &admin,
    );
    let report = dry.json();
    assert_eq!(names(&report["unused"]), [db_a.clone(), db_c.clone()]);
    assert_eq!(report["unused"][0]["last_setup"], "2020-01-01T00:00:00Z");
    assert_eq!(names(&report["unknown"]), ["convex_old"]);
    assert_eq!(report["dropped"], json!([]));
    assert_eq!(report["unused_for_secs"], 30 * 86_400);
    assert!(
        dry.stderr()
            .contains("2 databases unused for 30d; nothing dropped: add --yes to drop them"),
        "{}",
        dry.stderr()
    );
    assert!(
        dry.stderr()
            .contains("convex_old (workspace old-id carol/legacy): last setup unknown, skipped"),
        "{}",
        dry.stderr()
    );
    let exists = |db: &str| {
        psql(
            port,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
        ) == "1"
    };
    assert!(exists(&db_a) && exists(&db_c));

    // With --yes: the in-use one is refused, the rest dropped, exit 5.
    let mut holder = hold(port, &db_c);
    wait_for(
        port,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db_c}'"),
        "1",
    );
    let pruned = run(
        &pa,
        &["--json", "db", "prune", "--unused-for", "30d", "--yes"],
        &admin,
    );
    assert_eq!(pruned.code(), 5, "{}", pruned.all());
    let report: Value = serde_json::from_str(&pruned.stdout()).unwrap();
    assert_eq!(report["ok"], false);
    assert_eq!(report["error"]["code"], "database_in_use", "{report}");
    assert_eq!(report["dropped"], json!([db_a]));
    assert_eq!(names(&report["refused"]), [db_c.as_str()]);
    assert_eq!(
        report["refused"][0]["reason"],
        format!("database \"{db_c}\" is in use (connections open: 1); not dropped")
    );
    assert!(!exists(&db_a), "pruned");
    assert_eq!(
        psql(
            port,
            &format!("SELECT count(*) FROM pg_roles WHERE rolname = '{db_a}'")
        ),
        "0",
        "its role went with it"
    );
    for kept in [db_b.as_str(), db_c.as_str(), "convex_old", "not_ours"] {
        assert!(exists(kept), "{kept} is kept");
    }
    // `db drop` refuses a database in use the same way.
    let drop = run(&pa, &["db", "drop", &db_c, "--yes"], &admin);
    assert_eq!(drop.code(), 5, "{}", drop.all());
    assert!(exists(&db_c));
    // A backend in pg_sleep notices its client only when it ends: end it from the server.
    psql(
        port,
        &format!(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{db_c}'"
        ),
    );
    holder.kill().unwrap();
    holder.wait().unwrap();
    wait_for(
        port,
        &format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{db_c}'"),
        "0",
    );
    let pruned = run(
        &pa,
        &["--json", "db", "prune", "--unused-for", "30d", "--yes"],
        &admin,
    )
    .json();
    assert_eq!(pruned["dropped"], json!([db_c]));
    assert!(!exists(&db_c));
}
