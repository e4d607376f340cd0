//! `--env-file`: docker's line format and limits.

use crate::runtime::error::{Result, RuntimeError};

/// Longest env file line docker reads (its line scanner's limit).
pub const MAX_ENV_LINE: usize = 64 * 1024;

/// The lines of the env file `file` (its bytes `data`), checked with
/// docker's rules: a variable name holds no whitespace (`export A=1` and
/// `A = 1` are refused), the file is UTF-8 without NUL bytes, a line is at
/// most 64 KiB. Errors name the file and line.
pub fn env_file_checked(file: &str, data: &[u8]) -> Result<Vec<String>> {
    let bad =
        |n: usize, why: String| RuntimeError::Invalid(format!("env file {file}, line {n}: {why}"));
    let mut out = Vec::new();
    for (i, raw) in data.split(|&b| b == b'\n').enumerate() {
        let n = i + 1;
        if raw.len() > MAX_ENV_LINE {
            return Err(bad(
                n,
                format!("the line is longer than {MAX_ENV_LINE} bytes"),
            ));
        }
        if raw.contains(&0) {
            return Err(bad(n, "the line contains a NUL byte".into()));
        }
        let line = std::str::from_utf8(raw)
            .map_err(|_| bad(n, "the line is not valid UTF-8".into()))?
            .trim_end_matches('\r');
        let t = line.trim_start();
        if t.is_empty() || t.starts_with('#') {
            out.push(line.to_string());
            continue;
        }
        let name = match t.split_once('=') {
            Some((name, _)) => name,
            None => t.trim_end(),
        };
        if name.is_empty() {
            return Err(bad(n, format!("{t:?} has no variable name")));
        }
        if name.contains(char::is_whitespace) {
            return Err(bad(
                n,
                format!("variable {name:?} contains whitespace (write NAME=value, without `export` or spaces around =)"),
            ));
        }
        out.push(line.to_string());
    }
    if out.last().is_some_and(|l| l.is_empty()) {
        out.pop();
    }
    Ok(out)
}

/// Lines of an env file, with docker's format (comments, blank lines).
pub fn env_file_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.trim_end_matches('\r').to_string())
        .collect()
}
