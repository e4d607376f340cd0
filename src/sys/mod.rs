//! The bottom layer: every `unsafe` block and every raw system call of
//! skiff lives here, each behind a small safe function with a `// SAFETY:`
//! comment. Everything above is safe Rust, and the compiler holds it to
//! that: the crate root denies `unsafe_code`, only this module is allowed.
//!
//! One submodule per job: [`fs`] the `*at()` walk and openat2 in a root,
//! [`xattr`] extended attributes, [`mount`] the new mount API, [`process`]
//! fork/clone/exec/exit and the prctl bits, [`caps`] the capability sets,
//! [`fd`] descriptors, [`socket`] descriptor passing, [`signal`], [`terminal`],
//! [`exec_stub`] the sealed program a container's program is exec'd through,
//! [`netdev`] interface ioctls, [`seccomp`] and [`bpf`] filter loading,
//! [`memory`] returning memory to the kernel, [`random`] bytes from getrandom(2).

pub mod bpf;
pub mod caps;
pub mod exec_stub;
pub mod fd;
pub mod fs;
pub mod memory;
pub mod mount;
pub mod netdev;
pub mod proc;
pub mod process;
pub mod random;
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

#[cfg(test)]
mod tests {
    /// The crate root denies `unsafe_code` and only `mod sys` is allowed it:
    /// no other file may lift the lint (or `unsafe` would creep back).
    #[test]
    fn only_sys_may_allow_unsafe_code() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
        assert!(lib.contains("#![deny(unsafe_code)]"));
        assert_eq!(lib.matches("allow(unsafe_code)").count(), 1);
        assert!(lib.contains("#[allow(unsafe_code)]\npub mod sys;"));
        let mut dirs = vec![src.clone()];
        let mut offenders = Vec::new();
        while let Some(d) = dirs.pop() {
            for e in std::fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    if p != src.join("sys") {
                        dirs.push(p);
                    }
                } else if p.extension().is_some_and(|x| x == "rs") && p != src.join("lib.rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    let lifted = ["allow", "warn", "expect"]
                        .iter()
                        .any(|l| text.contains(&format!("{l}(unsafe_code)")));
                    if lifted {
                        offenders.push(p);
                    }
                }
            }
        }
        assert!(offenders.is_empty(), "{offenders:?}");
    }
}
