//! Recycled container skeletons: a removed container's directory emptied
//! down to its three empty directories (`upper`, `work`, `rootfs`) and kept
//! in the store's `spare/` for the next container, instead of being deleted
//! and made again.
//!
//! Why: a directory costs a disk block, and removing one frees it. On a
//! filesystem mounted with `discard` and no journal (these machines), each
//! freed block is discarded synchronously, so every directory removed
//! waited for the disk (~0.3 ms here): eight per `run --rm`. Four of them
//! are the container's own, and need not go. (The other four are overlay's
//! work directories and a copy-up of /etc, which go with the contents.)
//!
//! A skeleton reaches `spare/` only once it holds nothing but those three
//! empty directories (emptied under `tmp/`, where a crash leaves an orphan
//! that is swept); taking one checks that again. At most [`MAX_SPARES`] are
//! kept; each is four inodes and four blocks.

use std::path::Path;

/// The directories a container's directory starts with.
pub const DIRS: [&str; 3] = ["rootfs", "upper", "work"];

/// How many skeletons `spare/` keeps (a burst of removals beyond that
/// deletes as before).
pub const MAX_SPARES: usize = 4;

/// Move a skeleton from `spare` (the store's `spare/`) to `to` (which
/// must not exist). False when there is none to take (make a new
/// directory instead).
pub fn take(spare: &Path, to: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(spare) else {
        return false;
    };
    for e in entries.flatten() {
        // Another process may take the same one: the rename decides.
        if std::fs::rename(e.path(), to).is_err() {
            continue;
        }
        if is_clean(to) {
            return true;
        }
        // Not what skiff leaves there: start afresh.
        let _ = std::fs::remove_dir_all(to);
        return false;
    }
    false
}

/// Only the three directories, each empty and a real directory.
fn is_clean(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return false;
    };
    let mut names: Vec<String> = entries
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names == DIRS
        && DIRS.iter().all(|d| {
            let p = dir.join(d);
            std::fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir())
                && std::fs::read_dir(&p).is_ok_and(|mut r| r.next().is_none())
        })
}

/// Empty `dir` — a removed container's directory, already out of
/// `containers/` — down to a skeleton and move it into `spare` (the
/// store's `spare/`). False if it was not kept (`spare` is full, or
/// something could not be removed): the caller deletes what is left.
pub fn keep(spare: &Path, dir: &Path) -> bool {
    let full = std::fs::read_dir(spare).is_ok_and(|r| r.count() >= MAX_SPARES);
    if full || empty_but_skeleton(dir).is_err() {
        return false;
    }
    if std::fs::create_dir_all(spare).is_err() {
        return false;
    }
    let name = format!("{:016x}", crate::sys::random::u64());
    std::fs::rename(dir, spare.join(name)).is_ok()
}

fn empty_but_skeleton(dir: &Path) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let path = e.path();
        let is_dir = e.file_type()?.is_dir();
        let name = e.file_name();
        if is_dir && DIRS.iter().any(|d| name == *d) {
            for inner in std::fs::read_dir(&path)? {
                remove(&inner?)?;
            }
        } else {
            remove(&e)?;
        }
    }
    Ok(())
}

/// Remove an entry without following it (a symlink goes, not its target).
fn remove(e: &std::fs::DirEntry) -> std::io::Result<()> {
    if e.file_type()?.is_dir() {
        std::fs::remove_dir_all(e.path())
    } else {
        std::fs::remove_file(e.path())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use std::fs;

    fn skeleton_with_contents(dir: &Path) {
        fs::create_dir(dir).unwrap();
        for d in DIRS {
            fs::create_dir(dir.join(d)).unwrap();
        }
        fs::create_dir_all(dir.join("upper/etc")).unwrap();
        fs::write(dir.join("upper/etc/hosts"), "x").unwrap();
        fs::create_dir_all(dir.join("work/work/incompat/volatile")).unwrap();
        fs::write(dir.join("spec.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("upper/link")).unwrap();
    }

    #[test]
    fn a_removed_container_becomes_a_clean_spare_and_is_taken_once() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("store")).unwrap();
        let gone = store.tmp_dir().join("gone");
        skeleton_with_contents(&gone);
        assert!(keep(&store.spare_dir(), &gone));
        assert!(!gone.exists());
        assert!(Path::new("/etc/passwd").exists(), "a symlink was followed");
        let a = store.tmp_dir().join("a");
        assert!(take(&store.spare_dir(), &a));
        assert!(is_clean(&a));
        assert!(
            !take(&store.spare_dir(), &store.tmp_dir().join("b")),
            "taken twice"
        );
    }

    #[test]
    fn a_spare_with_anything_else_in_it_is_not_used() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("store")).unwrap();
        let planted = store.spare_dir().join("planted");
        fs::create_dir_all(&planted).unwrap();
        for d in DIRS {
            fs::create_dir(planted.join(d)).unwrap();
        }
        fs::write(planted.join("upper/left-behind"), "x").unwrap();
        let to = store.tmp_dir().join("new");
        assert!(!take(&store.spare_dir(), &to));
        assert!(!to.exists() && !planted.exists());
    }

    #[test]
    fn spare_keeps_at_most_max_spares() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(&d.path().join("store")).unwrap();
        for i in 0..MAX_SPARES + 2 {
            let gone = store.tmp_dir().join(format!("gone{i}"));
            skeleton_with_contents(&gone);
            assert_eq!(
                keep(&store.spare_dir(), &gone),
                i < MAX_SPARES,
                "removal {i}"
            );
        }
        assert_eq!(fs::read_dir(store.spare_dir()).unwrap().count(), MAX_SPARES);
    }
}
