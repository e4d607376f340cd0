//! Applying one tar entry below the layer root: the parent walked to (and
//! cached), whatever was there removed, the entry created without following
//! anything, its metadata set; whiteouts made; directories' modes and times
//! set last.

use super::at;
use super::error::{io_err, refused, UnpackError};
use super::meta::Meta;
use super::walk::{display, normalize, walk, Comps, WalkError};
use super::UnpackStats;
use crate::sys::xattr;
use std::ffi::CStr;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use tar::{Entry, EntryType};

use crate::image::whiteout::{
    META_PREFIX as WHITEOUT_META_PREFIX, OPAQUE as WHITEOUT_OPAQUE, PREFIX as WHITEOUT_PREFIX,
};
const OPAQUE_XATTR: &CStr = xattr::OVERLAY_OPAQUE;

/// A directory whose mode and mtime are set once everything is written.
struct DeferredDir {
    comps: Comps,
    mode: u32,
    mtime: libc::timespec,
}

pub(super) struct Unpacker {
    root: OwnedFd,
    /// The last parent directory walked to, keyed by its components.
    cache: Option<(Comps, OwnedFd)>,
    dirs: Vec<DeferredDir>,
    pub stats: UnpackStats,
    buf: Vec<u8>,
}

impl Unpacker {
    pub fn new(root: OwnedFd) -> Unpacker {
        Unpacker {
            root,
            cache: None,
            dirs: Vec::new(),
            stats: UnpackStats::default(),
            buf: vec![0; 64 * 1024],
        }
    }

    /// The fd of the (created if need be) parent directory `parent`.
    fn parent(&mut self, parent: &[Vec<u8>], entry: &str) -> Result<RawFd, UnpackError> {
        if parent.is_empty() {
            return Ok(self.root.as_raw_fd());
        }
        if let Some((p, fd)) = &self.cache {
            if p.as_slice() == parent {
                return Ok(fd.as_raw_fd());
            }
        }
        let fd = walk(self.root.as_raw_fd(), parent, true)
            .map_err(|e| e.into_unpack(entry, "parent directory"))?;
        let raw = fd.as_raw_fd();
        self.cache = Some((parent.to_vec(), fd));
        Ok(raw)
    }

    /// Remove whatever is at `parent/name` (`dirfd` is `parent`), a directory
    /// tree included. The parent cache is dropped if it lay inside.
    fn remove(
        &mut self,
        dirfd: RawFd,
        parent: &[Vec<u8>],
        name: &CStr,
        st: &libc::stat,
        entry: &str,
    ) -> Result<(), UnpackError> {
        if at::is_type(st, libc::S_IFDIR) {
            // The cache is at most `parent` itself when dirfd is cached, so
            // dropping a cache below `parent/name` never closes `dirfd`.
            let stale = match &self.cache {
                Some((p, _)) => {
                    p.len() > parent.len()
                        && p.starts_with(parent)
                        && p[parent.len()] == name.to_bytes()
                }
                None => false,
            };
            if stale {
                self.cache = None;
            }
            at::remove_tree_at(dirfd, name)
                .map_err(io_err(entry, "cannot remove the existing directory"))
        } else {
            at::unlinkat(dirfd, name, 0).map_err(io_err(entry, "cannot remove the existing file"))
        }
    }

    /// Make room for a new non-directory at `parent/name`.
    fn clear(
        &mut self,
        dirfd: RawFd,
        parent: &[Vec<u8>],
        name: &CStr,
        entry: &str,
    ) -> Result<(), UnpackError> {
        if let Some(st) = at::lstat_at(dirfd, name).map_err(io_err(entry, "cannot stat"))? {
            self.remove(dirfd, parent, name, &st, entry)?;
        }
        Ok(())
    }

