//! The backup store: where backups live, what one is, how one is written so that an
//! interrupted backup never looks complete, listing and pruning.
//!
//! A store is one directory per instance (default
//! `${XDG_DATA_HOME:-~/.local/share}/coder-convex/backups/<instance>`, on the persistent home
//! volume and outside the project, so `git clean` cannot delete it), mode 0700. Each backup
//! is a directory `backup-<unix ms>` holding `snapshot.zip` (what `convex export` wrote) and
//! `manifest.json` (instance, versions, time, the deployment's variables: secrets, so 0600).
//! A backup is written in a `.partial-*` directory beside them and renamed into place only
//! when both files are complete; whatever a killed run leaves is a `.partial-*` directory,
//! which listing ignores. A store may be shared (projects with one instance name, one
//! `CODER_CONVEX_BACKUP_DIR`), so the run writing a partial holds a lock on it for its whole
//! life; a later backup removes only partials whose lock is free (their run is dead) and
//! that are older than [`PARTIAL_GRACE`].
//!
//! Order ("newest"): by the time each manifest records, except that a backup dated after
//! this machine's clock counts as older than every other (a clock that ran ahead, a store
//! copied from elsewhere: its date cannot be trusted). So `--keep` never removes the backup
//! it just took, and `restore` picks the newest trustworthy one.
//!
//! Manifests are read like project files (`file_io::read_capped`): regular files only, at
//! most [`MAX_MANIFEST_BYTES`], never blocking on a FIFO.
//!
//! I/O: files in the backup store, outside the project.

use std::collections::BTreeMap;
use std::os::unix::fs::{DirBuilderExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::env_vars as ev;
use crate::error::{Error, Result};

/// The archive's name inside a backup.
pub(crate) const ARCHIVE: &str = "snapshot.zip";
/// The manifest's name inside a backup.
pub(crate) const MANIFEST: &str = "manifest.json";
/// Prefix of complete backups.
const PREFIX: &str = "backup-";
/// Prefix of backups being written (or abandoned by a killed run).
const PARTIAL: &str = ".partial-";
const DIR_MODE: u32 = 0o700;
/// A manifest holds at most 512 KiB of variables; JSON escaping can grow that a few times.
pub(crate) const MAX_MANIFEST_BYTES: u64 = 8 * 1024 * 1024;
/// A partial younger than this may belong to a run that has not locked it yet.
const PARTIAL_GRACE: std::time::Duration = std::time::Duration::from_secs(60);
const FILE_MODE: u32 = 0o600;
/// The manifest format this version writes and reads.
const FORMAT: u32 = 1;

/// What a backup holds besides the archive. No `Debug`: it holds the deployment's
/// variables, which are secrets.
#[derive(Serialize, Deserialize, Clone)]
pub(crate) struct Manifest {
    pub(crate) format: u32,
    pub(crate) instance_name: String,
    /// What `GET /version` answered when the backup was taken.
    pub(crate) backend_version: String,
    /// Which deployment of that name ([`Owner`]); absent in backups from before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) deployment: Option<String>,
    /// The project's `convex` npm package that ran the export.
    pub(crate) convex_cli_version: String,
    pub(crate) created_unix_ms: u64,
    /// The same instant, as an HTTP date (for people reading the file).
    pub(crate) created_at: String,
    pub(crate) file_storage: bool,
    pub(crate) archive_bytes: u64,
    /// The deployment's environment variables (`None`: the backend cannot list them).
    pub(crate) environment_variables: Option<BTreeMap<String, String>>,
}

impl Manifest {
    pub(crate) fn new(
        owner: &Owner,
        backend_version: &str,
        convex_cli_version: &str,
        file_storage: bool,
        environment_variables: Option<BTreeMap<String, String>>,
    ) -> Self {
        let now = std::time::SystemTime::now();
        let created_unix_ms = now
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        Self {
            format: FORMAT,
            instance_name: owner.instance.clone(),
            backend_version: backend_version.to_owned(),
            deployment: owner.id.clone(),
            convex_cli_version: convex_cli_version.to_owned(),
            created_unix_ms,
            created_at: httpdate::fmt_http_date(now),
            file_storage,
            archive_bytes: 0,
            environment_variables,
        }
    }
}

/// One complete backup, as listed.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Entry {
    pub(crate) name: String,
    pub(crate) path: PathBuf,
    pub(crate) instance_name: String,
    pub(crate) backend_version: String,
    pub(crate) deployment: Option<String>,
    pub(crate) created_unix_ms: u64,
    /// Archive plus manifest.
    pub(crate) bytes: u64,
    pub(crate) file_storage: bool,
}

