//! `up`, `down`, `logs` and the containers in `status`, against a stand-in `docker` on `PATH`
//! (`stand_in_docker.sh`: records argv and environment, answers like Compose v2, and starts
//! the stand-in backend on `compose up`). No Docker engine runs here.

use std::path::{Path, PathBuf};

use coder_convex::containers::compose::{FILE, IMAGE_TAG};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::common::{CODER_ENV, Project, Run};
use crate::fake_backend::{FakeBackend, FakeConfig};

/// The stand-in backend *process* the stand-in `docker` starts (`STAND_IN_BACKEND=1`),
/// serving on the ports compose was handed with the instance name, secret and origins of
/// `.env.convex.local`. In a normal test run it checks that process: started the way the
/// stand-in `docker` starts it, with a configured project's settings, it is the backend that
/// project's `setup` accepts (its instance name, admin key and canonical URLs).
#[test]
fn stand_in_backend() {
    if std::env::var_os("STAND_IN_BACKEND").is_some() {
        serve_as_the_stand_in_backend();
    }
    let p = Project::new();
    p.run(&["configure"], &[]).ok();
    let settings = p.env_values(".env.convex.local");
    let (api, site) = (crate::common::free_port(), crate::common::free_port());
    let mut backend = std::process::Command::new(std::env::current_exe().unwrap());
    backend
        .args([
            "--exact",
            "up::stand_in_backend",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("STAND_IN_BACKEND", "1")
        .env("CODER_CONVEX_API_PORT", api.to_string())
        .env("CODER_CONVEX_SITE_PORT", site.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    for name in [
        "INSTANCE_NAME",
        "INSTANCE_SECRET",
        "CONVEX_CLOUD_ORIGIN",
        "CONVEX_SITE_ORIGIN",
    ] {
        backend.env(name, &settings[name]);
    }
    let backend = Stopped(backend.spawn().expect("start the stand-in backend"));
    let api_url = format!("http://127.0.0.1:{api}");
    let site_url = format!("http://127.0.0.1:{site}");
    let run = p.run(
        &["--json", "setup", "--no-deploy", "--wait", "30"],
        &[
            ("CODER_CONVEX_BACKEND_URL", &api_url),
            ("CODER_CONVEX_SITE_PROXY_URL", &site_url),
        ],
    );
    let report = run.json();
    assert_eq!(report["ok"], true, "{}", run.stderr());
    assert_eq!(report["canonical_urls_updated"], false, "{report}");
    let status = p
        .run(
            &["--json", "status"],
            &[
                ("CODER_CONVEX_BACKEND_URL", &api_url),
                ("CODER_CONVEX_SITE_PROXY_URL", &site_url),
            ],
        )
        .json();
    assert_eq!(
        status["backend"]["instance_name"],
        settings["INSTANCE_NAME"]
    );
    assert_eq!(status["admin_key_accepted"], true, "{status}");
    assert_eq!(status["canonical_urls_match"], true, "{status}");
    assert_eq!(status["env_in_sync"], true, "{status}");
    drop(backend);
}

/// Serve as the stand-in backend until killed.
fn serve_as_the_stand_in_backend() -> ! {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let port = |name: &str| var(name).parse::<u16>().expect("a port");
    let secret = coder_convex::config::secrets::InstanceSecret::from_hex(&var("INSTANCE_SECRET"))
        .expect("a valid secret");
    let mut config = FakeConfig::new(&var("INSTANCE_NAME"), secret);
    config.cloud_origin = var("CONVEX_CLOUD_ORIGIN");
    config.site_origin = var("CONVEX_SITE_ORIGIN");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    // Serves until the process is killed: the future never completes.
    match runtime.block_on(async {
        let _fake = FakeBackend::spawn_on(
            config,
            port("CODER_CONVEX_API_PORT"),
            port("CODER_CONVEX_SITE_PORT"),
        )
        .await;
        std::future::pending::<std::convert::Infallible>().await
    }) {}
}

/// A child process killed when dropped (a failing test included).
struct Stopped(std::process::Child);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A stand-in `docker` (or `podman`) with its state directory; stops the stand-in backend
/// it started when dropped.
struct Docker {
    bin: tempfile::TempDir,
    state: tempfile::TempDir,
    cache: tempfile::TempDir,
    ports: [u16; 3],
}

impl Docker {
    fn new() -> Self {
        Self::named("docker")
    }

    fn named(program: &str) -> Self {
        let bin = tempfile::tempdir().unwrap();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/stand_in_docker.sh");
        fs_err::copy(script, bin.path().join(program)).unwrap();
        Self {
            bin,
            state: tempfile::tempdir().unwrap(),
            cache: tempfile::tempdir().unwrap(),
            ports: [
                crate::common::free_port(),
                crate::common::free_port(),
                crate::common::free_port(),
            ],
        }
    }

    /// The environment of a run: the stand-in first on PATH, the internal URLs on its ports.
    fn env(&self) -> Vec<(String, String)> {
        let path = format!(
            "{}:{}",
            self.bin.path().display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let [api, site, dashboard] = self.ports;
        vec![
            ("PATH".into(), path),
            (
                "XDG_CACHE_HOME".into(),
                self.cache.path().display().to_string(),
            ),
            (
                "STAND_IN_STATE".into(),
                self.state.path().display().to_string(),
            ),
            (
                "STAND_IN_EXE".into(),
                std::env::current_exe().unwrap().display().to_string(),
            ),
            (
                "CODER_CONVEX_BACKEND_URL".into(),
                format!("http://127.0.0.1:{api}"),
            ),
            (
                "CODER_CONVEX_SITE_PROXY_URL".into(),
                format!("http://127.0.0.1:{site}"),
            ),
            (
                "CODER_CONVEX_DASHBOARD_INTERNAL_URL".into(),
                format!("http://127.0.0.1:{dashboard}"),
            ),
            ("CODER_CONVEX_WAIT".into(), "30".into()),
        ]
    }

    fn run(&self, p: &Project, args: &[&str], extra: &[(&str, &str)]) -> Run {
        let mut env = self.env();
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        p.run(args, &env)
    }

    /// argv of every call, in order.
    fn calls(&self) -> Vec<Vec<String>> {
        let count: usize = fs_err::read_to_string(self.state.path().join("count"))
            .map_or(0, |c| c.trim().parse().unwrap());
        (1..=count)
            .map(|n| {
                fs_err::read_to_string(self.state.path().join(format!("call-{n}.argv")))
                    .unwrap()
                    .lines()
                    .map(str::to_owned)
                    .collect()
            })
            .collect()
    }

    /// The environment of call `n` (1-based), `NAME=value` lines.
    fn call_env(&self, n: usize) -> String {
        fs_err::read_to_string(self.state.path().join(format!("call-{n}.env"))).unwrap()
    }

    fn events(&self) -> Vec<String> {
        fs_err::read_to_string(self.state.path().join("events"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        let pid = fs_err::read_to_string(self.state.path().join("backend.pid"));
        if let Ok(pid) = pid.map(|p| p.trim().parse::<i32>()).unwrap_or(Ok(0))
            && pid > 0
        {
            let pid = nix::unistd::Pid::from_raw(pid);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }
}

/// The compose project name, computed here independently of the binary.
fn project_name(p: &Project) -> String {
    let dir = fs_err::canonicalize(p.path()).unwrap();
    let base: String = dir
        .file_name()
        .unwrap()
        .to_string_lossy()
        .to_lowercase()
        .trim_start_matches('.')
        .to_owned();
    let hash = hex::encode(Sha256::digest(dir.as_os_str().as_encoded_bytes()));
    format!("{base}-convex-{}", &hash[..8])
}

fn compose_prefix(docker: &Docker, p: &Project) -> (String, PathBuf) {
    let name = project_name(p);
    let file = docker
        .cache
        .path()
        .join("coder-convex")
        .join(&name)
        .join("docker-compose.yml");
    (name, file)
}

fn argv(name: &str, file: &Path, tail: &[&str]) -> Vec<String> {
    [
        "compose",
        "--project-name",
        name,
        "--file",
        &file.display().to_string(),
    ]
    .iter()
    .chain(tail)
    .map(|s| (*s).to_owned())
    .collect()
}

fn env_line(env: &str, name: &str) -> Option<String> {
    env.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")).map(str::to_owned))
}

fn json_of(run: &Run) -> Value {
    serde_json::from_str(&run.stdout()).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}):\n{}\nstderr:\n{}",
            run.stdout(),
            run.stderr()
        )
    })
}

#[test]
fn up_starts_the_containers_and_sets_up_and_a_second_up_changes_nothing() {
    let p = Project::new();
    let docker = Docker::new();
    let (name, file) = compose_prefix(&docker, &p);

    let first = docker.run(&p, &["up", "--json"], &[]);
    let doc = json_of(&first);
    assert_eq!(doc["ok"], true, "{}", first.stderr());
    assert_eq!(
        docker.calls(),
        [
            vec!["compose".to_owned(), "version".into(), "--short".into()],
            argv(&name, &file, &["ps", "--all", "--format", "json"]),
            argv(&name, &file, &["up", "--detach"]),
        ]
    );
    assert_eq!(docker.events(), ["started"]);
    // The embedded file, written to the per-project cache.
    assert_eq!(fs_err::read_to_string(&file).unwrap(), FILE);
    let written_at = fs_err::metadata(&file).unwrap().modified().unwrap();

    // Compose gets the env file's path, its hash and the ports; never a secret.
    let env_file = fs_err::canonicalize(p.path())
        .unwrap()
        .join(".env.convex.local");
    let content = fs_err::read_to_string(&env_file).unwrap();
    let up_env = docker.call_env(3);
    let [api, site, dashboard] = docker.ports;
    assert_eq!(
        env_line(&up_env, "CODER_CONVEX_ENV_FILE").as_deref(),
        Some(env_file.to_str().unwrap())
    );
    assert_eq!(
        env_line(&up_env, "CODER_CONVEX_ENV_HASH"),
        Some(hex::encode(Sha256::digest(content.as_bytes())))
    );
    assert_eq!(
        env_line(&up_env, "NEXT_PUBLIC_DEPLOYMENT_URL").as_deref(),
        Some("http://127.0.0.1:3210")
    );
    for (var, port) in [
        ("CODER_CONVEX_API_PORT", api),
        ("CODER_CONVEX_SITE_PORT", site),
        ("CODER_CONVEX_DASHBOARD_PORT", dashboard),
    ] {
        assert_eq!(env_line(&up_env, var), Some(port.to_string()), "{var}");
    }
    let secret = p.env_values(".env.convex.local")["INSTANCE_SECRET"].clone();
    let admin_key = p.env_values(".env.local")["CONVEX_SELF_HOSTED_ADMIN_KEY"].clone();
    for n in 1..=3 {
        let call = format!("{}{:?}", docker.call_env(n), docker.calls()[n - 1]);
        assert!(
            !call.contains(&secret),
            "call {n} carries the instance secret"
        );
        assert!(!call.contains(&admin_key), "call {n} carries the admin key");
    }
    assert!(!first.all().contains(&secret));

    // Then setup ran against the backend compose started.
    let containers = &doc["containers"];
    assert_eq!(containers["project"], name.as_str());
    assert_eq!(containers["engine"], "docker");
    assert_eq!(containers["compose_file_change"], "created");
    assert_eq!(containers["before"], serde_json::json!([]));
    assert_eq!(
        containers["ports"],
        serde_json::json!({"api": api, "site": site, "dashboard": dashboard})
    );
    assert_eq!(doc["backend_version"], "unknown");
    assert_eq!(doc["env"]["posted"], true);

    // A second `up`: compose finds the backend running with the same settings; no file, no
    // container and no deployment variable changes.
    let second = docker.run(&p, &["up", "--json"], &[]);
    let doc = json_of(&second);
    assert_eq!(doc["ok"], true, "{}", second.stderr());
    assert_eq!(docker.events(), ["started", "running"]);
    assert_eq!(docker.calls().len(), 6);
    assert_eq!(doc["containers"]["compose_file_change"], "unchanged");
    assert_eq!(
        doc["containers"]["before"][0]["state"], "running",
        "{}",
        doc["containers"]
    );
    assert_eq!(
        fs_err::metadata(&file).unwrap().modified().unwrap(),
        written_at
    );
    assert!(
        doc["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["change"] == "unchanged"),
        "{}",
        doc["files"]
    );
    assert_eq!(doc["env"]["posted"], false);
    assert_eq!(
        env_line(&docker.call_env(6), "CODER_CONVEX_ENV_HASH"),
        Some(hex::encode(Sha256::digest(content.as_bytes())))
    );

    // status shows the containers of this project.
    let status = docker.run(&p, &["status"], &[]);
    assert_eq!(status.code(), 0, "{}", status.stderr());
    assert!(
        status
            .stdout()
            .contains("✓ container backend   running (Up 1 second)"),
        "{}",
        status.stdout()
    );
    let status = json_of(&docker.run(&p, &["status", "--json"], &[]));
    assert_eq!(status["containers"]["project"], name.as_str());
    assert_eq!(
        status["containers"]["list"][1],
        serde_json::json!({"service": "dashboard", "state": "running", "status": "Up 1 second"})
    );
}

#[test]
fn a_changed_env_file_recreates_the_backend_with_the_new_settings() {
    let p = Project::new();
    let docker = Docker::new();
    docker.run(&p, &["up"], &[]).ok();
    let before = p.read(".env.convex.local");

    let site = "http://127.0.0.1:4999";
    let run = docker.run(&p, &["up", "--json"], &[("CONVEX_SITE_ORIGIN", site)]);
    let doc = json_of(&run);
    assert_eq!(doc["ok"], true, "{}", run.stderr());
    assert_eq!(docker.events(), ["started", "recreated"]);
    let after = p.read(".env.convex.local");
    assert_ne!(before, after);
    assert_eq!(
        env_line(&docker.call_env(6), "CODER_CONVEX_ENV_HASH"),
        Some(hex::encode(Sha256::digest(after.as_bytes())))
    );
    // The recreated backend runs with the new site origin: the canonical URLs match.
    assert_eq!(
        p.env_values(".env.convex.local")["CONVEX_SITE_ORIGIN"],
        site
    );
    let status = json_of(&docker.run(&p, &["status", "--json"], &[("CONVEX_SITE_ORIGIN", site)]));
    assert_eq!(status["canonical_urls_match"], true, "{status}");
}

#[test]
fn down_keeps_the_data_and_volumes_need_yes_without_a_terminal() {
    let p = Project::new();
    let docker = Docker::new();
    let (name, file) = compose_prefix(&docker, &p);

    let refused = docker.run(&p, &["down", "--volumes", "--json"], &[]);
    assert_eq!(refused.code(), 2);
    let doc = json_of(&refused);
    assert_eq!(doc["error"]["code"], "invalid_input");
    assert_eq!(
        doc["error"]["hint"],
        "`coder-convex down --volumes --yes` deletes the data; `coder-convex down` keeps it"
    );
    assert!(
        docker.calls().is_empty(),
        "nothing ran: {:?}",
        docker.calls()
    );

    docker.run(&p, &["down"], &[]).ok();
    docker.run(&p, &["down", "--volumes", "--yes"], &[]).ok();
    let calls = docker.calls();
    assert_eq!(calls[1], argv(&name, &file, &["down"]));
    assert_eq!(calls[3], argv(&name, &file, &["down", "--volumes"]));
    assert_eq!(docker.events(), ["down", "down --volumes"]);
    let env_file = fs_err::canonicalize(p.path())
        .unwrap()
        .join(".env.convex.local");
    assert_eq!(
        env_line(&docker.call_env(4), "CODER_CONVEX_ENV_FILE").as_deref(),
        Some(env_file.to_str().unwrap())
    );
}

#[test]
fn logs_follow_one_service() {
    let p = Project::new();
    let docker = Docker::new();
    let (name, file) = compose_prefix(&docker, &p);
    let run = docker.run(&p, &["logs", "-f", "backend"], &[]);
    assert_eq!(run.ok(), "backend-1  | stand-in log line\n");
    assert_eq!(
        docker.calls()[1],
        argv(&name, &file, &["logs", "--follow", "backend"])
    );
    docker.run(&p, &["logs"], &[]).ok();
    assert_eq!(docker.calls()[3], argv(&name, &file, &["logs"]));
    // With --json the logs go to stderr: stdout holds the one JSON document.
    let run = docker.run(&p, &["logs", "dashboard", "--json"], &[]);
    assert_eq!(json_of(&run)["ok"], true);
    assert!(
        run.stderr().contains("stand-in log line"),
        "{}",
        run.stderr()
    );
}

#[test]
fn podman_compose_is_used_when_there_is_no_docker() {
    let p = Project::new();
    let podman = Docker::named("podman");
    let mut env = podman.env();
    // Only the stand-in's directory and the system's: no docker anywhere.
    env[0].1 = format!("{}:/usr/bin:/bin", podman.bin.path().display());
    assert!(!Path::new("/usr/bin/docker").exists() && !Path::new("/bin/docker").exists());
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = p.run(&["up", "--json"], &env);
    let doc = json_of(&run);
    assert_eq!(doc["ok"], true, "{}", run.stderr());
    assert_eq!(doc["containers"]["engine"], "podman");
    assert_eq!(podman.calls()[0], ["compose", "version"]);
    assert_eq!(podman.events(), ["started"]);
}

#[test]
fn in_coder_up_runs_setup_only_and_down_stops_nothing() {
    let p = Project::new();
    let docker = Docker::new();
    p.run(&["configure"], &CODER_ENV).ok();
    let secret = coder_convex::config::secrets::InstanceSecret::from_hex(
        &p.env_values(".env.convex.local")["INSTANCE_SECRET"],
    )
    .unwrap();
    let mut config = FakeConfig::new("convex-self-hosted", secret);
    config.cloud_origin = "https://convex-api--main--ws--alice.apps.example.com".into();
    config.site_origin = "https://convex-site--main--ws--alice.apps.example.com".into();
    let fake = FakeBackend::start(config);
    let mut env: Vec<(&str, &str)> = CODER_ENV.to_vec();
    env.push(("CODER_CONVEX_BACKEND_URL", &fake.api_url));
    env.push(("CODER_CONVEX_SITE_PROXY_URL", &fake.site_url));
    let run = docker.run(&p, &["up", "--json"], &env);
    let doc = json_of(&run);
    assert_eq!(doc["ok"], true, "{}", run.stderr());
    assert!(doc.get("containers").is_none(), "{doc}");
    assert!(
        run.stderr().contains(
            "in a Coder workspace the template runs the Convex backend and dashboard; running setup only"
        ),
        "{}",
        run.stderr()
    );
    let down = docker.run(&p, &["down"], &env);
    down.ok();
    assert!(
        down.stderr()
            .contains("the template owns the Convex containers")
    );
    assert!(docker.calls().is_empty(), "{:?}", docker.calls());
}

/// The error of a failed `up`: exit 7, the code and the hint.
fn failure(run: &Run) -> Value {
    assert_eq!(run.code(), 7, "{}", run.stderr());
    json_of(run)["error"].clone()
}

#[test]
fn up_with_containers_and_without_docker_or_podman_fails_before_writing_anything() {
    // `--backend auto` would run the backend as a process (tests/it/process.rs).
    let p = Project::new();
    let docker = Docker::new();
    let empty = tempfile::tempdir().unwrap();
    let run = docker.run(
        &p,
        &["up", "--json", "--backend", "containers"],
        &[("PATH", empty.path().to_str().unwrap())],
    );
    let error = failure(&run);
    assert_eq!(error["code"], "no_container_engine");
    assert_eq!(error["message"], "neither `docker` nor `podman` is on PATH");
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .starts_with("install Docker")
    );
    assert!(!p.file(".env.convex.local").exists(), "nothing written");
}

#[test]
fn up_without_compose_v2_names_what_is_missing() {
    let p = Project::new();
    let docker = Docker::new();
    let error = failure(&docker.run(&p, &["up", "--json"], &[("STAND_IN_MODE", "no-compose")]));
    assert_eq!(error["code"], "no_compose");
    assert_eq!(
        error["message"],
        "`docker compose` is not usable: docker: 'compose' is not a docker command.\nSee 'docker --help'"
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("docker-compose-plugin")
    );

    let error = failure(&docker.run(
        &p,
        &["up", "--json"],
        &[("STAND_IN_COMPOSE_VERSION", "2.20.3")],
    ));
    assert_eq!(error["code"], "no_compose");
    assert_eq!(
        error["message"],
        "`docker compose` is not usable: Compose 2.20.3 is too old (the compose file needs 2.24 or newer)"
    );
    assert!(!p.file(".env.convex.local").exists(), "nothing written");
}

#[test]
fn up_with_the_engine_down_says_to_start_it() {
    let p = Project::new();
    let docker = Docker::new();
    let error = failure(&docker.run(&p, &["up", "--json"], &[("STAND_IN_MODE", "engine-down")]));
    assert_eq!(error["code"], "engine_not_running");
    assert_eq!(
        error["message"],
        "`docker compose ps --all --format json` cannot reach the docker engine"
    );
    assert!(error["hint"].as_str().unwrap().starts_with("start Docker"));
    assert_eq!(docker.events(), Vec::<String>::new());
}

#[test]
fn up_names_the_process_that_holds_a_port() {
    let p = Project::new();
    let docker = Docker::new();
    let listener = std::net::TcpListener::bind(("127.0.0.1", docker.ports[0])).unwrap();
    let run = docker.run(&p, &["up", "--json"], &[]);
    let error = failure(&run);
    drop(listener);
    let comm = fs_err::read_to_string("/proc/self/comm").unwrap();
    let who = format!("{} (pid {})", comm.trim_end(), std::process::id());
    assert_eq!(error["code"], "port_in_use");
    assert_eq!(
        error["message"],
        format!(
            "port {} on 127.0.0.1 (convex-api of the backend) is in use by {who}",
            docker.ports[0]
        )
    );
    assert!(
        error["hint"]
            .as_str()
            .unwrap()
            .contains("CODER_CONVEX_BACKEND_URL=http://127.0.0.1:<port>"),
        "{error}"
    );
    assert!(run.stderr().contains(&who));
    assert_eq!(
        docker.events(),
        Vec::<String>::new(),
        "compose up did not run"
    );
}

#[test]
fn up_reports_an_image_that_cannot_be_pulled() {
    let p = Project::new();
    let docker = Docker::new();
    let run = docker.run(&p, &["up", "--json"], &[("STAND_IN_MODE", "pull-fails")]);
    let error = failure(&run);
    assert_eq!(error["code"], "image_pull_failed");
    assert_eq!(
        error["message"],
        format!("`docker compose up --detach` cannot pull the Convex images (tag {IMAGE_TAG})")
    );
    assert!(error["hint"].as_str().unwrap().contains("ghcr.io"));
    assert!(
        run.stderr().contains("manifest unknown"),
        "{}",
        run.stderr()
    );
}
