//! Cache mounts (`RUN --mount=type=cache`): directories kept in the store
//! under `cache-mounts/<id>/` between builds, never part of an image. A
//! lock file beside each (`cache-mounts/<id>.lock`) carries `sharing=`:
//! held shared by `shared` users, exclusively by `locked` and `private`
//! ones; `build-cache prune` removes only what it can lock exclusively.

use super::run_mount::Sharing;
use crate::store::lock::LockGuard;
use crate::store::Store;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

pub fn root(store: &Store) -> PathBuf {
    store.root().join("cache-mounts")
}

/// The directory name of a cache id: bytes outside `[A-Za-z0-9_.-]` (and a
/// leading `.`) as `%XX`, so `/root/.npm` is `%2Froot%2F.npm`.
pub fn dir_name(id: &str) -> String {
    let mut out = String::new();
    for (i, b) in id.bytes().enumerate() {
        let plain = b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || (b == b'.' && i > 0);
        if plain {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The id a directory name stands for.
pub fn id_of(name: &str) -> String {
    let bytes = name.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = name
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A cache directory in use by one RUN step.
pub struct CacheMount {
    path: PathBuf,
    /// Made by this step (empty, or to be seeded with `from=`).
    pub fresh: bool,
    /// A private copy made because the shared one was busy: removed after.
    throwaway: bool,
    _lock: Option<LockGuard>,
    _private_lock: Option<File>,
}

impl CacheMount {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for CacheMount {
    fn drop(&mut self) {
        if self.throwaway {
            let _ = crate::store::layers::remove_tree(&self.path);
        }
    }
}

fn open_lock(path: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// Makes `dir` (mode, owner, a copy of `seed`) under `tmp/` and renames it
/// into place, so a cache directory is never half made.
fn create_dir(
    store: &Store,
    dir: &Path,
    (mode, uid, gid): (u32, u32, u32),
    seed: Option<&Path>,
) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let staged = store.layer_staging_dir().map_err(|e| e.to_string())?;
    let result = (|| -> std::io::Result<()> {
        if let Some(seed) = seed {
            copy_tree(seed, &staged)?;
        }
        std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(mode))?;
        std::os::unix::fs::chown(&staged, Some(uid), Some(gid))?;
        match std::fs::rename(&staged, dir) {
            Ok(()) => {}
            Err(_) if dir.is_dir() => std::fs::remove_dir(&staged)?,
            Err(e) => return Err(e),
        }
        if let Some(parent) = dir.parent() {
            File::open(parent)?.sync_all()?;
        }
        Ok(())
    })();
    result.map_err(|e| {
        let _ = crate::store::layers::remove_tree(&staged);
        format!("cannot create the cache directory {}: {e}", dir.display())
    })
}

/// Copies the tree under `from` into the directory `to` (files, dirs,
/// symlinks, modes and owners), never following a symlink.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let m = std::fs::symlink_metadata(&src)?;
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
            std::os::unix::fs::lchown(&dst, Some(m.uid()), Some(m.gid()))?;
            continue;
        }
        if m.is_dir() {
            std::fs::create_dir(&dst)?;
            copy_tree(&src, &dst)?;
        } else if m.is_file() {
            std::fs::copy(&src, &dst)?;
        } else {
            continue;
        }
        std::os::unix::fs::chown(&dst, Some(m.uid()), Some(m.gid()))?;
        std::fs::set_permissions(&dst, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
    }
    Ok(())
}

/// Takes the cache `id` for one step, following `sharing`; made on first use
/// with `(mode, uid, gid)` and a copy of `seed` (a `from=` stage's files).
pub fn acquire(
    store: &Store,
    id: &str,
    sharing: Sharing,
    owner: (u32, u32, u32),
    seed: Option<&Path>,
) -> Result<CacheMount, String> {
    let (mode, uid, gid) = owner;
    let root = root(store);
    std::fs::create_dir_all(&root).map_err(|e| format!("cannot create {}: {e}", root.display()))?;
    let name = dir_name(id);
    let dir = root.join(&name);
    let lock_path = root.join(format!("{name}.lock"));
    let lock_err = |e: std::io::Error| format!("cannot lock {}: {e}", lock_path.display());
    let mut mount = CacheMount {
        path: dir.clone(),
        fresh: false,
        throwaway: false,
        _lock: None,
        _private_lock: None,
    };
    match sharing {
        Sharing::Shared => mount._lock = Some(LockGuard::shared(&lock_path).map_err(lock_err)?),
        Sharing::Locked => mount._lock = Some(LockGuard::exclusive(&lock_path).map_err(lock_err)?),
        Sharing::Private => {
            let f = open_lock(&lock_path).map_err(lock_err)?;
            if f.try_lock().is_ok() {
                mount._private_lock = Some(f);
            } else {
                // In use: this step gets its own directory, thrown away after.
                let p = store.layer_staging_dir().map_err(|e| e.to_string())?;
                use std::os::unix::fs::PermissionsExt;
                seed.map_or(Ok(()), |s| copy_tree(s, &p))
                    .and_then(|_| {
                        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode))
                    })
                    .and_then(|_| std::os::unix::fs::chown(&p, Some(uid), Some(gid)))
                    .map_err(|e| format!("cannot prepare {}: {e}", p.display()))?;
                mount.path = p;
                mount.throwaway = true;
                mount.fresh = true;
                return Ok(mount);
            }
        }
    }
    if !dir.is_dir() {
        create_dir(store, &dir, owner, seed)?;
        mount.fresh = true;
    }
    Ok(mount)
}

