//! `skiff stats`: docker's columns from two reads of each container's
//! cgroup and network counters. CPU % is CPU time over wall time between
//! the reads (100 % = one core, as docker: 2 cores busy show 200 %);
//! memory is usage minus inactive file cache, against the limit (or the
//! host's memory when there is none).

use super::cgroup::{Host, Usage};
use super::netdev::{self, Iface};
use crate::runtime::NetworkMode;
use crate::store::Store;
use crate::supervisor::ops::{self, Info};
use crate::supervisor::state::Observed;
use std::time::Instant;

/// One read of one container.
#[derive(Clone, Debug)]
pub struct Sample {
    pub id: String,
    pub name: Option<String>,
    pub image: String,
    pub usage: Usage,
    /// `None`: it shares the host's network (nothing of its own to count).
    pub net: Option<Vec<Iface>>,
    pub taken: Instant,
}

/// The containers that run now (a live supervisor and a container pid).
pub fn running(store: &Store) -> Vec<Info> {
    ops::list(store).into_iter().filter(is_running).collect()
}

pub fn is_running(i: &Info) -> bool {
    matches!(i.observed, Observed::Up { .. }) && i.state.pid.is_some()
}

/// Read the counters of container `i` now.
pub fn sample(host: &Host, i: &Info) -> Sample {
    let host_net = i
        .config
        .as_ref()
        .is_some_and(|c| c.options.run.network == NetworkMode::Host);
    let net = match i.state.pid {
        Some(pid) if !host_net && is_running(i) => Some(netdev::read(pid)),
        _ => None,
    };
    let usage = if is_running(i) {
        host.usage(&i.id)
    } else {
        Usage::default()
    };
    Sample {
        id: i.id.clone(),
        name: i.name.clone(),
        image: i.image_label(),
        usage,
        net,
        taken: Instant::now(),
    }
}

/// docker's numbers for one container.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    pub id: String,
    pub name: String,
    pub cpu_percent: Option<f64>,
    pub mem_usage: Option<u64>,
    /// The limit, else the host's memory.
    pub mem_limit: Option<u64>,
    pub mem_percent: Option<f64>,
    pub net_rx: Option<u64>,
    pub net_tx: Option<u64>,
    pub block_read: Option<u64>,
    pub block_write: Option<u64>,
    pub pids: Option<u64>,
}

/// The numbers of `cur`, with CPU % against `prev` (the same container
/// read earlier).
pub fn compute(prev: Option<&Sample>, cur: &Sample, host_memory: Option<u64>) -> Stats {
    let cpu_percent = prev.and_then(|p| {
        let used = cur.usage.cpu_ns?.checked_sub(p.usage.cpu_ns?)?;
        let wall = cur.taken.checked_duration_since(p.taken)?.as_nanos();
        (wall > 0).then(|| used as f64 * 100.0 / wall as f64)
    });
    let mem_usage = cur.usage.working_set();
    let mem_limit = cur.usage.memory_limit.or(host_memory);
    let mem_percent = match (mem_usage, mem_limit) {
        (Some(u), Some(l)) if l > 0 => Some(u as f64 * 100.0 / l as f64),
        _ => None,
    };
    let (net_rx, net_tx) = match &cur.net {
        Some(ifaces) => {
            let (r, t) = netdev::totals(ifaces);
            (Some(r), Some(t))
        }
        None => (None, None),
    };
    Stats {
        id: cur.id.clone(),
        name: cur
            .name
            .clone()
            .unwrap_or_else(|| cur.id.chars().take(12).collect()),
        cpu_percent,
        mem_usage,
        mem_limit,
        mem_percent,
        net_rx,
        net_tx,
        block_read: cur.usage.block_read,
        block_write: cur.usage.block_write,
        pids: cur.usage.pids,
    }
}

pub const HEADER: [&str; 8] = [
    "CONTAINER ID",
    "NAME",
    "CPU %",
    "MEM USAGE / LIMIT",
    "MEM %",
    "NET I/O",
    "BLOCK I/O",
    "PIDS",
];

fn pct(v: Option<f64>) -> String {
    v.map(|v| format!("{v:.2}%")).unwrap_or_else(|| "--".into())
}

