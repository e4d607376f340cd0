//! Hostile inputs, end to end through the real binary: archives that try to
//! escape the layer directory, gzip bombs, blobs whose digests lie, broken or
//! absurd manifests and configs, references that try path traversal, and
//! build contexts that reach outside themselves.
//!
//! Every refusal must exit 125 with one clear line and leave the store as it
//! was; nothing outside the store may ever be written.

mod common;

use common::*;
use flate2::write::GzEncoder;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Output;
use tar::{EntryType, Header};

// ---------- raw tar writing (hostile names need headers written by hand) ----------

fn pad(out: &mut Vec<u8>) {
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// A ustar entry whose name and link name are written raw, unchecked.
fn entry(out: &mut Vec<u8>, name: &str, kind: EntryType, link: &str, data: &[u8]) {
    let mut h = Header::new_ustar();
    let n = name.as_bytes();
    assert!(n.len() <= 100, "use long_entry for {name}");
    h.as_old_mut().name[..n.len()].copy_from_slice(n);
    let l = link.as_bytes();
    h.as_old_mut().linkname[..l.len()].copy_from_slice(l);
    h.set_entry_type(kind);
    h.set_mode(if kind == EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    pad(out);
}

/// A PAX extended header carrying `records` (key, value).
fn pax(out: &mut Vec<u8>, records: &[(&str, &str)]) {
    let mut body = Vec::new();
    for (k, v) in records {
        let rest = format!(" {k}={v}\n");
        let mut len = rest.len() + 1;
        while format!("{len}{rest}").len() != len {
            len += 1;
        }
        body.extend_from_slice(format!("{len}{rest}").as_bytes());
    }
    entry(out, "pax", EntryType::XHeader, "", &body);
}

/// A GNU long-name entry followed by the real header.
fn long_entry(out: &mut Vec<u8>, name: &str, data: &[u8]) {
    let mut h = Header::new_gnu();
    h.as_gnu_mut().unwrap().name[..13].copy_from_slice(b"././@LongLink");
    h.set_entry_type(EntryType::GNULongName);
    h.set_mode(0o644);
    h.set_size(name.len() as u64 + 1);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad(out);
    entry(out, "placeholder", EntryType::Regular, "", data);
}

fn end(mut out: Vec<u8>) -> Vec<u8> {
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::best());
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

// ---------- helpers ----------

/// A directory outside the store, beside it, that nothing may write into.
struct Outside {
    dir: tempfile::TempDir,
}

impl Outside {
    fn new() -> Outside {
        Outside {
            dir: tempfile::Builder::new()
                .prefix("skiff-outside-")
                .tempdir()
                .unwrap(),
        }
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn str(&self) -> &str {
        self.dir.path().to_str().unwrap()
    }
    fn assert_untouched(&self) {
        let entries: Vec<_> = fs::read_dir(self.path()).unwrap().flatten().collect();
        assert!(
            entries.is_empty(),
            "something was written outside the store: {:?}",
            entries.iter().map(|e| e.path()).collect::<Vec<_>>()
        );
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, bytes).unwrap();
    p
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A refusal: exit 125, one line on stderr that mentions `needle`.
fn assert_refusal(o: &Output, needle: &str) -> String {
    let err = stderr(o);
    assert_eq!(
        o.status.code(),
        Some(125),
        "expected a refusal; stdout {} stderr {err}",
        String::from_utf8_lossy(&o.stdout)
    );
    // `build` prints its steps first; the error is one line, the last.
    let lines: Vec<&str> = err.trim_end().lines().collect();
    let last = lines.last().copied().unwrap_or("");
    assert!(last.starts_with("skiff: "), "{err}");
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("skiff: ")).count(),
        1,
        "one error line: {err}"
    );
    assert!(
        last.to_lowercase().contains(&needle.to_lowercase()),
        "error should mention {needle:?}: {err}"
    );
    last.to_string()
}

/// The store's files, lock files left out (they appear on first use).
fn snapshot(s: &TestStore) -> Vec<(PathBuf, u64, u32)> {
    tree_snapshot(s.root())
        .into_iter()
        .filter(|(p, _, _)| p.extension().is_none_or(|e| e != "lock"))
        .collect()
}

/// A store that exists (a fresh `TestStore` is created by its first command).
fn store() -> TestStore {
    let s = TestStore::new();
    s.ok(&["images"]);
    s
}

/// Import `tar` (plain or gzipped bytes) and require a refusal that leaves
/// the store exactly as it was.
fn import_refused(s: &TestStore, name: &str, tar: &[u8], needle: &str) -> String {
    let files = tempfile::tempdir().unwrap();
    let path = write_file(files.path(), "layer.tar", tar);
    let before = snapshot(s);
    let out = s.run(&["import", path.to_str().unwrap(), name]);
    let err = assert_refusal(&out, needle);
    assert_eq!(before, snapshot(s), "store changed: {err}");
    err
}

fn fsck_sound(s: &TestStore) {
    let out = s.run(&["fsck"]);
    assert!(
        out.status.success(),
        "fsck: {}{}",
        String::from_utf8_lossy(&out.stdout),
        stderr(&out)
    );
}

/// The unpacked directory of the top layer of `image`.
fn top_layer(s: &TestStore, image: &str) -> PathBuf {
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", image])).unwrap();
    let ids = v[0]["RootFS"]["diff_ids"].as_array().unwrap();
    let top = ids.last().unwrap().as_str().unwrap();
    s.root()
        .join("layers")
        .join(top.trim_start_matches("sha256:"))
}

// ---------- hostile layer tarballs through `skiff import` ----------

#[test]
fn dotdot_paths_are_refused() {
    let s = store();
    let outside = Outside::new();
    // The staging directory is <root>/tmp/.tmp-*/: enough `..` reach /.
    let up = "../".repeat(12);
    let target = format!("{up}{}/pwned", outside.str().trim_start_matches('/'));
    for name in ["../pwned", "a/../../pwned", target.as_str()] {
        let mut t = Vec::new();
        entry(&mut t, "ok", EntryType::Regular, "", b"fine");
        entry(&mut t, name, EntryType::Regular, "", b"pwned");
        import_refused(&s, "evil:1", &end(t), "escapes");
    }
    outside.assert_untouched();
    assert!(!s.root().join("pwned").exists() && !s.root().join("tmp/pwned").exists());
}

#[test]
fn absolute_paths_stay_inside_the_layer() {
    let s = store();
    let outside = Outside::new();
    // A leading `/` is dropped, as docker does: the file lands in the layer.
    let abs = format!("{}/abs", outside.str());
    let mut t = Vec::new();
    entry(&mut t, &abs, EntryType::Regular, "", b"inside");
    let files = tempfile::tempdir().unwrap();
    let p = write_file(files.path(), "abs.tar", &end(t));
    s.ok(&["import", p.to_str().unwrap(), "abs:1"]);
    outside.assert_untouched();
    let inside = top_layer(&s, "abs:1").join(abs.trim_start_matches('/'));
    assert_eq!(fs::read(inside).unwrap(), b"inside");
    fsck_sound(&s);
    // ...but `..` after the root is still an escape.
    let mut t = Vec::new();
    entry(
        &mut t,
        "/../../../../etc/pwned",
        EntryType::Regular,
        "",
        b"x",
    );
    import_refused(&s, "abs:2", &end(t), "escapes");
}

#[test]
fn writing_through_a_symlink_is_refused() {
    let s = store();
    let outside = Outside::new();
    for link in [outside.str().to_string(), "../".repeat(12) + outside.str()] {
        let mut t = Vec::new();
        entry(&mut t, "link", EntryType::Symlink, &link, b"");
        entry(&mut t, "link/pwned", EntryType::Regular, "", b"pwned");
        import_refused(&s, "evil:1", &end(t), "link");
    }
    outside.assert_untouched();
}

#[test]
fn symlink_chains_and_loops_are_refused() {
    let s = store();
    let outside = Outside::new();
    let mut t = Vec::new();
    entry(&mut t, "a", EntryType::Symlink, "b", b"");
    entry(&mut t, "b", EntryType::Symlink, "c", b"");
    entry(&mut t, "c", EntryType::Symlink, outside.str(), b"");
    entry(&mut t, "a/pwned", EntryType::Regular, "", b"pwned");
    import_refused(&s, "evil:1", &end(t), "link");
    let mut t = Vec::new();
    entry(&mut t, "l1", EntryType::Symlink, "l2", b"");
    entry(&mut t, "l2", EntryType::Symlink, "l1", b"");
    entry(&mut t, "l1/x", EntryType::Regular, "", b"x");
    import_refused(&s, "evil:2", &end(t), "link");
    outside.assert_untouched();
    // A chain alone is just symlinks: stored as they are, never followed.
    let mut t = Vec::new();
    entry(&mut t, "a", EntryType::Symlink, "b", b"");
    entry(&mut t, "b", EntryType::Symlink, outside.str(), b"");
    let files = tempfile::tempdir().unwrap();
    let p = write_file(files.path(), "chain.tar", &end(t));
    s.ok(&["import", p.to_str().unwrap(), "chain:1"]);
    let layer = top_layer(&s, "chain:1");
    assert_eq!(
        fs::read_link(layer.join("b")).unwrap(),
        Path::new(outside.str())
    );
    outside.assert_untouched();
}

#[test]
fn hardlinks_to_outside_are_refused() {
    let s = store();
    let outside = Outside::new();
    let secret = write_file(outside.path(), "secret", b"secret");
    let before = fs::metadata(&secret).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.nlink()
    });
    let up = "../".repeat(12) + secret.to_str().unwrap().trim_start_matches('/');
    for target in [up.as_str(), secret.to_str().unwrap(), "missing"] {
        let mut t = Vec::new();
        entry(&mut t, "stolen", EntryType::Link, target, b"");
        import_refused(&s, "evil:1", &end(t), "stolen");
    }
    let after = fs::metadata(&secret).map(|m| {
        use std::os::unix::fs::MetadataExt;
        m.nlink()
    });
    assert_eq!(before.unwrap(), after.unwrap(), "no new link to the file");
}

