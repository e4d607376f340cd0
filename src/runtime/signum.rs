//! The one signal parser: docker's `signal.ParseSignal` rules, used by the
//! Dockerfile's `STOPSIGNAL`, `--stop-signal`-like options and the
//! supervisor alike. A number 1–64 or a name with or without `SIG`,
//! including the real-time signals (`RTMIN`, `RTMIN+3`, `RTMAX-1`), which
//! nix's `Signal` cannot name: hence a number, sent with [`super::sys::kill`].

use std::fmt;
use std::str::FromStr;

/// glibc's SIGRTMIN (the kernel's 32 and 33 are taken by the C library).
const RTMIN: i32 = 34;
const RTMAX: i32 = 64;

const NAMES: [(&str, i32); 35] = [
    ("ABRT", libc::SIGABRT),
    ("ALRM", libc::SIGALRM),
    ("BUS", libc::SIGBUS),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("FPE", libc::SIGFPE),
    ("HUP", libc::SIGHUP),
    ("ILL", libc::SIGILL),
    ("INT", libc::SIGINT),
    ("IO", libc::SIGIO),
    ("IOT", libc::SIGIOT),
    ("KILL", libc::SIGKILL),
    ("PIPE", libc::SIGPIPE),
    ("POLL", libc::SIGPOLL),
    ("PROF", libc::SIGPROF),
    ("PWR", libc::SIGPWR),
    ("QUIT", libc::SIGQUIT),
    ("SEGV", libc::SIGSEGV),
    ("STKFLT", libc::SIGSTKFLT),
    ("STOP", libc::SIGSTOP),
    ("SYS", libc::SIGSYS),
    ("TERM", libc::SIGTERM),
    ("TRAP", libc::SIGTRAP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("UNUSED", libc::SIGSYS),
    ("URG", libc::SIGURG),
    ("USR1", libc::SIGUSR1),
    ("USR2", libc::SIGUSR2),
    ("VTALRM", libc::SIGVTALRM),
    ("WINCH", libc::SIGWINCH),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
];

/// A signal number 1–64, parsed from docker's spellings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signum(i32);

/// A signal skiff cannot name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal: {0} (expected a name such as SIGTERM, SIGRTMIN+3, or a number 1-64)")]
pub struct BadSignal(pub String);

impl Signum {
    pub const TERM: Signum = Signum(libc::SIGTERM);
    pub const KILL: Signum = Signum(libc::SIGKILL);

    pub fn raw(self) -> i32 {
        self.0
    }

    /// nix's value, for the signals it knows (not the real-time ones).
    pub fn to_nix(self) -> Option<nix::sys::signal::Signal> {
        nix::sys::signal::Signal::try_from(self.0).ok()
    }
}

impl From<nix::sys::signal::Signal> for Signum {
    fn from(s: nix::sys::signal::Signal) -> Signum {
        Signum(s as i32)
    }
}

impl FromStr for Signum {
    type Err = BadSignal;

    fn from_str(s: &str) -> Result<Signum, BadSignal> {
        let bad = || BadSignal(s.to_string());
        let t = s.trim();
        if let Ok(n) = t.parse::<i64>() {
            return match i32::try_from(n) {
                Ok(n) if (1..=RTMAX).contains(&n) => Ok(Signum(n)),
                _ => Err(bad()),
            };
        }
        let upper = t.to_ascii_uppercase();
        let name = upper.strip_prefix("SIG").unwrap_or(&upper);
        if let Some((_, n)) = NAMES.iter().find(|(n, _)| *n == name) {
            return Ok(Signum(*n));
        }
        let offset = |prefix: &str, max: i32| {
            name.strip_prefix(prefix)
                .and_then(|n| n.parse::<i32>().ok())
                .filter(|n| (1..=max).contains(n))
        };
        match name {
            "RTMIN" => Ok(Signum(RTMIN)),
            "RTMAX" => Ok(Signum(RTMAX)),
            _ => {
                // docker names RTMIN+1..15 and RTMAX-14..1 (its SignalMap).
                if let Some(n) = offset("RTMIN+", 15) {
                    Ok(Signum(RTMIN + n))
                } else if let Some(n) = offset("RTMAX-", 14) {
                    Ok(Signum(RTMAX - n))
                } else {
                    Err(bad())
                }
            }
        }
    }
}

impl fmt::Display for Signum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((n, _)) = NAMES.iter().find(|(_, v)| *v == self.0) {
            return write!(f, "SIG{n}");
        }
        match self.0 {
            RTMIN => f.write_str("SIGRTMIN"),
            RTMAX => f.write_str("SIGRTMAX"),
            n if n > RTMIN && n <= RTMIN + 15 => write!(f, "SIGRTMIN+{}", n - RTMIN),
            n if n > RTMIN && n < RTMAX => write!(f, "SIGRTMAX-{}", RTMAX - n),
            n => write!(f, "{n}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_spellings() {
        let p = |s: &str| s.parse::<Signum>().map(Signum::raw);
        assert_eq!(p("SIGTERM"), Ok(15));
        assert_eq!(p("term"), Ok(15));
        assert_eq!(p("9"), Ok(9));
        assert_eq!(p("SIGQUIT"), Ok(3));
        assert_eq!(p("SIGRTMIN"), Ok(34));
        assert_eq!(p("SIGRTMIN+3"), Ok(37));
        assert_eq!(p("RTMAX-1"), Ok(63));
        assert_eq!(p("64"), Ok(64));
        for s in [
            "SIGFOO", "0", "65", "RTMIN+16", "RTMAX-15", "", "-1", "RTMIN+",
        ] {
            assert!(p(s).is_err(), "{s}");
        }
    }

    #[test]
    fn names_round_trip() {
        for s in [
            "SIGTERM",
            "SIGKILL",
            "SIGRTMIN+3",
            "SIGRTMAX-1",
            "SIGRTMAX",
            "SIGUSR2",
        ] {
            assert_eq!(s.parse::<Signum>().map(|n| n.to_string()), Ok(s.into()));
        }
    }
}
