//! Database URL normalisation (pure; README "Database URL").
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
    /// MySQL: a CA file named in the URL (`ssl-ca`), moved to `MYSQL_CA_FILE`.
    pub ca_file: Option<String>,
    /// What normalisation changed that the user should hear about (TLS parameters moved out
    /// of a MySQL URL).
    pub notes: Vec<String>,
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

pub use crate::redact::mask_password;

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
    // A "scheme" that is not one may hold the password (`postgres//:pw@://x`): never show it.
    let Some((scheme, rest)) = raw
        .split_once("://")
        .filter(|(s, _)| crate::redact::is_scheme(s))
    else {
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
    if before_userinfo_end(rest).contains('\\') {
        return Err(bad(format!(
            "{} holds a backslash outside the password",
            mask_password(raw)
        )));
    }
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
    if !first_host.is_empty() {
        for one in hosts.split(',') {
            check_host(one).map_err(|why| bad(format!("{why} in {}", mask_password(raw))))?;
        }
    }
    check_params(kind, &params).map_err(|why| bad(format!("{why} in {}", mask_password(raw))))?;
    let (params, mysql_tls) = match kind {
        DbKind::Mysql => {
            let (kept, tls) = mysql_tls::split(&params)
                .map_err(|why| bad(format!("{why} in {}", mask_password(raw))))?;
            (kept, Some(tls))
        }
        DbKind::Postgres => (params, None),
    };
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
        // The backend decides MySQL TLS from DO_NOT_REQUIRE_SSL alone (it appends
        // require_ssl=true&verify_ca=true unless the flag is set); a TLS parameter the URL held
        // has been moved out and decides the flag instead of the host.
        DbKind::Mysql => (
            None,
            mysql_tls
                .as_ref()
                .and_then(|t| t.require)
                .map_or(private, |require| !require),
        ),
    };
    let notes = mysql_tls
        .as_ref()
        .map(|t| t.notes(var, do_not_require_ssl))
        .unwrap_or_default();

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
        ca_file: mysql_tls.and_then(|t| t.ca_file),
        notes,
    })
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`: a valid name or address and a port in range.
fn check_host(host: &str) -> std::result::Result<(), String> {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((v6, after)) = rest.split_once(']') else {
            return Err(format!("the host {host:?} has an unclosed `[`"));
        };
        if v6.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!("{v6:?} is not an IPv6 address"));
        }
        match after {
            "" => (v6, None),
            _ => match after.strip_prefix(':') {
                Some(port) => (v6, Some(port)),
                None => return Err(format!("unexpected {after:?} after the IPv6 host")),
            },
        }
    } else {
        match host.split_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        }
    };
    if !host.starts_with('[') {
        let decoded = percent_decode(name);
        let socket = decoded.starts_with('/');
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if name.is_empty() || (!socket && !decoded.chars().all(ok_char)) {
            return Err(format!("{name:?} is not a host name"));
        }
    }
    if let Some(port) = port
        && !(port.chars().all(|c| c.is_ascii_digit()) && port.parse::<u16>().is_ok_and(|p| p > 0))
    {
        return Err(format!("{port:?} is not a port (1-65535)"));
    }
    Ok(())
}

/// TLS settings the backend's drivers accept.
fn check_params(kind: DbKind, params: &[(&str, &str)]) -> std::result::Result<(), String> {
    for (k, v) in params {
        let ok = match (kind, *k) {
            (DbKind::Postgres, "sslmode") => matches!(
                *v,
                "disable" | "allow" | "prefer" | "require" | "verify-ca" | "verify-full"
            ),
            (DbKind::Mysql, "require_ssl" | "verify_ca" | "verify_identity" | "built_in_roots") => {
                matches!(*v, "true" | "false")
            }
            _ => true,
        };
        if !ok {
            return Err(format!("{k}={v} is not a value the backend accepts"));
        }
    }
    Ok(())
}

/// What follows the user info (host, path, query): the text after the last `@`, or all.
fn before_userinfo_end(rest: &str) -> &str {
    rest.rfind('@').map_or(rest, |at| &rest[at + 1..])
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

mod mysql_tls;

impl Database {
    /// The same server as another user (a workspace's own role on a shared server): the user
    /// info replaced, everything else kept. `user` and `password` are URL-safe by construction
    /// (`[a-z0-9_]` and alphanumerics).
    pub(crate) fn as_user(&self, user: &str, password: &str) -> Result<Database> {
        let (scheme, rest) = self
            .url
            .split_once("://")
            .unwrap_or(("postgres", &self.url));
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        let host = match rest[..authority_end].rfind('@') {
            Some(at) => &rest[at + 1..],
            None => rest,
        };
        let mut db = normalise(
            &self.source,
            &format!("{scheme}://{user}:{password}@{host}"),
        )?;
        // What normalising moved out of the URL (MySQL's TLS parameters) stays as it was.
        db.database = self.database.clone();
        db.do_not_require_ssl = self.do_not_require_ssl;
        db.ca_file = self.ca_file.clone();
        Ok(db)
    }
}

/// `url` without the query parameter `name`.
pub(crate) fn strip_param(url: &str, name: &str) -> String {
    let Some((base, query)) = url.split_once('?') else {
        return url.to_owned();
    };
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| p.split('=').next() != Some(name))
        .collect();
    if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    }
}

#[cfg(test)]
mod tests;
