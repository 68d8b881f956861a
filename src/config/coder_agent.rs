//! The Coder agent's debug manifest (`GET http://$CODER_AGENT_DEBUG_ADDRESS/debug/manifest`):
//! the app subdomains and the port-proxy template when `VSCODE_PROXY_URI` is not usable.
//!
//! I/O: one bounded request to the agent on loopback.

use std::time::Duration;

use crate::backend::{loopback_client, read_body};
use crate::config::urls::Manifest;

/// The manifest probe must never slow a run down noticeably.
const MANIFEST_TIMEOUT: Duration = Duration::from_millis(500);
/// The manifest carries scripts and env vars; generous, but bounded.
const MANIFEST_LIMIT: usize = 8 * 1024 * 1024;

/// `GET http://<addr>/debug/manifest`; `None` when the agent does not answer usefully.
/// The manifest carries environment variables: it is parsed into [`Manifest`] and dropped.
pub(crate) async fn fetch_manifest(debug_address: &str) -> Option<Manifest> {
    let client = loopback_client(MANIFEST_TIMEOUT).ok()?;
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
    let body = match read_body(response, "GET /debug/manifest", &url, MANIFEST_LIMIT).await {
        Ok(body) => body,
        Err(e) => {
            tracing::debug!(%url, error = %e, "agent manifest not read");
            return None;
        }
    };
    match serde_json::from_str::<Manifest>(&body) {
        Ok(m) => Some(m),
        Err(e) => {
            tracing::debug!(%url, error = %e, "agent manifest not understood");
            None
        }
    }
}
