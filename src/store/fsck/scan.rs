//! One pass of fsck in progress: the findings so far, which blobs verify,
//! who refers to each blob, and which unpacked layers something uses.
//!
//! The store checks what it owns ([`begin`], [`Scan::finish`]); the modules
//! above it (image, build, supervisor) check their own files in between,
//! through their own types, and tell the scan which blobs and layers they
//! use.

use super::{Action, Finding, Report, Severity};
use crate::store::{Digest, Result, Revision, Store, StoreError};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io;
use std::path::Path;

/// Who refers to a blob, for messages ("busybox:fixture", "cache entry …").
type Referrers = BTreeMap<Digest, BTreeSet<String>>;

/// A tag revision: where it is, and what it says.
#[derive(Clone, Debug)]
pub struct TagRev {
    /// `name:tag`
    pub label: String,
    /// The newest revision of its tag.
    pub current: bool,
    pub rev: Revision,
}

/// What the scan knows of a blob.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlobState {
    /// Present and its content hashes to its name.
    Good,
    /// Present but does not verify (or cannot be read).
    Corrupt,
    Missing,
}

pub struct Scan<'a> {
    pub(super) store: &'a Store,
    pub(super) report: Report,
    /// Blobs that exist and verify.
    pub(super) good: BTreeSet<Digest>,
    /// Blobs that exist and do not verify.
    pub(super) corrupt: BTreeSet<Digest>,
    referrers: Referrers,
    /// Diff ids (hex) some image config, cache entry or container uses.
    pub(super) used_layers: BTreeSet<String>,
}

/// Start a pass: check `oci-layout`, hash every blob and read every
/// revision log. Returns the scan and the tag revisions, for the image
/// check.
pub fn begin(store: &Store) -> Result<(Scan<'_>, Vec<TagRev>)> {
    let mut s = Scan {
        store,
        report: Report::default(),
        good: BTreeSet::new(),
        corrupt: BTreeSet::new(),
        referrers: BTreeMap::new(),
        used_layers: BTreeSet::new(),
    };
    s.layout()?;
    let revisions = s.refs()?;
    s.blobs()?;
    Ok((s, revisions))
}

impl<'a> Scan<'a> {
    pub fn store(&self) -> &'a Store {
        self.store
    }

    /// The counts of what was looked at, for a module to add to.
    pub fn counts(&mut self) -> &mut Report {
        &mut self.report
    }

    /// `p` relative to the store root, as findings show it.
    pub fn rel(&self, p: &Path) -> String {
        p.strip_prefix(self.store.root())
            .unwrap_or(p)
            .display()
            .to_string()
    }

    pub fn add(
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

    pub fn blob(&self, d: &Digest) -> BlobState {
        if self.good.contains(d) {
            BlobState::Good
        } else if self.corrupt.contains(d) {
            BlobState::Corrupt
        } else {
            BlobState::Missing
        }
    }

    /// Note that `who` uses blob `d` (named when `d` turns out corrupt).
    pub fn refer(&mut self, d: &Digest, who: &str) {
        self.referrers
            .entry(d.clone())
            .or_default()
            .insert(who.to_string());
    }

    /// A blob that must be present for `who`; reports it if it is not.
    pub fn require(&mut self, d: &Digest, what: &str, who: &str, severity: Severity) -> bool {
        self.refer(d, who);
        match self.blob(d) {
            BlobState::Good => return true,
            BlobState::Corrupt => {}
            BlobState::Missing => {
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
        }
        false
    }

    /// Note that the unpacked layer `diff_id` is in use.
    pub fn use_layer(&mut self, diff_id: &Digest) {
        self.used_layers.insert(diff_id.hex().to_string());
    }

    /// Note that the directory `dir` (under `layers/`) is in use.
    pub fn use_layer_dir(&mut self, dir: &Path) {
        if let Ok(rest) = dir.strip_prefix(self.store.layers_dir()) {
            self.used_layers.insert(rest.to_string_lossy().to_string());
        }
    }

    /// End the pass: volumes, `layers/` (now that every user has said which
    /// it uses), `index.json` and `tmp/`.
    pub fn finish(mut self) -> Result<Report> {
        self.volumes()?;
        self.layers()?;
        self.index();
        self.tmp()?;
        self.name_corrupt_blobs();
        Ok(self.report)
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

/// The entries of `dir` sorted by name (none if it does not exist).
pub fn read_dir_sorted(dir: &Path) -> Result<Vec<fs::DirEntry>> {
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

/// Is `s` 64 lowercase hex digits (a digest's hex, a cache key)?
pub fn is_hex64(s: &str) -> bool {
    Digest::from_hex(s).is_ok()
}

/// The sha256 of a file's content, streamed.
pub(super) fn hash_file(path: &Path) -> io::Result<Digest> {
    let f = fs::File::open(path)?;
    let mut r =
        crate::store::digest::HashingReader::new(io::BufReader::with_capacity(256 * 1024, f));
    io::copy(&mut r, &mut io::sink())?;
    Ok(r.finish().0)
}
