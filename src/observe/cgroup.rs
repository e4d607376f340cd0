//! Reading a container's cgroup counters (never writing): CPU time,
//! memory, pids and block I/O of `skiff/<id>`, on cgroup v1 (one directory
//! per hierarchy) and v2 (one directory). A file that is missing (an older
//! kernel, a controller not enabled, a container that just vanished) gives
//! `None` for that counter, never an error.

use crate::runtime::cgroups::{self, v1};
use std::path::{Path, PathBuf};

/// What one read of a container's cgroup found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// CPU time used, nanoseconds.
    pub cpu_ns: Option<u64>,
    /// Memory charged to the cgroup, page cache included.
    pub memory: Option<u64>,
    /// Inactive file cache (docker subtracts it; cAdvisor's working set too).
    pub inactive_file: Option<u64>,
    /// The memory limit; `None` when unlimited (or unknown).
    pub memory_limit: Option<u64>,
    pub pids: Option<u64>,
    pub block_read: Option<u64>,
    pub block_write: Option<u64>,
}

impl Usage {
    /// docker's "MEM USAGE" and cAdvisor's working set: usage minus
    /// inactive file cache.
    pub fn working_set(&self) -> Option<u64> {
        let m = self.memory?;
        Some(m.saturating_sub(self.inactive_file.unwrap_or(0)))
    }

    /// Nothing could be read: the cgroup is gone.
    pub fn is_empty(&self) -> bool {
        self.cpu_ns.is_none() && self.memory.is_none() && self.pids.is_none()
    }
}

/// The host's cgroup layout, found once per command.
#[derive(Clone, Debug)]
pub enum Host {
    /// The unified hierarchy: containers under `<root>/skiff/<id>`.
    V2 { root: PathBuf },
    /// v1 hierarchies: containers under `<mountpoint>/skiff/<id>` of each.
    V1 { hierarchies: Vec<v1::Hierarchy> },
}

impl Host {
    pub fn detect() -> Host {
        if cgroups::host_is_unified() {
            return Host::V2 {
                root: PathBuf::from(cgroups::CGROUP_ROOT),
            };
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        Host::V1 {
            hierarchies: v1::hierarchies(&mountinfo),
        }
    }

    pub fn version(&self) -> u8 {
        match self {
            Host::V2 { .. } => 2,
            Host::V1 { .. } => 1,
        }
    }

    /// The container's directory for `controller` (v2: the one directory).
    pub fn dir(&self, controller: &str, id: &str) -> Option<PathBuf> {
        match self {
            Host::V2 { root } => Some(root.join(cgroups::PARENT).join(id)),
            Host::V1 { hierarchies } => hierarchies
                .iter()
                .find(|h| h.controllers.iter().any(|c| c == controller))
                .map(|h| h.mountpoint.join(cgroups::PARENT).join(id)),
        }
    }

    /// Read every counter of container `id`.
    pub fn usage(&self, id: &str) -> Usage {
        match self {
            Host::V2 { .. } => self.dir("memory", id).map(|d| v2_usage(&d)),
            Host::V1 { .. } => Some(self.v1_usage(id)),
        }
        .unwrap_or_default()
    }

    fn v1_usage(&self, id: &str) -> Usage {
        let file = |controller: &str, name: &str| {
            self.dir(controller, id)
                .and_then(|d| std::fs::read_to_string(d.join(name)).ok())
        };
        let (block_read, block_write) = file("blkio", "blkio.throttle.io_service_bytes_recursive")
            .or_else(|| file("blkio", "blkio.throttle.io_service_bytes"))
            .map(|t| parse_v1_blkio(&t))
            .unwrap_or_default();
        Usage {
            cpu_ns: file("cpuacct", "cpuacct.usage").and_then(|t| t.trim().parse().ok()),
            memory: file("memory", "memory.usage_in_bytes").and_then(|t| t.trim().parse().ok()),
            inactive_file: file("memory", "memory.stat")
                .and_then(|t| flat_key(&t, "total_inactive_file")),
            memory_limit: file("memory", "memory.limit_in_bytes").and_then(|t| parse_limit(&t)),
            pids: file("pids", "pids.current").and_then(|t| t.trim().parse().ok()),
            block_read,
            block_write,
        }
    }

    /// Every process in the container's cgroup and those below it (a
    /// container may make its own sub-cgroups), sorted.
    pub fn pids(&self, id: &str) -> Vec<i32> {
        let Some(dir) = self.dir("pids", id).or_else(|| self.dir("memory", id)) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        collect_procs(&dir, &mut out, 0);
        out.sort_unstable();
        out.dedup();
        out
    }
}

fn collect_procs(dir: &Path, out: &mut Vec<i32>, depth: usize) {
    if let Ok(t) = std::fs::read_to_string(dir.join("cgroup.procs")) {
        out.extend(t.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
    }
    if depth >= 16 {
        return;
    }
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                collect_procs(&e.path(), out, depth + 1);
            }
        }
    }
}