#[test]
fn pax_size_mismatches_are_errors() {
    let s = store();
    // The PAX size is larger than the data that follows: truncated.
    let mut t = Vec::new();
    pax(&mut t, &[("size", "1000000")]);
    entry(&mut t, "f", EntryType::Regular, "", b"short");
    import_refused(&s, "evil:1", &end(t), "layer tar");
    // Smaller: the rest of the data is read as a header, which is garbage.
    let mut t = Vec::new();
    pax(&mut t, &[("size", "3")]);
    entry(&mut t, "f", EntryType::Regular, "", &[b'x'; 2000]);
    import_refused(&s, "evil:2", &end(t), "layer tar");
    // Not a number.
    let mut t = Vec::new();
    pax(&mut t, &[("size", "-1")]);
    entry(&mut t, "f", EntryType::Regular, "", b"x");
    import_refused(&s, "evil:3", &end(t), "PAX size");
}

#[test]
fn very_long_names_are_refused() {
    let s = store();
    let long = "d/".repeat(2100) + "f"; // 4201 bytes
    let mut t = Vec::new();
    long_entry(&mut t, &long, b"x");
    import_refused(&s, "evil:1", &end(t), "longer than 4096");
    // A long single component is refused by the filesystem, cleanly.
    let mut t = Vec::new();
    long_entry(&mut t, &"n".repeat(300), b"x");
    import_refused(&s, "evil:2", &end(t), "layer tar");
}

