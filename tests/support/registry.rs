//! A private npm registry for the tests: verdaccio on 127.0.0.1 with no uplinks, started
//! and stopped per use, and the `tests/registry` tools (verdaccio, pnpm, Yarn) it comes with.

use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `tests/registry` (verdaccio, pnpm, Yarn) with its npm packages installed, once per test run.
pub(crate) fn registry_tools() -> PathBuf {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let dir = repo_root().join("tests/registry");
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    let installed = ["verdaccio", "pnpm", "yarn"]
        .iter()
        .all(|bin| dir.join("node_modules/.bin").join(bin).exists());
    if !*done && !installed {
        let status = Command::new(crate::common::require("npm"))
            .args([
                "ci",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--prefix",
            ])
            .arg(&dir)
            .status()
            .expect("npm is needed for the packaging tests");
        assert!(status.success(), "npm ci in tests/registry failed");
    }
    *done = true;
    dir
}

/// A plain HTTP/1.0 GET on loopback: the status code and the body.
fn http_get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let status = response.split(' ').nth(1)?.parse().ok()?;
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// verdaccio on a free loopback port, storing in a temp dir, with no uplinks (nothing reaches
/// the internet) and anonymous publishing; killed on drop, or by a watchdog when the test
/// process dies first.
pub(crate) struct Registry {
    child: Child,
    watchdog: Child,
    pub(crate) port: u16,
    pub(crate) storage: PathBuf,
    _dir: tempfile::TempDir,
}

impl Registry {
    pub(crate) fn start() -> Self {
        let tools = registry_tools();
        let dir = tempfile::tempdir().expect("temp dir");
        let storage = dir.path().join("storage");
        let config = dir.path().join("config.yaml");
        fs_err::write(
            &config,
            format!(
                "storage: {storage}\n\
                 auth:\n  htpasswd:\n    file: {htpasswd}\n    max_users: -1\n\
                 uplinks: {{}}\n\
                 packages:\n  '**':\n    access: $all\n    publish: $all\n    unpublish: $all\n\
                 max_body_size: 200mb\n\
                 log: {{ type: stdout, format: pretty, level: error }}\n",
                storage = storage.display(),
                htpasswd = dir.path().join("htpasswd").display(),
            ),
        )
        .expect("write verdaccio config");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new(tools.join("node_modules/.bin/verdaccio"))
            .arg("--config")
            .arg(&config)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .env("HOME", dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start verdaccio");
        let watchdog = Command::new("sh")
            .args([
                "-c",
                "while kill -0 \"$1\" 2>/dev/null && kill -0 \"$2\" 2>/dev/null; do sleep 1; done; kill \"$2\" 2>/dev/null",
                "watchdog",
            ])
            .arg(std::process::id().to_string())
            .arg(child.id().to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the watchdog");
        let registry = Self {
            child,
            watchdog,
            port,
            storage,
            _dir: dir,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while http_get(port, "/-/ping").map(|(s, _)| s) != Some(200) {
            assert!(Instant::now() < deadline, "verdaccio did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        registry
    }

    /// Publish a tarball (`npm pack` output) with a clean npm environment and a fresh HOME.
    pub(crate) fn publish(&self, tgz: &Path) {
        let home = tempfile::tempdir().expect("temp dir");
        let auth = format!("--//127.0.0.1:{}/:_authToken=anonymous", self.port);
        let out = npm_env(
            Command::new(crate::common::require("npm")),
            home.path(),
            &self.url(),
        )
        .arg("publish")
        .arg(tgz)
        .arg(auth)
        // On the command line: it beats a package's own `publishConfig.registry`.
        .arg(format!("--registry={}", self.url()))
        .output()
        .expect("npm publish");
        assert!(out.status.success(), "npm publish: {}", stderr_of(&out));
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = self.watchdog.kill();
        let _ = self.watchdog.wait();
    }
}

pub(crate) fn stderr_of(out: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A cleared environment for npm/pnpm: only PATH, a fresh HOME and cache, our registry.
pub(crate) fn npm_env(mut cmd: Command, home: &Path, registry: &str) -> Command {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("npm_config_cache", home.join(".npm"))
        .env("npm_config_registry", registry)
        .env("npm_config_update_notifier", "false")
        .env("npm_config_audit", "false")
        .env("npm_config_fund", "false");
    cmd
}
