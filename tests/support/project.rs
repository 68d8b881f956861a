//! A configured project against the fake backend: the binary run with the backend's URLs, a
//! doctor check looked up, and a fake package-manager launcher for deploys.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use coder_convex::config::secrets::InstanceSecret;

use crate::common::{Project, Run, command_in};
use crate::fake_backend::{FakeBackend, FakeConfig};

/// A configured project and the secret its backend must be started with.
pub(crate) fn configured() -> (Project, InstanceSecret) {
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    let secret =
        InstanceSecret::from_hex(&p.env_values(".env.convex.local")["INSTANCE_SECRET"]).unwrap();
    (p, secret)
}

pub(crate) fn fake_for(secret: &InstanceSecret) -> FakeConfig {
    FakeConfig::new("convex-self-hosted", secret.clone())
}

/// The internal URLs that point a run at `fake`.
pub(crate) fn backend_env(fake: &FakeBackend) -> Vec<(&'static str, String)> {
    vec![
        ("CODER_CONVEX_BACKEND_URL", fake.api_url.clone()),
        ("CODER_CONVEX_SITE_PROXY_URL", fake.site_url.clone()),
    ]
}

pub(crate) fn run_with(
    p: &Project,
    args: &[&str],
    fake: &FakeBackend,
    extra: &[(&str, &str)],
) -> Run {
    Run {
        output: command_with(p, args, fake, extra)
            .output()
            .expect("run coder-convex"),
    }
}

/// [`run_with`]'s command, to spawn (a run in the background).
pub(crate) fn command_with(
    p: &Project,
    args: &[&str],
    fake: &FakeBackend,
    extra: &[(&str, &str)],
) -> std::process::Command {
    let env = backend_env(fake);
    let mut all: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    all.extend_from_slice(extra);
    command_in(p.path(), args, &all)
}

/// The exit code of `doctor --json` and its check `name`.
pub(crate) fn doctor_check(
    p: &Project,
    fake: &FakeBackend,
    extra: &[(&str, &str)],
    name: &str,
) -> (i32, serde_json::Value) {
    let doctor = run_with(p, &["--json", "doctor"], fake, extra);
    let doc: serde_json::Value = serde_json::from_str(&doctor.stdout())
        .unwrap_or_else(|_| panic!("{}\n{}", doctor.stdout(), doctor.stderr()));
    let checks = doc["checks"].as_array().unwrap();
    let found = checks.iter().find(|c| c["name"] == name);
    let check = found
        .cloned()
        .unwrap_or_else(|| panic!("no check {name}: {checks:?}"));
    (doctor.code(), check)
}

/// A project with `convex/`, an installed `convex` package and a fake package-manager
/// launcher on PATH that records its argv and environment and exits with `$FAKE_EXIT`.
pub(crate) fn deployable(p: &Project, lock_file: Option<&str>) -> PathBuf {
    fs_err::create_dir_all(p.file("convex")).unwrap();
    fs_err::create_dir_all(p.file("node_modules/convex")).unwrap();
    p.write(
        "node_modules/convex/package.json",
        r#"{"name":"convex","version":"1.48.0"}"#,
    );
    if let Some(lock) = lock_file {
        p.write(lock, "");
    }
    let bin = p.file("fakebin");
    fs_err::create_dir_all(&bin).unwrap();
    let script = r#"#!/bin/sh
printf '%s\n' "$0" "$@" > "$PWD/argv.txt"
env > "$PWD/child-env.txt"
echo "✔ Deployed Convex functions to $CONVEX_SELF_HOSTED_URL"
echo "warning line on stderr" >&2
exit "${FAKE_EXIT:-0}"
"#;
    for name in ["npx", "pnpm", "yarn", "bunx"] {
        let path = bin.join(name);
        fs_err::write(&path, script).unwrap();
        fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    bin
}

pub(crate) fn path_with(bin: &Path) -> String {
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// The code the failing launcher of [`failing_deploy`] exits with.
pub(crate) const LAUNCHER_EXIT: i32 = 7;

/// `args` (a command that deploys) in a [`deployable`] project whose launcher exits with
/// [`LAUNCHER_EXIT`]: the run, checked to have exited 6 (the deploy failed).
#[track_caller]
pub(crate) fn failing_deploy(p: &Project, fake: &FakeBackend, args: &[&str]) -> Run {
    let path = path_with(&deployable(p, None));
    let code = LAUNCHER_EXIT.to_string();
    let run = run_with(p, args, fake, &[("PATH", &path), ("FAKE_EXIT", &code)]);
    assert_eq!(run.code(), 6, "{}", run.stderr());
    run
}
