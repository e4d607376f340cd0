//! `skiff cp`: files between the host and a container, as `docker cp`.
//!
//! A copy is a stream of [`Entry`]s from a source to a [`Sink`]:
//!
//! | concern | file |
//! | --- | --- |
//! | the container's `/` (running: its mount namespace; stopped: the overlay mounted privately) | `root.rs` |
//! | a directory tree read entry by entry, never following a symlink | `walk.rs` |
//! | entries written under a directory fd, never through a symlink | `extract.rs` |
//! | tar streams (`-`) in and out | `tarball.rs` |
//! | docker's naming rules (what lands where) | this file |
//!
//! Every path inside the container is resolved with openat2
//! `RESOLVE_IN_ROOT`, so a symlink planted in the container resolves inside
//! it; below the resolved directory every step is `O_NOFOLLOW`. Device
//! nodes are never copied, and nothing is read from or written to a kernel
//! filesystem (proc, sysfs, cgroup, ...) mounted in the container.

pub mod extract;
pub mod root;
pub mod tarball;
pub mod walk;

use std::ffi::OsString;
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

pub use root::ContainerRoot;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("{what} {path}: {source}")]
    Io {
        what: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Refused { path: String, reason: String },
    #[error("no such file or directory: {0}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
    #[error("tar stream: {0}")]
    Tar(#[source] std::io::Error),
}

impl CopyError {
    pub fn io(
        what: impl Into<String>,
        path: impl Into<String>,
    ) -> impl FnOnce(std::io::Error) -> CopyError {
        let (what, path) = (what.into(), path.into());
        move |source| CopyError::Io { what, path, source }
    }
    pub fn nix(
        what: impl Into<String>,
        path: impl Into<String>,
    ) -> impl FnOnce(nix::Error) -> CopyError {
        let f = CopyError::io(what, path);
        move |e| f(std::io::Error::from_raw_os_error(e as i32))
    }
    pub fn refused(path: impl Into<String>, reason: impl Into<String>) -> CopyError {
        CopyError::Refused {
            path: path.into(),
            reason: reason.into(),
        }
    }
}

pub type Result<T, E = CopyError> = std::result::Result<T, E>;

/// What an entry is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kind {
    File {
        size: u64,
    },
    Dir,
    Symlink(Vec<u8>),
    /// A hard link to an earlier entry of the same copy (its path).
    Hardlink(Vec<u8>),
}

/// One file of a copy: its path relative to the destination directory
/// (`/`-separated, no leading `/`), what it is, and its metadata.
#[derive(Clone, Debug)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: Kind,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
}

/// Where entries go: a directory (`extract.rs`) or a tar stream (`tarball.rs`).
pub trait Sink {
    /// Store one entry; for a file, `data` yields exactly its size.
    fn put(&mut self, e: &Entry, data: &mut dyn Read) -> Result<()>;
    /// Everything was sent: set what had to wait (directory modes, times).
    fn finish(&mut self) -> Result<()>;
}

/// What was copied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    pub entries: u64,
    pub bytes: u64,
}

/// The two places a copy goes between.
pub enum Side<'a> {
    Host,
    Container(&'a ContainerRoot),
}

/// Ownership of what is written: docker gives the files to root in the
/// container and to the invoking user on the host; `-a` keeps the source's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Keep,
    Set(u32, u32),
}

/// A path as the user wrote it, split the way docker reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathArg {
    /// Lexically cleaned (`..` and `.` folded; inside a container, relative to `/`).
    pub clean: PathBuf,
    /// Ends with `/.`: a directory's contents, not the directory.
    pub contents: bool,
    /// Ends with `/`: must be a directory.
    pub dir_only: bool,
}

