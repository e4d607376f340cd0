//! Opening a supervisor: its lock, the listeners a rollout handed over,
//! the container to stop first, and every field of `Supervisor`.

use super::{parse_signal, Supervisor, FORWARD_CHECK};
use crate::runtime::process::tiny_init;
use crate::runtime::signals::Forwarder as Signals;
use crate::runtime::Container;
use crate::store::Store;
use crate::supervisor::config::RunConfig;
use crate::supervisor::control;
use crate::supervisor::forwarding;
use crate::supervisor::log::LogWriter;
use crate::supervisor::notify::NotifySocket;
use crate::supervisor::ports::{Forwarder as Ports, Listener};
use crate::supervisor::probe::Checker;
use crate::supervisor::restart::Restarter;
use crate::supervisor::spawn::{FIRST_LISTEN_FD, LISTEN_FDS_ENV, STOP_FIRST_ENV};
use crate::supervisor::state::{ProcessRef, State};
use crate::supervisor::{Result, SupervisorError, LOCK_FILE};
use std::os::fd::RawFd;
use std::path::Path;
use std::time::{Duration, Instant};

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

impl Supervisor {
    pub(super) fn new(root: &Path, id: &str) -> Result<Supervisor> {
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
}
