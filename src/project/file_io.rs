//! The files coder-convex owns in the project directory, read and written safely: only
//! regular files (or symlinks to regular files) are touched, reads are size-capped and must
//! be UTF-8, writes are atomic (a temporary file beside the target, then a rename) with the
//! mode set at creation, and a symlink's target is replaced without touching anything else.
//!
//! I/O: project files.

use std::io::{Read as _, Write as _};
use std::os::unix::fs::{FileTypeExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Owner read/write only: every file that holds a secret.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Files without secrets (browser-facing URLs).
pub(crate) const PUBLIC_MODE: u32 = 0o644;
/// No file we manage is near this size; anything larger is not ours.
pub(crate) const MAX_FILE_BYTES: u64 = 1024 * 1024;
/// Our temporary files start with this (`.gitignore` ignores them; stale ones are removed).
pub(crate) const TEMP_PREFIX: &str = ".coder-convex-";

/// What happened to a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Change {
    Unchanged,
    Created,
    Updated,
    /// Only the mode was tightened.
    Chmod,
}

impl Change {
    /// How people read it.
    pub(crate) fn describe(self) -> &'static str {
        match self {
            Self::Unchanged => "unchanged",
            Self::Created => "created",
            Self::Updated => "updated",
            Self::Chmod => "mode set to 0600",
        }
    }
}

/// Where a managed path's content lives.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    Missing,
    Regular(PathBuf),
    /// A symlink to a regular file: the (canonical) target.
    Linked(PathBuf),
}

fn kind(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a named pipe (FIFO)"
    } else if file_type.is_socket() {
        "a socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "a device"
    } else {
        "not a regular file"
    }
}

fn not_ours(path: &Path, what: String) -> Error {
    Error::file(path, what).with_hint(
        "coder-convex only reads and replaces regular files (or symlinks to regular files): move it away, or point the link at a regular file",
    )
}

fn target(path: &Path) -> Result<Target> {
    let meta = match fs_err::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Target::Missing),
        Err(e) => {
            return Err(fs_err::symlink_metadata(path)
                .err()
                .map_or(e, Into::into)
                .into());
        }
    };
    if meta.file_type().is_file() {
        return Ok(Target::Regular(path.to_owned()));
    }
    if !meta.file_type().is_symlink() {
        return Err(not_ours(path, format!("is {}", kind(meta.file_type()))));
    }
    let link = fs_err::read_link(path).map_or_else(|_| "?".to_owned(), |l| l.display().to_string());
    match fs_err::metadata(path) {
        Ok(meta) if meta.file_type().is_file() => Ok(Target::Linked(fs_err::canonicalize(path)?)),
        Ok(meta) => Err(not_ours(
            path,
            format!(
                "is a symbolic link to {link}, which is {}",
                kind(meta.file_type())
            ),
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_ours(
            path,
            format!("is a symbolic link to {link}, which does not exist"),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Read a managed file that may not exist: UTF-8 text of at most [`MAX_FILE_BYTES`].
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    read_capped(path, MAX_FILE_BYTES)
}

/// The one reader of every file the tool reads (project files and the backup store alike):
/// a file that may not exist, read only when it is a regular file (or a symlink to one),
/// at most `cap` bytes, UTF-8. The file is opened without blocking and checked again once
/// open, so a FIFO or device swapped in after the first look is refused, not waited on or
/// read forever.
pub(crate) fn read_capped(path: &Path, cap: u64) -> Result<Option<String>> {
    let source = match target(path)? {
        Target::Missing => return Ok(None),
        Target::Regular(p) | Target::Linked(p) => p,
    };
    let file = {
        use fs_err::os::unix::fs::OpenOptionsExt as _;
        fs_err::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&source)?
    };
    let file_type = file.metadata()?.file_type();
    if !file_type.is_file() {
        return Err(not_ours(path, format!("is {}", kind(file_type))));
    }
    let mut bytes = Vec::new();
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(not_ours(path, format!("is larger than {} KiB", cap / 1024)));
    }
    String::from_utf8(bytes).map(Some).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let line = e.as_bytes()[..at].iter().filter(|b| **b == b'\n').count() + 1;
        Error::file(path, format!("is not UTF-8 text (line {line}, byte {at})"))
            .with_hint("save the file as UTF-8; env files hold text")
    })
}

