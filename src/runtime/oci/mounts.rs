//! A bundle's `mounts[]` (with runc's option words), `linux.devices`, the
//! default device nodes, and `linux.maskedPaths`/`readonlyPaths`. Every
//! destination is resolved inside the root (`rootfs::resolve`), and a
//! destination or masked path with `..` in it is refused up front.

use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::rootfs::mounts::{make_readonly, mount};
use crate::runtime::rootfs::resolve::{ensure, Kind};
use crate::sys::fs::fd_path;
use crate::sys::syscall::{Linux, Syscall};
use nix::mount::MsFlags;
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount};
use std::os::fd::BorrowedFd;
use std::path::Path;

/// A container path must be absolute and must not climb with `..`.
pub fn check_container_path(p: &str, field: &str) -> Result<()> {
    if !p.starts_with('/') || p.split('/').any(|c| c == "..") {
        return Err(RuntimeError::Invalid(format!(
            "{field}: {p:?} must be an absolute path inside the container (no \"..\")"
        )));
    }
    Ok(())
}

pub fn check(m: &Mount) -> Result<()> {
    let dest = m.destination().to_string_lossy();
    check_container_path(&dest, "mounts[].destination")?;
    for o in m.options().iter().flatten() {
        if o.starts_with("idmap") || o.starts_with("ridmap") {
            return Err(RuntimeError::Invalid(format!(
                "mount option {o:?} on {dest} is not supported by skiff-runc"
            )));
        }
    }
    Ok(())
}

/// (flags to set, flags to clear, propagation) of one option word; `None`
/// for filesystem data.
fn option(word: &str) -> Option<(MsFlags, MsFlags, MsFlags)> {
    let e = MsFlags::empty();
    Some(match word {
        "ro" => (MsFlags::MS_RDONLY, e, e),
        "rw" => (e, MsFlags::MS_RDONLY, e),
        "nosuid" => (MsFlags::MS_NOSUID, e, e),
        "suid" => (e, MsFlags::MS_NOSUID, e),
        "nodev" => (MsFlags::MS_NODEV, e, e),
        "dev" => (e, MsFlags::MS_NODEV, e),
        "noexec" => (MsFlags::MS_NOEXEC, e, e),
        "exec" => (e, MsFlags::MS_NOEXEC, e),
        "sync" => (MsFlags::MS_SYNCHRONOUS, e, e),
        "async" => (e, MsFlags::MS_SYNCHRONOUS, e),
        "dirsync" => (MsFlags::MS_DIRSYNC, e, e),
        "remount" => (MsFlags::MS_REMOUNT, e, e),
        "mand" => (MsFlags::MS_MANDLOCK, e, e),
        "nomand" => (e, MsFlags::MS_MANDLOCK, e),
        "atime" => (e, MsFlags::MS_NOATIME, e),
        "noatime" => (MsFlags::MS_NOATIME, e, e),
        "diratime" => (e, MsFlags::MS_NODIRATIME, e),
        "nodiratime" => (MsFlags::MS_NODIRATIME, e, e),
        "relatime" => (MsFlags::MS_RELATIME, e, e),
        "norelatime" => (e, MsFlags::MS_RELATIME, e),
        "strictatime" => (MsFlags::MS_STRICTATIME, e, e),
        "nostrictatime" => (e, MsFlags::MS_STRICTATIME, e),
        "bind" => (MsFlags::MS_BIND, e, e),
        "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, e, e),
        "private" => (e, e, MsFlags::MS_PRIVATE),
        "rprivate" => (e, e, MsFlags::MS_PRIVATE | MsFlags::MS_REC),
        "shared" => (e, e, MsFlags::MS_SHARED),
        "rshared" => (e, e, MsFlags::MS_SHARED | MsFlags::MS_REC),
        "slave" => (e, e, MsFlags::MS_SLAVE),
        "rslave" => (e, e, MsFlags::MS_SLAVE | MsFlags::MS_REC),
        "unbindable" => (e, e, MsFlags::MS_UNBINDABLE),
        "runbindable" => (e, e, MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
        _ => return None,
    })
}

/// Flags, propagation and the data string of a mount's options.
pub fn parse_options(opts: &[String]) -> (MsFlags, MsFlags, String) {
    let mut flags = MsFlags::empty();
    let mut prop = MsFlags::empty();
    let mut data = Vec::new();
    for o in opts {
        match option(o) {
            Some((set, clear, p)) => {
                flags = (flags | set) - clear;
                prop |= p;
            }
            None => data.push(o.as_str()),
        }
    }
    (flags, prop, data.join(","))
}

/// Mount one entry of `mounts[]` inside `root`. `/sys/fs/cgroup` of type
/// cgroup gets the container's own cgroups (`cgroup_fs`).
pub fn mount_one(
    root: BorrowedFd<'_>,
    m: &Mount,
    cgroup_fs: Option<&crate::runtime::cgroups::CgroupMount>,
) -> Result<()> {
    let dest = m.destination().to_string_lossy().to_string();
    let (flags, prop, data) = parse_options(m.options().as_deref().unwrap_or(&[]));
    let typ = m.typ().clone().unwrap_or_default();
    let is_bind = flags.contains(MsFlags::MS_BIND) || typ == "bind";
    if typ == "cgroup" || typ == "cgroup2" {
        return mount_cgroup(root, &dest, flags, cgroup_fs);
    }
    let source = m
        .source()
        .as_ref()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| typ.clone());
    let kind = if is_bind && !Path::new(&source).is_dir() {
        Kind::File
    } else {
        Kind::Dir
    };
    let target = ensure(root, &dest, kind)?;
    let tpath = fd_path(&target);
    if is_bind {
        let rec = flags & MsFlags::MS_REC;
        mount(
            &Linux,
            &source,
            &tpath,
            None,
            MsFlags::MS_BIND | rec,
            None,
            &dest,
        )?;
        let extra = flags - MsFlags::MS_BIND - MsFlags::MS_REC - MsFlags::MS_REMOUNT;
        if !extra.is_empty() {
            // The bind itself ignores flags: remount the new mount with them.
            let target = ensure(root, &dest, kind)?;
            let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
            Linux
                .mount(None, &fd_path(&target), None, remount, None)
                .map_err(RuntimeError::os(format!("remount {dest} with its options")))?;
        }
    } else {
        let data = (!data.is_empty()).then_some(data.as_str());
        mount(&Linux, &source, &tpath, Some(&typ), flags, data, &dest)?;
    }
    if !prop.is_empty() {
        let target = ensure(root, &dest, kind)?;
        Linux
            .mount(None, &fd_path(&target), None, prop, None)
            .map_err(RuntimeError::os(format!("set the propagation of {dest}")))?;
    }
    Ok(())
}

