//! Extended attributes, never following a symlink: listed and read for a
//! layer diff, written for overlayfs whiteouts (`trusted.overlay.opaque`)
//! and PAX `SCHILY.xattr.*` records.

use super::cvt;
use super::fs::cstr;
use std::ffi::{CStr, CString};
use std::io;
use std::os::fd::RawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

fn unsupported(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::ENOTSUP)
}

/// Call `f(buf)` (a size query when `buf` is empty) until the value fits.
fn sized(mut f: impl FnMut(&mut [u8]) -> isize) -> io::Result<Vec<u8>> {
    loop {
        let n = f(&mut []);
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut buf = vec![0u8; n as usize];
        let m = f(&mut buf);
        if m < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::ERANGE) {
                continue; // grew in between
            }
            return Err(e);
        }
        buf.truncate(m as usize);
        return Ok(buf);
    }
}

/// llistxattr(2): the names on `path`; none where xattrs are unsupported.
pub fn list(path: &Path) -> io::Result<Vec<Vec<u8>>> {
    let c = cpath(path)?;
    let raw = sized(|buf| {
        // SAFETY: buf pointer and length agree (an empty buffer asks the size).
        unsafe { libc::llistxattr(c.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    });
    match raw {
        Ok(raw) => Ok(raw
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(<[u8]>::to_vec)
            .collect()),
        Err(e) if unsupported(&e) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// lgetxattr(2): the value of `name` on `path`, `None` if it has none.
pub fn get(path: &Path, name: &[u8]) -> io::Result<Option<Vec<u8>>> {
    let c = cpath(path)?;
    let n = CString::new(name)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "xattr name contains NUL"))?;
    let v = sized(|buf| {
        // SAFETY: buf pointer and length agree.
        unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) }
    });
    match v {
        Ok(v) => Ok(Some(v)),
        Err(e) if e.raw_os_error() == Some(libc::ENODATA) || unsupported(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// lsetxattr(2) of `name` on `path`.
pub fn set(path: &Path, name: &str, value: &[u8]) -> io::Result<()> {
    let c = cpath(path)?;
    let n = cstr(name.as_bytes())?;
    // SAFETY: NUL-terminated path and name; value pointer and length agree.
    cvt(unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// fsetxattr(2) on an open file.
pub fn fset(fd: RawFd, name: &CStr, value: &[u8]) -> io::Result<()> {
    // SAFETY: NUL-terminated name; value pointer and length agree.
    cvt(unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
        .map(drop)
}

/// Set an xattr on `name` in `dirfd` without following it: through
/// `/proc/self/fd/<dirfd>/<name>`, as there is no `lsetxattrat()`.
pub fn set_at(dirfd: RawFd, name: &CStr, key: &CStr, value: &[u8]) -> io::Result<()> {
    let mut path = format!("/proc/self/fd/{dirfd}/").into_bytes();
    path.extend_from_slice(name.to_bytes());
    let path = cstr(&path)?;
    // SAFETY: NUL-terminated path and name; value pointer and length agree.
    cvt(unsafe {
        libc::lsetxattr(
            path.as_ptr(),
            key.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    })
    .map(drop)
}

/// overlayfs's mark of an opaque directory (`trusted.overlay.opaque=y`):
/// lower layers' contents of it are hidden.
pub const OVERLAY_OPAQUE: &CStr = c"trusted.overlay.opaque";

/// Whether the directory at `path` is marked opaque for overlayfs.
pub fn is_overlay_opaque(path: &Path) -> bool {
    matches!(get(path, OVERLAY_OPAQUE.to_bytes()), Ok(Some(v)) if v == b"y")
}

/// Whether `m` is an overlayfs whiteout: a character device 0:0.
pub fn is_overlay_whiteout(m: &std::fs::Metadata) -> bool {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    m.file_type().is_char_device() && m.rdev() == 0
}
