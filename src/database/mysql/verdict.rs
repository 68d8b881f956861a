//! What MySQL's answers mean (pure): which failure a driver error is, and whether a server's
//! collations can hold the backend's tables. Decided from what the server reports (error
//! codes, `information_schema.COLLATIONS`), never from its brand or version string; the
//! version is only named in the message.

use mysql_async::{DriverError, Error, IoError};

use crate::database::failure::{DbError, DbFailure};

/// `ER_DB_CREATE_EXISTS`.
pub(super) const ER_DB_CREATE_EXISTS: u16 = 1007;
/// `ER_CON_COUNT_ERROR`: "Too many connections".
pub(super) const ER_CON_COUNT: u16 = 1040;
/// `ER_DBACCESS_DENIED_ERROR`: no privilege on a database (CREATE DATABASE).
const ER_DBACCESS_DENIED: u16 = 1044;
/// `ER_ACCESS_DENIED_ERROR`: wrong user or password.
const ER_ACCESS_DENIED: u16 = 1045;
/// `ER_TABLEACCESS_DENIED_ERROR`: no privilege on a table (CREATE TABLE).
const ER_TABLEACCESS_DENIED: u16 = 1142;
/// `ER_SPECIFIC_ACCESS_DENIED_ERROR`.
const ER_SPECIFIC_ACCESS_DENIED: u16 = 1227;
/// `ER_SECURE_TRANSPORT_REQUIRED` (MySQL 5.7+; MariaDB uses the same text).
const ER_SECURE_TRANSPORT_REQUIRED: u16 = 3159;

/// Which connection failure `e` is.
pub(crate) fn classify(e: &Error) -> DbFailure {
    match e {
        Error::Server(s) if s.code == ER_ACCESS_DENIED => DbFailure::Authentication,
        Error::Server(s)
            if s.code == ER_SECURE_TRANSPORT_REQUIRED
                || s.message.to_ascii_lowercase().contains("secure transport") =>
        {
            DbFailure::Tls
        }
        Error::Io(IoError::Tls(_)) | Error::Driver(DriverError::NoClientSslFlagFromServer) => {
            DbFailure::Tls
        }
        Error::Io(IoError::Io(io)) => {
            // rustls reports a bad certificate as an I/O error wrapping its own.
            let text = io.to_string().to_ascii_lowercase();
            if text.contains("certificate") || text.contains("tls") || text.contains("handshake") {
                DbFailure::Tls
            } else {
                DbFailure::Unreachable
            }
        }
        Error::Url(_) => DbFailure::Other,
        _ => DbFailure::Other,
    }
}

/// The message and hint for a failed connection.
pub(crate) fn connect_message(kind: DbFailure, who: &str, tls: bool) -> (String, String) {
    match kind {
        DbFailure::Authentication => (
            format!("authentication failed for {who}"),
            "check the user name and password in the MySQL URL (percent-encode special characters) and the host the user may connect from".to_owned(),
        ),
        DbFailure::Tls if tls => (
            format!("TLS to MySQL at {who} failed"),
            "the backend requires TLS with a verified certificate unless DO_NOT_REQUIRE_SSL is set: give the server's CA in MYSQL_CA_FILE, or for a server on a private network without TLS set DO_NOT_REQUIRE_SSL=1 (or require_ssl=false in the URL)".to_owned(),
        ),
        DbFailure::Tls => (
            format!("MySQL at {who} requires TLS, but the URL is used without it (DO_NOT_REQUIRE_SSL)"),
            "remove DO_NOT_REQUIRE_SSL (and require_ssl=false from the URL) so the backend uses TLS; give the server's CA in MYSQL_CA_FILE".to_owned(),
        ),
        DbFailure::Unreachable => (
            format!("cannot reach MySQL at {who}"),
            "check the host and port, and that the MySQL server is running and reachable from the workspace".to_owned(),
        ),
        _ => (
            format!("connecting to MySQL at {who} failed"),
            "see the server's message".to_owned(),
        ),
    }
}

