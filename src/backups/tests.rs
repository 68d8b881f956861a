use super::*;

#[test]
fn default_dir_follows_xdg_then_home() {
    assert_eq!(
        default_dir(Some("/data"), Some("/home/u"), "app").unwrap(),
        PathBuf::from("/data/coder-convex/backups/app")
    );
    assert_eq!(
        default_dir(Some("relative"), Some("/home/u"), "app").unwrap(),
        PathBuf::from("/home/u/.local/share/coder-convex/backups/app")
    );
    assert_eq!(
        default_dir(None, None, "app").unwrap_err().code().as_str(),
        "invalid_input"
    );
}

#[test]
fn sizes_read_like_people_write_them() {
    assert_eq!(human_bytes(512), "512 B");
    assert_eq!(human_bytes(4_000), "4.0 kB");
    assert_eq!(human_bytes(12_345_678), "12.3 MB");
}

#[test]
fn a_dropped_backup_leaves_nothing_and_a_committed_one_is_listed() {
    let store = tempfile::tempdir().unwrap();
    let pending = begin(store.path()).unwrap();
    fs_err::write(pending.archive(), b"zip").unwrap();
    drop(pending);
    assert!(fs_err::read_dir(store.path()).unwrap().next().is_none());
    let pending = begin(store.path()).unwrap();
    fs_err::write(pending.archive(), b"zip").unwrap();
    let entry = pending
        .commit(Manifest::new(
            &Owner::new("app", None),
            "unknown",
            "1.48.0",
            true,
            None,
        ))
        .unwrap();
    let listed = list(store.path()).unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].name, entry.name);
    assert_eq!(listed[0].instance_name, "app");
    let mode = |p: &Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.path()), 0o700);
    assert_eq!(mode(&entry.path), 0o700);
    assert_eq!(mode(&entry.path.join(MANIFEST)), 0o600);
    assert_eq!(mode(&entry.path.join(ARCHIVE)), 0o600);
}

fn owner() -> Owner {
    Owner::new("i", None)
}

fn backup_of(store: &std::path::Path, version: &str) -> Entry {
    std::thread::sleep(std::time::Duration::from_millis(3));
    let pending = begin(store).unwrap();
    fs_err::write(pending.archive(), b"zip").unwrap();
    pending
        .commit(Manifest::new(&owner(), version, "1.48.0", false, None))
        .unwrap()
}

#[test]
fn the_last_backup_before_a_change_is_of_the_version_changed_from() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    backup_of(&store, "A");
    assert_eq!(note_backend_version(&store, &owner(), "A").unwrap(), None);
    assert_eq!(
        note_backend_version(&store, &owner(), "B")
            .unwrap()
            .as_deref(),
        Some("A")
    );
    assert_eq!(
        note_backend_version(&store, &owner(), "C")
            .unwrap()
            .as_deref(),
        Some("B")
    );
    // No backup of B: none is named for B → C; A's is the one for A → B.
    assert!(last_before(&store, &owner(), "B").unwrap().is_none());
    let of_a = last_before(&store, &owner(), "A").unwrap().unwrap();
    assert_eq!(of_a.backend_version, "A");
}

#[test]
fn two_deployments_of_one_name_keep_apart() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    let ours = Owner::new(
        "app",
        Some(&crate::config::secrets::InstanceSecret::generate()),
    );
    let theirs = Owner::new(
        "app",
        Some(&crate::config::secrets::InstanceSecret::generate()),
    );
    assert_ne!(ours.id, theirs.id);
    assert_eq!(ours.id.as_ref().map(String::len), Some(16));
    for owner in [&ours, &theirs] {
        let pending = begin(&store).unwrap();
        fs_err::write(pending.archive(), b"zip").unwrap();
        pending
            .commit(Manifest::new(owner, "v1", "1.48.0", false, None))
            .unwrap();
    }
    assert_eq!(list(&store).unwrap().len(), 2);
    let own = list_own(&store, &ours).unwrap();
    assert_eq!(own.len(), 1);
    assert_eq!(own[0].deployment, ours.id);
    // Each keeps its own version record.
    assert_eq!(note_backend_version(&store, &ours, "v1").unwrap(), None);
    assert_eq!(note_backend_version(&store, &theirs, "v2").unwrap(), None);
    assert_eq!(note_backend_version(&store, &ours, "v1").unwrap(), None);
    // Pruning one leaves the other's.
    assert_eq!(prune(&store, &ours, 0, None).unwrap().len(), 1);
    assert_eq!(list_own(&store, &theirs).unwrap().len(), 1);
}

