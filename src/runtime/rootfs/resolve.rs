//! Mount targets inside the image are resolved with openat2(RESOLVE_IN_ROOT):
//! a symlink or `..` in the image can never point a mount at the host. The
//! resulting O_PATH descriptor is used as `/proc/self/fd/N`, so the kernel
//! never re-walks the path (no symlink race). Missing targets are created
//! (directories 0755, empty files 0644), following in-image symlinks to
//! where they point, inside the root.

use crate::runtime::error::{Result, RuntimeError};
use crate::sys::fs::{self, open_in_root};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dir,
    File,
}

fn err(path: &str, what: &str, e: std::io::Error) -> RuntimeError {
    RuntimeError::Sys {
        what: format!("{what} {path} in the container"),
        source: e,
    }
}

fn split(path: &str) -> (String, String) {
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit_once('/') {
        Some((parent, last)) => (
            if parent.is_empty() {
                "/".into()
            } else {
                parent.to_string()
            },
            last.to_string(),
        ),
        None => ("/".into(), trimmed.to_string()),
    }
}

/// An O_PATH descriptor of `path` inside `root`, created if missing.
pub fn ensure(root: BorrowedFd<'_>, path: &str, kind: Kind) -> Result<OwnedFd> {
    ensure_depth(root, path, kind, 0)
}

fn ensure_depth(root: BorrowedFd<'_>, path: &str, kind: Kind, depth: u32) -> Result<OwnedFd> {
    let flags = libc::O_PATH
        | if kind == Kind::Dir {
            libc::O_DIRECTORY
        } else {
            0
        };
    match open_in_root(root, path, flags) {
        Ok(fd) => return Ok(fd),
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) && depth < 16 => {}
        Err(e) => return Err(err(path, "cannot open", e)),
    }
    let (parent, last) = split(path);
    if last.is_empty() || last == "." || last == ".." {
        return Err(RuntimeError::Invalid(format!(
            "invalid path {path:?} in the container"
        )));
    }
    let parent_fd = ensure_depth(root, &parent, Kind::Dir, depth + 1)?;
    let clast = std::ffi::CString::new(last.as_str())
        .map_err(|_| RuntimeError::Invalid(format!("invalid path {path:?}")))?;
    // A dangling in-image symlink: create what it points to, inside the root.
    if let Ok(target) = nix::fcntl::readlinkat(parent_fd.as_fd(), clast.as_c_str()) {
        let target = target.to_string_lossy().into_owned();
        let next = if target.starts_with('/') {
            target
        } else {
            format!("{}/{target}", parent.trim_end_matches('/'))
        };
        return ensure_depth(root, &next, kind, depth + 1);
    }
    let made = match kind {
        Kind::Dir => fs::mkdirat(parent_fd.as_raw_fd(), &clast, 0o755),
        Kind::File => fs::create_empty_at(parent_fd.as_raw_fd(), &clast),
    };
    if let Err(e) = made {
        if e.raw_os_error() != Some(libc::EEXIST) {
            return Err(err(path, "cannot create", e));
        }
    }
    open_in_root(root, path, flags).map_err(|e| err(path, "cannot open", e))
}
