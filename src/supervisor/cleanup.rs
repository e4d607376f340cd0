//! What a supervisor killed with SIGKILL leaves behind. Its container dies
//! with it (the runtime sets PDEATHSIG on the container init, and the
//! kernel then kills the whole pid namespace; the overlay lives in the
//! container's mount namespace and goes with it), but the cgroup
//! directories `skiff/<id>` stay. `rm` and `start` call [`remove_cgroups`].

use crate::runtime::cgroups::{self, v1, CGROUP_ROOT, PARENT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::PathBuf;
use std::time::Duration;

/// The cgroup directories of container `id` that exist on this host.
pub fn cgroup_dirs(id: &str) -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if cgroups::host_is_unified() {
        dirs.push(PathBuf::from(CGROUP_ROOT).join(PARENT).join(id));
    } else if let Ok(mi) = std::fs::read_to_string("/proc/self/mountinfo") {
        for h in v1::hierarchies(&mi) {
            let d = h.mountpoint.join(PARENT).join(id);
            if !dirs.contains(&d) {
                dirs.push(d);
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}

/// Kill whatever still runs in the container's cgroups and remove them.
/// Returns the directories that could not be removed.
pub fn remove_cgroups(id: &str) -> Vec<PathBuf> {
    let mut left = Vec::new();
    for d in cgroup_dirs(id) {
        let mut removed = false;
        for attempt in 0..100 {
            if attempt % 10 == 0 {
                if let Ok(procs) = std::fs::read_to_string(d.join("cgroup.procs")) {
                    for pid in procs.lines().filter_map(|l| l.trim().parse::<i32>().ok()) {
                        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
                    }
                }
            }
            match std::fs::remove_dir(&d) {
                Ok(()) => {
                    removed = true;
                    break;
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    removed = true;
                    break;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        if !removed {
            left.push(d);
        }
    }
    left
}

/// Processes still in the container's cgroups.
pub fn processes(id: &str) -> Vec<i32> {
    cgroup_dirs(id)
        .iter()
        .filter_map(|d| std::fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|s| {
            s.lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
                .collect::<Vec<_>>()
        })
        .collect()
}
