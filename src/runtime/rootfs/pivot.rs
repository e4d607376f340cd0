//! pivot_root into the new root and detach the old one, so no path of the
//! host remains reachable. Uses the `pivot_root(".", ".")` idiom: the old
//! root ends up stacked on `/` and is lazily unmounted (it is a slave since
//! `make_root_rslave`, so the unmount does not propagate to the host).

use crate::runtime::error::{Result, RuntimeError};
use nix::mount::MntFlags;
use std::path::Path;

pub fn pivot(new_root: &Path) -> Result<()> {
    nix::unistd::chdir(new_root)
        .map_err(RuntimeError::sys(format!("chdir {}", new_root.display())))?;
    nix::unistd::pivot_root(".", ".").map_err(RuntimeError::sys("pivot_root"))?;
    nix::mount::umount2(".", MntFlags::MNT_DETACH)
        .map_err(RuntimeError::sys("unmount the old root"))?;
    nix::unistd::chdir("/").map_err(RuntimeError::sys("chdir /"))?;
    Ok(())
}

/// chdir into the working directory (created if missing) and make sure the
/// result really is inside the container (CVE-2024-21626: a leaked host
/// directory fd as cwd would make getcwd fail or point outside).
pub fn enter_workdir(cwd: &str) -> Result<()> {
    if std::fs::metadata(cwd).is_err() {
        std::fs::create_dir_all(cwd).map_err(RuntimeError::io(
            "cannot create the working directory",
            Path::new(cwd),
        ))?;
    }
    nix::unistd::chdir(cwd).map_err(RuntimeError::sys(format!(
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
