//! Named volumes: `volumes/<name>/volume.json` (name, creation time,
//! labels) and `volumes/<name>/_data/` (what containers mount). A volume
//! appears whole (made under `tmp/`, renamed into `volumes/`); its
//! metadata is written with tmp + fsync + rename.
//!
//! A new volume mounted over a directory of the image is first filled with
//! that directory's contents (owner, mode and all), as docker does: see
//! [`Store::fill_volume`].

use super::{Result, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

pub const VOLUME_FILE: &str = "volume.json";
pub const DATA_DIR: &str = "_data";

/// What `volume.json` holds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeta {
    pub name: String,
    pub created: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Filled from an image directory already (or used as it was): never
    /// filled again.
    #[serde(default)]
    pub filled: bool,
}

/// Docker's rule for volume names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, so no
/// `/`, no `..` as a whole name, nothing hidden.
pub fn check_volume_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok_first = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let ok_rest = chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if !ok_first || !ok_rest || name.len() > 255 {
        return Err(StoreError::Invalid(format!(
            "invalid volume name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed \
             (no '/', no '..')"
        )));
    }
    Ok(())
}

impl Store {
    pub fn volumes_dir(&self) -> PathBuf {
        self.root.join("volumes")
    }

    pub fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_dir().join(name)
    }

    /// The directory a container mounts for volume `name`.
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join(DATA_DIR)
    }

    /// Read a volume's metadata; `None` if there is no such volume.
    pub fn volume(&self, name: &str) -> Result<Option<VolumeMeta>> {
        check_volume_name(name)?;
        let p = self.volume_dir(name).join(VOLUME_FILE);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b)
                .map(Some)
                .map_err(|e| StoreError::Invalid(format!("{}: corrupt volume: {e}", p.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::Io {
                what: "cannot read",
                path: p,
                source: e,
            }),
        }
    }

    /// Create volume `name` unless it exists. Returns its metadata and
    /// whether it was created now.
    pub fn create_volume(
        &self,
        name: &str,
        labels: &BTreeMap<String, String>,
    ) -> Result<(VolumeMeta, bool)> {
        check_volume_name(name)?;
        let _lock = self.lock()?;
        if let Some(v) = self.volume(name)? {
            return Ok((v, false));
        }
        let meta = VolumeMeta {
            name: name.to_string(),
            created: chrono::Utc::now().to_rfc3339(),
            labels: labels.clone(),
            filled: false,
        };
        let tmp = self.tmp_dir();
        let staging =
            super::atomic::tempfile_in(&tmp).map_err(StoreError::io("cannot use", &tmp))?;
        let made = (|| -> std::io::Result<()> {
            std::fs::create_dir(&staging)?;
            std::fs::create_dir(staging.join(DATA_DIR))?;
            std::fs::set_permissions(
                staging.join(DATA_DIR),
                std::fs::Permissions::from_mode(0o755),
            )?;
            let bytes = serde_json::to_vec_pretty(&meta).map_err(std::io::Error::other)?;
            super::atomic::write_atomic(&tmp, &staging.join(VOLUME_FILE), &bytes)?;
            super::atomic::sync_dir(&staging)?;
            let dir = self.volumes_dir();
            std::fs::create_dir_all(&dir)?;
            super::atomic::publish(&staging, &self.volume_dir(name))
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(StoreError::Io {
                what: "cannot create volume",
                path: self.volume_dir(name),
                source: e,
            });
        }
        Ok((meta, true))
    }

    /// Every volume, sorted by name.
    pub fn volumes(&self) -> Result<Vec<VolumeMeta>> {
        let dir = self.volumes_dir();
        let rd = match std::fs::read_dir(&dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(StoreError::io("cannot read", &dir)(e)),
        };
        let mut out = Vec::new();
        for e in rd {
            let e = e.map_err(StoreError::io("cannot read", &dir))?;
            let name = e.file_name().to_string_lossy().into_owned();
            if check_volume_name(&name).is_err() {
                continue;
            }
            if let Some(v) = self.volume(&name)? {
                out.push(v);
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Remove a volume and its data. The caller checks that no container
    /// uses it. The directory is first renamed into `tmp/` (one step that
    /// makes the volume disappear), then deleted.
    pub fn remove_volume(&self, name: &str) -> Result<()> {
        check_volume_name(name)?;
        let dir = self.volume_dir(name);
        if !dir.exists() {
            return Err(StoreError::Invalid(format!("no such volume: {name}")));
        }
        let tmp = self.tmp_dir();
        let doomed =
            super::atomic::tempfile_in(&tmp).map_err(StoreError::io("cannot use", &tmp))?;
        std::fs::rename(&dir, &doomed).map_err(StoreError::io("cannot remove", &dir))?;
        std::fs::remove_dir_all(&doomed).map_err(StoreError::io("cannot remove", &doomed))?;
        Ok(())
    }

    /// Fill a volume that was never filled with the image's directory
    /// `target` (the union of `layers`, bottom first), keeping owners and
    /// modes; then mark it filled. A volume that already holds files is
    /// only marked. An image path through a symlink is not followed (it
    /// could point anywhere on the host): the volume stays empty.
    pub fn fill_volume(&self, name: &str, layers: &[PathBuf], target: &str) -> Result<()> {
        let Some(mut meta) = self.volume(name)? else {
            return Err(StoreError::Invalid(format!("no such volume: {name}")));
        };
        if meta.filled {
            return Ok(());
        }
        let data = self.volume_data(name);
        let empty = std::fs::read_dir(&data)
            .map_err(StoreError::io("cannot read", &data))?
            .next()
            .is_none();
        if empty {
            for layer in layers {
                let Some(src) = inside_without_symlinks(layer, target) else {
                    continue;
                };
                copy_tree(&src, &data).map_err(StoreError::io("cannot fill volume from", &src))?;
            }
        }
        meta.filled = true;
        let bytes =
            serde_json::to_vec_pretty(&meta).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.write_atomic(&self.volume_dir(name).join(VOLUME_FILE), &bytes)
    }
}

/// `layer/target` if every component below `layer` is a real directory
/// (no symlink anywhere on the way).
fn inside_without_symlinks(layer: &Path, target: &str) -> Option<PathBuf> {
    let mut p = layer.to_path_buf();
    for c in target.split('/').filter(|c| !c.is_empty() && *c != ".") {
        if c == ".." {
            return None;
        }
        p.push(c);
        let m = std::fs::symlink_metadata(&p).ok()?;
        if !m.is_dir() {
            return None;
        }
    }
    Some(p)
}

/// Is this an overlay whiteout (a 0/0 character device)?
fn is_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::FileTypeExt;
    m.file_type().is_char_device() && m.rdev() == 0
}

/// Copy `src`'s contents onto `dst` (an existing directory), upper layers
/// overwriting lower ones; owners and modes kept; whiteouts delete.
fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    let sm = std::fs::symlink_metadata(src)?;
    std::os::unix::fs::lchown(dst, Some(sm.uid()), Some(sm.gid()))?;
    std::fs::set_permissions(dst, std::fs::Permissions::from_mode(sm.mode() & 0o7777))?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let from = e.path();
        let to = dst.join(e.file_name());
        let m = std::fs::symlink_metadata(&from)?;
        if is_whiteout(&m) {
            remove_any(&to)?;
            continue;
        }
        let existing = std::fs::symlink_metadata(&to).ok();
        if m.is_dir() {
            if existing.as_ref().is_some_and(|x| !x.is_dir()) {
                remove_any(&to)?;
            }
            if !to.exists() {
                std::fs::create_dir(&to)?;
            }
            copy_tree(&from, &to)?;
            continue;
        }
        if existing.is_some() {
            remove_any(&to)?;
        }
        if m.file_type().is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&from)?, &to)?;
        } else if m.is_file() {
            std::fs::copy(&from, &to)?;
            std::fs::set_permissions(&to, std::fs::Permissions::from_mode(m.mode() & 0o7777))?;
        } else {
            continue; // devices, fifos, sockets: not volume content
        }
        std::os::unix::fs::lchown(&to, Some(m.uid()), Some(m.gid()))?;
    }
    Ok(())
}

