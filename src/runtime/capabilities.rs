//! Docker's default capability set: the 14 capabilities below in the
//! bounding, permitted and effective sets; inheritable and ambient empty.
//! (oci-spec's `Spec::default()` is runc's set; skiff builds docker's here.)
//!
//! Only the bounding set survives into the container's program in the end:
//! at execve a root process gets permitted = effective = bounding, a non-root
//! one gets nothing, exactly as under docker.

use super::error::{Result, RuntimeError};

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
pub fn limit_bounding_set() -> Result<()> {
    let keep = default_mask();
    for cap in 0..64u32 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: prctl with integer arguments.
        if unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) } != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EINVAL) {
                break; // past the last capability this kernel knows
            }
            return Err(RuntimeError::Sys {
                what: format!("drop capability {cap} from the bounding set"),
                source: err,
            });
        }
    }
    // SAFETY: prctl with integer arguments.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    };
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_V3: u32 = 0x2008_0522;

/// Permitted and effective = default set (within what the process still
/// has: nothing for a non-root user), inheritable empty.
pub fn apply_process_sets() -> Result<()> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and a two-element data array, as capget(2) wants for v3.
    if unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    } != 0
    {
        return Err(RuntimeError::last_os("capget"));
    }
    let permitted = (data[0].permitted as u64 | (data[1].permitted as u64) << 32) & default_mask();
    let set = [
        CapData {
            effective: permitted as u32,
            permitted: permitted as u32,
            inheritable: 0,
        },
        CapData {
            effective: (permitted >> 32) as u32,
            permitted: (permitted >> 32) as u32,
            inheritable: 0,
        },
    ];
    // SAFETY: as above.
    if unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, set.as_ptr()) } != 0 {
        return Err(RuntimeError::last_os("capset"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn docker_mask() {
        assert_eq!(super::default_mask(), 0xa80425fb);
    }
}
