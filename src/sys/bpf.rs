//! bpf(2): load a cgroup device program and attach it to a cgroup.

use super::cvt;
use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;

/// The BPF_PROG_LOAD part of union bpf_attr.
#[repr(C)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _rest: [u8; 64],
}

/// The BPF_PROG_ATTACH part of union bpf_attr.
#[repr(C)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _rest: [u8; 44],
}

fn bpf<T>(cmd: libc::c_long, attr: &T) -> io::Result<libc::c_long> {
    // SAFETY: only called with the two attr structs above, whose pointers
    // (instructions, license) are valid for the call and whose tail is
    // zero; the size is the struct's.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>(),
        )
    })
}

/// Load a BPF_PROG_TYPE_CGROUP_DEVICE program of `insns` (each one 8-byte
/// `struct bpf_insn`) named `name` (at most 15 bytes).
pub fn load_cgroup_device<I: Copy>(insns: &[I], license: &CStr, name: &str) -> io::Result<OwnedFd> {
    if std::mem::size_of::<I>() != 8 || name.len() > 15 {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut prog_name = [0u8; 16];
    prog_name[..name.len()].copy_from_slice(name.as_bytes());
    let load = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 0,
        log_size: 0,
        log_buf: 0,
        kern_version: 0,
        prog_flags: 0,
        prog_name,
        prog_ifindex: 0,
        expected_attach_type: BPF_CGROUP_DEVICE,
        _rest: [0; 64],
    };
    let fd = bpf(BPF_PROG_LOAD, &load)? as i32;
    // SAFETY: a fresh descriptor from the kernel, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach a loaded device program to the cgroup directory `cgroup`.
pub fn attach_cgroup_device(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let attach = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: 0,
        replace_bpf_fd: 0,
        _rest: [0; 44],
    };
    bpf(BPF_PROG_ATTACH, &attach).map(drop)
}
