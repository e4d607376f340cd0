//! The parse printed as buildkit's `Node.Dump()` prints it (what its parser
//! test files hold), for the conformance tests.

use super::words::is_go_space;
use super::{CommandForm, Dockerfile, Healthcheck, Instruction, InstructionKind};

/// Go's `strconv.Quote`, which buildkit's AST dump uses.
pub(super) fn go_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

impl Instruction {
    /// The instruction's arguments as buildkit's parser splits them.
    fn dump_args(&self) -> Vec<String> {
        let command = |c: &CommandForm| match c {
            CommandForm::Exec(v) => v.clone(),
            CommandForm::Shell(s) => vec![s.clone()],
        };
        match &self.kind {
            InstructionKind::Arg(decls) => decls
                .iter()
                .map(|d| match &d.default {
                    Some(v) => format!("{}={v}", d.name),
                    None => d.name.clone(),
                })
                .collect(),
            InstructionKind::Env(kvs) | InstructionKind::Label(kvs) => kvs
                .iter()
                .flat_map(|kv| [kv.key.clone(), kv.value.clone()])
                .collect(),
            InstructionKind::Maintainer(s)
            | InstructionKind::Workdir(s)
            | InstructionKind::User(s)
            | InstructionKind::StopSignal(s) => vec![s.clone()],
            InstructionKind::Copy(c) | InstructionKind::Add(c) => {
                let mut v = c.sources.clone();
                v.push(c.dest.clone());
                v
            }
            InstructionKind::Run(c) | InstructionKind::Cmd(c) | InstructionKind::Entrypoint(c) => {
                command(c)
            }
            InstructionKind::Shell(v) | InstructionKind::Expose(v) | InstructionKind::Volume(v) => {
                v.clone()
            }
            InstructionKind::Healthcheck(Healthcheck::None) => vec!["NONE".into()],
            InstructionKind::Healthcheck(Healthcheck::Cmd(h)) => {
                let mut v = vec!["CMD".to_string()];
                v.extend(command(&h.test));
                v
            }
            InstructionKind::OnBuild(_) => Vec::new(),
        }
    }

    /// One node of buildkit's AST dump: `(copy ["--from=a"] "x" "/y")`.
    pub fn dump(&self) -> String {
        let mut s = self
            .original
            .split(is_go_space)
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if !self.flags.is_empty() {
            let f: Vec<String> = self.flags.iter().map(|f| go_quote(f)).collect();
            s.push_str(&format!(" [{}]", f.join(" ")));
        }
        for a in self.dump_args() {
            s.push(' ');
            s.push_str(&go_quote(&a));
        }
        if let InstructionKind::OnBuild(inner) = &self.kind {
            s.push_str(&format!(" ({})", inner.dump()));
        }
        s
    }
}

impl Dockerfile {
    /// The parse as buildkit's `Node.Dump()` prints it, one instruction a
    /// line (what its parser test files hold in `result`).
    pub fn dump(&self) -> String {
        let mut out = String::new();
        let mut last_line = 0;
        for a in &self.global_args {
            if a.line == last_line {
                continue;
            }
            last_line = a.line;
            let names: Vec<String> = self
                .global_args
                .iter()
                .filter(|x| x.line == a.line)
                .map(|x| match &x.default {
                    Some(v) => go_quote(&format!("{}={v}", x.name)),
                    None => go_quote(&x.name),
                })
                .collect();
            out.push_str(&format!("(arg {})\n", names.join(" ")));
        }
        for st in &self.stages {
            let mut s = String::from("from");
            if !st.from.flags.is_empty() {
                let f: Vec<String> = st.from.flags.iter().map(|f| go_quote(f)).collect();
                s.push_str(&format!(" [{}]", f.join(" ")));
            }
            for w in &st.from.words {
                s.push(' ');
                s.push_str(&go_quote(w));
            }
            out.push_str(&format!("({s})\n"));
            for i in &st.instructions {
                out.push_str(&format!("({})\n", i.dump()));
            }
        }
        out
    }
}
