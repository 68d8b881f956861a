//! A child process whose output people should see, in its own process group: each line of
//! stdout and stderr echoed live (the Coder startup log shows it as it comes), the last lines
//! kept for the error message, SIGINT and SIGTERM forwarded to the whole group, a timeout that
//! terminates the group and kills it after a grace period, and whatever is left of the group
//! when the leader exits stopped the same way (`npx` runs `sh` runs `node`: signalling the
//! leader alone orphans the rest). The Convex CLI and Docker Compose run through here; only
//! the CLI's leftovers are stopped.
//!
//! I/O: child processes and their output.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt as _, BufReader};
use tokio::process::Child;
use tokio::signal::unix::{SignalKind, signal};

use crate::error::Result;
use crate::output::Output;

/// Lines of child output kept for the error message.
pub(crate) const TAIL_LINES: usize = 20;
/// After SIGTERM, how long the group gets before SIGKILL.
const KILL_GRACE: Duration = Duration::from_secs(5);
/// How long to keep reading output after the leader exited.
const DRAIN_LIMIT: Duration = Duration::from_secs(2);

/// How a run ended.
#[derive(Debug)]
pub(crate) struct Finished {
    pub(crate) status: std::process::ExitStatus,
    /// The last [`TAIL_LINES`] lines of its output, stdout and stderr interleaved.
    pub(crate) tail: Vec<String>,
    pub(crate) duration: Duration,
    pub(crate) timed_out: bool,
    /// A signal we received and forwarded to the child's group.
    pub(crate) forwarded: Option<Signal>,
}

impl Finished {
    /// The child's code; killed by a signal → 128 + signal, as shells report it.
    pub(crate) fn code(&self) -> u8 {
        use std::os::unix::process::ExitStatusExt as _;
        match (self.status.code(), self.status.signal()) {
            (Some(code), _) => u8::try_from(code).unwrap_or(1).max(1),
            (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(1),
            (None, None) => 1,
        }
    }

    pub(crate) fn success(&self) -> bool {
        self.status.success() && !self.timed_out
    }
}

/// What happens to processes of the group that outlive the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Leftovers {
    /// Stopped (the Convex CLI: `npx` → `sh` → `node`).
    Stop,
    /// Left running (a container engine's helpers may stay behind on purpose).
    Keep,
}

/// Stream a child until it exits or `timeout` passes. The caller spawned it with
/// `process_group(0)` (so its pid is its group's id) and piped whichever of stdout and stderr
/// should be echoed. `display` names it in the timeout warning.
pub(crate) async fn stream(
    mut child: Child,
    display: &str,
    timeout: Duration,
    leftovers: Leftovers,
    out: &Output,
) -> Result<Finished> {
    let started = Instant::now();
    // The leader's pid is the group's id.
    let group = child
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
    let mut forwarded = None;
    let mut lines_open = true;
    let status = loop {
        tokio::select! {
            line = rx.recv(), if lines_open => match line {
                Some(line) => echo_and_keep(out, &mut tail, line),
                None => lines_open = false,
            },
            status = child.wait() => break status?,
            _ = interrupt.recv() => {
                forwarded = Some(Signal::SIGINT);
                signal_group(group, Signal::SIGINT);
            }
            _ = terminate.recv() => {
                forwarded = Some(Signal::SIGTERM);
                signal_group(group, Signal::SIGTERM);
            }
            () = &mut deadline, if !timed_out => {
                timed_out = true;
                out.warn(format!("`{display}` ran longer than {}s; stopping it", timeout.as_secs()));
                signal_group(group, Signal::SIGTERM);
                if tokio::time::timeout(KILL_GRACE, child.wait()).await.is_err() {
                    signal_group(group, Signal::SIGKILL);
                }
            }
        }
    };
    if leftovers == Leftovers::Stop {
        reap_group(group).await;
    }
    // Read what the child wrote before it exited; a grandchild holding the pipe open must
    // not keep us here.
    let drain_until = tokio::time::Instant::now() + DRAIN_LIMIT;
    while let Ok(Some(line)) = tokio::time::timeout_at(drain_until, rx.recv()).await {
        echo_and_keep(out, &mut tail, line);
    }
    Ok(Finished {
        status,
        tail: tail.into(),
        duration: started.elapsed(),
        timed_out,
        forwarded,
    })
}

/// The leader exited: stop what is left of its group (SIGTERM, then SIGKILL after the grace).
async fn reap_group(group: Option<Pid>) {
    let Some(group) = group else { return };
    let alive = || killpg(group, None).is_ok();
    if !alive() {
        return;
    }
    tracing::debug!(%group, "the CLI's process group outlived its leader; stopping it");
    let _ = killpg(group, Signal::SIGTERM);
    let until = Instant::now() + KILL_GRACE;
    while alive() && Instant::now() < until {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if alive() {
        let _ = killpg(group, Signal::SIGKILL);
    }
}

/// Show a line of the child's output live and keep the last [`TAIL_LINES`] for the error.
fn echo_and_keep(out: &Output, tail: &mut VecDeque<String>, line: String) {
    out.info(format!("  │ {line}"));
    if tail.len() == TAIL_LINES {
        tail.pop_front();
    }
    tail.push_back(line);
}

fn signal_group(group: Option<Pid>, signal: Signal) {
    if let Some(group) = group {
        let _ = killpg(group, signal);
    }
}