impl PathArg {
    pub fn parse(raw: &str, in_container: bool) -> PathArg {
        let contents = raw == "." || raw.ends_with("/.");
        let dir_only = raw.ends_with('/');
        let absolute = raw.starts_with('/') || in_container;
        let mut comps: Vec<&str> = Vec::new();
        for c in raw.split('/') {
            match c {
                "" | "." => {}
                ".." => match comps.last() {
                    Some(&l) if l != ".." => {
                        comps.pop();
                    }
                    _ if !absolute => comps.push(".."),
                    _ => {}
                },
                c => comps.push(c),
            }
        }
        let mut out = PathBuf::from(if absolute { "/" } else { "" });
        for c in comps {
            out.push(c);
        }
        if out.as_os_str().is_empty() {
            out.push(".");
        }
        PathArg {
            clean: out,
            contents,
            dir_only,
        }
    }

    /// The last component, or None for `/` (and `.`).
    pub fn name(&self) -> Option<OsString> {
        self.clean.file_name().map(|n| n.to_os_string())
    }

    /// The directory holding it.
    pub fn parent(&self) -> PathBuf {
        match self.clean.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            Some(_) => PathBuf::from("."),
            None => self.clean.clone(),
        }
    }

    pub fn display(&self, side: &Side) -> String {
        match side {
            Side::Host => self.clean.display().to_string(),
            Side::Container(_) => format!("container:{}", self.clean.display()),
        }
    }
}

impl Side<'_> {
    /// Open `path` as a directory (symlinks followed: on the host as the
    /// user asked, in a container inside its root). None if it is not one.
    fn open_dir(&self, path: &Path) -> Result<Option<OwnedFd>> {
        let r = match self {
            Side::Host => std::fs::File::open(path).and_then(|f| {
                if f.metadata()?.is_dir() {
                    Ok(f.into())
                } else {
                    Err(std::io::Error::from_raw_os_error(libc::ENOTDIR))
                }
            }),
            Side::Container(root) => root.open(path, libc::O_RDONLY | libc::O_DIRECTORY),
        };
        match r {
            Ok(fd) => Ok(Some(fd)),
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => Ok(None),
            Err(e) => Err(CopyError::io("cannot open", path.display().to_string())(e)),
        }
    }
}

fn stat_nofollow(dir: &OwnedFd, name: &OsString) -> Result<Option<nix::sys::stat::FileStat>> {
    match nix::sys::stat::fstatat(
        dir.as_fd(),
        name.as_os_str(),
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    ) {
        Ok(st) => Ok(Some(st)),
        Err(nix::Error::ENOENT) => Ok(None),
        Err(e) => Err(CopyError::nix("cannot stat", name.to_string_lossy())(e)),
    }
}

fn is_dir(st: &nix::sys::stat::FileStat) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFDIR
}

/// Copy `src` on `from` to `dst` on `to` with docker's rules:
/// a directory destination receives the source under its own name (or its
/// contents, for `SRC/.`); a missing destination becomes a copy of the
/// source (its parent must exist; `DST/` must exist for a file); a file
/// destination is replaced by a file, never by a directory.
pub fn copy(
    from: &Side,
    src: &PathArg,
    to: &Side,
    dst: &PathArg,
    owner: Owner,
    warn: &mut dyn FnMut(&str),
) -> Result<Stats> {
    let (sparent, sname) = source(from, src)?;
    let sst =
        stat_nofollow(&sparent, &sname)?.ok_or_else(|| CopyError::NotFound(src.display(from)))?;
    let src_is_dir = is_dir(&sst);
    if src.dir_only && !src_is_dir {
        return Err(CopyError::Invalid(format!(
            "{} is not a directory",
            src.display(from)
        )));
    }
    let (dest_dir, top): (OwnedFd, Option<Vec<u8>>) = match to.open_dir(&dst.clean)? {
        Some(fd) => {
            let top = match src.name() {
                Some(n) if !src.contents => Some(n.into_vec()),
                _ => None,
            };
            (fd, top)
        }
        None => {
            let name = dst.name().ok_or_else(|| {
                CopyError::Invalid(format!("{} is not a directory", dst.display(to)))
            })?;
            let parent = to.open_dir(&dst.parent())?.ok_or_else(|| {
                CopyError::Invalid(format!(
                    "destination directory {} does not exist",
                    PathArg::parse(&dst.parent().to_string_lossy(), false).display(to)
                ))
            })?;
            let exists = stat_nofollow(&parent, &name)?;
            if exists.is_some() && src_is_dir {
                return Err(CopyError::Invalid(format!(
                    "cannot copy a directory onto the file {}",
                    dst.display(to)
                )));
            }
            if exists.is_none() && dst.dir_only && !src_is_dir {
                return Err(CopyError::Invalid(format!(
                    "destination directory {} does not exist",
                    dst.display(to)
                )));
            }
            (parent, Some(name.into_vec()))
        }
    };
    let mut sink = extract::DirSink::new(dest_dir, owner, dst.display(to));
    let stats = walk::send(&sparent, &sname, top, &mut sink, warn)?;
    sink.finish()?;
    Ok(stats)
}

