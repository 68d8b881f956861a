//! The instance name (pure; README "Database URL"): from `INSTANCE_NAME`, the database URL's
//! path, the project file or the default, validated; and the database the backend opens for it.

use serde::Serialize;

use crate::database::url::Database;
use crate::env_vars as ev;
use crate::error::{Error, Result};

/// The fallback name when nothing else names the instance.
pub const DEFAULT_INSTANCE_NAME: &str = "convex-self-hosted";

/// Where the instance name came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum InstanceNameSource {
    Environment,
    DatabaseUrl,
    ProjectFile,
    /// Derived from the Coder workspace (shared Postgres, one database per workspace).
    Workspace,
    Default,
}

/// Decide the instance name (README "Database URL") and say why; `warnings` gets a line when an explicit
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
            // MySQL's driver is never told the path: the backend opens INSTANCE_NAME's
            // database, so a path naming another one is a mistake, not a preference.
            if db.kind == crate::database::url::DbKind::Mysql {
                return Err(Error::invalid(
                    db.source.clone(),
                    format!(
                        "{} names database {url_db:?}, but the backend ignores a MySQL URL's path and opens database {:?} (INSTANCE_NAME={name})",
                        db.masked(),
                        database_for_instance(name)
                    ),
                )
                .with_hint("remove the path from the URL, or set INSTANCE_NAME to match it (`_` becomes `-`)"));
            }
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

/// Postgres's and MySQL's limit on a database name, in bytes (longer names are refused or
/// silently cut, which would open another database).
pub const MAX_DATABASE_NAME_BYTES: usize = 63;

/// With a database server, the database the backend opens for `name` must fit the server's
/// limit: refused up front (before any file is written), naming the input it came from.
pub fn check_database_name(name: &str, source: InstanceNameSource, url_var: &str) -> Result<()> {
    let database = database_for_instance(name);
    if database.len() <= MAX_DATABASE_NAME_BYTES {
        return Ok(());
    }
    let (input, hint) = match source {
        InstanceNameSource::DatabaseUrl => (
            url_var.to_owned(),
            format!(
                "name a database of at most {MAX_DATABASE_NAME_BYTES} bytes in {url_var} (or set a shorter INSTANCE_NAME)"
            ),
        ),
        InstanceNameSource::ProjectFile => (
            format!("{} in .env.convex.local", ev::INSTANCE_NAME),
            format!(
                "set a shorter INSTANCE_NAME (at most {MAX_DATABASE_NAME_BYTES} bytes), or remove the line from .env.convex.local"
            ),
        ),
        _ => (
            ev::INSTANCE_NAME.to_owned(),
            format!("set a shorter INSTANCE_NAME (at most {MAX_DATABASE_NAME_BYTES} bytes)"),
        ),
    };
    Err(Error::invalid(
        input,
        format!(
            "the backend would open database {database:?}, {} bytes; Postgres and MySQL database names are at most {MAX_DATABASE_NAME_BYTES}",
            database.len()
        ),
    )
    .with_hint(hint))
}

/// The database the backend will open for an instance.
pub fn database_for_instance(name: &str) -> String {
    name.replace('-', "_")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::database::url::normalise;

    fn pg(raw: &str) -> Database {
        normalise("DATABASE_URL", raw).unwrap()
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

    #[test]
    fn database_names_over_63_bytes_are_refused_naming_their_input() {
        let ok = "a".repeat(63);
        assert!(check_database_name(&ok, InstanceNameSource::Environment, "DATABASE_URL").is_ok());
        let long = format!("{}-b", "a".repeat(62));
        for (source, input) in [
            (InstanceNameSource::Environment, "invalid INSTANCE_NAME: "),
            (InstanceNameSource::DatabaseUrl, "invalid DATABASE_URL: "),
            (
                InstanceNameSource::ProjectFile,
                "invalid INSTANCE_NAME in .env.convex.local: ",
            ),
        ] {
            let err = check_database_name(&long, source, "DATABASE_URL").unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "{input}the backend would open database \"{}_b\", 64 bytes; Postgres and MySQL database names are at most 63",
                    "a".repeat(62)
                )
            );
            assert_eq!(err.exit_code(), 2);
            assert!(err.hint().unwrap().contains("at most 63 bytes"));
        }
    }
}
