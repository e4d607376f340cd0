//! The supervisor itself: `skiff __supervise <id>`. One process per
//! running container, single-threaded, one poll(2) loop over
//!
//! - a signalfd (SIGCHLD: the container ended; SIGTERM/SIGINT: stop it and
//!   leave; SIGHUP/SIGQUIT/SIGUSR1/SIGUSR2: passed on to the container),
//! - the container's stdout and stderr pipes (into the log),
//! - the control socket and its clients (`stop`, `restart`, `state`),
//! - the published ports' listeners and relayed connections,
//!
//! with timers for the restart backoff, the SIGKILL after a stop timeout,
//! connects being retried and the readiness probe (a TCP connect to every
//! published container port from inside the container's netns; `ready` in
//! the state). A supervisor started by a rollout may be handed the old
//! supervisor's listeners (`spawn::Handover`): it shares their accept
//! queues and accepts only once its container is ready. Nothing here allocates per byte; buffers
//! are reused, so the supervisor stays at a couple of megabytes.
//!
//! | concern | file |
//! | --- | --- |
//! | `main`, the `Supervisor` and its parts, run and finish | `daemon.rs` |
//! | opening: lock, handed-over listeners, the fields | `daemon/setup.rs` |
//! | the poll loop, timers, signals | `daemon/poll_loop.rs` |
//! | the container's start, end, restart policy, stop | `daemon/lifecycle.rs` |
//! | readiness: port probe, sd_notify, health results | `daemon/readiness.rs` |
//! | the kernel's forwarding kept in step | `daemon/forward_sync.rs` |
//! | stdout/stderr pipes into the log | `daemon/log_pipes.rs` |
//! | control-socket clients and replies | `daemon/clients.rs` |

mod clients;
mod forward_sync;
mod lifecycle;
mod log_pipes;
mod poll_loop;
mod readiness;
mod setup;

use super::config::RunConfig;
use super::log::{LineSplitter, LogWriter};
use super::notify::NotifySocket;
use super::now_rfc3339;
use super::ports::Forwarder as Ports;
use super::probe::Checker;
use super::restart::Restarter;
use super::spawn::Ready;
use super::state::{State, Status};
use crate::runtime::process::sealed_exe;
use crate::runtime::signals::Forwarder as Signals;
use crate::runtime::{Container, Running, Signum};
use crate::store::events::Event as StoreEvent;
use crate::store::Store;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `skiff __supervise <id>`: returns the process exit code.
pub fn main(root: &Path, id: &str) -> i32 {
    if let Err(e) = sealed_exe::ensure() {
        Ready::from_fd3().fail(125, &e.to_string());
        return 125;
    }
    let mut ready = Ready::from_fd3();
    let mut s = match Supervisor::new(root, id) {
        Ok(s) => s,
        Err(e) => {
            ready.fail(e.exit_code(), &e.to_string());
            return e.exit_code();
        }
    };
    s.run(&mut ready)
}

/// How often a supervisor whose ports the kernel forwards checks that the
/// chains hold no member whose supervisor was killed (`forwarding::stale`).
const FORWARD_CHECK: Duration = Duration::from_secs(1);

struct Run {
    running: Running,
    out: Option<OwnedFd>,
    err: Option<OwnedFd>,
    out_lines: LineSplitter,
    err_lines: LineSplitter,
    started: Instant,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum After {
    Exit,
    Restart,
}

struct Stopping {
    kill_at: Instant,
    after: After,
    by_user: bool,
}

struct Client {
    stream: UnixStream,
    buf: Vec<u8>,
    /// Waiting for the end of a stop or restart.
    waiting: Option<After>,
    gone: bool,
}

#[derive(Clone, Copy)]
enum Token {
    Signals,
    Control,
    Client(usize),
    Out,
    Err,
    Listener(usize),
    Conn(usize),
    Probe,
    Notify,
}

struct Supervisor {
    store: Store,
    dir: PathBuf,
    container: Container,
    cfg: RunConfig,
    state: State,
    signals: Signals,
    control: UnixListener,
    clients: Vec<Client>,
    ports: Ports,
    log: LogWriter,
    restarter: Restarter,
    run: Option<Run>,
    restart_at: Option<Instant>,
    /// Next readiness probe, until the container is ready.
    probe_at: Option<Instant>,
    /// Every published port answered (or there are none).
    ports_ready: bool,
    /// The health check, if the container has one.
    health: Option<Checker>,
    /// `--sdnotify container`: READY=1 replaces the port probe.
    notify: Option<NotifySocket>,
    /// Stop this container first (a rollout's replacement without ports).
    stop_first: Option<(String, u64)>,
    stopping: Option<Stopping>,
    stop_signal: Signum,
    done: bool,
    /// Code was faulted in since the last trim: trim again once idle.
    untrimmed: bool,
    /// The last poll that had events.
    busy_at: Instant,
    /// The kernel forwards the published ports (`forwarding.rs`).
    forward: bool,
    /// The next check of the forwarding chains.
    forward_check_at: Option<Instant>,
    /// A forwarding failure was logged (once is enough).
    forward_failed: bool,
    buf: Vec<u8>,
    _lock: std::fs::File,
}

/// The container's stop signal. The config was checked when the container
/// was created (and images' STOPSIGNAL at build), so a name that no longer
/// parses can only come from a hand-edited file: stop with SIGTERM then.
pub fn parse_signal(s: &str) -> Signum {
    s.parse().unwrap_or(Signum::TERM)
}

impl Supervisor {
    fn save(&self) {
        let _ = self.state.save(&self.store, &self.dir);
    }

    /// Record a container event in the store's event log.
    fn event(&self, action: &str, with: impl FnOnce(StoreEvent) -> StoreEvent) {
        let id = self.container.id();
        let name = super::lookup::name_of(&self.store, id);
        let ev = StoreEvent::container(action, id, name.as_deref(), &self.cfg.image.label());
        self.store.emit(with(ev));
    }

    fn run(&mut self, ready: &mut Ready) -> i32 {
        if let Err(e) = self.stop_first().and_then(|()| self.start()) {
            let code = e.exit_code();
            self.state.status = Status::Exited;
            self.state.exit_code = Some(code);
            self.state.error = Some(e.to_string());
            self.state.finished_at = Some(now_rfc3339());
            self.finish();
            ready.fail(code, &e.to_string());
            return code;
        }
        ready.ok();
        super::memory::trim();
        while !self.done {
            self.iterate();
        }
        self.finish();
        0
    }

    /// Leaving: release the ports and the socket, publish the final state,
    /// answer who waits, remove the container if it was `--rm`.
    fn finish(&mut self) {
        self.ports.close_all();
        let _ = std::fs::remove_file(self.dir.join(super::CONTROL_SOCKET));
        self.state.pid = None;
        self.save();
        self.forward_check_at = None;
        self.sync_forwarding();
        self.reply_waiting(After::Exit);
        self.reply_waiting(After::Restart);
        if self.cfg.auto_remove {
            self.event("destroy", |e| e);
            let _ = crate::runtime::container::discard_dir(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn signals() {
        use nix::sys::signal::Signal;
        assert_eq!(super::parse_signal("SIGQUIT"), Signal::SIGQUIT.into());
        assert_eq!(super::parse_signal("int"), Signal::SIGINT.into());
        assert_eq!(super::parse_signal("9"), Signal::SIGKILL.into());
        assert_eq!(super::parse_signal("SIGRTMIN+3").raw(), 37);
        assert_eq!(super::parse_signal("bogus"), super::Signum::TERM);
    }
}
