//! Unit vectors for `database::url`.
use super::*;

fn pg(raw: &str) -> Database {
    normalise("DATABASE_URL", raw).unwrap()
}

#[test]
fn private_hosts_disable_tls() {
    for host in [
        "127.0.0.1",
        "localhost",
        "10.1.2.3",
        "172.20.0.5",
        "192.168.1.10",
        "postgres",
        "db.default.svc",
        "db.default.svc.cluster.local",
        "db.internal",
        "host.docker.internal",
        "[::1]",
        "[fd12::5]",
    ] {
        let db = pg(&format!("postgres://app:pw@{host}:5432/convex_prod"));
        assert_eq!(
            db.expose_url(),
            format!("postgres://app:pw@{host}:5432?sslmode=disable"),
            "{host}"
        );
        assert!(db.do_not_require_ssl, "{host}");
        assert_eq!(db.database.as_deref(), Some("convex_prod"));
    }
}

#[test]
fn public_hosts_require_tls() {
    for host in ["db.example.com", "8.8.8.8", "172.32.0.1", "[2001:db8::1]"] {
        let db = pg(&format!("postgresql://app:pw@{host}/x"));
        assert_eq!(
            db.expose_url(),
            format!("postgresql://app:pw@{host}?sslmode=require")
        );
        assert!(!db.do_not_require_ssl);
        assert_eq!(db.sslmode.as_deref(), Some("require"));
    }
}

#[test]
fn explicit_sslmode_and_params_kept_in_order() {
    let db = pg(
        "postgres://app:pw@db.example.com:5432/app?application_name=x&sslmode=disable&connect_timeout=5",
    );
    assert_eq!(
        db.expose_url(),
        "postgres://app:pw@db.example.com:5432?application_name=x&sslmode=disable&connect_timeout=5"
    );
    assert!(db.do_not_require_ssl);
    let db =
        pg("postgres://app:pw@10.0.0.1/app?sslmode=verify-full&target_session_attrs=read-write");
    assert_eq!(
        db.expose_url(),
        "postgres://app:pw@10.0.0.1?sslmode=verify-full&target_session_attrs=read-write"
    );
    assert!(!db.do_not_require_ssl);
    for (mode, lax) in [
        ("allow", true),
        ("prefer", true),
        ("require", false),
        ("verify-ca", false),
    ] {
        assert_eq!(
            pg(&format!("postgres://u@h/d?sslmode={mode}")).do_not_require_ssl,
            lax,
            "{mode}"
        );
    }
}

#[test]
fn passwords() {
    // Raw `@` (split at the last one) and `'` are encoded; existing escapes are kept.
    let db = pg("postgres://app:p@ss'w%2Fd@db:5432/convex");
    assert_eq!(
        db.expose_url(),
        "postgres://app:p%40ss%27w%2Fd@db:5432?sslmode=disable"
    );
    assert_eq!(db.masked(), "postgres://app:****@db:5432?sslmode=disable");
    assert_eq!(db.user, "app");
    assert!(!format!("{db:?}").contains("p%40ss"));
    let db = pg("postgres://app:100%pure@db/x");
    assert_eq!(
        db.expose_url(),
        "postgres://app:100%25pure@db?sslmode=disable"
    );
}

#[test]
fn unix_socket_and_ipv6() {
    let db = pg("postgres://app@/convex_dev?host=/run/postgresql");
    assert_eq!(
        db.expose_url(),
        "postgres://app@?host=/run/postgresql&sslmode=disable"
    );
    assert_eq!(db.database.as_deref(), Some("convex_dev"));
    assert!(db.host.is_none());
    let db = pg("postgres://app:pw@[2001:db8::1]:6543/d");
    assert_eq!(db.host.as_deref(), Some("2001:db8::1"));
}

#[test]
fn errors_name_the_variable_and_mask_the_password() {
    for (raw, what) in [
        ("mongodb://u:secretpw@h/d", "unsupported scheme"),
        ("postgres://:secretpw@h/d", "no user name"),
        ("postgres://h/d", "no user name"),
        ("not a url secretpw", "is not a URL"),
        ("postgres://u:secretpw@h/a/b", "nested path"),
    ] {
        let err = normalise("POSTGRES_URL", raw).unwrap_err();
        let text = err.to_string();
        assert_eq!(err.exit_code(), 2);
        assert!(text.starts_with("invalid POSTGRES_URL"), "{text}");
        assert!(text.contains(what), "{text}");
        assert!(
            !text.contains("secretpw") || raw.starts_with("not a url"),
            "{text}"
        );
        assert!(err.hint().is_some());
    }
    let err = normalise("DATABASE_URL", "postgres://app:hunter2@/d").unwrap_err();
    assert!(err.to_string().contains("postgres://app:****@/d"), "{err}");
}

