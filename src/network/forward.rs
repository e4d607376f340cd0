//! Published ports forwarded by the kernel (DNAT), as docker does with
//! `userland-proxy=false`: one nat chain per published host address,
//! `SKIFF-P-<port>` (or `SKIFF-P-<port>-<ip in hex>` for `-p IP:…`),
//! jumped to from PREROUTING (clients from outside) and OUTPUT (clients on
//! the host, loopback included) for TCP to a local address and that port.
//! The chain DNATs new connections to the ready members' `address:port`,
//! spread round robin by the kernel (`-m statistic --mode nth`).
//!
//! Each change rewrites the whole chain from the *set* of members it is
//! given, in one `iptables-restore --noflush` (declaring the chain flushes
//! it, so the result never depends on what was there or on who wrote
//! last; all or nothing, so a kill -9 leaves the old chain or the new
//! one). A set of none removes the chain and its jumps: connections then
//! reach the supervisor's own listener (the relay, `supervisor/ports.rs`).
//! Callers hold the networks lock (`Networks::lock`) around reading the
//! members' state and [`sync`], so two writers never interleave.
//!
//! What is written is recorded in `networks/.forward/<chain>.json` (the
//! member container ids), so a supervisor can notice cheaply that a member
//! it no longer sees alive is still in the chain.
//!
//! Loopback clients: OUTPUT DNAT turns 127.0.0.1:PORT into a bridge
//! address, which the kernel routes only with `route_localnet` set on that
//! bridge (set here, on skiff's own bridges only, never the host's
//! `all`/`default`) and the bridge's MASQUERADE of 127.0.0.0/8
//! (`firewall.rs`), so the container sees the bridge's gateway address.

use super::firewall::{restore, save};
use super::ipam::Allocations;
use super::record::{Network, Networks};
use super::{firewall, NetworkError, Result};
use std::net::Ipv4Addr;
use std::path::PathBuf;

/// Every chain of published ports starts with this.
pub const CHAIN_PREFIX: &str = "SKIFF-P-";
/// Records of what each chain holds, under `networks/`.
const RECORD_DIR: &str = ".forward";

/// A published host address: `ip` `None` is every local address (`-p 3000:…`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Published {
    pub ip: Option<Ipv4Addr>,
    pub port: u16,
}

impl Published {
    /// Its chain's name (at most 26 characters; iptables allows 28).
    pub fn chain(&self) -> String {
        match self.ip {
            None => format!("{CHAIN_PREFIX}{}", self.port),
            Some(ip) => format!("{CHAIN_PREFIX}{}-{:08x}", self.port, u32::from(ip)),
        }
    }

    /// The match of the jumps into the chain (as `iptables-save` prints it).
    fn matches(&self) -> String {
        match self.ip {
            None => format!(
                "-p tcp -m addrtype --dst-type LOCAL -m tcp --dport {}",
                self.port
            ),
            Some(ip) => format!("-d {ip}/32 -p tcp -m tcp --dport {}", self.port),
        }
    }
}

/// Where the kernel sends a connection: a member's address on a bridge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backend {
    /// The member's container id (recorded, not written in the rules).
    pub container: String,
    pub addr: Ipv4Addr,
    pub port: u16,
    pub bridge: String,
}

/// `container`'s address on `network` (its first network) as a backend
/// for `port`; `None` if it holds none there.
pub fn backend_of(
    nets: &Networks,
    container: &str,
    network: &str,
    port: u16,
) -> Result<Option<Backend>> {
    let net = match nets.get(network) {
        Ok(n) => n,
        Err(NetworkError::NotFound(_)) => return Ok(None),
        Err(e) => return Err(e),
    };
    let table = Allocations::load(&nets.network_dir(&net.name))?;
    Ok(table.of(container).map(|addr| Backend {
        container: container.to_string(),
        addr,
        port,
        bridge: net.bridge.clone(),
    }))
}

/// The rules of one chain, from nothing to `backends` (round robin: rule
/// `i` of `n` takes every `(n-i)`th new connection that reaches it, the
/// last takes the rest).
fn chain_rules(chain: &str, backends: &[Backend]) -> Vec<String> {
    let n = backends.len();
    backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            let every = if i + 1 < n {
                format!("-m statistic --mode nth --every {} --packet 0 ", n - i)
            } else {
                String::new()
            };
            format!(
                "-A {chain} -p tcp {every}-j DNAT --to-destination {}:{}",
                b.addr, b.port
            )
        })
        .collect()
}

/// Lines of `table` in an `iptables-save` output.
fn table_lines<'a>(saved: &'a str, table: &str) -> Vec<&'a str> {
    let mut inside = false;
    let mut out = Vec::new();
    for l in saved.lines() {
        if let Some(t) = l.strip_prefix('*') {
            inside = t == table;
        } else if inside {
            out.push(l);
        }
    }
    out
}

/// The jumps into `chain` found in the nat lines (as `-A …` lines).
fn jumps_into<'a>(nat: &[&'a str], chain: &str) -> Vec<&'a str> {
    nat.iter()
        .copied()
        .filter(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&"-A")
                && w.get(1) != Some(&chain)
                && w.windows(2).any(|x| x == ["-j", chain])
        })
        .collect()
}