/// A small gzipped tar that expands to 32 MiB of zeros, in a temp dir.
fn gzip_bomb() -> (tempfile::TempDir, std::path::PathBuf) {
    let mut t = Vec::new();
    entry(
        &mut t,
        "zeros",
        EntryType::Regular,
        "",
        &vec![0u8; 32 << 20],
    );
    let bomb = gzip(&end(t));
    assert!(bomb.len() < 100_000, "{}", bomb.len());
    let files = tempfile::tempdir().unwrap();
    let path = write_file(files.path(), "bomb.tar.gz", &bomb);
    (files, path)
}

#[test]
fn gzip_bomb_stops_at_the_limit_and_reclaims_the_disk() {
    let s = store();
    let (_files, path) = gzip_bomb();
    let before = snapshot(&s);
    let out = s
        .cmd()
        .args(["import", path.to_str().unwrap(), "bomb:1"])
        .env("SKIFF_MAX_LAYER_BYTES", "1M")
        .output()
        .unwrap();
    let err = assert_refusal(&out, "limit of 1048576 bytes");
    assert!(err.contains("SKIFF_MAX_LAYER_BYTES"), "{err}");
    assert_eq!(before, snapshot(&s), "the disk is reclaimed");
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
    // A nonsense limit is an error, not "no limit".
    let out = s
        .cmd()
        .args(["import", path.to_str().unwrap(), "bomb:1"])
        .env("SKIFF_MAX_LAYER_BYTES", "lots")
        .output()
        .unwrap();
    assert_refusal(&out, "SKIFF_MAX_LAYER_BYTES");
    assert_eq!(before, snapshot(&s));
    // Within the limit it imports.
    let out = s
        .cmd()
        .args(["import", path.to_str().unwrap(), "bomb:1"])
        .env("SKIFF_MAX_LAYER_BYTES", "64M")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    fsck_sound(&s);
}

// ---------- blobs, manifests and configs that lie ----------

fn blob_path(s: &TestStore, digest: &str) -> PathBuf {
    s.root()
        .join("oci/blobs/sha256")
        .join(digest.trim_start_matches("sha256:"))
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

#[test]
fn blobs_whose_content_lies_are_digest_mismatches() {
    let s = TestStore::new().with_busybox();
    let v: serde_json::Value =
        serde_json::from_str(&s.ok(&["inspect", "busybox:fixture"])).unwrap();
    let config = v[0]["Id"].as_str().unwrap().to_string();
    // Same name, other content: a config that would add an env var.
    let path = blob_path(&s, &config);
    let mut c: serde_json::Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    c["config"]["Env"] = serde_json::json!(["EVIL=1"]);
    fs::write(&path, serde_json::to_vec(&c).unwrap()).unwrap();
    let out = s.run(&["inspect", "busybox:fixture"]);
    assert_refusal(&out, "digest mismatch");
    let out = s.run(&["history", "busybox:fixture"]);
    assert_refusal(&out, "digest mismatch");
    // The manifest the tag names, likewise.
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(s.root().join("oci/index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    fs::write(blob_path(&s, &manifest), b"{\"schemaVersion\":2}").unwrap();
    let out = s.run(&["inspect", "busybox:fixture"]);
    assert_refusal(&out, "digest mismatch");
}

/// An OCI archive with the given blobs and a manifest (bytes as given).
fn oci_archive(blobs: &[(&str, &[u8])], manifest: &[u8], manifest_digest: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |name: &str, data: &[u8]| {
        let mut h = Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(EntryType::Regular);
        b.append_data(&mut h, name, data).unwrap();
    };
    add("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest.len(),
            "annotations": {"org.opencontainers.image.ref.name": "hostile:1"},
        }],
    });
    add("index.json", &serde_json::to_vec(&index).unwrap());
    add(
        &format!(
            "blobs/sha256/{}",
            manifest_digest.trim_start_matches("sha256:")
        ),
        manifest,
    );
    for (digest, data) in blobs {
        add(
            &format!("blobs/sha256/{}", digest.trim_start_matches("sha256:")),
            data,
        );
    }
    b.into_inner().unwrap()
}

fn manifest_json(config: (&str, usize), layers: &[(&str, usize)]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config.0,
            "size": config.1,
        },
        "layers": layers.iter().map(|(d, n)| serde_json::json!({
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": d,
            "size": n,
        })).collect::<Vec<_>>(),
    }))
    .unwrap()
}

fn config_json(diff_ids: &[&str]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
    .unwrap()
}

fn load_refused(s: &TestStore, archive: &[u8], needle: &str) -> String {
    let files = tempfile::tempdir().unwrap();
    let p = write_file(files.path(), "image.tar", archive);
    let before = snapshot(s);
    let out = s.run(&["load", "-i", p.to_str().unwrap()]);
    let err = assert_refusal(&out, needle);
    // Verified blobs may stay (content-addressed, harmless); no tag moves
    // and nothing is left in tmp/.
    let after = snapshot(s);
    let changed: Vec<_> = after
        .iter()
        .filter(|e| !before.contains(e))
        .filter(|e| !e.0.starts_with("oci/blobs"))
        .collect();
    assert!(changed.is_empty(), "{err}: store changed: {changed:?}");
    assert_eq!(s.ok(&["images", "-q"]), "");
    fsck_sound(s);
    err
}

/// A small gzipped layer: (blob bytes, blob digest, diff id).
fn small_layer() -> (Vec<u8>, String, String) {
    let mut t = Vec::new();
    entry(&mut t, "hello", EntryType::Regular, "", b"hello");
    let tar = end(t);
    let gz = gzip(&tar);
    let d = sha256(&gz);
    (gz, d, sha256(&tar))
}

