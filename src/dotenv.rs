//! Env files: render `KEY='value'` lines, merge them into an existing file without touching
//! the user's lines, write atomically with the right mode, and lock the project directory.
//!
//! Single-quoted values read the same through bash `source`, dotenvy and docker compose's
//! `env_file` (no interpolation, no escapes in any of the three), so a value may contain
//! neither `'` nor a newline.

use std::collections::{BTreeMap, HashSet};
use std::io::Write as _;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Owner read/write only: every file that holds a secret.
pub(crate) const SECRET_MODE: u32 = 0o600;
/// Files without secrets (browser-facing URLs).
pub(crate) const PUBLIC_MODE: u32 = 0o644;

/// One line we manage: `Some(value)` to set it, `None` to comment out any assignment.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub key: String,
    pub value: Option<String>,
    /// Why an assignment is commented out (for `value: None`).
    pub note: &'static str,
}

impl Entry {
    pub(crate) fn set(key: &str, value: impl Into<String>) -> Self {
        Self {
            key: key.to_owned(),
            value: Some(value.into()),
            note: "",
        }
    }

    pub(crate) fn unset(key: &str, note: &'static str) -> Self {
        Self {
            key: key.to_owned(),
            value: None,
            note,
        }
    }
}

/// `KEY='value'`, or an error naming the key when the value cannot be quoted safely.
pub(crate) fn render(key: &str, value: &str) -> std::result::Result<String, String> {
    if value.contains('\'') || value.contains('\n') || value.contains('\r') {
        return Err(format!(
            "the value of {key} contains a single quote or a line break, which env files cannot hold portably"
        ));
    }
    Ok(format!("{key}='{value}'"))
}

/// The key a line assigns, if it is an assignment (`KEY=…` or `export KEY=…`).
pub(crate) fn assignment_key(line: &str) -> Option<&str> {
    let rest = line.trim_start();
    let rest = rest.strip_prefix("export ").map_or(rest, str::trim_start);
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
        .unwrap_or(rest.len());
    let (key, after) = rest.split_at(end);
    let starts_ok = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    (starts_ok && after.trim_start().starts_with('=')).then_some(key)
}

/// Parse an env file's values the way dotenvy (and the Convex CLI's dotenv) read them.
pub(crate) fn parse(path: &Path, content: &str) -> Result<BTreeMap<String, String>> {
    let mut values = BTreeMap::new();
    for item in dotenvy::from_read_iter(content.as_bytes()) {
        let (k, v) = item.map_err(|e| {
            Error::file(path, format!("cannot be parsed: {e}"))
                .with_hint("fix or comment out the line; values with spaces need quotes")
        })?;
        values.insert(k, v);
    }
    Ok(values)
}

/// Merge `entries` into `existing`: managed keys are updated in place, missing
/// ones are added after the last managed line (or under `header`), later duplicates and
/// `None` entries are commented out with a note. Every other line is kept byte for byte.
pub(crate) fn merge(
    existing: Option<&str>,
    header: &str,
    entries: &[Entry],
) -> std::result::Result<String, String> {
    let existing = existing.unwrap_or_default();
    let by_key: BTreeMap<&str, &Entry> = entries.iter().map(|e| (e.key.as_str(), e)).collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out: Vec<String> = Vec::new();
    let mut last_managed: Option<usize> = None;
    let mut header_at: Option<usize> = None;

    for line in existing.lines() {
        if line.trim_end() == header {
            header_at = Some(out.len());
        }
        let Some(entry) = assignment_key(line).and_then(|k| by_key.get(k)) else {
            out.push(line.to_owned());
            continue;
        };
        match &entry.value {
            Some(value) if seen.insert(entry.key.as_str()) => {
                let export = line.trim_start().starts_with("export ");
                let rendered = render(&entry.key, value)?;
                out.push(if export {
                    format!("export {rendered}")
                } else {
                    rendered
                });
                last_managed = Some(out.len() - 1);
            }
            Some(_) => {
                out.push(format!(
                    "# coder-convex: duplicate {} commented out; the value above is used",
                    entry.key
                ));
                out.push(format!("# {line}"));
            }
            None => {
                out.push(format!("# coder-convex: {}", entry.note));
                out.push(format!("# {line}"));
            }
        }
    }

    let mut missing = Vec::new();
    for entry in entries {
        if let Some(value) = &entry.value
            && !seen.contains(entry.key.as_str())
        {
            missing.push(render(&entry.key, value)?);
        }
    }
    if !missing.is_empty() {
        let at = match (last_managed, header_at) {
            (Some(i), _) | (None, Some(i)) => i + 1,
            (None, None) => {
                if out.last().is_some_and(|l| !l.trim().is_empty()) {
                    out.push(String::new());
                }
                out.push(header.to_owned());
                out.len()
            }
        };
        out.splice(at..at, missing);
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

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

/// Write `content` atomically (temp file in the same directory + rename) when it differs
/// from what is there. [`SECRET_MODE`] is enforced even on an unchanged file; any other
/// `mode` only applies to a new file (an existing file keeps the mode its owner gave it).
/// A symlink is followed, not replaced.
pub(crate) fn write_if_changed(
    path: &Path,
    current: Option<&str>,
    content: &str,
    mode: u32,
) -> Result<Change> {
    let target = resolve_symlink(path)?;
    let existing = std::fs::metadata(&target)
        .ok()
        .map(|m| m.permissions().mode() & 0o777);
    let mode = if mode == SECRET_MODE {
        mode
    } else {
        existing.unwrap_or(mode)
    };
    if current == Some(content) {
        if existing != Some(mode) {
            fs_err::set_permissions(&target, std::fs::Permissions::from_mode(mode))?;
            return Ok(Change::Chmod);
        }
        return Ok(Change::Unchanged);
    }
    let dir = target.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".coder-convex-")
        .permissions(std::fs::Permissions::from_mode(mode))
        .tempfile_in(dir)
        .map_err(|e| {
            Error::Io(std::io::Error::new(
                e.kind(),
                format!("creating a temporary file in {}: {e}", dir.display()),
            ))
        })?;
    // The umask may have narrowed the mode at creation; set it exactly.
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(mode))?;
    tmp.write_all(content.as_bytes())?;
    tmp.as_file().sync_all()?;
    tmp.persist(&target).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.error.kind(),
            format!("replacing {}: {}", target.display(), e.error),
        ))
    })?;
    Ok(if current.is_some() {
        Change::Updated
    } else {
        Change::Created
    })
}

