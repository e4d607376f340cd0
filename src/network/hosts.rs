//! Names without a daemon: each container on a bridge network has its own
//! hosts file, `containers/<id>/net/hosts`, which lists its peers (name,
//! `--network-alias`es) on every network it shares with them. The
//! container sees the directory at `/etc/.skiff/` and `/etc/hosts` is a
//! symlink into it, so skiff replaces the file by a rename (a reader sees
//! the old file or the new one, never half of one) whenever a member
//! joins, leaves or is renamed. getaddrinfo (Node's `dns.lookup`) reads
//! /etc/hosts on every lookup, so a new peer resolves at once.

use super::ipam::{Allocations, Member};
use super::record::Networks;
use super::Result;
use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

/// The directory the container sees at `/etc/.skiff/`.
pub const DIR: &str = "net";
pub const FILE: &str = "hosts";

/// A name a container may be found under (`--network-alias`, `network
/// connect --alias`): a hostname's characters only, so no name can add a
/// line of its own to a peer's hosts file.
pub fn check_alias(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 253
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(super::NetworkError::Invalid(format!(
            "invalid network alias {name:?}: use letters, digits, '-', '.', '_' (starting with a letter or digit)"
        )))
    }
}

struct Entry<'a> {
    network: String,
    ip: Ipv4Addr,
    member: &'a Member,
}

fn name_of(containers: &Path, id: &str) -> Option<String> {
    std::fs::read_to_string(containers.join(id).join("name"))
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
}

/// The hosts file of `me`.
fn render(me: &str, entries: &[Entry<'_>], containers: &Path) -> String {
    let mine: Vec<&Entry<'_>> = entries
        .iter()
        .filter(|e| e.member.container == me)
        .collect();
    let mut s = String::from(
        "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n",
    );
    if let Some(first) = mine.first() {
        let mut names = vec![first.member.hostname.clone()];
        if let Some(n) = name_of(containers, me) {
            if !names.contains(&n) {
                names.push(n);
            }
        }
        s.push_str(&format!("{}\t{}\n", first.ip, names.join(" ")));
        for h in &first.member.extra_hosts {
            if let Some((name, ip)) = h.rsplit_once(':') {
                s.push_str(&format!("{ip}\t{name}\n"));
            }
        }
    }
    for e in entries {
        if e.member.container == me || !mine.iter().any(|m| m.network == e.network) {
            continue;
        }
        let mut names: Vec<String> = Vec::new();
        if let Some(n) = name_of(containers, &e.member.container) {
            names.push(n);
        }
        names.extend(e.member.aliases.iter().cloned());
        names.push(e.member.container[..12.min(e.member.container.len())].to_string());
        s.push_str(&format!("{}\t{}\t# {}\n", e.ip, names.join(" "), e.network));
    }
    s
}

/// Rewrite the hosts file of every container on any network. The caller
/// holds the networks lock.
pub fn refresh(nets: &Networks) -> Result<()> {
    let mut tables: BTreeMap<String, Allocations> = BTreeMap::new();
    for n in nets.list()? {
        tables.insert(
            n.name.clone(),
            Allocations::load(&nets.network_dir(&n.name))?,
        );
    }
    let mut entries = Vec::new();
    for (network, t) in &tables {
        for (ip, member) in &t.addresses {
            entries.push(Entry {
                network: network.clone(),
                ip: *ip,
                member,
            });
        }
    }
    let containers = nets.containers_dir();
    let mut done: Vec<&str> = Vec::new();
    for e in &entries {
        let id = e.member.container.as_str();
        if done.contains(&id) {
            continue;
        }
        done.push(id);
        let dir = containers.join(id);
        if !dir.is_dir() {
            continue;
        }
        write(&dir, &render(id, &entries, &containers))?;
    }
    Ok(())
}

/// Replace `containers/<id>/net/hosts` by a rename in the same directory.
fn write(container_dir: &Path, text: &str) -> Result<()> {
    let d = container_dir.join(DIR);
    std::fs::create_dir_all(&d).map_err(super::NetworkError::io("cannot create", &d))?;
    let tmp = d.join(format!(".hosts-{}", std::process::id()));
    let target = d.join(FILE);
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &target))
        .map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            super::NetworkError::io("cannot write", &target)(e)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peers_on_shared_networks_only() {
        let d = tempfile::tempdir().unwrap();
        for (id, name) in [("aaaa", "api"), ("bbbb", "redis"), ("cccc", "other")] {
            std::fs::create_dir(d.path().join(id)).unwrap();
            std::fs::write(d.path().join(id).join("name"), name).unwrap();
        }
        let m = |c: &str, aliases: &[&str]| Member {
            container: c.into(),
            hostname: format!("h-{c}"),
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            extra_hosts: if c == "aaaa" {
                vec!["db:192.0.2.10".into()]
            } else {
                vec![]
            },
        };
        let (a, b, c) = (m("aaaa", &[]), m("bbbb", &["cache"]), m("cccc", &[]));
        let e = |net: &str, ip: &str, member| Entry {
            network: net.into(),
            ip: ip.parse().unwrap(),
            member,
        };
        let entries = vec![
            e("shop", "198.51.100.2", &a),
            e("shop", "198.51.100.3", &b),
            e("other", "203.0.113.2", &c),
        ];
        let h = render("aaaa", &entries, d.path());
        assert!(h.contains("198.51.100.2\th-aaaa api\n"), "{h}");
        assert!(h.contains("192.0.2.10\tdb\n"), "{h}");
        assert!(
            h.contains("198.51.100.3\tredis cache bbbb\t# shop\n"),
            "{h}"
        );
        assert!(!h.contains("203.0.113.2"), "{h}");
    }

    #[test]
    fn aliases_are_names_not_lines() {
        check_alias("cache").unwrap();
        check_alias("db.internal_1").unwrap();
        for bad in ["", "a b", "a\n192.0.2.9 evil", "-x", "a#b", "a\tb"] {
            assert!(check_alias(bad).is_err(), "{bad:?}");
        }
    }
}
