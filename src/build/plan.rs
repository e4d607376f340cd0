//! Planning a build: which stages the target needs and in what order, each
//! stage's base, the global ARGs, `--build-arg` values and warnings. The plan
//! is data only; the executor walks each planned stage with a [`StageEnv`],
//! which expands every instruction against the environment of the step that
//! runs it (image ENV, ARGs and ENVs so far) the way docker does.
//!
//! | concern | file |
//! | --- | --- |
//! | stages, bases, build args, the plan | `plan.rs` |
//! | a stage's environment while it runs | `plan/stage_env.rs` |
//! | an instruction expanded at the moment it runs, and its log text | `plan/expanded.rs` |

use crate::build::dockerfile::{Dockerfile, DockerfileError, Instruction, InstructionKind};
use crate::build::expand::{self, Vars};
use crate::build::run_mount::MountKind;
use crate::image::reference::ImageRef;

mod expanded;
mod stage_env;

pub use expanded::{expand_instruction, ExpandedCopy, ExpandedInstruction, ExposedPort};
pub use stage_env::{ArgValue, StageEnv};

/// The only platform skiff builds for.
pub const PLATFORM: &str = "linux/amd64";

const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Build args docker accepts without an ARG; they reach RUN only.
const PROXY_ARGS: [&str; 10] = [
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// The platform ARGs docker defines in the global scope (usable in FROM;
/// a stage sees them after `ARG NAME`).
const PLATFORM_ARGS: [(&str, &str); 10] = [
    ("BUILDPLATFORM", PLATFORM),
    ("BUILDOS", "linux"),
    ("BUILDOSVERSION", ""),
    ("BUILDARCH", "amd64"),
    ("BUILDVARIANT", ""),
    ("TARGETPLATFORM", PLATFORM),
    ("TARGETOS", "linux"),
    ("TARGETOSVERSION", ""),
    ("TARGETARCH", "amd64"),
    ("TARGETVARIANT", ""),
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlanError {
    #[error(transparent)]
    Dockerfile(#[from] DockerfileError),
    #[error("invalid --build-arg {0:?}: expected KEY=VALUE, or KEY to take the value from the environment")]
    BadBuildArg(String),
    #[error("target stage {target:?} could not be found: {}", describe_stages(.stages))]
    UnknownTarget { target: String, stages: Vec<String> },
}

fn describe_stages(stages: &[String]) -> String {
    if stages.is_empty() {
        "the Dockerfile has no named stages (name one with FROM image AS name)".into()
    } else {
        format!("the stages are {}", stages.join(", "))
    }
}

/// `--build-arg` values, in order (a later one replaces an earlier one).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildArgs {
    vars: Vars,
}

impl BuildArgs {
    /// Parses `K=V` and `K` (value from `lookup`, docker's habit of taking it
    /// from the environment; an unset `K` is dropped, as docker does).
    pub fn parse<S: AsRef<str>>(
        specs: &[S],
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<BuildArgs, PlanError> {
        let mut vars = Vars::new();
        for spec in specs {
            let spec = spec.as_ref();
            let (key, value) = match spec.split_once('=') {
                Some((k, v)) => (k, Some(v.to_string())),
                None => (spec, None),
            };
            if key.is_empty() || key.chars().any(char::is_whitespace) {
                return Err(PlanError::BadBuildArg(spec.to_string()));
            }
            match value.or_else(|| lookup(key)) {
                Some(v) => vars.set(key, v),
                None => vars.remove(key),
            }
        }
        Ok(BuildArgs { vars })
    }

    /// [`BuildArgs::parse`] with the process environment.
    pub fn from_cli<S: AsRef<str>>(specs: &[S]) -> Result<BuildArgs, PlanError> {
        BuildArgs::parse(specs, |k| std::env::var(k).ok())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name)
    }

    pub fn vars(&self) -> &Vars {
        &self.vars
    }
}

/// What a stage starts from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageBase {
    Scratch,
    /// An earlier stage, by index (`FROM build` where `build` is a stage).
    Stage(usize),
    /// An image reference, expanded (`node:20-alpine`).
    Image(String),
}

/// Where `COPY --from=` copies from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CopySource {
    /// An earlier stage, by index.
    Stage(usize),
    /// An image reference (`COPY --from=nginx:1.27 ...`).
    Image(String),
}

/// A stage the target needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedStage {
    /// Index in the Dockerfile (what `COPY --from=N` and [`StageBase::Stage`] use).
    pub index: usize,
    pub name: Option<String>,
    pub base: StageBase,
    pub from_line: usize,
    /// `--platform` after expansion (always linux/amd64 when present).
    pub platform: Option<String>,
    pub instructions: Vec<Instruction>,
    /// The stages and images this stage's COPY --from instructions read,
    /// each once, in order of appearance.
    pub copy_sources: Vec<CopySource>,
}

