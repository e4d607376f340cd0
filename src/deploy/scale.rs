//! `scale api=N`: more or fewer replicas of a service.
//!
//! Up: each new replica is made like the lowest-numbered one (its options
//! and the same image revision), named `<service>.<next free index>`,
//! started sharing the service's listening sockets, and waited for until
//! ready. Down: the highest-numbered replicas are drained one by one — their
//! supervisor stops accepting (the others take every new connection), the
//! connections it accepted reach the program, then the stop signal and the
//! stop timeout, then removal. No connection is refused at any point: the
//! shared accept queue stays open as long as one replica holds it.

use super::replace::{discard, wait_ready, SETTLE};
use super::{journal, recreate, DeployError, Options, Result};
use crate::store::{Digest, Store};
use crate::supervisor::control::{self, Request};
use crate::supervisor::ops;
use crate::supervisor::replicas;
use std::time::Duration;

/// What a scale did.
#[derive(Debug, Default)]
pub struct Scaled {
    /// What was done first to finish or undo a killed command's work.
    pub recovered: Option<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Bring `service` to `n` replicas. Holds the deploy lock (a rollout,
/// rollback, `run --replicas` or another `scale` running meanwhile is
/// waited for) and first finishes what a killed command left ([`recover`]).
pub fn scale(store: &Store, service: &str, n: u32, opts: &Options) -> Result<Scaled> {
    journal::check_service_name(service)?;
    // An unknown name is refused before anything is written (the lock too).
    if replicas::members(store, service).is_empty()
        && journal::load_scaling(store, service)?.is_none()
    {
        return Err(no_service(service));
    }
    let _lock = journal::lock(store)?;
    let mut done = Scaled {
        recovered: recover(store, service, opts)?,
        ..Scaled::default()
    };
    let now = scale_locked(store, service, n, opts)?;
    done.added.extend(now.added);
    done.removed.extend(now.removed);
    Ok(done)
}

/// [`scale`] with the deploy lock held: recorded in the journal while it
/// runs, so a kill leaves a record the next command finishes.
fn scale_locked(store: &Store, service: &str, n: u32, opts: &Options) -> Result<Scaled> {
    let members = replicas::members(store, service);
    let Some((_, first)) = members.first() else {
        return Err(no_service(service));
    };
    let template = ops::info(store, first)?;
    let cfg = template.config.clone().ok_or_else(|| {
        DeployError::Invalid(format!("{} has no config.json", template.display_name()))
    })?;
    let digest: Digest =
        cfg.image.digest.parse().map_err(|_| {
            DeployError::Invalid(format!("bad digest in {}", template.display_name()))
        })?;
    let rev = cfg.image.revision.unwrap_or(0);
    let have = members.len() as u32;
    let first_new = members.last().map_or(1, |(i, _)| i + 1);
    let adding: Vec<String> = (first_new..first_new + n.saturating_sub(have))
        .map(|i| replicas::replica_name(service, i))
        .collect();
    journal::save_scaling(
        store,
        &journal::Scaling {
            service: service.to_string(),
            by_run: false,
            to: n,
            adding,
            at: crate::supervisor::now_rfc3339(),
        },
    )?;
    let r = scale_members(
        store, service, n, opts, &members, &template, &cfg, rev, &digest,
    );
    journal::remove_scaling(store, service)?;
    r
}

/// Add or drain replicas until there are `n`.
#[allow(clippy::too_many_arguments)]
fn scale_members(
    store: &Store,
    service: &str,
    n: u32,
    opts: &Options,
    members: &[(u32, String)],
    template: &ops::Info,
    cfg: &crate::supervisor::config::RunConfig,
    rev: u64,
    digest: &Digest,
) -> Result<Scaled> {
    let mut done = Scaled::default();
    let have = members.len() as u32;
    if n > have {
        let first_new = members.last().map_or(1, |(i, _)| i + 1);
        for next in first_new..first_new + (n - have) {
            let name = replicas::replica_name(service, next);
            let id = recreate::create_named(
                store,
                template,
                rev,
                digest,
                false,
                Some(name.clone()),
                None,
            )?;
            let started = replicas::spawn(store, &id)
                .map_err(DeployError::from)
                .and_then(|()| {
                    if !waits_for_ready(cfg) {
                        Ok(())
                    } else {
                        wait_ready(store, &id, opts.ready_timeout).map_err(|why| {
                            DeployError::Invalid(format!(
                                "new replica {name} {why}; it was removed"
                            ))
                        })
                    }
                });
            if let Err(e) = started {
                discard(store, &id);
                return Err(e);
            }
            done.added.push(name);
        }
    }
    for (i, id) in members.iter().rev().take(have.saturating_sub(n) as usize) {
        drain(store, id, opts.stop_timeout)?;
        done.removed.push(replicas::replica_name(service, *i));
    }
    Ok(done)
}

/// No new connections, the accepted ones reach the program, then its stop
/// signal (and `timeout`), then removal.
fn drain(store: &Store, id: &str, timeout: u64) -> Result<()> {
    let i = ops::info(store, id)?;
    if i.observed.is_live()
        && control::request(
            &i.dir,
            &Request::StopAccepting,
            Some(Duration::from_secs(5)),
        )
        .is_ok()
    {
        std::thread::sleep(SETTLE);
    }
    ops::stop(store, id, timeout)?;
    ops::remove(store, id, true)?;
    Ok(())
}

fn no_service(service: &str) -> DeployError {
    DeployError::Invalid(format!(
        "no service named {service:?} (scale works on services started with run --replicas)"
    ))
}

/// Does a new replica have anything to wait for before it counts?
/// (Without ports, a check or `--sdnotify`, it is ready once it runs.)
fn waits_for_ready(cfg: &crate::supervisor::config::RunConfig) -> bool {
    !cfg.ports.is_empty() || cfg.health.is_some() || cfg.options.sdnotify.is_container()
}

/// With the deploy lock held: a `scale` or `run --replicas` of `service`
/// that was killed (its record is still there) is finished or undone. A
/// killed `run --replicas` is undone, all or nothing as when it fails
/// (kept only if every replica it made runs); a killed `scale` is
/// finished: the replicas it was adding that do not run, or do not become
/// ready, are removed and made again, a replica it was draining is drained
/// and removed, and the service is brought to the count it was asked for.
/// Returns what was done, for the user.
pub fn recover(store: &Store, service: &str, opts: &Options) -> Result<Option<String>> {
    let Some(rec) = journal::load_scaling(store, service)? else {
        return Ok(None);
    };
    let members = replicas::members(store, service);
    let live = |id: &str| ops::info(store, id).is_ok_and(|i| i.observed.is_live());
    let said = if rec.by_run {
        let complete = members.len() as u32 == rec.to && members.iter().all(|(_, id)| live(id));
        if complete {
            format!(
                "a killed run --replicas {} of {service} had made every replica: kept",
                rec.to
            )
        } else {
            for (_, id) in members.iter().rev() {
                discard(store, id);
                let _ = crate::supervisor::cleanup::remove_cgroups(id);
            }
            format!(
                "a killed run --replicas {} of {service} was undone ({} replica(s) removed)",
                rec.to,
                members.len()
            )
        }
    } else {
        for (_, id) in &members {
            let Some(name) = crate::supervisor::lookup::name_of(store, id) else {
                continue;
            };
            if !rec.adding.contains(&name) {
                continue;
            }
            let ok = live(id)
                && ops::info(store, id)
                    .ok()
                    .and_then(|i| i.config)
                    .is_none_or(|c| {
                        !waits_for_ready(&c) || wait_ready(store, id, opts.ready_timeout).is_ok()
                    });
            if !ok {
                discard(store, id);
            }
        }
        if replicas::members(store, service).is_empty() {
            format!("a killed scale of {service} left no replica")
        } else {
            scale_locked(store, service, rec.to, opts)?;
            format!("a killed scale {service}={} was finished", rec.to)
        }
    };
    journal::remove_scaling(store, service)?;
    Ok(Some(said))
}

/// `run --replicas`: the record a kill leaves for [`recover`]. Call with
/// the deploy lock held, before the first replica is made.
pub fn begin_run(store: &Store, service: &str, n: u32) -> Result<()> {
    journal::save_scaling(
        store,
        &journal::Scaling {
            service: service.to_string(),
            by_run: true,
            to: n,
            adding: (1..=n)
                .map(|i| replicas::replica_name(service, i))
                .collect(),
            at: crate::supervisor::now_rfc3339(),
        },
    )
}

/// `run --replicas` ended (made every replica, or removed them again).
pub fn end_run(store: &Store, service: &str) -> Result<()> {
    journal::remove_scaling(store, service)
}
