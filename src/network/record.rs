//! Network records: `networks/<name>/network.json` (name, bridge, subnet),
//! created whole by one directory rename, and `networks/.lock`, held by
//! every change to networks and their address allocations.

use super::subnet::{self, Subnet};
use super::{NetworkError, Result, DEFAULT_NETWORK};
use crate::store::atomic;
use crate::store::lock::LockGuard;
use serde::{Deserialize, Serialize};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

pub const RECORD: &str = "network.json";
/// Bridges are `skiff<N>`; the firewall's isolation rules match `skiff+`.
pub const BRIDGE_PREFIX: &str = "skiff";

/// The default network's subnet, if the host leaves it free (podman's).
const DEFAULT_SUBNET: &str = "10.88.0.0/16";
/// Where the subnets of user networks are picked from, one /24 each.
const USER_SUBNETS: &str = "10.89.0.0/24";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Network {
    pub name: String,
    /// The host's bridge interface, `skiff<index>`.
    pub bridge: String,
    pub index: u32,
    pub subnet: Subnet,
    pub gateway: Ipv4Addr,
    pub created: String,
}

/// The networks of one store (`<root>/networks/`).
#[derive(Clone, Debug)]
pub struct Networks {
    root: PathBuf,
}

/// docker's rule for names, with room for the reserved modes.
pub fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if !ok {
        return Err(NetworkError::Invalid(format!(
            "invalid network name {name:?}: use letters, digits, '_', '.', '-' (starting with a letter or digit, at most 64)"
        )));
    }
    if matches!(name, "host" | "none" | "private" | "default") {
        return Err(NetworkError::Invalid(format!(
            "{name:?} is a network mode, not a name a network can have"
        )));
    }
    Ok(())
}

