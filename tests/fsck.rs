//! End-to-end tests of `skiff fsck`: a sound store passes, each kind of
//! damage is named, and `--repair` fixes what can be fixed.

mod common;

use common::*;
use std::path::PathBuf;

fn fsck(s: &TestStore, args: &[&str]) -> (i32, String) {
    let mut all = vec!["fsck"];
    all.extend_from_slice(args);
    let out = s.run(&all);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.code().unwrap_or(-1), text)
}

fn inspect(s: &TestStore, image: &str) -> serde_json::Value {
    serde_json::from_str(&s.ok(&["inspect", image])).unwrap()
}

/// The blob path of the config of `image`.
fn config_blob(s: &TestStore, image: &str) -> PathBuf {
    let id = inspect(s, image)[0]["Id"].as_str().unwrap().to_string();
    s.root()
        .join("oci/blobs/sha256")
        .join(id.trim_start_matches("sha256:"))
}

fn layer_blob(s: &TestStore, image: &str) -> PathBuf {
    let v = inspect(s, image);
    let m = v[0]["Manifest"]["layers"][0]["digest"]
        .as_str()
        .map(str::to_string)
        .or_else(|| {
            // Fall back to reading the manifest from the store.
            let idx: serde_json::Value =
                serde_json::from_slice(&std::fs::read(s.root().join("oci/index.json")).unwrap())
                    .unwrap();
            let md = idx["manifests"][0]["digest"].as_str().unwrap().to_string();
            let mb = std::fs::read(
                s.root()
                    .join("oci/blobs/sha256")
                    .join(md.trim_start_matches("sha256:")),
            )
            .unwrap();
            let m: serde_json::Value = serde_json::from_slice(&mb).unwrap();
            m["layers"][0]["digest"].as_str().map(str::to_string)
        })
        .unwrap();
    s.root()
        .join("oci/blobs/sha256")
        .join(m.trim_start_matches("sha256:"))
}

#[test]
fn clean_store_after_import_passes() {
    let s = TestStore::new().with_busybox();
    s.ok(&["tag", "busybox:fixture", "other:1"]);
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("the store is sound"), "{text}");
    let (code, text) = fsck(&s, &["--repair"]);
    assert_eq!(code, 0, "{text}");
    // An empty store is sound too.
    let e = TestStore::new();
    assert_eq!(fsck(&e, &[]).0, 0);
}

#[test]
fn flipped_byte_in_a_blob_is_named() {
    let s = TestStore::new().with_busybox();
    let blob = layer_blob(&s, "busybox:fixture");
    let mut bytes = std::fs::read(&blob).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x01;
    std::fs::write(&blob, &bytes).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1, "{text}");
    let hex = blob.file_name().unwrap().to_str().unwrap();
    let line = text
        .lines()
        .find(|l| l.contains(hex))
        .unwrap_or_else(|| panic!("no line names {hex}:\n{text}"));
    assert!(line.starts_with("problem:"), "{line}");
    assert!(line.contains("corrupt-blob"), "{line}");
    assert!(line.contains("busybox:fixture"), "{line}");
    assert!(line.contains("--repair removes it"), "{line}");
    // Repair removes the corrupt blob; the image is then incomplete, which
    // fsck cannot invent: still exit 1, naming the missing layer.
    let (code, text) = fsck(&s, &["--repair"]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("repaired:") && text.contains("left:"),
        "{text}"
    );
    assert!(!blob.exists());
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("missing-blob") && text.contains(hex),
        "{text}"
    );
    // Dropping the broken tag leaves a sound store.
    s.ok(&["rmi", "busybox:fixture"]);
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn deleted_config_blob_is_a_missing_reference() {
    let s = TestStore::new().with_busybox();
    let config = config_blob(&s, "busybox:fixture");
    std::fs::remove_file(&config).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1, "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("missing-blob"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains("config of busybox:fixture is missing"),
        "{line}"
    );
    assert!(line.contains("--repair cannot fix this"), "{line}");
    // --repair changes nothing it cannot fix, and says so.
    let before = tree_snapshot(s.root());
    let (code, _) = fsck(&s, &["--repair"]);
    assert_eq!(code, 1);
    assert_eq!(before, tree_snapshot(s.root()));
}

#[test]
fn edited_index_is_a_mismatch_and_repaired() {
    let s = TestStore::new().with_busybox();
    let index = s.root().join("oci/index.json");
    let good = std::fs::read(&index).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&good).unwrap();
    v["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] = "evil:tag".into();
    std::fs::write(&index, serde_json::to_vec(&v).unwrap()).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("problem: oci/index.json") && l.contains("revision logs")),
        "{text}"
    );
    let (code, text) = fsck(&s, &["--repair"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("repaired: oci/index.json"), "{text}");
    assert_eq!(std::fs::read(&index).unwrap(), good);
    // A dropped entry is counted.
    v["manifests"] = serde_json::json!([]);
    std::fs::write(&index, serde_json::to_vec(&v).unwrap()).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1);
    assert!(
        text.contains("lists 0 images but the revision logs have 1 tags"),
        "{text}"
    );
    assert_eq!(fsck(&s, &["--repair"]).0, 0);
    assert_eq!(fsck(&s, &[]).0, 0);
}

/// A pid that is certainly not running: a child that has exited and been reaped.
fn dead_pid() -> u32 {
    let mut c = std::process::Command::new("true").spawn().unwrap();
    let pid = c.id();
    c.wait().unwrap();
    pid
}

