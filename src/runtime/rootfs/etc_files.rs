//! /etc/hosts, /etc/hostname and /etc/resolv.conf: written by skiff into
//! `containers/<id>/` and bind-mounted over the image's files. On a bridge
//! network /etc/hosts is skiff's per-container hosts file instead, which
//! changes as peers come and go (`network::hosts`): the directory holding
//! it is mounted read-only at /etc/.skiff and /etc/hosts is a symlink to
//! it, so each update (a rename) is seen at once and whole.

use super::mounts::{bind_file, make_readonly, mount};
use super::resolve::{ensure, Kind};
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::spec::{ContainerSpec, NetworkMode};
use crate::sys::fs::fd_path;
use crate::sys::syscall::Syscall;
use nix::mount::MsFlags;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;

/// Where the container sees its live hosts directory.
const LIVE_DIR: &str = "/etc/.skiff";

pub const FILES: [&str; 3] = ["hosts", "hostname", "resolv.conf"];

/// The resolv.conf to copy: the host's, or systemd-resolved's upstream list
/// when the host's points at a local stub the container cannot reach.
fn host_resolv_conf(network: NetworkMode) -> String {
    let text = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    if network != NetworkMode::Host
        && text
            .lines()
            .any(|l| l.trim_start().starts_with("nameserver 127."))
    {
        if let Ok(upstream) = std::fs::read_to_string("/run/systemd/resolve/resolv.conf") {
            return upstream;
        }
    }
    text
}

/// `--dns`: the given resolvers replace the host's, its search and
/// options lines stay.
fn resolv_conf(spec: &ContainerSpec) -> String {
    let host = host_resolv_conf(spec.network);
    if spec.dns.is_empty() {
        return host;
    }
    let mut out: String = spec
        .dns
        .iter()
        .map(|d| format!("nameserver {d}\n"))
        .collect();
    for l in host.lines() {
        let t = l.trim_start();
        if t.starts_with("search ") || t.starts_with("options ") || t.starts_with("domain ") {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

fn hosts(spec: &ContainerSpec) -> String {
    let mut text = String::new();
    if spec.network == NetworkMode::Host {
        if let Ok(h) = std::fs::read_to_string("/etc/hosts") {
            text = h;
        }
    }
    if text.is_empty() {
        text = format!(
            "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{}\n",
            spec.hostname
        );
    }
    for h in &spec.add_hosts {
        if let Some((name, ip)) = h.split_once(':') {
            text.push_str(&format!("{ip}\t{name}\n"));
        }
    }
    text
}

/// Host side, at create time.
pub fn write(dir: &Path, spec: &ContainerSpec) -> Result<()> {
    let files = [
        ("hosts", hosts(spec)),
        ("hostname", format!("{}\n", spec.hostname)),
        ("resolv.conf", resolv_conf(spec)),
    ];
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content).map_err(RuntimeError::io("cannot write", &p))?;
    }
    Ok(())
}

/// Container side, before pivot_root.
pub fn bind(
    sys: &dyn Syscall,
    root: BorrowedFd<'_>,
    dir: &Path,
    spec: &ContainerSpec,
) -> Result<()> {
    for name in FILES {
        if name == "hosts" && spec.network == NetworkMode::Bridge && spec.hosts_snapshot {
            let live = dir.join(crate::network::hosts::DIR).join(name);
            bind_file(sys, root, &live, "/etc/hosts")?;
        } else if name == "hosts" && spec.network == NetworkMode::Bridge {
            live_hosts(sys, root, dir)?;
        } else {
            bind_file(sys, root, &dir.join(name), &format!("/etc/{name}"))?;
        }
    }
    Ok(())
}

/// `containers/<id>/net/` read-only at /etc/.skiff, /etc/hosts a symlink
/// to `.skiff/hosts` (in the container's writable layer).
fn live_hosts(sys: &dyn Syscall, root: BorrowedFd<'_>, dir: &Path) -> Result<()> {
    let source = dir.join(crate::network::hosts::DIR);
    let target = ensure(root, LIVE_DIR, Kind::Dir)?;
    mount(
        sys,
        &source.to_string_lossy(),
        &fd_path(&target),
        None,
        MsFlags::MS_BIND,
        None,
        LIVE_DIR,
    )?;
    let mounted = ensure(root, LIVE_DIR, Kind::Dir)?;
    make_readonly(sys, &fd_path(&mounted), false)?;
    let etc = ensure(root, "/etc", Kind::Dir)?;
    match nix::unistd::unlinkat(
        etc.as_fd(),
        "hosts",
        nix::unistd::UnlinkatFlags::NoRemoveDir,
    ) {
        Ok(()) | Err(nix::Error::ENOENT) => {}
        Err(e) => {
            return Err(RuntimeError::Sys {
                what: "replace /etc/hosts in the container".into(),
                source: e.into(),
            })
        }
    }
    nix::unistd::symlinkat(".skiff/hosts", etc.as_fd(), "hosts").map_err(RuntimeError::sys(
        "link /etc/hosts to the network's hosts file in the container",
    ))
}
