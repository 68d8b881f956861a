//! The Convex containers `up` runs outside Coder, as far as it is pure: the compose file
//! embedded in the binary and its pinned image tag, the per-project compose project name and
//! cache location, the variables the file reads, what `compose ps` reports, and what a failed
//! compose run means. `engine.rs` runs the commands.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::config::urls::App;
use crate::env_vars as ev;
use crate::error::{ContainerFailure, Error, Result};

/// A service of the Convex containers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Service {
    Backend,
    Dashboard,
}

impl Service {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Backend => "backend",
            Self::Dashboard => "dashboard",
        }
    }
}

/// The Convex release both images run: the same tag as the Coder template's
/// `convex_image_tag` (a test keeps the template, the embedded file and this equal).
/// The head of upstream's `release` branch on 2026-08-21 (pushes to it publish both images);
/// the 2025-09-12 release pinned before it predates `evaluate_push`, which every `convex`
/// CLI since 1.29.2 needs to deploy.
pub const IMAGE_TAG: &str = "652b828b5129e6cdbcaa3c20efa8d116d09ff3bf";

/// What the compose file makes the backend report as its version: upstream's release name for
/// [`IMAGE_TAG`] (`precompiled-<commit date>-<short hash>`).
pub const IMAGE_RELEASE: &str = "precompiled-2026-08-21-652b828";

/// The compose file `up` uses unless `--compose-file` names another.
pub const FILE: &str = include_str!("compose/docker-compose.yml");

/// Its name in the cache directory.
pub(crate) const FILE_NAME: &str = "docker-compose.yml";

/// The oldest Compose that reads the file (`env_file` with `required:`, 2.24).
const MIN_COMPOSE: (u64, u64) = (2, 24);

/// Where the file is written: `<cache>/coder-convex/<project name>/`.
pub(crate) fn cache_dir(
    xdg_cache_home: Option<&str>,
    home: Option<&str>,
    project: &str,
) -> Result<PathBuf> {
    // The XDG spec says to ignore a relative XDG_CACHE_HOME.
    let base = match (xdg_cache_home.map(Path::new), home) {
        (Some(xdg), _) if xdg.is_absolute() => xdg.to_owned(),
        (_, Some(home)) if Path::new(home).is_absolute() => Path::new(home).join(".cache"),
        _ => {
            return Err(Error::invalid(
                ev::HOME,
                "neither XDG_CACHE_HOME nor HOME is an absolute path",
            )
            .with_hint("set HOME (or XDG_CACHE_HOME), or pass your own file with --compose-file"));
        }
    };
    Ok(base.join("coder-convex").join(project))
}

/// The compose project name of a project directory (canonical path): its name, made safe for
/// compose, plus a hash of the whole path. Stable for one directory; two directories never
/// share one, so they never share containers or the data volume.
pub(crate) fn project_name(dir: &Path) -> String {
    let base: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let base = base.trim_matches(|c: char| !c.is_ascii_alphanumeric());
    let base: String = base.chars().take(32).collect();
    let hash = hex::encode(Sha256::digest(dir.as_os_str().as_encoded_bytes()));
    let prefix = if base.is_empty() { "project" } else { &base };
    format!("{prefix}-convex-{}", &hash[..8])
}

/// The label value that makes compose recreate the backend when `.env.convex.local` changes.
pub(crate) fn env_hash(content: &str) -> String {
    hex::encode(Sha256::digest(content.as_bytes()))
}

/// The host ports the stack publishes on 127.0.0.1, taken from the internal URLs so that
/// `setup` talks to exactly what `up` started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct Ports {
    pub(crate) api: u16,
    pub(crate) site: u16,
    pub(crate) dashboard: u16,
}

impl Ports {
    pub(crate) fn from_urls(backend: &str, site_proxy: &str, dashboard: &str) -> Result<Self> {
        Ok(Self {
            api: loopback_port(backend, "--backend-url / CODER_CONVEX_BACKEND_URL")?,
            site: loopback_port(site_proxy, "--site-proxy-url / CODER_CONVEX_SITE_PROXY_URL")?,
            dashboard: loopback_port(
                dashboard,
                "--dashboard-internal-url / CODER_CONVEX_DASHBOARD_INTERNAL_URL",
            )?,
        })
    }

    /// Each port with the service that publishes it and the input that chose it.
    pub(crate) fn published(self) -> [(u16, Service, App); 3] {
        [
            (self.api, Service::Backend, App::Api),
            (self.site, Service::Backend, App::Site),
            (self.dashboard, Service::Dashboard, App::Dashboard),
        ]
    }
}

/// The port of an `http://127.0.0.1:<port>` (or `localhost`) URL: the containers publish on
/// loopback only, so an internal URL elsewhere cannot be theirs.
fn loopback_port(url: &str, input: &str) -> Result<u16> {
    let parsed = url::Url::parse(url).map_err(|e| Error::invalid(input, format!("{url}: {e}")))?;
    let loopback = match parsed.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d == "localhost",
        None => false,
    };
    match parsed.port_or_known_default() {
        Some(port) if loopback && parsed.scheme() == "http" => Ok(port),
        _ => Err(Error::invalid(
            input,
            format!("{url} is not an http://127.0.0.1:<port> URL"),
        )
        .with_hint("`up` publishes the containers on 127.0.0.1; unset the variable, or point it at a loopback port")),
    }
}

