//! `rollback NAME[:TAG] [--to REV|DIGEST]`: move the tag back — a new
//! revision (reason `rollback`, `to` naming the revision whose image it
//! returns to; history is never rewritten) — then roll out, so every
//! container started from the tag follows. Rolling back a rollback rolls
//! forward: the default target is the newest earlier revision whose image
//! differs from the current one.
//!
//! The move is recorded in the journal before the tag moves; if the
//! rollout fails, the tag is moved back (another new revision) and the
//! containers already moved follow it back. A command killed halfway is
//! resumed by the next rollout or rollback of the tag ([`resume`]).

use super::journal::{self, Record};
use super::rollout::{self, Summary};
use super::{DeployError, Options, Result, Step};
use crate::image::local::{ImageError, LocalImage};
use crate::store::refs::Revision;
use crate::store::{Digest, Reason, Store};

/// Pick the revision to return to: `to` (a revision number, or a digest or
/// image id), else the newest earlier revision whose image differs from the
/// current one. Its image must still be in the store.
pub fn target(store: &Store, name: &str, tag: &str, to: Option<&str>) -> Result<(u64, Digest)> {
    let revs = store.revisions(name, tag)?;
    let current = revs
        .last()
        .ok_or_else(|| DeployError::NoSuchTag(format!("{name}:{tag}")))?;
    let pruned = |r: &Revision, d: &Digest| {
        DeployError::Invalid(format!(
            "revision {} of {name}:{tag} ({d}) was pruned; its image is gone (see `skiff revisions {name}:{tag}`)",
            r.rev
        ))
    };
    let (rev, digest) = match to {
        Some(t) if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) => {
            let n: u64 = t
                .parse()
                .map_err(|_| DeployError::Invalid(format!("invalid revision {t}")))?;
            let r = revs.iter().find(|r| r.rev == n).ok_or_else(|| {
                DeployError::Invalid(format!(
                    "{name}:{tag} has no revision {n} (see `skiff revisions {name}:{tag}`)"
                ))
            })?;
            let d = r.digest.clone().ok_or_else(|| {
                DeployError::Invalid(format!(
                    "revision {n} of {name}:{tag} removed the tag (untag); pick another"
                ))
            })?;
            if !store.has_blob(&d) {
                return Err(pruned(r, &d));
            }
            (n, d)
        }
        Some(t) => match LocalImage::load(store, t) {
            Ok(img) => {
                let r = revs
                    .iter()
                    .rev()
                    .find(|r| r.digest.as_ref() == Some(&img.manifest_digest))
                    .ok_or_else(|| {
                        DeployError::Invalid(format!("{t} was never a revision of {name}:{tag}"))
                    })?;
                (r.rev, img.manifest_digest)
            }
            Err(ImageError::NotFound(_)) => {
                // A digest the store no longer has: pruned, if it was a revision.
                let hex = t.strip_prefix("sha256:").unwrap_or(t);
                let hit = revs.iter().rev().find_map(|r| {
                    let d = r.digest.as_ref()?;
                    (!hex.is_empty() && d.hex().starts_with(hex)).then_some((r, d))
                });
                return Err(match hit {
                    Some((r, d)) => pruned(r, d),
                    None => DeployError::Invalid(format!(
                        "{t} is neither a revision number nor an image of {name}:{tag}"
                    )),
                });
            }
            Err(e) => return Err(e.into()),
        },
        None => {
            let r = revs
                .iter()
                .rev()
                .skip(1)
                .find(|r| r.digest.is_some() && r.digest != current.digest)
                .ok_or_else(|| {
                    DeployError::Invalid(format!(
                        "{name}:{tag} has no earlier revision to roll back to (it has {} revision{}, all of this image)",
                        revs.len(),
                        if revs.len() == 1 { "" } else { "s" }
                    ))
                })?;
            let d = r
                .digest
                .clone()
                .ok_or_else(|| DeployError::Invalid(format!("revision {} has no image", r.rev)))?;
            if !store.has_blob(&d) {
                return Err(pruned(r, &d));
            }
            (r.rev, d)
        }
    };
    if current.digest.as_ref() == Some(&digest) {
        return Err(DeployError::Invalid(format!(
            "{name}:{tag} already points at the image of revision {rev} (revision {} is current); `skiff rollout {name}:{tag}` moves the containers",
            current.rev
        )));
    }
    Ok((rev, digest))
}

/// What a rollback did.
#[derive(Clone, Debug)]
pub struct Rolled {
    /// The revision it appended.
    pub new: Revision,
    /// The revision whose image it returns to, and that image.
    pub target: u64,
    pub digest: Digest,
    /// None with `--no-rollout`.
    pub rollout: Option<Summary>,
}

