//! Signals nix's types cannot express: raw (real-time) numbers, and
//! dispositions reset before exec.

use super::cvt;
use std::io;

/// kill(2) with a raw signal number: nix's `Signal` cannot name the
/// real-time signals an image may choose as its STOPSIGNAL.
pub fn kill(pid: nix::unistd::Pid, signo: i32) -> io::Result<()> {
    // SAFETY: integer arguments only; no memory is passed.
    cvt(unsafe { libc::kill(pid.as_raw(), signo) }).map(drop)
}

/// Let SIGPIPE end this process, as it ends `ls | head`: the Rust runtime
/// ignores it, so a printing command would see EPIPE on every write and
/// panic in `println!`. Only for commands that just print.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler code.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// The default disposition for signal number `sig` (1..32 except KILL and
/// STOP): ignored signals survive exec, and Rust ignores SIGPIPE.
pub fn reset_to_default(sig: libc::c_int) {
    // SAFETY: SIG_DFL installs no handler code; a bad number only fails.
    unsafe { libc::signal(sig, libc::SIG_DFL) };
}
