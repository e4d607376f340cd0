//! `-t`: the container gets a pty of its own devpts instance (opened in the
//! container init after pivot_root, as its controlling terminal); the master
//! travels back to skiff over the channel. On skiff's side: raw mode on the
//! user's terminal while attached, and window size propagation.

use super::error::{Result, RuntimeError};
use nix::sys::termios::{self, SetArg, Termios};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};

/// Container side: open a new pty in the container's /dev/pts and make its
/// slave the controlling terminal and stdio. Returns the master.
pub fn open_console() -> Result<OwnedFd> {
    use nix::fcntl::OFlag;
    let master = nix::pty::posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .map_err(RuntimeError::sys("open /dev/ptmx"))?;
    nix::pty::unlockpt(&master).map_err(RuntimeError::sys("unlockpt"))?;
    let name = nix::pty::ptsname_r(&master).map_err(RuntimeError::sys("ptsname"))?;
    let slave: OwnedFd = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&name)
        .map_err(RuntimeError::io("cannot open", std::path::Path::new(&name)))?
        .into();
    // We are a session leader (setsid).
    crate::sys::terminal::set_controlling(slave.as_fd()).map_err(|e| RuntimeError::Sys {
        what: "make the pty the controlling terminal".into(),
        source: e,
    })?;
    super::fds::install_stdio([&slave, &slave, &slave])?;
    Ok(master.into())
}

use std::os::unix::fs::OpenOptionsExt;

/// The user's terminal in raw mode while attached; restored on drop.
pub struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin if it is a terminal.
    pub fn enable() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(stdin.as_fd()).ok()?;
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode { saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &self.saved);
    }
}

/// Copy the window size of `from` (the user's terminal) to `to` (the master).
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    crate::sys::terminal::copy_window_size(from, to);
}
