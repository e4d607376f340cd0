//! A stage's starting point: `FROM scratch`, an earlier stage, or an image
//! (pulled when missing), and how it is described in the build log.

use super::{BuildError, ExecOptions, StageExec, StageOut};
use crate::build::cache;
use crate::build::cache::{LayerRef, State};
use crate::build::plan::{BuildPlan, PlannedStage, StageBase, StageEnv};
use crate::image::config::ImageConfig;
use crate::image::local::LocalImage;
use crate::store::Store;
use std::collections::BTreeMap;
use std::path::PathBuf;

pub(super) fn describe_base(plan: &BuildPlan, stage: &PlannedStage) -> String {
    let base = match &stage.base {
        StageBase::Scratch => "scratch".to_string(),
        StageBase::Stage(i) => plan.stage_label(*i),
        StageBase::Image(r) => r.clone(),
    };
    match &stage.name {
        Some(n) => format!("{base} AS {n}"),
        None => base,
    }
}

pub(super) fn load_image(store: &Store, r: &str) -> Result<(LocalImage, Vec<PathBuf>), String> {
    let img = match LocalImage::load(store, r) {
        Ok(img) => img,
        Err(crate::image::local::ImageError::NotFound(_)) => pull_missing(store, r)?,
        Err(e) => return Err(e.to_string()),
    };
    let dirs = img.layer_dirs(store).map_err(|e| e.to_string())?;
    Ok((img, dirs))
}

/// A FROM image that is not in the store is pulled when its reference names
/// a registry (`127.0.0.1:5000/node:20`); loopback registries are spoken to
/// without TLS verification, as docker treats them as insecure.
pub(super) fn pull_missing(store: &Store, r: &str) -> Result<LocalImage, String> {
    let not_here = || format!("no such image: {r} (import, load or pull it first)");
    let parsed: crate::image::reference::ImageRef = r
        .parse()
        .map_err(|e: crate::image::reference::BadReference| e.to_string())?;
    let Some(host) = parsed.registry() else {
        return Err(not_here());
    };
    let hostname = host.rsplit_once(':').map(|(h, _)| h).unwrap_or(host);
    let loopback = hostname == "localhost"
        || hostname
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback());
    let mut opts = crate::registry::PullOptions::default();
    opts.transport.tls_verify = !loopback;
    let digest = crate::registry::pull(store, &parsed, &opts)
        .map_err(|e| format!("cannot pull {r}: {e}"))?;
    LocalImage::by_digest(store, &digest).map_err(|e| e.to_string())
}

pub(super) fn image_state(img: &LocalImage) -> Result<State, String> {
    let layers = img
        .manifest
        .layers()
        .iter()
        .zip(&img.config.rootfs.diff_ids)
        .map(|(d, diff)| {
            Ok(LayerRef {
                digest: d
                    .digest()
                    .to_string()
                    .parse()
                    .map_err(|e: crate::store::digest::BadDigest| e.to_string())?,
                size: d.size(),
                diff_id: diff.clone(),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(State {
        config: img.config.clone(),
        layers,
    })
}

impl<'a> StageExec<'a> {
    pub(super) fn start(
        store: &'a Store,
        plan: &'a BuildPlan,
        stage: &'a PlannedStage,
        outs: &BTreeMap<usize, StageOut>,
        opts: &'a ExecOptions<'a>,
    ) -> Result<StageExec<'a>, BuildError> {
        let from_err = |msg: String| BuildError::Step {
            at: format!("{}:{}", plan.file, stage.from_line),
            instruction: "FROM".into(),
            msg,
        };
        let out = match &stage.base {
            StageBase::Scratch => StageOut {
                state: State {
                    config: ImageConfig::empty(None),
                    layers: Vec::new(),
                },
                key: cache::key(None, &[b"FROM scratch"]),
                env: StageEnv::new(plan, stage.index, &[] as &[String]),
            },
            StageBase::Stage(i) => {
                let parent = outs.get(i).ok_or_else(|| {
                    from_err(format!("stage {} was not built", plan.stage_label(*i)))
                })?;
                StageOut {
                    state: parent.state.clone(),
                    key: parent.key.clone(),
                    env: StageEnv::from_parent(plan, stage.index, &parent.env),
                }
            }
            StageBase::Image(r) => {
                let (img, _) = load_image(store, r).map_err(from_err)?;
                let env = img.config.config.env.clone().unwrap_or_default();
                StageOut {
                    state: image_state(&img).map_err(from_err)?,
                    key: cache::key(None, &[b"FROM", img.manifest_digest.to_string().as_bytes()]),
                    env: StageEnv::new(plan, stage.index, &env),
                }
            }
        };
        let mut out = out;
        // Triggers are consumed by this build: the new image does not carry them.
        let triggers = match stage.base {
            StageBase::Image(_) => out.state.config.config.on_build.take().unwrap_or_default(),
            _ => Vec::new(),
        };
        let no_cache_stage = opts.no_cache_filter.iter().any(|f| {
            stage
                .name
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(f))
                || *f == stage.index.to_string()
        });
        Ok(StageExec {
            store,
            plan,
            opts,
            out,
            cmd_set: false,
            triggers,
            no_cache_stage,
        })
    }
}