#[test]
fn archive_blobs_whose_digest_lies_are_refused() {
    let s = store();
    let (layer, layer_digest, diff) = small_layer();
    let config = config_json(&[&diff]);
    let cd = sha256(&config);
    let manifest = manifest_json((&cd, config.len()), &[(&layer_digest, layer.len())]);
    let md = sha256(&manifest);
    // The config entry holds other bytes than its name says.
    let lying = config_json(&[&diff, &diff]);
    let archive = oci_archive(&[(&cd, &lying), (&layer_digest, &layer)], &manifest, &md);
    load_refused(&s, &archive, &cd[7..19]);
    // The manifest entry lies.
    let archive = oci_archive(
        &[(&cd, &config), (&layer_digest, &layer)],
        &manifest_json((&cd, config.len()), &[]),
        &md,
    );
    load_refused(&s, &archive, &md[7..19]);
    // The honest archive loads.
    let files = tempfile::tempdir().unwrap();
    let p = write_file(
        files.path(),
        "ok.tar",
        &oci_archive(&[(&cd, &config), (&layer_digest, &layer)], &manifest, &md),
    );
    s.ok(&["load", "-i", p.to_str().unwrap()]);
    fsck_sound(&s);
}

#[test]
fn configs_naming_missing_layers_are_refused() {
    let s = store();
    let (layer, layer_digest, diff) = small_layer();
    // The manifest names a layer blob the archive does not have.
    let config = config_json(&[&diff]);
    let cd = sha256(&config);
    let manifest = manifest_json((&cd, config.len()), &[(&layer_digest, layer.len())]);
    let md = sha256(&manifest);
    load_refused(
        &s,
        &oci_archive(&[(&cd, &config)], &manifest, &md),
        &layer_digest[7..19],
    );
    // The config lists two diff ids for one layer.
    let config = config_json(&[&diff, &sha256(b"other")]);
    let cd = sha256(&config);
    let manifest = manifest_json((&cd, config.len()), &[(&layer_digest, layer.len())]);
    let md = sha256(&manifest);
    load_refused(
        &s,
        &oci_archive(&[(&cd, &config), (&layer_digest, &layer)], &manifest, &md),
        "layer",
    );
    // The diff id is not the layer's.
    let config = config_json(&[&sha256(b"other")]);
    let cd = sha256(&config);
    let manifest = manifest_json((&cd, config.len()), &[(&layer_digest, layer.len())]);
    let md = sha256(&manifest);
    let files = tempfile::tempdir().unwrap();
    let p = write_file(
        files.path(),
        "x.tar",
        &oci_archive(&[(&cd, &config), (&layer_digest, &layer)], &manifest, &md),
    );
    // Loading may store it (the blobs verify); using it must fail clearly.
    let out = s.run(&["load", "-i", p.to_str().unwrap()]);
    if out.status.success() {
        let out = s.run(&["run", "--rm", "hostile:1", "true"]);
        assert_refusal(&out, "digest mismatch");
    } else {
        assert_refusal(&out, "diff");
    }
}

fn nested(depth: usize) -> String {
    "[".repeat(depth) + &"]".repeat(depth)
}

#[test]
fn deeply_nested_json_is_an_error_not_a_crash() {
    let s = store();
    let (layer, layer_digest, diff) = small_layer();
    let config = config_json(&[&diff]);
    let cd = sha256(&config);
    // A manifest with an annotation nested 100 000 deep.
    let m = String::from_utf8(manifest_json(
        (&cd, config.len()),
        &[(&layer_digest, layer.len())],
    ))
    .unwrap();
    let deep = format!(
        "{},\"annotations\":{{\"x\":{}}}}}",
        m.trim_end_matches('}'),
        nested(100_000)
    );
    let md = sha256(deep.as_bytes());
    load_refused(
        &s,
        &oci_archive(
            &[(&cd, &config), (&layer_digest, &layer)],
            deep.as_bytes(),
            &md,
        ),
        "recursion limit",
    );
    // A config nested likewise.
    let c = String::from_utf8(config).unwrap();
    let deep = format!("{},\"x\":{}}}", c.trim_end_matches('}'), nested(100_000));
    let cd = sha256(deep.as_bytes());
    let manifest = manifest_json((&cd, deep.len()), &[(&layer_digest, layer.len())]);
    let md = sha256(&manifest);
    load_refused(
        &s,
        &oci_archive(
            &[(&cd, deep.as_bytes()), (&layer_digest, &layer)],
            &manifest,
            &md,
        ),
        "recursion limit",
    );
    // And in the store: a tag pointing at a deep manifest (written by hand).
    let deep = format!("{{\"schemaVersion\":2,\"x\":{}}}", nested(200_000));
    let md = sha256(deep.as_bytes());
    fs::write(blob_path(&s, &md), &deep).unwrap();
    let refs = s.root().join("refs/deep");
    fs::create_dir_all(&refs).unwrap();
    fs::write(
        refs.join(":1"),
        format!(
            "{}\n",
            serde_json::json!({"rev": 1, "digest": md, "at": "2026-01-01T00:00:00Z", "reason": "load"})
        ),
    )
    .unwrap();
    // oci-spec skips the unknown field without recursing; either way an
    // error, not a crash.
    assert_refusal(&s.run(&["inspect", "deep:1"]), "not valid JSON");
    assert_refusal(&s.run(&["images"]), "not valid JSON");
    // fsck reads it as an image manifest too: a finding, not a crash.
    let out = s.run(&["fsck"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("bad-json") && text.contains(&md[7..]),
        "{text}"
    );
}

// ---------- references that try path traversal ----------

#[test]
fn references_cannot_traverse_paths() {
    let s = TestStore::new().with_busybox();
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("f"), "x").unwrap();
    let src = dir.path().to_str().unwrap();
    let ctx = tempfile::tempdir().unwrap();
    fs::write(ctx.path().join("Dockerfile"), "FROM busybox:fixture\n").unwrap();
    let c = ctx.path().to_str().unwrap();
    let bad = [
        "../../etc",
        "../../etc:passwd",
        "a/../../b",
        "a/./b",
        "/etc/x",
        "a//b",
        "a:../x",
        "a:..",
        "a:.x",
        "a/:x",
        "..:x",
        ".",
    ];
    let before = snapshot(&s);
    for r in bad {
        assert_refusal(&s.run(&["import", src, r]), "invalid");
        assert_refusal(&s.run(&["tag", "busybox:fixture", r]), "invalid");
        assert_refusal(&s.run(&["build", "-t", r, c]), "invalid");
        assert_refusal(&s.run(&["revisions", r]), "invalid");
        assert_refusal(&s.run(&["rollback", r]), "");
        assert_refusal(&s.run(&["inspect", r]), "");
    }
    assert_eq!(before, snapshot(&s));
    assert!(!s.root().join("etc").exists() && !Path::new("/etc/:passwd").exists());
}

