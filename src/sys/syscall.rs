//! The kernel calls of container set-up — mounts, pivot_root, identity,
//! capabilities, no_new_privs, seccomp — behind one trait, so the order and
//! arguments of the set-up steps can be checked in unit tests without root
//! (a recording implementation), while [`Linux`] makes the real calls.

use super::caps::{self, Sets};
use nix::mount::{MntFlags, MsFlags};
use std::io;
use std::path::Path;

/// What container set-up asks of the kernel.
pub trait Syscall {
    /// mount(2).
    fn mount(
        &self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// mount_setattr(2) MOUNT_ATTR_RDONLY on the mount at `target`.
    fn mount_setattr_rdonly(&self, target: &str, recursive: bool) -> io::Result<()>;
    /// umount2(2) with MNT_DETACH.
    fn umount_detach(&self, target: &str) -> io::Result<()>;
    /// pivot_root(2).
    fn pivot_root(&self, new_root: &str, put_old: &str) -> io::Result<()>;
    /// chdir(2).
    fn chdir(&self, path: &Path) -> io::Result<()>;
    /// sethostname(2).
    fn sethostname(&self, name: &str) -> io::Result<()>;
    /// Drop capability `cap` from the bounding set (EINVAL past the last).
    fn cap_bounding_drop(&self, cap: u32) -> io::Result<()>;
    /// Clear the ambient set.
    fn cap_ambient_clear(&self) -> io::Result<()>;
    /// The thread's capability sets.
    fn caps_get(&self) -> io::Result<Sets>;
    /// Set the thread's capability sets.
    fn caps_set(&self, sets: Sets) -> io::Result<()>;
    /// setgroups, setresgid, setresuid (in that order).
    fn set_ids(&self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()>;
    /// umask(2).
    fn umask(&self, mode: u32);
    /// mknod(2) of a character device.
    fn mknod_char(&self, path: &Path, mode: u32, major: u64, minor: u64) -> io::Result<()>;
    /// PR_SET_NO_NEW_PRIVS.
    fn set_no_new_privs(&self) -> io::Result<()>;
    /// Install one seccomp BPF program.
    fn seccomp_filter(&self, prog: &[seccompiler::sock_filter]) -> io::Result<()>;
}

/// The real system calls.
#[derive(Clone, Copy, Debug, Default)]
pub struct Linux;

impl Syscall for Linux {
    fn mount(
        &self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        nix::mount::mount(source, target, fstype, flags, data).map_err(io::Error::from)
    }

    fn mount_setattr_rdonly(&self, target: &str, recursive: bool) -> io::Result<()> {
        let c = super::fs::cstr(target.as_bytes())?;
        super::mount::mount_setattr(
            libc::AT_FDCWD,
            &c,
            recursive,
            super::mount::MOUNT_ATTR_RDONLY,
        )
    }

    fn umount_detach(&self, target: &str) -> io::Result<()> {
        nix::mount::umount2(target, MntFlags::MNT_DETACH).map_err(io::Error::from)
    }

    fn pivot_root(&self, new_root: &str, put_old: &str) -> io::Result<()> {
        nix::unistd::pivot_root(new_root, put_old).map_err(io::Error::from)
    }

    fn chdir(&self, path: &Path) -> io::Result<()> {
        nix::unistd::chdir(path).map_err(io::Error::from)
    }

    fn sethostname(&self, name: &str) -> io::Result<()> {
        nix::unistd::sethostname(name).map_err(io::Error::from)
    }

    fn cap_bounding_drop(&self, cap: u32) -> io::Result<()> {
        caps::bounding_drop(cap)
    }

    fn cap_ambient_clear(&self) -> io::Result<()> {
        caps::ambient_clear()
    }

    fn caps_get(&self) -> io::Result<Sets> {
        caps::get()
    }

    fn caps_set(&self, sets: Sets) -> io::Result<()> {
        caps::set(sets)
    }

    fn set_ids(&self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
        let groups: Vec<Gid> = groups.iter().map(|g| Gid::from_raw(*g)).collect();
        setgroups(&groups)?;
        let gid = Gid::from_raw(gid);
        setresgid(gid, gid, gid)?;
        let uid = Uid::from_raw(uid);
        setresuid(uid, uid, uid)?;
        Ok(())
    }

    fn umask(&self, mode: u32) {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(
            mode as libc::mode_t,
        ));
    }

    fn mknod_char(&self, path: &Path, mode: u32, major: u64, minor: u64) -> io::Result<()> {
        use nix::sys::stat::{makedev, mknod, Mode, SFlag};
        let mode = Mode::from_bits_truncate(mode as libc::mode_t);
        mknod(path, SFlag::S_IFCHR, mode, makedev(major, minor)).map_err(io::Error::from)
    }

    fn set_no_new_privs(&self) -> io::Result<()> {
        super::process::set_no_new_privs()
    }

    fn seccomp_filter(&self, prog: &[seccompiler::sock_filter]) -> io::Result<()> {
        super::seccomp::set_mode_filter(prog)
    }
}

/// A [`Syscall`] that makes no call and records each one as a line
/// (`mount proc /proc proc`, `pivot_root . .`, …), for unit tests of the
/// order and arguments of set-up steps. Capability queries answer
/// `caps` (all set by default, as for root).
#[cfg(test)]
#[derive(Debug)]
pub struct Recorder {
    pub calls: std::cell::RefCell<Vec<String>>,
    pub caps: Sets,
}

#[cfg(test)]
impl Default for Recorder {
    fn default() -> Recorder {
        Recorder {
            calls: Default::default(),
            caps: Sets {
                effective: u64::MAX >> 23,
                permitted: u64::MAX >> 23,
                inheritable: 0,
            },
        }
    }
}

#[cfg(test)]
impl Recorder {
    fn push(&self, line: String) -> io::Result<()> {
        self.calls.borrow_mut().push(line);
        Ok(())
    }

