//! Public and internal URL derivation (pure; README "Public URLs").
//!
//! The three apps and their ports live here once; the Coder template uses the same slugs and
//! ports, and a test parses the template to keep them equal.

use serde::{Deserialize, Serialize};

use crate::config::url_checks::{check_url, parse_http_url};
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::redact::mask_password;

/// The three apps a self-hosted Convex exposes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum App {
    Api,
    Site,
    Dashboard,
}

impl App {
    pub const ALL: [App; 3] = [App::Api, App::Site, App::Dashboard];

    pub const fn port(self) -> u16 {
        match self {
            App::Api => 3210,
            App::Site => 3211,
            App::Dashboard => 6791,
        }
    }

    pub const fn default_slug(self) -> &'static str {
        match self {
            App::Api => "convex-api",
            App::Site => "convex-site",
            App::Dashboard => "convex-dashboard",
        }
    }

    /// The variable that overrides this app's public URL.
    pub const fn explicit_var(self) -> &'static str {
        match self {
            App::Api => ev::CONVEX_CLOUD_ORIGIN,
            App::Site => ev::CONVEX_SITE_ORIGIN,
            App::Dashboard => ev::CONVEX_DASHBOARD_URL,
        }
    }

    const fn slug_var(self) -> &'static str {
        match self {
            App::Api => ev::CODER_CONVEX_API_SLUG,
            App::Site => ev::CODER_CONVEX_SITE_SLUG,
            App::Dashboard => ev::CODER_CONVEX_DASHBOARD_SLUG,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Internal loopback URLs: what this tool, the Convex CLI and health checks use.
pub const DEFAULT_BACKEND_URL: &str = "http://127.0.0.1:3210";
pub const DEFAULT_SITE_PROXY_URL: &str = "http://127.0.0.1:3211";
/// Where the Coder agent serves `/debug/manifest` unless told otherwise.
pub const DEFAULT_AGENT_DEBUG_ADDRESS: &str = "127.0.0.1:2113";
/// DNS labels longer than this fail silently in Coder.
pub const MAX_LABEL_LEN: usize = crate::config::url_checks::MAX_LABEL_LEN;

/// Which rule of README "Public URLs" produced the derived URLs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum UrlSource {
    Explicit,
    CoderProxyUri,
    CoderManifest,
    CoderNoWildcard,
    /// Coder without `{{port}}` in `VSCODE_PROXY_URI`, and the agent's manifest could not be
    /// read: whether a wildcard exists is unknown, the loopback URLs are a stopgap.
    CoderManifestUnavailable,
    Codespaces,
    Gitpod,
    Local,
    /// Given explicitly once and kept in `.env.convex.local` (`CODER_CONVEX_PINNED_URLS`).
    ProjectFile,
}

impl UrlSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Explicit => "explicit",
            Self::CoderProxyUri => "coder-proxy-uri",
            Self::CoderManifest => "coder-manifest",
            Self::CoderNoWildcard => "coder-no-wildcard",
            Self::CoderManifestUnavailable => "coder-manifest-unavailable",
            Self::Codespaces => "codespaces",
            Self::Gitpod => "gitpod",
            Self::Local => "local",
            Self::ProjectFile => "project-file",
        }
    }
}

/// Validated app slugs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slugs([String; 3]);

impl Default for Slugs {
    fn default() -> Self {
        Self(App::ALL.map(|a| a.default_slug().to_owned()))
    }
}

impl Slugs {
    /// Slugs from optional overrides (api, site, dashboard), validated like Coder does.
    pub fn new(overrides: [Option<&str>; 3]) -> Result<Self> {
        let mut slugs = Self::default();
        for (app, value) in App::ALL.into_iter().zip(overrides) {
            if let Some(slug) = value {
                if !is_valid_slug(slug) {
                    return Err(Error::invalid(
                        app.slug_var(),
                        format!("{slug:?} is not a valid Coder app slug"),
                    )
                    .with_hint(
                        "use lower-case letters, digits and single dashes, e.g. `convex-api`",
                    ));
                }
                slugs.0[app.index()] = slug.to_owned();
            }
        }
        Ok(slugs)
    }

    pub fn get(&self, app: App) -> &str {
        &self.0[app.index()]
    }
}

