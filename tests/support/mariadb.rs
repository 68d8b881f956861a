//! A throw-away MariaDB server per test: `mariadb-install-db` into a temp directory,
//! `mariadbd` on a free loopback port with its socket in that directory, TLS with a
//! certificate for 127.0.0.1 signed by a CA of its own, root with an empty password on the
//! socket (the `mariadb` client runs the test's SQL there). Tests can make it read-only,
//! require TLS or add users; it is killed when dropped.

use std::os::unix::fs::MetadataExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a fresh server may take to answer (a hang bound, not a speed claim).
const START_BOUND: Duration = Duration::from_secs(60);

/// Several servers run at once beside the rest of the suite: no native AIO (its contexts
/// are a machine-wide limit, `fs.aio-max-nr`) and a small buffer pool.
const SMALL: [&str; 2] = ["--innodb-use-native-aio=0", "--innodb-buffer-pool-size=32M"];

pub struct MariaDb {
    dir: tempfile::TempDir,
    child: Child,
    pub port: u16,
}

/// A server program: on `PATH`, else where Debian puts it (`/usr/sbin`).
fn program(name: &str) -> PathBuf {
    let sbin = Path::new("/usr/sbin").join(name);
    if sbin.exists() {
        return sbin;
    }
    crate::common::require(name)
}

impl MariaDb {
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server with extra `mariadbd` options (`--max-connections=30`, …).
    pub fn start_with(options: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        crate::common::test_certificates(root);
        // mariadbd refuses to run as root unless told to; as anyone else it runs as itself.
        let as_root = fs_err::metadata("/proc/self").unwrap().uid() == 0;
        let user: &[&str] = if as_root { &["--user=root"] } else { &[] };
        let out = Command::new(program("mariadb-install-db"))
            .arg("--no-defaults")
            .arg(format!("--datadir={}", root.join("data").display()))
            .args(["--auth-root-authentication-method=normal", "--skip-test-db"])
            .args(user)
            .args(SMALL)
            .output()
            .expect("mariadb-install-db");
        assert!(
            out.status.success(),
            "mariadb-install-db: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = |name: &str| root.join(name).display().to_string();
        fs_err::create_dir(root.join("tmp")).unwrap();
        let child = Command::new(program("mariadbd"))
            .arg("--no-defaults")
            .args(user)
            .arg(format!("--datadir={}", path("data")))
            .arg(format!("--port={port}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--socket={}", path("sock")))
            .arg(format!("--pid-file={}", path("pid")))
            .arg(format!("--log-error={}", path("log")))
            // Its temporary tables in a directory of its own, not the machine's /tmp.
            .arg(format!("--tmpdir={}", path("tmp")))
            .arg(format!("--ssl-ca={}", path("ca.crt")))
            .arg(format!("--ssl-cert={}", path("server.crt")))
            .arg(format!("--ssl-key={}", path("server.key")))
            .arg("--skip-name-resolve")
            .args(SMALL)
            .args(options)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd");
        let mut server = Self { dir, child, port };
        server.wait_ready();
        server
    }

    /// Poll the socket until the server answers `SELECT 1`, bounded by [`START_BOUND`].
    fn wait_ready(&mut self) {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("mariadbd exited ({status}): {}", self.log());
            }
            if self.try_sql("SELECT 1").is_ok() {
                return;
            }
            assert!(
                started.elapsed() < START_BOUND,
                "mariadbd did not answer within {START_BOUND:?}: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> String {
        fs_err::read_to_string(self.dir.path().join("log")).unwrap_or_default()
    }

    fn try_sql(&self, sql: &str) -> Result<String, String> {
        let out = Command::new(crate::common::require("mariadb"))
            .arg("--no-defaults")
            .arg(format!(
                "--socket={}",
                self.dir.path().join("sock").display()
            ))
            .args(["-uroot", "-N", "-B", "-e", sql])
            .output()
            .expect("mariadb");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// `sql` run as root on the socket: its output, trimmed. A failure fails the test.
    #[track_caller]
    pub fn sql(&self, sql: &str) -> String {
        self.try_sql(sql)
            .unwrap_or_else(|e| panic!("mariadb -e {sql:?}: {e}"))
    }

    /// The databases on the server, without the system ones.
    pub fn databases(&self) -> Vec<String> {
        self.sql("SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN ('mysql','information_schema','performance_schema','sys') ORDER BY 1")
            .lines()
            .map(str::to_owned)
            .collect()
    }

    /// A user that may log in over TCP from 127.0.0.1 with `password`, with `grants`
    /// (`ALL ON *.*`, `SELECT ON *.*`, …).
    pub fn user(&self, name: &str, password: &str, grants: &str) {
        self.sql(&format!(
            "CREATE USER '{name}'@'127.0.0.1' IDENTIFIED BY '{password}'; GRANT {grants} TO '{name}'@'127.0.0.1'"
        ));
    }

    /// A `mariadb` client logged in over TCP as `user`, connected to `database`, running
    /// `sql` (`SELECT SLEEP(60)` holds the connection): killed by the caller.
    pub fn hold(&self, user: &str, password: &str, database: &str, sql: &str) -> Child {
        Command::new(crate::common::require("mariadb"))
            .arg("--no-defaults")
            .args(["-h", "127.0.0.1", "-P", &self.port.to_string()])
            .arg(format!("-u{user}"))
            .arg(format!("-p{password}"))
            .args(["--skip-ssl", "-N", "-B", "-D", database, "-e", sql])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadb")
    }

    /// Poll `sql` as root until it prints `want`, bounded by [`START_BOUND`].
    #[track_caller]
    pub fn wait_for(&self, sql: &str, want: &str) {
        crate::common::wait_for_value(sql, want, START_BOUND, || self.sql(sql));
    }

    /// `sql` run by `user` over TCP (no TLS): its output, trimmed, or the client's error
    /// (`ERROR 1044 (42000) …`).
    pub fn sql_as(&self, user: &str, password: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(crate::common::require("mariadb"))
            .arg("--no-defaults")
            .args([
                "-h",
                "127.0.0.1",
                "-P",
                &self.port.to_string(),
                "--skip-ssl",
            ])
            .arg(format!("-u{user}"))
            .arg(format!("-p{password}"))
            .args(["-N", "-B", "-e", sql])
            .output()
            .expect("mariadb");
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).trim().to_owned())
        }
    }

    /// The CA that signed the server's certificate.
    pub fn ca_file(&self) -> String {
        self.dir.path().join("ca.crt").display().to_string()
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        // The child is this test's own server, killed by its id.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
