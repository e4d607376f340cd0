//! Terminal ioctls: the controlling terminal and the window size.

use super::cvt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};

/// TIOCSCTTY: make `tty` the controlling terminal of this session (the
/// caller is a session leader).
pub fn set_controlling(tty: BorrowedFd<'_>) -> io::Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument.
    cvt(unsafe { libc::ioctl(tty.as_raw_fd(), libc::TIOCSCTTY, 0) }).map(drop)
}

/// Copy the window size of `from` (the user's terminal) to `to` (a pty
/// master); nothing if `from` is not a terminal.
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ write and read a winsize we own.
    unsafe {
        if libc::ioctl(from.as_raw_fd(), libc::TIOCGWINSZ, &mut ws) == 0 {
            libc::ioctl(to.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}
