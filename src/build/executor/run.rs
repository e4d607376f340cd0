//! RUN: its mounts (`from=` roots merged read-only) and the step run in a
//! container over the stage's layers.

use super::base::load_image;
use super::{run_network_flag, truncate, BuildError, MergedMount, StageExec, StageOut};
use crate::build::dockerfile::{CommandForm, Instruction};
use crate::build::plan::CopySource;
use crate::build::rootfs_view::RootfsView;
use crate::build::run_mount::{MountKind, RunMount};
use crate::build::run_mounts::Sources;
use crate::build::run_step::{RunStep, RunStepError};
use crate::build::{heredoc, run_mount, run_mounts, run_step};
use crate::runtime::NetworkMode;
use std::collections::BTreeMap;

impl StageExec<'_> {
    /// The root directory a `from=` of a RUN mount reads: a stage's or an
    /// image's layers, merged read-only.
    pub(super) fn mount_from(
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

    pub(super) fn run(
        &mut self,
        inst: &Instruction,
        f: &CommandForm,
        text: &str,
        outs: &BTreeMap<usize, StageOut>,
    ) -> Result<(), BuildError> {
        let dirs = self.layer_dirs();
        let workdir = self.workdir();
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
}
