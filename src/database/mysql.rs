//! MySQL's preflight: the server answers on its port (does network I/O, one TCP connect
//! bounded by the preflight's connect timeout).

use super::failure::{CONNECT_TIMEOUT, DbError, target};
use super::url::Database;

pub(super) async fn reachable(db: &Database) -> Result<(), DbError> {
    let who = target(db);
    let host = db.host.clone().unwrap_or_else(|| "127.0.0.1".to_owned());
    let port = port_of(db.expose_url()).unwrap_or(3306);
    let connect = tokio::net::TcpStream::connect((host.as_str(), port));
    match tokio::time::timeout(CONNECT_TIMEOUT, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(DbError::new(
            format!("cannot reach MySQL at {who}:{port}"),
            "check the host and port, and that the MySQL server is running",
        )
        .caused_by(e)),
        Err(_) => Err(DbError::new(
            format!(
                "no answer from MySQL at {who}:{port} within {}s",
                CONNECT_TIMEOUT.as_secs()
            ),
            "check the host, port and firewall",
        )),
    }
}

/// The port of the first host in `scheme://user@host:port…`.
fn port_of(url: &str) -> Option<u16> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['?', '/']).next()?;
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, h)| h)
        .split(',')
        .next()?;
    let port = if host.starts_with('[') {
        host.rsplit_once("]:")?.1
    } else {
        host.rsplit_once(':')?.1
    };
    port.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(port_of("mysql://root:pw@db:3307"), Some(3307));
        assert_eq!(port_of("mysql://root@[::1]:3308?x=1"), Some(3308));
        assert_eq!(port_of("mysql://root@db"), None);
    }
}
