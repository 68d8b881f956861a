//! Backups in both templates (Docker `coder-template/`, Kubernetes `coder-template/kubernetes/`):
//! a `coder_script` that runs `coder-convex backup` when the workspace stops, an optional daily
//! one (off by default), `--keep` from a parameter, and a seed backup restored once after the
//! first setup. Parsed HCL, as `template.rs` does; the seed script (`local.seed_script`) is
//! rendered from the HCL and run for real with stand-ins for `coder-convex` and `curl`
//! (`template_seed.rs`).

use hcl::Body;

use crate::templates::{Template, attr, bool_attr, number_attr, single_block, source, text_attr};
use crate::templates::{both, k8s_dir, named, pod_spec, seed_script};

/// The `seed_data` parameter's validation: empty, an absolute or `~/` path, or an https URL.
const SEED_REGEX: &str = "^$|^(/|~/)[^[:cntrl:]]*$|^https://[^[:space:][:cntrl:]]+$";

/// The line of the module's start script that runs the post-setup script (the templates' seed
/// script).
const RUN_POST_SETUP: &str = r#"sh -c "$post" post_setup"#;

#[test]
fn a_backup_runs_on_stop_with_keep_from_a_parameter() {
    for (name, t) in both() {
        let stop = t.resource("coder_script", "convex_backup_on_stop");
        assert!(bool_attr(stop, "run_on_stop"), "{name}");
        assert!(attr(stop, "run_on_start").is_none(), "{name}");
        assert_eq!(source(stop, "script"), "local.backup_command", "{name}");
        let command = t.resolve(t.local("backup_command"));
        assert!(
            command.contains(
                "exec coder-convex backup --keep ${data.coder_parameter.backup_keep.value}"
            ),
            "{name}: {command}"
        );
        let keep = t.data("coder_parameter", "backup_keep");
        assert_eq!(text_attr(keep, "type"), "number", "{name}");
        assert_eq!(number_attr(keep, "default"), 7.0, "{name}");
        assert!(bool_attr(keep, "mutable"), "{name}");
        let range = single_block(keep, "validation");
        assert_eq!(number_attr(range, "min"), 1.0, "{name}");
        assert_eq!(number_attr(range, "max"), 100.0, "{name}");
    }
}

#[test]
fn the_daily_backup_is_off_by_default_and_runs_on_a_cron() {
    for (name, t) in both() {
        let daily = t.resource("coder_script", "convex_backup_daily");
        assert_eq!(text_attr(daily, "cron"), "0 0 3 * * *", "{name}");
        assert_eq!(source(daily, "script"), "local.backup_command", "{name}");
        assert_eq!(
            source(daily, "count"),
            "data.coder_parameter.backup_daily.value ? 1 : 0",
            "{name}"
        );
        let param = t.data("coder_parameter", "backup_daily");
        assert_eq!(text_attr(param, "type"), "bool", "{name}");
        assert!(!bool_attr(param, "default"), "{name}");
        assert!(bool_attr(param, "mutable"), "{name}");
    }
}

#[test]
fn seed_data_is_an_immutable_validated_parameter() {
    for (name, t) in both() {
        let seed = t.data("coder_parameter", "seed_data");
        assert_eq!(text_attr(seed, "type"), "string", "{name}");
        assert_eq!(text_attr(seed, "default"), "", "{name}");
        assert!(!bool_attr(seed, "mutable"), "{name}");
        let validation = single_block(seed, "validation");
        assert_eq!(text_attr(validation, "regex"), SEED_REGEX, "{name}");
        assert!(!text_attr(validation, "error").is_empty(), "{name}");
        let description = text_attr(seed, "description");
        for accepted in ["absolute", "~/", "https://", "Empty"] {
            assert!(description.contains(accepted), "{name}: {description}");
        }
    }
}

/// The value reaches the seed script through the agent's env only: it appears in no script.
#[test]
fn the_seed_value_travels_in_the_agent_env_not_in_a_script() {
    let reference = "data.coder_parameter.seed_data.value";
    for (name, t) in both() {
        assert_eq!(t.text.matches(reference).count(), 1, "{name}");
        let Some(hcl::Expression::Object(env)) = attr(t.resource("coder_agent", "main"), "env")
        else {
            panic!("{name}: the agent has an env object");
        };
        let value = env
            .iter()
            .find(|(k, _)| k.to_string() == "CONVEX_SEED_DATA")
            .map(|(_, v)| v.to_string());
        assert_eq!(value.as_deref(), Some(reference), "{name}");
    }
}

#[test]
fn the_seed_is_restored_after_setup_by_the_shared_seed_script() {
    for (name, t) in both() {
        assert_eq!(
            t.module_arg("post_setup_script")
                .map(ToString::to_string)
                .as_deref(),
            Some("local.seed_script"),
            "{name}"
        );
        // The module runs it after a setup that succeeded only.
        let script = fs_err::read_to_string(t.convex().dir.join("scripts/start.sh.tftpl"))
            .expect("the module's start script");
        let lines: Vec<&str> = script.lines().map(str::trim).collect();
        let setup = lines
            .iter()
            .position(|l| *l == "if ! coder-convex setup; then")
            .unwrap_or_else(|| panic!("{name}: runs setup"));
        let seed = lines
            .iter()
            .position(|l| *l == RUN_POST_SETUP)
            .unwrap_or_else(|| panic!("{name}: runs the post-setup script"));
        assert!(setup < seed, "{name}: the seed after setup");
        assert!(
            lines[setup + 1..seed].contains(&"exit 1"),
            "{name}: only after a setup that succeeded"
        );
        assert!(!script.contains("seed_data"), "{name}");
    }
}

