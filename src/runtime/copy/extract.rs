//! Write entries under a destination directory fd. Each entry's parent is
//! reached one component at a time with `O_DIRECTORY|O_NOFOLLOW` (a
//! symlink on the way is refused, a kernel filesystem too); a file, symlink
//! or hard link is made under a temporary name and renamed over its place,
//! so a reader never sees half a file and nothing is written through a
//! symlink. A directory never replaces a file, nor a file a directory.

use super::root::kernel_fs;
use super::{lossy, os, CopyError, Entry, Kind, Owner, Result, Sink};
use nix::fcntl::{openat, renameat, AtFlags, OFlag};
use nix::sys::stat::{fchmod, fstatat, futimens, mkdirat, utimensat, Mode, UtimensatFlags};
use nix::sys::time::TimeSpec;
use nix::unistd::{fchown, fchownat, linkat, symlinkat, unlinkat, Gid, Uid, UnlinkatFlags};
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};

pub struct DirSink {
    root: OwnedFd,
    owner: Owner,
    /// How messages name the destination (`container:/app`).
    place: String,
    /// Directories whose mode and time are set at the end.
    dirs: Vec<(Vec<Vec<u8>>, u32, i64)>,
    buf: Vec<u8>,
}

/// Lexically normalise an entry path; `..` past the top is refused.
fn components(path: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err(CopyError::refused(
                        lossy(path),
                        "leaves the destination with `..`",
                    ));
                }
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn tmp_name() -> Vec<u8> {
    format!(".skiff-cp-{:016x}", crate::sys::random::u64()).into_bytes()
}

impl DirSink {
    pub fn new(root: OwnedFd, owner: Owner, place: String) -> DirSink {
        DirSink {
            root,
            owner,
            place,
            dirs: Vec::new(),
            buf: vec![0; 64 * 1024],
        }
    }

    fn ids(&self, e: &Entry) -> (Uid, Gid) {
        match self.owner {
            Owner::Keep => (Uid::from_raw(e.uid), Gid::from_raw(e.gid)),
            Owner::Set(u, g) => (Uid::from_raw(u), Gid::from_raw(g)),
        }
    }

    /// Open the directory `comps` under the root; with `create`, missing
    /// ones are made (0755, as docker does).
    fn walk(&self, comps: &[Vec<u8>], create: bool, entry: &[u8]) -> Result<OwnedFd> {
        let mut cur = self
            .root
            .try_clone()
            .map_err(CopyError::io("cannot open", self.place.clone()))?;
        self.check_fs(&cur, entry)?;
        for (i, c) in comps.iter().enumerate() {
            let here = lossy(&comps[..=i].join(&b'/'));
            let flags = OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC;
            let fd = match openat(cur.as_fd(), os(c), flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(nix::Error::ENOENT) if create => {
                    mkdirat(cur.as_fd(), os(c), Mode::from_bits_truncate(0o755))
                        .map_err(CopyError::nix("cannot create directory", here.clone()))?;
                    openat(cur.as_fd(), os(c), flags, Mode::empty())
                        .map_err(CopyError::nix("cannot open directory", here.clone()))?
                }
                Err(nix::Error::ELOOP | nix::Error::ENOTDIR) => {
                    let what = match fstatat(cur.as_fd(), os(c), AtFlags::AT_SYMLINK_NOFOLLOW) {
                        Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFLNK => {
                            "is a symlink; nothing is written through symlinks"
                        }
                        _ => "is not a directory",
                    };
                    return Err(CopyError::refused(format!("{}/{here}", self.place), what));
                }
                Err(e) => return Err(CopyError::nix("cannot open directory", here)(e)),
            };
            self.check_fs(&fd, entry)?;
            cur = fd;
        }
        Ok(cur)
    }

