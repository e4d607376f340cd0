//! One logical line to one instruction: each instruction's arguments, its
//! flags, and the warnings it earns by itself.

use super::duration::parse_go_duration;
use super::lines::LogicalLine;
use super::words::{
    extract_flags, is_go_space, parse_name_val, parse_words, split_whitespace_go, Flags,
};
use super::{
    ArgDecl, CommandForm, CopyInstruction, FromInstruction, Healthcheck, HealthcheckCmd,
    Instruction, InstructionKind, Warning,
};
use crate::build::heredoc::Heredoc;
use crate::build::{expand, heredoc, run_mount};
use std::time::Duration;

pub(super) enum Parsed {
    From(FromInstruction, Option<String>),
    Instruction(Instruction),
}

pub(super) fn parse_line(l: &LogicalLine, escape: char) -> Result<Parsed, String> {
    let trimmed = l.text.trim_matches(is_go_space);
    let (cmd, rest) = match trimmed.find(is_go_space) {
        Some(i) => (&trimmed[..i], trimmed[i..].trim_start_matches(is_go_space)),
        None => (trimmed, ""),
    };
    let (flag_words, rest) = extract_flags(rest);
    let rest = rest.trim_matches(is_go_space);
    let upper = cmd.to_ascii_uppercase();
    let no_flags = |name: &'static str| Flags::parse(name, &flag_words, &[], &[]).map(|_| ());
    let mut mounts = Vec::new();
    let kind = match upper.as_str() {
        "FROM" => {
            let flags = Flags::parse("FROM", &flag_words, &["platform"], &[])?;
            let args = split_whitespace_go(rest);
            let name = match args.len() {
                1 => None,
                3 if args[1].eq_ignore_ascii_case("as") => {
                    let n = args[2].to_ascii_lowercase();
                    if !valid_stage_name(&n) {
                        return Err(format!("invalid name for build stage: {:?}, name can't start with a number or contain symbols", args[2]));
                    }
                    Some(n)
                }
                _ => return Err(
                    "FROM needs either one or three arguments: FROM [--platform=P] image [AS name]"
                        .into(),
                ),
            };
            let from = FromInstruction {
                line: l.line,
                end_line: l.end_line,
                original: trimmed.to_string(),
                image: args[0].clone(),
                platform: flags.string("platform")?,
                flags: flag_words.clone(),
                words: args.clone(),
            };
            return Ok(Parsed::From(from, name));
        }
        "ARG" => {
            no_flags("ARG")?;
            let words = parse_words(rest, escape);
            if words.is_empty() {
                return Err("ARG needs at least one argument".into());
            }
            let mut decls = Vec::new();
            for w in words {
                let (name, default) = match w.split_once('=') {
                    Some((n, v)) => (n.to_string(), Some(v.to_string())),
                    None => (w, None),
                };
                if name.is_empty() {
                    return Err("ARG names can not be blank".into());
                }
                decls.push(ArgDecl { name, default });
            }
            InstructionKind::Arg(decls)
        }
        "ENV" => {
            no_flags("ENV")?;
            InstructionKind::Env(parse_name_val(rest, "ENV", escape)?)
        }
        "LABEL" => {
            no_flags("LABEL")?;
            InstructionKind::Label(parse_name_val(rest, "LABEL", escape)?)
        }
        "MAINTAINER" => {
            no_flags("MAINTAINER")?;
            InstructionKind::Maintainer(one_string("MAINTAINER", rest)?)
        }
        "WORKDIR" => {
            no_flags("WORKDIR")?;
            InstructionKind::Workdir(one_string("WORKDIR", rest)?)
        }
        "USER" => {
            no_flags("USER")?;
            InstructionKind::User(one_string("USER", rest)?)
        }
        "STOPSIGNAL" => {
            no_flags("STOPSIGNAL")?;
            InstructionKind::StopSignal(one_string("STOPSIGNAL", rest)?)
        }
        "COPY" => {
            let flags = Flags::parse_multi(
                "COPY",
                &flag_words,
                &["from", "chown", "chmod", "link", "parents", "exclude"],
                &[],
                &["exclude"],
            )?;
            let from = flags.string("from")?;
            if let Some(f) = &from {
                if f.is_empty() {
                    return Err("COPY --from needs a stage name, a stage index or an image".into());
                }
                if !expand::is_literal(f, escape) {
                    return Err("variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround".into());
                }
            }
            InstructionKind::Copy(parse_copy("COPY", rest, from, &flags, &l.heredocs)?)
        }
        "ADD" => {
            let flags = Flags::parse_multi(
                "ADD",
                &flag_words,
                &[
                    "chown",
                    "chmod",
                    "link",
                    "checksum",
                    "keep-git-dir",
                    "exclude",
                    "parents",
                ],
                &["unpack"],
                &["exclude"],
            )?;
            InstructionKind::Add(parse_copy("ADD", rest, None, &flags, &l.heredocs)?)
        }
        "RUN" => {
            let mut others = Vec::new();
            for w in &flag_words {
                match w.strip_prefix("--mount") {
                    Some("") => {
                        return Err(
                            "RUN --mount needs a value: --mount=type=cache,target=/root/.npm"
                                .into(),
                        )
                    }
                    Some(v) if v.starts_with('=') => {
                        let spec = &v[1..];
                        run_mount::parse(spec).map_err(|e| format!("RUN --mount={spec}: {e}"))?;
                        mounts.push(spec.to_string());
                    }
                    _ => others.push(w.clone()),
                }
            }
            let flags = Flags::parse("RUN", &others, &["network"], &["security", "device"])?;
            if let Some(n) = flags.string("network")? {
                if !matches!(n.as_str(), "default" | "none" | "host") {
                    return Err(format!("RUN --network={n}: use default, none or host"));
                }
            }
            let form = parse_command("RUN", rest)?;
            if !l.heredocs.is_empty() && !matches!(form, CommandForm::Shell(_)) {
                return Err("RUN in the exec (JSON) form cannot take a heredoc".into());
            }
            InstructionKind::Run(form)
        }
        "CMD" => {
            no_flags("CMD")?;
            InstructionKind::Cmd(parse_command("CMD", rest)?)
        }
        "ENTRYPOINT" => {
            no_flags("ENTRYPOINT")?;
            InstructionKind::Entrypoint(parse_command("ENTRYPOINT", rest)?)
        }
        "SHELL" => {
            no_flags("SHELL")?;
            match parse_json(rest)? {
                Some(args) if !args.is_empty() => InstructionKind::Shell(args),
                Some(_) => return Err("SHELL needs at least one argument".into()),
                None => return Err("SHELL requires the arguments to be in JSON form, e.g. SHELL [\"/bin/bash\", \"-c\"]".into()),
            }
        }
        "EXPOSE" => {
            no_flags("EXPOSE")?;
            let ports = split_whitespace_go(rest);
            if ports.is_empty() {
                return Err("EXPOSE needs at least one argument".into());
            }
            InstructionKind::Expose(ports)
        }
        "VOLUME" => {
            no_flags("VOLUME")?;
            let vols = match parse_json(rest)? {
                Some(v) => v,
                None => split_whitespace_go(rest),
            };
            if vols.is_empty() {
                return Err("VOLUME needs at least one argument".into());
            }
            if vols.iter().any(|v| v.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            InstructionKind::Volume(vols)
        }
        "HEALTHCHECK" => {
            let flags = Flags::parse(
                "HEALTHCHECK",
                &flag_words,
                &[
                    "interval",
                    "timeout",
                    "start-period",
                    "start-interval",
                    "retries",
                ],
                &[],
            )?;
            InstructionKind::Healthcheck(parse_healthcheck(rest, &flags)?)
        }
        "ONBUILD" => {
            no_flags("ONBUILD")?;
            if rest.is_empty() {
                return Err("ONBUILD needs an instruction: ONBUILD RUN npm ci".into());
            }
            let inner_cmd = rest.split(is_go_space).next().unwrap_or_default();
            match inner_cmd.to_ascii_uppercase().as_str() {
                "ONBUILD" => return Err("ONBUILD ONBUILD is not allowed (chaining ONBUILD triggers is refused, as docker does)".into()),
                "FROM" | "MAINTAINER" => return Err(format!("{} is not allowed as an ONBUILD trigger", inner_cmd.to_ascii_uppercase())),
                _ => {}
            }
            let inner = LogicalLine {
                line: l.line,
                end_line: l.end_line,
                text: rest.to_string(),
                heredocs: l.heredocs.clone(),
            };
            match parse_line(&inner, escape)? {
                Parsed::Instruction(i) => InstructionKind::OnBuild(Box::new(i)),
                Parsed::From(..) => return Err("FROM is not allowed as an ONBUILD trigger".into()),
            }
        }
        _ => return Err(format!("unknown instruction: {upper}")),
    };
    Ok(Parsed::Instruction(Instruction {
        line: l.line,
        end_line: l.end_line,
        original: trimmed.to_string(),
        flags: flag_words,
        mounts,
        heredocs: l.heredocs.clone(),
        kind,
    }))
}

/// `^[a-z][a-z0-9-_.]*$`
pub(super) fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

pub(super) fn one_string(name: &str, rest: &str) -> Result<String, String> {
    if rest.is_empty() {
        return Err(format!("{name} needs exactly one argument"));
    }
    Ok(rest.to_string())
}

/// A JSON array of strings, `None` when `rest` is not JSON at all.
pub(super) fn parse_json(rest: &str) -> Result<Option<Vec<String>>, String> {
    if !rest.starts_with('[') {
        return Ok(None);
    }
    match serde_json::from_str::<serde_json::Value>(rest) {
        Ok(serde_json::Value::Array(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                match item {
                    serde_json::Value::String(s) => out.push(s),
                    _ => return Err(
                        "when using JSON array syntax, arrays must be comprised of strings only"
                            .into(),
                    ),
                }
            }
            Ok(Some(out))
        }
        _ => Ok(None),
    }
}

pub(super) fn parse_command(name: &str, rest: &str) -> Result<CommandForm, String> {
    if let Some(args) = parse_json(rest)? {
        if name == "RUN" && args.is_empty() {
            return Err("RUN needs at least one argument".into());
        }
        return Ok(CommandForm::Exec(args));
    }
    if rest.is_empty() {
        return Err(format!("{name} needs at least one argument"));
    }
    Ok(CommandForm::Shell(rest.to_string()))
}

pub(super) fn parse_copy(
    name: &str,
    rest: &str,
    from: Option<String>,
    flags: &Flags,
    heredocs: &[Heredoc],
) -> Result<CopyInstruction, String> {
    let (mut args, json) = match parse_json(rest)? {
        Some(a) => (a, true),
        None => (split_whitespace_go(rest), false),
    };
    if !heredocs.is_empty() {
        let dest_is_heredoc = args.last().is_some_and(|d| heredoc::marker(d).is_some());
        if dest_is_heredoc {
            return Err(format!("{name}: a heredoc is a source; the destination comes last ({name} <<EOF /path/file)"));
        }
        if from.is_some() {
            return Err(format!("{name} --from cannot take a heredoc as a source"));
        }
    }
    if args.len() < 2 {
        return Err(format!(
            "{name} needs at least two arguments: a source and a destination"
        ));
    }
    let dest = args.pop().unwrap_or_default();
    Ok(CopyInstruction {
        from,
        chown: flags.string("chown")?,
        chmod: flags.string("chmod")?,
        link: flags.boolean("link")?,
        sources: args,
        dest,
        json,
    })
}

pub(super) fn parse_healthcheck(rest: &str, flags: &Flags) -> Result<Healthcheck, String> {
    let (typ, cmd) = match rest.find(char::is_whitespace) {
        Some(i) => (&rest[..i], rest[i..].trim_start()),
        None => (rest, ""),
    };
    if typ.is_empty() {
        return Err("HEALTHCHECK needs at least one argument: NONE or CMD command".into());
    }
    if typ.eq_ignore_ascii_case("NONE") {
        if !cmd.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".into());
        }
        if !flags.values.is_empty() {
            return Err("HEALTHCHECK NONE takes no options".into());
        }
        return Ok(Healthcheck::None);
    }
    if !typ.eq_ignore_ascii_case("CMD") {
        return Err(format!("unknown type {typ:?} in HEALTHCHECK (try CMD)"));
    }
    let test = match parse_json(cmd)? {
        Some(args) if args.is_empty() => return Err("missing command after HEALTHCHECK CMD".into()),
        Some(args) => CommandForm::Exec(args),
        None if cmd.is_empty() => return Err("missing command after HEALTHCHECK CMD".into()),
        None => CommandForm::Shell(cmd.to_string()),
    };
    let duration = |name: &str| -> Result<Option<Duration>, String> {
        let Some(v) = flags.string(name)? else {
            return Ok(None);
        };
        if v.is_empty() {
            return Ok(None);
        }
        let d = parse_go_duration(&v).map_err(|e| format!("HEALTHCHECK --{name}: {e}"))?;
        if d.is_zero() {
            return Ok(None);
        }
        if d < Duration::from_millis(1) {
            return Err(format!("HEALTHCHECK --{name} cannot be less than 1ms"));
        }
        Ok(Some(d))
    };
    let retries = match flags.string("retries")? {
        None => None,
        Some(v) => match v.parse::<i64>() {
            Ok(n) if n < 0 => {
                return Err(format!("HEALTHCHECK --retries cannot be negative ({n})"))
            }
            Ok(0) => None,
            Ok(n) => Some(
                u32::try_from(n)
                    .map_err(|_| format!("HEALTHCHECK --retries is too large ({n})"))?,
            ),
            Err(_) => {
                return Err(format!(
                    "HEALTHCHECK --retries needs a whole number, not {v:?}"
                ))
            }
        },
    };
    Ok(Healthcheck::Cmd(HealthcheckCmd {
        test,
        interval: duration("interval")?,
        timeout: duration("timeout")?,
        start_period: duration("start-period")?,
        start_interval: duration("start-interval")?,
        retries,
    }))
}

