//! Splitting an instruction's arguments as buildkit does: `--flags`, shell
//! words with their quotes kept, `key=value` pairs.

use super::KeyValue;

pub(super) fn is_go_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\u{b}' | '\u{c}' | '\r')
}

pub(super) fn split_whitespace_go(s: &str) -> Vec<String> {
    s.split(is_go_space)
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// `--name=value` flags at the start of an instruction's arguments, as
/// buildkit's `extractBuilderFlags` reads them (quotes allowed in values).
pub(super) fn extract_flags(line: &str) -> (Vec<String>, String) {
    let chars: Vec<char> = line.chars().collect();
    let mut words = Vec::new();
    let mut pos = 0;
    loop {
        while pos < chars.len() && chars[pos].is_whitespace() {
            pos += 1;
        }
        if pos >= chars.len() {
            return (words, String::new());
        }
        if !(chars[pos] == '-' && chars.get(pos + 1) == Some(&'-')) {
            return (words, chars[pos..].iter().collect());
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        let mut blank_ok = false;
        while pos < chars.len() {
            let c = chars[pos];
            match quote {
                None if c.is_whitespace() => break,
                None if c == '\'' || c == '"' => {
                    quote = Some(c);
                    blank_ok = true;
                }
                Some(q) if c == q => quote = None,
                _ if c == '\\' => {
                    if pos + 1 < chars.len() {
                        pos += 1;
                        word.push(chars[pos]);
                    }
                }
                _ => word.push(c),
            }
            pos += 1;
        }
        if word == "--" {
            return (
                words,
                chars[pos..]
                    .iter()
                    .collect::<String>()
                    .trim_start()
                    .to_string(),
            );
        }
        if blank_ok || !word.is_empty() {
            words.push(word);
        }
    }
}

/// Parsed `--flags` of one instruction.
pub(super) struct Flags {
    instruction: &'static str,
    pub(super) values: Vec<(String, Option<String>)>,
}

impl Flags {
    pub(super) fn parse(
        instruction: &'static str,
        words: &[String],
        allowed: &[&str],
        unsupported: &[&str],
    ) -> Result<Flags, String> {
        Flags::parse_multi(instruction, words, allowed, unsupported, &[])
    }

    /// [`Flags::parse`] where the flags in `repeatable` may be given more than once.
    pub(super) fn parse_multi(
        instruction: &'static str,
        words: &[String],
        allowed: &[&str],
        unsupported: &[&str],
        repeatable: &[&str],
    ) -> Result<Flags, String> {
        let mut values: Vec<(String, Option<String>)> = Vec::new();
        for w in words {
            let w = w.strip_prefix("--").unwrap_or(w).to_string();
            let (name, value) = match w.split_once('=') {
                Some((n, v)) => (n.to_string(), Some(v.to_string())),
                None => (w, None),
            };
            if unsupported.contains(&name.as_str()) {
                return Err(format!("{instruction} --{name} is not supported"));
            }
            if !allowed.contains(&name.as_str()) {
                return Err(format!("unknown flag: --{name} (on {instruction})"));
            }
            if !repeatable.contains(&name.as_str()) && values.iter().any(|(n, _)| *n == name) {
                return Err(format!("duplicate flag specified: --{name}"));
            }
            values.push((name, value));
        }
        Ok(Flags {
            instruction,
            values,
        })
    }

    pub(super) fn string(&self, name: &str) -> Result<Option<String>, String> {
        match self.values.iter().find(|(n, _)| n == name) {
            None => Ok(None),
            Some((_, Some(v))) => Ok(Some(v.clone())),
            Some((_, None)) => Err(format!(
                "missing a value on flag: --{name} (write --{name}=VALUE)"
            )),
        }
    }

    pub(super) fn boolean(&self, name: &str) -> Result<bool, String> {
        match self.values.iter().find(|(n, _)| n == name) {
            None => Ok(false),
            Some((_, None)) => Ok(true),
            Some((_, Some(v))) => match v.to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(format!(
                    "expecting a boolean value for flag --{name} on {}, not: {v}",
                    self.instruction
                )),
            },
        }
    }
}

/// Splits on whitespace outside quotes, keeping the quotes.
pub(super) fn shell_words_raw(line: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut quote: Option<char> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                word.push(c);
            }
            Some(_) => word.push(c),
            None if c == '\\' => {
                word.push(c);
                if let Some(n) = chars.next() {
                    word.push(n);
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                word.push(c);
            }
            None if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            None => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    words
}

/// buildkit's `parseWords`: splits on whitespace outside quotes; quotes and
/// escapes stay in the words (expansion removes them later).
pub(super) fn parse_words(rest: &str, escape: char) -> Vec<String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if !in_word {
            if c.is_whitespace() {
                continue;
            }
            in_word = true;
        }
        match quote {
            None => {
                if c.is_whitespace() {
                    if blank_ok || !word.is_empty() {
                        words.push(std::mem::take(&mut word));
                    }
                    in_word = false;
                    blank_ok = false;
                    continue;
                }
                if c == '\'' || c == '"' {
                    quote = Some(c);
                    blank_ok = true;
                }
                if c == escape {
                    if i == chars.len() {
                        continue;
                    }
                    word.push(c);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(c);
            }
            Some(q) => {
                if c == q {
                    quote = None;
                }
                if c == escape && q != '\'' {
                    if i == chars.len() {
                        quote = None;
                        continue;
                    }
                    word.push(c);
                    word.push(chars[i]);
                    i += 1;
                    continue;
                }
                word.push(c);
            }
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV and LABEL: `key value` (legacy) or `k=v k2="v 2"`.
pub(super) fn parse_name_val(
    rest: &str,
    name: &str,
    escape: char,
) -> Result<Vec<KeyValue>, String> {
    let words = parse_words(rest, escape);
    if words.is_empty() {
        return Err(format!("{name} needs at least one argument"));
    }
    if !words[0].contains('=') {
        let Some(i) = rest.find(is_go_space) else {
            return Err(format!(
                "{name} must have two arguments ({name} key value or {name} key=value)"
            ));
        };
        let key = &rest[..i];
        let value = rest[i..].trim_start_matches(is_go_space);
        return Ok(vec![KeyValue {
            key: key.to_string(),
            value: value.to_string(),
        }]);
    }
    let mut out = Vec::new();
    for w in words {
        let Some((k, v)) = w.split_once('=') else {
            return Err(format!(
                "syntax error - can't find = in {w:?}. Must be of the form: name=value"
            ));
        };
        if k.is_empty() {
            return Err(format!("{name} names can not be blank"));
        }
        out.push(KeyValue {
            key: k.to_string(),
            value: v.to_string(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_keep_quotes_for_expansion() {
        assert_eq!(
            parse_words(r#"A="a b" B='c d' C=e\ f"#, '\\'),
            [r#"A="a b""#, "B='c d'", r"C=e\ f"]
        );
        assert_eq!(parse_words(r#"A="" B"#, '\\'), [r#"A="""#, "B"]);
        assert_eq!(parse_words("  x   y  ", '\\'), ["x", "y"]);
    }
}
