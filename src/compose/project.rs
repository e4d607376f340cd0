//! A project's containers and volumes in the store, found by their labels:
//! every later command finds them again, and a project never touches
//! another's.

use super::{LABEL_NUMBER, LABEL_PROJECT, LABEL_SERVICE};
use crate::store::lock::LockGuard;
use crate::store::volumes::VolumeMeta;
use crate::store::Store;
use crate::supervisor::ops::{self, Info};

fn label<'a>(i: &'a Info, key: &str) -> Option<&'a str> {
    i.config
        .as_ref()
        .and_then(|c| c.labels.get(key))
        .map(String::as_str)
}

pub fn service_of(i: &Info) -> Option<&str> {
    label(i, LABEL_SERVICE)
}

pub fn number_of(i: &Info) -> u32 {
    label(i, LABEL_NUMBER)
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
}

/// The project's containers, by service name then replica number. A
/// rollout's temporary `.next` container is left out.
pub fn containers(store: &Store, project: &str) -> Vec<Info> {
    let mut v: Vec<Info> = ops::list(store)
        .into_iter()
        .filter(|i| label(i, LABEL_PROJECT) == Some(project))
        .filter(|i| i.config.as_ref().is_none_or(|c| c.replaces.is_none()))
        .collect();
    v.sort_by(|a, b| (service_of(a), number_of(a)).cmp(&(service_of(b), number_of(b))));
    v
}

pub fn service_containers(store: &Store, project: &str, service: &str) -> Vec<Info> {
    containers(store, project)
        .into_iter()
        .filter(|i| service_of(i) == Some(service))
        .collect()
}

/// The volumes the project created.
pub fn volumes(store: &Store, project: &str) -> crate::store::Result<Vec<VolumeMeta>> {
    Ok(store
        .volumes()?
        .into_iter()
        .filter(|v| v.labels.get(LABEL_PROJECT).map(String::as_str) == Some(project))
        .collect())
}

/// The project's lock (`compose/<project>.lock` in the store), held while
/// `up` or `down` changes its containers: a second command on the same
/// project waits for the first (and says so), so two never both create.
pub fn lock(store: &Store, project: &str, say: &mut dyn FnMut(String)) -> super::Result<LockGuard> {
    let p = store.root().join("compose").join(format!("{project}.lock"));
    let err = |e: std::io::Error| {
        super::ComposeError::Invalid(format!("cannot take the project lock {}: {e}", p.display()))
    };
    if let Some(g) = LockGuard::try_exclusive(&p).map_err(err)? {
        return Ok(g);
    }
    say(format!(
        "Waiting for another skiff compose command on project {project} to finish (it holds {})",
        p.display()
    ));
    loop {
        std::thread::sleep(std::time::Duration::from_millis(50));
        if let Some(g) = LockGuard::try_exclusive(&p).map_err(err)? {
            return Ok(g);
        }
    }
}
