//! The OCI layout: `oci-layout`, every blob hashed, the revision logs under
//! `refs/`, and `index.json` against those logs.

use super::scan::{hash_file, read_dir_sorted, Scan, TagRev};
use super::{Action, Severity};
use crate::store::{Digest, Result, Revision, StoreError};
use serde_json::Value;
use std::fs;

impl Scan<'_> {
    pub(super) fn layout(&mut self) -> Result<()> {
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
    pub(super) fn refs(&mut self) -> Result<Vec<TagRev>> {
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
                if crate::store::refs::check_name_tag(&name, tag).is_err() || !ft.is_file() {
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
    pub(super) fn blobs(&mut self) -> Result<()> {
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
    /// `index.json` must say what the revision logs say.
    pub(super) fn index(&mut self) {
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
}
