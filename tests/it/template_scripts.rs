//! The templates' shell around `coder-convex`, rendered from the HCL of both templates and run
//! for real under sh (dash), bash and busybox sh with stand-ins: agent metadata finds the
//! project's or PATH's `coder-convex`; the Docker start script does not pick the npm launcher
//! without `node` and installs the standalone binary instead, and logs a clone URL without any
//! part of its password; the stop backup probes first and says why it took none; the startup
//! script has a timeout; every script that logs a URL uses one redaction rule.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::show;
use tempfile::TempDir;

use crate::templates::both;
use crate::templates::{Template, blocks, source, text_attr};

const SHELLS: [&[&str]; 3] = [&["sh"], &["bash"], &["busybox", "sh"]];

/// The rule every script logs URLs with: the user part up to the last `@` before the path,
/// then the query and fragment, are cut.
const REDACT: &str = r"sed -e 's|^\([A-Za-z][A-Za-z0-9+.-]*://\)[^/]*@|\1|' -e 's|[?#].*||'";

/// A template string as the agent gets it (`$${` is Terraform's escape for a literal `${`).
fn rendered(raw: &str) -> String {
    raw.replace("$${", "${")
}

fn write_exec(path: &Path, text: &str) {
    fs_err::create_dir_all(path.parent().expect("a parent")).expect("mkdir");
    fs_err::write(path, text).expect("write");
    fs_err::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// A stand-in `coder-convex` that appends `<tag> <args>` to `log` and prints `<tag>: <args>`.
fn stand_in(path: &Path, tag: &str, log: &Path, extra: &str) {
    write_exec(
        path,
        &format!(
            "#!/bin/sh\n\
             echo \"{tag} $*\" >>'{}'\n\
             {extra}\n\
             echo \"{tag}: $*\"\n",
            log.display()
        ),
    );
}

/// A directory of the system's tools less `exclude` and less any `coder-convex`, `node`.
fn tools_without(exclude: &[&str]) -> TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for system in ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"] {
        let Ok(entries) = fs_err::read_dir(system) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name();
            let name_str = name.to_string_lossy();
            let link = dir.path().join(&name);
            if exclude.contains(&name_str.as_ref())
                || ["coder-convex", "node", "nodejs"].contains(&name_str.as_ref())
                || link.exists()
            {
                continue;
            }
            let _ = std::os::unix::fs::symlink(entry.path(), link);
        }
    }
    dir
}