// ---------- hostile build contexts ----------

fn build_out(s: &TestStore, args: &[&str]) -> Output {
    let mut full = vec!["build"];
    full.extend_from_slice(args);
    s.run(&full)
}

#[test]
fn context_symlinks_pointing_outside_are_copied_as_links() {
    let s = TestStore::new().with_busybox();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("secret"), "top secret").unwrap();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    fs::write(c.join("Dockerfile"), "FROM busybox:fixture\nCOPY . /ctx/\n").unwrap();
    fs::write(c.join("plain"), "plain").unwrap();
    let secret = outside.path().join("secret");
    std::os::unix::fs::symlink(&secret, c.join("abs")).unwrap();
    std::os::unix::fs::symlink(outside.path(), c.join("absdir")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc/passwd", c.join("rel")).unwrap();
    let out = build_out(&s, &["-t", "ctx:1", c.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let layer = top_layer(&s, "ctx:1").join("ctx");
    assert_eq!(fs::read(layer.join("plain")).unwrap(), b"plain");
    for (name, target) in [
        ("abs", secret.clone()),
        ("absdir", outside.path().to_path_buf()),
        ("rel", PathBuf::from("../../../../../../../../etc/passwd")),
    ] {
        let m = fs::symlink_metadata(layer.join(name)).unwrap();
        assert!(m.file_type().is_symlink(), "{name} copied as a link");
        assert_eq!(fs::read_link(layer.join(name)).unwrap(), target);
    }
    // Nothing of the outside directory was copied through the link.
    let mut found = false;
    for e in walk(&top_layer(&s, "ctx:1")) {
        if fs::symlink_metadata(&e).unwrap().is_file() {
            found |= fs::read(&e).unwrap() == b"top secret";
        }
    }
    assert!(!found, "the secret was copied into the image");
    // COPY of the link itself copies the link, not what it points at.
    fs::write(c.join("Dockerfile"), "FROM busybox:fixture\nCOPY abs /x\n").unwrap();
    let out = build_out(&s, &["-t", "ctx:2", c.to_str().unwrap()]);
    if out.status.success() {
        let x = top_layer(&s, "ctx:2").join("x");
        assert!(fs::symlink_metadata(&x).unwrap().file_type().is_symlink());
    } else {
        assert_refusal(&out, "abs");
    }
    // A source path through a link to a directory outside is refused.
    fs::write(
        c.join("Dockerfile"),
        "FROM busybox:fixture\nCOPY absdir/secret /x\n",
    )
    .unwrap();
    assert_refusal(
        &build_out(&s, &["-t", "ctx:3", c.to_str().unwrap()]),
        "absdir",
    );
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if e.file_type().unwrap().is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out
}

#[test]
fn copy_from_outside_the_context_is_refused() {
    let s = TestStore::new().with_busybox();
    let parent = tempfile::tempdir().unwrap();
    fs::write(parent.path().join("x"), "outside").unwrap();
    let ctx = parent.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    let c = ctx.to_str().unwrap();
    for (src, needle) in [
        ("../x", "../x"),
        ("/../x", "x"),
        ("sub/../../x", "x"),
        ("../*", "../*"),
    ] {
        fs::write(
            ctx.join("Dockerfile"),
            format!("FROM busybox:fixture\nCOPY {src} /x\n"),
        )
        .unwrap();
        let before = snapshot(&s);
        let err = assert_refusal(&build_out(&s, &["-t", "out:1", c]), needle);
        assert!(err.contains("Dockerfile:2"), "{err}");
        let after = snapshot(&s);
        assert!(
            after
                .iter()
                .all(|e| before.contains(e) || e.0.starts_with("cache")),
            "{src}: the store changed"
        );
    }
}

#[test]
fn dockerignore_cannot_reinclude_outside_paths() {
    let s = TestStore::new().with_busybox();
    let parent = tempfile::tempdir().unwrap();
    fs::write(parent.path().join("x"), "outside").unwrap();
    fs::create_dir(parent.path().join("d")).unwrap();
    fs::write(parent.path().join("d/y"), "outside too").unwrap();
    let ctx = parent.path().join("ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox:fixture\nCOPY . /ctx/\n",
    )
    .unwrap();
    fs::write(ctx.join("keep"), "keep").unwrap();
    fs::write(
        ctx.join(".dockerignore"),
        "*\n!keep\n!../x\n!../d/**\n!/../x\n!**/../x\n!../../../../etc/passwd\n",
    )
    .unwrap();
    let out = build_out(&s, &["-t", "ign:1", ctx.to_str().unwrap()]);
    if !out.status.success() {
        assert_refusal(&out, ".dockerignore");
        return;
    }
    let layer = top_layer(&s, "ign:1");
    let files: Vec<String> = walk(&layer)
        .iter()
        .map(|p| p.strip_prefix(&layer).unwrap().display().to_string())
        .collect();
    assert!(files.contains(&"ctx/keep".to_string()), "{files:?}");
    for p in walk(&layer) {
        if fs::symlink_metadata(&p).unwrap().is_file() {
            let b = fs::read(&p).unwrap();
            assert!(
                b != b"outside" && b != b"outside too",
                "{} leaked",
                p.display()
            );
        }
    }
    assert!(!files.iter().any(|f| f.contains("passwd")), "{files:?}");
}

#[test]
fn enormous_dockerfile_lines_do_not_hang() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    let big = "a".repeat(10 << 20);
    let started = std::time::Instant::now();
    for df in [
        format!("FROM busybox:fixture\n# {big}\nLABEL ok=1\n"),
        format!("FROM busybox:fixture\nLABEL big={big}\n"),
        format!("FROM busybox:fixture\nENV A={big}\nENV B=$A$A\n"),
        format!("FROM busybox:fixture\nRUN {big}\n"),
        format!("FROM busybox:fixture\nLABEL {}\n", "\\\n".repeat(1 << 20)),
        format!("FROM busybox:fixture\nCOPY {} /\n", "[".repeat(1 << 20)),
    ] {
        fs::write(c.join("Dockerfile"), &df).unwrap();
        let out = build_out(&s, &["-t", "big:1", c.to_str().unwrap()]);
        if !out.status.success() {
            // An error (125), or RUN's own exit code (the kernel refuses a
            // 10 MB argument): never a crash.
            let err = stderr(&out);
            let code = out.status.code();
            assert!(
                code.is_some() && code != Some(101),
                "{code:?}: {}",
                &err[err.len().saturating_sub(500)..]
            );
        }
    }
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn args_referring_to_each_other_do_not_hang() {
    let s = TestStore::new().with_busybox();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    fs::write(
        c.join("Dockerfile"),
        "ARG A=$B\nARG B=$A\nFROM busybox:fixture\nARG A=$B\nARG B=$A\n\
         ARG C=${C:-${C:-$C}}\nENV X=\"$A|$B|$C\"\nLABEL x=\"$X\"\n",
    )
    .unwrap();
    let out = build_out(&s, &["-t", "args:1", c.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "args:1"])).unwrap();
    assert_eq!(v[0]["Config"]["Labels"]["x"], "||");
    // Build args that refer to each other are taken literally.
    let out = build_out(
        &s,
        &[
            "-t",
            "args:2",
            "--build-arg",
            "A=$B",
            "--build-arg",
            "B=$A",
            c.to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&s.ok(&["inspect", "args:2"])).unwrap();
    let x = v[0]["Config"]["Labels"]["x"].as_str().unwrap().to_string();
    assert!(x.len() < 64, "{x}");
}

#[test]
fn copy_from_an_image_resolves_its_symlinks_inside_it() {
    // An image whose `evil` links to the host's root: COPY --from must read
    // the image's /etc, never the host's.
    let s = store().with_busybox();
    let mut t = Vec::new();
    entry(&mut t, "evil", EntryType::Symlink, "/", b"");
    entry(
        &mut t,
        "up",
        EntryType::Symlink,
        "../../../../../../..",
        b"",
    );
    entry(&mut t, "etc/", EntryType::Directory, "", b"");
    entry(
        &mut t,
        "etc/inside",
        EntryType::Regular,
        "",
        b"in the image",
    );
    let files = tempfile::tempdir().unwrap();
    let p = write_file(files.path(), "evil.tar", &end(t));
    s.ok(&["import", p.to_str().unwrap(), "evil:1"]);
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path().to_str().unwrap();
    for src in ["/evil/etc/hostname", "/up/etc/hostname", "/evil/etc/host*"] {
        fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM busybox:fixture\nCOPY --from=evil:1 {src} /x\n"),
        )
        .unwrap();
        assert_refusal(&build_out(&s, &["-t", "leak:1", c]), "no such file");
    }
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nCOPY --from=evil:1 /evil/etc/inside /x\n",
    )
    .unwrap();
    let out = build_out(&s, &["-t", "ok:1", c]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        fs::read(top_layer(&s, "ok:1").join("x")).unwrap(),
        b"in the image"
    );
}

