//! The npm packages from `scripts/package-npm.sh`, published to a real registry (verdaccio on
//! 127.0.0.1, no uplinks) and installed with npm and pnpm into fresh projects with a clean
//! HOME and cache: the launcher runs the binary with its arguments, streams, exit code and
//! signals; a missing platform package is explained; `scripts/install.sh` installs from that
//! registry, verifies the integrity and refuses a tampered tarball. Also: the packaged binary's
//! glibc floor, the version kept in one place, and what `cargo package` ships.

use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::ExitStatusExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};

use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::registry::{Registry, registry_tools, stderr_of};

use crate::npm_packages::*;

fn version_line() -> String {
    format!("coder-convex {VERSION}\n")
}

/// `--version`, then `configure` and `setup` against the fake backend, through the launcher.
fn setup_works_through_the_launcher(sample: &Sample) {
    let out = sample.launcher(&["--version"], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), version_line());

    let out = sample.launcher(&["configure"], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let fake = FakeBackend::start(FakeConfig::new("convex-self-hosted", sample.secret()));
    let env = [
        ("CODER_CONVEX_BACKEND_URL", fake.api_url.as_str()),
        ("CODER_CONVEX_SITE_PROXY_URL", fake.site_url.as_str()),
    ];
    let out = sample.launcher(&["setup"], &env);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(fake.update_count(), 1, "one environment push");
    assert_eq!(fake.env()["JWT_ISSUER"], "http://127.0.0.1:3211");
}

#[test]
fn npm_packages_carry_the_crate_version_and_nothing_else() {
    let pkgs = packages();
    let launcher = manifest(&pkgs.launcher);
    assert_eq!(launcher["name"], "coder-convex");
    assert_eq!(launcher["version"], VERSION);
    assert_eq!(
        launcher["optionalDependencies"],
        serde_json::json!({ PLATFORM_PACKAGE: VERSION }),
        "exact-pinned, one per platform built here"
    );
    assert_eq!(
        launcher["bin"],
        serde_json::json!({"coder-convex": "bin/coder-convex.js"})
    );
    assert!(
        launcher.get("scripts").is_none(),
        "no install scripts: {launcher}"
    );
    assert!(launcher.get("dependencies").is_none());
    assert_eq!(
        tar_list(&pkgs.launcher),
        [
            "package/README.md",
            "package/bin/coder-convex.js",
            "package/package.json"
        ]
    );

    let platform = manifest(&pkgs.platform);
    assert_eq!(platform["name"], PLATFORM_PACKAGE);
    assert_eq!(platform["version"], VERSION);
    assert_eq!(platform["os"], serde_json::json!(["linux"]));
    assert_eq!(platform["cpu"], serde_json::json!(["x64"]));
    assert_eq!(platform["libc"], serde_json::json!(["glibc"]));
    assert!(platform.get("scripts").is_none());
    assert_eq!(
        tar_list(&pkgs.platform),
        [
            "package/README.md",
            "package/bin/coder-convex",
            "package/package.json"
        ]
    );
}

/// `GLIBC_2.17`-style version needs of a binary's dynamic symbols, from `objdump -T`.
fn glibc_versions(binary: &Path) -> Vec<(u32, u32, u32)> {
    let out = Command::new("objdump")
        .arg("-T")
        .arg(binary)
        .output()
        .expect("objdump (binutils) is needed");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    let mut versions: Vec<(u32, u32, u32)> = text
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')')
        .filter_map(|word| word.strip_prefix("GLIBC_"))
        .filter_map(|v| {
            let mut parts = v.split('.').map(|p| p.parse::<u32>().ok());
            Some((
                parts.next()??,
                parts.next()??,
                parts.next().flatten().unwrap_or(0),
            ))
        })
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

#[test]
fn packaged_linux_binary_needs_glibc_2_28_at_most() {
    let dir = tempfile::tempdir().expect("temp dir");
    let binary = tar_extract(&packages().platform, "package/bin/coder-convex", dir.path());
    let mode = fs_err::metadata(&binary)
        .expect("binary")
        .permissions()
        .mode();
    assert_eq!(mode & 0o111, 0o111, "executable in the tarball");

    let versions = glibc_versions(&binary);
    let highest = *versions.last().expect("a dynamically linked glibc binary");
    assert!(
        highest <= (2, 28, 0),
        "needs GLIBC_{}.{}.{}: {versions:?}",
        highest.0,
        highest.1,
        highest.2
    );
    eprintln!(
        "packaged binary: {} bytes, highest glibc symbol version GLIBC_{}.{}",
        fs_err::metadata(&binary).expect("binary").len(),
        highest.0,
        highest.1
    );
    // The check can fail: this machine's own build (glibc 2.36) needs newer symbols.
    assert!(
        glibc_versions(Path::new(env!("CARGO_BIN_EXE_coder-convex")))
            .last()
            .is_some_and(|v| *v > (2, 28, 0))
    );

    let out = Command::new(&binary)
        .arg("--version")
        .output()
        .expect("run it");
    assert_eq!(String::from_utf8_lossy(&out.stdout), version_line());
}

