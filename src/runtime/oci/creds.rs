//! The credentials a bundle asks for: `process.rlimits`,
//! `process.capabilities` (five sets), `process.user` (uid, gid,
//! additionalGids, umask), and `linux.seccomp` mapped onto skiff's
//! docker-format profile loader (the OCI object has the same fields).

use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::seccomp::Seccomp;
use caps::{CapSet, CapsHashSet};
use nix::sys::resource::{setrlimit, Resource};
use oci_spec::runtime::{
    Capabilities, LinuxCapabilities, LinuxSeccomp, PosixRlimit, PosixRlimitType, User,
};
use std::str::FromStr;

/// `linux.seccomp` as a skiff filter: the object serialized as JSON and
/// read by the docker-format loader (unknown system calls, actions or
/// architectures are refused there, with the field named).
pub fn seccomp_of(s: &LinuxSeccomp) -> Result<Seccomp> {
    let json = serde_json::to_string(s)
        .map_err(|e| RuntimeError::Invalid(format!("linux.seccomp: {e}")))?;
    Seccomp::from_json("config.json linux.seccomp", json)
        .map_err(|e| RuntimeError::Invalid(e.to_string()))
}

fn resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

pub fn set_rlimits(list: &[PosixRlimit]) -> Result<()> {
    for r in list {
        setrlimit(resource(r.typ()), r.soft(), r.hard()).map_err(RuntimeError::sys(format!(
            "set {} to {}/{} (a hard limit above the current one needs CAP_SYS_RESOURCE)",
            r.typ(),
            r.soft(),
            r.hard()
        )))?;
    }
    Ok(())
}

fn to_caps(set: &Option<Capabilities>) -> Result<CapsHashSet> {
    let mut out = CapsHashSet::new();
    for c in set.iter().flatten() {
        let name = format!("CAP_{c}");
        let cap = caps::Capability::from_str(&name)
            .map_err(|_| RuntimeError::Invalid(format!("unknown capability {name}")))?;
        out.insert(cap);
    }
    Ok(out)
}

fn cap_err(what: &'static str) -> impl FnOnce(caps::errors::CapsError) -> RuntimeError {
    move |e| RuntimeError::Init(format!("cannot set the {what} capabilities: {e}"))
}

/// Before the user switch (needs CAP_SETPCAP): drop what the bounding set
/// does not keep, and keep the permitted set across setuid.
pub fn limit_bounding(c: Option<&LinuxCapabilities>) -> Result<()> {
    let Some(c) = c else { return Ok(()) };
    let keep = to_caps(c.bounding())?;
    for cap in caps::all() {
        if !keep.contains(&cap) && caps::has_cap(None, CapSet::Bounding, cap).unwrap_or(false) {
            caps::drop(None, CapSet::Bounding, cap).map_err(cap_err("bounding"))?;
        }
    }
    Ok(())
}

/// setgroups, setgid, setuid (keeping capabilities across it) and the umask.
pub fn switch_user(u: &User) -> Result<()> {
    use nix::unistd::{setgroups, setresgid, setresuid, Gid, Uid};
    crate::sys::process::set_keep_caps(true).map_err(RuntimeError::os("set keep-capabilities"))?;
    let groups: Vec<Gid> = u
        .additional_gids()
        .iter()
        .flatten()
        .map(|g| Gid::from_raw(*g))
        .collect();
    setgroups(&groups).map_err(RuntimeError::sys("setgroups (process.user.additionalGids)"))?;
    let gid = Gid::from_raw(u.gid());
    setresgid(gid, gid, gid).map_err(RuntimeError::sys(format!("setgid {}", u.gid())))?;
    let uid = Uid::from_raw(u.uid());
    setresuid(uid, uid, uid).map_err(RuntimeError::sys(format!("setuid {}", u.uid())))?;
    let _ = crate::sys::process::set_keep_caps(false);
    let umask = u.umask().unwrap_or(0o022);
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(umask));
    Ok(())
}

/// After the user switch: the permitted, inheritable, effective and ambient
/// sets as the spec lists them.
pub fn apply_sets(c: Option<&LinuxCapabilities>) -> Result<()> {
    let Some(c) = c else { return Ok(()) };
    let permitted = to_caps(c.permitted())?;
    let effective = to_caps(c.effective())?;
    caps::set(None, CapSet::Effective, &CapsHashSet::new()).map_err(cap_err("effective"))?;
    caps::set(None, CapSet::Inheritable, &to_caps(c.inheritable())?)
        .map_err(cap_err("inheritable"))?;
    caps::set(None, CapSet::Permitted, &permitted).map_err(cap_err("permitted"))?;
    caps::set(None, CapSet::Effective, &effective).map_err(cap_err("effective"))?;
    // As runc: an ambient capability the inheritable and permitted sets
    // do not both hold cannot be raised and is left out.
    for cap in to_caps(c.ambient())? {
        let _ = caps::raise(None, CapSet::Ambient, cap);
    }
    Ok(())
}
