//! The container's root filesystem: an overlay of the image's unpacked layer
//! directories (lowerdirs, top layer first) with the container's own upper
//! and work directories under `containers/<id>/`. Mounted by the container
//! init inside its private mount namespace, so the host never sees it and
//! nothing is left to unmount when the container ends.

use crate::runtime::error::{Result, RuntimeError};
use crate::sys::syscall::Syscall;
use nix::mount::MsFlags;
use std::path::{Path, PathBuf};

/// Mount options must fit in one page.
const MAX_OPTIONS: usize = 4000;

/// The overlay's `lowerdir=…,upperdir=…,workdir=…` and, when every layer
/// lives in one directory, that directory: the layers are then named
/// relative to it (the caller chdirs there first) so that images with many
/// layers still fit in a page of mount options.
pub fn options(layers: &[PathBuf], upper: &Path, work: &Path) -> Result<(String, Option<PathBuf>)> {
    let (lower, common) = lowerdir(layers, true)?;
    let opts = format!(
        "lowerdir={lower},upperdir={},workdir={}",
        check(&upper.to_string_lossy())?,
        check(&work.to_string_lossy())?
    );
    fits(&opts, layers)?;
    Ok((opts, common))
}

/// The `lowerdir=` list (top layer first), relative to the layers' common
/// directory (returned) if `relative` and they have one.
fn lowerdir(layers: &[PathBuf], relative: bool) -> Result<(String, Option<PathBuf>)> {
    if layers.is_empty() {
        return Err(RuntimeError::Invalid("the image has no layers".into()));
    }
    let common = layers[0]
        .parent()
        .filter(|p| relative && layers.iter().all(|l| l.parent() == Some(*p)))
        .map(Path::to_path_buf);
    let mut lower = Vec::with_capacity(layers.len());
    for l in layers.iter().rev() {
        let s = match &common {
            Some(_) => l
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            None => l.to_string_lossy().into_owned(),
        };
        lower.push(check(&s)?);
    }
    Ok((lower.join(":"), common))
}

fn fits(opts: &str, layers: &[PathBuf]) -> Result<()> {
    if opts.len() > MAX_OPTIONS {
        return Err(RuntimeError::Invalid(format!(
            "the image has too many layers ({}) for one overlay mount",
            layers.len()
        )));
    }
    Ok(())
}

fn all_present(layers: &[PathBuf]) -> Result<()> {
    for l in layers {
        if !l.is_dir() {
            return Err(RuntimeError::Invalid(format!(
                "image layer {} is missing; the image is incomplete (pull or import it again)",
                l.display()
            )));
        }
    }
    Ok(())
}

/// A read-only overlay of `layers` (bottom first, at least two) at
/// `target`, with the same checks as [`mount`]; the layers are named by
/// absolute path (the caller's working directory is left alone).
pub fn mount_read_only(sys: &dyn Syscall, layers: &[PathBuf], target: &Path) -> Result<()> {
    all_present(layers)?;
    let (lower, _) = lowerdir(layers, false)?;
    let opts = format!("lowerdir={lower}");
    fits(&opts, layers)?;
    sys.mount(
        Some("overlay"),
        &target.to_string_lossy(),
        Some("overlay"),
        MsFlags::MS_RDONLY,
        Some(&opts),
    )
    .map_err(RuntimeError::os(format!(
        "mount the read-only overlay at {}",
        target.display()
    )))
}

fn check(p: &str) -> Result<String> {
    if p.contains([',', ':', '\\']) {
        return Err(RuntimeError::Invalid(format!(
            "path {p:?} contains a character overlayfs cannot take (, : or \\)"
        )));
    }
    Ok(p.to_string())
}

/// Mount the overlay at `target`. `volatile` skips every sync of the upper
/// directory — above all the one at unmount, which flushes the whole upper
/// filesystem and can take tens of milliseconds; only for containers whose
/// upper directory is deleted afterwards (the kernel refuses to mount a
/// volatile work directory twice).
pub fn mount(
    sys: &dyn Syscall,
    layers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
    volatile: bool,
) -> Result<()> {
    all_present(layers)?;
    let (mut opts, chdir) = options(layers, upper, work)?;
    if let Some(dir) = &chdir {
        sys.chdir(dir)
            .map_err(RuntimeError::os(format!("chdir {}", dir.display())))?;
    }
    let plain_len = opts.len();
    if volatile {
        opts.push_str(",volatile");
    }
    let target_s = target.to_string_lossy();
    let mount = |o: &str| {
        sys.mount(
            Some("overlay"),
            &target_s,
            Some("overlay"),
            MsFlags::empty(),
            Some(o),
        )
    };
    let mut result = mount(&opts);
    if volatile && matches!(&result, Err(e) if e.raw_os_error() == Some(libc::EINVAL)) {
        // Before Linux 5.10 there is no volatile option.
        result = mount(&opts[..plain_len]);
    }
    result.map_err(RuntimeError::os(format!(
        "mount the overlay rootfs at {}",
        target.display()
    )))?;
    sys.chdir(Path::new("/"))
        .map_err(RuntimeError::os("chdir /"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_layer_first_and_relative() {
        let layers = vec![
            PathBuf::from("/s/layers/aaa"),
            PathBuf::from("/s/layers/bbb"),
        ];
        let (o, dir) =
            options(&layers, Path::new("/s/c/1/upper"), Path::new("/s/c/1/work")).unwrap();
        assert_eq!(
            o,
            "lowerdir=bbb:aaa,upperdir=/s/c/1/upper,workdir=/s/c/1/work"
        );
        assert_eq!(dir, Some(PathBuf::from("/s/layers")));
        let mixed = vec![PathBuf::from("/x/a"), PathBuf::from("/y/b")];
        let (o, dir) = options(&mixed, Path::new("/u"), Path::new("/w")).unwrap();
        assert_eq!(
            (o.as_str(), dir),
            ("lowerdir=/y/b:/x/a,upperdir=/u,workdir=/w", None)
        );
        assert!(options(&[PathBuf::from("/x/a:b")], Path::new("/u"), Path::new("/w")).is_err());
    }

    #[test]
    fn read_only_overlay_checks_its_layers() {
        use crate::sys::syscall::Recorder;
        let tmp = tempfile::tempdir().unwrap();
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        std::fs::create_dir(&a).unwrap();
        let rec = Recorder::default();
        let target = tmp.path().join("m");
        let missing = mount_read_only(&rec, &[a.clone(), b.clone()], &target).unwrap_err();
        assert!(missing.to_string().contains("is missing"), "{missing}");
        std::fs::create_dir(&b).unwrap();
        let bad = tmp.path().join("c:d");
        std::fs::create_dir(&bad).unwrap();
        assert!(mount_read_only(&rec, &[a.clone(), bad], &target).is_err());
        assert!(rec.lines().is_empty());
        mount_read_only(&rec, &[a.clone(), b.clone()], &target).unwrap();
        assert_eq!(
            rec.lines(),
            [format!(
                "mount overlay {} overlay MsFlags(MS_RDONLY) lowerdir={}:{}",
                target.display(),
                b.display(),
                a.display()
            )]
        );
    }
}