fn remove_any(p: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(p) {
        Ok(m) if m.is_dir() => std::fs::remove_dir_all(p),
        Ok(_) => std::fs::remove_file(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["pgdata", "a", "my_vol.1-x", "proj_data"] {
            check_volume_name(ok).unwrap();
        }
        for bad in ["", "..", ".hidden", "a/b", "../x", "-x", "a b", "a:b"] {
            assert!(check_volume_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_list_fill_remove() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let (v, new) = store.create_volume("data", &BTreeMap::new()).unwrap();
        assert!(new && !v.filled);
        assert!(!store.create_volume("data", &BTreeMap::new()).unwrap().1);
        let layer = d.path().join("layer");
        std::fs::create_dir_all(layer.join("srv/sub")).unwrap();
        std::fs::write(layer.join("srv/sub/f"), b"hi").unwrap();
        std::os::unix::fs::symlink("/etc", layer.join("evil")).unwrap();
        store
            .fill_volume("data", std::slice::from_ref(&layer), "/srv")
            .unwrap();
        assert_eq!(
            std::fs::read(store.volume_data("data").join("sub/f")).unwrap(),
            b"hi"
        );
        // Filled once: a later mount over another path changes nothing.
        store
            .fill_volume("data", std::slice::from_ref(&layer), "/evil")
            .unwrap();
        store.create_volume("other", &BTreeMap::new()).unwrap();
        store.fill_volume("other", &[layer], "/evil/ssl").unwrap();
        assert_eq!(
            std::fs::read_dir(store.volume_data("other"))
                .unwrap()
                .count(),
            0
        );
        assert_eq!(store.volumes().unwrap().len(), 2);
        store.remove_volume("data").unwrap();
        assert!(store.volume("data").unwrap().is_none());
        assert!(store.remove_volume("data").is_err());
    }
}
