//! An external database in a Coder workspace, against the real PostgreSQL server here: the
//! first workspace claims it with the shared-server marker, a second workspace given the same
//! URL is refused instead of sharing the instance and its data, and a role that may not write
//! the marker leaves the database as it is rather than failing.

use std::sync::atomic::{AtomicUsize, Ordering};

use coder_convex::config::secrets::InstanceSecret;
use serde_json::Value;

use crate::common::{Project, Run};
use crate::fake_backend::{FakeBackend, FakeConfig};
use crate::postgres::{comment_of, psql};

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{tag}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// `configure`, then `setup --no-deploy` in workspace `id` against a backend started with the
/// written settings; `url` is the external database.
fn set_up(p: &Project, url: &str, id: &str, name: &str) -> Run {
    let env = [
        ("DATABASE_URL", url),
        ("CODER_CONVEX_WORKSPACE_ID", id),
        ("CODER_WORKSPACE_OWNER_NAME", "team"),
        ("CODER_WORKSPACE_NAME", name),
    ];
    p.run(&["configure"], &env).ok();
    let values = p.env_values(".env.convex.local");
    let secret = InstanceSecret::from_hex(&values["INSTANCE_SECRET"]).unwrap();
    let fake = FakeBackend::start(FakeConfig::new(&values["INSTANCE_NAME"], secret));
    let mut env = env.to_vec();
    env.push(("CODER_CONVEX_BACKEND_URL", &fake.api_url));
    env.push(("CODER_CONVEX_SITE_PROXY_URL", &fake.site_url));
    p.run(&["--json", "setup", "--no-deploy"], &env)
}

#[test]
fn a_second_workspace_given_the_same_external_url_is_refused() {
    let db = unique("external");
    psql(5432, &format!("CREATE DATABASE {db}"));
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let (first, second) = (Project::new(), Project::new());
    let (id_a, id_b) = (unique("ws-a"), unique("ws-b"));

    let report = set_up(&first, &url, &id_a, "app").json();
    assert_eq!(report["database"]["marked"], true, "{report}");
    assert_eq!(
        comment_of(&db),
        format!("coder-convex: workspace {id_a} (team/app)")
    );

    let refused = set_up(&second, &url, &id_b, "other");
    assert_eq!(refused.code(), 5, "{}", refused.stderr());
    let doc: Value = serde_json::from_str(&refused.stdout()).unwrap();
    let message = doc["error"]["message"].as_str().unwrap();
    assert!(
        message.contains(&format!("belongs to another workspace ({id_a} team/app)")),
        "{message}"
    );
    assert!(
        doc["error"]["hint"]
            .as_str()
            .unwrap()
            .starts_with("give this workspace a database of its own"),
        "{doc}"
    );
    // The owner is untouched and starts as before.
    assert_eq!(
        comment_of(&db),
        format!("coder-convex: workspace {id_a} (team/app)")
    );
    let again = set_up(&first, &url, &id_a, "app").json();
    assert_eq!(again["database"]["marked"], false, "{again}");
    psql(5432, &format!("DROP DATABASE {db}"));
}

#[test]
fn a_role_that_may_not_mark_the_database_leaves_it_unmarked() {
    let db = unique("unowned");
    let role = unique("guest");
    psql(5432, &format!("CREATE DATABASE {db}"));
    psql(
        5432,
        &format!("CREATE ROLE {role} LOGIN; GRANT ALL ON DATABASE {db} TO {role}"),
    );
    let url = format!("postgres://{role}@127.0.0.1:5432/{db}");
    let p = Project::new();
    let report = set_up(&p, &url, &unique("ws"), "app").json();
    assert_eq!(report["ok"], true, "{report}");
    assert_eq!(report["database"]["marked"], false, "{report}");
    assert_eq!(comment_of(&db), "");
    psql(5432, &format!("DROP DATABASE {db}"));
    psql(5432, &format!("DROP ROLE {role}"));
}

#[test]
fn outside_coder_an_external_database_is_not_marked() {
    let db = unique("laptop");
    psql(5432, &format!("CREATE DATABASE {db}"));
    let url = format!("postgres://postgres@127.0.0.1:5432/{db}");
    let p = Project::new();
    p.run(&["configure"], &[("DATABASE_URL", url.as_str())])
        .ok();
    let run = p.run(
        &["--json", "doctor", "--fix"],
        &[("DATABASE_URL", url.as_str())],
    );
    let doc: Value = serde_json::from_str(&run.stdout()).unwrap();
    let database = doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "database")
        .cloned()
        .unwrap();
    assert_eq!(database["status"], "pass", "{database}");
    assert_eq!(comment_of(&db), "");
    psql(5432, &format!("DROP DATABASE {db}"));
}
