//! The Convex module's process mode end to end: its start script, rendered as `templatefile`
//! renders it, runs the real `coder-convex` (`skip_install`) against a release mirror on
//! 127.0.0.1 (`download_base_url`) with the module's `backend_checksums`; the archive's
//! stand-in backend takes the upstream binary's arguments. The backend comes up supervised and
//! set up, a second start downloads nothing, and the module's stop script stops it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use coder_convex::process::release;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::common::{CODER_ENV, free_port, run_in, show, wait_until};
use crate::release_mirror::{Mirror, release_zip};
use crate::templates::{Template, b64, module_dir, render_start};

/// Kills a supervisor and backend left behind by a failing test.
struct Leftovers(PathBuf);

impl Drop for Leftovers {
    fn drop(&mut self) {
        fn pids(dir: &Path, out: &mut Vec<String>) {
            for entry in fs_err::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    pids(&path, out);
                } else if path
                    .file_name()
                    .is_some_and(|n| n == "supervisor.pid" || n == "backend.pid")
                    && let Ok(pid) = fs_err::read_to_string(&path)
                {
                    out.push(pid.trim().to_owned());
                }
            }
        }
        let mut found = Vec::new();
        pids(&self.0, &mut found);
        for pid in found {
            let _ = Command::new("kill").args(["-9", &pid]).status();
        }
    }
}