/// Write `content` atomically when it differs from `current`. [`SECRET_MODE`] is enforced
/// even on an unchanged regular file; any other `mode` only applies to a new file (an
/// existing file keeps the mode its owner gave it). A symlink's target is replaced by a
/// file written beside it; an unchanged target is left exactly as it is.
pub(crate) fn write_if_changed(
    path: &Path,
    current: Option<&str>,
    content: &str,
    mode: u32,
) -> Result<Change> {
    let (dest, linked) = match target(path)? {
        Target::Missing => (path.to_owned(), false),
        Target::Regular(p) => (p, false),
        Target::Linked(p) => (p, true),
    };
    let existing = fs_err::metadata(&dest)
        .ok()
        .map(|m| m.permissions().mode() & 0o777);
    let mode = if mode == SECRET_MODE {
        mode
    } else {
        existing.unwrap_or(mode)
    };
    if current == Some(content) {
        if existing != Some(mode) && !linked {
            fs_err::set_permissions(&dest, std::fs::Permissions::from_mode(mode))?;
            return Ok(Change::Chmod);
        }
        return Ok(Change::Unchanged);
    }
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| not_writable(dir, &dest, e))?;
    // The umask may have narrowed the mode at creation; set it exactly.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&dest)
        .map_err(|e| Error::runtime_from(format!("cannot replace {}", dest.display()), e.error))?;
    Ok(if current.is_some() {
        Change::Updated
    } else {
        Change::Created
    })
}

/// Keep `content` in a new file `<name>.<unix time>[-N].bak` beside `path` (mode 0600),
/// never overwriting an earlier backup; returns the backup's file name.
pub(crate) fn backup(path: &Path, content: &str) -> Result<String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map_or_else(|| "file".into(), |n| n.to_string_lossy().into_owned());
    let stamp = crate::clock::unix_now();
    for n in 1..1000 {
        let candidate = if n == 1 {
            format!("{name}.{stamp}.bak")
        } else {
            format!("{name}.{stamp}-{n}.bak")
        };
        let mut tmp = tempfile::Builder::new()
            .prefix(TEMP_PREFIX)
            .permissions(std::fs::Permissions::from_mode(SECRET_MODE))
            .tempfile_in(dir)?;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(SECRET_MODE))?;
        tmp.write_all(content.as_bytes())?;
        tmp.as_file().sync_all()?;
        match tmp.persist_noclobber(dir.join(&candidate)) {
            Ok(_) => return Ok(candidate),
            Err(e) if e.error.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e.error.into()),
        }
    }
    Err(Error::runtime(format!(
        "too many backups of {name} in {}",
        dir.display()
    )))
}

/// Remove temporary files a killed run left in `dir` (call under the project lock).
pub(crate) fn remove_stale_temp_files(dir: &Path) -> Result<Vec<String>> {
    let mut removed = Vec::new();
    for entry in fs_err::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TEMP_PREFIX) && entry.file_type()?.is_file() {
            fs_err::remove_file(entry.path())?;
            removed.push(name);
        }
    }
    Ok(removed)
}

/// Why a file could not be written in `dir`: the directory is named, not the temporary
/// file the write starts with.
fn not_writable(dir: &Path, dest: &Path, e: std::io::Error) -> Error {
    let file = dest
        .file_name()
        .map_or_else(String::new, |f| f.to_string_lossy().into_owned());
    let (message, hint) = match e.kind() {
        std::io::ErrorKind::PermissionDenied | std::io::ErrorKind::ReadOnlyFilesystem => (
            format!(
                "the directory {} is not writable: cannot write {file}",
                dir.display()
            ),
            "run coder-convex as the user who owns the project directory, or make it writable (`ls -ld` shows its owner and mode); --project-dir picks another directory",
        ),
        _ => (
            format!("cannot write {file} in {}", dir.display()),
            "check that the directory exists and has free space",
        ),
    };
    Error::Runtime {
        message,
        source: Some(Box::new(std::io::Error::new(
            e.kind(),
            e.kind().to_string(),
        ))),
        hint: Some(hint.to_owned()),
    }
}

#[cfg(test)]
mod tests;
