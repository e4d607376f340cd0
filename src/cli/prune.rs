//! `skiff prune`: drop what no tag revision within N, container or cache uses.

use super::format::human_size;
use super::images::open_store;
use anyhow::Result;
use clap::Args;
use std::path::Path;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Revisions to keep per tag (the newest N; the current one always stays)
    #[arg(long, default_value_t = 3, value_name = "N")]
    pub keep: usize,
    /// List what would be removed, remove nothing
    #[arg(long = "dry-run")]
    pub dry_run: bool,
    /// Also drop the build cache: its entries (by default those the newest
    /// build of each tag used stay, so an unchanged rebuild is still fast)
    /// and the cache mounts (RUN --mount=type=cache) no build is using
    #[arg(long = "build-cache")]
    pub build_cache: bool,
}

pub fn prune(root: &Path, a: PruneArgs) -> Result<i32> {
    let store = open_store(root)?;
    let r = crate::deploy::prune::prune(&store, a.keep, a.dry_run, a.build_cache)?;
    if !a.dry_run {
        store.emit(
            crate::store::events::Event::new("image", "prune", "")
                .attr("blobs", r.gc.blobs.len().to_string())
                .attr("layers", r.gc.layers.len().to_string())
                .attr(
                    "reclaimed",
                    r.gc.bytes_before
                        .saturating_sub(r.gc.bytes_after)
                        .to_string(),
                ),
        );
    }
    let verb = if a.dry_run { "Would remove" } else { "Removed" };
    if a.build_cache {
        let gone = crate::build::cache_mounts::prune(&store, &[], a.dry_run)
            .map_err(anyhow::Error::msg)?;
        for c in &gone {
            println!("{verb} cache mount {} ({})", c.id, human_size(c.size));
        }
    }
    for (d, size) in &r.gc.blobs {
        println!("{verb} blob {d} ({})", human_size(*size));
    }
    for (l, size) in &r.gc.layers {
        println!(
            "{verb} layer {} ({})",
            &l[..l.len().min(12)],
            human_size(*size)
        );
    }
    println!(
        "{verb} {} blobs, {} unpacked layers, {} build cache entries; kept {} images. Store: {} before, {} after",
        r.gc.blobs.len(),
        r.gc.layers.len(),
        r.cache_entries,
        r.kept_images,
        human_size(r.gc.bytes_before),
        human_size(r.gc.bytes_after)
    );
    if r.cache_kept > 0 {
        println!(
            "Kept {} build cache entries ({}) that the newest build of each tag used; --build-cache drops them",
            r.cache_kept,
            human_size(r.cache_kept_bytes)
        );
    }
    Ok(0)
}
