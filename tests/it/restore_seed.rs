//! `restore --seed`: the seed record lives in the deployment, with the data, so a seed runs
//! once per deployment whatever happens to the workspace's files; a plain `restore` keeps the
//! record; a backend that cannot list its variables is refused rather than seeded again.

use std::collections::BTreeMap;

use serde_json::json;

use crate::deploy::convex_project;
use crate::fake_backend::{Data, FakeBackend, FakeConfig};
use crate::project::{fake_for, run_with};

fn seed_data() -> Data {
    Data {
        tables: BTreeMap::from([(
            "messages".to_owned(),
            vec![json!({"_id": "m1", "_creationTime": 1.0, "body": "seeded"})],
        )]),
        files: BTreeMap::new(),
    }
}

/// A backup of [`seed_data`] in `seeds/`, taken from `fake`: its directory.
fn take_seed(p: &crate::common::Project, fake: &FakeBackend) -> String {
    fake.set_data(seed_data());
    let seeds = p.file("seeds");
    let taken = run_with(
        p,
        &["--json", "backup", "--dir", seeds.to_str().unwrap()],
        fake,
        &[],
    )
    .json();
    taken["backup"]["path"].as_str().unwrap().to_owned()
}

#[test]
fn a_seed_is_restored_once_per_deployment_and_recorded_with_its_data() {
    let (p, secret) = convex_project("convex");
    let fake = FakeBackend::start(fake_for(&secret));
    // The seed: a backup of another deployment, taken here for the test.
    let seed = take_seed(&p, &fake);
    fake.set_data(Data::default());

    let first = run_with(&p, &["--json", "restore", &seed, "--seed"], &fake, &[]).json();
    assert_eq!(first["ok"], true, "{first}");
    assert_eq!(fake.data(), seed_data());
    let record = fake.env()["CODER_CONVEX_SEEDED"].clone();
    assert!(
        record.ends_with(&format!(" from {}", seed.rsplit('/').next().unwrap())),
        "{record}"
    );
    assert_eq!(fake.snapshots(|r| r.import_modes.clone()), ["replaceAll"]);

    // The workspace's files are gone (a new home, a deleted backups folder): the deployment
    // still says it was seeded, and the live data is left alone.
    fake.set_data(Data {
        tables: BTreeMap::from([(
            "messages".to_owned(),
            vec![json!({"_id": "m9", "_creationTime": 9.0, "body": "live"})],
        )]),
        files: BTreeMap::new(),
    });
    let live = fake.data();
    let again = run_with(&p, &["--json", "restore", &seed, "--seed"], &fake, &[]).json();
    assert_eq!(again["already_seeded"], record.as_str(), "{again}");
    assert_eq!(fake.data(), live);
    assert_eq!(fake.snapshots(|r| r.import_modes.len()), 1);

    // A plain restore keeps the record: it describes this deployment, not the backup.
    let plain = run_with(&p, &["--json", "restore", &seed, "--yes"], &fake, &[]).json();
    assert_eq!(plain["ok"], true, "{plain}");
    assert_eq!(fake.env()["CODER_CONVEX_SEEDED"], record);
}

#[test]
fn a_backend_that_cannot_list_its_variables_is_not_seeded_blindly() {
    let (p, secret) = convex_project("convex");
    let mut config: FakeConfig = fake_for(&secret);
    config.no_list_endpoint = true;
    let fake = FakeBackend::start(config);
    let seed = take_seed(&p, &fake);
    let run = run_with(&p, &["--json", "restore", &seed, "--seed"], &fake, &[]);
    assert_eq!(run.code(), 1, "{}", run.all());
    let doc: serde_json::Value = serde_json::from_str(&run.stdout()).unwrap();
    assert_eq!(
        doc["error"]["message"],
        "this backend cannot list its variables, so --seed cannot tell whether it was seeded; nothing restored"
    );
    assert_eq!(fake.snapshots(|r| r.import_modes.len()), 0);
}
