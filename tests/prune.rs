//! `skiff prune` keeps the last N revisions of every tag and every image a
//! container uses, and removes the rest; `rmi` refuses an image in use.

mod common;

use common::*;
use std::fs;

fn id(s: &TestStore, r: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", r])).unwrap();
    v[0]["Digest"].as_str().unwrap().to_string()
}

#[test]
fn prune_keeps_recent_revisions_and_images_in_use() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path().to_str().unwrap();
    let mut digests = Vec::new();
    for i in 1..=5 {
        fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM busybox:fixture\nRUN echo {i} > /version\n"),
        )
        .unwrap();
        s.ok(&["build", "-q", "-t", "app", c]);
        digests.push(id(&s, "app"));
    }
    // A container made from revision 1 (it exits, but is not removed).
    s.ok(&["rollback", "app", "--to", "1"]);
    s.ok(&["run", "--name", "old", "app", "cat", "/version"]);
    s.ok(&["tag", &digests[4], "app"]); // back to the newest: rev 7
    let blob = |d: &str| {
        s.root()
            .join("oci/blobs/sha256")
            .join(d.trim_start_matches("sha256:"))
    };
    for d in &digests {
        assert!(blob(d).is_file());
    }
    let before = tree_snapshot(s.root());
    let dry = s.ok(&["prune", "--keep", "3", "--dry-run"]);
    assert!(dry.contains("Would remove"), "{dry}");
    assert_eq!(before, tree_snapshot(s.root()), "a dry run changes nothing");

    let err = s.fails(&["rmi", &digests[0]], 125);
    assert!(err.contains("used by container old"), "{err}");

    // Revisions, newest first: 7 (image 5), 6 (image 1, rollback), 5 (image 5), 4, 3, 2, 1.
    let out = s.ok(&["prune", "--keep", "3"]);
    assert!(out.contains("Removed"), "{out}");
    assert!(
        blob(&digests[0]).is_file(),
        "image 1: used by a container and within 3 revisions"
    );
    assert!(blob(&digests[4]).is_file(), "the current image stays");
    assert!(
        !blob(&digests[1]).exists() && !blob(&digests[2]).exists() && !blob(&digests[3]).exists(),
        "old revisions go"
    );
    assert!(
        s.ok(&["images"]).contains("busybox"),
        "the base image's tag keeps it"
    );
    assert_eq!(s.ok(&["run", "--rm", "app", "cat", "/version"]).trim(), "5");
    let err = s.fails(&["rollback", "app", "--to", "3"], 125);
    assert!(err.contains("pruned"), "{err}");
    // Nothing left to remove: a second prune is a no-op.
    let again = s.ok(&["prune", "--keep", "3"]);
    assert!(
        again.contains("Removed 0 blobs, 0 unpacked layers"),
        "{again}"
    );
}
