//! The app's own public URL, `SITE_URL` (pure; README "The app's URL"): the frontend dev
//! server's port — the flag or variable, else the `dev` script in `package.json`, else the
//! framework's default — and its public URL by the same rules as the Convex apps in
//! [`crate::config::urls`], with the port number where those put an app slug (in Coder a port number
//! in place of `{{port}}` is a valid app host label).

use serde::Serialize;

use crate::config::url_checks;
use crate::config::urls::{self, MAX_LABEL_LEN, UrlInputs, UrlSource};
use crate::env_vars as ev;
use crate::error::{Error, Result};
use crate::project::Framework;

/// Where the frontend port came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum PortSource {
    /// `--frontend-port` / `CODER_CONVEX_FRONTEND_PORT`.
    Explicit,
    /// `--port N`, `--port=N`, `-p N` or `PORT=N` in the `dev` script of `package.json`.
    DevScript,
    /// The framework's default.
    FrameworkDefault,
}

/// The frontend dev server's port and where it came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct FrontendPort {
    pub(crate) port: u16,
    pub(crate) source: PortSource,
}

/// The first rule that gives a port: the flag, the `dev` script, the framework default.
pub(crate) fn detect_port(
    explicit: Option<u16>,
    package_json: Option<&serde_json::Value>,
    framework: Framework,
) -> Option<FrontendPort> {
    let found = |port, source| Some(FrontendPort { port, source });
    if let Some(port) = explicit {
        return found(port, PortSource::Explicit);
    }
    let dev_script = package_json
        .and_then(|p| p.get("scripts"))
        .and_then(|s| s.get("dev"))
        .and_then(|d| d.as_str());
    if let Some(port) = dev_script.and_then(dev_script_port) {
        return found(port, PortSource::DevScript);
    }
    framework
        .default_port()
        .and_then(|port| found(port, PortSource::FrameworkDefault))
}

/// The port a dev script sets: `--port 4000`, `--port=4000`, `-p 4000`, `-p=4000` or an
/// environment prefix `PORT=4000`; the first one wins. Quotes around commands (as in
/// `concurrently "vite --port 4000" "convex dev"`) do not matter.
pub(crate) fn dev_script_port(script: &str) -> Option<u16> {
    let tokens: Vec<&str> = script
        .split(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | ';' | '&' | '|'))
        .filter(|t| !t.is_empty())
        .collect();
    let number = |s: &str| s.parse::<u16>().ok().filter(|p| *p != 0);
    for (i, token) in tokens.iter().enumerate() {
        let next = || tokens.get(i + 1).copied().and_then(number);
        let found = match *token {
            "--port" | "-p" => next(),
            t => ["--port=", "-p=", "PORT="]
                .iter()
                .find_map(|prefix| t.strip_prefix(prefix))
                .and_then(number),
        };
        if found.is_some() {
            return found;
        }
    }
    None
}

/// The app's public URL and the rule that produced it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct AppUrl {
    pub(crate) url: String,
    pub(crate) source: UrlSource,
    /// The frontend port it was built from (`None` when given explicitly).
    pub(crate) port: Option<FrontendPort>,
}

/// An explicit app URL and the input that gave it (for errors).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ExplicitUrl<'a> {
    pub(crate) value: &'a str,
    pub(crate) input: &'a str,
}