fn mount_cgroup(
    root: BorrowedFd<'_>,
    dest: &str,
    flags: MsFlags,
    cgroup_fs: Option<&crate::runtime::cgroups::CgroupMount>,
) -> Result<()> {
    use crate::runtime::cgroups::CgroupMount;
    let target = ensure(root, dest, Kind::Dir)?;
    let base = flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let ro = flags.contains(MsFlags::MS_RDONLY);
    match cgroup_fs {
        None | Some(CgroupMount::Unified) => {
            let f = if ro { base | MsFlags::MS_RDONLY } else { base };
            mount(
                &Linux,
                "cgroup2",
                &fd_path(&target),
                Some("cgroup2"),
                f,
                None,
                dest,
            )
        }
        Some(CgroupMount::Hierarchies(list)) => {
            let t = fd_path(&target);
            mount(
                &Linux,
                "tmpfs",
                &t,
                Some("tmpfs"),
                base,
                Some("mode=755"),
                dest,
            )?;
            let target = ensure(root, dest, Kind::Dir)?;
            let t = fd_path(&target);
            for (name, options) in list {
                let dir = format!("{t}/{name}");
                std::fs::create_dir(&dir)
                    .map_err(RuntimeError::io("cannot create", Path::new(&dir)))?;
                let f = if ro { base | MsFlags::MS_RDONLY } else { base };
                mount(
                    &Linux,
                    "cgroup",
                    &dir,
                    Some("cgroup"),
                    f,
                    Some(options),
                    &format!("{dest}/{name}"),
                )?;
            }
            if ro {
                make_readonly(&Linux, &t, false)?;
            }
            Ok(())
        }
    }
}

