//! `up --backend process` end to end against a release mirror on 127.0.0.1 whose archive
//! holds the stand-in backend: checksum refusal of a swapped archive, download, the upstream
//! arguments, crash and restart, env change and restart, `logs`, `status`, `down`, and the
//! cache hit of the next `up`.

use std::path::PathBuf;
use std::time::Duration;

use coder_convex::process::release;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::common::{Project, Run};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::release_mirror::{Mirror, release_zip};

/// The stand-in for `convex-local-backend`. Started by the release archive's script
/// (`STAND_IN_LOCAL_BACKEND=1`), it parses the upstream binary's arguments as its clap config
/// does (unknown flags refused) and serves; in a normal run it checks that parser.
#[test]
fn stand_in_local_backend() {
    if std::env::var_os("STAND_IN_LOCAL_BACKEND").is_some() {
        let args: Vec<String> = std::env::var("STAND_IN_ARGS")
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect();
        serve(&parse(&args).unwrap_or_else(|e| panic!("convex-local-backend: {e}")));
    }
    let ok = parse(
        &[
            "--instance-name",
            "n",
            "--instance-secret",
            "s",
            "--interface",
            "127.0.0.1",
            "--port",
            "1",
            "--site-proxy-port",
            "2",
            "--convex-origin",
            "http://a",
            "--convex-site",
            "http://b",
            "--local-storage",
            "/d",
            "--disable-beacon",
            "--db",
            "postgres-v5",
            "--do-not-require-ssl",
            "postgres://h",
        ]
        .map(str::to_owned),
    )
    .unwrap();
    assert_eq!(ok["db"], "postgres-v5");
    assert_eq!(ok["DB_SPEC"], "postgres://h");
    assert!(parse(&["--instance-key".to_owned(), "x".to_owned()]).is_err());
    assert!(parse(&["--instance-name".to_owned(), "x".to_owned()]).is_err());
}

/// The upstream arguments (`crates/local_backend/src/config.rs`) into a map.
fn parse(args: &[String]) -> Result<std::collections::BTreeMap<String, String>, String> {
    const VALUED: [&str; 11] = [
        "instance-name",
        "instance-secret",
        "interface",
        "port",
        "site-proxy-port",
        "convex-origin",
        "convex-site",
        "local-storage",
        "db",
        "convex-http-proxy",
        "s3-storage",
    ];
    const FLAGS: [&str; 3] = [
        "disable-beacon",
        "do-not-require-ssl",
        "redact-logs-to-client",
    ];
    let mut out = std::collections::BTreeMap::new();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if let Some(name) = arg.strip_prefix("--") {
            if VALUED.contains(&name) {
                let value = it.next().ok_or(format!("--{name} needs a value"))?;
                out.insert(name.to_owned(), value.clone());
            } else if FLAGS.contains(&name) {
                out.insert(name.to_owned(), "true".to_owned());
            } else {
                return Err(format!("unexpected argument --{name}"));
            }
        } else if out.insert("DB_SPEC".to_owned(), arg.clone()).is_some() {
            return Err(format!("unexpected argument {arg}"));
        }
    }
    for (a, b) in [
        ("instance-name", "instance-secret"),
        ("convex-origin", "convex-site"),
    ] {
        if out.contains_key(a) != out.contains_key(b) {
            return Err(format!("--{a} and --{b} go together"));
        }
    }
    Ok(out)
}

fn serve(args: &std::collections::BTreeMap<String, String>) -> ! {
    assert_eq!(args["interface"], "127.0.0.1");
    let secret = coder_convex::config::secrets::InstanceSecret::from_hex(&args["instance-secret"])
        .expect("a valid secret");
    let mut config = FakeConfig::new(&args["instance-name"], secret);
    config.cloud_origin = args["convex-origin"].clone();
    config.site_origin = args["convex-site"].clone();
    let port = |k: &str| args[k].parse::<u16>().unwrap();
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    match runtime.block_on(async {
        let _fake = FakeBackend::spawn_on(config, port("port"), port("site-proxy-port")).await;
        std::future::pending::<std::convert::Infallible>().await
    }) {}
}

/// The machine around one project: the mirror, the cache, the stand-in's state, the ports.
struct Machine {
    mirror: Mirror,
    cache: tempfile::TempDir,
    state: tempfile::TempDir,
    sums: PathBuf,
    env: Vec<(String, String)>,
}

