//! `.dockerignore` with docker's semantics (moby `patternmatcher` and
//! `ignorefile`): one pattern a line, `#` comments, `!` exceptions, the last
//! matching pattern wins, `**` spans any number of directories, and a pattern
//! that matches a directory excludes everything under it.
//!
//! The Dockerfile and `.dockerignore` themselves are never excluded: docker
//! always sends them, whatever the patterns say.

/// A parse error in a `.dockerignore`, with its 1-based line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(".dockerignore:{line}: {message}")]
pub struct IgnoreError {
    pub line: usize,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Lit(char),
    /// `?`: one character other than `/`
    One,
    /// `*`: any run of characters other than `/`
    Star,
    /// `**` followed by more pattern: `(.*/)?`
    DirStar,
    /// `**` at the end: `.*`
    AnyTail,
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Exact,
    /// the pattern minus its trailing `**` is a prefix of the path
    Prefix(String),
    /// the pattern minus its leading `**` is a suffix of the path
    Suffix(String),
    Glob(Vec<Tok>),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    text: String,
    exclusion: bool,
    kind: Kind,
}

/// The patterns of a `.dockerignore`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DockerIgnore {
    patterns: Vec<Pattern>,
    /// paths that are always sent: `.dockerignore` and the Dockerfile
    keep: Vec<String>,
}

impl DockerIgnore {
    /// Parses the text of a `.dockerignore`.
    pub fn parse(text: &str) -> Result<DockerIgnore, IgnoreError> {
        let mut ignore = DockerIgnore::default();
        for (i, raw) in text.split('\n').enumerate() {
            let line = i + 1;
            let mut raw = raw.strip_suffix('\r').unwrap_or(raw);
            if i == 0 {
                raw = raw.strip_prefix('\u{feff}').unwrap_or(raw);
            }
            // like moby's ignorefile: a comment is a '#' in the first column
            if raw.starts_with('#') {
                continue;
            }
            let mut p = raw.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let mut cleaned = if p.is_empty() {
                String::new()
            } else {
                clean_path(p)
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            if exclusion && cleaned.is_empty() {
                return Err(IgnoreError {
                    line,
                    message: "illegal exclusion pattern: \"!\"".into(),
                });
            }
            let kind = compile(&cleaned).map_err(|message| IgnoreError {
                line,
                message: format!("{message} in pattern {cleaned:?}"),
            })?;
            ignore.patterns.push(Pattern {
                text: cleaned,
                exclusion,
                kind,
            });
        }
        Ok(ignore)
    }

    /// Names the Dockerfile in use (relative to the context, e.g.
    /// `docker/api.Dockerfile`, from `-f`): it is sent even when a pattern
    /// matches it, in place of the default `Dockerfile`.
    pub fn with_dockerfile(mut self, rel_path: &str) -> DockerIgnore {
        self.keep = vec![".dockerignore".into(), normalize(rel_path)];
        self
    }

    /// The patterns as docker cleaned them, exceptions with their `!`.
    pub fn patterns(&self) -> Vec<String> {
        self.patterns
            .iter()
            .map(|p| {
                if p.exclusion {
                    format!("!{}", p.text)
                } else {
                    p.text.clone()
                }
            })
            .collect()
    }

    /// Whether any pattern is an exception (`!pattern`).
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }

