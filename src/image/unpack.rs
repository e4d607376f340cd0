//! Safe extraction of an OCI layer tar into a directory used as an overlayfs
//! lowerdir.
//!
//! The tar crate only parses; all filesystem work is done here with `*at()`
//! system calls relative to directory fds. An entry's parent directory is
//! reached by walking its (lexically normalised) path from the destination
//! root one component at a time with `O_DIRECTORY|O_NOFOLLOW`: a symlink
//! anywhere in a parent path is refused, and the entry itself is created with
//! `O_EXCL`/`O_NOFOLLOW` after removing whatever was there. Nothing outside
//! `dest` can be reached, whatever the archive holds.
//!
//! OCI whiteouts become overlayfs whiteouts: `dir/.wh.name` is a character
//! device 0:0 named `name`, `dir/.wh..wh..opq` sets `trusted.overlay.opaque=y`
//! on `dir`.

use std::cell::Cell;
use std::ffi::{CStr, CString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::read::MultiGzDecoder;
use tar::{Archive, Entry, EntryType};

/// Entry paths longer than this are refused (PATH_MAX; it also bounds depth).
const MAX_PATH_BYTES: usize = 4096;
const WHITEOUT_PREFIX: &[u8] = b".wh.";
const WHITEOUT_META_PREFIX: &[u8] = b".wh..wh.";
const WHITEOUT_OPAQUE: &[u8] = b".wh..wh..opq";
const OPAQUE_XATTR: &CStr = c"trusted.overlay.opaque";
const PAX_XATTR_PREFIX: &[u8] = b"SCHILY.xattr.";
/// xattrs a layer may not set: overlayfs metadata (redirects, metacopy, opaque
/// markers are only made from whiteout entries).
const FORBIDDEN_XATTR_PREFIX: &[u8] = b"trusted.overlay.";

/// The environment variable that sets the limit on a layer's uncompressed
/// size: bytes, or with a K, M, G or T suffix (binary units); 0 lifts it.
pub const MAX_LAYER_BYTES_ENV: &str = "SKIFF_MAX_LAYER_BYTES";
/// The default limit on a layer's uncompressed size: 64 GiB.
pub const DEFAULT_MAX_LAYER_BYTES: u64 = 64 << 30;

/// Options for [`unpack_layer`].
#[derive(Debug, Clone, Default)]
pub struct UnpackOptions {
    /// Refuse the layer once its uncompressed tar stream exceeds this many
    /// bytes (a defence against gzip bombs).
    pub max_bytes: Option<u64>,
}

impl UnpackOptions {
    /// The options for unpacking images' layers: the size limit from
    /// `$SKIFF_MAX_LAYER_BYTES`, else [`DEFAULT_MAX_LAYER_BYTES`].
    pub fn from_env() -> Result<UnpackOptions, UnpackError> {
        let max_bytes = match std::env::var(MAX_LAYER_BYTES_ENV) {
            Err(std::env::VarError::NotPresent) => Some(DEFAULT_MAX_LAYER_BYTES),
            Err(std::env::VarError::NotUnicode(v)) => {
                return Err(UnpackError::BadLimit(v.to_string_lossy().into_owned()))
            }
            Ok(v) => match crate::units::parse_size(&v) {
                Ok(0) => None,
                Ok(n) => Some(n),
                Err(_) => return Err(UnpackError::BadLimit(v)),
            },
        };
        Ok(UnpackOptions { max_bytes })
    }
}

/// What [`unpack_layer`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnpackStats {
    /// Tar entries applied, whiteouts included (PAX global headers not).
    pub entries: u64,
    /// Bytes of regular file content written.
    pub bytes: u64,
    /// Bytes of uncompressed tar stream read, trailing padding included.
    pub tar_bytes: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    #[error("cannot open layer destination {}: {source}", path.display())]
    Dest {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("layer tar is corrupt or truncated: {0}")]
    Corrupt(#[source] io::Error),
    #[error("layer tar is corrupt or truncated at entry {entry:?}: {source}")]
    CorruptEntry {
        entry: String,
        #[source]
        source: io::Error,
    },
    #[error("layer tar entry {entry:?} is truncated: its header says {expected} bytes, the archive has {got}")]
    Truncated {
        entry: String,
        expected: u64,
        got: u64,
    },
    #[error("layer tar entry {entry:?} refused: {reason}")]
    Refused { entry: String, reason: String },
    #[error("layer tar entry {entry:?} has unsupported type {kind}")]
    Unsupported { entry: String, kind: String },
    #[error("layer tar entry {entry:?}: {what}: {source}")]
    Io {
        entry: String,
        what: String,
        #[source]
        source: io::Error,
    },
    #[error("layer expands to more than the limit of {limit} bytes (set {MAX_LAYER_BYTES_ENV} to raise it)")]
    TooLarge { limit: u64 },
    #[error("{MAX_LAYER_BYTES_ENV}={0:?} is not a size (bytes, or a number with K, M, G or T; 0 for no limit)")]
    BadLimit(String),
    #[error("layer is {0}-compressed, which is not supported (only gzip or plain tar)")]
    UnsupportedCompression(&'static str),
}

fn refused(entry: &str, reason: impl Into<String>) -> UnpackError {
    UnpackError::Refused {
        entry: entry.to_string(),
        reason: reason.into(),
    }
}

fn io_err(entry: &str, what: impl Into<String>) -> impl FnOnce(io::Error) -> UnpackError + '_ {
    let what = what.into();
    move |source| UnpackError::Io {
        entry: entry.to_string(),
        what,
        source,
    }
}

/// A layer stream, gunzipped if it started with the gzip magic.
pub enum LayerReader<R: Read> {
    Plain(io::Chain<io::Cursor<Vec<u8>>, R>),
    Gzip(Box<MultiGzDecoder<io::Chain<io::Cursor<Vec<u8>>, R>>>),
}

impl<R: Read> Read for LayerReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            LayerReader::Plain(r) => r.read(buf),
            LayerReader::Gzip(r) => r.read(buf),
        }
    }
}

