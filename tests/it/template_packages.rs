//! The Docker template's start script on a workspace image without Node, in a project with
//! `convex/` and a lock file but no `node_modules`: Node is downloaded (a stand-in `curl`
//! serves a Node tarball built here, checked against its SHASUMS256.txt), the project's
//! packages are installed with its own package manager, `setup` deploys with the project's
//! `convex`, and the stop backup succeeds. Run under sh (dash) and busybox sh.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::show;
use base64::Engine as _;

use crate::templates::{Template, both, template_start, text};

const NODE_VERSION: &str = "22.12.0";

fn write_exec(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs_err::write(path, text).expect("write");
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A directory of the system's tools without Node, npm, curl and coder-convex.
fn tools_without_node(dir: &Path) {
    fs_err::create_dir_all(dir).expect("mkdir");
    for system in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = fs_err::read_dir(system) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let link = dir.join(&name);
            let skip = [
                "coder-convex",
                "node",
                "nodejs",
                "npm",
                "npx",
                "pnpm",
                "yarn",
                "corepack",
                "curl",
            ];
            if skip.contains(&name.to_string_lossy().as_ref()) || link.exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(entry.path(), link);
        }
    }
}

fn arch() -> &'static str {
    match std::env::consts::ARCH {
        "aarch64" => "arm64",
        _ => "x64",
    }
}

/// `node-v<version>-linux-<arch>.tar.gz` with stand-ins for node, npm (whose `ci` installs
/// `convex` into `node_modules`) and npx (which logs the Convex CLI call), and its SHASUMS256.txt.
fn node_dist(root: &Path, log: &Path) -> PathBuf {
    let name = format!("node-v{NODE_VERSION}-linux-{}", arch());
    let tree = root.join("build").join(&name).join("bin");
    let log = log.display();
    write_exec(
        &tree.join("node"),
        &format!("#!/bin/sh\necho v{NODE_VERSION}\n"),
    );
    write_exec(
        &tree.join("npm"),
        &format!(
            "#!/bin/sh\necho \"npm $* in $(basename \"$PWD\")\" >>'{log}'\n\
             [ \"$1\" = ci ] || exit 1\n\
             mkdir -p node_modules/convex node_modules/.bin\n\
             echo '{{\"name\":\"convex\",\"version\":\"1.48.0\"}}' >node_modules/convex/package.json\n"
        ),
    );
    write_exec(
        &tree.join("npx"),
        &format!(
            "#!/bin/sh\n[ -f node_modules/convex/package.json ] || {{ echo 'convex not installed' >&2; exit 1; }}\n\
             echo \"npx $*\" >>'{log}'\n"
        ),
    );
    let dist = root.join("dist");
    fs_err::create_dir_all(&dist).expect("mkdir");
    let tarball = format!("{name}.tar.gz");
    let status = Command::new("tar")
        .arg("-czf")
        .arg(dist.join(&tarball))
        .arg("-C")
        .arg(root.join("build"))
        .arg(&name)
        .status()
        .expect("tar");
    assert!(status.success());
    let sum = Command::new("sha256sum")
        .arg(dist.join(&tarball))
        .output()
        .expect("sha256sum");
    let hash = String::from_utf8_lossy(&sum.stdout)
        .split_whitespace()
        .next()
        .expect("a hash")
        .to_owned();
    fs_err::write(
        dist.join("SHASUMS256.txt"),
        format!("0000  node-v{NODE_VERSION}-darwin-arm64.tar.gz\n{hash}  {tarball}\n"),
    )
    .expect("write");
    dist
}

/// A `curl` that serves `-o FILE URL` from `$FAKE_DIST/<basename of URL>` and logs the URL.
fn fake_curl(bin: &Path, log: &Path) {
    write_exec(
        &bin.join("curl"),
        &format!(
            "#!/bin/sh\nout=\nurl=\nwhile [ $# -gt 0 ]; do\n\
             case $1 in -o) out=$2; shift ;; -*) ;; *) url=$1 ;; esac\n\
             shift\ndone\n\
             echo \"curl $url\" >>'{}'\n\
             cp \"$FAKE_DIST/${{url##*/}}\" \"$out\"\n",
            log.display()
        ),
    );
}

