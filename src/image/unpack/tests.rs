use super::meta::parse_pax_time;
use super::*;
use std::fs;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use tar::EntryType;
use tar::{Builder, Header};

/// A ustar header with the name written raw (no validation), for hostile names.
fn raw_entry(out: &mut Vec<u8>, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) {
    let mut h = Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_link_name_literal(link).unwrap();
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
    out.resize(out.len().div_ceil(512) * 512, 0);
}

fn end(mut v: Vec<u8>) -> Vec<u8> {
    v.extend_from_slice(&[0u8; 1024]);
    v
}

#[allow(clippy::too_many_arguments)]
fn add(
    b: &mut Builder<Vec<u8>>,
    path: &str,
    kind: EntryType,
    mode: u32,
    owner: (u64, u64),
    mtime: u64,
    link: Option<&str>,
    data: &[u8],
    xattrs: &[(&str, &[u8])],
) {
    if !xattrs.is_empty() {
        let recs: Vec<(String, &[u8])> = xattrs
            .iter()
            .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
            .collect();
        b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
            .unwrap();
    }
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(owner.0);
    h.set_gid(owner.1);
    h.set_mtime(mtime);
    h.set_size(data.len() as u64);
    match link {
        Some(l) => b.append_link(&mut h, path, l).unwrap(),
        None => b.append_data(&mut h, path, data).unwrap(),
    }
}

fn dev(b: &mut Builder<Vec<u8>>, path: &str, kind: EntryType, mode: u32, major: u32, minor: u32) {
    let mut h = Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_mtime(77);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    h.set_device_major(major).unwrap();
    h.set_device_minor(minor).unwrap();
    b.append_data(&mut h, path, io::empty()).unwrap();
}

fn getx(p: &Path, name: &str) -> Option<Vec<u8>> {
    crate::sys::xattr::get(p, name.as_bytes()).ok().flatten()
}

fn md(p: &Path) -> fs::Metadata {
    fs::symlink_metadata(p).unwrap()
}

fn unpack(tar: &[u8], dest: &Path) -> Result<UnpackStats, UnpackError> {
    unpack_layer(tar, dest, &UnpackOptions::default())
}

