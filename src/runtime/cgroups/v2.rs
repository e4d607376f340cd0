//! cgroup v2: `/sys/fs/cgroup/skiff/<id>`, with the controllers skiff needs
//! enabled in `cgroup.subtree_control` of the root and of `skiff/`, and the
//! default device rules enforced by a BPF program (v2 has no devices files).

use super::{devices_bpf, read_key, remove_dir, write, PARENT};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::spec::{Resources, CPU_PERIOD_US};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct CgroupV2 {
    path: PathBuf,
}

/// Enable `wanted` controllers (those available) for the children of `dir`.
fn enable_controllers(dir: &Path, wanted: &[&str]) -> Result<Vec<String>> {
    let available = std::fs::read_to_string(dir.join("cgroup.controllers")).unwrap_or_default();
    let enabled = std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
    let available: Vec<&str> = available.split_whitespace().collect();
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let mut result: Vec<String> = enabled.iter().map(|s| s.to_string()).collect();
    for c in wanted
        .iter()
        .filter(|c| available.contains(c) && !enabled.contains(c))
    {
        // One write per controller, so that one refusal (cpu with realtime
        // tasks around) does not prevent the others.
        if write(dir, "cgroup.subtree_control", &format!("+{c}")).is_ok() {
            result.push(c.to_string());
        }
    }
    Ok(result)
}

impl CgroupV2 {
    pub fn create(root: &Path, id: &str, res: &Resources) -> Result<CgroupV2> {
        CgroupV2::create_at(root, &Path::new(PARENT).join(id), res)
    }

    /// A cgroup at `rel` below `root` (an OCI `cgroupsPath`).
    pub fn create_at(root: &Path, rel: &Path, res: &Resources) -> Result<CgroupV2> {
        let wanted = ["memory", "pids", "cpu", "io"];
        enable_controllers(root, &wanted)?;
        let parent = root.join(rel.parent().unwrap_or(Path::new(PARENT)));
        std::fs::create_dir_all(&parent).map_err(|e| RuntimeError::Cgroup {
            path: parent.clone(),
            msg: format!("cannot create: {e}"),
        })?;
        let enabled = enable_controllers(&parent, &wanted)?;
        let path = root.join(rel);
        // A directory left by a skiff that was killed: empty it and reuse the id.
        if path.exists() {
            remove_dir(&path)?;
        }
        std::fs::create_dir(&path).map_err(|e| RuntimeError::Cgroup {
            path: path.clone(),
            msg: format!("cannot create: {e}"),
        })?;
        let cg = CgroupV2 { path };
        if let Err(e) = cg.apply(res, &enabled) {
            let _ = std::fs::remove_dir(&cg.path);
            return Err(e);
        }
        Ok(cg)
    }

    fn need(&self, enabled: &[String], controller: &str) -> Result<()> {
        if enabled.iter().any(|c| c == controller) {
            Ok(())
        } else {
            Err(RuntimeError::Cgroup {
                path: self.path.clone(),
                msg: format!(
                    "the {controller} controller is not available (not delegated to {})",
                    self.path.display()
                ),
            })
        }
    }

    fn apply(&self, res: &Resources, enabled: &[String]) -> Result<()> {
        if let Some(bytes) = res.memory {
            self.need(enabled, "memory")?;
            write(&self.path, "memory.max", &bytes.to_string())?;
            if self.path.join("memory.swap.max").exists() {
                write(&self.path, "memory.swap.max", "0")?;
            }
        }
        if let Some(quota) = res.cpu_quota {
            self.need(enabled, "cpu")?;
            write(&self.path, "cpu.max", &format!("{quota} {CPU_PERIOD_US}"))?;
        }
        if let Some(pids) = res.pids {
            self.need(enabled, "pids")?;
            write(&self.path, "pids.max", &pids.to_string())?;
        }
        devices_bpf::attach_default(&self.path)
    }

    pub fn add_task(&self, pid: Pid) -> Result<()> {
        write(&self.path, "cgroup.procs", &pid.to_string())
    }

    pub fn oom_kills(&self) -> u64 {
        read_key(&self.path.join("memory.events"), "oom_kill").unwrap_or(0)
    }

    pub fn remove(&self) -> Result<()> {
        if self.path.join("cgroup.kill").exists() {
            if let Ok(procs) = std::fs::read_to_string(self.path.join("cgroup.procs")) {
                if !procs.trim().is_empty() {
                    let _ = write(&self.path, "cgroup.kill", "1");
                }
            }
        }
        remove_dir(&self.path)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