    /// Whether a path (relative to the context, `/`-separated) is left out of
    /// the context sent to the build.
    pub fn is_excluded(&self, rel_path: &str) -> bool {
        let path = normalize(rel_path);
        if path == "." || path.is_empty() || self.keep.contains(&path) {
            return false;
        }
        // moby's MatchesOrParentMatches
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for p in &self.patterns {
            if p.exclusion != matched {
                continue;
            }
            let mut m = p.matches(&path);
            if !m {
                for i in 1..=parents.len() {
                    if p.matches(&parents[..i].join("/")) {
                        m = true;
                        break;
                    }
                }
            }
            if m {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// Whether something under directory `rel_dir` could be sent even though
    /// `rel_dir` itself is excluded: an exception pattern could match a path
    /// inside it, or a kept file (the Dockerfile) lives there. A context walker
    /// may skip an excluded directory only when this is false.
    pub fn may_include_under(&self, rel_dir: &str) -> bool {
        let dir = normalize(rel_dir);
        if dir == "." || dir.is_empty() {
            return true;
        }
        let prefix = format!("{dir}/");
        if self.keep.iter().any(|k| k.starts_with(&prefix)) {
            return true;
        }
        self.patterns
            .iter()
            .filter(|p| p.exclusion)
            .any(|p| p.could_match_under(&dir))
    }
}

impl Pattern {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(prefix) => path.starts_with(prefix.as_str()),
            Kind::Suffix(suffix) => {
                path.ends_with(suffix.as_str())
                    || suffix.strip_prefix('/').is_some_and(|s| path == s)
            }
            Kind::Glob(toks) => {
                let chars: Vec<char> = path.chars().collect();
                let end = run(toks, &chars);
                end.contains(&State::At(toks.len()))
            }
        }
    }

    /// Could this pattern match `dir` itself, one of its parents, or some
    /// path below it?
    fn could_match_under(&self, dir: &str) -> bool {
        let mut ancestors = vec![dir.to_string()];
        let mut d = dir;
        while let Some(i) = d.rfind('/') {
            d = &d[..i];
            ancestors.push(d.to_string());
        }
        if ancestors.iter().any(|a| self.matches(a)) {
            return true;
        }
        let below = format!("{dir}/");
        match &self.kind {
            Kind::Exact => self.text.starts_with(&below),
            Kind::Prefix(prefix) => {
                prefix.starts_with(&below) || below.starts_with(prefix.as_str())
            }
            Kind::Suffix(_) => true,
            Kind::Glob(toks) => {
                let chars: Vec<char> = below.chars().collect();
                !run(toks, &chars).is_empty()
            }
        }
    }
}

/// A position in a glob pattern: before token `i`, or inside the `.*` part
/// of the `(.*/)?` of token `i`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    At(usize),
    InDirStar(usize),
}

fn closure(toks: &[Tok], states: &mut Vec<State>) {
    let mut i = 0;
    while i < states.len() {
        if let State::At(t) = states[i] {
            let extra: &[State] = match toks.get(t) {
                Some(Tok::Star) | Some(Tok::AnyTail) => &[State::At(t + 1)],
                Some(Tok::DirStar) => &[State::At(t + 1), State::InDirStar(t)],
                _ => &[],
            };
            for s in extra {
                if !states.contains(s) {
                    states.push(*s);
                }
            }
        }
        i += 1;
    }
}

/// Runs the pattern over `input`; returns the states alive at the end.
fn run(toks: &[Tok], input: &[char]) -> Vec<State> {
    let mut states = vec![State::At(0)];
    closure(toks, &mut states);
    for &c in input {
        let mut next = Vec::new();
        let mut push = |s: State| {
            if !next.contains(&s) {
                next.push(s);
            }
        };
        for &s in &states {
            match s {
                State::InDirStar(t) => {
                    push(State::InDirStar(t));
                    if c == '/' {
                        push(State::At(t + 1));
                    }
                }
                State::At(t) => match toks.get(t) {
                    Some(Tok::Lit(l)) if *l == c => push(State::At(t + 1)),
                    Some(Tok::One) if c != '/' => push(State::At(t + 1)),
                    Some(Tok::Star) if c != '/' => push(State::At(t)),
                    Some(Tok::AnyTail) => push(State::At(t)),
                    Some(Tok::Class { negated, ranges }) => {
                        let inside = ranges.iter().any(|&(lo, hi)| lo <= c && c <= hi);
                        if inside != *negated {
                            push(State::At(t + 1));
                        }
                    }
                    _ => {}
                },
            }
        }
        closure(toks, &mut next);
        states = next;
        if states.is_empty() {
            break;
        }
    }
    states
}

/// moby's `Pattern.compile`: decides how a pattern matches (exactly, by
/// prefix, by suffix, or as a glob), the last decision winning as there.
fn compile(pattern: &str) -> Result<Kind, String> {
    #[derive(PartialEq)]
    enum Detected {
        Exact,
        Prefix,
        Suffix,
        Glob,
    }
    let chars: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut detected = Detected::Exact;
    let mut i = 0;
    let mut first = true;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    detected = if detected == Detected::Exact {
                        Detected::Prefix
                    } else {
                        Detected::Glob
                    };
                    toks.push(Tok::AnyTail);
                } else {
                    detected = Detected::Glob;
                    toks.push(Tok::DirStar);
                }
                if first {
                    detected = Detected::Suffix;
                }
            }
            '*' => {
                detected = Detected::Glob;
                toks.push(Tok::Star);
            }
            '?' => {
                detected = Detected::Glob;
                toks.push(Tok::One);
            }
            '\\' => match chars.get(i) {
                Some(&n) => {
                    i += 1;
                    detected = Detected::Glob;
                    toks.push(Tok::Lit(n));
                }
                None => return Err("syntax error (a trailing backslash)".into()),
            },
            '[' => {
                detected = Detected::Glob;
                let (tok, next) = parse_class(&chars, i)?;
                toks.push(tok);
                i = next;
            }
            ']' => {
                detected = Detected::Glob;
                toks.push(Tok::Lit(']'));
            }
            _ => toks.push(Tok::Lit(c)),
        }
        first = false;
    }
    Ok(match detected {
        Detected::Exact => Kind::Exact,
        // `**` is two ASCII bytes
        Detected::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Detected::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Detected::Glob => Kind::Glob(toks),
    })
}