#[test]
fn npm_install_runs_the_binary_through_the_launcher() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&[]);
    assert!(
        sample
            .path()
            .join("node_modules")
            .join(PLATFORM_PACKAGE)
            .join("bin/coder-convex")
            .is_file()
    );
    let lock = fs_err::read_to_string(sample.path().join("package-lock.json")).expect("lock");
    assert!(lock.contains(&format!("\"node_modules/{PLATFORM_PACKAGE}\"")));

    let out = sample
        .command("npx")
        .args(["coder-convex", "--version"])
        .output()
        .expect("npx");
    assert!(out.status.success(), "{}", stderr_of(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), version_line());

    setup_works_through_the_launcher(&sample);

    // Exit codes pass through: 2 for bad input, 3 for a backend that never answers.
    let out = sample.launcher(&["configure"], &[("INSTANCE_SECRET", "not-hex")]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr_of(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("INSTANCE_SECRET"));
    let out = sample.launcher(
        &["setup", "--wait", "1"],
        &[("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")],
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr_of(&out));
}

#[test]
fn pnpm_add_installs_the_platform_package_without_running_scripts() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.pnpm_add();
    setup_works_through_the_launcher(&sample);
    let pnpm = registry_tools().join("node_modules/.bin/pnpm");
    let out = sample
        .command(pnpm)
        .args(["exec", "coder-convex", "--version"])
        .output()
        .expect("pnpm exec");
    assert_eq!(String::from_utf8_lossy(&out.stdout), version_line());
}

/// A stand-in binary for `CODER_CONVEX_BINARY`: records its arguments and stdin, then behaves
/// as the first argument says.
fn stand_in(dir: &Path) -> PathBuf {
    let path = dir.join("stand-in");
    fs_err::write(
        &path,
        "#!/bin/sh\n\
         for a in \"$@\"; do printf '[%s]\\n' \"$a\"; done\n\
         cat\n\
         printf 'to stderr\\n' >&2\n\
         case $1 in\n\
         exit) exit \"$2\" ;;\n\
         kill) kill -\"$2\" $$ ;;\n\
         wait) trap 'echo got-TERM >>\"$2\"; exit 42' TERM; echo $$ >\"$2\"; while :; do sleep 0.05; done ;;\n\
         esac\n",
    )
    .expect("write stand-in");
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn run_launcher_with(sample: &Sample, binary: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = sample
        .command(sample.bin())
        .args(args)
        .env("CODER_CONVEX_BINARY", binary)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the launcher");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("wait")
}

fn send(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .expect("kill");
    assert!(status.success());
}

fn alive(pid: u32) -> bool {
    fs_err::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

/// The lines a child writes to its piped stderr, collected as they come.
fn collect_stderr(child: &mut Child) -> Arc<Mutex<String>> {
    use std::io::BufRead as _;
    let seen = Arc::new(Mutex::new(String::new()));
    let stderr = child.stderr.take().expect("a piped stderr");
    let lines = Arc::clone(&seen);
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let mut all = lines.lock().unwrap_or_else(|e| e.into_inner());
            all.push_str(&line);
            all.push('\n');
        }
    });
    seen
}

/// SIGTERM to a running `setup --wait 60`, directly or through `child` (a launcher), once
/// `ready` says the binary has started waiting: the exit status, and whether the binary
/// itself was still running afterwards.
fn terminate_waiting_setup(
    mut child: Child,
    binary_pid: impl Fn(u32) -> Option<u32>,
    ready: impl Fn() -> bool,
) -> (ExitStatus, bool) {
    let launcher = child.id();
    let mut target = None;
    wait_for("the binary to start", || {
        target = binary_pid(launcher);
        target.is_some()
    });
    wait_for("the binary to say it is ready", &ready);
    send(launcher, "TERM");
    let status = child.wait().expect("wait");
    let target = target.expect("pid");
    (status, target != launcher && alive(target))
}

