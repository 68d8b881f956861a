//! A workspace's own login role on a shared server (`coder-convex db provision`, README
//! "A role per workspace"). Postgres: the role is named like the database, owns it and nothing
//! else, gets a fresh password on every run, and `PUBLIC` loses `CONNECT`, so one workspace's
//! backend cannot open, read or drop another's database. MySQL: a user of its own with every
//! privilege on its database only (`mysql::user`). The admin URL stays with the provisioner.
//!
//! Each step holds one connection, briefly, one after the other: find the database marked
//! for this workspace, the preflight (create and mark), the role and the database's owner
//! (under the preflight's advisory lock), then the objects inside an older database that the
//! admin's backend created (migration of a workspace from before roles).
//!
//! I/O: the shared server.

use postgres_protocol::password::scram_sha_256;
use rand::Rng as _;
use rand::distributions::Alphanumeric;
use rand::rngs::OsRng;

use super::budget::{Capacity, Limits};
use super::failure::DbError;
use super::mysql;
use super::preflight::{self, Connection, Options};
use super::shared::{self, Marked, Server};
use super::url::{Database, DbKind};
use super::workspace::Workspace;
use crate::config::instance;

/// Alphanumerics only: URL-safe, no percent-encoding in `POSTGRES_URL`.
const PASSWORD_CHARS: usize = 40;

/// What `db provision` set up. No `Debug`: it holds the role's password.
pub(crate) struct Provisioned {
    pub(crate) database: String,
    /// The login role (Postgres: the database's name) or user (MySQL: `cvx_<hash>`).
    pub(crate) role: String,
    pub(crate) instance_name: String,
    /// The database was created now.
    pub(crate) created: bool,
    /// The role was created now (else its password was changed).
    pub(crate) role_created: bool,
    /// Schemas, tables, views and sequences handed from another owner to the role.
    pub(crate) migrated: Vec<String>,
    /// The backend's URL: the role, its password, no database path.
    pub(crate) url: Database,
    /// The server's capacity at the workspace's budget, read before the database was made.
    pub(crate) capacity: Capacity,
}

/// Create (or find) the workspace's database, its role with a new password, and hand the
/// database to the role.
pub(crate) async fn provision(
    admin: &Database,
    ws: &Workspace,
    opts: Options<'_>,
    budget: u32,
) -> Result<Provisioned, DbError> {
    let (marked, limits) = survey(admin, opts).await?;
    let mine = marked
        .iter()
        .filter(|m| m.workspace_id == ws.id)
        .map(|m| m.database.clone())
        .collect();
    let database = pick(ws, mine).unwrap_or_else(|| ws.database_name());
    let capacity = shared::capacity_of(&marked, limits, &database, budget);
    let instance_name = database.replace('_', "-");
    instance::validate_instance_name(&instance_name).map_err(|why| {
        DbError::new(
            format!(
                "the database marked for workspace {} cannot name an instance: {why}",
                ws.id
            ),
            "rename the database to convex_<owner>_<workspace>_<hash> (`coder-convex db list`)",
        )
    })?;
    let found = preflight::preflight(admin, &instance_name, opts, true, Some(ws)).await?;
    let password: String = OsRng
        .sample_iter(&Alphanumeric)
        .take(PASSWORD_CHARS)
        .map(char::from)
        .collect();
    if admin.kind == DbKind::Mysql {
        let user = mysql::user::user_for(&found.database);
        let created = preflight::retry_busy(
            || async {
                let mut conn = mysql::connect(admin, opts.mysql_ca_file).await?;
                let done = mysql::user::own(&mut conn, &found.database, &user, &password).await;
                conn.close().await;
                done
            },
            opts.busy_until,
        )
        .await?;
        return Ok(Provisioned {
            url: url_as(admin, &user, &password)?,
            role: user,
            database: found.database,
            instance_name,
            created: found.created,
            role_created: created,
            // MySQL objects have no owner: the grant covers what is there.
            migrated: Vec::new(),
            capacity,
        });
    }
    let role = found.database.clone();
    let role_created = preflight::retry_busy(
        || async {
            let conn = preflight::connect(admin, opts.pg_ca_file).await?;
            let done = own(&conn, &role, &password).await;
            conn.close().await;
            done
        },
        opts.busy_until,
    )
    .await?;
    let migrated = preflight::retry_busy(
        || async {
            let conn = preflight::connect_to(admin, opts.pg_ca_file, &[&role]).await?;
            let done = hand_over(&conn, &role).await;
            conn.close().await;
            done
        },
        opts.busy_until,
    )
    .await?;
    Ok(Provisioned {
        url: url_as(admin, &role, &password)?,
        role,
        database: found.database,
        instance_name,
        created: found.created,
        role_created,
        migrated,
        capacity,
    })
}

