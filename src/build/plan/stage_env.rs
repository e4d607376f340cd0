//! The environment of one stage while it executes: ARGs in scope with their
//! values, ENV so far, and what words expand with.

use super::expanded::{expand_instruction, ExpandedInstruction};
use super::{resolve_copy_from, BuildPlan, CopySource, DEFAULT_PATH, PROXY_ARGS};
use crate::build::dockerfile::{DockerfileError, Instruction};
use crate::build::expand;
use crate::build::expand::Vars;

/// An ARG after resolution: build-arg, else expanded default, else the
/// global value; `None` when it has no value at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgValue {
    pub name: String,
    pub value: Option<String>,
}

/// The environment of one stage while it executes: what words expand with,
/// what RUN sees, and the image config's Env.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StageEnv {
    file: String,
    pub(super) escape: char,
    pub(super) stage: usize,
    pub(super) stage_names: Vec<Option<String>>,
    pub(super) global_args: Vars,
    pub(super) build_args: Vars,
    /// Image Env, then ARG and ENV values as they run: expansion and RUN.
    pub(super) env: Vars,
    /// The image config's Env: base Env plus ENV instructions.
    config_env: Vars,
    /// ARGs declared so far (inherited from a parent stage too).
    args: Vec<ArgValue>,
}

impl StageEnv {
    /// For a stage whose base is an image (or scratch), given the base
    /// config's `Env` (`K=V` strings). PATH is added when the image has none,
    /// as docker does.
    pub fn new<S: AsRef<str>>(plan: &BuildPlan, stage: usize, image_env: &[S]) -> StageEnv {
        let mut config_env = Vars::from_env_list(image_env);
        if !config_env.contains("PATH") {
            config_env.set("PATH", DEFAULT_PATH);
        }
        StageEnv {
            file: plan.file.clone(),
            escape: plan.escape,
            stage,
            stage_names: plan.stage_names.clone(),
            global_args: plan.global_args.clone(),
            build_args: plan.build_args.vars().clone(),
            env: config_env.clone(),
            config_env,
            args: Vec::new(),
        }
    }

    /// For a stage built `FROM` an earlier stage: it starts with the parent's
    /// final environment, ARG values included (as in buildkit).
    pub fn from_parent(plan: &BuildPlan, stage: usize, parent: &StageEnv) -> StageEnv {
        StageEnv {
            stage,
            ..parent.clone()
        }
        .with_plan(plan)
    }

    fn with_plan(mut self, plan: &BuildPlan) -> StageEnv {
        self.file = plan.file.clone();
        self.escape = plan.escape;
        self.stage_names = plan.stage_names.clone();
        self.global_args = plan.global_args.clone();
        self.build_args = plan.build_args.vars().clone();
        self
    }

    /// Expands an instruction of this stage: see [`expand_instruction`].
    pub fn expand(&self, inst: &Instruction) -> Result<ExpandedInstruction, DockerfileError> {
        expand_instruction(inst, self)
    }

    /// Records what an executed instruction changes in the environment
    /// (ARG and ENV); other instructions change nothing here.
    pub fn apply(&mut self, inst: &ExpandedInstruction) {
        match inst {
            ExpandedInstruction::Arg(values) => {
                for a in values {
                    if let Some(v) = &a.value {
                        self.env.set(a.name.clone(), v.clone());
                    }
                    match self.args.iter_mut().find(|x| x.name == a.name) {
                        Some(x) => x.value = a.value.clone(),
                        None => self.args.push(a.clone()),
                    }
                }
            }
            ExpandedInstruction::Env(pairs) => {
                for (k, v) in pairs {
                    self.env.set(k.clone(), v.clone());
                    self.config_env.set(k.clone(), v.clone());
                }
            }
            _ => {}
        }
    }

    /// The variables words expand with now.
    pub fn vars(&self) -> &Vars {
        &self.env
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.env.get(name)
    }

    /// The environment of a RUN step (`K=V`): image Env, ARGs and ENVs so
    /// far, and any proxy `--build-arg`s (docker passes those to RUN only).
    pub fn run_env(&self) -> Vec<String> {
        let mut env = self.env.clone();
        for (k, v) in self.build_args.iter() {
            if PROXY_ARGS.contains(&k) && !env.contains(k) {
                env.set(k, v);
            }
        }
        env.to_env_list()
    }

    /// The image config's Env (`K=V`): the base's plus ENV instructions,
    /// without ARGs.
    pub fn config_env(&self) -> Vec<String> {
        self.config_env.to_env_list()
    }

    /// ARGs in scope as `K=V` with their current values: what docker puts in
    /// front of a RUN's history and cache key (`|2 A=1 B=2 npm ci`).
    pub fn arg_values(&self) -> Vec<String> {
        self.args
            .iter()
            .map(|a| {
                let v = self
                    .env
                    .get(&a.name)
                    .map(str::to_string)
                    .or_else(|| a.value.clone())
                    .unwrap_or_default();
                format!("{}={v}", a.name)
            })
            .collect()
    }

    pub(super) fn err(&self, inst: &Instruction, message: impl Into<String>) -> DockerfileError {
        DockerfileError::at(&self.file, inst.line, message)
    }

    /// Resolves a `from=` of this stage (a stage index, a stage name, else
    /// an image), as `COPY --from` does.
    pub fn resolve_from(&self, from: &str) -> Result<CopySource, String> {
        resolve_copy_from(from, self.stage, &self.stage_names)
    }

    /// Expands one word with the stage's environment now (mount options,
    /// heredoc names); errors name the instruction's file and line.
    pub fn expand_word(&self, inst: &Instruction, w: &str) -> Result<String, DockerfileError> {
        self.word(inst, w)
    }

    /// Expands a COPY heredoc's body: variables only, quotes and escapes
    /// kept as written (buildkit's raw-quotes lexer).
    pub fn expand_heredoc(
        &self,
        inst: &Instruction,
        body: &str,
    ) -> Result<String, DockerfileError> {
        expand::expand_raw(body, &self.env, self.escape).map_err(|e| self.err(inst, e.to_string()))
    }

    pub(super) fn word(&self, inst: &Instruction, w: &str) -> Result<String, DockerfileError> {
        expand::expand_word(w, &self.env, self.escape).map_err(|e| self.err(inst, e.to_string()))
    }
}
