//! `build`: read the Dockerfile, plan, execute, tag. The one entry point the
//! command line calls.

use super::context::BuildContext;
use super::executor::{self, BuildError, ExecOptions};
use super::{dockerfile, plan};
use crate::runtime::NetworkMode;
use crate::store::{Digest, Reason, Store};
use std::io::Write;
use std::path::PathBuf;

pub struct BuildOptions {
    pub context: PathBuf,
    /// `-f`; default `<context>/Dockerfile`.
    pub dockerfile: Option<PathBuf>,
    /// `-t` values as (name, tag).
    pub tags: Vec<(String, String)>,
    pub build_args: Vec<String>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub no_cache_filter: Vec<String>,
    pub quiet: bool,
    pub network: NetworkMode,
    pub secrets: super::secrets::Secrets,
    /// `--network NAME`: the bridge network RUN steps join.
    pub networks: Vec<String>,
}

pub struct BuildOutcome {
    pub manifest: Digest,
    pub image_id: Digest,
    pub steps: usize,
    pub cached: usize,
    pub warnings: Vec<String>,
    /// Each tag with the revision it got (None: it already pointed there).
    pub tagged: Vec<(String, String, Option<u64>)>,
}

pub fn build(
    store: &Store,
    o: &BuildOptions,
    log: &mut dyn Write,
) -> Result<BuildOutcome, BuildError> {
    let ctx = BuildContext::open(&o.context).map_err(|e| BuildError::Other(e.to_string()))?;
    let df_path = o
        .dockerfile
        .clone()
        .unwrap_or_else(|| ctx.root().join("Dockerfile"));
    let df_name = o
        .dockerfile
        .as_ref()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|| "Dockerfile".into());
    let text = std::fs::read_to_string(&df_path)
        .map_err(|e| BuildError::Other(format!("cannot read {}: {e}", df_path.display())))?;
    let df = dockerfile::parse(&text, &df_name)?;
    let args =
        plan::BuildArgs::from_cli(&o.build_args).map_err(|e| BuildError::Other(e.to_string()))?;
    let plan = plan::plan_build(&df, &args, o.target.as_deref())
        .map_err(|e| BuildError::Other(e.to_string()))?;
    for w in &df.warnings {
        match w.line {
            Some(l) => {
                let _ = writeln!(log, "WARNING: {}:{l}: {}", df.file, w.message);
            }
            None => {
                let _ = writeln!(log, "WARNING: {}: {}", df.file, w.message);
            }
        }
    }
    for w in &plan.warnings {
        let _ = writeln!(log, "WARNING: {w}");
    }
    let opts = ExecOptions {
        context: &ctx,
        no_cache: o.no_cache,
        no_cache_filter: &o.no_cache_filter,
        quiet: o.quiet,
        network: o.network,
        secrets: &o.secrets,
        networks: &o.networks,
    };
    let built = executor::execute(store, &plan, &opts, log)?;
    let mut tagged = Vec::new();
    for (name, tag) in &o.tags {
        let current = store
            .resolve_tag(name, tag)
            .map_err(|e| BuildError::Other(e.to_string()))?;
        if current.as_ref() == Some(&built.manifest) {
            tagged.push((name.clone(), tag.clone(), None));
            continue;
        }
        let rev = store
            .set_tag(name, tag, Some(&built.manifest), Reason::Build, None)
            .map_err(|e| BuildError::Other(e.to_string()))?;
        tagged.push((name.clone(), tag.clone(), Some(rev.rev)));
    }
    Ok(BuildOutcome {
        manifest: built.manifest,
        image_id: built.config,
        steps: built.steps,
        cached: built.cached,
        warnings: plan.warnings.clone(),
        tagged,
    })
}
