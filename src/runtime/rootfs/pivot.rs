//! pivot_root into the new root and detach the old one, so no path of the
//! host remains reachable. Uses the `pivot_root(".", ".")` idiom: the old
//! root ends up stacked on `/` and is lazily unmounted (it is a slave since
//! `make_root_rslave`, so the unmount does not propagate to the host).

use crate::runtime::error::{Result, RuntimeError};
use crate::sys::syscall::Syscall;
use std::path::Path;

pub fn pivot(sys: &dyn Syscall, new_root: &Path) -> Result<()> {
    sys.chdir(new_root)
        .map_err(RuntimeError::os(format!("chdir {}", new_root.display())))?;
    sys.pivot_root(".", ".")
        .map_err(RuntimeError::os("pivot_root"))?;
    sys.umount_detach(".")
        .map_err(RuntimeError::os("unmount the old root"))?;
    sys.chdir(Path::new("/"))
        .map_err(RuntimeError::os("chdir /"))?;
    Ok(())
}

/// chdir into the working directory (created if missing) and make sure the
/// result really is inside the container (CVE-2024-21626: a leaked host
/// directory fd as cwd would make getcwd fail or point outside).
///
/// The directory is found and created with openat2(RESOLVE_IN_ROOT |
/// RESOLVE_NO_MAGICLINKS) from the container's root, then entered with
/// fchdir: a WORKDIR such as `/proc/self/fd/7/x` can neither enter nor
/// create a directory in a host directory that skiff's caller leaked as
/// fd 7 (tests/escape.rs `workdir_through_a_leaked_fd`).
pub fn enter_workdir(cwd: &str) -> Result<()> {
    use super::resolve::{ensure, Kind};
    use std::os::fd::AsFd;
    let root = std::fs::File::open("/").map_err(RuntimeError::io(
        "cannot open the container's root",
        Path::new("/"),
    ))?;
    let dir = ensure(root.as_fd(), cwd, Kind::Dir).map_err(|e| {
        RuntimeError::Init(format!(
            "working directory {cwd} is not reachable inside the container: {e}"
        ))
    })?;
    nix::unistd::fchdir(&dir).map_err(RuntimeError::sys(format!(
        "chdir to the working directory {cwd}"
    )))?;
    match nix::unistd::getcwd() {
        Ok(p) if p.is_absolute() => Ok(()),
        Ok(p) => Err(RuntimeError::Init(format!(
            "working directory {} is outside the container",
            p.display()
        ))),
        Err(e) => Err(RuntimeError::Init(format!(
            "working directory {cwd} is not reachable inside the container: {e}"
        ))),
    }
}
