//! The store's directories beside the OCI layout: `volumes/`, `layers/`
//! and `tmp/`.

use super::scan::{is_hex64, read_dir_sorted, Scan};
use super::{Action, Severity};
use crate::store::tmp::{owner_pid, pid_alive};
use crate::store::{volumes, Result};
use std::fs;

impl Scan<'_> {
    /// `volumes/`: each a directory with a valid name, a readable
    /// `volume.json` naming it, and its `_data/`.
    pub(super) fn volumes(&mut self) -> Result<()> {
        for entry in read_dir_sorted(&self.store.volumes_dir())? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let is_dir = fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_dir || volumes::check_volume_name(&name).is_err() {
                self.add(
                    Severity::Note,
                    "stray-volume",
                    &path,
                    "not a volume (a directory with a valid volume name)",
                    Action::Leave("left alone".into()),
                );
                continue;
            }
            let meta = path.join(volumes::VOLUME_FILE);
            let parsed = fs::read(&meta).map_err(|e| e.to_string()).and_then(|b| {
                serde_json::from_slice::<volumes::VolumeMeta>(&b).map_err(|e| e.to_string())
            });
            match parsed {
                Err(e) => self.add(
                    Severity::Problem,
                    "bad-volume",
                    &meta,
                    format!("volume {name} has no readable volume.json: {e}"),
                    Action::Manual(format!(
                        "copy what you need out of {}, then remove the volume directory",
                        self.rel(&path.join(volumes::DATA_DIR))
                    )),
                ),
                Ok(m) if m.name != name => self.add(
                    Severity::Problem,
                    "bad-volume",
                    &meta,
                    format!("volume {name}'s volume.json names {}", m.name),
                    Action::Manual("rename the directory or fix volume.json by hand".into()),
                ),
                Ok(_) => {}
            }
            if !path.join(volumes::DATA_DIR).is_dir() {
                self.add(
                    Severity::Problem,
                    "bad-volume",
                    &path,
                    format!("volume {name} has no _data directory"),
                    Action::Manual(format!("skiff volume rm {name}, then create it again")),
                );
            }
        }
        Ok(())
    }

    /// `layers/`: only directories named by a diff id.
    pub(super) fn layers(&mut self) -> Result<()> {
        let dir = self.store.layers_dir();
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            let is_dir = fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_hex64(&fname) {
                self.add(
                    Severity::Problem,
                    "stray-layer",
                    &path,
                    "not named by a diff id",
                    Action::Remove(path.clone()),
                );
                continue;
            }
            if !is_dir {
                self.add(
                    Severity::Problem,
                    "stray-layer",
                    &path,
                    "not a directory (it is unpacked again when needed)",
                    Action::Remove(path.clone()),
                );
                continue;
            }
            self.report.layers += 1;
            if !self.used_layers.contains(&fname) {
                self.add(
                    Severity::Note,
                    "unused-layer",
                    &path,
                    "no image, cache entry or container uses it",
                    Action::Leave("left for `skiff prune`".into()),
                );
            }
        }
        Ok(())
    }

    /// `tmp/`: leftovers of processes that are gone.
    pub(super) fn tmp(&mut self) -> Result<()> {
        let dir = self.store.tmp_dir();
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            match owner_pid(&fname) {
                Some(pid) if pid_alive(pid) => self.add(
                    Severity::Note,
                    "tmp-in-use",
                    &path,
                    format!("in use by process {pid}"),
                    Action::Leave("left alone".into()),
                ),
                Some(pid) => self.add(
                    Severity::Leftover,
                    "orphan-tmp",
                    &path,
                    format!("left behind by process {pid}, which is gone"),
                    Action::Remove(path.clone()),
                ),
                None => self.add(
                    Severity::Note,
                    "stray-tmp",
                    &path,
                    "not a skiff temporary file",
                    Action::Leave("left alone".into()),
                ),
            }
        }
        Ok(())
    }
}