#[test]
fn normal_tree_with_every_entry_type() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let mut b = Builder::new(Vec::new());
    let none: &[(&str, &[u8])] = &[];
    add(
        &mut b,
        "./",
        EntryType::Directory,
        0o751,
        (0, 0),
        5000,
        None,
        b"",
        none,
    );
    add(
        &mut b,
        "d/",
        EntryType::Directory,
        0o750,
        (1, 2),
        1000,
        None,
        b"",
        &[("trusted.t", b"dir")],
    );
    add(
        &mut b,
        "d/f",
        EntryType::Regular,
        0o4755,
        (1000, 1001),
        2000,
        None,
        b"hello",
        &[("user.u", b"v\0bin")],
    );
    add(
        &mut b,
        "d/sl",
        EntryType::Symlink,
        0o777,
        (5, 6),
        4000,
        Some("f"),
        b"",
        &[("trusted.s", b"sym")],
    );
    add(
        &mut b,
        "d/hl",
        EntryType::Link,
        0o4755,
        (1000, 1001),
        2000,
        Some("d/f"),
        b"",
        none,
    );
    add(
        &mut b,
        "ro/",
        EntryType::Directory,
        0o555,
        (0, 0),
        3000,
        None,
        b"",
        none,
    );
    add(
        &mut b,
        "ro/inner",
        EntryType::Regular,
        0o400,
        (0, 0),
        3001,
        None,
        b"x",
        none,
    );
    add(
        &mut b,
        "sticky/",
        EntryType::Directory,
        0o1777,
        (0, 0),
        3002,
        None,
        b"",
        none,
    );
    add(
        &mut b,
        "implicit/deep/file",
        EntryType::Regular,
        0o2644,
        (7, 8),
        3003,
        None,
        b"deep",
        none,
    );
    add(
        &mut b,
        "over/trusted",
        EntryType::Regular,
        0o644,
        (0, 0),
        3004,
        None,
        b"",
        &[("trusted.overlay.redirect", b"/x")],
    );
    dev(&mut b, "dev/null", EntryType::Char, 0o666, 1, 3);
    dev(&mut b, "dev/loop0", EntryType::Block, 0o660, 7, 0);
    dev(&mut b, "fifo", EntryType::Fifo, 0o640, 0, 0);
    let mut tar = b.into_inner().unwrap();
    // An absolute name lands inside, as with docker.
    let mut abs = Vec::new();
    raw_entry(&mut abs, b"/abs/./file", EntryType::Regular, b"", b"abs");
    tar.truncate(tar.len() - 1024);
    tar.extend_from_slice(&abs);
    let tar = end(tar);

    let stats = unpack(&tar, &dest).unwrap();
    assert_eq!(stats.entries, 14);
    assert_eq!(stats.bytes, 5 + 1 + 4 + 3);
    assert_eq!(stats.tar_bytes, tar.len() as u64);

    let m = md(&dest);
    assert_eq!((m.mode() & 0o7777, m.mtime()), (0o751, 5000));
    let m = md(&dest.join("d"));
    assert!(m.is_dir());
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
        (0o750, 1, 2, 1000)
    );
    assert_eq!(getx(&dest.join("d"), "trusted.t").unwrap(), b"dir");
    let f = md(&dest.join("d/f"));
    assert_eq!(
        (f.mode() & 0o7777, f.uid(), f.gid(), f.mtime(), f.nlink()),
        (0o4755, 1000, 1001, 2000, 2)
    );
    assert_eq!(fs::read(dest.join("d/f")).unwrap(), b"hello");
    assert_eq!(getx(&dest.join("d/f"), "user.u").unwrap(), b"v\0bin");
    assert_eq!(md(&dest.join("d/hl")).ino(), f.ino());
    let s = md(&dest.join("d/sl"));
    assert!(s.file_type().is_symlink());
    assert_eq!((s.uid(), s.gid(), s.mtime()), (5, 6, 4000));
    assert_eq!(fs::read_link(dest.join("d/sl")).unwrap(), Path::new("f"));
    assert_eq!(getx(&dest.join("d/sl"), "trusted.s").unwrap(), b"sym");
    let ro = md(&dest.join("ro"));
    assert_eq!((ro.mode() & 0o7777, ro.mtime()), (0o555, 3000));
    assert_eq!(md(&dest.join("ro/inner")).mode() & 0o7777, 0o400);
    assert_eq!(md(&dest.join("sticky")).mode() & 0o7777, 0o1777);
    let deep = md(&dest.join("implicit/deep/file"));
    assert_eq!(
        (deep.mode() & 0o7777, deep.uid(), deep.gid()),
        (0o2644, 7, 8)
    );
    assert_eq!(md(&dest.join("implicit")).mode() & 0o7777, 0o755);
    assert_eq!(
        getx(&dest.join("over/trusted"), "trusted.overlay.redirect"),
        None
    );
    let n = md(&dest.join("dev/null"));
    assert!(n.file_type().is_char_device());
    assert_eq!(
        (n.rdev(), n.mode() & 0o7777, n.mtime()),
        (libc::makedev(1, 3), 0o666, 77)
    );
    let l = md(&dest.join("dev/loop0"));
    assert!(l.file_type().is_block_device());
    assert_eq!((l.rdev(), l.mode() & 0o7777), (libc::makedev(7, 0), 0o660));
    let p = md(&dest.join("fifo"));
    assert!(p.file_type().is_fifo());
    assert_eq!(p.mode() & 0o7777, 0o640);
    assert_eq!(fs::read(dest.join("abs/file")).unwrap(), b"abs");
}

