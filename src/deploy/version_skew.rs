//! Whether the project's `convex` CLI can deploy to this backend (README "Your data").
//!
//! Upstream has no compatibility API: a newer CLI calls endpoints and sends fields an older
//! backend does not know, and the deploy fails late (a 404 on `evaluate_push`, a 400 on
//! `start_push`). The known breaks are [`BREAKS`]. The backend's build date comes from its
//! `/version` when that names one (`precompiled-2026-01-28-e0de21f`, upstream's release
//! names; the templates and `up` set it for the image they pin). A backend that reports
//! `unknown` is asked whether it serves the endpoint of the first break.
//!
//! I/O: reads the installed `convex` package; one keyless request to the backend.

use std::path::Path;

use serde::Serialize;

use crate::backend::{Backend, CallError};
use crate::deploy::{self, PackageManager};

/// From `cli` on, deploys need a backend built on or after `backend` (YYYY-MM-DD).
#[derive(Debug)]
pub(crate) struct Break {
    pub(crate) cli: (u64, u64, u64),
    /// The newest CLI without this need.
    pub(crate) last_without: &'static str,
    pub(crate) backend: &'static str,
    pub(crate) what: &'static str,
}

/// Oldest first. Sources: get-convex/convex-backend#258 and convex-js#105 (1.29.1 works,
/// 1.29.2 fails) with the backend commit adding the route (ef9b6644c, 2025-11-04);
/// convex-js#123 (1.31.6 works, 1.31.7 fails) with the commit accepting `changedModules`
/// (e3c49f883, 2026-01-22).
pub(crate) const BREAKS: [Break; 2] = [
    Break {
        cli: (1, 29, 2),
        last_without: "1.29.1",
        backend: "2025-11-04",
        what: "its deploy calls POST /api/deploy2/evaluate_push (a 404 on older backends)",
    },
    Break {
        cli: (1, 31, 7),
        last_without: "1.31.6",
        backend: "2026-01-22",
        what: "its start_push sends `changedModules`, not `functions` (a 400 on older backends)",
    },
];

/// The `YYYY-MM-DD` a backend version names: three `-`-separated fields forming a date.
pub(crate) fn build_date(version: &str) -> Option<String> {
    let fields: Vec<&str> = version.trim().split('-').collect();
    fields.windows(3).find_map(|w| {
        let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
        if !(digits(w[0], 4) && digits(w[1], 2) && digits(w[2], 2)) {
            return None;
        }
        let (month, day): (u32, u32) = (w[1].parse().ok()?, w[2].parse().ok()?);
        ((1..=12).contains(&month) && (1..=31).contains(&day))
            .then(|| format!("{}-{}-{}", w[0], w[1], w[2]))
    })
}

/// The verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub(crate) enum Skew {
    /// Every known need of this CLI is met.
    Compatible,
    /// The CLI is newer than the backend supports: deploys fail.
    CliTooNew {
        needs_backend_from: String,
        reason: String,
        /// The newest CLI this backend takes.
        last_cli_that_works: String,
    },
    /// Cannot tell; `reason` says why.
    Unknown { reason: String },
    /// The project has no `convex` package: nothing deploys from here.
    NotInstalled,
}

/// The breaks a CLI version hits, oldest first (`None`: the version does not parse). A
/// prerelease counts as its release: `1.29.2-alpha.1` already carries 1.29.2's change.
fn needs(cli: &str) -> Option<Vec<&'static Break>> {
    let v = semver::Version::parse(cli.trim().trim_start_matches('v')).ok()?;
    let release = (v.major, v.minor, v.patch);
    Some(BREAKS.iter().filter(|b| release >= b.cli).collect())
}

/// Whether asking the backend for `evaluate_push` can settle what [`judge`] cannot.
pub(crate) fn probe_helps(cli: &str, backend_version: &str) -> bool {
    build_date(backend_version).is_none() && needs(cli).is_some_and(|n| !n.is_empty())
}

/// The pure decision. `evaluate_push`: whether the backend serves that route (`None`: not asked).
pub(crate) fn judge(cli: &str, backend_version: &str, evaluate_push: Option<bool>) -> Skew {
    let Some(needs) = needs(cli) else {
        return Skew::Unknown {
            reason: "the project's convex version is not known".to_owned(),
        };
    };
    let Some(newest) = needs.last() else {
        return Skew::Compatible;
    };
    let too_new = |b: &Break| Skew::CliTooNew {
        needs_backend_from: b.backend.to_owned(),
        reason: format!("convex {cli}: {}", b.what),
        last_cli_that_works: b.last_without.to_owned(),
    };
    if let Some(date) = build_date(backend_version) {
        // The oldest need the backend misses decides the CLI that still works.
        return match needs.iter().find(|b| date.as_str() < b.backend) {
            Some(b) => too_new(b),
            None => Skew::Compatible,
        };
    }
    match evaluate_push {
        Some(false) => too_new(needs[0]),
        Some(true) if needs.len() == 1 => Skew::Compatible,
        Some(true) => Skew::Unknown {
            reason: format!(
                "the backend reports no build date ({backend_version:?}); convex {cli} needs one from {}",
                newest.backend
            ),
        },
        None => Skew::Unknown {
            reason: format!("the backend reports no build date ({backend_version:?})"),
        },
    }
}

