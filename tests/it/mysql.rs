//! MySQL against a real MariaDB server of each test's own (`tests/support/mariadb.rs`): what
//! the preflight finds — a refused connection, a wrong password, TLS required, a read-only
//! server, the collation missing (MariaDB 10.x: exit 5, nothing created), a missing
//! database created, a user without the privileges — and no password in any output (the
//! shared-server mode is in `shared_mysql.rs`). MariaDB lacks `utf8mb4_0900_bin`, so the steps after the collation
//! run with `CODER_CONVEX_MYSQL_COLLATION=utf8mb4_bin`; the passing decision for the real
//! collation is a unit test (`src/database/mysql/verdict.rs`).

use serde_json::{Value, json};

use crate::common::{Project, Run};
use crate::mariadb::MariaDb;

/// What MariaDB has, standing in for `utf8mb4_0900_bin` in the steps after the collation.
const COLLATION: (&str, &str) = ("CODER_CONVEX_MYSQL_COLLATION", "utf8mb4_bin");
const NO_BACKEND: (&str, &str) = ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9");

fn run<K: AsRef<str>>(p: &Project, args: &[&str], env: &[(K, String)]) -> Run {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_ref(), v.as_str())).collect();
    p.run(args, &env)
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// `doctor --json`'s database checks, by name.
fn doctor(p: &Project, pairs: &[(&str, &str)], fix: bool) -> Vec<Value> {
    let mut args = vec!["doctor", "--json"];
    if fix {
        args.push("--fix");
    }
    let mut all = env(pairs);
    all.push((NO_BACKEND.0.to_owned(), NO_BACKEND.1.to_owned()));
    let out = run(p, &args, &all);
    let v: Value =
        serde_json::from_str(&out.stdout()).unwrap_or_else(|_| panic!("{}", out.stderr()));
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| {
            let name = c["name"].as_str().unwrap();
            name.starts_with("database") || name == "instance database"
        })
        .filter(|c| c["name"] != "database TLS settings")
        .cloned()
        .collect()
}

fn statuses(checks: &[Value]) -> Vec<(String, String)> {
    checks
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap().to_owned(),
                c["status"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

/// `setup --no-deploy --json` that fails at the preflight: its error document.
fn setup_error(p: &Project, pairs: &[(&str, &str)]) -> (i32, Value, String) {
    let mut all = env(pairs);
    all.push((NO_BACKEND.0.to_owned(), NO_BACKEND.1.to_owned()));
    let out = run(p, &["--json", "setup", "--no-deploy"], &all);
    let doc: Value =
        serde_json::from_str(&out.stdout()).unwrap_or_else(|_| panic!("{}", out.stderr()));
    (out.code(), doc["error"].clone(), out.all())
}

#[test]
fn a_refused_connection_is_its_own_failure() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("mysql://app:hunter2@127.0.0.1:{port}/convex_x");
    let p = Project::new();
    let checks = doctor(&p, &[("MYSQL_URL", &url)], false);
    assert_eq!(
        statuses(&checks),
        pairs(&[
            ("database", "fail"),
            ("database writable", "skip"),
            ("database collation", "skip"),
            ("instance database", "skip"),
            ("database tables", "skip"),
        ])
    );
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach MySQL at app@127.0.0.1"),
        "{checks:?}"
    );
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url)]);
    assert_eq!(
        (code, &error["code"]),
        (5, &json!("database_unreachable")),
        "{all}"
    );
    assert!(!all.contains("hunter2"), "{all}");
}

