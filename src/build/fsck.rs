//! `fsck` for the build cache: each `cache/<key>` is a [`cache::State`]
//! whose blobs are present and verify; a layer it names that is not
//! unpacked makes it stale (a note: builds treat it as a miss).

use super::cache;
use crate::store::fsck::scan::{is_hex64, read_dir_sorted};
use crate::store::fsck::{Action, BlobState, Scan, Severity};
use crate::store::Result;

/// Check every cache entry; tell the scan the blobs and layers they use.
pub fn check(scan: &mut Scan<'_>) -> Result<()> {
    let dir = scan.store().cache_dir();
    for entry in read_dir_sorted(&dir)? {
        let path = entry.path();
        let fname = entry.file_name().to_string_lossy().to_string();
        if !is_hex64(&fname) || !path.is_file() {
            scan.add(
                Severity::Problem,
                "stray-cache",
                &path,
                "not a build cache entry",
                Action::Remove(path.clone()),
            );
            continue;
        }
        scan.counts().cache_entries += 1;
        let parsed = std::fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<cache::State>(&b).map_err(|e| e.to_string()));
        let state = match parsed {
            Ok(s) => s,
            Err(e) => {
                scan.add(
                    Severity::Problem,
                    "bad-cache",
                    &path,
                    format!("not valid JSON: {e}"),
                    Action::Remove(path.clone()),
                );
                continue;
            }
        };
        let who = format!("cache entry {}", &fname[..12]);
        let mut broken = Vec::new();
        let mut stale = false;
        for l in &state.layers {
            scan.refer(&l.digest, &who);
            match scan.blob(&l.digest) {
                BlobState::Good => {}
                BlobState::Corrupt => broken.push(format!("corrupt blob {}", l.digest)),
                BlobState::Missing => broken.push(format!("missing blob {}", l.digest)),
            }
            if scan.store().has_layer(&l.diff_id) {
                scan.use_layer(&l.diff_id);
            } else {
                stale = true;
            }
        }
        if !broken.is_empty() {
            scan.add(
                Severity::Problem,
                "broken-cache",
                &path,
                format!("names {}", broken.join(", ")),
                Action::Remove(path.clone()),
            );
        } else if stale {
            scan.add(
                Severity::Note,
                "stale-cache",
                &path,
                "a layer it names is not unpacked; builds treat it as a miss",
                Action::Leave("left for `skiff prune`".into()),
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::config::ImageConfig;
    use crate::store::fsck::{self, scan, Report};
    use crate::store::{Digest, Store};

    fn check(store: &Store) -> Result<Report> {
        let (mut scan, _) = scan::begin(store)?;
        super::check(&mut scan)?;
        scan.finish()
    }

    #[test]
    fn cache_entries_naming_missing_blobs_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let missing = Digest::of_bytes(b"gone");
        let key = Digest::of_bytes(b"key");
        let entry = cache::State {
            config: ImageConfig::empty(None),
            layers: vec![cache::LayerRef {
                digest: missing.clone(),
                size: 1,
                diff_id: missing,
            }],
        };
        cache::record(&s, &key, &entry).unwrap();
        let r = check(&s).unwrap();
        assert_eq!(
            r.problems().map(|f| f.kind).collect::<Vec<_>>(),
            ["broken-cache"]
        );
        let o = fsck::fsck(&s, true, check).unwrap();
        assert!(o.is_sound());
        assert!(!s.cache_dir().join(key.hex()).exists());
    }

    #[test]
    fn an_entry_that_is_not_a_cache_state_is_removed() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let key = Digest::of_bytes(b"key");
        std::fs::write(s.cache_dir().join(key.hex()), r#"{"layers":[]}"#).unwrap();
        let r = check(&s).unwrap();
        assert_eq!(
            r.problems().map(|f| f.kind).collect::<Vec<_>>(),
            ["bad-cache"]
        );
        assert!(fsck::fsck(&s, true, check).unwrap().is_sound());
    }
}