/// Parses a `[...]` class starting after the `[`; returns the token and the
/// index after the closing `]`.
fn parse_class(chars: &[char], mut i: usize) -> Result<(Tok, usize), String> {
    let negated = chars.get(i) == Some(&'^');
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let Some(&c) = chars.get(i) else {
            return Err("syntax error (an unclosed '[')".into());
        };
        i += 1;
        if c == ']' && !first {
            break;
        }
        first = false;
        let lo = if c == '\\' {
            let Some(&n) = chars.get(i) else {
                return Err("syntax error (an unclosed '[')".into());
            };
            i += 1;
            n
        } else {
            c
        };
        let mut hi = lo;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            i += 1;
            let mut h = chars[i];
            i += 1;
            if h == '\\' {
                let Some(&n) = chars.get(i) else {
                    return Err("syntax error (an unclosed '[')".into());
                };
                i += 1;
                h = n;
            }
            if h < lo {
                return Err(format!("syntax error (a bad range {lo}-{h})"));
            }
            hi = h;
        }
        ranges.push((lo, hi));
    }
    Ok((Tok::Class { negated, ranges }, i))
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn clean_path(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// A path relative to the context: cleaned, without a leading `/` or `./`.
fn normalize(path: &str) -> String {
    let c = clean_path(path);
    match c.strip_prefix('/') {
        Some("") => ".".into(),
        Some(rest) => rest.to_string(),
        None => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> DockerIgnore {
        DockerIgnore::parse(text).unwrap()
    }

    #[test]
    fn node_project() {
        let i = ig("# build context for the API\nnode_modules\n**/*.log\n!important.log\n/build\n*.md\n!README.md\n.git\n");
        assert!(i.is_excluded("node_modules"));
        assert!(i.is_excluded("node_modules/express/index.js"));
        assert!(
            !i.is_excluded("src/node_modules/x.js"),
            "a plain name matches at the root only"
        );
        assert!(i.is_excluded("npm-debug.log"));
        assert!(i.is_excluded("logs/deep/app.log"));
        assert!(!i.is_excluded("important.log"));
        assert!(
            i.is_excluded("logs/important.log"),
            "!important.log re-includes the root file only"
        );
        assert!(i.is_excluded("build"));
        assert!(i.is_excluded("build/server.js"));
        assert!(!i.is_excluded("src/build/x.js"));
        assert!(i.is_excluded("CHANGELOG.md"));
        assert!(!i.is_excluded("README.md"));
        assert!(
            !i.is_excluded("docs/guide.md"),
            "*.md does not cross directories"
        );
        assert!(i.is_excluded(".git/HEAD"));
        assert!(!i.is_excluded("src/server.ts"));
        assert!(!i.is_excluded("package.json"));
        assert!(!i.is_excluded("./package.json"));
        assert!(i.is_excluded("./node_modules/a"));
        assert!(i.is_excluded("/node_modules"));
    }

    #[test]
    fn last_match_wins() {
        let i = ig("*.log\n!important.log\nimportant.log\n");
        assert!(i.is_excluded("important.log"));
        let i = ig("!keep.txt\n*\n");
        assert!(
            i.is_excluded("keep.txt"),
            "an exception before the pattern does nothing"
        );
        let i = ig("*\n!src\n");
        assert!(!i.is_excluded("src"));
        assert!(!i.is_excluded("src/index.js"));
        assert!(i.is_excluded("package.json"));
    }

    #[test]
    fn double_star() {
        let i = ig("**/dist\n");
        assert!(i.is_excluded("dist"));
        assert!(i.is_excluded("a/b/dist"));
        assert!(i.is_excluded("a/b/dist/c.js"));
        assert!(!i.is_excluded("a/b/xdist"));
        let i = ig("src/**/test\n");
        assert!(i.is_excluded("src/test/a"));
        assert!(i.is_excluded("src/a/b/test"));
        assert!(!i.is_excluded("lib/test"));
        let i = ig("tmp/**\n");
        assert!(i.is_excluded("tmp/a/b"));
        assert!(
            !i.is_excluded("tmp"),
            "tmp/** matches what is under tmp, not tmp"
        );
        let i = ig("**\n!keep\n");
        assert!(i.is_excluded("anything/at/all"));
        assert!(!i.is_excluded("keep"));
        let i = ig("**/*.js\n");
        assert!(i.is_excluded("a.js") && i.is_excluded("x/y/a.js") && !i.is_excluded("a.json"));
    }

    #[test]
    fn wildcards_and_classes() {
        let i = ig("file?.txt\n[abc].md\n[^x]y\nlog[0-9]\n*/temp*\n");
        assert!(
            i.is_excluded("file1.txt")
                && !i.is_excluded("file12.txt")
                && !i.is_excluded("file/.txt")
        );
        assert!(i.is_excluded("a.md") && !i.is_excluded("d.md"));
        assert!(i.is_excluded("zy") && !i.is_excluded("xy"));
        assert!(i.is_excluded("log7") && !i.is_excluded("logx"));
        assert!(
            i.is_excluded("src/temporary") && !i.is_excluded("a/b/temp") && !i.is_excluded("temp")
        );
        assert!(ig(r"\*star").is_excluded("*star"));
        assert!(!ig(r"\*star").is_excluded("xstar"));
    }

    #[test]
    fn cleaning() {
        let i = ig("  ./dist/  \n/coverage\nsrc//gen/../generated\n");
        assert_eq!(i.patterns(), ["dist", "coverage", "src/generated"]);
        assert!(i.is_excluded("dist/a"));
        assert!(i.is_excluded("coverage/lcov.info"));
        assert!(i.is_excluded("src/generated/x"));
        let i = ig("\u{feff}node_modules\r\n  # not a comment when indented\r\n");
        assert_eq!(
            i.patterns(),
            ["node_modules", "# not a comment when indented"]
        );
        assert_eq!(ig("! dist\n").patterns(), ["!dist"]);
    }

    #[test]
    fn dockerfile_and_dockerignore_follow_the_patterns_like_buildkit() {
        // BuildKit reads the Dockerfile separately; COPY does not copy it
        // when .dockerignore lists it.
        let i = ig("Dockerfile\n.dockerignore\n");
        assert!(i.is_excluded("Dockerfile") && i.is_excluded(".dockerignore"));
        let i = ig("*.md\n");
        assert!(!i.is_excluded("Dockerfile"));
    }

    #[test]
    fn directories_that_may_hold_exceptions() {
        let i = ig("node_modules\n");
        assert!(!i.has_exceptions());
        assert!(!i.may_include_under("node_modules"));
        let i = ig("logs\n!logs/keep.log\n");
        assert!(i.is_excluded("logs"));
        assert!(!i.is_excluded("logs/keep.log"));
        assert!(i.is_excluded("logs/other.log"));
        assert!(i.may_include_under("logs"));
        assert!(!i.may_include_under("tmp"));
        let i = ig("*\n!**/package.json\n");
        assert!(i.may_include_under("packages/api"));
        assert!(!i.is_excluded("packages/api/package.json"));
        let i = ig("vendor\n!vendor/*/LICENSE\n");
        assert!(i.may_include_under("vendor"));
        assert!(i.may_include_under("vendor/lib"));
        assert!(!i.may_include_under("vendor/lib/sub"));
        assert!(!i.may_include_under("other"));
        let i = ig("a\n!a**\n");
        assert!(i.may_include_under("a"));
        assert!(!i.may_include_under("b"));
    }

    #[test]
    fn errors() {
        let e = DockerIgnore::parse("ok\n!\n").unwrap_err();
        assert_eq!(e.line, 2);
        assert_eq!(
            e.to_string(),
            ".dockerignore:2: illegal exclusion pattern: \"!\""
        );
        let e = DockerIgnore::parse("a\nb\n[abc\n").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(e.to_string().contains("unclosed '['"), "{e}");
        assert!(DockerIgnore::parse("[z-a]").is_err());
        assert!(DockerIgnore::parse("x\\").is_err());
    }

    #[test]
    fn go_clean() {
        for (i, o) in [
            ("", "."),
            ("a/b/../c", "a/c"),
            ("/../x", "/x"),
            ("../x", "../x"),
            ("./", "."),
            ("a//b/", "a/b"),
            ("/", "/"),
        ] {
            assert_eq!(clean_path(i), o, "{i}");
        }
    }
}
