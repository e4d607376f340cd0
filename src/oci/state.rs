//! `<root>/<id>/state.json` (written tmp + fsync + rename) and the status
//! read from the kernel: the init's /proc entry and the exec.fifo.

use super::{io, OciError, Result, OCI_VERSION};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

pub const FIFO: &str = "exec.fifo";
pub const STATE: &str = "state.json";

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Creating,
    Created,
    Running,
    /// Frozen by `pause` (runc's status; not in the runtime-spec's list).
    Paused,
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    pub id: String,
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat when created: tells a reused pid apart.
    pub start_time: u64,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    /// Relative to the cgroup hierarchy root.
    pub cgroup: PathBuf,
    pub created: String,
    pub annotations: HashMap<String, String>,
}

/// (state letter, start time) of a process.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = crate::sys::proc::stat(pid.into())?;
    Some((s.state(), s.start_time()?))
}

pub fn start_time(pid: nix::unistd::Pid) -> Option<u64> {
    proc_stat(pid.as_raw()).map(|(_, t)| t)
}

impl Record {
    pub fn save(&self, dir: &Path) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| OciError::Invalid(format!("cannot encode the state: {e}")))?;
        let path = dir.join(STATE);
        crate::store::atomic::write_atomic(dir, &path, &bytes).map_err(io("cannot write", &path))
    }

    pub fn load(dir: &Path) -> Result<Record> {
        let path = dir.join(STATE);
        let text = std::fs::read(&path).map_err(io("cannot read", &path))?;
        serde_json::from_slice(&text)
            .map_err(|e| OciError::Invalid(format!("{}: {e}", path.display())))
    }

    /// The init exists, is not a zombie, and is the one we started.
    pub fn alive(&self) -> bool {
        match proc_stat(self.pid) {
            Some((st, t)) => {
                !matches!(st, 'Z' | 'X' | 'x') && (self.start_time == 0 || t == self.start_time)
            }
            None => false,
        }
    }

    pub fn status(&self, dir: &Path) -> Status {
        if !self.alive() {
            Status::Stopped
        } else if dir.join(FIFO).exists() {
            Status::Created
        } else if super::freeze::is_frozen(&self.cgroup) {
            Status::Paused
        } else {
            Status::Running
        }
    }

    /// Every process of the container's cgroup (the first hierarchy).
    pub fn pids(&self) -> Vec<i32> {
        let base = Path::new(crate::runtime::cgroups::CGROUP_ROOT);
        let candidates = if crate::runtime::cgroups::host_is_unified() {
            vec![base.join(&self.cgroup).join("cgroup.procs")]
        } else {
            ["pids", "memory", "cpu,cpuacct", "cpu"]
                .iter()
                .map(|c| base.join(c).join(&self.cgroup).join("cgroup.procs"))
                .collect()
        };
        for c in candidates {
            if let Ok(s) = std::fs::read_to_string(&c) {
                return s.lines().filter_map(|l| l.trim().parse().ok()).collect();
            }
        }
        Vec::new()
    }

    /// The runtime-spec state object.
    pub fn state_json(&self, status: Status) -> Vec<u8> {
        let mut v = serde_json::json!({
            "ociVersion": OCI_VERSION,
            "id": self.id,
            "status": status,
            "bundle": self.bundle,
            "rootfs": self.rootfs,
            "created": self.created,
            "annotations": self.annotations,
        });
        if status != Status::Stopped {
            v["pid"] = self.pid.into();
        }
        serde_json::to_vec_pretty(&v).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_a_reused_pid_is_not() {
        let me = std::process::id() as i32;
        let (st, t) = proc_stat(me).expect("own stat");
        assert_ne!(st, 'Z');
        let mut r = Record {
            id: "x".into(),
            pid: me,
            start_time: t,
            bundle: "/b".into(),
            rootfs: "/b/rootfs".into(),
            cgroup: "skiff/x".into(),
            created: String::new(),
            annotations: HashMap::new(),
        };
        assert!(r.alive());
        r.start_time = t + 1;
        assert!(!r.alive());
        let v: serde_json::Value = serde_json::from_slice(&r.state_json(Status::Stopped)).unwrap();
        assert_eq!(v["status"], "stopped");
        assert!(v.get("pid").is_none());
    }
}
