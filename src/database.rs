//! Database URL normalisation and the instance name (pure): DESIGN §3.
//!
//! The backend wants a URL with a user and no database path (it appends the instance name)
//! and decides TLS from `sslmode` plus `DO_NOT_REQUIRE_SSL`. URLs are split by hand rather
//! than with `url::Url`: that parser rejects the unix-socket form `postgres://user@/db?host=…`
//! and re-encodes user info, and we must keep the user's percent-encoding byte for byte.

use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

use crate::env_vars as ev;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DbKind {
    Postgres,
    Mysql,
}

impl DbKind {
    /// The variable the backend reads the URL from.
    pub fn backend_var(self) -> &'static str {
        match self {
            Self::Postgres => ev::POSTGRES_URL,
            Self::Mysql => ev::MYSQL_URL,
        }
    }
}

/// A database URL ready for the backend.
#[derive(Clone, PartialEq, Eq)]
pub struct Database {
    pub kind: DbKind,
    /// The variable it came from (for messages).
    pub source: String,
    /// Normalised URL, password included: only ever written to `.env.convex.local`.
    url: String,
    /// The database name that was in the path, if any.
    pub database: Option<String>,
    /// Effective `sslmode` (Postgres only).
    pub sslmode: Option<String>,
    /// Whether the backend must be started with `DO_NOT_REQUIRE_SSL`.
    pub do_not_require_ssl: bool,
    /// First host, for messages (`None` for a unix socket).
    pub host: Option<String>,
    pub user: String,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("kind", &self.kind)
            .field("url", &self.masked())
            .finish_non_exhaustive()
    }
}

impl Database {
    /// The full URL, password included. Callers write it to a 0600 file, never to output.
    pub fn expose_url(&self) -> &str {
        &self.url
    }

    /// The URL with the password replaced by `****`.
    pub fn masked(&self) -> String {
        mask_password(&self.url)
    }
}

/// Replace the password of any `scheme://user:pass@host…` string with `****`.
pub fn mask_password(raw: &str) -> String {
    let Some((scheme, rest)) = raw.split_once("://") else {
        return raw.to_owned();
    };
    let authority_end = rest.find('?').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return raw.to_owned();
    };
    let userinfo = &rest[..at];
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:****{}", &rest[at..]),
        None => raw.to_owned(),
    }
}

/// The database inputs, in precedence order, from the environment.
pub struct DbInputs<'a> {
    pub database_url: Option<&'a str>,
    pub postgres_uri: Option<&'a str>,
    pub postgres_url: Option<&'a str>,
    pub mysql_url: Option<&'a str>,
}

/// Pick the first database URL that is set and normalise it.
pub fn from_inputs(inputs: &DbInputs<'_>) -> Result<Option<Database>> {
    let candidates = [
        (ev::DATABASE_URL, inputs.database_url),
        (ev::POSTGRES_URI, inputs.postgres_uri),
        (ev::POSTGRES_URL, inputs.postgres_url),
        (ev::MYSQL_URL, inputs.mysql_url),
    ];
    match candidates
        .into_iter()
        .find_map(|(var, v)| v.map(|v| (var, v)))
    {
        Some((var, raw)) => normalise(var, raw).map(Some),
        None => Ok(None),
    }
}

const HINT_FORM: &str = "expected postgres://USER:PASSWORD@HOST:5432/DATABASE (or mysql://USER:PASSWORD@HOST:3306/DATABASE)";

