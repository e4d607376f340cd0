//! One instruction expanded with its stage's environment at the moment it
//! runs, and how each is shown in the build log and the image history.

use super::stage_env::{ArgValue, StageEnv};
use super::{resolve_copy_from, CopySource};
use crate::build::dockerfile::{
    CommandForm, DockerfileError, Healthcheck, Instruction, InstructionKind,
};
use crate::build::expand;
use std::fmt;

/// A port of EXPOSE, e.g. `3000/tcp`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExposedPort {
    pub port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
}

impl fmt::Display for ExposedPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.port, self.protocol)
    }
}

/// COPY or ADD after expansion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExpandedCopy {
    pub from: Option<CopySource>,
    /// `user[:group]` as written (names are resolved in the image).
    pub chown: Option<String>,
    pub chmod: Option<u32>,
    pub link: bool,
    pub sources: Vec<String>,
    pub dest: String,
}

/// An instruction with its words expanded, ready to execute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExpandedInstruction {
    Arg(Vec<ArgValue>),
    Env(Vec<(String, String)>),
    /// LABEL, and MAINTAINER as the label `maintainer`.
    Label(Vec<(String, String)>),
    Workdir(String),
    User(String),
    Copy(ExpandedCopy),
    Add(ExpandedCopy),
    /// Not expanded by the builder: the shell does it.
    Run(CommandForm),
    Cmd(CommandForm),
    Entrypoint(CommandForm),
    Shell(Vec<String>),
    Expose(Vec<ExposedPort>),
    Volume(Vec<String>),
    StopSignal(String),
    Healthcheck(Healthcheck),
    /// The trigger as written (`RUN npm ci`), stored in the config's OnBuild.
    OnBuild(String),
}

/// Expands an instruction's words with the stage's current environment, as
/// docker does at the moment the step runs: ADD COPY ENV EXPOSE LABEL
/// STOPSIGNAL USER VOLUME WORKDIR and ARG defaults. RUN, CMD, ENTRYPOINT,
/// SHELL and HEALTHCHECK come back as written. Errors name file and line.
pub fn expand_instruction(
    inst: &Instruction,
    env: &StageEnv,
) -> Result<ExpandedInstruction, DockerfileError> {
    let e = |w: &str| env.word(inst, w);
    Ok(match &inst.kind {
        InstructionKind::Arg(decls) => {
            // one at a time: `ARG A=1 B=$A` gives B=1
            let mut local = env.env.clone();
            let mut out = Vec::with_capacity(decls.len());
            for d in decls {
                let value = if let Some(v) = env.build_args.get(&d.name) {
                    Some(v.to_string())
                } else if let Some(default) = &d.default {
                    Some(
                        expand::expand_word(default, &local, env.escape)
                            .map_err(|x| env.err(inst, x.to_string()))?,
                    )
                } else {
                    env.global_args.get(&d.name).map(str::to_string)
                };
                if let Some(v) = &value {
                    local.set(d.name.clone(), v.clone());
                }
                out.push(ArgValue {
                    name: d.name.clone(),
                    value,
                });
            }
            ExpandedInstruction::Arg(out)
        }
        InstructionKind::Env(kvs) => {
            ExpandedInstruction::Env(pairs(inst, env, kvs.iter().map(|kv| (&kv.key, &kv.value)))?)
        }
        InstructionKind::Label(kvs) => {
            ExpandedInstruction::Label(pairs(inst, env, kvs.iter().map(|kv| (&kv.key, &kv.value)))?)
        }
        InstructionKind::Maintainer(m) => {
            ExpandedInstruction::Label(vec![("maintainer".into(), m.clone())])
        }
        InstructionKind::Workdir(w) => {
            let w = e(w)?;
            if w.is_empty() {
                return Err(env.err(inst, "WORKDIR is empty after expansion"));
            }
            ExpandedInstruction::Workdir(w)
        }
        InstructionKind::User(u) => {
            let u = e(u)?;
            if u.is_empty() {
                return Err(env.err(inst, "USER is empty after expansion"));
            }
            ExpandedInstruction::User(u)
        }
        InstructionKind::Copy(c) | InstructionKind::Add(c) => {
            let from = match &c.from {
                None => None,
                Some(f) => Some(
                    resolve_copy_from(f, env.stage, &env.stage_names)
                        .map_err(|m| env.err(inst, m))?,
                ),
            };
            let chown = c
                .chown
                .as_deref()
                .map(e)
                .transpose()?
                .filter(|s| !s.is_empty());
            let chmod = match c
                .chmod
                .as_deref()
                .map(e)
                .transpose()?
                .filter(|s| !s.is_empty())
            {
                None => None,
                Some(m) => Some(
                    parse_chmod(&m)
                        .map_err(|msg| env.err(inst, format!("{} {msg}", inst.name())))?,
                ),
            };
            let sources = c
                .sources
                .iter()
                .map(|s| e(s))
                .collect::<Result<Vec<_>, _>>()?;
            let copy = ExpandedCopy {
                from,
                chown,
                chmod,
                link: c.link,
                sources,
                dest: e(&c.dest)?,
            };
            if matches!(inst.kind, InstructionKind::Add(_)) {
                ExpandedInstruction::Add(copy)
            } else {
                ExpandedInstruction::Copy(copy)
            }
        }
        InstructionKind::Run(c) => ExpandedInstruction::Run(c.clone()),
        InstructionKind::Cmd(c) => ExpandedInstruction::Cmd(c.clone()),
        InstructionKind::Entrypoint(c) => ExpandedInstruction::Entrypoint(c.clone()),
        InstructionKind::Shell(s) => ExpandedInstruction::Shell(s.clone()),
        InstructionKind::Healthcheck(h) => ExpandedInstruction::Healthcheck(h.clone()),
        InstructionKind::OnBuild(i) => ExpandedInstruction::OnBuild(i.original.clone()),
        InstructionKind::Expose(words) => {
            let mut ports = Vec::new();
            for w in words {
                for p in expand::expand_words(w, &env.env, env.escape)
                    .map_err(|x| env.err(inst, x.to_string()))?
                {
                    for port in parse_ports(&p).map_err(|m| env.err(inst, m))? {
                        if !ports.contains(&port) {
                            ports.push(port);
                        }
                    }
                }
            }
            ExpandedInstruction::Expose(ports)
        }
        InstructionKind::Volume(vols) => {
            let mut out = Vec::with_capacity(vols.len());
            for v in vols {
                let v = e(v)?;
                if v.trim().is_empty() {
                    return Err(env.err(inst, "VOLUME specified can not be an empty string"));
                }
                out.push(v);
            }
            ExpandedInstruction::Volume(out)
        }
        InstructionKind::StopSignal(s) => {
            let s = e(s)?;
            check_signal(&s).map_err(|m| env.err(inst, m))?;
            ExpandedInstruction::StopSignal(s)
        }
    })
}

