//! seccomp(2): install one compiled BPF filter on the calling thread.

use super::cvt;
use std::io;

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const seccompiler::sock_filter,
}

/// SECCOMP_SET_MODE_FILTER with `prog`. Needs no_new_privs or CAP_SYS_ADMIN.
pub fn set_mode_filter(prog: &[seccompiler::sock_filter]) -> io::Result<()> {
    let fprog = SockFprog {
        len: u16::try_from(prog.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "seccomp filter too long"))?,
        filter: prog.as_ptr(),
    };
    // SAFETY: the kernel copies the program; `prog` outlives the call.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &fprog as *const SockFprog,
        )
    })
    .map(drop)
}
