//! Interface ioctls inside a container's network namespace: up, address,
//! netmask, default route (no netlink needed for these).

use super::cvt;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};

/// struct ifreq with a sockaddr_in (SIOCSIFADDR, SIOCSIFNETMASK).
#[repr(C)]
struct IfreqAddr {
    name: [u8; libc::IFNAMSIZ],
    addr: libc::sockaddr_in,
    _pad: [u8; 8],
}

/// struct ifreq with flags (SIOCGIFFLAGS, SIOCSIFFLAGS).
#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

const RTF_UP: libc::c_ushort = 0x1;
const RTF_GATEWAY: libc::c_ushort = 0x2;

fn inet_socket() -> io::Result<OwnedFd> {
    nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(io::Error::from)
}

fn ifname(name: &str) -> io::Result<[u8; libc::IFNAMSIZ]> {
    let mut out = [0u8; libc::IFNAMSIZ];
    if name.is_empty() || name.len() >= libc::IFNAMSIZ || name.contains('\0') {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad interface name {name:?}"),
        ));
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

/// Set IFF_UP|IFF_RUNNING on `name`.
pub fn link_up(name: &str) -> io::Result<()> {
    let sock = inet_socket()?;
    let mut req = IfreqFlags {
        name: ifname(name)?,
        flags: 0,
        _pad: [0; 22],
    };
    // SAFETY: SIOCGIFFLAGS writes an ifreq of this layout, which we own.
    cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut IfreqFlags,
        )
    })?;
    req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
    // SAFETY: SIOCSIFFLAGS reads an ifreq of this layout.
    cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &req as *const IfreqFlags,
        )
    })
    .map(drop)
}

/// Which address of an interface [`set_addr`] sets.
#[derive(Clone, Copy, Debug)]
pub enum AddrKind {
    Address,
    Netmask,
}

/// SIOCSIFADDR / SIOCSIFNETMASK of `name`.
pub fn set_addr(name: &str, kind: AddrKind, ip: Ipv4Addr) -> io::Result<()> {
    let sock = inet_socket()?;
    let req = IfreqAddr {
        name: ifname(name)?,
        addr: sockaddr(ip),
        _pad: [0; 8],
    };
    let request = match kind {
        AddrKind::Address => libc::SIOCSIFADDR,
        AddrKind::Netmask => libc::SIOCSIFNETMASK,
    };
    // SAFETY: both requests read an ifreq of this layout.
    cvt(unsafe { libc::ioctl(sock.as_raw_fd(), request, &req as *const IfreqAddr) }).map(drop)
}

/// SIOCADDRT: the default route through `gateway` (any device).
pub fn add_default_route(gateway: Ipv4Addr) -> io::Result<()> {
    let sock = inet_socket()?;
    // SAFETY: rtentry is a plain C struct; all-zero is a valid value.
    let mut rt: libc::rtentry = unsafe { std::mem::zeroed() };
    let put = |ip: Ipv4Addr, to: &mut libc::sockaddr| {
        let sin = sockaddr(ip);
        // SAFETY: sockaddr_in and sockaddr have the same size (16 bytes);
        // the kernel reads the rtentry's fields as sockaddr_in.
        *to = unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) };
    };
    put(Ipv4Addr::UNSPECIFIED, &mut rt.rt_dst);
    put(gateway, &mut rt.rt_gateway);
    put(Ipv4Addr::UNSPECIFIED, &mut rt.rt_genmask);
    rt.rt_flags = RTF_UP | RTF_GATEWAY;
    // SAFETY: SIOCADDRT reads an rtentry; rt_dev is NULL (any device).
    cvt(unsafe {
        libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCADDRT,
            &rt as *const libc::rtentry,
        )
    })
    .map(drop)
}
