//! Checks that a URL is what we are about to show, write or dial (pure): an absolute
//! http(s) URL without user info; for derived public URLs, a bare origin with valid DNS
//! labels. Messages mask any password the input held.

use url::Url;

use crate::error::{Error, Result};
use crate::redact::mask_password;

/// DNS labels longer than this fail silently in Coder.
pub(crate) const MAX_LABEL_LEN: usize = 63;

/// A derived public URL must be a clean origin: http(s), a valid host, no user info, path,
/// query or fragment — whatever the inputs it was built from held.
pub(crate) fn check_url(url: &str, source_name: &str) -> Result<()> {
    let bad = |why: &str| {
        Error::invalid(
            source_name,
            format!("it gives the URL {:?}, which {why}", mask_password(url)),
        )
        .with_hint("check the workspace, agent and owner names and the wildcard in that input; set CONVEX_CLOUD_ORIGIN / CONVEX_SITE_ORIGIN / CONVEX_DASHBOARD_URL to override")
    };
    if url.contains(['\\', '@', ' ', '\t', '\n', '\r']) {
        return Err(bad("holds user info, a backslash or blanks"));
    }
    let parsed = parse_http_url(url, source_name)?;
    if parsed.query().is_some() || parsed.fragment().is_some() || parsed.path() != "/" {
        return Err(bad(
            "is not a bare origin (it has a path, query or fragment)",
        ));
    }
    if let Some(url::Host::Domain(domain)) = parsed.host()
        && !domain.split('.').all(valid_label)
    {
        return Err(bad("has an invalid host name"));
    }
    Ok(())
}

/// A DNS label: letters, digits and inner dashes, at most 63 characters.
fn valid_label(label: &str) -> bool {
    !label.is_empty()
        && label.len() <= MAX_LABEL_LEN
        && !label.starts_with('-')
        && !label.ends_with('-')
        && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

pub(crate) fn parse_http_url(raw: &str, input: &str) -> Result<Url> {
    let shown = mask_password(raw);
    let url = Url::parse(raw.trim()).map_err(|e| {
        Error::invalid(input, format!("{shown:?} is not a URL: {e}"))
            .with_hint("give an absolute URL such as https://convex-api.example.com")
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
        return Err(
            Error::invalid(input, format!("{shown:?} is not an absolute http(s) URL"))
                .with_hint("give an absolute URL such as https://convex-api.example.com"),
        );
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::invalid(input, format!("{shown:?} holds user info"))
            .with_hint("give the URL without `user:password@`; these URLs are shown and shared"));
    }
    Ok(url)
}
