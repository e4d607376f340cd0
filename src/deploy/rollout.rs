//! `rollout NAME[:TAG]`: every container started from the tag moves to
//! the tag's current revision — one after another, oldest first, each
//! replaced by `replace` (zero downtime with published ports, else
//! stop-then-start; a stopped container is recreated stopped). A
//! container already on the tag's image is left alone. The first failure
//! stops the rollout: the containers before it stay on the new revision,
//! the failed one and those after it on theirs.
//!
//! Before anything, work a killed command left behind is finished or
//! undone ([`recover`]): a new container whose config says it `replaces`
//! another, and a rollback recorded in the journal.

use super::replace::{self, discard, stop_and_remove, SETTLE};
use super::{journal, monitor, rollback, DeployError, Options, Result, Step};
use crate::store::Store;
use crate::supervisor::config::{Replaces, RunConfig};
use crate::supervisor::control::{self, Request};
use crate::supervisor::ops::{self, Info};
use crate::supervisor::SupervisorError;
use std::time::Duration;

/// What a rollout did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// The revision the containers now run.
    pub rev: u64,
    pub replaced: usize,
    pub up_to_date: usize,
    pub skipped: usize,
    /// Left on another revision by `--canary`.
    pub held_back: usize,
}

/// `rollout`: take the deploy lock, recover, roll out; the outcome goes
/// to the event log.
pub fn rollout(
    store: &Store,
    name: &str,
    tag: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Summary> {
    crate::store::refs::check_name_tag(name, tag)?;
    // Bad input is refused before anything is written, the event log included.
    if store.revisions(name, tag)?.is_empty() {
        return Err(DeployError::NoSuchTag(format!("{name}:{tag}")));
    }
    let r = rollout_unrecorded(store, name, tag, opts, report);
    let ev = super::event("rollout", name, tag, r.as_ref().map(|s| s.rev));
    store.emit(match &r {
        Ok(s) => ev.attr("replaced", s.replaced.to_string()),
        Err(_) => ev,
    });
    r
}

fn rollout_unrecorded(
    store: &Store,
    name: &str,
    tag: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Summary> {
    if store.revisions(name, tag)?.is_empty() {
        return Err(DeployError::NoSuchTag(format!("{name}:{tag}")));
    }
    resume_watch(store, name, tag, opts, report)?;
    let lock = journal::lock(store)?;
    if let Some(s) = recover(store, name, tag, opts, report)? {
        return Ok(s);
    }
    // The image the containers ran before (for --monitor's rollback).
    let before: Option<String> = users(store, name, tag)
        .iter()
        .filter_map(|i| i.config.as_ref())
        .map(|c| c.image.digest.clone())
        .next();
    let summary = rollout_locked(store, name, tag, opts, report)?;
    let (Some(window), Some(before)) = (opts.monitor, before) else {
        return Ok(summary);
    };
    let current = store
        .revisions(name, tag)?
        .last()
        .and_then(|r| r.digest.clone())
        .map(|d| d.to_string());
    if summary.replaced == 0 || current.as_deref() == Some(before.as_str()) {
        return Ok(summary);
    }
    let fresh: Vec<String> = users(store, name, tag)
        .into_iter()
        .filter(|i| i.config.as_ref().map(|c| &c.image.digest) == current.as_ref())
        .map(|i| i.id)
        .collect();
    report(Step::Monitoring {
        tag: format!("{name}:{tag}"),
        rev: summary.rev,
        window,
    });
    // The newest revision with the image that ran before.
    let back_to = store
        .revisions(name, tag)?
        .iter()
        .rev()
        .find(|r| r.digest.as_ref().map(|d| d.to_string()).as_deref() == Some(before.as_str()))
        .map(|r| r.rev);
    let Some(back_to) = back_to else {
        return Ok(summary);
    };
    let w = journal::Watch {
        name: name.to_string(),
        tag: tag.to_string(),
        rev: summary.rev,
        back_to,
        containers: fresh,
        until: unix_now() + window.as_secs_f64().ceil() as u64,
    };
    journal::save_watch(store, &w)?;
    drop(lock);
    finish_watch(store, &w, window, opts, report)?;
    Ok(summary)
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Watch `w`'s containers for `window`; on a failure roll the service and
/// the tag back (the rollback takes the lock itself). The record goes once
/// decided.
fn finish_watch(
    store: &Store,
    w: &journal::Watch,
    window: Duration,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    let Some(failure) = monitor::watch(store, &w.containers, window) else {
        journal::remove_watch(store, &w.name, &w.tag)?;
        return Ok(());
    };
    let to = w.back_to.to_string();
    let plain = Options {
        monitor: None,
        canary: None,
        ..*opts
    };
    let rolled = rollback::rollback(store, &w.name, &w.tag, Some(&to), false, &plain, report)?;
    journal::remove_watch(store, &w.name, &w.tag)?;
    Err(DeployError::RolledBack {
        container: failure.container,
        why: failure.why,
        tag: format!("{}:{}", w.name, w.tag),
        rev: w.rev,
        to: rolled.target,
        now: rolled.new.rev,
    })
}

/// A `--monitor` window a killed command left open: watch what is left of
/// it (at least one look), then keep the revision or roll it back.
pub fn resume_watch(
    store: &Store,
    name: &str,
    tag: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    let Some(w) = journal::load_watch(store, name, tag)? else {
        return Ok(());
    };
    let left = Duration::from_secs(w.until.saturating_sub(unix_now()));
    report(Step::Recovered {
        container: format!("{name}:{tag}"),
        what: format!(
            "an interrupted rollout was watching revision {}; watching it {}s more",
            w.rev,
            left.as_secs()
        ),
    });
    finish_watch(store, &w, left, opts, report)
}

fn uses(cfg: &RunConfig, name: &str, tag: &str) -> bool {
    cfg.image.name.as_deref() == Some(name) && cfg.image.tag.as_deref() == Some(tag)
}

/// The containers started from `name:tag`, oldest first (replacements in
/// progress excluded).
pub fn users(store: &Store, name: &str, tag: &str) -> Vec<Info> {
    let mut v: Vec<Info> = ops::list(store)
        .into_iter()
        .filter(|i| {
            i.config
                .as_ref()
                .is_some_and(|c| uses(c, name, tag) && c.replaces.is_none())
        })
        .collect();
    v.reverse();
    v
}

/// `rollout --abort`: the canaries go back to the image the other
/// containers of the tag still run, and the tag with them (a rollback to
/// that image's newest revision).
pub fn abort(
    store: &Store,
    name: &str,
    tag: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<rollback::Rolled> {
    crate::store::refs::check_name_tag(name, tag)?;
    let revs = store.revisions(name, tag)?;
    let head = revs
        .last()
        .ok_or_else(|| DeployError::NoSuchTag(format!("{name}:{tag}")))?;
    let current = head.digest.as_ref().map(|d| d.to_string());
    let others: Option<String> = users(store, name, tag)
        .iter()
        .filter_map(|i| i.config.as_ref())
        .map(|c| c.image.digest.clone())
        .find(|d| Some(d) != current.as_ref());
    let Some(other) = others else {
        return Err(DeployError::Invalid(format!(
            "no canary to abort: every container of {name}:{tag} runs revision {}",
            head.rev
        )));
    };
    let back = revs
        .iter()
        .rev()
        .find(|r| r.digest.as_ref().map(|d| d.to_string()).as_deref() == Some(other.as_str()))
        .map(|r| r.rev.to_string());
    rollback::rollback(store, name, tag, back.as_deref(), false, opts, report)
}

/// Roll out with the deploy lock held.
pub(crate) fn rollout_locked(
    store: &Store,
    name: &str,
    tag: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Summary> {
    let revs = store.revisions(name, tag)?;
    let cur = revs
        .last()
        .ok_or_else(|| DeployError::NoSuchTag(format!("{name}:{tag}")))?;
    let digest = cur.digest.clone().ok_or_else(|| {
        DeployError::Invalid(format!(
            "{name}:{tag} was removed (revision {} untagged it); there is no image to roll out",
            cur.rev
        ))
    })?;
    if !store.has_blob(&digest) {
        return Err(DeployError::Invalid(format!(
            "the image of {name}:{tag} (revision {}, {digest}) was pruned",
            cur.rev
        )));
    }
    let mut summary = Summary {
        rev: cur.rev,
        ..Default::default()
    };
    let users = users(store, name, tag);
    if users.is_empty() {
        report(Step::NoContainers {
            tag: format!("{name}:{tag}"),
        });
        return Ok(summary);
    }
    let mut todo: Vec<Info> = Vec::new();
    for i in users {
        let Some(cfg) = &i.config else { continue };
        if !cfg.detach {
            // A one-off `skiff run` in some terminal: not ours to replace.
            if i.observed.is_live() {
                summary.skipped += 1;
                report(Step::Skipped {
                    container: i.display_name(),
                    why: "it runs in the foreground of a skiff run".into(),
                });
            }
            continue;
        }
        if cfg.image.digest == digest.to_string() && !opts.force {
            if cfg.image.revision != Some(cur.rev) {
                // Same image under a newer revision number: relabel.
                let mut c = cfg.clone();
                c.image.revision = Some(cur.rev);
                c.save(store, &i.dir)?;
            }
            summary.up_to_date += 1;
            report(Step::UpToDate {
                container: i.display_name(),
                rev: cur.rev,
            });
            continue;
        }
        if opts.canary.is_some_and(|n| todo.len() >= n) {
            summary.held_back += 1;
            continue;
        }
        todo.push(i);
    }
    // `--parallel k`: k replacements at a time, each start-first and
    // ready-gated; the next batch starts once the whole batch is done.
    for batch in todo.chunks(opts.parallel.max(1)) {
        let one = |i: &Info, report: &mut dyn FnMut(Step)| {
            replace::replace(store, i, cur.rev, &digest, opts, report)
        };
        let outcomes = replace_batch(batch, &one, report);
        for r in outcomes {
            match r {
                Ok(true) => summary.skipped += 1,
                Ok(false) => summary.replaced += 1,
                Err(e) => return Err(e),
            }
        }
    }
    Ok(summary)
}

/// `restart --update-env`: recreate one container on the image it runs,
/// its options re-read (env files included), with the same hand-over as a
/// rollout (zero downtime with published ports).
pub fn recreate(
    store: &Store,
    id: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<()> {
    let _lock = journal::lock(store)?;
    let i = ops::info(store, id)?;
    let cfg = i.config.clone().ok_or_else(|| {
        DeployError::Invalid(format!(
            "container {} has no config.json (made by an older skiff); create it again",
            i.display_name()
        ))
    })?;
    if !cfg.detach {
        return Err(DeployError::Invalid(format!(
            "container {} runs in the foreground of a skiff run; restart it there",
            i.display_name()
        )));
    }
    let digest = cfg.image.digest.parse().map_err(|_| {
        DeployError::Invalid(format!("container {}: bad image digest", i.display_name()))
    })?;
    let opts = Options {
        force: true,
        ..*opts
    };
    replace::replace(
        store,
        &i,
        cfg.image.revision.unwrap_or(0),
        &digest,
        &opts,
        report,
    )
}

/// Replaces one item of a batch, reporting its steps.
pub(crate) type ReplaceOne<'a, T> = dyn Fn(&T, &mut dyn FnMut(Step)) -> Result<()> + Sync + 'a;

/// Replace every item of `batch` at once with `one` (one thread each;
/// their steps are reported from here, in the order they happen). For
/// each: Ok(true) if it was skipped. Used by rollouts and by
/// `update::update` (compose's update_config).
pub(crate) fn replace_batch<T: Sync>(
    batch: &[T],
    one: &ReplaceOne<'_, T>,
    report: &mut dyn FnMut(Step),
) -> Vec<Result<bool>> {
    let one = |i: &T, report: &mut dyn FnMut(Step)| -> Result<bool> {
        let mut skipped = false;
        one(i, &mut |s| {
            skipped |= matches!(s, Step::Skipped { .. });
            report(s)
        })?;
        Ok(skipped)
    };
    if let [i] = batch {
        return vec![one(i, report)];
    }
    let (tx, rx) = std::sync::mpsc::channel::<Step>();
    std::thread::scope(|scope| {
        let handles: Vec<_> = batch
            .iter()
            .map(|i| {
                let tx = tx.clone();
                let one = &one;
                scope.spawn(move || one(i, &mut |s| drop(tx.send(s))))
            })
            .collect();
        drop(tx);
        for s in rx {
            report(s);
        }
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(DeployError::Invalid("a replacement thread panicked".into()))
                })
            })
            .collect()
    })
}

/// Finish or undo what a killed rollout or rollback of `name:tag` left:
/// half-done replacements first, then an interrupted rollback (whose
/// rollout is then done: its summary is returned).
pub(crate) fn recover(
    store: &Store,
    name: &str,
    tag: &str,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Option<Summary>> {
    for x in ops::list(store) {
        let Some(cfg) = &x.config else { continue };
        let Some(r) = &cfg.replaces else { continue };
        if !uses(cfg, name, tag) {
            continue;
        }
        let what = recover_one(store, &x, r, opts)?;
        report(Step::Recovered {
            container: r.name.clone().unwrap_or_else(|| x.display_name()),
            what,
        });
    }
    match journal::load(store, name, tag)? {
        None => Ok(None),
        Some(rec) => rollback::resume(store, rec, opts, report),
    }
}

/// One replacement a killed command left half-done: `x` is the new
/// container, `r` what it replaces. Returns what was done.
fn recover_one(store: &Store, x: &Info, r: &Replaces, opts: &Options) -> Result<String> {
    let old = match ops::info(store, &r.id) {
        Ok(i) => Some(i),
        Err(SupervisorError::NotFound(_)) => None,
        Err(e) => return Err(e.into()),
    };
    let old_live = old.as_ref().is_some_and(|o| o.observed.is_live());
    let x_live = x.observed.is_live();
    let finish = |store: &Store| -> Result<String> {
        if let Some(o) = &old {
            if o.observed.is_live() {
                let _ = control::request(
                    &o.dir,
                    &Request::StopAccepting,
                    Some(Duration::from_secs(5)),
                );
                std::thread::sleep(SETTLE);
            }
            stop_and_remove(store, &o.id, opts.stop_timeout)?;
        }
        ops::rename_replacement(store, &x.id, r.name.as_deref())?;
        Ok("finished the replacement an interrupted rollout had started".into())
    };
    if x_live && (x.state.ready || !old_live) {
        return finish(store);
    }
    if old_live {
        // The old one still serves; the new one is not (yet) ready.
        discard(store, &x.id);
        return Ok("removed the half-done replacement of an interrupted rollout".into());
    }
    if !r.running {
        // A stopped container was being recreated.
        return finish(store);
    }
    // Neither runs (killed between a stop and a start): start the new one,
    // else the old one again.
    match ops::start(store, &x.id) {
        Ok(_) => finish(store),
        Err(e) => {
            discard(store, &x.id);
            if let Some(o) = &old {
                ops::start(store, &o.id)?;
            }
            Ok(format!(
                "the replacement an interrupted rollout left could not start ({e}); removed it and started the old container again"
            ))
        }
    }
}
