//! Garbage collection mechanism: remove every blob and unpacked layer that
//! is not in the keep sets the caller computed (the policy of what to keep
//! lives in `deploy::prune`). Builds, imports and pulls hold the gc lock
//! shared while they create blobs that no tag names yet; a sweep holds it
//! exclusively, so it never deletes what an operation in flight just wrote.

use super::{layers::remove_tree, lock::LockGuard, Digest, Result, Store, StoreError};
use std::collections::HashSet;
use std::path::Path;

/// What a sweep removed (or would remove, in a dry run).
#[derive(Debug, Default)]
pub struct GcReport {
    pub blobs: Vec<(Digest, u64)>,
    pub layers: Vec<(String, u64)>,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

impl Store {
    fn gc_lock_path(&self) -> std::path::PathBuf {
        self.root().join("gc.lock")
    }

    /// Held by operations that create blobs before a tag names them.
    pub fn gc_shared(&self) -> Result<LockGuard> {
        let p = self.gc_lock_path();
        LockGuard::shared(&p).map_err(StoreError::io("cannot lock", &p))
    }

    /// Held by a sweep.
    pub fn gc_exclusive(&self) -> Result<LockGuard> {
        let p = self.gc_lock_path();
        LockGuard::exclusive(&p).map_err(StoreError::io("cannot lock", &p))
    }

    /// Bytes used by blobs and unpacked layers.
    pub fn disk_usage(&self) -> u64 {
        dir_size(&self.oci_dir().join("blobs")) + dir_size(&self.layers_dir())
    }

    /// Remove blobs not in `keep_blobs` and layer directories (by diff id
    /// hex) not in `keep_layers`. The caller holds [`Store::gc_exclusive`].
    pub fn sweep(
        &self,
        keep_blobs: &HashSet<Digest>,
        keep_layers: &HashSet<String>,
        dry_run: bool,
    ) -> Result<GcReport> {
        let mut report = GcReport {
            bytes_before: self.disk_usage(),
            ..GcReport::default()
        };
        let blob_dir = self.oci_dir().join("blobs/sha256");
        for e in std::fs::read_dir(&blob_dir)
            .map_err(StoreError::io("cannot list", &blob_dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(d) = Digest::from_hex(&name) else {
                continue;
            };
            if keep_blobs.contains(&d) {
                continue;
            }
            let size = e.metadata().map(|m| m.len()).unwrap_or(0);
            if !dry_run {
                std::fs::remove_file(e.path())
                    .map_err(StoreError::io("cannot remove", &e.path()))?;
            }
            report.blobs.push((d, size));
        }
        let layer_dir = self.layers_dir();
        for e in std::fs::read_dir(&layer_dir)
            .map_err(StoreError::io("cannot list", &layer_dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            if keep_layers.contains(&name) {
                continue;
            }
            let size = dir_size(&e.path());
            if !dry_run {
                remove_tree(&e.path())?;
            }
            report.layers.push((name, size));
        }
        let removed: u64 = report.blobs.iter().map(|b| b.1).sum::<u64>()
            + report.layers.iter().map(|l| l.1).sum::<u64>();
        report.bytes_after = report.bytes_before.saturating_sub(removed);
        Ok(report)
    }
}

/// Apparent size of a file tree in bytes (symlinks not followed).
pub fn dir_size(path: &Path) -> u64 {
    let Ok(m) = std::fs::symlink_metadata(path) else {
        return 0;
    };
    if !m.is_dir() {
        return m.len();
    }
    let Ok(rd) = std::fs::read_dir(path) else {
        return 0;
    };
    rd.flatten().map(|e| dir_size(&e.path())).sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_keeps_only_what_it_is_told() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let a = s.put_blob_bytes(b"keep me").unwrap();
        let b = s.put_blob_bytes(b"drop me").unwrap();
        std::fs::create_dir_all(s.layers_dir().join("aa/x")).unwrap();
        std::fs::create_dir_all(s.layers_dir().join("bb")).unwrap();
        let keep: HashSet<Digest> = [a.clone()].into();
        let keep_l: HashSet<String> = ["aa".to_string()].into();
        let _g = s.gc_exclusive().unwrap();
        let dry = s.sweep(&keep, &keep_l, true).unwrap();
        assert_eq!(dry.blobs.len(), 1);
        assert!(s.has_blob(&b));
        let r = s.sweep(&keep, &keep_l, false).unwrap();
        assert_eq!(r.blobs[0].0, b);
        assert!(s.has_blob(&a) && !s.has_blob(&b));
        assert!(s.layers_dir().join("aa/x").is_dir() && !s.layers_dir().join("bb").exists());
    }
}
