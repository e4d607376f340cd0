//! `rollout --monitor D`: after the last replica switched, watch the new
//! revision's containers for D. One that turns unhealthy, restarts, exits
//! or disappears in that window fails the revision (docker swarm's
//! `monitor` with `failure_action: rollback`); the caller then rolls the
//! whole service, and the tag, back.

use crate::store::Store;
use crate::supervisor::health::HealthStatus;
use crate::supervisor::ops;
use crate::supervisor::state::Observed;
use std::time::{Duration, Instant};

/// How often the containers' state is read.
const POLL: Duration = Duration::from_millis(50);

/// Why the new revision failed in the window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    pub container: String,
    pub why: String,
}

/// Watch containers `ids` for `window`; the first failure seen.
pub fn watch(store: &Store, ids: &[String], window: Duration) -> Option<Failure> {
    let base: Vec<(String, u32)> = ids
        .iter()
        .map(|id| {
            let n = ops::info(store, id).map_or(0, |i| i.state.restart_count);
            (id.clone(), n)
        })
        .collect();
    let until = Instant::now() + window;
    loop {
        for (id, restarts) in &base {
            if let Some(f) = check(store, id, *restarts) {
                return Some(f);
            }
        }
        if Instant::now() >= until {
            return None;
        }
        std::thread::sleep(POLL.min(until.saturating_duration_since(Instant::now())));
    }
}

fn check(store: &Store, id: &str, restarts: u32) -> Option<Failure> {
    let fail = |container: String, why: String| Some(Failure { container, why });
    let i = match ops::info(store, id) {
        Ok(i) => i,
        Err(_) => return fail(id[..12.min(id.len())].to_string(), "was removed".into()),
    };
    let name = i.display_name();
    if i.state.restart_count > restarts {
        return fail(name, "restarted".into());
    }
    if i.state
        .health
        .as_ref()
        .is_some_and(|h| h.status == HealthStatus::Unhealthy)
    {
        return fail(name, "turned unhealthy".into());
    }
    match i.observed {
        Observed::Up { .. } => None,
        Observed::Exited { exit_code, .. } => {
            let code = exit_code.map_or("?".to_string(), |c| c.to_string());
            fail(name, format!("exited (code {code})"))
        }
        Observed::Dead { reason } => fail(name, format!("died ({reason})")),
        _ => fail(name, "stopped running".into()),
    }
}