/// ENV and LABEL: keys and values all expand with the environment before the
/// instruction (`ENV A=2 B=$A` gives B the old A, as in docker).
pub(super) fn pairs<'a>(
    inst: &Instruction,
    env: &StageEnv,
    kvs: impl Iterator<Item = (&'a String, &'a String)>,
) -> Result<Vec<(String, String)>, DockerfileError> {
    let mut out = Vec::new();
    for (k, v) in kvs {
        let k = env.word(inst, k)?;
        if k.is_empty() {
            return Err(env.err(inst, format!("{} names can not be blank", inst.name())));
        }
        out.push((k, env.word(inst, v)?));
    }
    Ok(out)
}

pub(super) fn parse_chmod(m: &str) -> Result<u32, String> {
    if m.len() <= 4 && !m.is_empty() && m.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        u32::from_str_radix(m, 8).map_err(|e| e.to_string())
    } else {
        Err(format!("--chmod={m}: expected an octal mode such as 0755"))
    }
}

/// `3000`, `3000/tcp`, `53/udp`, `8000-8002/tcp`.
pub(super) fn parse_ports(spec: &str) -> Result<Vec<ExposedPort>, String> {
    let bad = |why: &str| format!("invalid port {spec:?} in EXPOSE: {why}");
    let (range, proto) = match spec.split_once('/') {
        Some((r, p)) => (r, p.to_ascii_lowercase()),
        None => (spec, "tcp".to_string()),
    };
    if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
        return Err(bad("the protocol must be tcp, udp or sctp"));
    }
    let num = |s: &str| match s.parse::<u16>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(bad("a port is a number from 1 to 65535")),
    };
    let (lo, hi) = match range.split_once('-') {
        Some((a, b)) => (num(a)?, num(b)?),
        None => {
            let n = num(range)?;
            (n, n)
        }
    };
    if hi < lo {
        return Err(bad("the range ends before it starts"));
    }
    Ok((lo..=hi)
        .map(|port| ExposedPort {
            port,
            protocol: proto.clone(),
        })
        .collect())
}