#[test]
fn launcher_passes_argv_streams_exit_codes_and_signals() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&[]);
    let tmp = tempfile::tempdir().expect("temp dir");
    let fake = stand_in(tmp.path());

    let out = run_launcher_with(
        &sample,
        &fake,
        &["exit", "7", "two words", ""],
        "from stdin\n",
    );
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "[exit]\n[7]\n[two words]\n[]\nfrom stdin\n"
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "to stderr\n");

    // The binary dies of a signal: so does the launcher.
    let out = run_launcher_with(&sample, &fake, &["kill", "TERM"], "");
    assert_eq!(out.status.signal(), Some(15), "{:?}", out.status);
    let out = run_launcher_with(&sample, &fake, &["kill", "HUP"], "");
    assert_eq!(out.status.signal(), Some(1), "{:?}", out.status);

    // SIGTERM to the launcher reaches the binary, which handles it; the launcher exits as it did.
    let record = tmp.path().join("record");
    let child = sample
        .command(sample.bin())
        .args(["wait"])
        .arg(&record)
        .env("CODER_CONVEX_BINARY", &fake)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("launcher");
    // The stand-in writes its pid once its trap is set.
    let pid_of = |_| {
        fs_err::read_to_string(&record)
            .ok()
            .and_then(|s| s.lines().next()?.parse().ok())
    };
    let (status, still_running) = terminate_waiting_setup(child, pid_of, || true);
    assert_eq!(status.code(), Some(42), "{status:?}");
    assert!(!still_running);
    assert_eq!(
        fs_err::read_to_string(&record)
            .expect("record")
            .lines()
            .nth(1),
        Some("got-TERM")
    );

    // The real binary, waiting for a backend: SIGTERM through the launcher ends it exactly as
    // SIGTERM ends it when run directly.
    let out = sample.launcher(&["configure"], &[]);
    assert!(out.status.success(), "{}", stderr_of(&out));
    let unreachable = [("CODER_CONVEX_BACKEND_URL", "http://127.0.0.1:9")];
    // Ready: it prints its first "waiting for the backend" line (no terminal) once it waits.
    let waiting = |seen: &Mutex<String>| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains("waiting for the backend")
    };
    let mut direct = Command::new(env!("CARGO_BIN_EXE_coder-convex"))
        .args(["setup", "--wait", "60"])
        .current_dir(sample.path())
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", sample.home.path())
        .envs(unreachable)
        .stderr(Stdio::piped())
        .spawn()
        .expect("binary");
    let seen = collect_stderr(&mut direct);
    let (direct_status, _) = terminate_waiting_setup(direct, Some, || waiting(&seen));
    let mut through = sample
        .command(sample.bin())
        .args(["setup", "--wait", "60"])
        .envs(unreachable)
        .stderr(Stdio::piped())
        .spawn()
        .expect("launcher");
    let seen = collect_stderr(&mut through);
    let (status, still_running) = terminate_waiting_setup(
        through,
        |pid| children_of(pid).first().copied(),
        || waiting(&seen),
    );
    assert_eq!(
        (status.code(), status.signal()),
        (direct_status.code(), direct_status.signal()),
        "the launcher exits as the binary does"
    );
    assert!(!still_running, "the binary got the signal and stopped");
}

#[test]
fn a_missing_platform_package_is_named_with_the_fix() {
    let registry = shared_registry();
    let sample = Sample::new(&registry);
    sample.npm_install(&["--omit=optional"]);
    assert!(
        !sample
            .path()
            .join("node_modules")
            .join(PLATFORM_PACKAGE)
            .exists()
    );
    let out = sample.launcher(&["--version"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "the platform package {PLATFORM_PACKAGE}@{VERSION} is not installed"
        )),
        "{err}"
    );
    assert!(err.contains("npm/cli/issues/4828"), "{err}");
    assert!(
        err.contains("rm -rf node_modules package-lock.json && npm install"),
        "{err}"
    );
    assert!(err.contains("npm install --include=optional"), "{err}");
    assert!(err.contains("CODER_CONVEX_BINARY"), "{err}");

    // The fix it names works.
    sample.npm_install(&["--include=optional"]);
    let out = sample.launcher(&["--version"], &[]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), version_line());
}

/// `sh scripts/install.sh` with a clean HOME, npm configured for `registry`, and a PATH of
/// system tools and node only (no coder-convex on it).
fn install_sh(registry: &Registry, home: &Path, args: &[&str]) -> Output {
    let node_dir = Command::new("sh")
        .args(["-c", "dirname \"$(command -v npm)\""])
        .output()
        .expect("find npm");
    let node_dir = String::from_utf8_lossy(&node_dir.stdout).trim().to_owned();
    Command::new("sh")
        .arg(repo_root().join("scripts/install.sh"))
        .args(args)
        .env_clear()
        .env("PATH", format!("{node_dir}:/usr/local/bin:/usr/bin:/bin"))
        .env("HOME", home)
        .env("npm_config_registry", registry.url())
        .env("npm_config_cache", home.join(".npm"))
        .current_dir(home)
        .output()
        .expect("run install.sh")
}

