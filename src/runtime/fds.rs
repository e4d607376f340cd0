//! No host descriptor may reach the container (CVE-2024-21626 leaked a
//! directory fd that became the container's cwd): everything above 2 is
//! marked close-on-exec right before the final execve, and the stdio
//! descriptors the caller chose are moved onto 0, 1 and 2.

use super::error::{Result, RuntimeError};
use std::os::fd::{AsFd, OwnedFd, RawFd};

/// close_range(3, ~0, CLOSE_RANGE_CLOEXEC), or a walk of /proc/self/fd on
/// kernels before 5.11.
pub fn cloexec_from_3() -> Result<()> {
    if crate::sys::fd::close_range_cloexec(3).is_ok() {
        return Ok(());
    }
    let dir = std::fs::read_dir("/proc/self/fd").map_err(RuntimeError::io(
        "cannot list",
        std::path::Path::new("/proc/self/fd"),
    ))?;
    let fds: Vec<RawFd> = dir
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > 2)
        .collect();
    for fd in fds {
        let _ = crate::sys::fd::set_cloexec(fd); // harmless if stale
    }
    Ok(())
}

/// Make `fds[i]` the descriptor `i` (0, 1, 2). Sources are first moved
/// above 2 so that no source is overwritten before it is used.
pub fn install_stdio(fds: [&OwnedFd; 3]) -> Result<()> {
    let mut high = Vec::with_capacity(3);
    for fd in fds {
        high.push(
            crate::sys::fd::dup_above(fd.as_fd(), 3)
                .map_err(RuntimeError::os("duplicate a stdio descriptor"))?,
        );
    }
    for (target, h) in high.into_iter().enumerate() {
        crate::sys::fd::dup_onto(h.as_fd(), target as RawFd)
            .map_err(RuntimeError::os("install a stdio descriptor"))?;
    }
    Ok(())
}

/// Make `fd` the descriptor 0 (stdin).
pub fn install_stdin(fd: &OwnedFd) -> Result<()> {
    crate::sys::fd::dup_onto(fd.as_fd(), 0).map_err(|e| RuntimeError::Sys {
        what: "dup2 /dev/null onto stdin".into(),
        source: e,
    })
}