/// runc's default nodes and links in /dev, then `linux.devices`.
pub fn make_devices(root: BorrowedFd<'_>, extra: &[LinuxDevice]) -> Result<()> {
    use crate::runtime::rootfs::devices::DEFAULT_NODES;
    let dev = ensure(root, "/dev", Kind::Dir)?;
    let dev_path = fd_path(&dev);
    for (name, major, minor) in DEFAULT_NODES {
        let p = format!("{dev_path}/{name}");
        if Path::new(&p).exists() {
            continue;
        }
        node_or_bind(
            &p,
            SFlag::S_IFCHR,
            0o666,
            *major,
            *minor,
            &format!("/dev/{name}"),
        )?;
    }
    for (name, to) in [
        ("ptmx", "pts/ptmx"),
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        let p = format!("{dev_path}/{name}");
        if std::fs::symlink_metadata(&p).is_err() {
            std::os::unix::fs::symlink(to, &p)
                .map_err(RuntimeError::io("cannot create", Path::new(&p)))?;
        }
    }
    for d in extra {
        let path = d.path().to_string_lossy().to_string();
        check_container_path(&path, "linux.devices[].path")?;
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(RuntimeError::Invalid(format!(
                    "linux.devices {path}: type \"a\" is not a device node"
                )))
            }
        };
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", &path));
        let parent = if parent.is_empty() { "/" } else { parent };
        let pdir = ensure(root, parent, Kind::Dir)?;
        let p = format!("{}/{name}", fd_path(&pdir));
        let _ = std::fs::remove_file(&p);
        let mode = d.file_mode().unwrap_or(0o666);
        let bound = node_or_bind(&p, kind, mode, d.major() as u64, d.minor() as u64, &path)?;
        let uid = d.uid().map(nix::unistd::Uid::from_raw);
        let gid = d.gid().map(nix::unistd::Gid::from_raw);
        if !bound {
            nix::unistd::chown(p.as_str(), uid, gid)
                .map_err(RuntimeError::sys(format!("chown {path}")))?;
        }
    }
    Ok(())
}

/// mknod, or in a user namespace (where mknod is refused) a bind mount of
/// the host's node at the same path, as runc does.
/// Returns whether it bound the host's node.
fn node_or_bind(
    p: &str,
    kind: SFlag,
    mode: u32,
    major: u64,
    minor: u64,
    what: &str,
) -> Result<bool> {
    match mknod(
        p,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    ) {
        Err(nix::errno::Errno::EPERM) => {
            std::fs::File::create(p).map_err(RuntimeError::io("cannot create", Path::new(p)))?;
            mount(&Linux, what, p, None, MsFlags::MS_BIND, None, what)?;
            Ok(true)
        }
        _ => {
            let _ = std::fs::remove_file(p);
            node(p, kind, mode, major, minor, what)?;
            Ok(false)
        }
    }
}

fn node(p: &str, kind: SFlag, mode: u32, major: u64, minor: u64, what: &str) -> Result<()> {
    mknod(
        p,
        kind,
        Mode::from_bits_truncate(mode),
        makedev(major, minor),
    )
    .map_err(RuntimeError::sys(format!("mknod {what}")))?;
    // mknod obeys the umask; the spec's mode is meant as given.
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        p,
        Mode::from_bits_truncate(mode),
        nix::sys::stat::FchmodatFlags::FollowSymlink,
    )
    .map_err(RuntimeError::sys(format!("chmod {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o: Vec<String> = ["nosuid", "ro", "rw", "mode=755", "rprivate", "size=1m"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let (f, p, d) = parse_options(&o);
        assert_eq!(f, MsFlags::MS_NOSUID);
        assert_eq!(p, MsFlags::MS_PRIVATE | MsFlags::MS_REC);
        assert_eq!(d, "mode=755,size=1m");
    }

    #[test]
    fn container_paths_never_climb() {
        assert!(check_container_path("/proc/kcore", "x").is_ok());
        assert!(check_container_path("/../etc", "x").is_err());
        assert!(check_container_path("relative", "x").is_err());
        assert!(check_container_path("/a/../../b", "x").is_err());
    }
}
