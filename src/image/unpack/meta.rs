//! One entry's ownership, mode, times and xattrs, from its tar header and
//! PAX records.

use super::error::{refused, UnpackError};
use std::ffi::CString;
use std::io::Read;
use tar::Entry;

const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// xattrs a layer may not set: overlayfs metadata (redirects, metacopy, opaque
/// markers are only made from whiteout entries).
const FORBIDDEN_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// Ownership, mode, times and xattrs of one entry.
pub(super) struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: libc::timespec,
    pub xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    pub fn read<R: Read>(entry: &mut Entry<'_, R>, name: &str) -> Result<Meta, UnpackError> {
        let corrupt = |source| UnpackError::CorruptEntry {
            entry: name.to_string(),
            source,
        };
        let h = entry.header();
        let mode = h.mode().map_err(corrupt)? & 0o7777;
        let id = |v: u64, what: &str| {
            u32::try_from(v)
                .ok()
                .filter(|&v| v != u32::MAX)
                .ok_or_else(|| refused(name, format!("{what} {v} is out of range")))
        };
        let uid = id(h.uid().map_err(corrupt)?, "uid")?;
        let gid = id(h.gid().map_err(corrupt)?, "gid")?;
        let secs = i64::try_from(h.mtime().map_err(corrupt)?).unwrap_or(i64::MAX);
        let mut mtime = libc::timespec {
            tv_sec: secs as libc::time_t,
            tv_nsec: 0,
        };
        let mut xattrs = Vec::new();
        if let Some(exts) = entry.pax_extensions().map_err(corrupt)? {
            for ext in exts {
                let ext = ext.map_err(corrupt)?;
                let key = ext.key_bytes();
                if key == b"mtime" {
                    if let Some(t) = parse_pax_time(ext.value_bytes()) {
                        mtime = t;
                    }
                } else if key == b"size" {
                    // The tar crate silently falls back to the header's size
                    // when the PAX one does not parse; GNU tar refuses.
                    let v = ext.value_bytes();
                    let ok = !v.is_empty()
                        && v.iter().all(u8::is_ascii_digit)
                        && std::str::from_utf8(v)
                            .ok()
                            .and_then(|v| v.parse::<u64>().ok())
                            .is_some();
                    if !ok {
                        return Err(refused(
                            name,
                            format!("PAX size {:?} is not a number", String::from_utf8_lossy(v)),
                        ));
                    }
                } else if let Some(xname) = key.strip_prefix(PAX_XATTR_PREFIX) {
                    if xname.starts_with(FORBIDDEN_XATTR_PREFIX) {
                        continue;
                    }
                    let cname = CString::new(xname)
                        .map_err(|_| refused(name, "xattr name contains a NUL byte"))?;
                    xattrs.push((cname, ext.value_bytes().to_vec()));
                }
            }
        }
        Ok(Meta {
            mode,
            uid,
            gid,
            mtime,
            xattrs,
        })
    }

    pub fn times(&self) -> [libc::timespec; 2] {
        [self.mtime, self.mtime]
    }
}

/// A PAX time: `[-]secs[.frac]`.
pub(super) fn parse_pax_time(v: &[u8]) -> Option<libc::timespec> {
    let s = std::str::from_utf8(v).ok()?;
    let (neg, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (int, frac) = s.split_once('.').unwrap_or((s, ""));
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let secs: i64 = int.parse().ok()?;
    let mut nsec: i64 = 0;
    for (i, b) in frac.bytes().take(9).enumerate() {
        nsec += i64::from(b - b'0') * 10i64.pow(8 - i as u32);
    }
    let (secs, nsec) = match (neg, nsec) {
        (false, n) => (secs, n),
        (true, 0) => (-secs, 0),
        (true, n) => (-secs - 1, 1_000_000_000 - n),
    };
    Some(libc::timespec {
        tv_sec: secs as libc::time_t,
        tv_nsec: nsec as libc::c_long,
    })
}
