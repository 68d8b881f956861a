//! The project directory: which files we own, the frontend framework, git ignores.
//!
//! I/O: reads `package.json`; writes `.gitignore`.

pub(crate) mod dotenv;
pub(crate) mod file_io;
pub(crate) mod files;
pub(crate) mod lock;

use std::path::Path;

use serde::Serialize;

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
/// Auth library secrets (`BETTER_AUTH_SECRET`). A file of its own: `.env.convex.local` is
/// loaded into the backend and dashboard containers (which do not need it) and a change to it
/// restarts the backend; no dev server or the Convex CLI loads this name.
pub(crate) const AUTH_ENV_FILE: &str = ".env.convex.auth.local";
/// Convex Auth, Clerk, WorkOS, Auth0: the providers the backend trusts.
pub(crate) const AUTH_CONFIG_FILES: [&str; 2] = ["convex/auth.config.ts", "convex/auth.config.js"];

/// The frontend framework decides the prefix of browser-visible variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Framework {
    Next,
    Vite,
    #[serde(rename = "tanstack-start")]
    TanStackStart,
    Remix,
    CreateReactApp,
    Expo,
    SvelteKit,
    Other,
}

impl Framework {
    pub(crate) fn prefix(self) -> &'static str {
        match self {
            Self::Next => "NEXT_PUBLIC_",
            Self::Vite | Self::TanStackStart | Self::Remix => "VITE_",
            Self::CreateReactApp => "REACT_APP_",
            Self::Expo => "EXPO_PUBLIC_",
            Self::SvelteKit => "PUBLIC_",
            Self::Other => "",
        }
    }

    /// The port the framework's dev server listens on unless told otherwise.
    pub(crate) fn default_port(self) -> Option<u16> {
        match self {
            Self::Vite | Self::SvelteKit => Some(5173),
            Self::Next | Self::TanStackStart | Self::Remix | Self::CreateReactApp => Some(3000),
            Self::Expo => Some(8081),
            Self::Other => None,
        }
    }

    /// From `package.json` dependencies; the most specific framework wins (SvelteKit and
    /// TanStack Start both use Vite).
    pub(crate) fn detect(package_json: Option<&serde_json::Value>) -> Self {
        let Some(pkg) = package_json else {
            return Self::Other;
        };
        let has = |name: &str| has_dependency(pkg, name);
        if has("next") {
            Self::Next
        } else if has("expo") {
            Self::Expo
        } else if has("@sveltejs/kit") {
            Self::SvelteKit
        } else if has("react-scripts") {
            Self::CreateReactApp
        } else if has("@tanstack/react-start")
            || has("@tanstack/solid-start")
            || has("@tanstack/start")
        {
            Self::TanStackStart
        } else if has("@remix-run/dev") || has("@remix-run/react") {
            Self::Remix
        } else if has("vite") {
            Self::Vite
        } else {
            Self::Other
        }
    }
}

/// Whether `package.json` lists `name` in any dependency section.
pub(crate) fn has_dependency(pkg: &serde_json::Value, name: &str) -> bool {
    ["dependencies", "devDependencies", "peerDependencies"]
        .iter()
        .any(|section| pkg.get(section).and_then(|d| d.get(name)).is_some())
}

/// The names of every dependency in `package.json`.
pub(crate) fn dependency_names(pkg: &serde_json::Value) -> Vec<&str> {
    ["dependencies", "devDependencies", "peerDependencies"]
        .iter()
        .filter_map(|section| pkg.get(section)?.as_object())
        .flat_map(|deps| deps.keys().map(String::as_str))
        .collect()
}

/// Read and parse `package.json`, if there is one.
pub(crate) fn read_package_json(dir: &Path) -> Result<Option<serde_json::Value>> {
    let path = dir.join("package.json");
    let Some(text) = file_io::read_optional(&path)? else {
        return Ok(None);
    };
    serde_json::from_str(&text).map(Some).map_err(|e| {
        crate::error::Error::file(path, format!("is not valid JSON: {e}"))
            .with_hint("fix package.json; it decides the framework and the package manager")
    })
}

/// Whether `dir` is inside a git work tree (a `.git` directory or file above it).
pub(crate) fn in_git_work_tree(dir: &Path) -> bool {
    let dir = fs_err::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    dir.ancestors().any(|a| a.join(".git").exists())
}