/// Sniff the first bytes of a layer blob: gzip is decompressed on the fly, a
/// plain tar passes through, zstd is refused with a clear error.
pub fn decompressed<R: Read>(mut r: R) -> Result<LayerReader<R>, UnpackError> {
    let mut head = [0u8; 4];
    let mut n = 0;
    while n < head.len() {
        match r.read(&mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(UnpackError::Corrupt(e)),
        }
    }
    let head = &head[..n];
    if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        return Err(UnpackError::UnsupportedCompression("zstd"));
    }
    let chained = io::Cursor::new(head.to_vec()).chain(r);
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(LayerReader::Gzip(Box::new(MultiGzDecoder::new(chained))))
    } else {
        Ok(LayerReader::Plain(chained))
    }
}

/// Counts the uncompressed stream and enforces `max_bytes`.
struct Counted<R> {
    inner: R,
    count: Rc<Cell<u64>>,
    limit: Option<u64>,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let total = self.count.get().saturating_add(n as u64);
        self.count.set(total);
        match self.limit {
            Some(limit) if total > limit => {
                Err(io::Error::other(format!("layer exceeds {limit} bytes")))
            }
            _ => Ok(n),
        }
    }
}

/// Unpack the plain (already decompressed) layer tar `r` into the existing
/// directory `dest`. The whole input is consumed, so a caller hashing the
/// stream sees every byte. On error, `dest` may hold part of the layer and
/// must be discarded; nothing outside `dest` is ever touched.
pub fn unpack_layer(
    r: impl Read,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<UnpackStats, UnpackError> {
    let root = sys::open_dir(dest).map_err(|source| UnpackError::Dest {
        path: dest.to_path_buf(),
        source,
    })?;
    let count = Rc::new(Cell::new(0u64));
    let reader = Counted {
        inner: r,
        count: count.clone(),
        limit: opts.max_bytes,
    };
    let mut archive = Archive::new(reader);
    let mut u = Unpacker {
        root,
        cache: None,
        dirs: Vec::new(),
        stats: UnpackStats::default(),
        buf: vec![0; 64 * 1024],
    };
    let result = run(&mut archive, &mut u).and_then(|()| {
        let mut rest = archive.into_inner();
        io::copy(&mut rest, &mut io::sink()).map_err(UnpackError::Corrupt)?;
        u.finish_dirs()
    });
    match (result, opts.max_bytes) {
        (Err(_), Some(limit)) if count.get() > limit => Err(UnpackError::TooLarge { limit }),
        (Err(e), _) => Err(e),
        (Ok(()), _) => {
            u.stats.tar_bytes = count.get();
            Ok(u.stats)
        }
    }
}

fn run<R: Read>(archive: &mut Archive<R>, u: &mut Unpacker) -> Result<(), UnpackError> {
    for entry in archive.entries().map_err(UnpackError::Corrupt)? {
        let mut entry = entry.map_err(UnpackError::Corrupt)?;
        u.apply(&mut entry)?;
    }
    Ok(())
}

type Comps = Vec<Vec<u8>>;

/// Lexically normalise an entry path: a leading `/` is dropped (as docker
/// does), `.` and empty components vanish, `..` pops; popping past the root
/// is an error. An empty result is the layer root.
fn normalize(raw: &[u8]) -> Result<Comps, String> {
    if raw.len() > MAX_PATH_BYTES {
        return Err(format!("path is longer than {MAX_PATH_BYTES} bytes"));
    }
    let mut out: Comps = Vec::new();
    for c in raw.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                if out.pop().is_none() {
                    return Err("path escapes the layer root with `..`".into());
                }
            }
            _ => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

fn display(comps: &[Vec<u8>]) -> String {
    String::from_utf8_lossy(&comps.join(&b'/')).into_owned()
}

/// Ownership, mode, times and xattrs of one entry.
struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: libc::timespec,
    xattrs: Vec<(CString, Vec<u8>)>,
}