/// Normalise one database URL read from `var`.
pub fn normalise(var: &str, raw: &str) -> Result<Database> {
    let raw = raw.trim();
    let bad = |message: String| Error::invalid(var, message).with_hint(HINT_FORM);
    let Some((scheme, rest)) = raw.split_once("://") else {
        return Err(bad(format!("{} is not a URL", mask_password(raw))));
    };
    let kind = match scheme.to_ascii_lowercase().as_str() {
        "postgres" | "postgresql" => DbKind::Postgres,
        "mysql" => DbKind::Mysql,
        other => {
            return Err(bad(format!(
                "unsupported scheme {other:?} in {}",
                mask_password(raw)
            )));
        }
    };
    if rest.contains('#') {
        return Err(bad(format!(
            "{} has a fragment (`#`); percent-encode it as %23",
            mask_password(raw)
        )));
    }
    let (before_query, query) = match rest.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (rest, None),
    };
    // The last `@` ends the user info, so a raw `@` in a password still parses.
    let Some(at) = before_query.rfind('@') else {
        return Err(bad(format!("{} has no user name", mask_password(raw))));
    };
    let (userinfo, host_and_path) = (&before_query[..at], &before_query[at + 1..]);
    let (user, password) = match userinfo.split_once(':') {
        Some((u, p)) => (u, Some(p)),
        None => (userinfo, None),
    };
    if user.is_empty() {
        return Err(bad(format!("{} has no user name", mask_password(raw))));
    }
    let (hosts, path) = match host_and_path.split_once('/') {
        Some((h, p)) => (h, p),
        None => (host_and_path, ""),
    };
    let database = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| {
            bad(format!(
                "the database name in {} is not UTF-8",
                mask_password(raw)
            ))
        })?
        .into_owned();
    if database.contains('/') {
        return Err(bad(format!("{} has a nested path", mask_password(raw))));
    }
    let database = (!database.is_empty()).then_some(database);

    let params: Vec<(&str, &str)> = query
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect();
    let first_host = hosts.split(',').next().unwrap_or_default();
    let socket_host = params
        .iter()
        .find(|(k, _)| *k == "host")
        .map(|(_, v)| percent_decode(v));
    let host = if first_host.is_empty() {
        socket_host.clone()
    } else {
        Some(first_host.to_owned())
    };
    if host.is_none() {
        return Err(bad(format!("{} has no host", mask_password(raw))));
    }
    let host_name = host.as_deref().map(strip_port).unwrap_or_default();
    let private = host_name.starts_with('/') || is_private_host(&host_name);

    let mut query_out: Vec<String> = params.iter().map(|(k, v)| join_param(k, v)).collect();
    let (sslmode, do_not_require_ssl) = match kind {
        DbKind::Postgres => {
            let explicit = params
                .iter()
                .find(|(k, _)| *k == "sslmode")
                .map(|(_, v)| v.to_string());
            let mode = match explicit {
                Some(mode) => mode,
                None => {
                    let mode = if private { "disable" } else { "require" };
                    query_out.push(format!("sslmode={mode}"));
                    mode.to_owned()
                }
            };
            let lax = matches!(mode.as_str(), "disable" | "allow" | "prefer");
            (Some(mode), lax)
        }
        // The backend's MySQL driver has no `sslmode`; TLS is off only with the flag.
        DbKind::Mysql => (None, private),
    };

    let mut url = format!("{scheme}://{user}");
    if let Some(password) = password {
        url.push(':');
        url.push_str(&encode_password(password));
    }
    url.push('@');
    url.push_str(hosts);
    if !query_out.is_empty() {
        url.push('?');
        url.push_str(&query_out.join("&"));
    }
    Ok(Database {
        kind,
        source: var.to_owned(),
        url,
        database,
        sslmode,
        do_not_require_ssl,
        host: (!host_name.starts_with('/')).then_some(host_name),
        user: percent_decode(user),
    })
}

fn join_param(k: &str, v: &str) -> String {
    format!("{k}={v}")
}

fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// Keep existing `%XX` escapes; encode what would break the URL or our quoting.
fn encode_password(password: &str) -> String {
    let bytes = password.as_bytes();
    let mut out = String::with_capacity(password.len());
    for (i, ch) in password.char_indices() {
        match ch {
            '%' if bytes.len() >= i + 3
                && bytes[i + 1].is_ascii_hexdigit()
                && bytes[i + 2].is_ascii_hexdigit() =>
            {
                out.push('%');
            }
            '%' | '@' | '\'' | ' ' | '/' | '?' | '#' | '"' | '\\' => {
                for b in ch.to_string().bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
            _ => out.push(ch),
        }
    }
    out
}

/// `host:port` or `[v6]:port` → host (brackets removed).
fn strip_port(host: &str) -> String {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or_default().to_owned();
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) => h.to_owned(),
        _ => host.to_owned(),
    }
    .to_ascii_lowercase()
}

/// Hosts where a database typically runs without TLS: loopback, private ranges, single
/// labels and in-cluster names.
pub fn is_private_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => is_private_v4(v4),
            IpAddr::V6(v6) => {
                v6.is_loopback()
                    || v6.segments()[0] & 0xff00 == 0xfd00
                    || v6.to_ipv4_mapped().is_some_and(is_private_v4)
            }
        };
    }
    host == "localhost"
        || !host.contains('.')
        || host.ends_with(".localhost")
        || host.ends_with(".svc")
        || host.ends_with(".svc.cluster.local")
        || host.ends_with(".internal")
}

