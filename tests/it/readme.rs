//! The README documents every environment variable and exit code the code knows, and every
//! program the tests need (which `.ci/run` installs).

use coder_convex::env_vars::ALL;
use coder_convex::error::{ErrorCode, ExitStatus};

fn readme() -> String {
    fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap()
}

#[test]
fn every_environment_variable_is_in_the_readme_table() {
    let readme = readme();
    let missing: Vec<&str> = ALL
        .iter()
        .map(|v| v.name)
        .filter(|name| {
            !readme
                .lines()
                .any(|l| l.starts_with(&format!("| `{name}`")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "README variable table lacks: {missing:?}"
    );
}

#[test]
fn every_test_prerequisite_is_in_the_readme_and_installed_by_ci() {
    let readme = readme();
    let tests = readme
        .split("\n## Tests\n")
        .nth(1)
        .and_then(|s| s.split("\n## ").next())
        .expect("a Tests section");
    let ci = fs_err::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/.ci/run")).unwrap();
    for (tool, package) in crate::common::PREREQUISITES {
        let row = format!("| `{tool}` | `{package}` |");
        assert!(
            tests.lines().any(|l| l.starts_with(&row)),
            "README's Tests section lacks the row {row}"
        );
        assert!(
            ci.contains(&format!("missing+=({package})")),
            ".ci/run does not install {package} (for {tool})"
        );
    }
}

#[test]
fn every_exit_code_is_documented() {
    let readme = readme();
    for status in ExitStatus::iter() {
        let code = status.code();
        assert!(
            readme.lines().any(|l| l.starts_with(&format!("| {code} "))),
            "exit code {code} ({status:?}) missing"
        );
    }
}

/// Every `Error` reaches an `ErrorCode` (`Error::code` matches exhaustively), so this covers
/// every variant: its row names the code, its exit code and its meaning.
#[test]
fn every_json_error_code_is_documented_with_its_exit_code() {
    let readme = readme();
    for code in ErrorCode::iter() {
        let row = format!(
            "| `{}` | {} | {} |",
            code.as_str(),
            code.exit_status().code(),
            code.meaning()
        );
        assert!(
            readme.lines().any(|l| l == row),
            "README lacks the row {row}"
        );
    }
}

/// Every command path of the tree, and every long flag of each command, as clap knows them.
fn commands_and_flags() -> (Vec<String>, Vec<(String, String)>) {
    fn walk(
        command: &clap::Command,
        prefix: &str,
        commands: &mut Vec<String>,
        flags: &mut Vec<(String, String)>,
    ) {
        for arg in command.get_arguments() {
            if let Some(long) = arg.get_long()
                && !["help", "version"].contains(&long)
            {
                flags.push((prefix.to_owned(), format!("--{long}")));
            }
        }
        for sub in command.get_subcommands().filter(|s| s.get_name() != "help") {
            let path = format!("{prefix} {}", sub.get_name());
            commands.push(path.clone());
            walk(sub, &path, commands, flags);
        }
    }
    let (mut commands, mut flags) = (Vec::new(), Vec::new());
    let cli = <coder_convex::Cli as clap::CommandFactory>::command();
    walk(&cli, "coder-convex", &mut commands, &mut flags);
    (commands, flags)
}

/// The README names every command (`coder-convex db list`) and every long flag (`` `--x` `` or
/// `` `--x VALUE` ``) of the command tree: a new flag is documented or this fails.
#[test]
fn every_command_and_flag_is_in_the_readme() {
    let readme = readme();
    let (commands, flags) = commands_and_flags();
    assert!(
        commands.iter().any(|c| c == "coder-convex db drop"),
        "the walk reaches nested commands: {commands:?}"
    );
    let missing_commands: Vec<&String> = commands
        .iter()
        .filter(|c| !readme.contains(&format!("`{c}")))
        .collect();
    let spans = code_spans(&readme);
    let missing_flags: Vec<String> = flags
        .iter()
        .filter(|(_, flag)| !spans.iter().any(|span| names_flag(span, flag)))
        .map(|(command, flag)| format!("{command} {flag}"))
        .collect();
    assert!(
        missing_commands.is_empty() && missing_flags.is_empty(),
        "README lacks commands {missing_commands:?} and flags {missing_flags:?}"
    );
}

/// The text between backticks, line by line (the README's code spans).
fn code_spans(text: &str) -> Vec<&str> {
    text.lines()
        .flat_map(|line| line.split('`').skip(1).step_by(2))
        .collect()
}

/// `span` holds `flag` as a whole word (`--wait SECS`, `--deploy-arg=…`, `[--yes]`).
fn names_flag(span: &str, flag: &str) -> bool {
    span.match_indices(flag).any(|(at, _)| {
        let after = span[at + flag.len()..].chars().next();
        !after.is_some_and(|c| c.is_ascii_alphanumeric() || c == '-')
    })
}
