//! cgroups for one container under `skiff/<id>`: v1 when the host mounts v1
//! controllers (including hybrid hosts whose v2 mount holds no controllers),
//! v2 when `/sys/fs/cgroup` is the unified hierarchy.
//!
//! Direct cgroupfs, not cgroups-rs: skiff needs a dozen file writes (limits,
//! one pid, the device rules), one counter read (oom_kill) and an rmdir. The
//! crate would add a large dependency and its own hierarchy detection, which
//! does not handle this host's hybrid layout the way skiff must.

pub mod devices;
mod devices_bpf;
pub mod v1;
pub mod v1_extra;
pub mod v2;

use super::error::{Result, RuntimeError};
use super::spec::Resources;
use nix::unistd::Pid;
use std::path::{Path, PathBuf};

/// The parent of every skiff container cgroup, relative to a hierarchy root.
pub const PARENT: &str = "skiff";

pub const CGROUP_ROOT: &str = "/sys/fs/cgroup";

/// One container's cgroup, on whichever version the host uses.
#[derive(Debug)]
pub enum Cgroup {
    V1(v1::CgroupV1),
    V2(v2::CgroupV2),
}

/// A cgroup filesystem to mount inside the container at /sys/fs/cgroup.
#[derive(Clone, Debug)]
pub enum CgroupMount {
    /// v2: one cgroup2 mount.
    Unified,
    /// v1: a tmpfs with one hierarchy per entry: (directory name, mount options).
    Hierarchies(Vec<(String, String)>),
}

/// How the container init gets into its cgroup without a costly migration.
///
/// Writing a pid to `cgroup.procs` takes the kernel's global threadgroup
/// lock for writing, which waits for an RCU grace period: milliseconds, the
/// largest single cost of a start. So on v2 the init is cloned straight into
/// the cgroup (clone3 CLONE_INTO_CGROUP), and on v1 the (single-threaded)
/// init moves itself by writing 0 to each `tasks` file, which moves only the
/// calling thread and skips that lock.
#[derive(Debug)]
pub enum Placement {
    CloneInto(std::os::fd::OwnedFd),
    SelfJoin(Vec<PathBuf>),
}

/// In the init: join the v1 cgroups (`tasks` files of `Placement::SelfJoin`).
pub fn join_self(tasks: &[PathBuf]) -> Result<()> {
    for t in tasks {
        std::fs::write(t, "0").map_err(|e| RuntimeError::Cgroup {
            path: t.clone(),
            msg: format!("cannot join: {e}"),
        })?;
    }
    Ok(())
}

/// Which cgroup version the host uses.
pub fn host_is_unified() -> bool {
    match nix::sys::statfs::statfs(CGROUP_ROOT) {
        Ok(s) => s.filesystem_type() == nix::sys::statfs::CGROUP2_SUPER_MAGIC,
        Err(_) => false,
    }
}

/// Remove the cgroup of a container whose owner died without cleaning up
/// (kill -9): its processes are killed and its directories removed.
pub fn remove_stale(id: &str) -> Result<()> {
    Cgroup::create(id, &Resources::default())?.remove()
}

impl Cgroup {
    /// Create `skiff/<id>` and apply the limits. Nothing joins it yet.
    pub fn create(id: &str, resources: &Resources) -> Result<Cgroup> {
        if host_is_unified() {
            Ok(Cgroup::V2(v2::CgroupV2::create(
                Path::new(CGROUP_ROOT),
                id,
                resources,
            )?))
        } else {
            Ok(Cgroup::V1(v1::CgroupV1::create(id, resources)?))
        }
    }

    /// A cgroup at `rel` below the hierarchy root (an OCI `cgroupsPath`).
    pub fn create_at(rel: &Path, resources: &Resources) -> Result<Cgroup> {
        if host_is_unified() {
            Ok(Cgroup::V2(v2::CgroupV2::create_at(
                Path::new(CGROUP_ROOT),
                rel,
                resources,
            )?))
        } else {
            Ok(Cgroup::V1(v1::CgroupV1::create_at(rel, resources)?))
        }
    }