#[test]
fn add_of_a_symlinked_archive_does_not_read_the_host() {
    let s = store().with_busybox();
    let host = tempfile::tempdir().unwrap();
    fs::write(host.path().join("secret"), "host secret").unwrap();
    let mut b = tar::Builder::new(Vec::new());
    b.append_path_with_name(host.path().join("secret"), "secret")
        .unwrap();
    let archive = write_file(host.path(), "host.tar", &b.into_inner().unwrap());
    let ctx = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(&archive, ctx.path().join("evil.tar")).unwrap();
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nADD evil.tar /\n",
    )
    .unwrap();
    let out = build_out(&s, &["-t", "add:1", ctx.path().to_str().unwrap()]);
    if out.status.success() {
        assert!(
            !top_layer(&s, "add:1").join("secret").exists(),
            "ADD unpacked a host archive through a symlink in the context"
        );
    }
}

#[test]
fn gzipped_archive_bomb_stops_at_the_limit_on_load() {
    let s = store();
    let (_files, path) = gzip_bomb();
    let before = snapshot(&s);
    let out = s
        .cmd()
        .args(["load", "-i", path.to_str().unwrap()])
        .env("SKIFF_MAX_LAYER_BYTES", "1M")
        .output()
        .unwrap();
    let err = assert_refusal(&out, "more than 1048576 bytes");
    assert!(err.contains("SKIFF_MAX_LAYER_BYTES"), "{err}");
    assert_eq!(before, snapshot(&s), "the disk is reclaimed");
    assert_eq!(fs::read_dir(s.root().join("tmp")).unwrap().count(), 0);
}

// ---------------------------------------------------------------- Dockerfile 1.4+ input

