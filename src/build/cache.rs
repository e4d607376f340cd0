//! The build cache: `cache/<key>` maps a step's cache key to the image state
//! after that step (config and layer list). A key chains the parent's key,
//! the expanded instruction and, for COPY/ADD, the hash of the sources, so a
//! hit reuses the stored layers without running anything.

use crate::image::config::{canonical_json, ImageConfig};
use crate::store::{Digest, Store, StoreError};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// One layer of an image being built.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LayerRef {
    /// Compressed blob digest.
    pub digest: Digest,
    pub size: u64,
    /// Uncompressed tar digest (also the name of its unpacked directory).
    pub diff_id: Digest,
}

/// The image state after a step.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub config: ImageConfig,
    pub layers: Vec<LayerRef>,
}

/// A cache key: a sha256 over the parts, in order, length-prefixed.
pub fn key(parent: Option<&Digest>, parts: &[&[u8]]) -> Digest {
    let mut h = Sha256::new();
    h.update(b"skiff-build-cache-v1");
    if let Some(p) = parent {
        h.update(p.hex().as_bytes());
    }
    for part in parts {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part);
    }
    match Digest::from_hex(&hex::encode(h.finalize())) {
        Ok(d) => d,
        Err(_) => unreachable!("sha256 hex is always a valid digest"),
    }
}

fn path(store: &Store, key: &Digest) -> std::path::PathBuf {
    store.cache_dir().join(key.hex())
}

/// The keys this process's build hit or recorded (for `prune`, which keeps
/// the cache the newest build of each tag used).
static USED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

fn note_used(key: &Digest) {
    if let Ok(mut v) = USED.lock() {
        v.push(key.hex().to_string());
    }
}

/// The keys noted since the last call (hits and records, in order).
pub fn take_used() -> Vec<String> {
    USED.lock()
        .map(|mut v| std::mem::take(&mut *v))
        .unwrap_or_default()
}

/// The state stored for `key`, if every blob and layer it names is still there.
pub fn lookup(store: &Store, key: &Digest) -> Option<State> {
    let bytes = std::fs::read(path(store, key)).ok()?;
    let state: State = serde_json::from_slice(&bytes).ok()?;
    let whole = state
        .layers
        .iter()
        .all(|l| store.has_blob(&l.digest) && store.has_layer(&l.diff_id));
    if whole {
        note_used(key);
    }
    whole.then_some(state)
}

/// Record the state reached by the step with `key`.
pub fn record(store: &Store, key: &Digest, state: &State) -> Result<(), StoreError> {
    let bytes = canonical_json(state).map_err(|e| StoreError::Invalid(e.to_string()))?;
    store.write_atomic(&path(store, key), &bytes)?;
    note_used(key);
    Ok(())
}

/// Every cache entry: its file and the state it records (unreadable entries
/// are skipped; fsck reports them).
pub fn entries(store: &Store) -> Vec<(std::path::PathBuf, State)> {
    let Ok(rd) = std::fs::read_dir(store.cache_dir()) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let bytes = std::fs::read(e.path()).ok()?;
            let state: State = serde_json::from_slice(&bytes).ok()?;
            Some((e.path(), state))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_chain_and_separate_parts() {
        let a = key(None, &[b"FROM x"]);
        let b = key(Some(&a), &[b"RUN y"]);
        assert_ne!(a, b);
        assert_eq!(b, key(Some(&a), &[b"RUN y"]));
        assert_ne!(key(None, &[b"ab", b"c"]), key(None, &[b"a", b"bc"]));
    }

    #[test]
    fn lookup_requires_the_blobs() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let k = key(None, &[b"x"]);
        let missing = Digest::of_bytes(b"missing");
        let state = State {
            config: ImageConfig::empty(None),
            layers: vec![LayerRef {
                digest: missing.clone(),
                size: 1,
                diff_id: missing,
            }],
        };
        record(&s, &k, &state).unwrap();
        assert!(lookup(&s, &k).is_none(), "a pruned layer is a miss");
        let empty = State {
            config: ImageConfig::empty(None),
            layers: vec![],
        };
        record(&s, &k, &empty).unwrap();
        assert_eq!(lookup(&s, &k), Some(empty));
    }
}
