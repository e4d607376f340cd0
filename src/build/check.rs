//! `skiff build --check`: parse, plan and expand every stage the target
//! (or every named target) needs, running nothing and reading neither the
//! context's files nor base images that are not in the store (their
//! environment is then taken as empty). Every problem is reported, each
//! with file, line, stage and what to do.

use super::dockerfile::{self, Dockerfile, InstructionKind};
use super::expand::is_literal;
use super::plan::{self, BuildArgs, BuildPlan, StageBase, StageEnv};
use super::run_mount::{self, MountKind};
use super::secrets::Secrets;
use crate::image::local::LocalImage;
use crate::store::Store;
use std::collections::BTreeMap;
use std::fmt;

/// One finding of a check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: Option<usize>,
    /// The stage's name (or `stage-N`), when the line is inside one.
    pub stage: Option<String>,
    pub message: String,
    /// An error the build would stop on; otherwise a warning.
    pub error: bool,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}",
            if self.error { "error" } else { "warning" },
            self.file
        )?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(s) = &self.stage {
            write!(f, " (stage {s})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What to check.
pub struct CheckOptions<'a> {
    pub text: &'a str,
    /// The name the problems use (`Dockerfile`, `docker/api.Dockerfile`).
    pub file: &'a str,
    pub build_args: &'a [String],
    pub target: Option<&'a str>,
    pub all_targets: bool,
    /// `--secret`s given with the check: required secret mounts are then
    /// checked against them.
    pub secrets: Option<&'a Secrets>,
}

/// The findings, errors first within each line order.
#[derive(Debug, Default)]
pub struct Report {
    pub problems: Vec<Problem>,
    /// Stages planned and expanded (by index).
    pub stages_checked: usize,
}

impl Report {
    /// Whether the build would be accepted (warnings allowed).
    pub fn ok(&self) -> bool {
        !self.problems.iter().any(|p| p.error)
    }
}

fn stage_of_line(df: &Dockerfile, line: usize) -> Option<usize> {
    df.stages
        .iter()
        .rev()
        .find(|s| s.from.line <= line)
        .map(|s| s.index)
}

fn label(df: &Dockerfile, i: usize) -> String {
    df.stages
        .get(i)
        .and_then(|s| s.name.clone())
        .unwrap_or_else(|| format!("stage-{i}"))
}

/// The targets to check: the given one, or the last stage; with
/// `--all-targets` every named stage and the last one.
fn targets(df: &Dockerfile, o: &CheckOptions<'_>) -> Vec<Option<String>> {
    if o.all_targets {
        let mut all: Vec<Option<String>> = df
            .stages
            .iter()
            .filter_map(|s| s.name.clone())
            .map(Some)
            .collect();
        // The default target (the last stage) too, when it has no name.
        if df.stages.last().is_some_and(|s| s.name.is_none()) {
            all.push(None);
        }
        return all;
    }
    vec![o.target.map(str::to_string)]
}

/// Checks a Dockerfile. `store`, when given, supplies base images' Env and
/// ONBUILD triggers for those it holds.
pub fn check(store: Option<&Store>, o: &CheckOptions<'_>) -> Report {
    let mut report = Report::default();
    let (df, parse_errors) = dockerfile::parse_report(o.text, o.file);
    let args = match BuildArgs::from_cli(o.build_args) {
        Ok(a) => a,
        Err(e) => {
            report.problems.push(Problem {
                file: o.file.into(),
                line: None,
                stage: None,
                message: e.to_string(),
                error: true,
            });
            return report;
        }
    };
    let Some(df) = df else {
        report
            .problems
            .extend(parse_errors.into_iter().map(|e| Problem {
                file: e.file,
                line: e.line,
                stage: None,
                message: e.message,
                error: true,
            }));
        return report;
    };
    // Which stages the targets need.
    let mut plans: Vec<BuildPlan> = Vec::new();
    for t in targets(&df, o) {
        match plan::plan_build(&df, &args, t.as_deref()) {
            Ok(p) => plans.push(p),
            Err(plan::PlanError::Dockerfile(e)) => report.problems.push(Problem {
                stage: e
                    .line
                    .and_then(|l| stage_of_line(&df, l))
                    .map(|i| label(&df, i)),
                file: e.file,
                line: e.line,
                message: e.message,
                error: true,
            }),
            Err(e) => report.problems.push(Problem {
                file: o.file.into(),
                line: None,
                stage: None,
                message: e.to_string(),
                error: true,
            }),
        }
    }
    let mut needed: BTreeMap<usize, ()> = BTreeMap::new();
    for p in &plans {
        for s in &p.stages {
            needed.insert(s.index, ());
        }
    }
    // Parse errors: errors in needed stages (or before any), warnings elsewhere.
    for e in parse_errors {
        let stage = e.line.and_then(|l| stage_of_line(&df, l));
        let error = plans.is_empty() || stage.is_none_or(|i| needed.contains_key(&i));
        report.problems.push(Problem {
            file: e.file,
            line: e.line,
            stage: stage.map(|i| label(&df, i)),
            message: if error {
                e.message
            } else {
                format!("{} (this stage is not needed by the target)", e.message)
            },
            error,
        });
    }
    for w in &df.warnings {
        report.problems.push(Problem {
            file: o.file.into(),
            line: w.line,
            stage: w
                .line
                .and_then(|l| stage_of_line(&df, l))
                .map(|i| label(&df, i)),
            message: w.message.clone(),
            error: false,
        });
    }
    let mut seen_warnings: Vec<String> = Vec::new();
    let mut checked: BTreeMap<usize, StageEnv> = BTreeMap::new();
    for p in &plans {
        for w in &p.warnings {
            if !seen_warnings.contains(w) {
                seen_warnings.push(w.clone());
                report.problems.push(Problem {
                    file: o.file.into(),
                    line: None,
                    stage: None,
                    message: w.clone(),
                    error: false,
                });
            }
        }
        for stage in &p.stages {
            if checked.contains_key(&stage.index) {
                continue;
            }
            let env = check_stage(store, &df, p, stage, &checked, o, &mut report);
            checked.insert(stage.index, env);
        }
    }
    report.stages_checked = checked.len();
    report
        .problems
        .sort_by_key(|p| (p.line.unwrap_or(0), !p.error));
    report
}

/// Expands every instruction of one stage as the build would, recording
/// what fails; returns the stage's final environment.
fn check_stage(
    store: Option<&Store>,
    df: &Dockerfile,
    plan: &BuildPlan,
    stage: &plan::PlannedStage,
    done: &BTreeMap<usize, StageEnv>,
    o: &CheckOptions<'_>,
    report: &mut Report,
) -> StageEnv {
    let name = label(df, stage.index);
    let problem = |line: usize, message: String, error: bool| Problem {
        file: o.file.into(),
        line: Some(line),
        stage: Some(name.clone()),
        message,
        error,
    };
    let mut triggers = Vec::new();
    let mut env = match &stage.base {
        StageBase::Stage(i) => match done.get(i) {
            Some(parent) => StageEnv::from_parent(plan, stage.index, parent),
            None => StageEnv::new(plan, stage.index, &[] as &[String]),
        },
        StageBase::Scratch => StageEnv::new(plan, stage.index, &[] as &[String]),
        StageBase::Image(r) => match store.and_then(|s| LocalImage::load(s, r).ok()) {
            Some(img) => {
                triggers = img.config.config.on_build.clone().unwrap_or_default();
                StageEnv::new(
                    plan,
                    stage.index,
                    &img.config.config.env.clone().unwrap_or_default(),
                )
            }
            // Not in the store: no error for --check, its Env is taken as empty.
            None => StageEnv::new(plan, stage.index, &[] as &[String]),
        },
    };
    let mut insts = Vec::new();
    for t in &triggers {
        match dockerfile::parse_trigger(t, o.file, stage.from_line, plan.escape) {
            Ok(i) => insts.push(i),
            Err(e) => report
                .problems
                .push(problem(stage.from_line, e.message, true)),
        }
    }
    insts.extend(stage.instructions.iter().cloned());
    for inst in &insts {
        let x = match env.expand(inst) {
            Ok(x) => x,
            Err(e) => {
                report.problems.push(problem(inst.line, e.message, true));
                continue;
            }
        };
        if let InstructionKind::Copy(c) | InstructionKind::Add(c) = &inst.kind {
            if !inst.heredocs.is_empty() && c.sources.len() != inst.heredocs.len() {
                report.problems.push(problem(inst.line, format!("{}: mixing heredocs and files of the context in one instruction is not supported: use one {} for the heredocs and one for the files", inst.name(), inst.name()), true));
            }
            for s in &c.sources {
                if s.starts_with("http://") || s.starts_with("https://") || s.starts_with("git@") {
                    report.problems.push(problem(inst.line, format!("{} {s}: sources from URLs are not supported; put the file in the build context (or fetch it with RUN)", inst.name()), true));
                }
            }
        }
        for m in &inst.mounts {
            let spec = match env.expand_word(inst, m) {
                Ok(s) => s,
                Err(e) => {
                    report.problems.push(problem(inst.line, e.message, true));
                    continue;
                }
            };
            match run_mount::parse(&spec) {
                Err(e) => report.problems.push(problem(
                    inst.line,
                    format!("RUN --mount={spec}: {e}"),
                    true,
                )),
                Ok(rm) => match rm.kind {
                    MountKind::Secret { id, required, .. } => {
                        if let Some(s) = o.secrets {
                            if s.get(&id).is_none() {
                                let (msg, error) = if required {
                                    ("is required but not given", true)
                                } else {
                                    ("is not given: the step runs without it", false)
                                };
                                report.problems.push(problem(inst.line, format!("the secret {id:?} {msg}; add --secret id={id},src=FILE (or env=VARIABLE)"), error));
                            }
                        }
                    }
                    MountKind::Bind { from: Some(f), .. }
                    | MountKind::Cache { from: Some(f), .. }
                        if !is_literal(&f, plan.escape) => {}
                    MountKind::Bind { from: Some(f), .. }
                    | MountKind::Cache { from: Some(f), .. } => {
                        if let Err(e) = env.resolve_from(&f) {
                            report.problems.push(problem(inst.line, e, true));
                        }
                    }
                    _ => {}
                },
            }
        }
        env.apply(&x);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, target: Option<&str>, all: bool) -> Report {
        check(
            None,
            &CheckOptions {
                text,
                file: "Dockerfile",
                build_args: &[],
                target,
                all_targets: all,
                secrets: None,
            },
        )
    }

    #[test]
    fn every_problem_with_line_and_stage() {
        let r = run(
            "FROM node:20 AS build\nRUN --mount=type=nfs,target=/x true\nCOPY --chmod=999 a b\nWORKDIR $NOPE\nRUN --mount=type=cache,target=/ true\nFROM build\nCOPY --from=build /a /b\n",
            None,
            false,
        );
        let errors: Vec<_> = r.problems.iter().filter(|p| p.error).collect();
        assert_eq!(errors.len(), 4, "{:#?}", r.problems);
        assert_eq!(errors[0].line, Some(2));
        assert_eq!(errors[0].stage.as_deref(), Some("build"));
        assert!(errors[0].message.contains("unknown mount type"));
        assert_eq!(errors[1].line, Some(3));
        assert_eq!(errors[2].line, Some(4));
        assert!(errors[3].message.contains("cannot have / as its target"));
        assert!(!r.ok());
        assert_eq!(r.stages_checked, 2);
    }

    #[test]
    fn unneeded_stage_errors_are_warnings() {
        let text = "FROM node:20 AS dev\nRUN --mount=type=ssh git clone x\nFROM node:20 AS prod\nCMD [\"node\", \"a.js\"\n";
        let r = run(text, Some("prod"), false);
        assert!(r.ok(), "{:#?}", r.problems);
        assert!(r.problems.iter().any(|p| !p.error && p.line == Some(2)));
        // The JSON that is not JSON warns, naming the line.
        assert!(r
            .problems
            .iter()
            .any(|p| p.line == Some(4) && p.message.contains("not valid JSON")));
        let r = run(text, None, true);
        assert!(!r.ok());
        assert_eq!(r.stages_checked, 2);
    }

    #[test]
    fn did_you_mean_a_stage() {
        let r = run(
            "FROM node:20 AS build\nRUN true\nFROM node:20-slim\nCOPY --from=bulid /app /app\n",
            None,
            false,
        );
        assert!(r.ok());
        assert!(
            r.problems
                .iter()
                .any(|p| p.message.contains("did you mean the stage \"build\"")),
            "{:#?}",
            r.problems
        );
    }
}