/// What `setup`, `status` and `doctor` report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    /// The project's `convex` package (`None`: not installed, or Plug'n'Play).
    pub(crate) cli_version: Option<String>,
    pub(crate) backend_version: String,
    pub(crate) backend_built: Option<String>,
    #[serde(flatten)]
    pub(crate) skew: Skew,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) hint: Option<String>,
}

impl Report {
    /// Why the CLI suits the backend, for [`Skew::Compatible`].
    pub(crate) fn compatible_detail(&self) -> String {
        let cli = self.cli_version.as_deref().unwrap_or_default();
        match (
            &self.backend_built,
            needs(cli).unwrap_or_default().is_empty(),
        ) {
            (Some(built), _) => format!("convex {cli} deploys to this backend (built {built})"),
            (None, true) => {
                format!("convex {cli} needs nothing that any backend release lacks")
            }
            (None, false) => format!(
                "convex {cli} deploys to this backend (it serves POST /api/deploy2/evaluate_push)"
            ),
        }
    }

    /// One line for people (`None` when there is nothing to say).
    pub(crate) fn warning(&self) -> Option<String> {
        match &self.skew {
            Skew::CliTooNew {
                needs_backend_from,
                reason,
                ..
            } => Some(format!(
                "the project's convex CLI is newer than this backend supports ({}): {reason}; it needs a backend built on or after {needs_backend_from}",
                self.backend_version
            )),
            _ => None,
        }
    }
}

/// Whether `POST /api/deploy2/evaluate_push` exists (one keyless try; see
/// [`Backend::route_exists`]).
async fn has_evaluate_push(backend: &Backend) -> Result<bool, CallError> {
    backend.route_exists("/api/deploy2/evaluate_push").await
}

