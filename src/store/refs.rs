//! Tag revision logs: `refs/<name>/:<tag>`, one JSON revision a line,
//! append-only. The log is the truth for a tag; `index.json` is derived.
//!
//! The tag file carries a `:` prefix because a repository name may itself
//! contain `/` (`team/api`), and `refs/team/:api` can never collide with the
//! directory of a longer name (`refs/team/api/`).

use super::{Digest, Result, Store, StoreError};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reason {
    Build,
    Tag,
    Pull,
    Load,
    Import,
    Rollback,
    Untag,
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = serde_json::to_value(self)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        f.write_str(&s)
    }
}

/// One line of a tag's revision log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revision {
    pub rev: u64,
    /// Manifest digest; `None` for an `untag` revision (the tag was removed).
    pub digest: Option<Digest>,
    pub at: String,
    pub reason: Reason,
    /// For a rollback: the revision whose image it returns to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<u64>,
}

/// Check that a repository name and tag are safe as paths under `refs/`.
pub fn check_name_tag(name: &str, tag: &str) -> Result<()> {
    let name_ok = !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|c| {
            !c.is_empty()
                && c != "."
                && c != ".."
                && c.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-:".contains(&b))
        });
    let tag_ok = !tag.is_empty()
        && tag.len() <= 128
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
        && !tag.starts_with(['.', '-']);
    if name_ok && tag_ok {
        Ok(())
    } else {
        Err(StoreError::Invalid(format!(
            "invalid image name {name}:{tag}"
        )))
    }
}

impl Store {
    fn log_path(&self, name: &str, tag: &str) -> PathBuf {
        self.refs_dir().join(name).join(format!(":{tag}"))
    }

    /// All revisions of `name:tag`, oldest first (empty if the tag never existed).
    pub fn revisions(&self, name: &str, tag: &str) -> Result<Vec<Revision>> {
        check_name_tag(name, tag)?;
        read_log(&self.log_path(name, tag))
    }

    /// The digest `name:tag` points at now, if any.
    pub fn resolve_tag(&self, name: &str, tag: &str) -> Result<Option<Digest>> {
        Ok(self
            .revisions(name, tag)?
            .last()
            .and_then(|r| r.digest.clone()))
    }

    /// Append a revision pointing `name:tag` at `digest` (None removes the tag)
    /// and rewrite `index.json`. Takes the store lock.
    pub fn set_tag(
        &self,
        name: &str,
        tag: &str,
        digest: Option<&Digest>,
        reason: Reason,
        to: Option<u64>,
    ) -> Result<Revision> {
        check_name_tag(name, tag)?;
        if let Some(d) = digest {
            if !self.has_blob(d) {
                return Err(StoreError::MissingBlob(d.clone()));
            }
        }
        let _lock = self.lock()?;
        let path = self.log_path(name, tag);
        let mut revs = read_log(&path)?;
        // `tag` to the image the tag already names changes nothing (docker's
        // tag is idempotent); decided under the lock, so racing tags agree.
        if let (Reason::Tag, Some(d), Some(last)) = (reason, digest, revs.last()) {
            if last.digest.as_ref() == Some(d) {
                return Ok(last.clone());
            }
        }
        let rev = Revision {
            rev: revs.last().map(|r| r.rev + 1).unwrap_or(1),
            digest: digest.cloned(),
            at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            reason,
            to,
        };
        revs.push(rev.clone());
        let mut text = String::new();
        for r in &revs {
            text.push_str(
                &serde_json::to_string(r).map_err(|e| StoreError::Invalid(e.to_string()))?,
            );
            text.push('\n');
        }
        // The log and index.json are two files: a marker says the index may
        // lag the log, so a crash between them is healed at the next open.
        let pending = self.index_pending_path();
        self.write_atomic(&pending, b"")?;
        self.write_atomic(&path, text.as_bytes())?;
        self.write_index_locked()?;
        std::fs::remove_file(&pending).map_err(StoreError::io("cannot remove", &pending))?;
        Ok(rev)
    }

    fn index_pending_path(&self) -> PathBuf {
        self.root().join("index.pending")
    }

    /// After a crash between a revision log write and the index rewrite:
    /// rewrite index.json from the logs (the truth).
    pub(crate) fn heal_index(&self) -> Result<()> {
        let pending = self.index_pending_path();
        if !pending.exists() {
            return Ok(());
        }
        let _lock = self.lock()?;
        if pending.exists() {
            self.write_index_locked()?;
            std::fs::remove_file(&pending).map_err(StoreError::io("cannot remove", &pending))?;
        }
        Ok(())
    }

