//! Signals of the foreground `skiff run`: SIGINT, SIGTERM, SIGHUP, SIGQUIT,
//! SIGUSR1 and SIGUSR2 are forwarded to the container init; SIGCHLD says it
//! ended; SIGWINCH resizes its terminal. All are blocked before the clone
//! (so none is lost or kills skiff half-way) and read from a signalfd. The
//! container init restores a clean signal state right before its execve.

use super::error::{Result, RuntimeError};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::os::fd::{AsFd, BorrowedFd};

pub const FORWARDED: [Signal; 6] = [
    Signal::SIGINT,
    Signal::SIGTERM,
    Signal::SIGHUP,
    Signal::SIGQUIT,
    Signal::SIGUSR1,
    Signal::SIGUSR2,
];

/// What arrived on the signalfd.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    Forward(Signal),
    ChildExited,
    WindowChanged,
}

pub struct Forwarder {
    fd: SignalFd,
    old_mask: SigSet,
}

impl Forwarder {
    /// Block the signals and open a signalfd for them.
    pub fn install() -> Result<Forwarder> {
        let mut mask = SigSet::empty();
        for s in FORWARDED
            .into_iter()
            .chain([Signal::SIGCHLD, Signal::SIGWINCH])
        {
            mask.add(s);
        }
        let mut old_mask = SigSet::empty();
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_BLOCK, Some(&mask), Some(&mut old_mask))
            .map_err(RuntimeError::sys("block signals"))?;
        let fd = SignalFd::with_flags(&mask, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(RuntimeError::sys("signalfd"))?;
        Ok(Forwarder { fd, old_mask })
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// The next pending signal, if any.
    pub fn next_event(&mut self) -> Result<Option<Event>> {
        loop {
            let Some(info) = self
                .fd
                .read_signal()
                .map_err(RuntimeError::sys("read signalfd"))?
            else {
                return Ok(None);
            };
            let Ok(sig) = Signal::try_from(info.ssi_signo as i32) else {
                continue;
            };
            return Ok(Some(match sig {
                Signal::SIGCHLD => Event::ChildExited,
                Signal::SIGWINCH => Event::WindowChanged,
                s => Event::Forward(s),
            }));
        }
    }
}

impl Drop for Forwarder {
    fn drop(&mut self) {
        let _ =
            nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&self.old_mask), None);
    }
}

/// In the container init, right before execve: default dispositions (Rust
/// ignores SIGPIPE, and ignored signals survive exec) and an empty mask.
pub fn reset_for_exec() {
    for sig in 1..32 {
        if sig == libc::SIGKILL || sig == libc::SIGSTOP {
            continue;
        }
        crate::sys::signal::reset_to_default(sig);
    }
    let _ =
        nix::sys::signal::pthread_sigmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
}