fn is_private_v4(ip: Ipv4Addr) -> bool {
    ip.is_loopback() || ip.is_private()
}

/// The fallback name when nothing else names the instance.
pub const DEFAULT_INSTANCE_NAME: &str = "convex-self-hosted";

/// Where the instance name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceNameSource {
    Environment,
    DatabaseUrl,
    ProjectFile,
    Default,
}

/// Decide the instance name (DESIGN §3) and say why; `warnings` gets a line when an explicit
/// name disagrees with the URL's database.
pub fn instance_name(
    explicit: Option<&str>,
    database: Option<&Database>,
    from_file: Option<&str>,
    warnings: &mut Vec<String>,
) -> Result<(String, InstanceNameSource)> {
    let from_url = database.and_then(|d| d.database.as_deref());
    let (name, source, input) = if let Some(name) = explicit {
        if let (Some(db), Some(url_db)) = (database, from_url)
            && url_db.replace('_', "-") != name
        {
            warnings.push(format!(
                "INSTANCE_NAME={name} but {} names database {url_db:?}: the backend will use database {:?}",
                db.source,
                name.replace('-', "_")
            ));
        }
        (
            name.to_owned(),
            InstanceNameSource::Environment,
            ev::INSTANCE_NAME.to_owned(),
        )
    } else if let (Some(db), Some(url_db)) = (database, from_url) {
        (
            url_db.replace('_', "-"),
            InstanceNameSource::DatabaseUrl,
            db.source.clone(),
        )
    } else if let Some(name) = from_file {
        (
            name.to_owned(),
            InstanceNameSource::ProjectFile,
            format!("{} in .env.convex.local", ev::INSTANCE_NAME),
        )
    } else {
        (
            DEFAULT_INSTANCE_NAME.to_owned(),
            InstanceNameSource::Default,
            String::new(),
        )
    };
    validate_instance_name(&name).map_err(|message| {
        Error::invalid(input, message).with_hint(
            "instance names are lower-case letters and digits separated by single `-` or `_`, e.g. convex-self-hosted",
        )
    })?;
    Ok((name, source))
}

/// `^[a-z0-9]+([-_][a-z0-9]+)*$`.
pub fn validate_instance_name(name: &str) -> std::result::Result<(), String> {
    let ok = !name.is_empty()
        && name.split(['-', '_']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        });
    if ok {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid instance name"))
    }
}

/// The database the backend will open for an instance.
pub fn database_for_instance(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
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
        let db = pg(
            "postgres://app:pw@10.0.0.1/app?sslmode=verify-full&target_session_attrs=read-write",
        );
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
    fn instance_names() {
        let db = pg("postgres://u@h/convex_prod");
        let mut w = vec![];
        assert_eq!(
            instance_name(None, Some(&db), Some("old"), &mut w).unwrap(),
            ("convex-prod".into(), InstanceNameSource::DatabaseUrl)
        );
        assert_eq!(
            instance_name(Some("other"), Some(&db), None, &mut w)
                .unwrap()
                .0,
            "other"
        );
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("\"other\""), "{}", w[0]);
        let nodb = pg("postgres://u@h");
        assert_eq!(
            instance_name(None, Some(&nodb), Some("from-file"), &mut w)
                .unwrap()
                .0,
            "from-file"
        );
        assert_eq!(
            instance_name(None, None, None, &mut w).unwrap(),
            ("convex-self-hosted".into(), InstanceNameSource::Default)
        );
        for bad in ["Has-Upper", "a|b", "a:b", "a b", "-a", "a--b", ""] {
            let err = instance_name(Some(bad), None, None, &mut w).unwrap_err();
            assert!(
                err.to_string().starts_with("invalid INSTANCE_NAME"),
                "{err}"
            );
        }
        let upper = pg("postgres://u@h/ConvexDb");
        let err = instance_name(None, Some(&upper), None, &mut w).unwrap_err();
        assert!(err.to_string().starts_with("invalid DATABASE_URL"), "{err}");
        assert_eq!(database_for_instance("convex-prod"), "convex_prod");
    }
}
