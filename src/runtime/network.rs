//! The container's network, inside its namespace: `private` brings
//! loopback up (one ioctl, no netlink), `bridge` also gives each veth end
//! that skiff put in the namespace (`network::attach::plug`) its address
//! and the first one the default route (ioctls again), `none` leaves
//! loopback down, `host` shares the host's namespace and does nothing here.

use super::error::{Result, RuntimeError};
use super::spec::NetworkMode;
use crate::network::Iface;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

/// struct ifreq with a sockaddr_in (SIOCSIFADDR, SIOCSIFNETMASK).
#[repr(C)]
struct IfreqAddr {
    name: [u8; libc::IFNAMSIZ],
    addr: libc::sockaddr_in,
    _pad: [u8; 8],
}

const RTF_UP: libc::c_ushort = 0x1;
const RTF_GATEWAY: libc::c_ushort = 0x2;

#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

fn inet_socket() -> Result<OwnedFd> {
    nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(RuntimeError::sys("socket for network setup"))
}

fn ifname(name: &str) -> Result<[u8; libc::IFNAMSIZ]> {
    let mut out = [0u8; libc::IFNAMSIZ];
    if name.is_empty() || name.len() >= libc::IFNAMSIZ {
        return Err(RuntimeError::Invalid(format!(
            "bad interface name {name:?}"
        )));
    }
    out[..name.len()].copy_from_slice(name.as_bytes());
    Ok(out)
}

fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr_in {
    libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr {
            s_addr: u32::from(ip).to_be(),
        },
        sin_zero: [0; 8],
    }
}

/// Set IFF_UP on `lo` in the current network namespace.
pub fn loopback_up() -> Result<()> {
    link_up("lo")
}

/// Set IFF_UP on `name` in the current network namespace.
fn link_up(name: &str) -> Result<()> {
    let sock = inet_socket()?;
    let mut req = IfreqFlags {
        name: ifname(name)?,
        flags: 0,
        _pad: [0; 22],
    };
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq of this layout.
    unsafe {
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut IfreqFlags,
        ) != 0
        {
            return Err(RuntimeError::last_os(format!("get flags of {name}")));
        }
        req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &req as *const IfreqFlags,
        ) != 0
        {
            return Err(RuntimeError::last_os(format!("bring {name} up")));
        }
    }
    Ok(())
}

/// Address, netmask and up for one interface; the default route through
/// its gateway if it carries it.
fn configure(iface: &Iface) -> Result<()> {
    let sock = inet_socket()?;
    let name = ifname(&iface.name)?;
    for (request, ip, what) in [
        (libc::SIOCSIFADDR, iface.addr, "address"),
        (libc::SIOCSIFNETMASK, iface.netmask(), "netmask"),
    ] {
        let req = IfreqAddr {
            name,
            addr: sockaddr(ip),
            _pad: [0; 8],
        };
        // SAFETY: SIOCSIFADDR/SIOCSIFNETMASK read an ifreq of this layout.
        if unsafe { libc::ioctl(sock.as_raw_fd(), request, &req as *const IfreqAddr) } != 0 {
            return Err(RuntimeError::last_os(format!(
                "set the {what} {ip} of {} (network {})",
                iface.name, iface.network
            )));
        }
    }
    link_up(&iface.name)?;
    if iface.default_route {
        // SAFETY: rtentry is a plain C struct; all-zero is a valid value.
        let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
        let put = |ip: Ipv4Addr, to: &mut libc::sockaddr| {
            let sin = sockaddr(ip);
            // SAFETY: sockaddr_in and sockaddr have the same size (16
            // bytes); the kernel reads the rtentry's fields as sockaddr_in.
            *to = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) };
        };
        put(Ipv4Addr::UNSPECIFIED, &mut rt.rt_dst);
        put(iface.gateway, &mut rt.rt_gateway);
        put(Ipv4Addr::UNSPECIFIED, &mut rt.rt_genmask);
        rt.rt_flags = RTF_UP | RTF_GATEWAY;
        // SAFETY: SIOCADDRT reads an rtentry; rt_dev is NULL (any device).
        if unsafe {
            libc::ioctl(
                sock.as_raw_fd(),
                libc::SIOCADDRT,
                &rt as *const libc::rtentry,
            )
        } != 0
        {
            return Err(RuntimeError::last_os(format!(
                "add the default route via {} (network {})",
                iface.gateway, iface.network
            )));
        }
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