/// The server's URL with the workspace's own user and password.
fn url_as(admin: &Database, user: &str, password: &str) -> Result<Database, DbError> {
    admin.as_user(user, password).map_err(|e| {
        DbError::new(
            format!("cannot build the workspace's URL: {e}"),
            "check the admin URL",
        )
    })
}

/// The marked databases and the server's limits, over one connection.
async fn survey(admin: &Database, opts: Options<'_>) -> Result<(Vec<Marked>, Limits), DbError> {
    preflight::retry_busy(
        || async {
            let mut server = Server::connect(admin, opts).await?;
            let found = server.survey(false).await;
            server.close().await;
            found
        },
        opts.busy_until,
    )
    .await
}

/// Of the databases marked with this workspace's id, the one it derives now, else one whose
/// name ends in its id's hash (named for it before a rename), else any. A workspace's role
/// owns its database and so may rewrite its marker, but may not rename it (no `CREATEDB`):
/// a forged marker never wins over a name that carries the id's hash.
fn pick(ws: &Workspace, mut mine: Vec<String>) -> Option<String> {
    let derived = ws.database_name();
    if mine.contains(&derived) {
        return Some(derived);
    }
    mine.sort_by_key(|db| !ws.owns_instance_name(&db.replace('_', "-")));
    mine.into_iter().next()
}

/// Under the preflight's lock for this database: the role (created, or its password
/// changed), the database owned by it, `PUBLIC` without privileges on it. `Ok(true)` when the
/// role was created now.
async fn own(conn: &Connection, role: &str, password: &str) -> Result<bool, DbError> {
    let who = &conn.who;
    let failed = |what: &str| {
        let what = what.to_owned();
        move |e: tokio_postgres::Error| {
            DbError::new(
                format!("{what} on {who} failed"),
                "the admin role needs CREATEROLE and CREATEDB (or superuser), and must own the workspace databases it created",
            )
            .caused_by(e)
        }
    };
    let lock_key = format!("coder-convex: {role}");
    conn.client
        .execute("SELECT pg_advisory_lock(hashtext($1))", &[&lock_key])
        .await
        .map_err(failed("locking"))?;
    // The server stores the SCRAM verifier; the password itself never reaches it (nor its logs).
    let verifier = scram_sha_256(password.as_bytes()).replace('\'', "''");
    let ident = preflight::quote_ident(role);
    let existing = conn
        .client
        .query(
            "SELECT rolsuper OR rolcreaterole OR rolcreatedb OR rolreplication OR rolbypassrls \
             FROM pg_roles WHERE rolname = $1",
            &[&role],
        )
        .await
        .map_err(failed("reading pg_roles"))?;
    let created = match existing.first().map(|row| row.get::<_, bool>(0)) {
        Some(true) => {
            return Err(DbError::new(
                format!(
                    "role {role:?} on {who} has more than LOGIN (superuser, CREATEROLE, CREATEDB, REPLICATION or BYPASSRLS); refusing to hand it a workspace database"
                ),
                format!(
                    "a workspace's role is made by coder-convex with LOGIN only: drop the role, or `ALTER ROLE {ident} NOSUPERUSER NOCREATEROLE NOCREATEDB NOREPLICATION NOBYPASSRLS`"
                ),
            ));
        }
        Some(false) => {
            conn.client
                .batch_execute(&format!(
                    "ALTER ROLE {ident} WITH LOGIN PASSWORD '{verifier}'"
                ))
                .await
                .map_err(failed(&format!("changing the password of role {role:?}")))?;
            false
        }
        None => {
            conn.client
                .batch_execute(&format!(
                    "CREATE ROLE {ident} WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD '{verifier}'"
                ))
                .await
                .map_err(failed(&format!("creating role {role:?}")))?;
            true
        }
    };
    // A non-superuser admin hands objects to the role only as a member of it (and keeps
    // `db drop` working on a database the role owns).
    let superuser: bool = conn
        .client
        .query_one(
            "SELECT rolsuper FROM pg_roles WHERE rolname = current_user",
            &[],
        )
        .await
        .map_err(failed("reading pg_roles"))?
        .get(0);
    if !superuser {
        conn.client
            .batch_execute(&format!("GRANT {ident} TO CURRENT_USER"))
            .await
            .map_err(failed(&format!("granting role {role:?} to the admin role")))?;
    }
    conn.client
        .batch_execute(&format!(
            "ALTER DATABASE {ident} OWNER TO {ident}; REVOKE ALL ON DATABASE {ident} FROM PUBLIC"
        ))
        .await
        .map_err(failed(&format!("handing database {role:?} to its role")))?;
    conn.client
        .execute("SELECT pg_advisory_unlock(hashtext($1))", &[&lock_key])
        .await
        .map_err(failed("unlocking"))?;
    Ok(created)
}

