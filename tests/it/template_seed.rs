//! The templates' seed script (`local.seed_script`), rendered from the HCL of both templates
//! and run with `sh` (and bash) in a temp HOME, with stand-ins for `coder-convex` and `curl`
//! that record their arguments. Nothing here reaches the network: `curl` is the stand-in.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::common::show;
use tempfile::TempDir;

use crate::templates::both;
use crate::templates::seed_script;

/// Quotes, `$(…)`, backticks, `;` and spaces: shell syntax if a value were ever part of a
/// script's text (the first one ended the old `seed='…'` quoting).
const HOSTILE: [&str; 2] = [
    "/tmp/x/it's $(touch pwned) backup",
    "/tmp/x/'\"; touch pwned; `touch pwned` $HOME ${IFS}backup",
];
const URL: &str = "https://alice:s3cret@seeds.example.com/team/seed.zip?token=t0ken#frag";

/// The shells a workspace image may run `#!/bin/sh` scripts with.
const SHELLS: [&str; 2] = ["sh", "bash"];

/// Records its arguments (count, then one per line) in `<log dir>/<its name>`, then exits.
fn recorder(log_dir: &Path, exit: i32, extra: &str) -> String {
    format!(
        "#!/bin/sh\n\
         {{ printf '%s\\n' \"$#\"; for a in \"$@\"; do printf '%s\\n' \"$a\"; done; }} \
         >>'{}/'\"${{0##*/}}\"\n\
         {extra}\n\
         exit {exit}\n",
        log_dir.display()
    )
}

/// Writes a stand-in archive to curl's `-o` path (a successful download).
const CURL_WRITES: &str = r#"prev=
for a in "$@"; do
  if [ "$prev" = -o ]; then printf 'PK' >"$a"; fi
  prev=$a
done"#;

struct Seed {
    root: TempDir,
    script: PathBuf,
}

impl Seed {
    /// A temp root with `home/`, `work/` (the cwd), `tmp/` (TMPDIR), `bin/` and `log/`.
    fn new(script: &str, restore_exit: i32, curl_exit: i32) -> Self {
        let root = tempfile::tempdir().unwrap();
        for dir in ["home", "work", "tmp", "bin", "log"] {
            fs_err::create_dir(root.path().join(dir)).unwrap();
        }
        let log = root.path().join("log");
        let write = |name: &str, text: String| {
            use std::os::unix::fs::PermissionsExt as _;
            let path = root.path().join("bin").join(name);
            fs_err::write(&path, text).unwrap();
            fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        write("coder-convex", recorder(&log, restore_exit, ""));
        let writes = if curl_exit == 0 { CURL_WRITES } else { "" };
        write("curl", recorder(&log, curl_exit, writes));
        let path = root.path().join("seed.sh");
        fs_err::write(&path, script).unwrap();
        Self { root, script: path }
    }

    fn dir(&self, name: &str) -> PathBuf {
        self.root.path().join(name)
    }

    /// Runs the script under `shell` with a clean environment, as the agent would.
    fn run(&self, shell: &str, seed: Option<&str>) -> Output {
        self.run_with(shell, seed, &[])
    }

    fn run_with(&self, shell: &str, seed: Option<&str>, extra: &[(&str, &Path)]) -> Output {
        let system_path = std::env::var_os("PATH").unwrap_or_default();
        let mut path = vec![self.dir("bin")];
        path.extend(std::env::split_paths(&system_path));
        let mut cmd = Command::new(crate::common::require(shell));
        cmd.arg(&self.script)
            .current_dir(self.dir("work"))
            .env_clear()
            .env("PATH", std::env::join_paths(path).unwrap())
            .env("HOME", self.dir("home"))
            .env("TMPDIR", self.dir("tmp"))
            .stdin(Stdio::null());
        if let Some(seed) = seed {
            cmd.env("CONVEX_SEED_DATA", seed);
        }
        cmd.envs(extra.iter().copied());
        cmd.output().unwrap()
    }

    /// Each call's arguments, in order.
    fn calls(&self, program: &str) -> Vec<Vec<String>> {
        let Ok(log) = fs_err::read_to_string(self.dir("log").join(program)) else {
            return Vec::new();
        };
        let mut lines = log.lines();
        let mut calls = Vec::new();
        while let Some(count) = lines.next() {
            let count: usize = count.parse().unwrap();
            calls.push(
                (0..count)
                    .map(|_| lines.next().unwrap().to_owned())
                    .collect(),
            );
        }
        calls
    }

    fn marker(&self) -> PathBuf {
        self.dir("home").join(".local/share/coder-convex/seeded")
    }

    /// Every file and directory named `pwned` under the temp root.
    fn pwned(&self) -> Vec<PathBuf> {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in fs_err::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.file_name().is_some_and(|n| n == "pwned") {
                    found.push(path.clone());
                }
                if path.is_dir() && !path.is_symlink() {
                    walk(&path, found);
                }
            }
        }
        let mut found = Vec::new();
        walk(self.root.path(), &mut found);
        found
    }

    fn tmp_is_empty(&self) -> bool {
        fs_err::read_dir(self.dir("tmp")).unwrap().next().is_none()
    }
}

