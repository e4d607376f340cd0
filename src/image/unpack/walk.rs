//! Entry paths: lexical normalisation, and the walk to a directory below
//! the layer root that never follows a symlink.

use super::at;
use super::error::{refused, UnpackError};
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// Entry paths longer than this are refused (PATH_MAX; it also bounds depth).
const MAX_PATH_BYTES: usize = 4096;

pub(super) type Comps = Vec<Vec<u8>>;

/// Lexically normalise an entry path: a leading `/` is dropped (as docker
/// does), `.` and empty components vanish, `..` pops; popping past the root
/// is an error. An empty result is the layer root.
pub(super) fn normalize(raw: &[u8]) -> Result<Comps, String> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(format!("path is longer than {MAX_PATH_BYTES} bytes"));
    }
    let mut out: Comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the layer root with `..`".into());
                }
            }
            _ => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

pub(super) fn display(comps: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&comps.join(&b'/')).into_owned()
}

pub(super) enum WalkError {
    Symlink(String),
    NotDir(String),
    Missing(String),
    Io(String, io::Error),
}

impl WalkError {
    pub fn into_unpack(self, entry: &str, role: &str) -> UnpackError {
        match self {
            WalkError::Symlink(p) => refused(
                entry,
                format!("{role} {p:?} is a symlink; nothing is written or linked through symlinks"),
            ),
            WalkError::NotDir(p) => refused(entry, format!("{role} {p:?} is not a directory")),
            WalkError::Missing(p) => {
                refused(entry, format!("{role} {p:?} does not exist in the layer"))
            }
            WalkError::Io(p, source) => UnpackError::Io {
                entry: entry.to_string(),
                what: format!("cannot open directory {p:?}"),
                source,
            },
        }
    }
}

/// Open the directory `comps` below `root`, one component at a time, never
/// following a symlink. With `create`, missing directories are made (0755).
pub(super) fn walk(root: RawFd, comps: &[Vec<u8>], create: bool) -> Result<OwnedFd, WalkError> {
    let mut cur: Option<OwnedFd> = None;
    for (i, c) in comps.iter().enumerate() {
        let here = || display(&comps[..=i]);
        let dirfd = cur.as_ref().map_or(root, |f| f.as_raw_fd());
        let cname = at::cstr(c).map_err(|e| WalkError::Io(here(), e))?;
        let fd = match at::open_subdir(dirfd, &cname) {
            Ok(fd) => fd,
            Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                at::mkdirat(dirfd, &cname, 0o755).map_err(|e| WalkError::Io(here(), e))?;
                let fd = at::open_subdir(dirfd, &cname)
                    .map_err(|e| classify(dirfd, &cname, e, here()))?;
                at::fchmod(fd.as_raw_fd(), 0o755).map_err(|e| WalkError::Io(here(), e))?;
                fd
            }
            Err(e) => return Err(classify(dirfd, &cname, e, here())),
        };
        cur = Some(fd);
    }
    match cur {
        Some(fd) => Ok(fd),
        None => at::dup(root).map_err(|e| WalkError::Io("/".into(), e)),
    }
}

fn classify(dirfd: RawFd, name: &CStr, e: io::Error, path: String) -> WalkError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => WalkError::Missing(path),
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => match at::lstat_at(dirfd, name) {
            Ok(Some(st)) if at::is_type(&st, libc::S_IFLNK) => WalkError::Symlink(path),
            _ => WalkError::NotDir(path),
        },
        _ => WalkError::Io(path, e),
    }
}
