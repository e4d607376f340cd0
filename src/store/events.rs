//! The event log: `events.log` in the store, one JSON event a line in
//! docker's event shape, appended by whoever changes something (the
//! supervisor, `run`, deploy, pull/build/prune/tag) and read by
//! `skiff events` and `skiff metrics` (`observe::events`).
//!
//! It lives in the store, the bottom layer, so every writer can reach it
//! without an arrow going up. Appends are one `write(2)` of a whole line
//! on an `O_APPEND` descriptor: concurrent writers never interleave inside
//! a line, and no lock is taken on that path. The log is bounded: once it
//! passes [`MAX_BYTES`] the writer that noticed renames it to
//! `events.log.1` (replacing the older one) under `events.lock`, so at most
//! two files exist. A line is not fsynced (events are history, not state,
//! and `run` is a hot path): a crash may cut the last line, which readers
//! skip with a warning.

use super::{Result, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Write;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;

pub const EVENTS_FILE: &str = "events.log";
pub const ROTATED_FILE: &str = "events.log.1";
const LOCK_FILE: &str = "events.lock";
/// Rotate once the current file passes this size (two files are kept).
pub const MAX_BYTES: u64 = 4 << 20;
/// Longest attribute value kept (an error message, a command).
const MAX_VALUE: usize = 1024;

/// Who an event is about: docker's `Actor`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    #[serde(rename = "ID")]
    pub id: String,
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as `docker events --format '{{json .}}'` prints it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// docker's legacy fields, kept for container and image events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// `container`, `image` or `deploy`.
    #[serde(rename = "Type")]
    pub kind: String,
    /// `create`, `start`, `die`, `oom`, `restart`, `stop`, `destroy`,
    /// `pull`, `build`, `tag`, `untag`, `prune`, `rollout`, `rollback`.
    #[serde(rename = "Action")]
    pub action: String,
    #[serde(rename = "Actor")]
    pub actor: Actor,
    pub scope: String,
    /// Seconds since the epoch.
    pub time: i64,
    #[serde(rename = "timeNano")]
    pub time_nano: i64,
}

impl Event {
    /// A new event of `kind` about `id`, stamped now.
    pub fn new(kind: &str, action: &str, id: &str) -> Event {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = kind == "container" || kind == "image";
        Event {
            status: legacy.then(|| action.to_string()),
            id: legacy.then(|| id.to_string()),
            from: None,
            kind: kind.to_string(),
            action: action.to_string(),
            actor: Actor {
                id: id.to_string(),
                attributes: BTreeMap::new(),
            },
            scope: "local".into(),
            time: now.timestamp(),
            time_nano: nanos,
        }
    }

    /// A container event with docker's `name` and `image` attributes.
    pub fn container(action: &str, id: &str, name: Option<&str>, image: &str) -> Event {
        let mut e = Event::new("container", action, id)
            .attr("image", image)
            .attr_opt("name", name);
        e.from = Some(image.to_string());
        e
    }

    /// Add an attribute (long values are cut).
    pub fn attr(mut self, key: &str, value: impl Into<String>) -> Event {
        let mut v: String = value.into();
        if v.len() > MAX_VALUE {
            let mut cut = MAX_VALUE;
            while !v.is_char_boundary(cut) {
                cut -= 1;
            }
            v.truncate(cut);
        }
        self.actor.attributes.insert(key.to_string(), v);
        self
    }

    pub fn attr_opt(self, key: &str, value: Option<&str>) -> Event {
        match value {
            Some(v) => self.attr(key, v),
            None => self,
        }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.actor.attributes.get(key).map(String::as_str)
    }
}

impl Store {
    pub fn events_path(&self) -> PathBuf {
        self.root().join(EVENTS_FILE)
    }

    pub fn rotated_events_path(&self) -> PathBuf {
        self.root().join(ROTATED_FILE)
    }