fn restore(backup: &str) -> Vec<String> {
    ["restore", backup, "--seed"].map(str::to_owned).to_vec()
}

fn all() -> impl Iterator<Item = (String, String)> {
    both().into_iter().flat_map(|(name, t)| {
        let script = seed_script(&t);
        SHELLS.map(move |shell| (format!("{name} template, {shell}"), script.clone()))
    })
}

fn shell_of(case: &str) -> &str {
    case.rsplit(", ").next().unwrap()
}

#[test]
fn a_hostile_seed_path_reaches_restore_as_one_argument_and_only_once() {
    for (case, script) in all() {
        for hostile in HOSTILE {
            let seed = Seed::new(&script, 0, 0);
            let out = seed.run(shell_of(&case), Some(hostile));
            assert!(out.status.success(), "{case}: {}", show(&out));
            assert_eq!(seed.calls("coder-convex"), [restore(hostile)], "{case}");
            assert_eq!(seed.pwned(), Vec::<PathBuf>::new(), "{case}");
            assert!(seed.marker().is_file(), "{case}: the marker is written");

            // The next start restores nothing.
            let again = seed.run(shell_of(&case), Some(hostile));
            assert!(again.status.success(), "{case}: {}", show(&again));
            assert_eq!(seed.calls("coder-convex").len(), 1, "{case}");
            assert!(seed.calls("curl").is_empty(), "{case}");
        }
    }
}

#[test]
fn a_failed_restore_writes_no_marker_and_is_tried_again() {
    for (case, script) in all() {
        let seed = Seed::new(&script, 1, 0);
        let out = seed.run(shell_of(&case), Some("/seeds/backup-1"));
        assert!(!out.status.success(), "{case}: a failure is reported");
        assert!(
            show(&out).contains("seeding failed"),
            "{case}: {}",
            show(&out)
        );
        assert!(!seed.marker().exists(), "{case}");

        let again = seed.run(shell_of(&case), Some("/seeds/backup-1"));
        assert!(!again.status.success(), "{case}");
        assert_eq!(
            seed.calls("coder-convex"),
            [restore("/seeds/backup-1"), restore("/seeds/backup-1")],
            "{case}"
        );
    }
}

#[test]
fn an_empty_seed_restores_nothing() {
    for (case, script) in all() {
        for value in [None, Some("")] {
            let seed = Seed::new(&script, 0, 0);
            let out = seed.run(shell_of(&case), value);
            assert!(out.status.success(), "{case}: {}", show(&out));
            assert!(seed.calls("coder-convex").is_empty(), "{case} {value:?}");
            assert!(!seed.marker().exists(), "{case} {value:?}");
        }
    }
}