/// `^[a-z0-9](-?[a-z0-9])*$`, Coder's slug rule.
pub fn is_valid_slug(slug: &str) -> bool {
    let bytes = slug.as_bytes();
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    !bytes.is_empty()
        && alnum(bytes[0])
        && alnum(bytes[bytes.len() - 1])
        && bytes.iter().all(|&b| alnum(b) || b == b'-')
        && !slug.contains("--")
}

/// What the Coder agent's `/debug/manifest` tells us (the rest of it is never kept).
#[derive(Debug, Default, Clone, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub vscode_port_proxy_uri: String,
    #[serde(default)]
    pub apps: Vec<ManifestApp>,
    #[serde(default)]
    pub agent_name: String,
    #[serde(default)]
    pub workspace_name: String,
    #[serde(default)]
    pub owner_name: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
pub struct ManifestApp {
    #[serde(default)]
    pub slug: String,
    #[serde(default)]
    pub subdomain_name: String,
}

/// Everything URL derivation looks at.
#[derive(Debug, Default, Clone)]
pub struct UrlInputs<'a> {
    /// Explicit overrides for api, site, dashboard (flags, environment, or pinned).
    pub explicit: [Option<&'a str>; 3],
    /// Which explicit overrides come from the project file's pins.
    pub pinned: [bool; 3],
    pub coder: bool,
    pub vscode_proxy_uri: Option<&'a str>,
    pub agent_name: Option<&'a str>,
    pub workspace_name: Option<&'a str>,
    pub owner_name: Option<&'a str>,
    /// The agent manifest, when it was probed and answered.
    pub manifest: Option<&'a Manifest>,
    /// Why the probed manifest could not be read (the endpoint and the limit or time).
    pub manifest_problem: Option<&'a str>,
    pub codespace_name: Option<&'a str>,
    pub codespaces_domain: Option<&'a str>,
    pub gitpod_workspace_url: Option<&'a str>,
    pub slugs: Slugs,
    /// Use `slug--workspace--owner` instead of `slug--agent--workspace--owner`.
    pub short_labels: bool,
}

impl UrlInputs<'_> {
    /// Whether the manifest should be probed: Coder, and the environment has no usable template.
    pub fn wants_manifest(&self) -> bool {
        self.coder
            && self.explicit.iter().any(Option::is_none)
            && coder_template(self.vscode_proxy_uri).is_none()
    }
}

/// The derived public URLs (origins without a trailing `/`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PublicUrls {
    pub api: String,
    pub site: String,
    pub dashboard: String,
    /// The rule that produced the URLs that were not given explicitly.
    pub source: UrlSource,
    /// Apps whose URL was given explicitly (now or pinned in the project file).
    pub explicit: Vec<App>,
    /// Where each URL came from (api, site, dashboard).
    pub sources: [UrlSource; 3],
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl PublicUrls {
    pub fn get(&self, app: App) -> &str {
        match app {
            App::Api => &self.api,
            App::Site => &self.site,
            App::Dashboard => &self.dashboard,
        }
    }
}

/// Derive the three public URLs (first rule that applies wins).
pub fn derive(inputs: &UrlInputs<'_>) -> Result<PublicUrls> {
    let mut explicit = [None, None, None];
    for app in App::ALL {
        if let Some(raw) = inputs.explicit[app.index()] {
            explicit[app.index()] = Some(validate_explicit(app, raw)?);
        }
    }
    let (derived, source, warnings) = derive_fallback(inputs)?;
    let mut urls = derived;
    for app in App::ALL {
        if let Some(url) = explicit[app.index()].take() {
            urls[app.index()] = url;
        }
    }
    let explicit_apps: Vec<App> = App::ALL
        .into_iter()
        .filter(|a| inputs.explicit[a.index()].is_some())
        .collect();
    let sources = App::ALL.map(|app| match inputs.explicit[app.index()] {
        Some(_) if inputs.pinned[app.index()] => UrlSource::ProjectFile,
        Some(_) => UrlSource::Explicit,
        None => source,
    });
    // One word for all three when they agree; else the rule behind the derived ones.
    let source = if sources.iter().all(|s| *s == sources[0]) {
        sources[0]
    } else if explicit_apps.len() == 3 {
        UrlSource::Explicit
    } else {
        source
    };
    let [api, site, dashboard] = urls;
    Ok(PublicUrls {
        api,
        site,
        dashboard,
        source,
        explicit: explicit_apps,
        sources,
        warnings,
    })
}

