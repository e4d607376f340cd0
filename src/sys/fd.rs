//! Descriptors by number: close-on-exec for everything above stdio,
//! duplicates, inherited descriptors taken over, poll(2).

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// Mark every descriptor from `first` up close-on-exec (close_range(2),
/// Linux 5.11).
pub fn close_range_cloexec(first: u32) -> io::Result<()> {
    // SAFETY: integer arguments only; no descriptor is closed.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    cvt(rc).map(drop)
}

/// Close every descriptor from `first` up. Only for a process about to run
/// nothing but code that uses none of them (the tiny init's supervise loop):
/// any `OwnedFd` among them is left dangling.
pub fn close_from(first: u32) -> io::Result<()> {
    // SAFETY: integer arguments; the caller holds no descriptor it uses
    // again in that range (see above).
    cvt(unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, 0u32) }).map(drop)
}

/// Set close-on-exec on a descriptor number (harmless if it is not open).
pub fn set_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) }).map(drop)
}

/// Let `fd` survive execve (clear FD_CLOEXEC).
pub fn clear_cloexec(fd: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) }).map(drop)
}

/// Set O_NONBLOCK on `fd`.
pub fn set_nonblocking(fd: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: integer arguments on a descriptor we borrow.
    let fl = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) })?;
    // SAFETY: as above.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK) }).map(drop)
}

/// A close-on-exec duplicate of `fd` numbered `min` or above.
pub fn dup_above(fd: BorrowedFd<'_>, min: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: integer arguments on a descriptor we borrow.
    let n = cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, min) })?;
    // SAFETY: fcntl just returned this new descriptor; nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(n) })
}

/// dup2(2) of `fd` onto the number `target` (0, 1, 2: stdio), which is
/// then inherited by an exec.
pub fn dup_onto(fd: BorrowedFd<'_>, target: RawFd) -> io::Result<()> {
    // SAFETY: integer arguments; whatever `target` was is closed by the
    // kernel. Only used on stdio numbers, which no OwnedFd of ours holds.
    cvt(unsafe { libc::dup2(fd.as_raw_fd(), target) }).map(drop)
}

/// The file type bits of a descriptor number, `None` if it is not open.
fn file_type(fd: RawFd) -> Option<libc::mode_t> {
    super::fs::fstat_raw(fd)
        .ok()
        .map(|st| st.st_mode & libc::S_IFMT)
}

/// Take over descriptor `fd` that the process that started us left open
/// for us (the report pipe on 3, handed-over listeners on 4, …) if it is
/// open and of type `kind` (`libc::S_IFSOCK`, `libc::S_IFIFO`); it is
/// marked close-on-exec so no container process inherits it.
///
/// Only for those numbers, called once each at start-up, before this
/// process opens anything that could take the number itself.
pub fn adopt_inherited(fd: RawFd, kind: libc::mode_t) -> Option<OwnedFd> {
    if file_type(fd) != Some(kind) {
        return None;
    }
    set_cloexec(fd).ok()?;
    // SAFETY: the descriptor is open and was set up for this process alone
    // by its starter; per the contract above nothing else in this process
    // owns it.
    Some(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// poll(2) on `fds`; the number of ready entries (0 on timeout).
pub fn poll(fds: &mut [libc::pollfd], timeout_ms: i32) -> io::Result<usize> {
    // SAFETY: a valid array of pollfd for the duration of the call.
    let n = cvt(unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout_ms) })?;
    Ok(n as usize)
}
