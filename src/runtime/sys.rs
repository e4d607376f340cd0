//! The few system calls that neither nix nor std wrap, each behind one small
//! safe function: fork-style clone with namespace flags, openat2, the new
//! mount API bits (open_tree, mount_setattr), close_range, execveat.

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

pub const OPEN_TREE_CLONE: libc::c_uint = 0x1;
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// struct open_how of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

fn cvt(rc: libc::c_long) -> std::io::Result<libc::c_long> {
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// What a fork-style clone returned.
pub enum Forked {
    Parent(nix::unistd::Pid),
    Child,
}

/// clone(2) without a new stack: behaves like fork(2) but takes namespace
/// flags, so the child is born inside them (PID 1 of a new pid namespace).
///
/// The caller must be single-threaded (it is: `skiff run` never starts a
/// thread before this point), so the child may keep using the allocator.
pub fn clone_fork(flags: libc::c_int) -> std::io::Result<Forked> {
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
        pid => Ok(Forked::Parent(nix::unistd::Pid::from_raw(pid as i32))),
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
/// (CLONE_INTO_CGROUP, cgroup v2): no migration afterwards.
pub fn clone_fork_into_cgroup(
    flags: libc::c_int,
    cgroup_fd: BorrowedFd<'_>,
) -> std::io::Result<Forked> {
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
        pid => Ok(Forked::Parent(nix::unistd::Pid::from_raw(pid as i32))),
    }
}

/// openat2(2) with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: `path` is resolved
/// as if `root` were `/`, so symlinks and `..` in the image cannot escape.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: i32) -> std::io::Result<OwnedFd> {
    let cpath = CString::new(path).map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: valid pointers for the duration of the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    let fd = cvt(rc)? as RawFd;
    // SAFETY: the kernel just returned this descriptor to us.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// open_tree(2): a detached clone of the mount at `path` (a file works too).
pub fn open_tree_clone(path: &CStr) -> std::io::Result<OwnedFd> {
    // SAFETY: valid C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            (OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint) as libc::c_ulong,
        )
    };
    let fd = cvt(rc)? as RawFd;
    // SAFETY: fresh descriptor from the kernel.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mount_setattr(2) on the mount `fd` refers to (and below it if `recursive`).
pub fn mount_setattr(
    dirfd: RawFd,
    path: &CStr,
    recursive: bool,
    attr_set: u64,
) -> std::io::Result<()> {
    let attr = MountAttr {
        attr_set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    let mut flags = libc::AT_EMPTY_PATH;
    if recursive {
        flags |= libc::AT_RECURSIVE;
    }
    // SAFETY: valid pointers, size matches the struct.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            dirfd,
            path.as_ptr(),
            flags as libc::c_uint,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    cvt(rc).map(|_| ())
}

/// Mark every descriptor from `first` up close-on-exec.
pub fn close_range_cloexec(first: u32) -> std::io::Result<()> {
    // SAFETY: plain integer arguments.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    };
    cvt(rc).map(|_| ())
}

/// kill(2) with a raw signal number: nix's `Signal` cannot name the
/// real-time signals an image may choose as its STOPSIGNAL.
pub fn kill(pid: nix::unistd::Pid, signo: i32) -> std::io::Result<()> {
    // SAFETY: plain integer arguments; no memory is passed.
    let rc = unsafe { libc::kill(pid.as_raw(), signo) };
    cvt(rc.into()).map(|_| ())
}

/// Let SIGPIPE end this process, as it ends `ls | head`: the Rust runtime
/// ignores it, so a printing command would see EPIPE on every write and
/// panic in `println!`. Only for commands that just print.
pub fn default_sigpipe() {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: SIG_DFL installs no handler code; called before any thread
    // is started.
    let _ = unsafe { signal(Signal::SIGPIPE, SigHandler::SigDfl) };
}

/// execveat(fd, "", argv, envp, AT_EMPTY_PATH). Returns only on failure.
pub fn execveat_fd(fd: BorrowedFd<'_>, argv: &[CString], envp: &[CString]) -> std::io::Error {
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
    // SAFETY: NULL-terminated arrays of valid C strings.
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
    std::io::Error::last_os_error()
}

/// `/proc/self/fd/N`: a path naming an already-resolved file, used as a
/// mount source or target so the kernel never re-resolves the original path.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// setdomainname(2) (nix wraps only sethostname).
pub fn setdomainname(name: &str) -> std::io::Result<()> {
    // SAFETY: the pointer and length describe `name`'s bytes, alive for the call.
    let rc = unsafe { libc::setdomainname(name.as_ptr().cast(), name.len()) };
    if rc < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(())
    }
}