fn v2_usage(dir: &Path) -> Usage {
    let file = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let (block_read, block_write) = file("io.stat")
        .map(|t| parse_io_stat(&t))
        .unwrap_or_default();
    Usage {
        cpu_ns: file("cpu.stat")
            .and_then(|t| flat_key(&t, "usage_usec"))
            .map(|us| us.saturating_mul(1000)),
        memory: file("memory.current").and_then(|t| t.trim().parse().ok()),
        inactive_file: file("memory.stat").and_then(|t| flat_key(&t, "inactive_file")),
        memory_limit: file("memory.max").and_then(|t| parse_limit(&t)),
        pids: file("pids.current").and_then(|t| t.trim().parse().ok()),
        block_read,
        block_write,
    }
}

/// `key N` in a flat-keyed file (memory.stat, cpu.stat).
pub fn flat_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

/// A memory limit: `max` (v2) or the v1 "unlimited" value (about 2^63,
/// rounded to a page) mean none.
pub fn parse_limit(text: &str) -> Option<u64> {
    let t = text.trim();
    if t == "max" {
        return None;
    }
    t.parse::<u64>().ok().filter(|&v| v < 1 << 62)
}

/// v1 `blkio.throttle.io_service_bytes`: `MAJ:MIN Read N` lines per device
/// (and a `Total` line): bytes read and written, summed over devices.
pub fn parse_v1_blkio(text: &str) -> (Option<u64>, Option<u64>) {
    let (mut r, mut w) = (0u64, 0u64);
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if let [_dev, op, n] = f[..] {
            let n: u64 = n.parse().unwrap_or(0);
            match op {
                "Read" => r = r.saturating_add(n),
                "Write" => w = w.saturating_add(n),
                _ => {}
            }
        }
    }
    (Some(r), Some(w))
}

/// v2 `io.stat`: `MAJ:MIN rbytes=N wbytes=N ...` per device, summed.
pub fn parse_io_stat(text: &str) -> (Option<u64>, Option<u64>) {
    let (mut r, mut w) = (0u64, 0u64);
    for kv in text.split_whitespace() {
        if let Some((k, v)) = kv.split_once('=') {
            let n: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => r = r.saturating_add(n),
                "wbytes" => w = w.saturating_add(n),
                _ => {}
            }
        }
    }
    (Some(r), Some(w))
}

/// Total memory of the host (what an unlimited container may use), bytes.
pub fn host_memory() -> Option<u64> {
    let t = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = t
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters() {
        assert_eq!(
            flat_key("cache 5\ntotal_inactive_file 42\n", "total_inactive_file"),
            Some(42)
        );
        assert_eq!(
            flat_key("inactive_file_x 1\ninactive_file 7\n", "inactive_file"),
            Some(7)
        );
        assert_eq!(flat_key("", "x"), None);
        assert_eq!(parse_limit("max\n"), None);
        assert_eq!(parse_limit("9223372036854771712\n"), None);
        assert_eq!(parse_limit("67108864\n"), Some(64 << 20));
        assert_eq!(
            parse_v1_blkio("8:0 Read 4096\n8:0 Write 100\n8:0 Sync 5\n8:16 Read 1\nTotal 4202\n"),
            (Some(4097), Some(100))
        );
        assert_eq!(
            parse_io_stat("8:0 rbytes=10 wbytes=20 rios=1 wios=2\n259:0 rbytes=5 wbytes=0\n"),
            (Some(15), Some(20))
        );
    }

    #[test]
    fn reads_a_v2_directory_and_tolerates_missing_files() {
        let d = tempfile::tempdir().unwrap();
        let c = d.path().join("skiff/abc");
        std::fs::create_dir_all(&c).unwrap();
        std::fs::write(c.join("cpu.stat"), "usage_usec 1500\nuser_usec 1000\n").unwrap();
        std::fs::write(c.join("memory.current"), "1000000\n").unwrap();
        std::fs::write(c.join("memory.stat"), "anon 10\ninactive_file 250000\n").unwrap();
        std::fs::write(c.join("memory.max"), "max\n").unwrap();
        std::fs::write(c.join("cgroup.procs"), "12\n7\n").unwrap();
        let host = Host::V2 {
            root: d.path().to_path_buf(),
        };
        let u = host.usage("abc");
        assert_eq!(u.cpu_ns, Some(1_500_000));
        assert_eq!(u.working_set(), Some(750_000));
        assert_eq!(u.memory_limit, None);
        assert_eq!(u.pids, None, "pids.current missing: unknown, not an error");
        assert_eq!(host.pids("abc"), vec![7, 12]);
        assert!(host.usage("gone").is_empty());
    }
}
