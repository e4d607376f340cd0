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

use super::config::RunConfig;
use super::control::{self, Reply, Request};
use super::forwarding;
use super::health::{HealthResult, HealthStatus, OnFailure};
use super::log::{LineSplitter, LogWriter, Stream};
use super::notify::NotifySocket;
use super::ports::{Forwarder as Ports, Listener};
use super::probe::Checker;
use super::restart::{Decision, Ended, Restarter};
use super::spawn::{Ready, FIRST_LISTEN_FD, LISTEN_FDS_ENV, STOP_FIRST_ENV};
use super::state::{ProcessRef, State, Status};
use super::{now_rfc3339, Result, SupervisorError, LOCK_FILE};
use crate::runtime::process::{sealed_exe, tiny_init};
use crate::runtime::signals::{Event, Forwarder as Signals};
use crate::runtime::{Container, ExitStatus, Running, Signum, Stdio};
use crate::store::events::Event as StoreEvent;
use crate::store::Store;
use nix::sys::signal::Signal;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
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

/// After this long without events, drop the code pages the last burst
/// faulted in (`memory::trim`).
const IDLE_TRIM_MS: i32 = 2000;
/// Readiness probes: often at first (a rollout waits on them), then seldom.
const PROBE_FAST: Duration = Duration::from_millis(20);
const PROBE_SLOW: Duration = Duration::from_millis(500);
const PROBE_FAST_FOR: Duration = Duration::from_secs(10);
/// How long one probe connect may take.
const PROBE_WAIT: Duration = Duration::from_millis(100);
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

/// The listeners a rollout handed over (`spawn::Handover`): descriptors
/// 4, 5, … in the order of `cfg.ports`, each checked to be a listening
/// TCP socket on its port.
fn handed_listeners(cfg: &RunConfig) -> Result<Option<Vec<Listener>>> {
    let Some(n) = std::env::var(LISTEN_FDS_ENV).ok() else {
        return Ok(None);
    };
    std::env::remove_var(LISTEN_FDS_ENV);
    let n: usize = n
        .parse()
        .map_err(|_| SupervisorError::Invalid(format!("bad {LISTEN_FDS_ENV} {n:?}")))?;
    if n != cfg.ports.len() {
        return Err(SupervisorError::Invalid(format!(
            "{n} listening sockets were handed over for {} published ports",
            cfg.ports.len()
        )));
    }
    let mut out = Vec::with_capacity(n);
    for (i, spec) in cfg.ports.iter().enumerate() {
        let raw = FIRST_LISTEN_FD + i as RawFd;
        // `spawn_with` put this socket here for us alone; close-on-exec
        // keeps it from the container's processes.
        let Some(fd) = crate::sys::fd::adopt_inherited(raw, libc::S_IFSOCK) else {
            return Err(SupervisorError::Invalid(format!(
                "handed-over listener {i} (descriptor {raw}) is not a socket"
            )));
        };
        let l = Listener::from_fd(fd, spec.clone())?;
        let port = l.local_port();
        if port != Some(spec.host_port) {
            return Err(SupervisorError::Invalid(format!(
                "handed-over listener {i} is not on port {}",
                spec.host_port
            )));
        }
        out.push(l);
    }
    Ok(Some(out))
}

fn stop_first() -> Option<(String, u64)> {
    let v = std::env::var(STOP_FIRST_ENV).ok()?;
    std::env::remove_var(STOP_FIRST_ENV);
    let (id, t) = v.rsplit_once(':')?;
    Some((id.to_string(), t.parse().ok()?))
}

/// One supervisor per container: an exclusive lock for as long as it lives.
fn lock(dir: &Path) -> Result<std::fs::File> {
    let p = dir.join(LOCK_FILE);
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&p)
        .map_err(SupervisorError::io("cannot open", &p))?;
    // A supervisor that was just told to stop may take a moment to leave.
    for _ in 0..200 {
        match f.try_lock() {
            Ok(()) => return Ok(f),
            Err(std::fs::TryLockError::WouldBlock) => std::thread::sleep(Duration::from_millis(10)),
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(SupervisorError::Io {
                    what: "cannot lock",
                    path: p,
                    source: e,
                })
            }
        }
    }
    Err(SupervisorError::Invalid(
        "the container is already running (it has a supervisor)".into(),
    ))
}

