//! The container's network: `private` brings loopback up in the container's
//! own namespace (one ioctl, no netlink), `none` leaves it down, `host`
//! shares the host's namespace and does nothing here.

use super::error::{Result, RuntimeError};
use super::spec::NetworkMode;
use std::os::fd::AsRawFd;

#[repr(C)]
struct IfreqFlags {
    name: [u8; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Set IFF_UP on `lo` in the current network namespace.
pub fn loopback_up() -> Result<()> {
    let sock = nix::sys::socket::socket(
        nix::sys::socket::AddressFamily::Inet,
        nix::sys::socket::SockType::Datagram,
        nix::sys::socket::SockFlag::SOCK_CLOEXEC,
        None,
    )
    .map_err(RuntimeError::sys("socket for loopback setup"))?;
    let mut req = IfreqFlags {
        name: [0; libc::IFNAMSIZ],
        flags: 0,
        _pad: [0; 22],
    };
    req.name[..2].copy_from_slice(b"lo");
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write an ifreq of this layout.
    unsafe {
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCGIFFLAGS,
            &mut req as *mut IfreqFlags,
        ) != 0
        {
            return Err(RuntimeError::last_os("get flags of lo"));
        }
        req.flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
        if libc::ioctl(
            sock.as_raw_fd(),
            libc::SIOCSIFFLAGS,
            &req as *const IfreqFlags,
        ) != 0
        {
            return Err(RuntimeError::last_os("bring lo up"));
        }
    }
    Ok(())
}

/// Inside the new namespaces, before pivot_root.
pub fn setup(mode: NetworkMode) -> Result<()> {
    match mode {
        NetworkMode::Private => loopback_up(),
        NetworkMode::Host | NetworkMode::None => Ok(()),
    }
}

/// Does `mode` need a network namespace of its own?
pub fn needs_namespace(mode: NetworkMode) -> bool {
    mode != NetworkMode::Host
}
