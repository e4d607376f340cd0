//! COPY and ADD: put selected files into a fresh layer directory with
//! docker's rules for directories, trailing slashes, owners and modes.
//!
//! The layer directory is the diff itself: the parents of the destination are
//! created in it with the metadata they have in the image (so the layer does
//! not change them), then the sources are copied. Symlinks are copied as
//! links, never followed.

use super::context::{BuildContext, ContextError};
use super::rootfs_view::RootfsView;
use std::fs;
use std::io;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error(transparent)]
    Context(#[from] ContextError),
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{0}")]
    Invalid(String),
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> CopyError + 'a {
    move |source| CopyError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// Owner and mode overrides (`--chown`, `--chmod`).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ownership {
    pub uid: u32,
    pub gid: u32,
    pub chmod: Option<u32>,
}

/// Clean an absolute container path into its components.
fn components(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in Path::new(path).components() {
        match c {
            Component::Normal(n) => out.push(n.to_string_lossy().into_owned()),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// The absolute destination of COPY/ADD: relative to WORKDIR when relative.
pub fn resolve_dest(dest: &str, workdir: &str) -> String {
    let joined = if dest.starts_with('/') {
        dest.to_string()
    } else {
        format!("{}/{}", workdir.trim_end_matches('/'), dest)
    };
    let mut s = format!("/{}", components(&joined).join("/"));
    if (dest.ends_with('/') || dest.ends_with("/.") || dest == ".") && s != "/" {
        s.push('/');
    }
    s
}

/// Create the directories of `rel` (components) inside `layer`, copying
/// mode, owner and mtime from the image where they exist there.
fn make_parents(
    layer: &Path,
    comps: &[String],
    view: &RootfsView,
    created: &mut Vec<(PathBuf, fs::Metadata)>,
) -> Result<(), CopyError> {
    let mut cur = layer.to_path_buf();
    let mut image_path = String::new();
    for c in comps {
        cur.push(c);
        image_path.push('/');
        image_path.push_str(c);
        if cur.is_dir() {
            continue;
        }
        fs::create_dir(&cur).map_err(io_err("create", &cur))?;
        match view.find(&image_path) {
            Some((_, m)) if m.is_dir() => {
                fs::set_permissions(&cur, fs::Permissions::from_mode(m.mode() & 0o7777))
                    .map_err(io_err("chmod", &cur))?;
                std::os::unix::fs::lchown(&cur, Some(m.uid()), Some(m.gid()))
                    .map_err(io_err("chown", &cur))?;
                created.push((cur.clone(), m));
            }
            _ => fs::set_permissions(&cur, fs::Permissions::from_mode(0o755))
                .map_err(io_err("chmod", &cur))?,
        }
    }
    Ok(())
}

/// Copy `sources` (context-relative, resolved) from `ctx` to `dest`
/// (absolute, from [`resolve_dest`]) inside the layer directory `layer`.
pub fn copy_sources(
    layer: &Path,
    ctx: &BuildContext,
    sources: &[PathBuf],
    dest: &str,
    view: &RootfsView,
    own: Ownership,
) -> Result<(), CopyError> {
    let dest_comps = components(dest);
    let many = sources.len() > 1;
    let dest_is_dir = dest.ends_with('/') || many || view.is_dir(dest);
    let mut dirs_to_stamp: Vec<(PathBuf, fs::Metadata)> = Vec::new();
    for src in sources {
        let entries = ctx.walk(src)?;
        let Some(first) = entries.first() else {
            continue;
        };
        let (target_comps, skip_first) = if first.meta.is_dir() {
            (dest_comps.clone(), true)
        } else if dest_is_dir {
            let mut t = dest_comps.clone();
            t.push(
                src.file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
            );
            (t, false)
        } else {
            (dest_comps.clone(), false)
        };
        if target_comps.is_empty() && !first.meta.is_dir() {
            return Err(CopyError::Invalid(format!(
                "cannot copy the file {} onto /",
                src.display()
            )));
        }
        let parent_len = if skip_first {
            target_comps.len()
        } else {
            target_comps.len() - 1
        };
        make_parents(layer, &target_comps[..parent_len], view, &mut dirs_to_stamp)?;
        let target = layer.join(target_comps.iter().collect::<PathBuf>());
        if skip_first && !target.exists() {
            let image_path = format!("/{}", target_comps.join("/"));
            match view.find(&image_path) {
                // An existing directory keeps its owner and mode.
                Some((_, m)) if m.is_dir() => {
                    make_parents(layer, &target_comps, view, &mut dirs_to_stamp)?
                }
                // A new one is owned as --chown says.
                _ => {
                    fs::create_dir(&target).map_err(io_err("create", &target))?;
                    fs::set_permissions(
                        &target,
                        fs::Permissions::from_mode(own.chmod.unwrap_or(0o755)),
                    )
                    .map_err(io_err("chmod", &target))?;
                    std::os::unix::fs::lchown(&target, Some(own.uid), Some(own.gid))
                        .map_err(io_err("chown", &target))?;
                }
            }
        }
        for e in entries.iter().skip(if skip_first { 1 } else { 0 }) {
            let to = if skip_first {
                target.join(&e.rel)
            } else {
                target.clone()
            };
            copy_entry(&e.path, &e.meta, &to, own)?;
            if e.meta.is_dir() {
                dirs_to_stamp.push((to, e.meta.clone()));
            }
        }
    }
    // Directory mtimes last, after their contents were written.
    for (dir, m) in dirs_to_stamp.iter().rev() {
        set_mtime(dir, m)?;
    }
    Ok(())
}

fn copy_entry(from: &Path, m: &fs::Metadata, to: &Path, own: Ownership) -> Result<(), CopyError> {
    if let Ok(existing) = fs::symlink_metadata(to) {
        if !(existing.is_dir() && m.is_dir()) {
            if existing.is_dir() {
                fs::remove_dir_all(to).map_err(io_err("replace", to))?;
            } else {
                fs::remove_file(to).map_err(io_err("replace", to))?;
            }
        }
    }
    let ft = m.file_type();
    if ft.is_symlink() {
        let target = fs::read_link(from).map_err(io_err("read link", from))?;
        std::os::unix::fs::symlink(&target, to).map_err(io_err("create link", to))?;
        std::os::unix::fs::lchown(to, Some(own.uid), Some(own.gid)).map_err(io_err("chown", to))?;
        return Ok(());
    }
    if ft.is_dir() {
        if !to.is_dir() {
            fs::create_dir(to).map_err(io_err("create", to))?;
        }
    } else if ft.is_file() {
        fs::copy(from, to).map_err(io_err("copy to", to))?;
    } else {
        // Devices, fifos and sockets in a build context are not copied (as docker).
        return Ok(());
    }
    std::os::unix::fs::lchown(to, Some(own.uid), Some(own.gid)).map_err(io_err("chown", to))?;
    let mode = own.chmod.unwrap_or(m.mode() & 0o7777);
    fs::set_permissions(to, fs::Permissions::from_mode(mode)).map_err(io_err("chmod", to))?;
    if ft.is_file() {
        set_mtime(to, m)?;
    }
    Ok(())
}

fn set_mtime(path: &Path, m: &fs::Metadata) -> Result<(), CopyError> {
    let t = nix::sys::time::TimeSpec::new(m.mtime(), m.mtime_nsec());
    nix::sys::stat::utimensat(
        nix::fcntl::AT_FDCWD,
        path,
        &t,
        &t,
        nix::sys::stat::UtimensatFlags::NoFollowSymlink,
    )
    .map_err(|e| CopyError::Io {
        what: "set the time of",
        path: path.to_path_buf(),
        source: e.into(),
    })
}

/// ADD of a local tar archive (plain or gzip): unpacked into `dest` (a
/// directory). Returns false when the file is not a tar archive, so the
/// caller copies it as a file instead.
pub fn add_archive(
    layer: &Path,
    archive: &Path,
    dest: &str,
    view: &RootfsView,
) -> Result<bool, CopyError> {
    let f = fs::File::open(archive).map_err(io_err("open", archive))?;
    let mut r = crate::image::unpack::decompressed(io::BufReader::new(f))
        .map_err(|e| CopyError::Invalid(format!("{}: {e}", archive.display())))?;
    let mut head = vec![0u8; 512];
    let mut n = 0;
    while n < head.len() {
        match io::Read::read(&mut r, &mut head[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(_) => return Ok(false),
        }
    }
    if n < 512 || &head[257..262] != b"ustar" {
        return Ok(false);
    }
    let comps = components(dest);
    let mut stamped = Vec::new();
    make_parents(layer, &comps, view, &mut stamped)?;
    let target = layer.join(comps.iter().collect::<PathBuf>());
    let chained = io::Read::chain(io::Cursor::new(head), r);
    crate::image::unpack::unpack_layer(
        chained,
        &target,
        &crate::image::unpack::UnpackOptions::default(),
    )
    .map_err(|e| CopyError::Invalid(format!("ADD {}: {e}", archive.display())))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dest_rules() {
        assert_eq!(resolve_dest(".", "/app"), "/app/");
        assert_eq!(resolve_dest("./", "/app"), "/app/");
        assert_eq!(resolve_dest("x", "/app"), "/app/x");
        assert_eq!(resolve_dest("/etc/", "/app"), "/etc/");
        assert_eq!(resolve_dest("../../x", "/app"), "/x");
        assert_eq!(resolve_dest("/", "/app"), "/");
    }

    #[test]
    fn copies_files_and_dir_contents_with_owners() {
        let ctxd = tempfile::tempdir().unwrap();
        fs::create_dir_all(ctxd.path().join("src/sub")).unwrap();
        fs::write(ctxd.path().join("src/sub/a.js"), "a").unwrap();
        fs::write(ctxd.path().join("package.json"), "{}").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", ctxd.path().join("src/evil")).unwrap();
        let ctx = BuildContext::open(ctxd.path()).unwrap();
        let img = tempfile::tempdir().unwrap();
        fs::create_dir_all(img.path().join("app")).unwrap();
        fs::set_permissions(img.path().join("app"), fs::Permissions::from_mode(0o750)).unwrap();
        let view = RootfsView::new(&[img.path().to_path_buf()]);
        let layer = tempfile::tempdir().unwrap();
        let own = Ownership {
            uid: 1000,
            gid: 1000,
            chmod: None,
        };
        copy_sources(
            layer.path(),
            &ctx,
            &[PathBuf::from("package.json")],
            "/app",
            &view,
            own,
        )
        .unwrap();
        copy_sources(
            layer.path(),
            &ctx,
            &[PathBuf::from("src")],
            "/app/",
            &view,
            own,
        )
        .unwrap();
        let l = layer.path();
        assert_eq!(
            fs::read_to_string(l.join("app/package.json")).unwrap(),
            "{}",
            "an existing dir as dest takes the file inside"
        );
        assert_eq!(
            fs::read_to_string(l.join("app/sub/a.js")).unwrap(),
            "a",
            "a dir source copies its contents"
        );
        assert_eq!(
            fs::read_link(l.join("app/evil")).unwrap(),
            PathBuf::from("/etc/shadow"),
            "links are copied, not followed"
        );
        assert_eq!(fs::metadata(l.join("app/sub/a.js")).unwrap().uid(), 1000);
        assert_eq!(
            fs::metadata(l.join("app")).unwrap().mode() & 0o7777,
            0o750,
            "an existing dest dir keeps its mode"
        );
        // A missing file destination without a slash is the file's new name.
        copy_sources(
            layer.path(),
            &ctx,
            &[PathBuf::from("package.json")],
            "/srv/p.json",
            &view,
            Ownership::default(),
        )
        .unwrap();
        assert!(l.join("srv/p.json").is_file());
    }
}
