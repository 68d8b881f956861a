//! `scripts/install.sh` against a registry of its own on 127.0.0.1 (a few lines of HTTP, so a
//! test can make it go quiet, or serve a package whose tarball is malformed), run for real
//! under sh (dash), bash and busybox sh: every download is bounded, the system's own C library
//! decides musl, only the verified regular file is installed, an install target that is a
//! directory or a read-only directory fails with a hint, an interrupt leaves nothing behind, and
//! a password with a raw `@` never reaches the log.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tempfile::TempDir;

const VERSION: &str = env!("CARGO_PKG_VERSION");
const PACKAGE: &str = "coder-convex-linux-x64";
/// A hang bound: each run sets 2 s timeouts, so a bounded script ends well within it.
const HANG_BOUND: Duration = Duration::from_secs(40);
const SHELLS: [&[&str]; 3] = [&["sh"], &["bash"], &["busybox", "sh"]];

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/install.sh")
}

/// Serves fixed bodies by path; `quiet` accepts each connection, reads the request and never
/// answers.
struct Server {
    port: u16,
    routes: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

impl Server {
    fn start(quiet: bool) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let port = listener.local_addr().expect("addr").port();
        let routes: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
        let served = Arc::clone(&routes);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let routes = Arc::clone(&served);
                std::thread::spawn(move || serve(stream, quiet, &routes));
            }
        });
        Self { port, routes }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn route(&self, path: &str, body: Vec<u8>) {
        self.routes
            .lock()
            .expect("routes")
            .insert(path.to_owned(), body);
    }

    /// The package's version document and its tarball, with the tarball's real integrity.
    fn publish(&self, tgz: &[u8]) {
        let tarball = format!("{}/tarballs/{PACKAGE}-{VERSION}.tgz", self.url());
        let doc = serde_json::json!({
            "name": PACKAGE,
            "version": VERSION,
            "dist": { "integrity": integrity(tgz), "tarball": tarball },
        });
        self.route(
            &format!("/{PACKAGE}/{VERSION}"),
            doc.to_string().into_bytes(),
        );
        self.route(&format!("/tarballs/{PACKAGE}-{VERSION}.tgz"), tgz.to_vec());
    }
}

