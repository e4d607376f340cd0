//! Docker's word expansion (buildkit's `shell.Lex`): `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:+alt}`, `${VAR+alt}`,
//! `${VAR:?msg}`, `${VAR#pat}`, `${VAR%pat}`, `${VAR/pat/repl}`, quotes and
//! the escape character.
//!
//! The builder expands words of ADD, ARG, COPY, ENV, EXPOSE, FROM, LABEL,
//! STOPSIGNAL, USER, VOLUME and WORKDIR with these rules; RUN, CMD and
//! ENTRYPOINT are left to the shell. The patterns of `#`, `%` and `/` are
//! `expand/pattern.rs`.

use pattern::{compile_shell_pattern, replace_pattern, trim_prefix, trim_suffix};

mod pattern;

/// An ordered set of variables: the environment a word is expanded in.
/// Setting an existing name replaces its value in place (docker's `addEnv`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Vars {
    entries: Vec<(String, String)>,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// From `KEY=VALUE` strings (an image config's `Env`); `KEY` alone is `KEY=`.
    pub fn from_env_list<S: AsRef<str>>(list: &[S]) -> Vars {
        let mut vars = Vars::new();
        for item in list {
            let item = item.as_ref();
            match item.split_once('=') {
                Some((k, v)) => vars.set(k, v),
                None => vars.set(item, ""),
            }
        }
        vars
    }

    /// `KEY=VALUE` strings, in order.
    pub fn to_env_list(&self) -> Vec<String> {
        self.entries
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| *k == name) {
            Some(entry) => entry.1 = value,
            None => self.entries.push((name, value)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.entries.retain(|(k, _)| k != name);
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Vars {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Vars {
        let mut vars = Vars::new();
        for (k, v) in iter {
            vars.set(k, v);
        }
        vars
    }
}

/// A word that could not be expanded, with docker's reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process {word:?}: {reason}")]
pub struct ExpandError {
    pub word: String,
    pub reason: String,
}

/// Expands one word the way docker's `ProcessWord` does: quotes are removed,
/// variables replaced, whitespace kept as it is.
pub fn expand_word(word: &str, env: &Vars, escape: char) -> Result<String, ExpandError> {
    Lexer::new(word, env, escape)
        .run()
        .map(|(w, _)| w)
        .map_err(|reason| ExpandError {
            word: word.to_string(),
            reason,
        })
}

/// Expands and then splits into words on unquoted whitespace, the way
/// docker's `ProcessWords` does (EXPOSE uses it: `EXPOSE $PORTS`).
pub fn expand_words(word: &str, env: &Vars, escape: char) -> Result<Vec<String>, ExpandError> {
    Lexer::new(word, env, escape)
        .run()
        .map(|(_, ws)| ws)
        .map_err(|reason| ExpandError {
            word: word.to_string(),
            reason,
        })
}

/// Expands variables in free text (a heredoc's body), keeping quotes and
/// escapes as written, as buildkit does with `RawQuotes` and `RawEscapes`.
pub fn expand_raw(text: &str, env: &Vars, escape: char) -> Result<String, ExpandError> {
    let mut lexer = Lexer::new(text, env, escape);
    lexer.raw_quotes = true;
    lexer
        .process_stop_on(None, true)
        .map(|(w, _)| w)
        .map_err(|reason| ExpandError {
            word: text.to_string(),
            reason,
        })
}

/// Whether a word contains anything expansion would change (a variable,
/// a quote or an escape).
pub fn is_literal(word: &str, escape: char) -> bool {
    expand_word(word, &Vars::new(), escape).is_ok_and(|w| w == word)
}

/// Word splitting state, as in buildkit's `wordsStruct`.
#[derive(Default)]
struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() && self.in_word {
            if !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else if !ch.is_whitespace() {
            self.add_raw_char(ch);
        }
    }

    fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    fn add_string(&mut self, s: &str) {
        for ch in s.chars() {
            self.add_char(ch);
        }
    }

    fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(std::mem::take(&mut self.word));
        }
        self.words
    }
}

struct Lexer<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a Vars,
    escape: char,
    raw_escapes: bool,
    /// Quotes are plain characters (heredoc bodies).
    raw_quotes: bool,
}

