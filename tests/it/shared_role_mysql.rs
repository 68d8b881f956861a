//! `db provision` on a shared MySQL server, against a throw-away MariaDB server: each workspace
//! gets a user of its own (`cvx_<hash>`, within MySQL's 32 characters) with every privilege on
//! its database and none on another's; a second run rotates the password; the file holds the
//! user's `MYSQL_URL` and no admin password. MariaDB lacks `utf8mb4_0900_bin`: the collation
//! required is set to `utf8mb4_bin`.

use std::path::Path;

use coder_convex::database::workspace::Workspace;

use crate::common::{Project, Run};
use crate::mariadb::MariaDb;
use crate::workspaces::{credentials, provisioned_env, read_env, workspace, workspace_env};

const ADMIN_PW: &str = "adm-Pw-44x";

fn provision(admin: &str, ws: &Workspace, out: &Path) -> Run {
    let mut env = workspace_env(ws);
    env.push(("CODER_CONVEX_SHARED_DATABASE_URL", admin.to_owned()));
    env.push(("CODER_CONVEX_MYSQL_COLLATION", "utf8mb4_bin".to_owned()));
    crate::workspaces::provision(&env, out)
}

#[test]
fn each_workspace_user_may_use_its_own_database_only() {
    let server = MariaDb::start();
    let port = server.port;
    server.sql(&format!(
        "CREATE USER 'admin'@'127.0.0.1' IDENTIFIED BY '{ADMIN_PW}'; \
         GRANT ALL ON *.* TO 'admin'@'127.0.0.1' WITH GRANT OPTION"
    ));
    let admin = format!("mysql://admin:{ADMIN_PW}@127.0.0.1:{port}");
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (workspace("alice", "app"), workspace("bob", "app"));
    let (out_a, out_b) = (dir.path().join("a.env"), dir.path().join("b.env"));
    let report = provision(&admin, &a, &out_a).json();
    provision(&admin, &b, &out_b).json();
    let (db_a, db_b) = (a.database_name(), b.database_name());
    assert_eq!(report["database"], db_a.as_str());
    assert_eq!(report["created"], true);
    assert_eq!(report["role_created"], true);
    let role = report["role"].as_str().unwrap();
    assert_eq!(role.len(), 20, "{role}");
    assert!(role.starts_with("cvx_"), "{role}");

    let values = provisioned_env(&out_a, ADMIN_PW);
    let keys: Vec<&str> = values.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["MYSQL_URL", "MYSQL_MAX_CONNECTIONS", "DO_NOT_REQUIRE_SSL"]
    );
    let (user_a, pw_a) = credentials(&values[0].1);
    assert_eq!(user_a, role);
    assert_eq!(
        values[0].1,
        format!("mysql://{user_a}:{pw_a}@127.0.0.1:{port}")
    );
    assert_eq!(values[1].1, "8");
    let (user_b, pw_b) = credentials(&read_env(&out_b)[0].1);
    assert_ne!(user_a, user_b);

    // A's user works in A's database, sees no other, and may not use or drop B's.
    assert_eq!(
        server.sql_as(
            &user_a,
            &pw_a,
            &format!("CREATE TABLE `{db_a}`.t (x INT); INSERT INTO `{db_a}`.t VALUES (7); SELECT x FROM `{db_a}`.t")
        ),
        Ok("7".to_owned())
    );
    server
        .sql_as(
            &user_b,
            &pw_b,
            &format!("CREATE TABLE `{db_b}`.secret (x TEXT)"),
        )
        .unwrap();
    assert_eq!(
        server.sql_as(&user_a, &pw_a, "SHOW DATABASES"),
        Ok(format!("{db_a}\ninformation_schema"))
    );
    // MySQL's own codes: no privilege on the table (1142), on the database (1044).
    for (sql, code) in [
        (
            format!("SELECT * FROM `{db_b}`.secret"),
            "ERROR 1142 (42000)",
        ),
        (format!("DROP DATABASE `{db_b}`"), "ERROR 1044 (42000)"),
        (format!("USE `{db_b}`"), "ERROR 1044 (42000)"),
    ] {
        let refused = server.sql_as(&user_a, &pw_a, &sql).unwrap_err();
        assert!(refused.contains(code), "{sql}: {refused}");
    }
    assert!(server.databases().contains(&db_b));

    // Again: the same user, a new password; the old one no longer logs in.
    let again = provision(&admin, &a, &out_a).json();
    assert_eq!(again["role"], role);
    assert_eq!(again["created"], false);
    assert_eq!(again["role_created"], false);
    let (_, pw_a2) = credentials(&read_env(&out_a)[0].1);
    assert_ne!(pw_a2, pw_a);
    let old = server.sql_as(&user_a, &pw_a, "SELECT 1").unwrap_err();
    assert!(old.contains("ERROR 1045 (28000)"), "{old}");
    assert_eq!(
        server.sql_as(&user_a, &pw_a2, &format!("SELECT x FROM `{db_a}`.t")),
        Ok("7".to_owned())
    );

    // The admin's `db drop` takes the workspace's user with its database.
    let users = format!("SELECT COUNT(*) FROM mysql.user WHERE User = '{user_a}'");
    assert_eq!(server.sql(&users), "1");
    let dropped = Project::new().run(
        &["--json", "db", "drop", &db_a, "--yes"],
        &[("CODER_CONVEX_SHARED_DATABASE_URL", admin.as_str())],
    );
    assert_eq!(dropped.json()["ok"], true, "{}", dropped.all());
    assert_eq!(server.sql(&users), "0");
    assert!(!server.databases().contains(&db_a));
}
