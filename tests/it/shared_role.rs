//! A login role per workspace on a shared Postgres server (`db provision`), against throw-away
//! clusters with password auth: one workspace's role cannot connect to, read or drop another's
//! database; `PUBLIC` has no `CONNECT`; a second run rotates the password; the file holds the
//! role's URL and no admin password; a database from before roles is handed over. `setup` in
//! provisioned mode: `shared_role_setup.rs`.

use std::path::Path;

use coder_convex::database::workspace::Workspace;
use serde_json::json;

use crate::common::{Project, Run, assert_no_piece_of};
use crate::postgres::{Cluster, psql, sql_as};
use crate::workspaces::{
    credentials, provisioned_env, read_env, run, workspace, workspace_env as ws_env,
};

const ADMIN_PW: &str = "adminpw-Xq71";

fn cluster_with_admin() -> (Cluster, String) {
    Cluster::with_admin(ADMIN_PW)
}

/// `db provision --out <out>` for `ws` with the admin URL in the variable the template uses.
fn provision(admin: &str, ws: &Workspace, out: &Path) -> Run {
    let mut env = ws_env(ws);
    env.push(("CODER_CONVEX_SHARED_POSTGRES_URL", admin.to_owned()));
    crate::workspaces::provision(&env, out)
}

fn password_in(url: &str) -> String {
    credentials(url).1
}

