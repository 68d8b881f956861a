//! A workspace's database on a shared server (README "One server for a team"): the server URL
//! from the template, the workspace that names and marks the database, the instance name (kept
//! across a rename), and the provisioned mode, in which the template creates the database and
//! its role outside the workspace (`db provision`). Pure.

use crate::config::instance::{self, InstanceNameSource};
use crate::database::budget;
use crate::database::url::{self as db_url, Database};
use crate::database::workspace::Workspace;
use crate::env_vars as ev;
use crate::environment::RawEnv;
use crate::error::{Error, Result};

/// Shared server (Postgres or MySQL): the server URL from the template, the database named
/// after the workspace (an explicit `INSTANCE_NAME` still wins; a name this workspace got
/// before a rename is kept). `var` is the variable the URL came from.
pub(crate) fn shared(
    env: &RawEnv,
    var: &str,
    raw: &str,
    in_file: Option<&str>,
) -> Result<(Database, String, InstanceNameSource, Workspace)> {
    let mut db = server_url(var, raw)?;
    let workspace = required_workspace(env, var)?;
    let (instance_name, source) = workspace_instance(env, &workspace, in_file)?;
    // The server URL's own database (often `postgres`) is only where the admin connects.
    db.database = Some(instance::database_for_instance(&instance_name));
    Ok((db, instance_name, source, workspace))
}

/// A shared server's URL from `input` (a variable, or a flag with its variable):
/// normalised; `CODER_CONVEX_SHARED_POSTGRES_URL` holds a Postgres URL only.
pub(crate) fn server_url(input: &str, raw: &str) -> Result<Database> {
    let db = db_url::normalise(input, raw)?;
    if input == ev::CODER_CONVEX_SHARED_POSTGRES_URL && db.kind != db_url::DbKind::Postgres {
        return Err(
            Error::invalid(input, format!("{} is not a Postgres URL", db.masked())).with_hint(
                format!(
                    "for a shared MySQL server use {} (it takes either scheme)",
                    ev::CODER_CONVEX_SHARED_DATABASE_URL
                ),
            ),
        );
    }
    Ok(db)
}

/// The connection budget of each workspace's backend (`CODER_CONVEX_DB_CONNECTIONS`).
pub(crate) fn connection_budget(env: &RawEnv) -> Result<u32> {
    budget::parse(env.coder_convex_db_connections.as_deref()).map_err(|message| {
        Error::invalid(ev::CODER_CONVEX_DB_CONNECTIONS, message).with_hint(format!(
            "the backend's pool size on the shared server; unset it for the default of {}",
            budget::DEFAULT_CONNECTIONS
        ))
    })
}

/// The Coder workspace, which `var` needs: an error names the variable that is missing.
pub(crate) fn required_workspace(env: &RawEnv, var: &str) -> Result<Workspace> {
    let missing = |name: &str| {
        Error::invalid(name, format!("is not set, but {var} is")).with_hint(
            "the template sets it (coder_agent env: data.coder_workspace.me.id and the Coder agent's workspace variables)",
        )
    };
    Ok(Workspace {
        id: env
            .coder_convex_workspace_id
            .clone()
            .ok_or_else(|| missing(ev::CODER_CONVEX_WORKSPACE_ID))?,
        owner: env.coder_workspace_owner_name.clone().unwrap_or_default(),
        name: env
            .coder_workspace_name
            .clone()
            .ok_or_else(|| missing(ev::CODER_WORKSPACE_NAME))?,
    })
}

/// A workspace's instance name on a shared server, provisioned or not: `INSTANCE_NAME`, else
/// the project file's (precedence: file > derived) unless it is the default a project had
/// before it used the shared server (that one would be one database for every workspace), else
/// derived from the workspace. A name derived before a rename ends in the same hash of the
/// workspace id, so it is kept; `db provision` finds the database by its marker, the same one.
pub(crate) fn workspace_instance(
    env: &RawEnv,
    workspace: &Workspace,
    in_file: Option<&str>,
) -> Result<(String, InstanceNameSource)> {
    let kept = in_file.filter(|name| {
        workspace.owns_instance_name(name) || *name != instance::DEFAULT_INSTANCE_NAME
    });
    let (instance_name, source) = match (env.instance_name.as_deref(), kept) {
        (Some(name), _) => (name.to_owned(), InstanceNameSource::Environment),
        (None, Some(name)) => (name.to_owned(), InstanceNameSource::ProjectFile),
        (None, None) => (workspace.instance_name(), InstanceNameSource::Workspace),
    };
    instance::validate_instance_name(&instance_name)
        .map_err(|message| Error::invalid(ev::INSTANCE_NAME, message))?;
    Ok((instance_name, source))
}

