//! Heredocs in RUN, COPY and ADD (Dockerfile 1.4): finding the `<<EOF`
//! markers in an instruction's words, and the rules for their bodies
//! (`<<-` strips leading tabs, a quoted delimiter turns expansion off).

/// One heredoc of an instruction, as read from the Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// The delimiter without quotes (`EOF`); for COPY the file's name.
    pub name: String,
    /// The body as written: every line up to the delimiter, each with its `\n`.
    pub content: String,
    /// False when the delimiter was quoted (`<<'EOF'`, `<<"EOF"`).
    pub expand: bool,
    /// `<<-EOF`: leading tabs are removed from the body and the delimiter line.
    pub chomp: bool,
}

impl Heredoc {
    /// The body with `<<-`'s tab stripping applied.
    pub fn body(&self) -> String {
        if self.chomp {
            chomp(&self.content)
        } else {
            self.content.clone()
        }
    }
}

/// A heredoc marker found in a word: `<<EOF`, `<<-EOF`, `<<"EOF"`, `2<<EOF`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Marker {
    pub name: String,
    pub expand: bool,
    pub chomp: bool,
}

/// Parses one shell word (quotes kept) as a heredoc marker, as buildkit's
/// `^(\d*)<<(-?)([^<]*)$` with the delimiter unquoted.
pub fn marker(word: &str) -> Option<Marker> {
    let rest = word.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    let raw = rest.trim();
    if raw.is_empty() || raw.contains('<') {
        return None;
    }
    let name = unquote(raw)?;
    if name.is_empty() {
        return None;
    }
    Some(Marker {
        expand: name == raw,
        name,
        chomp,
    })
}

/// Removes shell quotes and escapes from a delimiter; `None` if it is not
/// one word (an unclosed quote, or blanks outside quotes).
fn unquote(raw: &str) -> Option<String> {
    let mut out = String::new();
    let mut quote: Option<char> = None;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => out.push(c),
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '\\' => out.push(chars.next()?),
            None if c.is_whitespace() => return None,
            None => out.push(c),
        }
    }
    if quote.is_some() {
        return None;
    }
    Some(out)
}

/// The heredoc markers among an instruction's shell words, in order.
pub fn markers_in(words: &[String]) -> Vec<Marker> {
    words.iter().filter_map(|w| marker(w)).collect()
}

/// `<<-`: leading tabs removed from every line.
pub fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

/// Whether `line` ends the heredoc `m` (after `<<-`'s tab stripping).
pub fn is_terminator(line: &str, m: &Marker) -> bool {
    let l = line.trim_end_matches('\r');
    let l = if m.chomp {
        l.trim_start_matches('\t')
    } else {
        l
    };
    l == m.name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let m = marker("<<EOF").unwrap();
        assert_eq!((m.name.as_str(), m.expand, m.chomp), ("EOF", true, false));
        let m = marker("<<-EOT").unwrap();
        assert_eq!((m.name.as_str(), m.expand, m.chomp), ("EOT", true, true));
        let m = marker("<<'EOF'").unwrap();
        assert_eq!((m.name.as_str(), m.expand), ("EOF", false));
        let m = marker("<<\"file.txt\"").unwrap();
        assert_eq!((m.name.as_str(), m.expand), ("file.txt", false));
        assert_eq!(marker("2<<EOF").unwrap().name, "EOF");
        for not in ["<<", "<<<word", "a<<EOF", "<<'EOF", "echo", "<< "] {
            assert!(marker(not).is_none(), "{not}");
        }
    }

    #[test]
    fn chomp_and_terminators() {
        assert_eq!(chomp("\t\ta\n\tb\n c\n"), "a\nb\n c\n");
        let m = marker("<<-EOF").unwrap();
        assert!(is_terminator("\t\tEOF", &m));
        let m = marker("<<EOF").unwrap();
        assert!(!is_terminator("\tEOF", &m));
        assert!(is_terminator("EOF", &m));
        assert!(!is_terminator("EOF ", &m));
    }
}
