//! What the container commands do, apart from printing: list, inspect,
//! stop, start, restart, remove, boot. Each goes through the container's
//! supervisor (control socket) while one lives, and cleans up after a
//! supervisor that was killed.

use super::cleanup;
use super::config::RunConfig;
use super::control::{self, Request};
use super::lookup;
use super::restart::start_at_boot;
use super::state::{observe, Observed, State, Status};
use super::{Result, SupervisorError, CONTROL_SOCKET, LOCK_FILE};
use crate::runtime::container::{ContainerRecord, NAME_FILE, RECORD_FILE};
use crate::runtime::Signum;
use crate::store::Store;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Everything known about one container.
#[derive(Clone, Debug)]
pub struct Info {
    pub id: String,
    pub name: Option<String>,
    pub dir: PathBuf,
    pub record: ContainerRecord,
    /// Missing for containers made before config.json existed.
    pub config: Option<RunConfig>,
    pub state: State,
    pub observed: Observed,
}

impl Info {
    /// The name, else the short id: how messages name a container.
    pub fn display_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.id.chars().take(12).collect())
    }

    pub fn image_display(&self) -> String {
        match &self.config {
            Some(c) => c.image.display(),
            None => self.record.spec.image.clone(),
        }
    }

    /// `node-api:latest`: the image as events and metrics label it.
    pub fn image_label(&self) -> String {
        match &self.config {
            Some(c) => c.image.label(),
            None => self.record.spec.image.clone(),
        }
    }

    fn has_control(&self) -> bool {
        self.dir.join(CONTROL_SOCKET).exists()
    }
}

pub fn info(store: &Store, id: &str) -> Result<Info> {
    let dir = store.containers_dir().join(id);
    let p = dir.join(RECORD_FILE);
    let bytes = std::fs::read(&p).map_err(|_| SupervisorError::NotFound(id.to_string()))?;
    let record: ContainerRecord =
        serde_json::from_slice(&bytes).map_err(|e| SupervisorError::Corrupt {
            path: p,
            msg: e.to_string(),
        })?;
    let config = RunConfig::load(&dir).ok();
    let state = State::load(&dir)?;
    let observed = observe(&state);
    Ok(Info {
        id: id.to_string(),
        name: lookup::name_of(store, id),
        dir,
        record,
        config,
        state,
        observed,
    })
}

/// Every container, newest first (unreadable ones are skipped).
pub fn list(store: &Store) -> Vec<Info> {
    let mut all: Vec<Info> = lookup::all_ids(store)
        .iter()
        .filter_map(|id| info(store, id).ok())
        .collect();
    all.sort_by(|a, b| b.record.created.cmp(&a.record.created));
    all
}

