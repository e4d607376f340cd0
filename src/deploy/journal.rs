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
use std::path::{Path, PathBuf};

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

/// A JSON file of the deploy directory, if it is there.
fn read_json<T: serde::de::DeserializeOwned>(p: &Path) -> Result<Option<T>> {
    match std::fs::read(p) {
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

/// Write it through tmp + fsync + rename.
fn write_json<T: Serialize>(store: &Store, p: &Path, value: &T) -> Result<()> {
    if let Some(d) = p.parent() {
        std::fs::create_dir_all(d)
            .map_err(|e| DeployError::Invalid(format!("cannot create {}: {e}", d.display())))?;
    }
    let bytes =
        serde_json::to_vec_pretty(value).map_err(|e| DeployError::Invalid(e.to_string()))?;
    store.write_atomic(p, &bytes)?;
    Ok(())
}

/// Remove it; one already gone is fine.
fn remove_file(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(DeployError::Invalid(format!(
            "cannot remove {}: {e}",
            p.display()
        ))),
    }
}

pub fn load(store: &Store, name: &str, tag: &str) -> Result<Option<Record>> {
    crate::store::refs::check_name_tag(name, tag)?;
    read_json(&path(store, name, tag))
}

pub fn save(store: &Store, r: &Record) -> Result<()> {
    crate::store::refs::check_name_tag(&r.name, &r.tag)?;
    write_json(store, &path(store, &r.name, &r.tag), r)
}

pub fn remove(store: &Store, name: &str, tag: &str) -> Result<()> {
    remove_file(&path(store, name, tag))
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
    read_json(&watch_path(store, name, tag))
}

pub fn save_watch(store: &Store, w: &Watch) -> Result<()> {
    crate::store::refs::check_name_tag(&w.name, &w.tag)?;
    write_json(store, &watch_path(store, &w.name, &w.tag), w)
}

pub fn remove_watch(store: &Store, name: &str, tag: &str) -> Result<()> {
    remove_file(&watch_path(store, name, tag))
}

/// A `scale` or `run --replicas` in progress on a service,
/// `deploy/<service>/replicas.json` (no `:`, so no tag's record can be
/// named so). Written under the deploy lock before the first replica is
/// made or drained, removed when the command ends; found by the next
/// command under the lock, it belongs to a command that was killed
/// (`scale::recover`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scaling {
    pub service: String,
    /// `run --replicas` (undone: all or nothing, as when it fails) or
    /// `scale` (finished: brought to `to`).
    pub by_run: bool,
    pub to: u32,
    /// The replicas it was to make (their names).
    pub adding: Vec<String>,
    pub at: String,
}

fn scaling_path(store: &Store, service: &str) -> PathBuf {
    dir(store).join(service).join("replicas.json")
}

/// A service name is a container name: nothing a path could escape with.
pub fn check_service_name(service: &str) -> Result<()> {
    crate::supervisor::lookup::check_name(service).map_err(|e| DeployError::Invalid(e.to_string()))
}

pub fn load_scaling(store: &Store, service: &str) -> Result<Option<Scaling>> {
    check_service_name(service)?;
    read_json(&scaling_path(store, service))
}

pub fn save_scaling(store: &Store, s: &Scaling) -> Result<()> {
    check_service_name(&s.service)?;
    write_json(store, &scaling_path(store, &s.service), s)
}

pub fn remove_scaling(store: &Store, service: &str) -> Result<()> {
    check_service_name(service)?;
    let p = scaling_path(store, service);
    remove_file(&p)?;
    // The service's directory goes with its last record (kept otherwise).
    if let Some(d) = p.parent() {
        let _ = std::fs::remove_dir(d);
    }
    Ok(())
}
