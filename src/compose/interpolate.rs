//! Compose's variable substitution: `$VAR`, `${VAR}`, `${VAR:-default}`
//! (unset or empty), `${VAR-default}` (unset), `${VAR:?error}`,
//! `${VAR?error}`, `${VAR:+alt}`, `${VAR+alt}`, `$$` for a literal `$`;
//! defaults may hold further substitutions. And the `.env` file's format.

/// What a failed substitution says (the caller adds file and line).
#[derive(Debug, PartialEq, Eq)]
pub struct InterpolationError(pub String);

/// Substitute variables in `s`; `lookup` gives a variable's value.
pub fn interpolate(
    s: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let mut out = String::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'$' {
            let ch = s[i..].chars().next().unwrap_or('\0');
            out.push(ch);
            i += ch.len_utf8().max(1);
            continue;
        }
        match b.get(i + 1) {
            Some(b'$') => {
                out.push('$');
                i += 2;
            }
            Some(b'{') => {
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < b.len() {
                    match b[j] {
                        b'{' => depth += 1,
                        b'}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= b.len() {
                    return Err(InterpolationError(format!(
                        "invalid interpolation format for {s:?}: missing '}}'"
                    )));
                }
                out.push_str(&braced(&s[start..j], s, lookup)?);
                i = j + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == b'_' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_') {
                    j += 1;
                }
                out.push_str(&lookup(&s[i + 1..j]).unwrap_or_default());
                i = j;
            }
            _ => {
                return Err(InterpolationError(format!(
                    "invalid interpolation format for {s:?}: a '$' must be followed by a \
                     name or '{{' (write $$ for a literal $)"
                )))
            }
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    whole: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<String, InterpolationError> {
    let name_end = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let name = &inner[..name_end];
    let rest = &inner[name_end..];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(InterpolationError(format!(
            "invalid interpolation format for {whole:?}: bad variable name in ${{{inner}}}"
        )));
    }
    let value = lookup(name);
    let set = value.is_some();
    let nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
    let (op, arg) = if let Some(a) = rest.strip_prefix(":-") {
        (":-", a)
    } else if let Some(a) = rest.strip_prefix(":?") {
        (":?", a)
    } else if let Some(a) = rest.strip_prefix(":+") {
        (":+", a)
    } else if rest.is_empty() {
        ("", "")
    } else {
        rest.split_at(1)
    };
    let sub = |a: &str| interpolate(a, lookup);
    Ok(match op {
        "" => value.unwrap_or_default(),
        ":-" if nonempty => value.unwrap_or_default(),
        ":-" => sub(arg)?,
        "-" if set => value.unwrap_or_default(),
        "-" => sub(arg)?,
        ":?" | "?" if (op == ":?" && !nonempty) || (op == "?" && !set) => {
            let msg = sub(arg)?;
            return Err(InterpolationError(if msg.is_empty() {
                format!("required variable {name} is missing a value")
            } else {
                format!("required variable {name} is missing a value: {msg}")
            }));
        }
        ":?" | "?" => value.unwrap_or_default(),
        ":+" if nonempty => sub(arg)?,
        "+" if set => sub(arg)?,
        ":+" | "+" => String::new(),
        _ => {
            return Err(InterpolationError(format!(
                "invalid interpolation format for {whole:?}: unknown operator in ${{{inner}}}"
            )))
        }
    })
}

/// One variable of an env file: its name, and its value if it has one.
pub type EnvVar = (String, Option<String>);

/// The variables of a `.env` (or `env_file`) text: `KEY=VALUE` lines,
/// `#` comments, an optional `export `, single quotes literal, double
/// quotes with `\n` `\t` `\"` `\\` escapes. A line without `=` is
/// `(KEY, None)`: take it from the environment. Errors name the line.
pub fn parse_env_file(text: &str) -> Result<Vec<EnvVar>, (usize, String)> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").unwrap_or(line).trim_start();
        let (k, v) = match line.split_once('=') {
            Some((k, v)) => (k.trim(), Some(v.trim())),
            None => (line, None),
        };
        if k.is_empty() || k.contains(char::is_whitespace) {
            return Err((n + 1, format!("invalid variable name {k:?}")));
        }
        let v = v.map(|v| {
            if let Some(q) = v.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
                q.to_string()
            } else if let Some(q) = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
                unescape(q)
            } else {
                // An inline comment needs a space before the '#'.
                match v.find(" #") {
                    Some(i) => v[..i].trim_end().to_string(),
                    None => v.to_string(),
                }
            }
        });
        out.push((k.to_string(), v));
    }
    Ok(out)
}

fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(o) => out.push(o),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        match k {
            "SET" => Some("v".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn i(s: &str) -> Result<String, InterpolationError> {
        interpolate(s, &env)
    }

    #[test]
    fn compose_rules() {
        assert_eq!(i("a $SET ${SET}b").unwrap(), "a v vb");
        assert_eq!(i("$$SET $$").unwrap(), "$SET $");
        assert_eq!(i("${UNSET}").unwrap(), "");
        assert_eq!(i("${UNSET:-d} ${EMPTY:-d} ${SET:-d}").unwrap(), "d d v");
        assert_eq!(i("${UNSET-d} ${EMPTY-d} ${SET-d}").unwrap(), "d  v");
        assert_eq!(i("${UNSET:-${SET}x}").unwrap(), "vx");
        assert_eq!(
            i("${SET:+alt} ${EMPTY:+alt} ${EMPTY+alt}").unwrap(),
            "alt  alt"
        );
        assert_eq!(i("${SET:?no}").unwrap(), "v");
        assert_eq!(i("${EMPTY?no}").unwrap(), "");
        let e = i("${UNSET:?set it in .env}").unwrap_err().0;
        assert!(e.contains("UNSET") && e.contains("set it in .env"), "{e}");
        assert!(i("${EMPTY:?}").is_err());
        assert!(i("${UNSET?}").is_err());
        assert!(i("${SET").is_err());
        assert!(i("a $ b").is_err());
        assert!(i("${1X}").is_err());
        assert_eq!(i("é$SET").unwrap(), "év");
    }

    #[test]
    fn env_files() {
        let v = parse_env_file("# c\nA=1\nexport B = two \nC='$x y'\nD=\"a\\nb\"\nE\nF=x #c\n")
            .unwrap();
        assert_eq!(
            v,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), Some("two".into())),
                ("C".into(), Some("$x y".into())),
                ("D".into(), Some("a\nb".into())),
                ("E".into(), None),
                ("F".into(), Some("x".into())),
            ]
        );
        assert_eq!(parse_env_file("A B=1\n").unwrap_err().0, 1);
    }
}
