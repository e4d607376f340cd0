//! Policy over tag revisions and running containers: what to keep (prune),
//! and what should run (rollout, rollback). The mechanisms — a supervisor
//! handing its listening sockets to another, readiness, stopping, renaming —
//! live in `supervisor`; this module decides which container is replaced
//! when, and what to do when a step fails or a command was killed.
//!
//! | concern | file |
//! | --- | --- |
//! | which revision a rollback returns to; moving the tag and undoing it | `rollback.rs` |
//! | which containers follow a tag, in which order; finishing interrupted work | `rollout.rs` |
//! | replacing one container: handover (zero downtime) or stop-then-start | `replace.rs` |
//! | a new container from an old one's options and another image | `recreate.rs` |
//! | more or fewer replicas of a service, draining the removed ones | `scale.rs` |
//! | a service's containers moved to new configs in batches (compose's update_config) | `update.rs` |
//! | watching a new revision after the last switch (`--monitor`) | `monitor.rs` |
//! | the deploy lock and the record of a rollback in progress | `journal.rs` |
//! | a new container from an image and `run` options (run, compose) | `create.rs` |
//! | what to keep in the store | `prune.rs` |

pub mod create;
pub mod journal;
pub mod monitor;
pub mod prune;
pub mod recreate;
pub mod replace;
pub mod rollback;
pub mod rollout;
pub mod scale;
pub mod update;

use crate::store::Digest;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error("no such tag {0}")]
    NoSuchTag(String),
    #[error("{0}")]
    Invalid(String),
    /// The new container never answered; the old one keeps serving.
    #[error("{container}: the new container (revision {rev}) {why}")]
    NotReady {
        container: String,
        rev: u64,
        why: String,
        /// The new container's last log lines.
        logs: Vec<String>,
    },
    /// A rollback's rollout failed and the tag move was undone.
    #[error(
        "{source}; {tag} was moved back: revision {rev} points at the image of revision {to} again"
    )]
    Reverted {
        #[source]
        source: Box<DeployError>,
        tag: String,
        rev: u64,
        to: u64,
    },
    /// `--monitor`: the new revision failed after the switch and the
    /// service and the tag were rolled back.
    #[error(
        "{container} {why} within the monitor window of revision {rev}; rolled back: {tag} is at the image of revision {to} again (revision {now})"
    )]
    RolledBack {
        container: String,
        why: String,
        tag: String,
        rev: u64,
        to: u64,
        now: u64,
    },
    /// compose's `update_config`: a replaced container failed;
    /// `failure_action` decided what followed (`then`).
    #[error("{container} {why}; {then}")]
    UpdateFailed {
        container: String,
        why: String,
        then: String,
    },
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Image(#[from] crate::image::local::ImageError),
    #[error(transparent)]
    Runtime(#[from] crate::runtime::RuntimeError),
    #[error(transparent)]
    Supervisor(#[from] crate::supervisor::SupervisorError),
}

impl DeployError {
    /// The failed container's last log lines, if the error has them.
    pub fn logs(&self) -> &[String] {
        match self {
            DeployError::NotReady { logs, .. } => logs,
            DeployError::Reverted { source, .. } => source.logs(),
            _ => &[],
        }
    }
}

pub type Result<T, E = DeployError> = std::result::Result<T, E>;

/// A `deploy` event (rollout, rollback) about `name:tag` with its result:
/// the revision now current, or the error.
pub(crate) fn event(
    action: &str,
    name: &str,
    tag: &str,
    outcome: std::result::Result<u64, &DeployError>,
) -> crate::store::events::Event {
    let ev = crate::store::events::Event::new("deploy", action, &format!("{name}:{tag}"))
        .attr("name", format!("{name}:{tag}"));
    match outcome {
        Ok(rev) => ev
            .attr("result", "success")
            .attr("revision", rev.to_string()),
        Err(e) => ev.attr("result", "failure").attr("error", e.to_string()),
    }
}

/// How a rollout replaces containers.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// How long a new container with published ports may take to answer.
    pub ready_timeout: Duration,
    /// Seconds between an old container's stop signal and SIGKILL.
    pub stop_timeout: u64,
    /// Recreate containers already on the image too, with their env files
    /// read again (`rollout --force`, `restart --update-env`).
    pub force: bool,
    /// `rollout --monitor`: watch the new revision this long after the
    /// last switch; a failure rolls everything back.
    pub monitor: Option<Duration>,
    /// `rollout --canary N`: replace at most N containers; the others stay
    /// on what they run until `--promote` (a rollout) or `--abort`.
    pub canary: Option<usize>,
    /// `rollout --parallel k`: containers replaced at a time (≥ 1).
    pub parallel: usize,
    /// compose's `order: start-first`: a container without published
    /// ports is replaced start-first too (the new one runs, and is healthy
    /// if it has a check, before the old one gets its stop signal).
    pub start_first: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            ready_timeout: Duration::from_secs(30),
            stop_timeout: 10,
            force: false,
            monitor: None,
            canary: None,
            parallel: 1,
            start_first: false,
        }
    }
}

