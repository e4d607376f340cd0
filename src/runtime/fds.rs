//! No host descriptor may reach the container (CVE-2024-21626 leaked a
//! directory fd that became the container's cwd): everything above 2 is
//! marked close-on-exec right before the final execve, and the stdio
//! descriptors the caller chose are moved onto 0, 1 and 2.

use super::error::{Result, RuntimeError};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

/// close_range(3, ~0, CLOSE_RANGE_CLOEXEC), or a walk of /proc/self/fd on
/// kernels before 5.11.
pub fn cloexec_from_3() -> Result<()> {
    if super::sys::close_range_cloexec(3).is_ok() {
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
        // SAFETY: setting FD_CLOEXEC on a descriptor number; harmless if stale.
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
    Ok(())
}

/// Make `fds[i]` the descriptor `i` (0, 1, 2). Sources are first moved
/// above 2 so that no source is overwritten before it is used.
pub fn install_stdio(fds: [&OwnedFd; 3]) -> Result<()> {
    let mut high = Vec::with_capacity(3);
    for fd in fds {
        // SAFETY: F_DUPFD_CLOEXEC on a valid descriptor.
        let h = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
        if h < 0 {
            return Err(RuntimeError::last_os("duplicate a stdio descriptor"));
        }
        high.push(h);
    }
    for (target, h) in high.into_iter().enumerate() {
        // SAFETY: dup2 onto 0..2; the duplicate is closed afterwards.
        unsafe {
            if libc::dup2(h, target as RawFd) < 0 {
                return Err(RuntimeError::last_os("install a stdio descriptor"));
            }
            libc::close(h);
        }
    }
    Ok(())
}
