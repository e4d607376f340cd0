//! docker's masked paths (hidden: /dev/null over files, a read-only empty
//! tmpfs over directories) and read-only paths, applied after pivot_root,
//! when /proc and /sys are the container's own.

use super::mounts::{make_readonly, mount};
use crate::runtime::error::Result;
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

pub fn apply() -> Result<()> {
    for p in MASKED {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            continue;
        };
        if meta.is_dir() {
            mount(
                "tmpfs",
                p,
                Some("tmpfs"),
                MsFlags::MS_RDONLY,
                Some("size=0"),
                p,
            )?;
        } else {
            mount("/dev/null", p, None, MsFlags::MS_BIND, None, p)?;
        }
    }
    for p in READONLY {
        if std::fs::symlink_metadata(p).is_err() {
            continue;
        }
        mount(p, p, None, MsFlags::MS_BIND | MsFlags::MS_REC, None, p)?;
        make_readonly(p, true)?;
    }
    Ok(())
}
