//! /dev: a fresh tmpfs with only the default device nodes (null, zero, full,
//! random, urandom, tty), the usual links (ptmx → pts/ptmx, fd, stdin,
//! stdout, stderr), a private devpts instance, /dev/shm and /dev/mqueue.
//! The tmpfs is new and empty, so plain paths below it are safe.

use super::mounts::mount;
use super::resolve::{ensure, Kind};
use crate::runtime::error::{Result, RuntimeError};
use crate::sys::fs::{fd_path, open_in_root};
use crate::sys::syscall::Syscall;
use nix::mount::MsFlags;
use nix::sys::stat::Mode;
use std::os::fd::BorrowedFd;
use std::path::Path;

/// (name, major, minor)
pub const DEFAULT_NODES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

const LINKS: &[(&str, &str)] = &[
    ("ptmx", "pts/ptmx"),
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
];

pub fn mount_dev(sys: &dyn Syscall, root: BorrowedFd<'_>) -> Result<()> {
    let target = ensure(root, "/dev", Kind::Dir)?;
    mount(
        sys,
        "tmpfs",
        &fd_path(&target),
        Some("tmpfs"),
        MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
        Some("mode=755,size=65536k"),
        "/dev",
    )?;
    let dev_fd = open_in_root(root, "/dev", libc::O_PATH | libc::O_DIRECTORY).map_err(|e| {
        RuntimeError::Sys {
            what: "open /dev".into(),
            source: e,
        }
    })?;
    let dev = fd_path(&dev_fd);
    for (name, major, minor) in DEFAULT_NODES {
        let p = format!("{dev}/{name}");
        sys.mknod_char(Path::new(&p), 0o666, *major, *minor)
            .map_err(RuntimeError::os(format!("mknod /dev/{name}")))?;
    }
    for (name, to) in LINKS {
        std::os::unix::fs::symlink(to, format!("{dev}/{name}")).map_err(|e| RuntimeError::Sys {
            what: format!("symlink /dev/{name}"),
            source: e,
        })?;
    }
    for (dir, mode) in [("pts", 0o755), ("shm", 0o1777), ("mqueue", 0o755)] {
        let p = format!("{dev}/{dir}");
        nix::unistd::mkdir(p.as_str(), Mode::from_bits_truncate(mode))
            .map_err(RuntimeError::sys(format!("mkdir /dev/{dir}")))?;
    }
    let nse = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC;
    mount(
        sys,
        "devpts",
        &format!("{dev}/pts"),
        Some("devpts"),
        nse,
        Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        "/dev/pts",
    )?;
    mount(
        sys,
        "shm",
        &format!("{dev}/shm"),
        Some("tmpfs"),
        nse | MsFlags::MS_NODEV,
        Some("mode=1777,size=65536k"),
        "/dev/shm",
    )?;
    mount(
        sys,
        "mqueue",
        &format!("{dev}/mqueue"),
        Some("mqueue"),
        nse | MsFlags::MS_NODEV,
        None,
        "/dev/mqueue",
    )?;
    Ok(())
}
