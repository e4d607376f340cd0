//! The mounts inside the new root before pivot_root: /proc, /sys (read-only,
//! with the container's cgroups at /sys/fs/cgroup), `-v` bind mounts and
//! `--tmpfs` mounts. Targets are resolved inside the root (see `resolve`).

use super::resolve::{ensure, Kind};
use crate::runtime::cgroups::CgroupMount;
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::spec::{BindMount, TmpfsMount};
use crate::sys::fs::fd_path;
use crate::sys::syscall::Syscall;
use nix::mount::MsFlags;
use std::os::fd::BorrowedFd;

pub(crate) fn mount(
    sys: &dyn Syscall,
    source: &str,
    target: &str,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
    what: &str,
) -> Result<()> {
    sys.mount(Some(source), target, fstype, flags, data)
        .map_err(RuntimeError::os(format!("mount {what}")))
}

/// Nothing mounted from now on propagates back to the host (and host
/// unmounts still reach us): `/` becomes a recursive slave.
pub fn make_root_rslave(sys: &dyn Syscall) -> Result<()> {
    sys.mount(None, "/", None, MsFlags::MS_REC | MsFlags::MS_SLAVE, None)
        .map_err(RuntimeError::os("make / rslave"))
}

/// Make the mount at `target` (and every mount below it) read-only.
pub fn make_readonly(sys: &dyn Syscall, target: &str, recursive: bool) -> Result<()> {
    match sys.mount_setattr_rdonly(target, recursive) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => {
            // Before Linux 5.12: a bind remount (not recursive).
            let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
            sys.mount(None, target, None, flags, None)
                .map_err(RuntimeError::os(format!("remount {target} read-only")))
        }
        Err(e) => Err(RuntimeError::Sys {
            what: format!("make {target} read-only"),
            source: e,
        }),
    }
}

const NOSUID_NODEV_NOEXEC: MsFlags = MsFlags::MS_NOSUID
    .union(MsFlags::MS_NODEV)
    .union(MsFlags::MS_NOEXEC);

pub fn mount_proc(sys: &dyn Syscall, root: BorrowedFd<'_>) -> Result<()> {
    let target = ensure(root, "/proc", Kind::Dir)?;
    mount(
        sys,
        "proc",
        &fd_path(&target),
        Some("proc"),
        NOSUID_NODEV_NOEXEC,
        None,
        "/proc",
    )
}

/// sysfs read-only, and the container's cgroups under /sys/fs/cgroup.
pub fn mount_sys(
    sys: &dyn Syscall,
    root: BorrowedFd<'_>,
    cgroups: Option<&CgroupMount>,
) -> Result<()> {
    let target = ensure(root, "/sys", Kind::Dir)?;
    mount(
        sys,
        "sysfs",
        &fd_path(&target),
        Some("sysfs"),
        NOSUID_NODEV_NOEXEC | MsFlags::MS_RDONLY,
        None,
        "/sys",
    )?;
    let Some(cg) = cgroups else { return Ok(()) };
    // Re-open: the descriptor above is the directory under the new mount.
    let sysfs = crate::sys::fs::open_in_root(root, "/sys", libc::O_PATH | libc::O_DIRECTORY)
        .map_err(|e| RuntimeError::Sys {
            what: "open /sys".into(),
            source: e,
        })?;
    let cgroot = format!("{}/fs/cgroup", fd_path(&sysfs));
    let ro = NOSUID_NODEV_NOEXEC | MsFlags::MS_RDONLY;
    match cg {
        CgroupMount::Unified => mount(
            sys,
            "cgroup2",
            &cgroot,
            Some("cgroup2"),
            ro,
            None,
            "/sys/fs/cgroup",
        ),
        CgroupMount::Hierarchies(list) => {
            mount(
                sys,
                "tmpfs",
                &cgroot,
                Some("tmpfs"),
                NOSUID_NODEV_NOEXEC,
                Some("mode=755"),
                "/sys/fs/cgroup",
            )?;
            for (name, options) in list {
                let dir = format!("{cgroot}/{name}");
                std::fs::create_dir(&dir).map_err(RuntimeError::io(
                    "cannot create",
                    std::path::Path::new(&dir),
                ))?;
                mount(
                    sys,
                    "cgroup",
                    &dir,
                    Some("cgroup"),
                    ro,
                    Some(options),
                    &format!("/sys/fs/cgroup/{name}"),
                )?;
            }
            make_readonly(sys, &cgroot, false)
        }
    }
}