/// `rollback`: move the tag, then (unless `no_rollout`) roll out; the
/// outcome goes to the event log.
pub fn rollback(
    store: &Store,
    name: &str,
    tag: &str,
    to: Option<&str>,
    no_rollout: bool,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Rolled> {
    crate::store::refs::check_name_tag(name, tag)?;
    // Bad input is refused before anything is written, the event log included.
    target(store, name, tag, to)?;
    let r = rollback_unrecorded(store, name, tag, to, no_rollout, opts, report);
    let ev = super::event("rollback", name, tag, r.as_ref().map(|r| r.new.rev));
    store.emit(match &r {
        Ok(rolled) => ev.attr("target", rolled.target.to_string()),
        Err(_) => ev,
    });
    r
}

fn rollback_unrecorded(
    store: &Store,
    name: &str,
    tag: &str,
    to: Option<&str>,
    no_rollout: bool,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Rolled> {
    // Bad input fails before anything is written (the lock included).
    target(store, name, tag, to)?;
    if journal::load_watch(store, name, tag)?.is_some() {
        // A killed rollout's watch: the user's rollback decides instead.
        journal::remove_watch(store, name, tag)?;
    }
    let _lock = journal::lock(store)?;
    rollout::recover(store, name, tag, opts, report)?;
    // Keep prune away between checking the target is there and the tag
    // naming it again.
    let gc = store.gc_shared()?;
    let (target, digest) = target(store, name, tag, to)?;
    let revs = store.revisions(name, tag)?;
    let current = revs
        .last()
        .ok_or_else(|| DeployError::NoSuchTag(format!("{name}:{tag}")))?;
    let mut rec = Record {
        name: name.to_string(),
        tag: tag.to_string(),
        previous_rev: current.rev,
        previous_digest: current.digest.clone(),
        target_rev: target,
        new_rev: None,
        at: crate::supervisor::now_rfc3339(),
    };
    if !no_rollout {
        journal::save(store, &rec)?;
    }
    let new = store.set_tag(name, tag, Some(&digest), Reason::Rollback, Some(target))?;
    drop(gc);
    report(Step::TagMoved {
        tag: format!("{name}:{tag}"),
        rev: new.rev,
        to: target,
        digest: digest.clone(),
    });
    if no_rollout {
        return Ok(Rolled {
            new,
            target,
            digest,
            rollout: None,
        });
    }
    rec.new_rev = Some(new.rev);
    journal::save(store, &rec)?;
    let summary = complete(store, &rec, opts, report)?;
    Ok(Rolled {
        new,
        target,
        digest,
        rollout: Some(summary),
    })
}

/// A rollback found in the journal (its command was killed): finish it.
pub(crate) fn resume(
    store: &Store,
    mut rec: Record,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Option<Summary>> {
    let revs = store.revisions(&rec.name, &rec.tag)?;
    if rec.new_rev.is_none() {
        // Killed around the tag move: did it happen?
        rec.new_rev = revs
            .iter()
            .find(|r| {
                r.rev > rec.previous_rev
                    && r.reason == Reason::Rollback
                    && r.to == Some(rec.target_rev)
            })
            .map(|r| r.rev);
    }
    let Some(new_rev) = rec.new_rev else {
        journal::remove(store, &rec.name, &rec.tag)?;
        return Ok(None);
    };
    report(Step::Recovered {
        container: format!("{}:{}", rec.name, rec.tag),
        what: format!(
            "finishing an interrupted rollback (revision {new_rev}, to revision {})",
            rec.target_rev
        ),
    });
    complete(store, &rec, opts, report).map(Some)
}

/// Roll out after the tag moved; on failure move it back and let the
/// containers already moved follow. The journal entry goes either way.
fn complete(
    store: &Store,
    rec: &Record,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Summary> {
    let result = rollout::rollout_locked(store, &rec.name, &rec.tag, opts, report);
    let err = match result {
        Ok(s) => {
            journal::remove(store, &rec.name, &rec.tag)?;
            return Ok(s);
        }
        Err(e) => e,
    };
    let current = store.revisions(&rec.name, &rec.tag)?.last().map(|r| r.rev);
    if current.is_none() || current != rec.new_rev {
        // Someone moved the tag since: leave it where they put it.
        journal::remove(store, &rec.name, &rec.tag)?;
        return Err(err);
    }
    let reason = if rec.previous_digest.is_some() {
        Reason::Rollback
    } else {
        Reason::Untag
    };
    let back = store.set_tag(
        &rec.name,
        &rec.tag,
        rec.previous_digest.as_ref(),
        reason,
        Some(rec.previous_rev),
    )?;
    if rec.previous_digest.is_some() {
        if let Err(e2) = rollout::rollout_locked(store, &rec.name, &rec.tag, opts, report) {
            report(Step::Skipped {
                container: format!("{}:{}", rec.name, rec.tag),
                why: format!("moving the containers back failed too: {e2}"),
            });
        }
    }
    journal::remove(store, &rec.name, &rec.tag)?;
    Err(DeployError::Reverted {
        source: Box::new(err),
        tag: format!("{}:{}", rec.name, rec.tag),
        rev: back.rev,
        to: rec.previous_rev,
    })
}