#[test]
fn whiteouts_and_opaque_dirs() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    fs::create_dir(&dest).unwrap();
    let mut t = Vec::new();
    raw_entry(&mut t, b"a/", EntryType::Directory, b"", b"");
    raw_entry(&mut t, b"a/.wh.gone", EntryType::Regular, b"", b"");
    raw_entry(&mut t, b"a/keep", EntryType::Regular, b"", b"k");
    raw_entry(&mut t, b"b/.wh..wh..opq", EntryType::Regular, b"", b"");
    raw_entry(&mut t, b"b/new", EntryType::Regular, b"", b"n");
    raw_entry(&mut t, b".wh.top", EntryType::Regular, b"", b"");
    raw_entry(&mut t, b"c/.wh..wh.plnk", EntryType::Directory, b"", b"");
    let stats = unpack(&end(t), &dest).unwrap();
    assert_eq!(stats.entries, 7);
    for w in ["a/gone", "top"] {
        let m = md(&dest.join(w));
        assert!(m.file_type().is_char_device(), "{w}");
        assert_eq!(m.rdev(), 0);
    }
    assert_eq!(
        getx(&dest.join("b"), "trusted.overlay.opaque").unwrap(),
        b"y"
    );
    assert_eq!(getx(&dest.join("a"), "trusted.overlay.opaque"), None);
    assert_eq!(fs::read(dest.join("b/new")).unwrap(), b"n");
    let mut names: Vec<String> = Vec::new();
    for p in ["", "a", "b"] {
        for e in fs::read_dir(dest.join(p)).unwrap() {
            names.push(e.unwrap().file_name().to_string_lossy().into_owned());
        }
    }
    assert!(names.iter().all(|n| !n.starts_with(".wh.")), "{names:?}");
}

#[test]
fn later_entries_replace_earlier_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    let outside = tmp.path().join("outside");
    fs::create_dir(&dest).unwrap();
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"secret").unwrap();
    let secret = outside.join("secret");
    let mut t = Vec::new();
    raw_entry(&mut t, b"x", EntryType::Regular, b"", b"file");
    raw_entry(&mut t, b"x", EntryType::Symlink, b"", b"");
    raw_entry(&mut t, b"y/", EntryType::Directory, b"", b"");
    raw_entry(&mut t, b"y/z", EntryType::Regular, b"", b"z");
    raw_entry(&mut t, b"y", EntryType::Regular, b"", b"now a file");
    raw_entry(
        &mut t,
        b"w",
        EntryType::Symlink,
        outside.as_os_str().as_bytes(),
        b"",
    );
    raw_entry(&mut t, b"w/", EntryType::Directory, b"", b"");
    raw_entry(
        &mut t,
        b"s",
        EntryType::Symlink,
        secret.as_os_str().as_bytes(),
        b"",
    );
    raw_entry(&mut t, b"s", EntryType::Regular, b"", b"overwritten?");
    raw_entry(
        &mut t,
        b"h",
        EntryType::Symlink,
        secret.as_os_str().as_bytes(),
        b"",
    );
    raw_entry(&mut t, b"hl", EntryType::Link, b"h", b"");
    raw_entry(&mut t, b"fifo", EntryType::Fifo, b"", b"");
    // Symlink target is the link name; rewrite x's to "target".
    let mut t2 = Vec::new();
    raw_entry(&mut t2, b"x", EntryType::Regular, b"", b"file");
    raw_entry(&mut t2, b"x", EntryType::Symlink, b"target", b"");
    t2.extend_from_slice(&t[1536..]);
    unpack(&end(t2), &dest).unwrap();
    assert_eq!(fs::read_link(dest.join("x")).unwrap(), Path::new("target"));
    assert_eq!(fs::read(dest.join("y")).unwrap(), b"now a file");
    assert!(md(&dest.join("w")).is_dir());
    assert_eq!(fs::read(dest.join("s")).unwrap(), b"overwritten?");
    assert!(md(&dest.join("hl")).file_type().is_symlink());
    assert!(md(&dest.join("fifo")).file_type().is_fifo());
    assert_eq!(md(&dest.join("hl")).ino(), md(&dest.join("h")).ino());
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
    assert_eq!(md(&secret).nlink(), 1);
    assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
}