#[test]
fn each_workspace_role_owns_its_database_and_cannot_touch_another() {
    let (cluster, admin) = cluster_with_admin();
    let port = cluster.port;
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (workspace("alice", "app"), workspace("bob", "app"));
    let (out_a, out_b) = (dir.path().join("a.env"), dir.path().join("b.env"));
    let mut report_a = provision(&admin, &a, &out_a).json();
    provision(&admin, &b, &out_b).json();
    let (db_a, db_b) = (a.database_name(), b.database_name());
    // The capacity after the first workspace, at the default budget; the connections in use
    // are whatever the server has open at that moment.
    let mut capacity = report_a
        .as_object_mut()
        .unwrap()
        .remove("capacity")
        .unwrap();
    assert!(
        capacity
            .as_object_mut()
            .unwrap()
            .remove("in_use")
            .unwrap()
            .is_u64()
    );
    assert_eq!(
        capacity,
        json!({
            "max_connections": 30, "reserved": 3, "usable": 27, "budget": 8, "holds": 3,
            "workspaces": 1, "committed": 8, "unknown_budgets": 0, "room": 2, "load": "fits",
        })
    );
    // Each provision records the workspace's start and budget in the marker, for `db prune`.
    let marker = psql(
        port,
        &format!(
            "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '{db_a}'"
        ),
    );
    let (label, stamp) = marker.split_once(", last setup ").unwrap();
    assert_eq!(label, a.marker().trim_end_matches(')'));
    assert!(stamp.ends_with("Z, budget 8)"), "{marker}");
    assert_eq!(
        report_a,
        json!({
            "ok": true, "exit_code": 0,
            "server": format!("postgres://admin:****@127.0.0.1:{port}?sslmode=disable"),
            "database": db_a, "instance_name": a.instance_name(), "role": db_a,
            "created": true, "role_created": true, "migrated": [], "connections": 8,
            "out": out_a.display().to_string(),
        })
    );

    // The file: the role's URL (no database path), the budget, the TLS setting; 0600.
    let values = provisioned_env(&out_a, ADMIN_PW);
    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "POSTGRES_URL",
            "POSTGRES_MAX_CONNECTIONS",
            "DO_NOT_REQUIRE_SSL"
        ]
    );
    let url_a = &values[0].1;
    let pw_a = password_in(url_a);
    assert_eq!(pw_a.len(), 40);
    assert!(pw_a.chars().all(|c| c.is_ascii_alphanumeric()), "{pw_a}");
    assert_eq!(
        url_a,
        &format!("postgres://{db_a}:{pw_a}@127.0.0.1:{port}?sslmode=disable")
    );
    assert_eq!(values[1].1, "8");
    assert_eq!(values[2].1, "1");
    let pw_b = password_in(&read_env(&out_b)[0].1);

    // Each role owns its own database; PUBLIC has no privilege on it.
    for db in [&db_a, &db_b] {
        assert_eq!(
            psql(
                port,
                &format!("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '{db}'")
            ),
            *db
        );
        assert_eq!(
            psql(
                port,
                &format!(
                    "SELECT count(*) FROM pg_database d, aclexplode(d.datacl) a \
                     WHERE d.datname = '{db}' AND a.grantee = 0"
                )
            ),
            "0",
            "PUBLIC holds a privilege on {db}"
        );
        assert_eq!(
            psql(
                port,
                &format!("SELECT has_database_privilege('{db}', '{db}', 'CONNECT')")
            ),
            "t"
        );
    }
    // The role has LOGIN and nothing more.
    assert_eq!(
        psql(
            port,
            &format!(
                "SELECT rolcanlogin, rolsuper, rolcreatedb, rolcreaterole FROM pg_roles WHERE rolname = '{db_a}'"
            )
        ),
        "t|f|f|f"
    );

    // A's role works in A's database...
    assert_eq!(
        sql_as(
            port,
            &db_a,
            &pw_a,
            &db_a,
            "CREATE TABLE t (x int); INSERT INTO t VALUES (7); SELECT x FROM t"
        ),
        Ok(vec!["7".to_owned()])
    );
    sql_as(
        port,
        &db_b,
        &pw_b,
        &db_b,
        "CREATE TABLE secret (x text); INSERT INTO secret VALUES ('b')",
    )
    .unwrap();
    // ...but may not connect to B's (so cannot read it), nor drop it, nor take it over.
    assert_eq!(
        sql_as(port, &db_a, &pw_a, &db_b, "SELECT x FROM secret"),
        Err("42501".to_owned())
    );
    assert_eq!(
        psql(
            port,
            &format!("SELECT has_database_privilege('{db_a}', '{db_b}', 'CONNECT')")
        ),
        "f"
    );
    for sql in [
        format!("DROP DATABASE \"{db_b}\""),
        format!("ALTER DATABASE \"{db_b}\" OWNER TO \"{db_a}\""),
    ] {
        assert_eq!(
            sql_as(port, &db_a, &pw_a, "postgres", &sql),
            Err("42501".to_owned()),
            "{sql}"
        );
    }
    // B's data is untouched.
    assert_eq!(
        sql_as(port, &db_b, &pw_b, &db_b, "SELECT x FROM secret"),
        Ok(vec!["b".to_owned()])
    );

    // Again: idempotent, with a new password; the old one no longer logs in.
    let again = provision(&admin, &a, &out_a).json();
    assert_eq!(again["database"], db_a.as_str());
    assert_eq!(again["created"], false);
    assert_eq!(again["role_created"], false);
    assert_eq!(again["migrated"], json!([]));
    let pw_a2 = password_in(&read_env(&out_a)[0].1);
    assert_ne!(pw_a2, pw_a);
    assert_eq!(
        sql_as(port, &db_a, &pw_a, &db_a, "SELECT 1"),
        Err("28P01".to_owned())
    );
    assert_eq!(
        sql_as(port, &db_a, &pw_a2, &db_a, "SELECT x FROM t"),
        Ok(vec!["7".to_owned()])
    );
    // The admin still lists and drops the databases it provisioned.
    let list = run(
        &Project::new(),
        &["--json", "db", "list"],
        &[("CODER_CONVEX_SHARED_POSTGRES_URL", admin.clone())],
    )
    .json();
    let mut names: Vec<&str> = list["databases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["database"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    let mut want = [db_a.as_str(), db_b.as_str()];
    want.sort_unstable();
    assert_eq!(names, want);
    run(
        &Project::new(),
        &["db", "drop", &db_b, "--yes"],
        &[("CODER_CONVEX_SHARED_POSTGRES_URL", admin.clone())],
    )
    .ok();
    assert_eq!(
        psql(
            port,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db_b}'")
        ),
        "0"
    );
}

