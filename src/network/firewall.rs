//! The host's firewall for a network, through iptables (iptables-nft or
//! legacy, whichever the host's `iptables-restore` is): outbound NAT
//! (MASQUERADE of the subnet leaving by another interface) and isolation
//! (a container reaches the outside and its own network, never another
//! skiff network; nothing from outside opens a connection to it, except
//! to a published port the kernel forwards: `forward.rs`, conntrack's
//! DNAT state), and the MASQUERADE that forwarded loopback clients and
//! containers reaching a published port on their own bridge need. The
//! bridge has `route_localnet` for those loopback clients, so INPUT drops
//! what a container sends to 127.0.0.0/8 itself (kube-proxy's rule for
//! the same hole): only the replies of forwarded connections get in.
//!
//! Every rule of network `skiffN` lives in the chain `SKIFF-skiffN`,
//! jumped to from FORWARD, plus one POSTROUTING rule naming the bridge:
//! each change is one `iptables-restore --noflush` (all or nothing), and
//! removal finds exactly what to delete in `iptables-save`.

use super::links::tool;
use super::record::{Network, BRIDGE_PREFIX};
use super::Result;

pub fn chain(bridge: &str) -> String {
    format!("SKIFF-{bridge}")
}

fn install_rules(net: &Network) -> String {
    let br = &net.bridge;
    let c = chain(br);
    let any = format!("{BRIDGE_PREFIX}+");
    format!(
        "*filter\n\
         :{c} - [0:0]\n\
         -A {c} -o {br} -m conntrack --ctstate DNAT -j ACCEPT\n\
         -A {c} -i {br} -o {br} -j ACCEPT\n\
         -A {c} -i {br} -o {any} -j DROP\n\
         -A {c} -i {br} -j ACCEPT\n\
         -A {c} -o {br} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT\n\
         -A {c} -o {br} -j DROP\n\
         -I FORWARD -o {br} -j {c}\n\
         -I FORWARD -i {br} -j {c}\n\
         -I INPUT -d 127.0.0.0/8 -i {br} -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP\n\
         COMMIT\n\
         *nat\n\
         -A POSTROUTING -s {sub} ! -o {br} -j MASQUERADE\n\
         -A POSTROUTING -s 127.0.0.0/8 -o {br} -j MASQUERADE\n\
         -A POSTROUTING -s {sub} -o {br} -m conntrack --ctstate DNAT -j MASQUERADE\n\
         COMMIT\n",
        sub = net.subnet
    )
}

