//! A child process whose output people should see: each line of stdout and stderr echoed live
//! (the Coder startup log shows it as it comes), the last lines kept for the error message,
//! SIGINT and SIGTERM forwarded, and a deadline. The Convex CLI (`deploy`) and Docker Compose
//! (`up`, `down`) run through here.

use std::collections::VecDeque;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::Result;
use crate::output::Output;

/// Lines of child output kept for the error message.
const TAIL_LINES: usize = 20;
/// After SIGTERM on timeout, how long the child gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long to keep reading output after the child exited.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// How a streamed child ended.
pub(crate) struct Finished {
    pub(crate) status: std::process::ExitStatus,
    /// The last [`TAIL_LINES`] lines of its output, stdout and stderr interleaved.
    pub(crate) tail: Vec<String>,
    pub(crate) timed_out: bool,
}

impl Finished {
    pub(crate) fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }

    /// The child's code; killed by a signal → 128 + signal, as shells report it.
    pub(crate) fn code(&self) -> u8 {
        use std::os::unix::process::ExitStatusExt as _;
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => u8::try_from(code).unwrap_or(1).max(1),
            (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
            (None, None) => 1,
        }
    }
}

/// Stream a child spawned with piped stdout and stderr until it exits or `timeout` passes
/// (then SIGTERM, and SIGKILL after a grace period). `display` names it in the timeout warning.
pub(crate) async fn stream(
    mut child: Child,
    display: &str,
    timeout: Duration,
    out: &Output,
) -> Result<Finished> {
    let pid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);

    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    for stream in [
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Unpin + Send>),
        child.stderr.take().map(|s| Box::new(s) as _),
    ]
    .into_iter()
    .flatten()
    {
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
    }
    drop(tx);

    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut tail: VecDeque<String> = VecDeque::with_capacity(TAIL_LINES);
    let mut timed_out = false;
    let mut lines_open = true;
    let status = loop {
        tokio::select! {
            line = rx.recv(), if lines_open => match line {
                Some(line) => echo_and_keep(out, &mut tail, line),
                None => lines_open = false,
            },
            status = child.wait() => break status?,
            _ = interrupt.recv() => forward(pid, Signal::SIGINT),
            _ = terminate.recv() => forward(pid, Signal::SIGTERM),
            () = &mut deadline, if !timed_out => {
                timed_out = true;
                out.warn(format!("`{display}` ran longer than {}s; stopping it", timeout.as_secs()));
                forward(pid, Signal::SIGTERM);
                let grace = tokio::time::timeout(KILL_GRACE, child.wait()).await;
                if grace.is_err() {
                    let _ = child.start_kill();
                }
            }
        }
    };
    // Read what the child wrote before it exited; a grandchild holding the pipe open must
    // not keep us here.
    let drain_until = tokio::time::Instant::now() + DRAIN_LIMIT;
    while let Ok(Some(line)) = tokio::time::timeout_at(drain_until, rx.recv()).await {
        echo_and_keep(out, &mut tail, line);
    }
    Ok(Finished {
        status,
        tail: tail.into(),
        timed_out,
    })
}

/// Show a line of the child's output live and keep the last [`TAIL_LINES`] for the error.
fn echo_and_keep(out: &Output, tail: &mut VecDeque<String>, line: String) {
    out.info(format!("  │ {line}"));
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

fn forward(pid: Option<Pid>, signal: Signal) {
    if let Some(pid) = pid {
        let _ = kill(pid, signal);
    }
}
