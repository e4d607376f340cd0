//! `deploy/` in the store: one lock that serializes rollouts and rollbacks
//! (a replacement in progress must not meet another), and the record of a
//! rollback in progress, `deploy/<name>/:<tag>.json`, written before the
//! tag moves and removed once its containers follow. A record found by the
//! next command under the lock belongs to a command that was killed: the
//! next command finishes the rollout it started (and, if that fails,
//! moves the tag back as the killed command would have).
//!
//! A rollout's `--monitor` window is recorded too, `deploy/<name>/:<tag>.monitor.json`
//! (the revision watched, the one to return to, when the window ends), so a
//! command killed while watching is finished by the next one: it watches
//! what is left of the window and rolls back if the revision fails.
//!
//! Replacements of single containers are recorded in the new container's
//! own config.json (`replaces`); see `rollout::recover`.

use super::{DeployError, Result};
use crate::store::lock::LockGuard;
use crate::store::{Digest, Store};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// A rollback in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub name: String,
    pub tag: String,
    /// The revision current before the rollback, and its image.
    pub previous_rev: u64,
    pub previous_digest: Option<Digest>,
    /// The revision the rollback returns to.
    pub target_rev: u64,
    /// The revision the rollback appended (once it did).
    pub new_rev: Option<u64>,
    pub at: String,
}

fn dir(store: &Store) -> PathBuf {
    store.root().join("deploy")
}

fn path(store: &Store, name: &str, tag: &str) -> PathBuf {
    dir(store).join(name).join(format!(":{tag}.json"))
}

/// Hold the deploy lock for as long as the guard lives.
pub fn lock(store: &Store) -> Result<LockGuard> {
    let p = dir(store).join("lock");
    LockGuard::exclusive(&p).map_err(|e| {
        DeployError::Invalid(format!("cannot take the deploy lock {}: {e}", p.display()))
    })
}

pub fn load(store: &Store, name: &str, tag: &str) -> Result<Option<Record>> {
    crate::store::refs::check_name_tag(name, tag)?;
    let p = path(store, name, tag);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            DeployError::Invalid(format!("{}: {e} (remove the file to go on)", p.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DeployError::Invalid(format!(
            "cannot read {}: {e}",
            p.display()
        ))),
    }
}

pub fn save(store: &Store, r: &Record) -> Result<()> {
    crate::store::refs::check_name_tag(&r.name, &r.tag)?;
    let p = path(store, &r.name, &r.tag);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| DeployError::Invalid(format!("cannot create {}: {e}", d.display())))?;
    }
    let bytes = serde_json::to_vec_pretty(r).map_err(|e| DeployError::Invalid(e.to_string()))?;
    store.write_atomic(&p, &bytes)?;
    Ok(())
}

pub fn remove(store: &Store, name: &str, tag: &str) -> Result<()> {
    let p = path(store, name, tag);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DeployError::Invalid(format!(
            "cannot remove {}: {e}",
            p.display()
        ))),
    }
}

/// A `--monitor` window in progress.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Watch {
    pub name: String,
    pub tag: String,
    /// The revision watched and the one a failure returns to.
    pub rev: u64,
    pub back_to: u64,
    /// The containers on the watched revision.
    pub containers: Vec<String>,
    /// End of the window, seconds since the Unix epoch.
    pub until: u64,
}

fn watch_path(store: &Store, name: &str, tag: &str) -> PathBuf {
    dir(store).join(name).join(format!(":{tag}.monitor.json"))
}

pub fn load_watch(store: &Store, name: &str, tag: &str) -> Result<Option<Watch>> {
    crate::store::refs::check_name_tag(name, tag)?;
    let p = watch_path(store, name, tag);
    match std::fs::read(&p) {
        Ok(b) => serde_json::from_slice(&b).map(Some).map_err(|e| {
            DeployError::Invalid(format!("{}: {e} (remove the file to go on)", p.display()))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(DeployError::Invalid(format!(
            "cannot read {}: {e}",
            p.display()
        ))),
    }
}

pub fn save_watch(store: &Store, w: &Watch) -> Result<()> {
    crate::store::refs::check_name_tag(&w.name, &w.tag)?;
    let p = watch_path(store, &w.name, &w.tag);
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| DeployError::Invalid(format!("cannot create {}: {e}", d.display())))?;
    }
    let bytes = serde_json::to_vec_pretty(w).map_err(|e| DeployError::Invalid(e.to_string()))?;
    store.write_atomic(&p, &bytes)?;
    Ok(())
}

pub fn remove_watch(store: &Store, name: &str, tag: &str) -> Result<()> {
    let p = watch_path(store, name, tag);
    match std::fs::remove_file(&p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DeployError::Invalid(format!(
            "cannot remove {}: {e}",
            p.display()
        ))),
    }
}
