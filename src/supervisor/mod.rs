//! The per-container supervisor: one small process per detached container
//! (`skiff __supervise <id>`, detached with setsid) that owns the
//! container's lifecycle — cgroup and process (through `runtime`), the log,
//! the restart policy, the state file and the published ports — in a
//! single-threaded poll(2) loop. It exists while the container should run
//! (running, or waiting to be restarted); a stopped container has none.
//!
//! | concern | file |
//! | --- | --- |
//! | what to restart and when (pure) | `restart.rs` |
//! | `containers/<id>/config.json`: how to recreate it | `config.rs` |
//! | `containers/<id>/state.json`, liveness of the supervisor | `state.rs` |
//! | name / id / prefix lookup, listing | `lookup.rs` |
//! | json-file log lines, rotation, reading back | `log.rs` |
//! | logs of replaced containers, kept until prune | `log_archive.rs` |
//! | `-p`: listeners and the relay into the container's netns | `ports.rs` |
//! | `-p` on a bridge: which ready containers the kernel forwards to | `forwarding.rs` |
//! | the control socket: requests and replies | `control.rs` |
//! | starting a supervisor and waiting for "started" | `spawn.rs` |
//! | the supervisor process: poll loop, lifecycle, readiness, clients, log pipes | `daemon.rs`, `daemon/` |
//! | staying small (code pages, heap) | `memory.rs` |
//! | leftovers of a killed supervisor (cgroups, processes) | `cleanup.rs` |
//! | the commands: list, stop, start, restart, rm, boot, inspect | `ops.rs` |
//! | the root a `cp` reads or writes (running or stopped) | `copy_root.rs` |
//! | `ps --filter` | `filter.rs` |
//! | `supervise NAME`: a foreground keeper for systemd, adopting after kill -9 | `keeper.rs` |
//! | replicas of one service: names, members, one shared port | `replicas.rs` |

pub mod cleanup;
pub mod config;
pub mod control;
pub mod copy_root;
pub mod daemon;
pub mod filter;
pub mod forwarding;
pub mod fsck;
pub mod health;
pub mod keeper;
pub mod log;
pub mod log_archive;
pub mod lookup;
pub mod memory;
pub mod networks;
pub mod notify;
pub mod ops;
pub mod ports;
pub mod probe;
pub mod replicas;
pub mod restart;
pub mod spawn;
pub mod state;

use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {source}")]
    Sys {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("container id prefix {0} is ambiguous")]
    Ambiguous(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{path}: {msg}")]
    Corrupt { path: PathBuf, msg: String },
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The container's program could not start (exit code 126/127, or 125).
    #[error("{message}")]
    Start { code: i32, message: String },
}

impl SupervisorError {
    pub fn io<'a>(
        what: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> SupervisorError + 'a {
        move |source| SupervisorError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn sys(what: impl Into<String>) -> impl FnOnce(nix::Error) -> SupervisorError {
        let what = what.into();
        move |e| SupervisorError::Sys {
            what,
            source: std::io::Error::from_raw_os_error(e as i32),
        }
    }
    /// docker's exit code for this error.
    pub fn exit_code(&self) -> i32 {
        match self {
            SupervisorError::Start { code, .. } => *code,
            SupervisorError::Runtime(e) => e.exit_code(),
            _ => 125,
        }
    }
}

pub type Result<T, E = SupervisorError> = std::result::Result<T, E>;

/// Files of `containers/<id>/` owned by the supervisor.
pub const CONFIG_FILE: &str = "config.json";
pub const STATE_FILE: &str = "state.json";
pub const LOG_FILE: &str = "container.log";
pub const CONTROL_SOCKET: &str = "control.sock";
pub const LOCK_FILE: &str = "supervisor.lock";

/// RFC 3339 with nanoseconds, UTC, as docker's json-file log writes it.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}
