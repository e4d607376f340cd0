//! The container's network, inside its namespace: `private` brings
//! loopback up (one ioctl, no netlink), `bridge` also gives each veth end
//! that skiff put in the namespace (`network::attach::plug`) its address
//! and the first one the default route (ioctls again), `none` leaves
//! loopback down, `host` shares the host's namespace and does nothing here.

use super::error::{Result, RuntimeError};
use super::spec::NetworkMode;
use crate::network::Iface;
use crate::sys::netdev::{self, AddrKind};

/// Set IFF_UP on `lo` in the current network namespace.
pub fn loopback_up() -> Result<()> {
    netdev::link_up("lo").map_err(RuntimeError::os("bring lo up"))
}

/// Address, netmask and up for one interface; the default route through
/// its gateway if it carries it.
fn configure(iface: &Iface) -> Result<()> {
    for (kind, ip, what) in [
        (AddrKind::Address, iface.addr, "address"),
        (AddrKind::Netmask, iface.netmask(), "netmask"),
    ] {
        netdev::set_addr(&iface.name, kind, ip).map_err(RuntimeError::os(format!(
            "set the {what} {ip} of {} (network {})",
            iface.name, iface.network
        )))?;
    }
    netdev::link_up(&iface.name).map_err(RuntimeError::os(format!("bring {} up", iface.name)))?;
    if iface.default_route {
        netdev::add_default_route(iface.gateway).map_err(RuntimeError::os(format!(
            "add the default route via {} (network {})",
            iface.gateway, iface.network
        )))?;
    }
    Ok(())
}

/// Inside the new namespaces, before pivot_root (and, for `bridge`, after
/// skiff has put the veth ends in the namespace).
pub fn setup(mode: NetworkMode, ifaces: &[Iface]) -> Result<()> {
    match mode {
        NetworkMode::Private => loopback_up(),
        NetworkMode::Bridge => {
            loopback_up()?;
            ifaces.iter().try_for_each(configure)
        }
        NetworkMode::Host | NetworkMode::None => Ok(()),
    }
}

/// Does `mode` need a network namespace of its own?
pub fn needs_namespace(mode: NetworkMode) -> bool {
    mode != NetworkMode::Host
}
