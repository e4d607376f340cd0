//! docker's masked paths (hidden: /dev/null over files, a read-only empty
//! tmpfs over directories) and read-only paths, applied after pivot_root,
//! when /proc and /sys are the container's own.

use super::mounts::{make_readonly, mount};
use crate::runtime::error::Result;
use crate::sys::syscall::Syscall;
use nix::mount::MsFlags;

pub const MASKED: &[&str] = &[
    "/proc/asound",
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

pub const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// docker's lists.
pub fn apply(sys: &dyn Syscall) -> Result<()> {
    mask_and_protect(sys, MASKED, READONLY)
}

/// After pivot_root: hide `masked` (a read-only empty tmpfs over a
/// directory, /dev/null over anything else) and make `readonly` read-only.
/// Paths that do not exist are skipped. Also what an OCI bundle's
/// `maskedPaths` and `readonlyPaths` get.
pub fn mask_and_protect<S: AsRef<str>>(
    sys: &dyn Syscall,
    masked: &[S],
    readonly: &[S],
) -> Result<()> {
    for p in masked.iter().map(AsRef::as_ref) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            continue;
        };
        if meta.is_dir() {
            mount(
                sys,
                "tmpfs",
                p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
                p,
            )?;
        } else {
            mount(sys, "/dev/null", p, None, MsFlags::MS_BIND, None, p)?;
        }
    }
    for p in readonly.iter().map(AsRef::as_ref) {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        mount(sys, p, p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, p)?;
        make_readonly(sys, p, true)?;
    }
    Ok(())
}
