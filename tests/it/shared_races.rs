//! Starts at the same moment on one shared Postgres server (README "Many workspaces starting at
//! once"): several starts of one workspace make one database, and two workspaces pointed at
//! one name never both get it. Each start is the whole `setup` against its own stand-in backend.

use coder_convex::database::workspace::Workspace;
use serde_json::Value;

use crate::common::{Project, Run};
use crate::postgres::{psql, workspace_marker};
use crate::workspaces::{run, tagged, unique, workspace_env};

const SHARED: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// `setup` of each (workspace, extra variables) in its own project, all started together.
fn all_at_once(starts: &[(Workspace, Vec<(&'static str, String)>)]) -> Vec<(Project, Run)> {
    let projects: Vec<Project> = starts.iter().map(|_| Project::new()).collect();
    let gate = std::sync::Barrier::new(starts.len());
    let runs: Vec<Run> = std::thread::scope(|scope| {
        let handles: Vec<_> = starts
            .iter()
            .zip(&projects)
            .map(|((ws, extra), p)| {
                let gate = &gate;
                scope.spawn(move || {
                    let mut env = workspace_env(ws);
                    env.push(("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED.to_owned()));
                    env.extend(extra.iter().cloned());
                    gate.wait();
                    crate::workspaces::set_up(p, env).0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    projects.into_iter().zip(runs).collect()
}

fn databases_named(db: &str) -> String {
    psql(
        5432,
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}'"),
    )
}

#[test]
fn starts_of_one_workspace_at_once_make_one_marked_database() {
    let ws = tagged("frank", "api", "race-same");
    let db = ws.database_name();
    let runs = all_at_once(&vec![(ws.clone(), Vec::new()); 6]);
    let mut created = 0;
    for (_, run) in &runs {
        let report = run.json();
        assert_eq!(report["ok"], true, "{}", run.stderr());
        assert_eq!(report["database"]["database"], db.as_str());
        created += usize::from(report["database"]["created"] == true);
    }
    assert_eq!(created, 1, "exactly one start creates the database");
    assert_eq!(databases_named(&db), "1");
    assert_eq!(workspace_marker(&db), ws.marker());
    let server = [("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED.to_owned())];
    run(&runs[0].0, &["db", "drop", &db, "--yes"], &server).ok();
}

#[test]
fn two_workspaces_with_one_name_at_once_never_share_it() {
    let server = [("CODER_CONVEX_SHARED_POSTGRES_URL", SHARED.to_owned())];
    for round in 0..3 {
        let name = format!("race-{}-{}-{round}", std::process::id(), unique());
        let db = name.replace('-', "_");
        let a = tagged("gina", "web", "race-a");
        let b = tagged("hugo", "web", "race-b");
        let chosen = vec![("INSTANCE_NAME", name.clone())];
        let runs = all_at_once(&[(a.clone(), chosen.clone()), (b.clone(), chosen)]);
        let reports: Vec<Value> = runs.iter().map(|(_, r)| r.doc()).collect();
        let winners: Vec<&Workspace> = [&a, &b]
            .into_iter()
            .zip(&reports)
            .filter(|(_, r)| r["ok"] == true)
            .map(|(ws, _)| ws)
            .collect();
        assert_eq!(winners.len(), 1, "round {round}: {reports:?}");
        let loser = reports.iter().find(|r| r["ok"] != true).unwrap();
        assert_eq!(loser["exit_code"], 5, "{loser}");
        assert_eq!(loser["error"]["code"], "database", "{loser}");
        let message = loser["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(&format!(
                "belongs to another workspace ({} {}/{})",
                winners[0].id, winners[0].owner, winners[0].name
            )),
            "{message}"
        );
        assert_eq!(databases_named(&db), "1");
        assert_eq!(workspace_marker(&db), winners[0].marker());
        run(&runs[0].0, &["db", "drop", &db, "--yes"], &server).ok();
    }
}