/// The stages to build, in order; the target comes last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildPlan {
    pub file: String,
    pub escape: char,
    /// Dockerfile index of the target stage.
    pub target: usize,
    pub stages: Vec<PlannedStage>,
    /// Names of all stages in the Dockerfile, by index.
    pub stage_names: Vec<Option<String>>,
    /// The global scope: docker's predefined platform ARGs and the ARGs
    /// before the first FROM, resolved (what FROM lines were expanded with).
    pub global_args: Vars,
    pub build_args: BuildArgs,
    /// Not errors, as in docker: `--build-arg`s the Dockerfile never declares.
    pub warnings: Vec<String>,
}

impl BuildPlan {
    pub fn stage(&self, index: usize) -> Option<&PlannedStage> {
        self.stages.iter().find(|s| s.index == index)
    }

    /// A stage's name as docker shows it: its name, or `stage-N`.
    pub fn stage_label(&self, index: usize) -> String {
        stage_label(&self.stage_names, index)
    }
}

fn stage_label(names: &[Option<String>], index: usize) -> String {
    names
        .get(index)
        .cloned()
        .flatten()
        .unwrap_or_else(|| format!("stage-{index}"))
}

/// Plans a build of `target` (default: the last stage).
pub fn plan_build(
    df: &Dockerfile,
    build_args: &BuildArgs,
    target: Option<&str>,
) -> Result<BuildPlan, PlanError> {
    let file = df.file.as_str();
    let names: Vec<Option<String>> = df.stages.iter().map(|s| s.name.clone()).collect();
    let target_index = match target {
        None => df.stages.len().saturating_sub(1),
        Some(t) => df
            .stages
            .iter()
            .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
            .ok_or_else(|| PlanError::UnknownTarget {
                target: t.to_string(),
                stages: names.iter().flatten().cloned().collect(),
            })?,
    };

    // The global scope.
    let mut global = Vars::new();
    for (k, v) in PLATFORM_ARGS {
        global.set(k, build_args.get(k).unwrap_or(v));
    }
    let target_name = names
        .get(target_index)
        .cloned()
        .flatten()
        .unwrap_or_default();
    global.set(
        "TARGETSTAGE",
        build_args
            .get("TARGETSTAGE")
            .map(str::to_string)
            .unwrap_or(target_name),
    );
    for arg in &df.global_args {
        if let Some(v) = build_args.get(&arg.name) {
            global.set(arg.name.clone(), v);
        } else if let Some(d) = &arg.default {
            let v = expand::expand_word(d, &global, df.escape)
                .map_err(|e| DockerfileError::at(file, arg.line, e.to_string()))?;
            global.set(arg.name.clone(), v);
        }
    }

    // Every stage's base and COPY sources, as docker resolves them for all stages.
    let mut warnings: Vec<String> = Vec::new();
    let mut bases = Vec::with_capacity(df.stages.len());
    let mut platforms = Vec::with_capacity(df.stages.len());
    let mut sources = Vec::with_capacity(df.stages.len());
    for stage in &df.stages {
        let at = |msg: String| DockerfileError::at(file, stage.from.line, msg);
        let image = expand::expand_word(&stage.from.image, &global, df.escape)
            .map_err(|e| at(e.to_string()))?;
        let base = if image.is_empty() {
            return Err(at(format!(
                "base name ({}) should not be blank",
                stage.from.image
            ))
            .into());
        } else if image == "scratch" {
            StageBase::Scratch
        } else if let Some(j) = names[..stage.index]
            .iter()
            .position(|n| n.as_deref() == Some(image.as_str()))
        {
            StageBase::Stage(j)
        } else {
            image
                .parse::<ImageRef>()
                .map_err(|e| at(format!("invalid base image: {e}")))?;
            StageBase::Image(image)
        };
        bases.push(base);
        let platform = match &stage.from.platform {
            None => None,
            Some(p) => {
                let v = expand::expand_word(p, &global, df.escape)
                    .map_err(|e| at(format!("failed to process arguments for platform: {e}")))?;
                if v.is_empty() {
                    return Err(at(format!("empty platform value from expression {p}")).into());
                }
                Some(v)
            }
        };
        platforms.push(platform);
        let mut found: Vec<CopySource> = Vec::new();
        for inst in &stage.instructions {
            let mut froms: Vec<&str> = Vec::new();
            if let InstructionKind::Copy(c) = &inst.kind {
                froms.extend(c.from.as_deref());
            }
            // RUN --mount=...,from=X reads stage X too.
            let mount_froms: Vec<String> = inst
                .mounts
                .iter()
                .filter_map(|m| crate::build::run_mount::parse(m).ok())
                .filter_map(|m| match m.kind {
                    MountKind::Bind { from, .. } | MountKind::Cache { from, .. } => from,
                    _ => None,
                })
                .filter(|f| expand::is_literal(f, df.escape))
                .collect();
            froms.extend(mount_froms.iter().map(String::as_str));
            for from in froms {
                let src = resolve_copy_from(from, stage.index, &names)
                    .map_err(|m| DockerfileError::at(file, inst.line, m))?;
                if let CopySource::Image(r) = &src {
                    if let Some(near) = near_stage_name(r, &names) {
                        warnings.push(format!(
                            "{file}:{}: --from={r} names no stage, so it is read as the image {r}; did you mean the stage {near:?}?",
                            inst.line
                        ));
                    }
                }
                if !found.contains(&src) {
                    found.push(src);
                }
            }
        }
        sources.push(found);
    }

    // What the target needs.
    let mut needed = vec![false; df.stages.len()];
    let mut todo = vec![target_index];
    while let Some(i) = todo.pop() {
        if std::mem::replace(&mut needed[i], true) {
            continue;
        }
        if let StageBase::Stage(j) = bases[i] {
            todo.push(j);
        }
        for s in &sources[i] {
            if let CopySource::Stage(j) = s {
                todo.push(*j);
            }
        }
    }

    let mut stages = Vec::new();
    for (i, stage) in df.stages.iter().enumerate() {
        if !needed[i] {
            continue;
        }
        if let Some(p) = &platforms[i] {
            check_platform(p).map_err(|m| DockerfileError::at(file, stage.from.line, m))?;
        }
        stages.push(PlannedStage {
            index: i,
            name: stage.name.clone(),
            base: bases[i].clone(),
            from_line: stage.from.line,
            platform: platforms[i].clone(),
            instructions: stage.instructions.clone(),
            copy_sources: sources[i].clone(),
        });
    }

    // --build-arg values nothing declares.
    let mut declared: Vec<&str> = df.global_args.iter().map(|a| a.name.as_str()).collect();
    for stage in &df.stages {
        for inst in &stage.instructions {
            if let InstructionKind::Arg(decls) = &inst.kind {
                declared.extend(decls.iter().map(|d| d.name.as_str()));
            }
        }
    }
    warnings.extend(
        build_args
            .vars()
            .iter()
            .filter(|(k, _)| !declared.contains(k) && !is_predefined_arg(k))
            .map(|(k, _)| format!("--build-arg {k} was not consumed: {file} has no ARG {k}")),
    );

    Ok(BuildPlan {
        file: df.file.clone(),
        escape: df.escape,
        target: target_index,
        stages,
        stage_names: names,
        global_args: global,
        build_args: build_args.clone(),
        warnings,
    })
}

