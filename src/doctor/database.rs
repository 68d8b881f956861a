//! The doctor's database checks: the preflight run step by step (`--fix` creates the
//! instance database and marks it), one check for Postgres, one per step for MySQL with the
//! steps after a failed one skipped.
//!
//! I/O: the database.

use crate::config::derive::Derived;
use crate::database::preflight::{self, Stage};
use crate::database::url::{Database, DbKind};
use crate::deadline::Deadline;
use crate::output::Output;

use super::check::{Check, CheckId};

/// The database checks: one for Postgres; for MySQL one per preflight step, in order, the
/// steps after a failed one skipped.
pub(super) async fn checks(
    opts: preflight::Options<'_>,
    derived: &Derived,
    db: &Database,
    fix: bool,
    deadline: &Deadline,
    out: &Output,
) -> Vec<Check> {
    let name = CheckId::Database;
    // Marking writes to the server: only with --fix.
    let claim = derived.database_claim().filter(|_| fix);
    let opts = opts.best_effort_claim(claim.is_some_and(|(_, best_effort)| best_effort));
    let workspace = claim.map(|(ws, _)| ws);
    let steps = preflight::steps(db, &derived.instance_name, opts, fix, workspace);
    let Ok(steps) = tokio::time::timeout(deadline.remaining(), steps).await else {
        return vec![Check::fail(
            name,
            format!(
                "{} did not answer before the deadline ({deadline})",
                db.masked()
            ),
            "check that the database server is up and reachable from here",
        )];
    };
    if db.kind == DbKind::Postgres {
        return vec![match steps.result() {
            Ok(found) => {
                if found.created {
                    out.info(format!("fixed: created database {}", found.database));
                }
                Check::pass(
                    name,
                    format!(
                        "{} reachable; database {} exists",
                        db.masked(),
                        found.database
                    ),
                )
            }
            Err(e) => Check::fail(name, e.detail(), e.hint()),
        }];
    }
    let mut checks: Vec<Check> = steps
        .passed
        .iter()
        .map(|(stage, detail)| Check::pass(check_of(*stage), detail.clone()))
        .collect();
    match steps.outcome {
        Some(Ok(found)) if found.created => {
            out.info(format!("fixed: created database {}", found.database));
        }
        Some(Err((stage, e))) => {
            let failed = check_of(stage);
            checks.push(Check::fail(failed, e.detail(), e.hint()));
            super::check::skip_dependents(
                &mut checks,
                failed,
                &format!("not checked: {failed} failed"),
                |_| true,
            );
        }
        _ => {}
    }
    checks
}

fn check_of(stage: Stage) -> CheckId {
    match stage {
        Stage::Connection => CheckId::Database,
        Stage::Writable => CheckId::DatabaseWritable,
        Stage::Collation => CheckId::DatabaseCollation,
        Stage::Database => CheckId::InstanceDatabase,
        Stage::Tables => CheckId::DatabaseTables,
    }
}
