//! An OCI runtime-spec bundle (`config.json` read with oci-spec's types),
//! run by the runtime: what `skiff-runc create` needs below the command line.
//!
//! | step | file |
//! | --- | --- |
//! | clone into the spec's namespaces (or join the given paths), cgroup, wait for the init | `mod.rs` ([`spawn`]) |
//! | the init: rootfs, devices, pivot_root, masked paths, credentials, seccomp, exec.fifo, exec | `init.rs` |
//! | `mounts[]` with their options, `linux.devices`, masked and read-only paths | `mounts.rs` |
//! | capabilities, rlimits, user and groups, seccomp | `creds.rs` |
//! | one hook: state on stdin, timeout | `hook.rs` |
//!
//! What the runtime cannot honour is refused by [`check`] before anything
//! is created, with the field's name in the message.

pub mod creds;
pub mod hook;
pub mod init;
pub mod mounts;

use super::cgroups::{Cgroup, Placement};
use super::error::{Result, RuntimeError};
use super::process::parent;
use nix::sched::CloneFlags;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

/// What the init of a bundle needs besides the spec.
pub struct Launch<'a> {
    pub spec: &'a Spec,
    /// The bundle's root filesystem (absolute).
    pub rootfs: &'a Path,
    /// `exec.fifo`: the init waits on it until `start`.
    pub fifo: &'a Path,
    /// `--no-pivot`: MS_MOVE + chroot instead of pivot_root.
    pub no_pivot: bool,
    /// More v1 `tasks` files to join (cgroups::v1_extra: cpuset).
    pub extra_tasks: Vec<PathBuf>,
}

/// A started init waiting on its exec.fifo, and the pty master when
/// `process.terminal` is set.
pub struct Started {
    pub pid: Pid,
    pub console: Option<OwnedFd>,
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(0x80),
    }
}

/// Refuse what the runtime does not do, naming the field.
pub fn check(spec: &Spec) -> Result<()> {
    let unsupported = |what: &str| {
        Err(RuntimeError::Invalid(format!(
            "{what} is not supported by skiff-runc; remove it from config.json"
        )))
    };
    let Some(linux) = spec.linux() else {
        return unsupported("a config.json without a \"linux\" section");
    };
    let Some(process) = spec.process() else {
        return unsupported("a config.json without \"process\"");
    };
    if process.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(RuntimeError::Invalid(
            "process.args must name the program to run".into(),
        ));
    }
    if !process.cwd().is_absolute() {
        return Err(RuntimeError::Invalid(format!(
            "process.cwd {:?} must be an absolute path",
            process.cwd()
        )));
    }
    let namespaces = linux.namespaces().clone().unwrap_or_default();
    let mut seen = Vec::new();
    for ns in &namespaces {
        if seen.contains(&ns.typ()) {
            return Err(RuntimeError::Invalid(format!(
                "linux.namespaces lists {} twice",
                ns.typ()
            )));
        }
        seen.push(ns.typ());
        match ns.typ() {
            LinuxNamespaceType::User if ns.path().is_some() => {
                return unsupported("joining a user namespace by path")
            }
            LinuxNamespaceType::Time => {
                return unsupported("a time namespace (linux.namespaces type time)")
            }
            _ => {}
        }
        if let Some(p) = ns.path() {
            if !p.is_absolute() {
                return Err(RuntimeError::Invalid(format!(
                    "linux.namespaces {} path {} must be absolute",
                    ns.typ(),
                    p.display()
                )));
            }
        }
    }
    let names_host = spec.hostname().as_ref().is_some_and(|h| !h.is_empty())
        || spec.domainname().as_ref().is_some_and(|d| !d.is_empty());
    if names_host
        && !namespaces
            .iter()
            .any(|n| n.typ() == LinuxNamespaceType::Uts)
    {
        return Err(RuntimeError::Invalid(
            "hostname and domainname need a uts namespace (linux.namespaces type uts): they would rename the host"
                .into(),
        ));
    }
    if !namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::Mount)
    {
        return unsupported("a container without a mount namespace");
    }
    let maps = linux.uid_mappings().as_ref().is_some_and(|m| !m.is_empty())
        && linux.gid_mappings().as_ref().is_some_and(|m| !m.is_empty());
    let userns = namespaces
        .iter()
        .any(|n| n.typ() == LinuxNamespaceType::User);
    if userns != maps {
        return Err(RuntimeError::Invalid(
            "a user namespace needs linux.uidMappings and linux.gidMappings, and they need one"
                .into(),
        ));
    }
    if linux.intel_rdt().is_some() {
        return unsupported("linux.intelRdt");
    }
    if linux.personality().is_some() {
        return unsupported("linux.personality");
    }
    if process
        .apparmor_profile()
        .as_ref()
        .is_some_and(|p| !p.is_empty())
        || process
            .selinux_label()
            .as_ref()
            .is_some_and(|p| !p.is_empty())
    {
        return unsupported("process.apparmorProfile/selinuxLabel");
    }
    for m in spec.mounts().iter().flatten() {
        mounts::check(m)?;
    }
    for p in linux
        .masked_paths()
        .iter()
        .flatten()
        .chain(linux.readonly_paths().iter().flatten())
    {
        mounts::check_container_path(p, "linux.maskedPaths/readonlyPaths")?;
    }
    if let Some(s) = linux.seccomp() {
        creds::seccomp_of(s)?;
    }
    Ok(())
}

