//! The step executor: one stage at a time, one instruction at a time, asking
//! the cache before each step (planning is `plan.rs`'s job, running a
//! container is the runtime's, copying files is `copy.rs`'s).
//!
//! | concern | file |
//! | --- | --- |
//! | the stage loop, the cache check of each step, committing layers | `executor.rs` |
//! | a stage's base: scratch, a stage, an image (pulled when missing) | `executor/base.rs` |
//! | COPY and ADD | `executor/copy_step.rs` |
//! | RUN and its mounts | `executor/run.rs` |

use super::cache::{self, LayerRef, State};
use super::context::BuildContext;
use super::copy::{self};
use super::dockerfile::{CommandForm, DockerfileError, Healthcheck as DfHealthcheck, Instruction};
use super::plan::{BuildPlan, ExpandedInstruction, StageEnv};
use super::secrets::Secrets;
use crate::image::config::{creation_time, source_date_epoch, Healthcheck, History};
use crate::image::layer_writer::{self, WriteOptions};
use crate::image::local::{digest_to_oci, write_image, LocalImage};
use crate::runtime::NetworkMode;
use crate::store::{Digest, Store};
use base::describe_base;
use oci_spec::image::{Descriptor, MediaType};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

mod base;
mod copy_step;
mod run;

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    #[error("{at}: {instruction}: {msg}")]
    Step {
        at: String,
        instruction: String,
        msg: String,
    },
    #[error("{at}: {instruction}: the command returned a non-zero code: {code}{}", output.as_deref().map(|o| format!("\n{o}")).unwrap_or_default())]
    RunFailed {
        at: String,
        instruction: String,
        code: i32,
        output: Option<String>,
    },
    #[error("{0}")]
    Other(String),
}

impl BuildError {
    /// The exit code `skiff build` ends with: a failed RUN's own code, else 125.
    pub fn exit_code(&self) -> i32 {
        match self {
            BuildError::RunFailed { code, .. } if *code > 0 && *code < 256 => *code,
            _ => 125,
        }
    }
}

/// What the executor needs besides the plan.
pub struct ExecOptions<'a> {
    pub context: &'a BuildContext,
    pub no_cache: bool,
    /// `--no-cache-filter`: stages (by name or index) whose steps all run.
    pub no_cache_filter: &'a [String],
    pub quiet: bool,
    pub network: NetworkMode,
    /// `--secret`s for `RUN --mount=type=secret`.
    pub secrets: &'a Secrets,
    pub networks: &'a [String],
}

/// One built stage.
#[derive(Clone)]
struct StageOut {
    state: State,
    key: Digest,
    env: StageEnv,
}

/// The built image of the target stage.
pub struct Built {
    pub manifest: Digest,
    pub config: Digest,
    pub steps: usize,
    pub cached: usize,
}

