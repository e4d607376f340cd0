//! cgroup v1: one directory `skiff/<id>` in each hierarchy skiff uses
//! (memory, cpu, cpuacct, pids, devices, freezer, blkio), found in mountinfo.

use super::devices::DEFAULT_ALLOW;
use super::{read_key, remove_dir, write, write_each, PARENT};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::spec::{Resources, CPU_PERIOD_US};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// Controllers a container joins (blkio for `stats`). Others (cpuset, ...) are left alone,
/// and not mounted inside the container either.
const WANTED: &[&str] = &[
    "memory", "cpu", "cpuacct", "pids", "devices", "freezer", "blkio",
];
const KNOWN: &[&str] = &[
    "cpu",
    "cpuacct",
    "cpuset",
    "memory",
    "devices",
    "freezer",
    "net_cls",
    "net_prio",
    "blkio",
    "perf_event",
    "hugetlb",
    "pids",
    "rdma",
    "misc",
];

/// A mounted v1 hierarchy: where, and which controllers it carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hierarchy {
    pub mountpoint: PathBuf,
    pub controllers: Vec<String>,
}

#[derive(Debug)]
pub struct CgroupV1 {
    /// (hierarchy, this container's directory in it)
    dirs: Vec<(Hierarchy, PathBuf)>,
}

/// The v1 hierarchies in a mountinfo text.
pub fn hierarchies(mountinfo: &str) -> Vec<Hierarchy> {
    let mut out = Vec::new();
    for line in mountinfo.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let mut post = post.split(' ');
        if post.next() != Some("cgroup") {
            continue;
        }
        let _source = post.next();
        let opts = post.next().unwrap_or("");
        let Some(mountpoint) = pre.split(' ').nth(4) else {
            continue;
        };
        let controllers: Vec<String> = opts
            .split(',')
            .filter(|o| KNOWN.contains(o))
            .map(str::to_string)
            .collect();
        if !controllers.is_empty() {
            out.push(Hierarchy {
                mountpoint: PathBuf::from(mountpoint),
                controllers,
            });
        }
    }
    out
}

impl CgroupV1 {
    pub fn create(id: &str, res: &Resources) -> Result<CgroupV1> {
        CgroupV1::create_at(&Path::new(PARENT).join(id), res)
    }

    /// A cgroup at `rel` below each hierarchy's root (an OCI `cgroupsPath`).
    pub fn create_at(rel: &Path, res: &Resources) -> Result<CgroupV1> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").map_err(
            RuntimeError::io("cannot read", Path::new("/proc/self/mountinfo")),
        )?;
        let mut cg = CgroupV1 { dirs: Vec::new() };
        for h in hierarchies(&mountinfo)
            .into_iter()
            .filter(|h| h.controllers.iter().any(|c| WANTED.contains(&c.as_str())))
        {
            if cg
                .dirs
                .iter()
                .any(|(known, _)| known.controllers == h.controllers)
            {
                continue; // the same hierarchy mounted twice
            }
            let dir = h.mountpoint.join(rel);
            if let Err(e) = std::fs::create_dir_all(&dir) {
                cg.remove_quietly();
                return Err(RuntimeError::Cgroup {
                    path: dir,
                    msg: format!("cannot create: {e}"),
                });
            }
            cg.dirs.push((h, dir));
        }
        if let Err(e) = cg.apply(res) {
            cg.remove_quietly();
            return Err(e);
        }
        Ok(cg)
    }

    fn dir(&self, controller: &str) -> Option<&Path> {
        self.dirs
            .iter()
            .find(|(h, _)| h.controllers.iter().any(|c| c == controller))
            .map(|(_, d)| d.as_path())
    }

    fn need(&self, controller: &str) -> Result<&Path> {
        self.dir(controller).ok_or_else(|| RuntimeError::Cgroup {
            path: PathBuf::from(super::CGROUP_ROOT).join(controller),
            msg: format!("the {controller} controller is not mounted on this host"),
        })
    }

    fn apply(&self, res: &Resources) -> Result<()> {
        if let Some(bytes) = res.memory {
            let d = self.need("memory")?;
            write(d, "memory.limit_in_bytes", &bytes.to_string())?;
            // No swap, as docker: memory+swap = memory (when swap accounting exists).
            if d.join("memory.memsw.limit_in_bytes").exists() {
                write(d, "memory.memsw.limit_in_bytes", &bytes.to_string())?;
            }
        }
        if let Some(quota) = res.cpu_quota {
            let d = self.need("cpu")?;
            write(d, "cpu.cfs_period_us", &CPU_PERIOD_US.to_string())?;
            write(d, "cpu.cfs_quota_us", &quota.to_string())?;
        }
        if let Some(pids) = res.pids {
            write(self.need("pids")?, "pids.max", &pids.to_string())?;
        }
        if let Some(d) = self.dir("devices") {
            write(d, "devices.deny", "a")?;
            let lines: Vec<String> = DEFAULT_ALLOW.iter().map(|r| r.v1_line()).collect();
            write_each(d, "devices.allow", &lines)?;
        }
        Ok(())
    }

    pub fn add_task(&self, pid: Pid) -> Result<()> {
        let pid = pid.to_string();
        for (_, d) in &self.dirs {
            write(d, "cgroup.procs", &pid)?;
        }
        Ok(())
    }

    /// `oom_kill N` of memory.oom_control (Linux 4.13+).
    pub fn oom_kills(&self) -> u64 {
        self.dir("memory")
            .and_then(|d| read_key(&d.join("memory.oom_control"), "oom_kill"))
            .unwrap_or(0)
    }

    pub fn remove(&self) -> Result<()> {
        let mut first_err = None;
        for (_, d) in &self.dirs {
            if let Err(e) = remove_dir(d) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    fn remove_quietly(&self) {
        for (_, d) in &self.dirs {
            let _ = std::fs::remove_dir(d);
        }
    }

    /// For the container's /sys/fs/cgroup: (directory name, mount options).
    pub fn mounts(&self) -> Vec<(String, String)> {
        self.dirs
            .iter()
            .map(|(h, _)| {
                let name = h
                    .mountpoint
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| h.controllers.join(","));
                (name, h.controllers.join(","))
            })
            .collect()
    }

    pub fn paths(&self) -> Vec<PathBuf> {
        self.dirs.iter().map(|(_, d)| d.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_hybrid_mountinfo() {
        let mi = "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n\
                  32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                  35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n\
                  36 31 0:33 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n\
                  40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n\
                  41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";
        let h = super::hierarchies(mi);
        assert_eq!(h.len(), 3);
        assert_eq!(
            h[0].mountpoint,
            std::path::PathBuf::from("/sys/fs/cgroup/cpu")
        );
        assert_eq!(h[2].controllers, ["net_cls", "net_prio"]);
    }
}
