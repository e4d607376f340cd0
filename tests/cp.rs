//! `skiff cp` end to end: host <-> running and stopped containers, docker's
//! naming rules, tar streams, owners and modes. (Escape attempts through
//! `cp` are in tests/escape.rs.)

mod common;

use common::*;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Stdio;

/// Removes the store's containers when dropped (also when the test fails):
/// supervisors would outlive the test otherwise.
struct Reaper<'a>(&'a TestStore);

impl Drop for Reaper<'_> {
    fn drop(&mut self) {
        let ids = self.0.run(&["ps", "-a", "-q"]);
        for id in String::from_utf8_lossy(&ids.stdout).split_whitespace() {
            let _ = self.0.run(&["rm", "-f", id]);
        }
    }
}

fn running(s: &TestStore, name: &str) {
    s.ok(&[
        "run",
        "-d",
        "--name",
        name,
        "busybox:fixture",
        "sleep",
        "600",
    ]);
}

fn exec(s: &TestStore, c: &str, script: &str) -> String {
    s.ok(&["exec", c, "sh", "-c", script])
}

/// A host tree: a.txt (0640, 1000:1000), sub/b (0755), link -> /etc/passwd.
fn host_tree(dir: &Path) -> std::path::PathBuf {
    let t = dir.join("tree");
    std::fs::create_dir_all(t.join("sub")).unwrap();
    std::fs::write(t.join("a.txt"), "alpha\n").unwrap();
    std::fs::set_permissions(t.join("a.txt"), std::fs::Permissions::from_mode(0o640)).unwrap();
    std::os::unix::fs::chown(t.join("a.txt"), Some(1000), Some(1000)).unwrap();
    std::fs::write(t.join("sub/b"), "#!/bin/sh\necho b\n").unwrap();
    std::fs::set_permissions(t.join("sub/b"), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", t.join("link")).unwrap();
    t
}

#[test]
fn host_to_running_container_keeps_modes_and_gives_files_to_root() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    running(&s, "cp1");
    let tmp = tempfile::tempdir().unwrap();
    let t = host_tree(tmp.path());
    let ts = t.to_str().unwrap();
    s.ok(&["cp", ts, "cp1:/srv"]); // /srv missing: becomes the copy
    s.ok(&["exec", "cp1", "mkdir", "/data"]);
    s.ok(&["cp", ts, "cp1:/data"]); // a directory: the tree goes inside
    let out = exec(
        &s,
        "cp1",
        "stat -c '%n %a %u:%g' /srv/a.txt /srv/sub/b /data/tree/a.txt; readlink /srv/link; cat /srv/a.txt; /srv/sub/b",
    );
    assert_eq!(
        out,
        "/srv/a.txt 640 0:0\n/srv/sub/b 755 0:0\n/data/tree/a.txt 640 0:0\n/etc/passwd\nalpha\nb\n"
    );
    // -a keeps the source's owners.
    s.ok(&["cp", "-a", &format!("{ts}/a.txt"), "cp1:/kept"]);
    assert_eq!(
        exec(&s, "cp1", "stat -c '%a %u:%g' /kept"),
        "640 1000:1000\n"
    );
    // A file over a file replaces it; SRC/. copies a directory's contents.
    s.ok(&["cp", &format!("{ts}/sub/b"), "cp1:/kept"]);
    assert_eq!(exec(&s, "cp1", "cat /kept"), "#!/bin/sh\necho b\n");
    s.ok(&["cp", &format!("{ts}/."), "cp1:/data"]);
    assert_eq!(exec(&s, "cp1", "cat /data/a.txt"), "alpha\n");
}