impl Entry {
    /// `backup-1732790000123 · 3 min ago · 12.3 kB · backend unknown`.
    pub(crate) fn describe(&self) -> String {
        format!(
            "{} · {} · {} · backend {}",
            self.name,
            crate::clock::ago_ms(self.created_unix_ms),
            human_bytes(self.bytes),
            crate::backend::text::sanitize(&self.backend_version)
        )
    }
}

/// The default store of an instance: `${XDG_DATA_HOME:-$HOME/.local/share}/coder-convex/backups/<instance>`.
pub(crate) fn default_dir(
    xdg_data_home: Option<&str>,
    home: Option<&str>,
    instance: &str,
) -> Result<PathBuf> {
    // The XDG spec says to ignore a relative XDG_DATA_HOME.
    let base = match (xdg_data_home.map(Path::new), home) {
        (Some(xdg), _) if xdg.is_absolute() => xdg.to_owned(),
        (_, Some(home)) if Path::new(home).is_absolute() => Path::new(home).join(".local/share"),
        _ => {
            return Err(Error::invalid(
                ev::HOME,
                "neither XDG_DATA_HOME nor HOME is an absolute path",
            )
            .with_hint("set HOME (or XDG_DATA_HOME), or name the directory with --dir"));
        }
    };
    Ok(base.join("coder-convex/backups").join(instance))
}

/// The store `status`, `doctor` and `setup` look in: `CODER_CONVEX_BACKUP_DIR` (what
/// `backup --dir` defaults to), else [`default_dir`].
pub(crate) fn store(env: &crate::environment::RawEnv, instance: &str) -> Result<PathBuf> {
    match &env.coder_convex_backup_dir {
        Some(dir) => crate::environment::absolute(Path::new(dir)),
        None => default_dir(env.xdg_data_home.as_deref(), env.home.as_deref(), instance),
    }
}

/// A backup being written: a `.partial-*` directory that becomes a backup on [`Pending::commit`]
/// and is removed when dropped before that.
pub(crate) struct Pending {
    dir: tempfile::TempDir,
    store: PathBuf,
    /// Held while the backup is written: other runs leave a locked partial alone.
    _lock: std::fs::File,
}

impl Pending {
    /// Where `convex export` writes the archive.
    pub(crate) fn archive(&self) -> PathBuf {
        self.dir.path().join(ARCHIVE)
    }

    /// Write the manifest (0600), fix the archive's mode, and rename the directory into place.
    pub(crate) fn commit(self, mut manifest: Manifest) -> Result<Entry> {
        let archive = self.archive();
        let meta = fs_err::metadata(&archive)?;
        fs_err::set_permissions(&archive, std::fs::Permissions::from_mode(FILE_MODE))?;
        manifest.archive_bytes = meta.len();
        let text = serde_json::to_string_pretty(&manifest)
            .map_err(|e| Error::runtime_from("cannot encode the backup manifest", e))?;
        let path = self.dir.path().join(MANIFEST);
        {
            use fs_err::os::unix::fs::OpenOptionsExt as _;
            use std::io::Write as _;
            let mut file = fs_err::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(FILE_MODE)
                .open(&path)?;
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
        }
        // Two backups in one millisecond (a shared store) get a suffix. A complete backup is
        // never empty, so renaming onto one fails rather than replacing it.
        let partial = self.dir.keep();
        let mut attempt = 0;
        let (name, target) = loop {
            let name = match attempt {
                0 => format!("{PREFIX}{}", manifest.created_unix_ms),
                n => format!("{PREFIX}{}-{n}", manifest.created_unix_ms),
            };
            let target = self.store.join(&name);
            match fs_err::rename(&partial, &target) {
                Ok(()) => break (name, target),
                Err(e)
                    if attempt < 100
                        && matches!(
                            e.kind(),
                            std::io::ErrorKind::DirectoryNotEmpty
                                | std::io::ErrorKind::AlreadyExists
                        ) =>
                {
                    attempt += 1;
                }
                Err(e) => {
                    let _ = fs_err::remove_dir_all(&partial);
                    return Err(Error::runtime_from(
                        format!("cannot move the backup into {}", target.display()),
                        e,
                    ));
                }
            }
        };
        Ok(Entry {
            name,
            path: target,
            instance_name: manifest.instance_name,
            backend_version: manifest.backend_version,
            deployment: manifest.deployment,
            created_unix_ms: manifest.created_unix_ms,
            bytes: meta.len() + text.len() as u64,
            file_storage: manifest.file_storage,
        })
    }
}

