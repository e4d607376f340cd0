//! From text to logical lines: parser directives, comments, line
//! continuations and the heredocs an instruction takes.

use super::words::{is_go_space, shell_words_raw};
use super::{DockerfileError, Warning};
use crate::build::heredoc;
use crate::build::heredoc::Heredoc;

/// One instruction's text with continuations joined, and its heredocs.
pub(super) struct LogicalLine {
    pub(super) line: usize,
    pub(super) end_line: usize,
    pub(super) text: String,
    pub(super) heredocs: Vec<Heredoc>,
}

pub(super) struct Lines {
    pub(super) escape: char,
    pub(super) syntax: Option<String>,
    pub(super) lines: Vec<LogicalLine>,
    pub(super) warnings: Vec<Warning>,
}

/// `# name=value` at the top of the file.
pub(super) fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.strip_prefix('#')?.trim_start_matches([' ', '\t']);
    let name_len = rest
        .find(|c: char| !c.is_ascii_alphanumeric())
        .unwrap_or(rest.len());
    let name = &rest[..name_len];
    if name.is_empty() || !name.as_bytes()[0].is_ascii_alphabetic() {
        return None;
    }
    let value = rest[name_len..]
        .trim_start_matches([' ', '\t'])
        .strip_prefix('=')?
        .trim_matches([' ', '\t']);
    if value.is_empty() {
        return None;
    }
    Some((name.to_ascii_lowercase(), value.to_string()))
}

pub(super) fn is_comment(line: &str) -> bool {
    line.trim_start().starts_with('#')
}

/// Removes a trailing escape character (and blanks after it); returns the
/// rest and whether the instruction ends on this line. An escaped escape
/// (`trailing\\`) ends the line, as buildkit's `([^\\])\\[ \t]*$`.
pub(super) fn trim_continuation(line: &str, escape: char) -> (&str, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(rest) if rest.is_empty() => (rest, false),
        Some(rest) if rest.ends_with(escape) => (line, true),
        Some(rest) => (rest, false),
        None => (line, true),
    }
}

/// RUN, COPY and ADD take heredocs; their markers are found in the
/// instruction's shell words (quotes kept).
pub(super) fn heredoc_markers(text: &str) -> Vec<heredoc::Marker> {
    let t = text.trim_start_matches(is_go_space);
    let cmd = t.split(is_go_space).next().unwrap_or_default();
    if !["RUN", "COPY", "ADD"]
        .iter()
        .any(|c| cmd.eq_ignore_ascii_case(c))
    {
        return Vec::new();
    }
    heredoc::markers_in(&shell_words_raw(t))
}

pub(super) fn logical_lines(text: &str, file: &str) -> Result<Lines, DockerfileError> {
    let mut raw: Vec<&str> = text.split('\n').collect();
    if raw.last() == Some(&"") {
        raw.pop();
    }
    let raw: Vec<&str> = raw
        .iter()
        .enumerate()
        .map(|(i, l)| {
            let l = l.trim_end_matches(['\r', '\n']);
            if i == 0 {
                l.strip_prefix('\u{feff}').unwrap_or(l)
            } else {
                l
            }
        })
        .collect();
    let mut out = Lines {
        escape: '\\',
        syntax: None,
        lines: Vec::new(),
        warnings: Vec::new(),
    };
    let mut directives_done = false;
    let mut seen: Vec<String> = Vec::new();
    let mut check_directive = |line: &str,
                               n: usize,
                               out: &mut Lines|
     -> Result<(), DockerfileError> {
        if directives_done {
            return Ok(());
        }
        let Some((name, value)) = directive(line) else {
            directives_done = true;
            return Ok(());
        };
        if !matches!(name.as_str(), "escape" | "syntax" | "check") {
            directives_done = true;
            return Ok(());
        }
        if seen.contains(&name) {
            return Err(DockerfileError::at(
                file,
                n,
                format!("only one {name} parser directive can be used"),
            ));
        }
        seen.push(name.clone());
        match name.as_str() {
                "escape" => {
                    out.escape = match value.as_str() {
                        "\\" => '\\',
                        "`" => '`',
                        _ => {
                            return Err(DockerfileError::at(
                                file,
                                n,
                                format!("invalid escape token '{value}' does not match ` or \\"),
                            ))
                        }
                    }
                }
                "syntax" => {
                    out.warnings.push(Warning {
                        line: Some(n),
                        message: format!("the syntax directive ({value}) is ignored: skiff parses with its own Dockerfile frontend"),
                    });
                    out.syntax = Some(value);
                }
                _ => out.warnings.push(Warning {
                    line: Some(n),
                    message: format!("the check directive ({value}) is ignored: skiff build --check runs its own checks"),
                }),
            }
        Ok(())
    };
    let mut i = 0;
    while i < raw.len() {
        let line_no = i + 1;
        let first = raw[i].trim_start();
        i += 1;
        check_directive(first, line_no, &mut out)?;
        if first.starts_with('#') {
            continue;
        }
        let (content, mut ended) = trim_continuation(first, out.escape);
        if ended && content.is_empty() {
            continue;
        }
        let mut text = content.to_string();
        let mut end_line = line_no;
        while !ended && i < raw.len() {
            let line = raw[i];
            i += 1;
            check_directive(line, i, &mut out)?;
            if is_comment(line) || line.trim().is_empty() {
                continue;
            }
            let (c, e) = trim_continuation(line, out.escape);
            text.push_str(c);
            ended = e;
            end_line = i;
        }
        let mut heredocs = Vec::new();
        for m in heredoc_markers(&text) {
            let mut content = String::new();
            let mut closed = false;
            while i < raw.len() {
                let line = raw[i];
                i += 1;
                end_line = i;
                if heredoc::is_terminator(line, &m) {
                    closed = true;
                    break;
                }
                content.push_str(line);
                content.push('\n');
            }
            if !closed {
                return Err(DockerfileError::at(
                    file,
                    line_no,
                    format!(
                        "the heredoc <<{} is never closed: end it with a line that holds only {}",
                        m.name, m.name
                    ),
                ));
            }
            heredocs.push(Heredoc {
                name: m.name,
                content,
                expand: m.expand,
                chomp: m.chomp,
            });
        }
        out.lines.push(LogicalLine {
            line: line_no,
            end_line,
            text,
            heredocs,
        });
    }
    Ok(out)
}