/// How one container is replaced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Published ports: the new one starts beside the old one and takes
    /// over its listening sockets once ready; the old one drains.
    Handover { ports: Vec<String> },
    /// No published ports: the old one stops, then the new one starts.
    StopThenStart,
    /// It was not running: recreated, left stopped.
    Stopped,
}

/// What a rollout or rollback does, step by step, for the command to print.
#[derive(Clone, Debug)]
pub enum Step {
    /// The tag moved (rollback).
    TagMoved {
        tag: String,
        rev: u64,
        to: u64,
        digest: Digest,
    },
    /// Work a killed command left behind was finished or undone first.
    Recovered {
        container: String,
        what: String,
    },
    /// No container was started from the tag.
    NoContainers {
        tag: String,
    },
    /// `--monitor`: every container switched; now watching them.
    Monitoring {
        tag: String,
        rev: u64,
        window: Duration,
    },
    UpToDate {
        container: String,
        rev: u64,
    },
    Replacing {
        container: String,
        from: Option<u64>,
        to: u64,
        mode: Mode,
    },
    Replaced {
        container: String,
        to: u64,
        mode: Mode,
        /// From start to ready (handover).
        ready_in: Option<Duration>,
        took: Duration,
    },
    Skipped {
        container: String,
        why: String,
    },
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Step::TagMoved {
                tag,
                rev,
                to,
                digest,
            } => write!(
                f,
                "{tag} is now revision {rev} (the image of revision {to}, {digest})"
            ),
            Step::Recovered { container, what } => write!(f, "{container}: {what}"),
            Step::Monitoring { tag, rev, window } => write!(
                f,
                "{tag}: revision {rev} serves everywhere; watching it for {}s (--monitor)",
                window.as_secs_f64()
            ),
            Step::NoContainers { tag } => {
                write!(f, "no container uses {tag}; only the tag moved")
            }
            Step::UpToDate { container, rev } => {
                write!(f, "{container}: already on revision {rev}")
            }
            Step::Replacing {
                container,
                from,
                to,
                mode,
            } => {
                let from = from.map(|r| format!("revision {r}")).unwrap_or("its image".into());
                match mode {
                    Mode::Handover { ports } if ports.is_empty() => write!(
                        f,
                        "{container}: {from} → {to}: starting the new container before the old one stops (start-first)"
                    ),
                    Mode::Handover { ports } => write!(
                        f,
                        "{container}: {from} → {to}: starting the new container beside the old one (ports {})",
                        ports.join(", ")
                    ),
                    Mode::StopThenStart => write!(
                        f,
                        "{container}: {from} → {to}: no published ports, so stop, then start (it is down in between)"
                    ),
                    Mode::Stopped => write!(
                        f,
                        "{container}: {from} → {to}: not running; recreating it stopped"
                    ),
                }
            }
            Step::Replaced {
                container,
                to,
                mode,
                ready_in,
                took,
            } => match mode {
                Mode::Handover { .. } => write!(
                    f,
                    "{container}: on revision {to}, no downtime (ready after {}, old one drained; {} in all)",
                    ready_in.map(secs).unwrap_or_default(),
                    secs(*took)
                ),
                Mode::StopThenStart => {
                    write!(f, "{container}: on revision {to} ({} in all)", secs(*took))
                }
                Mode::Stopped => write!(
                    f,
                    "{container}: recreated on revision {to}, stopped (skiff start runs it)"
                ),
            },
            Step::Skipped { container, why } => write!(f, "{container}: skipped: {why}"),
        }
    }
}