    pub fn apply<R: Read>(&mut self, entry: &mut Entry<'_, R>) -> Result<(), UnpackError> {
        let raw_path = entry.path_bytes().into_owned();
        let name = String::from_utf8_lossy(&raw_path).into_owned();
        let kind = entry.header().entry_type();
        if kind == EntryType::XGlobalHeader {
            return Ok(());
        }
        let comps = normalize(&raw_path).map_err(|r| refused(&name, r))?;
        let meta = Meta::read(entry, &name)?;
        self.stats.entries += 1;

        let Some((last, parent)) = comps.split_last() else {
            if kind != EntryType::Directory {
                return Err(refused(&name, "the layer root can only be a directory"));
            }
            let fd = self.root.as_raw_fd();
            self.set_owner_xattrs_fd(fd, &meta, &name)?;
            self.dirs.push(DeferredDir {
                comps,
                mode: meta.mode,
                mtime: meta.mtime,
            });
            return Ok(());
        };
        if last.starts_with(WHITEOUT_PREFIX) {
            return self.whiteout(parent, last, &meta, &name);
        }
        let cname = at::cstr(last).map_err(io_err(&name, "bad file name"))?;
        match kind {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                self.regular(entry, parent, &cname, &meta, &name)
            }
            EntryType::Directory => self.directory(&comps, &cname, &meta, &name),
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                if target.is_empty() {
                    return Err(refused(&name, "symlink without a target"));
                }
                let ctarget = at::cstr(&target).map_err(io_err(&name, "bad symlink target"))?;
                let dirfd = self.parent(parent, &name)?;
                self.clear(dirfd, parent, &cname, &name)?;
                at::symlinkat(&ctarget, dirfd, &cname)
                    .map_err(io_err(&name, "cannot create symlink"))?;
                self.set_meta_at(dirfd, &cname, &meta, false, &name)
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| t.into_owned())
                    .unwrap_or_default();
                self.hardlink(&comps, &cname, &target, &name)
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let h = entry.header();
                let corrupt = |source| UnpackError::CorruptEntry {
                    entry: name.clone(),
                    source,
                };
                let (major, minor) = if kind == EntryType::Fifo {
                    (0, 0)
                } else {
                    (
                        h.device_major().map_err(corrupt)?.unwrap_or(0),
                        h.device_minor().map_err(corrupt)?.unwrap_or(0),
                    )
                };
                let ftype = match kind {
                    EntryType::Char => libc::S_IFCHR,
                    EntryType::Block => libc::S_IFBLK,
                    _ => libc::S_IFIFO,
                };
                let dev = libc::makedev(major, minor);
                let dirfd = self.parent(parent, &name)?;
                self.clear(dirfd, parent, &cname, &name)?;
                at::mknodat(dirfd, &cname, ftype | 0o600, dev)
                    .map_err(io_err(&name, "cannot create device node or fifo"))?;
                self.set_meta_at(dirfd, &cname, &meta, true, &name)
            }
            other => Err(UnpackError::Unsupported {
                entry: name,
                kind: format!(
                    "{:?} ('{}')",
                    other,
                    char::from(other.as_byte()).escape_default()
                ),
            }),
        }
    }

    fn regular<R: Read>(
        &mut self,
        entry: &mut Entry<'_, R>,
        parent: &[Vec<u8>],
        cname: &CStr,
        meta: &Meta,
        name: &str,
    ) -> Result<(), UnpackError> {
        let dirfd = self.parent(parent, name)?;
        self.clear(dirfd, parent, cname, name)?;
        let fd = at::openat(
            dirfd,
            cname,
            libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
            0o600,
        )
        .map_err(io_err(name, "cannot create file"))?;
        let mut file = File::from(fd);
        let expected = entry.size();
        let mut got: u64 = 0;
        loop {
            let n = match entry.read(&mut self.buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(UnpackError::CorruptEntry {
                        entry: name.to_string(),
                        source,
                    })
                }
            };
            file.write_all(&self.buf[..n])
                .map_err(io_err(name, "cannot write file"))?;
            got += n as u64;
        }
        if got != expected {
            return Err(UnpackError::Truncated {
                entry: name.to_string(),
                expected,
                got,
            });
        }
        self.stats.bytes += got;
        let fd = file.as_raw_fd();
        // chown clears setuid bits and file capabilities: chown, then chmod,
        // then xattrs.
        at::fchown(fd, meta.uid, meta.gid).map_err(io_err(name, "cannot chown"))?;
        at::fchmod(fd, meta.mode).map_err(io_err(name, "cannot chmod"))?;
        for (k, v) in &meta.xattrs {
            xattr::fset(fd, k, v).map_err(io_err(name, format!("cannot set xattr {k:?}")))?;
        }
        at::futimens(fd, &meta.times()).map_err(io_err(name, "cannot set times"))
    }

    fn directory(
        &mut self,
        comps: &[Vec<u8>],
        cname: &CStr,
        meta: &Meta,
        name: &str,
    ) -> Result<(), UnpackError> {
        let parent = &comps[..comps.len() - 1];
        let dirfd = self.parent(parent, name)?;
        match at::lstat_at(dirfd, cname).map_err(io_err(name, "cannot stat"))? {
            Some(st) if at::is_type(&st, libc::S_IFDIR) => {}
            existing => {
                if let Some(st) = existing {
                    self.remove(dirfd, parent, cname, &st, name)?;
                }
                at::mkdirat(dirfd, cname, 0o700)
                    .map_err(io_err(name, "cannot create directory"))?;
            }
        }
        let fd = at::open_subdir(dirfd, cname).map_err(io_err(name, "cannot open directory"))?;
        self.set_owner_xattrs_fd(fd.as_raw_fd(), meta, name)?;
        self.dirs.push(DeferredDir {
            comps: comps.to_vec(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    fn set_owner_xattrs_fd(&self, fd: RawFd, meta: &Meta, name: &str) -> Result<(), UnpackError> {
        at::fchown(fd, meta.uid, meta.gid).map_err(io_err(name, "cannot chown"))?;
        for (k, v) in &meta.xattrs {
            xattr::fset(fd, k, v).map_err(io_err(name, format!("cannot set xattr {k:?}")))?;
        }
        Ok(())
    }

    /// Metadata of a just-created symlink, device or fifo, by name in `dirfd`.
    fn set_meta_at(
        &self,
        dirfd: RawFd,
        cname: &CStr,
        meta: &Meta,
        chmod: bool,
        name: &str,
    ) -> Result<(), UnpackError> {
        at::fchownat_nofollow(dirfd, cname, meta.uid, meta.gid)
            .map_err(io_err(name, "cannot chown"))?;
        if chmod {
            at::fchmodat(dirfd, cname, meta.mode).map_err(io_err(name, "cannot chmod"))?;
        }
        for (k, v) in &meta.xattrs {
            xattr::set_at(dirfd, cname, k, v)
                .map_err(io_err(name, format!("cannot set xattr {k:?}")))?;
        }
        at::utimensat_nofollow(dirfd, cname, &meta.times())
            .map_err(io_err(name, "cannot set times"))
    }

    fn hardlink(
        &mut self,
        comps: &[Vec<u8>],
        cname: &CStr,
        target: &[u8],
        name: &str,
    ) -> Result<(), UnpackError> {
        let tcomps =
            normalize(target).map_err(|r| refused(name, format!("hardlink target: {r}")))?;
        let Some((tlast, tparent)) = tcomps.split_last() else {
            return Err(refused(name, "hardlink to the layer root"));
        };
        if tcomps.as_slice() == comps {
            return Ok(());
        }
        let tdir = walk(self.root.as_raw_fd(), tparent, false)
            .map_err(|e| e.into_unpack(name, "hardlink target directory"))?;
        let tname = at::cstr(tlast).map_err(io_err(name, "bad hardlink target"))?;
        let tst = match at::lstat_at(tdir.as_raw_fd(), &tname)
            .map_err(io_err(name, "cannot stat hardlink target"))?
        {
            Some(st) => st,
            None => {
                return Err(refused(
                    name,
                    format!(
                        "hardlink target {:?} does not exist in the layer",
                        display(&tcomps)
                    ),
                ))
            }
        };
        if at::is_type(&tst, libc::S_IFDIR) {
            return Err(refused(
                name,
                format!("hardlink target {:?} is a directory", display(&tcomps)),
            ));
        }
        let parent = &comps[..comps.len() - 1];
        let dirfd = self.parent(parent, name)?;
        if let Some(st) = at::lstat_at(dirfd, cname).map_err(io_err(name, "cannot stat"))? {
            if st.st_dev == tst.st_dev && st.st_ino == tst.st_ino {
                return Ok(());
            }
            self.remove(dirfd, parent, cname, &st, name)?;
        }
        at::linkat(tdir.as_raw_fd(), &tname, dirfd, cname)
            .map_err(io_err(name, "cannot create hardlink"))
    }

    fn whiteout(
        &mut self,
        parent: &[Vec<u8>],
        last: &[u8],
        meta: &Meta,
        name: &str,
    ) -> Result<(), UnpackError> {
        if last == WHITEOUT_OPAQUE {
            let dirfd = self.parent(parent, name)?;
            return xattr::fset(dirfd, OPAQUE_XATTR, b"y")
                .map_err(io_err(name, "cannot mark the directory opaque"));
        }
        if last.starts_with(WHITEOUT_META_PREFIX) {
            // Other aufs metadata (.wh..wh.plnk, .wh..wh.aufs): ignored, as docker does.
            return Ok(());
        }
        let hidden = &last[WHITEOUT_PREFIX.len()..];
        if hidden.is_empty() || hidden == b"." || hidden == b".." {
            return Err(refused(name, "invalid whiteout name"));
        }
        let cname = at::cstr(hidden).map_err(io_err(name, "bad whiteout name"))?;
        let dirfd = self.parent(parent, name)?;
        self.clear(dirfd, parent, &cname, name)?;
        at::mknodat(dirfd, &cname, libc::S_IFCHR, 0)
            .map_err(io_err(name, "cannot create whiteout"))?;
        at::fchownat_nofollow(dirfd, &cname, meta.uid, meta.gid)
            .map_err(io_err(name, "cannot chown whiteout"))
    }

    /// Directory modes and mtimes, now that nothing more is written in them.
    pub fn finish_dirs(&mut self) -> Result<(), UnpackError> {
        self.cache = None;
        for d in std::mem::take(&mut self.dirs) {
            let name = display(&d.comps);
            let fd = match walk(self.root.as_raw_fd(), &d.comps, false) {
                Ok(fd) => fd,
                // Replaced by a later entry.
                Err(WalkError::Missing(_) | WalkError::NotDir(_) | WalkError::Symlink(_)) => {
                    continue
                }
                Err(e) => return Err(e.into_unpack(&name, "directory")),
            };
            at::fchmod(fd.as_raw_fd(), d.mode).map_err(io_err(&name, "cannot chmod"))?;
            at::futimens(fd.as_raw_fd(), &[d.mtime, d.mtime])
                .map_err(io_err(&name, "cannot set times"))?;
        }
        Ok(())
    }
}
