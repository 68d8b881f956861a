//! The project directory: which files we own, the frontend framework, git ignores.

use std::path::Path;

use serde::Serialize;

use crate::dotenv;
use crate::error::Result;

/// Backend + dashboard settings (docker compose `env_file`, shell `source`, this tool).
pub(crate) const CONVEX_ENV_FILE: &str = ".env.convex.local";
/// The Convex Auth signing key.
pub(crate) const JWT_KEY_FILE: &str = "jwt_private_key.pem";
/// The Convex CLI's settings.
pub(crate) const CLI_ENV_FILE: &str = ".env.local";
/// Browser-facing URLs for the dev server.
pub(crate) const BROWSER_ENV_FILE: &str = ".env.development.local";
/// The user's deployment variables, pushed by `env-set`.
pub(crate) const DEPLOYMENT_ENV_FILE: &str = ".env.convex.deployment";

/// Files that must never be committed.
pub(crate) const IGNORED_FILES: [&str; 5] = [
    CONVEX_ENV_FILE,
    JWT_KEY_FILE,
    CLI_ENV_FILE,
    BROWSER_ENV_FILE,
    DEPLOYMENT_ENV_FILE,
];

/// The frontend framework decides the prefix of browser-visible variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Framework {
    Next,
    Vite,
    CreateReactApp,
    Expo,
    SvelteKit,
    Other,
}

impl Framework {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Self::Next => "NEXT_PUBLIC_",
            Self::Vite => "VITE_",
            Self::CreateReactApp => "REACT_APP_",
            Self::Expo => "EXPO_PUBLIC_",
            Self::SvelteKit => "PUBLIC_",
            Self::Other => "",
        }
    }

    /// From `package.json` dependencies; the most specific framework wins (SvelteKit and
    /// TanStack Start both use Vite).
    pub(crate) fn detect(package_json: Option<&serde_json::Value>) -> Self {
        let Some(pkg) = package_json else {
            return Self::Other;
        };
        let has = |name: &str| {
            ["dependencies", "devDependencies", "peerDependencies"]
                .iter()
                .any(|section| pkg.get(section).and_then(|d| d.get(name)).is_some())
        };
        if has("next") {
            Self::Next
        } else if has("expo") {
            Self::Expo
        } else if has("@sveltejs/kit") {
            Self::SvelteKit
        } else if has("react-scripts") {
            Self::CreateReactApp
        } else if has("vite") || has("@tanstack/react-start") || has("@tanstack/start") {
            Self::Vite
        } else {
            Self::Other
        }
    }
}

/// Read and parse `package.json`, if there is one.
pub(crate) fn read_package_json(dir: &Path) -> Result<Option<serde_json::Value>> {
    let path = dir.join("package.json");
    let Some(text) = dotenv::read_optional(&path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        crate::error::Error::file(path, format!("is not valid JSON: {e}"))
            .with_hint("fix package.json; it decides the framework and the package manager")
    })
}

/// Whether `dir` is inside a git work tree (a `.git` directory or file above it).
pub(crate) fn in_git_work_tree(dir: &Path) -> bool {
    let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    dir.ancestors().any(|a| a.join(".git").exists())
}

/// `.gitignore` with our entries appended once (those not already covered).
pub(crate) fn gitignore_with_entries(existing: Option<&str>) -> Option<String> {
    let existing = existing.unwrap_or_default();
    let patterns: Vec<&str> = existing
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .collect();
    let missing: Vec<&str> = IGNORED_FILES
        .into_iter()
        .filter(|file| !patterns.iter().any(|p| ignore_pattern_covers(p, file)))
        .collect();
    if missing.is_empty() {
        return None;
    }
    let mut text = existing.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
    if !text.is_empty() {
        text.push('\n');
    }
    text.push_str("# coder-convex: generated files with secrets or machine-specific URLs\n");
    for file in missing {
        text.push_str(file);
        text.push('\n');
    }
    Some(text)
}

/// A simple gitignore match for a file in the same directory: `name`, `/name`, and patterns
/// with `*` (no directory parts). Anything fancier counts as not covering.
fn ignore_pattern_covers(pattern: &str, file: &str) -> bool {
    let pattern = pattern.strip_prefix('/').unwrap_or(pattern);
    if pattern.contains('/') {
        return false;
    }
    glob_match(pattern.as_bytes(), file.as_bytes())
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| glob_match(rest, &s[i..])),
        Some((b'?', rest)) => !s.is_empty() && glob_match(rest, &s[1..]),
        Some((c, rest)) => s.first() == Some(c) && glob_match(rest, &s[1..]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frameworks() {
        let cases = [
            (
                json!({"dependencies": {"next": "15", "react": "19"}}),
                Framework::Next,
                "NEXT_PUBLIC_",
            ),
            (
                json!({"devDependencies": {"vite": "7"}}),
                Framework::Vite,
                "VITE_",
            ),
            (
                json!({"dependencies": {"@tanstack/react-start": "1"}}),
                Framework::Vite,
                "VITE_",
            ),
            (
                json!({"devDependencies": {"vite": "7", "@sveltejs/kit": "2"}}),
                Framework::SvelteKit,
                "PUBLIC_",
            ),
            (
                json!({"dependencies": {"react-scripts": "5"}}),
                Framework::CreateReactApp,
                "REACT_APP_",
            ),
            (
                json!({"dependencies": {"expo": "52"}}),
                Framework::Expo,
                "EXPO_PUBLIC_",
            ),
            (
                json!({"dependencies": {"convex": "1"}}),
                Framework::Other,
                "",
            ),
        ];
        for (pkg, want, prefix) in cases {
            let got = Framework::detect(Some(&pkg));
            assert_eq!(got, want, "{pkg}");
            assert_eq!(got.prefix(), prefix);
        }
        assert_eq!(Framework::detect(None), Framework::Other);
    }

    #[test]
    fn gitignore_entries() {
        let all = gitignore_with_entries(None).unwrap();
        assert_eq!(
            all,
            "# coder-convex: generated files with secrets or machine-specific URLs\n.env.convex.local\n\
             jwt_private_key.pem\n.env.local\n.env.development.local\n.env.convex.deployment\n"
        );
        assert_eq!(gitignore_with_entries(Some(&all)), None);
        let partial = gitignore_with_entries(Some("node_modules\n.env*.local\n/*.pem")).unwrap();
        assert_eq!(
            partial,
            "node_modules\n.env*.local\n/*.pem\n\n# coder-convex: generated files with secrets or machine-specific URLs\n.env.convex.deployment\n"
        );
        assert_eq!(gitignore_with_entries(Some(".env*\n*.pem\n")), None);
    }
}
