//! Crash-safe file publication: write to a temporary file on the same
//! filesystem, fsync it, rename it into place, fsync the directory.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::Path;

/// Write `bytes` to `path` atomically. `tmp_dir` must be on the same filesystem.
pub fn write_atomic(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = tempfile_in(tmp_dir)?;
    {
        let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    publish(&tmp, path)
}

/// Rename an already written and fsynced `tmp` onto `path` and fsync the
/// parent directory so the rename itself is durable.
pub fn publish(tmp: &Path, path: &Path) -> io::Result<()> {
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent)?;
    }
    if let Err(e) = fs::rename(tmp, path) {
        let _ = fs::remove_file(tmp);
        return Err(e);
    }
    if let Some(parent) = path.parent() {
        sync_dir(parent)?;
    }
    Ok(())
}

/// fsync a directory (makes renames and creations inside it durable).
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// A fresh, unused path inside `dir` (not created).
pub fn tempfile_in(dir: &Path) -> io::Result<std::path::PathBuf> {
    fs::create_dir_all(dir)?;
    let name = format!(
        ".tmp-{}-{:016x}",
        std::process::id(),
        crate::sys::random::u64()
    );
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_and_leaves_no_temp() {
        let d = tempfile::tempdir().unwrap();
        let tmp = d.path().join("tmp");
        let p = d.path().join("a/b.json");
        write_atomic(&tmp, &p, b"one").unwrap();
        write_atomic(&tmp, &p, b"two").unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"two");
        assert_eq!(fs::read_dir(&tmp).unwrap().count(), 0);
    }
}
