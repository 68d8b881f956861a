//! The npm packages as the tests build and publish them: the packages built once per run,
//! a shared verdaccio registry, a sample project that installs them.

use crate::registry::{Registry, npm_env, registry_tools, stderr_of};
use coder_convex::config::secrets::InstanceSecret;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

pub(crate) const VERSION: &str = env!("CARGO_PKG_VERSION");
pub(crate) const PLATFORM_PACKAGE: &str = "coder-convex-linux-x64";

pub(crate) fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The tarballs `scripts/package-npm.sh` wrote, built once per test run.
pub(crate) struct Packages {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) launcher: PathBuf,
    pub(crate) platform: PathBuf,
}

pub(crate) fn packages() -> &'static Packages {
    static PACKAGES: OnceLock<Packages> = OnceLock::new();
    PACKAGES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir");
        // The environment of an ordinary shell, not the one `cargo test` runs tests with (its
        // CARGO_*/RUSTUP_* variables and toolchain directory on PATH would make the nested
        // cargo rebuild the release binary from scratch on every test run).
        let path = std::env::var("PATH").unwrap_or_default();
        let path: Vec<&str> = path
            .split(':')
            .filter(|dir| !dir.contains("/.rustup/toolchains/"))
            .collect();
        let mut cmd = Command::new(repo_root().join("scripts/package-npm.sh"));
        cmd.env_clear().env("PATH", path.join(":"));
        for keep in [
            "HOME",
            "TMPDIR",
            "CARGO_HOME",
            "RUSTUP_HOME",
            "CARGO_TARGET_DIR",
        ] {
            if let Some(value) = std::env::var_os(keep) {
                cmd.env(keep, value);
            }
        }
        let out = cmd
            .arg(dir.path())
            .output()
            .expect("run scripts/package-npm.sh");
        assert!(
            out.status.success(),
            "package-npm.sh failed:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let listed: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            listed,
            [
                format!("coder-convex-{VERSION}.tgz"),
                format!("{PLATFORM_PACKAGE}-{VERSION}.tgz"),
            ],
            "one tarball per package, listed on stdout"
        );
        Packages {
            launcher: dir.path().join(&listed[0]),
            platform: dir.path().join(&listed[1]),
            _dir: dir,
        }
    })
}

pub(crate) fn tar_list(tgz: &Path) -> Vec<String> {
    let out = Command::new("tar")
        .arg("-tzf")
        .arg(tgz)
        .output()
        .expect("tar");
    assert!(out.status.success());
    let mut files: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    files.sort();
    files
}

pub(crate) fn tar_extract(tgz: &Path, member: &str, to: &Path) -> PathBuf {
    let status = Command::new("tar")
        .arg("-xzf")
        .arg(tgz)
        .arg("-C")
        .arg(to)
        .arg(member)
        .status()
        .expect("tar");
    assert!(status.success());
    to.join(member)
}

pub(crate) fn manifest(tgz: &Path) -> serde_json::Value {
    let out = Command::new("tar")
        .arg("-xzOf")
        .arg(tgz)
        .arg("package/package.json")
        .output()
        .expect("tar");
    serde_json::from_slice(&out.stdout).expect("package.json is JSON")
}

impl Registry {
    /// A registry with the packages published (platform package first, as a release would).
    pub(crate) fn with_packages() -> Self {
        let registry = Self::start();
        let pkgs = packages();
        for tgz in [&pkgs.platform, &pkgs.launcher] {
            registry.publish(tgz);
        }
        registry
    }
}

/// One registry with the packages, shared by the tests running at the same time and stopped
/// when the last of them is done.
pub(crate) fn shared_registry() -> Arc<Registry> {
    static SHARED: Mutex<Weak<Registry>> = Mutex::new(Weak::new());
    let mut shared = SHARED.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(registry) = shared.upgrade() {
        return registry;
    }
    let registry = Arc::new(Registry::with_packages());
    *shared = Arc::downgrade(&registry);
    registry
}

/// A fresh sample project with its own HOME, installed from the registry.
pub(crate) struct Sample {
    pub(crate) dir: tempfile::TempDir,
    pub(crate) home: tempfile::TempDir,
    pub(crate) registry: String,
}

impl Sample {
    pub(crate) fn new(registry: &Registry) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        fs_err::write(
            dir.path().join("package.json"),
            "{\"name\":\"sample\",\"version\":\"1.0.0\",\"private\":true}\n",
        )
        .expect("write package.json");
        Self {
            dir,
            home: tempfile::tempdir().expect("temp dir"),
            registry: registry.url(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(crate) fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = npm_env(Command::new(program), self.home.path(), &self.registry);
        cmd.current_dir(self.path());
        cmd
    }

    pub(crate) fn npm_install(&self, extra: &[&str]) {
        let out = self
            .command("npm")
            .args(["install", "-D", "coder-convex"])
            .args(extra)
            .output()
            .expect("npm install");
        assert!(out.status.success(), "npm install: {}", stderr_of(&out));
    }

    pub(crate) fn pnpm_add(&self) {
        let pnpm = registry_tools().join("node_modules/.bin/pnpm");
        let out = self
            .command(pnpm)
            .args(["add", "-D", "coder-convex", "--store-dir"])
            .arg(self.home.path().join("pnpm-store"))
            .output()
            .expect("pnpm add");
        assert!(out.status.success(), "pnpm add: {}", stderr_of(&out));
    }

    /// `node_modules/.bin/coder-convex`: what `npm run`/`pnpm run` scripts call.
    pub(crate) fn bin(&self) -> PathBuf {
        self.path().join("node_modules/.bin/coder-convex")
    }

    pub(crate) fn launcher(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        self.command(self.bin())
            .args(args)
            .envs(env.iter().copied())
            .output()
            .expect("run the launcher")
    }

    pub(crate) fn secret(&self) -> InstanceSecret {
        let values: BTreeMap<String, String> =
            dotenvy::from_path_iter(self.path().join(".env.convex.local"))
                .expect("open .env.convex.local")
                .map(|r| r.expect("parse"))
                .collect();
        InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).expect("a secret")
    }
}

pub(crate) fn wait_for(what: &str, ready: impl FnMut() -> bool) {
    crate::common::wait_within(what, Duration::from_secs(20), ready);
}

pub(crate) fn children_of(pid: u32) -> Vec<u32> {
    fs_err::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}
