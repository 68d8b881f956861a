//! The Docker template's backups: a `coder_script` that runs `coder-convex backup` when the
//! workspace stops, an optional daily one (off by default), `--keep` from a parameter, and a
//! seed backup restored once after the first setup (parsed HCL, as `template.rs` does).

use crate::template::{Template, bool_attr, text_attr};

#[test]
fn a_backup_runs_on_stop_with_keep_from_a_parameter() {
    let template = Template::load();
    let stop = template.resource("coder_script", "convex_backup_on_stop");
    assert!(bool_attr(stop, "run_on_stop"));
    assert!(crate::template::attr(stop, "run_on_start").is_none());
    let command = template.resolve(template.local("backup_command"));
    assert!(
        command
            .contains("exec coder-convex backup --keep ${data.coder_parameter.backup_keep.value}"),
        "{command}"
    );
    let keep = template.data("coder_parameter", "backup_keep");
    assert_eq!(text_attr(keep, "type"), "number");
    assert!(bool_attr(keep, "mutable"));
}

#[test]
fn the_daily_backup_is_off_by_default_and_runs_on_a_cron() {
    let template = Template::load();
    let daily = template.resource("coder_script", "convex_backup_daily");
    assert_eq!(text_attr(daily, "cron"), "0 0 3 * * *");
    let count = crate::template::source(daily, "count");
    assert!(
        count.contains("data.coder_parameter.backup_daily.value ? 1 : 0"),
        "{count}"
    );
    let param = template.data("coder_parameter", "backup_daily");
    assert_eq!(text_attr(param, "type"), "bool");
    assert!(!bool_attr(param, "default"));
}

#[test]
fn seed_data_is_restored_once_after_the_first_setup() {
    let template = Template::load();
    let seed = template.data("coder_parameter", "seed_data");
    assert_eq!(text_attr(seed, "default"), "");
    assert!(!bool_attr(seed, "mutable"));
    let script = text_attr(template.resource("coder_script", "convex_setup"), "script");
    let lines: Vec<&str> = script.lines().map(str::trim).collect();
    let setup = lines
        .iter()
        .position(|l| *l == "if ! coder-convex setup; then")
        .unwrap();
    let restore = lines
        .iter()
        .position(|l| l.starts_with("if coder-convex restore \"$seed\" --yes --force"))
        .expect("the seed is restored");
    assert!(setup < restore, "restore after setup");
    assert!(
        lines.iter().any(|l| l.contains("[ ! -e \"$marker\" ]")),
        "only once"
    );
    assert!(
        lines.iter().any(|l| l.contains("date >\"$marker\"")),
        "recorded"
    );
}
