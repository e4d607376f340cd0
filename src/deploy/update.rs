//! A service's containers moved to new configurations, as compose's
//! `deploy.update_config` asks: `parallelism` containers at a time (each
//! replaced by `replace`: zero downtime with published ports, start-first
//! when asked), each batch watched for `monitor` after its switch (a
//! container that exits, restarts, turns unhealthy or goes away fails
//! it), `delay` between batches. On a failure `failure_action` decides:
//! `pause` stops the update there (what was replaced stays replaced),
//! `continue` warns and goes on, `rollback` replaces every container
//! already moved with its previous configuration again and stops.
//!
//! The deploy lock is held throughout, as a rollout holds it.

use super::replace::replace_as;
use super::rollout::replace_batch;
use super::{journal, monitor, DeployError, Options, Result, Step};
use crate::store::{Digest, Store};
use crate::supervisor::config::RunConfig;
use crate::supervisor::ops::{self, Info};
use std::time::Duration;

/// What to do when a replaced container fails.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FailureAction {
    /// Stop the update; what was replaced stays replaced (compose's default).
    #[default]
    Pause,
    /// Warn and go on with the next batch.
    Continue,
    /// Put every container already replaced back on its previous
    /// configuration, then stop.
    Rollback,
}

impl std::str::FromStr for FailureAction {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<FailureAction, String> {
        match s {
            "pause" => Ok(FailureAction::Pause),
            "continue" => Ok(FailureAction::Continue),
            "rollback" => Ok(FailureAction::Rollback),
            o => Err(format!("{o:?} is not pause, continue or rollback")),
        }
    }
}

/// How the containers are moved.
#[derive(Clone, Debug, Default)]
pub struct Policy {
    /// Containers replaced at a time (0: all at once).
    pub parallelism: usize,
    /// Between one batch (and its monitor window) and the next.
    pub delay: Duration,
    /// Watch each batch this long after its switch.
    pub monitor: Option<Duration>,
    pub failure_action: FailureAction,
}

/// One container and the configuration it moves to.
#[derive(Clone, Debug)]
pub struct Change {
    pub old: Info,
    pub cfg: RunConfig,
}

/// What an update did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Updated {
    pub replaced: usize,
    /// Failures `continue` went past: (container, why).
    pub failed: Vec<(String, String)>,
}

fn digest_of(cfg: &RunConfig) -> Result<Digest> {
    cfg.image
        .digest
        .parse()
        .map_err(|_| DeployError::Invalid(format!("bad image digest {:?}", cfg.image.digest)))
}

/// The container a replacement left under `old`'s name.
fn current(store: &Store, old: &Info) -> Option<Info> {
    let name = old.name.as_deref()?;
    let id = crate::supervisor::lookup::resolve(store, name).ok()?;
    ops::info(store, &id).ok()
}

/// Move each change's container to its new configuration.
pub fn update(
    store: &Store,
    changes: &[Change],
    policy: &Policy,
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<Updated> {
    let _lock = journal::lock(store)?;
    let size = match policy.parallelism {
        0 => changes.len().max(1),
        n => n,
    };
    let mut done: Vec<&Change> = Vec::new();
    let mut out = Updated::default();
    for (b, batch) in changes.chunks(size).enumerate() {
        if b > 0 && !policy.delay.is_zero() {
            std::thread::sleep(policy.delay);
        }
        let one = |c: &Change, report: &mut dyn FnMut(Step)| {
            let rev = c.cfg.image.revision.unwrap_or(0);
            replace_as(
                store,
                &c.old,
                Some(&c.cfg),
                rev,
                &digest_of(&c.cfg)?,
                opts,
                report,
            )
        };
        let outcomes = replace_batch(batch, &one, report);
        let mut failure: Option<(String, String)> = None;
        let mut fresh: Vec<String> = Vec::new();
        for (c, r) in batch.iter().zip(outcomes) {
            match r {
                Ok(true) => {}
                Ok(false) => {
                    done.push(c);
                    out.replaced += 1;
                    if let Some(i) = current(store, &c.old) {
                        fresh.push(i.id);
                    }
                }
                Err(e) => {
                    if failure.is_none() {
                        failure = Some((c.old.display_name(), failure_text(&e)));
                    }
                }
            }
        }
        if failure.is_none() {
            if let Some(window) = policy.monitor {
                report(Step::Monitoring {
                    tag: batch
                        .iter()
                        .map(|c| c.old.display_name())
                        .collect::<Vec<_>>()
                        .join(", "),
                    rev: batch[0].cfg.image.revision.unwrap_or(0),
                    window,
                });
                failure = monitor::watch(store, &fresh, window).map(|f| {
                    (
                        f.container,
                        format!("{} within its monitor window ({})", f.why, secs(window)),
                    )
                });
            }
        }
        let Some((container, why)) = failure else {
            continue;
        };
        match policy.failure_action {
            FailureAction::Continue => {
                report(Step::Skipped {
                    container: container.clone(),
                    why: format!("{why}; failure_action continue goes on"),
                });
                out.failed.push((container, why));
            }
            FailureAction::Pause => {
                return Err(DeployError::UpdateFailed {
                    container,
                    why,
                    then: format!(
                        "the update paused (failure_action pause): {} of {} container(s) replaced, the others left as they were",
                        out.replaced,
                        changes.len()
                    ),
                });
            }
            FailureAction::Rollback => {
                let back = roll_back(store, &done, opts, report);
                let then = match back {
                    Ok(n) => format!(
                        "rolled back (failure_action rollback): {n} container(s) on their previous configuration again"
                    ),
                    Err(e) => format!("the rollback failed too: {e}"),
                };
                return Err(DeployError::UpdateFailed {
                    container,
                    why,
                    then,
                });
            }
        }
    }
    Ok(out)
}

fn secs(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

/// The reason in a replacement's error, without the container's name
/// (the caller puts it first).
fn failure_text(e: &DeployError) -> String {
    match e {
        DeployError::NotReady { why, .. } => why.clone(),
        o => o.to_string(),
    }
}

/// Every container in `done` back on its previous configuration (the old
/// container's config.json); how many.
fn roll_back(
    store: &Store,
    done: &[&Change],
    opts: &Options,
    report: &mut dyn FnMut(Step),
) -> Result<usize> {
    let mut n = 0;
    for c in done {
        let (Some(now), Some(prev)) = (current(store, &c.old), c.old.config.as_ref()) else {
            continue;
        };
        let rev = prev.image.revision.unwrap_or(0);
        replace_as(
            store,
            &now,
            Some(prev),
            rev,
            &digest_of(prev)?,
            opts,
            report,
        )?;
        // Replacing a stopped (failed) container leaves the new one
        // stopped; the old one ran, so this one must.
        if c.old.observed.is_live() {
            if let Some(back) = current(store, &c.old).filter(|i| !i.observed.is_live()) {
                ops::start(store, &back.id)?;
            }
        }
        n += 1;
    }
    Ok(n)
}