pub fn execute(
    store: &Store,
    plan: &BuildPlan,
    opts: &ExecOptions<'_>,
    log: &mut dyn Write,
) -> Result<Built, BuildError> {
    let mut outs: BTreeMap<usize, StageOut> = BTreeMap::new();
    let total_stages = plan.stages.len();
    let (mut steps, mut cached) = (0, 0);
    for (n, stage) in plan.stages.iter().enumerate() {
        let prefix = if total_stages > 1 {
            format!("[{}/{}] ", n + 1, total_stages)
        } else {
            String::new()
        };
        let mut exec = StageExec::start(store, plan, stage, &outs, opts)?;
        let count = stage.instructions.len() + 1;
        let _ = writeln!(
            log,
            "{prefix}STEP 1/{count}: FROM {}",
            describe_base(plan, stage)
        );
        // The base image's ONBUILD triggers run first, as in docker.
        for t in std::mem::take(&mut exec.triggers) {
            let inst =
                super::dockerfile::parse_trigger(&t, &plan.file, stage.from_line, plan.escape)?;
            let _ = writeln!(log, "{prefix}ONBUILD {}", truncate(&t, 120));
            steps += 1;
            if exec.step(&inst, &outs)? {
                cached += 1;
                let _ = writeln!(log, " --> CACHED");
            }
        }
        for (i, inst) in stage.instructions.iter().enumerate() {
            let t = Instant::now();
            let text = inst
                .original
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ");
            let _ = writeln!(
                log,
                "{prefix}STEP {}/{count}: {}",
                i + 2,
                truncate(&text, 120)
            );
            let hit = exec.step(inst, &outs)?;
            steps += 1;
            if hit {
                cached += 1;
                let _ = writeln!(log, " --> CACHED");
            } else if matches!(inst.name(), "RUN" | "COPY" | "ADD") {
                let _ = writeln!(log, " --> {:.2}s", t.elapsed().as_secs_f64());
            }
        }
        outs.insert(stage.index, exec.finish());
    }
    let target = outs
        .remove(&plan.target)
        .ok_or_else(|| BuildError::Other("the target stage was not built".into()))?;
    let mut config = target.state.config;
    config.created = config
        .history
        .iter()
        .rev()
        .find_map(|h| h.created.clone())
        .or_else(|| Some(creation_time()));
    let layers: Vec<Descriptor> = target
        .state
        .layers
        .iter()
        .map(|l| {
            Ok(Descriptor::new(
                MediaType::ImageLayerGzip,
                l.size,
                digest_to_oci(&l.digest)?,
            ))
        })
        .collect::<Result<_, crate::image::local::ImageError>>()
        .map_err(|e| BuildError::Other(e.to_string()))?;
    let manifest =
        write_image(store, &config, layers).map_err(|e| BuildError::Other(e.to_string()))?;
    let img =
        LocalImage::by_digest(store, &manifest).map_err(|e| BuildError::Other(e.to_string()))?;
    Ok(Built {
        manifest,
        config: img.config_digest,
        steps,
        cached,
    })
}

/// `RUN --network=default|none|host` (checked by the parser).
fn run_network_flag(inst: &Instruction) -> Option<&str> {
    inst.flags.iter().find_map(|f| f.strip_prefix("--network="))
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        s.chars().take(n).collect::<String>() + "…"
    }
}

/// The state of one stage while its instructions run.
struct StageExec<'a> {
    store: &'a Store,
    plan: &'a BuildPlan,
    opts: &'a ExecOptions<'a>,
    out: StageOut,
    /// CMD was set by this stage (so ENTRYPOINT does not clear it).
    cmd_set: bool,
    /// ONBUILD triggers of the base image, still to run.
    triggers: Vec<String>,
    /// The stage is named by `--no-cache-filter`.
    no_cache_stage: bool,
}

impl<'a> StageExec<'a> {
    fn finish(self) -> StageOut {
        self.out
    }