fn has_chain(nat: &[&str], chain: &str) -> bool {
    nat.iter().any(|l| {
        l.strip_prefix(':')
            .and_then(|r| r.split_whitespace().next())
            == Some(chain)
    })
}

/// The restore script that takes `saved` to `backends` for `p`.
fn sync_script(saved: &str, p: &Published, backends: &[Backend]) -> String {
    let chain = p.chain();
    let nat = table_lines(saved, "nat");
    let jumps = jumps_into(&nat, &chain);
    let mut s = String::from("*nat\n");
    if backends.is_empty() {
        for j in &jumps {
            s.push_str(&format!("-D {}\n", &j[3..]));
        }
        if has_chain(&nat, &chain) {
            s.push_str(&format!("-F {chain}\n-X {chain}\n"));
        }
    } else {
        s.push_str(&format!(":{chain} - [0:0]\n"));
        for r in chain_rules(&chain, backends) {
            s.push_str(&r);
            s.push('\n');
        }
        for hook in ["PREROUTING", "OUTPUT"] {
            let present = jumps
                .iter()
                .any(|j| j.split_whitespace().nth(1) == Some(hook));
            if !present {
                s.push_str(&format!("-A {hook} {} -j {chain}\n", p.matches()));
            }
        }
    }
    if s == "*nat\n" {
        return String::new();
    }
    s.push_str("COMMIT\n");
    s
}

fn record_path(nets: &Networks, p: &Published) -> PathBuf {
    nets.dir()
        .join(RECORD_DIR)
        .join(format!("{}.json", p.chain()))
}

/// The members last written into `p`'s chain (container ids).
pub fn recorded(nets: &Networks, p: &Published) -> Vec<String> {
    std::fs::read(record_path(nets, p))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

fn write_record(nets: &Networks, p: &Published, members: &[String]) -> Result<()> {
    let path = record_path(nets, p);
    if members.is_empty() {
        return match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(NetworkError::io("cannot remove", &path)(e))
            }
            _ => Ok(()),
        };
    }
    let dir = nets.dir().join(RECORD_DIR);
    std::fs::create_dir_all(&dir).map_err(NetworkError::io("cannot create", &dir))?;
    let bytes = serde_json::to_vec(members)
        .map_err(|e| NetworkError::Invalid(format!("serialize {}: {e}", path.display())))?;
    crate::store::atomic::write_atomic(&nets.tmp_dir(), &path, &bytes)
        .map_err(NetworkError::io("cannot write", &path))
}

/// Loopback clients reach a bridge only with `route_localnet` on it.
fn route_localnet(bridge: &str) -> Result<()> {
    let p = PathBuf::from(format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"));
    if std::fs::read_to_string(&p).is_ok_and(|s| s.trim() == "1") {
        return Ok(());
    }
    std::fs::write(&p, "1").map_err(NetworkError::io("cannot enable route_localnet in", &p))
}

/// Make `p`'s chain forward to exactly `backends` (none: remove it).
/// The caller holds the networks lock.
pub fn sync(nets: &Networks, p: &Published, backends: &[Backend]) -> Result<()> {
    let saved = save()?;
    if !backends.is_empty() {
        // A bridge whose rules predate the DNAT accept rule gets them again.
        for net in networks_of(nets, backends)? {
            if !firewall::complete_in(&saved, &net) {
                firewall::install(&net)?;
            }
        }
        for b in backends {
            route_localnet(&b.bridge)?;
        }
    }
    let what = format!("forward published port {}", p.port);
    restore(&what, &sync_script(&saved, p, backends))?;
    let ids: Vec<String> = backends.iter().map(|b| b.container.clone()).collect();
    write_record(nets, p, &ids)
}

fn networks_of(nets: &Networks, backends: &[Backend]) -> Result<Vec<Network>> {
    let mut out: Vec<Network> = nets
        .list()?
        .into_iter()
        .filter(|n| backends.iter().any(|b| b.bridge == n.bridge))
        .collect();
    out.dedup_by(|a, b| a.bridge == b.bridge);
    Ok(out)
}

/// The chains of published ports in the firewall now.
pub fn chains() -> Result<Vec<String>> {
    let saved = save()?;
    Ok(table_lines(&saved, "nat")
        .iter()
        .filter_map(|l| l.strip_prefix(':'))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| c.starts_with(CHAIN_PREFIX))
        .map(str::to_string)
        .collect())
}

/// Remove chain `chain` and its jumps, whatever of them exists (`fsck
/// --repair`, `network rm`, `boot`), and its record.
pub fn remove_chain(nets: &Networks, chain: &str) -> Result<()> {
    let saved = save()?;
    let nat = table_lines(&saved, "nat");
    let mut s = String::new();
    for j in jumps_into(&nat, chain) {
        s.push_str(&format!("-D {}\n", &j[3..]));
    }
    if has_chain(&nat, chain) {
        s.push_str(&format!("-F {chain}\n-X {chain}\n"));
    }
    if !s.is_empty() {
        restore(
            &format!("remove the forwarding chain {chain}"),
            &format!("*nat\n{s}COMMIT\n"),
        )?;
    }
    let path = nets.dir().join(RECORD_DIR).join(format!("{chain}.json"));
    let _ = std::fs::remove_file(path);
    Ok(())
}