/// Block until the supervisor of `dir` has exited (its lock is free).
fn wait_supervisor_gone(dir: &Path, within: Duration) {
    let Ok(f) = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.join(LOCK_FILE))
    else {
        return;
    };
    let until = Instant::now() + within;
    while Instant::now() < until {
        if f.try_lock().is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StopOutcome {
    Stopped,
    /// It was not running.
    NotRunning,
    /// Its supervisor had been killed; the leftovers were cleaned up.
    CleanedUp,
}

/// Mark a container whose supervisor is gone as exited and remove what it left.
fn clean_dead(store: &Store, i: &Info, by_user: bool) -> Result<()> {
    let left = cleanup::remove_cgroups(&i.id);
    let mut s = i.state.clone();
    s.status = Status::Exited;
    s.pid = None;
    s.stopped_by_user |= by_user;
    if s.finished_at.is_none() {
        s.finished_at = Some(super::now_rfc3339());
    }
    s.error
        .get_or_insert_with(|| "the supervisor was killed".into());
    s.save(store, &i.dir)?;
    let _ = std::fs::remove_file(i.dir.join(CONTROL_SOCKET));
    // Its supervisor was killed: the kernel forwards to it no more.
    super::forwarding::sync_after_removal(store, &i.dir);
    if let Some(d) = left.first() {
        return Err(SupervisorError::Invalid(format!(
            "cannot remove the cgroup {} of container {}",
            d.display(),
            i.display_name()
        )));
    }
    Ok(())
}

/// Clean up after a container whose supervisor was killed (not by a user),
/// so it can be started again.
pub fn clean_dead_container(store: &Store, id: &str) -> Result<()> {
    let i = info(store, id)?;
    if matches!(i.observed, Observed::Dead { .. }) {
        clean_dead(store, &i, false)?;
    }
    Ok(())
}

/// `stop`: STOPSIGNAL, SIGKILL after `timeout` seconds; no restart after.
pub fn stop(store: &Store, id: &str, timeout: u64) -> Result<StopOutcome> {
    let i = info(store, id)?;
    match &i.observed {
        Observed::Created | Observed::Exited { .. } => Ok(StopOutcome::NotRunning),
        Observed::Dead { .. } => {
            clean_dead(store, &i, true)?;
            Ok(StopOutcome::CleanedUp)
        }
        Observed::Up { .. } | Observed::Restarting { .. } if i.has_control() => {
            let wait = Duration::from_secs(timeout.saturating_add(60));
            let r = control::request(&i.dir, &Request::Stop { timeout }, Some(wait))?;
            if !r.ok {
                return Err(SupervisorError::Invalid(r.error.unwrap_or_default()));
            }
            wait_supervisor_gone(&i.dir, Duration::from_secs(5));
            Ok(StopOutcome::Stopped)
        }
        Observed::Up { .. } | Observed::Restarting { .. } => {
            stop_foreground(store, &i, timeout)?;
            Ok(StopOutcome::Stopped)
        }
    }
}

/// A foreground `skiff run` owns the container: signal it directly; the
/// foreground command records the exit.
fn stop_foreground(store: &Store, i: &Info, timeout: u64) -> Result<()> {
    let Some(pid) = i.state.pid.map(Pid::from_raw) else {
        return Ok(());
    };
    let sig = i
        .config
        .as_ref()
        .map(|c| super::daemon::parse_signal(&c.stop_signal))
        .unwrap_or(Signum::TERM);
    let gone = |limit: Duration| {
        let until = Instant::now() + limit;
        while Instant::now() < until {
            if !info(store, &i.id).is_ok_and(|x| x.observed.is_live()) || kill(pid, None).is_err() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    };
    let _ = crate::sys::signal::kill(pid, if timeout == 0 { Signum::KILL } else { sig }.raw());
    if !gone(Duration::from_secs(timeout)) {
        let _ = kill(pid, Signal::SIGKILL);
        gone(Duration::from_secs(5));
    }
    Ok(())
}

/// `start`: false if it was already running.
pub fn start(store: &Store, id: &str) -> Result<bool> {
    let mut i = info(store, id)?;
    // The container has ended but its supervisor has not recorded it yet
    // (it is writing the last log lines): wait for that, bounded, rather
    // than answer "already running" for a container that is gone.
    let until = Instant::now() + Duration::from_secs(10);
    while i.observed.is_live()
        && i.state.status == Status::Running
        && i.state
            .pid
            .is_some_and(|p| !crate::store::tmp::pid_alive(p.into()))
        && Instant::now() < until
    {
        std::thread::sleep(Duration::from_millis(20));
        i = info(store, id)?;
    }
    if i.observed.is_live() {
        return Ok(false);
    }
    if i.config.is_none() {
        return Err(SupervisorError::Invalid(format!(
            "container {} has no config.json (made by an older skiff); create it again",
            i.display_name()
        )));
    }
    if matches!(i.observed, Observed::Dead { .. }) {
        clean_dead(store, &i, false)?;
    }
    super::replicas::spawn(store, id)?;
    Ok(true)
}

/// `restart`: stop (with `timeout`) and start again, keeping the ports.
pub fn restart(store: &Store, id: &str, timeout: u64) -> Result<()> {
    let i = info(store, id)?;
    if i.observed.is_live() {
        if !i.has_control() {
            return Err(SupervisorError::Invalid(format!(
                "container {} runs in the foreground of a skiff run; restart it there",
                i.display_name()
            )));
        }
        let wait = Duration::from_secs(timeout.saturating_add(60));
        let r = control::request(&i.dir, &Request::Restart { timeout }, Some(wait))?;
        return if r.ok {
            Ok(())
        } else {
            Err(SupervisorError::Invalid(r.error.unwrap_or_default()))
        };
    }
    start(store, id).map(|_| ())
}

/// `rm`: a running container needs `force` (it is killed first).
pub fn remove(store: &Store, id: &str, force: bool) -> Result<()> {
    let i = info(store, id)?;
    if i.observed.is_live() {
        if !force {
            return Err(SupervisorError::Invalid(format!(
                "container {} is running: stop it first, or use rm -f",
                i.display_name()
            )));
        }
        stop(store, id, 0)?;
    }
    let left = cleanup::remove_cgroups(id);
    if let Some(d) = left.first() {
        return Err(SupervisorError::Invalid(format!(
            "cannot remove the cgroup {} of container {}",
            d.display(),
            i.display_name()
        )));
    }
    // The name first (free again even if this is interrupted), then the
    // record (no longer listed), then the rest.
    for f in [NAME_FILE, RECORD_FILE] {
        let p = i.dir.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SupervisorError::Io {
                    what: "cannot remove",
                    path: p,
                    source: e,
                })
            }
        }
    }
    store.emit(crate::store::events::Event::container(
        "destroy",
        id,
        i.name.as_deref(),
        &i.image_label(),
    ));
    crate::runtime::container::discard_dir(&i.dir)
        .map_err(SupervisorError::io("cannot remove", &i.dir))?;
    if let Some(cfg) = &i.config {
        // Normally done by its supervisor on the way out; again, in case
        // that supervisor was killed.
        let _ = super::forwarding::sync_all(store, cfg);
    }
    Ok(())
}

