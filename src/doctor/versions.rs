//! The doctor's "convex CLI" check: the project's `convex` package against the backend's
//! version ([`version_skew`]).
//!
//! I/O: through `version_skew`.

use std::path::Path;

use crate::backend::Backend;
use crate::deploy::version_skew::{self, Skew};
use crate::deploy::{PackageManager, functions_dir};

use super::check::{Check, CheckId};

const NAME: CheckId = CheckId::ConvexCli;

pub(super) async fn check(
    dir: &Path,
    package_json: Option<&serde_json::Value>,
    backend: &Backend,
    version: &str,
) -> Check {
    let report = version_skew::assess(dir, package_json, backend, version, true).await;
    let cli = report.cli_version.as_deref().unwrap_or("not installed");
    if let Some(warning) = report.warning() {
        return Check::warn(NAME, warning, report.hint.unwrap_or_default());
    }
    match report.skew {
        Skew::Compatible => Check::pass(NAME, report.compatible_detail()),
        Skew::NotInstalled => not_installed(dir, package_json),
        Skew::Unknown { reason } | Skew::CliTooNew { reason, .. } => {
            Check::skip(NAME, format!("convex {cli}: not checked: {reason}"))
        }
    }
}

/// No `convex` package: fine for a project without functions, a failure when there are
/// functions to deploy (every `setup` would fail its deploy, every backup its export).
fn not_installed(dir: &Path, package_json: Option<&serde_json::Value>) -> Check {
    let functions = functions_dir(dir).unwrap_or_else(|_| dir.join("convex"));
    if !functions.is_dir() {
        return Check::pass(
            NAME,
            "convex is not installed and there are no functions: nothing deploys from here",
        );
    }
    let pm = PackageManager::detect(dir, package_json);
    let shown = functions
        .strip_prefix(dir)
        .unwrap_or(&functions)
        .display()
        .to_string();
    Check::fail(
        NAME,
        format!(
            "{shown}/ holds functions but the convex package is not installed: setup cannot deploy them and backups cannot run"
        ),
        format!(
            "install the project's packages (`{}`; add convex with `{}` if package.json lacks it), then run `coder-convex setup`",
            pm.install_packages_hint(dir),
            pm.install_hint()
        ),
    )
}