    /// The recorded calls.
    pub fn lines(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    /// Index of the first call starting with `prefix`; panics if none.
    pub fn first(&self, prefix: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .position(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls.borrow()))
    }

    /// Index of the last call starting with `prefix`; panics if none.
    pub fn last(&self, prefix: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .rposition(|l| l.starts_with(prefix))
            .unwrap_or_else(|| panic!("no call {prefix:?} in {:#?}", self.calls.borrow()))
    }
}

#[cfg(test)]
impl Syscall for Recorder {
    fn mount(
        &self,
        source: Option<&str>,
        target: &str,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        self.push(format!(
            "mount {} {target} {} {flags:?} {}",
            source.unwrap_or("-"),
            fstype.unwrap_or("-"),
            data.unwrap_or("-")
        ))
    }
    fn mount_setattr_rdonly(&self, target: &str, recursive: bool) -> io::Result<()> {
        self.push(format!("readonly {target} recursive={recursive}"))
    }
    fn umount_detach(&self, target: &str) -> io::Result<()> {
        self.push(format!("umount {target}"))
    }
    fn pivot_root(&self, new_root: &str, put_old: &str) -> io::Result<()> {
        self.push(format!("pivot_root {new_root} {put_old}"))
    }
    fn chdir(&self, path: &Path) -> io::Result<()> {
        self.push(format!("chdir {}", path.display()))
    }
    fn sethostname(&self, name: &str) -> io::Result<()> {
        self.push(format!("sethostname {name}"))
    }
    fn cap_bounding_drop(&self, cap: u32) -> io::Result<()> {
        if cap > 40 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        self.push(format!("cap_bounding_drop {cap}"))
    }
    fn cap_ambient_clear(&self) -> io::Result<()> {
        self.push("cap_ambient_clear".into())
    }
    fn caps_get(&self) -> io::Result<Sets> {
        self.push("caps_get".into())?;
        Ok(self.caps)
    }
    fn caps_set(&self, s: Sets) -> io::Result<()> {
        self.push(format!(
            "caps_set effective={:#x} permitted={:#x} inheritable={:#x}",
            s.effective, s.permitted, s.inheritable
        ))
    }
    fn set_ids(&self, uid: u32, gid: u32, groups: &[u32]) -> io::Result<()> {
        self.push(format!("set_ids {uid} {gid} {groups:?}"))
    }
    fn umask(&self, mode: u32) {
        let _ = self.push(format!("umask {mode:o}"));
    }
    fn mknod_char(&self, path: &Path, mode: u32, major: u64, minor: u64) -> io::Result<()> {
        self.push(format!("mknod {} {mode:o} {major}:{minor}", path.display()))
    }
    fn set_no_new_privs(&self) -> io::Result<()> {
        self.push("no_new_privs".into())
    }
    fn seccomp_filter(&self, prog: &[seccompiler::sock_filter]) -> io::Result<()> {
        self.push(format!("seccomp {} instructions", prog.len()))
    }
}
