//! The shared server's admin tools on a throw-away MariaDB with known settings
//! (`max_connections=30`): `db list` (columns, capacity), a marker table from before the
//! stamp gaining its columns, `db prune` (dry run, `--yes`, never an unmarked, unknown or
//! in-use database); and the preflight waiting for a full server (error 1040) instead of
//! failing. MariaDB lacks `utf8mb4_0900_bin`: the collation required is `utf8mb4_bin`.

use std::io::{BufRead as _, BufReader};
use std::process::Stdio;

use coder_convex::database::workspace::Workspace;
use serde_json::{Value, json};

use crate::common::{Project, command_in, until};
use crate::mariadb::MariaDb;
use crate::workspaces::{
    NO_BACKEND, db_list_alone, doctor_checks, listed, names, run, settled, with_id as workspace,
};

fn workspace_env(shared: &str, ws: &Workspace) -> Vec<(&'static str, String)> {
    let mut env = crate::workspaces::workspace_env(ws);
    env.push(("CODER_CONVEX_SHARED_DATABASE_URL", shared.to_owned()));
    env.push(("CODER_CONVEX_MYSQL_COLLATION", "utf8mb4_bin".to_owned()));
    env.push((NO_BACKEND.0, NO_BACKEND.1.to_owned()));
    env
}

/// `configure`, then `doctor --fix` (the preflight `setup` runs); the checks by name.
fn start_workspace(p: &Project, shared: &str, ws: &Workspace) -> serde_json::Map<String, Value> {
    doctor_checks(p, &workspace_env(shared, ws))
}

const OLD_TABLE: &str = "coder_convex_workspace (marker VARCHAR(512) NOT NULL)";

#[test]
fn db_list_capacity_and_prune_on_mariadb() {
    let server = MariaDb::start_with(&["--max-connections=30"]);
    let port = server.port;
    server.user("admin", "adm!n@pw", "ALL ON *.*");
    let shared = format!("mysql://admin:adm!n@pw@127.0.0.1:{port}");
    let admin = [("CODER_CONVEX_SHARED_DATABASE_URL", shared.clone())];
    let (a, b, c) = (
        workspace("alice", "app", "id-a"),
        workspace("bob", "api", "id-b"),
        workspace("carl", "busy", "id-c"),
    );
    let (db_a, db_b, db_c) = (a.database_name(), b.database_name(), c.database_name());
    // Alice's database was marked by an earlier coder-convex: a table without the stamp.
    server.sql(&format!(
        "CREATE DATABASE {db_a}; CREATE TABLE {db_a}.{OLD_TABLE}; INSERT INTO {db_a}.coder_convex_workspace VALUES ('{}')",
        a.marker()
    ));
    // One still like that, never started since; one made by hand.
    server.sql(&format!(
        "CREATE DATABASE convex_old; CREATE TABLE convex_old.{OLD_TABLE}; INSERT INTO convex_old.coder_convex_workspace VALUES ('coder-convex: workspace old-id (carol/legacy)'); CREATE DATABASE not_ours"
    ));

    let (pa, pb, pc) = (Project::new(), Project::new(), Project::new());
    let checks = start_workspace(&pa, &shared, &a);
    assert_eq!(checks["instance database"]["status"], "pass", "{checks:?}");
    // The old table gained the columns and holds this setup's stamp.
    assert_eq!(
        server.sql(&format!(
            "SELECT COLUMN_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{db_a}' AND TABLE_NAME = 'coder_convex_workspace' ORDER BY ORDINAL_POSITION"
        )),
        "marker\nlast_setup\nbudget"
    );
    assert_eq!(
        server.sql(&format!(
            "SELECT CONCAT(marker, ' | ', last_setup IS NOT NULL, ' | ', budget) FROM {db_a}.coder_convex_workspace"
        )),
        format!("{} | 1 | 8", a.marker())
    );
    // MySQL keeps its extra connection for admins beyond max_connections: none reserved.
    let capacity = &checks["database capacity"];
    assert_eq!(capacity["status"], "pass", "{capacity}");
    let detail = capacity["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("max_connections 30, 0 reserved, 30 usable, "),
        "{detail}"
    );
    assert!(
        detail.ends_with(" in use now; at 8 connections per workspace the server holds 3 workspaces; workspace databases: 2, their budgets totalling 16, 1 of them without a recorded budget, counted at 8; room for 1 more"),
        "{detail}"
    );
    start_workspace(&pb, &shared, &b);
    start_workspace(&pc, &shared, &c);

    // Once only its own connection is open (the sessions before it end a moment after).
    let list = db_list_alone(&pa, &admin);
    assert_eq!(
        settled(&list["databases"]),
        [
            listed(&a, 8),
            listed(&b, 8),
            listed(&c, 8),
            json!({"database": "convex_old", "workspace_id": "old-id", "workspace": "carol/legacy", "size_bytes": "n", "connections": 0, "last_setup": null, "budget": null}),
        ]
    );
    // 4 × 8 = 32 > 30: over-committed by 2.
    assert_eq!(
        list["capacity"],
        json!({
            "max_connections": 30, "reserved": 0, "usable": 30, "in_use": 1, "budget": 8,
            "holds": 3, "workspaces": 4, "committed": 32, "unknown_budgets": 1, "room": 0,
            "load": "over_committed"
        })
    );
    assert!(!list.to_string().contains("adm!n"), "{list}");

    // Alice's and Carl's workspaces have not started since 2020; Carl's database is in use.
    for db in [&db_a, &db_c] {
        server.sql(&format!(
            "UPDATE {db}.coder_convex_workspace SET last_setup = '2020-01-01 00:00:00'"
        ));
    }
    let dry = run(
        &pa,
        &["--json", "db", "prune", "--unused-for", "2w"],
        &admin,
    )
    .json();
    assert_eq!(names(&dry["unused"]), [db_a.clone(), db_c.clone()]);
    assert_eq!(dry["unused"][0]["last_setup"], "2020-01-01T00:00:00Z");
    assert_eq!(names(&dry["unknown"]), ["convex_old"]);
    assert_eq!(dry["dropped"], json!([]));
    assert!(server.databases().contains(&db_a));

    server.user("holder", "holdpw", "ALL ON *.*");
    let mut holder = server.hold("holder", "holdpw", &db_c, "SELECT SLEEP(600)");
    server.wait_for(
        &format!("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE DB = '{db_c}'"),
        "1",
    );
    let pruned = run(
        &pa,
        &["--json", "db", "prune", "--unused-for", "2w", "--yes"],
        &admin,
    );
    assert_eq!(pruned.code(), 5, "{}", pruned.all());
    let report = pruned.doc();
    assert_eq!(report["error"]["code"], "database_in_use", "{report}");
    assert_eq!(report["dropped"], json!([db_a]));
    assert_eq!(
        report["refused"],
        json!([{"database": db_c, "reason": format!("database \"{db_c}\" is in use (connections open: 1); not dropped")}])
    );
    let left = server.databases();
    assert!(!left.contains(&db_a), "{left:?}");
    for kept in [&db_b, &db_c, "convex_old", "not_ours"] {
        assert!(left.iter().any(|d| d == kept), "{kept} is kept: {left:?}");
    }
    holder.kill().unwrap();
    holder.wait().unwrap();
}

