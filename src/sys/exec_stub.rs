//! skiff-exec, the sealed exec stub (CVE-2019-5736 without a re-exec).
//!
//! The program (`exec_stub/program.rs`, compiled by `build.rs`) is embedded
//! in skiff and loaded once per process into a memfd sealed against any
//! write, grow, shrink or further sealing. A container init that runs from
//! skiff's (writable) binary ends with [`exec`]: it execs the stub, whose
//! /proc/self/exe is that memfd, and the stub execs the container's
//! program. So nothing inside a container ever runs, or can open for
//! writing, the host's skiff binary. Where the stub cannot be built or
//! loaded, [`get`] is `None` and skiff re-executes itself from a read-only
//! view of its binary instead (`runtime::process::sealed_exe`).

use std::ffi::{CStr, CString};
use std::io::{self, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::OnceLock;

#[cfg(skiff_exec_stub)]
const PROGRAM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/skiff-exec"));
#[cfg(not(skiff_exec_stub))]
const PROGRAM: &[u8] = &[];

/// memfd_create(2): the memfd may be executed (kernels since 6.3 want it
/// said; older ones reject the flag, and are retried without it).
const MFD_EXEC: libc::c_uint = 0x0010;

static STUB: OnceLock<Option<OwnedFd>> = OnceLock::new();

/// The sealed stub, loaded on first use (in skiff, before any container is
/// cloned, so every init inherits it); `None` where it cannot be.
pub fn get() -> Option<BorrowedFd<'static>> {
    STUB.get_or_init(|| load().ok())
        .as_ref()
        .map(|fd| fd.as_fd())
}

fn memfd(flags: libc::c_uint) -> io::Result<OwnedFd> {
    let name = c"skiff-exec";
    // SAFETY: a valid NUL-terminated name and flag bits.
    let raw = super::cvt(unsafe { libc::memfd_create(name.as_ptr(), flags) })?;
    // SAFETY: a fresh descriptor from the kernel, owned by nobody else.
    Ok(unsafe { std::os::fd::FromRawFd::from_raw_fd(raw) })
}

fn load() -> io::Result<OwnedFd> {
    if PROGRAM.is_empty() {
        return Err(io::Error::from(io::ErrorKind::Unsupported));
    }
    let base = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    let fd = match memfd(base | MFD_EXEC) {
        Err(e) if e.raw_os_error() == Some(libc::EINVAL) => memfd(base)?,
        other => other?,
    };
    std::fs::File::from(fd.try_clone()?).write_all(PROGRAM)?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    super::process::add_seals(fd.as_fd(), seals)?;
    Ok(fd)
}

/// Exec `path` (argv `argv`, environment `envp`) through the stub. `report`
/// is a descriptor the stub writes a failed exec to (see program.rs), kept
/// open across the stub's own exec. Returns only if the stub could not be
/// exec'd: with execveat, or, if a seccomp profile refuses that, execve of
/// /proc/self/fd/N.
pub fn exec(
    stub: BorrowedFd<'_>,
    report: RawFd,
    path: &CStr,
    argv: &[CString],
    envp: &[CString],
) -> io::Error {
    let mut all = Vec::with_capacity(argv.len() + 3);
    all.push(CString::from(c"skiff-exec"));
    all.push(CString::new(report.to_string()).unwrap_or_else(|_| CString::from(c"-")));
    all.push(path.to_owned());
    all.extend(argv.iter().cloned());
    if let Err(e) = super::fd::clear_cloexec(report) {
        return e;
    }
    let err = super::process::execveat_fd(stub, &all, envp);
    if !matches!(err.raw_os_error(), Some(libc::EPERM | libc::ENOSYS)) {
        return err;
    }
    let by_path = format!("/proc/self/fd/{}", stub.as_raw_fd());
    match CString::new(by_path) {
        Ok(p) => match nix::unistd::execve(&p, &all, envp) {
            Err(e) => io::Error::from(e),
            Ok(never) => match never {},
        },
        Err(_) => err,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn stub_path() -> String {
        format!(
            "/proc/self/fd/{}",
            get().expect("the stub loads").as_raw_fd()
        )
    }

    #[test]
    fn the_stub_is_sealed_against_writes() {
        let fd = get().expect("the stub loads");
        let seals = super::super::process::seals(fd).unwrap();
        for s in [
            libc::F_SEAL_WRITE,
            libc::F_SEAL_GROW,
            libc::F_SEAL_SHRINK,
            libc::F_SEAL_SEAL,
        ] {
            assert_ne!(seals & s, 0, "seal {s:#x} missing from {seals:#x}");
        }
        let w = std::fs::OpenOptions::new().write(true).open(stub_path());
        if let Ok(mut f) = w {
            assert!(f.write_all(b"#!/bin/sh\n").is_err(), "the stub was written");
        }
    }

    #[test]
    fn the_stub_execs_the_program_with_its_argv_and_env() {
        let o = Command::new(stub_path())
            .args(["-", "/bin/sh", "name-kept", "-c"])
            .arg("tr '\\0' ' ' </proc/$$/cmdline; echo; echo $0 $FOO")
            .arg("zero")
            .env_clear()
            .env("FOO", "bar")
            .output()
            .unwrap();
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(out.starts_with("name-kept -c "), "{out}");
        assert!(out.ends_with("\nzero bar\n"), "{out}");
        assert_eq!(o.status.code(), Some(0));
    }

    #[test]
    fn a_failed_exec_gives_dockers_codes_and_refuses_hand_use() {
        let code = |args: &[&str]| Command::new(stub_path()).args(args).output().unwrap();
        assert_eq!(code(&["-", "/nonexistent/x", "x"]).status.code(), Some(127));
        assert_eq!(code(&["-", "/etc/passwd", "x"]).status.code(), Some(126));
        let o = code(&["/probe/evil"]);
        assert_eq!(o.status.code(), Some(127));
        assert!(String::from_utf8_lossy(&o.stderr).contains("skiff-exec"));
    }
}