fn serve(mut stream: TcpStream, quiet: bool, routes: &Mutex<BTreeMap<String, Vec<u8>>>) {
    let mut request = Vec::new();
    let mut buf = [0_u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    if quiet {
        // Hold the connection open, silent, until the client gives up.
        let _ = stream.read(&mut buf);
        std::thread::sleep(Duration::from_secs(120));
        return;
    }
    let text = String::from_utf8_lossy(&request);
    let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let body = routes.lock().expect("routes").get(&path).cloned();
    let (status, body) = body.map_or(("404 Not Found", b"{}".to_vec()), |b| ("200 OK", b));
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// npm's `sha512-<base64>` of some bytes, computed by openssl.
fn integrity(bytes: &[u8]) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("blob");
    fs_err::write(&file, bytes).expect("write");
    let out = Command::new(crate::common::require("openssl"))
        .args(["dgst", "-sha512", "-binary"])
        .arg(&file)
        .output()
        .expect("openssl");
    let digest = dir.path().join("digest");
    fs_err::write(&digest, out.stdout).expect("write");
    let out = Command::new("openssl")
        .args(["base64", "-A", "-in"])
        .arg(&digest)
        .output()
        .expect("openssl base64");
    format!("sha512-{}", String::from_utf8_lossy(&out.stdout).trim())
}

/// A stand-in binary that says it is the wanted version; with `HANG_ON_VERSION` set it first
/// creates that file and sleeps (the install is then caught mid-way).
fn fake_binary(marker: &str) -> String {
    format!(
        "#!/bin/sh\n\
         # {marker}\n\
         if [ -n \"${{HANG_ON_VERSION:-}}\" ]; then : >\"$HANG_ON_VERSION\"; sleep 30; fi\n\
         echo 'coder-convex {VERSION}'\n"
    )
}

fn write_exec(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs_err::write(path, text).expect("write");
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// `tar -czf` of `members` (relative to `root`), in that order.
fn tar(root: &Path, members: &[&str]) -> Vec<u8> {
    let out = root.join("out.tgz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&out)
        .arg("-C")
        .arg(root)
        .args(members)
        .status()
        .expect("tar");
    assert!(status.success());
    fs_err::read(&out).expect("read the tarball")
}

/// A well-formed platform package.
fn good_package() -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    write_exec(
        &dir.path().join("package/bin/coder-convex"),
        &fake_binary("good"),
    );
    fs_err::write(dir.path().join("package/package.json"), "{}").expect("write");
    tar(dir.path(), &["package"])
}

/// A temp root: `home/` (HOME), `tmp/` (TMPDIR), `tools/` (PATH).
struct Run {
    root: TempDir,
}

impl Run {
    /// PATH is the system's tools less `exclude` (and less any coder-convex, node or npm).
    fn new(exclude: &[&str]) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        for dir in ["home", "tmp", "tools"] {
            fs_err::create_dir(root.path().join(dir)).expect("mkdir");
        }
        let skip = |name: &str| {
            exclude.contains(&name) || ["coder-convex", "node", "npm", "npx"].contains(&name)
        };
        for dir in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
            let Ok(entries) = fs_err::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let link = root.path().join("tools").join(&name);
                if !skip(&name.to_string_lossy()) && !link.exists() {
                    let _ = std::os::unix::fs::symlink(entry.path(), link);
                }
            }
        }
        Self { root }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    fn installed(&self) -> PathBuf {
        self.path("home/.local/bin/coder-convex")
    }

    fn command(&self, shell: &[&str], registry: &str) -> Command {
        let mut cmd = Command::new(crate::common::require(shell[0]));
        cmd.args(&shell[1..])
            .arg(script())
            .env_clear()
            .env("PATH", self.path("tools"))
            .env("HOME", self.path("home"))
            .env("TMPDIR", self.path("tmp"))
            .env("CODER_CONVEX_NPM_REGISTRY", registry)
            .env("CODER_CONVEX_CONNECT_TIMEOUT", "2")
            .env("CODER_CONVEX_DOWNLOAD_TIMEOUT", "2")
            .current_dir(self.path("home"))
            .stdin(Stdio::null());
        cmd
    }

    /// Runs to the end (or fails the test past the hang bound).
    fn run(&self, shell: &[&str], registry: &str) -> Output {
        finish(self.command(shell, registry))
    }

    /// Nothing left of a run: no temp dir, no staged binary.
    fn assert_clean(&self, case: &str) {
        let tmp: Vec<_> = fs_err::read_dir(self.path("tmp"))
            .expect("tmp")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(tmp, Vec::<PathBuf>::new(), "{case}: temp files left");
        let bin = self.path("home/.local/bin");
        if bin.is_dir() {
            let staged: Vec<_> = fs_err::read_dir(&bin)
                .expect("bin")
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.to_string_lossy().contains(".coder-convex.new."))
                .collect();
            assert_eq!(staged, Vec::<PathBuf>::new(), "{case}: staged binary left");
        }
    }
}

