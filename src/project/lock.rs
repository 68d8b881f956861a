//! The project lock: a startup script and a manual run in the same project cannot
//! interleave their writes. Waiting for it counts against the command's deadline.
//!
//! I/O: the lock file, `/proc/locks`.

use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::time::Duration;

use backon::{ConstantBuilder, Retryable as _};

use crate::deadline::Deadline;
use crate::error::{Error, Result};

/// How often a waiting run tries the lock again.
const POLL: Duration = Duration::from_millis(100);

/// An exclusive lock on the project directory, so a startup script and a manual run cannot
/// interleave writes. Locking the directory itself leaves no lock file behind.
#[derive(Debug)]
pub(crate) struct ProjectLock {
    _dir: std::fs::File,
}

enum Attempt {
    Busy,
    Failed(std::io::Error),
}

impl ProjectLock {
    /// Take the lock; when another run holds it, call `on_wait` once and try again until
    /// `deadline` (without one, until it is free).
    pub(crate) async fn acquire(
        dir: &Path,
        deadline: Option<Deadline>,
        on_wait: impl FnOnce(),
    ) -> Result<Self> {
        let file = fs_err::File::open(dir)?.into_parts().0;
        let attempt = || async {
            match file.try_lock() {
                Ok(()) => Ok(()),
                Err(std::fs::TryLockError::WouldBlock) => Err(Attempt::Busy),
                Err(std::fs::TryLockError::Error(e)) => Err(Attempt::Failed(e)),
            }
        };
        let mut on_wait = Some(on_wait);
        let result = attempt
            .retry(ConstantBuilder::new().with_delay(POLL).without_max_times())
            .when(|e| matches!(e, Attempt::Busy))
            .adjust(move |_, delay| match deadline {
                Some(d) if d.expired() => None,
                Some(d) => delay.map(|delay| d.cap(delay)),
                None => delay,
            })
            .notify(|_, _| {
                if let Some(f) = on_wait.take() {
                    f();
                }
            })
            .await;
        match result {
            Ok(()) => Ok(Self { _dir: file }),
            Err(Attempt::Failed(e)) => Err(e.into()),
            Err(Attempt::Busy) => {
                let other = holder(&file).map_or_else(
                    || "another coder-convex run".to_owned(),
                    |h| format!("another run ({h})"),
                );
                let waited = deadline.map_or(0, |d| d.budget().as_secs());
                Err(Error::runtime(format!(
                    "{other} still holds the project lock of {} after {waited} s",
                    dir.display()
                ))
                .with_hint(format!(
                    "let it finish, or wait longer with {}",
                    deadline.map_or("--wait", |d| d.flag())
                )))
            }
        }
    }
}

/// `pid 1234, coder-convex`, from `/proc/locks` (Linux), which lists each
/// `flock` with its owner's pid and the locked file's device and inode.
fn holder(file: &std::fs::File) -> Option<String> {
    let meta = file.metadata().ok()?;
    let dev = rustix::fs::Dev::from(meta.dev());
    let id = format!(
        "{:02x}:{:02x}:{}",
        rustix::fs::major(dev),
        rustix::fs::minor(dev),
        meta.ino()
    );
    let locks = fs_err::read_to_string("/proc/locks").ok()?;
    // `1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF`; waiters have `->` after the number.
    let pid = locks.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        (fields.get(1) == Some(&"FLOCK") && fields.get(5) == Some(&id.as_str()))
            .then(|| fields.get(4).map(|p| (*p).to_owned()))
            .flatten()
    })?;
    // The program only: another process's arguments are not ours to show.
    let cmdline = fs_err::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let program = cmdline
        .split(|b| *b == 0)
        .next()
        .filter(|p| !p.is_empty())
        .map(|p| {
            let p = String::from_utf8_lossy(p);
            let name = Path::new(p.as_ref())
                .file_name()
                .map(|n| n.to_string_lossy());
            crate::backend::text::sanitize(name.as_deref().unwrap_or(&p))
        });
    Some(match program {
        Some(program) => format!("pid {pid}, {program}"),
        None => format!("pid {pid}"),
    })
}
