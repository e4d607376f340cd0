//! End-to-end tests of the image store: import, images, tag, revisions,
//! rollback, inspect, rmi, and the OCI layout as peers read it.

mod common;

use common::*;
use std::process::Command;

#[test]
fn import_lists_tags_and_inspects() {
    let s = TestStore::new().with_busybox();
    let out = s.ok(&["images"]);
    assert!(out.starts_with("REPOSITORY"), "{out}");
    assert!(out.contains("busybox") && out.contains("fixture"), "{out}");
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["images", "--format", "json"])).unwrap();
    assert_eq!(json[0]["Repository"], "busybox");
    assert_eq!(json[0]["Tag"], "fixture");
    let inspect: serde_json::Value =
        serde_json::from_str(&s.ok(&["inspect", "busybox:fixture"])).unwrap();
    assert_eq!(inspect[0]["Os"], "linux");
    assert_eq!(
        inspect[0]["RootFS"]["diff_ids"].as_array().unwrap().len(),
        1
    );
    // The unpacked layer has busybox in it.
    let diff = inspect[0]["RootFS"]["diff_ids"][0]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    assert!(s
        .root()
        .join("layers")
        .join(&diff)
        .join("bin/busybox")
        .is_file());
    // The image id prefix resolves.
    let id = inspect[0]["Id"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")[..12]
        .to_string();
    s.ok(&["inspect", &id]);
}

#[test]
fn import_of_a_directory_is_deterministic() {
    let s = TestStore::new();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("etc")).unwrap();
    std::fs::write(dir.path().join("etc/motd"), "hi\n").unwrap();
    let a = s
        .cmd()
        .args(["import", dir.path().to_str().unwrap(), "d:1"])
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .unwrap();
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    let s2 = TestStore::new();
    let b = s2
        .cmd()
        .args(["import", dir.path().to_str().unwrap(), "d:1"])
        .env("SOURCE_DATE_EPOCH", "0")
        .output()
        .unwrap();
    assert_eq!(
        a.stdout, b.stdout,
        "same directory, same epoch: same image id"
    );
}

#[test]
fn tag_revisions_and_rollback_keep_history() {
    let s = TestStore::new().with_busybox();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("v2"), "2").unwrap();
    s.ok(&["import", dir.path().to_str().unwrap(), "other:1"]);
    s.ok(&["tag", "busybox:fixture", "base"]); // rev 1
    s.ok(&["tag", "other:1", "base"]); // rev 2
    let revs = s.ok(&["revisions", "base"]);
    let lines: Vec<&str> = revs.lines().collect();
    assert!(
        lines[1].starts_with("*2"),
        "newest first, current marked: {revs}"
    );
    assert!(lines[2].starts_with("1"), "{revs}");

    let id = |r: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", r])).unwrap();
        v[0]["Id"].as_str().unwrap().to_string()
    };
    let busybox = id("busybox:fixture");
    let other = id("other:1");
    assert_eq!(id("base"), other);
    s.ok(&["rollback", "base"]); // rev 3 -> image of rev 1
    assert_eq!(id("base:latest"), busybox);
    s.ok(&["rollback", "base"]); // rev 4 -> image of rev 2: rolling back twice returns
    assert_eq!(id("base"), other);
    s.ok(&["rollback", "base", "--to", "1"]);
    assert_eq!(id("base"), busybox);
    let json: serde_json::Value =
        serde_json::from_str(&s.ok(&["revisions", "base", "--format", "json"])).unwrap();
    let arr = json.as_array().unwrap();
    assert_eq!(arr.len(), 5, "history is never rewritten");
    assert_eq!(arr[0]["rev"], 5);
    assert_eq!(arr[0]["reason"], "rollback");
    assert_eq!(arr[0]["to"], 1);
    assert_eq!(arr[0]["current"], true);
    // An unknown revision is an error and moves nothing.
    let err = s.fails(&["rollback", "base", "--to", "42"], 125);
    assert!(err.contains("no revision 42"), "{err}");
    assert_eq!(
        s.ok(&["revisions", "base", "--format", "json"])
            .matches("\"rev\"")
            .count(),
        5
    );
}

#[test]
fn rmi_removes_the_tag_only() {
    let s = TestStore::new().with_busybox();
    s.ok(&["tag", "busybox:fixture", "base:1"]);
    let out = s.ok(&["rmi", "base:1"]);
    assert!(out.contains("Untagged: base:1"), "{out}");
    s.fails(&["inspect", "base:1"], 125);
    s.ok(&["inspect", "busybox:fixture"]);
    // History survives; a rollback brings it back.
    s.ok(&["rollback", "base:1"]);
    s.ok(&["inspect", "base:1"]);
}