/// Clone the init into the spec's namespaces (joining those given by path),
/// put it into `cgroup`, and wait until it has built the container and sits
/// on the exec.fifo. On error the init is gone.
pub fn spawn(launch: &Launch<'_>, cgroup: &Cgroup) -> Result<Started> {
    check(launch.spec)?;
    let linux = launch
        .spec
        .linux()
        .as_ref()
        .ok_or_else(|| RuntimeError::Invalid("config.json has no \"linux\" section".into()))?;
    let mut flags = CloneFlags::empty();
    let mut join: Vec<(LinuxNamespaceType, OwnedFd)> = Vec::new();
    let mut new_cgroup_ns = false;
    for ns in linux.namespaces().iter().flatten() {
        match ns.path() {
            Some(p) => {
                let f = std::fs::File::open(p)
                    .map_err(RuntimeError::io("cannot open the namespace", p))?;
                if ns.typ() == LinuxNamespaceType::Pid {
                    // Applies to the children of this process: the init.
                    nix::sched::setns(&f, CloneFlags::CLONE_NEWPID).map_err(RuntimeError::sys(
                        format!("join the pid namespace {}", p.display()),
                    ))?;
                } else {
                    join.push((ns.typ(), f.into()));
                }
            }
            None if ns.typ() == LinuxNamespaceType::Cgroup => new_cgroup_ns = true,
            None => flags |= ns_flag(ns.typ()),
        }
    }
    let placement = match cgroup.placement()? {
        Placement::SelfJoin(mut tasks) => {
            tasks.extend(launch.extra_tasks.iter().cloned());
            Placement::SelfJoin(tasks)
        }
        other => other,
    };
    let cgroup_fs = cgroup.mounts();
    // With a user namespace the init can write neither the host's cgroup
    // files nor its own maps: skiff does both, then sends Go.
    let userns = flags.contains(CloneFlags::CLONE_NEWUSER);
    let spawned = parent::start(
        flags.bits(),
        cgroup,
        &placement,
        !userns,
        userns,
        |cs, theirs| {
            let ctx = init::Context {
                launch,
                join: &join,
                new_cgroup_ns,
                cgroup_fs: &cgroup_fs,
                join_cgroup: cs.join_cgroup,
                wait_for_go: cs.wait_for_go,
            };
            init::main(&ctx, theirs)
        },
        |pid| {
            for t in &launch.extra_tasks {
                std::fs::write(t, pid.to_string()).map_err(RuntimeError::io("cannot join", t))?;
            }
            if userns {
                write_maps(pid, linux)?;
            }
            Ok(())
        },
    )?;
    Ok(Started {
        pid: spawned.pid,
        console: spawned.console,
    })
}

/// uid_map and gid_map of the init's new user namespace.
fn write_maps(pid: Pid, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let lines = |maps: &Option<Vec<oci_spec::runtime::LinuxIdMapping>>| {
        maps.iter()
            .flatten()
            .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
            .collect::<String>()
    };
    for (file, text) in [
        ("uid_map", lines(linux.uid_mappings())),
        ("gid_map", lines(linux.gid_mappings())),
    ] {
        let p = PathBuf::from(format!("/proc/{pid}/{file}"));
        std::fs::write(&p, text).map_err(RuntimeError::io("cannot write", &p))?;
    }
    Ok(())
}

/// The bundle's `root.path`, relative to the bundle directory unless absolute.
pub fn rootfs_of(spec: &Spec, bundle: &Path) -> Result<PathBuf> {
    let root = spec
        .root()
        .as_ref()
        .ok_or_else(|| RuntimeError::Invalid("config.json has no root.path".into()))?;
    let p = if root.path().is_absolute() {
        root.path().clone()
    } else {
        bundle.join(root.path())
    };
    let p = p
        .canonicalize()
        .map_err(RuntimeError::io("root.path: cannot open", &p))?;
    if !p.is_dir() {
        return Err(RuntimeError::Invalid(format!(
            "root.path {} is not a directory",
            p.display()
        )));
    }
    Ok(p)
}
