//! `skiff fsck`: check the whole store, and with `repair` fix what can be
//! fixed without inventing content.
//!
//! What is checked:
//! - every blob under `oci/blobs/sha256/` hashes to its name;
//! - every manifest a tag revision names, and the config and layers that
//!   manifest names, is present (a missing manifest of an *old* revision is a
//!   pruned revision: a note, not a problem);
//! - every build cache entry (`cache/<key>`) names blobs that are present;
//! - `oci/index.json` says what the revision logs say;
//! - `layers/` holds only directories named by a diff id;
//! - each container directory has its `spec.json`, its layers, and a live
//!   supervisor when its `state.json` says it is running;
//! - each volume under `volumes/` has a valid name, a readable
//!   `volume.json` and its `_data/` directory; every named volume a
//!   container mounts exists;
//! - `tmp/` holds nothing left behind by a process that is gone.
//!
//! The store knows nothing about builds or images: manifests, configs, cache
//! entries and container state are read here as plain JSON, leniently.
//!
//! Repairs only ever remove what is broken or orphaned (a blob that does not
//! verify, an orphaned temporary file, a cache entry naming missing blobs, a
//! stray entry) or rewrite derived metadata (`index.json`, `oci-layout`). A
//! blob that verifies is never removed; layers nobody uses are left for
//! `skiff prune`.

use super::tmp::{owner_pid, pid_alive};
use super::{Digest, Result, Revision, Store, StoreError};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// How bad a finding is. Only problems make the store unsound.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Severity {
    Problem,
    /// What a crash leaves behind (tmp/ entries of a killed process):
    /// always listed, removed by `--repair`, but the store is sound.
    Leftover,
    Note,
}

/// What `--repair` does about a finding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// fsck cannot fix it; the text says what can.
    Manual(String),
    /// Remove this file or directory tree (absolute path).
    Remove(PathBuf),
    /// Rewrite `oci/index.json` from the revision logs.
    RewriteIndex,
    /// Rewrite `oci/oci-layout`.
    RewriteLayout,
    /// Nothing to do; the text says why.
    Leave(String),
}

impl Action {
    /// What `--repair` would do, as a phrase.
    pub fn describe(&self) -> String {
        match self {
            Action::Manual(hint) => format!("--repair cannot fix this: {hint}"),
            Action::Remove(_) => "--repair removes it".to_string(),
            Action::RewriteIndex => "--repair rewrites index.json from the revision logs".into(),
            Action::RewriteLayout => "--repair rewrites oci-layout".into(),
            Action::Leave(why) => why.clone(),
        }
    }

    fn is_repair(&self) -> bool {
        matches!(
            self,
            Action::Remove(_) | Action::RewriteIndex | Action::RewriteLayout
        )
    }
}

/// One thing fsck found.
#[derive(Clone, Debug)]
pub struct Finding {
    pub severity: Severity,
    /// A short stable identifier (`corrupt-blob`, `missing-blob`, …).
    pub kind: &'static str,
    /// Where, relative to the store root.
    pub path: String,
    /// What is wrong.
    pub message: String,
    pub action: Action,
    /// After a repair: `Ok` if it was done, `Err` with the reason if not.
    pub repaired: Option<std::result::Result<(), String>>,
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let label = match (&self.severity, &self.repaired) {
            (_, Some(Ok(()))) => "repaired",
            (Severity::Problem, _) => "problem",
            (Severity::Leftover, _) => "leftover",
            (Severity::Note, _) => "note",
        };
        write!(
            f,
            "{label}: {}: {} [{}]",
            self.path, self.message, self.kind
        )?;
        match &self.repaired {
            Some(Ok(())) => write!(f, " ({})", done(&self.action)),
            Some(Err(e)) => write!(f, " (repair failed: {e})"),
            None => write!(f, " ({})", self.action.describe()),
        }
    }
}

fn done(a: &Action) -> String {
    match a {
        Action::Remove(_) => "removed".into(),
        Action::RewriteIndex => "index.json rewritten".into(),
        Action::RewriteLayout => "oci-layout rewritten".into(),
        other => other.describe(),
    }
}

/// Everything one pass of fsck found, with what it looked at.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub findings: Vec<Finding>,
    pub blobs: usize,
    pub tags: usize,
    pub revisions: usize,
    pub cache_entries: usize,
    pub layers: usize,
    pub containers: usize,
}

impl Report {
    /// No problem is left (notes do not count).
    pub fn is_sound(&self) -> bool {
        self.findings
            .iter()
            .all(|f| f.severity != Severity::Problem || matches!(f.repaired, Some(Ok(()))))
    }

