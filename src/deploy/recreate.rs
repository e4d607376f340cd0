//! A new container that does what an old one does, on another image: the
//! same `run` options as recorded in the old one's config.json (ports,
//! env and env files as read then, limits, volumes, restart policy, log
//! options, --init), the new image's defaults (Env, Cmd, STOPSIGNAL…) under
//! them, as `docker run` would have combined them. It gets a temporary
//! name (`<name>.next`) until the old one is gone, and `replaces` in its
//! config records the replacement so it can be finished after a crash.

use super::{DeployError, Result};
use crate::image::local::LocalImage;
use crate::runtime::{self, Container, ContainerSpec, RunOptions};
use crate::store::{Digest, Store};
use crate::supervisor::config::{ImageUse, Options, Replaces, RunConfig};
use crate::supervisor::ops::Info;

/// The temporary name of the container replacing one named `name`.
pub fn temporary_name(name: &str) -> String {
    format!("{name}.next")
}

/// The `--env-file` lines read again from the files the container was
/// created with (PM2's `--update-env`).
fn reread_env_files(files: &[std::path::PathBuf]) -> Result<Vec<String>> {
    let mut lines = Vec::new();
    for f in files {
        let data = std::fs::read(f).map_err(|e| {
            DeployError::Invalid(format!("cannot read env file {} again: {e}", f.display()))
        })?;
        lines.extend(runtime::spec::env_file_checked(
            &f.display().to_string(),
            &data,
        )?);
    }
    Ok(lines)
}

/// Create (not start) the replacement of `old` on `digest`, revision `rev`
/// of the tag it was started from; with `reread_env`, its env files are
/// read again. Returns the new container's id.
pub fn create(
    store: &Store,
    old: &Info,
    rev: u64,
    digest: &Digest,
    reread_env: bool,
) -> Result<String> {
    let temp = old.name.as_deref().map(temporary_name);
    let replaces = Replaces {
        id: old.id.clone(),
        name: old.name.clone(),
        running: old.observed.is_live(),
    };
    create_named(store, old, rev, digest, reread_env, temp, Some(replaces))
}

/// A container like `old` on `digest`, named `name`; `replaces` if it is
/// to replace `old` (a rollout), none for another replica (`scale`).
pub fn create_named(
    store: &Store,
    old: &Info,
    rev: u64,
    digest: &Digest,
    reread_env: bool,
    name: Option<String>,
    replaces: Option<Replaces>,
) -> Result<String> {
    let cfg = old.config.as_ref().ok_or_else(|| {
        DeployError::Invalid(format!(
            "container {} has no config.json (made by an older skiff); create it again",
            old.display_name()
        ))
    })?;
    create_from(store, old, cfg, rev, digest, reread_env, name, replaces)
}

/// [`create`], from `cfg` (options, labels, image reference) rather than
/// the old container's own config: compose replaces a container whose
/// service changed with one made from the service's new options.
pub fn create_as(
    store: &Store,
    old: &Info,
    cfg: &RunConfig,
    rev: u64,
    digest: &Digest,
    reread_env: bool,
) -> Result<String> {
    let temp = old.name.as_deref().map(temporary_name);
    let replaces = Replaces {
        id: old.id.clone(),
        name: old.name.clone(),
        running: old.observed.is_live(),
    };
    create_from(
        store,
        old,
        cfg,
        rev,
        digest,
        reread_env,
        temp,
        Some(replaces),
    )
}

/// The one way a container is made from another's config: `cfg` gives the
/// options, `name` its name, `replaces` the container it replaces (none for
/// a new replica).
#[allow(clippy::too_many_arguments)]
fn create_from(
    store: &Store,
    old: &Info,
    cfg: &RunConfig,
    rev: u64,
    digest: &Digest,
    reread_env: bool,
    name: Option<String>,
    replaces: Option<Replaces>,
) -> Result<String> {
    // Keep prune away while the image's layers are being taken.
    let _gc = store.gc_shared()?;
    let img = LocalImage::by_digest(store, digest)?;
    let layers = img.layer_dirs(store)?;
    let id = runtime::new_id();
    let temp = name;
    let mut options = cfg.options.clone();
    if reread_env {
        options.run.env_file_lines = reread_env_files(&options.env_files)?;
    }
    let mut opts = options.run_options();
    opts.name = temp.clone();
    // `-e NAME` (no value) took the value from the shell of `skiff run`;
    // that shell is gone: take the value the old container got.
    let old_env = &old.record.spec.env;
    let lookup = |k: &str| {
        old_env
            .iter()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .map(str::to_string)
    };
    let mut spec = ContainerSpec::build(
        &id,
        &cfg.image.reference,
        &img.config.config,
        &opts,
        &lookup,
    )?;
    spec.image_digest = Some(digest.to_string());
    if cfg.detach {
        crate::supervisor::notify::prepare_spec(&mut spec, options.sdnotify);
    }
    let new_cfg = RunConfig {
        image: ImageUse {
            reference: cfg.image.reference.clone(),
            name: cfg.image.name.clone(),
            tag: cfg.image.tag.clone(),
            revision: Some(rev),
            digest: digest.to_string(),
        },
        options: Options {
            run: RunOptions {
                name: temp,
                ..options.run.clone()
            },
            ..options
        },
        stop_signal: cfg
            .options
            .stop_signal
            .clone()
            .or_else(|| img.config.config.stop_signal.clone())
            .unwrap_or_else(|| "SIGTERM".into()),
        health: if cfg.detach {
            crate::supervisor::health::decide(
                img.config.config.healthcheck.as_ref(),
                &cfg.options.health,
            )?
        } else {
            None
        },
        replaces,
        ..cfg.clone()
    };
    // The config (with `replaces`) is in the directory when it appears, so
    // a kill at any instant leaves a replacement that recovery recognizes.
    let cfg_bytes =
        serde_json::to_vec_pretty(&new_cfg).map_err(|e| DeployError::Invalid(e.to_string()))?;
    Container::create_with_files(
        store,
        spec,
        layers,
        &[(crate::supervisor::CONFIG_FILE, &cfg_bytes)],
    )?;
    store.emit(
        crate::store::events::Event::container(
            "create",
            &id,
            new_cfg.options.run.name.as_deref(),
            &new_cfg.image.label(),
        )
        .attr("replaces", old.id.clone()),
    );
    Ok(id)
}
