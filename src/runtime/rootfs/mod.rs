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
use crate::sys::syscall::Syscall;
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
pub fn build(
    sys: &dyn Syscall,
    spec: &ContainerSpec,
    plan: &RootfsPlan,
    cgroups: Option<&CgroupMount>,
) -> Result<()> {
    mounts::make_root_rslave(sys)?;
    let target = plan.mountpoint();
    overlay::mount(
        sys,
        &plan.layers,
        &plan.upper(),
        &plan.work(),
        &target,
        plan.volatile,
    )?;
    let root = open_dir(&target)?;
    let root = root.as_fd();
    mounts::mount_proc(sys, root)?;
    devices::mount_dev(sys, root)?;
    mounts::mount_sys(sys, root, cgroups)?;
    etc_files::bind(sys, root, &plan.container_dir, spec)?;
    mounts::bind_volumes(sys, root, &spec.mounts)?;
    mounts::mount_tmpfs(sys, root, &spec.tmpfs)?;
    if spec.notify_socket {
        mounts::bind_notify_dir(sys, root, &plan.container_dir)?;
    }
    pivot::pivot(sys, &target)?;
    masked::apply(sys)
}

/// After the working directory exists: `--read-only` makes `/` read-only.
pub fn finish(sys: &dyn Syscall, spec: &ContainerSpec) -> Result<()> {
    if spec.readonly_rootfs {
        mounts::make_readonly(sys, "/", false)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::spec::TmpfsMount;
    use crate::sys::syscall::Recorder;

    /// The whole rootfs set-up against a recording `Syscall`: no root, no
    /// mount made; the directories it resolves and creates are real.
    #[test]
    fn set_up_steps_come_in_order() {
        let tmp = tempfile::tempdir().unwrap();
        let layer = tmp.path().join("layers/l1");
        let dir = tmp.path().join("c");
        for d in [
            &layer,
            &dir.join("upper"),
            &dir.join("work"),
            &dir.join("rootfs"),
        ] {
            std::fs::create_dir_all(d).unwrap();
        }
        for f in etc_files::FILES {
            std::fs::write(dir.join(f), "x\n").unwrap();
        }
        let plan = RootfsPlan {
            layers: vec![layer],
            container_dir: dir.clone(),
            volatile: false,
        };
        let spec = ContainerSpec {
            tmpfs: vec![TmpfsMount {
                target: "/run".into(),
                readonly: false,
                noexec: false,
                nosuid: true,
                nodev: true,
                data: String::new(),
            }],
            readonly_rootfs: true,
            ..Default::default()
        };
        let rec = Recorder::default();
        build(&rec, &spec, &plan, None).unwrap();
        finish(&rec, &spec).unwrap();
        let lines = rec.lines();
        // / is a slave first, so nothing below reaches the host.
        assert!(
            lines[0].starts_with("mount - / - MsFlags(MS_REC | MS_SLAVE)"),
            "{lines:#?}"
        );
        let overlay = rec.first("mount overlay ");
        assert!(lines[overlay].contains(&format!("{}", dir.join("rootfs").display())));
        assert!(lines[overlay].contains("lowerdir="));
        let proc = rec.first("mount proc ");
        let dev = rec.first("mount tmpfs /proc/self/fd/");
        let nodes = rec.first("mknod ");
        let sys = rec.first("mount sysfs ");
        let etc = rec.first(&format!("mount {}", dir.join("hosts").display()));
        let tmpfs = rec.last("mount tmpfs /proc/self/fd/");
        let chdir = rec.first(&format!("chdir {}", dir.join("rootfs").display()));
        let pivot = rec.first("pivot_root . .");
        let umount = rec.first("umount .");
        let masked = umount + 2;
        assert!(
            [
                "mount /dev/null /proc/",
                "mount tmpfs /proc/",
                "mount tmpfs /sys/"
            ]
            .iter()
            .any(|p| lines[masked].starts_with(p)),
            "{lines:#?}"
        );
        let readonly_root = rec.first("readonly / recursive=false");
        assert!(overlay < proc && proc < dev && dev < nodes && nodes < sys);
        assert!(sys < etc && etc < tmpfs && tmpfs < chdir, "{lines:#?}");
        // pivot_root into the new root before the old one is detached.
        assert!(chdir < pivot && pivot < umount, "{lines:#?}");
        assert_eq!(lines[umount + 1], "chdir /");
        // Masking needs the container's own /proc: after the pivot.
        assert!(umount < masked && proc < masked);
        assert!(masked < readonly_root);
        // Every mount before the pivot targets a resolved descriptor, never
        // a path inside the image the kernel would walk again.
        for l in &lines[proc..pivot] {
            if let Some(rest) = l.strip_prefix("mount ") {
                let target = rest.split(' ').nth(1).unwrap();
                assert!(target.starts_with("/proc/self/fd/"), "{l}");
            }
        }
        assert_eq!(lines.iter().filter(|l| l.starts_with("mknod ")).count(), 6);
    }
}
