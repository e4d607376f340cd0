//! Read a tree entry by entry from a directory fd. Every step is relative to
//! the fd of the directory above and `O_NOFOLLOW`: a symlink is sent as a
//! symlink, never followed, so a tree cannot lead the walk elsewhere.

use super::root::kernel_fs;
use super::{join, lossy, os, CopyError, Entry, Kind, Result, Sink, Stats};
use nix::fcntl::{openat, AtFlags, OFlag};
use nix::sys::stat::{fstat, fstatat, FileStat, Mode};
use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;

struct Walk<'a> {
    sink: &'a mut dyn Sink,
    warn: &'a mut dyn FnMut(&str),
    /// Files with several links already sent: (dev, ino) -> path.
    links: HashMap<(u64, u64), Vec<u8>>,
    stats: Stats,
}

/// Send `name` in `parent` as `top` (its path in the copy); with `top`
/// None, only what a directory holds is sent. A device node, fifo or
/// socket named directly is refused; met inside a directory, skipped with
/// a warning, as are kernel filesystems mounted inside.
pub fn send(
    parent: &OwnedFd,
    name: &OsStr,
    top: Option<Vec<u8>>,
    sink: &mut dyn Sink,
    warn: &mut dyn FnMut(&str),
) -> Result<Stats> {
    let mut w = Walk {
        sink,
        warn,
        links: HashMap::new(),
        stats: Stats::default(),
    };
    let st = fstatat(parent.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW)
        .map_err(CopyError::nix("cannot stat", name.to_string_lossy()))?;
    if let Some(fs) = kernel_fs(parent) {
        return Err(CopyError::refused(
            name.to_string_lossy(),
            format!("is on a {fs} filesystem (the kernel's, not the container's files)"),
        ));
    }
    if let Some(what) = kind_word(&st) {
        return Err(CopyError::refused(
            name.to_string_lossy(),
            format!("is a {what}; skiff cp copies files, directories and symlinks only"),
        ));
    }
    match top {
        Some(path) => w.entry(parent, name, &st, path, true)?,
        None => {
            let dir = open_dir(parent, name, &st)?;
            if let Some(fs) = kernel_fs(&dir) {
                return Err(CopyError::refused(
                    name.to_string_lossy(),
                    format!("is on a {fs} filesystem (the kernel's, not the container's files)"),
                ));
            }
            w.children(&dir, &[])?;
        }
    }
    Ok(w.stats)
}

/// The word for what cp does not copy, or None.
fn kind_word(st: &FileStat) -> Option<&'static str> {
    match st.st_mode & libc::S_IFMT {
        libc::S_IFCHR | libc::S_IFBLK => Some("device node"),
        libc::S_IFIFO => Some("fifo"),
        libc::S_IFSOCK => Some("socket"),
        _ => None,
    }
}

fn entry_of(st: &FileStat, path: Vec<u8>, kind: Kind) -> Entry {
    Entry {
        path,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
    }
}

