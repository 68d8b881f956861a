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
use crate::env_vars as ev;
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

/// Deployment variables that follow the workspace's URLs (they change at a claim or a
/// rename) and the ownership record: no module reads them, but an auth config may.
const URL_VARIABLES: [&str; 4] = [
    ev::CONVEX_SITE_ORIGIN,
    ev::JWT_ISSUER,
    ev::SITE_URL,
    ev::CODER_CONVEX_MANAGED_VARS,
];
/// The auth config a push evaluates with the deployment's variables (and its built-in
/// `CONVEX_SITE_URL`, the canonical site URL), and stores.
const AUTH_CONFIGS: [&str; 2] = ["auth.config.ts", "auth.config.js"];

/// Whether changed deployment variables (`changed`) or canonical URLs can change what a push
/// computes, so an unchanged project is deployed again: with an auth config, any change; without
/// one, a variable other than the URL-derived ones (module code may read it at push time).
/// A claimed prebuild or a renamed workspace without an auth config keeps its deployed
/// functions as they are.
pub(crate) fn env_change_needs_push(
    functions: &Path,
    changed: &[&str],
    canonical_updated: bool,
) -> bool {
    if AUTH_CONFIGS.iter().any(|f| functions.join(f).is_file()) {
        return canonical_updated || !changed.is_empty();
    }
    changed.iter().any(|name| !URL_VARIABLES.contains(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_auth_config_makes_a_url_change_a_reason_to_push() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path();
        let claim = [ev::CONVEX_SITE_ORIGIN, ev::JWT_ISSUER, ev::SITE_URL];
        assert!(!env_change_needs_push(f, &claim, true));
        assert!(!env_change_needs_push(f, &[], true));
        assert!(!env_change_needs_push(f, &[], false));
        assert!(env_change_needs_push(f, &["OPENAI_API_KEY"], false));
        assert!(env_change_needs_push(
            f,
            &[ev::SITE_URL, "OPENAI_API_KEY"],
            false
        ));
        for name in AUTH_CONFIGS {
            let dir = tempfile::tempdir().unwrap();
            let f = dir.path();
            fs_err::write(f.join(name), "export default { providers: [] };").unwrap();
            assert!(env_change_needs_push(f, &claim, false), "{name}");
            assert!(env_change_needs_push(f, &[], true), "{name}");
            assert!(!env_change_needs_push(f, &[], false), "{name}");
        }
    }

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
