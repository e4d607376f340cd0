//! `fsck` for networks: addresses held by removed containers, skiff
//! bridges and firewall rules that no network of this store owns (a
//! kill -9 between steps), and a network whose bridge is up but whose
//! rules are gone. `--repair` mends each.

use super::ipam::Allocations;
use super::manage::unplumb;
use super::record::Networks;
use super::{firewall, hosts, links, Result};
use std::path::Path;

/// Problems found (and mended if `repair`), one line each.
pub fn check(root: &Path, repair: bool) -> Result<Vec<String>> {
    let nets = Networks::at(root);
    let mut problems = Vec::new();
    if !nets.exist() {
        return Ok(problems);
    }
    let _lock = nets.lock()?;
    let list = nets.list()?;
    let mut swept = false;
    for n in &list {
        let dir = nets.network_dir(&n.name);
        let mut table = Allocations::load(&dir)?;
        let gone = table.sweep(&nets.containers_dir());
        for id in &gone {
            problems.push(format!(
                "network {}: address held by removed container {}",
                n.name,
                &id[..12.min(id.len())]
            ));
        }
        if !gone.is_empty() && repair {
            table.save(&dir, &nets.tmp_dir())?;
            swept = true;
        }
    }
    if swept {
        hosts::refresh(&nets)?;
    }
    let owned: Vec<&str> = list.iter().map(|n| n.bridge.as_str()).collect();
    let with_rules = firewall::bridges_with_rules()?;
    let mut strays: Vec<String> = links::skiff_bridges()
        .into_iter()
        .chain(with_rules.iter().cloned())
        .filter(|b| !owned.contains(&b.as_str()))
        .collect();
    strays.sort();
    strays.dedup();
    for b in strays {
        problems.push(format!(
            "bridge {b} or its firewall rules belong to no network"
        ));
        if repair {
            unplumb(&b);
        }
    }
    for n in &list {
        if links::exists(&n.bridge) && !firewall::complete(n)? {
            problems.push(format!(
                "network {}: firewall rules of bridge {} are missing",
                n.name, n.bridge
            ));
            if repair {
                firewall::install(n)?;
            }
        }
    }
    Ok(problems)
}
