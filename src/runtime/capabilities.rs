//! Docker's default capability set: the 14 capabilities below in the
//! bounding, permitted and effective sets; inheritable and ambient empty.
//! (oci-spec's `Spec::default()` is runc's set; skiff builds docker's here.)
//!
//! Only the bounding set survives into the container's program in the end:
//! at execve a root process gets permitted = effective = bounding, a non-root
//! one gets nothing, exactly as under docker.

use super::error::{Result, RuntimeError};
use crate::sys::syscall::Syscall;

pub const CAP_CHOWN: u32 = 0;
pub const CAP_DAC_OVERRIDE: u32 = 1;
pub const CAP_FOWNER: u32 = 3;
pub const CAP_FSETID: u32 = 4;
pub const CAP_KILL: u32 = 5;
pub const CAP_SETGID: u32 = 6;
pub const CAP_SETUID: u32 = 7;
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_NET_BIND_SERVICE: u32 = 10;
pub const CAP_NET_RAW: u32 = 13;
pub const CAP_SYS_CHROOT: u32 = 18;
pub const CAP_MKNOD: u32 = 27;
pub const CAP_AUDIT_WRITE: u32 = 29;
pub const CAP_SETFCAP: u32 = 31;

pub const DOCKER_DEFAULT: [u32; 14] = [
    CAP_CHOWN,
    CAP_DAC_OVERRIDE,
    CAP_FSETID,
    CAP_FOWNER,
    CAP_MKNOD,
    CAP_NET_RAW,
    CAP_SETGID,
    CAP_SETUID,
    CAP_SETFCAP,
    CAP_SETPCAP,
    CAP_NET_BIND_SERVICE,
    CAP_SYS_CHROOT,
    CAP_KILL,
    CAP_AUDIT_WRITE,
];

/// The default set as a bit mask (0x00000000a80425fb).
pub const fn default_mask() -> u64 {
    let mut m = 0u64;
    let mut i = 0;
    while i < DOCKER_DEFAULT.len() {
        m |= 1 << DOCKER_DEFAULT[i];
        i += 1;
    }
    m
}

/// Drop every capability outside the default set from the bounding set.
/// Needs CAP_SETPCAP, so it runs before the switch to the container's user.
pub fn limit_bounding_set(sys: &dyn Syscall) -> Result<()> {
    let keep = default_mask();
    for cap in 0..64u32 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        if let Err(err) = sys.cap_bounding_drop(cap) {
            if err.raw_os_error() == Some(libc::EINVAL) {
                break; // past the last capability this kernel knows
            }
            return Err(RuntimeError::Sys {
                what: format!("drop capability {cap} from the bounding set"),
                source: err,
            });
        }
    }
    let _ = sys.cap_ambient_clear();
    Ok(())
}

/// Permitted and effective = default set (within what the process still
/// has: nothing for a non-root user), inheritable empty.
pub fn apply_process_sets(sys: &dyn Syscall) -> Result<()> {
    let now = sys.caps_get().map_err(RuntimeError::os("capget"))?;
    let permitted = now.permitted & default_mask();
    sys.caps_set(crate::sys::caps::Sets {
        effective: permitted,
        permitted,
        inheritable: 0,
    })
    .map_err(RuntimeError::os("capset"))
}

#[cfg(test)]
mod tests {
    #[test]
    fn docker_mask() {
        assert_eq!(super::default_mask(), 0xa80425fb);
    }
}