#[test]
fn leftover_tmp_from_a_dead_pid_is_listed_and_repaired() {
    let s = TestStore::new().with_busybox();
    let pid = dead_pid();
    let tmp = s.root().join("tmp");
    let file = tmp.join(format!(".tmp-{pid}-00000000deadbeef"));
    std::fs::write(&file, b"half a blob").unwrap();
    let dir = tmp.join(format!(".tmp-{pid}-00000000feedf00d"));
    std::fs::create_dir_all(dir.join("usr/bin")).unwrap();
    std::fs::write(dir.join("usr/bin/x"), b"x").unwrap();
    // An entry of a live process is left alone.
    let live = tmp.join(format!(".tmp-{}-0000000000000001", std::process::id()));
    std::fs::write(&live, b"in progress").unwrap();
    // Crash leftovers are listed, but do not make the store unsound.
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 0, "{text}");
    for p in [&file, &dir] {
        let name = p.file_name().unwrap().to_str().unwrap();
        assert!(
            text.lines().any(|l| l.contains(name)
                && l.contains("orphan-tmp")
                && l.contains(&pid.to_string())),
            "{name} not listed:\n{text}"
        );
    }
    let (code, text) = fsck(&s, &["-v"]);
    assert_eq!(code, 0);
    assert!(text.contains("tmp-in-use"), "{text}");
    let (code, text) = fsck(&s, &["--repair"]);
    assert_eq!(code, 0, "{text}");
    assert!(!file.exists() && !dir.exists());
    assert!(live.exists());
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 0, "{text}");
}

#[test]
fn cache_entries_naming_missing_blobs_are_removed() {
    let s = TestStore::new().with_busybox();
    let blob = layer_blob(&s, "busybox:fixture");
    let layer = format!("sha256:{}", blob.file_name().unwrap().to_str().unwrap());
    let diff = inspect(&s, "busybox:fixture")[0]["RootFS"]["diff_ids"][0]
        .as_str()
        .unwrap()
        .to_string();
    let gone = format!("sha256:{}", "ab".repeat(32));
    let cache = s.root().join("cache");
    let ok = cache.join("11".repeat(32));
    let broken = cache.join("22".repeat(32));
    // A cache entry as the build writes it (an image config and its layers).
    let config = serde_json::json!({"architecture": "amd64", "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": [diff]}});
    let entry = |d: &str| {
        serde_json::json!({"config": config, "layers": [{"digest": d, "size": 1, "diff_id": diff}]})
            .to_string()
    };
    std::fs::write(&ok, entry(&layer)).unwrap();
    std::fs::write(&broken, entry(&gone)).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("broken-cache") && text.contains(&gone),
        "{text}"
    );
    assert_eq!(fsck(&s, &["--repair"]).0, 0);
    assert!(ok.exists() && !broken.exists());
}

#[test]
fn stray_and_unused_layers() {
    let s = TestStore::new().with_busybox();
    let layers = s.root().join("layers");
    std::fs::write(layers.join("not-a-layer"), b"x").unwrap();
    let unused = layers.join("cd".repeat(32));
    std::fs::create_dir(&unused).unwrap();
    let (code, text) = fsck(&s, &["-v"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("problem: layers/not-a-layer"), "{text}");
    assert!(
        text.contains("unused-layer") && text.contains("skiff prune"),
        "{text}"
    );
    let (code, text) = fsck(&s, &["--repair"]);
    assert_eq!(code, 0, "{text}");
    assert!(!layers.join("not-a-layer").exists());
    assert!(unused.is_dir(), "unused layers are left for prune");
}

#[test]
fn containers_marked_running_need_a_live_supervisor() {
    let s = TestStore::new().with_busybox();
    s.ok(&["run", "--name", "gone", "busybox:fixture", "true"]);
    let id = serde_json::from_str::<serde_json::Value>(&s.ok(&["inspect", "gone"])).unwrap()[0]
        ["Id"]
        .as_str()
        .unwrap()
        .to_string();
    let state = s.root().join("containers").join(id).join("state.json");
    // The supervisor's own state file, as a kill -9 of it leaves it.
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&state).unwrap()).unwrap();
    v["status"] = "running".into();
    v["supervisor"] = serde_json::json!({"pid": dead_pid(), "start_time": 1, "boot_id": "x"});
    std::fs::write(&state, v.to_string()).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("dead-container"), "{text}");
    v["status"] = "exited".into();
    std::fs::write(&state, v.to_string()).unwrap();
    assert_eq!(fsck(&s, &[]).0, 0);
}

#[test]
fn errors_are_one_line_with_exit_125() {
    let s = TestStore::new();
    let file = s.root().join("file");
    std::fs::write(&file, b"x").unwrap();
    let out = std::process::Command::new(skiff_bin())
        .args(["--root", file.to_str().unwrap(), "fsck"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
}

#[test]
fn broken_volumes_and_containers_mounting_a_missing_volume_are_named() {
    let s = TestStore::new().with_busybox();
    s.ok(&["volume", "create", "good"]);
    s.ok(&["volume", "create", "bad"]);
    s.ok(&[
        "run",
        "--name",
        "user",
        "-v",
        "gone:/data",
        "busybox:fixture",
        "true",
    ]);
    let (code, text) = fsck(&s, &[]);
    assert_eq!(code, 0, "{text}");
    std::fs::write(s.root().join("volumes/bad/volume.json"), b"{not json").unwrap();
    std::fs::remove_dir_all(s.root().join("volumes/gone")).unwrap();
    let (code, text) = fsck(&s, &[]);
    assert_ne!(code, 0, "{text}");
    assert!(
        text.contains("volume bad has no readable volume.json"),
        "{text}"
    );
    assert!(
        text.contains("mounts volume gone, which is missing"),
        "{text}"
    );
    assert!(!text.contains("volume good"), "{text}");
}
