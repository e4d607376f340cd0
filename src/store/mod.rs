//! The content-addressed store under `--root`: blobs in an OCI image layout,
//! append-only tag revision logs, unpacked layers, build cache, containers.
//!
//! The store knows nothing about Dockerfiles or processes.

pub mod atomic;
pub mod blobs;
pub mod digest;
pub mod events;
pub mod fsck;
pub mod gc;
pub mod layers;
pub mod layout;
pub mod lock;
pub mod refs;
pub mod tmp;
pub mod volumes;

use std::path::{Path, PathBuf};

pub use digest::Digest;
pub use refs::{Reason, Revision};

/// Default store location when neither `--root` nor `$SKIFF_ROOT` is given.
pub const DEFAULT_ROOT: &str = "/var/lib/skiff";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("blob {0} is not in the store")]
    MissingBlob(Digest),
    #[error("digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch { expected: Digest, actual: Digest },
    #[error("{path}:{line}: corrupt revision log: {msg}")]
    CorruptLog {
        path: PathBuf,
        line: usize,
        msg: String,
    },
    #[error("no such tag {0}")]
    UnknownTag(String),
    #[error("{0}")]
    Invalid(String),
}

impl StoreError {
    pub fn io<'a>(
        what: &'static str,
        path: &'a Path,
    ) -> impl FnOnce(std::io::Error) -> StoreError + 'a {
        move |source| StoreError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An opened store. Cheap to clone; holds no locks by itself.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Open (creating if needed) the store at `root`.
    pub fn open(root: &Path) -> Result<Store> {
        // Absolute, so overlay mounts and containers see the same paths.
        let root = std::path::absolute(root).map_err(StoreError::io("cannot resolve", root))?;
        let store = Store { root };
        for dir in [
            store.oci_dir().join("blobs/sha256"),
            store.refs_dir(),
            store.layers_dir(),
            store.cache_dir(),
            store.containers_dir(),
            store.tmp_dir(),
        ] {
            std::fs::create_dir_all(&dir).map_err(StoreError::io("cannot create", &dir))?;
        }
        // Layers hold setuid files and device nodes of images: keep them,
        // and containers' upper directories, away from other users.
        for dir in [store.layers_dir(), store.containers_dir()] {
            std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
                .map_err(StoreError::io("cannot set permissions of", &dir))?;
        }
        // Containers' directories are made and removed in tmp/: spread them
        // over the filesystem's block groups (see sys::fs::mark_topdir).
        // Best effort: only ext2/3/4 know the flag.
        let _ = crate::sys::fs::mark_topdir(&store.tmp_dir());
        layout::ensure_layout(&store)?;
        store.heal_index()?;
        Ok(store)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn oci_dir(&self) -> PathBuf {
        self.root.join("oci")
    }
    pub fn refs_dir(&self) -> PathBuf {
        self.root.join("refs")
    }
    pub fn layers_dir(&self) -> PathBuf {
        self.root.join("layers")
    }
    pub fn cache_dir(&self) -> PathBuf {
        self.root.join("cache")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// Emptied containers' directories kept for the next ones
    /// (`runtime::skeleton`).
    pub fn spare_dir(&self) -> PathBuf {
        Store::spare_dir_at(&self.root)
    }
    /// [`Store::spare_dir`] of the store at `root`.
    pub fn spare_dir_at(root: &Path) -> PathBuf {
        root.join("spare")
    }

    /// The store-wide metadata lock (tags, index.json). Hold it briefly.
    pub fn lock(&self) -> Result<lock::LockGuard> {
        let p = self.root.join("lock");
        lock::LockGuard::exclusive(&p).map_err(StoreError::io("cannot lock", &p))
    }

    /// Write small metadata atomically (tmp + fsync + rename).
    pub fn write_atomic(&self, path: &Path, bytes: &[u8]) -> Result<()> {
        atomic::write_atomic(&self.tmp_dir(), path, bytes)
            .map_err(StoreError::io("cannot write", path))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tmp_spreads_containers_over_block_groups() {
        let d = tempfile::tempdir().unwrap();
        let probe = d.path().join("probe");
        std::fs::create_dir(&probe).unwrap();
        if crate::sys::fs::mark_topdir(&probe).is_err() {
            eprintln!("skipped: this filesystem has no FS_TOPDIR_FL");
            return;
        }
        let store = super::Store::open(&d.path().join("store")).unwrap();
        assert_eq!(crate::sys::fs::is_topdir(&store.tmp_dir()), Some(true));
        assert_eq!(crate::sys::fs::is_topdir(&store.layers_dir()), Some(false));
    }
}