type Derived = ([String; 3], UrlSource, Vec<String>);

fn derive_fallback(inputs: &UrlInputs<'_>) -> Result<Derived> {
    if let Some(template) = coder_template(inputs.vscode_proxy_uri) {
        let urls = from_proxy_template(
            template,
            ev::VSCODE_PROXY_URI,
            inputs,
            inputs.agent_name,
            inputs.workspace_name,
            inputs.owner_name,
            None,
        )?;
        return Ok((urls, UrlSource::CoderProxyUri, vec![]));
    }
    if inputs.coder {
        if let Some(manifest) = inputs.manifest
            && let Some(template) = coder_template(Some(&manifest.vscode_port_proxy_uri))
        {
            let urls = from_proxy_template(
                template,
                "the Coder agent manifest",
                inputs,
                non_empty(&manifest.agent_name).or(inputs.agent_name),
                non_empty(&manifest.workspace_name).or(inputs.workspace_name),
                non_empty(&manifest.owner_name).or(inputs.owner_name),
                Some(&manifest.apps),
            )?;
            return Ok((urls, UrlSource::CoderManifest, vec![]));
        }
        // Loopback URLs are right inside Coder only when the agent says there is no wildcard;
        // an agent that did not answer says nothing, so its reason is given, not a guess.
        if let (None, Some(problem)) = (inputs.manifest, inputs.manifest_problem) {
            let warning = format!(
                "could not read the Coder agent's manifest ({problem}), so whether this \
                 deployment has a wildcard access URL is unknown; using loopback URLs for now, \
                 which only work from inside the workspace. Run `coder-convex setup` again when \
                 the agent answers (CODER_AGENT_DEBUG_ADDRESS names it), or give the URLs with \
                 CONVEX_CLOUD_ORIGIN, CONVEX_SITE_ORIGIN and CONVEX_DASHBOARD_URL."
            );
            return Ok((local(), UrlSource::CoderManifestUnavailable, vec![warning]));
        }
        let warning = "this Coder deployment has no wildcard access URL, so the convex-api, \
            convex-site and convex-dashboard apps cannot get subdomains; using loopback URLs, \
            which only work from inside the workspace. Ask your Coder admin to set \
            CODER_WILDCARD_ACCESS_URL, or forward the ports to your machine with \
            `coder port-forward <workspace> --tcp 3210:3210 --tcp 3211:3211 --tcp 6791:6791`."
            .to_owned();
        return Ok((local(), UrlSource::CoderNoWildcard, vec![warning]));
    }
    if let (Some(name), Some(domain)) = (inputs.codespace_name, inputs.codespaces_domain) {
        let urls = App::ALL.map(|app| format!("https://{name}-{}.{domain}", app.port()));
        for url in &urls {
            check_url(url, ev::CODESPACE_NAME)?;
        }
        return Ok((urls, UrlSource::Codespaces, vec![]));
    }
    if let Some(ws) = inputs.gitpod_workspace_url {
        let parsed = parse_http_url(ws, ev::GITPOD_WORKSPACE_URL)?;
        let host = parsed.host_str().unwrap_or_default();
        let urls = App::ALL.map(|app| format!("{}://{}-{host}", parsed.scheme(), app.port()));
        for url in &urls {
            check_url(url, ev::GITPOD_WORKSPACE_URL)?;
        }
        return Ok((urls, UrlSource::Gitpod, vec![]));
    }
    Ok((local(), UrlSource::Local, vec![]))
}

fn local() -> [String; 3] {
    App::ALL.map(|app| format!("http://127.0.0.1:{}", app.port()))
}

pub(crate) fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// A Coder port-proxy template: `{{port}}` in the host, in the `{{port}}--agent--…` form.
/// code-server's own `{{port}}.domain` form is not Coder's and is ignored.
pub(crate) fn coder_template(uri: Option<&str>) -> Option<&str> {
    let uri = uri?.trim();
    let host_part = uri.split_once("://")?.1.split('/').next()?;
    host_part.contains("{{port}}--").then_some(uri)
}

