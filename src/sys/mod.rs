//! The bottom layer: every `unsafe` block and every raw system call of
//! skiff lives here, each behind a small safe function with a `// SAFETY:`
//! comment. Everything above is safe Rust, and the compiler holds it to
//! that: the crate root denies `unsafe_code`, only this module is allowed.
//!
//! One submodule per job: [`fs`] the `*at()` walk and openat2 in a root,
//! [`xattr`] extended attributes, [`mount`] the new mount API, [`process`]
//! fork/clone/exec/exit and the prctl bits, [`caps`] the capability sets,
//! [`fd`] descriptors, [`socket`] descriptor passing, [`signal`], [`terminal`],
//! [`netdev`] interface ioctls, [`seccomp`] and [`bpf`] filter loading,
//! [`memory`] returning memory to the kernel.

pub mod bpf;
pub mod caps;
pub mod fd;
pub mod fs;
pub mod memory;
pub mod mount;
pub mod netdev;
pub mod proc;
pub mod process;
pub mod seccomp;
pub mod signal;
pub mod socket;
pub mod syscall;
pub mod terminal;
pub mod xattr;

use std::io;

/// A libc-style return value (negative on failure, errno set) as a Result.
pub(crate) fn cvt<T: Into<i64> + Copy>(rc: T) -> io::Result<T> {
    if rc.into() < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}
