//! Which containers the kernel forwards a published port to
//! (`network::forward` writes the rules): every container that publishes
//! that host address on a bridge network and is *ready* (its ports answer,
//! healthy when it has a check), not draining (`stop_accepting`), with a
//! live supervisor — read from the containers' config.json and state.json
//! under the networks lock, so any supervisor or command can re-sync a
//! port and the result does not depend on who wrote last. A member must
//! also accept a connection on its bridge address: a program listening on
//! 127.0.0.1 only is served through the relay (which reaches it there).
//!
//! The supervisor's own listener stays bound: it holds the port, and
//! takes what the kernel does not forward (no member ready: the relay
//! waits for one, as before). `--network private|host|none` containers
//! and IPv6 host addresses keep the relay only, and so does a host whose
//! firewall has no nat table (the first failure is logged).

use super::config::RunConfig;
use super::ports::PortSpec;
use super::state::{State, Status};
use super::{lookup, Result, SupervisorError};
use crate::network::forward::{self, Backend, Published};
use crate::network::{Networks, DEFAULT_NETWORK};
use crate::runtime::NetworkMode;
use crate::store::Store;
use std::net::IpAddr;
use std::path::Path;

/// The host address `spec` publishes, if the kernel can forward it.
pub fn published(spec: &PortSpec) -> Option<Published> {
    match spec.host_ip {
        IpAddr::V4(ip) => Some(Published {
            ip: (!ip.is_unspecified()).then_some(ip),
            port: spec.host_port,
        }),
        IpAddr::V6(_) => None,
    }
}

/// Are `cfg`'s published ports forwarded by the kernel (a bridge network)?
pub fn forwardable(cfg: &RunConfig) -> bool {
    cfg.options.run.network == NetworkMode::Bridge
        && cfg.ports.iter().any(|p| published(p).is_some())
}

/// The host addresses of `cfg` the kernel forwards.
pub fn published_of(cfg: &RunConfig) -> Vec<Published> {
    if cfg.options.run.network != NetworkMode::Bridge {
        return Vec::new();
    }
    let mut out: Vec<Published> = cfg.ports.iter().filter_map(published).collect();
    out.sort();
    out.dedup();
    out
}

fn first_network(cfg: &RunConfig) -> &str {
    cfg.options
        .run
        .networks
        .first()
        .map_or(DEFAULT_NETWORK, String::as_str)
}

/// Does the state say "send it connections"?
fn takes_connections(s: &State) -> bool {
    s.ready
        && !s.draining
        && s.status == Status::Running
        && s.pid.is_some()
        && s.supervisor.as_ref().is_some_and(|p| p.alive())
}

/// Does `b` accept a TCP connection on its bridge address (from the host)?
fn answers_on_bridge(b: &Backend) -> bool {
    let addr = std::net::SocketAddr::from((b.addr, b.port));
    std::net::TcpStream::connect_timeout(&addr, BRIDGE_PROBE).is_ok()
}

/// How long a member's bridge address may take to accept the check's
/// connection (the bridge is local: an answer or a refusal is immediate).
const BRIDGE_PROBE: std::time::Duration = std::time::Duration::from_millis(300);

fn net(e: crate::network::NetworkError) -> SupervisorError {
    SupervisorError::Invalid(e.to_string())
}

/// The members of `p` now, by address.
fn members(store: &Store, nets: &Networks, p: &Published) -> Result<Vec<Backend>> {
    let mut out = Vec::new();
    for id in lookup::all_ids(store) {
        if !State::load(&store.containers_dir().join(&id)).is_ok_and(|s| takes_connections(&s)) {
            continue;
        }
        // Readiness is judged on 127.0.0.1 inside the container; the
        // kernel forwards to its bridge address. A program that listens
        // on 127.0.0.1 only is ready but not reachable there: it keeps
        // the relay (which connects to 127.0.0.1 inside) instead.
        if let Some(b) = backend(store, nets, &id, p)?.filter(answers_on_bridge) {
            out.push(b);
        }
    }
    out.sort_by_key(|b| b.addr);
    Ok(out)
}

/// Container `id`'s bridge address and port for `p`, if it publishes `p`
/// on a bridge network and holds an address there.
fn backend(store: &Store, nets: &Networks, id: &str, p: &Published) -> Result<Option<Backend>> {
    let Ok(cfg) = RunConfig::load(&store.containers_dir().join(id)) else {
        return Ok(None);
    };
    if cfg.options.run.network != NetworkMode::Bridge {
        return Ok(None);
    }
    let Some(spec) = cfg.ports.iter().find(|s| published(s).as_ref() == Some(p)) else {
        return Ok(None);
    };
    forward::backend_of(nets, id, first_network(&cfg), spec.container_port).map_err(net)
}