/// Create the store, mode 0700.
fn create_store(store: &Path) -> Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(store)
        .map_err(|e| Error::runtime_from(format!("cannot create {}", store.display()), e))?;
    fs_err::set_permissions(store, std::fs::Permissions::from_mode(DIR_MODE))?;
    Ok(())
}

/// Create the store (0700) and a pending backup in it, locked; leftovers of dead runs are
/// removed, the partials of runs still writing (this project's or another's) are not.
pub(crate) fn begin(store: &Path) -> Result<Pending> {
    create_store(store)?;
    for entry in fs_err::read_dir(store)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(PARTIAL) && abandoned(&entry.path()) {
            tracing::debug!(path = %entry.path().display(), "removing an interrupted backup");
            let _ = fs_err::remove_dir_all(entry.path());
        }
    }
    let dir = tempfile::Builder::new()
        .prefix(PARTIAL)
        .permissions(std::fs::Permissions::from_mode(DIR_MODE))
        .tempdir_in(store)
        .map_err(|e| Error::runtime_from(format!("cannot write in {}", store.display()), e))?;
    let lock = fs_err::File::open(dir.path())?.into_parts().0;
    lock.try_lock()
        .map_err(|e| Error::runtime(format!("cannot lock {}: {e}", dir.path().display())))?;
    Ok(Pending {
        dir,
        store: store.to_owned(),
        _lock: lock,
    })
}

/// A partial no run is writing: its lock is free and it is older than [`PARTIAL_GRACE`].
fn abandoned(partial: &Path) -> bool {
    let old = fs_err::symlink_metadata(partial)
        .ok()
        .filter(|m| m.is_dir())
        .and_then(|m| m.modified().ok())
        .and_then(|t| t.elapsed().ok())
        .is_some_and(|age| age >= PARTIAL_GRACE);
    old && fs_err::File::open(partial).is_ok_and(|f| f.into_parts().0.try_lock().is_ok())
}

/// Read the manifest of a backup directory. A parse error says where, never what (the
/// manifest holds secrets).
pub(crate) fn manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST);
    let text = crate::project::file_io::read_capped(&path, MAX_MANIFEST_BYTES)?
        .ok_or_else(|| Error::file(&path, "does not exist"))?;
    let manifest: Manifest = serde_json::from_str(&text).map_err(|e| {
        Error::file(
            &path,
            format!(
                "is not a coder-convex backup manifest (line {}, column {}; the content is not shown)",
                e.line(),
                e.column()
            ),
        )
    })?;
    if manifest.format != FORMAT {
        return Err(Error::file(
            &path,
            format!(
                "has format {} (this version reads {FORMAT})",
                manifest.format
            ),
        )
        .with_hint("restore it with the coder-convex version that wrote it"));
    }
    Ok(manifest)
}

/// The complete backups in a store, oldest first (an absent store has none).
pub(crate) fn list(store: &Path) -> Result<Vec<Entry>> {
    let Ok(read) = fs_err::read_dir(store) else {
        return Ok(Vec::new());
    };
    let mut entries = Vec::new();
    for entry in read.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !name.starts_with(PREFIX) {
            continue;
        }
        let path = entry.path();
        let Ok(manifest) = manifest(&path) else {
            continue;
        };
        let size = |f: &str| fs_err::metadata(path.join(f)).map_or(0, |m| m.len());
        if !path.join(ARCHIVE).is_file() {
            continue;
        }
        entries.push(Entry {
            bytes: size(ARCHIVE) + size(MANIFEST),
            name,
            path,
            instance_name: manifest.instance_name,
            backend_version: manifest.backend_version,
            deployment: manifest.deployment,
            created_unix_ms: manifest.created_unix_ms,
            file_storage: manifest.file_storage,
        });
    }
    sort(&mut entries, crate::clock::unix_now_ms());
    Ok(entries)
}