#[test]
fn wrong_password_and_tls_are_told_apart() {
    let server = MariaDb::start();
    let port = server.port;
    server.user("app", "s3cret", "ALL ON *.*");
    let p = Project::new();

    // Wrong password (with characters that need encoding): authentication, never shown.
    let url = format!("mysql://app:hunter2@wrong@127.0.0.1:{port}/convex_x");
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url)]);
    assert_eq!(
        (code, &error["code"]),
        (5, &json!("database_authentication")),
        "{all}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("authentication failed for app@127.0.0.1"),
        "{error}"
    );
    assert!(!all.contains("hunter2"), "{all}");

    // The server requires TLS; a loopback URL is used without it (DO_NOT_REQUIRE_SSL).
    server.sql("SET GLOBAL require_secure_transport = ON");
    let url = format!("mysql://app:s3cret@127.0.0.1:{port}/convex_x");
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url)]);
    assert_eq!((code, &error["code"]), (5, &json!("database_tls")), "{all}");
    assert!(
        error["message"].as_str().unwrap().contains("requires TLS"),
        "{error}"
    );

    // require_ssl=true in the URL is moved out (with a warning) and turns TLS on; the
    // certificate is not in the built-in roots...
    let tls_url = format!("{url}?require_ssl=true");
    let checks = doctor(&p, &[("MYSQL_URL", &tls_url)], false);
    assert_eq!(checks[0]["status"], "fail", "{checks:?}");
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .starts_with("TLS to MySQL at app@127.0.0.1 failed"),
        "{checks:?}"
    );
    // ...and with MYSQL_CA_FILE it verifies: the connection passes (MariaDB then stops at the
    // collation).
    let ca = server.ca_file();
    let checks = doctor(
        &p,
        &[("MYSQL_URL", &tls_url), ("MYSQL_CA_FILE", &ca)],
        false,
    );
    assert_eq!(checks[0]["status"], "pass", "{checks:?}");
    assert!(
        checks[0]["detail"]
            .as_str()
            .unwrap()
            .contains("TLS, verified"),
        "{checks:?}"
    );
    assert_eq!(checks[1]["status"], "pass", "{checks:?}");
    assert_eq!(checks[2]["status"], "fail", "{checks:?}");

    let configure = run(&p, &["configure"], &env(&[("MYSQL_URL", &tls_url)]));
    let all = configure.all();
    assert!(
        all.contains("moved require_ssl=true out of the URL"),
        "{all}"
    );
    let written = p.env_values(".env.convex.local");
    assert_eq!(
        written["MYSQL_URL"],
        format!("mysql://app:s3cret@127.0.0.1:{port}")
    );
    assert!(!written.contains_key("DO_NOT_REQUIRE_SSL"), "{written:?}");
    assert!(!all.contains("s3cret"), "{all}");
}

#[test]
fn a_server_that_cannot_host_convex_gets_nothing_created() {
    let server = MariaDb::start();
    let port = server.port;
    server.user("app", "pw", "ALL ON *.*");
    let url = format!("mysql://app:pw@127.0.0.1:{port}/convex_x");
    let p = Project::new();
    let before = server.databases();

    // MariaDB 10.x has no utf8mb4_0900_bin: exit 5, named, and nothing created.
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url)]);
    assert_eq!(
        (code, &error["code"]),
        (5, &json!("database_collation")),
        "{all}"
    );
    let message = error["message"].as_str().unwrap();
    assert!(
        message.contains("has no collation utf8mb4_0900_bin"),
        "{message}"
    );
    assert!(
        message.contains("MariaDB"),
        "the server's version is named: {message}"
    );
    assert!(
        error["hint"].as_str().unwrap().contains("MySQL 8.0"),
        "{error}"
    );
    assert_eq!(
        server.databases(),
        before,
        "nothing is created on the server"
    );
    let checks = doctor(&p, &[("MYSQL_URL", &url)], true);
    assert_eq!(
        statuses(&checks),
        pairs(&[
            ("database", "pass"),
            ("database writable", "pass"),
            ("database collation", "fail"),
            ("instance database", "skip"),
            ("database tables", "skip"),
        ])
    );
    assert_eq!(
        server.databases(),
        before,
        "doctor --fix creates nothing either"
    );

    // A read-only server is refused before anything else, whatever the collation.
    server.sql("SET GLOBAL read_only = ON");
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url), COLLATION]);
    assert_eq!(
        (code, &error["code"]),
        (5, &json!("database_read_only")),
        "{all}"
    );
    assert_eq!(server.databases(), before);
    server.sql("SET GLOBAL read_only = OFF");
}