impl Machine {
    fn new() -> Self {
        let (mirror, cache, state) = (
            Mirror::start(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let sums = state.path().join("SHA256SUMS");
        let (api, site) = (crate::common::free_port(), crate::common::free_port());
        let env = vec![
            ("XDG_CACHE_HOME".into(), cache.path().display().to_string()),
            ("STAND_IN_STATE".into(), state.path().display().to_string()),
            (
                "STAND_IN_EXE".into(),
                std::env::current_exe().unwrap().display().to_string(),
            ),
            (
                "CODER_CONVEX_DOWNLOAD_BASE_URL".into(),
                mirror.base_url.clone(),
            ),
            (
                "CODER_CONVEX_BACKEND_CHECKSUMS".into(),
                sums.display().to_string(),
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
        Self {
            mirror,
            cache,
            state,
            sums,
            env,
        }
    }

    fn run(&self, p: &Project, args: &[&str]) -> Run {
        let env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        p.run(args, &env)
    }

    /// `status --json`, whatever its exit code: while the backend restarts it exits 3, and the
    /// waits below poll it until the document says the backend is back.
    fn status(&self, p: &Project) -> Value {
        let run = self.run(p, &["--json", "status"]);
        serde_json::from_str(&run.stdout())
            .unwrap_or_else(|e| panic!("status --json: {e}\n{}", run.all()))
    }

    fn starts(&self) -> Vec<String> {
        fs_err::read_to_string(self.state.path().join("starts"))
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// Poll `check` until it holds, within 60 s (restarts back off up to 30 s).
fn wait_for(what: &str, check: impl FnMut() -> bool) {
    crate::common::wait_within(what, Duration::from_secs(60), check);
}

/// Kills a supervisor left behind by a failing test.
struct Supervisor(PathBuf);

impl Drop for Supervisor {
    fn drop(&mut self) {
        for entry in walk(&self.0) {
            if entry
                .file_name()
                .is_some_and(|n| n == "supervisor.pid" || n == "backend.pid")
                && let Ok(pid) = fs_err::read_to_string(&entry)
            {
                let _ = std::process::Command::new("kill")
                    .args(["-9", pid.trim()])
                    .status();
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = fs_err::read_dir(dir) {
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                out.extend(walk(&path));
            } else {
                out.push(path);
            }
        }
    }
    out
}

#[test]
fn process_backend_end_to_end() {
    let m = Machine::new();
    let p = Project::new();
    let _guard = Supervisor(p.path().join(".local/share/coder-convex/backend"));
    let target = release::target(std::env::consts::OS, std::env::consts::ARCH).unwrap();
    let archive = release::archive_name(target);
    let good = release_zip("good");
    fs_err::write(
        &m.sums,
        format!("{}  {archive}\n", hex::encode(Sha256::digest(&good))),
    )
    .unwrap();
    let path = format!("{}/{archive}", release::TAG);

    // A swapped archive is refused before anything is unpacked or written.
    m.mirror.put(&path, release_zip("swapped"));
    let refused = m.run(&p, &["up", "--backend", "process", "--no-deploy"]);
    assert_ne!(refused.code(), 0);
    assert!(
        refused.stderr().contains("not the pinned"),
        "{}",
        refused.stderr()
    );
    assert!(
        !m.cache
            .path()
            .join("coder-convex/backend")
            .join(release::TAG)
            .join("convex-local-backend")
            .exists()
    );
    assert!(
        !p.path().join(".env.convex.local").exists(),
        "nothing written before the check"
    );

    // The real archive: downloaded, started with the upstream arguments, set up.
    m.mirror.put(&path, good);
    let up = m.run(&p, &["--json", "up", "--backend", "process", "--no-deploy"]);
    let report = up.json();
    assert_eq!(report["ok"], true, "{}", up.stderr());
    assert_eq!(report["containers"]["downloaded"], true, "{report}");
    assert_eq!(m.mirror.hits(), 2);
    let env = p.env_values(".env.convex.local");
    let first = m.starts();
    assert_eq!(first.len(), 1);
    let argv = fs_err::read_to_string(m.state.path().join(format!("argv-{}", first[0]))).unwrap();
    let argv: Vec<&str> = argv.lines().collect();
    let flag = |name: &str| argv[argv.iter().position(|a| *a == name).unwrap() + 1];
    assert_eq!(flag("--instance-name"), env["INSTANCE_NAME"]);
    assert_eq!(flag("--instance-secret"), env["INSTANCE_SECRET"]);
    assert_eq!(flag("--interface"), "127.0.0.1");
    assert_eq!(flag("--convex-origin"), env["CONVEX_CLOUD_ORIGIN"]);
    assert!(
        argv.last()
            .unwrap()
            .ends_with("data/convex_local_backend.sqlite3"),
        "{argv:?}"
    );
    assert!(flag("--local-storage").ends_with("data/storage"));
    // The only secret in argv is the instance secret.
    let admin_key = p
        .env_values(".env.local")
        .get("CONVEX_SELF_HOSTED_ADMIN_KEY")
        .cloned()
        .unwrap_or_default();
    assert!(admin_key.is_empty() || !argv.iter().any(|a| a.contains(&admin_key)));

    let status = m.status(&p);
    assert_eq!(status["ok"], true, "{status}");
    assert_eq!(status["process"]["running"], true, "{status}");
    assert_eq!(status["process"]["starts"], 1, "{status}");
    assert_eq!(status["admin_key_accepted"], true, "{status}");
    assert_eq!(status["canonical_urls_match"], true, "{status}");

    // A crash: the supervisor starts it again.
    let pid = status["process"]["backend_pid"].as_i64().unwrap();
    assert!(
        std::process::Command::new("kill")
            .args(["-9", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    wait_for("a restart after the crash", || m.starts().len() == 2);
    wait_for("a healthy backend after the crash", || {
        m.status(&p)["admin_key_accepted"] == true
    });

    // The env file changes: the backend is restarted with it.
    let file = p.path().join(".env.convex.local");
    let mut text = fs_err::read_to_string(&file).unwrap();
    text.push_str("# a change\n");
    fs_err::write(&file, text).unwrap();
    wait_for("a restart after the env change", || m.starts().len() == 3);
    wait_for("a healthy backend after the env change", || {
        m.status(&p)["admin_key_accepted"] == true
    });
    assert_eq!(m.status(&p)["process"]["starts"], 3);

    let logs = m.run(&p, &["logs"]).ok();
    assert!(logs.contains("the backend exited"), "{logs}");
    assert!(
        logs.contains(".env.convex.local changed: restarting the backend"),
        "{logs}"
    );

    // `down` stops it; the next `up` uses the cache.
    let down = m.run(&p, &["--json", "down"]).json();
    assert_eq!(down["stopped"], true, "{down}");
    // `status` fails with the backend down, and still reports the process.
    let stopped: Value = serde_json::from_str(&m.run(&p, &["--json", "status"]).stdout()).unwrap();
    assert_eq!(stopped["process"]["running"], false, "{stopped}");
    assert!(m.run(&p, &["logs"]).ok().contains("stopped the backend"));
    let again = m
        .run(&p, &["--json", "up", "--backend", "process", "--no-deploy"])
        .json();
    assert_eq!(again["ok"], true, "{again}");
    assert_eq!(again["containers"]["downloaded"], false, "{again}");
    assert_eq!(m.mirror.hits(), 2, "a cache hit downloads nothing");
    assert_eq!(m.run(&p, &["--json", "down"]).json()["stopped"], true);
}

/// `--backend-release` picks another upstream release: fetched from its own tag's path with
/// the checksum file's pin, cached under that tag, named in the log; a tag that is not one is
/// refused before anything is fetched.
#[test]
fn another_backend_release_comes_from_its_own_tag() {
    let m = Machine::new();
    let p = Project::new();
    let _guard = Supervisor(p.path().join(".local/share/coder-convex/backend"));

    let bad = m.run(
        &p,
        &["up", "--backend", "process", "--backend-release", "../x"],
    );
    assert_eq!(bad.code(), 2, "{}", bad.all());
    assert!(
        bad.stderr()
            .contains("--backend-release (CODER_CONVEX_BACKEND_RELEASE): \"../x\" is not an upstream release tag"),
        "{}",
        bad.stderr()
    );
    assert_eq!(m.mirror.hits(), 0);

    let tag = "precompiled-2026-09-01-abcdef0";
    let target = release::target(std::env::consts::OS, std::env::consts::ARCH).unwrap();
    let archive = release::archive_name(target);
    let zip = release_zip("other release");
    fs_err::write(
        &m.sums,
        format!("{}  {archive}\n", hex::encode(Sha256::digest(&zip))),
    )
    .unwrap();
    m.mirror.put(&format!("{tag}/{archive}"), zip);
    let up = m.run(
        &p,
        &[
            "--json",
            "up",
            "--backend",
            "process",
            "--no-deploy",
            "--backend-release",
            tag,
        ],
    );
    assert_eq!(up.json()["ok"], true, "{}", up.all());
    assert_eq!(m.mirror.hits(), 1);
    assert!(
        m.cache
            .path()
            .join("coder-convex/backend")
            .join(tag)
            .join("convex-local-backend")
            .is_file()
    );
    let log = m.run(&p, &["logs"]).stdout();
    assert!(log.contains(&format!(", {tag})")), "{log}");
    assert_eq!(m.run(&p, &["--json", "down"]).json()["stopped"], true);
}
