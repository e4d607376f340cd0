//! Deterministic layer tars from a directory.
//!
//! Entries are sorted by path bytewise, named relative to the directory
//! without a `./` prefix (directories with a trailing `/`), with uid, gid,
//! mode and mtime kept (mtime clamped to `SOURCE_DATE_EPOCH` when given),
//! empty user and group names, hardlinks as link entries to the first path,
//! and xattrs as PAX `SCHILY.xattr.*` records. Headers are ustar; anything
//! that does not fit (long names and link targets, big sizes or ids) goes in
//! a PAX extended header, as docker writes them.
//!
//! From an overlayfs upper directory, whiteouts (character devices 0:0)
//! become `.wh.<name>` files and opaque directories get a `.wh..wh..opq`
//! entry.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs::{self, File, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use flate2::{Compression, GzBuilder};
use tar::{Builder, EntryType, Header};

use crate::store::digest::{Digest, HashingWriter};
use crate::sys::xattr;

use super::whiteout::{OPAQUE as WHITEOUT_OPAQUE, PREFIX as WHITEOUT_PREFIX};
const OPAQUE_XATTR: &[u8] = xattr::OVERLAY_OPAQUE.to_bytes();
/// Largest values the ustar numeric fields hold in octal.
const USTAR_MAX_SIZE: u64 = 0o777_7777_7777;
const USTAR_MAX_ID: u64 = 0o777_7777;
const USTAR_NAME_LEN: usize = 100;