    fn check_fs(&self, fd: &OwnedFd, entry: &[u8]) -> Result<()> {
        match kernel_fs(fd) {
            Some(fs) => Err(CopyError::refused(
                format!("{} (writing {})", self.place, lossy(entry)),
                format!("is on a {fs} filesystem (the kernel's, not the container's files); skiff cp does not write there"),
            )),
            None => Ok(()),
        }
    }

    /// Rename the just-made `tmp` over `name`; a directory there is kept
    /// and the copy refused.
    fn publish(&self, dir: &OwnedFd, tmp: &[u8], name: &[u8], entry: &[u8]) -> Result<()> {
        if let Ok(st) = fstatat(dir.as_fd(), os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                let _ = unlinkat(dir.as_fd(), os(tmp), UnlinkatFlags::NoRemoveDir);
                return Err(CopyError::refused(
                    format!("{}/{}", self.place, lossy(entry)),
                    "is a directory; it is not replaced by a file",
                ));
            }
        }
        renameat(dir.as_fd(), os(tmp), dir.as_fd(), os(name)).map_err(|e| {
            let _ = unlinkat(dir.as_fd(), os(tmp), UnlinkatFlags::NoRemoveDir);
            CopyError::nix("cannot create", lossy(entry))(e)
        })
    }

    fn file(
        &mut self,
        dir: &OwnedFd,
        name: &[u8],
        e: &Entry,
        data: &mut dyn Read,
        size: u64,
    ) -> Result<()> {
        let tmp = tmp_name();
        let fd = openat(
            dir.as_fd(),
            os(&tmp),
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o600),
        )
        .map_err(CopyError::nix("cannot create", lossy(&e.path)))?;
        let mut f = std::fs::File::from(fd);
        let r = (|| -> Result<()> {
            let mut got = 0u64;
            loop {
                let n = match data.read(&mut self.buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(err) if err.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(err) => return Err(CopyError::Tar(err)),
                };
                f.write_all(&self.buf[..n])
                    .map_err(CopyError::io("cannot write", lossy(&e.path)))?;
                got += n as u64;
            }
            if got != size {
                return Err(CopyError::Invalid(format!(
                    "{}: {got} bytes of {size} arrived",
                    lossy(&e.path)
                )));
            }
            let (u, g) = self.ids(e);
            // chown clears setuid bits: chown, then chmod.
            fchown(f.as_fd(), Some(u), Some(g))
                .map_err(CopyError::nix("cannot chown", lossy(&e.path)))?;
            fchmod(f.as_fd(), Mode::from_bits_truncate(e.mode))
                .map_err(CopyError::nix("cannot chmod", lossy(&e.path)))?;
            let t = TimeSpec::new(e.mtime, 0);
            futimens(f.as_fd(), &t, &t)
                .map_err(CopyError::nix("cannot set the time of", lossy(&e.path)))
        })();
        drop(f);
        if let Err(err) = r {
            let _ = unlinkat(dir.as_fd(), os(&tmp), UnlinkatFlags::NoRemoveDir);
            return Err(err);
        }
        self.publish(dir, &tmp, name, &e.path)
    }

    fn directory(&mut self, comps: Vec<Vec<u8>>, e: &Entry) -> Result<()> {
        let Some((name, parent)) = comps.split_last() else {
            // The destination itself: left as it is.
            return Ok(());
        };
        let dir = self.walk(parent, true, &e.path)?;
        match fstatat(dir.as_fd(), os(name), AtFlags::AT_SYMLINK_NOFOLLOW) {
            Ok(st) if st.st_mode & libc::S_IFMT == libc::S_IFDIR => {}
            Ok(_) => {
                return Err(CopyError::refused(
                    format!("{}/{}", self.place, lossy(&e.path)),
                    "exists and is not a directory; it is not replaced by a directory",
                ))
            }
            Err(_) => mkdirat(dir.as_fd(), os(name), Mode::from_bits_truncate(0o700))
                .map_err(CopyError::nix("cannot create directory", lossy(&e.path)))?,
        }
        let (u, g) = self.ids(e);
        fchownat(
            dir.as_fd(),
            os(name),
            Some(u),
            Some(g),
            AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(CopyError::nix("cannot chown", lossy(&e.path)))?;
        self.dirs.push((comps, e.mode, e.mtime));
        Ok(())
    }
}

