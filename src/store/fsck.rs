//! `skiff fsck`: the store's part of checking everything, and the repairs.
//!
//! A pass ([`scan::begin`] … [`Scan::finish`]) checks what the store owns:
//! - every blob under `oci/blobs/sha256/` hashes to its name;
//! - `oci/oci-layout`, the revision logs under `refs/`, and `oci/index.json`
//!   says what the revision logs say;
//! - `layers/` holds only directories named by a diff id (one nobody uses
//!   is a note);
//! - each volume under `volumes/` has a valid name, a readable
//!   `volume.json` and its `_data/` directory;
//! - `tmp/` holds nothing left behind by a process that is gone.
//!
//! In between, the modules above the store check the files they own
//! through their own types, and tell the [`Scan`] which blobs and layers
//! they use: `image::fsck` the manifests and configs of every tag revision,
//! `build::fsck` the build cache, `supervisor::fsck` the containers. The
//! store knows none of those formats; the CLI runs the whole pass
//! (`cli/fsck.rs`).
//!
//! Repairs only ever remove what is broken or orphaned (a blob that does not
//! verify, an orphaned temporary file, a cache entry naming missing blobs, a
//! stray entry) or rewrite derived metadata (`index.json`, `oci-layout`). A
//! blob that verifies is never removed; layers nobody uses are left for
//! `skiff prune`.

mod dirs;
mod oci;
mod report;
pub mod scan;

pub use report::{Action, Finding, Outcome, Report, Severity};
pub use scan::{BlobState, Scan, TagRev};

use super::{Result, Store};
use std::fs;
use std::io;
use std::path::Path;

/// Check the store with `check` (one whole pass, changing nothing); with
/// `repair`, hold the store lock, fix what can be fixed, and check again.
pub fn fsck(
    store: &Store,
    repair: bool,
    check: impl Fn(&Store) -> Result<Report>,
) -> Result<Outcome> {
    if !repair {
        return Ok(Outcome {
            report: check(store)?,
            after_repair: None,
        });
    }
    // As `skiff prune` does: the gc lock first (builds and imports in
    // flight hold it shared), then the metadata lock.
    let _gc = store.gc_exclusive()?;
    let _lock = store.lock()?;
    let mut report = check(store)?;
    apply_repairs(store, &mut report);
    let after = check(store)?;
    Ok(Outcome {
        report,
        after_repair: Some(after),
    })
}

/// Carry out the repairs of `report`. Caller holds the store lock.
pub fn apply_repairs(store: &Store, report: &mut Report) {
    // The index goes last: it depends on the blobs the other repairs remove.
    let mut order: Vec<usize> = (0..report.findings.len()).collect();
    order.sort_by_key(|&i| report.findings[i].action == Action::RewriteIndex);
    let mut index_done = false;
    for i in order {
        let f = &mut report.findings[i];
        if !f.action.is_repair() {
            continue;
        }
        let result = match &f.action {
            Action::Remove(p) => remove_any(p).map_err(|e| e.to_string()),
            Action::RewriteIndex if index_done => Ok(()),
            Action::RewriteIndex => {
                index_done = true;
                store.write_index_locked().map_err(|e| e.to_string())
            }
            Action::RewriteLayout => store
                .write_atomic(
                    &store.oci_dir().join("oci-layout"),
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                )
                .map_err(|e| e.to_string()),
            Action::Manual(_) | Action::Leave(_) => continue,
        };
        f.repaired = Some(result);
    }
}

/// Remove a file, symlink or directory tree; never follows symlinks.
fn remove_any(p: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tmp::{owner_pid, pid_alive};
    use crate::store::Digest;

    /// A pass of the store's own checks alone.
    fn check(store: &Store) -> Result<Report> {
        let (scan, _) = scan::begin(store)?;
        scan.finish()
    }

    fn kinds(r: &Report) -> Vec<&'static str> {
        r.problems().map(|f| f.kind).collect()
    }

    #[test]
    fn empty_store_is_sound() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let r = check(&s).unwrap();
        assert!(r.is_sound(), "{:?}", r.findings);
    }

    #[test]
    fn tmp_names_parse() {
        assert_eq!(owner_pid(".tmp-123-00ff"), Some(123));
        assert_eq!(owner_pid(".tmp--00ff"), None);
        assert_eq!(owner_pid(".tmp-12x-00ff"), None);
        assert_eq!(owner_pid("other"), None);
        assert!(pid_alive(std::process::id() as i64));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
        assert!(!pid_alive(i64::MAX));
    }

    #[test]
    fn stray_layers_and_unused_layers() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let unused = Digest::of_bytes(b"layer");
        fs::create_dir(s.layer_dir(&unused)).unwrap();
        fs::write(s.layers_dir().join("junk"), b"x").unwrap();
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["stray-layer"]);
        assert_eq!(
            r.notes().map(|f| f.kind).collect::<Vec<_>>(),
            ["unused-layer"]
        );
        let o = fsck(&s, true, check).unwrap();
        assert!(o.is_sound());
        assert!(s.has_layer(&unused), "unused layers are left for prune");
    }
}