#[test]
fn an_unreadable_record_is_replaced() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    fs_err::create_dir_all(&store).unwrap();
    fs_err::write(store.join("backend-version"), b"\xff\xfe garbage\n").unwrap();
    let first = note_backend_version(&store, &owner(), "A");
    let second = note_backend_version(&store, &owner(), "A");
    assert!(
        second.is_ok(),
        "first: {:?}, second: {:?}",
        first.err().map(|e| e.to_string()),
        second.err().map(|e| e.to_string())
    );
}

#[test]
fn records_are_private_and_ignore_line_endings() {
    let tmp = tempfile::tempdir().unwrap();
    // The store is a file: an error (setup turns it into a debug line).
    let file = tmp.path().join("f");
    fs_err::write(&file, "x").unwrap();
    assert!(note_backend_version(&file, &owner(), "A").is_err());
    // CRLF and trailing blanks in the record are not a change.
    let store = tmp.path().join("s");
    fs_err::create_dir_all(&store).unwrap();
    fs_err::write(store.join("backend-version"), "A\r\n\n").unwrap();
    assert_eq!(note_backend_version(&store, &owner(), "A").unwrap(), None);
    // The record is 0600, the store 0700.
    let mode = |p: &std::path::Path| fs_err::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store.join("backend-version")), 0o600);
    assert_eq!(mode(&store), 0o700);
}

/// A backup whose manifest says it was taken at `created_unix_ms`.
fn dated(store: &std::path::Path, created_unix_ms: u64) -> Entry {
    let pending = begin(store).unwrap();
    fs_err::write(pending.archive(), b"zip").unwrap();
    let mut manifest = Manifest::new(&owner(), "v", "1.48.0", false, None);
    manifest.created_unix_ms = created_unix_ms;
    pending.commit(manifest).unwrap()
}

#[test]
fn a_backup_dated_in_the_future_counts_as_the_oldest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    let now = crate::clock::unix_now_ms();
    let future = dated(&store, now + 86_400_000);
    let old = dated(&store, now - 60_000);
    let taken = dated(&store, now);
    let names = |entries: Vec<Entry>| entries.into_iter().map(|e| e.name).collect::<Vec<_>>();
    assert_eq!(
        names(list(&store).unwrap()),
        [future.name.as_str(), &old.name, &taken.name]
    );
    // --keep 1 keeps the one just taken; the future-dated one goes first.
    assert_eq!(
        prune(&store, &owner(), 2, Some(&taken.name)).unwrap(),
        [future.name.as_str()]
    );
    assert_eq!(
        prune(&store, &owner(), 1, Some(&taken.name)).unwrap(),
        [old.name.as_str()]
    );
    assert_eq!(names(list(&store).unwrap()), [taken.name.as_str()]);
}

#[test]
fn a_manifest_that_is_a_fifo_or_a_device_or_too_large_is_refused_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    let fifo = dated(&store, 1);
    fs_err::remove_file(fifo.path.join(MANIFEST)).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fifo.path.join(MANIFEST),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let zero = dated(&store, 2);
    fs_err::remove_file(zero.path.join(MANIFEST)).unwrap();
    std::os::unix::fs::symlink("/dev/zero", zero.path.join(MANIFEST)).unwrap();
    let big = dated(&store, 3);
    fs_err::write(
        big.path.join(MANIFEST),
        vec![b' '; usize::try_from(MAX_MANIFEST_BYTES).unwrap() + 1],
    )
    .unwrap();
    let err = |e: &Entry| manifest(&e.path).err().unwrap().to_string();
    assert!(
        err(&fifo).ends_with("is a named pipe (FIFO)"),
        "{}",
        err(&fifo)
    );
    assert!(
        err(&zero).ends_with("is a symbolic link to /dev/zero, which is a device"),
        "{}",
        err(&zero)
    );
    assert!(
        err(&big).ends_with("is larger than 8192 KiB"),
        "{}",
        err(&big)
    );
    // Listing skips them.
    assert!(list(&store).unwrap().is_empty());
}

#[test]
fn a_backup_being_written_by_another_run_is_left_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("s");
    let theirs = begin(&store).unwrap();
    // Old enough to be taken for abandoned, but its run still holds it.
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let age = |dir: &Path| {
        fs_err::File::open(dir).unwrap().set_modified(old).unwrap();
    };
    age(theirs.dir.path());
    let ours = begin(&store).unwrap();
    assert!(theirs.dir.path().is_dir());
    // A dead run's partial (no lock) of the same age is removed; a fresh one is not.
    let dead = store.join(".partial-dead");
    let fresh = store.join(".partial-fresh");
    fs_err::create_dir(&dead).unwrap();
    fs_err::create_dir(&fresh).unwrap();
    age(&dead);
    drop(ours);
    let _again = begin(&store).unwrap();
    assert!(!dead.exists());
    assert!(fresh.is_dir());
    assert!(theirs.dir.path().is_dir());
}