impl Sink for DirSink {
    fn put(&mut self, e: &Entry, data: &mut dyn Read) -> Result<()> {
        let comps = components(&e.path)?;
        if comps.is_empty() {
            return match e.kind {
                // The destination itself: left as it is.
                Kind::Dir => Ok(()),
                _ => Err(CopyError::refused(
                    lossy(&e.path),
                    "only a directory can be the destination itself",
                )),
            };
        }
        if let Kind::Dir = e.kind {
            return self.directory(comps, e);
        }
        let Some((name, parent)) = comps.split_last() else {
            return Ok(());
        };
        let dir = self.walk(parent, true, &e.path)?;
        match &e.kind {
            Kind::Dir => Ok(()),
            Kind::File { size } => self.file(&dir, name, e, data, *size),
            Kind::Symlink(target) => {
                let tmp = tmp_name();
                symlinkat(os(target), dir.as_fd(), os(&tmp))
                    .map_err(CopyError::nix("cannot create symlink", lossy(&e.path)))?;
                let (u, g) = self.ids(e);
                let t = TimeSpec::new(e.mtime, 0);
                let r = fchownat(
                    dir.as_fd(),
                    os(&tmp),
                    Some(u),
                    Some(g),
                    AtFlags::AT_SYMLINK_NOFOLLOW,
                )
                .map_err(CopyError::nix("cannot chown", lossy(&e.path)))
                .and_then(|()| {
                    utimensat(
                        dir.as_fd(),
                        os(&tmp),
                        &t,
                        &t,
                        UtimensatFlags::NoFollowSymlink,
                    )
                    .map_err(CopyError::nix("cannot set the time of", lossy(&e.path)))
                });
                if let Err(err) = r {
                    let _ = unlinkat(dir.as_fd(), os(&tmp), UnlinkatFlags::NoRemoveDir);
                    return Err(err);
                }
                self.publish(&dir, &tmp, name, &e.path)
            }
            Kind::Hardlink(target) => {
                let tcomps = components(target)?;
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(CopyError::refused(
                        lossy(&e.path),
                        "hard link to the destination itself",
                    ));
                };
                let tdir = self.walk(tparent, false, &e.path)?;
                let st = fstatat(tdir.as_fd(), os(tname), AtFlags::AT_SYMLINK_NOFOLLOW)
                    .map_err(CopyError::nix("hard link target missing:", lossy(target)))?;
                if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
                    return Err(CopyError::refused(
                        lossy(&e.path),
                        "hard link to a directory",
                    ));
                }
                let tmp = tmp_name();
                linkat(
                    tdir.as_fd(),
                    os(tname),
                    dir.as_fd(),
                    os(&tmp),
                    AtFlags::empty(),
                )
                .map_err(CopyError::nix("cannot create hard link", lossy(&e.path)))?;
                self.publish(&dir, &tmp, name, &e.path)
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        for (comps, mode, mtime) in std::mem::take(&mut self.dirs).into_iter().rev() {
            let path = comps.join(&b'/');
            let fd = match self.walk(&comps, false, &path) {
                Ok(fd) => fd,
                Err(_) => continue,
            };
            fchmod(fd.as_fd(), Mode::from_bits_truncate(mode))
                .map_err(CopyError::nix("cannot chmod", lossy(&path)))?;
            let t = TimeSpec::new(mtime, 0);
            futimens(fd.as_fd(), &t, &t)
                .map_err(CopyError::nix("cannot set the time of", lossy(&path)))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_paths() {
        assert_eq!(
            components(b"/a/./b/../c").unwrap(),
            vec![b"a".to_vec(), b"c".to_vec()]
        );
        assert!(components(b"a/../../etc").is_err());
        assert!(components(b"").unwrap().is_empty());
    }
}
