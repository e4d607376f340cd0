//! Files by directory descriptor: the `*at()` calls an in-root walk is made
//! of (never a path the kernel re-resolves from `/`), and openat2 with
//! RESOLVE_IN_ROOT for paths chosen by an image.

use super::cvt;
use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// struct open_how of openat2(2).
#[repr(C)]
struct OpenHow {
    flags: u64,
    mode: u64,
    resolve: u64,
}

/// A name for the `*at()` calls; an error for a name with a NUL byte.
pub fn cstr(b: &[u8]) -> io::Result<CString> {
    CString::new(b)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
}

/// Whether `st` describes a file of type `t` (`libc::S_IFDIR`, ...).
pub fn is_type(st: &libc::stat, t: libc::mode_t) -> bool {
    st.st_mode & libc::S_IFMT == t
}

/// A descriptor the kernel just returned, now owned by the caller.
fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: only called with a descriptor a successful open/openat/fcntl
    // just returned: nothing else owns it.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

/// openat2(2) with RESOLVE_IN_ROOT|RESOLVE_NO_MAGICLINKS: `path` is resolved
/// as if `root` were `/`, so symlinks and `..` in the image cannot escape.
pub fn open_in_root(root: BorrowedFd<'_>, path: &str, flags: i32) -> io::Result<OwnedFd> {
    let cpath = CString::new(path).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: 0,
        resolve: libc::RESOLVE_IN_ROOT | libc::RESOLVE_NO_MAGICLINKS,
    };
    // SAFETY: valid pointers for the duration of the call; the size is the
    // struct's.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_openat2,
            root.as_raw_fd(),
            cpath.as_ptr(),
            &how as *const OpenHow,
            std::mem::size_of::<OpenHow>(),
        )
    };
    Ok(owned(cvt(rc)? as RawFd))
}

/// open(2) of a directory, read-only, close-on-exec.
pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
    let c = cstr(path.as_os_str().as_bytes())?;
    // SAFETY: valid NUL-terminated path.
    let fd = cvt(unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    })?;
    Ok(owned(fd))
}

/// openat(2), always close-on-exec.
pub fn openat(
    dirfd: RawFd,
    name: &CStr,
    flags: libc::c_int,
    mode: libc::mode_t,
) -> io::Result<OwnedFd> {
    // SAFETY: NUL-terminated name; a bad dirfd only makes the call fail.
    let fd = cvt(unsafe {
        libc::openat(
            dirfd,
            name.as_ptr(),
            flags | libc::O_CLOEXEC,
            mode as libc::c_uint,
        )
    })?;
    Ok(owned(fd))
}

/// The directory `name` in `dirfd`, refused if it is a symlink.
pub fn open_subdir(dirfd: RawFd, name: &CStr) -> io::Result<OwnedFd> {
    openat(
        dirfd,
        name,
        libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
        0,
    )
}

/// A close-on-exec duplicate of `fd`.
pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
    // SAFETY: F_DUPFD_CLOEXEC with an integer argument; a bad fd fails.
    let fd = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
    Ok(owned(fd))
}

/// fstatat(2) without following a symlink; `None` if `name` is missing.
pub fn lstat_at(dirfd: RawFd, name: &CStr) -> io::Result<Option<libc::stat>> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is a valid out pointer for a stat struct.
    let r = unsafe {
        libc::fstatat(
            dirfd,
            name.as_ptr(),
            st.as_mut_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    if r < 0 {
        let e = io::Error::last_os_error();
        return if e.raw_os_error() == Some(libc::ENOENT) {
            Ok(None)
        } else {
            Err(e)
        };
    }
    // SAFETY: fstatat succeeded and filled st.
    Ok(Some(unsafe { st.assume_init() }))
}

/// fstat(2) of a descriptor number (which may not be open).
pub fn fstat_raw(fd: RawFd) -> io::Result<libc::stat> {
    let mut st = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: st is a valid out pointer; a closed fd only makes it fail.
    cvt(unsafe { libc::fstat(fd, st.as_mut_ptr()) })?;
    // SAFETY: fstat succeeded and filled st.
    Ok(unsafe { st.assume_init() })
}

pub fn mkdirat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
    // SAFETY: NUL-terminated name; a bad dirfd only makes the call fail.
    cvt(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) }).map(drop)
}

pub fn mknodat(dirfd: RawFd, name: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> io::Result<()> {
    // SAFETY: NUL-terminated name; a bad dirfd only makes the call fail.
    cvt(unsafe { libc::mknodat(dirfd, name.as_ptr(), mode, dev) }).map(drop)
}

pub fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated strings; a bad dirfd only makes the call fail.
    cvt(unsafe { libc::symlinkat(target.as_ptr(), dirfd, name.as_ptr()) }).map(drop)
}

/// A hard link; a symlink target is linked itself, never followed.
pub fn linkat(olddir: RawFd, oldname: &CStr, newdir: RawFd, newname: &CStr) -> io::Result<()> {
    // SAFETY: NUL-terminated names; bad fds only make the call fail.
    cvt(unsafe { libc::linkat(olddir, oldname.as_ptr(), newdir, newname.as_ptr(), 0) }).map(drop)
}

