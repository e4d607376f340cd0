//! Store-wide file locks so several skiff processes can share one store.
//!
//! Writers of shared metadata (tags, index.json, blobs being published) take
//! the exclusive lock briefly; long work (a build step, an unpack) happens
//! outside it, so readers never wait on a long build.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::Path;

/// An exclusive lock held until dropped.
pub struct LockGuard {
    _file: File,
}

impl LockGuard {
    /// Block until the lock file at `path` is held exclusively.
    pub fn exclusive(path: &Path) -> io::Result<LockGuard> {
        let file = open(path)?;
        // Brief waits are normal (another process writing a tag); only a
        // long one is worth telling the user about.
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(1);
        while file.try_lock().is_err() {
            if std::time::Instant::now() >= deadline {
                eprintln!(
                    "skiff: waiting for lock {} (another skiff process holds it)",
                    path.display()
                );
                file.lock()?;
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        Ok(LockGuard { _file: file })
    }

    /// The lock file at `path` held exclusively, or None at once if
    /// another process holds it.
    pub fn try_exclusive(path: &Path) -> io::Result<Option<LockGuard>> {
        let file = open(path)?;
        match file.try_lock() {
            Ok(()) => Ok(Some(LockGuard { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Ok(None),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }

    /// Block until the lock file at `path` is held shared.
    pub fn shared(path: &Path) -> io::Result<LockGuard> {
        let file = open(path)?;
        file.lock_shared()?;
        Ok(LockGuard { _file: file })
    }
}

fn open(path: &Path) -> io::Result<File> {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}
