//! Whole networks: create (record, then bridge and firewall rules), remove
//! (refused while a container holds an address; rules, bridge, then the
//! record), and `plumb`, which makes what a reboot or a crash took away.

use super::hosts;
use super::ipam::Allocations;
use super::record::{Network, Networks};
use super::subnet::Subnet;
use super::{firewall, forward, links, NetworkError, Result};
use std::net::Ipv4Addr;
use std::path::Path;

/// Bridge, address and rules of `net`, made if the bridge is missing.
/// The rules come first (they name the bridge, which need not exist yet):
/// a bridge that exists always has its rules, even after a kill -9 here.
pub fn plumb(net: &Network) -> Result<()> {
    if !links::exists(&net.bridge) {
        let made = firewall::install(net)
            .and_then(|()| links::create_bridge(&net.bridge, net.gateway, net.subnet.prefix));
        if let Err(e) = made {
            unplumb(&net.bridge);
            return Err(in_network(&net.name, e));
        }
    }
    links::enable_forwarding()
}

/// Remove the rules and the bridge (best effort: used to undo).
pub fn unplumb(bridge: &str) {
    let _ = firewall::remove(bridge);
    let _ = links::delete_link(bridge);
}

fn in_network(name: &str, e: NetworkError) -> NetworkError {
    match e {
        NetworkError::Tool { what, detail } => NetworkError::Tool {
            what: format!("network {name}: {what}"),
            detail,
        },
        NetworkError::Netlink { what, source } => NetworkError::Netlink {
            what: format!("network {name}: {what}"),
            source,
        },
        other => other,
    }
}

/// `skiff network create`: nothing is left behind if any step fails.
pub fn create(root: &Path, name: &str, subnet: Option<Subnet>) -> Result<Network> {
    let nets = Networks::at(root);
    let _lock = nets.lock()?;
    let net = nets.create(name, subnet)?;
    if let Err(e) = plumb(&net) {
        let _ = nets.remove_record(&net.name);
        return Err(e);
    }
    Ok(net)
}

/// The containers (ids) holding an address on `name`, swept of removed ones.
fn members(nets: &Networks, name: &str) -> Result<Vec<(Ipv4Addr, String)>> {
    let dir = nets.network_dir(name);
    let mut table = Allocations::load(&dir)?;
    if !table.sweep(&nets.containers_dir()).is_empty() {
        table.save(&dir, &nets.tmp_dir())?;
    }
    Ok(table
        .addresses
        .iter()
        .map(|(ip, m)| (*ip, m.container.clone()))
        .collect())
}

/// `skiff network rm`.
pub fn remove(root: &Path, name: &str) -> Result<()> {
    let nets = Networks::at(root);
    let _lock = nets.lock()?;
    let net = nets.get(name)?;
    let used = members(&nets, name)?;
    if !used.is_empty() {
        let containers_dir = nets.containers_dir();
        let names: Vec<String> = used
            .iter()
            .map(|(_, id)| {
                std::fs::read_to_string(containers_dir.join(id).join("name"))
                    .unwrap_or_else(|_| id[..12.min(id.len())].to_string())
            })
            .collect();
        return Err(NetworkError::InUse {
            name: name.to_string(),
            containers: names.join(", "),
        });
    }
    for chain in forward::chains_into(&net).map_err(|e| in_network(name, e))? {
        forward::remove_chain(&nets, &chain).map_err(|e| in_network(name, e))?;
    }
    firewall::remove(&net.bridge).map_err(|e| in_network(name, e))?;
    links::delete_link(&net.bridge).map_err(|e| in_network(name, e))?;
    nets.remove_record(name)?;
    hosts::refresh(&nets)
}

/// A network and its members, for `network inspect`.
pub fn inspect(root: &Path, name: &str) -> Result<(Network, Vec<(Ipv4Addr, String)>)> {
    let nets = Networks::at(root);
    let net = if name == super::DEFAULT_NETWORK {
        let _lock = nets.lock()?;
        nets.ensure_default()?
    } else {
        nets.get(name)?
    };
    let table = Allocations::load(&nets.network_dir(name))?;
    Ok((
        net,
        table
            .addresses
            .iter()
            .map(|(ip, m)| (*ip, m.container.clone()))
            .collect(),
    ))
}
