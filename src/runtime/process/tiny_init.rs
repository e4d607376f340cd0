//! `--init`: a tiny init as the container's PID 1, for programs (node)
//! that neither reap zombies nor act on SIGTERM as PID 1.
//!
//! There is no init binary inside the image, and none is needed: the
//! container init already runs skiff's code (cloned, never re-executed —
//! from the sealed binary, see `sealed_exe`). At its last step, instead of
//! exec'ing the program, it forks: the child execs the program; the init
//! stays PID 1, with all of skiff's descriptors closed, the same dropped
//! privileges, and a signalfd for every signal. It forwards each signal to
//! the program, reaps every zombie, and exits with the program's status
//! (128 + signal if it was killed), as docker's tini does.
//!
//! Hook: `process/init.rs`, right before its final `exec::exec`, calls
//! [`run`] instead when [`enabled`] (two lines). Whether it is on is a process-wide flag set
//! by whoever starts the container ([`enable`]); the init, a copy of that
//! process, reads it.

use super::exec;
use crate::runtime::error::{Result, RuntimeError};
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{fork, ForkResult, Pid};
use std::convert::Infallible;
use std::io::Read;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, Ordering};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Containers started from now on by this process get the tiny init.
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The container init's last step with `--init`: fork and exec the
/// program, stay PID 1. Returns only if the program could not be started.
pub fn run(args: &[String], env: &[String]) -> Result<Infallible> {
    let all = SigSet::all();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&all), None)
        .map_err(RuntimeError::sys("block signals"))?;
    // Not dumpable *before* the program can run: the container's processes
    // may not read PID 1's memory or environment (a copy of its starter's,
    // the host's) nor open its exe. Set after the fork, it left a window in
    // which the program could read /proc/1/environ (tests/escape.rs
    // `init_environment_is_not_readable`). The program's execve makes
    // it dumpable again, as it should be.
    // SAFETY: prctl with integer arguments.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
    let (r, w) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(RuntimeError::sys("pipe"))?;
    // SAFETY: the container init is single-threaded.
    let child = match unsafe { fork() }.map_err(RuntimeError::sys("fork the program"))? {
        ForkResult::Child => {
            drop(r);
            let _ = nix::sys::signal::sigprocmask(
                SigmaskHow::SIG_SETMASK,
                Some(&SigSet::empty()),
                None,
            );
            let err = match exec::exec(args, env) {
                Ok(never) => match never {},
                Err(e) => e,
            };
            let code = err.exit_code();
            let mut msg = code.to_le_bytes().to_vec();
            msg.extend_from_slice(err.to_string().as_bytes());
            let _ = nix::unistd::write(&w, &msg);
            // SAFETY: leave without running the parent's exit handlers.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => child,
    };
    drop(w);
    let mut report = Vec::new();
    let _ = std::fs::File::from(r).read_to_end(&mut report);
    if report.len() >= 4 {
        let _ = waitpid(child, None);
        let code = i32::from_le_bytes([report[0], report[1], report[2], report[3]]);
        let message = String::from_utf8_lossy(&report[4..]).into_owned();
        return Err(RuntimeError::Exec { code, message });
    }
    // The program runs. Nothing of skiff's may stay open in PID 1: this
    // also closes the channel, which tells skiff the start succeeded.
    // (PID 1 is already not dumpable, see above.)
    // SAFETY: prctl with integer arguments and a static name.
    unsafe {
        libc::prctl(libc::PR_SET_NAME, c"init".as_ptr(), 0, 0, 0);
    }
    // SAFETY: close_range with integer arguments; nothing here uses those fds again.
    unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    let mut sfd = match SignalFd::with_flags(&all, SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        // SAFETY: nothing left to do without signals.
        Err(_) => unsafe { libc::_exit(125) },
    };
    supervise(child, &mut sfd)
}

/// Forward signals to `child`, reap everything, exit as the child did.
fn supervise(child: Pid, sfd: &mut SignalFd) -> ! {
    loop {
        let sig = match sfd.read_signal() {
            Ok(Some(info)) => info.ssi_signo as i32,
            _ => continue,
        };
        if sig == libc::SIGCHLD {
            loop {
                match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                    Ok(WaitStatus::Exited(pid, code)) if pid == child => {
                        // SAFETY: PID 1 leaving; the kernel kills the rest.
                        unsafe { libc::_exit(code) }
                    }
                    Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => {
                        // SAFETY: as above.
                        unsafe { libc::_exit(128 + s as i32) }
                    }
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        } else if let Ok(s) = Signal::try_from(sig) {
            let _ = kill(child, s);
        }
        let _ = sfd.as_raw_fd();
    }
}