/// What `.gitignore` must ignore: each pattern with a name it has to match.
const IGNORE_PATTERNS: [(&str, &str); 9] = [
    (CONVEX_ENV_FILE, CONVEX_ENV_FILE),
    (JWT_KEY_FILE, JWT_KEY_FILE),
    (CLI_ENV_FILE, CLI_ENV_FILE),
    (BROWSER_ENV_FILE, BROWSER_ENV_FILE),
    (DEPLOYMENT_ENV_FILE, DEPLOYMENT_ENV_FILE),
    (AUTH_ENV_FILE, AUTH_ENV_FILE),
    // Backups of replaced secrets and temporary files of interrupted runs.
    (
        "jwt_private_key.pem.*.bak",
        "jwt_private_key.pem.1700000000.bak",
    ),
    (
        ".env.convex.local.*.bak",
        ".env.convex.local.1700000000.bak",
    ),
    (".coder-convex-*", ".coder-convex-a1b2c3"),
];

/// Whether `.gitignore` text ignores `name` (a file beside it), with git's rules: the last
/// matching pattern wins, so `!.env.local` after `.env*` un-ignores it.
fn ignores(gitignore: &str, name: &str) -> bool {
    let mut builder = ignore::gitignore::GitignoreBuilder::new("/");
    for line in gitignore.lines() {
        // A line git cannot parse is one git ignores too.
        let _ = builder.add_line(None, line);
    }
    builder
        .build()
        .is_ok_and(|g| g.matched(Path::new("/").join(name), false).is_ignore())
}

/// `.gitignore` with our patterns appended once (those whose files it does not ignore yet).
pub(crate) fn gitignore_with_entries(existing: Option<&str>) -> Option<String> {
    let existing = existing.unwrap_or_default();
    let missing: Vec<&str> = IGNORE_PATTERNS
        .into_iter()
        .filter(|(_, sample)| !ignores(existing, sample))
        .map(|(pattern, _)| pattern)
        .collect();
    if missing.is_empty() {
        return None;
    }
    let eol = if existing.contains("\r\n") {
        "\r\n"
    } else {
        "\n"
    };
    let mut text = existing.to_owned();
    if !text.is_empty() && !text.ends_with('\n') {
        text.push_str(eol);
    }
    if !text.is_empty() {
        text.push_str(eol);
    }
    text.push_str("# coder-convex: generated files with secrets or machine-specific URLs");
    text.push_str(eol);
    for pattern in missing {
        text.push_str(pattern);
        text.push_str(eol);
    }
    Some(text)
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
                json!({"dependencies": {"@tanstack/react-start": "1", "vite": "7"}}),
                Framework::TanStackStart,
                "VITE_",
            ),
            (
                json!({"devDependencies": {"@remix-run/dev": "2", "vite": "5"}}),
                Framework::Remix,
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
        const NEW: &str = "jwt_private_key.pem.*.bak\n.env.convex.local.*.bak\n.coder-convex-*\n";
        let all = gitignore_with_entries(None).unwrap();
        assert_eq!(
            all,
            format!(
                "# coder-convex: generated files with secrets or machine-specific URLs\n.env.convex.local\n\
                 jwt_private_key.pem\n.env.local\n.env.development.local\n.env.convex.deployment\n\
                 .env.convex.auth.local\n{NEW}"
            )
        );
        assert_eq!(gitignore_with_entries(Some(&all)), None);
        let partial = gitignore_with_entries(Some("node_modules\n.env*.local\n/*.pem")).unwrap();
        assert_eq!(
            partial,
            format!(
                "node_modules\n.env*.local\n/*.pem\n\n# coder-convex: generated files with secrets or machine-specific URLs\n.env.convex.deployment\n{NEW}"
            )
        );
        assert_eq!(
            gitignore_with_entries(Some(".env*\n*.pem\n*.bak\n.coder-convex-*\n")),
            None
        );
        // A negation un-ignores: `.env.local` is added again after it (git: last match wins).
        let negated =
            gitignore_with_entries(Some(".env*\n!.env.local\n*.pem\n*.bak\n.coder-convex-*\n"))
                .unwrap();
        assert!(negated.ends_with("URLs\n.env.local\n"), "{negated}");
        assert!(ignores(&negated, ".env.local"));
        // CRLF files get CRLF lines.
        assert!(
            gitignore_with_entries(Some("a\r\n"))
                .unwrap()
                .ends_with(".coder-convex-*\r\n")
        );
    }
}