/// Inside the workspace's database: schemas, tables, views and sequences another role owns
/// (the admin's backend made them before roles existed) go to the workspace's role. Objects
/// are named one by one: `REASSIGN OWNED BY` a superuser would take the system catalogs too.
async fn hand_over(conn: &Connection, role: &str) -> Result<Vec<String>, DbError> {
    let failed = |e: tokio_postgres::Error| {
        DbError::new(
            format!(
                "handing the objects of database {role:?} on {} to its role failed",
                conn.who
            ),
            "the admin role must own them (its backend created them) or be superuser",
        )
        .caused_by(e)
    };
    // Sequences that belong to a table column move with their table; an extension's objects stay.
    let rows = conn
        .client
        .query(
            "SELECT 'SCHEMA', quote_ident(n.nspname) FROM pg_namespace n \
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
               AND n.nspowner NOT IN ((SELECT oid FROM pg_roles WHERE rolname = $1::text), coalesce(to_regrole('pg_database_owner'), 0)) \
             UNION ALL \
             SELECT CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW' \
                      WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, \
                    quote_ident(n.nspname) || '.' || quote_ident(c.relname) \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' \
               AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f') AND c.relowner <> (SELECT oid FROM pg_roles WHERE rolname = $1::text) \
               AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass \
                   AND d.objid = c.oid AND d.deptype IN ('a', 'i', 'e'))",
            &[&role],
        )
        .await
        .map_err(failed)?;
    let ident = preflight::quote_ident(role);
    let mut moved = Vec::with_capacity(rows.len());
    for row in rows {
        let (kind, name): (String, String) = (row.get(0), row.get(1));
        conn.client
            .batch_execute(&format!("ALTER {kind} {name} OWNER TO {ident}"))
            .await
            .map_err(failed)?;
        moved.push(name);
    }
    Ok(moved)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_named_for_the_workspace_wins() {
        let ws = Workspace {
            id: "id-1".to_owned(),
            owner: "alice".to_owned(),
            name: "app".to_owned(),
        };
        let renamed = Workspace {
            name: "new".to_owned(),
            ..ws.clone()
        };
        let derived = ws.database_name();
        assert_ne!(renamed.database_name(), derived);
        let forged = "convex_bob_other_0badc0de".to_owned();
        assert_eq!(
            pick(&ws, vec![forged.clone(), derived.clone()]),
            Some(derived.clone())
        );
        // Renamed: the database from before carries the id's hash, a forged marker does not.
        assert_eq!(
            pick(&renamed, vec![forged.clone(), derived.clone()]),
            Some(derived)
        );
        assert_eq!(pick(&renamed, vec![forged.clone()]), Some(forged));
        assert_eq!(pick(&ws, vec![]), None);
    }
}