    /// The stage's WORKDIR so far (`/` if none was set).
    fn workdir(&self) -> String {
        self.out
            .state
            .config
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into())
    }

    fn layer_dirs(&self) -> Vec<PathBuf> {
        self.out
            .state
            .layers
            .iter()
            .map(|l| self.store.layer_dir(&l.diff_id))
            .collect()
    }

    fn err(&self, inst: &Instruction, msg: impl Into<String>) -> BuildError {
        BuildError::Step {
            at: format!("{}:{}", self.plan.file, inst.line),
            instruction: inst.name().to_string(),
            msg: msg.into(),
        }
    }

    /// Run one instruction; returns whether it was a cache hit.
    fn step(
        &mut self,
        inst: &Instruction,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<bool, BuildError> {
        let x = self.out.env.expand(inst)?;
        let text = x.to_string();
        let mut parts: Vec<Vec<u8>> = vec![text.clone().into_bytes()];
        match &x {
            ExpandedInstruction::Copy(c) | ExpandedInstruction::Add(c) => {
                parts.push(self.copy_key(inst, c, outs)?)
            }
            ExpandedInstruction::Run(_) => {
                // What is mounted (never a secret's bytes) and the heredocs.
                for m in &inst.mounts {
                    let spec = self.out.env.expand_word(inst, m)?;
                    parts.push(format!("mount {spec}").into_bytes());
                }
                for h in &inst.heredocs {
                    parts.push(format!("heredoc {} {}", h.name, h.content).into_bytes());
                }
                if let Some(n) = run_network_flag(inst) {
                    parts.push(format!("network {n}").into_bytes());
                }
                parts.push(self.out.env.run_env().join("\0").into_bytes());
                parts.push(
                    format!(
                        "{:?}|{:?}",
                        self.out.state.config.config.user, self.out.state.config.config.working_dir
                    )
                    .into_bytes(),
                );
            }
            _ => {}
        }
        let part_refs: Vec<&[u8]> = parts.iter().map(|p| p.as_slice()).collect();
        let key = cache::key(Some(&self.out.key), &part_refs);
        let hit = if self.opts.no_cache || self.no_cache_stage {
            None
        } else {
            cache::lookup(self.store, &key)
        };
        let was_hit = hit.is_some();
        match hit {
            Some(state) => self.out.state = state,
            None => {
                self.execute(inst, &x, &text, outs)?;
                cache::record(self.store, &key, &self.out.state)
                    .map_err(|e| self.err(inst, e.to_string()))?;
            }
        }
        if let ExpandedInstruction::Cmd(_) = x {
            self.cmd_set = true;
        }
        self.out.env.apply(&x);
        self.out.key = key;
        Ok(was_hit)
    }

    fn history(&mut self, created_by: &str, empty_layer: bool) {
        self.out.state.config.history.push(History {
            created: Some(creation_time()),
            created_by: Some(created_by.to_string()),
            comment: Some("skiff build".into()),
            empty_layer,
        });
    }

    fn shell(&self) -> Vec<String> {
        self.out
            .state
            .config
            .config
            .shell
            .clone()
            .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
    }

    fn command(&self, form: &CommandForm) -> Vec<String> {
        match form {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => {
                let mut v = self.shell();
                v.push(s.clone());
                v
            }
        }
    }

    fn execute(
        &mut self,
        inst: &Instruction,
        x: &ExpandedInstruction,
        text: &str,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(), BuildError> {
        let cfg = &mut self.out.state.config.config;
        match x {
            ExpandedInstruction::Arg(_) => return Ok(()),
            ExpandedInstruction::Env(_) => {
                let mut env = self.out.env.clone();
                env.apply(x);
                cfg.env = Some(env.config_env());
            }
            ExpandedInstruction::Label(pairs) => {
                let labels = cfg.labels.get_or_insert_with(BTreeMap::new);
                for (k, v) in pairs {
                    labels.insert(k.clone(), v.clone());
                }
            }
            ExpandedInstruction::Workdir(w) => {
                let base = cfg.working_dir.clone().unwrap_or_else(|| "/".into());
                let joined = if w.starts_with('/') {
                    w.clone()
                } else {
                    format!("{}/{w}", base.trim_end_matches('/'))
                };
                cfg.working_dir = Some(
                    copy::resolve_dest(&joined, "/")
                        .trim_end_matches('/')
                        .to_string(),
                )
                .map(|s| if s.is_empty() { "/".into() } else { s });
            }
            ExpandedInstruction::User(u) => cfg.user = Some(u.clone()),
            ExpandedInstruction::Cmd(f) => {
                let c = self.command(f);
                self.out.state.config.config.cmd = Some(c);
            }
            ExpandedInstruction::Entrypoint(f) => {
                let e = self.command(f);
                let cfg = &mut self.out.state.config.config;
                cfg.entrypoint = Some(e);
                if !self.cmd_set {
                    cfg.cmd = None;
                }
            }
            ExpandedInstruction::Shell(s) => cfg.shell = Some(s.clone()),
            ExpandedInstruction::Expose(ports) => {
                let map = cfg.exposed_ports.get_or_insert_with(BTreeMap::new);
                for p in ports {
                    map.insert(p.to_string(), serde_json::json!({}));
                }
            }
            ExpandedInstruction::Volume(vs) => {
                let map = cfg.volumes.get_or_insert_with(BTreeMap::new);
                for v in vs {
                    map.insert(v.clone(), serde_json::json!({}));
                }
            }
            ExpandedInstruction::StopSignal(s) => cfg.stop_signal = Some(s.clone()),
            ExpandedInstruction::OnBuild(t) => {
                cfg.on_build.get_or_insert_with(Vec::new).push(t.clone())
            }
            ExpandedInstruction::Healthcheck(h) => {
                cfg.healthcheck = Some(match h {
                    DfHealthcheck::None => Healthcheck {
                        test: vec!["NONE".into()],
                        ..Healthcheck::default()
                    },
                    DfHealthcheck::Cmd(c) => Healthcheck {
                        test: h.test(),
                        interval: c.interval.map(|d| d.as_nanos() as i64),
                        timeout: c.timeout.map(|d| d.as_nanos() as i64),
                        start_period: c.start_period.map(|d| d.as_nanos() as i64),
                        retries: c.retries.map(i64::from),
                    },
                });
            }
            ExpandedInstruction::Copy(c) => return self.copy(inst, c, false, text, outs),
            ExpandedInstruction::Add(c) => return self.copy(inst, c, true, text, outs),
            ExpandedInstruction::Run(f) => return self.run(inst, f, text, outs),
        }
        self.history(text, true);
        Ok(())
    }

    /// Write `dir` as a gzip layer blob, move `dir` into `layers/`, and add
    /// the layer to the state.
    fn commit_layer(
        &mut self,
        inst: &Instruction,
        dir: &Path,
        from_upper: bool,
        text: &str,
    ) -> Result<(), BuildError> {
        let opts = WriteOptions {
            source_date_epoch: source_date_epoch(),
            from_overlay_upper: from_upper,
        };
        let blob = self
            .store
            .blob_writer()
            .map_err(|e| self.err(inst, e.to_string()))?;
        let layer = layer_writer::write_gzip_layer(dir, blob, &opts)
            .map_err(|e| self.err(inst, format!("cannot write the layer: {e}")))?;
        let (digest, size) = layer
            .out
            .commit(Some(&layer.digest))
            .map_err(|e| self.err(inst, e.to_string()))?;
        self.store
            .publish_layer_dir(dir, &layer.diff_id)
            .map_err(|e| self.err(inst, e.to_string()))?;
        self.out.state.layers.push(LayerRef {
            digest,
            size,
            diff_id: layer.diff_id.clone(),
        });
        self.out.state.config.rootfs.diff_ids.push(layer.diff_id);
        self.history(text, false);
        Ok(())
    }
}

/// The files of COPY/ADD heredocs, staged under `tmp/` for the copy.
struct HeredocDir {
    dir: PathBuf,
}

impl HeredocDir {
    fn new(store: &Store, files: &[(String, String)]) -> Result<HeredocDir, String> {
        use std::os::unix::fs::PermissionsExt;
        let dir = store.layer_staging_dir().map_err(|e| e.to_string())?;
        let d = HeredocDir { dir };
        for (name, body) in files {
            if name.contains('/') || name == "." || name == ".." {
                return Err(format!("the heredoc name {name:?} cannot be a file name"));
            }
            let p = d.dir.join(name);
            std::fs::write(&p, body)
                .and_then(|_| std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)))
                .map_err(|e| format!("cannot write {}: {e}", p.display()))?;
        }
        Ok(d)
    }
}