/// The chains whose DNAT targets lie on `bridge`'s subnet.
pub fn chains_into(net: &Network) -> Result<Vec<String>> {
    let saved = save()?;
    let mut out: Vec<String> = table_lines(&saved, "nat")
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let chain = w.get(1).filter(|c| c.starts_with(CHAIN_PREFIX))?;
            let to = w.windows(2).find(|x| x[0] == "--to-destination")?[1];
            let ip: Ipv4Addr = to.split(':').next()?.parse().ok()?;
            net.subnet.contains(ip).then(|| chain.to_string())
        })
        .collect();
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, id: &str) -> Backend {
        Backend {
            container: id.into(),
            addr: ip.parse().unwrap(),
            port: 3000,
            bridge: "skiff0".into(),
        }
    }

    #[test]
    fn chain_names_fit_iptables() {
        let any = Published {
            ip: None,
            port: 65535,
        };
        assert_eq!(any.chain(), "SKIFF-P-65535");
        let lo = Published {
            ip: Some(Ipv4Addr::new(255, 255, 255, 255)),
            port: 65535,
        };
        assert_eq!(lo.chain(), "SKIFF-P-65535-ffffffff");
        assert!(lo.chain().len() <= 28);
    }

    #[test]
    fn round_robin_over_the_set() {
        let r = chain_rules(
            "C",
            &[
                b("10.88.0.2", "a"),
                b("10.88.0.3", "b"),
                b("10.88.0.4", "c"),
            ],
        );
        assert_eq!(
            r,
            vec![
                "-A C -p tcp -m statistic --mode nth --every 3 --packet 0 -j DNAT --to-destination 10.88.0.2:3000",
                "-A C -p tcp -m statistic --mode nth --every 2 --packet 0 -j DNAT --to-destination 10.88.0.3:3000",
                "-A C -p tcp -j DNAT --to-destination 10.88.0.4:3000",
            ]
        );
    }

    #[test]
    fn sync_adds_jumps_once_and_removes_everything_at_none() {
        let p = Published {
            ip: None,
            port: 3000,
        };
        let empty = "*nat\n:PREROUTING ACCEPT [0:0]\nCOMMIT\n";
        let s = sync_script(empty, &p, &[b("10.88.0.2", "a")]);
        assert_eq!(
            s,
            "*nat\n:SKIFF-P-3000 - [0:0]\n\
             -A SKIFF-P-3000 -p tcp -j DNAT --to-destination 10.88.0.2:3000\n\
             -A PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 -j SKIFF-P-3000\n\
             -A OUTPUT -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 -j SKIFF-P-3000\n\
             COMMIT\n"
        );
        let saved = "*nat\n:PREROUTING ACCEPT [0:0]\n:SKIFF-P-3000 - [0:0]\n\
            -A PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 -j SKIFF-P-3000\n\
            -A OUTPUT -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 -j SKIFF-P-3000\n\
            -A SKIFF-P-3000 -p tcp -j DNAT --to-destination 10.88.0.2:3000\nCOMMIT\n";
        let s = sync_script(saved, &p, &[b("10.88.0.3", "b")]);
        assert_eq!(
            s,
            "*nat\n:SKIFF-P-3000 - [0:0]\n\
             -A SKIFF-P-3000 -p tcp -j DNAT --to-destination 10.88.0.3:3000\nCOMMIT\n"
        );
        let s = sync_script(saved, &p, &[]);
        assert_eq!(
            s,
            "*nat\n-D PREROUTING -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 -j SKIFF-P-3000\n\
             -D OUTPUT -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 -j SKIFF-P-3000\n\
             -F SKIFF-P-3000\n-X SKIFF-P-3000\nCOMMIT\n"
        );
        assert_eq!(sync_script(empty, &p, &[]), "");
    }

    #[test]
    fn a_corrupt_record_is_no_member_and_none_removes_it() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("tmp")).unwrap();
        let nets = Networks::at(root.path());
        let p = Published {
            ip: None,
            port: 3000,
        };
        std::fs::create_dir_all(nets.dir().join(RECORD_DIR)).unwrap();
        std::fs::write(record_path(&nets, &p), b"{not json").unwrap();
        assert!(recorded(&nets, &p).is_empty());
        write_record(&nets, &p, &["a".into(), "b".into()]).unwrap();
        assert_eq!(recorded(&nets, &p), vec!["a", "b"]);
        write_record(&nets, &p, &[]).unwrap();
        assert!(!record_path(&nets, &p).exists());
    }

    #[test]
    fn a_host_ip_is_matched() {
        let p = Published {
            ip: Some(Ipv4Addr::LOCALHOST),
            port: 8080,
        };
        assert_eq!(p.matches(), "-d 127.0.0.1/32 -p tcp -m tcp --dport 8080");
        assert_eq!(p.chain(), "SKIFF-P-8080-7f000001");
    }
}