#[test]
fn container_to_host_and_tar_streams() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    running(&s, "cp2");
    exec(
        &s,
        "cp2",
        "mkdir -p /app/etc && echo conf > /app/etc/c && chmod 600 /app/etc/c && chown 33:44 /app/etc/c && ln -s ../etc/c /app/l && ln /app/etc/c /app/hard",
    );
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("out");
    s.ok(&["cp", "cp2:/app", dest.to_str().unwrap()]);
    let c = dest.join("etc/c");
    assert_eq!(std::fs::read_to_string(&c).unwrap(), "conf\n");
    let m = std::fs::metadata(&c).unwrap();
    assert_eq!(m.mode() & 0o7777, 0o600);
    assert_eq!(
        (m.uid(), m.gid()),
        (0, 0),
        "files on the host belong to the caller"
    );
    assert_eq!(
        std::fs::read_link(dest.join("l")).unwrap(),
        Path::new("../etc/c")
    );
    assert_eq!(std::fs::metadata(dest.join("hard")).unwrap().ino(), m.ino());
    // -a keeps the container's owners on the host.
    let kept = tmp.path().join("kept");
    s.ok(&["cp", "-a", "cp2:/app/etc/c", kept.to_str().unwrap()]);
    let m = std::fs::metadata(&kept).unwrap();
    assert_eq!((m.uid(), m.gid()), (33, 44));

    // `-` out: a tar with the owners, entries named after the source.
    let out = s.run(&["cp", "cp2:/app", "-"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names = Vec::new();
    let mut ar = tar::Archive::new(&out.stdout[..]);
    for e in ar.entries().unwrap() {
        let e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().into_owned();
        if p == "app/etc/c" {
            assert_eq!(
                (
                    e.header().uid().unwrap(),
                    e.header().mode().unwrap() & 0o777
                ),
                (33, 0o600)
            );
        }
        names.push(p);
    }
    names.sort();
    assert_eq!(names, ["app", "app/etc", "app/etc/c", "app/hard", "app/l"]);

    // `-` in: extracted into a directory, owners of the stream kept.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o604);
    h.set_uid(7);
    h.set_gid(8);
    b.append_data(&mut h, "in/x", &b"hey"[..]).unwrap();
    let data = b.into_inner().unwrap();
    let mut child = s
        .cmd()
        .args(["cp", "-", "cp2:/tmp"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(
        exec(&s, "cp2", "stat -c '%a %u:%g' /tmp/in/x; cat /tmp/in/x"),
        "604 7:8\nhey"
    );
}

#[test]
fn stopped_container_both_ways() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    let vol = tempfile::tempdir().unwrap();
    let ro = tempfile::tempdir().unwrap();
    let v = format!("{}:/data", vol.path().display());
    let r = format!("{}:/conf:ro", ro.path().display());
    s.ok(&[
        "run",
        "-d",
        "--name",
        "cp3",
        "-v",
        &v,
        "-v",
        &r,
        "busybox:fixture",
        "sleep",
        "600",
    ]);
    exec(&s, "cp3", "echo before > /state");
    s.ok(&["stop", "-t", "0", "cp3"]);
    let tmp = tempfile::tempdir().unwrap();
    let f = tmp.path().join("cfg.json");
    std::fs::write(&f, "{\"a\":1}\n").unwrap();
    s.ok(&["cp", f.to_str().unwrap(), "cp3:/etc/"]);
    // Its volumes are there too, as when it runs; a read-only one refuses.
    s.ok(&["cp", f.to_str().unwrap(), "cp3:/data/"]);
    assert_eq!(
        std::fs::read_to_string(vol.path().join("cfg.json")).unwrap(),
        "{\"a\":1}\n"
    );
    let e = s.fails(&["cp", f.to_str().unwrap(), "cp3:/conf/"], 125);
    assert!(e.contains("Read-only"), "{e}");
    assert!(!ro.path().join("cfg.json").exists());
    let back = tmp.path().join("state");
    s.ok(&["cp", "cp3:/state", back.to_str().unwrap()]);
    assert_eq!(std::fs::read_to_string(&back).unwrap(), "before\n");
    // Nothing stays mounted on the host.
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(s.root().to_str().unwrap()), "{mounts}");
    s.ok(&["start", "cp3"]);
    assert_eq!(exec(&s, "cp3", "cat /etc/cfg.json"), "{\"a\":1}\n");
}

#[test]
fn docker_rules_and_clear_errors() {
    let s = TestStore::new().with_busybox();
    let _reaper = Reaper(&s);
    running(&s, "cp4");
    let tmp = tempfile::tempdir().unwrap();
    let t = host_tree(tmp.path());
    let ts = t.to_str().unwrap();
    let e = s.fails(&["cp", ts, "cp4:/etc/passwd"], 125);
    assert!(e.contains("cannot copy a directory onto the file"), "{e}");
    let e = s.fails(&["cp", &format!("{ts}/a.txt"), "cp4:/nodir/"], 125);
    assert!(e.contains("does not exist"), "{e}");
    let e = s.fails(&["cp", &format!("{ts}/a.txt"), "cp4:/no/such/dir/x"], 125);
    assert!(
        e.contains("destination directory") && e.contains("does not exist"),
        "{e}"
    );
    let e = s.fails(&["cp", "cp4:/nothing-here", ts], 125);
    assert!(e.contains("no such file or directory"), "{e}");
    let e = s.fails(&["cp", "cp4:/etc/passwd/", ts], 125);
    assert!(e.contains("not a directory"), "{e}");
    let e = s.fails(&["cp", "nosuch:/x", ts], 125);
    assert!(e.contains("no such container"), "{e}");
    let e = s.fails(&["cp", ts, ts], 125);
    assert!(e.contains("CONTAINER:PATH"), "{e}");
    // A directory in the container is not replaced by a file.
    let e = s.fails(&["cp", &format!("{ts}/a.txt"), "cp4:/etc/x/"], 125);
    assert!(e.contains("does not exist"), "{e}");
    exec(&s, "cp4", "mkdir -p /d/a.txt/keep");
    let e = s.fails(&["cp", &format!("{ts}/a.txt"), "cp4:/d"], 125);
    assert!(
        e.contains("is a directory; it is not replaced by a file"),
        "{e}"
    );
    assert_eq!(exec(&s, "cp4", "ls /d/a.txt"), "keep\n");
}