/// `iptables-save` lines (per table) that belong to `bridge`, turned into
/// a restore script that deletes them and its chain.
fn removal_script(saved: &str, bridge: &str) -> String {
    let c = chain(bridge);
    let mut filter = Vec::new();
    let mut nat = Vec::new();
    let mut has_chain = false;
    let mut table = "";
    for line in saved.lines() {
        if let Some(t) = line.strip_prefix('*') {
            table = if t == "filter" {
                "filter"
            } else if t == "nat" {
                "nat"
            } else {
                ""
            };
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        match table {
            "filter" if line == format!(":{c} - [0:0]") || line.starts_with(&format!(":{c} ")) => {
                has_chain = true
            }
            "filter"
                if words.first() == Some(&"-A")
                    && words.get(1) != Some(&c.as_str())
                    && (words.windows(2).any(|w| w == ["-j", c.as_str()])
                        || (words.get(1) == Some(&"INPUT")
                            && words.windows(2).any(|w| w == ["-i", bridge]))) =>
            {
                filter.push(format!("-D {}", &line[3..]))
            }
            "nat"
                if words.first() == Some(&"-A")
                    && words.get(1) == Some(&"POSTROUTING")
                    && words.windows(2).any(|w| w == ["-o", bridge])
                    && words.contains(&"MASQUERADE") =>
            {
                nat.push(format!("-D {}", &line[3..]))
            }
            _ => {}
        }
    }
    let mut s = String::new();
    if !filter.is_empty() || has_chain {
        s.push_str("*filter\n");
        for l in &filter {
            s.push_str(l);
            s.push('\n');
        }
        if has_chain {
            s.push_str(&format!("-F {c}\n-X {c}\n"));
        }
        s.push_str("COMMIT\n");
    }
    if !nat.is_empty() {
        s.push_str("*nat\n");
        for l in &nat {
            s.push_str(l);
            s.push('\n');
        }
        s.push_str("COMMIT\n");
    }
    s
}

/// The host's rules, as `iptables-save` prints them.
pub(super) fn save() -> Result<String> {
    tool("read the firewall rules", "iptables-save", &[], "")
}

/// Apply `script` with `iptables-restore --noflush` (all or nothing).
pub(super) fn restore(what: &str, script: &str) -> Result<()> {
    if script.is_empty() {
        return Ok(());
    }
    tool(what, "iptables-restore", &["--noflush", "-w"], script).map(|_| ())
}

/// Remove the rules of `bridge`, whatever of them exists.
pub fn remove(bridge: &str) -> Result<()> {
    let saved = save()?;
    restore(
        &format!("remove the firewall rules of {bridge}"),
        &removal_script(&saved, bridge),
    )
}

/// Install the rules of `net` exactly once (earlier copies are removed).
pub fn install(net: &Network) -> Result<()> {
    remove(&net.bridge)?;
    restore(
        &format!("add the firewall rules of network {}", net.name),
        &install_rules(net),
    )
}

/// The rule lines of `net` as `iptables-save` prints them.
fn expected_lines(net: &Network) -> Vec<String> {
    install_rules(net)
        .lines()
        .filter(|l| l.starts_with("-A ") || l.starts_with("-I "))
        .map(|l| format!("-A {}", &l[3..]))
        .collect()
}

/// Are all the rules of `net` in place?
pub fn complete(net: &Network) -> Result<bool> {
    Ok(complete_in(&save()?, net))
}

/// Are all the rules of `net` in `saved` (an `iptables-save` output)?
pub fn complete_in(saved: &str, net: &Network) -> bool {
    let have: Vec<&str> = saved.lines().collect();
    expected_lines(net)
        .iter()
        .all(|l| have.contains(&l.as_str()))
}

/// Bridges that have skiff rules in the firewall.
pub fn bridges_with_rules() -> Result<Vec<String>> {
    let saved = save()?;
    let mut out: Vec<String> = saved
        .lines()
        .filter_map(|l| l.strip_prefix(":SKIFF-"))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|b| b.starts_with(BRIDGE_PREFIX))
        .map(str::to_string)
        .collect();
    for l in saved.lines() {
        let w: Vec<&str> = l.split_whitespace().collect();
        if let Some(p) = w.windows(3).position(|x| x[0] == "!" && x[1] == "-o") {
            let br = w[p + 2];
            if br.starts_with(BRIDGE_PREFIX) && l.contains("MASQUERADE") {
                out.push(br.to_string());
            }
        }
    }
    out.sort();
    out.dedup();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removal_finds_exactly_the_bridges_rules() {
        let saved = "# Generated\n*nat\n:POSTROUTING ACCEPT [0:0]\n\
            -A POSTROUTING -s 10.88.0.0/16 ! -o skiff0 -j MASQUERADE\n\
            -A POSTROUTING -s 10.89.0.0/24 ! -o skiff1 -j MASQUERADE\nCOMMIT\n\
            *filter\n:FORWARD ACCEPT [0:0]\n:SKIFF-skiff0 - [0:0]\n:SKIFF-skiff1 - [0:0]\n\
            -A FORWARD -i skiff0 -j SKIFF-skiff0\n-A FORWARD -o skiff0 -j SKIFF-skiff0\n\
            -A FORWARD -i skiff1 -j SKIFF-skiff1\n-A SKIFF-skiff0 -i skiff0 -j ACCEPT\n\
            -A INPUT -d 127.0.0.0/8 -i skiff0 -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP\n\
            -A INPUT -d 127.0.0.0/8 -i skiff1 -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP\nCOMMIT\n";
        let s = removal_script(saved, "skiff0");
        assert_eq!(
            s,
            "*filter\n-D FORWARD -i skiff0 -j SKIFF-skiff0\n-D FORWARD -o skiff0 -j SKIFF-skiff0\n\
             -D INPUT -d 127.0.0.0/8 -i skiff0 -m conntrack ! --ctstate RELATED,ESTABLISHED -j DROP\n\
             -F SKIFF-skiff0\n-X SKIFF-skiff0\nCOMMIT\n\
             *nat\n-D POSTROUTING -s 10.88.0.0/16 ! -o skiff0 -j MASQUERADE\nCOMMIT\n"
        );
        assert_eq!(removal_script("*filter\nCOMMIT\n", "skiff3"), "");
    }
}