#[test]
fn bad_input_is_one_clear_line_and_leaves_the_store_unchanged() {
    let s = TestStore::new().with_busybox();
    let before = tree_snapshot(s.root());
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["import", "/nonexistent.tar", "x:1"],
            "/nonexistent.tar",
        ),
        (
            vec!["import", "/etc/hostname", "Bad Name"],
            "invalid image reference",
        ),
        (
            vec!["tag", "nosuch:image", "x"],
            "no such image: nosuch:image",
        ),
        (
            vec!["inspect", "nosuch"],
            "no such container or image: nosuch",
        ),
        (vec!["rollback", "busybox:fixture"], "no earlier revision"),
        (vec!["revisions", "nosuch"], "no such tag"),
        (vec!["rmi", "nosuch:1"], "no such image"),
        (
            vec!["tag", "busybox:fixture", "../etc:x"],
            "invalid image reference",
        ),
    ];
    for (args, needle) in cases {
        let err = s.fails(&args, 125);
        assert!(err.contains(needle), "{args:?}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "one line: {err}");
    }
    // A truncated and a corrupt tarball.
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(fixtures().join("busybox.tar")).unwrap();
    std::fs::write(
        dir.path().join("trunc.tar"),
        &bytes[..bytes.len() / 2 + 700],
    )
    .unwrap();
    std::fs::write(dir.path().join("junk.tar"), vec![0x5au8; 4096]).unwrap();
    for f in ["trunc.tar", "junk.tar"] {
        let p = dir.path().join(f);
        let err = s.fails(&["import", p.to_str().unwrap(), "broken:1"], 125);
        assert!(err.contains(f), "{err}");
    }
    assert_eq!(
        before,
        tree_snapshot(s.root()),
        "store changed by failed commands"
    );
}

#[test]
fn parallel_tags_lose_nothing() {
    let s = TestStore::new().with_busybox();
    let children: Vec<_> = (0..8)
        .map(|i| {
            s.cmd()
                .args(["tag", "busybox:fixture", &format!("par{}:t", i % 2)])
                .spawn()
                .unwrap()
        })
        .collect();
    let mut more: Vec<_> = (0..8)
        .map(|i| {
            s.cmd()
                .args(["tag", "busybox:fixture", &format!("par{}:t", i % 2)])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children.into_iter().chain(more.drain(..)) {
        assert!(c.wait().unwrap().success());
    }
    let n0 = s
        .ok(&["revisions", "par0:t", "--format", "json"])
        .matches("\"rev\"")
        .count();
    let n1 = s
        .ok(&["revisions", "par1:t", "--format", "json"])
        .matches("\"rev\"")
        .count();
    // Tagging the image a tag already names adds no revision (docker's tag
    // is idempotent), decided under the store lock: racing tags agree.
    assert_eq!((n0, n1), (1, 1), "one revision per tag, whatever the race");
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.root().join("oci/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 3);
    // Lost updates: 16 racing tags to 16 different names all land, in their
    // revision logs and in index.json (rewritten by each of them).
    let racers: Vec<_> = (0..16)
        .map(|i| {
            s.cmd()
                .args(["tag", "busybox:fixture", &format!("race{i}:t")])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in racers {
        assert!(c.wait().unwrap().success());
    }
    for i in 0..16 {
        let revs = s.ok(&["revisions", &format!("race{i}:t"), "--format", "json"]);
        assert_eq!(revs.matches("\"rev\"").count(), 1, "race{i}:t");
    }
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(s.root().join("oci/index.json")).unwrap()).unwrap();
    assert_eq!(index["manifests"].as_array().unwrap().len(), 3 + 16);
}

#[test]
fn peers_read_the_store_as_an_oci_layout() {
    let s = TestStore::new().with_busybox();
    let layout = format!("oci:{}:busybox:fixture", s.root().join("oci").display());
    if !have("skopeo") || !have("umoci") {
        panic!("skopeo and umoci are needed (scripts/test.sh installs them)");
    }
    let out = Command::new("skopeo")
        .args(["inspect", &layout])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "skopeo: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["Os"], "linux");
    // umoci reads the layout too (on a copy: umoci may write to it).
    let copy = tempfile::tempdir().unwrap();
    let st = Command::new("cp")
        .arg("-a")
        .arg(s.root().join("oci"))
        .arg(copy.path().join("oci"))
        .status()
        .unwrap();
    assert!(st.success());
    let out = Command::new("umoci")
        .args(["ls", "--layout"])
        .arg(copy.path().join("oci"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("busybox:fixture"));
    let out = Command::new("umoci")
        .args(["stat", "--image"])
        .arg(format!(
            "{}:busybox:fixture",
            copy.path().join("oci").display()
        ))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "umoci stat: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
