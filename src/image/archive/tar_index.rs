//! The index of a seekable archive: where each entry's data is, links
//! followed, and bounded reads of JSON entries.

use super::{ArchiveError, Result, MAX_JSON};
use crate::store::Digest;
use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::io::{BufReader, Read};
use std::os::unix::fs::FileExt;

/// Where an entry's data is in the (uncompressed) archive file.
#[derive(Clone, Debug)]
pub(super) enum Entry {
    File { offset: u64, size: u64 },
    HardLink(String),
    Symlink(String),
}

/// A seekable tar archive's table of contents.
pub(super) struct TarIndex {
    file: File,
    pub(super) shown: String,
    entries: HashMap<String, Entry>,
}

/// An error's text up to its first line break, at most 200 characters.
pub(super) fn one_line(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    let first = s.lines().next().unwrap_or("");
    first.chars().take(200).collect()
}

/// `./a//b/` -> `a/b`; `..` resolved, never above the root.
pub(super) fn normalize(p: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

impl TarIndex {
    pub(super) fn build(file: File, shown: &str) -> Result<TarIndex> {
        let bad = |msg: String| ArchiveError::NotAnImage {
            path: shown.to_string(),
            why: msg,
        };
        let mut entries = HashMap::new();
        let mut archive = tar::Archive::new(BufReader::with_capacity(256 * 1024, &file));
        let iter = archive
            .entries()
            .map_err(|e| bad(format!("not a tar archive: {}", one_line(&e))))?;
        for (i, e) in iter.enumerate() {
            let e = e.map_err(|e| {
                bad(if i == 0 {
                    "not a tar archive".to_string()
                } else {
                    format!(
                        "the tar archive is damaged after {i} entries: {}",
                        one_line(&e)
                    )
                })
            })?;
            let raw = String::from_utf8_lossy(&e.path_bytes()).to_string();
            let Some(path) = normalize(&raw) else {
                continue;
            };
            let entry = match e.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => Entry::File {
                    offset: e.raw_file_position(),
                    size: e.size(),
                },
                tar::EntryType::Link => match e.link_name_bytes() {
                    Some(l) => match normalize(&String::from_utf8_lossy(&l)) {
                        Some(t) => Entry::HardLink(t),
                        None => continue,
                    },
                    None => continue,
                },
                tar::EntryType::Symlink => match e.link_name_bytes() {
                    Some(l) => {
                        let target = String::from_utf8_lossy(&l).to_string();
                        let joined = if target.starts_with('/') {
                            target
                        } else {
                            match path.rsplit_once('/') {
                                Some((dir, _)) => format!("{dir}/{target}"),
                                None => target,
                            }
                        };
                        match normalize(&joined) {
                            Some(t) => Entry::Symlink(t),
                            None => continue,
                        }
                    }
                    None => continue,
                },
                _ => continue,
            };
            entries.insert(path, entry);
        }
        Ok(TarIndex {
            file,
            shown: shown.to_string(),
            entries,
        })
    }

    pub(super) fn has(&self, name: &str) -> bool {
        self.locate(name).is_some()
    }

    /// (offset, size) of `name`, following links (a few hops at most).
    fn locate(&self, name: &str) -> Option<(u64, u64)> {
        let mut n = normalize(name)?;
        for _ in 0..16 {
            match self.entries.get(&n)? {
                Entry::File { offset, size } => return Some((*offset, *size)),
                Entry::HardLink(t) | Entry::Symlink(t) => n = t.clone(),
            }
        }
        None
    }

    pub(super) fn missing(&self, name: &str) -> ArchiveError {
        ArchiveError::Invalid {
            path: self.shown.clone(),
            msg: format!("the archive has no {name}"),
        }
    }

    pub(super) fn section(&self, name: &str) -> Result<Section<'_>> {
        let (offset, size) = self.locate(name).ok_or_else(|| self.missing(name))?;
        Ok(Section {
            file: &self.file,
            pos: offset,
            end: offset + size,
        })
    }

    pub(super) fn size(&self, name: &str) -> Option<u64> {
        self.locate(name).map(|(_, s)| s)
    }

    pub(super) fn read_small(&self, name: &str) -> Result<Vec<u8>> {
        let size = self.size(name).ok_or_else(|| self.missing(name))?;
        if size > MAX_JSON {
            return Err(ArchiveError::Invalid {
                path: self.shown.clone(),
                msg: format!("{name} is {size} bytes, too large"),
            });
        }
        let mut buf = Vec::with_capacity(size as usize);
        self.section(name)?
            .read_to_end(&mut buf)
            .map_err(|e| ArchiveError::Io {
                what: "cannot read",
                path: format!("{}: {name}", self.shown),
                source: e,
            })?;
        Ok(buf)
    }

    /// A blob's bytes, checked against its digest.
    pub(super) fn read_blob(&self, name: &str, digest: &Digest) -> Result<Vec<u8>> {
        let bytes = self.read_small(name)?;
        let actual = Digest::of_bytes(&bytes);
        if &actual != digest {
            return Err(ArchiveError::DigestMismatch {
                path: self.shown.clone(),
                entry: name.to_string(),
                expected: digest.clone(),
                actual,
            });
        }
        Ok(bytes)
    }

    pub(super) fn json<T: serde::de::DeserializeOwned>(
        &self,
        name: &str,
        bytes: &[u8],
    ) -> Result<T> {
        serde_json::from_slice(bytes).map_err(|e| ArchiveError::Invalid {
            path: self.shown.clone(),
            msg: format!("{name} is not valid: {e}"),
        })
    }

    pub(super) fn invalid(&self, msg: impl Into<String>) -> ArchiveError {
        ArchiveError::Invalid {
            path: self.shown.clone(),
            msg: msg.into(),
        }
    }
}

/// A byte range of the archive file, read with pread.
pub(super) struct Section<'a> {
    file: &'a File,
    pos: u64,
    end: u64,
}

impl Read for Section<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.end.saturating_sub(self.pos);
        if left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(left as usize);
        let n = self.file.read_at(&mut buf[..want], self.pos)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside an entry (truncated?)",
            ));
        }
        self.pos += n as u64;
        Ok(n)
    }
}