/// Everything under `root` except `skip`: path, mode, owner, size, mtime,
/// links, content.
type Snap = Vec<(PathBuf, u32, u32, u64, i64, i64, u64, Vec<u8>)>;
fn snapshot(root: &Path, skip: &Path) -> Snap {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let m = md(&p);
        let content = if m.is_file() {
            fs::read(&p).unwrap()
        } else if m.file_type().is_symlink() {
            fs::read_link(&p).unwrap().into_os_string().into_vec()
        } else {
            Vec::new()
        };
        out.push((
            p.clone(),
            m.mode(),
            m.uid(),
            m.len(),
            m.mtime(),
            m.mtime_nsec(),
            m.nlink(),
            content,
        ));
        if m.is_dir() {
            for e in fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if e != skip {
                    stack.push(e);
                }
            }
        }
    }
    out.sort();
    out
}
use std::os::unix::ffi::OsStringExt;

struct Canary {
    tmp: tempfile::TempDir,
    dest: PathBuf,
    outside: PathBuf,
}

fn canary() -> Canary {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("a/b/dest");
    fs::create_dir_all(&dest).unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    fs::write(outside.join("secret"), b"secret").unwrap();
    Canary { tmp, dest, outside }
}

fn assert_refused(name: &str, tar: Vec<u8>) {
    let c = canary();
    let before = snapshot(c.tmp.path(), &c.dest);
    let passwd = md(Path::new("/etc/passwd"));
    let tar = end(tar);
    match unpack(&tar, &c.dest) {
        Err(UnpackError::Refused { entry, reason }) => {
            assert!(
                entry.contains(name),
                "{name}: refused entry {entry:?} ({reason})"
            );
        }
        other => panic!("{name}: expected refusal, got {other:?}"),
    }
    assert_eq!(
        snapshot(c.tmp.path(), &c.dest),
        before,
        "{name}: something outside dest changed"
    );
    let after = md(Path::new("/etc/passwd"));
    assert_eq!(
        (after.nlink(), after.mtime(), after.ino()),
        (passwd.nlink(), passwd.mtime(), passwd.ino())
    );
}

#[test]
fn hostile_paths_are_refused() {
    for name in [
        &b"../x"[..],
        b"/abs/../../x",
        b"a/../../x",
        b"./../x",
        b"a/./../..",
    ] {
        let mut t = Vec::new();
        raw_entry(&mut t, name, EntryType::Regular, b"", b"pwned");
        assert_refused(std::str::from_utf8(name).unwrap(), t);
    }
    let mut t = Vec::new();
    raw_entry(&mut t, b"../d/", EntryType::Directory, b"", b"");
    assert_refused("../d", t);
}

#[test]
fn writing_through_symlinks_is_refused() {
    let c = canary();
    let out = c.outside.as_os_str().as_bytes();
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("evil/pwned", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
            raw_entry(&mut t, b"evil/pwned", EntryType::Regular, b"", b"pwned");
            t
        }),
        ("evil/outside/pwned", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, b"../../..", b"");
            raw_entry(
                &mut t,
                b"evil/outside/pwned",
                EntryType::Regular,
                b"",
                b"pwned",
            );
            t
        }),
        ("evil/pwned", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, b"../../..", b"");
            raw_entry(&mut t, b"evil/pwned", EntryType::Regular, b"", b"pwned");
            t
        }),
        ("evil/sub", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
            raw_entry(&mut t, b"evil/sub/", EntryType::Directory, b"", b"");
            t
        }),
        ("evil/.wh..wh..opq", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
            raw_entry(&mut t, b"evil/.wh..wh..opq", EntryType::Regular, b"", b"");
            t
        }),
        ("evil/.wh.secret", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
            raw_entry(&mut t, b"evil/.wh.secret", EntryType::Regular, b"", b"");
            t
        }),
        ("evil/secret", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
            raw_entry(
                &mut t,
                b"evil/secret",
                EntryType::Symlink,
                b"/etc/shadow",
                b"",
            );
            t
        }),
        ("d/evil/x", {
            let mut t = Vec::new();
            raw_entry(&mut t, b"d/evil", EntryType::Symlink, b"..", b"");
            raw_entry(
                &mut t,
                b"d/evil/x",
                EntryType::Regular,
                b"",
                b"inside but via symlink",
            );
            t
        }),
    ];
    drop(c);
    for (name, tar) in cases {
        // The canary dir differs per call but is at the same relative
        // place; rebuild absolute targets against each fresh canary.
        assert_refused_with_outside(name, tar);
    }
}

