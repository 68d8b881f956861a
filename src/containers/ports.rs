//! Whether a loopback port is free before `up` publishes it, and which process holds it
//! (Linux: the listening socket's inode in `/proc/net/tcp{,6}`, then the process with that
//! socket among its `/proc/<pid>/fd`; only our own processes are visible unless root).
//!
//! I/O: binds loopback ports, reads `/proc`.

use std::net::{Ipv4Addr, TcpListener};

use serde::Serialize;

/// A process listening on a port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Holder {
    pub(crate) pid: i32,
    pub(crate) name: String,
}

/// Whether something already listens on `127.0.0.1:port` (or on every address).
pub(crate) fn taken(port: u16) -> bool {
    matches!(
        TcpListener::bind((Ipv4Addr::LOCALHOST, port)),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse
    )
}

/// The process listening on `port`, when we may see it.
#[cfg(target_os = "linux")]
pub(crate) fn holder(port: u16) -> Option<Holder> {
    use procfs::net::TcpState;
    use procfs::process::FDTarget;

    let inodes: Vec<u64> = [procfs::net::tcp(), procfs::net::tcp6()]
        .into_iter()
        .flatten()
        .flatten()
        .filter(|e| e.state == TcpState::Listen && e.local_address.port() == port)
        .map(|e| e.inode)
        .collect();
    if inodes.is_empty() {
        return None;
    }
    procfs::process::all_processes()
        .ok()?
        .flatten()
        .find_map(|process| {
            let holds =
                process.fd().ok()?.flatten().any(
                    |fd| matches!(fd.target, FDTarget::Socket(inode) if inodes.contains(&inode)),
                );
            holds.then(|| Holder {
                pid: process.pid,
                name: process.stat().map(|s| s.comm).unwrap_or_default(),
            })
        })
}

#[cfg(not(target_os = "linux"))]
pub(crate) fn holder(_port: u16) -> Option<Holder> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listening_port_is_taken_and_its_holder_is_us() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = listener.local_addr().unwrap().port();
        assert!(taken(port));
        #[cfg(target_os = "linux")]
        {
            let holder = holder(port).expect("our own socket is visible");
            assert_eq!(holder.pid, i32::try_from(std::process::id()).unwrap());
            let comm = fs_err::read_to_string("/proc/self/comm").unwrap();
            assert_eq!(holder.name, comm.trim_end());
        }
        drop(listener);
        assert!(!taken(port));
        assert_eq!(holder(port), None);
    }
}
