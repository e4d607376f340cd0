//! /etc/hosts, /etc/hostname and /etc/resolv.conf: written by skiff into
//! `containers/<id>/` and bind-mounted over the image's files.

use super::mounts::bind_file;
use crate::runtime::error::{Result, RuntimeError};
use crate::runtime::spec::{ContainerSpec, NetworkMode};
use std::os::fd::BorrowedFd;
use std::path::Path;

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

fn hosts(spec: &ContainerSpec) -> String {
    if spec.network == NetworkMode::Host {
        if let Ok(h) = std::fs::read_to_string("/etc/hosts") {
            return h;
        }
    }
    format!(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n127.0.1.1\t{}\n",
        spec.hostname
    )
}

/// Host side, at create time.
pub fn write(dir: &Path, spec: &ContainerSpec) -> Result<()> {
    let files = [
        ("hosts", hosts(spec)),
        ("hostname", format!("{}\n", spec.hostname)),
        ("resolv.conf", host_resolv_conf(spec.network)),
    ];
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::write(&p, content).map_err(RuntimeError::io("cannot write", &p))?;
    }
    Ok(())
}

/// Container side, before pivot_root.
pub fn bind(root: BorrowedFd<'_>, dir: &Path) -> Result<()> {
    for name in FILES {
        bind_file(root, &dir.join(name), &format!("/etc/{name}"))?;
    }
    Ok(())
}