/// docker's `signal.ParseSignal`, shared with the supervisor that sends it.
pub(super) fn check_signal(s: &str) -> Result<(), String> {
    s.parse::<crate::runtime::Signum>()
        .map(|_| ())
        .map_err(|_| format!("invalid signal: {s}"))
}

pub(super) fn command_text(c: &CommandForm) -> String {
    match c {
        CommandForm::Shell(s) => s.clone(),
        CommandForm::Exec(args) => json_list(args),
    }
}

pub(super) fn json_list(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

impl ExpandedInstruction {
    pub fn name(&self) -> &'static str {
        match self {
            ExpandedInstruction::Arg(_) => "ARG",
            ExpandedInstruction::Env(_) => "ENV",
            ExpandedInstruction::Label(_) => "LABEL",
            ExpandedInstruction::Workdir(_) => "WORKDIR",
            ExpandedInstruction::User(_) => "USER",
            ExpandedInstruction::Copy(_) => "COPY",
            ExpandedInstruction::Add(_) => "ADD",
            ExpandedInstruction::Run(_) => "RUN",
            ExpandedInstruction::Cmd(_) => "CMD",
            ExpandedInstruction::Entrypoint(_) => "ENTRYPOINT",
            ExpandedInstruction::Shell(_) => "SHELL",
            ExpandedInstruction::Expose(_) => "EXPOSE",
            ExpandedInstruction::Volume(_) => "VOLUME",
            ExpandedInstruction::StopSignal(_) => "STOPSIGNAL",
            ExpandedInstruction::Healthcheck(_) => "HEALTHCHECK",
            ExpandedInstruction::OnBuild(_) => "ONBUILD",
        }
    }
}

/// One unambiguous line (values quoted), usable for history and cache keys.
impl fmt::Display for ExpandedInstruction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.name())?;
        match self {
            ExpandedInstruction::Arg(values) => {
                for a in values {
                    match &a.value {
                        Some(v) => write!(f, " {}={v:?}", a.name)?,
                        None => write!(f, " {}", a.name)?,
                    }
                }
                Ok(())
            }
            ExpandedInstruction::Env(kvs) | ExpandedInstruction::Label(kvs) => {
                for (k, v) in kvs {
                    write!(f, " {k:?}={v:?}")?;
                }
                Ok(())
            }
            ExpandedInstruction::Workdir(s)
            | ExpandedInstruction::User(s)
            | ExpandedInstruction::StopSignal(s)
            | ExpandedInstruction::OnBuild(s) => write!(f, " {s}"),
            ExpandedInstruction::Copy(c) | ExpandedInstruction::Add(c) => {
                match &c.from {
                    Some(CopySource::Stage(i)) => write!(f, " --from={i}")?,
                    Some(CopySource::Image(r)) => write!(f, " --from={r}")?,
                    None => {}
                }
                if let Some(o) = &c.chown {
                    write!(f, " --chown={o}")?;
                }
                if let Some(m) = c.chmod {
                    write!(f, " --chmod={m:04o}")?;
                }
                let mut all = c.sources.clone();
                all.push(c.dest.clone());
                write!(f, " {}", json_list(&all))
            }
            ExpandedInstruction::Run(c)
            | ExpandedInstruction::Cmd(c)
            | ExpandedInstruction::Entrypoint(c) => {
                write!(f, " {}", command_text(c))
            }
            ExpandedInstruction::Shell(s) | ExpandedInstruction::Volume(s) => {
                write!(f, " {}", json_list(s))
            }
            ExpandedInstruction::Expose(ports) => {
                for p in ports {
                    write!(f, " {p}")?;
                }
                Ok(())
            }
            ExpandedInstruction::Healthcheck(h) => match h {
                Healthcheck::None => write!(f, " NONE"),
                Healthcheck::Cmd(c) => {
                    for (name, d) in [
                        ("interval", c.interval),
                        ("timeout", c.timeout),
                        ("start-period", c.start_period),
                        ("start-interval", c.start_interval),
                    ] {
                        if let Some(d) = d {
                            write!(f, " --{name}={}ms", d.as_millis())?;
                        }
                    }
                    if let Some(r) = c.retries {
                        write!(f, " --retries={r}")?;
                    }
                    write!(f, " CMD {}", command_text(&c.test))
                }
            },
        }
    }
}
