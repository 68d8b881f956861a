//! The project lock: a startup script and a manual run in the same project cannot
//! interleave their writes.

use std::path::Path;

use crate::error::Result;

/// An exclusive lock on the project directory, so a startup script and a manual run cannot
/// interleave writes. Locking the directory itself leaves no lock file behind.
#[derive(Debug)]
pub(crate) struct ProjectLock {
    _dir: std::fs::File,
}

impl ProjectLock {
    /// Take the lock; when another run holds it, call `on_wait` once and block.
    pub(crate) fn acquire(dir: &Path, on_wait: impl FnOnce()) -> Result<Self> {
        let file = fs_err::File::open(dir)?.into_parts().0;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                on_wait();
                file.lock()?;
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e.into()),
        }
        Ok(Self { _dir: file })
    }
}