fn pair(a: Option<u64>, b: Option<u64>, f: fn(u64) -> String) -> String {
    match (a, b) {
        (Some(a), Some(b)) => format!("{} / {}", f(a), f(b)),
        (Some(a), None) => format!("{} / --", f(a)),
        _ => "--".into(),
    }
}

impl Stats {
    /// The table row, as docker prints it.
    pub fn row(&self) -> Vec<String> {
        vec![
            self.id.chars().take(12).collect(),
            self.name.clone(),
            pct(self.cpu_percent),
            pair(self.mem_usage, self.mem_limit, binary_size),
            pct(self.mem_percent),
            pair(self.net_rx, self.net_tx, si_size),
            pair(self.block_read, self.block_write, si_size),
            self.pids
                .map(|p| p.to_string())
                .unwrap_or_else(|| "--".into()),
        ]
    }

    /// docker's `stats --format json` object, plus the raw numbers.
    pub fn json(&self, full_id: bool) -> serde_json::Value {
        let r = self.row();
        serde_json::json!({
            "ID": if full_id { &self.id } else { &r[0] },
            "Container": self.name,
            "Name": self.name,
            "CPUPerc": r[2],
            "MemUsage": r[3],
            "MemPerc": r[4],
            "NetIO": r[5],
            "BlockIO": r[6],
            "PIDs": r[7],
            "Raw": {
                "id": self.id,
                "cpu_percent": self.cpu_percent,
                "memory_bytes": self.mem_usage,
                "memory_limit_bytes": self.mem_limit,
                "memory_percent": self.mem_percent,
                "net_rx_bytes": self.net_rx,
                "net_tx_bytes": self.net_tx,
                "block_read_bytes": self.block_read,
                "block_write_bytes": self.block_write,
                "pids": self.pids,
            },
        })
    }
}

/// C's `%.Ng`: `prec` significant digits, trailing zeros dropped.
fn sig(v: f64, prec: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32 + 1;
    let decimals = (prec - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

fn scaled(bytes: u64, base: f64, units: &[&str], prec: i32) -> String {
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= base && u < units.len() - 1 {
        v /= base;
        u += 1;
    }
    format!("{}{}", sig(v, prec), units[u])
}

/// docker's memory sizes: binary units, 4 significant digits (`3.906MiB`).
pub fn binary_size(bytes: u64) -> String {
    scaled(bytes, 1024.0, &["B", "KiB", "MiB", "GiB", "TiB", "PiB"], 4)
}

/// docker's I/O sizes: SI units, 3 significant digits (`1.05kB`).
pub fn si_size(bytes: u64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB"], 3)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(binary_size(4_096_000), "3.906MiB");
        assert_eq!(binary_size(512), "512B");
        assert_eq!(binary_size(8 << 30), "8GiB");
        assert_eq!(si_size(1050), "1.05kB");
        assert_eq!(si_size(648), "648B");
        assert_eq!(si_size(0), "0B");
    }

    #[test]
    fn cpu_and_memory_as_docker_counts_them() {
        let t0 = Instant::now();
        let s = |cpu: u64, at: Instant| Sample {
            id: "0123456789abcdef".into(),
            name: None,
            image: "busybox".into(),
            usage: Usage {
                cpu_ns: Some(cpu),
                memory: Some(10 << 20),
                inactive_file: Some(2 << 20),
                memory_limit: Some(64 << 20),
                pids: Some(3),
                ..Default::default()
            },
            net: None,
            taken: at,
        };
        let a = s(1_000_000_000, t0);
        let b = s(1_500_000_000, t0 + Duration::from_secs(1));
        let st = compute(Some(&a), &b, Some(1 << 30));
        assert!((st.cpu_percent.unwrap() - 50.0).abs() < 1e-9);
        assert_eq!(st.mem_usage, Some(8 << 20));
        assert!((st.mem_percent.unwrap() - 12.5).abs() < 1e-9);
        assert_eq!(st.name, "0123456789ab");
        let row = st.row();
        assert_eq!(row[2], "50.00%");
        assert_eq!(row[3], "8MiB / 64MiB");
        assert_eq!(row[5], "--", "host network: nothing of its own");
        assert_eq!(compute(None, &b, None).cpu_percent, None);
    }
}