/// The installer stand-in puts a `coder-convex` stand-in into the install directory: `setup`
/// deploys through `npx` (as the real one does, failing without the project's `convex`),
/// `status` says the backend is up, `backup` exports through `npx`.
fn installer(log: &Path) -> String {
    let log = log.display();
    let tool = format!(
        "#!/bin/sh\necho \"coder-convex $*\" >>'{log}'\n\
         case $1 in\n\
           setup) touch .env.convex.local; exec npx --no-install convex deploy --yes ;;\n\
           status) echo 'up · precompiled-2026-08-21' ;;\n\
           backup) exec npx --no-install convex export --path backup.zip ;;\n\
         esac\n"
    );
    let b64 = base64::engine::general_purpose::STANDARD.encode(tool);
    format!(
        "mkdir -p \"$CODER_CONVEX_INSTALL_DIR\"\n\
         printf '%s' '{b64}' | base64 -d >\"$CODER_CONVEX_INSTALL_DIR/coder-convex\"\n\
         chmod +x \"$CODER_CONVEX_INSTALL_DIR/coder-convex\"\n"
    )
}

/// A template script as the agent gets it, with the keep parameter filled in.
fn render(raw: &str) -> String {
    raw.replace("${data.coder_parameter.backup_keep.value}", "7")
        .replace("$${", "${")
}