impl Networks {
    pub fn at(root: &Path) -> Networks {
        Networks {
            root: root.to_path_buf(),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }
    pub fn dir(&self) -> PathBuf {
        self.root.join("networks")
    }
    pub fn network_dir(&self, name: &str) -> PathBuf {
        self.dir().join(name)
    }
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    pub fn containers_dir(&self) -> PathBuf {
        self.root.join("containers")
    }

    /// Whether any network was ever made in this store (cheap).
    pub fn exist(&self) -> bool {
        self.dir().is_dir()
    }

    /// The lock over all networks and allocations. Hold it briefly.
    pub fn lock(&self) -> Result<LockGuard> {
        let d = self.dir();
        std::fs::create_dir_all(&d).map_err(NetworkError::io("cannot create", &d))?;
        let p = d.join(".lock");
        LockGuard::exclusive(&p).map_err(NetworkError::io("cannot lock", &p))
    }

    pub fn list(&self) -> Result<Vec<Network>> {
        let mut out = Vec::new();
        let d = self.dir();
        let rd = match std::fs::read_dir(&d) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
            Err(e) => return Err(NetworkError::io("cannot read", &d)(e)),
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') || !e.path().join(RECORD).is_file() {
                continue;
            }
            out.push(self.get(&name)?);
        }
        out.sort_by_key(|n| n.index);
        Ok(out)
    }

    pub fn get(&self, name: &str) -> Result<Network> {
        if check_name(name).is_err() && name != DEFAULT_NETWORK {
            return Err(NetworkError::NotFound(name.to_string()));
        }
        let p = self.network_dir(name).join(RECORD);
        let bytes = match std::fs::read(&p) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(NetworkError::NotFound(name.to_string()))
            }
            Err(e) => return Err(NetworkError::io("cannot read", &p)(e)),
        };
        serde_json::from_slice(&bytes).map_err(|e| NetworkError::Corrupt {
            path: p,
            msg: e.to_string(),
        })
    }

    /// Create a network record (the caller holds [`Networks::lock`]). The
    /// subnet must not overlap another network's or a host route; without
    /// one, the first free /24 from 10.89.0.0 is taken.
    pub fn create(&self, name: &str, subnet: Option<Subnet>) -> Result<Network> {
        if name != DEFAULT_NETWORK {
            check_name(name)?;
        }
        if self.network_dir(name).exists() {
            return Err(NetworkError::NameInUse(name.to_string()));
        }
        let existing = self.list()?;
        let taken: Vec<Subnet> = existing.iter().map(|n| n.subnet).collect();
        let routes = subnet::host_routes();
        let subnet = match subnet {
            Some(s) => {
                if let Some(n) = existing.iter().find(|n| n.subnet.overlaps(&s)) {
                    return Err(NetworkError::Invalid(format!(
                        "subnet {s} overlaps network {} ({})",
                        n.name, n.subnet
                    )));
                }
                if let Some((r, dev)) = routes.iter().find(|(r, _)| r.overlaps(&s)) {
                    return Err(NetworkError::Invalid(format!(
                        "subnet {s} overlaps the host's route {r} on {dev}"
                    )));
                }
                s
            }
            None => {
                let first: Subnet = if name == DEFAULT_NETWORK {
                    DEFAULT_SUBNET
                } else {
                    USER_SUBNETS
                }
                .parse()?;
                subnet::pick(first, &taken, &routes)
                    .or_else(|| subnet::pick(USER_SUBNETS.parse().ok()?, &taken, &routes))
                    .ok_or_else(|| {
                        NetworkError::Invalid(format!(
                            "no free subnet for network {name}: give one with --subnet"
                        ))
                    })?
            }
        };
        let index = if name == DEFAULT_NETWORK {
            0
        } else {
            (1..)
                .find(|i| !existing.iter().any(|n| n.index == *i))
                .unwrap_or(1)
        };
        let net = Network {
            name: name.to_string(),
            bridge: format!("{BRIDGE_PREFIX}{index}"),
            index,
            subnet,
            gateway: subnet.gateway(),
            created: chrono::Utc::now().to_rfc3339(),
        };
        self.publish(&net)?;
        Ok(net)
    }

    /// The record appears whole: written in a directory under `tmp/`, then
    /// that directory is renamed to `networks/<name>`.
    fn publish(&self, net: &Network) -> Result<()> {
        let tmp_root = self.tmp_dir();
        let staging =
            atomic::tempfile_in(&tmp_root).map_err(NetworkError::io("cannot use", &tmp_root))?;
        let target = self.network_dir(&net.name);
        let made = (|| -> std::io::Result<()> {
            std::fs::create_dir(&staging)?;
            let bytes = serde_json::to_vec_pretty(net).map_err(std::io::Error::other)?;
            let p = staging.join(RECORD);
            let mut f = std::fs::File::create_new(&p)?;
            std::io::Write::write_all(&mut f, &bytes)?;
            f.sync_all()?;
            atomic::sync_dir(&staging)?;
            std::fs::rename(&staging, &target)?;
            atomic::sync_dir(&self.dir())
        })();
        if let Err(e) = made {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(NetworkError::io("cannot create", &target)(e));
        }
        Ok(())
    }

    /// The default network, created on first use.
    pub fn ensure_default(&self) -> Result<Network> {
        match self.get(DEFAULT_NETWORK) {
            Err(NetworkError::NotFound(_)) => self.create(DEFAULT_NETWORK, None),
            other => other,
        }
    }

    /// Delete a network's directory (moved into `tmp/` first, so a crash
    /// never leaves half a record).
    pub fn remove_record(&self, name: &str) -> Result<()> {
        let d = self.network_dir(name);
        let tmp_root = self.tmp_dir();
        let tmp =
            atomic::tempfile_in(&tmp_root).map_err(NetworkError::io("cannot use", &tmp_root))?;
        match std::fs::rename(&d, &tmp) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(NetworkError::io("cannot remove", &d)(e)),
        }
        let _ = atomic::sync_dir(&self.dir());
        std::fs::remove_dir_all(&tmp).map_err(NetworkError::io("cannot remove", &tmp))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("shop").is_ok());
        assert!(check_name("my_net-1.a").is_ok());
        for bad in ["", "-x", ".x", "a/b", "host", "none", "private", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn create_list_remove() {
        let d = tempfile::tempdir().unwrap();
        let n = Networks::at(d.path());
        let _l = n.lock().unwrap();
        let a = n
            .create("a", Some("198.51.100.0/25".parse().unwrap()))
            .unwrap();
        assert_eq!(a.bridge, "skiff1");
        assert!(matches!(
            n.create("a", None),
            Err(NetworkError::NameInUse(_))
        ));
        let e = n
            .create("b", Some("198.51.100.64/26".parse().unwrap()))
            .unwrap_err();
        assert!(e.to_string().contains("overlaps network a"), "{e}");
        let b = n.create("b", None).unwrap();
        assert_eq!(b.bridge, "skiff2");
        let def = n.ensure_default().unwrap();
        assert_eq!(def.bridge, "skiff0");
        assert_eq!(n.list().unwrap().len(), 3);
        n.remove_record("a").unwrap();
        assert!(matches!(n.get("a"), Err(NetworkError::NotFound(_))));
        assert_eq!(n.create("c", None).unwrap().bridge, "skiff1");
    }
}