/// Oldest first, in the store's order (module doc): by recorded time, except that a backup
/// dated after `now_ms` counts as older than every other.
fn sort(entries: &mut [Entry], now_ms: u64) {
    entries.sort_by(|a, b| {
        let key = |e: &Entry| (e.created_unix_ms <= now_ms, e.created_unix_ms);
        key(a).cmp(&key(b)).then_with(|| a.name.cmp(&b.name))
    });
}

/// The backups of one deployment, oldest first: a store may be shared (two projects with the
/// default instance name on one machine, or one `CODER_CONVEX_BACKUP_DIR`).
pub(crate) fn list_own(store: &Path, owner: &Owner) -> Result<Vec<Entry>> {
    let mut entries = list(store)?;
    entries.retain(|e| owner.owns(e));
    Ok(entries)
}

/// Remove this deployment's oldest backups beyond `keep` (in the store's order), never
/// `taken` (the backup this run just took); returns the names removed.
pub(crate) fn prune(
    store: &Path,
    owner: &Owner,
    keep: usize,
    taken: Option<&str>,
) -> Result<Vec<String>> {
    let (taken, entries): (Vec<Entry>, Vec<Entry>) = list_own(store, owner)?
        .into_iter()
        .partition(|e| Some(e.name.as_str()) == taken);
    let excess = entries
        .len()
        .saturating_sub(keep.saturating_sub(taken.len()));
    let mut removed = Vec::new();
    for entry in entries.into_iter().take(excess) {
        fs_err::remove_dir_all(&entry.path)?;
        removed.push(entry.name);
    }
    Ok(removed)
}

/// Whose backups: an instance name, and which deployment of that name (a digest of its
/// instance secret, which tells two backends of one name apart without revealing anything).
#[derive(Debug, Clone)]
pub(crate) struct Owner {
    pub(crate) instance: String,
    /// `None` when the secret is not at hand (then the name alone decides).
    pub(crate) id: Option<String>,
}

impl Owner {
    pub(crate) fn new(
        instance: &str,
        secret: Option<&crate::config::secrets::InstanceSecret>,
    ) -> Self {
        let id = secret.map(|secret| {
            use sha2::Digest as _;
            let mut hasher = sha2::Sha256::new();
            hasher.update(b"coder-convex deployment\0");
            hasher.update(secret.expose_hex().as_bytes());
            hex::encode(&hasher.finalize()[..8])
        });
        Self {
            instance: instance.to_owned(),
            id,
        }
    }

    /// A backup of this deployment (an older backup without a deployment counts by its name).
    pub(crate) fn owns(&self, entry: &Entry) -> bool {
        entry.instance_name == self.instance
            && match (&self.id, &entry.deployment) {
                (Some(ours), Some(theirs)) => ours == theirs,
                _ => true,
            }
    }
}

/// The record of the backend version `setup` last saw, per deployment (listing ignores it).
fn seen_version_file(owner: &Owner) -> String {
    match &owner.id {
        Some(id) => format!("backend-version-{id}"),
        None => "backend-version".to_owned(),
    }
}

/// Record the backend version `setup` sees; returns the one recorded before when it differs
/// (`None` on the first record and when nothing changed). A record that cannot be read is
/// replaced.
pub(crate) fn note_backend_version(
    store: &Path,
    owner: &Owner,
    version: &str,
) -> Result<Option<String>> {
    create_store(store)?;
    let path = store.join(seen_version_file(owner));
    let current = crate::project::file_io::read_optional(&path).unwrap_or_else(|e| {
        tracing::debug!(error = %e, "replacing an unreadable backend version record");
        None
    });
    let text = format!("{version}\n");
    crate::project::file_io::write_if_changed(
        &path,
        current.as_deref(),
        &text,
        crate::project::file_io::SECRET_MODE,
    )?;
    Ok(current
        .map(|c| c.trim_end().to_owned())
        .filter(|previous| !previous.is_empty() && previous != version))
}

/// The newest backup of this deployment taken of backend version `from`: the last one before
/// the backend changed from it.
pub(crate) fn last_before(store: &Path, owner: &Owner, from: &str) -> Result<Option<Entry>> {
    Ok(list_own(store, owner)?
        .into_iter()
        .rev()
        .find(|e| e.backend_version == from))
}

/// `12.3 MB`, `4.0 kB`, `512 B`.
pub(crate) fn human_bytes(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests;