fn is_predefined_arg(name: &str) -> bool {
    PROXY_ARGS.contains(&name)
        || PLATFORM_ARGS.iter().any(|(k, _)| *k == name)
        || name == "TARGETSTAGE"
        || name == "SOURCE_DATE_EPOCH"
        || name.starts_with("BUILDKIT_")
}

/// linux/amd64 (also written linux/x86_64, or with the v1 variant) only.
fn check_platform(p: &str) -> Result<(), String> {
    let lower = p.to_ascii_lowercase();
    let parts: Vec<&str> = lower.split('/').collect();
    let ok = match parts.as_slice() {
        ["linux", arch] => matches!(*arch, "amd64" | "x86_64" | "x86-64"),
        ["linux", arch, "v1"] => matches!(*arch, "amd64" | "x86_64" | "x86-64"),
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "platform {p:?} is not supported: skiff builds {PLATFORM} images only"
        ))
    }
}

/// A stage name `word` is probably a typo of (edit distance 1 or 2, for a
/// bare name that is no registry path).
fn near_stage_name(word: &str, names: &[Option<String>]) -> Option<String> {
    if word.contains(['/', ':', '@']) {
        return None;
    }
    let w = word.to_ascii_lowercase();
    names
        .iter()
        .flatten()
        .map(|n| (crate::text::edit_distance(&w, n), n))
        .filter(|(d, n)| *d > 0 && *d <= 2 && *d < n.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, n)| n.clone())
}