/// Like `assert_refused`, with absolute symlink targets pointing at this
/// canary's `outside` (the cases were built against another tempdir).
fn assert_refused_with_outside(name: &str, tar: Vec<u8>) {
    let c = canary();
    let mut t = Vec::new();
    let mut off = 0;
    while off < tar.len() {
        let mut h = Header::new_old();
        h.as_mut_bytes().copy_from_slice(&tar[off..off + 512]);
        let size = h.entry_size().unwrap() as usize;
        let name_b = h.path_bytes().into_owned();
        let link = h
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let link = if link.ends_with(b"/outside") {
            c.outside.as_os_str().as_bytes().to_vec()
        } else {
            link
        };
        let data = tar[off + 512..off + 512 + size].to_vec();
        raw_entry(&mut t, &name_b, h.entry_type(), &link, &data);
        off += 512 + size.div_ceil(512) * 512;
    }
    let before = snapshot(c.tmp.path(), &c.dest);
    match unpack(&end(t), &c.dest) {
        Err(UnpackError::Refused { entry, reason }) => {
            assert!(
                entry.contains(name),
                "{name}: refused entry {entry:?} ({reason})"
            );
            assert!(reason.contains("symlink"), "{name}: {reason}");
        }
        other => panic!("{name}: expected refusal, got {other:?}"),
    }
    assert_eq!(
        snapshot(c.tmp.path(), &c.dest),
        before,
        "{name}: something outside dest changed"
    );
}

#[test]
fn hostile_hardlinks_are_refused() {
    let mut t = Vec::new();
    raw_entry(&mut t, b"h", EntryType::Link, b"../../etc/passwd", b"");
    assert_refused("h", t);
    let mut t = Vec::new();
    raw_entry(&mut t, b"h", EntryType::Link, b"/etc/passwd", b"");
    assert_refused("h", t); // resolved inside the layer, where it does not exist
    let mut t = Vec::new();
    raw_entry(&mut t, b"s", EntryType::Symlink, b"/tmp/outside", b"");
    raw_entry(&mut t, b"h", EntryType::Link, b"s/secret", b"");
    assert_refused_with_outside("h", t);
    let mut t = Vec::new();
    raw_entry(&mut t, b"s", EntryType::Symlink, b"/etc", b"");
    raw_entry(&mut t, b"h", EntryType::Link, b"s/passwd", b"");
    assert_refused("h", t);
    let mut t = Vec::new();
    raw_entry(&mut t, b"d/", EntryType::Directory, b"", b"");
    raw_entry(&mut t, b"h", EntryType::Link, b"d", b"");
    assert_refused("h", t);
}

#[test]
fn truncated_and_corrupt_tars_are_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = Builder::new(Vec::new());
    add(
        &mut b,
        "big",
        EntryType::Regular,
        0o644,
        (0, 0),
        1,
        None,
        &[7u8; 10_000],
        &[],
    );
    add(
        &mut b,
        "after",
        EntryType::Regular,
        0o644,
        (0, 0),
        1,
        None,
        b"a",
        &[],
    );
    let tar = b.into_inner().unwrap();
    for cut in [300, 512 + 3000, 512 + 10_240 + 100] {
        let dest = tmp.path().join(format!("d{cut}"));
        fs::create_dir(&dest).unwrap();
        let err = unpack(&tar[..cut], &dest).unwrap_err();
        assert!(
            matches!(
                err,
                UnpackError::Truncated { .. }
                    | UnpackError::Corrupt(_)
                    | UnpackError::CorruptEntry { .. }
            ),
            "cut {cut}: {err:?}"
        );
    }
    // A PAX size larger than the data present.
    let mut b = Builder::new(Vec::new());
    b.append_pax_extensions([("size", &b"20000"[..])]).unwrap();
    add(
        &mut b,
        "paxbig",
        EntryType::Regular,
        0o644,
        (0, 0),
        1,
        None,
        &[1u8; 100],
        &[],
    );
    let tar = b.into_inner().unwrap();
    let dest = tmp.path().join("pax");
    fs::create_dir(&dest).unwrap();
    let err = unpack(&tar, &dest).unwrap_err();
    assert!(
        matches!(err, UnpackError::Truncated { ref entry, expected: 20000, .. } if entry == "paxbig"),
        "{err:?}"
    );
    // A bad checksum.
    let mut t = Vec::new();
    raw_entry(&mut t, b"f", EntryType::Regular, b"", b"x");
    t[0] = b'g';
    let dest = tmp.path().join("ck");
    fs::create_dir(&dest).unwrap();
    assert!(matches!(
        unpack(&end(t), &dest).unwrap_err(),
        UnpackError::Corrupt(_)
    ));
}

