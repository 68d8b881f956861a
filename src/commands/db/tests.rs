//! `db prune`'s choice of databases, `--unused-for`, the `db list` table (pure).

use super::*;

fn marked(name: &str, last_setup: Option<u64>) -> Marked {
    Marked {
        database: name.to_owned(),
        workspace_id: format!("id-{name}"),
        workspace: format!("alice/{name}"),
        size_bytes: Some(8_123_456),
        connections: 0,
        last_setup: last_setup.map(crate::database::workspace::rfc3339),
        last_setup_unix: last_setup,
        budget: Some(8),
    }
}

#[test]
fn unused_is_older_than_the_duration_and_unknown_is_never_pruned() {
    let day = 86_400;
    let now = 100 * day;
    let dbs = vec![
        marked("old", Some(now - 31 * day)),
        marked("recent", Some(now - 29 * day)),
        marked("exact", Some(now - 30 * day)),
        marked("unknown", None),
    ];
    let (unused, unknown) = split_unused(dbs, now, unused_for("30d").unwrap());
    let names = |v: &[Marked]| v.iter().map(|d| d.database.clone()).collect::<Vec<_>>();
    assert_eq!(names(&unused), ["old"]);
    assert_eq!(names(&unknown), ["unknown"]);
}

#[test]
fn durations() {
    assert_eq!(unused_for("30d").unwrap(), Duration::from_secs(30 * 86_400));
    assert_eq!(
        unused_for(" 2w ").unwrap(),
        Duration::from_secs(14 * 86_400)
    );
    assert_eq!(unused_for("12h").unwrap(), Duration::from_secs(12 * 3600));
    for bad in ["", "30", "thirty days", "-1d", "30s"] {
        let e = unused_for(bad).unwrap_err();
        assert!(
            e.to_string().starts_with("invalid --unused-for: "),
            "{bad}: {e}"
        );
    }
}

#[test]
fn the_table_lines_up() {
    let mut unknown = marked("b", None);
    unknown.workspace = String::new();
    unknown.size_bytes = None;
    unknown.budget = None;
    unknown.connections = 2;
    assert_eq!(
        table(&[marked("a", Some(1_796_441_000)), unknown]),
        "DATABASE  WORKSPACE  WORKSPACE ID  SIZE    CONNECTIONS  LAST SETUP            BUDGET\n\
         a         alice/a    id-a          8.1 MB  0            2026-12-05T03:23:20Z  8\n\
         b         ?          id-b          ?       2            unknown               ?"
    );
}