fn run(shell: &[&str], script: &str, env: &[(&str, &Path)], path: &Path, cwd: &Path) -> Output {
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

/// The Convex metadata scripts of a template, by key.
fn metadata(t: &Template) -> Vec<(String, String)> {
    let agent = t.resource("coder_agent", "main");
    blocks(agent, "metadata")
        .filter(|m| text_attr(m, "key").contains("convex"))
        .map(|m| {
            let raw = text_attr(m, "script").replace("\\\"", "\"");
            (text_attr(m, "key"), rendered(&raw))
        })
        .collect()
}

#[test]
fn metadata_finds_the_projects_or_paths_coder_convex() {
    for (name, t) in both() {
        let scripts = metadata(&t);
        assert_eq!(scripts.len(), 3, "{name}: {scripts:?}");
        for (key, script) in scripts {
            for shell in SHELLS {
                let case = format!("{name} {key} {shell:?}");
                let root = tempfile::tempdir().expect("temp dir");
                let log = root.path().join("log");
                let project = root.path().join("project");
                let install = root.path().join("install");
                let on_path = root.path().join("on-path");
                fs_err::create_dir_all(&install).expect("mkdir");
                let system = std::env::var("PATH").unwrap_or_default();
                let path = PathBuf::from(format!("{}:{system}", on_path.display()));
                let env = [
                    ("CODER_CONVEX_PROJECT_DIR", project.as_path()),
                    ("CODER_CONVEX_INSTALL_DIR", install.as_path()),
                    ("HOME", root.path()),
                ];

                // Only on PATH (an image that ships it).
                stand_in(&on_path.join("coder-convex"), "path", &log, "");
                let out = run(shell, &script, &env, &path, root.path());
                assert!(
                    show(&out).starts_with("path: status --metadata"),
                    "{case}: {}",
                    show(&out)
                );

                // The project's own copy comes first.
                stand_in(
                    &project.join("node_modules/.bin/coder-convex"),
                    "project",
                    &log,
                    "",
                );
                let out = run(shell, &script, &env, &path, root.path());
                assert!(
                    show(&out).starts_with("project: status --metadata"),
                    "{case}: {}",
                    show(&out)
                );

                // A copy that cannot run (a launcher without node) makes way for the next.
                stand_in(
                    &project.join("node_modules/.bin/coder-convex"),
                    "project",
                    &log,
                    "exit 127",
                );
                fs_err::remove_file(on_path.join("coder-convex")).expect("rm");
                stand_in(&install.join("coder-convex"), "installed", &log, "");
                let out = run(shell, &script, &env, &path, root.path());
                assert!(
                    show(&out).starts_with("installed: status --metadata"),
                    "{case}: {}",
                    show(&out)
                );

                // None at all.
                fs_err::remove_file(install.join("coder-convex")).expect("rm");
                let out = run(shell, &script, &env, &path, root.path());
                assert_eq!(show(&out), "not set up\n", "{case}");
            }
        }
    }
}

/// The Docker template's startup script (the module's, with the template's scripts around
/// it) with the installer replaced by a stand-in (it puts a stand-in `coder-convex` into the
/// install directory) and no packages or seed.
fn startup_script(t: &Template, installer: &str) -> String {
    crate::templates::template_start(t, installer, "exit 0\n", "exit 0\n")
}

#[test]
fn the_docker_start_script_does_not_pick_the_launcher_without_node() {
    let t = Template::load();
    for shell in SHELLS {
        let root = tempfile::tempdir().expect("temp dir");
        let log = root.path().join("log");
        let project = root.path().join("project");
        let install = root.path().join("install");
        let installer = format!(
            "echo installer >>'{log}'\n\
             mkdir -p \"$CODER_CONVEX_INSTALL_DIR\"\n\
             printf '#!/bin/sh\\necho \"installed $*\" >>%s\\n' '{log}' >\"$CODER_CONVEX_INSTALL_DIR/coder-convex\"\n\
             chmod +x \"$CODER_CONVEX_INSTALL_DIR/coder-convex\"\n",
            log = log.display()
        );
        let script = startup_script(&t, &installer);
        fs_err::create_dir_all(&project).expect("mkdir");
        fs_err::write(
            project.join("package.json"),
            "{\"devDependencies\": {\"coder-convex\": \"0.1.0\"}}\n",
        )
        .expect("write");
        // What npm installs: a node script.
        write_exec(
            &project.join("node_modules/.bin/coder-convex"),
            "#!/usr/bin/env node\nconsole.log('launcher')\n",
        );
        let tools = tools_without(&["node", "nodejs"]);
        let env = [
            ("CODER_CONVEX_PROJECT_DIR", project.as_path()),
            ("CODER_CONVEX_INSTALL_DIR", install.as_path()),
            ("HOME", root.path()),
            ("TMPDIR", root.path()),
        ];
        let out = run(shell, &script, &env, tools.path(), root.path());
        let text = show(&out);
        assert!(out.status.success(), "{shell:?}: {text}");
        assert!(
            text.contains("needs node, which is not on this script's PATH; installing the standalone binary instead"),
            "{shell:?}: {text}"
        );
        assert_eq!(
            fs_err::read_to_string(&log).expect("log"),
            "installer\ninstalled setup\n",
            "{shell:?}: {text}"
        );
    }
}

#[test]
fn the_clone_line_shows_no_part_of_a_password() {
    let t = Template::load();
    let script = startup_script(&t, "exit 1\n");
    for shell in SHELLS {
        let root = tempfile::tempdir().expect("temp dir");
        let project = root.path().join("project");
        let repo = Path::new("https://alice:p@ss?w0rd@127.0.0.1:9/team/app.git?token=t0ken");
        let env = [
            ("CODER_CONVEX_PROJECT_DIR", project.as_path()),
            ("CONVEX_PROJECT_REPO", repo),
            ("HOME", root.path()),
            ("GIT_TERMINAL_PROMPT", Path::new("0")),
        ];
        let system = PathBuf::from(std::env::var("PATH").unwrap_or_default());
        let out = run(shell, &script, &env, &system, root.path());
        let text = show(&out);
        assert!(
            text.contains(&format!(
                "cloning https://127.0.0.1:9/team/app.git into {}",
                project.display()
            )),
            "{shell:?}: {text}"
        );
        for secret in ["alice", "p@ss", "w0rd", "t0ken"] {
            assert!(!text.contains(secret), "{shell:?}: {secret} in {text}");
        }
    }
}

/// `local.backup_command` with the keep parameter filled in.
fn backup_command(t: &Template) -> String {
    let raw = t.resolve(t.local("backup_command"));
    rendered(&raw.replace("${data.coder_parameter.backup_keep.value}", "7"))
}

#[test]
fn the_stop_backup_probes_first_and_says_why_it_took_none() {
    for (name, t) in both() {
        let script = backup_command(&t);
        for shell in SHELLS {
            for (state, backs_up) in [("down", false), ("", false), ("up · 1.2.3", true)] {
                let case = format!("{name} {shell:?} {state:?}");
                let root = tempfile::tempdir().expect("temp dir");
                let log = root.path().join("log");
                let project = root.path().join("project");
                let install = root.path().join("install");
                fs_err::create_dir_all(&project).expect("mkdir");
                fs_err::write(project.join(".env.convex.local"), "").expect("write");
                let answer = if state.is_empty() {
                    "exit 1".to_owned()
                } else {
                    format!("case $1 in status) echo '{state}'; exit 0;; esac")
                };
                stand_in(&install.join("coder-convex"), "installed", &log, &answer);
                let env = [
                    ("CODER_CONVEX_PROJECT_DIR", project.as_path()),
                    ("CODER_CONVEX_INSTALL_DIR", install.as_path()),
                    ("CODER_CONVEX_BACKUP_STOP_SECONDS", Path::new("120")),
                    ("HOME", root.path()),
                ];
                let system = PathBuf::from(std::env::var("PATH").unwrap_or_default());
                let out = run(shell, &script, &env, &system, root.path());
                let text = show(&out);
                let calls = fs_err::read_to_string(&log).unwrap_or_default();
                assert!(
                    calls.starts_with("installed status --metadata backend --timeout 5\n"),
                    "{case}: {calls}"
                );
                if backs_up {
                    assert!(out.status.success(), "{case}: {text}");
                    assert!(
                        calls.ends_with("installed backup --keep 7 --wait 110\n"),
                        "{case}: {calls}"
                    );
                } else {
                    assert_eq!(out.status.code(), Some(1), "{case}: {text}");
                    let reason = if state.is_empty() {
                        "not answering"
                    } else {
                        state
                    };
                    assert!(
                        text.contains(&format!("no backup: the Convex backend is {reason}")),
                        "{case}: {text}"
                    );
                    assert!(!calls.contains("backup"), "{case}: {calls}");
                }
            }
        }
    }
}

#[test]
fn the_startup_script_has_a_timeout() {
    for (name, t) in both() {
        let setup = t.convex().resource("coder_script", "convex");
        assert_eq!(source(setup, "timeout"), "var.setup_timeout", "{name}");
        assert_eq!(
            t.module_arg("setup_timeout")
                .map(ToString::to_string)
                .as_deref(),
            Some("var.setup_timeout_seconds"),
            "{name}"
        );
        assert_eq!(
            t.variable_default("setup_timeout_seconds").to_string(),
            "1800",
            "{name}"
        );
    }
}

#[test]
fn every_script_that_logs_a_url_uses_the_one_rule() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![
        root.join("scripts/install.sh"),
        root.join("coder-module/scripts/install.sh"),
    ];
    for (name, t) in both() {
        let seed = crate::templates::seed_script(&t);
        assert!(seed.contains(REDACT), "{name}: the seed script");
    }
    sources.push(root.join("coder-template/main.tf"));
    sources.push(root.join("coder-template/kubernetes/main.tf"));
    for path in &sources {
        let text = fs_err::read_to_string(path).expect("read");
        assert!(text.contains(REDACT), "{}", path.display());
        // No other sed that cuts a user part.
        for line in text.lines().filter(|l| l.contains("@|")) {
            assert!(line.contains(REDACT), "{}: {line}", path.display());
        }
    }
    let start = Template::load();
    assert!(
        crate::templates::text(start.local("pre_setup_script"))
            .expect("a heredoc")
            .contains(REDACT),
        "the clone line"
    );

    for shell in SHELLS {
        for (url, shown) in [
            (
                "https://alice:p@ss@host.example/a/b?t=1#f",
                "https://host.example/a/b",
            ),
            (
                "https://alice:pa?ss@host.example/x",
                "https://host.example/x",
            ),
            (
                "https://a:b@c@d@host.example:8443/",
                "https://host.example:8443/",
            ),
            (
                "https://host.example/@scope/pkg",
                "https://host.example/@scope/pkg",
            ),
            ("http://127.0.0.1:4873", "http://127.0.0.1:4873"),
            ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ] {
            let script = format!("printf '%s\\n' \"$1\" | {REDACT}");
            let out = Command::new(crate::common::require(shell[0]))
                .args(&shell[1..])
                .args(["-c", &script, "redact", url])
                .output()
                .expect("run");
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("{shown}\n"),
                "{shell:?} {url}"
            );
        }
    }
}
