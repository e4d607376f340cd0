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
use crate::sys::process::{exit_now, fork_and_report, Started};
use nix::sys::signal::{SigSet, SigmaskHow};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::convert::Infallible;
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
    let _ = crate::sys::process::set_dumpable(false);
    // The container init is single-threaded.
    let started = fork_and_report(|| {
        let _ =
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        let err = match exec::exec(args, env) {
            Ok(never) => match never {},
            Err(e) => e,
        };
        (err.exit_code(), err.to_string())
    })
    .map_err(RuntimeError::os("fork the program"))?;
    let child = match started {
        Started::Running(pid) => pid,
        Started::Failed { code, message } => return Err(RuntimeError::Exec { code, message }),
    };
    // The program runs. Nothing of skiff's may stay open in PID 1: this
    // also closes the channel, which tells skiff the start succeeded.
    // (PID 1 is already not dumpable, see above.)
    let _ = crate::sys::process::set_name(c"init");
    // Nothing from here on uses those descriptors again.
    let _ = crate::sys::fd::close_from(3);
    let mut sfd = match SignalFd::with_flags(&all, SfdFlags::SFD_CLOEXEC) {
        Ok(s) => s,
        Err(_) => exit_now(125), // nothing left to do without signals
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
                        exit_now(code) // PID 1 leaving; the kernel kills the rest
                    }
                    Ok(WaitStatus::Signaled(pid, s, _)) if pid == child => exit_now(128 + s as i32),
                    Ok(WaitStatus::StillAlive) | Err(_) => break,
                    Ok(_) => continue,
                }
            }
        } else {
            // Real-time signals too (nix's `Signal` cannot name them).
            let _ = crate::sys::signal::kill(child, sig);
        }
    }
}