    /// Move `pid` (the container init, not yet running the container's
    /// program) into the cgroup.
    pub fn add_task(&self, pid: Pid) -> Result<()> {
        match self {
            Cgroup::V1(c) => c.add_task(pid),
            Cgroup::V2(c) => c.add_task(pid),
        }
    }

    pub fn placement(&self) -> Result<Placement> {
        match self {
            Cgroup::V1(c) => Ok(Placement::SelfJoin(
                c.paths().into_iter().map(|p| p.join("tasks")).collect(),
            )),
            Cgroup::V2(c) => {
                let f = std::fs::File::open(c.path()).map_err(|e| RuntimeError::Cgroup {
                    path: c.path().to_path_buf(),
                    msg: format!("cannot open: {e}"),
                })?;
                Ok(Placement::CloneInto(f.into()))
            }
        }
    }

    /// Did the kernel OOM-kill a process of this cgroup?
    pub fn oom_killed(&self) -> bool {
        match self {
            Cgroup::V1(c) => c.oom_kills() > 0,
            Cgroup::V2(c) => c.oom_kills() > 0,
        }
    }

    /// Kill what is left and remove the cgroup directories.
    pub fn remove(&self) -> Result<()> {
        match self {
            Cgroup::V1(c) => c.remove(),
            Cgroup::V2(c) => c.remove(),
        }
    }

    pub fn mounts(&self) -> CgroupMount {
        match self {
            Cgroup::V1(c) => CgroupMount::Hierarchies(c.mounts()),
            Cgroup::V2(_) => CgroupMount::Unified,
        }
    }

    /// The cgroup directories (one per v1 hierarchy, one on v2).
    pub fn paths(&self) -> Vec<PathBuf> {
        match self {
            Cgroup::V1(c) => c.paths(),
            Cgroup::V2(c) => vec![c.path().to_path_buf()],
        }
    }
}

/// Write a cgroup control file.
pub(crate) fn write(dir: &Path, file: &str, value: &str) -> Result<()> {
    let p = dir.join(file);
    std::fs::write(&p, value).map_err(|e| RuntimeError::Cgroup {
        path: p,
        msg: format!("cannot write {value:?}: {e}"),
    })
}

/// Write each of `values` to one cgroup file, one write(2) each on one
/// open descriptor (the kernel takes one rule per write: devices.allow).
pub(crate) fn write_each(dir: &Path, file: &str, values: &[String]) -> Result<()> {
    use std::io::Write;
    let p = dir.join(file);
    let err = |value: &str, e: std::io::Error| RuntimeError::Cgroup {
        path: p.clone(),
        msg: format!("cannot write {value:?}: {e}"),
    };
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .map_err(|e| err("", e))?;
    for v in values {
        f.write_all(v.as_bytes()).map_err(|e| err(v, e))?;
    }
    Ok(())
}

/// Value of `key N` in a flat-keyed cgroup file (memory.events, oom_control).
pub(crate) fn read_key(path: &Path, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(' ')?.trim().parse().ok())
}

/// rmdir a cgroup, killing stragglers and retrying briefly while the kernel
/// finishes tearing down exited tasks.
pub(crate) fn remove_dir(dir: &Path) -> Result<()> {
    for attempt in 0..200 {
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                if attempt % 10 == 0 {
                    kill_all(dir);
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            Err(e) => {
                return Err(RuntimeError::Cgroup {
                    path: dir.to_path_buf(),
                    msg: format!("cannot remove: {e}"),
                })
            }
        }
    }
    Err(RuntimeError::Cgroup {
        path: dir.to_path_buf(),
        msg: "cannot remove: still busy after 1s".into(),
    })
}

fn kill_all(dir: &Path) {
    if let Ok(procs) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
        }
    }
}