/// Heredocs, mounts, secrets and ONBUILD that are wrong: each is refused
/// with its file and line, and the store is left as it was.
#[test]
fn hostile_heredocs_mounts_and_secrets_are_refused_and_change_nothing() {
    let s = store();
    s.ok(&[
        "import",
        fixtures().join("busybox.tar").to_str().unwrap(),
        "busybox:fixture",
    ]);
    let ctx = tempfile::tempdir().unwrap();
    let long = "x".repeat(100_000);
    let cases: Vec<(String, &str)> = vec![
        ("RUN <<EOF\necho never closed\n".into(), "Dockerfile:2: the heredoc <<EOF is never closed"),
        ("COPY <<EOF\nx\nEOF\n".into(), "Dockerfile:2: COPY: a heredoc is a source; the destination comes last"),
        ("RUN --mount=type=cache,target=/ true".into(), "Dockerfile:2: RUN --mount=type=cache,target=/: a cache mount cannot have / as its target"),
        ("RUN --mount=type=ssh true".into(), "Dockerfile:2: RUN --mount=type=ssh: RUN --mount=type=ssh is not supported"),
        (format!("RUN --mount=type=cache,target=/x,{long}=1 true"), "Dockerfile:2: RUN --mount=type=cache"),
        ("RUN --mount=type=secret,id=tok,required true".into(), "Dockerfile:2: RUN: --mount: the secret \"tok\" is required but was not given"),
        ("RUN --mount=type=bind,source=../../../../etc/shadow,target=/x true".into(), "Dockerfile:2: RUN: --mount: the mount source \"../../../../etc/shadow\" does not exist"),
        ("ONBUILD ONBUILD RUN true".into(), "Dockerfile:2: ONBUILD ONBUILD is not allowed"),
    ];
    for (line, needle) in cases {
        fs::write(
            ctx.path().join("Dockerfile"),
            format!("FROM busybox:fixture\n{line}\n"),
        )
        .unwrap();
        let before = snapshot(&s);
        let out = s.run(&["build", "-t", "hostile:1", ctx.path().to_str().unwrap()]);
        assert_refusal(&out, needle);
        assert_eq!(before, snapshot(&s), "store changed by {needle}");
    }
    // A --secret whose file does not exist: refused before anything is read.
    fs::write(
        ctx.path().join("Dockerfile"),
        "FROM busybox:fixture\nRUN true\n",
    )
    .unwrap();
    let before = snapshot(&s);
    let out = s.run(&[
        "build",
        "--secret",
        "id=a,src=/nonexistent/secret",
        "-t",
        "hostile:1",
        ctx.path().to_str().unwrap(),
    ]);
    assert_refusal(&out, "/nonexistent/secret");
    assert_eq!(before, snapshot(&s));
    fsck_sound(&s);
}

// ---------- seccomp profiles ----------

/// `--security-opt seccomp=` with a device, a huge file, deeply nested JSON:
/// a clear refusal, nothing created, nothing read without bound.
#[test]
fn hostile_seccomp_profiles_are_refused() {
    let s = TestStore::new().with_busybox();
    let dir = tempfile::tempdir().unwrap();
    let huge = write_file(dir.path(), "huge.json", &vec![b' '; 2 << 20]);
    let nested = write_file(
        dir.path(),
        "nested.json",
        format!("{}{}", "[".repeat(100_000), "]".repeat(100_000)).as_bytes(),
    );
    let before = snapshot(&s);
    for (path, needle) in [
        (PathBuf::from("/dev/zero"), "not a regular file"),
        (huge, "larger than 1048576 bytes"),
        (nested, "not valid JSON"),
    ] {
        let opt = format!("seccomp={}", path.display());
        let o = s.run(&["run", "--security-opt", &opt, "busybox:fixture", "true"]);
        let err = assert_refusal(&o, needle);
        assert!(err.contains(&path.display().to_string()), "{err}");
    }
    assert_eq!(before, snapshot(&s), "the store changed");
}

#[test]
fn a_corrupt_event_log_is_skipped_line_by_line() {
    let s = TestStore::new().with_busybox();
    let log = s.root().join("events.log");
    let mut junk: Vec<u8> = Vec::new();
    junk.extend_from_slice(b"\x00\xff\xfe not json at all\n");
    junk.extend_from_slice(b"{\"Type\":\"container\",\"Action\":\"st\n"); // cut
    junk.extend_from_slice(b"[1,2,3]\n");
    junk.extend_from_slice(b"{\"Type\":1,\"Action\":{}}\n");
    junk.extend_from_slice(&vec![b'x'; 2 << 20]); // one 2 MiB line
    junk.push(b'\n');
    junk.extend_from_slice(b"{\"Type\":\"image\",\"Act"); // a crash mid-line, no newline
    fs::OpenOptions::new()
        .append(true)
        .open(&log)
        .unwrap()
        .write_all(&junk)
        .unwrap();
    s.ok(&["tag", "busybox:fixture", "after:1"]);
    let out = s.run(&["events", "--no-follow"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 2, "import and tag survive: {text}");
    assert!(text.lines().last().unwrap().contains("image tag"), "{text}");
    let err = stderr(&out);
    let warned: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("skipped a corrupt event"))
        .collect();
    assert_eq!(warned.len(), 6, "{err}");
    assert!(warned[0].contains("events.log:2"), "{err}");
    assert!(warned.iter().all(|l| l.len() < 400), "warnings stay short");
    // Metrics read the same log (for deploy counts) and still answer.
    let m = s.run(&["metrics"]);
    assert!(m.status.success(), "{}", stderr(&m));
}