/// A tar stream of `src` (named by its last component, or its contents).
pub fn copy_to_tar(
    from: &Side,
    src: &PathArg,
    out: impl std::io::Write,
    warn: &mut dyn FnMut(&str),
) -> Result<Stats> {
    let (sparent, sname) = source(from, src)?;
    let sst =
        stat_nofollow(&sparent, &sname)?.ok_or_else(|| CopyError::NotFound(src.display(from)))?;
    if src.dir_only && !is_dir(&sst) {
        return Err(CopyError::Invalid(format!(
            "{} is not a directory",
            src.display(from)
        )));
    }
    let top = match src.name() {
        Some(n) if !src.contents => Some(n.into_vec()),
        _ => None,
    };
    let mut sink = tarball::TarSink::new(out);
    let stats = walk::send(&sparent, &sname, top, &mut sink, warn)?;
    sink.finish()?;
    Ok(stats)
}

/// Extract a tar stream into the existing directory `dst`.
pub fn copy_from_tar(input: impl Read, to: &Side, dst: &PathArg, owner: Owner) -> Result<Stats> {
    let dir = to.open_dir(&dst.clean)?.ok_or_else(|| {
        CopyError::Invalid(format!(
            "{} is not a directory (a tar stream is extracted into a directory)",
            dst.display(to)
        ))
    })?;
    let mut sink = extract::DirSink::new(dir, owner, dst.display(to));
    let stats = tarball::read(input, &mut sink)?;
    sink.finish()?;
    Ok(stats)
}

/// The directory holding `src` and its name there (`.` for a root).
fn source(side: &Side, src: &PathArg) -> Result<(OwnedFd, OsString)> {
    let (parent, name) = match src.name() {
        Some(n) => (src.parent(), n),
        None => (src.clean.clone(), OsString::from_vec(b".".to_vec())),
    };
    let fd = side
        .open_dir(&parent)?
        .ok_or_else(|| CopyError::NotFound(src.display(side)))?;
    Ok((fd, name))
}

/// `a` + `/` + `b`, or `b` alone.
pub fn join(prefix: &[u8], name: &[u8]) -> Vec<u8> {
    if prefix.is_empty() {
        name.to_vec()
    } else {
        let mut v = prefix.to_vec();
        v.push(b'/');
        v.extend_from_slice(name);
        v
    }
}

pub fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn os(b: &[u8]) -> &std::ffi::OsStr {
    std::ffi::OsStr::from_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_args() {
        let p = PathArg::parse("/app/../etc/./passwd", true);
        assert_eq!(p.clean, PathBuf::from("/etc/passwd"));
        assert_eq!(p.name().unwrap(), "passwd");
        assert_eq!(p.parent(), PathBuf::from("/etc"));
        let p = PathArg::parse("../../..", true);
        assert_eq!(p.clean, PathBuf::from("/"));
        assert_eq!(p.name(), None);
        let p = PathArg::parse("data/.", false);
        assert!(p.contents);
        assert_eq!(p.clean, PathBuf::from("data"));
        assert_eq!(p.parent(), PathBuf::from("."));
        let p = PathArg::parse("out/", false);
        assert!(p.dir_only);
        let p = PathArg::parse("../x", false);
        assert_eq!(p.clean, PathBuf::from("../x"));
        assert_eq!(PathArg::parse("../..", false).clean, PathBuf::from("../.."));
        assert_eq!(PathArg::parse("app", true).clean, PathBuf::from("/app"));
    }
}