/// Whether `e` is the server refusing a privilege.
pub(crate) fn is_denied(e: &Error) -> bool {
    matches!(e, Error::Server(s) if matches!(s.code, ER_DBACCESS_DENIED | ER_ACCESS_DENIED | ER_TABLEACCESS_DENIED | ER_SPECIFIC_ACCESS_DENIED))
}

/// Whether a server with `available` collations can hold tables with `required`.
pub(crate) fn collation_verdict(
    required: &str,
    available: &[String],
    version: &str,
    who: &str,
) -> Result<(), DbError> {
    if available.iter().any(|c| c.eq_ignore_ascii_case(required)) {
        return Ok(());
    }
    let version = if version.is_empty() {
        "an unknown version".to_owned()
    } else {
        version.to_owned()
    };
    Err(DbError::new(
        format!(
            "the MySQL server at {who} ({version}) has no collation {required}; the backend's tables use it, so its first CREATE TABLE would fail (nothing was created)"
        ),
        format!(
            "use MySQL 8.0 or newer (it has {required}; MariaDB 10.x does not), or Postgres; a backend image whose tables use another collation can be checked with CODER_CONVEX_MYSQL_COLLATION"
        ),
    )
    .kind(DbFailure::Collation))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_collation_decides_not_the_version() {
        let mysql8 = names(&[
            "utf8mb4_general_ci",
            "utf8mb4_0900_ai_ci",
            "utf8mb4_0900_bin",
        ]);
        let mariadb = names(&["utf8mb4_general_ci", "utf8mb4_bin", "utf8mb4_unicode_ci"]);
        // MySQL 8 passes, whatever it calls itself.
        assert!(collation_verdict("utf8mb4_0900_bin", &mysql8, "8.0.36", "u@h").is_ok());
        assert!(collation_verdict("utf8mb4_0900_bin", &mysql8, "10.11.6-MariaDB", "u@h").is_ok());
        assert!(collation_verdict("UTF8MB4_0900_BIN", &mysql8, "", "u@h").is_ok());
        // MariaDB 10.x fails, and the message names the version and what to use instead.
        let e =
            collation_verdict("utf8mb4_0900_bin", &mariadb, "10.11.19-MariaDB", "u@h").unwrap_err();
        assert_eq!(e.failure(), DbFailure::Collation);
        assert!(e.detail().contains("10.11.19-MariaDB"), "{}", e.detail());
        assert!(e.detail().contains("utf8mb4_0900_bin"), "{}", e.detail());
        assert!(e.hint().contains("MySQL 8.0"), "{}", e.hint());
        // Even a server that claims to be MySQL 8 fails without the collation.
        assert!(collation_verdict("utf8mb4_0900_bin", &mariadb, "8.0.36", "u@h").is_err());
        assert!(collation_verdict("utf8mb4_0900_bin", &[], "", "u@h").is_err());
    }

    #[test]
    fn errors_are_classified_by_code() {
        let server = |code: u16, message: &str| {
            Error::Server(mysql_async::ServerError {
                code,
                message: message.to_owned(),
                state: "28000".to_owned(),
            })
        };
        assert_eq!(
            classify(&server(1045, "Access denied")),
            DbFailure::Authentication
        );
        assert_eq!(classify(&server(3159, "x")), DbFailure::Tls);
        assert_eq!(
            classify(&server(
                4188,
                "Connections using insecure transport are prohibited while --require_secure_transport=ON."
            )),
            DbFailure::Tls
        );
        assert_eq!(
            classify(&Error::Driver(DriverError::NoClientSslFlagFromServer)),
            DbFailure::Tls
        );
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(
            classify(&Error::Io(IoError::Io(refused))),
            DbFailure::Unreachable
        );
        assert!(is_denied(&server(1044, "denied")));
        assert!(is_denied(&server(1142, "denied")));
        assert!(!is_denied(&server(1007, "exists")));
    }
}
