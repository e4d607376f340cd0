//! `run -d --replicas N --name NAME`: the count checked, then the
//! replicas created and started all or nothing.

use crate::deploy::create;
use crate::store::Store;
use crate::supervisor::{lookup, replicas, SupervisorError};
use anyhow::{bail, Result};

use super::{create_one, RunArgs};

/// `--replicas`: how many, checked before anything is created.
pub(super) fn replica_count(a: &RunArgs) -> Result<Option<u32>> {
    let Some(r) = &a.replicas else {
        return Ok(None);
    };
    let n = replicas::parse_count(r)?;
    if !a.detach {
        bail!("--replicas needs -d: each replica runs under its own supervisor");
    }
    if a.rm {
        bail!("conflicting options: --replicas and --rm");
    }
    let Some(name) = &a.name else {
        bail!("--replicas needs --name: the replicas are named NAME.1, NAME.2, …");
    };
    if replicas::split_name(name).is_some() {
        bail!("invalid service name {name:?}: NAME.N is the name of a replica");
    }
    if a.ip.is_some() {
        bail!("--ip cannot be used with --replicas (each replica needs its own address)");
    }
    Ok(Some(n))
}

/// `run -d --replicas N --name api`: containers api.1 … api.N, started one
/// after the other (the first binds the published ports, the others share
/// them). If one cannot start, the ones made so far are removed again: all
/// or nothing.
pub(super) fn run_replicas(
    store: &Store,
    a: &RunArgs,
    request: &create::Request,
    n: u32,
) -> Result<i32> {
    let service = a.name.clone().unwrap_or_default();
    // One deploy at a time (waits for a scale, rollout or rollback); what
    // a killed `scale`/`run --replicas` of this service left comes first.
    let _lock = crate::deploy::journal::lock(store)?;
    let opts = crate::deploy::Options::default();
    if let Some(what) = crate::deploy::scale::recover(store, &service, &opts)? {
        eprintln!("skiff: {what}");
    }
    if lookup::resolve(store, &service).is_ok() || !replicas::members(store, &service).is_empty() {
        bail!(
            "the name {service:?} is already in use (a container or a service); \
             remove it first (skiff rm -f {service})"
        );
    }
    crate::deploy::scale::begin_run(store, &service, n)?;
    let mut made: Vec<String> = Vec::new();
    for i in 1..=n {
        let mut r = request.clone();
        r.options.run.name = Some(replicas::replica_name(&service, i));
        r.options.service = Some(service.clone());
        let started = create_one(store, a, &r).and_then(|c| {
            let id = c.id().to_string();
            made.push(id.clone());
            replicas::spawn(store, &id).map_err(anyhow::Error::from)
        });
        if let Err(e) = started {
            for id in made.iter().rev() {
                let _ = crate::supervisor::ops::remove(store, id, true);
                let _ = crate::supervisor::cleanup::remove_cgroups(id);
            }
            crate::deploy::scale::end_run(store, &service)?;
            let code = e
                .downcast_ref::<SupervisorError>()
                .map_or(125, SupervisorError::exit_code);
            eprintln!(
                "skiff: replica {} of {service} did not start: {e:#}",
                replicas::replica_name(&service, i)
            );
            return Ok(code);
        }
    }
    crate::deploy::scale::end_run(store, &service)?;
    for id in made {
        println!("{id}");
    }
    Ok(0)
}
