//! `scale api=N`: more or fewer replicas of a service.
//!
//! Up: each new replica is made like the lowest-numbered one (its options
//! and the same image revision), named `<service>.<next free index>`,
//! started sharing the service's listening sockets, and waited for until
//! ready. Down: the highest-numbered replicas are drained one by one — their
//! supervisor stops accepting (the others take every new connection), the
//! connections it accepted reach the program, then the stop signal and the
//! stop timeout, then removal. No connection is refused at any point: the
//! shared accept queue stays open as long as one replica holds it.

use super::replace::{discard, wait_ready, SETTLE};
use super::{recreate, DeployError, Options, Result};
use crate::store::{Digest, Store};
use crate::supervisor::control::{self, Request};
use crate::supervisor::ops;
use crate::supervisor::replicas;
use std::time::Duration;

/// What a scale did.
#[derive(Debug, Default)]
pub struct Scaled {
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

/// Bring `service` to `n` replicas.
pub fn scale(store: &Store, service: &str, n: u32, opts: &Options) -> Result<Scaled> {
    let members = replicas::members(store, service);
    let Some((_, first)) = members.first() else {
        return Err(DeployError::Invalid(format!(
            "no service named {service:?} (scale works on services started with run --replicas)"
        )));
    };
    let template = ops::info(store, first)?;
    let cfg = template.config.clone().ok_or_else(|| {
        DeployError::Invalid(format!("{} has no config.json", template.display_name()))
    })?;
    let digest: Digest =
        cfg.image.digest.parse().map_err(|_| {
            DeployError::Invalid(format!("bad digest in {}", template.display_name()))
        })?;
    let rev = cfg.image.revision.unwrap_or(0);
    let mut done = Scaled::default();
    let have = members.len() as u32;
    if n > have {
        let first_new = members.last().map_or(1, |(i, _)| i + 1);
        for next in first_new..first_new + (n - have) {
            let name = replicas::replica_name(service, next);
            let id = recreate::create_named(
                store,
                &template,
                rev,
                &digest,
                false,
                Some(name.clone()),
                None,
            )?;
            let started = replicas::spawn(store, &id)
                .map_err(DeployError::from)
                .and_then(|()| {
                    if cfg.ports.is_empty() {
                        Ok(())
                    } else {
                        wait_ready(store, &id, opts.ready_timeout).map_err(|why| {
                            DeployError::Invalid(format!(
                                "new replica {name} {why}; it was removed"
                            ))
                        })
                    }
                });
            if let Err(e) = started {
                discard(store, &id);
                return Err(e);
            }
            done.added.push(name);
        }
    }
    for (i, id) in members.iter().rev().take(have.saturating_sub(n) as usize) {
        drain(store, id, opts.stop_timeout)?;
        done.removed.push(replicas::replica_name(service, *i));
    }
    Ok(done)
}

/// No new connections, the accepted ones reach the program, then its stop
/// signal (and `timeout`), then removal.
fn drain(store: &Store, id: &str, timeout: u64) -> Result<()> {
    let i = ops::info(store, id)?;
    if i.observed.is_live()
        && control::request(
            &i.dir,
            &Request::StopAccepting,
            Some(Duration::from_secs(5)),
        )
        .is_ok()
    {
        std::thread::sleep(SETTLE);
    }
    ops::stop(store, id, timeout)?;
    ops::remove(store, id, true)?;
    Ok(())
}