impl Drop for HeredocDir {
    fn drop(&mut self) {
        let _ = crate::store::layers::remove_tree(&self.dir);
    }
}

/// A read-only overlay of layer directories (the merged rootfs of a stage),
/// unmounted when dropped. The build runs in its own mount namespace, so a
/// crash leaves no mount behind on the host.
struct MergedMount {
    dir: PathBuf,
    mounted: bool,
}

impl MergedMount {
    fn new(store: &Store, bottom_first: &[PathBuf]) -> Result<MergedMount, String> {
        let dir = store.layer_staging_dir().map_err(|e| e.to_string())?;
        let mut m = MergedMount {
            dir,
            mounted: false,
        };
        match bottom_first.len() {
            0 => {}
            1 => {
                nix::mount::mount(
                    Some(&bottom_first[0]),
                    &m.dir,
                    None::<&str>,
                    nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_RDONLY,
                    None::<&str>,
                )
                .map_err(|e| format!("bind mount of {}: {e}", bottom_first[0].display()))?;
                m.mounted = true;
            }
            _ => {
                crate::runtime::rootfs::overlay::mount_read_only(
                    &crate::sys::syscall::Linux,
                    bottom_first,
                    &m.dir,
                )
                .map_err(|e| format!("overlay mount of the source stage: {e}"))?;
                m.mounted = true;
            }
        }
        Ok(m)
    }

    fn path(&self) -> &Path {
        &self.dir
    }
}

impl Drop for MergedMount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        }
        let _ = std::fs::remove_dir(&self.dir);
    }
}