/// Options for [`write_layer`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Clamp every mtime to at most this (seconds since the epoch), for
    /// reproducible layers.
    pub source_date_epoch: Option<i64>,
    /// The directory is an overlayfs upper directory: convert its whiteouts
    /// and opaque markers to OCI ones.
    pub from_overlay_upper: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum LayerWriteError {
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("cannot write layer tar: {0}")]
    Write(#[source] io::Error),
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> LayerWriteError + 'a {
    move |source| LayerWriteError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// A layer tar written by [`write_layer`].
#[derive(Debug)]
pub struct WrittenLayer<W> {
    /// The writer given, after the last byte.
    pub out: W,
    /// sha256 of the tar (the layer's diff id).
    pub diff_id: Digest,
    /// Size of the tar in bytes.
    pub size: u64,
}

/// A gzip layer written by [`write_gzip_layer`].
#[derive(Debug)]
pub struct GzipLayer<W> {
    /// The writer given, after the last byte (e.g. a `BlobWriter` to commit).
    pub out: W,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// Size of the uncompressed tar.
    pub tar_size: u64,
    /// sha256 of the gzip stream (the blob digest).
    pub digest: Digest,
    /// Size of the gzip stream.
    pub size: u64,
}

/// Write the contents of `dir` (not `dir` itself) as a layer tar to `out`.
pub fn write_layer<W: Write>(
    dir: &Path,
    out: W,
    opts: &WriteOptions,
) -> Result<WrittenLayer<W>, LayerWriteError> {
    let items = collect(dir, opts)?;
    let mut builder = Builder::new(HashingWriter::new(out));
    let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
    for item in &items {
        write_item(&mut builder, dir, item, opts, &mut links)?;
    }
    let mut hashing = builder.into_inner().map_err(LayerWriteError::Write)?;
    hashing.flush().map_err(LayerWriteError::Write)?;
    let (out, diff_id, size) = hashing.finish();
    Ok(WrittenLayer { out, diff_id, size })
}

/// [`write_layer`] through a deterministic gzip (default level, mtime 0, no
/// file name), returning both digests.
pub fn write_gzip_layer<W: Write>(
    dir: &Path,
    out: W,
    opts: &WriteOptions,
) -> Result<GzipLayer<W>, LayerWriteError> {
    let gz = GzBuilder::new()
        .mtime(0)
        .operating_system(255)
        .write(HashingWriter::new(out), Compression::default());
    let tar = write_layer(dir, gz, opts)?;
    let mut hashing = tar.out.finish().map_err(LayerWriteError::Write)?;
    hashing.flush().map_err(LayerWriteError::Write)?;
    let (out, digest, size) = hashing.finish();
    Ok(GzipLayer {
        out,
        diff_id: tar.diff_id,
        tar_size: tar.size,
        digest,
        size,
    })
}

/// One tar entry to write, keyed by its path relative to the directory.
struct Item {
    rel: Vec<u8>,
    /// A synthetic `.wh..wh..opq` inside the opaque directory `rel` minus it.
    opaque: bool,
}

fn abs_path(dir: &Path, rel: &[u8]) -> PathBuf {
    dir.join(OsStr::from_bytes(rel))
}

/// Every path under `dir`, sorted bytewise. Sockets are skipped (tar has no
/// type for them).
fn collect(dir: &Path, opts: &WriteOptions) -> Result<Vec<Item>, LayerWriteError> {
    let mut items = Vec::new();
    let mut stack: Vec<Vec<u8>> = vec![Vec::new()];
    while let Some(rel_dir) = stack.pop() {
        let abs = abs_path(dir, &rel_dir);
        for ent in fs::read_dir(&abs).map_err(io_err("read directory", &abs))? {
            let ent = ent.map_err(io_err("read directory", &abs))?;
            let mut rel = rel_dir.clone();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(ent.file_name().as_bytes());
            let ft = ent.file_type().map_err(io_err("stat", &ent.path()))?;
            if ft.is_socket() {
                continue;
            }
            if ft.is_dir() {
                if opts.from_overlay_upper {
                    let path = ent.path();
                    let v =
                        xattr::get(&path, OPAQUE_XATTR).map_err(io_err("read xattrs of", &path))?;
                    if v.as_deref() == Some(b"y") {
                        let mut marker = rel.clone();
                        marker.push(b'/');
                        marker.extend_from_slice(WHITEOUT_OPAQUE);
                        items.push(Item {
                            rel: marker,
                            opaque: true,
                        });
                    }
                }
                stack.push(rel.clone());
            }
            items.push(Item { rel, opaque: false });
        }
    }
    items.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(items)
}

fn mtime(md: &Metadata, opts: &WriteOptions) -> u64 {
    let t = match opts.source_date_epoch {
        Some(epoch) => md.mtime().min(epoch),
        None => md.mtime(),
    };
    u64::try_from(t).unwrap_or(0)
}

/// A header with the common fields of `md` set.
fn header(md: &Metadata, opts: &WriteOptions, kind: EntryType, mode: u32) -> Header {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(u64::from(md.uid()));
    h.set_gid(u64::from(md.gid()));
    h.set_mtime(mtime(md, opts));
    h.set_size(0);
    // Zeros rather than empty fields: some readers insist on numbers.
    let ustar = h
        .as_ustar_mut()
        .map(|u| (&mut u.dev_major, &mut u.dev_minor));
    if let Some((major, minor)) = ustar {
        *major = *b"0000000\0";
        *minor = *b"0000000\0";
    }
    h
}

fn write_item<W: Write>(
    builder: &mut Builder<W>,
    dir: &Path,
    item: &Item,
    opts: &WriteOptions,
    links: &mut HashMap<(u64, u64), Vec<u8>>,
) -> Result<(), LayerWriteError> {
    if item.opaque {
        let dir_rel = &item.rel[..item.rel.len() - WHITEOUT_OPAQUE.len() - 1];
        let path = abs_path(dir, dir_rel);
        let md = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
        let mut h = header(&md, opts, EntryType::Regular, md.mode() & 0o777);
        return emit(builder, &mut h, &item.rel, None, &[], io::empty(), &path);
    }
    let path = abs_path(dir, &item.rel);
    let md = fs::symlink_metadata(&path).map_err(io_err("stat", &path))?;
    let ft = md.file_type();
    let mode = md.mode() & 0o7777;

    if opts.from_overlay_upper && xattr::is_overlay_whiteout(&md) {
        // An overlayfs whiteout (possibly sharing its inode with others).
        let (parent, base) = match item.rel.iter().rposition(|&b| b == b'/') {
            Some(i) => (&item.rel[..=i], &item.rel[i + 1..]),
            None => (&b""[..], &item.rel[..]),
        };
        let name = [parent, WHITEOUT_PREFIX, base].concat();
        let mut h = header(&md, opts, EntryType::Regular, 0o600);
        return emit(builder, &mut h, &name, None, &[], io::empty(), &path);
    }

    if ft.is_dir() {
        let mut name = item.rel.clone();
        name.push(b'/');
        let xattrs = xattrs(&path)?;
        let mut h = header(&md, opts, EntryType::Directory, mode);
        return emit(builder, &mut h, &name, None, &xattrs, io::empty(), &path);
    }

    if md.nlink() > 1 {
        let key = (md.dev(), md.ino());
        if let Some(first) = links.get(&key) {
            let mut h = header(&md, opts, EntryType::Link, mode);
            return emit(
                builder,
                &mut h,
                &item.rel,
                Some(first),
                &[],
                io::empty(),
                &path,
            );
        }
        links.insert(key, item.rel.clone());
    }

    let xattrs = xattrs(&path)?;
    if ft.is_file() {
        let size = md.len();
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .map_err(io_err("open", &path))?;
        // Exactly `size` bytes even if the file changed since the stat.
        let data = file.take(size).chain(io::repeat(0)).take(size);
        let mut h = header(&md, opts, EntryType::Regular, mode);
        h.set_size(size);
        emit(builder, &mut h, &item.rel, None, &xattrs, data, &path)
    } else if ft.is_symlink() {
        let target = fs::read_link(&path).map_err(io_err("read symlink", &path))?;
        let mut h = header(&md, opts, EntryType::Symlink, mode);
        emit(
            builder,
            &mut h,
            &item.rel,
            Some(target.as_os_str().as_bytes()),
            &xattrs,
            io::empty(),
            &path,
        )
    } else {
        let kind = if ft.is_char_device() {
            EntryType::Char
        } else if ft.is_block_device() {
            EntryType::Block
        } else {
            EntryType::Fifo
        };
        let mut h = header(&md, opts, kind, mode);
        if kind != EntryType::Fifo {
            let (major, minor) = (
                nix::sys::stat::major(md.rdev()),
                nix::sys::stat::minor(md.rdev()),
            );
            h.set_device_major(u32::try_from(major).unwrap_or(u32::MAX))
                .map_err(io_err("record device number of", &path))?;
            h.set_device_minor(u32::try_from(minor).unwrap_or(u32::MAX))
                .map_err(io_err("record device number of", &path))?;
        }
        emit(
            builder,
            &mut h,
            &item.rel,
            None,
            &xattrs,
            io::empty(),
            &path,
        )
    }
}

/// Write one entry: name and link name go in the header when they fit, in a
/// PAX header otherwise, along with big numbers and xattrs.
fn emit<W: Write>(
    builder: &mut Builder<W>,
    h: &mut Header,
    name: &[u8],
    link: Option<&[u8]>,
    xattrs: &[(String, Vec<u8>)],
    data: impl Read,
    path: &Path,
) -> Result<(), LayerWriteError> {
    let mut pax: Vec<(String, Vec<u8>)> = Vec::new();
    let old = h.as_old_mut();
    old.name = [0; USTAR_NAME_LEN];
    let n = name.len().min(USTAR_NAME_LEN);
    old.name[..n].copy_from_slice(&name[..n]);
    if name.len() > USTAR_NAME_LEN {
        pax.push(("path".into(), name.to_vec()));
    }
    if let Some(link) = link {
        let n = link.len().min(USTAR_NAME_LEN);
        old.linkname[..n].copy_from_slice(&link[..n]);
        if link.len() > USTAR_NAME_LEN {
            pax.push(("linkpath".into(), link.to_vec()));
        }
    }
    let numbers = [
        (
            "size",
            h.size().map_err(io_err("encode size of", path))?,
            USTAR_MAX_SIZE,
        ),
        (
            "uid",
            h.uid().map_err(io_err("encode uid of", path))?,
            USTAR_MAX_ID,
        ),
        (
            "gid",
            h.gid().map_err(io_err("encode gid of", path))?,
            USTAR_MAX_ID,
        ),
        (
            "mtime",
            h.mtime().map_err(io_err("encode mtime of", path))?,
            USTAR_MAX_SIZE,
        ),
    ];
    for (key, value, max) in numbers {
        if value > max {
            pax.push((key.into(), value.to_string().into_bytes()));
        }
    }
    for (k, v) in xattrs {
        pax.push((format!("SCHILY.xattr.{k}"), v.clone()));
    }
    if !pax.is_empty() {
        builder
            .append_pax_extensions(pax.iter().map(|(k, v)| (k.as_str(), v.as_slice())))
            .map_err(LayerWriteError::Write)?;
    }
    h.set_cksum();
    builder
        .append(h, data)
        .map_err(io_err("add to the layer", path))
}

/// The xattrs of `path` (not followed) worth carrying in a layer, by name.
fn xattrs(path: &Path) -> Result<Vec<(String, Vec<u8>)>, LayerWriteError> {
    let mut out = Vec::new();
    for name in xattr::list(path).map_err(io_err("list xattrs of", path))? {
        if name.starts_with(b"trusted.overlay.") || name == b"security.selinux" {
            continue;
        }
        let Some(value) = xattr::get(path, &name).map_err(io_err("read xattrs of", path))? else {
            continue;
        };
        let name = String::from_utf8(name).map_err(|_| LayerWriteError::Io {
            what: "encode xattr name (not UTF-8) of",
            path: path.to_path_buf(),
            source: io::Error::new(io::ErrorKind::InvalidData, "xattr name is not UTF-8"),
        })?;
        out.push((name, value));
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::unpack::{unpack_layer, UnpackOptions};
    use std::os::unix::fs::{lchown, symlink, PermissionsExt};

    fn setx(p: &Path, name: &str, value: &[u8]) -> bool {
        xattr::set(p, name, value).is_ok()
    }

    fn mknod(p: &Path, kind: libc::mode_t, major: u32, minor: u32) {
        use nix::sys::stat::{makedev, Mode, SFlag};
        nix::sys::stat::mknod(
            p,
            SFlag::from_bits_truncate(kind),
            Mode::from_bits_truncate(0o644),
            makedev(major as u64, minor as u64),
        )
        .unwrap_or_else(|e| panic!("mknod {}: {e}", p.display()));
    }

    fn set_mtime(p: &Path, secs: i64) {
        use nix::sys::time::TimeSpec;
        let t = TimeSpec::new(secs, 0);
        nix::sys::stat::utimensat(
            nix::fcntl::AT_FDCWD,
            p,
            &t,
            &t,
            nix::sys::stat::UtimensatFlags::NoFollowSymlink,
        )
        .unwrap();
    }

    fn chmod(p: &Path, mode: u32) {
        fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
    }

    /// A tree with every kind of entry.
    fn make_tree(root: &Path) {
        let d = root.join("d");
        fs::create_dir(&d).unwrap();
        lchown(&d, Some(1), Some(2)).unwrap();
        chmod(&d, 0o750);
        assert!(setx(&d, "trusted.t", b"dir"));
        let f = d.join("f");
        fs::write(&f, b"hello").unwrap();
        lchown(&f, Some(1000), Some(1001)).unwrap();
        chmod(&f, 0o4755);
        assert!(setx(&f, "user.u", b"v\0bin"));
        assert!(setx(&f, "trusted.overlay.origin", b"x"));
        fs::hard_link(&f, d.join("hl")).unwrap();
        fs::hard_link(&f, root.join("0first")).unwrap();
        symlink("f", d.join("sl")).unwrap();
        lchown(d.join("sl"), Some(5), Some(6)).unwrap();
        assert!(setx(&d.join("sl"), "trusted.s", b"sym"));
        let long = root.join("long");
        fs::create_dir(&long).unwrap();
        let long_name = "x".repeat(150);
        fs::write(long.join(&long_name), b"long").unwrap();
        symlink("y".repeat(180), long.join("target-is-long")).unwrap();
        fs::hard_link(
            long.join(&long_name),
            long.join(format!("{long_name}-link")),
        )
        .unwrap();
        mknod(&root.join("p"), libc::S_IFIFO, 0, 0);
        mknod(&root.join("chr"), libc::S_IFCHR, 1, 3);
        mknod(&root.join("blk"), libc::S_IFBLK, 7, 0);
        fs::create_dir(root.join("empty")).unwrap();
        fs::create_dir(root.join("sticky")).unwrap();
        chmod(&root.join("sticky"), 0o1777);
        fs::create_dir(root.join("ro")).unwrap();
        fs::write(root.join("ro/inner"), b"i").unwrap();
        chmod(&root.join("ro/inner"), 0o400);
        chmod(&root.join("ro"), 0o555);
        // A socket is skipped.
        let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        set_all_mtimes(root, 1_600_000_000);
    }

    fn walk(root: &Path) -> Vec<PathBuf> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(p) = stack.pop() {
            for e in fs::read_dir(&p).unwrap() {
                let e = e.unwrap().path();
                if fs::symlink_metadata(&e).unwrap().is_dir() {
                    stack.push(e.clone());
                }
                out.push(e);
            }
        }
        out.sort();
        out
    }

    fn set_all_mtimes(root: &Path, secs: i64) {
        for (i, p) in walk(root).iter().rev().enumerate() {
            set_mtime(p, secs + i as i64);
        }
    }

    /// Everything that must survive a round trip, per path.
    fn describe(root: &Path) -> Vec<String> {
        let mut first: HashMap<u64, PathBuf> = HashMap::new();
        let mut out = Vec::new();
        for p in walk(root) {
            let md = fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().to_path_buf();
            let ft = md.file_type();
            if ft.is_socket() {
                continue;
            }
            let body = if ft.is_file() {
                format!("{:?}", fs::read(&p).unwrap())
            } else if ft.is_symlink() {
                format!("-> {:?}", fs::read_link(&p).unwrap())
            } else {
                String::new()
            };
            let link = if !md.is_dir() && md.nlink() > 1 {
                first
                    .entry(md.ino())
                    .or_insert(rel.clone())
                    .display()
                    .to_string()
            } else {
                String::new()
            };
            out.push(format!(
                "{} mode={:o} uid={} gid={} mtime={} rdev={} link={} xattrs={:?} {}",
                rel.display(),
                md.mode(),
                md.uid(),
                md.gid(),
                md.mtime(),
                md.rdev(),
                link,
                xattrs(&p).unwrap(),
                body
            ));
        }
        out
    }

    fn entries(tar: &[u8]) -> Vec<(String, EntryType, u64, Vec<u8>)> {
        let mut a = tar::Archive::new(tar);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let name = String::from_utf8(e.path_bytes().into_owned()).unwrap();
                let h = e.header();
                assert_eq!(h.username_bytes(), Some(&b""[..]));
                assert_eq!(h.groupname_bytes(), Some(&b""[..]));
                let link = e
                    .link_name_bytes()
                    .map(|l| l.into_owned())
                    .unwrap_or_default();
                (name, h.entry_type(), h.mtime().unwrap(), link)
            })
            .collect()
    }

    #[test]
    fn round_trip_keeps_the_tree() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        make_tree(&src);
        let selinux = setx(
            &src.join("d/f"),
            "security.selinux",
            b"system_u:object_r:x:s0",
        );
        let written = write_layer(&src, Vec::new(), &WriteOptions::default()).unwrap();
        let tar = written.out;
        assert_eq!(written.size, tar.len() as u64);
        assert_eq!(written.diff_id, Digest::of_bytes(&tar));

        let names: Vec<_> = entries(&tar).into_iter().map(|e| (e.0, e.1, e.3)).collect();
        let mut sorted = names.clone();
        sorted.sort_by(|a, b| a.0.trim_end_matches('/').cmp(b.0.trim_end_matches('/')));
        assert_eq!(names, sorted);
        assert!(names
            .iter()
            .all(|n| !n.0.starts_with("./") && !n.0.starts_with('/')));
        assert!(names
            .iter()
            .all(|n| (n.1 == EntryType::Directory) == n.0.ends_with('/')));
        assert!(!names.iter().any(|n| n.0.contains("sock")));
        let hl: Vec<_> = names.iter().filter(|n| n.1 == EntryType::Link).collect();
        assert_eq!(hl.len(), 3);
        assert!(hl.iter().any(|n| n.0 == "d/f" && n.2 == b"0first"));
        assert!(hl.iter().any(|n| n.0 == "d/hl" && n.2 == b"0first"));
        let long_name = format!("long/{}", "x".repeat(150));
        assert!(hl
            .iter()
            .any(|n| n.0 == format!("{long_name}-link") && n.2 == long_name.as_bytes()));

        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        unpack_layer(&tar[..], &dest, &UnpackOptions::default()).unwrap();
        let (a, b) = (describe(&src), describe(&dest));
        assert_eq!(a, b);
        assert!(a.iter().any(|l| l.contains("user.u")), "{a:?}");
        let first = dest.join("0first");
        assert!(matches!(
            xattr::get(&first, b"trusted.overlay.origin"),
            Ok(None)
        ));
        if selinux {
            assert!(matches!(xattr::get(&first, b"security.selinux"), Ok(None)));
        }
    }

    #[test]
    fn output_is_deterministic_with_source_date_epoch() {
        let tmp = tempfile::tempdir().unwrap();
        let src = tmp.path().join("src");
        fs::create_dir(&src).unwrap();
        make_tree(&src);
        let opts = WriteOptions {
            source_date_epoch: Some(1_500_000_000),
            from_overlay_upper: false,
        };
        let a = write_layer(&src, Vec::new(), &opts).unwrap().out;
        let ga = write_gzip_layer(&src, Vec::new(), &opts).unwrap();
        set_all_mtimes(&src, 1_700_000_000);
        let b = write_layer(&src, Vec::new(), &opts).unwrap().out;
        let gb = write_gzip_layer(&src, Vec::new(), &opts).unwrap();
        assert_eq!(a, b);
        assert_eq!(ga.out, gb.out);
        assert!(entries(&a).iter().all(|e| e.2 <= 1_500_000_000));
        assert_eq!(ga.diff_id, Digest::of_bytes(&a));
        assert_eq!(ga.tar_size, a.len() as u64);
        assert_eq!(ga.digest, Digest::of_bytes(&ga.out));
        assert_eq!(ga.size, ga.out.len() as u64);
        let mut plain = Vec::new();
        flate2::read::GzDecoder::new(&ga.out[..])
            .read_to_end(&mut plain)
            .unwrap();
        assert_eq!(plain, a);
        // Without the epoch, mtimes are kept.
        let c = write_layer(&src, Vec::new(), &WriteOptions::default())
            .unwrap()
            .out;
        assert!(entries(&c).iter().any(|e| e.2 >= 1_700_000_000));
    }

    #[test]
    fn overlay_whiteouts_and_opaque_dirs() {
        let tmp = tempfile::tempdir().unwrap();
        let up = tmp.path().join("upper");
        fs::create_dir(&up).unwrap();
        mknod(&up.join("gone"), libc::S_IFCHR, 0, 0);
        fs::hard_link(up.join("gone"), up.join("gone2")).unwrap(); // shared whiteout inode
        fs::create_dir_all(up.join("sub")).unwrap();
        mknod(&up.join("sub/gone3"), libc::S_IFCHR, 0, 0);
        fs::create_dir(up.join("opq")).unwrap();
        assert!(setx(&up.join("opq"), "trusted.overlay.opaque", b"y"));
        fs::write(up.join("opq/file"), b"f").unwrap();
        mknod(&up.join("null"), libc::S_IFCHR, 1, 3);

        let opts = WriteOptions {
            source_date_epoch: None,
            from_overlay_upper: true,
        };
        let tar = write_layer(&up, Vec::new(), &opts).unwrap().out;
        let got: Vec<(String, EntryType)> = entries(&tar).into_iter().map(|e| (e.0, e.1)).collect();
        let want = [
            (".wh.gone", EntryType::Regular),
            (".wh.gone2", EntryType::Regular),
            ("null", EntryType::Char),
            ("opq/", EntryType::Directory),
            ("opq/.wh..wh..opq", EntryType::Regular),
            ("opq/file", EntryType::Regular),
            ("sub/", EntryType::Directory),
            ("sub/.wh.gone3", EntryType::Regular),
        ];
        let want: Vec<(String, EntryType)> =
            want.iter().map(|(n, t)| (n.to_string(), *t)).collect();
        assert_eq!(got, want);
        let mut a = tar::Archive::new(&tar[..]);
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            if let Some(exts) = e.pax_extensions().unwrap() {
                for x in exts {
                    assert!(!x.unwrap().key().unwrap().contains("overlay"));
                }
            }
        }

        // And back: the OCI markers become overlay ones again.
        let dest = tmp.path().join("dest");
        fs::create_dir(&dest).unwrap();
        unpack_layer(&tar[..], &dest, &UnpackOptions::default()).unwrap();
        for w in ["gone", "gone2", "sub/gone3"] {
            let md = fs::symlink_metadata(dest.join(w)).unwrap();
            assert!(md.file_type().is_char_device() && md.rdev() == 0, "{w}");
        }
        assert_eq!(
            xattr::get(&dest.join("opq"), OPAQUE_XATTR)
                .unwrap()
                .as_deref(),
            Some(&b"y"[..])
        );

        // Not from an upper: whiteouts are plain devices, no markers.
        let plain = write_layer(&up, Vec::new(), &WriteOptions::default())
            .unwrap()
            .out;
        let got: Vec<(String, EntryType)> =
            entries(&plain).into_iter().map(|e| (e.0, e.1)).collect();
        assert!(got.contains(&("gone".to_string(), EntryType::Char)));
        assert!(got.contains(&("gone2".to_string(), EntryType::Link)));
        assert!(!got.iter().any(|e| e.0.contains(".wh.")));
    }
}
