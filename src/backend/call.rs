//! One HTTP call's failure modes and the bounded body read. A body is read chunk by chunk
//! and never past its limit, so a backend that streams a gigabyte costs at most the limit.
//!
//! I/O: reads response bodies (network).

use std::time::Duration;

use reqwest::{Response, StatusCode};

use crate::backend::text::sanitize;
use crate::deadline::Deadline;

/// `/version`, `/instance_name` and error bodies: a few bytes in practice.
pub(crate) const TEXT_LIMIT: usize = 64 * 1024;
/// JSON APIs: twice the backend's 512 KiB limit on a deployment's variables.
pub(crate) const JSON_LIMIT: usize = 1024 * 1024;

/// A failed call: transport trouble, no answer in time, an HTTP status we did not expect,
/// or a body we do not understand. Causes are kept for the `caused by:` lines.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CallError {
    #[error("{url}: request failed")]
    Transport {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("no answer within {} s", .0.as_secs())]
    Timeout(Duration),
    /// The command's deadline passed: no further call or retry is made.
    #[error("no answer before the deadline ({0})")]
    Deadline(Deadline),
    /// `body` is already [`sanitize`]d.
    #[error("HTTP {status}: {body}")]
    Status { status: StatusCode, body: String },
    #[error("unexpected {what} response")]
    Decode {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
    #[error("{endpoint}: the response is larger than {} KiB", .limit / 1024)]
    TooLarge { endpoint: String, limit: usize },
}

impl CallError {
    pub(crate) fn transient(&self) -> bool {
        match self {
            Self::Transport { .. } | Self::Timeout(_) => true,
            Self::Status { status, .. } => status.is_server_error(),
            Self::Deadline(_) | Self::Decode { .. } | Self::TooLarge { .. } => false,
        }
    }

    /// The backend did not answer (as opposed to answering wrongly).
    pub(crate) fn no_answer(&self) -> bool {
        matches!(
            self,
            Self::Transport { .. } | Self::Timeout(_) | Self::Deadline(_)
        )
    }

    /// One line with the innermost cause, for status lines and doctor details.
    pub(crate) fn summary(&self) -> String {
        let mut text = self.to_string();
        let mut next = std::error::Error::source(self);
        let mut last = None;
        while let Some(cause) = next {
            last = Some(cause.to_string());
            next = cause.source();
        }
        if let Some(cause) = last {
            text = format!("{text}: {cause}");
        }
        text
    }
}

pub(crate) fn transport(url: &str) -> impl FnOnce(reqwest::Error) -> CallError + '_ {
    move |source| CallError::Transport {
        url: url.to_owned(),
        source: source.without_url(),
    }
}

/// Run one call within `cap` and the deadline: the deadline passing is
/// [`CallError::Deadline`] (final), the cap passing is [`CallError::Timeout`] (retried).
pub(crate) async fn bounded<T>(
    deadline: &Deadline,
    cap: Duration,
    call: impl Future<Output = Result<T, CallError>>,
) -> Result<T, CallError> {
    if deadline.expired() {
        return Err(CallError::Deadline(*deadline));
    }
    let limit = deadline.cap(cap);
    match tokio::time::timeout(limit, call).await {
        Ok(result) => result,
        Err(_) if deadline.expired() => Err(CallError::Deadline(*deadline)),
        Err(_) => Err(CallError::Timeout(limit)),
    }
}

/// The whole body of a successful response, or [`CallError::TooLarge`] past `limit`.
pub(crate) async fn read_body(
    mut response: Response,
    endpoint: &str,
    url: &str,
    limit: usize,
) -> Result<String, CallError> {
    let too_large = || CallError::TooLarge {
        endpoint: endpoint.to_owned(),
        limit,
    };
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport(url))? {
        if body.len() + chunk.len() > limit {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// An error response: its status and the head of its body, [`sanitize`]d; the rest of a
/// long body is not read.
pub(crate) async fn status_error(mut response: Response) -> CallError {
    let status = response.status();
    let mut head = Vec::new();
    while head.len() < TEXT_LIMIT {
        match response.chunk().await {
            Ok(Some(chunk)) => head.extend_from_slice(&chunk),
            _ => break,
        }
    }
    let text = String::from_utf8_lossy(&head);
    CallError::Status {
        status,
        body: sanitize(text.trim().lines().next().unwrap_or_default()),
    }
}
