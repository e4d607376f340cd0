//! The Dockerfile parser, then planning and ARG/ENV expansion of every
//! instruction: errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use skiff::build::dockerfile::parse;
use skiff::build::plan::{plan_build, BuildArgs, StageBase, StageEnv};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(df) = parse(text, "Dockerfile") else {
        return;
    };
    let args = BuildArgs::parse(&["A=1", "B=$A"], |_| None).unwrap_or_default();
    let Ok(plan) = plan_build(&df, &args, None) else {
        return;
    };
    let mut envs: Vec<(usize, StageEnv)> = Vec::new();
    for stage in &plan.stages {
        let mut env = match &stage.base {
            StageBase::Stage(parent) => match envs.iter().find(|(i, _)| i == parent) {
                Some((_, p)) => StageEnv::from_parent(&plan, stage.index, p),
                None => StageEnv::new(&plan, stage.index, &["PATH=/bin"]),
            },
            _ => StageEnv::new(&plan, stage.index, &["PATH=/bin", "HOME=/root"]),
        };
        for inst in &stage.instructions {
            if let Ok(x) = env.expand(inst) {
                let _ = x.to_string();
                env.apply(&x);
            }
        }
        envs.push((stage.index, env));
    }
});