#[test]
fn unsupported_entry_type_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    raw_entry(&mut t, b"vol", EntryType::new(b'V'), b"", b"");
    let err = unpack(&end(t), tmp.path()).unwrap_err();
    assert!(
        matches!(err, UnpackError::Unsupported { ref entry, .. } if entry == "vol"),
        "{err:?}"
    );
    assert!(err.to_string().contains("'V'"), "{err}");
}

#[test]
fn malformed_pax_sizes_are_refused() {
    for bad in ["-1", "", "12x", "99999999999999999999999"] {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Builder::new(Vec::new());
        b.append_pax_extensions([("size", bad.as_bytes())]).unwrap();
        add(
            &mut b,
            "f",
            EntryType::Regular,
            0o644,
            (0, 0),
            1,
            None,
            b"x",
            &[],
        );
        let tar = b.into_inner().unwrap();
        let err = unpack(&tar, tmp.path()).unwrap_err();
        assert!(err.to_string().contains("PAX size"), "{bad:?}: {err}");
    }
}

#[test]
fn max_bytes_is_enforced() {
    let tmp = tempfile::tempdir().unwrap();
    let mut b = Builder::new(Vec::new());
    add(
        &mut b,
        "zeros",
        EntryType::Regular,
        0o644,
        (0, 0),
        1,
        None,
        &vec![0u8; 1 << 20],
        &[],
    );
    let tar = b.into_inner().unwrap();
    let dest = tmp.path().join("small");
    fs::create_dir(&dest).unwrap();
    let err = unpack_layer(
        &tar[..],
        &dest,
        &UnpackOptions {
            max_bytes: Some(100_000),
        },
    )
    .unwrap_err();
    assert!(
        matches!(err, UnpackError::TooLarge { limit: 100_000 }),
        "{err:?}"
    );
    assert!(err.to_string().contains("100000"));
    let dest = tmp.path().join("ok");
    fs::create_dir(&dest).unwrap();
    let stats = unpack_layer(
        &tar[..],
        &dest,
        &UnpackOptions {
            max_bytes: Some(tar.len() as u64),
        },
    )
    .unwrap();
    assert_eq!(stats.bytes, 1 << 20);
}

#[test]
fn gzip_is_sniffed() {
    let tmp = tempfile::tempdir().unwrap();
    let mut t = Vec::new();
    raw_entry(&mut t, b"f", EntryType::Regular, b"", b"gz");
    let tar = end(t);
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    for (i, input) in [&gz[..], &tar[..]].into_iter().enumerate() {
        let dest = tmp.path().join(i.to_string());
        fs::create_dir(&dest).unwrap();
        unpack_layer(
            decompressed(input).unwrap(),
            &dest,
            &UnpackOptions::default(),
        )
        .unwrap();
        assert_eq!(fs::read(dest.join("f")).unwrap(), b"gz");
    }
    let zstd = [0x28u8, 0xb5, 0x2f, 0xfd, 0, 0];
    assert!(matches!(
        decompressed(&zstd[..]),
        Err(UnpackError::UnsupportedCompression("zstd"))
    ));
}

#[test]
fn pax_time_parsing() {
    let t = parse_pax_time(b"1700000000.5").unwrap();
    assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
    let t = parse_pax_time(b"-1.25").unwrap();
    assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
    assert!(parse_pax_time(b"x").is_none());
}
