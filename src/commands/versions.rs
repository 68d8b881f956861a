//! The backend's version in `setup` and `status`: whether the project's `convex` CLI is newer
//! than the backend supports ([`version_skew`]), and whether the backend changed since the
//! last `setup`, with the last backup taken before the change.

use serde::Serialize;

use crate::backend::Backend;
use crate::backups::{self, Entry};
use crate::version_skew;

use super::context::Ctx;

/// The backend version changed between two `setup` runs.
#[derive(Debug, Serialize)]
pub(crate) struct Change {
    pub(crate) from: String,
    pub(crate) to: String,
    /// The newest backup of the earlier version (`None`: there is none).
    pub(crate) last_backup_before: Option<Entry>,
}

/// Compare the CLI with the backend; a CLI that is too new is a warning with the fix.
pub(crate) async fn skew(
    ctx: &Ctx<'_>,
    package_json: Option<&serde_json::Value>,
    backend: &Backend,
    version: &str,
) -> version_skew::Report {
    let report = version_skew::assess(ctx.dir, package_json, backend, version, true).await;
    if let Some(warning) = report.warning() {
        ctx.out.warn(warning);
        if let Some(hint) = &report.hint {
            ctx.out.info(format!("  hint: {hint}"));
        }
    }
    report
}

/// Record the version `setup` saw in the instance's backup store; say so when it changed.
/// Best effort: a store that cannot be written costs the note, not the setup.
pub(crate) fn note_change(ctx: &Ctx<'_>, owner: &backups::Owner, version: &str) -> Option<Change> {
    let store = backups::store(ctx.env, &owner.instance).ok()?;
    let from = match backups::note_backend_version(&store, owner, version) {
        Ok(from) => from?,
        Err(e) => {
            tracing::debug!(error = %e, "could not record the backend version");
            return None;
        }
    };
    let last_backup_before = backups::last_before(&store, owner, &from).ok().flatten();
    let shown = crate::backend_text::sanitize;
    ctx.out.warn(format!(
        "the backend changed since the last setup: {} → {} (upgrades migrate the data forward only)",
        shown(&from),
        shown(version)
    ));
    match &last_backup_before {
        Some(entry) => ctx.out.info(format!(
            "  the last backup before the change: {}; `coder-convex restore {} --yes` into a backend of the earlier version goes back",
            super::backup::describe(entry),
            entry.name
        )),
        None => ctx.out.info(format!(
            "  no backup of {} was taken before the change",
            shown(&from)
        )),
    }
    Some(Change {
        from,
        to: version.to_owned(),
        last_backup_before,
    })
}
