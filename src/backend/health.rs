//! Waiting for the backend's health (`GET /version`), polled fast at first, then slower.
//!
//! I/O: polls the backend over the network.

use std::time::{Duration, Instant};

use crate::error::{Error, Result};

use super::call::CallError;
use super::client::Backend;

/// Health polling: start fast, stay at `POLL_FAST_MAX` for a while (most backends come up
/// then, and we see it within ~250 ms), then slow to `POLL_SLOW`.
const POLL_FIRST: Duration = Duration::from_millis(20);
const POLL_FAST_MAX: Duration = Duration::from_millis(250);
const POLL_FAST_WINDOW: Duration = Duration::from_secs(30);
const POLL_SLOW: Duration = Duration::from_secs(1);

/// Progress of the health wait, for the spinner or the log line.
pub(crate) trait WaitProgress {
    fn tick(&mut self, elapsed: Duration, last_error: &str);
}

/// Poll `GET /version` until it answers 200 or the backend's deadline passes. A body over
/// the limit ends the wait at once: that is not a Convex backend starting up.
pub(crate) async fn wait_healthy(
    backend: &Backend,
    progress: &mut dyn WaitProgress,
) -> Result<String> {
    let deadline = *backend.deadline();
    let started = Instant::now();
    let mut delay = POLL_FIRST;
    let mut previous: Option<CallError> = None;
    loop {
        // The deadline cutting the last poll short says less than why the polls before failed.
        let last_error = match (backend.version_once().await, previous.take()) {
            (Ok(version), _) => return Ok(version),
            (Err(CallError::Deadline(_)), Some(before)) => before,
            (Err(e), _) => e,
        };
        let elapsed = started.elapsed();
        if let CallError::TooLarge { .. } = last_error {
            return Err(Error::BackendUnreachable {
                url: backend.url().to_owned(),
                message: last_error.to_string(),
                source: None,
                hint: Some(
                    "that is not a Convex backend's answer: check that --backend-url (CODER_CONVEX_BACKEND_URL) points at the backend's API port".to_owned(),
                ),
            });
        }
        if deadline.expired() {
            return Err(Error::BackendUnreachable {
                url: backend.url().to_owned(),
                message: format!(
                    "no healthy answer from GET /version within {}s",
                    deadline.budget().as_secs()
                ),
                source: Some(Box::new(last_error)),
                hint: Some(
                    "start the backend (in Coder: check the convex-backend container; locally: `coder-convex up`), or wait longer with --wait".to_owned(),
                ),
            });
        }
        progress.tick(elapsed, &last_error.summary());
        previous = Some(last_error);
        tokio::time::sleep(deadline.cap(delay)).await;
        delay = next_poll_delay(delay, elapsed);
    }
}

/// The health poll's next pause: half as long again, at most [`POLL_FAST_MAX`] during the
/// first [`POLL_FAST_WINDOW`], then at most [`POLL_SLOW`].
fn next_poll_delay(delay: Duration, elapsed: Duration) -> Duration {
    let cap = if elapsed < POLL_FAST_WINDOW {
        POLL_FAST_MAX
    } else {
        POLL_SLOW
    };
    (delay * 3 / 2).min(cap)
}

#[cfg(test)]
mod tests;