type LexResult<T> = Result<T, String>;

impl<'a> Lexer<'a> {
    fn new(word: &str, env: &'a Vars, escape: char) -> Lexer<'a> {
        Lexer {
            chars: word.chars().collect(),
            pos: 0,
            env,
            escape,
            raw_escapes: false,
            raw_quotes: false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    fn run(mut self) -> LexResult<(String, Vec<String>)> {
        self.process_stop_on(None, false)
    }

    fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> LexResult<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_stop_on_inner(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_stop_on_inner(&mut self, stop: Option<char>) -> LexResult<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if stop == Some(ch) {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '$' => {
                    let tmp = self.process_dollar()?;
                    result.push_str(&tmp);
                    words.add_string(&tmp);
                }
                '\'' | '"' if self.raw_quotes => {
                    self.next();
                    result.push(ch);
                    words.add_char(ch);
                }
                '\'' => {
                    let tmp = self.process_single_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                '"' => {
                    let tmp = self.process_double_quote()?;
                    result.push_str(&tmp);
                    words.add_raw_string(&tmp);
                }
                _ => {
                    self.next();
                    let mut ch = ch;
                    if ch == self.escape {
                        if self.raw_escapes {
                            words.add_raw_char(ch);
                            result.push(ch);
                        }
                        match self.next() {
                            None => break,
                            Some(c) => {
                                ch = c;
                                words.add_raw_char(ch);
                            }
                        }
                    } else {
                        words.add_char(ch);
                    }
                    result.push(ch);
                }
            }
        }
        if let Some(stop) = stop {
            return Err(format!(
                "unexpected end of statement while looking for matching {stop}"
            ));
        }
        Ok((result, words.finish()))
    }

    fn process_single_quote(&mut self) -> LexResult<String> {
        self.next();
        let mut result = String::new();
        loop {
            match self.next() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching single-quote"
                            .into(),
                    )
                }
                Some('\'') => return Ok(result),
                Some(c) => result.push(c),
            }
        }
    }

    fn process_double_quote(&mut self) -> LexResult<String> {
        self.next();
        let mut result = String::new();
        loop {
            match self.peek() {
                None => {
                    return Err(
                        "unexpected end of statement while looking for matching double-quote"
                            .into(),
                    )
                }
                Some('"') => {
                    self.next();
                    return Ok(result);
                }
                Some('$') => {
                    let v = self.process_dollar()?;
                    result.push_str(&v);
                }
                Some(_) => {
                    let mut ch = self.next().unwrap_or_default();
                    if ch == self.escape {
                        if self.raw_escapes {
                            result.push(ch);
                        }
                        match self.peek() {
                            None => continue,
                            Some(c) if c == '"' || c == '$' || c == self.escape => {
                                self.next();
                                ch = c;
                            }
                            Some(_) => {}
                        }
                    }
                    result.push(ch);
                }
            }
        }
    }

