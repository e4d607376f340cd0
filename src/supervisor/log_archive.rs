//! The output of replaced containers: when a rollout (or rollback) removes
//! the container it replaced, its log files are kept under
//! `logs/<name>/<time>-rev<N>-<digest hex>.log` (tmp + fsync + rename), so a
//! name's history of output survives releases. `prune` drops the archive
//! of a revision together with that revision's image.

use super::log::{self, Entry};
use super::ops::Info;
use super::{Result, SupervisorError};
use crate::store::Store;
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One archived log: the revision its container ran and that image's digest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Archived {
    pub path: PathBuf,
    pub rev: Option<u64>,
    pub digest_hex: String,
}

fn dir(store: &Store, name: &str) -> PathBuf {
    store.root().join("logs").join(name)
}

/// Keep the log of `old` (a named container about to be removed).
pub fn keep(store: &Store, old: &Info) -> Result<()> {
    let Some(name) = old.name.as_deref() else {
        return Ok(());
    };
    let mut bytes = Vec::new();
    for f in log::files(&old.dir) {
        if let Ok(b) = std::fs::read(&f) {
            bytes.extend_from_slice(&b);
        }
    }
    if bytes.is_empty() {
        return Ok(());
    }
    let (rev, digest) = match &old.config {
        Some(c) => (c.image.revision, c.image.digest.clone()),
        None => (
            None,
            old.record.spec.image_digest.clone().unwrap_or_default(),
        ),
    };
    let hex = digest.strip_prefix("sha256:").unwrap_or(&digest);
    let d = dir(store, name);
    std::fs::create_dir_all(&d).map_err(SupervisorError::io("cannot create", &d))?;
    let nanos = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let file = d.join(format!(
        "{nanos:020}-rev{}-{hex}.log",
        rev.map(|r| r.to_string()).unwrap_or_default()
    ));
    store.write_atomic(&file, &bytes)?;
    Ok(())
}

fn parse(path: &Path) -> Option<Archived> {
    let n = path.file_name()?.to_str()?.strip_suffix(".log")?;
    let (_, rest) = n.split_once("-rev")?;
    let (rev, hex) = rest.split_once('-')?;
    Some(Archived {
        path: path.to_path_buf(),
        rev: rev.parse().ok(),
        digest_hex: hex.to_string(),
    })
}

/// The archived logs of `name`, oldest first.
pub fn list(store: &Store, name: &str) -> Vec<Archived> {
    let Ok(rd) = std::fs::read_dir(dir(store, name)) else {
        return Vec::new();
    };
    let mut v: Vec<Archived> = rd.flatten().filter_map(|e| parse(&e.path())).collect();
    v.sort_by(|a, b| a.path.cmp(&b.path));
    v
}

/// The entries of an archived log.
pub fn entries(a: &Archived) -> Vec<Entry> {
    log::read_files(std::slice::from_ref(&a.path), None, None)
}

/// Remove the archives whose image is not in `kept` (digest hex); returns
/// how many went. With `dry_run`, only counts.
pub fn prune(store: &Store, kept: &HashSet<String>, dry_run: bool) -> Result<usize> {
    let root = store.root().join("logs");
    let Ok(rd) = std::fs::read_dir(&root) else {
        return Ok(0);
    };
    let mut n = 0;
    for name in rd.flatten() {
        let Ok(files) = std::fs::read_dir(name.path()) else {
            continue;
        };
        for f in files.flatten() {
            let Some(a) = parse(&f.path()) else { continue };
            if kept.contains(&a.digest_hex) {
                continue;
            }
            n += 1;
            if !dry_run {
                std::fs::remove_file(&a.path)
                    .map_err(SupervisorError::io("cannot remove", &a.path))?;
            }
        }
        if !dry_run {
            let _ = std::fs::remove_dir(name.path());
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse() {
        let a = parse(Path::new("/s/logs/api/00000000000000000001-rev3-abcd.log")).unwrap();
        assert_eq!((a.rev, a.digest_hex.as_str()), (Some(3), "abcd"));
        assert!(parse(Path::new("/s/logs/api/x.tmp")).is_none());
    }
}
