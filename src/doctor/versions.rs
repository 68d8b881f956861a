//! The doctor's "convex CLI" check: the project's `convex` package against the backend's
//! version ([`version_skew`]).
//!
//! I/O: through `version_skew`.

use std::path::Path;

use crate::backend::Backend;
use crate::deploy::version_skew::{self, Skew};

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
        Skew::NotInstalled => Check::pass(
            NAME,
            "convex is not installed in the project: nothing deploys from here",
        ),
        Skew::Unknown { reason } | Skew::CliTooNew { reason, .. } => {
            Check::skip(NAME, format!("convex {cli}: not checked: {reason}"))
        }
    }
}
