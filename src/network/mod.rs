//! Bridge networks: what a container needs to reach other containers and
//! the outside, made by skiff and removed by skiff, with no daemon.
//!
//! | concern | file |
//! | --- | --- |
//! | IPv4 subnets, the host's routes | `subnet.rs` |
//! | network records under `networks/<name>/` (store, lock) | `record.rs` |
//! | addresses: a persistent allocator per network | `ipam.rs` |
//! | bridge and veth links | `links.rs` |
//! | route netlink in-process (netlink-packet-route) | `netlink.rs` |
//! | NAT and isolation rules (iptables-nft / iptables-restore) | `firewall.rs` |
//! | published ports forwarded by the kernel (DNAT chains) | `forward.rs` |
//! | names: per-container hosts files, kept current | `hosts.rs` |
//! | create, remove, re-make after a reboot | `manage.rs` |
//! | joining a container at start, leaving at removal | `attach.rs` |
//! | leftovers after a crash or reboot | `fsck.rs` |
//!
//! The runtime calls [`attach::prepare`] before it clones a container (an
//! address on each network, the bridge made if missing), [`attach::plug`]
//! once the container's network namespace exists (a veth into it), and
//! [`attach::release`] when a container is removed. It knows nothing of
//! compose or revisions.

pub mod attach;
pub mod firewall;
pub mod forward;
pub mod fsck;
pub mod hosts;
pub mod ipam;
pub mod links;
pub mod manage;
pub mod netlink;
pub mod record;
pub mod subnet;

pub use attach::{Iface, Request};
pub use record::{Network, Networks};
pub use subnet::Subnet;

/// The network `run` joins without `--network` (docker's name for it).
pub const DEFAULT_NETWORK: &str = "bridge";

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("network {0} not found (see skiff network ls)")]
    NotFound(String),
    #[error("network {0} already exists")]
    NameInUse(String),
    #[error("network {name} is in use by container(s) {containers} (remove them or `skiff network disconnect` first)")]
    InUse { name: String, containers: String },
    #[error("{0}")]
    Invalid(String),
    /// A firewall tool (`iptables-save`, `iptables-restore`) failed.
    #[error("{what}: {detail}")]
    Tool { what: String, detail: String },
    /// A netlink request the kernel refused (its errno kept).
    #[error("{what}: {source}")]
    Netlink {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: corrupt: {msg}")]
    Corrupt {
        path: std::path::PathBuf,
        msg: String,
    },
}

impl NetworkError {
    pub fn io<'a>(
        what: &'static str,
        path: &'a std::path::Path,
    ) -> impl FnOnce(std::io::Error) -> NetworkError + 'a {
        move |source| NetworkError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = NetworkError> = std::result::Result<T, E>;
