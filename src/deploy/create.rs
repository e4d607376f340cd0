//! A new container from an image and `run` options: what `skiff run` and
//! `skiff compose up` both do. Loads the image, decides the spec and the
//! health check, writes config.json with the container (one rename), and
//! for a detached container hands it to its supervisor.

use super::Result;
use crate::image::local::LocalImage;
use crate::runtime::{self, Container, ContainerSpec};
use crate::store::Store;
use crate::supervisor::config::{image_use, LogOptions, Options, RunConfig};
use crate::supervisor::health;
use crate::supervisor::ports::PortSpec;
use crate::supervisor::restart::Policy;
use crate::supervisor::{spawn, SupervisorError};
use std::collections::BTreeMap;

/// Everything a new container is made from.
#[derive(Clone, Debug, Default)]
pub struct Request {
    /// The image as the user named it.
    pub image: String,
    pub options: Options,
    pub ports: Vec<PortSpec>,
    pub restart: Policy,
    pub log: LogOptions,
    pub init: bool,
    pub detach: bool,
    pub auto_remove: bool,
    pub labels: BTreeMap<String, String>,
}

/// Create (not start) the container. `host_env` gives `-e NAME` its value.
pub fn create(
    store: &Store,
    r: &Request,
    host_env: &dyn Fn(&str) -> Option<String>,
) -> Result<Container> {
    // Keep prune away from the image until the container exists and uses
    // it (a concurrent prune could remove its blobs or layers in between).
    let gc = store.gc_shared()?;
    let image = LocalImage::load(store, &r.image)?;
    let layers = image.layer_dirs(store)?;
    let id = runtime::new_id();
    let mut spec = ContainerSpec::build(
        &id,
        &r.image,
        &image.config.config,
        &r.options.run,
        host_env,
    )?;
    spec.image_digest = Some(image.manifest_digest.to_string());
    if r.detach {
        crate::supervisor::notify::prepare_spec(&mut spec, r.options.sdnotify);
    }
    let config = run_config(store, r, &image)?;
    // The container appears with its config.json (one rename), so a kill
    // never leaves a container that `start` or a rollout cannot recreate.
    let config_bytes = serde_json::to_vec_pretty(&config)
        .map_err(|e| super::DeployError::Invalid(e.to_string()))?;
    let container = Container::create_with_files(
        store,
        spec,
        layers,
        &[(crate::supervisor::CONFIG_FILE, &config_bytes)],
    )?;
    drop(gc);
    store.emit(crate::store::events::Event::container(
        "create",
        container.id(),
        r.options.run.name.as_deref(),
        &config.image.label(),
    ));
    Ok(container)
}

/// The config.json of a container made from `r` on `image`: the health
/// check and the stop signal decided from the image and the options.
/// `compose up` hands it to a rollout, which makes the container from it.
pub fn run_config(store: &Store, r: &Request, image: &LocalImage) -> Result<RunConfig> {
    let digest = image.manifest_digest.to_string();
    let health = if r.detach {
        health::decide(image.config.config.healthcheck.as_ref(), &r.options.health)?
    } else {
        None
    };
    Ok(RunConfig {
        image: image_use(store, &r.image, &digest),
        options: r.options.clone(),
        ports: r.ports.clone(),
        restart: r.restart,
        log: r.log,
        init: r.init,
        stop_signal: r
            .options
            .stop_signal
            .clone()
            .or_else(|| image.config.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into()),
        detach: r.detach,
        auto_remove: r.auto_remove,
        health,
        replaces: None,
        labels: r.labels.clone(),
    })
}

/// Hand a created container to its supervisor; returns once it runs. A
/// container that never started is removed again, so its name stays free.
pub fn start_detached(store: &Store, container: Container) -> Result<String, SupervisorError> {
    let id = container.id().to_string();
    match spawn::spawn(store.root(), &id) {
        Ok(()) => Ok(id),
        Err(e) => {
            let _ = crate::supervisor::cleanup::remove_cgroups(&id);
            let _ = container.remove();
            Err(e)
        }
    }
}
