//! The Coder agent's debug manifest (`GET http://$CODER_AGENT_DEBUG_ADDRESS/debug/manifest`):
//! the app subdomains and the port-proxy template when `VSCODE_PROXY_URI` is not usable.
//!
//! I/O: one bounded request to the agent on loopback.

use std::time::Duration;

use crate::backend::{CallError, loopback_client, read_body};
use crate::config::urls::Manifest;

/// The manifest probe must not slow a run down noticeably, but an agent on a busy machine may
/// take a moment: past this the URLs fall back, with a warning naming the time.
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(2);
/// The manifest carries scripts and env vars; generous, but bounded.
const MANIFEST_LIMIT: usize = 8 * 1024 * 1024;

/// `GET http://<addr>/debug/manifest`. The manifest carries environment variables: it is
/// parsed into [`Manifest`] and dropped, and an error says what went wrong, never what the
/// body held: the endpoint, and the limit or the time it went past.
pub(crate) async fn fetch_manifest(debug_address: &str) -> Result<Manifest, String> {
    let url = format!(
        "http://{}/debug/manifest",
        debug_address.trim_end_matches('/')
    );
    let client = loopback_client(MANIFEST_TIMEOUT).map_err(|e| format!("GET {url}: {e}"))?;
    let secs = MANIFEST_TIMEOUT.as_secs();
    let response = match client.get(&url).send().await {
        Ok(r) if r.status().is_success() => r,
        Ok(r) => return Err(format!("GET {url} answered {}", r.status())),
        Err(e) if e.is_timeout() => {
            return Err(format!("GET {url} did not answer within {secs} s"));
        }
        Err(e) => return Err(format!("GET {url} failed: {e}")),
    };
    let body = read_body(response, "GET /debug/manifest", &url, MANIFEST_LIMIT)
        .await
        .map_err(|e| match e {
            CallError::TooLarge { .. } => format!(
                "GET {url} answered more than {} MiB",
                MANIFEST_LIMIT / (1024 * 1024)
            ),
            CallError::Transport { source, .. } if source.is_timeout() => {
                format!("GET {url} did not finish within {secs} s")
            }
            e => format!("GET {url}: {}", e.summary()),
        })?;
    serde_json::from_str::<Manifest>(&body).map_err(|e| {
        format!(
            "GET {url} answered something that is not an agent manifest (line {}, column {})",
            e.line(),
            e.column()
        )
    })
}
