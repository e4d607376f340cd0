//! The seccomp filter of a container: skiff's default allow-list
//! (`default_profile.rs`), a docker-format profile given with
//! `--security-opt seccomp=PROFILE.json` (`profile.rs`), or none
//! (`seccomp=unconfined`). Policies compile to BPF in `policy.rs`
//! (a search by number, then seccompiler for the calls whose arguments matter) and are installed here with a
//! plain seccomp(2) call, because seccompiler's `apply_filter` always sets
//! no_new_privs, which `--security-opt no-new-privileges=false` must avoid.

pub mod default_profile;
pub mod policy;
pub mod profile;
pub mod syscalls;

use super::error::{Result, RuntimeError};
use crate::sys::syscall::Syscall;
use seccompiler::BpfProgram;
use serde::{Deserialize, Serialize};

pub use profile::ProfileError;

/// Which filter a container gets; recorded in its spec and config, so a
/// restart or a rollout installs the same one. A profile is kept by
/// content (as docker does), so editing or removing the file later
/// changes nothing for the container.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Seccomp {
    /// skiff's default allow-list.
    #[default]
    Default,
    /// No filter.
    Unconfined,
    /// A docker-format profile: the path as given and its content.
    Profile { path: String, json: String },
}

impl Seccomp {
    /// `unconfined`, or the path of a profile (read now and checked).
    pub fn from_option(value: &str) -> std::result::Result<Seccomp, ProfileError> {
        if value == "unconfined" {
            return Ok(Seccomp::Unconfined);
        }
        let json = read_profile(value)?;
        Seccomp::from_json(value, json)
    }

    /// A docker-format profile already in memory (an OCI `linux.seccomp`
    /// object has the same shape), checked as [`Seccomp::from_option`] does.
    pub fn from_json(value: &str, json: String) -> std::result::Result<Seccomp, ProfileError> {
        let s = Seccomp::Profile {
            path: value.to_string(),
            json,
        };
        let host = host();
        if let Seccomp::Profile { path, json } = &s {
            profile::parse(path, json, &host)?
                .programs()
                .map_err(|e| ProfileError::Invalid {
                    profile: path.clone(),
                    what: e.to_string(),
                })?;
        }
        Ok(s)
    }

    /// The programs to install, in order (none for unconfined).
    pub fn programs(&self) -> Result<Vec<BpfProgram>> {
        match self {
            Seccomp::Unconfined => Ok(Vec::new()),
            Seccomp::Default => default_profile::policy(kernel())?.programs(),
            Seccomp::Profile { path, json } => profile::parse(path, json, &host())?.programs(),
        }
    }
}

/// Profiles are small (docker's is 20 kB): a bigger file is refused
/// before it is read.
pub const MAX_PROFILE_BYTES: u64 = 1 << 20;

/// Read a profile: a regular file of at most `MAX_PROFILE_BYTES`, UTF-8.
fn read_profile(path: &str) -> std::result::Result<String, ProfileError> {
    use std::io::{Error, ErrorKind, Read};
    let bad = |source: Error| ProfileError::Read {
        profile: path.to_string(),
        source,
    };
    let f = std::fs::File::open(path).map_err(bad)?;
    if !f.metadata().map_err(bad)?.is_file() {
        return Err(bad(Error::new(
            ErrorKind::InvalidInput,
            "not a regular file",
        )));
    }
    let mut bytes = Vec::new();
    f.take(MAX_PROFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(bad)?;
    if bytes.len() as u64 > MAX_PROFILE_BYTES {
        return Err(bad(Error::new(
            ErrorKind::FileTooLarge,
            format!("larger than {MAX_PROFILE_BYTES} bytes, not a seccomp profile"),
        )));
    }
    String::from_utf8(bytes).map_err(|e| bad(Error::new(ErrorKind::InvalidData, e)))
}

/// What a profile's includes and excludes are checked against: the
/// capabilities every skiff container has, this machine, this kernel.
fn host() -> profile::Host<'static> {
    profile::Host {
        caps: &DEFAULT_CAPS,
        arch: GOARCH,
        kernel: kernel(),
    }
}

/// docker's default capabilities by name (capabilities.rs holds them by
/// number; a unit test keeps the two lists equal).
pub const DEFAULT_CAPS: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// The native architecture as docker's profiles name it (Go's GOARCH).
#[cfg(target_arch = "x86_64")]
const GOARCH: &str = "amd64";
#[cfg(target_arch = "aarch64")]
const GOARCH: &str = "arm64";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const GOARCH: &str = std::env::consts::ARCH;

/// The running kernel's (major, minor); (0, 0) if uname fails, which makes
/// every `minKernel` entry not apply (the stricter reading).
pub fn kernel() -> (u32, u32) {
    nix::sys::utsname::uname()
        .ok()
        .and_then(|u| profile::kernel_version(&u.release().to_string_lossy()))
        .unwrap_or((0, 0))
}

fn install_one(sys: &dyn Syscall, prog: &BpfProgram) -> Result<()> {
    sys.seccomp_filter(prog).map_err(|e| RuntimeError::Sys {
        what: "install the seccomp filter".into(),
        source: e,
    })
}

/// Install a container's filter on the calling thread. Requires
/// no_new_privs or CAP_SYS_ADMIN.
pub fn install(sys: &dyn Syscall, mode: &Seccomp) -> Result<()> {
    for p in &mode.programs()? {
        install_one(sys, p)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_match_capabilities_rs() {
        use std::str::FromStr;
        let mut by_name: Vec<u32> = DEFAULT_CAPS
            .iter()
            .map(|n| caps::Capability::from_str(n).unwrap().index() as u32)
            .collect();
        let mut by_number = crate::runtime::capabilities::DOCKER_DEFAULT.to_vec();
        by_name.sort();
        by_number.sort();
        assert_eq!(by_name, by_number);
    }

    #[test]
    fn options() {
        assert_eq!(
            Seccomp::from_option("unconfined").unwrap(),
            Seccomp::Unconfined
        );
        let e = Seccomp::from_option("/nonexistent/p.json")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("cannot read seccomp profile /nonexistent/p.json"),
            "{e}"
        );
        assert_eq!(Seccomp::Default.programs().unwrap().len(), 2);
        assert!(Seccomp::Unconfined.programs().unwrap().is_empty());
    }
}