/// Give container `id` the name `name` (or none) and mark its rollout
/// replacement done: spec.json, the name file (the one lookups read), then
/// config.json with `replaces` cleared — each written atomically, in an
/// order that a repeat after a crash completes — under the store lock so
/// no other container takes the name meanwhile.
pub fn rename_replacement(store: &Store, id: &str, name: Option<&str>) -> Result<()> {
    if let Some(n) = name {
        lookup::check_name(n)?;
    }
    let _lock = store.lock()?;
    if let Some(n) = name {
        if let Some(other) = crate::runtime::container::find_by_name(store, n) {
            if other != id {
                return Err(SupervisorError::Invalid(format!(
                    "the name {n:?} is already in use by container {}",
                    &other[..12.min(other.len())]
                )));
            }
        }
    }
    let dir = store.containers_dir().join(id);
    let p = dir.join(RECORD_FILE);
    let bytes = std::fs::read(&p).map_err(SupervisorError::io("cannot read", &p))?;
    let mut record: ContainerRecord =
        serde_json::from_slice(&bytes).map_err(|e| SupervisorError::Corrupt {
            path: p.clone(),
            msg: e.to_string(),
        })?;
    record.spec.name = name.map(str::to_string);
    let bytes =
        serde_json::to_vec_pretty(&record).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    store.write_atomic(&p, &bytes)?;
    let n = dir.join(NAME_FILE);
    match name {
        Some(name) => store.write_atomic(&n, name.as_bytes())?,
        None => match std::fs::remove_file(&n) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(SupervisorError::Io {
                    what: "cannot remove",
                    path: n,
                    source: e,
                })
            }
        },
    }
    // Its peers on bridge networks learn the new name.
    if let Err(e) = crate::network::attach::refresh_names(store.root()) {
        eprintln!("skiff: {e}");
    }
    // Last: clearing `replaces` marks the replacement done.
    let mut cfg = RunConfig::load(&dir)?;
    let old_name = cfg.options.run.name.clone();
    cfg.options.run.name = name.map(str::to_string);
    cfg.replaces = None;
    cfg.save(store, &dir)?;
    if old_name.as_deref() != name {
        store.emit(
            crate::store::events::Event::container("rename", id, name, &cfg.image.label())
                .attr("oldName", old_name.unwrap_or_default()),
        );
    }
    Ok(())
}