fn set_nonblocking(fd: &OwnedFd) {
    let _ = crate::sys::fd::set_nonblocking(fd.as_fd());
}

impl Supervisor {
    fn new(root: &Path, id: &str) -> Result<Supervisor> {
        let store = Store::open(root)?;
        let container = Container::open(&store, id)?;
        let dir = container.dir().to_path_buf();
        let cfg = RunConfig::load(&dir)?;
        let lock = lock(&dir)?;
        let mut state = State::load(&dir)?;
        state.supervisor = Some(ProcessRef::current());
        state.restart_count = 0;
        state.stopped_by_user = false;
        state.draining = false;
        let signals = Signals::install()?;
        let ports = match handed_listeners(&cfg)? {
            Some(listeners) => {
                let mut p = Ports::with_listeners(listeners)?;
                p.gate(true);
                p
            }
            None => Ports::bind(&cfg.ports)?,
        };
        // A replica shares its port with the others: it takes connections
        // only while ready, one per wake-up, so the ready ones share them.
        let mut ports = ports;
        if cfg.options.service.is_some() {
            ports.gate(true);
            ports.share();
        }
        let stop_first = stop_first();
        let control = control::bind(&dir)?;
        let log = LogWriter::open(&dir, cfg.log)
            .map_err(SupervisorError::io("cannot open the log in", &dir))?;
        tiny_init::enable(cfg.init);
        let health_cfg = cfg.health.clone();
        let forward = forwarding::forwardable(&cfg);
        let notify = match cfg.options.sdnotify.is_container() {
            true => Some(NotifySocket::bind(&dir)?),
            false => None,
        };
        Ok(Supervisor {
            restarter: match Restarter::first_delay_from_env() {
                // Soak tests only (restart.rs, BACKOFF_ENV).
                Some(first) => Restarter::new(cfg.restart, 0).with_first_delay(first),
                None => Restarter::new(cfg.restart, 0),
            },
            stop_signal: parse_signal(&cfg.stop_signal),
            store,
            dir,
            container,
            cfg,
            state,
            signals,
            control,
            clients: Vec::new(),
            ports,
            log,
            run: None,
            restart_at: None,
            probe_at: None,
            ports_ready: false,
            health: health_cfg.map(Checker::new),
            notify,
            stop_first,
            stopping: None,
            done: false,
            untrimmed: false,
            busy_at: Instant::now(),
            forward,
            forward_check_at: forward.then(|| Instant::now() + FORWARD_CHECK),
            forward_failed: false,
            buf: vec![0; 16 * 1024],
            _lock: lock,
        })
    }

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

    /// A replacement without published ports: stop the old container first.
    fn stop_first(&mut self) -> Result<()> {
        let Some((id, timeout)) = self.stop_first.take() else {
            return Ok(());
        };
        match super::ops::stop(&self.store, &id, timeout) {
            Ok(_) | Err(SupervisorError::NotFound(_)) => Ok(()),
            Err(e) => Err(SupervisorError::Invalid(format!(
                "cannot stop the container this one replaces: {e}"
            ))),
        }
    }

    /// Start the container's program with fresh log pipes.
    fn start(&mut self) -> Result<()> {
        let pipe = || {
            nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(SupervisorError::sys("pipe"))
        };
        let (out_r, out_w) = pipe()?;
        let (err_r, err_w) = pipe()?;
        set_nonblocking(&out_r);
        set_nonblocking(&err_r);
        let running = self.container.start(Stdio::Fds {
            stdin: None,
            stdout: out_w,
            stderr: err_w,
        })?;
        let pid = running.pid().as_raw();
        self.ports.set_container(Some(pid));
        self.state.status = Status::Running;
        self.state.pid = Some(pid);
        self.state.started_at = Some(now_rfc3339());
        self.state.error = None;
        self.state.oom_killed = false;
        self.state.restart_count = self.restarter.count;
        self.state.ready = false;
        self.ports_ready = self.ports.is_empty();
        self.state.health = self.health.as_mut().map(Checker::on_start);
        self.probe_at = (!self.ports.is_empty()).then(Instant::now);
        if let Some(n) = &mut self.notify {
            // Ready when this run of the container says so.
            n.drain();
            self.ports_ready = false;
            self.probe_at = None;
            self.state.notify_status = None;
        }
        self.gate_replica();
        self.update_ready();
        self.save();
        self.event("start", |e| e.attr("pid", pid.to_string()));
        self.run = Some(Run {
            running,
            out: Some(out_r),
            err: Some(err_r),
            out_lines: LineSplitter::default(),
            err_lines: LineSplitter::default(),
            started: Instant::now(),
        });
        Ok(())
    }

