//! `prune`: decide what to keep — the last N revisions of every tag, every
//! image a container uses, the build cache entries whose layers survive —
//! and let the store sweep the rest.

use crate::build::cache;
use crate::image::local::LocalImage;
use crate::runtime::Container;
use crate::store::gc::GcReport;
use crate::store::{Digest, Store, StoreError};
use std::collections::HashSet;

#[derive(Debug)]
pub struct PruneReport {
    pub gc: GcReport,
    pub cache_entries: usize,
    pub kept_images: usize,
    /// Build cache entries kept because the newest build of a tag used them.
    pub cache_kept: usize,
    /// Bytes of layers only those entries hold.
    pub cache_kept_bytes: u64,
}

/// `cache-used/<name>/:<tag>`: the build cache keys the newest build of
/// that tag hit or recorded, one hex key a line.
fn used_path(store: &Store, name: &str, tag: &str) -> std::path::PathBuf {
    store
        .root()
        .join("cache-used")
        .join(name)
        .join(format!(":{tag}"))
}

/// Remember the cache keys a build of `name:tag` used (replacing what the
/// previous build of that tag used).
pub fn record_build_cache(
    store: &Store,
    name: &str,
    tag: &str,
    keys: &[String],
) -> Result<(), StoreError> {
    let p = used_path(store, name, tag);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d).map_err(StoreError::io("cannot create", d))?;
    }
    let mut text = keys.join("\n");
    text.push('\n');
    store.write_atomic(&p, text.as_bytes())
}

/// The keys the newest build of every existing tag used.
fn used_by_newest_builds(store: &Store) -> Result<HashSet<String>, StoreError> {
    let mut keys = HashSet::new();
    for (name, tag, _) in store.tags()? {
        if let Ok(text) = std::fs::read_to_string(used_path(store, &name, &tag)) {
            keys.extend(text.lines().filter(|l| !l.is_empty()).map(str::to_string));
        }
    }
    Ok(keys)
}

/// Manifest digests of the images containers (running or not) were created from.
pub fn images_in_use(store: &Store) -> Vec<(String, Digest)> {
    let Ok(rd) = std::fs::read_dir(store.containers_dir()) else {
        return Vec::new();
    };
    rd.flatten()
        .filter_map(|e| {
            let id = e.file_name().to_string_lossy().into_owned();
            let c = Container::open(store, &id).ok()?;
            let d = c.spec().image_digest.as_deref()?.parse().ok()?;
            Some((c.spec().name.clone().unwrap_or(id), d))
        })
        .collect()
}

/// Layer directories containers use (by diff id hex), whatever their image.
fn layers_in_use(store: &Store) -> HashSet<String> {
    let Ok(rd) = std::fs::read_dir(store.containers_dir()) else {
        return HashSet::new();
    };
    rd.flatten()
        .filter_map(|e| Container::open(store, &e.file_name().to_string_lossy()).ok())
        .flat_map(|c| c.record().layers.clone())
        .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .collect()
}

/// With `drop_build_cache`, every build cache entry goes (`builder prune`);
/// else those the newest build of each tag used stay, with their layers.
pub fn prune(
    store: &Store,
    keep: usize,
    dry_run: bool,
    drop_build_cache: bool,
) -> Result<PruneReport, StoreError> {
    let keep = keep.max(1);
    let _gc = store.gc_exclusive()?;
    // Leftovers of killed processes are garbage too.
    if !dry_run {
        store.sweep_tmp()?;
    }
    let mut manifests: HashSet<Digest> = HashSet::new();
    let mut by_tag: std::collections::BTreeMap<(String, String), Vec<Digest>> = Default::default();
    for (name, tag, rev) in store.all_revision_digests()? {
        if let Some(d) = rev.digest {
            by_tag.entry((name, tag)).or_default().push(d);
        }
    }
    for (_, revs) in by_tag {
        // Revisions are oldest first; keep the newest `keep` of them.
        manifests.extend(revs.into_iter().rev().take(keep));
    }
    manifests.extend(images_in_use(store).into_iter().map(|(_, d)| d));

    let mut blobs: HashSet<Digest> = HashSet::new();
    let mut layers: HashSet<String> = layers_in_use(store);
    let mut kept_images = 0;
    for m in &manifests {
        let Ok(img) = LocalImage::by_digest(store, m) else {
            continue;
        };
        kept_images += 1;
        blobs.insert(img.manifest_digest.clone());
        blobs.insert(img.config_digest.clone());
        for l in img.manifest.layers() {
            if let Ok(d) = l.digest().to_string().parse() {
                blobs.insert(d);
            }
        }
        layers.extend(
            img.config
                .rootfs
                .diff_ids
                .iter()
                .map(|d| d.hex().to_string()),
        );
    }
    // The cache the newest build of each tag used stays, layers included,
    // so a rebuild after prune is still warm.
    let used = if drop_build_cache {
        HashSet::new()
    } else {
        used_by_newest_builds(store)?
    };
    let entries = cache::entries(store);
    let (mut cache_kept, mut cache_kept_bytes) = (0, 0);
    for (path, state) in &entries {
        let key = path.file_name().map(|n| n.to_string_lossy().into_owned());
        if !key.is_some_and(|k| used.contains(&k)) {
            continue;
        }
        cache_kept += 1;
        for l in &state.layers {
            if blobs.insert(l.digest.clone()) {
                cache_kept_bytes += l.size;
            }
            layers.insert(l.diff_id.hex().to_string());
        }
    }
    // Other entries survive when every layer they name survives.
    let mut cache_entries = 0;
    for (path, state) in entries {
        if !drop_build_cache && state.layers.iter().all(|l| blobs.contains(&l.digest)) {
            continue;
        }
        cache_entries += 1;
        if !dry_run {
            std::fs::remove_file(&path).map_err(StoreError::io("cannot remove", &path))?;
        }
    }
    // The logs of replaced containers go with their revision's image.
    let kept: HashSet<String> = manifests.iter().map(|d| d.hex().to_string()).collect();
    crate::supervisor::log_archive::prune(store, &kept, dry_run)
        .map_err(|e| StoreError::Invalid(e.to_string()))?;
    let gc = store.sweep(&blobs, &layers, dry_run)?;
    if drop_build_cache && !dry_run {
        let d = store.root().join("cache-used");
        if d.exists() {
            std::fs::remove_dir_all(&d).map_err(StoreError::io("cannot remove", &d))?;
        }
    }
    Ok(PruneReport {
        gc,
        cache_entries,
        kept_images,
        cache_kept,
        cache_kept_bytes,
    })
}
