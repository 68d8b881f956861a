//! The Convex module's scripts, rendered as `templatefile` renders them and run under sh (dash),
//! bash and busybox sh with stand-ins on `PATH`: a `coder-convex` and an `npm` that record
//! their arguments. Each mode makes exactly its calls (`setup`, or `up --backend process` with
//! the checksum file), the real scripts/install.sh installs nothing when the pinned version is
//! there and asks npm for exactly the pinned package when it is not, the database password
//! reaches `coder-convex` by environment only, the scripts around setup run in order, and the
//! stop script stops the backend process. The rendered scripts are shellcheck-clean.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::{require, show};
use crate::templates::{Template, b64, module_dir, render_start};

const SHELLS: [&[&str]; 3] = [&["sh"], &["bash"], &["busybox", "sh"]];
const PASSWORD: &str = "s3cret-pw";
const CHECKSUMS: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef  convex-local-backend-x86_64-unknown-linux-gnu.zip";

fn write_exec(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs_err::write(path, text).expect("write");
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// The start script for `mode`; `installer` stands for scripts/install.sh (None: the real one).
fn start(mode: &str, skip_install: bool, installer: Option<&str>, pre: &str, post: &str) -> String {
    let real = fs_err::read_to_string(module_dir().join("scripts/install.sh")).expect("install.sh");
    let checksums = if mode == "process" { CHECKSUMS } else { "" };
    render_start(
        &Template::load_dir(&module_dir()),
        &[
            ("MODE", mode.to_owned()),
            ("SKIP_INSTALL", skip_install.to_string()),
            ("INSTALL_SH", b64(installer.unwrap_or(&real))),
            ("PRE_SETUP_SCRIPT", b64(pre)),
            ("POST_SETUP_SCRIPT", b64(post)),
            ("BACKEND_CHECKSUMS", b64(checksums)),
        ],
    )
}

/// A workspace: the project, the install directory, stand-ins in `bin/` and the log they write.
struct Workspace {
    root: tempfile::TempDir,
    log: PathBuf,
    project: PathBuf,
    install: PathBuf,
    bin: PathBuf,
}

impl Workspace {
    fn new() -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let log = root.path().join("log");
        let bin = root.path().join("bin");
        // npm: the registry is a closed port on loopback; `view` finds nothing.
        write_exec(
            &bin.join("npm"),
            &format!(
                "#!/bin/sh\necho \"npm $*\" >>'{}'\n\
                 if [ \"$1 $2\" = 'config get' ]; then echo http://127.0.0.1:9/; exit 0; fi\nexit 1\n",
                log.display()
            ),
        );
        Self {
            project: root.path().join("project"),
            install: root.path().join("install"),
            log,
            bin,
            root,
        }
    }

    /// A stand-in `coder-convex` 0.1.0 at `path`: records its arguments, whether it got the
    /// database URL, and the checksum file's text; exits with `$FAKE_EXIT`.
    fn coder_convex(&self, path: &Path) {
        write_exec(
            path,
            &format!(
                "#!/bin/sh\nlog='{}'\necho \"coder-convex $*\" >>\"$log\"\n\
                 [ \"$1\" = --version ] && {{ echo 'coder-convex {}'; exit 0; }}\n\
                 echo \"  in $(pwd), database ${{DATABASE_URL:+set}}\" >>\"$log\"\n\
                 if [ -n \"${{CODER_CONVEX_BACKEND_CHECKSUMS:-}}\" ]; then echo \"  checksums $(cat \"$CODER_CONVEX_BACKEND_CHECKSUMS\")\" >>\"$log\"; fi\n\
                 exit \"${{FAKE_EXIT:-0}}\"\n",
                self.log.display(),
                env!("CARGO_PKG_VERSION")
            ),
        );
    }

    fn run(&self, shell: &[&str], script: &str, extra: &[(&str, &str)]) -> Output {
        let system = std::env::var("PATH").unwrap_or_default();
        Command::new(require(shell[0]))
            .args(&shell[1..])
            .args(["-c", script, "start"])
            .env_clear()
            .env("PATH", format!("{}:{system}", self.bin.display()))
            .env("HOME", self.root.path())
            .env("TMPDIR", self.root.path())
            .env("CODER_CONVEX_PROJECT_DIR", &self.project)
            .env("CODER_CONVEX_INSTALL_DIR", &self.install)
            .env("CODER_CONVEX_VERSION", env!("CARGO_PKG_VERSION"))
            .env(
                "DATABASE_URL",
                format!("postgres://convex:{PASSWORD}@127.0.0.1:5432/convex_self_hosted"),
            )
            .envs(extra.iter().copied())
            .current_dir(self.root.path())
            .stdin(Stdio::null())
            .output()
            .expect("run the script")
    }

    fn calls(&self) -> String {
        fs_err::read_to_string(&self.log).unwrap_or_default()
    }
}