    fn iterate(&mut self) {
        let mut fds: Vec<libc::pollfd> = Vec::with_capacity(8 + 2 * self.ports.conn_count());
        let mut tokens: Vec<Token> = Vec::with_capacity(fds.capacity());
        let mut add = |fd: RawFd, events: i16, t: Token| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            tokens.push(t);
        };
        add(self.signals.fd().as_raw_fd(), libc::POLLIN, Token::Signals);
        add(self.control.as_raw_fd(), libc::POLLIN, Token::Control);
        for (i, c) in self.clients.iter().enumerate() {
            if c.waiting.is_none() {
                add(c.stream.as_raw_fd(), libc::POLLIN, Token::Client(i));
            }
        }
        if let Some(r) = &self.run {
            if let Some(o) = &r.out {
                add(o.as_raw_fd(), libc::POLLIN, Token::Out);
            }
            if let Some(e) = &r.err {
                add(e.as_raw_fd(), libc::POLLIN, Token::Err);
            }
        }
        if let Some(fd) = self.health.as_ref().and_then(Checker::fd) {
            add(fd, libc::POLLIN, Token::Probe);
        }
        if let Some(n) = &self.notify {
            add(n.fd(), libc::POLLIN, Token::Notify);
        }
        for (i, fd) in self.ports.listener_interest().into_iter().enumerate() {
            add(fd, libc::POLLIN, Token::Listener(i));
        }
        for i in 0..self.ports.conn_count() {
            let w = self.ports.conn_interest(i);
            if w.outer.1 != 0 {
                add(w.outer.0, w.outer.1, Token::Conn(i));
            }
            if let Some((fd, ev)) = w.inner.filter(|(_, ev)| *ev != 0) {
                add(fd, ev, Token::Conn(i));
            }
        }
        let mut timeout = self.timeout_ms();
        if self.untrimmed && !(0..=IDLE_TRIM_MS).contains(&timeout) {
            timeout = IDLE_TRIM_MS;
        }
        let n = crate::sys::fd::poll(&mut fds, timeout).map_or(-1, |n| n as i32);
        if n == 0
            && self.untrimmed
            && self.busy_at.elapsed() >= Duration::from_millis(IDLE_TRIM_MS as u64)
        {
            super::memory::trim();
            self.untrimmed = false;
        }
        if n > 0 {
            self.untrimmed = true;
            self.busy_at = Instant::now();
            let mut last_conn = usize::MAX;
            for (pfd, t) in fds.iter().zip(tokens.iter()) {
                if pfd.revents == 0 {
                    continue;
                }
                match *t {
                    Token::Signals => self.on_signals(),
                    Token::Control => self.accept_clients(),
                    Token::Client(i) => self.read_client(i),
                    Token::Out => self.read_pipe(Stream::Stdout),
                    Token::Err => self.read_pipe(Stream::Stderr),
                    Token::Listener(i) => self.ports.accept(i),
                    Token::Conn(i) if i != last_conn => {
                        last_conn = i;
                        self.ports.conn_ready(i);
                    }
                    Token::Conn(_) => {}
                    Token::Probe => {
                        if let Some(c) = &mut self.health {
                            c.read();
                        }
                    }
                    Token::Notify => self.on_notify(),
                }
            }
        }
        self.clients.retain(|c| !c.gone);
        self.timers();
        self.ports.tick();
    }

    fn timeout_ms(&self) -> i32 {
        let next = [
            self.restart_at,
            self.probe_at,
            self.stopping.as_ref().map(|s| s.kill_at),
            self.ports.next_deadline(),
            self.health.as_ref().and_then(Checker::deadline),
            self.forward_check_at,
        ]
        .into_iter()
        .flatten()
        .min();
        match next {
            None => -1,
            Some(t) => {
                let d = t.saturating_duration_since(Instant::now());
                (d.as_micros().div_ceil(1000)).min(i32::MAX as u128) as i32
            }
        }
    }

    fn timers(&mut self) {
        let now = Instant::now();
        if let Some(s) = &self.stopping {
            if now >= s.kill_at {
                if let Some(r) = &self.run {
                    let _ = r.running.signal(Signal::SIGKILL);
                }
                // Wait for SIGCHLD; do not kill again and again.
                if let Some(s) = &mut self.stopping {
                    s.kill_at = now + Duration::from_secs(3600);
                }
            }
        }
        if self.restart_at.is_some_and(|t| now >= t) {
            self.restart_at = None;
            self.restart_now();
        }
        if self.probe_at.is_some_and(|t| now >= t) {
            self.probe();
        }
        let root = self.store.root().to_path_buf();
        let id = self.container.id().to_string();
        if let Some(r) = self.health.as_mut().and_then(|c| c.tick(&root, &id)) {
            self.health_result(r);
        }
        if self.forward_check_at.is_some_and(|t| now >= t) {
            self.forward_check_at = Some(now + FORWARD_CHECK);
            self.check_forwarding();
        }
    }

    /// The kernel's forwarding of this container's ports follows its
    /// state (saved before): ready, not ready, draining, gone.
    fn sync_forwarding(&mut self) {
        if !self.forward {
            return;
        }
        if let Err(e) = forwarding::sync_all(&self.store, &self.cfg) {
            self.forward_failed(&e);
        }
    }

    fn forward_failed(&mut self, e: &SupervisorError) {
        if !self.forward_failed {
            self.forward_failed = true;
            self.log.write(
                Stream::Stderr,
                format!("skiff: published ports stay on skiff's relay: {e}\n").as_bytes(),
            );
        }
    }

    /// A sibling's supervisor killed (still in a chain), or this
    /// container ready but missing from one: re-sync that port.
    fn check_forwarding(&mut self) {
        let me = self.container.id().to_string();
        let serving = self.state.ready && !self.state.draining && self.run.is_some();
        for p in forwarding::published_of(&self.cfg) {
            if forwarding::out_of_date(&self.store, &p, &me, serving) {
                if let Err(e) = forwarding::sync(&self.store, &p) {
                    self.forward_failed(&e);
                }
            }
        }
    }

    /// Ready for a rollout's hand-over: every published port answers and,
    /// with a health check, the container is healthy.
    fn update_ready(&mut self) {
        let healthy = self
            .state
            .health
            .as_ref()
            .is_none_or(|h| h.status == HealthStatus::Healthy);
        if self.ports_ready && healthy && !self.state.ready && self.run.is_some() {
            self.state.ready = true;
            self.ports.gate(false);
            self.save();
            self.sync_forwarding();
        }
    }

    /// A replica whose container is not ready leaves the shared port to
    /// the other replicas.
    fn gate_replica(&mut self) {
        if self.cfg.options.service.is_some() {
            self.ports.gate(true);
        }
    }

    /// One health check's result: record it, and act on a change.
    fn health_result(&mut self, r: HealthResult) {
        let (Some(c), Some(h)) = (&self.health, &mut self.state.health) else {
            return;
        };
        let output = r.output.trim().to_string();
        let change = c.record(h, r);
        let on_failure = c.config().on_failure;
        if change == Some(HealthStatus::Unhealthy) {
            if self.cfg.options.service.is_some() {
                self.state.ready = false;
                self.ports.gate(true);
            }
            let last = output.lines().last().unwrap_or_default();
            self.log.write(
                Stream::Stderr,
                format!("skiff: the container is unhealthy (last check: {last})\n").as_bytes(),
            );
        }
        self.save();
        if change == Some(HealthStatus::Unhealthy) && self.cfg.options.service.is_some() {
            self.sync_forwarding();
        }
        if let Some(status) = change {
            // docker's action: `health_status: healthy`.
            let action = format!("health_status: {}", status.word());
            self.event(&action, |e| e);
        }
        match change {
            Some(HealthStatus::Healthy) => self.update_ready(),
            Some(HealthStatus::Unhealthy) => match on_failure {
                OnFailure::None => {}
                OnFailure::Kill => {
                    if let Some(r) = &self.run {
                        let _ = r.running.signal(Signal::SIGKILL);
                    }
                }
                OnFailure::Restart => self.begin_stop(10, After::Restart, false),
                OnFailure::Stop => self.begin_stop(10, After::Exit, false),
            },
            _ => {}
        }
    }

    /// sd_notify from the container: READY=1 is what the port probe
    /// would have found out (the health check, if any, still gates).
    fn on_notify(&mut self) {
        let Some(n) = &mut self.notify else { return };
        let notice = n.read();
        if self.run.is_none() || self.stopping.is_some() {
            return;
        }
        if notice.status.is_some() {
            self.state.notify_status = notice.status;
            self.save();
        }
        if notice.ready && !self.ports_ready {
            self.ports_ready = true;
            self.update_ready();
        }
    }

    /// Is the container ready (answering on its ports)? Then accept.
    fn probe(&mut self) {
        let since = self.run.as_ref().map(|r| r.started.elapsed());
        let Some(since) = since.filter(|_| self.stopping.is_none()) else {
            self.probe_at = None;
            return;
        };
        if self.ports.probe(PROBE_WAIT) {
            self.probe_at = None;
            self.ports_ready = true;
            self.update_ready();
            return;
        }
        let every = if since < PROBE_FAST_FOR {
            PROBE_FAST
        } else {
            PROBE_SLOW
        };
        self.probe_at = Some(Instant::now() + every);
    }

    /// Start again (policy or `restart`); a failed start counts as a quick exit.
    fn restart_now(&mut self) {
        let count = self.restarter.count;
        self.event("restart", |e| e.attr("restartCount", count.to_string()));
        let started = self.start();
        if started.is_ok() {
            super::memory::trim();
        }
        if let Err(e) = started {
            let code = e.exit_code();
            self.log.write(
                Stream::Stderr,
                format!("skiff: cannot restart the container: {e}\n").as_bytes(),
            );
            self.state.error = Some(e.to_string());
            self.state.exit_code = Some(code);
            self.state.finished_at = Some(now_rfc3339());
            self.after_exit(Ended {
                exit_code: code,
                stopped: false,
                ran_for: Duration::ZERO,
            });
        }
        self.reply_waiting(After::Restart);
    }

    fn on_signals(&mut self) {
        loop {
            let ev = match self.signals.next_event() {
                Ok(Some(ev)) => ev,
                _ => return,
            };
            match ev {
                Event::ChildExited => self.on_child(),
                Event::Forward(Signal::SIGTERM | Signal::SIGINT) => {
                    self.begin_stop(10, After::Exit, false)
                }
                Event::Forward(sig) => {
                    if let Some(r) = &self.run {
                        let _ = r.running.signal(sig);
                    }
                }
                Event::WindowChanged => {}
            }
        }
    }

    fn on_child(&mut self) {
        if let Some(r) = self.health.as_mut().and_then(Checker::reap) {
            self.health_result(r);
        }
        let status = match &mut self.run {
            None => {
                // Not ours (nothing else should be): reap and forget.
                while let Ok(
                    nix::sys::wait::WaitStatus::Exited(..)
                    | nix::sys::wait::WaitStatus::Signaled(..),
                ) = nix::sys::wait::waitpid(None, Some(nix::sys::wait::WaitPidFlag::WNOHANG))
                {
                }
                return;
            }
            Some(r) => match r.running.try_wait() {
                Ok(Some(s)) => s,
                Ok(None) => return,
                Err(e) => {
                    // The exit was recorded before the cgroup removal failed.
                    self.log
                        .write(Stream::Stderr, format!("skiff: {e}\n").as_bytes());
                    match r.running.try_wait() {
                        Ok(Some(s)) => s,
                        _ => return,
                    }
                }
            },
        };
        self.ended(status);
    }

    fn ended(&mut self, status: ExitStatus) {
        let Some(mut run) = self.run.take() else {
            return;
        };
        // Every process of the container is gone: read the pipes to the end.
        for stream in [Stream::Stdout, Stream::Stderr] {
            self.drain(&mut run, stream, true);
        }
        let ran_for = run.started.elapsed();
        drop(run);
        self.ports.set_container(None);
        self.probe_at = None;
        if let Some(c) = &mut self.health {
            c.on_end();
        }
        let code = status.exit_code();
        let was_ready = self.state.ready;
        self.state.pid = None;
        self.state.ready = false;
        self.gate_replica();
        if was_ready && self.forward {
            self.save();
            self.sync_forwarding();
        }
        self.state.exit_code = Some(code);
        self.state.oom_killed = status.oom_killed;
        self.state.finished_at = Some(now_rfc3339());
        if status.oom_killed {
            self.log.write(
                Stream::Stderr,
                b"skiff: the container was killed: out of memory\n",
            );
            self.event("oom", |e| e);
        }
        let ran = ran_for.as_secs().to_string();
        self.event("die", |e| {
            e.attr("exitCode", code.to_string())
                .attr("runtime", ran)
                .attr_opt("oomKilled", status.oom_killed.then_some("true"))
        });
        match self.stopping.take() {
            Some(Stopping {
                after: After::Restart,
                ..
            }) => self.restart_now(),
            Some(Stopping {
                after: After::Exit,
                by_user,
                ..
            }) => {
                self.state.status = Status::Exited;
                self.state.stopped_by_user = by_user;
                self.done = true;
                self.event("stop", |e| e);
            }
            None => self.after_exit(Ended {
                exit_code: code,
                stopped: false,
                ran_for,
            }),
        }
    }

    /// The policy's decision after the container ended by itself.
    fn after_exit(&mut self, ended: Ended) {
        match self.restarter.decide(ended) {
            Decision::Restart(delay) => {
                self.state.status = Status::Restarting;
                self.state.restart_count = self.restarter.count;
                self.save();
                if delay.is_zero() {
                    self.restart_now();
                } else {
                    self.restart_at = Some(Instant::now() + delay);
                }
            }
            Decision::Stay => {
                self.state.status = Status::Exited;
                self.done = true;
            }
        }
    }

    /// STOPSIGNAL now, SIGKILL after `timeout` seconds, then `after`.
    fn begin_stop(&mut self, timeout: u64, after: After, by_user: bool) {
        if self.run.is_none() {
            // Waiting to be restarted (or never started): nothing to signal.
            self.restart_at = None;
            match after {
                After::Exit => {
                    self.state.status = Status::Exited;
                    self.state.stopped_by_user = by_user;
                    self.done = true;
                    self.event("stop", |e| e);
                }
                After::Restart => self.restart_now(),
            }
            return;
        }
        let kill_at = Instant::now() + Duration::from_secs(timeout);
        if let Some(s) = &mut self.stopping {
            // A stop overrides a restart in progress; the earlier kill wins.
            if after == After::Exit {
                s.after = After::Exit;
                s.by_user |= by_user;
            }
            s.kill_at = s.kill_at.min(kill_at);
            return;
        }
        self.stopping = Some(Stopping {
            kill_at,
            after,
            by_user,
        });
        if let Some(r) = &self.run {
            let sig = if timeout == 0 {
                Signum::KILL
            } else {
                self.stop_signal
            };
            let _ = r.running.signal_num(sig);
        }
    }

    fn read_pipe(&mut self, stream: Stream) {
        if let Some(mut run) = self.run.take() {
            self.drain(&mut run, stream, false);
            self.run = Some(run);
        }
    }

    /// Read what the pipe has (all of it, to the end, when `to_end`).
    fn drain(&mut self, run: &mut Run, stream: Stream, to_end: bool) {
        let (fd, lines) = match stream {
            Stream::Stdout => (&mut run.out, &mut run.out_lines),
            Stream::Stderr => (&mut run.err, &mut run.err_lines),
        };
        let Some(f) = fd else { return };
        let log = &mut self.log;
        let mut reads = 0;
        loop {
            match nix::unistd::read(&*f, &mut self.buf) {
                Ok(0) => {
                    lines.flush(|l| log.write(stream, l));
                    *fd = None;
                    return;
                }
                Ok(n) => {
                    lines.feed(&self.buf[..n], |l| log.write(stream, l));
                    reads += 1;
                    // Be fair to the rest of the loop under a flood.
                    if !to_end && reads >= 16 {
                        return;
                    }
                }
                Err(nix::Error::EINTR) => continue,
                Err(_) => {
                    if to_end {
                        lines.flush(|l| log.write(stream, l));
                        *fd = None;
                    }
                    return;
                }
            }
        }
    }

    fn accept_clients(&mut self) {
        while let Ok((stream, _)) = self.control.accept() {
            if stream.set_nonblocking(true).is_ok() && self.clients.len() < 64 {
                self.clients.push(Client {
                    stream,
                    buf: Vec::new(),
                    waiting: None,
                    gone: false,
                });
            }
        }
    }

    fn read_client(&mut self, i: usize) {
        let mut chunk = [0u8; 512];
        let req = {
            let c = &mut self.clients[i];
            match c.stream.read(&mut chunk) {
                Ok(0) => {
                    c.gone = true;
                    return;
                }
                Ok(n) => c.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(_) => {
                    c.gone = true;
                    return;
                }
            }
            if c.buf.len() > 4096 {
                c.gone = true;
                return;
            }
            let Some(end) = c.buf.iter().position(|&b| b == b'\n') else {
                return;
            };
            serde_json::from_slice::<Request>(&c.buf[..end])
        };
        match req {
            Err(e) => self.reply(i, &Reply::err(format!("bad request: {e}"))),
            Ok(Request::State) => {
                let r = Reply::ok(Some(self.state.clone()));
                self.reply(i, &r);
            }
            Ok(Request::TakeListeners) => self.send_listeners(i),
            Ok(Request::StopAccepting) => {
                self.ports.stop_accepting();
                self.state.draining = true;
                self.save();
                self.sync_forwarding();
                self.reply(i, &Reply::ok(Some(self.state.clone())));
            }
            Ok(Request::Stop { timeout }) => {
                self.clients[i].waiting = Some(After::Exit);
                self.begin_stop(timeout, After::Exit, true);
            }
            Ok(Request::Restart { timeout }) => {
                self.clients[i].waiting = Some(After::Restart);
                self.restarter.count = 0;
                self.begin_stop(timeout, After::Restart, true);
            }
        }
    }

    fn reply(&mut self, i: usize, r: &Reply) {
        let c = &mut self.clients[i];
        if let Ok(mut line) = serde_json::to_vec(r) {
            line.push(b'\n');
            let _ = c.stream.set_nonblocking(false);
            let _ = c.stream.set_write_timeout(Some(Duration::from_secs(1)));
            let _ = c.stream.write_all(&line);
        }
        c.gone = true;
    }

    /// `take_listeners`: the listening sockets go with the reply.
    fn send_listeners(&mut self, i: usize) {
        let fds = self.ports.listener_fds();
        let mut r = Reply::ok(None);
        r.listeners = Some(fds.iter().map(|(spec, _)| (*spec).clone()).collect());
        let raw: Vec<RawFd> = fds.iter().map(|(_, fd)| fd.as_raw_fd()).collect();
        let c = &mut self.clients[i];
        let _ = c.stream.set_nonblocking(false);
        let _ = c.stream.set_write_timeout(Some(Duration::from_secs(1)));
        let _ = control::send_with_fds(&c.stream, &r, &raw);
        c.gone = true;
    }

    /// Answer the clients waiting for `what` (a restart's result or the end).
    fn reply_waiting(&mut self, what: After) {
        for i in 0..self.clients.len() {
            if self.clients[i].waiting != Some(what) {
                continue;
            }
            let r = match (&self.state.status, &self.state.error) {
                (Status::Running, _) | (Status::Exited, None) => {
                    Reply::ok(Some(self.state.clone()))
                }
                (_, Some(e)) => Reply::err(e.clone()),
                _ => Reply::ok(Some(self.state.clone())),
            };
            self.reply(i, &r);
        }
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
