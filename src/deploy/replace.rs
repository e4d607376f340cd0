//! Replacing one container with a new one on another image.
//!
//! With published ports (zero downtime):
//! 1. create the new container (temporary name, `replaces` recorded);
//! 2. ask the old supervisor for its listening sockets (`take_listeners`);
//!    it goes on accepting;
//! 3. start the new supervisor with them: both now share each port's
//!    accept queue, so no connection is ever refused; the new one accepts
//!    only once its container answers on every published container port;
//! 4. wait for that (`ready` in its state), at most `ready_timeout` — if it
//!    never comes, the new container is removed and the old one, which
//!    never stopped accepting, goes on as if nothing happened;
//! 5. tell the old supervisor `stop_accepting`, then `stop`: its container
//!    gets its STOPSIGNAL and up to the stop timeout to finish the
//!    requests in flight, which its supervisor relays to the end;
//! 6. remove the old container, give the new one its name.
//!
//! Without published ports: the new supervisor is told to stop the old
//! container first, then starts its own (stop-then-start; the container is
//! down in between). If the new one cannot start, the old one is started
//! again.
//!
//! A command killed at any step leaves the old container or the new one
//! (or both) running; `rollout::recover` finishes or undoes the rest.

use super::{recreate, DeployError, Mode, Options, Result, Step};
use crate::store::{Digest, Store};
use crate::supervisor::control::{self, Request};
use crate::supervisor::ops::{self, Info};
use crate::supervisor::spawn::{self, Handover};
use crate::supervisor::state::Observed;
use crate::supervisor::{log, log_archive, SupervisorError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Between `stop_accepting` and the old container's stop signal: the
/// connections the old supervisor accepted just before reach the program.
pub const SETTLE: Duration = Duration::from_millis(100);
/// Log lines of a failed new container shown with the error.
const LOG_LINES: usize = 20;
/// How often the new container's state is read while waiting.
const POLL: Duration = Duration::from_millis(20);

/// How `i` would be replaced.
pub fn mode_of(i: &Info) -> Mode {
    let ports = i
        .config
        .as_ref()
        .map(|c| c.ports.clone())
        .unwrap_or_default();
    if !i.observed.is_live() {
        Mode::Stopped
    } else if ports.is_empty() {
        Mode::StopThenStart
    } else {
        Mode::Handover {
            ports: ports.iter().map(|p| p.to_string()).collect(),
        }
    }
}

/// The last lines of a container's log.
pub fn last_logs(dir: &Path) -> Vec<String> {
    log::read_all(dir, Some(LOG_LINES), None)
        .into_iter()
        .map(|e| e.log.trim_end().to_string())
        .collect()
}

/// Stop and remove a container, whatever state it is in (best effort).
pub fn discard(store: &Store, id: &str) {
    let _ = ops::stop(store, id, 0);
    let _ = ops::remove(store, id, true);
}

fn gone(store: &Store, id: &str) -> bool {
    matches!(ops::info(store, id), Err(SupervisorError::NotFound(_)))
}

/// Keep the log of a replaced container before it is removed (best
/// effort: a full disk must not stop a release).
fn keep_logs(store: &Store, id: &str) {
    if let Ok(i) = ops::info(store, id) {
        if let Err(e) = log_archive::keep(store, &i) {
            eprintln!(
                "skiff: warning: the log of {} was not kept: {e}",
                i.display_name()
            );
        }
    }
}

/// Stop a replaced container, keep its log, remove it; one already gone is fine.
pub fn stop_and_remove(store: &Store, id: &str, timeout: u64) -> Result<()> {
    match ops::stop(store, id, timeout) {
        Ok(_) | Err(SupervisorError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    keep_logs(store, id);
    match ops::remove(store, id, true) {
        Ok(()) | Err(SupervisorError::NotFound(_)) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Replace `old` with a new container on `digest` (revision `rev` of its tag).
pub fn replace(
    store: &Store,
    old: &Info,
    rev: u64,
    digest: &Digest,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    replace_as(store, old, None, rev, digest, opts, report)
}

/// [`replace`], the new container made from `cfg` (see
/// [`recreate::create_as`]) when given. `cfg` must publish the same
/// ports as `old` for a handover.
pub fn replace_as(
    store: &Store,
    old: &Info,
    cfg: Option<&crate::supervisor::config::RunConfig>,
    rev: u64,
    digest: &Digest,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    let name = old.display_name();
    let mode = match mode_of(old) {
        Mode::StopThenStart if opts.start_first => Mode::Handover { ports: Vec::new() },
        m => m,
    };
    if let Some(ip) = old.record.spec.ip.filter(|_| mode != Mode::Stopped) {
        // The new container starts while the old one still holds the
        // address (and its interface): refuse before anything is made.
        return Err(DeployError::Invalid(format!(
            "{name} has a fixed address (--ip {ip}) that its replacement cannot take while {name} runs; \
             its peers find it by name without --ip (recreate it without), or stop it first \
             (a stopped container is replaced and keeps the address when started)"
        )));
    }
    report(Step::Replacing {
        container: name.clone(),
        from: old.config.as_ref().and_then(|c| c.image.revision),
        to: rev,
        mode: mode.clone(),
    });
    let t0 = Instant::now();
    let new_id = match cfg {
        Some(cfg) => recreate::create_as(store, old, cfg, rev, digest, opts.force)?,
        None => recreate::create(store, old, rev, digest, opts.force)?,
    };
    let step = match &mode {
        Mode::Stopped => Ok(None),
        Mode::Handover { .. } => handover(store, old, &new_id, rev, opts).map(Some),
        Mode::StopThenStart => stop_then_start(store, old, &new_id, rev, opts).map(|()| None),
    };
    let ready_in = match step {
        Ok(r) => r,
        Err(e) if gone(store, &old.id) => {
            // Removed by someone else halfway: nothing left to replace.
            discard(store, &new_id);
            report(Step::Skipped {
                container: name,
                why: format!("it was removed during the rollout ({e})"),
            });
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    if gone(store, &old.id) {
        // Removed by someone else while the new one started: the user
        // wants no such container; the replacement goes too.
        discard(store, &new_id);
        report(Step::Skipped {
            container: name,
            why: "it was removed during the rollout; its replacement was removed too".into(),
        });
        return Ok(());
    }
    if mode == Mode::Stopped {
        keep_logs(store, &old.id);
        if let Err(e) = ops::remove(store, &old.id, false) {
            if !matches!(e, SupervisorError::NotFound(_)) {
                discard(store, &new_id);
                return Err(e.into());
            }
        }
    } else {
        stop_and_remove(store, &old.id, 0)?;
    }
    ops::rename_replacement(store, &new_id, old.name.as_deref())?;
    report(Step::Replaced {
        container: name,
        to: rev,
        mode,
        ready_in,
        took: t0.elapsed(),
    });
    Ok(())
}

/// Steps 2–5 of the zero-downtime replacement; returns the time to ready.
fn handover(store: &Store, old: &Info, new_id: &str, rev: u64, opts: &Options) -> Result<Duration> {
    let t0 = Instant::now();
    let new_dir = store.containers_dir().join(new_id);
    let not_ready = |why: String, logs: Vec<String>| DeployError::NotReady {
        container: old.display_name(),
        rev,
        why,
        logs,
    };
    let (specs, fds) = match control::take_listeners(&old.dir, Duration::from_secs(10)) {
        Ok(x) => x,
        Err(e) => {
            discard(store, new_id);
            return Err(DeployError::Invalid(format!(
                "{}: cannot take over its ports: {e}; the new container was removed",
                old.display_name()
            )));
        }
    };
    let want = old
        .config
        .as_ref()
        .map(|c| c.ports.clone())
        .unwrap_or_default();
    if specs != want {
        discard(store, new_id);
        return Err(DeployError::Invalid(format!(
            "{}: its supervisor holds other ports than its config.json records; restart it, then roll out",
            old.display_name()
        )));
    }
    let started = spawn::spawn_with(
        store.root(),
        new_id,
        Handover {
            listeners: fds,
            stop_first: None,
        },
    );
    if let Err(e) = started {
        let logs = last_logs(&new_dir);
        discard(store, new_id);
        return Err(not_ready(
            format!(
                "did not start ({e}); the old container keeps serving, the new one was removed"
            ),
            logs,
        ));
    }
    if let Err(why) = wait_ready(store, new_id, opts.ready_timeout) {
        let logs = last_logs(&new_dir);
        discard(store, new_id);
        return Err(not_ready(
            format!("{why}; the old container keeps serving, the new one was removed"),
            logs,
        ));
    }
    let ready_in = t0.elapsed();
    // From here on the new container serves every new connection. (An
    // old one that ended meanwhile has nothing to drain.)
    let asked = control::request(
        &old.dir,
        &Request::StopAccepting,
        Some(Duration::from_secs(5)),
    );
    if asked.is_ok() {
        std::thread::sleep(SETTLE);
    }
    match ops::stop(store, &old.id, opts.stop_timeout) {
        Ok(_) | Err(SupervisorError::NotFound(_)) => Ok(ready_in),
        Err(e) => Err(e.into()),
    }
}

/// Wait until the container `id` is ready; the reason if it is not.
pub fn wait_ready(store: &Store, id: &str, limit: Duration) -> Result<(), String> {
    let until = Instant::now() + limit;
    loop {
        match ops::info(store, id) {
            Err(SupervisorError::NotFound(_)) => {
                return Err("was removed during the rollout".into())
            }
            Err(e) => return Err(e.to_string()),
            Ok(i) => match i.observed {
                Observed::Up { .. } if i.state.ready => return Ok(()),
                Observed::Exited { exit_code, .. } => {
                    let code = exit_code.map(|c| c.to_string()).unwrap_or("?".into());
                    return Err(format!("exited (code {code}) before it answered"));
                }
                // A restart policy would bring it back, but a release that
                // crashes before it is ready fails now, not at the timeout.
                Observed::Restarting { exit_code, .. } => {
                    let code = exit_code.map(|c| c.to_string()).unwrap_or("?".into());
                    return Err(format!(
                        "exited (code {code}) and was restarting before it answered"
                    ));
                }
                Observed::Up { .. } if i.state.restart_count > 0 => {
                    return Err(format!(
                        "restarted {} time(s) before it answered",
                        i.state.restart_count
                    ));
                }
                Observed::Dead { reason } => return Err(format!("died ({reason})")),
                Observed::Up { .. }
                    if i.state.health.as_ref().map(|h| h.status)
                        == Some(crate::supervisor::health::HealthStatus::Unhealthy) =>
                {
                    return Err("turned unhealthy before it was ready".into());
                }
                _ => {}
            },
        }
        if Instant::now() >= until {
            return Err(format!(
                "did not answer on its published ports within {}s",
                limit.as_secs_f64()
            ));
        }
        std::thread::sleep(POLL);
    }
}

/// The new supervisor stops the old container, then starts its own.
fn stop_then_start(
    store: &Store,
    old: &Info,
    new_id: &str,
    rev: u64,
    opts: &Options,
) -> Result<()> {
    let new_dir = store.containers_dir().join(new_id);
    let started = spawn::spawn_with(
        store.root(),
        new_id,
        Handover {
            listeners: Vec::new(),
            stop_first: Some((old.id.clone(), opts.stop_timeout)),
        },
    );
    let Err(e) = started else {
        return Ok(());
    };
    let logs = last_logs(&new_dir);
    discard(store, new_id);
    let again = match ops::start(store, &old.id) {
        Ok(_) => "the old container was started again".to_string(),
        Err(e2) => format!("the old container could not be started again: {e2}"),
    };
    Err(DeployError::NotReady {
        container: old.display_name(),
        rev,
        why: format!("did not start ({e}); {again}, the new one was removed"),
        logs,
    })
}