#[test]
fn precedence() {
    let pick = |d, u, l, m| {
        from_inputs(&DbInputs {
            database_url: d,
            postgres_uri: u,
            postgres_url: l,
            mysql_url: m,
        })
        .unwrap()
        .map(|db| (db.source.clone(), db.kind))
    };
    let (a, b, c, m) = (
        Some("postgres://a@h/x"),
        Some("postgres://b@h/x"),
        Some("postgres://c@h/x"),
        Some("mysql://m@h/x"),
    );
    assert_eq!(
        pick(a, b, c, m),
        Some(("DATABASE_URL".into(), DbKind::Postgres))
    );
    assert_eq!(
        pick(None, b, c, m),
        Some(("POSTGRES_URI".into(), DbKind::Postgres))
    );
    assert_eq!(
        pick(None, None, c, m),
        Some(("POSTGRES_URL".into(), DbKind::Postgres))
    );
    assert_eq!(
        pick(None, None, None, m),
        Some(("MYSQL_URL".into(), DbKind::Mysql))
    );
    assert_eq!(pick(None, None, None, None), None);
}

#[test]
fn mysql() {
    let db = normalise("MYSQL_URL", "mysql://root:pw@127.0.0.1:3306/convex_prod").unwrap();
    assert_eq!(db.expose_url(), "mysql://root:pw@127.0.0.1:3306");
    assert!(db.do_not_require_ssl);
    assert_eq!(db.kind.backend_var(), "MYSQL_URL");
    let db = normalise("MYSQL_URL", "mysql://root:pw@mysql.example.com/convex").unwrap();
    assert_eq!(db.expose_url(), "mysql://root:pw@mysql.example.com");
    assert!(!db.do_not_require_ssl);
}

#[test]
fn mysql_tls_follows_the_host_and_url_parameters_move_out() {
    let public = normalise("MYSQL_URL", "mysql://u:p@db.example.com:3306").unwrap();
    assert!(!public.do_not_require_ssl);
    assert!(public.notes.is_empty());
    let private = normalise("MYSQL_URL", "mysql://u:p@10.0.0.5").unwrap();
    assert!(private.do_not_require_ssl);

    // require_ssl=true keeps TLS on a private host; the URL loses the parameter.
    let db = normalise("MYSQL_URL", "mysql://u:p@10.0.0.5?require_ssl=true&x=1").unwrap();
    assert!(!db.do_not_require_ssl);
    assert_eq!(db.expose_url(), "mysql://u:p@10.0.0.5?x=1");
    assert_eq!(db.notes.len(), 1, "{:?}", db.notes);
    // require_ssl=false on a public host really turns TLS off (through the flag).
    let db = normalise(
        "DATABASE_URL",
        "mysql://u:p@db.example.com?ssl-mode=DISABLED&ssl-ca=/etc/ca.pem",
    )
    .unwrap();
    assert!(db.do_not_require_ssl);
    assert_eq!(db.expose_url(), "mysql://u:p@db.example.com");
    assert_eq!(db.ca_file.as_deref(), Some("/etc/ca.pem"));
    assert!(
        db.notes[0].starts_with("DATABASE_URL: moved ssl-mode=DISABLED"),
        "{:?}",
        db.notes
    );
    // A password with `@` is percent-encoded; an unknown SSL mode is refused, masked.
    let db = normalise("MYSQL_URL", "mysql://u:p@ss@db").unwrap();
    assert_eq!(db.expose_url(), "mysql://u:p%40ss@db");
    let e = normalise("MYSQL_URL", "mysql://u:hunter2@db?ssl-mode=maybe").unwrap_err();
    assert_eq!(e.exit_code(), 2);
    assert!(
        !e.to_string().contains("hunter2") && e.to_string().contains("MYSQL_URL"),
        "{e}"
    );
}

#[test]
fn params() {
    assert_eq!(
        strip_param("postgres://u@h?sslmode=disable", "sslmode"),
        "postgres://u@h"
    );
    assert_eq!(
        strip_param("postgres://u@h?a=1&sslmode=x&b=2", "sslmode"),
        "postgres://u@h?a=1&b=2"
    );
}

#[test]
fn another_user_on_the_same_server() {
    let admin =
        pg("postgres://admin:s3cr%40t@db.example.com:6543/postgres?sslmode=verify-full&a=1");
    let role = admin.as_user("convex_a_1", "pw123").unwrap();
    assert_eq!(
        role.expose_url(),
        "postgres://convex_a_1:pw123@db.example.com:6543?sslmode=verify-full&a=1"
    );
    assert_eq!(role.user, "convex_a_1");
    assert_eq!(
        role.masked(),
        "postgres://convex_a_1:****@db.example.com:6543?sslmode=verify-full&a=1"
    );
    let local = pg("postgres://postgres@127.0.0.1:5432/postgres");
    let role = local.as_user("r", "p").unwrap();
    assert_eq!(
        role.expose_url(),
        "postgres://r:p@127.0.0.1:5432?sslmode=disable"
    );
    assert!(role.do_not_require_ssl);
}