const PRE: &str = "echo pre >>\"$HOME/log\"\nexit 3\n";
const POST: &str = "echo \"post in $(pwd)\" >>\"$HOME/log\"\n";

#[test]
fn each_mode_runs_its_command_once_with_the_pinned_binary_and_no_secret_in_argv() {
    for mode in ["external", "process"] {
        let script = start(mode, false, None, PRE, POST);
        for shell in SHELLS {
            let case = format!("{mode} {shell:?}");
            let ws = Workspace::new();
            ws.coder_convex(&ws.install.join("coder-convex"));
            let out = ws.run(shell, &script, &[]);
            let text = show(&out);
            assert!(out.status.success(), "{case}: {text}");
            let project = ws.project.display();
            let command = match mode {
                "external" => "setup".to_owned(),
                _ => "up --backend process".to_owned(),
            };
            let checksums = match mode {
                "external" => String::new(),
                _ => format!("  checksums {CHECKSUMS}\n"),
            };
            // install.sh asks the installed binary its version and installs nothing; the
            // pre-setup failure is reported and setup runs; post-setup runs after it.
            assert_eq!(
                ws.calls(),
                format!(
                    "pre\ncoder-convex --version\ncoder-convex {command}\n  in {project}, database set\n{checksums}post in {project}\n"
                ),
                "{case}: {text}"
            );
            assert!(
                text.contains(
                    "the pre-setup script failed (its reason is above); running coder-convex anyway"
                ),
                "{case}: {text}"
            );
            assert!(
                text.contains(&format!("running coder-convex {command} in {project}")),
                "{case}: {text}"
            );
            assert!(
                !ws.calls().contains(PASSWORD) && !text.contains(PASSWORD),
                "{case}"
            );
        }
    }
}

#[test]
fn without_the_binary_the_real_installer_asks_npm_for_the_pinned_package_and_stops() {
    let cpu = match std::env::consts::ARCH {
        "x86_64" => "x64",
        "aarch64" => "arm64",
        other => panic!("no npm package for {other}"),
    };
    for (mode, waits) in [("external", true), ("process", false)] {
        let script = start(mode, false, None, "", POST);
        for shell in SHELLS {
            let case = format!("{mode} {shell:?}");
            let ws = Workspace::new();
            let out = ws.run(shell, &script, &[]);
            let text = show(&out);
            assert_eq!(out.status.code(), Some(1), "{case}: {text}");
            assert_eq!(
                ws.calls(),
                format!(
                    "npm config get registry\n\
                     npm view coder-convex-linux-{cpu}@{v} dist.integrity --registry http://127.0.0.1:9/ --fetch-retries 1 --fetch-timeout 300000\n",
                    v = env!("CARGO_PKG_VERSION")
                ),
                "{case}: {text}"
            );
            assert!(
                text.contains("coder-convex could not be installed (the reason is above)"),
                "{case}: {text}"
            );
            assert_eq!(
                text.contains("keeps waiting for .env.convex.local"),
                waits,
                "{case}: {text}"
            );
        }
    }
}