/// The variables the compose file reads, handed to compose by environment.
pub(crate) fn variables(
    env_file: &Path,
    env_hash: &str,
    deployment_url: &str,
    ports: Ports,
) -> Vec<(&'static str, String)> {
    vec![
        (ev::CODER_CONVEX_ENV_FILE, env_file.display().to_string()),
        (ev::CODER_CONVEX_ENV_HASH, env_hash.to_owned()),
        (ev::NEXT_PUBLIC_DEPLOYMENT_URL, deployment_url.to_owned()),
        (ev::CODER_CONVEX_API_PORT, ports.api.to_string()),
        (ev::CODER_CONVEX_SITE_PORT, ports.site.to_string()),
        (ev::CODER_CONVEX_DASHBOARD_PORT, ports.dashboard.to_string()),
    ]
}

/// One container of the stack, as `compose ps --format json` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Container {
    #[serde(rename(deserialize = "Service"))]
    pub(crate) service: String,
    /// `running`, `exited`, `restarting`, …
    #[serde(rename(deserialize = "State"))]
    pub(crate) state: String,
    /// `Up 5 minutes (healthy)`, …
    #[serde(rename(deserialize = "Status"), default)]
    pub(crate) status: String,
}

impl Container {
    pub(crate) fn running(&self) -> bool {
        self.state == "running"
    }
}

/// Parse `compose ps --format json`: one object per line (Compose ≥ 2.21) or one array
/// (older). `None` when the output is neither.
pub(crate) fn parse_ps(text: &str) -> Option<Vec<Container>> {
    let trimmed = text.trim();
    if trimmed.starts_with('[') {
        return serde_json::from_str(trimmed).ok();
    }
    trimmed
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Whether `compose version --short` is new enough; `Err` names what was found.
pub(crate) fn check_compose_version(text: &str) -> std::result::Result<(), String> {
    let Some(found) = compose_version(text) else {
        let shown = text.trim().lines().next().unwrap_or_default();
        return Err(format!("cannot read the Compose version from {shown:?}"));
    };
    let mut parts = found.split(['.', '-', '+']).map(|p| p.parse::<u64>());
    match (parts.next(), parts.next()) {
        (Some(Ok(major)), Some(Ok(minor))) if (major, minor) >= MIN_COMPOSE => Ok(()),
        (Some(Ok(_)), Some(Ok(_))) => Err(format!(
            "Compose {found} is too old (the compose file needs {}.{} or newer)",
            MIN_COMPOSE.0, MIN_COMPOSE.1
        )),
        _ => Err(format!("cannot read the Compose version from {found:?}")),
    }
}

/// The version in `compose version`'s answer, short (`2.29.1`) or long (`Docker Compose
/// version v2.29.1`, `docker-compose version 1.29.2, build 5becea4c`, podman's several lines):
/// the first version-shaped word of the first line that names Compose, else of any line.
fn compose_version(text: &str) -> Option<&str> {
    fn version_in(line: &str) -> Option<&str> {
        line.split([' ', '\t', ',', ':'])
            .map(|word| word.strip_prefix('v').unwrap_or(word))
            .find(|word| word.starts_with(|c: char| c.is_ascii_digit()) && word.contains('.'))
    }
    let lines = || text.lines().map(str::trim);
    lines()
        .filter(|l| l.to_ascii_lowercase().contains("compose"))
        .chain(lines())
        .find_map(version_in)
}

/// What a failed compose run means, from its output.
pub(crate) fn classify(lines: &[String]) -> ContainerFailure {
    let text = lines.join("\n").to_lowercase();
    let any = |needles: &[&str]| needles.iter().any(|n| text.contains(n));
    if any(&[
        "cannot connect to the docker daemon",
        "is the docker daemon running",
        "error during connect",
        "permission denied while trying to connect to the docker daemon",
        "cannot connect to podman",
        "unable to connect to podman",
    ]) {
        ContainerFailure::EngineDown
    } else if any(&[
        "port is already allocated",
        "address already in use",
        "bind: address",
    ]) {
        ContainerFailure::PortInUse
    } else if any(&[
        "pull access denied",
        "manifest unknown",
        "failed to resolve reference",
        "error pulling image",
        "toomanyrequests",
        "failed to pull",
        "error response from daemon: get \"https://",
        "no such host",
    ]) {
        ContainerFailure::ImagePull
    } else if any(&[
        "'compose' is not a docker command",
        "unknown command \"compose\"",
        "unknown shorthand flag",
    ]) {
        ContainerFailure::NoCompose
    } else {
        ContainerFailure::Compose
    }
}

#[cfg(test)]
mod tests;