/// `CODER_CONVEX_SHARED_DATABASE`: `provisioned`, or unset.
pub(crate) fn provisioned(raw: Option<&str>) -> Result<bool> {
    match raw.map(str::trim).filter(|r| !r.is_empty()) {
        None => Ok(false),
        Some("provisioned") => Ok(true),
        Some(other) => Err(Error::invalid(
            ev::CODER_CONVEX_SHARED_DATABASE,
            format!("{other:?} is not `provisioned`"),
        )
        .with_hint(
            "set it to provisioned when the template runs `coder-convex db provision`, or unset it",
        )),
    }
}

/// The Coder workspace this runs in, when the template says (`CODER_CONVEX_WORKSPACE_ID` and
/// the agent's workspace name).
pub(crate) fn coder_workspace(env: &RawEnv) -> Option<Workspace> {
    Some(Workspace {
        id: env.coder_convex_workspace_id.clone()?,
        owner: env.coder_workspace_owner_name.clone().unwrap_or_default(),
        name: env.coder_workspace_name.clone()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> RawEnv {
        RawEnv::from_pairs(pairs.iter().copied()).unwrap()
    }

    const WS: [(&str, &str); 3] = [
        ("CODER_CONVEX_WORKSPACE_ID", "id-1"),
        ("CODER_WORKSPACE_OWNER_NAME", "alice"),
        ("CODER_WORKSPACE_NAME", "app"),
    ];

    #[test]
    fn provisioned_is_a_single_word() {
        assert!(!provisioned(None).unwrap());
        assert!(!provisioned(Some(" ")).unwrap());
        assert!(provisioned(Some("provisioned")).unwrap());
        for bad in ["true", "Provisioned", "yes"] {
            let e = provisioned(Some(bad)).unwrap_err().to_string();
            assert!(e.contains("CODER_CONVEX_SHARED_DATABASE"), "{e}");
        }
    }

    /// The name `setup` derives in provisioned mode is the one `db provision` picks: the
    /// database marked with this id, which was created under the name derived then.
    #[test]
    fn the_instance_name_survives_a_rename_and_a_claim() {
        let ws = required_workspace(&env(&WS), "X").unwrap();
        let first = ws.instance_name();
        assert_eq!(
            workspace_instance(&env(&WS), &ws, None).unwrap(),
            (first.clone(), InstanceNameSource::Workspace)
        );
        // Renamed (or claimed from a prebuild): the file keeps the first name.
        let renamed = required_workspace(
            &env(&[
                ("CODER_CONVEX_WORKSPACE_ID", "id-1"),
                ("CODER_WORKSPACE_OWNER_NAME", "bob"),
                ("CODER_WORKSPACE_NAME", "renamed"),
            ]),
            "X",
        )
        .unwrap();
        assert_ne!(renamed.instance_name(), first);
        assert_eq!(
            workspace_instance(&env(&WS), &renamed, Some(&first)).unwrap(),
            (first.clone(), InstanceNameSource::ProjectFile)
        );
        // The default from before the shared server is never kept; INSTANCE_NAME wins.
        assert_eq!(
            workspace_instance(&env(&WS), &ws, Some(instance::DEFAULT_INSTANCE_NAME))
                .unwrap()
                .0,
            first
        );
        let mut with_name = WS.to_vec();
        with_name.push(("INSTANCE_NAME", "mine"));
        assert_eq!(
            workspace_instance(&env(&with_name), &ws, Some(&first)).unwrap(),
            ("mine".to_owned(), InstanceNameSource::Environment)
        );
    }

    #[test]
    fn a_missing_workspace_variable_is_named() {
        let e = required_workspace(&env(&WS[1..]), "CODER_CONVEX_SHARED_DATABASE")
            .unwrap_err()
            .to_string();
        assert!(e.contains("CODER_CONVEX_WORKSPACE_ID"), "{e}");
        assert!(e.contains("CODER_CONVEX_SHARED_DATABASE"), "{e}");
    }
}