/// Both templates carry the same parameters and the same script text, byte for byte.
#[test]
fn both_templates_share_the_backup_parameters_and_scripts() {
    let [(_, docker), (_, k8s)] = both();
    for param in ["backup_keep", "backup_daily", "seed_data"] {
        let print = |t: &Template| hcl::to_string(t.data("coder_parameter", param)).unwrap();
        assert_eq!(print(&docker), print(&k8s), "{param}");
    }
    assert_eq!(
        docker.resolve(docker.local("backup_command")),
        k8s.resolve(k8s.local("backup_command"))
    );
    assert_eq!(seed_script(&docker), seed_script(&k8s));
    // Their orders are their own in each template.
    for (name, t) in both() {
        let params = t.labelled("data", "coder_parameter");
        for backup in ["backup_keep", "backup_daily", "seed_data"] {
            let order = number_attr(params[backup], "order");
            for (other, body) in &params {
                if other != backup {
                    assert_ne!(
                        number_attr(body, "order"),
                        order,
                        "{name}: {backup}, {other}"
                    );
                }
            }
        }
    }
}

/// In the pod, the stop backup runs in the workspace container while the backend sidecar
/// still runs (sidecars stop after it), within the pod's grace period; backups and the seed
/// marker are under `~/.local/share`, on the home PVC.
#[test]
fn kubernetes_stop_backup_has_its_time_and_lands_on_the_home_pvc() {
    let t = Template::load_dir(&k8s_dir());
    let stop = t.resource("coder_script", "convex_backup_on_stop");
    assert_eq!(source(stop, "timeout"), "var.backup_stop_seconds");
    assert_eq!(t.variable_default("backup_stop_seconds").to_string(), "120");
    assert!(
        source(pod_spec(&t), "termination_grace_period_seconds")
            .starts_with("var.backup_stop_seconds + "),
        "the pod's grace period covers the stop backup"
    );

    assert_eq!(t.resolve(t.local("home")), "/home/coder");
    let dev = named(pod_spec(&t), "container", "dev");
    let home_mount: Vec<&Body> = crate::templates::blocks(dev, "volume_mount")
        .filter(|m| text_attr(m, "name") == "home")
        .collect();
    assert_eq!(home_mount.len(), 1);
    assert_eq!(source(home_mount[0], "mount_path"), "local.home");
    assert!(attr(home_mount[0], "read_only").is_none(), "writable");
    let volume = named(pod_spec(&t), "volume", "home");
    assert_eq!(
        source(
            single_block(volume, "persistent_volume_claim"),
            "claim_name"
        ),
        "kubernetes_persistent_volume_claim_v1.home.metadata[0].name"
    );
    let keep = text_attr(t.data("coder_parameter", "backup_keep"), "description");
    assert!(
        keep.contains("~/.local/share/coder-convex/backups"),
        "{keep}"
    );
}

/// The validation regex, evaluated: `grep -E` (POSIX ERE) and Coder's Go regexp (RE2) agree
/// on this one's constructs (anchors, alternation, bracket expressions with classes). `-z`
/// makes each value one record, so a newline inside it is part of the value.
#[test]
fn the_seed_regex_accepts_paths_and_https_urls_only() {
    let accepted = [
        "",
        "/home/coder/seed/snapshot.zip",
        "/tmp/x/it's $(touch pwned) backup",
        "~/backups/backup-1700000000000",
        "https://example.com/seed.zip",
        "https://example.com/seed.zip?X-Amz-Signature=abc&X-Amz-Expires=600",
    ];
    let rejected = [
        "backup-1700000000000",
        "seed.zip",
        "./seed.zip",
        "~alice/seed.zip",
        "~",
        "http://example.com/seed.zip",
        "HTTPS://example.com/seed.zip",
        "file:///tmp/seed.zip",
        "https://",
        "https://example.com/a b.zip",
        "/tmp/a\nb",
        " /tmp/seed.zip",
        "/tmp/seed.zip\n",
    ];
    let matches = |value: &str| -> bool {
        use std::io::Write as _;
        let mut grep = std::process::Command::new(crate::common::require("grep"))
            .args(["-Ezq", "--", SEED_REGEX])
            .stdin(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdin = grep.stdin.take().unwrap();
        stdin.write_all(value.as_bytes()).unwrap();
        stdin.write_all(b"\0").unwrap();
        drop(stdin);
        grep.wait().unwrap().success()
    };
    for value in accepted {
        assert!(matches(value), "rejects {value:?}");
    }
    for value in rejected {
        assert!(!matches(value), "accepts {value:?}");
    }
}
