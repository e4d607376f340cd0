//! Processes: fork-style clone into new namespaces (and a cgroup), fork
//! and report whether the child's exec worked, execveat, `_exit`, and the
//! prctl switches init sets on itself.

use super::cvt;
use nix::unistd::Pid;
use std::ffi::CString;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// What a fork-style clone returned.
pub enum Forked {
    Parent(Pid),
    Child,
}

/// clone(2) without a new stack: behaves like fork(2) but takes namespace
/// flags, so the child is born inside them (PID 1 of a new pid namespace).
///
/// The caller must be single-threaded (it is: `skiff run` never starts a
/// thread before this point), so the child may keep using the allocator.
pub fn clone_fork(flags: libc::c_int) -> io::Result<Forked> {
    // SAFETY: a NULL stack makes clone behave like fork: the child gets a
    // copy-on-write copy of this (single-threaded) process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (flags | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    };
    match cvt(rc)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// struct clone_args of clone3(2), up to `cgroup` (Linux 5.7).
#[repr(C)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// clone3(2) without a new stack, born in the cgroup `cgroup_fd` refers to
/// (CLONE_INTO_CGROUP, cgroup v2): no migration afterwards. The caller must
/// be single-threaded, as for [`clone_fork`].
pub fn clone_fork_into_cgroup(flags: libc::c_int, cgroup_fd: BorrowedFd<'_>) -> io::Result<Forked> {
    let args = CloneArgs {
        flags: flags as u64 | CLONE_INTO_CGROUP,
        pidfd: 0,
        child_tid: 0,
        parent_tid: 0,
        exit_signal: libc::SIGCHLD as u64,
        stack: 0,
        stack_size: 0,
        tls: 0,
        set_tid: 0,
        set_tid_size: 0,
        cgroup: cgroup_fd.as_raw_fd() as u64,
    };
    // SAFETY: as for `clone_fork`; the kernel reads `args` during the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match cvt(rc)? {
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(Pid::from_raw(pid as i32))),
    }
}

/// fork(2). The caller must be single-threaded (container init, `exec`'s
/// joiner): the child then owns a consistent copy of the allocator.
pub fn fork() -> io::Result<Forked> {
    // SAFETY: single-threaded caller (see above), so the child may run
    // arbitrary code, not only async-signal-safe calls.
    match unsafe { nix::unistd::fork() }.map_err(io::Error::from)? {
        nix::unistd::ForkResult::Child => Ok(Forked::Child),
        nix::unistd::ForkResult::Parent { child } => Ok(Forked::Parent(child)),
    }
}

/// How a child started by [`fork_and_report`] fared.
pub enum Started {
    /// It exec'd its program, which now runs as this pid.
    Running(Pid),
    /// It failed before its program ran, with this exit code and message
    /// (it has been reaped).
    Failed { code: i32, message: String },
}

/// Fork; the child runs `child`, which returns only on failure (the code
/// and message it then reports on a close-on-exec pipe before `_exit`).
/// The parent learns from the pipe whether the exec happened: end of file
/// without a report means it did. Single-threaded callers only ([`fork`]).
pub fn fork_and_report(child: impl FnOnce() -> (i32, String)) -> io::Result<Started> {
    let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(io::Error::from)?;
    match fork()? {
        Forked::Child => {
            drop(r);
            let (code, message) = child();
            let mut msg = code.to_le_bytes().to_vec();
            msg.extend_from_slice(message.as_bytes());
            let _ = nix::unistd::write(&w, &msg);
            exit_now(code)
        }
        Forked::Parent(pid) => {
            drop(w);
            let mut report = Vec::new();
            let _ = std::fs::File::from(r).read_to_end(&mut report);
            if report.len() < 4 {
                return Ok(Started::Running(pid));
            }
            let _ = nix::sys::wait::waitpid(pid, None);
            Ok(Started::Failed {
                code: i32::from_le_bytes([report[0], report[1], report[2], report[3]]),
                message: String::from_utf8_lossy(&report[4..]).into_owned(),
            })
        }
    }
}