#[test]
fn a_container_cannot_drive_the_terminal_through_top() {
    let s = TestStore::new().with_busybox();
    // The container's command line carries escape sequences (clear screen,
    // set the window title).
    let evil = "sleep 1000; true # \x1b[2J\x1b]0;pwned\x07\u{9b}31m";
    s.ok(&[
        "run",
        "-d",
        "--name",
        "evil",
        "busybox:fixture",
        "sh",
        "-c",
        evil,
    ]);
    let top = s.ok(&["top", "evil"]);
    assert!(
        top.contains("sleep 1000; true # ?[2J?]0;pwned??31m"),
        "{top}"
    );
    assert!(!top.chars().any(|c| c.is_control() && c != '\n'), "{top:?}");
    s.ok(&["rm", "-f", "evil"]);
}

// ---------- env files ----------

#[test]
fn env_files_with_a_nul_byte_or_a_huge_line_are_refused() {
    let s = store();
    let dir = tempfile::tempdir().unwrap();
    let before = snapshot(&s);
    let nul = write_file(dir.path(), "nul.env", b"A=1\nB=x\0y\n");
    let o = s.run(&[
        "run",
        "--rm",
        "--env-file",
        nul.to_str().unwrap(),
        "busybox:fixture",
        "true",
    ]);
    let e = assert_refusal(&o, "NUL");
    assert!(e.contains("line 2") && e.contains("nul.env"), "{e}");
    let mut big = b"A=".to_vec();
    big.resize(1 << 20, b'x');
    big.push(b'\n');
    let huge = write_file(dir.path(), "huge.env", &big);
    let o = s.run(&[
        "run",
        "-d",
        "--env-file",
        huge.to_str().unwrap(),
        "busybox:fixture",
        "true",
    ]);
    let e = assert_refusal(&o, "longer than");
    assert!(e.contains("line 1"), "{e}");
    let bad = write_file(dir.path(), "bad.env", b"A=1\n\xff\xfe=2\n");
    let o = s.run(&[
        "run",
        "--rm",
        "--env-file",
        bad.to_str().unwrap(),
        "busybox:fixture",
        "true",
    ]);
    assert_refusal(&o, "UTF-8");
    assert_eq!(snapshot(&s), before, "no container was created");
}

/// Compose files: an alias bomb is refused quickly with the file and
/// line, and bad volume names never reach the store.
#[test]
fn compose_alias_bombs_and_volume_names_are_refused() {
    let s = store();
    let dir = tempfile::tempdir().unwrap();
    let mut bomb = String::from("x-a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for (i, c) in ["b", "c", "d", "e", "f", "g", "h", "i"].iter().enumerate() {
        let prev = ["a", "b", "c", "d", "e", "f", "g", "h"][i];
        bomb.push_str(&format!(
            "x-{c}: &{c} [{}]\n",
            vec![format!("*{prev}"); 9].join(", ")
        ));
    }
    bomb.push_str("services:\n  a:\n    image: x\n    command: *i\n");
    let file = write_file(dir.path(), "compose.yaml", bomb.as_bytes());
    let before = snapshot(&s);
    let t0 = std::time::Instant::now();
    let out = s.run(&["compose", "-f", file.to_str().unwrap(), "config"]);
    assert!(t0.elapsed() < std::time::Duration::from_secs(20));
    let err = assert_refusal(&out, "compose.yaml:");
    assert!(
        err.contains("alias") || err.contains("invalid YAML"),
        "{err}"
    );
    for bad in ["../x", "a/b", "..", ".hidden"] {
        let out = s.run(&["volume", "create", bad]);
        assert_refusal(&out, "invalid volume name");
    }
    let out = s.run(&[
        "run",
        "--rm",
        "-v",
        "etc/../x:/x",
        "busybox:fixture",
        "true",
    ]);
    assert_refusal(&out, "invalid volume");
    assert_eq!(before, snapshot(&s));
}

// ---------- hostile replica counts and service names ----------

/// `run --replicas` and `scale` refuse a count or a name they cannot use
/// before anything is written: no container, no journal, no lock file,
/// and the running service is left as it was.
#[test]
fn hostile_replica_counts_and_service_names_change_nothing() {
    let s = TestStore::new().with_busybox();
    s.ok(&[
        "run",
        "-d",
        "--name",
        "api",
        "--replicas",
        "1",
        "busybox:fixture",
        "sleep",
        "120",
    ]);
    let before = snapshot(&s);
    let counts = [
        "0",
        "257",
        "10000",
        "99999999999999999999",
        "-1",
        "2x",
        " 2",
        "1e3",
        "0x2",
        "max2",
        "",
    ];
    for n in counts {
        let replicas = format!("--replicas={n}");
        let o = s.run(&[
            "run",
            "-d",
            "--name",
            "web",
            &replicas,
            "busybox:fixture",
            "true",
        ]);
        assert_refusal(&o, "replica count");
        assert_refusal(&s.run(&["scale", &format!("api={n}")]), "replica count");
    }
    for name in ["../../etc", "api/../x", ".", "..", "a b", "-x", "api\n"] {
        let o = s.run(&[
            "run",
            "-d",
            &format!("--name={name}"),
            "--replicas",
            "2",
            "busybox:fixture",
            "true",
        ]);
        assert_refusal(&o, "invalid");
        assert_refusal(&s.run(&["scale", "--", &format!("{name}=2")]), "invalid");
    }
    for (arg, needle) in [
        ("api.1=2", "no service"),
        ("nope=2", "no service"),
        ("api", "SERVICE=N"),
        ("api=2=3", "replica count"),
        ("=2", "invalid"),
    ] {
        assert_refusal(&s.run(&["scale", arg]), needle);
    }
    assert_eq!(before, snapshot(&s));
    assert!(
        !s.root().join("deploy/api/replicas.json").exists(),
        "a journal was left"
    );
    let ps = s.ok(&["ps", "-a"]);
    assert_eq!(ps.lines().count(), 2, "{ps}");
    assert!(ps.contains("api.1") && ps.contains("Up"), "{ps}");
    s.ok(&["rm", "-f", "api"]);
}