pub fn unlinkat(dirfd: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
    // SAFETY: NUL-terminated name; a bad dirfd only makes the call fail.
    cvt(unsafe { libc::unlinkat(dirfd, name.as_ptr(), flags) }).map(drop)
}

pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
}

pub fn fchownat_nofollow(dirfd: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
    // SAFETY: NUL-terminated name; a bad dirfd only makes the call fail.
    cvt(unsafe { libc::fchownat(dirfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
        .map(drop)
}

pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
    // SAFETY: integer arguments only.
    cvt(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(drop)
}

/// chmod by name: only used on a device or fifo just created there.
pub fn fchmodat(dirfd: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
    // SAFETY: NUL-terminated name; a bad dirfd only makes the call fail.
    cvt(unsafe { libc::fchmodat(dirfd, name.as_ptr(), mode as libc::mode_t, 0) }).map(drop)
}

pub fn futimens(fd: RawFd, times: &[libc::timespec; 2]) -> io::Result<()> {
    // SAFETY: times points at two timespecs.
    cvt(unsafe { libc::futimens(fd, times.as_ptr()) }).map(drop)
}

pub fn utimensat_nofollow(
    dirfd: RawFd,
    name: &CStr,
    times: &[libc::timespec; 2],
) -> io::Result<()> {
    // SAFETY: NUL-terminated name and two timespecs.
    cvt(unsafe {
        libc::utimensat(
            dirfd,
            name.as_ptr(),
            times.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    })
    .map(drop)
}

/// Remove the directory `name` in `dirfd` and all it holds, never
/// following a symlink.
pub fn remove_tree_at(dirfd: RawFd, name: &CStr) -> io::Result<()> {
    let fd = open_subdir(dirfd, name)?;
    let raw = fd.as_raw_fd();
    let mut dir = nix::dir::Dir::from_fd(fd).map_err(io::Error::from)?;
    let mut children = Vec::new();
    for ent in dir.iter() {
        let ent = ent.map_err(io::Error::from)?;
        let n = ent.file_name();
        if n.to_bytes() != b"." && n.to_bytes() != b".." {
            children.push(n.to_owned());
        }
    }
    for child in children {
        match lstat_at(raw, &child)? {
            Some(st) if is_type(&st, libc::S_IFDIR) => remove_tree_at(raw, &child)?,
            Some(_) => unlinkat(raw, &child, 0)?,
            None => {}
        }
    }
    drop(dir);
    unlinkat(dirfd, name, libc::AT_REMOVEDIR)
}

/// Create the empty file `name` in `dirfd` (0644, never through a symlink);
/// EEXIST if something is already there.
pub fn create_empty_at(dirfd: RawFd, name: &CStr) -> io::Result<()> {
    openat(
        dirfd,
        name,
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
        0o644,
    )
    .map(drop)
}

/// `/proc/self/fd/N`: a path naming an already-resolved file, used as a
/// mount source or target so the kernel never re-resolves the original path.
pub fn fd_path(fd: &OwnedFd) -> String {
    format!("/proc/self/fd/{}", fd.as_raw_fd())
}

/// FS_TOPDIR_FL (`chattr +T`): ext2/3/4 treat subdirectories of this
/// directory as unrelated tops of hierarchies and spread them over the
/// block groups (Orlov), instead of packing them next to their parent.
const FS_TOPDIR_FL: libc::c_int = 0x0002_0000;

/// Mark `dir` with `chattr +T` unless it is already. Why skiff wants it:
/// containers' directories are made in the store's `tmp/` and removed
/// again, a dozen inodes per `run --rm`; packed in one block group, ext4
/// without a journal skips every inode freed there in the last minutes
/// (`recently_deleted`) on each new allocation, which made a burst of
/// `run --rm` slow down by 2–3 ms a run. Fails with ENOTTY or EOPNOTSUPP
/// on filesystems without the flag; callers ignore that.
pub fn mark_topdir(dir: &Path) -> io::Result<()> {
    let fd = open_dir(dir)?;
    let flags = inode_flags(&fd)?;
    if flags & FS_TOPDIR_FL != 0 {
        return Ok(());
    }
    let flags = flags | FS_TOPDIR_FL;
    // SAFETY: FS_IOC_SETFLAGS reads one int from `flags`.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_SETFLAGS, &flags) }).map(drop)
}

/// Whether `dir` carries FS_TOPDIR_FL (None: the filesystem has no flags).
pub fn is_topdir(dir: &Path) -> Option<bool> {
    let flags = inode_flags(&open_dir(dir).ok()?).ok()?;
    Some(flags & FS_TOPDIR_FL != 0)
}

/// FS_IOC_GETFLAGS: the inode flags `chattr` sets.
fn inode_flags(fd: &OwnedFd) -> io::Result<libc::c_int> {
    let mut flags: libc::c_int = 0;
    // SAFETY: FS_IOC_GETFLAGS writes one int to `flags`, which lives
    // across the call.
    cvt(unsafe { libc::ioctl(fd.as_raw_fd(), libc::FS_IOC_GETFLAGS, &mut flags) })?;
    Ok(flags)
}
