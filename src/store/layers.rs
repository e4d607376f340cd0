//! Unpacked layers: `layers/<diffid-hex>/`, each a read-only overlay lowerdir.
//!
//! A layer directory is prepared under `tmp/`, synced, then renamed into
//! `layers/`: the rename is the completion marker, so a directory in
//! `layers/` is always whole.

use super::{atomic, Digest, Result, Store, StoreError};
use std::path::{Path, PathBuf};

impl Store {
    pub fn layer_dir(&self, diff_id: &Digest) -> PathBuf {
        self.layers_dir().join(diff_id.hex())
    }

    pub fn has_layer(&self, diff_id: &Digest) -> bool {
        self.layer_dir(diff_id).is_dir()
    }

    /// A fresh empty staging directory under `tmp/` for a layer being made.
    pub fn layer_staging_dir(&self) -> Result<PathBuf> {
        let p = atomic::tempfile_in(&self.tmp_dir()).map_err(StoreError::io(
            "cannot create temporary directory in",
            &self.tmp_dir(),
        ))?;
        std::fs::create_dir(&p).map_err(StoreError::io("cannot create", &p))?;
        Ok(p)
    }

    /// Sync `staged` to disk and rename it to `layers/<diffid>`. If another
    /// process published the same layer first, ours is discarded.
    pub fn publish_layer_dir(&self, staged: &Path, diff_id: &Digest) -> Result<PathBuf> {
        let dest = self.layer_dir(diff_id);
        syncfs(staged)?;
        if dest.exists() {
            remove_tree(staged)?;
            return Ok(dest);
        }
        match std::fs::rename(staged, &dest) {
            Ok(()) => {}
            Err(_) if dest.exists() => remove_tree(staged)?,
            Err(e) => {
                let _ = remove_tree(staged);
                return Err(StoreError::Io {
                    what: "cannot publish layer",
                    path: dest,
                    source: e,
                });
            }
        }
        atomic::sync_dir(&self.layers_dir())
            .map_err(StoreError::io("cannot fsync", &self.layers_dir()))?;
        Ok(dest)
    }
}

/// Flush the whole filesystem holding `path` (cheaper than fsync per file).
fn syncfs(path: &Path) -> Result<()> {
    let f = std::fs::File::open(path).map_err(StoreError::io("cannot open", path))?;
    nix::unistd::syncfs(&f).map_err(|e| StoreError::Io {
        what: "cannot sync",
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// Remove a file or a directory tree; symlinks are removed, never followed.
/// Nothing there is not an error.
pub fn remove_tree(path: &Path) -> Result<()> {
    let is_dir = std::fs::symlink_metadata(path)
        .map(|m| m.is_dir())
        .unwrap_or(false);
    let removed = if is_dir {
        std::fs::remove_dir_all(path)
    } else {
        std::fs::remove_file(path)
    };
    match removed {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::Io {
            what: "cannot remove",
            path: path.to_path_buf(),
            source: e,
        }),
    }
}