    /// Append `event` to the event log (one write), rotating it when full.
    pub fn append_event(&self, event: &Event) -> Result<()> {
        let mut line = serde_json::to_vec(event).map_err(|e| StoreError::Invalid(e.to_string()))?;
        line.push(b'\n');
        let path = self.events_path();
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(StoreError::io("cannot open", &path))?;
        // A line cut by a crash must not swallow this one: start afresh.
        // (Seeing another writer mid-line costs at worst a blank line,
        // which readers skip.)
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let mut last = [b'\n'];
        if len > 0 && f.read_at(&mut last, len - 1).is_ok() && last[0] != b'\n' {
            line.insert(0, b'\n');
        }
        f.write_all(&line)
            .map_err(StoreError::io("cannot append to", &path))?;
        let meta = f.metadata().map_err(StoreError::io("cannot stat", &path))?;
        if meta.len() > MAX_BYTES {
            self.rotate_events(meta.ino())?;
        }
        Ok(())
    }

    /// Rename a full `events.log` (inode `ino`) to `events.log.1`, unless
    /// another writer already did.
    fn rotate_events(&self, ino: u64) -> Result<()> {
        let lock_path = self.root().join(LOCK_FILE);
        let _lock = super::lock::LockGuard::exclusive(&lock_path)
            .map_err(StoreError::io("cannot lock", &lock_path))?;
        let path = self.events_path();
        match std::fs::metadata(&path) {
            Ok(m) if m.ino() == ino && m.len() > MAX_BYTES => {
                let to = self.rotated_events_path();
                std::fs::rename(&path, &to).map_err(StoreError::io("cannot rotate", &path))
            }
            _ => Ok(()),
        }
    }

    /// Append, and on failure only warn: an event must never make the
    /// change it records fail.
    pub fn emit(&self, event: Event) {
        if let Err(e) = self.append_event(&event) {
            eprintln!(
                "skiff: warning: cannot record the {} event: {e}",
                event.action
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appends_lines_in_docker_shape_and_rotates() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        let e = Event::container("start", "abc", Some("api"), "node-api:latest");
        store.append_event(&e).unwrap();
        let text = std::fs::read_to_string(store.events_path()).unwrap();
        let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(v["Type"], "container");
        assert_eq!(v["Action"], "start");
        assert_eq!(v["status"], "start");
        assert_eq!(v["Actor"]["ID"], "abc");
        assert_eq!(v["Actor"]["Attributes"]["name"], "api");
        assert_eq!(v["from"], "node-api:latest");
        let back: Event = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(back, e);

        // Fill past the limit: the writer that crosses it rotates.
        let big = Event::new("image", "pull", "x").attr("pad", "p".repeat(1000));
        let n = (MAX_BYTES / 1000) as usize + 10;
        for _ in 0..n {
            store.append_event(&big).unwrap();
        }
        let cur = std::fs::metadata(store.events_path()).unwrap().len();
        let old = std::fs::metadata(store.rotated_events_path())
            .unwrap()
            .len();
        assert!(cur <= MAX_BYTES && old > MAX_BYTES);
    }

    #[test]
    fn a_line_cut_by_a_crash_does_not_swallow_the_next() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        std::fs::write(store.events_path(), b"{\"Type\":\"cont").unwrap();
        let e = Event::new("image", "pull", "x");
        store.append_event(&e).unwrap();
        let text = std::fs::read_to_string(store.events_path()).unwrap();
        let last = text.lines().last().unwrap();
        assert_eq!(serde_json::from_str::<Event>(last).unwrap(), e);
    }

    #[test]
    fn concurrent_writers_never_interleave_inside_a_line() {
        let d = tempfile::tempdir().unwrap();
        let store = Store::open(d.path()).unwrap();
        std::thread::scope(|t| {
            for w in 0..8 {
                let store = store.clone();
                t.spawn(move || {
                    for i in 0..200 {
                        let e = Event::new("image", "tag", &format!("w{w}-{i}"))
                            .attr("pad", "x".repeat(300 + i));
                        store.append_event(&e).unwrap();
                    }
                });
            }
        });
        let text = std::fs::read_to_string(store.events_path()).unwrap();
        // Blank lines may appear (see append_event); readers skip them.
        let events: Vec<Event> = text
            .lines()
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(events.len(), 1600);
    }

    #[test]
    fn long_values_are_cut_on_a_char_boundary() {
        let e = Event::new("image", "build", "x").attr("error", "é".repeat(2000));
        assert!(e.get("error").unwrap().len() <= MAX_VALUE);
    }
}
