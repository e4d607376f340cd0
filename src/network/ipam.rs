//! Addresses: `networks/<name>/ipam.json` maps each address in use to the
//! container holding it. Changed only under the networks lock and written
//! atomically, so two concurrent `run`s never get the same address and a
//! crash leaves the old or the new table. A container keeps its address
//! across restarts (same container id); entries of containers that no
//! longer exist are swept at the next change (and by `fsck --repair`).

use super::subnet::Subnet;
use super::{NetworkError, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub const FILE: &str = "ipam.json";

/// What other containers need to know of one member.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub container: String,
    pub hostname: String,
    /// `--network-alias` names.
    #[serde(default)]
    pub aliases: Vec<String>,
    /// `--add-host NAME:IP` lines for its own hosts file.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Allocations {
    pub addresses: BTreeMap<Ipv4Addr, Member>,
}

impl Allocations {
    pub fn path(network_dir: &Path) -> PathBuf {
        network_dir.join(FILE)
    }

    pub fn load(network_dir: &Path) -> Result<Allocations> {
        let p = Allocations::path(network_dir);
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| NetworkError::Corrupt {
                path: p,
                msg: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Allocations::default()),
            Err(e) => Err(NetworkError::io("cannot read", &p)(e)),
        }
    }

    pub fn save(&self, network_dir: &Path, tmp_dir: &Path) -> Result<()> {
        let p = Allocations::path(network_dir);
        let bytes = serde_json::to_vec_pretty(self)
            .map_err(|e| NetworkError::Invalid(format!("serialize {}: {e}", p.display())))?;
        write_durable_file(tmp_dir, &p, &bytes).map_err(NetworkError::io("cannot write", &p))
    }

    /// What `container` told this network when it joined.
    pub fn member(&self, container: &str) -> Option<&Member> {
        self.addresses.values().find(|m| m.container == container)
    }

    pub fn of(&self, container: &str) -> Option<Ipv4Addr> {
        self.addresses
            .iter()
            .find(|(_, m)| m.container == container)
            .map(|(ip, _)| *ip)
    }

    /// An address for `member` on `subnet`: the one it already holds (a
    /// restart), the one asked for (`--ip`), or the lowest free one.
    pub fn allocate(
        &mut self,
        network: &str,
        subnet: &Subnet,
        member: Member,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr> {
        let held = self.of(&member.container);
        if let Some(ip) = wanted {
            if !subnet.contains(ip) {
                return Err(NetworkError::Invalid(format!(
                    "address {ip} is outside the subnet {subnet} of network {network}"
                )));
            }
            if ip == subnet.addr || ip == subnet.gateway() || ip == subnet.broadcast() {
                return Err(NetworkError::Invalid(format!(
                    "address {ip} is reserved on network {network} (network, gateway or broadcast)"
                )));
            }
            if let Some(m) = self
                .addresses
                .get(&ip)
                .filter(|m| m.container != member.container)
            {
                return Err(NetworkError::Invalid(format!(
                    "address {ip} on network {network} is already taken by container {}",
                    &m.container[..12.min(m.container.len())]
                )));
            }
        }
        if let Some(old) = held {
            self.addresses.remove(&old);
        }
        let ip = match wanted.or(held.filter(|ip| subnet.contains(*ip))) {
            Some(ip) => ip,
            None => subnet
                .hosts()
                .find(|ip| !self.addresses.contains_key(ip))
                .ok_or_else(|| {
                    NetworkError::Invalid(format!(
                        "network {network} has no free address left in {subnet}"
                    ))
                })?,
        };
        self.addresses.insert(ip, member);
        Ok(ip)
    }

    /// Drop `container`'s address; true if it had one.
    pub fn release(&mut self, container: &str) -> bool {
        let before = self.addresses.len();
        self.addresses.retain(|_, m| m.container != container);
        before != self.addresses.len()
    }

    /// Drop the addresses of containers whose directory is gone; their ids.
    pub fn sweep(&mut self, containers_dir: &Path) -> Vec<String> {
        let gone: Vec<String> = self
            .addresses
            .values()
            .filter(|m| !containers_dir.join(&m.container).is_dir())
            .map(|m| m.container.clone())
            .collect();
        for c in &gone {
            self.release(c);
        }
        gone
    }
}

/// tmp + fsync + rename, without the directory's fsync that
/// `store::atomic::write_atomic` adds: a crash leaves the old table or the
/// new one, each whole. Losing the rename itself to a power cut loses
/// nothing that matters: no container survives one, and an entry of a
/// container that is gone is swept at the next change. One fsync fewer on
/// every start and every removal.
fn write_durable_file(tmp_dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = crate::store::atomic::tempfile_in(tmp_dir)?;
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(c: &str) -> Member {
        Member {
            container: c.into(),
            hostname: c.into(),
            ..Default::default()
        }
    }

    #[test]
    fn allocate_reuse_request_release() {
        let s: Subnet = "192.0.2.0/29".parse().unwrap();
        let mut a = Allocations::default();
        assert_eq!(
            a.allocate("n", &s, m("a"), None).unwrap().to_string(),
            "192.0.2.2"
        );
        assert_eq!(
            a.allocate("n", &s, m("b"), None).unwrap().to_string(),
            "192.0.2.3"
        );
        // A restart keeps the address.
        assert_eq!(
            a.allocate("n", &s, m("a"), None).unwrap().to_string(),
            "192.0.2.2"
        );
        let want = |x: &str| Some(x.parse().unwrap());
        assert!(a
            .allocate("n", &s, m("c"), want("192.0.2.3"))
            .unwrap_err()
            .to_string()
            .contains("taken"));
        assert!(a
            .allocate("n", &s, m("c"), want("192.0.2.9"))
            .unwrap_err()
            .to_string()
            .contains("outside"));
        assert!(a
            .allocate("n", &s, m("c"), want("192.0.2.1"))
            .unwrap_err()
            .to_string()
            .contains("reserved"));
        assert!(a.allocate("n", &s, m("c"), want("192.0.2.7")).is_err());
        assert_eq!(
            a.allocate("n", &s, m("c"), want("192.0.2.6"))
                .unwrap()
                .to_string(),
            "192.0.2.6"
        );
        a.allocate("n", &s, m("d"), None).unwrap();
        a.allocate("n", &s, m("e"), None).unwrap();
        assert!(a
            .allocate("n", &s, m("f"), None)
            .unwrap_err()
            .to_string()
            .contains("no free address"));
        assert!(a.release("b"));
        assert!(!a.release("b"));
        assert_eq!(
            a.allocate("n", &s, m("f"), None).unwrap().to_string(),
            "192.0.2.3"
        );
    }

    #[test]
    fn sweep_forgets_removed_containers() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("kept")).unwrap();
        let s: Subnet = "192.0.2.0/24".parse().unwrap();
        let mut a = Allocations::default();
        a.allocate("n", &s, m("kept"), None).unwrap();
        a.allocate("n", &s, m("gone"), None).unwrap();
        assert_eq!(a.sweep(d.path()), vec!["gone".to_string()]);
        assert_eq!(a.addresses.len(), 1);
    }
}
