//! A container joins its networks at start and leaves them at removal.
//!
//! [`prepare`] (before the clone, under the networks lock): the bridge is
//! made if missing (first use, after a reboot), an address is allocated
//! (the same one again on a restart) and every member's hosts file is
//! rewritten. [`plug`] (once the container's network namespace exists):
//! one veth pair per network, the inside end created directly in the
//! container's namespace as `eth0`, `eth1`…; the container's init gives it
//! its address and default route. When the namespace goes, the kernel
//! removes the pair: nothing is left on the host to clean up but the
//! address, which [`release`] frees when the container is removed.

use super::hosts;
use super::ipam::{Allocations, Member};
use super::links;
use super::manage::plumb;
use super::record::Networks;
use super::{Result, DEFAULT_NETWORK};
use std::net::Ipv4Addr;
use std::path::Path;

/// What a container asks of its networks.
#[derive(Clone, Debug, Default)]
pub struct Request<'a> {
    pub container: &'a str,
    pub hostname: &'a str,
    pub networks: &'a [String],
    /// `--network-alias` names, on the networks the container joins for
    /// the first time here; a network it already holds an address on
    /// keeps the aliases it was given with (`network connect --alias`).
    pub aliases: &'a [String],
    /// `--ip`, on the first network.
    pub ip: Option<Ipv4Addr>,
    /// `--add-host NAME:IP`
    pub extra_hosts: &'a [String],
}

/// One interface of the container, decided before it starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Iface {
    /// Inside the container: `eth0`, `eth1`…
    pub name: String,
    /// The host's end of the veth pair, on `bridge`.
    pub host_end: String,
    pub bridge: String,
    pub network: String,
    pub addr: Ipv4Addr,
    pub prefix: u8,
    pub gateway: Ipv4Addr,
    /// The first network carries the default route.
    pub default_route: bool,
}

impl Iface {
    pub fn netmask(&self) -> Ipv4Addr {
        super::Subnet {
            addr: self.addr,
            prefix: self.prefix,
        }
        .netmask()
    }
}

/// A host-side veth name: unique per start, so a restart never races the
/// kernel's removal of the previous pair.
fn host_end_name() -> String {
    format!("vsk{:08x}", crate::sys::random::u64() as u32)
}

pub fn prepare(root: &Path, req: &Request<'_>) -> Result<Vec<Iface>> {
    for a in req.aliases {
        hosts::check_alias(a)?;
    }
    let nets = Networks::at(root);
    let _lock = nets.lock()?;
    let mut out = Vec::new();
    for (i, name) in req.networks.iter().enumerate() {
        let net = if name == DEFAULT_NETWORK {
            nets.ensure_default()?
        } else {
            nets.get(name)?
        };
        plumb(&net)?;
        let dir = nets.network_dir(&net.name);
        let mut table = Allocations::load(&dir)?;
        let before = table.clone();
        table.sweep(&nets.containers_dir());
        let aliases = match table.member(req.container) {
            Some(held) => held.aliases.clone(),
            None => req.aliases.to_vec(),
        };
        let member = Member {
            container: req.container.to_string(),
            hostname: req.hostname.to_string(),
            aliases,
            extra_hosts: req.extra_hosts.to_vec(),
        };
        let wanted = if i == 0 { req.ip } else { None };
        let addr = table.allocate(&net.name, &net.subnet, member, wanted)?;
        // A restart that keeps everything writes nothing.
        if table != before {
            table.save(&dir, &nets.tmp_dir())?;
        }
        out.push(Iface {
            name: format!("eth{i}"),
            host_end: host_end_name(),
            bridge: net.bridge.clone(),
            network: net.name.clone(),
            addr,
            prefix: net.subnet.prefix,
            gateway: net.gateway,
            default_route: i == 0,
        });
    }
    hosts::refresh(&nets)?;
    Ok(out)
}

/// Put the container whose init is `pid` on its networks (host side).
pub fn plug(pid: i32, ifaces: &[Iface]) -> Result<()> {
    let pairs: Vec<(&str, &str, &str, std::net::Ipv4Addr)> = ifaces
        .iter()
        .map(|i| {
            (
                i.host_end.as_str(),
                i.name.as_str(),
                i.bridge.as_str(),
                i.addr,
            )
        })
        .collect();
    links::add_veths(pid, &pairs)
}

/// Free every address of `container` (it is being removed).
pub fn release(root: &Path, container: &str) -> Result<()> {
    let nets = Networks::at(root);
    if !nets.exist() {
        return Ok(());
    }
    let _lock = nets.lock()?;
    let mut changed = false;
    for n in nets.list()? {
        let dir = nets.network_dir(&n.name);
        let mut table = Allocations::load(&dir)?;
        let gone = table.release(container) | !table.sweep(&nets.containers_dir()).is_empty();
        if gone {
            table.save(&dir, &nets.tmp_dir())?;
            changed = true;
        }
    }
    if changed {
        hosts::refresh(&nets)?;
    }
    Ok(())
}

/// A container was renamed (the end of a rollout): its peers learn it.
pub fn refresh_names(root: &Path) -> Result<()> {
    let nets = Networks::at(root);
    if !nets.exist() {
        return Ok(());
    }
    let _lock = nets.lock()?;
    hosts::refresh(&nets)
}

/// A container joins the one network of `req.networks` (`network
/// connect`) with `req.aliases` on it: an address is held for it from
/// now on (kept while it is stopped, like a restart's). If it runs (init
/// `pid`), a veth pair named after the first free `ethN` inside,
/// configured from the host side.
pub fn connect(root: &Path, req: &Request<'_>, pid: Option<i32>) -> Result<Option<Iface>> {
    let all = prepare(root, req)?;
    let Some(mut new) = all.last().cloned() else {
        return Err(super::NetworkError::Invalid("no network to connect".into()));
    };
    let Some(pid) = pid else {
        return Ok(None);
    };
    let inside = links::names_in(pid)?;
    new.name = (0..)
        .map(|i| format!("eth{i}"))
        .find(|n| !inside.contains(n))
        .unwrap_or_else(|| "eth0".into());
    new.default_route = inside.iter().all(|n| !n.starts_with("eth"));
    let joined = plug(pid, std::slice::from_ref(&new))
        .and_then(|()| links::configure_in(pid, &new.name, new.addr, new.prefix));
    if let Err(e) = joined {
        let _ = leave(root, req.container, &new.network);
        return Err(e);
    }
    Ok(Some(new))
}

/// `container` leaves `network`: its interface there (if it runs as
/// `pid`) and its address go.
pub fn disconnect(root: &Path, container: &str, network: &str, pid: Option<i32>) -> Result<()> {
    let nets = Networks::at(root);
    if let Some(pid) = pid {
        let addr = Allocations::load(&nets.network_dir(network))?.of(container);
        if let Some(addr) = addr {
            links::remove_in(pid, addr)?;
        }
    }
    leave(root, container, network)
}

/// Free `container`'s address on `network` only.
fn leave(root: &Path, container: &str, network: &str) -> Result<()> {
    let nets = Networks::at(root);
    let _lock = nets.lock()?;
    let dir = nets.network_dir(network);
    let mut table = Allocations::load(&dir)?;
    if table.release(container) {
        table.save(&dir, &nets.tmp_dir())?;
    }
    hosts::refresh(&nets)
}