/// Substitute each app's host label into a `{{port}}--agent--workspace--owner…` template.
fn from_proxy_template(
    template: &str,
    source_name: &str,
    inputs: &UrlInputs<'_>,
    agent: Option<&str>,
    workspace: Option<&str>,
    owner: Option<&str>,
    manifest_apps: Option<&[ManifestApp]>,
) -> Result<[String; 3]> {
    let template = template.trim().trim_end_matches('/');
    // The part of the first label the agent filled in for us: `{{port}}--agent--ws--owner`.
    let full_prefix = match (agent, workspace, owner) {
        (Some(a), Some(w), Some(o)) => Some(format!("{{{{port}}}}--{a}--{w}--{o}")),
        _ => None,
    };
    let mut urls: [String; 3] = Default::default();
    for app in App::ALL {
        let slug = inputs.slugs.get(app);
        let from_manifest = manifest_apps
            .and_then(|apps| apps.iter().find(|a| a.slug == slug))
            .and_then(|a| non_empty(&a.subdomain_name));
        let url = match (&full_prefix, from_manifest) {
            (Some(prefix), Some(name))
                if template.contains(prefix.as_str()) && !inputs.short_labels =>
            {
                template.replacen(prefix.as_str(), name, 1)
            }
            (Some(prefix), _) if inputs.short_labels && template.contains(prefix.as_str()) => {
                let (w, o) = (workspace.unwrap_or_default(), owner.unwrap_or_default());
                template.replacen(prefix.as_str(), &format!("{slug}--{w}--{o}"), 1)
            }
            (None, _) if inputs.short_labels => {
                return Err(Error::invalid(
                    ev::CODER_CONVEX_SHORT_LABELS,
                    "the 3-part label needs the agent, workspace and owner names",
                )
                .with_hint("run inside the workspace (the agent sets CODER_WORKSPACE_AGENT_NAME, CODER_WORKSPACE_NAME, CODER_WORKSPACE_OWNER_NAME) or drop --short-labels"));
            }
            _ => template.replacen("{{port}}", slug, 1),
        };
        check_label(&url, source_name, app, inputs.short_labels)?;
        check_url(&url, source_name)?;
        urls[app.index()] = url;
    }
    Ok(urls)
}

fn check_label(url: &str, source_name: &str, app: App, short: bool) -> Result<()> {
    let host = url.split_once("://").map_or(url, |(_, rest)| rest);
    let label = host.split(['.', ':', '/']).next().unwrap_or_default();
    if label.len() > MAX_LABEL_LEN {
        let mut hint = format!(
            "shorten the slug with {} (now {:?})",
            app.slug_var(),
            app.default_slug()
        );
        if !short {
            hint.push_str(&format!(
                ", or use the 3-part label with --short-labels / {}=true (Coder servers after coder/coder#19750)",
                ev::CODER_CONVEX_SHORT_LABELS
            ));
        }
        return Err(Error::invalid(
            source_name,
            format!(
                "the host label {label:?} is {} characters; DNS allows {MAX_LABEL_LEN} and Coder fails silently beyond that",
                label.len()
            ),
        )
        .with_hint(hint));
    }
    Ok(())
}

/// Validate an explicit override: absolute http(s), no query or fragment, no trailing `/`.
/// The API is an origin; the site origin may end in `/http` (single-origin layout); the
/// dashboard may live under a path.
pub fn validate_explicit(app: App, raw: &str) -> Result<String> {
    let var = app.explicit_var();
    let url = parse_http_url(raw, var)?;
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::invalid(
            var,
            format!("{:?} has a query or fragment", mask_password(raw)),
        )
        .with_hint("give the bare origin, e.g. https://convex-api.example.com"));
    }
    let path = url.path().trim_end_matches('/');
    let path_ok = match app {
        App::Api => path.is_empty(),
        App::Site => path.is_empty() || path == "/http",
        App::Dashboard => true,
    };
    if !path_ok || !url.username().is_empty() || url.password().is_some() {
        return Err(
            Error::invalid(var, format!("{:?} is not an origin", mask_password(raw)))
                .with_hint("give scheme, host and port only, e.g. https://convex-api.example.com"),
        );
    }
    let origin = url.origin().ascii_serialization();
    Ok(format!("{origin}{path}"))
}

/// Validate an internal URL override (`--backend-url`, `--site-proxy-url`).
pub fn validate_internal(raw: &str, input: &str) -> Result<String> {
    let url = parse_http_url(raw, input)?;
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests;
