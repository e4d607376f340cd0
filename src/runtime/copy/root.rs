//! The container's `/` as a directory fd, the base of every path lookup.
//!
//! A running container is reached through `/proc/<pid>/root`: its own mount
//! namespace, volumes included. A stopped one has no mounted rootfs, so its
//! overlay (image layers + its upper directory) and its volumes are mounted
//! at its `rootfs/` mount point inside a mount namespace private to this process:
//! nothing is visible to the host, and the mount goes away with the process.

use super::{CopyError, Result};
use crate::runtime::rootfs::mounts::bind_volumes;
use crate::runtime::rootfs::{overlay, RootfsPlan};
use crate::runtime::spec::BindMount;
use crate::sys::fs::open_in_root;
use crate::sys::syscall::Linux;
use nix::mount::MsFlags;
use nix::sys::statfs::{fstatfs, FsType};
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

pub struct ContainerRoot {
    fd: OwnedFd,
}

impl ContainerRoot {
    /// The root of the running container whose init is `pid`.
    pub fn running(pid: i32) -> Result<ContainerRoot> {
        let p = format!("/proc/{pid}/root");
        let f = std::fs::File::open(&p)
            .map_err(CopyError::io("cannot open the container's root", &p))?;
        Ok(ContainerRoot { fd: f.into() })
    }

    /// Mount the stopped container's overlay privately and open it. Call
    /// before any thread exists; the process's mount namespace changes.
    pub fn stopped(plan: &RootfsPlan, volumes: &[BindMount]) -> Result<ContainerRoot> {
        nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS).map_err(CopyError::nix(
            "cannot make a private mount namespace",
            "for the copy",
        ))?;
        nix::mount::mount(
            None::<&str>,
            "/",
            None::<&str>,
            MsFlags::MS_REC | MsFlags::MS_PRIVATE,
            None::<&str>,
        )
        .map_err(CopyError::nix("cannot make mounts private", "/"))?;
        let target = plan.mountpoint();
        std::fs::create_dir_all(&target)
            .map_err(CopyError::io("cannot create", target.display().to_string()))?;
        overlay::mount(
            &Linux,
            &plan.layers,
            &plan.upper(),
            &plan.work(),
            &target,
            false,
        )
        .map_err(|e| CopyError::Invalid(format!("cannot mount the container's filesystem: {e}")))?;
        let f = std::fs::File::open(&target)
            .map_err(CopyError::io("cannot open", target.display().to_string()))?;
        // Its volumes too, as when it runs: a copy into /data lands in the
        // host directory mounted there.
        bind_volumes(&Linux, f.as_fd(), volumes).map_err(|e| {
            CopyError::Invalid(format!("cannot mount the container's volumes: {e}"))
        })?;
        Ok(ContainerRoot { fd: f.into() })
    }

    /// Open `path` resolved inside the root (symlinks and `..` cannot leave it).
    pub fn open(&self, path: &Path, flags: i32) -> std::io::Result<OwnedFd> {
        open_in_root(self.fd.as_fd(), &path.to_string_lossy(), flags)
    }
}

/// The kernel filesystems a copy never reads from or writes to: what lives
/// there is the host kernel's, not the container's files.
pub fn kernel_fs(fd: impl AsFd) -> Option<&'static str> {
    let t = fstatfs(fd).ok()?.filesystem_type();
    const KERNEL: [(i64, &str); 13] = [
        (libc::PROC_SUPER_MAGIC, "proc"),
        (libc::SYSFS_MAGIC, "sysfs"),
        (libc::CGROUP_SUPER_MAGIC, "cgroup"),
        (libc::CGROUP2_SUPER_MAGIC, "cgroup2"),
        (libc::DEVPTS_SUPER_MAGIC, "devpts"),
        (libc::SECURITYFS_MAGIC, "securityfs"),
        (libc::DEBUGFS_MAGIC, "debugfs"),
        (libc::TRACEFS_MAGIC, "tracefs"),
        (libc::BPF_FS_MAGIC, "bpf"),
        (0x4249_4e4d, "binfmt_misc"),
        (0x6165_676c, "pstore"),
        (0xde5e_81e4, "efivarfs"),
        (0x1980_0202, "mqueue"),
    ];
    KERNEL
        .iter()
        .find(|(m, _)| FsType(*m as _) == t)
        .map(|(_, n)| *n)
}