/// Compare the project's CLI with the backend. With `probe`, one extra call when the version
/// names no date and that call can settle it (a failed call leaves it unknown).
pub(crate) async fn assess(
    dir: &Path,
    package_json: Option<&serde_json::Value>,
    backend: &Backend,
    backend_version: &str,
    probe: bool,
) -> Report {
    let pm = PackageManager::detect(dir, package_json);
    let installed = deploy::convex_installed(dir, pm, package_json);
    // From the project's files: shown to people, so no control characters.
    let cli = installed
        .as_ref()
        .map(|i| crate::backend::text::sanitize(i.version()))
        .filter(|v| !v.is_empty());
    let cli_text = cli.clone().unwrap_or_default();
    let mut skew = match installed {
        Some(_) => judge(&cli_text, backend_version, None),
        None => Skew::NotInstalled,
    };
    if probe && probe_helps(&cli_text, backend_version) {
        match has_evaluate_push(backend).await {
            Ok(found) => skew = judge(&cli_text, backend_version, Some(found)),
            Err(e) => tracing::debug!(error = %e.summary(), "evaluate_push probe failed"),
        }
    }
    let hint = match &skew {
        Skew::CliTooNew {
            needs_backend_from,
            last_cli_that_works,
            ..
        } => Some(format!(
            "upgrade the backend image to one built on or after {needs_backend_from} (the template's convex_image_tag; `coder-convex up` pins {}), or pin the CLI: `{}@{last_cli_that_works}`",
            crate::containers::compose::IMAGE_TAG,
            pm.install_hint()
        )),
        _ => None,
    };
    Report {
        cli_version: cli,
        backend_version: backend_version.to_owned(),
        backend_built: build_date(backend_version),
        skew,
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_dates_come_from_release_names_only() {
        assert_eq!(
            build_date("precompiled-2026-01-28-e0de21f").as_deref(),
            Some("2026-01-28")
        );
        assert_eq!(
            build_date("2025-09-11-4d3b0a5\n").as_deref(),
            Some("2025-09-11")
        );
        assert_eq!(build_date("unknown"), None);
        assert_eq!(build_date("0.0.0-backendharness"), None);
        assert_eq!(build_date("precompiled-2026-13-01-abc"), None);
        assert_eq!(build_date("1.2.3"), None);
    }

    fn too_new(from: &str, last: &str, what: &str) -> Skew {
        Skew::CliTooNew {
            needs_backend_from: from.to_owned(),
            reason: what.to_owned(),
            last_cli_that_works: last.to_owned(),
        }
    }

    #[test]
    fn a_cli_newer_than_the_backend_is_named_with_the_break_it_hits() {
        let old = "precompiled-2025-09-11-4d3b0a5";
        assert_eq!(
            judge("1.48.0", old, None),
            too_new(
                "2025-11-04",
                "1.29.1",
                "convex 1.48.0: its deploy calls POST /api/deploy2/evaluate_push (a 404 on older backends)"
            )
        );
        assert_eq!(
            judge("1.31.7", "precompiled-2025-12-01-abcdef0", None),
            too_new(
                "2026-01-22",
                "1.31.6",
                "convex 1.31.7: its start_push sends `changedModules`, not `functions` (a 400 on older backends)"
            )
        );
        assert_eq!(judge("1.29.1", old, None), Skew::Compatible);
        assert_eq!(
            judge("1.31.6", "precompiled-2025-11-04-ef9b664", None),
            Skew::Compatible
        );
        assert_eq!(
            judge("1.48.0", "precompiled-2026-08-21-652b828", None),
            Skew::Compatible
        );
    }

    #[test]
    fn without_a_date_the_route_decides_what_it_can() {
        assert_eq!(
            judge("1.30.0", "unknown", Some(false)),
            too_new(
                "2025-11-04",
                "1.29.1",
                "convex 1.30.0: its deploy calls POST /api/deploy2/evaluate_push (a 404 on older backends)"
            )
        );
        assert_eq!(judge("1.30.0", "unknown", Some(true)), Skew::Compatible);
        assert_eq!(
            judge("1.48.0", "unknown", Some(true)),
            Skew::Unknown {
                reason: "the backend reports no build date (\"unknown\"); convex 1.48.0 needs one from 2026-01-22".to_owned()
            }
        );
        assert_eq!(
            judge("", "unknown", None),
            Skew::Unknown {
                reason: "the project's convex version is not known".to_owned()
            }
        );
        assert_eq!(judge("1.20.0", "unknown", None), Skew::Compatible);
    }

    const OLD_BACKEND: &str = "precompiled-2025-09-11-4d3b0a5";

    fn is_too_new(s: &Skew) -> bool {
        matches!(s, Skew::CliTooNew { .. })
    }

    #[test]
    fn prereleases_of_a_breaking_version_carry_the_break() {
        assert!(
            is_too_new(&judge("1.29.2-alpha.1", OLD_BACKEND, None)),
            "{:?}",
            judge("1.29.2-alpha.1", OLD_BACKEND, None)
        );
        let dec = "precompiled-2025-12-01-abcdef0";
        assert!(
            is_too_new(&judge("1.31.7-beta.0", dec, None)),
            "{:?}",
            judge("1.31.7-beta.0", dec, None)
        );
    }

    #[test]
    fn odd_inputs_hold() {
        assert!(is_too_new(&judge("v1.30.0", OLD_BACKEND, None)));
        assert!(is_too_new(&judge(" 1.30.0\n", OLD_BACKEND, None)));
        assert!(is_too_new(&judge("1.30.0+build.5", OLD_BACKEND, None)));
        assert_eq!(build_date("precompiled-9999-99-99-x"), None);
        assert_eq!(
            build_date("precompiled-9999-12-31-x").as_deref(),
            Some("9999-12-31")
        );
        assert_eq!(
            judge("1.48.0", "precompiled-9999-12-31-x", None),
            Skew::Compatible
        );
        // The boundary day itself is compatible, the day before is not.
        assert_eq!(
            judge("1.29.2", "precompiled-2025-11-04-x", None),
            Skew::Compatible
        );
        assert!(is_too_new(&judge(
            "1.29.2",
            "precompiled-2025-11-03-x",
            None
        )));
        assert_eq!(
            judge("1.31.7", "precompiled-2026-01-22-x", None),
            Skew::Compatible
        );
        assert!(is_too_new(&judge(
            "1.31.7",
            "precompiled-2026-01-21-x",
            None
        )));
        assert!(matches!(
            judge("banana", OLD_BACKEND, None),
            Skew::Unknown { .. }
        ));
        assert!(matches!(judge("", OLD_BACKEND, None), Skew::Unknown { .. }));
        // Huge input: no panic.
        let huge = "9".repeat(1 << 20);
        let _ = judge(&huge, &huge, Some(false));
        let _ = build_date(&format!("{}-2025-01-01", "-".repeat(1 << 20)));
    }
}
