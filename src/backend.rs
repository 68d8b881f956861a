//! HTTP to things on this machine: the Coder agent's debug manifest (and, later, the backend).

use std::time::Duration;

use crate::urls::Manifest;

/// The manifest probe must never slow a run down noticeably.
const MANIFEST_TIMEOUT: Duration = Duration::from_millis(500);

/// `GET http://<addr>/debug/manifest`; `None` when the agent does not answer usefully.
/// The manifest carries environment variables: it is parsed into [`Manifest`] and dropped.
pub async fn fetch_manifest(debug_address: &str) -> Option<Manifest> {
    let client = reqwest::Client::builder()
        .timeout(MANIFEST_TIMEOUT)
        .connect_timeout(MANIFEST_TIMEOUT)
        .tls_built_in_root_certs(false)
        .no_proxy()
        .build()
        .ok()?;
    let url = format!(
        "http://{}/debug/manifest",
        debug_address.trim_end_matches('/')
    );
    let response = match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => {
            tracing::debug!(%url, status = %r.status(), "agent manifest not available");
            return None;
        }
        Err(e) => {
            tracing::debug!(%url, error = %e, "agent manifest not reachable");
            return None;
        }
    };
    match response.json::<Manifest>().await {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::debug!(%url, error = %e, "agent manifest not understood");
            None
        }
    }
}