    pub fn problems(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Problem)
    }

    pub fn leftovers(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Leftover)
    }

    pub fn notes(&self) -> impl Iterator<Item = &Finding> {
        self.findings
            .iter()
            .filter(|f| f.severity == Severity::Note)
    }
}

/// The result of `fsck`: the first pass and, after a repair, a second pass
/// showing what is left.
#[derive(Clone, Debug)]
pub struct Outcome {
    pub report: Report,
    pub after_repair: Option<Report>,
}

impl Outcome {
    pub fn is_sound(&self) -> bool {
        match &self.after_repair {
            Some(r) => r.is_sound(),
            None => self.report.is_sound(),
        }
    }
}

/// Check the store; with `repair`, hold the store lock, fix what can be
/// fixed, and check again.
pub fn fsck(store: &Store, repair: bool) -> Result<Outcome> {
    if !repair {
        return Ok(Outcome {
            report: check(store)?,
            after_repair: None,
        });
    }
    // As `skiff prune` does: the gc lock first (builds and imports in
    // flight hold it shared), then the metadata lock.
    let _gc = store.gc_exclusive()?;
    let _lock = store.lock()?;
    let mut report = check(store)?;
    apply_repairs(store, &mut report);
    let after = check(store)?;
    Ok(Outcome {
        report,
        after_repair: Some(after),
    })
}

/// Carry out the repairs of `report`. Caller holds the store lock.
pub fn apply_repairs(store: &Store, report: &mut Report) {
    // The index goes last: it depends on the blobs the other repairs remove.
    let mut order: Vec<usize> = (0..report.findings.len()).collect();
    order.sort_by_key(|&i| report.findings[i].action == Action::RewriteIndex);
    let mut index_done = false;
    for i in order {
        let f = &mut report.findings[i];
        if !f.action.is_repair() {
            continue;
        }
        let result = match &f.action {
            Action::Remove(p) => remove_any(p).map_err(|e| e.to_string()),
            Action::RewriteIndex if index_done => Ok(()),
            Action::RewriteIndex => {
                index_done = true;
                store.write_index_locked().map_err(|e| e.to_string())
            }
            Action::RewriteLayout => store
                .write_atomic(
                    &store.oci_dir().join("oci-layout"),
                    br#"{"imageLayoutVersion":"1.0.0"}"#,
                )
                .map_err(|e| e.to_string()),
            Action::Manual(_) | Action::Leave(_) => continue,
        };
        f.repaired = Some(result);
    }
}

/// Remove a file, symlink or directory tree; never follows symlinks.
fn remove_any(p: &Path) -> io::Result<()> {
    let meta = match fs::symlink_metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if meta.is_dir() {
        fs::remove_dir_all(p)
    } else {
        fs::remove_file(p)
    }
}

/// Is the process `{pid, start_time, boot_id}` of a state file still the
/// one running under that pid (same boot, same start time)?
fn same_process(p: &Value, pid: i64) -> bool {
    if !pid_alive(pid) {
        return false;
    }
    if let Some(boot) = p.get("boot_id").and_then(Value::as_str) {
        let now = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        if !boot.is_empty() && !now.trim().is_empty() && boot != now.trim() {
            return false;
        }
    }
    match p.get("start_time").and_then(Value::as_u64) {
        Some(start) if start != 0 => proc_start_time(pid).is_none_or(|t| t == start),
        _ => true,
    }
}

/// Field 22 of /proc/<pid>/stat: when the process started, in clock ticks.
fn proc_start_time(pid: i64) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    // Fields after the command start at field 3.
    rest.split_whitespace().nth(22 - 3)?.parse().ok()
}

/// Who refers to a blob, for messages ("busybox:fixture", "cache entry …").
type Referrers = BTreeMap<Digest, BTreeSet<String>>;

struct Checker<'a> {
    store: &'a Store,
    report: Report,
    /// Blobs that exist and verify.
    good: BTreeSet<Digest>,
    /// Blobs that exist and do not verify.
    corrupt: BTreeSet<Digest>,
    referrers: Referrers,
    /// Diff ids some image config, cache entry or container uses.
    used_layers: BTreeSet<String>,
}