#[test]
fn skip_install_runs_the_binary_on_path_and_never_the_installer() {
    let installer = "echo installer >>\"$HOME/log\"\n";
    let script = start("external", true, Some(installer), "", "");
    for shell in SHELLS {
        let ws = Workspace::new();
        ws.coder_convex(&ws.bin.join("coder-convex"));
        let out = ws.run(shell, &script, &[]);
        assert!(out.status.success(), "{shell:?}: {}", show(&out));
        assert_eq!(
            ws.calls(),
            format!(
                "coder-convex setup\n  in {}, database set\n",
                ws.project.display()
            ),
            "{shell:?}"
        );

        // None there: said, and nothing runs.
        let ws = Workspace::new();
        let out = ws.run(shell, &script, &[]);
        let text = show(&out);
        assert_eq!(out.status.code(), Some(1), "{shell:?}: {text}");
        assert!(
            text.contains("skip_install is set, but coder-convex is not on PATH nor in"),
            "{shell:?}: {text}"
        );
        assert_eq!(ws.calls(), "", "{shell:?}");
    }
}

#[test]
fn a_failed_setup_fails_the_script_and_skips_the_post_setup_script() {
    for (mode, hint) in [
        ("external", "setup failed; run 'coder-convex doctor'"),
        (
            "process",
            "the Convex backend did not start; run 'coder-convex doctor' and 'coder-convex logs'",
        ),
    ] {
        let script = start(mode, false, None, "", POST);
        let ws = Workspace::new();
        ws.coder_convex(&ws.install.join("coder-convex"));
        let out = ws.run(&["sh"], &script, &[("FAKE_EXIT", "5")]);
        let text = show(&out);
        assert_eq!(out.status.code(), Some(1), "{mode}: {text}");
        assert!(text.contains(hint), "{mode}: {text}");
        assert!(!ws.calls().contains("post"), "{mode}: {}", ws.calls());
    }
}

#[test]
fn the_stop_script_stops_the_backend_process() {
    let stop = fs_err::read_to_string(module_dir().join("scripts/stop.sh")).expect("stop.sh");
    for shell in SHELLS {
        let ws = Workspace::new();
        fs_err::create_dir_all(&ws.project).expect("mkdir");
        ws.coder_convex(&ws.install.join("coder-convex"));
        let out = ws.run(shell, &stop, &[]);
        assert!(out.status.success(), "{shell:?}: {}", show(&out));
        assert_eq!(
            ws.calls(),
            format!(
                "coder-convex down\n  in {}, database set\n",
                ws.project.display()
            ),
            "{shell:?}"
        );

        // Before the first install: nothing to stop, and no failure.
        let ws = Workspace::new();
        fs_err::create_dir_all(&ws.project).expect("mkdir");
        let out = ws.run(shell, &stop, &[]);
        assert!(out.status.success(), "{shell:?}: {}", show(&out));
        assert_eq!(
            show(&out),
            "coder-convex is not installed: no backend process to stop\n"
        );
    }
}

#[test]
fn the_rendered_scripts_are_posix_sh_and_shellcheck_clean() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = vec![module_dir().join("scripts/stop.sh")];
    for mode in ["external", "process"] {
        let script = start(mode, false, None, PRE, POST);
        assert!(script.starts_with("#!/bin/sh\n"), "{mode}");
        assert!(!script.contains("$${"), "{mode}: an escape left over");
        let path = dir.path().join(format!("start-{mode}.sh"));
        fs_err::write(&path, script).expect("write");
        files.push(path);
    }
    let out = Command::new(require("shellcheck"))
        .args(&files)
        .output()
        .expect("run shellcheck");
    assert!(out.status.success(), "shellcheck: {}", show(&out));
    // No value is evaluated: the only `sh -c` run the template's own scripts.
    let text = fs_err::read_to_string(module_dir().join("scripts/start.sh.tftpl")).expect("read");
    assert!(
        !text
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word == "eval"),
        "no eval"
    );
    let sh_c: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("sh -c"))
        .map(str::trim)
        .collect();
    assert_eq!(
        sh_c,
        [
            r#"if [ -n "$pre" ] && ! sh -c "$pre" pre_setup; then"#,
            r#"sh -c "$post" post_setup"#
        ]
    );
}
