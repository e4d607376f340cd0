//! `/proc/<pid>/stat`, read one way for everyone: is a process alive (not
//! a zombie), is it the one we started (its start time), and what `top`
//! shows. The command name (field 2) may hold spaces and parentheses, so
//! fields are split after its last `)`.

/// The fields of one `/proc/<pid>/stat`, numbered as in proc(5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 3 onwards.
    rest: Vec<String>,
}

impl Stat {
    /// Parse the text of a stat file.
    pub fn parse(text: &str) -> Option<Stat> {
        let rest = text.get(text.rfind(')')? + 1..)?;
        let rest: Vec<String> = rest.split_whitespace().map(str::to_string).collect();
        (!rest.is_empty()).then_some(Stat { rest })
    }

    /// Field `n` (1-based, as proc(5) numbers them; 3 or more).
    pub fn field(&self, n: usize) -> Option<&str> {
        self.rest.get(n.checked_sub(3)?).map(String::as_str)
    }

    /// Field `n` as a number, 0 if missing or not a number.
    pub fn num(&self, n: usize) -> u64 {
        self.field(n).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Field 3: R, S, D, Z, X, …
    pub fn state(&self) -> char {
        self.field(3).and_then(|s| s.chars().next()).unwrap_or('?')
    }

    /// Exited (a zombie not yet reaped, or dead).
    pub fn exited(&self) -> bool {
        matches!(self.state(), 'Z' | 'X')
    }

    /// Field 4.
    pub fn ppid(&self) -> i32 {
        self.field(4).and_then(|v| v.parse().ok()).unwrap_or(0)
    }

    /// Field 22: when the process started, in clock ticks after boot.
    pub fn start_time(&self) -> Option<u64> {
        self.field(22)?.parse().ok()
    }
}

/// `/proc/<pid>/stat`, `None` if there is no such process.
pub fn stat(pid: i64) -> Option<Stat> {
    Stat::parse(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_with_spaces_and_parentheses() {
        let text = "42 (a) b) (c) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 0 0 20 0 1 0 12345 1000 50";
        let s = Stat::parse(text).unwrap();
        assert_eq!(s.state(), 'S');
        assert_eq!(s.ppid(), 1);
        assert_eq!(s.num(14) + s.num(15), 10);
        assert_eq!(s.start_time(), Some(12345));
        assert!(!s.exited());
        assert!(Stat::parse("42 (x) Z 1").unwrap().exited());
        assert_eq!(Stat::parse("garbage"), None);
    }

    #[test]
    fn this_process() {
        let s = stat(std::process::id() as i64).unwrap();
        assert!(!s.exited());
        assert!(s.start_time().is_some_and(|t| t > 0));
        assert_eq!(s.ppid() as u32, std::os::unix::process::parent_id());
    }
}
