//! What the host offers containers, for `skiff info`: kernel, cgroup
//! version and controllers, the capabilities a container gets.

use super::capabilities::DOCKER_DEFAULT;
use super::cgroups;
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct HostInfo {
    pub kernel: String,
    pub os: String,
    pub arch: String,
    pub cpus: usize,
    pub memory_bytes: u64,
    /// 2 (unified) or 1 (v1 controllers, maybe hybrid).
    pub cgroup_version: u8,
    /// The controllers a container can be limited with.
    pub cgroup_controllers: Vec<String>,
    /// docker's default capability set, by name.
    pub capabilities: Vec<String>,
}

fn first_line(path: &str) -> Option<String> {
    Some(
        std::fs::read_to_string(path)
            .ok()?
            .lines()
            .next()?
            .trim()
            .to_string(),
    )
}

/// PRETTY_NAME of /etc/os-release.
fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| "Linux".into())
}

fn memory_bytes() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            let l = t.lines().find(|l| l.starts_with("MemTotal:"))?;
            let kb: u64 = l.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        })
        .unwrap_or(0)
}

/// Enabled controllers: cgroup.controllers on v2, /proc/cgroups on v1.
fn controllers(unified: bool) -> Vec<String> {
    if unified {
        return first_line("/sys/fs/cgroup/cgroup.controllers")
            .map(|l| l.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
    }
    let text = std::fs::read_to_string("/proc/cgroups").unwrap_or_default();
    parse_proc_cgroups(&text)
}

fn parse_proc_cgroups(text: &str) -> Vec<String> {
    let mut v: Vec<String> = text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (f.len() >= 4 && f[3] == "1").then(|| f[0].to_string())
        })
        .collect();
    v.sort();
    v
}

pub fn host_info() -> HostInfo {
    let unified = cgroups::host_is_unified();
    let uname = nix::sys::utsname::uname().ok();
    let kernel = uname
        .as_ref()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    let arch = uname
        .as_ref()
        .map(|u| u.machine().to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut capabilities: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| DOCKER_DEFAULT.contains(&(c.index() as u32)))
        .map(|c| c.to_string())
        .collect();
    capabilities.sort();
    HostInfo {
        kernel,
        os: os_name(),
        arch,
        cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
        memory_bytes: memory_bytes(),
        cgroup_version: if unified { 2 } else { 1 },
        cgroup_controllers: controllers(unified),
        capabilities,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_controllers_are_the_enabled_ones() {
        let t = "#subsys_name\thierarchy\tnum_cgroups\tenabled\ncpu\t3\t10\t1\nmemory\t5\t80\t1\nrdma\t0\t1\t0\n";
        assert_eq!(parse_proc_cgroups(t), vec!["cpu", "memory"]);
    }

    #[test]
    fn docker_defaults_by_name() {
        let h = host_info();
        assert_eq!(h.capabilities.len(), 14);
        assert!(h.capabilities.contains(&"CAP_NET_BIND_SERVICE".to_string()));
    }
}