impl Meta {
    fn read<R: Read>(entry: &mut Entry<'_, R>, name: &str) -> Result<Meta, UnpackError> {
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

    fn times(&self) -> [libc::timespec; 2] {
        [self.mtime, self.mtime]
    }
}

/// A PAX time: `[-]secs[.frac]`.
fn parse_pax_time(v: &[u8]) -> Option<libc::timespec> {
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

/// A directory whose mode and mtime are set once everything is written.
struct DeferredDir {
    comps: Comps,
    mode: u32,
    mtime: libc::timespec,
}

struct Unpacker {
    root: OwnedFd,
    /// The last parent directory walked to, keyed by its components.
    cache: Option<(Comps, OwnedFd)>,
    dirs: Vec<DeferredDir>,
    stats: UnpackStats,
    buf: Vec<u8>,
}

enum WalkError {
    Symlink(String),
    NotDir(String),
    Missing(String),
    Io(String, io::Error),
}

impl WalkError {
    fn into_unpack(self, entry: &str, role: &str) -> UnpackError {
        match self {
            WalkError::Symlink(p) => refused(
                entry,
                format!("{role} {p:?} is a symlink; nothing is written or linked through symlinks"),
            ),
            WalkError::NotDir(p) => refused(entry, format!("{role} {p:?} is not a directory")),
            WalkError::Missing(p) => {
                refused(entry, format!("{role} {p:?} does not exist in the layer"))
            }
            WalkError::Io(p, source) => UnpackError::Io {
                entry: entry.to_string(),
                what: format!("cannot open directory {p:?}"),
                source,
            },
        }
    }
}

/// Open the directory `comps` below `root`, one component at a time, never
/// following a symlink. With `create`, missing directories are made (0755).
fn walk(root: RawFd, comps: &[Vec<u8>], create: bool) -> Result<OwnedFd, WalkError> {
    let mut cur: Option<OwnedFd> = None;
    for (i, c) in comps.iter().enumerate() {
        let here = || display(&comps[..=i]);
        let dirfd = cur.as_ref().map_or(root, |f| f.as_raw_fd());
        let cname = sys::cstr(c).map_err(|e| WalkError::Io(here(), e))?;
        let fd = match sys::open_subdir(dirfd, &cname) {
            Ok(fd) => fd,
            Err(e) if create && e.raw_os_error() == Some(libc::ENOENT) => {
                sys::mkdirat(dirfd, &cname, 0o755).map_err(|e| WalkError::Io(here(), e))?;
                let fd = sys::open_subdir(dirfd, &cname)
                    .map_err(|e| classify(dirfd, &cname, e, here()))?;
                sys::fchmod(fd.as_raw_fd(), 0o755).map_err(|e| WalkError::Io(here(), e))?;
                fd
            }
            Err(e) => return Err(classify(dirfd, &cname, e, here())),
        };
        cur = Some(fd);
    }
    match cur {
        Some(fd) => Ok(fd),
        None => sys::dup(root).map_err(|e| WalkError::Io("/".into(), e)),
    }
}

fn classify(dirfd: RawFd, name: &CStr, e: io::Error, path: String) -> WalkError {
    match e.raw_os_error() {
        Some(libc::ENOENT) => WalkError::Missing(path),
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => match sys::lstat_at(dirfd, name) {
            Ok(Some(st)) if sys::is_type(&st, libc::S_IFLNK) => WalkError::Symlink(path),
            _ => WalkError::NotDir(path),
        },
        _ => WalkError::Io(path, e),
    }
}

impl Unpacker {
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
        if sys::is_type(st, libc::S_IFDIR) {
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
            sys::remove_tree_at(dirfd, name)
                .map_err(io_err(entry, "cannot remove the existing directory"))
        } else {
            sys::unlinkat(dirfd, name, 0).map_err(io_err(entry, "cannot remove the existing file"))
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
        if let Some(st) = sys::lstat_at(dirfd, name).map_err(io_err(entry, "cannot stat"))? {
            self.remove(dirfd, parent, name, &st, entry)?;
        }
        Ok(())
    }

    fn apply<R: Read>(&mut self, entry: &mut Entry<'_, R>) -> Result<(), UnpackError> {
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
        let cname = sys::cstr(last).map_err(io_err(&name, "bad file name"))?;
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
                let ctarget = sys::cstr(&target).map_err(io_err(&name, "bad symlink target"))?;
                let dirfd = self.parent(parent, &name)?;
                self.clear(dirfd, parent, &cname, &name)?;
                sys::symlinkat(&ctarget, dirfd, &cname)
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
                sys::mknodat(dirfd, &cname, ftype | 0o600, dev)
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
        let fd = sys::openat(
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
        sys::fchown(fd, meta.uid, meta.gid).map_err(io_err(name, "cannot chown"))?;
        sys::fchmod(fd, meta.mode).map_err(io_err(name, "cannot chmod"))?;
        for (k, v) in &meta.xattrs {
            sys::fsetxattr(fd, k, v).map_err(io_err(name, format!("cannot set xattr {k:?}")))?;
        }
        sys::futimens(fd, &meta.times()).map_err(io_err(name, "cannot set times"))
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
        match sys::lstat_at(dirfd, cname).map_err(io_err(name, "cannot stat"))? {
            Some(st) if sys::is_type(&st, libc::S_IFDIR) => {}
            existing => {
                if let Some(st) = existing {
                    self.remove(dirfd, parent, cname, &st, name)?;
                }
                sys::mkdirat(dirfd, cname, 0o700)
                    .map_err(io_err(name, "cannot create directory"))?;
            }
        }
        let fd = sys::open_subdir(dirfd, cname).map_err(io_err(name, "cannot open directory"))?;
        self.set_owner_xattrs_fd(fd.as_raw_fd(), meta, name)?;
        self.dirs.push(DeferredDir {
            comps: comps.to_vec(),
            mode: meta.mode,
            mtime: meta.mtime,
        });
        Ok(())
    }

    fn set_owner_xattrs_fd(&self, fd: RawFd, meta: &Meta, name: &str) -> Result<(), UnpackError> {
        sys::fchown(fd, meta.uid, meta.gid).map_err(io_err(name, "cannot chown"))?;
        for (k, v) in &meta.xattrs {
            sys::fsetxattr(fd, k, v).map_err(io_err(name, format!("cannot set xattr {k:?}")))?;
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
        sys::fchownat_nofollow(dirfd, cname, meta.uid, meta.gid)
            .map_err(io_err(name, "cannot chown"))?;
        if chmod {
            sys::fchmodat(dirfd, cname, meta.mode).map_err(io_err(name, "cannot chmod"))?;
        }
        for (k, v) in &meta.xattrs {
            sys::lsetxattr_at(dirfd, cname, k, v)
                .map_err(io_err(name, format!("cannot set xattr {k:?}")))?;
        }
        sys::utimensat_nofollow(dirfd, cname, &meta.times())
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
        let tname = sys::cstr(tlast).map_err(io_err(name, "bad hardlink target"))?;
        let tst = match sys::lstat_at(tdir.as_raw_fd(), &tname)
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
        if sys::is_type(&tst, libc::S_IFDIR) {
            return Err(refused(
                name,
                format!("hardlink target {:?} is a directory", display(&tcomps)),
            ));
        }
        let parent = &comps[..comps.len() - 1];
        let dirfd = self.parent(parent, name)?;
        if let Some(st) = sys::lstat_at(dirfd, cname).map_err(io_err(name, "cannot stat"))? {
            if st.st_dev == tst.st_dev && st.st_ino == tst.st_ino {
                return Ok(());
            }
            self.remove(dirfd, parent, cname, &st, name)?;
        }
        sys::linkat(tdir.as_raw_fd(), &tname, dirfd, cname)
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
            return sys::fsetxattr(dirfd, OPAQUE_XATTR, b"y")
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
        let cname = sys::cstr(hidden).map_err(io_err(name, "bad whiteout name"))?;
        let dirfd = self.parent(parent, name)?;
        self.clear(dirfd, parent, &cname, name)?;
        sys::mknodat(dirfd, &cname, libc::S_IFCHR, 0)
            .map_err(io_err(name, "cannot create whiteout"))?;
        sys::fchownat_nofollow(dirfd, &cname, meta.uid, meta.gid)
            .map_err(io_err(name, "cannot chown whiteout"))
    }

    /// Directory modes and mtimes, now that nothing more is written in them.
    fn finish_dirs(&mut self) -> Result<(), UnpackError> {
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
            sys::fchmod(fd.as_raw_fd(), d.mode).map_err(io_err(&name, "cannot chmod"))?;
            sys::futimens(fd.as_raw_fd(), &[d.mtime, d.mtime])
                .map_err(io_err(&name, "cannot set times"))?;
        }
        Ok(())
    }
}

/// Thin wrappers over the `*at()` system calls used above.
mod sys {
    use super::*;

    fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
        if r < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    pub fn cstr(b: &[u8]) -> io::Result<CString> {
        CString::new(b)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "name contains a NUL byte"))
    }

    pub fn is_type(st: &libc::stat, t: libc::mode_t) -> bool {
        st.st_mode & libc::S_IFMT == t
    }

    pub fn open_dir(path: &Path) -> io::Result<OwnedFd> {
        let c = cstr(path.as_os_str().as_bytes())?;
        // SAFETY: valid NUL-terminated path; the returned fd is owned here.
        let fd = cvt(unsafe {
            libc::open(
                c.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        })?;
        // SAFETY: fd was just returned by open and is not owned elsewhere.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn openat(
        dirfd: RawFd,
        name: &CStr,
        flags: libc::c_int,
        mode: libc::mode_t,
    ) -> io::Result<OwnedFd> {
        // SAFETY: valid fd and NUL-terminated name.
        let fd = cvt(unsafe {
            libc::openat(
                dirfd,
                name.as_ptr(),
                flags | libc::O_CLOEXEC,
                mode as libc::c_uint,
            )
        })?;
        // SAFETY: fd was just returned by openat and is not owned elsewhere.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    pub fn open_subdir(dirfd: RawFd, name: &CStr) -> io::Result<OwnedFd> {
        openat(
            dirfd,
            name,
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
            0,
        )
    }

    pub fn dup(fd: RawFd) -> io::Result<OwnedFd> {
        // SAFETY: F_DUPFD_CLOEXEC on a valid fd returns a new fd we own.
        let fd = cvt(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) })?;
        // SAFETY: as above.
        Ok(unsafe { OwnedFd::from_raw_fd(fd) })
    }

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