    /// Every tag that currently points at an image: (name, tag, digest), sorted.
    pub fn tags(&self) -> Result<Vec<(String, String, Digest)>> {
        let mut out = Vec::new();
        walk(
            &self.refs_dir(),
            &self.refs_dir(),
            &mut |name, tag, path| {
                if let Some(d) = read_log(path)?.last().and_then(|r| r.digest.clone()) {
                    out.push((name.to_string(), tag.to_string(), d));
                }
                Ok(())
            },
        )?;
        out.sort();
        Ok(out)
    }

    /// Every digest any revision of any tag ever pointed at.
    pub fn all_revision_digests(&self) -> Result<Vec<(String, String, Revision)>> {
        let mut out = Vec::new();
        walk(
            &self.refs_dir(),
            &self.refs_dir(),
            &mut |name, tag, path| {
                for r in read_log(path)? {
                    out.push((name.to_string(), tag.to_string(), r));
                }
                Ok(())
            },
        )?;
        Ok(out)
    }
}

fn walk(base: &Path, dir: &Path, f: &mut dyn FnMut(&str, &str, &Path) -> Result<()>) -> Result<()> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(StoreError::Io {
                what: "cannot list",
                path: dir.to_path_buf(),
                source: e,
            })
        }
    };
    for entry in rd {
        let entry = entry.map_err(StoreError::io("cannot list", dir))?;
        let path = entry.path();
        let fname = entry.file_name().to_string_lossy().to_string();
        if let Some(tag) = fname.strip_prefix(':') {
            let name = dir
                .strip_prefix(base)
                .unwrap_or(dir)
                .to_string_lossy()
                .to_string();
            f(&name, tag, &path)?;
        } else if entry.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            walk(base, &path, f)?;
        }
    }
    Ok(())
}

fn read_log(path: &Path) -> Result<Vec<Revision>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => {
            return Err(StoreError::Io {
                what: "cannot read",
                path: path.to_path_buf(),
                source: e,
            })
        }
    };
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| StoreError::CorruptLog {
                path: path.to_path_buf(),
                line: i + 1,
                msg: e.to_string(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revisions_append_and_resolve() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let a = s.put_blob_bytes(b"{}").unwrap();
        let b = s.put_blob_bytes(b"{\"a\":1}").unwrap();
        s.set_tag("team/api", "latest", Some(&a), Reason::Build, None)
            .unwrap();
        s.set_tag("team/api", "latest", Some(&b), Reason::Build, None)
            .unwrap();
        let r = s
            .set_tag("team", "api", Some(&a), Reason::Tag, None)
            .unwrap();
        assert_eq!(r.rev, 1);
        let revs = s.revisions("team/api", "latest").unwrap();
        assert_eq!(revs.len(), 2);
        assert_eq!(revs[1].rev, 2);
        assert_eq!(
            s.resolve_tag("team/api", "latest").unwrap(),
            Some(b.clone())
        );
        assert_eq!(s.tags().unwrap().len(), 2);
    }

    #[test]
    fn rejects_traversal_names() {
        assert!(check_name_tag("../etc", "x").is_err());
        assert!(check_name_tag("a//b", "x").is_err());
        assert!(check_name_tag("a", "../x").is_err());
        assert!(check_name_tag("Upper", "x").is_err());
        assert!(check_name_tag("127.0.0.1:5000/team/api", "1.4").is_ok());
    }

    #[test]
    fn a_crash_between_log_and_index_is_healed_at_open() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let a = s.put_blob_bytes(b"{}").unwrap();
        s.set_tag("app", "latest", Some(&a), Reason::Build, None)
            .unwrap();
        // As if killed after the log was written, before index.json.
        let index = s.oci_dir().join("index.json");
        std::fs::write(&index, r#"{"schemaVersion":2,"manifests":[]}"#).unwrap();
        std::fs::write(s.root().join("index.pending"), "").unwrap();
        let s = Store::open(d.path()).unwrap();
        let text = std::fs::read_to_string(&index).unwrap();
        assert!(text.contains("app:latest"), "{text}");
        assert!(!s.root().join("index.pending").exists());
    }
}