/// Rewrite `p`'s chain from the members' state.
pub fn sync(store: &Store, p: &Published) -> Result<()> {
    let nets = Networks::at(store.root());
    let _lock = nets.lock().map_err(net)?;
    let m = members(store, &nets, p)?;
    forward::sync(&nets, p, &m).map_err(net)
}

/// Rewrite the chains of every port `cfg` publishes.
pub fn sync_all(store: &Store, cfg: &RunConfig) -> Result<()> {
    let mut first = Ok(());
    for p in published_of(cfg) {
        if let Err(e) = sync(store, &p) {
            if first.is_ok() {
                first = Err(e);
            }
        }
    }
    first
}

/// Cheap check (no lock, no tool): is container `me` missing from `p`'s
/// chain while `serving`, or has the member `me` watches stopped taking
/// connections (its supervisor killed, say)?
pub fn out_of_date(store: &Store, p: &Published, me: &str, serving: bool) -> bool {
    let nets = Networks::at(store.root());
    let recorded = forward::recorded(&nets, p);
    (serving && !recorded.iter().any(|id| id == me) && reachable(store, &nets, p, me))
        || watched(&recorded, me).any(|id| {
            !State::load(&store.containers_dir().join(id)).is_ok_and(|s| takes_connections(&s))
        })
}

/// The members whose state `me` checks each second: the one after it in
/// the chain's record (wrapping), so N replicas read N states a second
/// between them, not N² — every member is watched by the one before it,
/// and a sync (which reads them all) follows any finding. Not a member
/// itself: all of them.
fn watched<'a>(recorded: &'a [String], me: &str) -> impl Iterator<Item = &'a String> {
    let next = recorded
        .iter()
        .position(|id| id == me)
        .map(|i| &recorded[(i + 1) % recorded.len()]);
    let all = next.is_none();
    recorded.iter().filter(move |id| all || Some(*id) == next)
}

/// Would container `me` be a member of `p`'s chain by its bridge address
/// (not one served by the relay because it listens on 127.0.0.1 only)?
fn reachable(store: &Store, nets: &Networks, p: &Published, me: &str) -> bool {
    backend(store, nets, me, p)
        .ok()
        .flatten()
        .is_some_and(|b| answers_on_bridge(&b))
}

/// After a container (at `dir`) was stopped or removed without its
/// supervisor (killed): its ports' chains without it.
pub fn sync_after_removal(store: &Store, dir: &Path) {
    if let Ok(cfg) = RunConfig::load(dir) {
        let _ = sync_all(store, &cfg);
    }
}

/// `fsck` and `boot`: chains whose members differ from the containers'
/// state (a supervisor killed, a host rebooted) or that no container
/// publishes. Mended (re-synced) if `repair`. One line per finding.
pub fn check(store: &Store, repair: bool) -> Result<Vec<String>> {
    let nets = Networks::at(store.root());
    if !nets.exist() {
        return Ok(Vec::new());
    }
    let mut wanted: Vec<Published> = lookup::all_ids(store)
        .iter()
        .filter_map(|id| RunConfig::load(&store.containers_dir().join(id)).ok())
        .flat_map(|c| published_of(&c))
        .collect();
    wanted.sort();
    wanted.dedup();
    let present = match forward::chains() {
        Ok(c) => c,
        // No firewall tool: nothing of skiff's can be there.
        Err(_) => return Ok(Vec::new()),
    };
    let mut out = Vec::new();
    for chain in &present {
        if !wanted.iter().any(|p| &p.chain() == chain) {
            out.push(format!(
                "forwarding chain {chain} belongs to no container's published port"
            ));
            if repair {
                forward::remove_chain(&nets, chain).map_err(net)?;
            }
        }
    }
    for p in &wanted {
        let _lock = nets.lock().map_err(net)?;
        let m = members(store, &nets, p)?;
        let now: Vec<String> = m.iter().map(|b| b.container.clone()).collect();
        let mut recorded = forward::recorded(&nets, p);
        recorded.sort();
        let mut sorted = now.clone();
        sorted.sort();
        let has_chain = present.contains(&p.chain());
        if sorted != recorded || has_chain == now.is_empty() {
            out.push(format!(
                "published port {}: the kernel's forwarding is out of date (ready containers: {})",
                p.port,
                now.len()
            ));
            if repair {
                forward::sync(&nets, p, &m).map_err(net)?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::watched;

    #[test]
    fn each_member_watches_the_next_and_strangers_watch_all() {
        let ids: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let w = |me: &str| watched(&ids, me).cloned().collect::<Vec<_>>();
        assert_eq!(w("a"), ["b"]);
        assert_eq!(w("c"), ["a"]);
        assert_eq!(w("x"), ["a", "b", "c"]);
        let one = vec!["a".to_string()];
        assert_eq!(watched(&one, "a").collect::<Vec<_>>(), ["a"]);
    }
}
