//! Capability sets: the bounding set (prctl), ambient clear, and the
//! permitted/effective/inheritable sets (capget/capset, version 3).

use super::cvt;
use std::io;

/// PR_CAPBSET_DROP of capability number `cap`. EINVAL past the last one
/// the kernel knows.
pub fn bounding_drop(cap: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) }).map(drop)
}

/// PR_CAP_AMBIENT_CLEAR_ALL.
pub fn ambient_clear() -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0,
            0,
            0,
        )
    })
    .map(drop)
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

/// The three 64-bit sets of this thread.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sets {
    pub effective: u64,
    pub permitted: u64,
    pub inheritable: u64,
}

/// capget(2) of this thread.
pub fn get() -> io::Result<Sets> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a header and a two-element data array, as capget(2) wants for v3.
    cvt(unsafe {
        libc::syscall(
            libc::SYS_capget,
            &mut hdr as *mut CapHeader,
            data.as_mut_ptr(),
        )
    })?;
    let join = |f: fn(&CapData) -> u32| f(&data[0]) as u64 | (f(&data[1]) as u64) << 32;
    Ok(Sets {
        effective: join(|d| d.effective),
        permitted: join(|d| d.permitted),
        inheritable: join(|d| d.inheritable),
    })
}

/// capset(2) of this thread.
pub fn set(s: Sets) -> io::Result<()> {
    let mut hdr = CapHeader {
        version: CAP_V3,
        pid: 0,
    };
    let data = [
        CapData {
            effective: s.effective as u32,
            permitted: s.permitted as u32,
            inheritable: s.inheritable as u32,
        },
        CapData {
            effective: (s.effective >> 32) as u32,
            permitted: (s.permitted >> 32) as u32,
            inheritable: (s.inheritable >> 32) as u32,
        },
    ];
    // SAFETY: as for `get`; the kernel only reads `data`.
    cvt(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })
        .map(drop)
}
