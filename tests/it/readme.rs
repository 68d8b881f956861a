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