/// One cache directory as `build-cache ls` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheInfo {
    pub id: String,
    pub size: u64,
    /// A build holds it now.
    pub in_use: bool,
}

/// Every cache directory, by id.
pub fn list(store: &Store) -> Vec<CacheInfo> {
    let root = root(store);
    let Ok(entries) = std::fs::read_dir(&root) else {
        return Vec::new();
    };
    let mut out: Vec<CacheInfo> = entries
        .flatten()
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            let in_use = open_lock(&root.join(format!("{name}.lock")))
                .map(|f| f.try_lock().is_err())
                .unwrap_or(false);
            CacheInfo {
                id: id_of(&name),
                size: crate::store::gc::dir_size(&e.path()),
                in_use,
            }
        })
        .collect();
    out.sort_by(|a, b| a.id.cmp(&b.id));
    out
}

/// Removes every cache directory no build is using (or only `ids`, when
/// given); returns what went. `dry_run` removes nothing.
pub fn prune(store: &Store, ids: &[String], dry_run: bool) -> Result<Vec<CacheInfo>, String> {
    let root = root(store);
    let mut removed = Vec::new();
    for info in list(store) {
        if info.in_use || (!ids.is_empty() && !ids.contains(&info.id)) {
            continue;
        }
        let name = dir_name(&info.id);
        let lock_path = root.join(format!("{name}.lock"));
        let lock = open_lock(&lock_path)
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        if lock.try_lock().is_err() {
            continue;
        }
        if !dry_run {
            // Renamed into tmp/ first: a crash mid-removal leaves a tmp/
            // leftover (swept later), never half a cache.
            let doomed =
                crate::store::atomic::tempfile_in(&store.tmp_dir()).map_err(|e| e.to_string())?;
            std::fs::rename(root.join(&name), &doomed)
                .map_err(|e| format!("cannot remove the cache {}: {e}", info.id))?;
            crate::store::layers::remove_tree(&doomed).map_err(|e| e.to_string())?;
            let _ = std::fs::remove_file(&lock_path);
        }
        removed.push(info);
    }
    Ok(removed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for id in ["/root/.npm", "npm", ".hidden", "a b/c%d", "..", "émoji"] {
            let n = dir_name(id);
            assert!(!n.contains('/') && n != "." && n != ".." && !n.starts_with('.'));
            assert_eq!(id_of(&n), id, "{n}");
        }
        assert_eq!(dir_name("/root/.npm"), "%2Froot%2F.npm");
    }

    #[test]
    fn acquire_list_prune() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let a = acquire(&store, "/root/.npm", Sharing::Locked, (0o700, 0, 0), None).unwrap();
        std::fs::write(a.path().join("f"), b"12345").unwrap();
        let infos = list(&store);
        assert_eq!(infos.len(), 1);
        assert!(infos[0].in_use);
        // In use: kept.
        assert!(prune(&store, &[], false).unwrap().is_empty());
        // A private user finds it busy and gets a throwaway directory.
        let p = acquire(&store, "/root/.npm", Sharing::Private, (0o755, 0, 0), None).unwrap();
        assert_ne!(p.path(), a.path());
        let throwaway = p.path().to_path_buf();
        drop(p);
        assert!(!throwaway.exists());
        drop(a);
        let infos = list(&store);
        assert!(!infos[0].in_use);
        assert_eq!(infos[0].size, 5);
        let gone = prune(&store, &[], false).unwrap();
        assert_eq!(gone.len(), 1);
        assert!(list(&store).is_empty());
    }
}