/// `-v SRC:DST[:ro]`: recursive bind, read-only (recursively) if asked.
pub fn bind_volumes(sys: &dyn Syscall, root: BorrowedFd<'_>, volumes: &[BindMount]) -> Result<()> {
    for v in volumes {
        let meta = std::fs::metadata(&v.source)
            .map_err(RuntimeError::io("bind mount source", &v.source))?;
        let kind = if meta.is_dir() { Kind::Dir } else { Kind::File };
        let target = ensure(root, &v.target, kind)?;
        let src = v.source.to_string_lossy();
        mount(
            sys,
            &src,
            &fd_path(&target),
            None,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None,
            &format!("{src} on {}", v.target),
        )?;
        if v.readonly {
            let mounted =
                crate::sys::fs::open_in_root(root, &v.target, libc::O_PATH).map_err(|e| {
                    RuntimeError::Sys {
                        what: format!("open {}", v.target),
                        source: e,
                    }
                })?;
            make_readonly(sys, &fd_path(&mounted), true)?;
        }
    }
    Ok(())
}

/// `--sdnotify container`: `containers/<id>/notify/` read-only at
/// /run/notify (after `-v` and `--tmpfs`, so neither hides it). Sending a
/// datagram to the socket in it needs no write access to the mount.
pub fn bind_notify_dir(
    sys: &dyn Syscall,
    root: BorrowedFd<'_>,
    container_dir: &std::path::Path,
) -> Result<()> {
    use crate::runtime::spec::{NOTIFY_DIR, NOTIFY_HOST_DIR};
    let source = container_dir.join(NOTIFY_HOST_DIR);
    let target = ensure(root, NOTIFY_DIR, Kind::Dir)?;
    let src = source.to_string_lossy();
    mount(
        sys,
        &src,
        &fd_path(&target),
        None,
        MsFlags::MS_BIND,
        None,
        NOTIFY_DIR,
    )?;
    let mounted = ensure(root, NOTIFY_DIR, Kind::Dir)?;
    make_readonly(sys, &fd_path(&mounted), false)
}

/// `--tmpfs PATH[:opts]`.
pub fn mount_tmpfs(sys: &dyn Syscall, root: BorrowedFd<'_>, list: &[TmpfsMount]) -> Result<()> {
    for t in list {
        let target = ensure(root, &t.target, Kind::Dir)?;
        let mut flags = MsFlags::empty();
        flags.set(MsFlags::MS_RDONLY, t.readonly);
        flags.set(MsFlags::MS_NOEXEC, t.noexec);
        flags.set(MsFlags::MS_NOSUID, t.nosuid);
        flags.set(MsFlags::MS_NODEV, t.nodev);
        let data = (!t.data.is_empty()).then_some(t.data.as_str());
        mount(
            sys,
            "tmpfs",
            &fd_path(&target),
            Some("tmpfs"),
            flags,
            data,
            &format!("tmpfs on {}", t.target),
        )?;
    }
    Ok(())
}

/// A bind mount of a host file over a file inside the root.
pub fn bind_file(
    sys: &dyn Syscall,
    root: BorrowedFd<'_>,
    source: &std::path::Path,
    target: &str,
) -> Result<()> {
    let t = ensure(root, target, Kind::File)?;
    mount(
        sys,
        &source.to_string_lossy(),
        &fd_path(&t),
        None,
        MsFlags::MS_BIND,
        None,
        target,
    )
}
