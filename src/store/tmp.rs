//! Leftovers in `tmp/`: every temporary entry is named `.tmp-<pid>-<hex>`
//! by the process that made it, so an entry whose process is gone is an
//! orphan of a crash (kill -9 mid-import, mid-build) and can be removed.

use super::{layers::remove_tree, Result, Store};
use std::path::PathBuf;

/// The pid that created a tmp entry, from its name.
pub fn owner_pid(name: &str) -> Option<i64> {
    name.strip_prefix(".tmp-")?.split('-').next()?.parse().ok()
}

/// Is a process with this pid alive (and not a zombie)?
pub fn pid_alive(pid: i64) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => {}
        Err(_) => return false,
    }
    // A zombie has exited; only its parent has not reaped it yet.
    crate::sys::proc::stat(pid.into()).is_none_or(|s| !s.exited())
}

impl Store {
    /// Temporary entries whose creating process no longer exists.
    pub fn orphaned_tmp(&self) -> Result<Vec<PathBuf>> {
        let dir = self.tmp_dir();
        let mut out = Vec::new();
        for e in std::fs::read_dir(&dir)
            .map_err(super::StoreError::io("cannot list", &dir))?
            .flatten()
        {
            let name = e.file_name().to_string_lossy().into_owned();
            match owner_pid(&name) {
                Some(pid) if pid_alive(pid) => {}
                _ => out.push(e.path()),
            }
        }
        Ok(out)
    }

    /// Remove orphaned temporary entries; returns how many went.
    pub fn sweep_tmp(&self) -> Result<usize> {
        let orphans = self.orphaned_tmp()?;
        for p in &orphans {
            // A mount left by a killed build (COPY --from) would make removal
            // fail: detach it first; EINVAL just means it was not a mount.
            let _ = nix::mount::umount2(p, nix::mount::MntFlags::MNT_DETACH);
            remove_tree(p)?;
        }
        Ok(orphans.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orphans_are_entries_of_dead_processes() {
        let d = tempfile::tempdir().unwrap();
        let s = Store::open(d.path()).unwrap();
        let mine = s.tmp_dir().join(format!(".tmp-{}-abc", std::process::id()));
        std::fs::write(&mine, "x").unwrap();
        // pid_max is at most 2^22: this pid cannot exist.
        let dead = s.tmp_dir().join(".tmp-9999999-def");
        std::fs::create_dir_all(dead.join("sub")).unwrap();
        let stray = s.tmp_dir().join("stray");
        std::fs::write(&stray, "y").unwrap();
        assert_eq!(owner_pid(".tmp-42-x"), Some(42));
        assert_eq!(s.sweep_tmp().unwrap(), 2);
        assert!(mine.exists() && !dead.exists() && !stray.exists());
    }
}
