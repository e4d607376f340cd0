//! A replicated service: `run --replicas N --name api` makes containers
//! `api.1 … api.N`, each its own container with its own supervisor, limits
//! and restart policy, and `options.service = "api"` in its config.json.
//!
//! One published port for all of them: the replicas' supervisors share the
//! *same* listening socket (one accept queue). The first replica binds it;
//! every other one is started with a duplicate taken from a running
//! sibling over its control socket (`take_listeners`, the hand-over a
//! rollout already uses). A replica's supervisor polls the shared socket
//! only while its container is ready (ports answer, healthy when there is a
//! check): a crashed, restarting or unhealthy replica leaves the queue to
//! the others, and a connection that arrives while no replica is ready
//! waits in the kernel's queue instead of being refused.

use super::config::RunConfig;
use super::spawn::{self, Handover};
use super::{control, lookup, Result, SupervisorError};
use crate::store::Store;
use std::time::Duration;

/// Replicas at most (`--replicas`, `scale`): each costs a supervisor and
/// a container; more than this on one host is a mistake.
pub const MAX_REPLICAS: u32 = 256;

/// `N` or `max` (one per CPU), checked.
pub fn parse_count(s: &str) -> Result<u32> {
    let n = if s == "max" {
        std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
    } else {
        s.parse::<u32>().map_err(|_| {
            SupervisorError::Invalid(format!(
                "invalid replica count {s:?}: give a number from 1 to {MAX_REPLICAS}, or max (one per CPU)"
            ))
        })?
    };
    if n == 0 || n > MAX_REPLICAS {
        return Err(SupervisorError::Invalid(format!(
            "invalid replica count {s}: give a number from 1 to {MAX_REPLICAS}, or max (one per CPU)"
        )));
    }
    Ok(n.min(MAX_REPLICAS))
}

/// The name of replica `index` of `service`.
pub fn replica_name(service: &str, index: u32) -> String {
    format!("{service}.{index}")
}

/// `api.3` -> (`api`, 3).
pub fn split_name(name: &str) -> Option<(&str, u32)> {
    let (service, n) = name.rsplit_once('.')?;
    let n: u32 = n.parse().ok().filter(|n| *n > 0)?;
    (!service.is_empty()).then_some((service, n))
}

/// The replicas of `service`: (index, container id), by index.
pub fn members(store: &Store, service: &str) -> Vec<(u32, String)> {
    let mut out: Vec<(u32, String)> = lookup::all_ids(store)
        .into_iter()
        .filter_map(|id| {
            let name = lookup::name_of(store, &id)?;
            let (s, n) = split_name(&name)?;
            if s != service {
                return None;
            }
            let cfg = RunConfig::load(&store.containers_dir().join(&id)).ok()?;
            (cfg.options.service.as_deref() == Some(service)).then_some((n, id))
        })
        .collect();
    out.sort();
    out
}

/// The containers a command given `reference` acts on: the container it
/// names, or every replica of the service it names.
pub fn resolve_all(store: &Store, reference: &str) -> Result<Vec<String>> {
    match lookup::resolve(store, reference) {
        Err(SupervisorError::NotFound(r)) => {
            let m = members(store, reference);
            if m.is_empty() {
                Err(SupervisorError::NotFound(r))
            } else {
                Ok(m.into_iter().map(|(_, id)| id).collect())
            }
        }
        other => other.map(|id| vec![id]),
    }
}

/// Start the supervisor of container `id`. A replica with published ports
/// shares the listeners of a running sibling; the first one binds them.
pub fn spawn(store: &Store, id: &str) -> Result<()> {
    let dir = store.containers_dir().join(id);
    let cfg = RunConfig::load(&dir)?;
    match (&cfg.options.service, cfg.ports.is_empty()) {
        (Some(service), false) => match sibling_listeners(store, service, id, &cfg) {
            Some(listeners) => spawn::spawn_with(
                store.root(),
                id,
                Handover {
                    listeners,
                    stop_first: None,
                },
            ),
            None => spawn::spawn(store.root(), id),
        },
        _ => spawn::spawn(store.root(), id),
    }
}

/// Duplicates of the listening sockets of a running sibling, if one runs.
fn sibling_listeners(
    store: &Store,
    service: &str,
    id: &str,
    cfg: &RunConfig,
) -> Option<Vec<std::os::fd::OwnedFd>> {
    for (_, other) in members(store, service) {
        if other == id {
            continue;
        }
        let dir = store.containers_dir().join(&other);
        let Ok((specs, fds)) = control::take_listeners(&dir, Duration::from_secs(5)) else {
            continue;
        };
        if specs == cfg.ports {
            return Some(fds);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts() {
        assert_eq!(parse_count("3").unwrap(), 3);
        assert!(parse_count("max").unwrap() >= 1);
        for bad in ["0", "10000", "-1", "two", ""] {
            let e = parse_count(bad).unwrap_err().to_string();
            assert!(e.contains("from 1 to 256"), "{bad}: {e}");
        }
    }

    #[test]
    fn names() {
        assert_eq!(split_name("api.3"), Some(("api", 3)));
        assert_eq!(split_name("my.api.12"), Some(("my.api", 12)));
        assert_eq!(split_name("api.0"), None);
        assert_eq!(split_name("api.1.next"), None);
        assert_eq!(split_name("api"), None);
        assert_eq!(split_name(".1"), None);
        assert_eq!(replica_name("api", 2), "api.2");
    }
}