#[test]
fn a_database_from_before_roles_is_handed_to_its_role() {
    let (cluster, admin) = cluster_with_admin();
    let port = cluster.port;
    let ws = workspace("carol", "old");
    let db = ws.database_name();
    // What an earlier setup left: the database, marked, and the backend's objects, all the
    // admin's.
    let as_admin = |database: &str, sql: &str| sql_as(port, "admin", ADMIN_PW, database, sql);
    as_admin("postgres", &format!("CREATE DATABASE \"{db}\"")).unwrap();
    as_admin(
        "postgres",
        &format!("COMMENT ON DATABASE \"{db}\" IS '{}'", ws.marker()),
    )
    .unwrap();
    as_admin(
        &db,
        "CREATE TABLE documents (id serial PRIMARY KEY, v text); \
         INSERT INTO documents (v) VALUES ('kept'); \
         CREATE VIEW recent AS SELECT v FROM documents; \
         CREATE SCHEMA extra; CREATE TABLE extra.more (x int); \
         CREATE SEQUENCE loose",
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("db.env");
    let report = provision(&admin, &ws, &out).json();
    assert_eq!(report["created"], false);
    assert_eq!(report["role_created"], true);
    let mut migrated: Vec<&str> = report["migrated"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    migrated.sort_unstable();
    // The serial's sequence moves with its table; `public` belongs to the database's owner.
    assert_eq!(
        migrated,
        [
            "extra",
            "extra.more",
            "public.documents",
            "public.loose",
            "public.recent"
        ]
    );
    let pw = password_in(&read_env(&out)[0].1);
    let as_role = |sql: &str| sql_as(port, &db, &pw, &db, sql);
    assert_eq!(
        as_role(
            "INSERT INTO documents (v) VALUES ('new'); INSERT INTO extra.more VALUES (1); \
             SELECT string_agg(v, ',' ORDER BY id) FROM documents"
        ),
        Ok(vec!["kept,new".to_owned()])
    );
    assert_eq!(
        as_role(
            "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname IN ('public', 'extra') AND pg_get_userbyid(c.relowner) <> current_user"
        ),
        Ok(vec!["0".to_owned()])
    );
    // A second run has nothing left to hand over.
    assert_eq!(provision(&admin, &ws, &out).json()["migrated"], json!([]));
}

#[test]
fn provision_errors_name_the_input_and_mask_both_passwords() {
    let (cluster, _) = cluster_with_admin();
    let ws = workspace("dave", "x");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("db.env");
    let wrong = format!(
        "postgres://admin:wrong-Pw-991@127.0.0.1:{}/postgres?sslmode=disable",
        cluster.port
    );
    let failed = provision(&wrong, &ws, &out);
    assert_eq!(failed.code(), 5, "{}", failed.all());
    assert_eq!(failed.doc()["error"]["code"], "database_authentication");
    assert_no_piece_of("wrong-Pw-991", &failed.all());
    assert!(!out.exists());

    // An admin role without CREATEROLE: the database is made, the role is not; the error says
    // which step and what the admin role needs, and shows no password.
    psql(
        cluster.port,
        "CREATE ROLE creator LOGIN CREATEDB PASSWORD 'Zq7-xW9-55k'",
    );
    let creator = format!(
        "postgres://creator:Zq7-xW9-55k@127.0.0.1:{}/postgres?sslmode=disable",
        cluster.port
    );
    let refused = provision(&creator, &ws, &out);
    assert_eq!(refused.code(), 5, "{}", refused.all());
    let error = &refused.doc()["error"];
    assert_eq!(
        error["message"],
        format!(
            "creating role {:?} on creator@127.0.0.1 failed",
            ws.database_name()
        )
    );
    assert!(
        error["hint"].as_str().unwrap().contains("CREATEROLE"),
        "{error}"
    );
    assert_no_piece_of("Zq7-xW9-55k", &refused.all());
    assert!(!out.exists());

    let mysql = provision("mysql://root:my-Pw-771@127.0.0.1:3306", &ws, &out);
    assert_eq!(mysql.code(), 2, "{}", mysql.all());
    assert_no_piece_of("my-Pw-771", &mysql.all());
    assert!(
        mysql.doc()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CODER_CONVEX_SHARED_POSTGRES_URL"),
        "{}",
        mysql.all()
    );
    let missing = run(
        &Project::new(),
        &["--json", "db", "provision", "--out", "x.env"],
        &[(
            "CODER_CONVEX_SHARED_POSTGRES_URL",
            "postgres://a@h".to_owned(),
        )],
    );
    assert_eq!(missing.code(), 2);
    assert!(
        missing.doc()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CODER_CONVEX_WORKSPACE_ID"),
        "{}",
        missing.all()
    );
}
