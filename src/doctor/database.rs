//! The doctor's database checks: the preflight run step by step (`--fix` creates the
//! instance database and marks it), one check for Postgres, one per step for MySQL with the
//! steps after a failed one skipped; on a shared server, its capacity at this workspace's
//! connection budget.
//!
//! I/O: the database.

use crate::config::derive::Derived;
use crate::database::preflight::{self, Stage};
use crate::database::shared::Server;
use crate::database::url::{Database, DbKind};
use crate::deadline::Deadline;
use crate::output::Output;

use super::check::{Check, CheckId, Status};

/// The database checks: the preflight's, then (shared server) the capacity.
pub(super) async fn checks(
    opts: preflight::Options<'_>,
    derived: &Derived,
    db: &Database,
    fix: bool,
    deadline: &Deadline,
    out: &Output,
) -> Vec<Check> {
    let mut checks = preflight_checks(opts, derived, db, fix, deadline, out).await;
    let Some(budget) = derived
        .connection_budget
        .filter(|_| derived.workspace.is_some())
    else {
        return checks;
    };
    let name = CheckId::DatabaseCapacity;
    let connected = checks
        .iter()
        .any(|c| c.name == CheckId::Database && c.status == Status::Pass);
    if !connected {
        checks.retain(|c| c.name != name);
        checks.push(Check::skip(name, "not checked: database failed"));
        return checks;
    }
    let own = crate::config::instance::database_for_instance(&derived.instance_name);
    let found = tokio::time::timeout(
        deadline.remaining(),
        Server::capacity(db, opts, &own, budget),
    )
    .await;
    checks.push(match found {
        Ok(Ok(capacity)) => match capacity.hint() {
            None => Check::pass(name, capacity.summary()),
            Some(hint) => Check::warn(name, capacity.summary(), hint),
        },
        Ok(Err(e)) => Check::warn(name, e.detail(), e.hint()),
        Err(_) => Check::warn(
            name,
            format!(
                "{} did not answer before the deadline ({deadline})",
                db.masked()
            ),
            "check that the database server is up and reachable from here",
        ),
    });
    checks
}

/// The preflight's checks: one for Postgres; for MySQL one per preflight step, in order, the
/// steps after a failed one skipped.
async fn preflight_checks(
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
    let opts = opts
        .best_effort_claim(claim.is_some_and(|(_, best_effort)| best_effort))
        .stamp(
            derived
                .setup_stamp(crate::clock::unix_now())
                .filter(|_| fix),
        );
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
                // The capacity is decided by `checks`, for a shared server only.
                |id| id != CheckId::DatabaseCapacity,
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
