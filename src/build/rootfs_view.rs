//! A read-only view of an image's merged filesystem, computed from its
//! unpacked layer directories the way overlayfs would (whiteouts, opaque
//! directories), without mounting anything. The builder uses it to answer
//! "is /app a directory in the image?" and to read /etc/passwd for --chown.

use std::fs;
use std::path::{Component, Path, PathBuf};

pub struct RootfsView {
    /// Layer directories, top layer first.
    layers: Vec<PathBuf>,
}

use crate::sys::xattr::{is_overlay_opaque as is_opaque, is_overlay_whiteout as is_whiteout};

impl RootfsView {
    /// `layers_bottom_first` as `LocalImage::layer_dirs` returns them.
    pub fn new(layers_bottom_first: &[PathBuf]) -> RootfsView {
        RootfsView {
            layers: layers_bottom_first.iter().rev().cloned().collect(),
        }
    }

    /// The layer path that provides `path` in the merged view, if it exists.
    /// Symlinks are not followed (a symlinked component means "not found").
    pub fn find(&self, path: &str) -> Option<(PathBuf, fs::Metadata)> {
        let comps: Vec<&std::ffi::OsStr> = Path::new(path)
            .components()
            .filter_map(|c| match c {
                Component::Normal(n) => Some(n),
                _ => None,
            })
            .collect();
        'layers: for layer in &self.layers {
            let mut cur = layer.clone();
            for (i, c) in comps.iter().enumerate() {
                cur.push(c);
                match fs::symlink_metadata(&cur) {
                    Ok(m) if is_whiteout(&m) => return None,
                    Ok(m) if i + 1 == comps.len() => return Some((cur, m)),
                    Ok(m) if m.is_dir() => {
                        if is_opaque(&cur) {
                            // Nothing below comes from lower layers: finish here.
                            let rest: PathBuf = comps[i + 1..].iter().collect();
                            let full = cur.join(rest);
                            return fs::symlink_metadata(&full)
                                .ok()
                                .filter(|m| !is_whiteout(m))
                                .map(|m| (full, m));
                        }
                    }
                    Ok(_) => return None, // a file or symlink where a directory should be
                    Err(_) => continue 'layers,
                }
            }
            if comps.is_empty() {
                return fs::symlink_metadata(layer).ok().map(|m| (layer.clone(), m));
            }
        }
        None
    }

    pub fn is_dir(&self, path: &str) -> bool {
        self.find(path).is_some_and(|(_, m)| m.is_dir())
    }

    /// Contents of a small file (e.g. /etc/passwd), empty when missing.
    pub fn read_to_string(&self, path: &str) -> String {
        match self.find(path) {
            Some((p, m)) if m.is_file() => fs::read_to_string(p).unwrap_or_default(),
            _ => String::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whiteouts_and_opaque_dirs_hide_lower_entries() {
        let d = tempfile::tempdir().unwrap();
        let (low, up) = (d.path().join("low"), d.path().join("up"));
        fs::create_dir_all(low.join("app/old")).unwrap();
        fs::create_dir_all(low.join("etc")).unwrap();
        fs::write(low.join("etc/passwd"), "root:x:0:0::/root:/bin/sh\n").unwrap();
        fs::create_dir_all(low.join("opq/gone")).unwrap();
        fs::create_dir_all(up.join("opq")).unwrap();
        fs::create_dir_all(up.join("app")).unwrap();
        nix::sys::stat::mknod(
            &up.join("app/old"),
            nix::sys::stat::SFlag::S_IFCHR,
            nix::sys::stat::Mode::empty(),
            0,
        )
        .unwrap();
        crate::sys::xattr::set(&up.join("opq"), "trusted.overlay.opaque", b"y").unwrap();
        let v = RootfsView::new(&[low, up]);
        assert!(v.is_dir("/app"));
        assert!(v.find("/app/old").is_none());
        assert!(v.is_dir("/opq"));
        assert!(v.find("/opq/gone").is_none());
        assert!(v.read_to_string("/etc/passwd").starts_with("root"));
        assert!(v.is_dir("/"));
    }
}
