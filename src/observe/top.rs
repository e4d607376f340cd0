//! `skiff top`: the processes of a container's cgroup, in `ps -ef`'s
//! columns (as `docker top` shows by default), read from `/proc`.

use std::collections::HashMap;

pub const HEADER: [&str; 8] = ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// One process, as `ps -ef` shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Process {
    pub uid: String,
    pub pid: i32,
    pub ppid: i32,
    pub cpu: u64,
    pub stime: String,
    pub tty: String,
    pub time: String,
    pub cmd: String,
}

impl Process {
    pub fn row(&self) -> Vec<String> {
        vec![
            self.uid.clone(),
            self.pid.to_string(),
            self.ppid.to_string(),
            self.cpu.to_string(),
            self.stime.clone(),
            self.tty.clone(),
            self.time.clone(),
            self.cmd.clone(),
        ]
    }
}

/// What `/proc` says about the whole host, read once.
struct Clock {
    hz: u64,
    boot_time: i64,
    uptime: f64,
}

impl Clock {
    fn read() -> Clock {
        let hz = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
            .ok()
            .flatten()
            .filter(|&v| v > 0)
            .unwrap_or(100) as u64;
        let boot_time = std::fs::read_to_string("/proc/stat")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
            })
            .unwrap_or(0);
        let uptime = std::fs::read_to_string("/proc/uptime")
            .ok()
            .and_then(|t| t.split_whitespace().next()?.parse().ok())
            .unwrap_or(0.0);
        Clock {
            hz,
            boot_time,
            uptime,
        }
    }
}

/// `pts/3`, `tty1`, or `?`.
pub fn tty_name(tty_nr: u64) -> String {
    let major = (tty_nr >> 8) & 0xfff;
    let minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 => format!("tty{minor}"),
        _ => "?".into(),
    }
}

/// CPU time as ps prints it: `00:01:02`, `2-03:04:05`.
pub fn cpu_time(secs: u64) -> String {
    let (d, h, m, s) = (secs / 86400, secs / 3600 % 24, secs / 60 % 60, secs % 60);
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

fn user_name(uid: u32, cache: &mut HashMap<u32, String>) -> String {
    cache
        .entry(uid)
        .or_insert_with(|| {
            nix::unistd::User::from_uid(nix::unistd::Uid::from_raw(uid))
                .ok()
                .flatten()
                .map(|u| u.name)
                .unwrap_or_else(|| uid.to_string())
        })
        .clone()
}

/// The processes `pids` that still exist, in `ps -ef` form.
pub fn processes(pids: &[i32]) -> Vec<Process> {
    let clock = Clock::read();
    let now = chrono::Local::now();
    let mut users = HashMap::new();
    let mut out = Vec::new();
    for &pid in pids {
        let Some(f) = crate::sys::proc::stat(pid.into()) else {
            continue;
        };
        let ppid = f.ppid();
        let tty_nr = f.num(7);
        let cpu_ticks = f.num(14) + f.num(15);
        let start_ticks = f.num(22);
        let uid = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| {
                let l = t.lines().find_map(|l| l.strip_prefix("Uid:"))?;
                l.split_whitespace().nth(1)?.parse::<u32>().ok()
            })
            .unwrap_or(0);
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline"))
            .ok()
            .map(|b| {
                b.split(|&c| c == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|c| !c.is_empty())
            .unwrap_or_else(|| {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                format!("[{}]", comm.trim())
            });
        let started_secs = start_ticks as f64 / clock.hz as f64;
        let ran = (clock.uptime - started_secs).max(0.0);
        let cpu_secs = cpu_ticks as f64 / clock.hz as f64;
        let cpu = if ran > 0.0 {
            (cpu_secs * 100.0 / ran) as u64
        } else {
            0
        };
        let started = chrono::DateTime::from_timestamp(clock.boot_time + started_secs as i64, 0)
            .map(|t| t.with_timezone(&chrono::Local));
        let stime = match started {
            Some(t) if t.date_naive() == now.date_naive() => t.format("%H:%M").to_string(),
            Some(t) => t.format("%b%d").to_string(),
            None => "?".into(),
        };
        out.push(Process {
            cmd: super::printable(&cmd),
            uid: user_name(uid, &mut users),
            pid,
            ppid,
            cpu,
            stime,
            tty: tty_name(tty_nr),
            time: cpu_time(cpu_secs as u64),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_ps() {
        assert_eq!(cpu_time(62), "00:01:02");
        assert_eq!(cpu_time(2 * 86400 + 3 * 3600 + 4 * 60 + 5), "2-03:04:05");
        assert_eq!(tty_name(0), "?");
        assert_eq!(tty_name((136 << 8) | 3), "pts/3");
        assert_eq!(tty_name((4 << 8) | 1), "tty1");
    }

    #[test]
    fn reads_this_process() {
        let me = std::process::id() as i32;
        let p = processes(&[me, i32::MAX - 3]);
        assert_eq!(p.len(), 1, "a vanished pid is skipped");
        assert_eq!(p[0].pid, me);
        assert!(!p[0].cmd.is_empty());
    }
}
