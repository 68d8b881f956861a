//! A workspace's own MySQL user on a shared server (`db provision`): named from a hash of the
//! database (MySQL allows 32 characters in a user name, a workspace database's name has up to
//! 63), created or given a new password on every run, with every privilege on its own
//! database and none elsewhere. MySQL has no database owner and no `PUBLIC` grant: a user
//! sees only what it is granted.
//!
//! I/O: the shared server.

use mysql_async::prelude::Queryable as _;
use sha2::{Digest as _, Sha256};

use super::Connection;
use crate::database::failure::DbError;

/// `ER_CANNOT_USER`: `CREATE USER` of a user that exists.
const ER_CANNOT_USER: u16 = 1396;

/// `cvx_` and 16 hex characters of the database name's SHA-256: short, and one per database.
pub(crate) fn user_for(database: &str) -> String {
    let digest = Sha256::digest(database.as_bytes());
    format!("cvx_{}", &hex::encode(digest)[..16])
}

/// Create `user` (or set its password) and grant it everything on `database`. `Ok(true)`
/// when the user was created now. `user` is `[a-z0-9_]` and `password` alphanumeric (both made
/// here), `database` validated: quoting them as literals and identifiers is enough.
pub(crate) async fn own(
    conn: &mut Connection,
    database: &str,
    user: &str,
    password: &str,
) -> Result<bool, DbError> {
    let who = conn.who.clone();
    let failed = |what: String| {
        let who = who.clone();
        move |e: mysql_async::Error| {
            DbError::new(
                format!("{what} on {who} failed"),
                "the admin user needs CREATE USER and every privilege on the workspace databases WITH GRANT OPTION",
            )
            .caused_by(e)
        }
    };
    let account = format!("'{user}'@'%'");
    let created = match conn
        .conn
        .query_drop(format!("CREATE USER {account} IDENTIFIED BY '{password}'"))
        .await
    {
        Ok(()) => true,
        Err(mysql_async::Error::Server(e)) if e.code == ER_CANNOT_USER => {
            conn.conn
                .query_drop(format!("ALTER USER {account} IDENTIFIED BY '{password}'"))
                .await
                .map_err(failed(format!("changing the password of user {user:?}")))?;
            false
        }
        Err(e) => return Err(failed(format!("creating user {user:?}"))(e)),
    };
    let ident = database.replace('`', "``");
    conn.conn
        .query_drop(format!("GRANT ALL PRIVILEGES ON `{ident}`.* TO {account}"))
        .await
        .map_err(failed(format!(
            "granting database {database:?} to user {user:?}"
        )))?;
    Ok(created)
}

/// Drop the workspace's user (after its database), if there is one. `user` is one
/// [`user_for`] made: `[a-z0-9_]`, safe to quote as a literal.
pub(crate) async fn drop_user(conn: &mut Connection, user: &str) -> Result<(), mysql_async::Error> {
    conn.conn
        .query_drop(format!("DROP USER IF EXISTS '{user}'@'%'"))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_are_short_and_distinct() {
        let a = user_for("convex_alice_app_1a2b3c4d");
        let b = user_for("convex_alice_app_1a2b3c4e");
        // MySQL's limit on user names is 32 (MariaDB's 80).
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("cvx_"));
        assert!(a[4..].chars().all(|c| c.is_ascii_hexdigit()));
        assert_ne!(a, b);
        assert_eq!(a, user_for("convex_alice_app_1a2b3c4d"));
    }
}
