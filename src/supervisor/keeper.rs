//! `skiff supervise NAME`: keep a named container supervised from the
//! foreground, for a service manager (`skiff generate systemd NAME` writes
//! a unit that runs it with `Restart=on-failure`).
//!
//! The keeper runs the container's supervisor in its own process. When
//! another supervisor already owns the container (started by `run -d`, or
//! by a rollout that replaced it), the keeper waits on that supervisor's
//! lock: when it is released — the supervisor ended, or was killed with
//! SIGKILL — the keeper looks again at once: a container that its restart
//! policy wants running (its supervisor died under it) is adopted and
//! started here; a replacement (a rollout renamed another container to
//! NAME) is waited on in turn; a container that ended for good (stopped by
//! a user, policy no) ends the keeper with 0. If the keeper itself is
//! killed, the service manager starts a new one, which adopts the same way.

use super::daemon;
use super::lookup;
use super::ops;
use super::restart::Policy;
use super::state::Observed;
use super::{Result, SupervisorError, LOCK_FILE};
use crate::store::Store;

/// What to do with a container nobody supervises.
fn should_start(first: bool, i: &ops::Info) -> bool {
    if first {
        // `systemctl start`: start it, as `skiff start` would.
        return true;
    }
    let policy = i.config.as_ref().map(|c| c.restart).unwrap_or_default();
    match i.observed {
        // Its supervisor was killed while it ran.
        Observed::Dead { .. } => policy != Policy::No && !i.state.stopped_by_user,
        _ => false,
    }
}

/// The container's state once its previous supervisor is really gone: we
/// hold its lock, so a state that still looks supervised belongs to a
/// process in the middle of exiting (a killed one drops its lock before it
/// is a zombie).
fn settled(store: &Store, id: &str) -> Result<ops::Info> {
    for _ in 0..150 {
        let i = ops::info(store, id)?;
        if !i.observed.is_live() {
            return Ok(i);
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    ops::info(store, id)
}

fn wait_for_name(store: &Store, name: &str) -> Option<String> {
    for _ in 0..40 {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Ok(id) = lookup::resolve(store, name) {
            return Some(id);
        }
    }
    None
}

/// Keep `name` supervised; returns the exit code for the service manager.
pub fn keep(store: &Store, name: &str) -> Result<i32> {
    let mut first = true;
    loop {
        let id = match lookup::resolve(store, name) {
            Ok(id) => id,
            Err(SupervisorError::NotFound(_)) if !first => {
                // Removed (rm), or between owners in a rollout's rename.
                match wait_for_name(store, name) {
                    Some(id) => id,
                    None => return Ok(0),
                }
            }
            Err(e) => return Err(e),
        };
        let dir = store.containers_dir().join(&id);
        let p = dir.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&p)
            .map_err(SupervisorError::io("cannot open", &p))?;
        match lock.try_lock() {
            Err(std::fs::TryLockError::WouldBlock) => {
                // Another supervisor owns it: wait for its end, then look again.
                lock.lock()
                    .map_err(SupervisorError::io("cannot lock", &p))?;
                drop(lock);
                first = false;
                continue;
            }
            Err(std::fs::TryLockError::Error(e)) => {
                return Err(SupervisorError::Io {
                    what: "cannot lock",
                    path: p,
                    source: e,
                })
            }
            Ok(()) => {}
        }
        let i = settled(store, &id)?;
        if !should_start(first, &i) {
            return Ok(0);
        }
        if matches!(i.observed, Observed::Dead { .. }) {
            ops::clean_dead_container(store, &id)?;
        }
        // The supervisor takes the lock itself.
        drop(lock);
        let code = daemon::main(store.root(), &id);
        if code != 0 && first {
            return Ok(code);
        }
        first = false;
    }
}