/// Warnings an instruction earns by itself: flags accepted but not
/// honoured, and exec forms that are not valid JSON (BuildKit's
/// JSONArgsRecommended case that changes what runs).
pub(super) fn line_warnings(parsed: &Parsed, line: usize) -> Vec<Warning> {
    let Parsed::Instruction(inst) = parsed else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let w = |m: String| Warning {
        line: Some(line),
        message: m,
    };
    let name = inst.name();
    for f in &inst.flags {
        let flag = f.split('=').next().unwrap_or_default();
        let what = match (name, flag) {
            ("COPY", "--parents") | ("ADD", "--parents") => {
                "is not honoured: the sources are copied without their parent directories"
            }
            ("COPY", "--exclude") | ("ADD", "--exclude") => {
                "is not honoured: excluded files are copied (use .dockerignore)"
            }
            ("ADD", "--checksum") => "is not verified by skiff",
            ("ADD", "--keep-git-dir") => "has no effect (skiff does not fetch git sources)",
            _ => continue,
        };
        out.push(w(format!("{name} {flag} {what}")));
    }
    // RUN [ -f x ] is a shell test; CMD ["node", "a.js" is a broken exec form.
    if let InstructionKind::Cmd(CommandForm::Shell(s))
    | InstructionKind::Entrypoint(CommandForm::Shell(s)) = &inst.kind
    {
        let looks_json = s
            .strip_prefix('[')
            .map(|r| r.trim_start())
            .is_some_and(|r| r.starts_with('"') || r.starts_with(']'));
        if looks_json {
            out.push(w(format!(
                "{name} {s} looks like the exec (JSON) form but is not valid JSON, so it runs as a shell command (/bin/sh -c); check its brackets, commas and double quotes (JSONArgsRecommended)"
            )));
        }
    }
    out
}
