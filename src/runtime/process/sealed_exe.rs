//! CVE-2019-5736: a container must never be able to write the skiff binary.
//!
//! The danger: the container init runs skiff's code until its final execve,
//! and an image whose program is `#!/proc/self/exe` makes that execve start
//! *skiff's own binary* (the interpreter is resolved while /proc/self/exe
//! still is skiff) inside the container, which can then open it through
//! /proc/self/exe and overwrite the host's skiff once it stops running.
//! Dropped capabilities do not help: the container is uid 0 on the host.
//!
//! Two defences, by how long skiff's code stays inside the container:
//!
//! - Only until the program's exec (`skiff run` in the foreground without
//!   `--init`, the common case): the init execs skiff's *sealed exec stub*
//!   (`sys::exec_stub`), a 1 KB static program in a memfd sealed against
//!   writes, which execs the program. At the interpreter lookup of
//!   `#!/proc/self/exe`, /proc/self/exe is the stub, so the container can
//!   only ever run (and fail to write) the stub. Until that exec the init is
//!   not dumpable, so nothing sharing its namespaces can open its exe. Cost:
//!   one exec of a libc-free binary (~0.1 ms).
//! - For as long as the container runs (`--init`, whose PID 1 stays skiff;
//!   `skiff exec`; the supervisor and its health probes; skiff-runc; builds;
//!   or where the stub cannot be loaded): skiff first re-executes itself from
//!   a *read-only, detached* bind mount of its own binary
//!   (open_tree(OPEN_TREE_CLONE) + mount_setattr(MOUNT_ATTR_RDONLY), the same
//!   idea as runc ≥ 1.2's private overlay). From then on every
//!   /proc/<pid>/exe of skiff's processes leads to a mount that refuses
//!   writes with EROFS, and the container cannot remount it (no
//!   CAP_SYS_ADMIN, and mount/mount_setattr are blocked by seccomp). Nothing
//!   is copied, but the re-exec is a second start of skiff (two glibc
//!   start-ups, about 2 ms on a VM where CPUID traps). Kernels without the
//!   new mount API (before 5.12) get crun's approach: a sealed memfd copy.
//!
//! `Container::start` refuses to run when neither holds
//! ([`exec_stub_for_start`]).

use crate::runtime::error::{Result, RuntimeError};
use crate::sys;
use std::ffi::{CString, OsString};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStringExt;

/// Set in the environment of the re-executed skiff, to stop a loop if the
/// read-only view somehow is not read-only.
const MARK: &str = "_SKIFF_SEALED_EXE";

/// Is the running binary unwritable: on a read-only mount or a sealed memfd?
pub fn is_sealed() -> bool {
    let Ok(exe) = std::fs::File::open("/proc/self/exe") else {
        return false;
    };
    if let Ok(st) = nix::sys::statvfs::fstatvfs(&exe) {
        if st.flags().contains(nix::sys::statvfs::FsFlags::ST_RDONLY) {
            return true;
        }
    }
    sys::process::seals(exe.as_fd()).is_ok_and(|s| s & libc::F_SEAL_WRITE != 0)
}

/// What `Container::start` execs the program through: nothing when the
/// binary is sealed; skiff's sealed exec stub (`sys::exec_stub`) when it
/// is not, since then nothing of the container ever runs this binary
/// after the exec. The tiny init (`--init`) stays PID 1 as this binary, so
/// it needs the sealed binary, as does a system without the stub.
pub fn exec_stub_for_start() -> Result<Option<BorrowedFd<'static>>> {
    if is_sealed() {
        return Ok(None);
    }
    match crate::sys::exec_stub::get() {
        Some(stub) if !super::tiny_init::enabled() => Ok(Some(stub)),
        _ => Err(RuntimeError::Init(
            "skiff's binary is writable from here; call sealed_exe::ensure() first (CVE-2019-5736)"
                .into(),
        )),
    }
}

/// `skiff run` in the foreground without `--init`: the program is exec'd
/// through the sealed exec stub, so no re-execution is needed (it costs
/// two glibc start-ups, about 2 ms here); otherwise as [`ensure`].
pub fn ensure_unless_stub(tiny_init: bool) -> Result<()> {
    if !tiny_init && crate::sys::exec_stub::get().is_some() {
        return Ok(());
    }
    ensure()
}

/// Re-execute from a read-only view of the binary unless already sealed.
/// Returns only when nothing had to be done; call it before any other work.
pub fn ensure() -> Result<()> {
    if is_sealed() {
        if std::env::var_os(MARK).is_some() {
            std::env::remove_var(MARK);
        }
        return Ok(());
    }
    if std::env::var_os(MARK).is_some() {
        return Err(RuntimeError::Init(
            "the re-executed skiff binary is still writable; refusing to start containers".into(),
        ));
    }
    let fd = match read_only_view() {
        Ok(fd) => fd,
        Err(_) => memfd_copy()?,
    };
    let argv: Vec<CString> = std::env::args_os().map(cstring).collect::<Result<_>>()?;
    let mut envp: Vec<CString> = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv = k;
            kv.push("=");
            kv.push(v);
            cstring(kv)
        })
        .collect::<Result<_>>()?;
    envp.push(cstring(OsString::from(format!("{MARK}=1")))?);
    let err = sys::process::execveat_fd(fd.as_fd(), &argv, &envp);
    Err(RuntimeError::Sys {
        what: "re-execute skiff from its read-only copy".into(),
        source: err,
    })
}

fn cstring(s: OsString) -> Result<CString> {
    CString::new(s.into_vec())
        .map_err(|_| RuntimeError::Invalid("argument or environment contains a NUL byte".into()))
}

fn read_only_view() -> std::io::Result<OwnedFd> {
    use sys::mount::{MOUNT_ATTR_NODEV, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY};
    let fd = sys::mount::open_tree_clone(c"/proc/self/exe")?;
    sys::mount::mount_setattr(
        fd.as_raw_fd(),
        c"",
        false,
        MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
    )?;
    Ok(fd)
}

fn memfd_copy() -> Result<OwnedFd> {
    let fd = sys::process::memfd_sealable(c"skiff").map_err(|e| RuntimeError::Sys {
        what: "memfd_create".into(),
        source: e,
    })?;
    let mut src = std::fs::File::open("/proc/self/exe").map_err(RuntimeError::io(
        "cannot open",
        std::path::Path::new("/proc/self/exe"),
    ))?;
    let mut dst = std::fs::File::from(fd.try_clone().map_err(|e| RuntimeError::Sys {
        what: "dup".into(),
        source: e,
    })?);
    std::io::copy(&mut src, &mut dst).map_err(|e| RuntimeError::Sys {
        what: "copy the skiff binary".into(),
        source: e,
    })?;
    let seals = libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;
    sys::process::add_seals(fd.as_fd(), seals).map_err(|e| RuntimeError::Sys {
        what: "seal the skiff copy".into(),
        source: e,
    })?;
    Ok(fd)
}