/// The app's public URL: explicit first, else the frontend port through the URL rules; `None`
/// when there is neither (no frontend we know of).
pub(crate) fn derive(
    explicit: Option<ExplicitUrl<'_>>,
    port: Option<FrontendPort>,
    inputs: &UrlInputs<'_>,
) -> Result<Option<AppUrl>> {
    if let Some(given) = explicit {
        return Ok(Some(AppUrl {
            url: validate_explicit(given.value, given.input)?,
            source: UrlSource::Explicit,
            port: None,
        }));
    }
    let Some(frontend) = port else {
        return Ok(None);
    };
    let p = frontend.port;
    let app = |url: String, source| {
        Ok(Some(AppUrl {
            url,
            source,
            port: Some(frontend),
        }))
    };
    if let Some(template) = urls::coder_template(inputs.vscode_proxy_uri) {
        let names = [inputs.agent_name, inputs.workspace_name, inputs.owner_name];
        let url = from_template(
            template,
            ev::VSCODE_PROXY_URI,
            names,
            p,
            inputs.short_labels,
        )?;
        return app(url, UrlSource::CoderProxyUri);
    }
    if inputs.coder {
        if let Some(manifest) = inputs.manifest
            && let Some(template) = urls::coder_template(Some(&manifest.vscode_port_proxy_uri))
        {
            let names = [
                urls::non_empty(&manifest.agent_name).or(inputs.agent_name),
                urls::non_empty(&manifest.workspace_name).or(inputs.workspace_name),
                urls::non_empty(&manifest.owner_name).or(inputs.owner_name),
            ];
            let url = from_template(
                template,
                "the Coder agent manifest",
                names,
                p,
                inputs.short_labels,
            )?;
            return app(url, UrlSource::CoderManifest);
        }
        return app(format!("http://localhost:{p}"), UrlSource::CoderNoWildcard);
    }
    if let (Some(name), Some(domain)) = (inputs.codespace_name, inputs.codespaces_domain) {
        let url = format!("https://{name}-{p}.{domain}");
        url_checks::check_url(&url, ev::CODESPACE_NAME)?;
        return app(url, UrlSource::Codespaces);
    }
    if let Some(ws) = inputs.gitpod_workspace_url {
        let parsed = url_checks::parse_http_url(ws, ev::GITPOD_WORKSPACE_URL)?;
        let host = parsed.host_str().unwrap_or_default();
        let url = format!("{}://{p}-{host}", parsed.scheme());
        url_checks::check_url(&url, ev::GITPOD_WORKSPACE_URL)?;
        return app(url, UrlSource::Gitpod);
    }
    app(format!("http://localhost:{p}"), UrlSource::Local)
}

/// `{{port}}--agent--workspace--owner…` with the port number in place of `{{port}}`, or the
/// 3-part `port--workspace--owner` with `short`.
fn from_template(
    template: &str,
    source_name: &str,
    [agent, workspace, owner]: [Option<&str>; 3],
    port: u16,
    short: bool,
) -> Result<String> {
    let template = template.trim().trim_end_matches('/');
    let url = if short {
        let (Some(a), Some(w), Some(o)) = (agent, workspace, owner) else {
            return Err(Error::invalid(
                ev::CODER_CONVEX_SHORT_LABELS,
                "the 3-part label needs the agent, workspace and owner names",
            )
            .with_hint("run inside the workspace, or drop --short-labels"));
        };
        let prefix = format!("{{{{port}}}}--{a}--{w}--{o}");
        if !template.contains(prefix.as_str()) {
            return Err(Error::invalid(
                source_name,
                format!("{template:?} does not start with {prefix:?}"),
            )
            .with_hint("drop --short-labels to use the template as the agent gives it"));
        }
        template.replacen(prefix.as_str(), &format!("{port}--{w}--{o}"), 1)
    } else {
        template.replacen("{{port}}", &port.to_string(), 1)
    };
    let host = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
    let label = host.split(['.', ':', '/']).next().unwrap_or_default();
    if label.len() > MAX_LABEL_LEN {
        let mut hint = "give the app's URL with --site-url / SITE_URL".to_owned();
        if !short {
            hint.push_str(", or use the 3-part label with --short-labels");
        }
        return Err(Error::invalid(
            source_name,
            format!(
                "the app's host label {label:?} is {} characters; DNS allows {MAX_LABEL_LEN}",
                label.len()
            ),
        )
        .with_hint(hint));
    }
    url_checks::check_url(&url, source_name)?;
    Ok(url)
}

/// An explicit app URL: absolute http(s), no user info, query or fragment; a path is kept
/// (an app may live under one); no trailing `/`.
pub(crate) fn validate_explicit(raw: &str, input: &str) -> Result<String> {
    let url = url_checks::parse_http_url(raw, input)?;
    if url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
        || url.password().is_some()
    {
        return Err(Error::invalid(
            input,
            format!("{raw:?} has user info, a query or a fragment"),
        )
        .with_hint("give the app's base URL, e.g. https://app.example.com"));
    }
    let origin = url.origin().ascii_serialization();
    Ok(format!("{origin}{}", url.path().trim_end_matches('/')))
}

#[cfg(test)]
mod tests;