    fn process_dollar(&mut self) -> LexResult<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.process_name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.env.get(&name).unwrap_or_default().to_string());
        }
        self.next();
        match self.peek() {
            None => return Err("syntax error: missing '}'".into()),
            Some('{') | Some('}') | Some(':') => {
                return Err("syntax error: bad substitution".into())
            }
            _ => {}
        }
        let name = self.process_name();
        let first = self.next();
        let mut modifier = first.map(String::from).unwrap_or_default();
        match first {
            None => Err("syntax error: missing '}'".into()),
            Some('}') => Ok(self.env.get(&name).unwrap_or_default().to_string()),
            Some(':') | Some('+') | Some('-') | Some('?') | Some('#') | Some('%') => {
                let null_is_unset = first == Some(':');
                let op = if null_is_unset {
                    let c = self.next();
                    if let Some(c) = c {
                        modifier.push(c);
                    }
                    c
                } else {
                    first
                };
                let raw = matches!(op, Some('#') | Some('%'));
                let word = match self.process_stop_on(Some('}'), raw) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let value = self.env.get(&name);
                let unset = value.is_none() || (null_is_unset && value == Some(""));
                match op {
                    Some('-') => Ok(if unset {
                        word
                    } else {
                        value.unwrap_or_default().to_string()
                    }),
                    Some('+') => Ok(if unset { String::new() } else { word }),
                    Some('?') => match value {
                        None => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be unset"
                            } else {
                                &word
                            }
                        )),
                        Some("") if null_is_unset => Err(format!(
                            "{name}: {}",
                            if word.is_empty() {
                                "is not allowed to be empty"
                            } else {
                                &word
                            }
                        )),
                        Some(v) => Ok(v.to_string()),
                    },
                    Some(c @ ('#' | '%')) => {
                        let (greedy, pattern) = match word.strip_prefix(c) {
                            Some(rest) => (true, rest.to_string()),
                            None => (false, word),
                        };
                        let tokens = compile_shell_pattern(&pattern)?;
                        let value: Vec<char> = value.unwrap_or_default().chars().collect();
                        Ok(if c == '%' {
                            trim_suffix(&tokens, &value, greedy)
                        } else {
                            trim_prefix(&tokens, &value, greedy)
                        })
                    }
                    _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
                }
            }
            Some('/') => {
                let all = self.peek() == Some('/');
                if all {
                    self.next();
                }
                let pattern = match self.process_stop_on(Some('/'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '/' in ${}".into());
                        }
                        return Err(e);
                    }
                };
                let replacement = match self.process_stop_on(Some('}'), true) {
                    Ok((w, _)) => w,
                    Err(e) => {
                        if self.peek().is_none() {
                            return Err("syntax error: missing '}'".into());
                        }
                        return Err(e);
                    }
                };
                let tokens = compile_shell_pattern(&pattern)?;
                let value: Vec<char> = self.env.get(&name).unwrap_or_default().chars().collect();
                Ok(replace_pattern(&tokens, &value, &replacement, all))
            }
            _ => Err(format!("unsupported modifier ({modifier}) in substitution")),
        }
    }

    fn process_name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_numeric() {
                while let Some(c) = self.peek() {
                    if !c.is_numeric() {
                        break;
                    }
                    self.next();
                    name.push(c);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vars {
        [
            ("NAME", "world"),
            ("EMPTY", ""),
            ("NODE_VERSION", "20.11.1"),
            ("PATH", "/usr/local/bin:/usr/bin:/bin"),
            ("SPACED", "a b  c"),
        ]
        .into_iter()
        .collect()
    }

    fn x(word: &str) -> String {
        expand_word(word, &env(), '\\').unwrap()
    }

    #[test]
    fn plain_and_braced_variables() {
        assert_eq!(x("hello $NAME"), "hello world");
        assert_eq!(x("hello ${NAME}!"), "hello world!");
        assert_eq!(x("$NAME$NAME"), "worldworld");
        assert_eq!(x("/opt/node-v$NODE_VERSION/bin"), "/opt/node-v20.11.1/bin");
        assert_eq!(x("${NAME}_x"), "world_x");
        assert_eq!(x("$NAME_x"), "", "NAME_x is one (unset) name");
        assert_eq!(x("$UNKNOWN|${UNKNOWN}"), "|");
        assert_eq!(x("cost: $"), "cost: $");
        assert_eq!(x("a$-b"), "ab", "special parameters expand to nothing");
        assert_eq!(x("$1x"), "x");
    }

    #[test]
    fn modifiers_follow_docker() {
        assert_eq!(x("${NAME:-def}"), "world");
        assert_eq!(x("${EMPTY:-def}"), "def");
        assert_eq!(x("${UNSET:-def}"), "def");
        assert_eq!(
            x("${EMPTY-def}"),
            "",
            "without ':' an empty value counts as set"
        );
        assert_eq!(x("${UNSET-def}"), "def");
        assert_eq!(x("${NAME:+alt}"), "alt");
        assert_eq!(x("${EMPTY:+alt}"), "");
        assert_eq!(x("${EMPTY+alt}"), "alt");
        assert_eq!(x("${UNSET+alt}"), "");
        assert_eq!(
            x("${UNSET:-${NAME}}"),
            "world",
            "nested expansion in the default"
        );
        assert_eq!(x("${UNSET:-a b}"), "a b");
        assert_eq!(x("${NAME:?}"), "world");
        let e = expand_word("${UNSET:?must be set}", &env(), '\\').unwrap_err();
        assert_eq!(e.reason, "UNSET: must be set");
        let e = expand_word("${EMPTY:?}", &env(), '\\').unwrap_err();
        assert_eq!(e.reason, "EMPTY: is not allowed to be empty");
        assert_eq!(x("${EMPTY?}"), "");
    }

    #[test]
    fn pattern_modifiers() {
        assert_eq!(x("${NODE_VERSION%.*}"), "20.11");
        assert_eq!(x("${NODE_VERSION%%.*}"), "20");
        assert_eq!(x("${NODE_VERSION#*.}"), "11.1");
        assert_eq!(x("${NODE_VERSION##*.}"), "1");
        assert_eq!(x("${PATH/bin/BIN}"), "/usr/local/BIN:/usr/bin:/bin");
        assert_eq!(x("${PATH//bin/BIN}"), "/usr/local/BIN:/usr/BIN:/BIN");
        assert_eq!(x("${NAME/o?/0}"), "w0ld");
        assert_eq!(x("${NAME#nomatch}"), "world");
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x(r#""a b""#), "a b");
        assert_eq!(x(r#""hello $NAME""#), "hello world");
        assert_eq!(
            x("'hello $NAME'"),
            "hello $NAME",
            "single quotes suppress expansion"
        );
        assert_eq!(x(r"\$NAME"), "$NAME", "an escaped $ stays literal");
        assert_eq!(x(r#""\$NAME""#), "$NAME");
        assert_eq!(x(r#""a\"b""#), r#"a"b"#);
        assert_eq!(
            x(r#""a\nb""#),
            r"a\nb",
            "inside double quotes other escapes stay"
        );
        assert_eq!(x(r"a\ b"), "a b");
        assert_eq!(x(r"C:\\dir"), r"C:\dir");
        assert_eq!(x(r"abc\"), "abc", "a trailing escape is dropped");
        assert_eq!(x(r#"it's"#.replace('\'', "\\'").as_str()), "it's");
        assert_eq!(expand_word("`$NAME", &env(), '`').unwrap(), "$NAME");
        assert_eq!(expand_word(r"C:\dir", &env(), '`').unwrap(), r"C:\dir");
    }

    #[test]
    fn errors() {
        for (w, why) in [
            (
                "\"abc",
                "unexpected end of statement while looking for matching double-quote",
            ),
            (
                "'abc",
                "unexpected end of statement while looking for matching single-quote",
            ),
            ("${NAME", "syntax error: missing '}'"),
            ("${}", "syntax error: bad substitution"),
            ("${:-x}", "syntax error: bad substitution"),
            ("${NAME:-x", "syntax error: missing '}'"),
            ("${NAME^^}", "unsupported modifier (^) in substitution"),
            ("${NAME:=x}", "unsupported modifier (:=) in substitution"),
        ] {
            let e = expand_word(w, &env(), '\\').unwrap_err();
            assert_eq!(e.reason, why, "{w}");
            assert_eq!(e.to_string(), format!("failed to process {w:?}: {why}"));
        }
    }

    #[test]
    fn word_splitting() {
        let ws = |w: &str| expand_words(w, &env(), '\\').unwrap();
        assert_eq!(ws("80 443/tcp"), ["80", "443/tcp"]);
        assert_eq!(ws("$SPACED"), ["a", "b", "c"]);
        assert_eq!(ws("\"$SPACED\" x"), ["a b  c", "x"]);
        assert_eq!(ws(r"a\ b c"), ["a b", "c"]);
        assert_eq!(ws("  "), Vec::<String>::new());
        assert_eq!(ws("\"\""), Vec::<String>::new());
    }

    #[test]
    fn vars_keep_order_and_replace_in_place() {
        let mut v = Vars::from_env_list(&["PATH=/bin", "A=1", "B"]);
        v.set("A", "2");
        v.set("C", "3");
        assert_eq!(v.to_env_list(), ["PATH=/bin", "A=2", "B=", "C=3"]);
        v.remove("PATH");
        assert_eq!(v.len(), 3);
        assert!(v.contains("B") && !v.contains("PATH"));
        assert!(is_literal("plain/path", '\\'));
        assert!(!is_literal("$X", '\\'));
        assert!(!is_literal("\"q\"", '\\'));
    }
}
