//! The container's root filesystem, in the order the init builds it:
//!
//! 1. `/` becomes rslave ([`mounts::make_root_rslave`]),
//! 2. the overlay of the image layers ([`overlay`]),
//! 3. /proc, /dev ([`devices`]), /sys and cgroups, /etc files
//!    ([`etc_files`]), `-v` and `--tmpfs` ([`mounts`]) — every target
//!    resolved inside the root ([`resolve`]),
//! 4. pivot_root ([`pivot`]), then masked and read-only paths ([`masked`]).

pub mod devices;
pub mod etc_files;
pub mod masked;
pub mod mounts;
pub mod overlay;
pub mod pivot;
pub mod resolve;

use crate::runtime::cgroups::CgroupMount;
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::spec::ContainerSpec;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Where a container's rootfs comes from and goes to.
#[derive(Clone, Debug)]
pub struct RootfsPlan {
    /// Unpacked layer directories, bottom layer first.
    pub layers: Vec<PathBuf>,
    /// `containers/<id>/`: upper, work, rootfs (the mount point) and the /etc files.
    pub container_dir: PathBuf,
    /// Mount the overlay `volatile` (see `overlay::mount`).
    pub volatile: bool,
}

impl RootfsPlan {
    pub fn upper(&self) -> PathBuf {
        self.container_dir.join("upper")
    }
    pub fn work(&self) -> PathBuf {
        self.container_dir.join("work")
    }
    pub fn mountpoint(&self) -> PathBuf {
        self.container_dir.join("rootfs")
    }
}

fn open_dir(p: &Path) -> Result<OwnedFd> {
    let f = std::fs::File::open(p).map_err(RuntimeError::io("cannot open", p))?;
    Ok(f.into())
}

/// Steps 1–4, in the container init (new mount namespace).
pub fn build(spec: &ContainerSpec, plan: &RootfsPlan, cgroups: Option<&CgroupMount>) -> Result<()> {
    mounts::make_root_rslave()?;
    let target = plan.mountpoint();
    overlay::mount(
        &plan.layers,
        &plan.upper(),
        &plan.work(),
        &target,
        plan.volatile,
    )?;
    let root = open_dir(&target)?;
    let root = root.as_fd();
    mounts::mount_proc(root)?;
    devices::mount_dev(root)?;
    mounts::mount_sys(root, cgroups)?;
    etc_files::bind(root, &plan.container_dir, spec)?;
    mounts::bind_volumes(root, &spec.mounts)?;
    mounts::mount_tmpfs(root, &spec.tmpfs)?;
    if spec.notify_socket {
        mounts::bind_notify_dir(root, &plan.container_dir)?;
    }
    pivot::pivot(&target)?;
    masked::apply()
}

/// After the working directory exists: `--read-only` makes `/` read-only.
pub fn finish(spec: &ContainerSpec) -> Result<()> {
    if spec.readonly_rootfs {
        mounts::make_readonly("/", false)?;
    }
    Ok(())
}