fn run(shell: &[&str], script: &str, env: &[(&str, &Path)], path: &str, cwd: &Path) -> Output {
    Command::new(crate::common::require(shell[0]))
        .args(&shell[1..])
        .args(["-c", script, "script"])
        .env_clear()
        .env("PATH", path)
        .envs(env.iter().map(|(k, v)| (*k, *v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .expect("run the script")
}

/// A workspace without Node: the project, the install directory, tools without `node`, a
/// stand-in `curl` serving a Node release built here, and the log every stand-in writes to.
struct Sandbox {
    root: tempfile::TempDir,
    log: PathBuf,
    project: PathBuf,
    install: PathBuf,
    tools: PathBuf,
    dist: PathBuf,
    version: PathBuf,
    dist_url: PathBuf,
}

impl Sandbox {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let log = root.path().join("log");
        let tools = root.path().join("tools");
        tools_without_node(&tools);
        fake_curl(&root.path().join("fakebin"), &log);
        let dist = node_dist(root.path(), &log);
        Self {
            project: root.path().join("project"),
            install: root.path().join("install"),
            log,
            tools,
            dist,
            version: PathBuf::from(NODE_VERSION),
            dist_url: PathBuf::from("https://nodejs.example/dist"),
            root,
        }
    }

    /// The start script's `PATH`: the stand-ins, then the tools (no `node`).
    fn path(&self) -> String {
        format!(
            "{}:{}",
            self.root.path().join("fakebin").display(),
            self.tools.display()
        )
    }

    fn env(&self) -> [(&str, &Path); 7] {
        [
            ("CODER_CONVEX_PROJECT_DIR", self.project.as_path()),
            ("CODER_CONVEX_INSTALL_DIR", self.install.as_path()),
            ("HOME", self.root.path()),
            ("TMPDIR", self.root.path()),
            ("CODER_CONVEX_NODE_VERSION", self.version.as_path()),
            ("CODER_CONVEX_NODE_DIST_URL", self.dist_url.as_path()),
            ("FAKE_DIST", self.dist.as_path()),
        ]
    }

    /// The template's start script under `shell`.
    fn start(&self, t: &Template, shell: &[&str]) -> Output {
        let packages = t.resolve(t.local("packages_script")).replace("$${", "${");
        let start = template_start(t, &installer(&self.log), &packages, "exit 0\n");
        run(shell, &start, &self.env(), &self.path(), self.root.path())
    }
}

#[test]
fn without_node_the_start_script_installs_node_and_the_packages_then_setup_deploys_and_the_stop_backup_succeeds()
 {
    let t = Template::load();
    for shell in [&["sh"][..], &["busybox", "sh"][..]] {
        let sb = Sandbox::new();
        let (root, log, project, tools) = (&sb.root, &sb.log, &sb.project, &sb.tools);
        fs_err::create_dir_all(project.join("convex")).expect("mkdir");
        fs_err::write(
            project.join("package.json"),
            r#"{"dependencies":{"convex":"1.48.0"}}"#,
        )
        .expect("write");
        fs_err::write(project.join("package-lock.json"), "{}\n").expect("write");
        fs_err::write(project.join("convex/messages.ts"), "export {};\n").expect("write");
        let out = sb.start(&t, shell);
        let text = show(&out);
        assert!(out.status.success(), "{shell:?}: {text}");
        let tarball = format!("node-v{NODE_VERSION}-linux-{}.tar.gz", arch());
        assert_eq!(
            fs_err::read_to_string(log).expect("log"),
            format!(
                "curl https://nodejs.example/dist/v{NODE_VERSION}/{tarball}\n\
                 curl https://nodejs.example/dist/v{NODE_VERSION}/SHASUMS256.txt\n\
                 npm ci in project\n\
                 coder-convex setup\n\
                 npx --no-install convex deploy --yes\n"
            ),
            "{shell:?}: {text}"
        );
        assert!(
            text.contains("installing the project's packages: npm ci"),
            "{text}"
        );
        assert!(
            root.path()
                .join(".local/share/coder-convex/node/bin/node")
                .exists()
        );

        // The stop backup finds node on its PATH and the project's convex.
        fs_err::write(log, "").expect("truncate");
        let backup = render(&t.resolve(t.local("backup_command")));
        let out = run(
            shell,
            &backup,
            &sb.env(),
            &tools.display().to_string(),
            root.path(),
        );
        let text = show(&out);
        assert!(out.status.success(), "{shell:?}: {text}");
        assert!(
            fs_err::read_to_string(log)
                .expect("log")
                .ends_with("npx --no-install convex export --path backup.zip\n"),
            "{shell:?}: {text}"
        );

        // A second start installs nothing: node_modules exists.
        fs_err::write(log, "").expect("truncate");
        let out = sb.start(&t, shell);
        assert!(out.status.success(), "{}", show(&out));
        assert!(
            !fs_err::read_to_string(log).expect("log").contains("npm ci"),
            "{}",
            show(&out)
        );
    }
}

/// A Node tarball that does not match SHASUMS256.txt is not unpacked, and the start goes on to
/// setup (which then names what is missing).
#[test]
fn a_node_tarball_that_does_not_match_its_checksum_is_refused() {
    let t = Template::load();
    let sb = Sandbox::new();
    let (root, log, project, dist) = (&sb.root, &sb.log, &sb.project, &sb.dist);
    fs_err::write(
        dist.join("SHASUMS256.txt"),
        format!(
            "{}  node-v{NODE_VERSION}-linux-{}.tar.gz\n",
            "0".repeat(64),
            arch()
        ),
    )
    .expect("write");
    fs_err::create_dir_all(project.join("convex")).expect("mkdir");
    fs_err::write(project.join("package.json"), "{}").expect("write");
    fs_err::write(project.join("package-lock.json"), "{}\n").expect("write");
    let out = sb.start(&t, &["sh"]);
    let text = show(&out);
    assert!(
        text.contains("does not match SHASUMS256.txt; nothing installed"),
        "{text}"
    );
    assert!(
        text.contains(
            "the project's packages are not installed; setup cannot deploy until they are"
        ),
        "{text}"
    );
    assert!(
        !root
            .path()
            .join(".local/share/coder-convex/node/bin/node")
            .exists()
    );
    // setup ran (and failed: no convex for npx).
    assert!(!out.status.success(), "{text}");
    assert!(
        fs_err::read_to_string(log)
            .expect("log")
            .contains("coder-convex setup"),
        "{text}"
    );
}

/// Both templates carry the same package script.
#[test]
fn both_templates_install_packages_with_the_same_script() {
    let [(_, docker), (_, kubernetes)] = both();
    assert_eq!(
        docker.resolve(docker.local("packages_script")),
        kubernetes.resolve(kubernetes.local("packages_script"))
    );
    for t in [&docker, &kubernetes] {
        assert!(
            text(t.local("pre_setup_script"))
                .expect("a heredoc")
                .contains("${base64encode(local.packages_script)}")
        );
    }
}

/// Extra backend settings reach the backend container of both templates through one variable,
/// empty by default (so the upstream defaults stay exactly what the other tests check).
#[test]
fn extra_backend_settings_pass_through_one_variable() {
    for (name, t) in both() {
        let env = t.local("backend_env").to_string();
        assert!(env.contains("var.convex_backend_env"), "{name}: {env}");
        assert_eq!(
            t.variable_default("convex_backend_env").to_string(),
            "{}",
            "{name}"
        );
    }
}