#[test]
fn install_sh_installs_from_the_npm_registry_verified_and_once() {
    let registry = shared_registry();
    let home = tempfile::tempdir().expect("temp dir");
    let installed = home.path().join(".local/bin/coder-convex");

    let out = install_sh(&registry, home.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "installing {PLATFORM_PACKAGE}@{VERSION} from the npm registry http://127.0.0.1:{}",
            registry.port
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!(
            "verified {PLATFORM_PACKAGE}-{VERSION}.tgz against the registry's sha512 integrity"
        )),
        "{err}"
    );
    let run = Command::new(&installed)
        .arg("--version")
        .output()
        .expect("run");
    assert_eq!(String::from_utf8_lossy(&run.stdout), version_line());
    let before = fs_err::metadata(&installed)
        .expect("installed")
        .modified()
        .expect("mtime");

    let out = install_sh(&registry, home.path(), &[]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr_of(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        format!(
            "install: coder-convex {VERSION} is already installed ({}); nothing to do\n",
            installed.display()
        )
    );
    let after = fs_err::metadata(&installed)
        .expect("installed")
        .modified()
        .expect("mtime");
    assert_eq!(before, after, "not replaced");

    // A version the registry does not have: a clear error, the installed binary untouched.
    let out = install_sh(&registry, home.path(), &["--version", "9.9.9"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "error: {PLATFORM_PACKAGE}@9.9.9 is not available from http://127.0.0.1:{}",
            registry.port
        )),
        "{err}"
    );
    assert!(err.contains("hint: check the version (--version)"), "{err}");
}

#[test]
fn install_sh_refuses_a_tampered_tarball() {
    // A registry of its own: the tarball it stores is replaced behind its back by one that
    // would otherwise install fine (a script that claims to be the right version).
    let registry = Registry::with_packages();
    let evil = tempfile::tempdir().expect("temp dir");
    fs_err::create_dir_all(evil.path().join("package/bin")).expect("mkdir");
    let fake = evil.path().join("package/bin/coder-convex");
    fs_err::write(&fake, format!("#!/bin/sh\necho 'coder-convex {VERSION}'\n")).expect("write");
    fs_err::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let stored = registry
        .storage
        .join(PLATFORM_PACKAGE)
        .join(format!("{PLATFORM_PACKAGE}-{VERSION}.tgz"));
    assert!(stored.is_file(), "verdaccio stores {}", stored.display());
    let status = Command::new("tar")
        .arg("-czf")
        .arg(&stored)
        .arg("-C")
        .arg(evil.path())
        .arg("package")
        .status()
        .expect("tar");
    assert!(status.success());

    let home = tempfile::tempdir().expect("temp dir");
    let out = install_sh(&registry, home.path(), &[]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr_of(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("error: integrity check failed for"), "{err}");
    assert!(err.contains("nothing was installed"), "{err}");
    assert!(!home.path().join(".local/bin/coder-convex").exists());
}

#[test]
fn the_version_is_the_crate_version_everywhere() {
    let install = fs_err::read_to_string(repo_root().join("scripts/install.sh")).expect("read");
    assert!(
        install
            .lines()
            .any(|l| l == format!("pinned_version={VERSION}")),
        "scripts/install.sh pins another version"
    );
    let variables = hcl::parse(
        &fs_err::read_to_string(repo_root().join("coder-template/variables.tf")).expect("read"),
    )
    .expect("variables.tf parses");
    let default = variables
        .blocks()
        .find(|b| {
            b.identifier() == "variable"
                && b.labels().first().map(|l| l.as_str()) == Some("coder_convex_version")
        })
        .and_then(|b| b.body().attributes().find(|a| a.key() == "default"))
        .map(|a| a.expr().to_string());
    assert_eq!(default, Some(format!("\"{VERSION}\"")));
}

#[test]
fn crate_package_ships_sources_only() {
    // The file list only: uncommitted work in a checkout must not fail it (.ci/run runs the
    // strict `cargo package --locked` on a clean clone).
    let out = Command::new(env!("CARGO"))
        .args(["package", "--locked", "--list", "--allow-dirty"])
        .current_dir(repo_root())
        .output()
        .expect("cargo package --list");
    assert!(out.status.success(), "{}", stderr_of(&out));
    let files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    for file in &files {
        assert!(
            file.starts_with("src/")
                || [
                    ".cargo_vcs_info.json",
                    "Cargo.lock",
                    "Cargo.toml",
                    "Cargo.toml.orig",
                    "README.md",
                    "clippy.toml"
                ]
                .contains(&file.as_str()),
            "{file} would be published"
        );
    }
    // The embedded compose file too: `include_str!` needs it to build.
    for needed in [
        "src/main.rs",
        "src/lib.rs",
        "src/containers/compose/docker-compose.yml",
        "Cargo.lock",
        "README.md",
    ] {
        assert!(
            files.iter().any(|f| f == needed),
            "{needed} is missing: {files:?}"
        );
    }
}
