//! `containers/<id>/state.json`: what the container is doing, written
//! atomically (tmp + fsync + rename) by whoever owns the container at that
//! moment — its supervisor while one lives, else the CLI command at hand.
//!
//! A state file alone can lie: a supervisor killed with SIGKILL (or a host
//! reboot) leaves "running" behind. So readers check the supervisor it
//! names: the pid must exist with the same start time (against pid reuse)
//! on the same boot. [`observe`] turns the file plus that check into what
//! `ps` shows.

use super::{Result, SupervisorError, STATE_FILE};
use crate::store::Store;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Created, never started.
    #[default]
    Created,
    Running,
    /// Ended; the supervisor will start it again after a delay.
    Restarting,
    /// Ended for good (or stopped).
    Exited,
}

/// A process identified against pid reuse.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessRef {
    pub pid: i32,
    /// Field 22 of /proc/<pid>/stat (clock ticks after boot).
    pub start_time: u64,
    /// /proc/sys/kernel/random/boot_id
    pub boot_id: String,
}

impl ProcessRef {
    pub fn current() -> ProcessRef {
        let pid = std::process::id() as i32;
        ProcessRef {
            pid,
            start_time: start_time(pid).unwrap_or(0),
            boot_id: boot_id(),
        }
    }

    /// Is that very process still alive (not a zombie)?
    pub fn alive(&self) -> bool {
        self.boot_id == boot_id()
            && proc_stat(self.pid).is_some_and(|(state, start)| {
                start == self.start_time && state != 'Z' && state != 'X'
            })
    }

    /// Was the host rebooted since?
    pub fn from_previous_boot(&self) -> bool {
        self.boot_id != boot_id()
    }
}

/// (state letter, start time) from /proc/<pid>/stat.
fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let s = crate::sys::proc::stat(pid.into())?;
    Some((s.state(), s.start_time()?))
}

pub fn start_time(pid: i32) -> Option<u64> {
    proc_stat(pid).map(|(_, s)| s)
}

pub fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub status: Status,
    /// The supervisor (or foreground `skiff run`) that owns the container.
    pub supervisor: Option<ProcessRef>,
    /// The container init's pid (host view) while running.
    pub pid: Option<i32>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub exit_code: Option<i32>,
    pub oom_killed: bool,
    /// Restarts done by the restart policy.
    pub restart_count: u32,
    /// `skiff stop` (or rm -f) ended it: `unless-stopped` stays down at boot.
    pub stopped_by_user: bool,
    /// Why the last start failed, if it did.
    pub error: Option<String>,
    /// The running container answers on every published container port
    /// (for a container without published ports: it runs). A rollout
    /// waits for this before the old container stops accepting.
    #[serde(default)]
    pub ready: bool,
    /// Told `stop_accepting` (drained by a rollout or `scale`): no new
    /// connections, from the relay or the kernel's forwarding.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub draining: bool,
    /// The health check's state while running (`None` without a check).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<super::health::HealthState>,
    /// `--sdnotify container`: the last STATUS= the container sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_status: Option<String>,
}

impl State {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(STATE_FILE)
    }

    /// The state, or a fresh `Created` one if the file does not exist.
    pub fn load(dir: &Path) -> Result<State> {
        let p = State::path(dir);
        match std::fs::read(&p) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| SupervisorError::Corrupt {
                path: p,
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(e) => Err(SupervisorError::Io {
                what: "cannot read",
                path: p,
                source: e,
            }),
        }
    }

    pub fn save(&self, store: &Store, dir: &Path) -> Result<()> {
        let bytes =
            serde_json::to_vec_pretty(self).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
        store.write_atomic(&State::path(dir), &bytes)?;
        Ok(())
    }

    /// Is the owning supervisor alive?
    pub fn supervised(&self) -> bool {
        self.supervisor.as_ref().is_some_and(ProcessRef::alive)
    }
}

/// What a container really is doing, state file and liveness combined.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Observed {
    Created,
    Up {
        since: Option<String>,
    },
    Restarting {
        exit_code: Option<i32>,
        since: Option<String>,
    },
    Exited {
        exit_code: Option<i32>,
        since: Option<String>,
    },
    /// The state says it runs, but its supervisor is gone.
    Dead {
        reason: &'static str,
    },
}

impl Observed {
    /// Does it have a live supervisor (so stop/rm must go through it)?
    pub fn is_live(&self) -> bool {
        matches!(self, Observed::Up { .. } | Observed::Restarting { .. })
    }

    /// The word docker uses in `State.Status`.
    pub fn word(&self) -> &'static str {
        match self {
            Observed::Created => "created",
            Observed::Up { .. } => "running",
            Observed::Restarting { .. } => "restarting",
            Observed::Exited { .. } => "exited",
            Observed::Dead { .. } => "dead",
        }
    }
}

pub fn observe(s: &State) -> Observed {
    match s.status {
        Status::Created => Observed::Created,
        Status::Exited => Observed::Exited {
            exit_code: s.exit_code,
            since: s.finished_at.clone(),
        },
        Status::Running | Status::Restarting => {
            if !s.supervised() {
                let reason = if s
                    .supervisor
                    .as_ref()
                    .is_some_and(ProcessRef::from_previous_boot)
                {
                    "host rebooted"
                } else {
                    "supervisor killed"
                };
                return Observed::Dead { reason };
            }
            if s.status == Status::Running {
                Observed::Up {
                    since: s.started_at.clone(),
                }
            } else {
                Observed::Restarting {
                    exit_code: s.exit_code,
                    since: s.finished_at.clone(),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_is_alive_and_reuse_is_detected() {
        let me = ProcessRef::current();
        assert!(me.alive());
        let reused = ProcessRef {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert!(!reused.alive());
        let rebooted = ProcessRef {
            boot_id: "other".into(),
            ..me
        };
        assert!(!rebooted.alive());
        assert!(rebooted.from_previous_boot());
    }

    #[test]
    fn running_without_supervisor_is_dead() {
        let s = State {
            status: Status::Running,
            supervisor: Some(ProcessRef {
                pid: i32::MAX - 1,
                start_time: 1,
                boot_id: boot_id(),
            }),
            ..Default::default()
        };
        assert_eq!(
            observe(&s),
            Observed::Dead {
                reason: "supervisor killed"
            }
        );
        let live = State {
            supervisor: Some(ProcessRef::current()),
            ..s
        };
        assert!(matches!(observe(&live), Observed::Up { .. }));
    }
}