/// Resolves `COPY --from=X` in stage `current` the way buildkit does: a
/// stage index, a stage name (case-insensitive), else an image reference.
fn resolve_copy_from(
    from: &str,
    current: usize,
    names: &[Option<String>],
) -> Result<CopySource, String> {
    let stage = if let Ok(n) = from.parse::<i64>() {
        match usize::try_from(n) {
            Ok(i) if i < names.len() => Some(i),
            _ => return Err(format!("COPY --from={from}: invalid stage index {n} (the Dockerfile has {} stages, from 0)", names.len())),
        }
    } else {
        let lower = from.to_ascii_lowercase();
        names
            .iter()
            .position(|n| n.as_deref() == Some(lower.as_str()))
    };
    match stage {
        Some(i) if i == current => Err(format!(
            "circular dependency detected on stage: {}",
            stage_label(names, i)
        )),
        Some(i) if i > current => Err(format!(
            "cannot copy from stage {:?}, it needs to be defined before current stage {:?}",
            stage_label(names, i),
            stage_label(names, current)
        )),
        Some(i) => Ok(CopySource::Stage(i)),
        None => match from.parse::<ImageRef>() {
            Ok(_) => Ok(CopySource::Image(from.to_string())),
            Err(e) => Err(format!(
                "COPY --from={from} names no stage and is not an image reference: {e}"
            )),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::expanded::check_signal;
    use super::*;
    use crate::build::dockerfile::{parse, CommandForm};

    fn plan(text: &str, args: &[&str], target: Option<&str>) -> Result<BuildPlan, PlanError> {
        let df = parse(text, "Dockerfile")?;
        let ba = BuildArgs::parse(args, |k| {
            if k == "FROM_ENV" {
                Some("env-value".into())
            } else {
                None
            }
        })?;
        plan_build(&df, &ba, target)
    }

    fn ok(text: &str, args: &[&str], target: Option<&str>) -> BuildPlan {
        match plan(text, args, target) {
            Ok(p) => p,
            Err(e) => panic!("{e}"),
        }
    }

    /// Walks a planned stage the way the executor will, with the given base env.
    fn walk(
        p: &BuildPlan,
        stage: usize,
        image_env: &[&str],
    ) -> (StageEnv, Vec<ExpandedInstruction>) {
        let s = p.stage(stage).unwrap();
        let mut env = StageEnv::new(p, stage, image_env);
        let mut out = Vec::new();
        for inst in &s.instructions {
            let x = env.expand(inst).unwrap_or_else(|e| panic!("{e}"));
            env.apply(&x);
            out.push(x);
        }
        (env, out)
    }

    const NODE: &str = "ARG NODE_VERSION=20
FROM node:${NODE_VERSION}-alpine AS deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci

FROM deps AS build
COPY . .
RUN npm run build

FROM node:${NODE_VERSION}-alpine AS test
COPY --from=deps /app/node_modules ./node_modules
RUN npm test

FROM node:${NODE_VERSION}-alpine AS runtime
ENV NODE_ENV=production PORT=3000
WORKDIR /app
COPY --from=build /app/dist ./dist
COPY --from=deps --chown=node:node /app/node_modules ./node_modules
USER node
EXPOSE $PORT
CMD [\"node\",\"dist/server.js\"]
";

    #[test]
    fn node_target_needs_only_its_stages() {
        let p = ok(NODE, &[], None);
        assert_eq!(p.target, 3);
        assert_eq!(
            p.stages.iter().map(|s| s.index).collect::<Vec<_>>(),
            [0, 1, 3],
            "the test stage is not needed"
        );
        assert_eq!(p.stages[0].base, StageBase::Image("node:20-alpine".into()));
        assert_eq!(p.stages[1].base, StageBase::Stage(0));
        assert_eq!(p.stages[2].base, StageBase::Image("node:20-alpine".into()));
        assert_eq!(
            p.stages[2].copy_sources,
            [CopySource::Stage(1), CopySource::Stage(0)]
        );
        assert_eq!(p.stage_label(2), "test");
        assert!(p.warnings.is_empty());

        let p = ok(NODE, &["NODE_VERSION=22"], Some("test"));
        assert_eq!(p.stages.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 2]);
        assert_eq!(p.stages[1].base, StageBase::Image("node:22-alpine".into()));
        assert_eq!(p.global_args.get("NODE_VERSION"), Some("22"));
        assert_eq!(p.global_args.get("TARGETSTAGE"), Some("test"));

        let p = ok(NODE, &[], Some("DEPS"));
        assert_eq!(p.stages.iter().map(|s| s.index).collect::<Vec<_>>(), [0]);
    }

    #[test]
    fn node_runtime_stage_expands_at_execution() {
        let p = ok(NODE, &[], None);
        let (env, out) = walk(
            &p,
            3,
            &[
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "NODE_VERSION=20.11.1",
                "YARN_VERSION=1.22.19",
            ],
        );
        assert_eq!(
            out[0],
            ExpandedInstruction::Env(vec![
                ("NODE_ENV".into(), "production".into()),
                ("PORT".into(), "3000".into())
            ])
        );
        assert_eq!(out[1], ExpandedInstruction::Workdir("/app".into()));
        assert_eq!(
            out[3],
            ExpandedInstruction::Copy(ExpandedCopy {
                from: Some(CopySource::Stage(0)),
                chown: Some("node:node".into()),
                chmod: None,
                link: false,
                sources: vec!["/app/node_modules".into()],
                dest: "./node_modules".into(),
            })
        );
        assert_eq!(
            out[5],
            ExpandedInstruction::Expose(vec![ExposedPort {
                port: 3000,
                protocol: "tcp".into()
            }])
        );
        assert_eq!(
            out[6],
            ExpandedInstruction::Cmd(CommandForm::Exec(vec![
                "node".into(),
                "dist/server.js".into()
            ]))
        );
        assert_eq!(
            env.config_env(),
            [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "NODE_VERSION=20.11.1",
                "YARN_VERSION=1.22.19",
                "NODE_ENV=production",
                "PORT=3000"
            ]
        );
        assert_eq!(
            out[3].to_string(),
            "COPY --from=0 --chown=node:node [\"/app/node_modules\",\"./node_modules\"]"
        );
        assert_eq!(
            out[0].to_string(),
            "ENV \"NODE_ENV\"=\"production\" \"PORT\"=\"3000\""
        );
    }

    #[test]
    fn image_env_is_visible_to_expansion() {
        let p = ok("FROM node:20\nWORKDIR /opt/node-$NODE_VERSION\nENV PATH=/app/bin:$PATH\nRUN echo $PATH\n", &[], None);
        let (env, out) = walk(&p, 0, &["PATH=/usr/bin:/bin", "NODE_VERSION=20.11.1"]);
        assert_eq!(
            out[0],
            ExpandedInstruction::Workdir("/opt/node-20.11.1".into())
        );
        assert_eq!(env.get("PATH"), Some("/app/bin:/usr/bin:/bin"));
        assert_eq!(
            out[2],
            ExpandedInstruction::Run(CommandForm::Shell("echo $PATH".into())),
            "RUN is left to the shell"
        );
        let env = StageEnv::new(&p, 0, &[] as &[&str]);
        assert_eq!(
            env.config_env(),
            [format!("PATH={DEFAULT_PATH}")],
            "PATH is always set"
        );
    }

    #[test]
    fn arg_scoping_the_docker_way() {
        let text = "ARG VERSION=1.0\nARG REGISTRY\nFROM ${REGISTRY:-docker.io/library}/node:20\nRUN echo $VERSION\nARG VERSION\nARG LOCAL=x-$VERSION OTHER=${LOCAL}y\nENV FROM_ARG=$VERSION\nARG TARGETARCH\nARG UNSET\nLABEL v=$VERSION l=$LOCAL o=$OTHER a=$TARGETARCH u=[$UNSET]\n";
        let p = ok(text, &[], None);
        assert_eq!(
            p.stages[0].base,
            StageBase::Image("docker.io/library/node:20".into())
        );
        let (env, out) = walk(&p, 0, &["PATH=/bin"]);
        // before `ARG VERSION` the stage does not see the global value
        assert_eq!(env.get("VERSION"), Some("1.0"));
        assert_eq!(
            out[1],
            ExpandedInstruction::Arg(vec![ArgValue {
                name: "VERSION".into(),
                value: Some("1.0".into())
            }])
        );
        assert_eq!(
            out[2],
            ExpandedInstruction::Arg(vec![
                ArgValue {
                    name: "LOCAL".into(),
                    value: Some("x-1.0".into())
                },
                ArgValue {
                    name: "OTHER".into(),
                    value: Some("x-1.0y".into())
                }
            ])
        );
        assert_eq!(
            out[3],
            ExpandedInstruction::Env(vec![("FROM_ARG".into(), "1.0".into())])
        );
        assert_eq!(
            out[6],
            ExpandedInstruction::Label(vec![
                ("v".into(), "1.0".into()),
                ("l".into(), "x-1.0".into()),
                ("o".into(), "x-1.0y".into()),
                ("a".into(), "amd64".into()),
                ("u".into(), "[]".into())
            ])
        );
        assert_eq!(
            env.config_env(),
            ["PATH=/bin", "FROM_ARG=1.0"],
            "ARGs stay out of the image config"
        );
        assert!(
            env.run_env().contains(&"LOCAL=x-1.0".to_string()),
            "ARGs reach RUN"
        );
        assert_eq!(
            env.arg_values(),
            [
                "VERSION=1.0",
                "LOCAL=x-1.0",
                "OTHER=x-1.0y",
                "TARGETARCH=amd64",
                "UNSET="
            ]
        );

        // the global value is not visible without the ARG line
        let p = ok(
            "ARG VERSION=1.0\nFROM scratch\nLABEL v=[$VERSION]\n",
            &[],
            None,
        );
        let (_, out) = walk(&p, 0, &[] as &[&str]);
        assert_eq!(
            out[0],
            ExpandedInstruction::Label(vec![("v".into(), "[]".into())])
        );

        // build args override defaults, globally and in the stage
        let p = ok(
            text,
            &["VERSION=2.0", "REGISTRY=127.0.0.1:5000", "LOCAL=cli"],
            None,
        );
        assert_eq!(
            p.stages[0].base,
            StageBase::Image("127.0.0.1:5000/node:20".into())
        );
        let (env, _) = walk(&p, 0, &["PATH=/bin"]);
        assert_eq!(
            (env.get("VERSION"), env.get("LOCAL"), env.get("OTHER")),
            (Some("2.0"), Some("cli"), Some("cliy"))
        );
    }

    #[test]
    fn env_wins_over_earlier_arg_and_same_line_env_uses_old_values() {
        let p = ok(
            "FROM scratch\nARG A=arg\nENV A=env B=$A\nENV C=$A\n",
            &[],
            None,
        );
        let (env, out) = walk(&p, 0, &[] as &[&str]);
        assert_eq!(
            out[1],
            ExpandedInstruction::Env(vec![("A".into(), "env".into()), ("B".into(), "arg".into())])
        );
        assert_eq!(
            out[2],
            ExpandedInstruction::Env(vec![("C".into(), "env".into())])
        );
        assert_eq!(env.get("A"), Some("env"));
    }

    #[test]
    fn child_stage_inherits_parent_environment() {
        let p = ok("FROM node:20 AS base\nARG APP=api\nENV HOME_DIR=/srv/$APP\nFROM base\nWORKDIR $HOME_DIR/$APP\n", &[], None);
        assert_eq!(
            p.stages
                .iter()
                .map(|s| (s.index, s.base.clone()))
                .collect::<Vec<_>>(),
            [
                (0, StageBase::Image("node:20".into())),
                (1, StageBase::Stage(0))
            ]
        );
        let (parent, _) = walk(&p, 0, &["PATH=/bin"]);
        let child = StageEnv::from_parent(&p, 1, &parent);
        let x = child.expand(&p.stages[1].instructions[0]).unwrap();
        assert_eq!(x, ExpandedInstruction::Workdir("/srv/api/api".into()));
        assert_eq!(child.config_env(), ["PATH=/bin", "HOME_DIR=/srv/api"]);
    }

    #[test]
    fn quoted_words_and_escapes() {
        let p = ok(
            "FROM scratch\nENV GREETING=\"hello world\" SINGLE='$NOPE' ESC=\\$HOME\nENV LEGACY a b \"c d\"\nLABEL \"com.example.desc\"=\"Node API\"\nCOPY [\"my file.txt\", \"/dest dir/\"]\nUSER ${UID:-1000}:${GID:-1000}\nVOLUME [\"/data\", \"/var/log/$APP\"]\nSTOPSIGNAL SIGQUIT\nMAINTAINER Jane \"JD\" Doe\n",
            &[],
            None,
        );
        let (_, out) = walk(&p, 0, &["HOME=/root", "APP=api"]);
        assert_eq!(
            out[0],
            ExpandedInstruction::Env(vec![
                ("GREETING".into(), "hello world".into()),
                ("SINGLE".into(), "$NOPE".into()),
                ("ESC".into(), "$HOME".into())
            ])
        );
        assert_eq!(
            out[1],
            ExpandedInstruction::Env(vec![("LEGACY".into(), "a b c d".into())])
        );
        assert_eq!(
            out[2],
            ExpandedInstruction::Label(vec![("com.example.desc".into(), "Node API".into())])
        );
        let ExpandedInstruction::Copy(c) = &out[3] else {
            panic!()
        };
        assert_eq!(
            (c.sources.as_slice(), c.dest.as_str()),
            (&["my file.txt".to_string()][..], "/dest dir/")
        );
        assert_eq!(out[4], ExpandedInstruction::User("1000:1000".into()));
        assert_eq!(
            out[5],
            ExpandedInstruction::Volume(vec!["/data".into(), "/var/log/api".into()])
        );
        assert_eq!(out[6], ExpandedInstruction::StopSignal("SIGQUIT".into()));
        assert_eq!(
            out[7],
            ExpandedInstruction::Label(vec![("maintainer".into(), "Jane \"JD\" Doe".into())])
        );
    }

    #[test]
    fn expose_chmod_and_signals() {
        let p = ok("FROM scratch\nARG PORTS=\"80 443\"\nEXPOSE $PORTS 53/UDP 8000-8002\nCOPY --chmod=755 a /b\n", &[], None);
        let (_, out) = walk(&p, 0, &[] as &[&str]);
        let ExpandedInstruction::Expose(ports) = &out[1] else {
            panic!()
        };
        assert_eq!(
            ports.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["80/tcp", "443/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        let ExpandedInstruction::Copy(c) = &out[2] else {
            panic!()
        };
        assert_eq!(c.chmod, Some(0o755));
        for s in ["SIGTERM", "term", "9", "SIGRTMIN+3", "RTMAX-1"] {
            assert!(check_signal(s).is_ok(), "{s}");
        }
        for s in ["SIGFOO", "0", "65", "RTMIN+20"] {
            assert!(check_signal(s).is_err(), "{s}");
        }
    }

    #[test]
    fn execution_errors_name_file_and_line() {
        let cases: &[(&str, &str)] = &[
            ("FROM scratch\n\nEXPOSE http\n", "Dockerfile:3: invalid port \"http\" in EXPOSE: a port is a number from 1 to 65535"),
            ("FROM scratch\nEXPOSE 80/xtp\n", "Dockerfile:2: invalid port \"80/xtp\" in EXPOSE: the protocol must be tcp, udp or sctp"),
            ("FROM scratch\nCOPY --chmod=rwx a b\n", "Dockerfile:2: COPY --chmod=rwx: expected an octal mode such as 0755"),
            ("FROM scratch\nSTOPSIGNAL SIGNOPE\n", "Dockerfile:2: invalid signal: SIGNOPE"),
            ("FROM scratch\nWORKDIR \"/app\n", "Dockerfile:2: failed to process \"\\\"/app\": unexpected end of statement while looking for matching double-quote"),
            ("FROM scratch\nENV A=\"${B:?B must be set}\"\n", "Dockerfile:2: failed to process \"\\\"${B:?B must be set}\\\"\": B: B must be set"),
            ("FROM scratch\nVOLUME $NOTHING\n", "Dockerfile:2: VOLUME specified can not be an empty string"),
            ("FROM scratch\nUSER $NOBODY\n", "Dockerfile:2: USER is empty after expansion"),
        ];
        for (text, want) in cases {
            let p = ok(text, &[], None);
            let s = &p.stages[0];
            let env = StageEnv::new(&p, 0, &[] as &[&str]);
            let got = s
                .instructions
                .iter()
                .find_map(|i| expand_instruction(i, &env).err())
                .map(|e| e.to_string());
            assert_eq!(got.as_deref(), Some(*want), "for {text:?}");
        }
    }

    #[test]
    fn planning_errors() {
        let cases: &[(&str, &[&str], Option<&str>, &str)] = &[
            (NODE, &[], Some("prod"), "target stage \"prod\" could not be found: the stages are deps, build, test, runtime"),
            ("FROM scratch\nFROM scratch\n", &[], Some("x"), "target stage \"x\" could not be found: the Dockerfile has no named stages (name one with FROM image AS name)"),
            ("FROM scratch\n", &["=x"], None, "invalid --build-arg \"=x\": expected KEY=VALUE, or KEY to take the value from the environment"),
            ("FROM scratch\n", &[""], None, "invalid --build-arg \"\": expected KEY=VALUE, or KEY to take the value from the environment"),
            ("ARG BASE\nFROM $BASE\n", &[], None, "Dockerfile:2: base name ($BASE) should not be blank"),
            ("FROM Node:20\n", &[], None, "Dockerfile:1: invalid base image: invalid image reference \"Node:20\": a name is lowercase letters, digits and separators ('.', '_', '-', '/')"),
            ("ARG V=${X\nFROM scratch\n", &[], None, "Dockerfile:1: failed to process \"${X\": syntax error: missing '}'"),
            ("FROM --platform=linux/arm64 node:20\n", &[], None, "Dockerfile:1: platform \"linux/arm64\" is not supported: skiff builds linux/amd64 images only"),
            ("ARG P=windows/amd64\n\nFROM --platform=$P node:20\n", &[], None, "Dockerfile:3: platform \"windows/amd64\" is not supported: skiff builds linux/amd64 images only"),
            ("FROM --platform=$NOPE node:20\n", &[], None, "Dockerfile:1: empty platform value from expression $NOPE"),
            ("FROM scratch AS a\nCOPY --from=a x y\n", &[], None, "Dockerfile:2: circular dependency detected on stage: a"),
            ("FROM scratch AS a\nCOPY --from=b x y\nFROM scratch AS b\n", &[], None, "Dockerfile:2: cannot copy from stage \"b\", it needs to be defined before current stage \"a\""),
            ("FROM scratch\nCOPY --from=1 x y\nFROM scratch\n", &[], None, "Dockerfile:2: cannot copy from stage \"stage-1\", it needs to be defined before current stage \"stage-0\""),
            ("FROM scratch\nFROM scratch\n\nCOPY --from=5 x y\n", &[], None, "Dockerfile:4: COPY --from=5: invalid stage index 5 (the Dockerfile has 2 stages, from 0)"),
            ("FROM scratch\nCOPY --from=Bad_Image x y\n", &[], None, "Dockerfile:2: COPY --from=Bad_Image names no stage and is not an image reference: invalid image reference \"Bad_Image\": a name is lowercase letters, digits and separators ('.', '_', '-', '/')"),
        ];
        for (text, args, target, want) in cases {
            let got = plan(text, args, *target)
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert_eq!(&got, want, "for {text:?}");
        }
    }

    #[test]
    fn platforms_that_are_accepted() {
        for p in [
            "linux/amd64",
            "$BUILDPLATFORM",
            "${TARGETPLATFORM}",
            "linux/x86_64",
            "linux/amd64/v1",
            "LINUX/AMD64",
        ] {
            let text = format!("FROM --platform={p} node:20 AS x\n");
            let plan = ok(&text, &[], None);
            assert!(plan.stages[0].platform.is_some(), "{p}");
        }
        // an unsupported platform in a stage the target does not need is fine
        let p = ok(
            "FROM --platform=linux/arm64 node:20 AS arm\nFROM node:20 AS app\n",
            &[],
            Some("app"),
        );
        assert_eq!(p.stages.len(), 1);
    }

    #[test]
    fn build_args_and_warnings() {
        let p = ok(
            "ARG A\nFROM scratch\nARG B\n",
            &[
                "A=1",
                "B=2",
                "C=3",
                "FROM_ENV",
                "NOT_IN_ENV",
                "HTTP_PROXY=http://proxy:3128",
                "TARGETARCH=amd64",
                "A=override",
            ],
            None,
        );
        assert_eq!(p.build_args.get("A"), Some("override"));
        assert_eq!(p.build_args.get("FROM_ENV"), Some("env-value"));
        assert_eq!(
            p.build_args.get("NOT_IN_ENV"),
            None,
            "an unset KEY is dropped"
        );
        assert_eq!(
            p.warnings,
            [
                "--build-arg C was not consumed: Dockerfile has no ARG C",
                "--build-arg FROM_ENV was not consumed: Dockerfile has no ARG FROM_ENV"
            ]
        );
        let env = StageEnv::new(&p, 0, &["PATH=/bin"]);
        assert!(
            env.run_env()
                .contains(&"HTTP_PROXY=http://proxy:3128".to_string()),
            "proxy args reach RUN"
        );
        assert!(!env.config_env().iter().any(|e| e.starts_with("HTTP_PROXY")));
        assert!(env.get("HTTP_PROXY").is_none(), "but not expansion");
        let empty = ok("FROM scratch\n", &["K="], None);
        assert_eq!(empty.build_args.get("K"), Some(""));
    }

    #[test]
    fn copy_from_image_and_index() {
        let p = ok("FROM node:20 AS build\nRUN npm ci\nFROM nginx:1.27-alpine\nCOPY --from=0 /app/dist /usr/share/nginx/html\nCOPY --from=busybox:1.36 /bin/busybox /bin/\nCOPY --from=BUILD /x /y\n", &[], None);
        assert_eq!(p.stages.iter().map(|s| s.index).collect::<Vec<_>>(), [0, 1]);
        assert_eq!(
            p.stages[1].copy_sources,
            [
                CopySource::Stage(0),
                CopySource::Image("busybox:1.36".into())
            ]
        );
        let (_, out) = walk(&p, 1, &[] as &[&str]);
        let ExpandedInstruction::Copy(c) = &out[1] else {
            panic!()
        };
        assert_eq!(c.from, Some(CopySource::Image("busybox:1.36".into())));
        let ExpandedInstruction::Copy(c) = &out[2] else {
            panic!()
        };
        assert_eq!(
            c.from,
            Some(CopySource::Stage(0)),
            "stage names match case-insensitively"
        );
    }

    #[test]
    fn from_a_later_stage_name_is_an_image() {
        let p = ok("FROM app AS base\nFROM scratch AS app\n", &[], Some("base"));
        assert_eq!(p.stages[0].base, StageBase::Image("app".into()));
    }

    #[test]
    fn display_is_one_unambiguous_line() {
        let p = ok("FROM scratch\nARG A=1 B\nRUN [\"npm\", \"ci\"]\nHEALTHCHECK --interval=30s --retries=3 CMD curl -f http://localhost/ || exit 1\nSHELL [\"/bin/bash\", \"-c\"]\nADD --chmod=644 a b /c/\n", &[], None);
        let (_, out) = walk(&p, 0, &[] as &[&str]);
        let lines: Vec<String> = out.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "ARG A=\"1\" B",
                "RUN [\"npm\",\"ci\"]",
                "HEALTHCHECK --interval=30000ms --retries=3 CMD curl -f http://localhost/ || exit 1",
                "SHELL [\"/bin/bash\",\"-c\"]",
                "ADD --chmod=0644 [\"a\",\"b\",\"/c/\"]",
            ]
        );
    }
}
