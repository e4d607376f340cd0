//! `network connect|disconnect`: a container joins or leaves a bridge
//! network. Its spec.json and config.json list the network from then on
//! (so a restart, `start` or rollout keeps it), and a running container
//! gets (or loses) the interface at once.

use super::config::RunConfig;
use super::{ops, Result, SupervisorError};
use crate::network::{attach, Networks, Request, DEFAULT_NETWORK};
use crate::runtime::container::RECORD_FILE;
use crate::runtime::NetworkMode;
use crate::store::Store;

/// The running init's pid, if the container runs.
fn running_pid(i: &ops::Info) -> Option<i32> {
    match i.observed {
        crate::supervisor::state::Observed::Up { .. } => i.state.pid,
        _ => None,
    }
}

fn current(i: &ops::Info) -> Result<Vec<String>> {
    let spec = &i.record.spec;
    if spec.network != NetworkMode::Bridge {
        return Err(SupervisorError::Invalid(format!(
            "container {} has no bridge network (it runs with --network {}); recreate it on one",
            i.display_name(),
            serde_json::to_value(spec.network)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default()
        )));
    }
    Ok(if spec.networks.is_empty() {
        vec![DEFAULT_NETWORK.to_string()]
    } else {
        spec.networks.clone()
    })
}

/// Record `networks` in spec.json and config.json (each written atomically).
fn record(store: &Store, i: &ops::Info, networks: &[String]) -> Result<()> {
    let mut rec = i.record.clone();
    rec.spec.networks = networks.to_vec();
    let bytes =
        serde_json::to_vec_pretty(&rec).map_err(|e| SupervisorError::Invalid(e.to_string()))?;
    store.write_atomic(&i.dir.join(RECORD_FILE), &bytes)?;
    if let Ok(mut cfg) = RunConfig::load(&i.dir) {
        cfg.options.run.networks = networks.to_vec();
        cfg.save(store, &i.dir)?;
    }
    Ok(())
}

/// `network connect [--alias A]…`: `aliases` belong to this network only
/// (docker's rule); the container is found under them by its peers there.
pub fn connect(store: &Store, network: &str, reference: &str, aliases: &[String]) -> Result<()> {
    let id = super::lookup::resolve(store, reference)?;
    let _lock = store.lock()?;
    let i = ops::info(store, &id)?;
    let mut networks = current(&i)?;
    if networks.iter().any(|n| n == network) {
        return Err(SupervisorError::Invalid(format!(
            "container {} is already on network {network}",
            i.display_name()
        )));
    }
    if network != DEFAULT_NETWORK {
        Networks::at(store.root()).get(network).map_err(net)?;
    }
    let spec = &i.record.spec;
    let joining = [network.to_string()];
    let req = Request {
        container: &id,
        hostname: &spec.hostname,
        networks: &joining,
        aliases,
        ip: None,
        extra_hosts: &spec.add_hosts,
    };
    attach::connect(store.root(), &req, running_pid(&i)).map_err(net)?;
    networks.push(network.to_string());
    if let Err(e) = record(store, &i, &networks) {
        let _ = attach::disconnect(store.root(), &id, network, running_pid(&i));
        return Err(e);
    }
    Ok(())
}

pub fn disconnect(store: &Store, network: &str, reference: &str) -> Result<()> {
    let id = super::lookup::resolve(store, reference)?;
    let _lock = store.lock()?;
    let i = ops::info(store, &id)?;
    let mut networks = current(&i)?;
    let Some(at) = networks.iter().position(|n| n == network) else {
        return Err(SupervisorError::Invalid(format!(
            "container {} is not on network {network}",
            i.display_name()
        )));
    };
    if networks.len() == 1 {
        return Err(SupervisorError::Invalid(format!(
            "network {network} is the only network of container {} (recreate it with --network none to have none)",
            i.display_name()
        )));
    }
    attach::disconnect(store.root(), &id, network, running_pid(&i)).map_err(net)?;
    networks.remove(at);
    record(store, &i, &networks)
}

fn net(e: crate::network::NetworkError) -> SupervisorError {
    SupervisorError::Runtime(e.into())
}
