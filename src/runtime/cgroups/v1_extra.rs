//! cgroup v1 settings an OCI bundle may ask beyond skiff's own `Resources`
//! (memory reservation, swap, swappiness, kernel TCP, OOM killer; CPU
//! shares and real-time budget; cpuset CPUs and memory nodes). Written into
//! the container's directories `Cgroup::create_at` made; a file the kernel
//! lacks (kernel memory on Linux ≥ 6.1) is skipped, as runc does. cpuset
//! is not one of skiff's hierarchies: its directory is made here, level by
//! level with the parent's CPUs and nodes (an empty cpuset refuses tasks),
//! and its `tasks` file is returned for the init to join.

use super::v1::hierarchies;
use super::write;
use crate::runtime::error::{Result, RuntimeError};
use std::path::{Path, PathBuf};

/// One setting: (controller, file, value).
pub type Setting = (&'static str, &'static str, String);

fn mountpoint(controller: &str) -> Result<Option<PathBuf>> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(RuntimeError::io(
        "cannot read",
        Path::new("/proc/self/mountinfo"),
    ))?;
    Ok(hierarchies(&mountinfo)
        .into_iter()
        .find(|h| h.controllers.iter().any(|c| c == controller))
        .map(|h| h.mountpoint))
}

/// Apply `settings` to the cgroup at `rel`; returns extra `tasks` files to
/// join (cpuset).
pub fn apply(rel: &Path, settings: &[Setting]) -> Result<Vec<PathBuf>> {
    let mut tasks = Vec::new();
    for (controller, file, value) in settings {
        let Some(mp) = mountpoint(controller)? else {
            return Err(RuntimeError::Cgroup {
                path: PathBuf::from(super::CGROUP_ROOT).join(controller),
                msg: format!("the {controller} controller is not mounted on this host"),
            });
        };
        let dir = mp.join(rel);
        if *controller == "cpuset" {
            make_cpuset(&mp, rel)?;
            let t = dir.join("tasks");
            if !tasks.contains(&t) {
                tasks.push(t);
            }
        }
        if dir.join(file).exists() {
            write(&dir, file, value)?;
        }
    }
    Ok(tasks)
}

fn make_cpuset(mp: &Path, rel: &Path) -> Result<()> {
    let mut dir = mp.to_path_buf();
    for c in rel.components() {
        let parent = dir.clone();
        dir.push(c);
        if dir.is_dir() {
            continue;
        }
        std::fs::create_dir(&dir).map_err(|e| RuntimeError::Cgroup {
            path: dir.clone(),
            msg: format!("cannot create: {e}"),
        })?;
        for f in ["cpuset.cpus", "cpuset.mems"] {
            let v = std::fs::read_to_string(parent.join(f)).unwrap_or_default();
            write(&dir, f, v.trim())?;
        }
    }
    Ok(())
}

/// Remove the cpuset directory of `rel`, if any (the others go with the
/// `Cgroup`).
pub fn remove(rel: &Path) {
    if let Ok(Some(mp)) = mountpoint("cpuset") {
        let _ = std::fs::remove_dir(mp.join(rel));
    }
}