fn finish(mut cmd: Command) -> Output {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("run install.sh");
    let start = Instant::now();
    while child.try_wait().expect("try_wait").is_none() {
        if start.elapsed() > HANG_BOUND {
            let _ = Command::new("kill")
                .args(["-s", "KILL", "--"])
                .arg(format!("-{}", child.id()))
                .status();
            let out = child.wait_with_output().expect("wait");
            panic!(
                "install.sh still running after {HANG_BOUND:?}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().expect("wait")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_registry_that_goes_quiet_fails_within_the_bound_with_curl_and_with_wget() {
    let quiet = Server::start(true);
    for (without, shell) in [
        ("wget", &["sh"][..]),
        ("curl", &["sh"][..]),
        ("wget", &["busybox", "sh"][..]),
        ("curl", &["bash"][..]),
    ] {
        let run = Run::new(&[without]);
        let out = run.run(shell, &quiet.url());
        let case = format!("without {without}, {shell:?}");
        assert_eq!(out.status.code(), Some(1), "{case}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(&format!("error: {PACKAGE}@{VERSION} is not available")),
            "{case}: {}",
            stderr(&out)
        );
        assert!(!run.installed().exists(), "{case}");
        run.assert_clean(&case);
    }
}

#[test]
fn installs_the_verified_regular_file_under_every_shell() {
    let server = Server::start(false);
    server.publish(&good_package());
    for shell in SHELLS {
        let run = Run::new(&[]);
        let out = run.run(shell, &server.url());
        assert_eq!(out.status.code(), Some(0), "{shell:?}: {}", stderr(&out));
        let text = fs_err::read_to_string(run.installed()).expect("installed");
        assert!(text.contains("# good"), "{shell:?}");
        run.assert_clean(&format!("{shell:?}"));
    }
}

/// A `bin/coder-convex` that is a symlink (to a file outside the archive) or a hard link is
/// refused, and nothing is installed.
#[test]
fn a_link_in_the_tarball_is_refused() {
    let outside = tempfile::tempdir().expect("temp dir");
    let evil = outside.path().join("evil");
    write_exec(&evil, &fake_binary("evil"));

    let dir = tempfile::tempdir().expect("temp dir");
    fs_err::create_dir_all(dir.path().join("package/bin")).expect("mkdir");
    std::os::unix::fs::symlink(&evil, dir.path().join("package/bin/coder-convex"))
        .expect("symlink");
    let symlinked = tar(dir.path(), &["package"]);

    let dir = tempfile::tempdir().expect("temp dir");
    write_exec(&dir.path().join("package/other"), &fake_binary("other"));
    fs_err::create_dir_all(dir.path().join("package/bin")).expect("mkdir");
    fs_err::hard_link(
        dir.path().join("package/other"),
        dir.path().join("package/bin/coder-convex"),
    )
    .expect("hard link");
    let hard_linked = tar(dir.path(), &["package/other", "package/bin/coder-convex"]);

    let dir = tempfile::tempdir().expect("temp dir");
    write_exec(
        &outside.path().join("bin/coder-convex"),
        &fake_binary("evil"),
    );
    fs_err::create_dir_all(dir.path().join("package")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path().join("bin"), dir.path().join("package/bin"))
        .expect("symlink");
    let symlinked_dir = tar(dir.path(), &["package"]);

    for (what, tgz, says) in [
        ("symlink", symlinked, "is not a regular file"),
        ("hard link", hard_linked, "is a hard link"),
        ("symlinked bin/", symlinked_dir, "package/bin in"),
    ] {
        let server = Server::start(false);
        server.publish(&tgz);
        for shell in SHELLS {
            let run = Run::new(&[]);
            let out = run.run(shell, &server.url());
            let case = format!("{what}, {shell:?}");
            assert_eq!(out.status.code(), Some(1), "{case}: {}", stderr(&out));
            assert!(stderr(&out).contains(says), "{case}: {}", stderr(&out));
            assert!(
                stderr(&out).contains("nothing was installed"),
                "{case}: {}",
                stderr(&out)
            );
            assert!(!run.installed().exists(), "{case}");
            run.assert_clean(&case);
        }
    }
}

#[test]
fn an_install_target_that_is_a_directory_fails_clearly() {
    let server = Server::start(false);
    server.publish(&good_package());
    for shell in SHELLS {
        let run = Run::new(&[]);
        fs_err::create_dir_all(run.installed()).expect("mkdir");
        for _ in 0..2 {
            let out = run.run(shell, &server.url());
            assert_eq!(out.status.code(), Some(1), "{shell:?}: {}", stderr(&out));
            let err = stderr(&out);
            assert!(
                err.contains("is a directory, not a file"),
                "{shell:?}: {err}"
            );
            assert!(err.contains("hint: remove it"), "{shell:?}: {err}");
        }
        let inside: Vec<_> = fs_err::read_dir(run.installed())
            .expect("the directory")
            .collect();
        assert!(inside.is_empty(), "{shell:?}: something was moved inside");
        run.assert_clean(&format!("{shell:?}"));
    }
}

/// In a mount namespace of its own (root in the test machine; `unshare` from util-linux): the
/// install directory bind-mounted read-only, or /usr/lib (where /lib points) overlaid with a
/// musl loader, as Debian's `musl` package installs it.
fn in_namespace(setup: &str, cmd: &Command) -> Command {
    let mut wrapped = Command::new(crate::common::require("unshare"));
    let mut line = format!("{setup}\nexec");
    line.push_str(&format!(" '{}'", cmd.get_program().to_string_lossy()));
    for arg in cmd.get_args() {
        line.push_str(&format!(" '{}'", arg.to_string_lossy()));
    }
    wrapped.args(["-m", "sh", "-ec", &line]).env_clear();
    for (key, value) in cmd.get_envs() {
        if let Some(value) = value {
            wrapped.env(key, value);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    wrapped.stdin(Stdio::null());
    wrapped
}

#[test]
fn a_read_only_install_directory_fails_with_a_hint() {
    let server = Server::start(false);
    server.publish(&good_package());
    for shell in SHELLS {
        let run = Run::new(&[]);
        let bin = run.path("home/.local/bin");
        fs_err::create_dir_all(&bin).expect("mkdir");
        let setup = format!(
            "mount --bind '{0}' '{0}'\nmount -o remount,ro,bind '{0}'",
            bin.display()
        );
        let cmd = run.command(shell, &server.url());
        let out = finish(in_namespace(&setup, &cmd));
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{shell:?}: {err}");
        assert!(
            err.contains(&format!("cannot write to {}", bin.display())),
            "{shell:?}: {err}"
        );
        assert!(
            err.contains("hint: set CODER_CONVEX_INSTALL_DIR"),
            "{shell:?}: {err}"
        );
        assert!(!err.contains("cp:"), "{shell:?}: a raw cp error: {err}");
        run.assert_clean(&format!("{shell:?}"));
    }
}

#[test]
fn a_glibc_system_with_the_musl_package_installed_gets_the_glibc_binary() {
    let server = Server::start(false);
    server.publish(&good_package());
    let arch = std::env::consts::ARCH;
    let overlay = tempfile::tempdir().expect("temp dir");
    let setup = format!(
        "mount -t tmpfs none '{0}'\nmkdir '{0}/upper' '{0}/work'\n\
         : >'{0}/upper/ld-musl-{arch}.so.1'\n\
         mount -t overlay overlay -o 'lowerdir=/usr/lib,upperdir={0}/upper,workdir={0}/work' /usr/lib\n\
         test -e /lib/ld-musl-{arch}.so.1",
        overlay.path().display()
    );
    for shell in SHELLS {
        let run = Run::new(&[]);
        let out = finish(in_namespace(&setup, &run.command(shell, &server.url())));
        assert_eq!(out.status.code(), Some(0), "{shell:?}: {}", stderr(&out));
        assert!(run.installed().is_file(), "{shell:?}");
    }

    // And it does ask the system: a system whose getconf knows no glibc and whose ldd says musl
    // is musl (what Alpine's say), with or without the loader.
    for shell in SHELLS {
        let run = Run::new(&["getconf", "ldd"]);
        write_exec(&run.path("tools/getconf"), "#!/bin/sh\nexit 1\n");
        write_exec(
            &run.path("tools/ldd"),
            "#!/bin/sh\necho 'musl libc (x86_64)' >&2\nexit 1\n",
        );
        let out = run.run(shell, &server.url());
        assert_eq!(out.status.code(), Some(1), "{shell:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("this system's C library is musl"),
            "{shell:?}: {}",
            stderr(&out)
        );
    }
}

/// SIGTERM or SIGINT to the process group while the new binary is being checked (staged in
/// the install directory): the staged file and the temp directory are removed.
#[test]
fn an_interrupt_leaves_no_staged_binary_or_temp_dir() {
    let server = Server::start(false);
    server.publish(&good_package());
    for shell in SHELLS {
        for signal in ["TERM", "INT"] {
            let run = Run::new(&[]);
            let hang = run.path("hanging");
            let mut cmd = run.command(shell, &server.url());
            cmd.env("HANG_ON_VERSION", &hang)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .process_group(0);
            let mut child = cmd.spawn().expect("run install.sh");
            let start = Instant::now();
            while !hang.exists() {
                assert!(
                    start.elapsed() < HANG_BOUND,
                    "{shell:?}: never got to the check"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
            // To the process group, as a terminal's Ctrl-C or a supervisor's stop would.
            let status = Command::new("kill")
                .args(["-s", signal, "--"])
                .arg(format!("-{}", child.id()))
                .status()
                .expect("kill");
            assert!(status.success());
            let start = Instant::now();
            while child.try_wait().expect("try_wait").is_none() {
                assert!(start.elapsed() < HANG_BOUND, "{shell:?}: did not stop");
                std::thread::sleep(Duration::from_millis(20));
            }
            let case = format!("{shell:?}, SIG{signal}");
            let out = child.wait_with_output().expect("wait");
            assert!(!run.installed().exists(), "{case}: {}", stderr(&out));
            run.assert_clean(&case);
        }
    }
}

/// A registry URL whose password holds a raw `@` (and a `?`): neither half of it is logged.
#[test]
fn a_password_with_a_raw_at_sign_is_never_logged() {
    let server = Server::start(false);
    server.publish(&good_package());
    let registry = format!("http://alice:p@ss?w0rd@127.0.0.1:{}", server.port);
    for shell in SHELLS {
        let run = Run::new(&[]);
        let out = run.run(shell, &registry);
        let err = stderr(&out);
        assert!(
            err.contains(&format!(
                "from the npm registry http://127.0.0.1:{}\n",
                server.port
            )),
            "{shell:?}: {err}"
        );
        for secret in ["alice", "p@ss", "ss?w0rd", "w0rd"] {
            assert!(!err.contains(secret), "{shell:?}: {secret} in {err}");
        }
    }
}