#[test]
fn process_mode_downloads_starts_sets_up_and_stops_the_backend() {
    let mirror = Mirror::start();
    let target = release::target(std::env::consts::OS, std::env::consts::ARCH).expect("a target");
    let archive = release::archive_name(target);
    let zip = release_zip("module");
    let checksums = format!("{}  {archive}", hex::encode(Sha256::digest(&zip)));
    mirror.put(&format!("{}/{archive}", release::TAG), zip);

    let home = tempfile::tempdir().expect("temp dir");
    let state = tempfile::tempdir().expect("temp dir");
    let project = home.path().join("project");
    let _leftovers = Leftovers(home.path().join(".local/share/coder-convex"));
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_coder-convex"));
    let path = format!(
        "{}:{}",
        bin.parent().expect("a directory").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (api, site) = (free_port(), free_port());
    // What the agent gives the script: the module's coder_env, the workspace's Coder variables,
    // and (for this test) the stand-in's state and loopback ports of its own.
    let mut env: Vec<(String, String)> = vec![
        ("PATH".into(), path),
        ("HOME".into(), home.path().display().to_string()),
        ("TMPDIR".into(), home.path().display().to_string()),
        (
            "CODER_CONVEX_PROJECT_DIR".into(),
            project.display().to_string(),
        ),
        (
            "CODER_CONVEX_VERSION".into(),
            env!("CARGO_PKG_VERSION").into(),
        ),
        ("CODER_CONVEX_DASHBOARD_LOGIN".into(), "false".into()),
        (
            "CODER_CONVEX_DOWNLOAD_BASE_URL".into(),
            mirror.base_url.clone(),
        ),
        ("STAND_IN_STATE".into(), state.path().display().to_string()),
        (
            "STAND_IN_EXE".into(),
            std::env::current_exe()
                .expect("the test binary")
                .display()
                .to_string(),
        ),
        (
            "CODER_CONVEX_BACKEND_URL".into(),
            format!("http://127.0.0.1:{api}"),
        ),
        (
            "CODER_CONVEX_SITE_PROXY_URL".into(),
            format!("http://127.0.0.1:{site}"),
        ),
        ("CODER_CONVEX_WAIT".into(), "60".into()),
    ];
    env.extend(
        CODER_ENV
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );

    let start = render_start(
        &Template::load_dir(&module_dir()),
        &[
            ("MODE", "process".to_owned()),
            ("SKIP_INSTALL", "true".to_owned()),
            (
                "INSTALL_SH",
                b64("echo 'not with skip_install' >&2; exit 1\n"),
            ),
            ("PRE_SETUP_SCRIPT", b64("")),
            ("POST_SETUP_SCRIPT", b64("")),
            ("BACKEND_CHECKSUMS", b64(&checksums)),
        ],
    );
    let stop = fs_err::read_to_string(module_dir().join("scripts/stop.sh")).expect("stop.sh");
    let run = |script: &str| -> Output {
        Command::new("sh")
            .args(["-c", script, "agent"])
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(home.path())
            .stdin(Stdio::null())
            .output()
            .expect("run the script")
    };
    let status = || -> Value {
        // run_in sets PATH and HOME; HOME here is the workspace's, not the project.
        let envs: Vec<(&str, &str)> = env
            .iter()
            .filter(|(k, _)| k != "PATH")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let out = run_in(&project, &["--json", "status"], &envs);
        serde_json::from_str(&out.stdout()).unwrap_or_else(|e| panic!("{e}: {}", out.all()))
    };

    // First start: downloaded (the checksum from the module), started, set up.
    let out = run(&start);
    let text = show(&out);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(
            "running coder-convex up --backend process in {}",
            project.display()
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("downloaded convex-local-backend {}", release::TAG)),
        "{text}"
    );
    assert_eq!(mirror.hits(), 1, "the archive, once");
    let sums = home.path().join(".config/coder-convex/backend.sha256");
    assert_eq!(
        fs_err::read_to_string(&sums).expect("the checksum file"),
        format!("{checksums}\n")
    );
    let status_now = status();
    assert_eq!(status_now["process"]["running"], true, "{status_now}");
    assert_eq!(status_now["admin_key_accepted"], true, "{status_now}");
    let argv = fs_err::read_dir(state.path())
        .expect("the stand-in's state")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("argv-"))
        .count();
    assert_eq!(argv, 1, "one backend start");
    // No dashboard in this mode, so no admin key for one (the module's
    // CODER_CONVEX_DASHBOARD_LOGIN is false here).
    let env_file = fs_err::read_to_string(project.join(".env.convex.local")).expect("env file");
    assert!(env_file.contains("INSTANCE_NAME="), "{env_file}");
    assert!(!env_file.contains("NEXT_PUBLIC_ADMIN_KEY"), "{env_file}");

    // The workspace stops: the stop script stops the supervisor and the backend.
    let out = run(&stop);
    assert!(out.status.success(), "{}", show(&out));
    wait_until("the backend process stops", || {
        status()["process"]["running"] == false
    });

    // The next start: from the cache, nothing downloaded; the backend runs again.
    let out = run(&start);
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(mirror.hits(), 1, "a cache hit");
    assert!(!show(&out).contains("downloaded convex-local-backend"));
    let status_now = status();
    assert_eq!(status_now["process"]["running"], true, "{status_now}");
    let out = run(&stop);
    assert!(out.status.success(), "{}", show(&out));
}

/// The READMEs say process mode has no dashboard and that `npx convex dashboard` does not stand
/// in for one: the real Convex CLI refuses self-hosted deployments.
#[test]
fn the_convex_cli_opens_no_dashboard_for_a_self_hosted_deployment() {
    let peers = crate::common::node_peers();
    let dir = tempfile::tempdir().expect("temp dir");
    fs_err::write(dir.path().join("package.json"), "{}\n").expect("write");
    fs_err::write(
        dir.path().join(".env.local"),
        "CONVEX_SELF_HOSTED_URL=http://127.0.0.1:9\nCONVEX_SELF_HOSTED_ADMIN_KEY=convex-self-hosted|00\n",
    )
    .expect("write");
    let out = Command::new(crate::common::require("node"))
        .arg(peers.join("node_modules/convex/bin/main.js"))
        .args(["dashboard", "--no-open"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", dir.path())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run the convex CLI");
    let text = show(&out);
    assert!(
        text.contains("`npx convex dashboard` is not supported for self-hosted deployments."),
        "{text}"
    );
    for readme in ["README.md", "coder-module/README.md"] {
        let path = crate::templates::repo_root().join(readme);
        let text = fs_err::read_to_string(&path).expect("read");
        let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            flat.contains("CLI does not open self-hosted deployments"),
            "{readme}"
        );
    }
}