#[test]
fn a_missing_database_is_created_and_missing_privileges_are_named() {
    let server = MariaDb::start();
    let port = server.port;
    server.user("app", "pw", "ALL ON *.*");
    let p = Project::new();
    let url = format!("mysql://app:pw@127.0.0.1:{port}/convex_x");

    let checks = doctor(&p, &[("MYSQL_URL", &url), COLLATION], false);
    assert_eq!(
        statuses(&checks),
        pairs(&[
            ("database", "pass"),
            ("database writable", "pass"),
            ("database collation", "pass"),
            ("instance database", "fail"),
            ("database tables", "skip"),
        ])
    );
    assert!(
        checks[3]["detail"]
            .as_str()
            .unwrap()
            .contains("\"convex_x\" does not exist")
    );
    let checks = doctor(&p, &[("MYSQL_URL", &url), COLLATION], true);
    assert!(checks.iter().all(|c| c["status"] == "pass"), "{checks:?}");
    assert_eq!(
        server.sql("SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'convex_x'"),
        "utf8mb4\tutf8mb4_bin"
    );
    // The probe table is gone again: the backend finds an empty database.
    assert_eq!(
        server
            .sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'convex_x'"),
        "0"
    );

    // A user that may not create databases: named, with the statement to run.
    server.user("reader", "pw", "SELECT ON *.*");
    let url = format!("mysql://reader:pw@127.0.0.1:{port}/convex_y");
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url), COLLATION]);
    assert_eq!(
        (code, &error["code"]),
        (5, &json!("database_missing")),
        "{all}"
    );
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("may not create it"),
        "{error}"
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("CREATE DATABASE `convex_y` CHARACTER SET utf8mb4"),
        "{error}"
    );
    assert!(!server.databases().contains(&"convex_y".to_owned()));

    // A user that may use the database but not create tables in it.
    server.sql("CREATE DATABASE convex_z");
    server.user(
        "writer",
        "pw",
        "SELECT, INSERT, UPDATE, DELETE ON convex_z.*",
    );
    let url = format!("mysql://writer:pw@127.0.0.1:{port}/convex_z");
    let (code, error, all) = setup_error(&p, &[("MYSQL_URL", &url), COLLATION]);
    assert_eq!(
        (code, &error["code"]),
        (5, &json!("database_cannot_create_tables")),
        "{all}"
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("GRANT ALL ON `convex_z`.*"),
        "{error}"
    );
}

/// Every URL shape the Postgres masking tests use, as MySQL: the password never shows.
#[test]
fn no_password_in_any_output_whatever_the_shape() {
    let p = Project::new();
    for raw in [
        "mysql://app:hunter2@db.example.com/convex",
        "mysql://app:hun@ter2@db.example.com:3306/convex",
        "mysql://app:hunter2@db.example.com/convex?require_ssl=false&ssl-ca=%2Fca.pem",
        "mysql://app:hunter2@[::1]:3306",
        "mysql://:hunter2@db:3306/x",
        "mysql//app:hunter2@db/x",
        "mysql:/app:hunter2@db/x",
        "mysql://app:hun?ter2@db/x",
        "mysql://app:hun/ter@2@db/x",
        "mysql://app:p#hunter2@db/x",
        "mysql://app:hunter2@db/a/b",
        "mysql://app:hunter2@db:99999/x",
        "mysql://app:hunter2@db/x?ssl-mode=sometimes",
    ] {
        for (var, args) in [
            ("MYSQL_URL", vec!["configure"]),
            ("DATABASE_URL", vec!["--json", "configure"]),
        ] {
            let out = run(&p, &args, &env(&[(var, raw), ("INSTANCE_NAME", "other")]));
            let all = out.all();
            assert!(
                !all.contains("hunter2") && !all.contains("ter2"),
                "{var}={raw}: {all}"
            );
        }
    }
    // A path the backend would ignore (it opens INSTANCE_NAME's database) is exit 2, masked.
    let out = run(
        &p,
        &["configure"],
        &env(&[
            ("MYSQL_URL", "mysql://app:hunter2@db/convex_prod"),
            ("INSTANCE_NAME", "other"),
        ]),
    );
    assert_eq!(out.code(), 2, "{}", out.all());
    assert!(
        out.all().contains("MYSQL_URL") && out.all().contains("app:****@db"),
        "{}",
        out.all()
    );
    assert!(!out.all().contains("hunter2"));
}
