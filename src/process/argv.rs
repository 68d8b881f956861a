//! The upstream backend's command line from the project's `.env.convex.local` (the same
//! values the container's entrypoint reads): instance name and secret, public URLs, the
//! database, loopback ports and the data directory. The secret is an argument because the
//! binary has no other way to take it; nothing else secret is added here, except that a
//! database URL's password travels inside the URL (the binary has no other form for it).
//!
//! Pure.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

/// What the backend is told besides the env file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ports {
    pub api: u16,
    pub site: u16,
}

/// The SQLite file inside the data directory (the binary's own default name).
pub(crate) const SQLITE_FILE: &str = "convex_local_backend.sqlite3";

/// The arguments, or the name of the env-file variable that is missing.
pub(crate) fn backend_args(
    env: &BTreeMap<String, String>,
    ports: Ports,
    data_dir: &Path,
) -> Result<Vec<OsString>, &'static str> {
    let get = |name: &'static str| env.get(name).filter(|v| !v.is_empty()).ok_or(name);
    let mut args: Vec<OsString> = Vec::new();
    let mut push = |a: &str, b: &str| {
        args.push(a.into());
        args.push(b.into());
    };
    push("--instance-name", get("INSTANCE_NAME")?);
    push("--instance-secret", get("INSTANCE_SECRET")?);
    push("--interface", "127.0.0.1");
    push("--port", &ports.api.to_string());
    push("--site-proxy-port", &ports.site.to_string());
    push("--convex-origin", get("CONVEX_CLOUD_ORIGIN")?);
    push("--convex-site", get("CONVEX_SITE_ORIGIN")?);
    args.push("--local-storage".into());
    args.push(data_dir.join("storage").into());
    args.push("--disable-beacon".into());
    let db = get("POSTGRES_URL")
        .map(|u| ("postgres-v5", u))
        .or_else(|_| get("MYSQL_URL").map(|u| ("mysql-v5", u)));
    match db {
        Ok((kind, url)) => {
            args.push("--db".into());
            args.push(kind.into());
            if env
                .get("DO_NOT_REQUIRE_SSL")
                .is_some_and(|v| !v.is_empty() && v != "0" && v != "false")
            {
                args.push("--do-not-require-ssl".into());
            }
            args.push(url.into());
        }
        Err(_) => args.push(data_dir.join(SQLITE_FILE).into()),
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(extra: &[(&str, &str)]) -> BTreeMap<String, String> {
        let mut env: BTreeMap<String, String> = [
            ("INSTANCE_NAME", "ws-owner"),
            ("INSTANCE_SECRET", "00ff"),
            ("CONVEX_CLOUD_ORIGIN", "https://api.example"),
            ("CONVEX_SITE_ORIGIN", "https://site.example"),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        env
    }

    fn strings(args: Vec<OsString>) -> Vec<String> {
        args.into_iter().map(|a| a.into_string().unwrap()).collect()
    }

    const PORTS: Ports = Ports {
        api: 3210,
        site: 3211,
    };

    #[test]
    fn sqlite_by_default() {
        let args = strings(backend_args(&env(&[]), PORTS, Path::new("/d")).unwrap());
        assert_eq!(
            args,
            [
                "--instance-name",
                "ws-owner",
                "--instance-secret",
                "00ff",
                "--interface",
                "127.0.0.1",
                "--port",
                "3210",
                "--site-proxy-port",
                "3211",
                "--convex-origin",
                "https://api.example",
                "--convex-site",
                "https://site.example",
                "--local-storage",
                "/d/storage",
                "--disable-beacon",
                "/d/convex_local_backend.sqlite3"
            ]
        );
    }

    #[test]
    fn the_configured_database() {
        let pg = strings(
            backend_args(
                &env(&[
                    ("POSTGRES_URL", "postgres://u:p@h:5432"),
                    ("DO_NOT_REQUIRE_SSL", "1"),
                ]),
                PORTS,
                Path::new("/d"),
            )
            .unwrap(),
        );
        assert_eq!(
            pg[pg.len() - 4..],
            [
                "--db",
                "postgres-v5",
                "--do-not-require-ssl",
                "postgres://u:p@h:5432"
            ]
        );
        let my = strings(
            backend_args(
                &env(&[("MYSQL_URL", "mysql://u:p@h:3306")]),
                PORTS,
                Path::new("/d"),
            )
            .unwrap(),
        );
        assert_eq!(
            my[my.len() - 3..],
            ["--db", "mysql-v5", "mysql://u:p@h:3306"]
        );
    }

    #[test]
    fn a_missing_value_is_named() {
        let mut e = env(&[]);
        e.remove("INSTANCE_SECRET");
        assert_eq!(
            backend_args(&e, PORTS, Path::new("/d")).unwrap_err(),
            "INSTANCE_SECRET"
        );
    }
}