/// A full server (every one of its few connections held) answers the preflight with error
/// 1040; the preflight waits with backoff inside its deadline and succeeds once one is free.
#[test]
fn the_preflight_waits_for_a_full_mariadb() {
    // 10 is the least MariaDB accepts.
    let server = MariaDb::start_with(&["--max-connections=10"]);
    let port = server.port;
    // Neither user has SUPER or CONNECTION ADMIN, so neither gets the admin's extra slot.
    server.sql("CREATE USER 'team'@'127.0.0.1' IDENTIFIED BY 'teampw'; GRANT ALL ON `convex\\_%`.* TO 'team'@'127.0.0.1'");
    server.user("holder", "holdpw", "SELECT ON mysql.*");
    // Root's own queries take a slot while they run, so a holder may be turned away: start
    // more until ten hold one.
    let mut holders = Vec::new();
    until(|| {
        let held: usize = server
            .sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE USER = 'holder'")
            .parse()
            .unwrap();
        for _ in held..10 {
            holders.push(server.hold("holder", "holdpw", "mysql", "SELECT SLEEP(600)"));
        }
        (held == 10).then_some(())
    });
    let ws = workspace("dora", "rush", "id-rush");
    let p = Project::new();
    let shared = format!("mysql://team:teampw@127.0.0.1:{port}");
    let env = workspace_env(&shared, &ws);
    run(&p, &["configure"], &env).ok();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let mut doctor = command_in(
        p.path(),
        &["-v", "--json", "doctor", "--fix", "--timeout", "120"],
        &env,
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    // Free the slots once the preflight has been turned away and is waiting.
    let mut stderr = BufReader::new(doctor.stderr.take().unwrap());
    let mut seen = String::new();
    let mut line = String::new();
    while !line.contains("database server busy") {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "doctor ended without waiting for the server: {seen}"
        );
        seen.push_str(&line);
    }
    assert!(line.contains("has no connection to spare"), "{line}");
    // A session in SLEEP notices its client only when it ends: end them from the server.
    let ids = server.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE USER = 'holder'");
    for id in ids.lines() {
        server.sql(&format!("KILL {id}"));
    }
    for holder in &mut holders {
        // Some were turned away and have ended already.
        let _ = holder.kill();
        holder.wait().unwrap();
    }
    let out = doctor.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let check = |name: &str| {
        report["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("no {name} check: {report}"))
            .clone()
    };
    assert_eq!(check("database")["status"], "pass", "{report}");
    assert_eq!(check("instance database")["status"], "pass", "{report}");
    assert!(server.databases().contains(&ws.database_name()));
}