/// One pass over the store, changing nothing.
pub fn check(store: &Store) -> Result<Report> {
    let mut c = Checker {
        store,
        report: Report::default(),
        good: BTreeSet::new(),
        corrupt: BTreeSet::new(),
        referrers: BTreeMap::new(),
        used_layers: BTreeSet::new(),
    };
    c.layout()?;
    let revisions = c.refs()?;
    c.blobs()?;
    c.images(&revisions);
    c.cache()?;
    c.containers()?;
    c.volumes()?;
    c.layers()?;
    c.index();
    c.tmp()?;
    c.name_corrupt_blobs();
    Ok(c.report)
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>> {
    let rd = match fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StoreError::Io {
                what: "cannot list",
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    let mut v = rd
        .collect::<io::Result<Vec<_>>>()
        .map_err(StoreError::io("cannot list", dir))?;
    v.sort_by_key(|e| e.file_name());
    Ok(v)
}

fn is_hex64(s: &str) -> bool {
    Digest::from_hex(s).is_ok()
}

/// A tag revision: where it is, and what it says.
struct TagRev {
    label: String,
    current: bool,
    rev: Revision,
}

impl<'a> Checker<'a> {
    fn rel(&self, p: &Path) -> String {
        p.strip_prefix(self.store.root())
            .unwrap_or(p)
            .display()
            .to_string()
    }

    fn add(
        &mut self,
        severity: Severity,
        kind: &'static str,
        path: &Path,
        message: impl Into<String>,
        action: Action,
    ) {
        let path = self.rel(path);
        self.report.findings.push(Finding {
            severity,
            kind,
            path,
            message: message.into(),
            action,
            repaired: None,
        });
    }

    fn layout(&mut self) -> Result<()> {
        let p = self.store.oci_dir().join("oci-layout");
        let ok = fs::read(&p)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok())
            .map(|v| {
                v.get("imageLayoutVersion")
                    .and_then(Value::as_str)
                    .is_some()
            })
            .unwrap_or(false);
        if !ok {
            self.add(
                Severity::Problem,
                "bad-layout",
                &p,
                "missing or not an OCI layout file",
                Action::RewriteLayout,
            );
        }
        Ok(())
    }

    /// Read every revision log under `refs/`.
    fn refs(&mut self) -> Result<Vec<TagRev>> {
        let mut out = Vec::new();
        let base = self.store.refs_dir();
        let mut stack = vec![base.clone()];
        while let Some(dir) = stack.pop() {
            for entry in read_dir_sorted(&dir)? {
                let path = entry.path();
                let fname = entry.file_name().to_string_lossy().to_string();
                let ft = entry
                    .file_type()
                    .map_err(StoreError::io("cannot stat", &path))?;
                if ft.is_dir() {
                    stack.push(path);
                    continue;
                }
                let Some(tag) = fname.strip_prefix(':') else {
                    self.add(
                        Severity::Note,
                        "stray-ref",
                        &path,
                        "not a revision log (those are named :<tag>)",
                        Action::Leave("left alone".into()),
                    );
                    continue;
                };
                let name = dir
                    .strip_prefix(&base)
                    .unwrap_or(&dir)
                    .to_string_lossy()
                    .to_string();
                if super::refs::check_name_tag(&name, tag).is_err() || !ft.is_file() {
                    self.add(
                        Severity::Problem,
                        "bad-ref",
                        &path,
                        format!("{name}:{tag} is not a valid tag log"),
                        Action::Manual("remove it by hand".into()),
                    );
                    continue;
                }
                self.report.tags += 1;
                let text = match fs::read_to_string(&path) {
                    Ok(t) => t,
                    Err(e) => {
                        self.add(
                            Severity::Problem,
                            "bad-ref",
                            &path,
                            format!("cannot read: {e}"),
                            Action::Manual("check its permissions".into()),
                        );
                        continue;
                    }
                };
                let mut revs = Vec::new();
                for (i, line) in text.lines().enumerate() {
                    if line.trim().is_empty() {
                        continue;
                    }
                    match serde_json::from_str::<Revision>(line) {
                        Ok(r) => revs.push(r),
                        Err(e) => self.add(
                            Severity::Problem,
                            "corrupt-log",
                            &path,
                            format!("line {}: not a revision: {e}", i + 1),
                            Action::Manual(
                                "edit the log by hand; the other lines are intact".into(),
                            ),
                        ),
                    }
                }
                self.report.revisions += revs.len();
                let last = revs.len().saturating_sub(1);
                for (i, rev) in revs.into_iter().enumerate() {
                    out.push(TagRev {
                        label: format!("{name}:{tag}"),
                        current: i == last,
                        rev,
                    });
                }
            }
        }
        Ok(out)
    }

    /// Hash every blob.
    fn blobs(&mut self) -> Result<()> {
        let blobs = self.store.oci_dir().join("blobs");
        for entry in read_dir_sorted(&blobs)? {
            if entry.file_name() != "sha256" {
                self.add(
                    Severity::Note,
                    "unknown-algorithm",
                    &entry.path(),
                    "skiff stores only sha256 blobs",
                    Action::Leave("left alone".into()),
                );
            }
        }
        let dir = blobs.join("sha256");
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            let meta = fs::symlink_metadata(&path).map_err(StoreError::io("cannot stat", &path))?;
            let Ok(expected) = Digest::from_hex(&fname) else {
                self.add(
                    Severity::Problem,
                    "stray-blob",
                    &path,
                    "not named by a sha256 digest",
                    Action::Remove(path.clone()),
                );
                continue;
            };
            if !meta.is_file() {
                self.add(
                    Severity::Problem,
                    "stray-blob",
                    &path,
                    "not a regular file",
                    Action::Remove(path.clone()),
                );
                continue;
            }
            self.report.blobs += 1;
            match hash_file(&path) {
                Ok(actual) if actual == expected => {
                    self.good.insert(expected);
                }
                Ok(actual) => {
                    self.add(
                        Severity::Problem,
                        "corrupt-blob",
                        &path,
                        format!("content hashes to {actual}"),
                        Action::Remove(path.clone()),
                    );
                    self.corrupt.insert(expected);
                }
                Err(e) => {
                    self.add(
                        Severity::Problem,
                        "unreadable-blob",
                        &path,
                        format!("cannot read: {e}"),
                        Action::Manual("check the disk and the file's permissions".into()),
                    );
                    self.corrupt.insert(expected);
                }
            }
        }
        Ok(())
    }

    fn refer(&mut self, d: &Digest, who: &str) {
        self.referrers
            .entry(d.clone())
            .or_default()
            .insert(who.to_string());
    }

    /// A blob that must be present for `who`; reports it if it is not.
    fn require(&mut self, d: &Digest, what: &str, who: &str, severity: Severity) -> bool {
        self.refer(d, who);
        if self.good.contains(d) {
            return true;
        }
        if !self.corrupt.contains(d) {
            let path = self.store.blob_path(d);
            self.add(
                severity,
                "missing-blob",
                &path,
                format!("{what} of {who} is missing"),
                Action::Manual(if severity == Severity::Problem {
                    format!("`skiff rmi {who}`, or pull, load or import the image again")
                } else {
                    "a rollback to it needs the image again".into()
                }),
            );
        }
        false
    }

    /// Follow every tag revision to its manifest, config and layers.
    fn images(&mut self, revisions: &[TagRev]) {
        let mut seen = BTreeSet::new();
        // Current revisions first, so a shared manifest is named by its tag.
        let mut order: Vec<&TagRev> = revisions.iter().filter(|r| r.current).collect();
        order.extend(revisions.iter().filter(|r| !r.current));
        for tr in order {
            let Some(m) = &tr.rev.digest else { continue };
            let who = if tr.current {
                tr.label.clone()
            } else {
                format!("{} revision {}", tr.label, tr.rev.rev)
            };
            if !seen.insert(m.clone()) {
                self.refer(m, &who);
                continue;
            }
            if !tr.current && !self.good.contains(m) && !self.corrupt.contains(m) {
                // Old revisions lose their images to `skiff prune`.
                self.refer(m, &who);
                self.add(
                    Severity::Note,
                    "pruned-revision",
                    &self.store.blob_path(m),
                    format!("the image of {who} was pruned"),
                    Action::Leave("a rollback to it needs the image again".into()),
                );
                continue;
            }
            // An old revision missing pieces cannot be rolled back to, but
            // nothing running depends on it: a note.
            let severity = if tr.current {
                Severity::Problem
            } else {
                Severity::Note
            };
            if !self.require(m, "manifest", &who, severity) {
                continue;
            }
            self.manifest(m, &who, severity);
        }
    }

    fn read_json(&mut self, d: &Digest, what: &str) -> Option<Value> {
        let path = self.store.blob_path(d);
        let parsed = fs::read(&path)
            .map_err(|e| e.to_string())
            .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
        match parsed {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(
                    Severity::Problem,
                    "bad-json",
                    &path,
                    format!("{what} is not valid JSON: {e}"),
                    Action::Manual("pull, load or import the image again".into()),
                );
                None
            }
        }
    }

    fn digest_field(&mut self, v: Option<&Value>, at: &Digest, what: &str) -> Option<Digest> {
        let parsed = v.and_then(Value::as_str).map(str::parse::<Digest>);
        match parsed {
            Some(Ok(d)) => Some(d),
            _ => {
                self.add(
                    Severity::Problem,
                    "bad-manifest",
                    &self.store.blob_path(at),
                    format!("{what} has no valid sha256 digest"),
                    Action::Manual("pull, load or import the image again".into()),
                );
                None
            }
        }
    }

    fn manifest(&mut self, m: &Digest, who: &str, severity: Severity) {
        let Some(v) = self.read_json(m, "manifest") else {
            return;
        };
        let config = self.digest_field(v.pointer("/config/digest"), m, "config descriptor");
        let layers = v
            .get("layers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        for (i, l) in layers.iter().enumerate() {
            if let Some(d) = self.digest_field(l.get("digest"), m, &format!("layer {i}")) {
                self.require(&d, &format!("layer {i}"), who, severity);
            }
        }
        let Some(c) = config else { return };
        if !self.require(&c, "config", who, severity) {
            return;
        }
        let Some(cv) = self.read_json(&c, "config") else {
            return;
        };
        let diff_ids = cv
            .pointer("/rootfs/diff_ids")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if diff_ids.len() != layers.len() {
            self.add(
                Severity::Problem,
                "layer-count",
                &self.store.blob_path(&c),
                format!(
                    "config of {who} lists {} diff ids but its manifest {} layers",
                    diff_ids.len(),
                    layers.len()
                ),
                Action::Manual("pull, load or import the image again".into()),
            );
        }
        for d in diff_ids {
            if let Some(Ok(d)) = d.as_str().map(str::parse::<Digest>) {
                self.used_layers.insert(d.hex().to_string());
            }
        }
    }

    /// Build cache entries: `cache/<key>` JSON with `layers: [{digest, diff_id}]`.
    fn cache(&mut self) -> Result<()> {
        let dir = self.store.cache_dir();
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            if !is_hex64(&fname) || !path.is_file() {
                self.add(
                    Severity::Problem,
                    "stray-cache",
                    &path,
                    "not a build cache entry",
                    Action::Remove(path.clone()),
                );
                continue;
            }
            self.report.cache_entries += 1;
            let parsed = fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()));
            let v = match parsed {
                Ok(v) => v,
                Err(e) => {
                    self.add(
                        Severity::Problem,
                        "bad-cache",
                        &path,
                        format!("not valid JSON: {e}"),
                        Action::Remove(path.clone()),
                    );
                    continue;
                }
            };
            let Some(layers) = v.get("layers").and_then(Value::as_array) else {
                self.add(
                    Severity::Problem,
                    "bad-cache",
                    &path,
                    "has no layer list",
                    Action::Remove(path.clone()),
                );
                continue;
            };
            let who = format!("cache entry {}", &fname[..12]);
            let mut broken = Vec::new();
            let mut stale = false;
            for l in layers {
                let digest = l.get("digest").and_then(Value::as_str).map(str::parse);
                let diff_id = l.get("diff_id").and_then(Value::as_str).map(str::parse);
                match (digest, diff_id) {
                    (Some(Ok(d)), Some(Ok(diff))) => {
                        let d: Digest = d;
                        let diff: Digest = diff;
                        self.refer(&d, &who);
                        if self.corrupt.contains(&d) {
                            broken.push(format!("corrupt blob {d}"));
                        } else if !self.good.contains(&d) {
                            broken.push(format!("missing blob {d}"));
                        }
                        if self.store.has_layer(&diff) {
                            self.used_layers.insert(diff.hex().to_string());
                        } else {
                            stale = true;
                        }
                    }
                    _ => broken.push("a layer without valid digests".into()),
                }
            }
            if !broken.is_empty() {
                self.add(
                    Severity::Problem,
                    "broken-cache",
                    &path,
                    format!("names {}", broken.join(", ")),
                    Action::Remove(path.clone()),
                );
            } else if stale {
                self.add(
                    Severity::Note,
                    "stale-cache",
                    &path,
                    "a layer it names is not unpacked; builds treat it as a miss",
                    Action::Leave("left for `skiff prune`".into()),
                );
            }
        }
        Ok(())
    }

    /// Container directories: `spec.json`, the layers it names, and the
    /// supervisor of a running container.
    fn volumes(&mut self) -> Result<()> {
        for entry in read_dir_sorted(&self.store.volumes_dir())? {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().to_string();
            let is_dir = fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_dir || super::volumes::check_volume_name(&name).is_err() {
                self.add(
                    Severity::Note,
                    "stray-volume",
                    &path,
                    "not a volume (a directory with a valid volume name)",
                    Action::Leave("left alone".into()),
                );
                continue;
            }
            let meta = path.join(super::volumes::VOLUME_FILE);
            let parsed = fs::read(&meta).map_err(|e| e.to_string()).and_then(|b| {
                serde_json::from_slice::<super::volumes::VolumeMeta>(&b).map_err(|e| e.to_string())
            });
            match parsed {
                Err(e) => self.add(
                    Severity::Problem,
                    "bad-volume",
                    &meta,
                    format!("volume {name} has no readable volume.json: {e}"),
                    Action::Manual(format!(
                        "copy what you need out of {}, then remove the volume directory",
                        self.rel(&path.join(super::volumes::DATA_DIR))
                    )),
                ),
                Ok(m) if m.name != name => self.add(
                    Severity::Problem,
                    "bad-volume",
                    &meta,
                    format!("volume {name}'s volume.json names {}", m.name),
                    Action::Manual("rename the directory or fix volume.json by hand".into()),
                ),
                Ok(_) => {}
            }
            if !path.join(super::volumes::DATA_DIR).is_dir() {
                self.add(
                    Severity::Problem,
                    "bad-volume",
                    &path,
                    format!("volume {name} has no _data directory"),
                    Action::Manual(format!("skiff volume rm {name}, then create it again")),
                );
            }
        }
        Ok(())
    }

    fn containers(&mut self) -> Result<()> {
        let dir = self.store.containers_dir();
        let layers_dir = self.store.layers_dir();
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            let is_dir = fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_dir {
                self.add(
                    Severity::Note,
                    "stray-container",
                    &path,
                    "not a container directory",
                    Action::Leave("left alone".into()),
                );
                continue;
            }
            self.report.containers += 1;
            let spec_path = path.join("spec.json");
            let spec = match fs::read(&spec_path) {
                Ok(b) => serde_json::from_slice::<Value>(&b).map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match spec {
                Err(e) => self.add(
                    Severity::Problem,
                    "bad-container",
                    &spec_path,
                    format!("container {fname} has no readable spec.json: {e}"),
                    Action::Manual(format!("remove {} by hand", self.rel(&path))),
                ),
                Ok(v) => {
                    let mounts = v
                        .pointer("/spec/mounts")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for vol in mounts
                        .iter()
                        .filter_map(|m| m.get("volume").and_then(Value::as_str))
                    {
                        let ok = super::volumes::check_volume_name(vol).is_ok()
                            && self.store.volume_dir(vol).join("_data").is_dir();
                        if !ok {
                            self.add(
                                Severity::Problem,
                                "container-volume",
                                &spec_path,
                                format!("container {fname} mounts volume {vol}, which is missing"),
                                Action::Manual(format!(
                                    "skiff volume create {vol} (empty), or remove the container"
                                )),
                            );
                        }
                    }
                    let layers = v
                        .get("layers")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    for l in layers.iter().filter_map(Value::as_str) {
                        let lp = Path::new(l);
                        if let Ok(rest) = lp.strip_prefix(&layers_dir) {
                            self.used_layers.insert(rest.to_string_lossy().to_string());
                        }
                        if !lp.is_dir() {
                            self.add(
                                Severity::Problem,
                                "container-layer",
                                &spec_path,
                                format!("container {fname} uses layer {l}, which is missing"),
                                Action::Manual(
                                    "run the image once more to unpack it, or remove the container"
                                        .into(),
                                ),
                            );
                        }
                    }
                }
            }
            self.container_state(&path, &fname);
        }
        Ok(())
    }

    fn container_state(&mut self, dir: &Path, id: &str) {
        let state_path = dir.join("state.json");
        let Ok(bytes) = fs::read(&state_path) else {
            return;
        };
        let Ok(v) = serde_json::from_slice::<Value>(&bytes) else {
            self.add(
                Severity::Problem,
                "bad-state",
                &state_path,
                format!("state of container {id} is not valid JSON"),
                Action::Manual(format!("`skiff rm -f {id}`")),
            );
            return;
        };
        let status = ["status", "state", "Status", "State"]
            .iter()
            .find_map(|k| v.get(*k).and_then(Value::as_str))
            .map(str::to_ascii_lowercase);
        // A running or restarting container has a supervisor watching it.
        let running = matches!(status.as_deref(), Some("running" | "restarting"))
            || v.get("running").and_then(Value::as_bool) == Some(true);
        if !running {
            return;
        }
        let status = status.unwrap_or_else(|| "running".into());
        // `supervisor: {pid, start_time, boot_id}` identifies the process
        // against pid reuse; older or simpler states carry a bare pid.
        let found = if let Some(sup) = v.get("supervisor").filter(|s| s.is_object()) {
            sup.get("pid")
                .and_then(Value::as_i64)
                .map(|pid| ("supervisor", pid, same_process(sup, pid)))
        } else {
            ["supervisor_pid", "supervisorPid", "pid", "Pid"]
                .iter()
                .find_map(|k| v.get(*k).and_then(Value::as_i64).map(|pid| (*k, pid)))
                .map(|(k, pid)| (k, pid, pid_alive(pid)))
        };
        if let Some((what, pid, false)) = found {
            self.add(
                Severity::Problem,
                "dead-container",
                &state_path,
                format!("container {id} is marked {status} but its {what} (pid {pid}) is gone"),
                Action::Manual(format!("`skiff start {id}` or `skiff rm {id}`")),
            );
        }
    }

    /// `layers/`: only directories named by a diff id.
    fn layers(&mut self) -> Result<()> {
        let dir = self.store.layers_dir();
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            let is_dir = fs::symlink_metadata(&path)
                .map(|m| m.is_dir())
                .unwrap_or(false);
            if !is_hex64(&fname) {
                self.add(
                    Severity::Problem,
                    "stray-layer",
                    &path,
                    "not named by a diff id",
                    Action::Remove(path.clone()),
                );
                continue;
            }
            if !is_dir {
                self.add(
                    Severity::Problem,
                    "stray-layer",
                    &path,
                    "not a directory (it is unpacked again when needed)",
                    Action::Remove(path.clone()),
                );
                continue;
            }
            self.report.layers += 1;
            if !self.used_layers.contains(&fname) {
                self.add(
                    Severity::Note,
                    "unused-layer",
                    &path,
                    "no image, cache entry or container uses it",
                    Action::Leave("left for `skiff prune`".into()),
                );
            }
        }
        Ok(())
    }

    /// `index.json` must say what the revision logs say.
    fn index(&mut self) {
        let path = self.store.oci_dir().join("index.json");
        let expected = match self.store.index_json() {
            Ok(b) => serde_json::from_slice::<Value>(&b).ok(),
            Err(e) => {
                self.add(
                    Severity::Problem,
                    "index",
                    &path,
                    format!("cannot work out what it should hold: {e}"),
                    Action::Manual("fix the problems above first".into()),
                );
                return;
            }
        };
        let actual = fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        if actual.is_none() || actual != expected {
            let count = |v: &Option<Value>| {
                v.as_ref()
                    .and_then(|v| v.get("manifests"))
                    .and_then(Value::as_array)
                    .map(Vec::len)
            };
            let msg = match (count(&actual), count(&expected)) {
                (None, _) => "missing or not an image index".to_string(),
                (Some(a), Some(e)) if a != e => {
                    format!("lists {a} images but the revision logs have {e} tags")
                }
                _ => "does not match the revision logs".to_string(),
            };
            self.add(Severity::Problem, "index", &path, msg, Action::RewriteIndex);
        }
    }

    /// `tmp/`: leftovers of processes that are gone.
    fn tmp(&mut self) -> Result<()> {
        let dir = self.store.tmp_dir();
        for entry in read_dir_sorted(&dir)? {
            let path = entry.path();
            let fname = entry.file_name().to_string_lossy().to_string();
            match owner_pid(&fname) {
                Some(pid) if pid_alive(pid) => self.add(
                    Severity::Note,
                    "tmp-in-use",
                    &path,
                    format!("in use by process {pid}"),
                    Action::Leave("left alone".into()),
                ),
                Some(pid) => self.add(
                    Severity::Leftover,
                    "orphan-tmp",
                    &path,
                    format!("left behind by process {pid}, which is gone"),
                    Action::Remove(path.clone()),
                ),
                None => self.add(
                    Severity::Note,
                    "stray-tmp",
                    &path,
                    "not a skiff temporary file",
                    Action::Leave("left alone".into()),
                ),
            }
        }
        Ok(())
    }

    /// Say who uses each corrupt blob.
    fn name_corrupt_blobs(&mut self) {
        for f in &mut self.report.findings {
            if f.kind != "corrupt-blob" && f.kind != "unreadable-blob" {
                continue;
            }
            let Some(hex) = Path::new(&f.path).file_name() else {
                continue;
            };
            let Ok(d) = Digest::from_hex(&hex.to_string_lossy()) else {
                continue;
            };
            match self.referrers.get(&d) {
                Some(who) => {
                    let who: Vec<&str> = who.iter().map(String::as_str).collect();
                    f.message.push_str(&format!("; used by {}", who.join(", ")));
                }
                None => f.message.push_str("; nothing uses it"),
            }
        }
    }
}

