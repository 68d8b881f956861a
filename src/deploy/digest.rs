//! Whether a deploy can be skipped (README "Deploy"): a digest of what the push depends on
//! locally, and a digest of what the backend reports as deployed.
//!
//! After a successful deploy both are recorded. `setup` skips the next deploy only when the
//! local digest is the same *and* the backend still reports the same deployed code: a backend
//! whose data was wiped, or that received code from elsewhere, answers differently and is
//! deployed to. Anything that cannot be read means "deploy".
//!
//! I/O: reads the project's files.

use std::path::Path;

use sha2::{Digest as _, Sha256};

use crate::backend::Backend;
use crate::error::Result;

/// Lock files the push may depend on (through the installed packages it bundles).
const LOCK_FILES: [&str; 6] = [
    "package-lock.json",
    "pnpm-lock.yaml",
    "yarn.lock",
    "bun.lock",
    "bun.lockb",
    "npm-shrinkwrap.json",
];

/// What the push depends on: every file under the functions directory (path and bytes),
/// `convex.json`, `package.json`, the lock file, the installed `convex` version, the extra
/// arguments and the target. Hex SHA-256.
pub(crate) fn local(
    dir: &Path,
    functions: &Path,
    convex_version: &str,
    extra_args: &[String],
    target: &str,
) -> Result<String> {
    let mut hasher = Sha256::new();
    let mut field = |name: &str, bytes: &[u8]| {
        hasher.update((name.len() as u64).to_le_bytes());
        hasher.update(name.as_bytes());
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field("target", target.as_bytes());
    field("convex", convex_version.as_bytes());
    field("args", extra_args.join("\0").as_bytes());
    for name in ["convex.json", "package.json"]
        .iter()
        .chain(LOCK_FILES.iter())
    {
        if let Some(bytes) = read_optional(&dir.join(name))? {
            field(name, &bytes);
        }
    }
    let mut files = Vec::new();
    walk(functions, &mut files)?;
    files.sort();
    for path in files {
        let rel = path.strip_prefix(functions).unwrap_or(&path);
        field(&rel.to_string_lossy(), &fs_err::read(&path)?);
    }
    Ok(hex::encode(hasher.finalize()))
}

fn read_optional(path: &Path) -> Result<Option<Vec<u8>>> {
    match fs_err::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Every regular file below `dir` (symlinks followed, as the bundler does).
fn walk(dir: &Path, files: &mut Vec<std::path::PathBuf>) -> Result<()> {
    for entry in fs_err::read_dir(dir)? {
        let path = entry?.path();
        let meta = fs_err::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, files)?;
        } else if meta.is_file() {
            files.push(path);
        }
    }
    Ok(())
}

/// What the backend reports as deployed (`get_config_hashes`: the functions directory, every
/// module's hash, the server version), as a hex SHA-256; `None` when it cannot say.
pub(crate) async fn remote(backend: &Backend, convex_version: &str) -> Option<String> {
    let version = if convex_version.is_empty() {
        "1.48.0"
    } else {
        convex_version
    };
    let answer = match backend.config_hashes(version).await {
        Ok(answer) => answer,
        Err(e) => {
            tracing::debug!(error = %e.summary(), "get_config_hashes failed");
            return None;
        }
    };
    let mut modules: Vec<String> = answer
        .get("moduleHashes")?
        .as_array()?
        .iter()
        .map(|m| {
            format!(
                "{}\0{}\0{}",
                m.get("path").and_then(|v| v.as_str()).unwrap_or_default(),
                m.get("environment")
                    .and_then(|v| v.as_str())
                    .unwrap_or_default(),
                m.get("sha256").and_then(|v| v.as_str()).unwrap_or_default()
            )
        })
        .collect();
    // A backend with no code cannot be "unchanged".
    if modules.is_empty() {
        return None;
    }
    modules.sort();
    let mut hasher = Sha256::new();
    hasher.update(
        answer
            .get("config")
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    hasher.update([0]);
    hasher.update(
        answer
            .get("udfServerVersion")
            .map(|c| c.to_string())
            .unwrap_or_default(),
    );
    for m in modules {
        hasher.update([0]);
        hasher.update(m);
    }
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn local_digest_follows_functions_and_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let f = d.join("convex");
        fs_err::create_dir_all(f.join("lib")).unwrap();
        fs_err::write(f.join("a.ts"), "export const a = 1;").unwrap();
        fs_err::write(f.join("lib/b.ts"), "export const b = 2;").unwrap();
        fs_err::write(d.join("package.json"), "{}").unwrap();
        let digest = |v: &str, args: &[String]| local(d, &f, v, args, "http://x").unwrap();
        let first = digest("1.48.0", &[]);
        assert_eq!(first.len(), 64);
        assert_eq!(digest("1.48.0", &[]), first, "stable");
        assert_ne!(digest("1.49.0", &[]), first, "CLI version");
        assert_ne!(
            digest("1.48.0", &["--typecheck=disable".into()]),
            first,
            "args"
        );
        fs_err::write(f.join("lib/b.ts"), "export const b = 3;").unwrap();
        let edited = digest("1.48.0", &[]);
        assert_ne!(edited, first, "a nested function file");
        fs_err::write(d.join("package-lock.json"), "{}").unwrap();
        assert_ne!(digest("1.48.0", &[]), edited, "the lock file");
        assert_ne!(
            local(d, &f, "1.48.0", &[], "http://y").unwrap(),
            digest("1.48.0", &[]),
            "target"
        );
    }
}
