//! Writes, reads and refusals of `project_fs`.

use std::os::unix::fs::PermissionsExt as _;

use super::*;

#[test]
fn writes_are_atomic_idempotent_and_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.x");
    assert_eq!(
        write_if_changed(&path, None, "A='1'\n", SECRET_MODE).unwrap(),
        Change::Created
    );
    assert_eq!(
        fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        write_if_changed(&path, Some("A='1'\n"), "A='1'\n", SECRET_MODE).unwrap(),
        Change::Unchanged
    );
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    assert_eq!(
        write_if_changed(&path, Some("A='1'\n"), "A='1'\n", SECRET_MODE).unwrap(),
        Change::Chmod
    );
    assert_eq!(
        write_if_changed(&path, Some("A='1'\n"), "A='2'\n", SECRET_MODE).unwrap(),
        Change::Updated
    );
    assert_eq!(fs_err::read_to_string(&path).unwrap(), "A='2'\n");
    // No temporary files are left behind.
    assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn public_files_keep_their_owners_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(".env.development.local");
    assert_eq!(
        write_if_changed(&path, None, "A='1'\n", PUBLIC_MODE).unwrap(),
        Change::Created
    );
    assert_eq!(
        fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o644
    );
    fs_err::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert_eq!(
        write_if_changed(&path, Some("A='1'\n"), "A='1'\n", PUBLIC_MODE).unwrap(),
        Change::Unchanged
    );
    assert_eq!(
        write_if_changed(&path, Some("A='1'\n"), "A='2'\n", PUBLIC_MODE).unwrap(),
        Change::Updated
    );
    assert_eq!(
        fs_err::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn symlinks_are_followed() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.env");
    fs_err::write(&real, "A=1\n").unwrap();
    let link = dir.path().join(".env.local");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    write_if_changed(&link, Some("A=1\n"), "A='2'\n", SECRET_MODE).unwrap();
    assert!(
        fs_err::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(fs_err::read_to_string(&real).unwrap(), "A='2'\n");
}

#[test]
fn only_regular_files_and_links_to_them_are_touched() {
    let dir = tempfile::tempdir().unwrap();
    // A FIFO is refused without opening it (opening would block).
    let fifo = dir.path().join(".env.local");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let err = read_optional(&fifo).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string()
            .ends_with(".env.local: is a named pipe (FIFO)"),
        "{err}"
    );
    assert!(write_if_changed(&fifo, None, "A='1'\n", SECRET_MODE).is_err());

    // A link to a device, and a dangling link.
    let dev = dir.path().join("dev.env");
    std::os::unix::fs::symlink("/dev/zero", &dev).unwrap();
    let err = read_optional(&dev).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("is a symbolic link to /dev/zero, which is a device"),
        "{err}"
    );
    let dangling = dir.path().join("gone.env");
    std::os::unix::fs::symlink(dir.path().join("nowhere"), &dangling).unwrap();
    let err = read_optional(&dangling).unwrap_err();
    assert!(err.to_string().ends_with("which does not exist"), "{err}");
    assert_eq!(err.exit_code(), 2);

    // Too large, and not UTF-8.
    let big = dir.path().join("big.env");
    fs_err::write(&big, vec![b'a'; (MAX_FILE_BYTES + 1) as usize]).unwrap();
    assert!(
        read_optional(&big)
            .unwrap_err()
            .to_string()
            .ends_with("is larger than 1024 KiB")
    );
    let latin = dir.path().join("latin.env");
    fs_err::write(&latin, b"A=1\nB=caf\xe9\n").unwrap();
    let err = read_optional(&latin).unwrap_err();
    assert!(
        err.to_string()
            .ends_with("is not UTF-8 text (line 2, byte 9)"),
        "{err}"
    );
    assert_eq!(err.exit_code(), 2);
}

#[test]
fn an_unchanged_linked_file_keeps_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let real = dir.path().join("real.env");
    fs_err::write(&real, "A='1'\n").unwrap();
    fs_err::set_permissions(&real, std::fs::Permissions::from_mode(0o640)).unwrap();
    let link = dir.path().join(".env.local");
    std::os::unix::fs::symlink(&real, &link).unwrap();
    assert_eq!(
        write_if_changed(&link, Some("A='1'\n"), "A='1'\n", SECRET_MODE).unwrap(),
        Change::Unchanged
    );
    assert_eq!(
        fs_err::metadata(&real).unwrap().permissions().mode() & 0o777,
        0o640
    );
}

#[test]
fn backups_never_overwrite_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("jwt_private_key.pem");
    let first = backup(&path, "one").unwrap();
    let second = backup(&path, "two").unwrap();
    assert_ne!(first, second);
    assert_eq!(
        fs_err::read_to_string(dir.path().join(&first)).unwrap(),
        "one"
    );
    assert_eq!(
        fs_err::read_to_string(dir.path().join(&second)).unwrap(),
        "two"
    );
    assert_eq!(
        fs_err::metadata(dir.path().join(&second))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o600
    );
    // No temporary file is left, and stale ones are removed.
    fs_err::write(dir.path().join(".coder-convex-stale"), "secret").unwrap();
    assert_eq!(
        remove_stale_temp_files(dir.path()).unwrap(),
        vec![".coder-convex-stale".to_owned()]
    );
    assert_eq!(fs_err::read_dir(dir.path()).unwrap().count(), 2);
}
