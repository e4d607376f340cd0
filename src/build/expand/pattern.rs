//! The patterns of `${VAR#pat}`, `${VAR%pat}` and `${VAR/pat/repl}`: shell
//! globs (`*`, `?`, escapes) compiled once, matched against a value.

use super::LexResult;
use std::fmt;

/// One element of a `${VAR#pattern}` style pattern.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ShellTok {
    Lit(char),
    Any,
    Star,
}

impl fmt::Display for ShellTok {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ShellTok::Lit(c) => write!(f, "{c}"),
            ShellTok::Any => write!(f, "?"),
            ShellTok::Star => write!(f, "*"),
        }
    }
}

pub(super) fn compile_shell_pattern(pattern: &str) -> LexResult<Vec<ShellTok>> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' => out.push(ShellTok::Star),
            '?' => out.push(ShellTok::Any),
            '\\' => {
                match chars.get(i) {
                    // `}` and `/` are escaped for the ${} syntax, not the pattern
                    Some('}') | Some('/') => continue,
                    Some(&n @ ('*' | '?' | '\\')) => out.push(ShellTok::Lit(n)),
                    Some(n) => {
                        return Err(format!(
                            "invalid pattern ({pattern}) in substitution: invalid escape '\\{n}'"
                        ))
                    }
                    None => {
                        return Err(format!(
                            "invalid pattern ({pattern}) in substitution: invalid escape '\\'"
                        ))
                    }
                }
                i += 1;
            }
            _ => out.push(ShellTok::Lit(c)),
        }
    }
    Ok(out)
}

pub(super) fn shell_match(tokens: &[ShellTok], s: &[char]) -> bool {
    match tokens.split_first() {
        None => s.is_empty(),
        Some((ShellTok::Star, rest)) => (0..=s.len()).any(|k| shell_match(rest, &s[k..])),
        Some((ShellTok::Any, rest)) => !s.is_empty() && shell_match(rest, &s[1..]),
        Some((ShellTok::Lit(c), rest)) => s.first() == Some(c) && shell_match(rest, &s[1..]),
    }
}

pub(super) fn trim_prefix(tokens: &[ShellTok], value: &[char], greedy: bool) -> String {
    let ends: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new((0..=value.len()).rev())
    } else {
        Box::new(0..=value.len())
    };
    for end in ends {
        if shell_match(tokens, &value[..end]) {
            return value[end..].iter().collect();
        }
    }
    value.iter().collect()
}

pub(super) fn trim_suffix(tokens: &[ShellTok], value: &[char], greedy: bool) -> String {
    let starts: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new(0..=value.len())
    } else {
        Box::new((0..=value.len()).rev())
    };
    for start in starts {
        if shell_match(tokens, &value[start..]) {
            return value[..start].iter().collect();
        }
    }
    value.iter().collect()
}

/// The leftmost, longest match of `tokens` in `value[from..]`.
pub(super) fn find_match(
    tokens: &[ShellTok],
    value: &[char],
    from: usize,
) -> Option<(usize, usize)> {
    (from..=value.len()).find_map(|start| {
        (start..=value.len())
            .rev()
            .find(|&end| shell_match(tokens, &value[start..end]))
            .map(|end| (start, end))
    })
}

pub(super) fn replace_pattern(
    tokens: &[ShellTok],
    value: &[char],
    replacement: &str,
    all: bool,
) -> String {
    let mut out = String::new();
    let mut pos = 0;
    while pos <= value.len() {
        let Some((start, end)) = find_match(tokens, value, pos) else {
            break;
        };
        out.extend(&value[pos..start]);
        out.push_str(replacement);
        if end == start {
            // an empty match: keep one character and move on
            if start < value.len() {
                out.push(value[start]);
            }
            pos = start + 1;
        } else {
            pos = end;
        }
        if !all {
            break;
        }
    }
    if pos < value.len() {
        out.extend(&value[pos..]);
    }
    out
}