fn resolve_symlink(path: &Path) -> Result<PathBuf> {
    match fs_err::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => Ok(fs_err::canonicalize(path)?),
        _ => Ok(path.to_owned()),
    }
}

/// Read a file that may not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>> {
    match fs_err::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: &str = "# managed";

    #[test]
    fn new_file_gets_header_and_entries() {
        let out = merge(None, H, &[Entry::set("A", "1"), Entry::set("B", "x y")]).unwrap();
        assert_eq!(out, "# managed\nA='1'\nB='x y'\n");
    }

    #[test]
    fn user_lines_stay_in_place_and_values_update_in_place() {
        let before = "# mine\nFOO=bar # keep\nexport A=old\n\n  B = \"q\"\nZ=1";
        let out = merge(
            Some(before),
            H,
            &[
                Entry::set("A", "new"),
                Entry::set("B", "b"),
                Entry::set("C", "c"),
            ],
        )
        .unwrap();
        assert_eq!(
            out,
            "# mine\nFOO=bar # keep\nexport A='new'\n\nB='b'\nC='c'\nZ=1\n"
        );
        // Idempotent.
        assert_eq!(
            merge(
                Some(&out),
                H,
                &[
                    Entry::set("A", "new"),
                    Entry::set("B", "b"),
                    Entry::set("C", "c")
                ]
            )
            .unwrap(),
            out
        );
    }

    #[test]
    fn unset_and_duplicates_are_commented_out() {
        let before = "CONVEX_DEPLOYMENT=dev:foo-123 # team: x\nA='1'\nA=2\n";
        let entries = [
            Entry::unset("CONVEX_DEPLOYMENT", "conflicts with self-hosting"),
            Entry::set("A", "1"),
        ];
        let out = merge(Some(before), H, &entries).unwrap();
        assert_eq!(
            out,
            "# coder-convex: conflicts with self-hosting\n# CONVEX_DEPLOYMENT=dev:foo-123 # team: x\nA='1'\n\
             # coder-convex: duplicate A commented out; the value above is used\n# A=2\n"
        );
        assert_eq!(merge(Some(&out), H, &entries).unwrap(), out);
    }

    #[test]
    fn missing_keys_go_under_an_existing_header() {
        let before = "X=1\n# managed\nY=2\n";
        assert_eq!(
            merge(Some(before), H, &[Entry::set("A", "a")]).unwrap(),
            "X=1\n# managed\nA='a'\nY=2\n"
        );
    }

    #[test]
    fn unsafe_values_are_rejected() {
        assert!(render("K", "it's").unwrap_err().contains("K"));
        assert!(render("K", "a\nb").is_err());
        assert_eq!(
            render("K", "a|b $HOME \"x\"").unwrap(),
            "K='a|b $HOME \"x\"'"
        );
    }

    #[test]
    fn assignment_keys() {
        assert_eq!(assignment_key("A=1"), Some("A"));
        assert_eq!(assignment_key("  export  A_B = 1"), Some("A_B"));
        assert_eq!(assignment_key("# A=1"), None);
        assert_eq!(assignment_key("1A=1"), None);
        assert_eq!(assignment_key("A"), None);
        assert_eq!(
            assignment_key("CONVEX_SITE_URL==x"),
            Some("CONVEX_SITE_URL")
        );
    }

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
    fn parse_reports_the_file() {
        let err = parse(Path::new("/p/.env.local"), "A='unterminated\n").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("/p/.env.local: cannot be parsed"),
            "{err}"
        );
        assert_eq!(err.exit_code(), 2);
    }
}