/// The sha256 of a file's content, streamed.
fn hash_file(path: &Path) -> io::Result<Digest> {
    let f = fs::File::open(path)?;
    let mut r = super::digest::HashingReader::new(io::BufReader::with_capacity(256 * 1024, f));
    io::copy(&mut r, &mut io::sink())?;
    Ok(r.finish().0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Reason;

    fn kinds(r: &Report) -> Vec<&'static str> {
        r.problems().map(|f| f.kind).collect()
    }

    #[test]
    fn empty_store_is_sound() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let r = check(&s).unwrap();
        assert!(r.is_sound(), "{:?}", r.findings);
    }

    #[test]
    fn tmp_names_parse() {
        assert_eq!(owner_pid(".tmp-123-00ff"), Some(123));
        assert_eq!(owner_pid(".tmp--00ff"), None);
        assert_eq!(owner_pid(".tmp-12x-00ff"), None);
        assert_eq!(owner_pid("other"), None);
        assert!(pid_alive(std::process::id() as i64));
        assert!(!pid_alive(0));
        assert!(!pid_alive(-5));
        assert!(!pid_alive(i64::MAX));
    }

    #[test]
    fn corrupt_referenced_blob_is_removed_and_then_missing() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let config = s.put_blob_bytes(br#"{"rootfs":{"diff_ids":[]}}"#).unwrap();
        let manifest = format!(
            r#"{{"schemaVersion":2,"config":{{"digest":"{config}","size":1}},"layers":[]}}"#
        );
        let m = s.put_blob_bytes(manifest.as_bytes()).unwrap();
        s.set_tag("a", "1", Some(&m), Reason::Import, None).unwrap();
        assert!(check(&s).unwrap().is_sound());
        fs::write(s.blob_path(&config), b"{}").unwrap();
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["corrupt-blob"]);
        assert!(
            r.findings[0].message.contains("used by a:1"),
            "{}",
            r.findings[0]
        );
        let o = fsck(&s, true).unwrap();
        assert!(!o.is_sound());
        let after = o.after_repair.unwrap();
        assert_eq!(kinds(&after), vec!["missing-blob"]);
        // A verified, referenced blob is never removed.
        assert!(s.has_blob(&m));
    }

    #[test]
    fn cache_entries_naming_missing_blobs_are_removed() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let missing = Digest::of_bytes(b"gone");
        let key = Digest::of_bytes(b"key");
        let entry = format!(
            r#"{{"config":{{}},"layers":[{{"digest":"{missing}","size":1,"diff_id":"{missing}"}}]}}"#
        );
        fs::write(s.cache_dir().join(key.hex()), entry).unwrap();
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["broken-cache"]);
        let o = fsck(&s, true).unwrap();
        assert!(o.is_sound());
        assert!(!s.cache_dir().join(key.hex()).exists());
    }

    #[test]
    fn stray_layers_and_unused_layers() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let unused = Digest::of_bytes(b"layer");
        fs::create_dir(s.layer_dir(&unused)).unwrap();
        fs::write(s.layers_dir().join("junk"), b"x").unwrap();
        let r = check(&s).unwrap();
        assert_eq!(kinds(&r), vec!["stray-layer"]);
        assert_eq!(
            r.notes().map(|f| f.kind).collect::<Vec<_>>(),
            ["unused-layer"]
        );
        let o = fsck(&s, true).unwrap();
        assert!(o.is_sound());
        assert!(s.has_layer(&unused), "unused layers are left for prune");
    }

    #[test]
    fn dead_running_container_is_reported() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let c = s.containers_dir().join("abc");
        fs::create_dir(&c).unwrap();
        fs::write(c.join("spec.json"), "{}").unwrap();
        fs::write(
            c.join("state.json"),
            r#"{"status":"running","supervisor_pid":0}"#,
        )
        .unwrap();
        assert_eq!(kinds(&check(&s).unwrap()), vec!["dead-container"]);
        fs::write(
            c.join("state.json"),
            format!(
                r#"{{"status":"running","supervisor_pid":{}}}"#,
                std::process::id()
            ),
        )
        .unwrap();
        assert!(check(&s).unwrap().is_sound());
        // The supervisor's own format: a process reference.
        let me = std::process::id();
        let start = proc_start_time(me as i64).unwrap();
        let boot = fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
        let state = |start: u64, status: &str| {
            serde_json::json!({"status": status, "pid": 1,
                "supervisor": {"pid": me, "start_time": start, "boot_id": boot.trim()}})
            .to_string()
        };
        fs::write(c.join("state.json"), state(start, "running")).unwrap();
        assert!(check(&s).unwrap().is_sound());
        fs::write(c.join("state.json"), state(start + 1, "restarting")).unwrap();
        assert_eq!(kinds(&check(&s).unwrap()), vec!["dead-container"]);
        fs::write(c.join("state.json"), state(start + 1, "exited")).unwrap();
        assert!(check(&s).unwrap().is_sound());
        fs::remove_file(c.join("spec.json")).unwrap();
        assert_eq!(kinds(&check(&s).unwrap()), vec!["bad-container"]);
    }
}