/// Open a directory met by lstat, checking it is still the same one.
fn open_dir(parent: &OwnedFd, name: &OsStr, st: &FileStat) -> Result<OwnedFd> {
    let fd = openat(
        parent.as_fd(),
        name,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(CopyError::nix(
        "cannot open directory",
        name.to_string_lossy(),
    ))?;
    same(&fd, st, name)?;
    Ok(fd)
}

fn same(fd: &OwnedFd, st: &FileStat, name: &OsStr) -> Result<()> {
    let now = fstat(fd.as_fd()).map_err(CopyError::nix("cannot stat", name.to_string_lossy()))?;
    if now.st_dev != st.st_dev || now.st_ino != st.st_ino {
        return Err(CopyError::refused(
            name.to_string_lossy(),
            "changed while it was being copied",
        ));
    }
    Ok(())
}

impl Walk<'_> {
    fn entry(
        &mut self,
        parent: &OwnedFd,
        name: &OsStr,
        st: &FileStat,
        path: Vec<u8>,
        top: bool,
    ) -> Result<()> {
        if let Some(what) = kind_word(st) {
            (self.warn)(&format!("skipped {} (a {what})", lossy(&path)));
            return Ok(());
        }
        self.stats.entries += 1;
        match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => {
                let dir = open_dir(parent, name, st)?;
                if let Some(fs) = kernel_fs(&dir) {
                    if top {
                        return Err(CopyError::refused(
                            lossy(&path),
                            format!(
                                "is on a {fs} filesystem (the kernel's, not the container's files)"
                            ),
                        ));
                    }
                    (self.warn)(&format!("skipped {} (a {fs} filesystem)", lossy(&path)));
                    return Ok(());
                }
                self.sink.put(
                    &entry_of(st, path.clone(), Kind::Dir),
                    &mut std::io::empty(),
                )?;
                self.children(&dir, &path)
            }
            libc::S_IFLNK => {
                let target = nix::fcntl::readlinkat(parent.as_fd(), name)
                    .map_err(CopyError::nix("cannot read symlink", lossy(&path)))?;
                let e = entry_of(st, path, Kind::Symlink(target.as_bytes().to_vec()));
                self.sink.put(&e, &mut std::io::empty())
            }
            _ => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        let e = entry_of(st, path, Kind::Hardlink(first.clone()));
                        return self.sink.put(&e, &mut std::io::empty());
                    }
                    self.links.insert(key, path.clone());
                }
                let fd = openat(
                    parent.as_fd(),
                    name,
                    OFlag::O_RDONLY | OFlag::O_NOFOLLOW | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
                    Mode::empty(),
                )
                .map_err(CopyError::nix("cannot open", lossy(&path)))?;
                same(&fd, st, name)?;
                let size = st.st_size as u64;
                let mut data = Exact::new(std::fs::File::from(fd), size);
                self.sink
                    .put(&entry_of(st, path.clone(), Kind::File { size }), &mut data)?;
                if let Some(e) = data.error.take() {
                    return Err(CopyError::io("cannot read", lossy(&path))(e));
                }
                self.stats.bytes += size;
                Ok(())
            }
        }
    }

    fn children(&mut self, dir: &OwnedFd, prefix: &[u8]) -> Result<()> {
        let dup = dir
            .try_clone()
            .map_err(CopyError::io("cannot read directory", lossy(prefix)))?;
        let mut d = nix::dir::Dir::from_fd(dup)
            .map_err(CopyError::nix("cannot read directory", lossy(prefix)))?;
        let mut names: Vec<Vec<u8>> = Vec::new();
        for e in d.iter() {
            let e = e.map_err(CopyError::nix("cannot read directory", lossy(prefix)))?;
            let n = e.file_name().to_bytes();
            if n != b"." && n != b".." {
                names.push(n.to_vec());
            }
        }
        names.sort();
        for n in names {
            let name = os(&n);
            let st = match fstatat(dir.as_fd(), name, AtFlags::AT_SYMLINK_NOFOLLOW) {
                Ok(st) => st,
                Err(nix::Error::ENOENT) => continue,
                Err(e) => return Err(CopyError::nix("cannot stat", lossy(&join(prefix, &n)))(e)),
            };
            self.entry(dir, name, &st, join(prefix, &n), false)?;
        }
        Ok(())
    }
}

/// A file read as exactly `size` bytes (a file that grows is cut, one that
/// shrinks is padded with zeros), so a tar header written first stays true
/// while a running container changes it. A read error is kept for later.
struct Exact<R> {
    inner: R,
    left: u64,
    eof: bool,
    error: Option<std::io::Error>,
}

impl<R: Read> Exact<R> {
    fn new(inner: R, size: u64) -> Exact<R> {
        Exact {
            inner,
            left: size,
            eof: false,
            error: None,
        }
    }
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let want = buf.len().min(self.left as usize);
        let n = if self.eof {
            0
        } else {
            match self.inner.read(&mut buf[..want]) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => return self.read(buf),
                Err(e) => {
                    self.error = Some(e);
                    0
                }
            }
        };
        let n = if n == 0 {
            self.eof = true;
            buf[..want].fill(0);
            want
        } else {
            n
        };
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_cuts_and_pads() {
        let mut out = Vec::new();
        Exact::new(&b"hello world"[..], 5)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, b"hello");
        let mut out = Vec::new();
        Exact::new(&b"hi"[..], 4).read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hi\0\0");
    }
}