#[test]
fn a_home_path_is_expanded_and_a_relative_one_refused() {
    for (case, script) in all() {
        let seed = Seed::new(&script, 0, 0);
        let out = seed.run(shell_of(&case), Some("~/seeds/it's here.zip"));
        assert!(out.status.success(), "{case}: {}", show(&out));
        let home = seed.dir("home").join("seeds/it's here.zip");
        assert_eq!(
            seed.calls("coder-convex"),
            [restore(home.to_str().unwrap())],
            "{case}"
        );

        // Not reachable through the parameter's validation; refused all the same.
        let seed = Seed::new(&script, 0, 0);
        for value in ["backup-1", "-x", "http://seeds.example.com/seed.zip"] {
            let out = seed.run(shell_of(&case), Some(value));
            assert!(!out.status.success(), "{case}: {value}");
        }
        assert!(seed.calls("coder-convex").is_empty(), "{case}");
        assert!(seed.calls("curl").is_empty(), "{case}");
        assert!(!seed.marker().exists(), "{case}");
    }
}

#[test]
fn an_https_seed_is_downloaded_over_https_only_then_restored() {
    for (case, script) in all() {
        let seed = Seed::new(&script, 0, 0);
        let out = seed.run(shell_of(&case), Some(URL));
        let log = show(&out);
        assert!(out.status.success(), "{case}: {log}");

        let curl = seed.calls("curl");
        assert_eq!(curl.len(), 1, "{case}");
        let argv = &curl[0];
        let at = |flag: &str| argv.iter().position(|a| a == flag).unwrap();
        assert_eq!(argv[at("--proto") + 1], "=https", "{case}: {argv:?}");
        assert_eq!(argv[at("--proto-redir") + 1], "=https", "{case}: {argv:?}");
        assert_eq!(argv[at("--max-time") + 1], "600", "{case}: {argv:?}");
        assert!(argv.contains(&"-fsSL".to_owned()), "{case}: {argv:?}");
        assert_eq!(argv[argv.len() - 2..], ["--", URL], "{case}: {argv:?}");
        let archive = argv[at("-o") + 1].clone();
        assert!(
            Path::new(&archive).starts_with(seed.dir("tmp")),
            "{case}: {archive}"
        );
        assert_eq!(seed.calls("coder-convex"), [restore(&archive)], "{case}");
        assert!(seed.tmp_is_empty(), "{case}: the download is removed");
        assert!(seed.marker().is_file(), "{case}");

        // The log names the host and path, never the credentials or the query.
        assert!(
            log.contains("https://seeds.example.com/team/seed.zip\n"),
            "{case}: {log}"
        );
        for secret in ["alice", "s3cret", "t0ken", "frag"] {
            assert!(!log.contains(secret), "{case}: {secret} in {log}");
        }
    }
}

#[test]
fn a_failed_download_restores_nothing_and_is_tried_again() {
    for (case, script) in all() {
        let seed = Seed::new(&script, 0, 22);
        for _ in 0..2 {
            let out = seed.run(shell_of(&case), Some(URL));
            assert!(!out.status.success(), "{case}: a failure is reported");
            let log = show(&out);
            assert!(log.contains("could not be downloaded"), "{case}: {log}");
            assert!(!log.contains("s3cret") && !log.contains("t0ken"), "{log}");
        }
        assert_eq!(seed.calls("curl").len(), 2, "{case}: tried on each start");
        assert!(seed.calls("coder-convex").is_empty(), "{case}");
        assert!(!seed.marker().exists(), "{case}");
        assert!(
            seed.tmp_is_empty(),
            "{case}: the download directory is removed"
        );
    }
}

/// The marker sits where coder-convex keeps its backups: under an absolute `XDG_DATA_HOME`;
/// a relative one is ignored.
#[test]
fn the_marker_follows_an_absolute_xdg_data_home() {
    let script = seed_script(&both()[0].1);
    let seed = Seed::new(&script, 0, 0);
    let data = seed.dir("home").join("data");
    let out = seed.run_with("sh", Some("/seeds/backup-1"), &[("XDG_DATA_HOME", &data)]);
    assert!(out.status.success(), "{}", show(&out));
    assert!(data.join("coder-convex/seeded").is_file());
    assert!(!seed.marker().exists());

    let seed = Seed::new(&script, 0, 0);
    let relative = Path::new("data");
    let out = seed.run_with(
        "sh",
        Some("/seeds/backup-1"),
        &[("XDG_DATA_HOME", relative)],
    );
    assert!(out.status.success(), "{}", show(&out));
    assert!(seed.marker().is_file());
    assert!(!seed.dir("work/data").exists());
}
