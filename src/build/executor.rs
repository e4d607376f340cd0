//! The step executor: one stage at a time, one instruction at a time, asking
//! the cache before each step (planning is `plan.rs`'s job, running a
//! container is the runtime's, copying files is `copy.rs`'s).

use super::cache::{self, LayerRef, State};
use super::context::BuildContext;
use super::copy::{self, Ownership};
use super::dockerfile::{CommandForm, DockerfileError, Healthcheck as DfHealthcheck, Instruction};
use super::heredoc;
use super::plan::{
    BuildPlan, CopySource, ExpandedCopy, ExpandedInstruction, PlannedStage, StageBase, StageEnv,
};
use super::rootfs_view::RootfsView;
use super::run_mount::{self, MountKind, RunMount};
use super::run_mounts::{self, Sources};
use super::run_step::{self, RunStep, RunStepError};
use super::secrets::Secrets;
use crate::image::config::{creation_time, source_date_epoch, Healthcheck, History, ImageConfig};
use crate::image::layer_writer::{self, WriteOptions};
use crate::image::local::{digest_to_oci, write_image, LocalImage};
use crate::runtime::NetworkMode;
use crate::store::{Digest, Store};
use oci_spec::image::{Descriptor, MediaType};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

fn describe_base(plan: &BuildPlan, stage: &PlannedStage) -> String {
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

fn load_image(store: &Store, r: &str) -> Result<(LocalImage, Vec<PathBuf>), String> {
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
fn pull_missing(store: &Store, r: &str) -> Result<LocalImage, String> {
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

fn image_state(img: &LocalImage) -> Result<State, String> {
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
    fn start(
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

    fn finish(self) -> StageOut {
        self.out
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

    /// The source of a COPY: the context, or the merged rootfs of a stage or image.
    fn copy_source(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(SourceRoot, Vec<u8>), BuildError> {
        match &c.from {
            None => Ok((SourceRoot::Context, Vec::new())),
            Some(CopySource::Stage(i)) => {
                let o = outs.get(i).ok_or_else(|| {
                    self.err(
                        inst,
                        format!("stage {} was not built", self.plan.stage_label(*i)),
                    )
                })?;
                let dirs = o
                    .state
                    .layers
                    .iter()
                    .map(|l| self.store.layer_dir(&l.diff_id))
                    .collect();
                Ok((SourceRoot::Layers(dirs), o.key.hex().as_bytes().to_vec()))
            }
            Some(CopySource::Image(r)) => {
                let (img, dirs) = load_image(self.store, r).map_err(|e| self.err(inst, e))?;
                Ok((
                    SourceRoot::Layers(dirs),
                    img.manifest_digest.to_string().into_bytes(),
                ))
            }
        }
    }

    fn copy_key(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<Vec<u8>, BuildError> {
        for s in &c.sources {
            if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@") {
                return Err(self.err(inst, format!("{s}: sources from URLs are not supported; put the file in the build context (or fetch it with RUN)")));
            }
        }
        if !inst.heredocs.is_empty() {
            let mut h = <sha2::Sha256 as sha2::Digest>::new();
            for (name, body) in self.heredoc_files(inst, c)? {
                sha2::Digest::update(&mut h, format!("{name}\0{}\0", body.len()).as_bytes());
                sha2::Digest::update(&mut h, body.as_bytes());
            }
            return Ok(hex::encode(sha2::Digest::finalize(h)).into_bytes());
        }
        let (root, key) = self.copy_source(inst, c, outs)?;
        match root {
            SourceRoot::Context => {
                let ctx = self.opts.context;
                let mut resolved = Vec::new();
                for s in &c.sources {
                    resolved.extend(ctx.resolve(s).map_err(|e| self.err(inst, e.to_string()))?);
                }
                Ok(ctx
                    .hash_sources(&resolved)
                    .map_err(|e| self.err(inst, e.to_string()))?
                    .to_string()
                    .into_bytes())
            }
            SourceRoot::Layers(_) => Ok(key),
        }
    }

    /// The files a COPY/ADD heredoc makes: (name, body after `<<-` and
    /// expansion). Every source must be a heredoc.
    fn heredoc_files(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
    ) -> Result<Vec<(String, String)>, BuildError> {
        if c.sources.len() != inst.heredocs.len() {
            return Err(self.err(inst, "mixing heredocs and files of the context in one instruction is not supported: use one COPY for the heredocs and one for the files"));
        }
        inst.heredocs
            .iter()
            .map(|h| {
                let body = if h.expand {
                    self.out.env.expand_heredoc(inst, &h.body())?
                } else {
                    h.body()
                };
                Ok((h.name.clone(), body))
            })
            .collect()
    }

    fn ownership(
        &self,
        inst: &Instruction,
        c: &ExpandedCopy,
        view: &RootfsView,
    ) -> Result<Ownership, BuildError> {
        let (uid, gid) = match &c.chown {
            None => (0, 0),
            Some(spec) => {
                let u = crate::runtime::user::resolve(
                    spec,
                    &view.read_to_string("/etc/passwd"),
                    &view.read_to_string("/etc/group"),
                )
                .map_err(|e| self.err(inst, format!("--chown={spec}: {e}")))?;
                (u.uid, u.gid)
            }
        };
        Ok(Ownership {
            uid,
            gid,
            chmod: c.chmod,
        })
    }

    fn copy(
        &mut self,
        inst: &Instruction,
        c: &ExpandedCopy,
        is_add: bool,
        text: &str,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(), BuildError> {
        let mut sources = c.sources.clone();
        let heredoc_dir = if inst.heredocs.is_empty() {
            None
        } else {
            let files = self.heredoc_files(inst, c)?;
            let dir = HeredocDir::new(self.store, &files).map_err(|e| self.err(inst, e))?;
            sources = files.into_iter().map(|(n, _)| n).collect();
            Some(dir)
        };
        let (root, _) = match &heredoc_dir {
            Some(d) => (
                SourceRoot::Layers(Vec::new()),
                d.dir.clone().into_os_string().into_encoded_bytes(),
            ),
            None => self.copy_source(inst, c, outs)?,
        };
        let view = RootfsView::new(&self.layer_dirs());
        let own = self.ownership(inst, c, &view)?;
        let workdir = self
            .out
            .state
            .config
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into());
        let dest = copy::resolve_dest(&c.dest, &workdir);
        let staged = self
            .store
            .layer_staging_dir()
            .map_err(|e| self.err(inst, e.to_string()))?;
        let result = (|| -> Result<(), BuildError> {
            let mounted;
            let ctx_plain;
            let ctx: &BuildContext = match (&root, &heredoc_dir) {
                (_, Some(d)) => {
                    ctx_plain = BuildContext::plain(&d.dir);
                    &ctx_plain
                }
                (SourceRoot::Context, None) => self.opts.context,
                (SourceRoot::Layers(dirs), None) => {
                    mounted = MergedMount::new(self.store, dirs).map_err(|e| self.err(inst, e))?;
                    ctx_plain = BuildContext::plain(mounted.path());
                    &ctx_plain
                }
            };
            let mut resolved = Vec::new();
            for s in &sources {
                resolved.extend(ctx.resolve(s).map_err(|e| self.err(inst, e.to_string()))?);
            }
            if resolved.len() > 1 && !dest.ends_with('/') && !view.is_dir(&dest) {
                return Err(self.err(inst, "when copying several sources the destination must be a directory and end with a /"));
            }
            let mut plain = Vec::new();
            for r in resolved {
                let full = ctx.root().join(&r);
                if is_add
                    && std::fs::symlink_metadata(&full).is_ok_and(|m| m.is_file())
                    && copy::add_archive(&staged, &full, &dest, &view)
                        .map_err(|e| self.err(inst, e.to_string()))?
                {
                    continue;
                }
                plain.push(r);
            }
            if !plain.is_empty() {
                copy::copy_sources(&staged, ctx, &plain, &dest, &view, own)
                    .map_err(|e| self.err(inst, e.to_string()))?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            let _ = crate::store::layers::remove_tree(&staged);
            return Err(e);
        }
        self.commit_layer(inst, &staged, false, text)
    }

    /// The root directory a `from=` of a RUN mount reads: a stage's or an
    /// image's layers, merged read-only.
    fn mount_from(
        &self,
        inst: &Instruction,
        from: &str,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<MergedMount, BuildError> {
        let dirs = match self
            .out
            .env
            .resolve_from(from)
            .map_err(|m| self.err(inst, m))?
        {
            CopySource::Stage(i) => outs
                .get(&i)
                .ok_or_else(|| {
                    self.err(
                        inst,
                        format!("stage {} was not built", self.plan.stage_label(i)),
                    )
                })?
                .state
                .layers
                .iter()
                .map(|l| self.store.layer_dir(&l.diff_id))
                .collect(),
            CopySource::Image(r) => load_image(self.store, &r).map_err(|e| self.err(inst, e))?.1,
        };
        MergedMount::new(self.store, &dirs).map_err(|e| self.err(inst, e))
    }

    fn run(
        &mut self,
        inst: &Instruction,
        f: &CommandForm,
        text: &str,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(), BuildError> {
        let dirs = self.layer_dirs();
        let workdir = self
            .out
            .state
            .config
            .config
            .working_dir
            .clone()
            .unwrap_or_else(|| "/".into());
        let mut mounts: Vec<RunMount> = Vec::new();
        for m in &inst.mounts {
            let spec = self.out.env.expand_word(inst, m)?;
            mounts.push(
                run_mount::parse_in(&spec, &workdir)
                    .map_err(|e| self.err(inst, format!("--mount={spec}: {e}")))?,
            );
        }
        let mut merged = Vec::new();
        let mut from_roots = BTreeMap::new();
        for m in &mounts {
            if let MountKind::Bind { from: Some(f), .. } | MountKind::Cache { from: Some(f), .. } =
                &m.kind
            {
                if !from_roots.contains_key(f) {
                    let mm = self.mount_from(inst, f, outs)?;
                    from_roots.insert(f.clone(), mm.path().to_path_buf());
                    merged.push(mm);
                }
            }
        }
        let view = RootfsView::new(&dirs);
        let sources = Sources {
            context: self.opts.context.root(),
            from: &from_roots,
        };
        let mut prepared =
            run_mounts::prepare(self.store, &mounts, self.opts.secrets, &sources, &view)
                .map_err(|e| self.err(inst, format!("--mount: {e}")))?;
        let args = match f {
            CommandForm::Shell(line) if !inst.heredocs.is_empty() => {
                let mut args = self.shell();
                if inst.heredocs.len() == 1 && heredoc::marker(line.trim()).is_some() {
                    // RUN <<EOF: the body is the script, run by the shell.
                    let h = &inst.heredocs[0];
                    let path = prepared
                        .add_script(self.store, &h.name, &h.body())
                        .map_err(|e| self.err(inst, e))?;
                    args.push(path);
                } else {
                    // A program line: the shell reads the heredocs itself.
                    let mut script = format!("{line}\n");
                    for h in &inst.heredocs {
                        script.push_str(&h.content);
                        script.push_str(&h.name);
                        script.push('\n');
                    }
                    args.push(script);
                }
                args
            }
            _ => self.command(f),
        };
        let cfg = &self.out.state.config.config;
        let step = RunStep {
            args,
            mounts: prepared.binds.clone(),
            tmpfs: prepared.tmpfs.clone(),
            env: self.out.env.run_env(),
            cwd: cfg.working_dir.clone().unwrap_or_else(|| "/".into()),
            user: cfg.user.clone(),
            network: match run_network_flag(inst) {
                Some("none") => NetworkMode::None,
                Some("host") => NetworkMode::Host,
                _ => self.opts.network,
            },
            networks: self.opts.networks.to_vec(),
            layers: &dirs,
            quiet: self.opts.quiet,
        };
        let out = run_step::run(self.store, step).map_err(|e| match e {
            RunStepError::Failed { code, output } => BuildError::RunFailed {
                at: format!("{}:{}", self.plan.file, inst.line),
                instruction: truncate(text, 200),
                code,
                output,
            },
            other => self.err(inst, other.to_string()),
        })?;
        let upper = out.upper().to_path_buf();
        prepared.clean_upper(&upper);
        drop(merged);
        self.commit_layer(inst, &upper, true, text)
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

enum SourceRoot {
    Context,
    Layers(Vec<PathBuf>),
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
                let lower: Vec<String> = bottom_first
                    .iter()
                    .rev()
                    .map(|p| p.to_string_lossy().into_owned())
                    .collect();
                let data = format!("lowerdir={}", lower.join(":"));
                nix::mount::mount(
                    Some("overlay"),
                    &m.dir,
                    Some("overlay"),
                    nix::mount::MsFlags::MS_RDONLY,
                    Some(data.as_str()),
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
