//! Decoding scalars of the compose file: strings with `${VAR}`
//! interpolation, booleans, numbers, lists, commands, `KEY=value` lists,
//! and refusing keys outside the subset (a warning for harmless ones).

use super::interpolate::interpolate;
use super::yaml::{Key, Node, Value};
use super::{ComposeError, Result};
use std::path::{Path, PathBuf};

/// Keys skiff ignores with a warning: they change nothing it does.
const HARMLESS: &[&str] = &[
    "logging",
    "tty",
    "stdin_open",
    "platform",
    "pull_policy",
    "extra_hosts",
    "dns",
    "domainname",
    "cap_drop",
    "security_opt",
    "ulimits",
    "sysctls",
    "shm_size",
    "expose",
    "oom_score_adj",
];

/// Decoding context: the file, the variables, the warnings so far.
pub struct Decoder<'a> {
    pub file: &'a Path,
    pub dir: &'a Path,
    pub lookup: &'a dyn Fn(&str) -> Option<String>,
    pub warnings: Vec<String>,
}

impl Decoder<'_> {
    pub(super) fn err(&self, line: usize, msg: impl Into<String>) -> ComposeError {
        ComposeError::At {
            file: self.file.to_path_buf(),
            line,
            msg: msg.into(),
        }
    }

    pub(super) fn map<'n>(&self, n: &'n Node, what: &str) -> Result<&'n [(Key, Node)]> {
        match &n.value {
            Value::Map(m) => Ok(m),
            Value::Null => Ok(&[]),
            _ => Err(self.err(
                n.line,
                format!("{what} must be a mapping, not {}", n.kind()),
            )),
        }
    }

    /// A scalar, interpolated.
    pub(super) fn string(&self, n: &Node, what: &str) -> Result<String> {
        match &n.value {
            Value::Str(s) => interpolate(s, self.lookup)
                .map_err(|e| self.err(n.line, format!("{what}: {}", e.0))),
            _ => Err(self.err(n.line, format!("{what} must be a string, not {}", n.kind()))),
        }
    }

    pub(super) fn opt_string(&self, n: &Node, what: &str) -> Result<Option<String>> {
        match n.value {
            Value::Null => Ok(None),
            _ => self.string(n, what).map(Some),
        }
    }

    pub(super) fn boolean(&self, n: &Node, what: &str) -> Result<bool> {
        match self.string(n, what)?.as_str() {
            "true" | "True" | "TRUE" | "yes" => Ok(true),
            "false" | "False" | "FALSE" | "no" => Ok(false),
            o => Err(self.err(n.line, format!("{what} must be true or false, not {o:?}"))),
        }
    }

    pub(super) fn number<T: std::str::FromStr>(&self, n: &Node, what: &str) -> Result<T> {
        let s = self.string(n, what)?;
        s.parse()
            .map_err(|_| self.err(n.line, format!("{what} must be a number, not {s:?}")))
    }

    pub(super) fn list(&self, n: &Node, what: &str) -> Result<Vec<String>> {
        match &n.value {
            Value::Seq(items) => items.iter().map(|i| self.string(i, what)).collect(),
            Value::Null => Ok(Vec::new()),
            _ => Ok(vec![self.string(n, what)?]),
        }
    }

    /// A command: a list as it is, a string split as a shell would
    /// (quotes, no expansion), as compose does.
    pub(super) fn command(&self, n: &Node, what: &str) -> Result<Option<Vec<String>>> {
        match &n.value {
            Value::Null => Ok(None),
            Value::Seq(_) => self.list(n, what).map(Some),
            _ => {
                let s = self.string(n, what)?;
                split_words(&s)
                    .map(Some)
                    .ok_or_else(|| self.err(n.line, format!("{what}: unbalanced quotes in {s:?}")))
            }
        }
    }

    /// `KEY: value` mapping or `["KEY=value", "KEY"]` list; a key without
    /// a value takes it from the environment (dropped if unset).
    pub(super) fn key_values(&self, n: &Node, what: &str) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        match &n.value {
            Value::Map(m) => {
                for (k, v) in m {
                    match v.value {
                        Value::Null => {
                            if let Some(x) = (self.lookup)(&k.name) {
                                out.push((k.name.clone(), x));
                            }
                        }
                        _ => out.push((k.name.clone(), self.string(v, what)?)),
                    }
                }
            }
            Value::Seq(items) => {
                for i in items {
                    let s = self.string(i, what)?;
                    match s.split_once('=') {
                        Some((k, v)) => out.push((k.to_string(), v.to_string())),
                        None => {
                            if let Some(x) = (self.lookup)(&s) {
                                out.push((s, x));
                            }
                        }
                    }
                }
            }
            Value::Null => {}
            Value::Str(_) => {
                return Err(self.err(n.line, format!("{what} must be a mapping or a list")))
            }
        }
        for (k, _) in &out {
            if k.is_empty() || k.contains(char::is_whitespace) {
                return Err(self.err(n.line, format!("{what}: invalid name {k:?}")));
            }
        }
        Ok(out)
    }

    /// Refuse keys outside `known`; warn about harmless ones.
    pub(super) fn check_keys(
        &mut self,
        m: &[(Key, Node)],
        known: &[&str],
        what: &str,
    ) -> Result<()> {
        for (k, _) in m {
            if known.contains(&k.name.as_str()) || k.name.starts_with("x-") {
                continue;
            }
            if HARMLESS.contains(&k.name.as_str()) {
                self.warnings.push(format!(
                    "{}:{}: {what}: {:?} is not supported by skiff and is ignored",
                    self.file.display(),
                    k.line,
                    k.name
                ));
                continue;
            }
            return Err(self.err(
                k.line,
                format!(
                    "{what}: unsupported key {:?} (skiff supports: {})",
                    k.name,
                    known.join(", ")
                ),
            ));
        }
        Ok(())
    }

    pub(super) fn path(&self, s: &str) -> PathBuf {
        let p = Path::new(s);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            normalize(&self.dir.join(p))
        }
    }
}

/// `a/./b/../c` → `a/c` (lexically: a bind source need not exist yet).
pub(super) fn normalize(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                out.pop();
            }
            o => out.push(o),
        }
    }
    out
}

/// Split like a POSIX shell (quotes and backslashes; no expansion).
pub fn split_words(s: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match it.next()? {
                        '\'' => break,
                        x => cur.push(x),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match it.next()? {
                        '"' => break,
                        '\\' => cur.push(it.next()?),
                        x => cur.push(x),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(it.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

/// Quote words for /bin/sh -c.
pub fn shell_join(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}
