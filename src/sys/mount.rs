//! The new mount API bits nix does not wrap: open_tree(2) and
//! mount_setattr(2).

use super::cvt;
use std::ffi::CStr;
use std::io;
use std::os::fd::{FromRawFd, OwnedFd, RawFd};

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

/// open_tree(2): a detached clone of the mount at `path` (a file works too).
pub fn open_tree_clone(path: &CStr) -> io::Result<OwnedFd> {
    // SAFETY: valid C string; integer flags.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            path.as_ptr(),
            (OPEN_TREE_CLONE | libc::O_CLOEXEC as libc::c_uint) as libc::c_ulong,
        )
    };
    let fd = cvt(rc)? as RawFd;
    // SAFETY: a fresh descriptor from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// mount_setattr(2) on the mount `dirfd`/`path` names (and below it if
/// `recursive`).
pub fn mount_setattr(dirfd: RawFd, path: &CStr, recursive: bool, attr_set: u64) -> io::Result<()> {
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
    // SAFETY: valid pointers for the call; the size is the struct's.
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