    pub fn mkdirat(dirfd: RawFd, name: &CStr, mode: libc::mode_t) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated name.
        cvt(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) }).map(drop)
    }

    pub fn mknodat(
        dirfd: RawFd,
        name: &CStr,
        mode: libc::mode_t,
        dev: libc::dev_t,
    ) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated name.
        cvt(unsafe { libc::mknodat(dirfd, name.as_ptr(), mode, dev) }).map(drop)
    }

    pub fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated strings.
        cvt(unsafe { libc::symlinkat(target.as_ptr(), dirfd, name.as_ptr()) }).map(drop)
    }

    /// A hard link; a symlink target is linked itself, never followed.
    pub fn linkat(olddir: RawFd, oldname: &CStr, newdir: RawFd, newname: &CStr) -> io::Result<()> {
        // SAFETY: valid fds and NUL-terminated names.
        cvt(unsafe { libc::linkat(olddir, oldname.as_ptr(), newdir, newname.as_ptr(), 0) })
            .map(drop)
    }

    pub fn unlinkat(dirfd: RawFd, name: &CStr, flags: libc::c_int) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated name.
        cvt(unsafe { libc::unlinkat(dirfd, name.as_ptr(), flags) }).map(drop)
    }

    pub fn fchown(fd: RawFd, uid: u32, gid: u32) -> io::Result<()> {
        // SAFETY: plain syscall on a valid fd.
        cvt(unsafe { libc::fchown(fd, uid, gid) }).map(drop)
    }

    pub fn fchownat_nofollow(dirfd: RawFd, name: &CStr, uid: u32, gid: u32) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated name.
        cvt(unsafe { libc::fchownat(dirfd, name.as_ptr(), uid, gid, libc::AT_SYMLINK_NOFOLLOW) })
            .map(drop)
    }

    pub fn fchmod(fd: RawFd, mode: u32) -> io::Result<()> {
        // SAFETY: plain syscall on a valid fd.
        cvt(unsafe { libc::fchmod(fd, mode as libc::mode_t) }).map(drop)
    }

    /// chmod by name: only used on a device or fifo just created there.
    pub fn fchmodat(dirfd: RawFd, name: &CStr, mode: u32) -> io::Result<()> {
        // SAFETY: valid fd and NUL-terminated name.
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
        // SAFETY: valid fd, NUL-terminated name, two timespecs.
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

    pub fn fsetxattr(fd: RawFd, name: &CStr, value: &[u8]) -> io::Result<()> {
        // SAFETY: valid fd, NUL-terminated name, value pointer and length agree.
        cvt(unsafe { libc::fsetxattr(fd, name.as_ptr(), value.as_ptr().cast(), value.len(), 0) })
            .map(drop)
    }

    /// Set an xattr on `name` in `dirfd` without following it: through
    /// `/proc/self/fd/<dirfd>/<name>`, as there is no `lsetxattrat()`.
    pub fn lsetxattr_at(dirfd: RawFd, name: &CStr, key: &CStr, value: &[u8]) -> io::Result<()> {
        let mut path = format!("/proc/self/fd/{dirfd}/").into_bytes();
        path.extend_from_slice(name.to_bytes());
        let path = cstr(&path)?;
        // SAFETY: NUL-terminated path and name, value pointer and length agree.
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use tar::{Builder, Header};

    /// A ustar header with the name written raw (no validation), for hostile names.
    fn raw_entry(out: &mut Vec<u8>, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) {
        let mut h = Header::new_ustar();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_link_name_literal(link).unwrap();
        h.set_entry_type(kind);
        h.set_mode(if kind == EntryType::Directory {
            0o755
        } else {
            0o644
        });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(1_000_000);
        h.set_size(data.len() as u64);
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }

    fn end(mut v: Vec<u8>) -> Vec<u8> {
        v.extend_from_slice(&[0u8; 1024]);
        v
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        b: &mut Builder<Vec<u8>>,
        path: &str,
        kind: EntryType,
        mode: u32,
        owner: (u64, u64),
        mtime: u64,
        link: Option<&str>,
        data: &[u8],
        xattrs: &[(&str, &[u8])],
    ) {
        if !xattrs.is_empty() {
            let recs: Vec<(String, &[u8])> = xattrs
                .iter()
                .map(|(k, v)| (format!("SCHILY.xattr.{k}"), *v))
                .collect();
            b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
                .unwrap();
        }
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_uid(owner.0);
        h.set_gid(owner.1);
        h.set_mtime(mtime);
        h.set_size(data.len() as u64);
        match link {
            Some(l) => b.append_link(&mut h, path, l).unwrap(),
            None => b.append_data(&mut h, path, data).unwrap(),
        }
    }

    fn dev(
        b: &mut Builder<Vec<u8>>,
        path: &str,
        kind: EntryType,
        mode: u32,
        major: u32,
        minor: u32,
    ) {
        let mut h = Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(mode);
        h.set_mtime(77);
        h.set_uid(0);
        h.set_gid(0);
        h.set_size(0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        b.append_data(&mut h, path, io::empty()).unwrap();
    }

    fn getx(p: &Path, name: &str) -> Option<Vec<u8>> {
        let c = CString::new(p.as_os_str().as_bytes()).unwrap();
        let n = CString::new(name).unwrap();
        let mut buf = vec![0u8; 1024];
        let r =
            unsafe { libc::lgetxattr(c.as_ptr(), n.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        (r >= 0).then(|| buf[..r as usize].to_vec())
    }

    fn md(p: &Path) -> fs::Metadata {
        fs::symlink_metadata(p).unwrap()
    }

    fn unpack(tar: &[u8], dest: &Path) -> Result<UnpackStats, UnpackError> {
        unpack_layer(tar, dest, &UnpackOptions::default())
    }

    #[test]
    fn normal_tree_with_every_entry_type() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let mut b = Builder::new(Vec::new());
        let none: &[(&str, &[u8])] = &[];
        add(
            &mut b,
            "./",
            EntryType::Directory,
            0o751,
            (0, 0),
            5000,
            None,
            b"",
            none,
        );
        add(
            &mut b,
            "d/",
            EntryType::Directory,
            0o750,
            (1, 2),
            1000,
            None,
            b"",
            &[("trusted.t", b"dir")],
        );
        add(
            &mut b,
            "d/f",
            EntryType::Regular,
            0o4755,
            (1000, 1001),
            2000,
            None,
            b"hello",
            &[("user.u", b"v\0bin")],
        );
        add(
            &mut b,
            "d/sl",
            EntryType::Symlink,
            0o777,
            (5, 6),
            4000,
            Some("f"),
            b"",
            &[("trusted.s", b"sym")],
        );
        add(
            &mut b,
            "d/hl",
            EntryType::Link,
            0o4755,
            (1000, 1001),
            2000,
            Some("d/f"),
            b"",
            none,
        );
        add(
            &mut b,
            "ro/",
            EntryType::Directory,
            0o555,
            (0, 0),
            3000,
            None,
            b"",
            none,
        );
        add(
            &mut b,
            "ro/inner",
            EntryType::Regular,
            0o400,
            (0, 0),
            3001,
            None,
            b"x",
            none,
        );
        add(
            &mut b,
            "sticky/",
            EntryType::Directory,
            0o1777,
            (0, 0),
            3002,
            None,
            b"",
            none,
        );
        add(
            &mut b,
            "implicit/deep/file",
            EntryType::Regular,
            0o2644,
            (7, 8),
            3003,
            None,
            b"deep",
            none,
        );
        add(
            &mut b,
            "over/trusted",
            EntryType::Regular,
            0o644,
            (0, 0),
            3004,
            None,
            b"",
            &[("trusted.overlay.redirect", b"/x")],
        );
        dev(&mut b, "dev/null", EntryType::Char, 0o666, 1, 3);
        dev(&mut b, "dev/loop0", EntryType::Block, 0o660, 7, 0);
        dev(&mut b, "fifo", EntryType::Fifo, 0o640, 0, 0);
        let mut tar = b.into_inner().unwrap();
        // An absolute name lands inside, as with docker.
        let mut abs = Vec::new();
        raw_entry(&mut abs, b"/abs/./file", EntryType::Regular, b"", b"abs");
        tar.truncate(tar.len() - 1024);
        tar.extend_from_slice(&abs);
        let tar = end(tar);

        let stats = unpack(&tar, &dest).unwrap();
        assert_eq!(stats.entries, 14);
        assert_eq!(stats.bytes, 5 + 1 + 4 + 3);
        assert_eq!(stats.tar_bytes, tar.len() as u64);

        let m = md(&dest);
        assert_eq!((m.mode() & 0o7777, m.mtime()), (0o751, 5000));
        let m = md(&dest.join("d"));
        assert!(m.is_dir());
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
            (0o750, 1, 2, 1000)
        );
        assert_eq!(getx(&dest.join("d"), "trusted.t").unwrap(), b"dir");
        let f = md(&dest.join("d/f"));
        assert_eq!(
            (f.mode() & 0o7777, f.uid(), f.gid(), f.mtime(), f.nlink()),
            (0o4755, 1000, 1001, 2000, 2)
        );
        assert_eq!(fs::read(dest.join("d/f")).unwrap(), b"hello");
        assert_eq!(getx(&dest.join("d/f"), "user.u").unwrap(), b"v\0bin");
        assert_eq!(md(&dest.join("d/hl")).ino(), f.ino());
        let s = md(&dest.join("d/sl"));
        assert!(s.file_type().is_symlink());
        assert_eq!((s.uid(), s.gid(), s.mtime()), (5, 6, 4000));
        assert_eq!(fs::read_link(dest.join("d/sl")).unwrap(), Path::new("f"));
        assert_eq!(getx(&dest.join("d/sl"), "trusted.s").unwrap(), b"sym");
        let ro = md(&dest.join("ro"));
        assert_eq!((ro.mode() & 0o7777, ro.mtime()), (0o555, 3000));
        assert_eq!(md(&dest.join("ro/inner")).mode() & 0o7777, 0o400);
        assert_eq!(md(&dest.join("sticky")).mode() & 0o7777, 0o1777);
        let deep = md(&dest.join("implicit/deep/file"));
        assert_eq!(
            (deep.mode() & 0o7777, deep.uid(), deep.gid()),
            (0o2644, 7, 8)
        );
        assert_eq!(md(&dest.join("implicit")).mode() & 0o7777, 0o755);
        assert_eq!(
            getx(&dest.join("over/trusted"), "trusted.overlay.redirect"),
            None
        );
        let n = md(&dest.join("dev/null"));
        assert!(n.file_type().is_char_device());
        assert_eq!(
            (n.rdev(), n.mode() & 0o7777, n.mtime()),
            (libc::makedev(1, 3), 0o666, 77)
        );
        let l = md(&dest.join("dev/loop0"));
        assert!(l.file_type().is_block_device());
        assert_eq!((l.rdev(), l.mode() & 0o7777), (libc::makedev(7, 0), 0o660));
        let p = md(&dest.join("fifo"));
        assert!(p.file_type().is_fifo());
        assert_eq!(p.mode() & 0o7777, 0o640);
        assert_eq!(fs::read(dest.join("abs/file")).unwrap(), b"abs");
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        let mut t = Vec::new();
        raw_entry(&mut t, b"a/", EntryType::Directory, b"", b"");
        raw_entry(&mut t, b"a/.wh.gone", EntryType::Regular, b"", b"");
        raw_entry(&mut t, b"a/keep", EntryType::Regular, b"", b"k");
        raw_entry(&mut t, b"b/.wh..wh..opq", EntryType::Regular, b"", b"");
        raw_entry(&mut t, b"b/new", EntryType::Regular, b"", b"n");
        raw_entry(&mut t, b".wh.top", EntryType::Regular, b"", b"");
        raw_entry(&mut t, b"c/.wh..wh.plnk", EntryType::Directory, b"", b"");
        let stats = unpack(&end(t), &dest).unwrap();
        assert_eq!(stats.entries, 7);
        for w in ["a/gone", "top"] {
            let m = md(&dest.join(w));
            assert!(m.file_type().is_char_device(), "{w}");
            assert_eq!(m.rdev(), 0);
        }
        assert_eq!(
            getx(&dest.join("b"), "trusted.overlay.opaque").unwrap(),
            b"y"
        );
        assert_eq!(getx(&dest.join("a"), "trusted.overlay.opaque"), None);
        assert_eq!(fs::read(dest.join("b/new")).unwrap(), b"n");
        let mut names: Vec<String> = Vec::new();
        for p in ["", "a", "b"] {
            for e in fs::read_dir(dest.join(p)).unwrap() {
                names.push(e.unwrap().file_name().to_string_lossy().into_owned());
            }
        }
        assert!(names.iter().all(|n| !n.starts_with(".wh.")), "{names:?}");
    }

    #[test]
    fn later_entries_replace_earlier_ones() {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("dest");
        let outside = tmp.path().join("outside");
        fs::create_dir(&dest).unwrap();
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"secret").unwrap();
        let secret = outside.join("secret");
        let mut t = Vec::new();
        raw_entry(&mut t, b"x", EntryType::Regular, b"", b"file");
        raw_entry(&mut t, b"x", EntryType::Symlink, b"", b"");
        raw_entry(&mut t, b"y/", EntryType::Directory, b"", b"");
        raw_entry(&mut t, b"y/z", EntryType::Regular, b"", b"z");
        raw_entry(&mut t, b"y", EntryType::Regular, b"", b"now a file");
        raw_entry(
            &mut t,
            b"w",
            EntryType::Symlink,
            outside.as_os_str().as_bytes(),
            b"",
        );
        raw_entry(&mut t, b"w/", EntryType::Directory, b"", b"");
        raw_entry(
            &mut t,
            b"s",
            EntryType::Symlink,
            secret.as_os_str().as_bytes(),
            b"",
        );
        raw_entry(&mut t, b"s", EntryType::Regular, b"", b"overwritten?");
        raw_entry(
            &mut t,
            b"h",
            EntryType::Symlink,
            secret.as_os_str().as_bytes(),
            b"",
        );
        raw_entry(&mut t, b"hl", EntryType::Link, b"h", b"");
        raw_entry(&mut t, b"fifo", EntryType::Fifo, b"", b"");
        // Symlink target is the link name; rewrite x's to "target".
        let mut t2 = Vec::new();
        raw_entry(&mut t2, b"x", EntryType::Regular, b"", b"file");
        raw_entry(&mut t2, b"x", EntryType::Symlink, b"target", b"");
        t2.extend_from_slice(&t[1536..]);
        unpack(&end(t2), &dest).unwrap();
        assert_eq!(fs::read_link(dest.join("x")).unwrap(), Path::new("target"));
        assert_eq!(fs::read(dest.join("y")).unwrap(), b"now a file");
        assert!(md(&dest.join("w")).is_dir());
        assert_eq!(fs::read(dest.join("s")).unwrap(), b"overwritten?");
        assert!(md(&dest.join("hl")).file_type().is_symlink());
        assert!(md(&dest.join("fifo")).file_type().is_fifo());
        assert_eq!(md(&dest.join("hl")).ino(), md(&dest.join("h")).ino());
        assert_eq!(fs::read(&secret).unwrap(), b"secret");
        assert_eq!(md(&secret).nlink(), 1);
        assert_eq!(fs::read_dir(&outside).unwrap().count(), 1);
    }

    /// Everything under `root` except `skip`: path, mode, owner, size, mtime,
    /// links, content.
    type Snap = Vec<(PathBuf, u32, u32, u64, i64, i64, u64, Vec<u8>)>;
    fn snapshot(root: &Path, skip: &Path) -> Snap {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            let m = md(&p);
            let content = if m.is_file() {
                fs::read(&p).unwrap()
            } else if m.file_type().is_symlink() {
                fs::read_link(&p).unwrap().into_os_string().into_vec()
            } else {
                Vec::new()
            };
            out.push((
                p.clone(),
                m.mode(),
                m.uid(),
                m.len(),
                m.mtime(),
                m.mtime_nsec(),
                m.nlink(),
                content,
            ));
            if m.is_dir() {
                for e in fs::read_dir(&p).unwrap() {
                    let e = e.unwrap().path();
                    if e != skip {
                        stack.push(e);
                    }
                }
            }
        }
        out.sort();
        out
    }
    use std::os::unix::ffi::OsStringExt;

    struct Canary {
        tmp: tempfile::TempDir,
        dest: PathBuf,
        outside: PathBuf,
    }

    fn canary() -> Canary {
        let tmp = tempfile::tempdir().unwrap();
        let dest = tmp.path().join("a/b/dest");
        fs::create_dir_all(&dest).unwrap();
        let outside = tmp.path().join("outside");
        fs::create_dir(&outside).unwrap();
        fs::write(outside.join("secret"), b"secret").unwrap();
        Canary { tmp, dest, outside }
    }

    fn assert_refused(name: &str, tar: Vec<u8>) {
        let c = canary();
        let before = snapshot(c.tmp.path(), &c.dest);
        let passwd = md(Path::new("/etc/passwd"));
        let tar = end(tar);
        match unpack(&tar, &c.dest) {
            Err(UnpackError::Refused { entry, reason }) => {
                assert!(
                    entry.contains(name),
                    "{name}: refused entry {entry:?} ({reason})"
                );
            }
            other => panic!("{name}: expected refusal, got {other:?}"),
        }
        assert_eq!(
            snapshot(c.tmp.path(), &c.dest),
            before,
            "{name}: something outside dest changed"
        );
        let after = md(Path::new("/etc/passwd"));
        assert_eq!(
            (after.nlink(), after.mtime(), after.ino()),
            (passwd.nlink(), passwd.mtime(), passwd.ino())
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for name in [
            &b"../x"[..],
            b"/abs/../../x",
            b"a/../../x",
            b"./../x",
            b"a/./../..",
        ] {
            let mut t = Vec::new();
            raw_entry(&mut t, name, EntryType::Regular, b"", b"pwned");
            assert_refused(std::str::from_utf8(name).unwrap(), t);
        }
        let mut t = Vec::new();
        raw_entry(&mut t, b"../d/", EntryType::Directory, b"", b"");
        assert_refused("../d", t);
    }

    #[test]
    fn writing_through_symlinks_is_refused() {
        let c = canary();
        let out = c.outside.as_os_str().as_bytes();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("evil/pwned", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
                raw_entry(&mut t, b"evil/pwned", EntryType::Regular, b"", b"pwned");
                t
            }),
            ("evil/outside/pwned", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, b"../../..", b"");
                raw_entry(
                    &mut t,
                    b"evil/outside/pwned",
                    EntryType::Regular,
                    b"",
                    b"pwned",
                );
                t
            }),
            ("evil/pwned", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, b"../../..", b"");
                raw_entry(&mut t, b"evil/pwned", EntryType::Regular, b"", b"pwned");
                t
            }),
            ("evil/sub", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
                raw_entry(&mut t, b"evil/sub/", EntryType::Directory, b"", b"");
                t
            }),
            ("evil/.wh..wh..opq", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
                raw_entry(&mut t, b"evil/.wh..wh..opq", EntryType::Regular, b"", b"");
                t
            }),
            ("evil/.wh.secret", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
                raw_entry(&mut t, b"evil/.wh.secret", EntryType::Regular, b"", b"");
                t
            }),
            ("evil/secret", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"evil", EntryType::Symlink, out, b"");
                raw_entry(
                    &mut t,
                    b"evil/secret",
                    EntryType::Symlink,
                    b"/etc/shadow",
                    b"",
                );
                t
            }),
            ("d/evil/x", {
                let mut t = Vec::new();
                raw_entry(&mut t, b"d/evil", EntryType::Symlink, b"..", b"");
                raw_entry(
                    &mut t,
                    b"d/evil/x",
                    EntryType::Regular,
                    b"",
                    b"inside but via symlink",
                );
                t
            }),
        ];
        drop(c);
        for (name, tar) in cases {
            // The canary dir differs per call but is at the same relative
            // place; rebuild absolute targets against each fresh canary.
            assert_refused_with_outside(name, tar);
        }
    }

    /// Like `assert_refused`, with absolute symlink targets pointing at this
    /// canary's `outside` (the cases were built against another tempdir).
    fn assert_refused_with_outside(name: &str, tar: Vec<u8>) {
        let c = canary();
        let mut t = Vec::new();
        let mut off = 0;
        while off < tar.len() {
            let mut h = Header::new_old();
            h.as_mut_bytes().copy_from_slice(&tar[off..off + 512]);
            let size = h.entry_size().unwrap() as usize;
            let name_b = h.path_bytes().into_owned();
            let link = h
                .link_name_bytes()
                .map(|l| l.into_owned())
                .unwrap_or_default();
            let link = if link.ends_with(b"/outside") {
                c.outside.as_os_str().as_bytes().to_vec()
            } else {
                link
            };
            let data = tar[off + 512..off + 512 + size].to_vec();
            raw_entry(&mut t, &name_b, h.entry_type(), &link, &data);
            off += 512 + size.div_ceil(512) * 512;
        }
        let before = snapshot(c.tmp.path(), &c.dest);
        match unpack(&end(t), &c.dest) {
            Err(UnpackError::Refused { entry, reason }) => {
                assert!(
                    entry.contains(name),
                    "{name}: refused entry {entry:?} ({reason})"
                );
                assert!(reason.contains("symlink"), "{name}: {reason}");
            }
            other => panic!("{name}: expected refusal, got {other:?}"),
        }
        assert_eq!(
            snapshot(c.tmp.path(), &c.dest),
            before,
            "{name}: something outside dest changed"
        );
    }

    #[test]
    fn hostile_hardlinks_are_refused() {
        let mut t = Vec::new();
        raw_entry(&mut t, b"h", EntryType::Link, b"../../etc/passwd", b"");
        assert_refused("h", t);
        let mut t = Vec::new();
        raw_entry(&mut t, b"h", EntryType::Link, b"/etc/passwd", b"");
        assert_refused("h", t); // resolved inside the layer, where it does not exist
        let mut t = Vec::new();
        raw_entry(&mut t, b"s", EntryType::Symlink, b"/tmp/outside", b"");
        raw_entry(&mut t, b"h", EntryType::Link, b"s/secret", b"");
        assert_refused_with_outside("h", t);
        let mut t = Vec::new();
        raw_entry(&mut t, b"s", EntryType::Symlink, b"/etc", b"");
        raw_entry(&mut t, b"h", EntryType::Link, b"s/passwd", b"");
        assert_refused("h", t);
        let mut t = Vec::new();
        raw_entry(&mut t, b"d/", EntryType::Directory, b"", b"");
        raw_entry(&mut t, b"h", EntryType::Link, b"d", b"");
        assert_refused("h", t);
    }

    #[test]
    fn truncated_and_corrupt_tars_are_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Builder::new(Vec::new());
        add(
            &mut b,
            "big",
            EntryType::Regular,
            0o644,
            (0, 0),
            1,
            None,
            &[7u8; 10_000],
            &[],
        );
        add(
            &mut b,
            "after",
            EntryType::Regular,
            0o644,
            (0, 0),
            1,
            None,
            b"a",
            &[],
        );
        let tar = b.into_inner().unwrap();
        for cut in [300, 512 + 3000, 512 + 10_240 + 100] {
            let dest = tmp.path().join(format!("d{cut}"));
            fs::create_dir(&dest).unwrap();
            let err = unpack(&tar[..cut], &dest).unwrap_err();
            assert!(
                matches!(
                    err,
                    UnpackError::Truncated { .. }
                        | UnpackError::Corrupt(_)
                        | UnpackError::CorruptEntry { .. }
                ),
                "cut {cut}: {err:?}"
            );
        }
        // A PAX size larger than the data present.
        let mut b = Builder::new(Vec::new());
        b.append_pax_extensions([("size", &b"20000"[..])]).unwrap();
        add(
            &mut b,
            "paxbig",
            EntryType::Regular,
            0o644,
            (0, 0),
            1,
            None,
            &[1u8; 100],
            &[],
        );
        let tar = b.into_inner().unwrap();
        let dest = tmp.path().join("pax");
        fs::create_dir(&dest).unwrap();
        let err = unpack(&tar, &dest).unwrap_err();
        assert!(
            matches!(err, UnpackError::Truncated { ref entry, expected: 20000, .. } if entry == "paxbig"),
            "{err:?}"
        );
        // A bad checksum.
        let mut t = Vec::new();
        raw_entry(&mut t, b"f", EntryType::Regular, b"", b"x");
        t[0] = b'g';
        let dest = tmp.path().join("ck");
        fs::create_dir(&dest).unwrap();
        assert!(matches!(
            unpack(&end(t), &dest).unwrap_err(),
            UnpackError::Corrupt(_)
        ));
    }

    #[test]
    fn unsupported_entry_type_is_an_error() {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = Vec::new();
        raw_entry(&mut t, b"vol", EntryType::new(b'V'), b"", b"");
        let err = unpack(&end(t), tmp.path()).unwrap_err();
        assert!(
            matches!(err, UnpackError::Unsupported { ref entry, .. } if entry == "vol"),
            "{err:?}"
        );
        assert!(err.to_string().contains("'V'"), "{err}");
    }

    #[test]
    fn malformed_pax_sizes_are_refused() {
        for bad in ["-1", "", "12x", "99999999999999999999999"] {
            let tmp = tempfile::tempdir().unwrap();
            let mut b = Builder::new(Vec::new());
            b.append_pax_extensions([("size", bad.as_bytes())]).unwrap();
            add(
                &mut b,
                "f",
                EntryType::Regular,
                0o644,
                (0, 0),
                1,
                None,
                b"x",
                &[],
            );
            let tar = b.into_inner().unwrap();
            let err = unpack(&tar, tmp.path()).unwrap_err();
            assert!(err.to_string().contains("PAX size"), "{bad:?}: {err}");
        }
    }

    #[test]
    fn max_bytes_is_enforced() {
        let tmp = tempfile::tempdir().unwrap();
        let mut b = Builder::new(Vec::new());
        add(
            &mut b,
            "zeros",
            EntryType::Regular,
            0o644,
            (0, 0),
            1,
            None,
            &vec![0u8; 1 << 20],
            &[],
        );
        let tar = b.into_inner().unwrap();
        let dest = tmp.path().join("small");
        fs::create_dir(&dest).unwrap();
        let err = unpack_layer(
            &tar[..],
            &dest,
            &UnpackOptions {
                max_bytes: Some(100_000),
            },
        )
        .unwrap_err();
        assert!(
            matches!(err, UnpackError::TooLarge { limit: 100_000 }),
            "{err:?}"
        );
        assert!(err.to_string().contains("100000"));
        let dest = tmp.path().join("ok");
        fs::create_dir(&dest).unwrap();
        let stats = unpack_layer(
            &tar[..],
            &dest,
            &UnpackOptions {
                max_bytes: Some(tar.len() as u64),
            },
        )
        .unwrap();
        assert_eq!(stats.bytes, 1 << 20);
    }

    #[test]
    fn gzip_is_sniffed() {
        let tmp = tempfile::tempdir().unwrap();
        let mut t = Vec::new();
        raw_entry(&mut t, b"f", EntryType::Regular, b"", b"gz");
        let tar = end(t);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        for (i, input) in [&gz[..], &tar[..]].into_iter().enumerate() {
            let dest = tmp.path().join(i.to_string());
            fs::create_dir(&dest).unwrap();
            unpack_layer(
                decompressed(input).unwrap(),
                &dest,
                &UnpackOptions::default(),
            )
            .unwrap();
            assert_eq!(fs::read(dest.join("f")).unwrap(), b"gz");
        }
        let zstd = [0x28u8, 0xb5, 0x2f, 0xfd, 0, 0];
        assert!(matches!(
            decompressed(&zstd[..]),
            Err(UnpackError::UnsupportedCompression("zstd"))
        ));
    }

    #[test]
    fn pax_time_parsing() {
        let t = parse_pax_time(b"1700000000.5").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (1_700_000_000, 500_000_000));
        let t = parse_pax_time(b"-1.25").unwrap();
        assert_eq!((t.tv_sec, t.tv_nsec), (-2, 750_000_000));
        assert!(parse_pax_time(b"x").is_none());
    }
}
