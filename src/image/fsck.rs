//! `fsck` for images: follow every tag revision to its manifest, config
//! and layers, read as the image module reads them everywhere else
//! (`oci_spec`'s [`ImageManifest`], our [`ImageConfig`]).

use super::config::ImageConfig;
use crate::store::fsck::{Action, BlobState, Scan, Severity, TagRev};
use crate::store::Digest;
use oci_spec::image::ImageManifest;
use serde::de::DeserializeOwned;
use std::collections::BTreeSet;

/// Check the image of every revision; tell the scan the blobs and layers
/// they use.
pub fn check(scan: &mut Scan<'_>, revisions: &[TagRev]) {
    let mut seen = BTreeSet::new();
    // Current revisions first, so a shared manifest is named by its tag.
    let mut order: Vec<&TagRev> = revisions.iter().filter(|r| r.current).collect();
    order.extend(revisions.iter().filter(|r| !r.current));
    for tr in order {
        let Some(m) = &tr.rev.digest else { continue };
        let who = if tr.current {
            tr.label.clone()
        } else {
            format!("{} revision {}", tr.label, tr.rev.rev)
        };
        if !seen.insert(m.clone()) {
            scan.refer(m, &who);
            continue;
        }
        if !tr.current && scan.blob(m) == BlobState::Missing {
            // Old revisions lose their images to `skiff prune`.
            scan.refer(m, &who);
            let path = scan.store().blob_path(m);
            scan.add(
                Severity::Note,
                "pruned-revision",
                &path,
                format!("the image of {who} was pruned"),
                Action::Leave("a rollback to it needs the image again".into()),
            );
            continue;
        }
        // An old revision missing pieces cannot be rolled back to, but
        // nothing running depends on it: a note.
        let severity = if tr.current {
            Severity::Problem
        } else {
            Severity::Note
        };
        if !scan.require(m, "manifest", &who, severity) {
            continue;
        }
        manifest(scan, m, &who, severity);
    }
}

/// Blob `d` read as a `T`; a finding if it is not one.
fn read<T: DeserializeOwned>(scan: &mut Scan<'_>, d: &Digest, what: &str) -> Option<T> {
    let path = scan.store().blob_path(d);
    let parsed = std::fs::read(&path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()));
    match parsed {
        Ok(v) => Some(v),
        Err(e) => {
            scan.add(
                Severity::Problem,
                "bad-json",
                &path,
                format!("{what} is not valid JSON: {e}"),
                Action::Manual("pull, load or import the image again".into()),
            );
            None
        }
    }
}

/// A descriptor's digest as the store names blobs (sha256 only).
fn digest(
    scan: &mut Scan<'_>,
    d: &oci_spec::image::Digest,
    at: &Digest,
    what: &str,
) -> Option<Digest> {
    match d.to_string().parse::<Digest>() {
        Ok(d) => Some(d),
        Err(_) => {
            let path = scan.store().blob_path(at);
            scan.add(
                Severity::Problem,
                "bad-manifest",
                &path,
                format!("{what} has no valid sha256 digest"),
                Action::Manual("pull, load or import the image again".into()),
            );
            None
        }
    }
}

fn manifest(scan: &mut Scan<'_>, m: &Digest, who: &str, severity: Severity) {
    let Some(manifest) = read::<ImageManifest>(scan, m, "manifest") else {
        return;
    };
    let config = digest(scan, manifest.config().digest(), m, "config descriptor");
    let layers = manifest.layers();
    for (i, l) in layers.iter().enumerate() {
        if let Some(d) = digest(scan, l.digest(), m, &format!("layer {i}")) {
            scan.require(&d, &format!("layer {i}"), who, severity);
        }
    }
    let Some(c) = config else { return };
    if !scan.require(&c, "config", who, severity) {
        return;
    }
    let Some(config) = read::<ImageConfig>(scan, &c, "config") else {
        return;
    };
    let diff_ids = &config.rootfs.diff_ids;
    if diff_ids.len() != layers.len() {
        let path = scan.store().blob_path(&c);
        scan.add(
            Severity::Problem,
            "layer-count",
            &path,
            format!(
                "config of {who} lists {} diff ids but its manifest {} layers",
                diff_ids.len(),
                layers.len()
            ),
            Action::Manual("pull, load or import the image again".into()),
        );
    }
    for d in diff_ids {
        scan.use_layer(d);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fsck::{self, scan, Report};
    use crate::store::{Reason, Store};
    use std::fs;

    fn check(store: &Store) -> crate::store::Result<Report> {
        let (mut scan, revisions) = scan::begin(store)?;
        super::check(&mut scan, &revisions);
        scan.finish()
    }

    fn kinds(r: &Report) -> Vec<&'static str> {
        r.problems().map(|f| f.kind).collect()
    }

    #[test]
    fn corrupt_referenced_blob_is_removed_and_then_missing() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let m =
            crate::image::local::write_image(&s, &ImageConfig::empty(None), Vec::new()).unwrap();
        let manifest: ImageManifest = serde_json::from_slice(&s.read_blob(&m).unwrap()).unwrap();
        let config: Digest = manifest.config().digest().to_string().parse().unwrap();
        s.set_tag("a", "1", Some(&m), Reason::Import, None).unwrap();
        assert!(check(&s).unwrap().is_sound());
        fs::write(s.blob_path(&config), b"{}").unwrap();
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["corrupt-blob"]);
        assert!(
            r.findings[0].message.contains("used by a:1"),
            "{}",
            r.findings[0]
        );
        let o = fsck::fsck(&s, true, check).unwrap();
        assert!(!o.is_sound());
        let after = o.after_repair.unwrap();
        assert_eq!(kinds(&after), vec!["missing-blob"]);
        // A verified, referenced blob is never removed.
        assert!(s.has_blob(&m));
    }

    #[test]
    fn a_manifest_that_is_not_one_is_named() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let m = s.put_blob_bytes(br#"{"schemaVersion":2}"#).unwrap();
        s.set_tag("a", "1", Some(&m), Reason::Import, None).unwrap();
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["bad-json"]);
        assert!(r.findings[0].message.contains("manifest is not valid JSON"));
    }
}
