//! `-v` and `--tmpfs` as docker reads them: bind mounts, named volumes,
//! tmpfs mounts and their options, checked targets.

use super::{BindMount, TmpfsMount};
use crate::runtime::error::{Result, RuntimeError};
use std::path::{Path, PathBuf};

pub(super) fn check_target(t: &str, what: &str) -> Result<()> {
    if !t.starts_with('/') {
        return Err(RuntimeError::Invalid(format!(
            "{what}: the container path {t:?} must be absolute"
        )));
    }
    if t.split('/').any(|c| c == "..") {
        return Err(RuntimeError::Invalid(format!(
            "{what}: the container path {t:?} must not contain .."
        )));
    }
    Ok(())
}

/// `SRC:DST[:ro|rw]`.
/// docker's rule for `-v` sources: one that starts with `.` is a host path
/// relative to the working directory `cwd`; it is made absolute here, so
/// the container's recorded options mean the same from any directory.
pub fn absolute_volume(v: &str, cwd: &Path) -> String {
    match v.split_once(':') {
        Some((src, rest)) if src.starts_with('.') => {
            let mut p = cwd.to_path_buf();
            for c in src.split('/') {
                match c {
                    "" | "." => {}
                    ".." => {
                        p.pop();
                    }
                    c => p.push(c),
                }
            }
            format!("{}:{rest}", p.display())
        }
        _ => v.to_string(),
    }
}

pub fn parse_volume(v: &str) -> Result<BindMount> {
    let parts: Vec<&str> = v.split(':').collect();
    let (src, dst, opts) = match parts.as_slice() {
        [s, d] => (*s, *d, ""),
        [s, d, o] => (*s, *d, *o),
        _ => {
            return Err(RuntimeError::Invalid(format!(
                "invalid volume spec {v:?} (expected /host/path:/container/path[:ro])"
            )))
        }
    };
    let volume = if src.starts_with('/') {
        None
    } else {
        crate::store::volumes::check_volume_name(src).map_err(|e| {
            RuntimeError::Invalid(format!(
                "invalid volume spec {v:?}: {e}; a host path is absolute or starts with ./ or ../"
            ))
        })?;
        Some(src.to_string())
    };
    check_target(dst, &format!("volume {v:?}"))?;
    let mut readonly = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => readonly = true,
            "rw" | "z" | "Z" | "rbind" => {}
            _ => {
                return Err(RuntimeError::Invalid(format!(
                    "invalid volume option {o:?} in {v:?}"
                )))
            }
        }
    }
    Ok(BindMount {
        source: if volume.is_some() {
            PathBuf::new()
        } else {
            PathBuf::from(src)
        },
        target: dst.to_string(),
        readonly,
        volume,
    })
}

/// `PATH[:opt,opt,...]`; defaults as docker: noexec, nosuid, nodev.
pub fn parse_tmpfs(t: &str) -> Result<TmpfsMount> {
    let (path, opts) = t.split_once(':').unwrap_or((t, ""));
    check_target(path, &format!("--tmpfs {t:?}"))?;
    let mut m = TmpfsMount {
        target: path.to_string(),
        readonly: false,
        noexec: true,
        nosuid: true,
        nodev: true,
        data: String::new(),
    };
    let mut data = Vec::new();
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" => m.readonly = true,
            "rw" => m.readonly = false,
            "exec" => m.noexec = false,
            "noexec" => m.noexec = true,
            "suid" => m.nosuid = false,
            "nosuid" => m.nosuid = true,
            "dev" => m.nodev = false,
            "nodev" => m.nodev = true,
            _ if ["size=", "mode=", "uid=", "gid=", "nr_inodes="]
                .iter()
                .any(|p| o.starts_with(p)) =>
            {
                data.push(o)
            }
            _ => {
                return Err(RuntimeError::Invalid(format!(
                    "invalid tmpfs option {o:?} in {t:?}"
                )))
            }
        }
    }
    m.data = data.join(",");
    Ok(m)
}
