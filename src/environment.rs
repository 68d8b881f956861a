//! The process environment, read once into [`RawEnv`] (envy from a map, so tests inject their
//! own), then validated together with the command-line flags.
//!
//! Nothing here touches the process environment: `main` takes one snapshot and hands it in.
//! clap reads the variables behind flags (`env = …`; it has no injectable source) from the
//! same, never-mutated process environment.
//!
//! Pure but for the current directory and checking the project directory exists.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{Error, Result};

/// A snapshot of the environment variables we care about; empty values count as unset.
#[derive(Debug, Default, Clone, Deserialize)]
pub struct RawEnv {
    pub coder: Option<String>,
    pub vscode_proxy_uri: Option<String>,
    pub coder_workspace_name: Option<String>,
    pub coder_workspace_agent_name: Option<String>,
    pub coder_workspace_owner_name: Option<String>,
    pub coder_agent_debug_address: Option<String>,
    pub codespace_name: Option<String>,
    pub github_codespaces_port_forwarding_domain: Option<String>,
    pub gitpod_workspace_url: Option<String>,
    pub database_url: Option<String>,
    pub postgres_uri: Option<String>,
    pub postgres_url: Option<String>,
    pub mysql_url: Option<String>,
    pub instance_name: Option<String>,
    pub instance_secret: Option<String>,
    pub better_auth_secret: Option<String>,
    pub coder_convex_api_slug: Option<String>,
    pub coder_convex_site_slug: Option<String>,
    pub coder_convex_dashboard_slug: Option<String>,
    pub no_color: Option<String>,
    pub pg_ca_file: Option<String>,
    pub mysql_ca_file: Option<String>,
    pub coder_convex_mysql_collation: Option<String>,
    pub convex_deployment: Option<String>,
    pub convex_deploy_key: Option<String>,
    pub convex_deployment_token: Option<String>,
    pub coder_convex_log: Option<String>,
    pub coder_convex_shared_database_url: Option<String>,
    pub coder_convex_shared_postgres_url: Option<String>,
    pub coder_convex_shared_database: Option<String>,
    pub coder_convex_workspace_id: Option<String>,
    pub coder_convex_db_connections: Option<String>,
    pub coder_convex_dashboard_login: Option<String>,
    pub coder_convex_backup_dir: Option<String>,
    pub home: Option<String>,
    pub xdg_cache_home: Option<String>,
    pub xdg_data_home: Option<String>,
}

impl RawEnv {
    /// Build from any `(name, value)` pairs; unknown names are ignored, empty values dropped.
    pub fn from_pairs<I, K, V>(pairs: I) -> Result<Self>
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        let map: BTreeMap<String, String> = pairs
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.trim().is_empty())
            .collect();
        // envy matches names case-insensitively against the snake_case fields.
        envy::from_iter::<_, Self>(map).map_err(|e| Error::invalid("environment", e.to_string()))
    }

    /// From the process environment's snapshot, skipping values that are not UTF-8.
    pub fn from_snapshot(snapshot: &[(OsString, OsString)]) -> Result<Self> {
        Self::from_pairs(
            snapshot
                .iter()
                .filter_map(|(k, v)| Some((k.to_str()?.to_owned(), v.to_str()?.to_owned()))),
        )
    }

    pub fn is_coder(&self) -> bool {
        self.coder
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// The one boolean parser, for flags (`value_parser`) and variables alike: `true`/`false`,
/// `1`/`0`, `yes`/`no`, `on`/`off`, any case.
pub fn parse_bool(raw: &str) -> std::result::Result<bool, String> {
    match raw.trim().to_ascii_lowercase().as_str() {
        "false" | "0" | "no" | "off" => Ok(false),
        "true" | "1" | "yes" | "on" => Ok(true),
        other => Err(format!("{other:?} is not true or false")),
    }
}

/// The one place a path the user gave (a flag, a variable, an argument) is made absolute:
/// relative to the current directory, once, when the command starts. Everything after
/// (checks, the Convex CLI running in the project directory) uses the absolute path, so
/// what is checked is what is used.
pub(crate) fn absolute(path: &Path) -> Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| Error::runtime_from(format!("cannot make {} absolute", path.display()), e))
}

/// Resolve the project directory: flag/env, else the current directory (absolute).
pub(crate) fn project_dir(flag: Option<PathBuf>) -> Result<PathBuf> {
    let dir = match flag {
        Some(dir) => absolute(&dir)?,
        None => std::env::current_dir()?,
    };
    if !dir.is_dir() {
        return Err(Error::invalid(
            "--project-dir",
            format!("{} is not a directory", dir.display()),
        )
        .with_hint("pass an existing directory with --project-dir or CODER_CONVEX_PROJECT_DIR"));
    }
    Ok(dir)
}
