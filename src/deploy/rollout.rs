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
use super::{journal, rollback, DeployError, Options, Result, Step};
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
    let _lock = journal::lock(store)?;
    if let Some(s) = recover(store, name, tag, opts, report)? {
        return Ok(s);
    }
    rollout_locked(store, name, tag, opts, report)
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
        let before = summary.skipped;
        replace::replace(store, &i, cur.rev, &digest, opts, &mut |s| {
            if matches!(s, Step::Skipped { .. }) {
                summary.skipped += 1;
            }
            report(s)
        })?;
        if summary.skipped == before {
            summary.replaced += 1;
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
