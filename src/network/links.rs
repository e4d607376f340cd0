//! Links on the host: the bridge of a network and a veth pair per
//! container, through route netlink in-process (`netlink.rs`), and IPv4
//! forwarding. `tool` runs the firewall's commands.

use super::netlink::{Rtnl, Veth};
use super::{NetworkError, Result};
use std::io::Write;
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

/// Run `prog args` with `input` on stdin; a failure carries its stderr.
pub fn tool(what: &str, prog: &str, args: &[&str], input: &str) -> Result<String> {
    let spawned = Command::new(prog)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = spawned.map_err(|e| NetworkError::Tool {
        what: what.to_string(),
        detail: format!("cannot run {prog}: {e} (install iptables, which has it)"),
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| NetworkError::Tool {
        what: what.to_string(),
        detail: format!("{prog}: {e}"),
    })?;
    if !out.status.success() {
        return Err(NetworkError::Tool {
            what: what.to_string(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The kernel's answer to one netlink step, named for the user.
fn nl<T>(what: impl Into<String>, r: std::io::Result<T>) -> Result<T> {
    r.map_err(|source| NetworkError::Netlink {
        what: what.into(),
        source,
    })
}

/// Does the link exist in this network namespace? (An ioctl on a socket
/// of the caller's namespace: /sys may show another namespace's links.)
pub fn exists(name: &str) -> bool {
    nix::net::if_::if_nametoindex(name).is_ok()
}

fn index(name: &str) -> Result<u32> {
    nix::net::if_::if_nametoindex(name).map_err(|e| NetworkError::Netlink {
        what: format!("find link {name}"),
        source: e.into(),
    })
}

/// The bridge with the gateway address, up.
pub fn create_bridge(bridge: &str, gateway: Ipv4Addr, prefix: u8) -> Result<()> {
    let what = format!("create bridge {bridge}");
    let mut rt = nl(&what, Rtnl::open())?;
    nl(
        format!("{what} (is the kernel's bridge module available?)"),
        rt.add_bridge(bridge),
    )?;
    let i = index(bridge)?;
    nl(
        format!("add address {gateway}/{prefix} to {bridge}"),
        rt.add_address(i, gateway, prefix),
    )
}

pub fn delete_link(name: &str) -> Result<()> {
    let Ok(i) = nix::net::if_::if_nametoindex(name) else {
        return Ok(());
    };
    let what = format!("delete {name}");
    let mut rt = nl(&what, Rtnl::open())?;
    match rt.delete(i) {
        Err(e) if e.raw_os_error() == Some(libc::ENODEV) => Ok(()),
        r => nl(what, r),
    }
}

/// The hardware address of the interface holding `addr`: docker's
/// `02:42` (locally administered, unicast) and the four address bytes. A
/// container that restarts with its address gets its MAC back too, so the
/// host's neighbour entry for it (which the kernel's forwarding of
/// published ports uses) stays right instead of pointing at the old veth
/// until it expires.
pub fn mac_of(addr: Ipv4Addr) -> [u8; 6] {
    let [a, b, c, d] = addr.octets();
    [0x02, 0x42, a, b, c, d]
}

/// One veth pair per attachment: `host` on `bridge`, its peer named
/// `inside` (with the MAC of `addr`) created directly in the network
/// namespace of `pid` (one netlink request each, on one socket).
pub fn add_veths(pid: i32, pairs: &[(&str, &str, &str, Ipv4Addr)]) -> Result<()> {
    let what = "connect the container to its network";
    let mut rt = nl(what, Rtnl::open())?;
    let pid = u32::try_from(pid).map_err(|_| NetworkError::Invalid(format!("bad pid {pid}")))?;
    for (host, inside, bridge, addr) in pairs {
        let veth = Veth {
            host,
            inside,
            inside_mac: mac_of(*addr),
            pid,
            bridge: index(bridge)?,
        };
        nl(
            format!("{what}: veth {host} on {bridge}, {inside} inside"),
            rt.add_veth(&veth),
        )?;
    }
    Ok(())
}

/// Route between interfaces (for the default route through NAT).
pub fn enable_forwarding() -> Result<()> {
    let p = std::path::Path::new("/proc/sys/net/ipv4/ip_forward");
    if std::fs::read_to_string(p)
        .map(|s| s.trim() == "1")
        .unwrap_or(false)
    {
        return Ok(());
    }
    std::fs::write(p, "1").map_err(NetworkError::io("cannot enable IPv4 forwarding in", p))
}

/// Links named `skiff<N>` that exist here (bridges skiff made).
pub fn skiff_bridges() -> Vec<String> {
    let mut out: Vec<String> = nix::net::if_::if_nameindex()
        .map(|list| {
            list.iter()
                .map(|i| i.name().to_string_lossy().into_owned())
                .filter(|n| {
                    n.strip_prefix(super::record::BRIDGE_PREFIX)
                        .is_some_and(|i| !i.is_empty() && i.bytes().all(|b| b.is_ascii_digit()))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Interface names inside the network namespace of `pid`.
pub fn names_in(pid: i32) -> Result<Vec<String>> {
    let what = "list the container's interfaces";
    let mut rt = nl(what, Rtnl::open_in(pid))?;
    Ok(nl(what, rt.links())?.into_iter().map(|(_, n)| n).collect())
}

/// Address and up for `name` inside the namespace of `pid` (a container
/// that is already running).
pub fn configure_in(pid: i32, name: &str, addr: Ipv4Addr, prefix: u8) -> Result<()> {
    let what = format!("configure {name} in the container");
    let mut rt = nl(&what, Rtnl::open_in(pid))?;
    let Some(i) = nl(&what, rt.index_of(name))? else {
        return Err(NetworkError::Invalid(format!(
            "{what}: no interface {name} inside"
        )));
    };
    nl(&what, rt.add_address(i, addr, prefix))?;
    nl(what, rt.set_up(i))
}

/// The interface holding `addr` inside the namespace of `pid`, removed
/// (its veth pair goes with it).
pub fn remove_in(pid: i32, addr: Ipv4Addr) -> Result<()> {
    let what = format!("remove the interface of {addr} from the container");
    let mut rt = nl(&what, Rtnl::open_in(pid))?;
    let found = nl(&what, rt.addresses_v4())?
        .into_iter()
        .find(|(_, a)| *a == addr);
    match found {
        Some((i, _)) => nl(what, rt.delete(i)),
        None => Ok(()),
    }
}