/// `boot`: start what should run after a host reboot. Returns
/// (display name, result) for each container it tried.
pub fn boot(store: &Store) -> Vec<(String, Result<()>)> {
    // Forwarding chains a reboot or a killed supervisor left out of date.
    let _ = super::forwarding::check(store, true);
    let mut out = Vec::new();
    for i in list(store).into_iter().rev() {
        let Some(cfg) = &i.config else { continue };
        if i.observed.is_live() || !cfg.detach {
            continue;
        }
        let was_running = matches!(i.state.status, Status::Running | Status::Restarting);
        if !start_at_boot(cfg.restart, was_running, i.state.stopped_by_user) {
            continue;
        }
        out.push((i.display_name(), start(store, &i.id).map(|_| ())));
    }
    out
}

/// `inspect` of a container.
pub fn inspect_json(i: &Info) -> serde_json::Value {
    let (exit_code, running, restarting) = match &i.observed {
        Observed::Up { .. } => (i.state.exit_code, true, false),
        Observed::Restarting { exit_code, .. } => (*exit_code, false, true),
        Observed::Exited { exit_code, .. } => (*exit_code, false, false),
        _ => (i.state.exit_code, false, false),
    };
    let dead_reason = match &i.observed {
        Observed::Dead { reason } => Some(*reason),
        _ => None,
    };
    serde_json::json!({
        "Id": i.id,
        "Name": i.name,
        "Created": i.record.created,
        "Path": i.record.spec.args.first(),
        "Args": i.record.spec.args.get(1..).unwrap_or_default(),
        "Image": i.config.as_ref().map(|c| serde_json::to_value(&c.image).unwrap_or_default())
            .unwrap_or_else(|| serde_json::json!({"reference": i.record.spec.image, "digest": i.record.spec.image_digest})),
        "State": {
            "Status": i.observed.word(),
            "Running": running,
            "Restarting": restarting,
            "Dead": dead_reason.is_some(),
            "DeadReason": dead_reason,
            "Pid": if running { i.state.pid } else { None },
            "ExitCode": exit_code,
            "OOMKilled": i.state.oom_killed,
            "Error": i.state.error,
            "StartedAt": i.state.started_at,
            "FinishedAt": i.state.finished_at,
            "RestartCount": i.state.restart_count,
            "StoppedByUser": i.state.stopped_by_user,
            "SupervisorPid": i.state.supervisor.as_ref().filter(|_| i.observed.is_live()).map(|s| s.pid),
            "Health": i.state.health,
            "Ready": running && i.state.ready,
            "NotifyStatus": i.state.notify_status,
        },
        "Healthcheck": i.config.as_ref().and_then(|c| c.health.as_ref()),
        "RestartPolicy": i.config.as_ref().map(|c| c.restart.to_string()),
        "Ports": i.config.as_ref().map(|c| c.ports.iter().map(|p| p.to_string()).collect::<Vec<_>>()).unwrap_or_default(),
        "LogPath": i.dir.join(super::LOG_FILE),
        "LogOptions": i.config.as_ref().map(|c| c.log),
        "Init": i.config.as_ref().is_some_and(|c| c.init),
        "StopSignal": i.config.as_ref().map(|c| c.stop_signal.clone()),
        "Options": i.config.as_ref().map(|c| &c.options),
        "Spec": i.record.spec,
    })
}