/// _exit(2): leave now, without the atexit handlers and stdio flushing
/// that belong to the parent whose memory a forked child shares.
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit never returns and touches no memory of ours.
    unsafe { libc::_exit(code) }
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH). Returns only on failure.
pub fn execveat_fd(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> io::Error {
    let argv_p: Vec<*const libc::c_char> = argv
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    let envp_p: Vec<*const libc::c_char> = envp
        .iter()
        .map(|a| a.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect();
    // SAFETY: NULL-terminated arrays of valid C strings, alive for the call.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            fd.as_raw_fd(),
            c"".as_ptr(),
            argv_p.as_ptr(),
            envp_p.as_ptr(),
            libc::AT_EMPTY_PATH,
        );
    }
    io::Error::last_os_error()
}

fn prctl(option: libc::c_int, arg: libc::c_ulong) -> io::Result<()> {
    // SAFETY: every option used here takes integer arguments only.
    cvt(unsafe { libc::prctl(option, arg, 0, 0, 0) }).map(drop)
}

/// PR_SET_DUMPABLE: whether other processes of the same user may ptrace
/// this one or read its /proc memory and environment.
pub fn set_dumpable(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_DUMPABLE, on as libc::c_ulong)
}

/// PR_SET_NO_NEW_PRIVS: no exec may gain privileges from now on.
pub fn set_no_new_privs() -> io::Result<()> {
    prctl(libc::PR_SET_NO_NEW_PRIVS, 1)
}

/// PR_SET_PDEATHSIG with SIGKILL: die when the parent dies.
pub fn die_with_parent() -> io::Result<()> {
    prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
}

/// PR_SET_KEEPCAPS: keep the permitted set across a switch away from uid 0.
pub fn set_keep_caps(on: bool) -> io::Result<()> {
    prctl(libc::PR_SET_KEEPCAPS, on as libc::c_ulong)
}

/// PR_SET_NAME: the name `ps` shows for this thread (at most 15 bytes).
pub fn set_name(name: &std::ffi::CStr) -> io::Result<()> {
    // SAFETY: a NUL-terminated name the kernel copies.
    cvt(unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0, 0, 0) }).map(drop)
}

/// setdomainname(2) (nix wraps only sethostname).
pub fn setdomainname(name: &str) -> io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, alive for the call.
    cvt(unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) }).map(drop)
}

/// memfd_create(2), close-on-exec, sealable.
pub fn memfd_sealable(name: &std::ffi::CStr) -> io::Result<OwnedFd> {
    // SAFETY: a valid NUL-terminated name.
    let raw = cvt(unsafe {
        libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING)
    })?;
    // SAFETY: a fresh descriptor from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(raw) })
}

/// The seals on a memfd (F_GET_SEALS); an error for other files.
pub fn seals(fd: BorrowedFd<'_>) -> io::Result<libc::c_int> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) })
}

/// Add `seals` to a memfd (F_ADD_SEALS).
pub fn add_seals(fd: BorrowedFd<'_>, seals: libc::c_int) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) }).map(drop)
}

/// Make `cmd`'s child a session leader whose descriptors `to` are copies of
/// `from` (inherited: dup2 clears close-on-exec; a descriptor already in
/// place just loses its close-on-exec flag).
pub fn detach_with_fds(cmd: &mut std::process::Command, fds: Vec<(libc::c_int, libc::c_int)>) {
    use std::os::unix::process::CommandExt;
    // SAFETY: between fork and exec only async-signal-safe calls (setsid,
    // dup2, fcntl) on descriptors that exist in the child; `fds` is moved
    // in and only read.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            for &(from, to) in &fds {
                let rc = if from == to {
                    libc::fcntl(to, libc::F_SETFD, 0)
                } else {
                    libc::dup2(from, to)
                };
                if rc < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
}
