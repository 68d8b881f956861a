//! Real PostgreSQL: the machine's server on 127.0.0.1:5432 (trust auth, TLS with a
//! certificate for `localhost` only), and a throw-away cluster with password auth and a
//! certificate for 127.0.0.1 for what the shared server cannot show.

use std::sync::atomic::{AtomicUsize, Ordering};

use coder_convex::config::secrets::InstanceSecret;
use serde_json::Value;

use crate::common::Project;
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::postgres::{Cluster, psql};

const SERVER: &str = "postgres://postgres@127.0.0.1:5432";

/// A database name no other test uses.
fn unique_db(stem: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "cc_{stem}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

fn exists(port: u16, db: &str) -> bool {
    psql(
        port,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
    ) == "1"
}

fn doctor_database(p: &Project, url: &str, extra: &[(&str, &str)]) -> Value {
    let mut env = vec![
        ("DATABASE_URL", url),
        ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"),
    ];
    env.extend_from_slice(extra);
    let run = p.run(&["doctor", "--json"], &env);
    let v: Value =
        serde_json::from_str(&run.stdout()).unwrap_or_else(|_| panic!("{}", run.stderr()));
    v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "database")
        .cloned()
        .expect("a database check")
}

#[test]
fn a_missing_database_is_found_and_fix_creates_it() {
    let db = unique_db("doctor");
    let url = format!("{SERVER}/{db}");
    let p = Project::new();
    let check = doctor_database(&p, &url, &[]);
    assert_eq!(check["status"], "fail");
    assert_eq!(
        check["detail"],
        format!(
            "database \"{db}\" does not exist on postgres@127.0.0.1; the backend needs it before it starts"
        )
    );
    assert!(!exists(5432, &db));

    let fix = p.run(
        &["doctor", "--fix"],
        &[
            ("DATABASE_URL", &url),
            ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"),
        ],
    );
    assert!(
        fix.stderr()
            .contains(&format!("fixed: created database {db}")),
        "{}",
        fix.stderr()
    );
    assert!(exists(5432, &db));
    assert_eq!(doctor_database(&p, &url, &[])["status"], "pass");
    psql(5432, &format!("DROP DATABASE {db}"));
}

#[test]
fn setup_creates_the_database_before_waiting_for_the_backend() {
    let db = unique_db("setup");
    let instance = db.replace('_', "-");
    let url = format!("{SERVER}/{db}");
    let p = Project::new();
    p.run(&["configure"], &[("DATABASE_URL", &url)]).ok();
    let secret =
        InstanceSecret::from_hex(&p.env_values(".env.convex.local")["INSTANCE_SECRET"]).unwrap();
    assert_eq!(
        p.env_values(".env.convex.local")["POSTGRES_URL"],
        "postgres://postgres@127.0.0.1:5432?sslmode=disable"
    );
    let fake = FakeBackend::start(FakeConfig::new(&instance, secret));
    let run = p.run(
        &["setup", "--json"],
        &[
            ("DATABASE_URL", &url),
            ("CODER_CONVEX_BACKEND_URL", &fake.api_url),
            ("CODER_CONVEX_SITE_PROXY_URL", &fake.site_url),
        ],
    );
    let v: Value = serde_json::from_str(&run.ok()).unwrap();
    assert_eq!(v["database"]["database"], db.as_str());
    assert_eq!(v["database"]["created"], true);
    assert!(exists(5432, &db));
    assert!(
        run.stderr().contains(&format!("created database {db}")),
        "{}",
        run.stderr()
    );
    psql(5432, &format!("DROP DATABASE {db}"));
}

#[test]
fn a_role_that_may_not_create_is_told_whom_to_ask() {
    let role = unique_db("role");
    psql(5432, &format!("CREATE ROLE {role} LOGIN NOCREATEDB"));
    let db = unique_db("nocreate");
    let p = Project::new();
    let run = p.run(
        &["setup", "--wait", "1"],
        &[
            (
                "DATABASE_URL",
                &format!("postgres://{role}@127.0.0.1:5432/{db}"),
            ),
            ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"),
        ],
    );
    psql(5432, &format!("DROP ROLE {role}"));
    assert_eq!(run.code(), 5, "{}", run.stderr());
    assert!(
        run.stderr().contains(&format!(
            "database \"{db}\" does not exist and {role}@127.0.0.1 may not create it"
        )),
        "{}",
        run.stderr()
    );
    assert!(run.stderr().contains("CREATE DATABASE"), "{}", run.stderr());
}

#[test]
fn tls_against_a_self_signed_server_explains_both_ways_out() {
    let p = Project::new();
    let check = doctor_database(&p, &format!("{SERVER}/postgres?sslmode=require"), &[]);
    assert_eq!(check["status"], "fail");
    let detail = check["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("TLS to postgres@127.0.0.1 failed (sslmode=require)"),
        "{detail}"
    );
    let hint = check["hint"].as_str().unwrap();
    assert!(
        hint.contains("DO_NOT_REQUIRE_SSL=1")
            && hint.contains("sslmode=disable")
            && hint.contains("PG_CA_FILE"),
        "{hint}"
    );
}

#[test]
fn an_unreachable_host_is_named() {
    let p = Project::new();
    let check = doctor_database(&p, "postgres://app:hunter2@127.0.0.1:9/convex", &[]);
    assert_eq!(check["status"], "fail");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("cannot reach app@127.0.0.1"),
        "{check}"
    );
    assert!(!check.to_string().contains("hunter2"));
}

#[test]
fn password_and_certificate_checks_against_a_cluster_of_our_own() {
    let cluster = Cluster::start();
    let port = cluster.port;
    let p = Project::new();

    // Wrong password: an authentication failure, and the password is never shown.
    let check = doctor_database(
        &p,
        &format!("postgres://postgres:wrongpw@127.0.0.1:{port}/convex_x?sslmode=disable"),
        &[],
    );
    assert_eq!(check["status"], "fail");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .starts_with("authentication failed for postgres@127.0.0.1"),
        "{check}"
    );
    assert!(!check.to_string().contains("wrongpw"));

    // The right password over TLS: the certificate is not in the system roots...
    let url = format!("postgres://postgres:superpw@127.0.0.1:{port}/convex_tls?sslmode=require");
    let check = doctor_database(&p, &url, &[]);
    assert_eq!(check["status"], "fail");
    assert!(
        check["detail"]
            .as_str()
            .unwrap()
            .contains("TLS to postgres@127.0.0.1 failed"),
        "{check}"
    );
    // ...and with PG_CA_FILE it verifies, and --fix creates the database.
    let ca = cluster.ca_file();
    let check = doctor_database(&p, &url, &[("PG_CA_FILE", &ca)]);
    assert_eq!(
        check["detail"],
        format!(
            "database \"convex_tls\" does not exist on postgres@127.0.0.1; the backend needs it before it starts"
        )
    );
    let fix = p.run(
        &["doctor", "--fix"],
        &[
            ("DATABASE_URL", &url),
            ("PG_CA_FILE", &ca),
            ("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9"),
        ],
    );
    assert!(
        fix.stderr().contains("fixed: created database convex_tls"),
        "{}",
        fix.stderr()
    );
    assert!(exists(port, "convex_tls"));
}
