//! The process dance, one stage per file:
//!
//! 1. [`sealed_exe`]: `skiff run` first re-executes itself from a read-only
//!    detached mount of its own binary (CVE-2019-5736).
//! 2. [`parent`]: skiff (single-threaded) clones the container init straight
//!    into new mount, pid, uts, ipc (and net) namespaces, puts it into the
//!    cgroup, tells it to go, and waits for the execve (or a failure).
//! 3. [`init`]: the container init — cgroup namespace, rootfs (see
//!    `runtime::rootfs`), hostname, terminal, user, capabilities,
//!    no_new_privs, seccomp — then [`exec`] runs the container's program.
//!
//! [`channel`] carries the few messages between 2 and 3.

pub mod channel;
pub mod exec;
pub mod init;
pub mod join;
pub mod parent;
pub mod privileges;
pub mod sealed_exe;
pub mod tiny_init;

use std::os::fd::OwnedFd;

/// The container's stdin, stdout and stderr.
#[derive(Debug)]
pub enum Stdio {
    /// skiff's own stdout and stderr; stdin too when `stdin` (`-i`),
    /// else the container's /dev/null.
    Inherit { stdin: bool },
    /// Given descriptors (a supervisor's log pipes); `None` stdin is /dev/null.
    Fds {
        stdin: Option<OwnedFd>,
        stdout: OwnedFd,
        stderr: OwnedFd,
    },
    /// A new pty inside the container (`-t`); its master is returned by
    /// `Running::take_console`.
    Pty,
}
